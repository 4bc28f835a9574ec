//! What an e2e run creates, as pure data: the focus and skip expressions, the conformance
//! image of the served version, and the namespace, ServiceAccount, ClusterRoleBinding and
//! Pod. The pod follows Kubernetes' own conformance manifest
//! (kubernetes/kubernetes `test/conformance/image/conformance-e2e.yaml`) and the
//! environment its runner reads (`test/conformance/image/go-runner/const.go`:
//! `E2E_FOCUS`, `E2E_SKIP`, `E2E_PARALLEL` = `y`, `E2E_PROVIDER`, `RESULTS_DIR`).

use anyhow::{bail, Context};
use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use serde_json::json;

/// `\[Conformance\]`: the default focus of `e2e`.
pub const CONFORMANCE: &str = r"\[Conformance\]";
/// `\[Serial\]`: what `e2e` skips by default, since it runs in parallel.
pub const SERIAL: &str = r"\[Serial\]";
/// Where the conformance runner writes its JUnit files and log, inside the pod.
pub const RESULTS_DIR: &str = "/tmp/results";
/// Where, on the node, the results directory lives (a hostPath), so dind can read it
/// through Docker after the pod has ended, without a registry or a helper image.
pub const NODE_RESULTS_ROOT: &str = "/var/lib/dind-e2e";
/// The pod's and its container's name.
pub const POD: &str = "conformance";
/// The ServiceAccount the tests run as, bound to cluster-admin.
pub const SERVICE_ACCOUNT: &str = "conformance";

/// Which shell-tool command this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    /// `e2e`: the non-serial conformance tests, in parallel.
    Parallel,
    /// `e2e-serial`: the serial conformance tests, one at a time.
    Serial,
}

impl Suite {
    fn focus_parts(self) -> &'static [&'static str] {
        match self {
            Suite::Parallel => &[CONFORMANCE],
            Suite::Serial => &[SERIAL, CONFORMANCE],
        }
    }
}

/// Escapes the regular-expression metacharacters of a plain-text test name.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        if r"\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The focus: the suite's default, narrowed by `text` when given. The default parts must
/// all match in order (`\[Serial\].*\[Conformance\]`); the text may sit anywhere among
/// them, so every position is one alternative.
pub fn focus(suite: Suite, text: Option<&str>) -> String {
    let parts = suite.focus_parts();
    let Some(text) = text.filter(|t| !t.is_empty()) else {
        return parts.join(".*");
    };
    let text = escape(text);
    (0..=parts.len())
        .map(|at| {
            let mut all: Vec<&str> = parts.to_vec();
            all.insert(at, &text);
            all.join(".*")
        })
        .collect::<Vec<_>>()
        .join("|")
}

/// The skip: `e2e` always skips serial tests (they cannot run in parallel), and a given
/// text skips the tests it names as well.
pub fn skip(suite: Suite, text: Option<&str>) -> String {
    let mut alternatives = Vec::new();
    if suite == Suite::Parallel {
        alternatives.push(SERIAL.to_string());
    }
    if let Some(text) = text.filter(|t| !t.is_empty()) {
        alternatives.push(escape(text));
    }
    alternatives.join("|")
}

/// The conformance image of the server's version: `gitVersion` without build metadata
/// (`v1.31.2+abc` → `v1.31.2`).
pub fn image(git_version: &str) -> anyhow::Result<String> {
    let version = git_version.split('+').next().unwrap_or_default().trim();
    let numbers = version.strip_prefix('v').unwrap_or_default();
    if numbers
        .split('-')
        .next()
        .unwrap_or_default()
        .split('.')
        .count()
        != 3
        || !numbers.starts_with(|c: char| c.is_ascii_digit())
    {
        bail!("the API server reports version {git_version:?}, which names no conformance image");
    }
    Ok(format!("registry.k8s.io/conformance:{version}"))
}

/// One e2e run: everything it creates is named from `namespace`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSpec {
    pub suite: Suite,
    pub namespace: String,
    pub image: String,
    pub focus: String,
    pub skip: String,
}

impl RunSpec {
    /// `run_id` makes the namespace unique (e.g. the start time).
    pub fn new(
        suite: Suite,
        focus_text: Option<&str>,
        skip_text: Option<&str>,
        git_version: &str,
        run_id: &str,
    ) -> anyhow::Result<RunSpec> {
        Ok(RunSpec {
            suite,
            namespace: format!("dind-e2e-{run_id}"),
            image: image(git_version)?,
            focus: focus(suite, focus_text),
            skip: skip(suite, skip_text),
        })
    }

    /// The cluster-wide binding's name (it lives outside the namespace).
    pub fn binding(&self) -> String {
        format!("{}-cluster-admin", self.namespace)
    }

    /// The results directory on the node the pod runs on.
    pub fn node_results_dir(&self) -> String {
        format!("{NODE_RESULTS_ROOT}/{}", self.namespace)
    }

    pub fn namespace_object(&self) -> anyhow::Result<Namespace> {
        typed(json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": self.namespace, "labels": managed()},
        }))
    }

    pub fn service_account(&self) -> anyhow::Result<ServiceAccount> {
        typed(json!({
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": SERVICE_ACCOUNT, "namespace": self.namespace, "labels": managed()},
        }))
    }

    pub fn cluster_role_binding(&self) -> anyhow::Result<ClusterRoleBinding> {
        typed(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": self.binding(), "labels": managed()},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": self.namespace}],
        }))
    }

    pub fn pod(&self) -> anyhow::Result<Pod> {
        let parallel = if self.suite == Suite::Parallel {
            "y"
        } else {
            "n"
        };
        typed(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": POD, "namespace": self.namespace, "labels": managed()},
            "spec": {
                "serviceAccountName": SERVICE_ACCOUNT,
                "restartPolicy": "Never",
                // A one-node cluster has only its (tainted) master to run on.
                "tolerations": [{"operator": "Exists"}],
                "containers": [{
                    "name": POD,
                    "image": self.image,
                    "imagePullPolicy": "IfNotPresent",
                    "env": [
                        {"name": "E2E_FOCUS", "value": self.focus},
                        {"name": "E2E_SKIP", "value": self.skip},
                        {"name": "E2E_PARALLEL", "value": parallel},
                        {"name": "E2E_PROVIDER", "value": "skeleton"},
                        {"name": "E2E_VERBOSITY", "value": "4"},
                        {"name": "RESULTS_DIR", "value": RESULTS_DIR},
                    ],
                    "volumeMounts": [{"name": "results", "mountPath": RESULTS_DIR}],
                }],
                "volumes": [{"name": "results", "hostPath": {
                    "path": self.node_results_dir(), "type": "DirectoryOrCreate"}}],
            },
        }))
    }
}

fn managed() -> serde_json::Value {
    json!({"app.kubernetes.io/managed-by": "dind"})
}

fn typed<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> anyhow::Result<T> {
    serde_json::from_value(value).context("building an e2e object")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        let table = [
            ("existing RC", "existing RC"),
            ("a.b*c", r"a\.b\*c"),
            ("[sig-apps] (x)", r"\[sig-apps\] \(x\)"),
            (r"\d+|{1}^$?", r"\\d\+\|\{1\}\^\$\?"),
        ];
        for (text, want) in table {
            assert_eq!(escape(text), want, "{text}");
        }
    }

    #[test]
    fn focus_and_skip() {
        // (suite, focus text, skip text, focus, skip)
        type Case<'a> = (Suite, Option<&'a str>, Option<&'a str>, &'a str, &'a str);
        let table: &[Case] = &[
            (
                Suite::Parallel,
                None,
                None,
                r"\[Conformance\]",
                r"\[Serial\]",
            ),
            (
                Suite::Parallel,
                Some("existing RC"),
                None,
                r"existing RC.*\[Conformance\]|\[Conformance\].*existing RC",
                r"\[Serial\]",
            ),
            (
                Suite::Parallel,
                Some("a.b"),
                Some("flaky (x)"),
                r"a\.b.*\[Conformance\]|\[Conformance\].*a\.b",
                r"\[Serial\]|flaky \(x\)",
            ),
            (
                Suite::Serial,
                None,
                None,
                r"\[Serial\].*\[Conformance\]",
                "",
            ),
            (
                Suite::Serial,
                Some("x"),
                None,
                r"x.*\[Serial\].*\[Conformance\]|\[Serial\].*x.*\[Conformance\]|\[Serial\].*\[Conformance\].*x",
                "",
            ),
            (
                Suite::Parallel,
                Some(""),
                Some(""),
                r"\[Conformance\]",
                r"\[Serial\]",
            ),
        ];
        for (suite, f, s, want_focus, want_skip) in table {
            assert_eq!(focus(*suite, *f), *want_focus, "{suite:?} {f:?}");
            assert_eq!(skip(*suite, *s), *want_skip, "{suite:?} {s:?}");
        }
    }

    #[test]
    fn images() {
        let table = [
            ("v1.31.2", Some("registry.k8s.io/conformance:v1.31.2")),
            ("v1.32.0+k3s1", Some("registry.k8s.io/conformance:v1.32.0")),
            (
                "v1.33.0-rc.1",
                Some("registry.k8s.io/conformance:v1.33.0-rc.1"),
            ),
            ("1.31.2", None),
            ("v1.31", None),
            ("", None),
        ];
        for (version, want) in table {
            assert_eq!(image(version).ok().as_deref(), want, "{version}");
        }
    }

    #[test]
    fn objects() {
        for (suite, parallel) in [(Suite::Parallel, "y"), (Suite::Serial, "n")] {
            let run = RunSpec::new(suite, Some("existing RC"), None, "v1.31.2", "abc").unwrap();
            let pod = serde_json::to_value(run.pod().unwrap()).unwrap();
            let container = &pod["spec"]["containers"][0];
            assert_eq!(pod["metadata"]["namespace"], "dind-e2e-abc");
            assert_eq!(container["image"], "registry.k8s.io/conformance:v1.31.2");
            let env: std::collections::BTreeMap<String, String> = container["env"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    (
                        e["name"].as_str().unwrap().to_string(),
                        e["value"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect();
            assert_eq!(env["E2E_FOCUS"], run.focus);
            assert_eq!(env["E2E_SKIP"], run.skip);
            assert_eq!(env["E2E_PARALLEL"], parallel);
            assert_eq!(env["RESULTS_DIR"], RESULTS_DIR);
            assert_eq!(
                pod["spec"]["volumes"][0]["hostPath"]["path"],
                "/var/lib/dind-e2e/dind-e2e-abc"
            );
            assert_eq!(pod["spec"]["serviceAccountName"], SERVICE_ACCOUNT);
            let binding = serde_json::to_value(run.cluster_role_binding().unwrap()).unwrap();
            assert_eq!(binding["metadata"]["name"], "dind-e2e-abc-cluster-admin");
            assert_eq!(binding["roleRef"]["name"], "cluster-admin");
            assert_eq!(binding["subjects"][0]["namespace"], "dind-e2e-abc");
            assert_eq!(
                run.namespace_object().unwrap().metadata.name.as_deref(),
                Some("dind-e2e-abc")
            );
            assert_eq!(
                run.service_account().unwrap().metadata.name.as_deref(),
                Some(SERVICE_ACCOUNT)
            );
        }
    }
}
