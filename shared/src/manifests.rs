//! The Kubernetes manifests dind applies beyond the CNI, each pinned to one release here
//! and nowhere else (the CNI plugins' pins are [`crate::cni::MANIFESTS`]):
//! the default StorageClass (Rancher's local-path provisioner) and the predefined addons
//! of `--addons` (today: `dashboard`). The manifests are dind's own files with the pinned
//! images substituted, so a test can read every kind and image without a network.
//!
//! Pure: [`render`] gives the text, [`parse_addons`] checks what `--addons` names.
//! [`crate::cluster::addons`] applies them once the cluster is ready.

use crate::error::usage;
use std::path::PathBuf;

/// A manifest dind ships, pinned to one upstream release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pinned {
    pub name: &'static str,
    /// The upstream release the manifest and its images follow.
    pub version: &'static str,
    /// `${PLACEHOLDER}` → image, substituted into the template.
    pub images: &'static [(&'static str, &'static str)],
    template: &'static str,
}

/// The default StorageClass: rancher/local-path-provisioner, its release and helper image.
pub const STORAGE: Pinned = Pinned {
    name: "local-path-provisioner",
    version: "v0.0.31",
    images: &[
        (
            "PROVISIONER_IMAGE",
            "docker.io/rancher/local-path-provisioner:v0.0.31",
        ),
        ("HELPER_IMAGE", "docker.io/library/busybox:1.37.0"),
    ],
    template: include_str!("manifests/local-path-storage.yaml"),
};

/// The dashboard addon: kubernetes/dashboard v2.7.0, its last plain-manifest release.
pub const DASHBOARD: Pinned = Pinned {
    name: "dashboard",
    version: "v2.7.0",
    images: &[
        ("DASHBOARD_IMAGE", "docker.io/kubernetesui/dashboard:v2.7.0"),
        (
            "SCRAPER_IMAGE",
            "docker.io/kubernetesui/metrics-scraper:v1.0.8",
        ),
    ],
    template: include_str!("manifests/dashboard.yaml"),
};

/// The predefined addons, by the name `--addons` takes.
pub const PREDEFINED: &[&Pinned] = &[&DASHBOARD];

/// The name of the default StorageClass.
pub const STORAGE_CLASS: &str = "standard";

/// The manifest with its pinned images.
pub fn render(pinned: &Pinned) -> String {
    pinned
        .images
        .iter()
        .fold(pinned.template.to_string(), |text, (key, image)| {
            text.replace(&format!("${{{key}}}"), image)
        })
}

/// One entry of `--addons`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addon {
    Predefined(&'static Pinned),
    /// A manifest file on this machine, sent to the cluster.
    File(PathBuf),
    /// An http(s) URL, fetched by kubectl in the master.
    Url(String),
}

/// Reads `--addons`: a predefined name, an http(s) URL, or an existing file. The dashboard
/// with `SKIP_DASHBOARD` set is a contradiction and refused.
pub fn parse_addons(entries: &[String], skip_dashboard: bool) -> anyhow::Result<Vec<Addon>> {
    entries
        .iter()
        .map(|entry| {
            if let Some(pinned) = PREDEFINED.iter().find(|p| p.name == entry) {
                if pinned.name == DASHBOARD.name && skip_dashboard {
                    return Err(usage(
                        "--addons names dashboard but SKIP_DASHBOARD (--skip-dashboard) is set: drop one of them",
                    ));
                }
                return Ok(Addon::Predefined(pinned));
            }
            if entry.starts_with("https://") || entry.starts_with("http://") {
                return Ok(Addon::Url(entry.clone()));
            }
            let path = PathBuf::from(entry.strip_prefix("file://").unwrap_or(entry));
            if path.is_file() {
                return Ok(Addon::File(path));
            }
            let names: Vec<&str> = PREDEFINED.iter().map(|p| p.name).collect();
            Err(usage(format!(
                "unknown addon {entry:?}: use {}, a manifest FILE that exists, or an http(s) URL",
                names.join(", ")
            )))
        })
        .collect()
}

/// [`parse_addons`], for validation only.
pub fn check_addons(entries: &[String], skip_dashboard: bool) -> anyhow::Result<()> {
    parse_addons(entries, skip_dashboard).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_yaml::Value;

    fn documents(text: &str) -> Vec<Value> {
        serde_yaml::Deserializer::from_str(text)
            .map(|d| Value::deserialize(d).unwrap())
            .filter(|v| !v.is_null())
            .collect()
    }
    use serde::Deserialize;

    fn kinds(docs: &[Value]) -> Vec<&str> {
        docs.iter().map(|d| d["kind"].as_str().unwrap()).collect()
    }

    fn images(docs: &[Value]) -> Vec<String> {
        let mut found = Vec::new();
        fn walk(v: &Value, found: &mut Vec<String>) {
            match v {
                Value::Mapping(m) => {
                    for (k, v) in m {
                        if k.as_str() == Some("image") {
                            found.push(v.as_str().unwrap().to_string());
                        } else {
                            walk(v, found);
                        }
                    }
                }
                Value::Sequence(s) => s.iter().for_each(|v| walk(v, found)),
                _ => {}
            }
        }
        for d in docs {
            walk(d, &mut found);
        }
        found
    }

    #[test]
    fn storage_manifest_is_a_default_class_with_pinned_images() {
        let text = render(&STORAGE);
        assert!(!text.contains("${"), "every placeholder is substituted");
        let docs = documents(&text);
        assert_eq!(
            kinds(&docs),
            [
                "Namespace",
                "ServiceAccount",
                "Role",
                "ClusterRole",
                "RoleBinding",
                "ClusterRoleBinding",
                "Deployment",
                "StorageClass",
                "ConfigMap"
            ]
        );
        let class = docs.iter().find(|d| d["kind"] == "StorageClass").unwrap();
        assert_eq!(class["metadata"]["name"], STORAGE_CLASS);
        assert_eq!(
            class["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"],
            "true"
        );
        assert_eq!(class["provisioner"], "rancher.io/local-path");
        assert_eq!(class["volumeBindingMode"], "WaitForFirstConsumer");
        let deployment = docs.iter().find(|d| d["kind"] == "Deployment").unwrap();
        assert_eq!(
            images(std::slice::from_ref(deployment)),
            [format!(
                "docker.io/rancher/local-path-provisioner:{}",
                STORAGE.version
            )]
        );
        // The helper pod's image sits inside the ConfigMap as text.
        let config = docs.iter().find(|d| d["kind"] == "ConfigMap").unwrap();
        let helper: Value =
            serde_yaml::from_str(config["data"]["helperPod.yaml"].as_str().unwrap()).unwrap();
        assert_eq!(
            helper["spec"]["containers"][0]["image"],
            "docker.io/library/busybox:1.37.0"
        );
        let paths: serde_json::Value =
            serde_json::from_str(config["data"]["config.json"].as_str().unwrap()).unwrap();
        assert_eq!(
            paths["nodePathMap"][0]["paths"][0],
            "/var/local-path-provisioner"
        );
    }

    #[test]
    fn dashboard_manifest_has_its_kinds_and_pinned_images() {
        let text = render(&DASHBOARD);
        assert!(!text.contains("${"));
        let docs = documents(&text);
        let kinds = kinds(&docs);
        for kind in [
            "Namespace",
            "ServiceAccount",
            "Service",
            "Secret",
            "ConfigMap",
            "Role",
            "ClusterRole",
            "RoleBinding",
            "ClusterRoleBinding",
            "Deployment",
        ] {
            assert!(kinds.contains(&kind), "{kind} missing: {kinds:?}");
        }
        assert_eq!(
            images(&docs),
            [
                format!("docker.io/kubernetesui/dashboard:{}", DASHBOARD.version),
                "docker.io/kubernetesui/metrics-scraper:v1.0.8".to_string()
            ]
        );
        for d in &docs {
            if d["kind"] != "Namespace" && d["metadata"]["namespace"].is_string() {
                assert_eq!(d["metadata"]["namespace"], "kubernetes-dashboard");
            }
        }
    }

    #[test]
    fn addons_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("extra.yaml");
        std::fs::write(&file, "kind: ConfigMap\n").unwrap();
        let file = file.to_str().unwrap().to_string();
        let parsed = parse_addons(
            &[
                "dashboard".into(),
                file.clone(),
                "https://example.com/a.yaml".into(),
            ],
            false,
        )
        .unwrap();
        assert_eq!(
            parsed,
            [
                Addon::Predefined(&DASHBOARD),
                Addon::File(file.clone().into()),
                Addon::Url("https://example.com/a.yaml".into())
            ]
        );
        // (entries, skip_dashboard, error needle)
        let table: &[(&str, bool, &str)] = &[
            ("dashboard", true, "SKIP_DASHBOARD"),
            ("dashbord", false, "unknown addon"),
            ("/no/such/file.yaml", false, "unknown addon"),
        ];
        for (entry, skip, needle) in table {
            let err = parse_addons(&[entry.to_string()], *skip).unwrap_err();
            assert_eq!(crate::error::exit_code(&err), 2);
            assert!(err.to_string().contains(needle), "{entry}: {err}");
        }
        assert!(parse_addons(&[], true).unwrap().is_empty());
    }
}
