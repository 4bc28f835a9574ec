//! The stored form of [`Settings`]: the settings label of every node and snapshot image,
//! written by `up` and read back by `join`, `remove-node`, `snapshot` and `restore`.
//!
//! What is read back is as untrusted as user input: on a shared or remote daemon anyone
//! who can create a container or tag an image writes such a label. So a label is checked
//! with the validators the flags pass through, and it never names anything on the machine
//! that reads it: a program to run (`DIND_PORT_FORWARDER`), a file to read or a URL to
//! fetch (`--ca-cert`, a manifest file in `--addons`, `DIND_K8S_BIN_DIR`) or a folder to
//! write (`KUBECTL_DIR`, `E2E_REPORT_DIR`), nor this machine's environment to copy into
//! the nodes (`DIND_PROPAGATE_HTTP_PROXY`, whose proxy URLs may hold a password). Those
//! are never written into the label, a label that holds one is refused, and the commands
//! take them from the invoking user's own flags, environment and config
//! ([`Settings::with_local_from`]). The address plan's
//! checks (sizes, overlaps, node counts) run when the reader builds its plan, as in `up`.

use super::component_args::is_valid_name;
use super::kdc;
use super::typed::{
    parse_apiserver_port, parse_cidrs, parse_cni, parse_kubernetes_version, SETTINGS_VERSION,
};
use super::values::{kube_download_url, parse_dns64_prefix};
use super::Settings;
use crate::names::{labels, ClusterIdentity};
use anyhow::{anyhow, Context};

/// The settings that name something on the machine that runs dind, in the order of
/// [`Settings::local_fields`]'s checks.
const LOCAL_SETTINGS: [&str; 7] = [
    "DIND_PORT_FORWARDER",
    "DIND_CA_CERT_URL",
    "DIND_ADDONS (a manifest file)",
    "E2E_REPORT_DIR",
    "KUBECTL_DIR",
    "DIND_K8S_BIN_DIR",
    "DIND_PROPAGATE_HTTP_PROXY",
];

impl Settings {
    /// The label form: these settings without the fields that name something on this
    /// machine (see the module docs).
    pub fn label_json(&self) -> anyhow::Result<String> {
        serde_json::to_string(&self.without_local()).context("serializing the settings label")
    }

    /// These settings with this machine's programs, files, URLs and folders taken from
    /// `own`, the invoking user's settings, and none from the cluster.
    pub fn with_local_from(self, own: &Settings) -> Settings {
        let mut settings = self.without_local();
        settings.port_forwarder = own.port_forwarder.clone();
        settings.ca_cert = own.ca_cert.clone();
        settings.addons = own.addons.clone();
        settings.e2e_report_dir = own.e2e_report_dir.clone();
        settings.kdc.kubectl_dir = own.kdc.kubectl_dir.clone();
        settings.kdc.kube_binaries = own.kdc.kube_binaries.clone();
        settings.propagate_http_proxy = own.propagate_http_proxy;
        settings
    }

    fn without_local(&self) -> Settings {
        let mut settings = self.clone();
        settings.port_forwarder = None;
        settings.ca_cert = None;
        settings.addons.retain(|entry| !names_local_file(entry));
        settings.e2e_report_dir = None;
        settings.kdc.kubectl_dir = None;
        settings.kdc.kube_binaries = None;
        settings.propagate_http_proxy = false;
        settings
    }

    /// The local fields this holds, by setting name.
    fn local_fields(&self) -> Vec<&'static str> {
        let held = [
            self.port_forwarder.is_some(),
            self.ca_cert.is_some(),
            self.addons.iter().any(|entry| names_local_file(entry)),
            self.e2e_report_dir.is_some(),
            self.kdc.kubectl_dir.is_some(),
            self.kdc.kube_binaries.is_some(),
            self.propagate_http_proxy,
        ];
        LOCAL_SETTINGS
            .iter()
            .zip(held)
            .filter(|(_, held)| *held)
            .map(|(setting, _)| *setting)
            .collect()
    }

    /// Reads the settings label of `owner` (a node container or snapshot image) and checks
    /// it as user input. A label of another version is refused in one line naming the
    /// label and both versions: a silent default could rebuild a different plan than the
    /// cluster runs.
    pub fn from_label(owner: &str, json: &str) -> anyhow::Result<Settings> {
        let label = labels::SETTINGS;
        let value: serde_json::Value = serde_json::from_str(json)
            .with_context(|| format!("the {label} label of {owner} is not JSON"))?;
        check_version(owner, &value)?;
        let settings: Settings = serde_json::from_value(value)
            .with_context(|| format!("reading the {label} label of {owner}"))?;
        let local = settings.local_fields();
        if !local.is_empty() {
            return Err(anyhow!(
                "the {label} label of {owner} names a program, file, URL or folder on this \
                 machine ({}): dind takes those only from your own flags, environment and \
                 config, so this label was not written by dind; refused",
                local.join(", ")
            ));
        }
        settings
            .check_stored()
            .with_context(|| format!("the {label} label of {owner} is refused"))?;
        Ok(settings)
    }

    /// The checks the flags' values pass, on values read back from a label.
    fn check_stored(&self) -> anyhow::Result<()> {
        let identity = &self.identity;
        let rebuilt = ClusterIdentity::new(identity.id(), identity.label().map(str::to_string))?;
        if rebuilt != *identity {
            return Err(anyhow!("its cluster label is empty"));
        }
        parse_cni(&self.cni.to_string(), self.ip_mode)?;
        for (name, nets) in [
            ("MGMT_CIDRS", &self.mgmt_cidrs),
            ("POD_NETWORK_CIDR", &self.pod_cidrs),
            ("SERVICE_CIDR", &self.service_cidrs),
        ] {
            let text: Vec<String> = nets.iter().map(ToString::to_string).collect();
            parse_cidrs(name, &text.join(","), self.ip_mode)?;
        }
        parse_dns64_prefix(&self.dns64_prefix.to_string())?;
        parse_apiserver_port(self.apiserver_port.map(|p| p.to_string()).as_deref())?;
        if parse_kubernetes_version(Some(&self.kubernetes_version))? != self.kubernetes_version {
            return Err(anyhow!(
                "its Kubernetes version {:?} is not in dind's form vX.Y.Z",
                self.kubernetes_version
            ));
        }
        kube_download_url(Some(&self.kube_download_url))?;
        kdc::feature_gates("FEATURE_GATES", self.feature_gates.as_deref())?;
        kdc::feature_gates(
            "KUBELET_FEATURE_GATES",
            self.kubelet_feature_gates.as_deref(),
        )?;
        for (component, args) in &self.component_args {
            if let Some(name) = args.keys().find(|name| !is_valid_name(name)) {
                return Err(anyhow!(
                    "its {component:?} argument name {name:?} is not lowercase letters, digits and '-'"
                ));
            }
        }
        kdc::check_component_gates(&self.component_args)?;
        crate::publish::parse_all(&self.extra_ports)?;
        crate::manifests::check_addons(&self.addons, self.skip_dashboard)?;
        self.kdc.master_extra_opts.check()?;
        if let Some(image) = &self.image {
            check_image_name(image)?;
        }
        Ok(())
    }
}

/// An `--addons` entry that is a manifest file on this machine (not a predefined addon
/// and not an http(s) URL, which the master fetches).
fn names_local_file(entry: &str) -> bool {
    let predefined = crate::manifests::PREDEFINED.iter().any(|p| p.name == entry);
    !(predefined || entry.starts_with("https://") || entry.starts_with("http://"))
}

/// A Docker image reference in the characters Docker's reference grammar allows
/// (distribution/reference: name components, `:`, `@`, `/`, `.`, `_`, `-`).
fn check_image_name(image: &str) -> anyhow::Result<()> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "/:@._-".contains(c);
    if image.is_empty() || image.len() > 4096 || !image.chars().all(allowed) {
        return Err(anyhow!(
            "its node image {image:?} is not an image reference"
        ));
    }
    Ok(())
}

fn check_version(owner: &str, value: &serde_json::Value) -> anyhow::Result<()> {
    let label = labels::SETTINGS;
    let version = match value.get("version") {
        None => None,
        Some(v) => Some(v.as_u64().ok_or_else(|| {
            anyhow!("the {label} label of {owner} has an invalid settings version {v}")
        })?),
    };
    match version {
        Some(v) if v == u64::from(SETTINGS_VERSION) => Ok(()),
        Some(v) if v > u64::from(SETTINGS_VERSION) => Err(anyhow!(
            "the {label} label of {owner} has settings version {v}, newer than this dind's {SETTINGS_VERSION}: use the dind that created the cluster, or a newer one"
        )),
        found => {
            let found = found.map_or("no settings version".to_string(), |v| {
                format!("settings version {v}")
            });
            Err(anyhow!(
                "the {label} label of {owner} has {found}, older than this dind's {SETTINGS_VERSION}: recreate the cluster (down, then up) with this dind"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        Settings::from_env_pairs(pairs).unwrap()
    }

    #[test]
    fn the_settings_label_carries_its_version() {
        let s = settings(&[("CLUSTER_ID", "3")]);
        let json = s.label_json().unwrap();
        assert!(
            json.starts_with(&format!("{{\"version\":{SETTINGS_VERSION},")),
            "{json}"
        );
        assert_eq!(Settings::from_label("kube-master-3", &json).unwrap(), s);
    }

    #[test]
    fn a_label_of_another_version_is_a_one_line_error() {
        let json = serde_json::to_value(settings(&[])).unwrap();
        let with = |version: Option<Value>| {
            let mut label = json.clone();
            let map = label.as_object_mut().unwrap();
            match version {
                Some(v) => map.insert("version".into(), v),
                None => map.remove("version"),
            };
            label.to_string()
        };
        let ours = SETTINGS_VERSION;
        // (label, what the error must say)
        let table = [
            (
                with(None),
                format!("has no settings version, older than this dind's {ours}"),
            ),
            (
                with(Some((ours - 1).into())),
                format!(
                    "has settings version {}, older than this dind's {ours}",
                    ours - 1
                ),
            ),
            (
                with(Some((ours + 1).into())),
                format!(
                    "has settings version {}, newer than this dind's {ours}",
                    ours + 1
                ),
            ),
            (
                with(Some(ours.to_string().into())),
                format!("invalid settings version \"{ours}\""),
            ),
            ("{".to_string(), "is not JSON".to_string()),
        ];
        for (label, needle) in table {
            let err = format!(
                "{:#}",
                Settings::from_label("kube-master", &label).unwrap_err()
            );
            assert!(
                err.starts_with("the dind.settings label of kube-master "),
                "{err}"
            );
            assert!(err.contains(&needle), "{needle}: {err}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
    }

    #[test]
    fn programs_files_and_folders_never_go_into_the_label() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("x.yaml");
        std::fs::write(&manifest, "kind: List\n").unwrap();
        let ca = dir.path().join("ca.pem");
        let s = settings(&[
            ("DIND_PORT_FORWARDER", "/usr/local/bin/forward"),
            ("DIND_CA_CERT_URL", ca.to_str().unwrap()),
            (
                "DIND_ADDONS",
                &format!("dashboard,{},https://e.example/a.yaml", manifest.display()),
            ),
            ("E2E_REPORT_DIR", "/tmp/reports"),
            ("KUBECTL_DIR", "/tmp/bin"),
        ]);
        let json = s.label_json().unwrap();
        for needle in [
            "/usr/local/bin/forward",
            "ca.pem",
            "x.yaml",
            "reports",
            "/tmp/bin",
        ] {
            assert!(!json.contains(needle), "{needle}: {json}");
        }
        let read = Settings::from_label("kube-master", &json).unwrap();
        assert_eq!(read.addons, ["dashboard", "https://e.example/a.yaml"]);
        // The user's own come back in whole.
        let own = settings(&[("DIND_PORT_FORWARDER", "/mine")]);
        let joined = read.with_local_from(&own);
        assert_eq!(joined.port_forwarder, own.port_forwarder);
        assert_eq!(joined.addons, own.addons);
        assert_eq!(joined.ca_cert, None);
    }

    #[test]
    fn a_tampered_label_is_refused_in_one_line() {
        let good = serde_json::to_value(settings(&[("CLUSTER_ID", "7")])).unwrap();
        let tampered = |field: &str, value: Value| {
            let mut label = good.clone();
            label[field] = value;
            label.to_string()
        };
        let mut kdc = good["kdc"].clone();
        kdc["kubectl_dir"] = json!("/home/me/bin");
        let mut opts = kdc.clone();
        opts["kubectl_dir"] = Value::Null;
        opts["master_extra_opts"]["labels"] = json!({"dind.cluster": "default"});
        // (label, what the error must name)
        let table = [
            (
                tampered("port_forwarder", json!("/tmp/evil.sh")),
                "DIND_PORT_FORWARDER",
            ),
            (
                tampered("ca_cert", json!("/etc/shadow")),
                "DIND_CA_CERT_URL",
            ),
            (
                tampered("ca_cert", json!("https://ca.example/ca.pem")),
                "DIND_CA_CERT_URL",
            ),
            (tampered("addons", json!(["/etc/passwd"])), "DIND_ADDONS"),
            (
                tampered("e2e_report_dir", json!("/home/me/.ssh")),
                "E2E_REPORT_DIR",
            ),
            (tampered("kdc", kdc), "KUBECTL_DIR"),
            (
                tampered("propagate_http_proxy", json!(true)),
                "DIND_PROPAGATE_HTTP_PROXY",
            ),
            (tampered("kdc", opts), "MASTER_EXTRA_OPTS"),
            (
                tampered("identity", json!({"id": 7, "label": "default"})),
                "invalid label",
            ),
            (
                tampered("identity", json!({"id": 7, "label": ""})),
                "cluster label is empty",
            ),
            (tampered("ip_mode", json!("ipv6")), "MGMT_CIDRS"),
            (tampered("mgmt_cidrs", json!(["fd00::/64"])), "MGMT_CIDRS"),
            (tampered("dns64_prefix", json!("fd00::/64")), "DNS64_PREFIX"),
            (tampered("apiserver_port", json!(0)), "API server port"),
            (
                tampered("kubernetes_version", json!("v1.33.1; rm -rf /")),
                "version",
            ),
            (
                tampered("kube_download_url", json!("file:///etc")),
                "DIND_KUBE_DOWNLOAD_URL",
            ),
            (tampered("feature_gates", json!("A=maybe")), "FEATURE_GATES"),
            (
                tampered("component_args", json!({"apiserver": {"a b": "1"}})),
                "argument name",
            ),
            (tampered("extra_ports", json!(["99999:80"])), "99999"),
            (tampered("image", json!("x y")), "node image"),
        ];
        for (label, needle) in table {
            let err = format!(
                "{:#}",
                Settings::from_label("kube-master-cluster-7", &label).unwrap_err()
            );
            assert!(
                err.starts_with("the dind.settings label of kube-master-cluster-7 "),
                "{err}"
            );
            assert!(err.contains(needle), "{needle}: {err}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
    }
}
