//! `e2e` against a test API server: what it creates (namespace, ServiceAccount, cluster
//! role binding, the conformance pod with the escaped focus, the default skip and the
//! image of the served version), how a failed run ends, the JUnit files copied to the
//! report directory, and the cleanup afterwards.

mod api_server;

use api_server::{not_found, ok, serve, version, Answer, Seen};
use dind::e2e::{self, spec::Suite, ResultsStore};
use dind::progress::Progress;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

const BINDINGS: &str = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings";

/// A cluster whose conformance pod ends with `exit_code` on kube-node-1.
fn cluster(exit_code: i32) -> impl FnMut(&Seen) -> Answer + Send + 'static {
    let mut pod: Option<Value> = None;
    move |seen| {
        let path = seen.path.as_str();
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (seen.method.as_str(), parts.as_slice()) {
            ("GET", ["version"]) => Some((200, version("v1.31.2+dind"))),
            ("POST", ["api", "v1", "namespaces"])
            | ("POST", ["api", "v1", "namespaces", _, "serviceaccounts"])
            | ("POST", ["apis", "rbac.authorization.k8s.io", "v1", "clusterrolebindings"]) => {
                Some((201, String::from_utf8(seen.body.clone()).unwrap()))
            }
            ("POST", ["api", "v1", "namespaces", _, "pods"]) => {
                pod = Some(seen.json());
                Some((201, String::from_utf8(seen.body.clone()).unwrap()))
            }
            ("GET", ["api", "v1", "namespaces", _, "pods", "conformance"]) => {
                let Some(mut pod) = pod.clone() else { return not_found() };
                pod["spec"]["nodeName"] = json!("kube-node-1");
                pod["status"] = json!({
                    "phase": if exit_code == 0 { "Succeeded" } else { "Failed" },
                    "containerStatuses": [{"name": "conformance", "ready": false, "restartCount": 0,
                        "image": "", "imageID": "",
                        "state": {"terminated": {"exitCode": exit_code}}}],
                });
                ok(pod)
            }
            ("GET", ["api", "v1", "namespaces", _, "pods", "conformance", "log"]) => Some((
                200,
                "Running Suite: Kubernetes e2e suite\nRan 1 of 7000 Specs\nFAIL! -- 0 Passed | 1 Failed\n"
                    .to_string(),
            )),
            ("DELETE", ["apis", "rbac.authorization.k8s.io", "v1", "clusterrolebindings", _]) => {
                ok(json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}))
            }
            ("DELETE", ["api", "v1", "namespaces", name]) => ok(json!({
                "kind": "Namespace", "apiVersion": "v1", "metadata": {"name": name},
                "status": {"phase": "Terminating"}})),
            _ => not_found(),
        }
    }
}

/// The node's results directory, as the fake node holds it.
#[derive(Default, Clone)]
struct FakeNode {
    removed: Arc<Mutex<Vec<(String, String)>>>,
}

impl ResultsStore for FakeNode {
    async fn fetch(&self, node: &str, dir: &str) -> anyhow::Result<Vec<(String, String)>> {
        assert_eq!(node, "kube-node-1");
        assert!(dir.starts_with("/var/lib/dind-e2e/dind-e2e-"), "{dir}");
        Ok(vec![
            (
                "junit_01.xml".into(),
                "<testsuite tests=\"1\" failures=\"1\"/>\n".into(),
            ),
            ("e2e.log".into(), "FAIL!\n".into()),
        ])
    }

    async fn remove(&self, node: &str, dir: &str) -> anyhow::Result<()> {
        self.removed.lock().unwrap().push((node.into(), dir.into()));
        Ok(())
    }
}

fn env_of(pod: &Value) -> BTreeMap<String, String> {
    pod["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["value"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_failed_run_creates_the_pod_as_asked_fails_copies_results_and_cleans_up() {
    let (client, seen) = serve(cluster(1));
    let node = FakeNode::default();
    let reports = tempfile::tempdir().unwrap();

    let outcome = e2e::run(
        &client,
        Suite::Parallel,
        Some("existing RC"),
        None,
        &node,
        Some(reports.path()),
        &Progress::quiet(),
    )
    .await
    .unwrap();

    assert_eq!(outcome.exit_code, 1);
    assert!(!outcome.passed());
    assert_eq!(outcome.image, "registry.k8s.io/conformance:v1.31.2");

    let seen = seen.lock().unwrap().clone();
    let created = |suffix: &str| {
        seen.iter()
            .find(|s| s.method == "POST" && s.path.ends_with(suffix))
            .unwrap_or_else(|| panic!("nothing POSTed to …{suffix}: {seen:?}"))
            .json()
    };
    let pod = created("/pods");
    let namespace = pod["metadata"]["namespace"].as_str().unwrap().to_string();
    assert_eq!(namespace, outcome.namespace);
    assert_eq!(
        pod["spec"]["containers"][0]["image"],
        "registry.k8s.io/conformance:v1.31.2"
    );
    let env = env_of(&pod);
    assert_eq!(
        env["E2E_FOCUS"],
        r"existing RC.*\[Conformance\]|\[Conformance\].*existing RC"
    );
    assert_eq!(env["E2E_SKIP"], r"\[Serial\]");
    assert_eq!(env["E2E_PARALLEL"], "y");
    assert_eq!(pod["spec"]["serviceAccountName"], "conformance");
    assert_eq!(
        created("/namespaces")["metadata"]["name"],
        namespace.as_str()
    );
    assert_eq!(
        created("/serviceaccounts")["metadata"]["namespace"],
        namespace.as_str()
    );
    let binding = created("/clusterrolebindings");
    assert_eq!(binding["roleRef"]["name"], "cluster-admin");
    assert_eq!(binding["subjects"][0]["namespace"], namespace.as_str());

    let deleted: Vec<&str> = seen
        .iter()
        .filter(|s| s.method == "DELETE")
        .map(|s| s.path.as_str())
        .collect();
    let binding_path = format!("{BINDINGS}/{namespace}-cluster-admin");
    let namespace_path = format!("/api/v1/namespaces/{namespace}");
    assert_eq!(deleted, [binding_path.as_str(), namespace_path.as_str()]);
    assert_eq!(
        node.removed.lock().unwrap().clone(),
        [(
            "kube-node-1".to_string(),
            format!("/var/lib/dind-e2e/{namespace}")
        )]
    );

    assert_eq!(
        std::fs::read_to_string(reports.path().join("junit_01.xml")).unwrap(),
        "<testsuite tests=\"1\" failures=\"1\"/>\n"
    );
    assert_eq!(outcome.reports.len(), 2);
}

#[tokio::test]
async fn a_serial_run_that_passes() {
    let (client, seen) = serve(cluster(0));
    let outcome = e2e::run(
        &client,
        Suite::Serial,
        None,
        None,
        &FakeNode::default(),
        None,
        &Progress::quiet(),
    )
    .await
    .unwrap();
    assert!(outcome.passed());
    assert!(outcome.reports.is_empty(), "no report dir, nothing copied");
    let seen = seen.lock().unwrap().clone();
    let pod = seen
        .iter()
        .find(|s| s.method == "POST" && s.path.ends_with("/pods"))
        .unwrap()
        .json();
    let env = env_of(&pod);
    assert_eq!(env["E2E_FOCUS"], r"\[Serial\].*\[Conformance\]");
    assert_eq!(env["E2E_SKIP"], "");
    assert_eq!(env["E2E_PARALLEL"], "n");
    assert!(seen
        .iter()
        .any(|s| s.method == "DELETE"
            && s.path == format!("/api/v1/namespaces/{}", outcome.namespace)));
}

#[tokio::test]
async fn a_run_that_cannot_start_still_removes_what_it_created() {
    // The server refuses the pod: the namespace and binding exist and must go.
    let mut inner = cluster(0);
    let (client, seen) = serve(move |seen| {
        if seen.method == "POST" && seen.path.ends_with("/pods") {
            return Some((
                403,
                json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                    "reason": "Forbidden", "code": 403, "message": "pods are forbidden"})
                .to_string(),
            ));
        }
        inner(seen)
    });
    let error = e2e::run(
        &client,
        Suite::Parallel,
        None,
        None,
        &FakeNode::default(),
        None,
        &Progress::quiet(),
    )
    .await
    .unwrap_err();
    assert!(
        format!("{error:#}").contains("creating the conformance pod"),
        "{error:#}"
    );
    let seen = seen.lock().unwrap().clone();
    let deletes = seen.iter().filter(|s| s.method == "DELETE").count();
    assert_eq!(deletes, 2, "the binding and the namespace: {seen:?}");
}
