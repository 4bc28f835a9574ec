//! Waiting until a freshly built cluster can take work: every expected node
//! reports `Ready` and CoreDNS is available. A cluster without a CNI plugin (`--cni
//! none`) cannot get there until the user applies one: for it the wait ends once every
//! node has registered ([`WaitFor::Registered`]).
//!
//! The wait is driven by the API server's watch events (kube-runtime
//! watchers feeding reflector stores), not by polling, and is bounded by a
//! deadline. [`assess`] and the message it builds are pure, so what "ready"
//! means is unit-tested apart from the API traffic.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Node;
use kube::api::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::{reflector, watcher, WatchStreamExt};
use kube::ResourceExt;

const COREDNS_NAMESPACE: &str = "kube-system";
const COREDNS_DEPLOYMENT: &str = "coredns";

/// Builds a client for one context of a kubeconfig file, ignoring the
/// file's current context and the environment.
pub async fn client_for_context(kubeconfig: &Path, context: &str) -> anyhow::Result<kube::Client> {
    let file = Kubeconfig::read_from(kubeconfig)
        .with_context(|| format!("reading kubeconfig {}", kubeconfig.display()))?;
    let options = KubeConfigOptions {
        context: Some(context.to_owned()),
        ..KubeConfigOptions::default()
    };
    let config = kube::Config::from_custom_kubeconfig(file, &options)
        .await
        .with_context(|| {
            format!(
                "loading context {context} from kubeconfig {}",
                kubeconfig.display()
            )
        })?;
    kube::Client::try_from(config)
        .with_context(|| format!("building a Kubernetes client for context {context}"))
}

/// How far the cluster has come, reported while waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadyProgress {
    pub ready_nodes: usize,
    pub expected_nodes: usize,
    pub coredns_available: bool,
}

impl fmt::Display for ReadyProgress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let coredns = if self.coredns_available {
            "available"
        } else {
            "not available yet"
        };
        write!(
            f,
            "{}/{} nodes Ready, CoreDNS {coredns}",
            self.ready_nodes, self.expected_nodes
        )
    }
}

/// What a wait waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitFor {
    /// Every node `Ready` and CoreDNS available.
    Ready,
    /// Every node registered, Ready or not: a node has no pod network before a CNI
    /// plugin is applied, so it stays NotReady, and CoreDNS's pods stay Pending.
    Registered,
}

/// Waits until every node in `expected_nodes` is `Ready` and the CoreDNS
/// deployment is available, or fails once `timeout` has passed, naming
/// what is still outstanding.
///
/// `progress` is called whenever the number of Ready nodes or CoreDNS's
/// availability changes. API errors (the API server restarting, say) do not
/// end the wait: the watchers retry with backoff until the deadline.
pub async fn wait_until_ready(
    client: kube::Client,
    expected_nodes: &[String],
    timeout: Duration,
    progress: &mut dyn FnMut(&ReadyProgress),
) -> anyhow::Result<()> {
    wait_for(client, expected_nodes, WaitFor::Ready, timeout, progress).await
}

/// [`wait_until_ready`], for what `until` names.
pub async fn wait_for(
    client: kube::Client,
    expected_nodes: &[String],
    until: WaitFor,
    timeout: Duration,
    progress: &mut dyn FnMut(&ReadyProgress),
) -> anyhow::Result<()> {
    let (node_store, node_writer) = reflector::store::<Node>();
    let (deployment_store, deployment_writer) = reflector::store::<Deployment>();
    let mut node_events = reflector(
        node_writer,
        watcher(Api::<Node>::all(client.clone()), watcher::Config::default()).default_backoff(),
    )
    .boxed();
    let mut deployment_events = reflector(
        deployment_writer,
        watcher(
            Api::<Deployment>::namespaced(client, COREDNS_NAMESPACE),
            watcher::Config::default().fields(&format!("metadata.name={COREDNS_DEPLOYMENT}")),
        )
        .default_backoff(),
    )
    .boxed();

    let current_readiness = || {
        let nodes = node_store.state();
        let deployments = deployment_store.state();
        assess(
            expected_nodes,
            nodes.iter().map(AsRef::as_ref),
            find_coredns(deployments.iter().map(AsRef::as_ref)),
        )
    };

    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let mut last_api_error: Option<String> = None;
    let mut last_progress: Option<ReadyProgress> = None;
    loop {
        let event = tokio::select! {
            () = &mut deadline => {
                let mut message = format!(
                    "timed out after {timeout:?} waiting for the cluster: {}",
                    current_readiness().outstanding()
                );
                if let Some(error) = last_api_error {
                    message.push_str(&format!("; last API error: {error}"));
                }
                anyhow::bail!(message);
            }
            Some(event) = node_events.next() => event.map(drop),
            Some(event) = deployment_events.next() => event.map(drop),
        };
        match event {
            Ok(()) => last_api_error = None,
            Err(error) => {
                last_api_error = Some(error.to_string());
                continue;
            }
        }

        let readiness = current_readiness();
        let now = readiness.progress();
        if last_progress != Some(now) {
            progress(&now);
            last_progress = Some(now);
        }
        if readiness.reached(until) {
            return Ok(());
        }
    }
}

fn find_coredns<'a>(
    deployments: impl IntoIterator<Item = &'a Deployment>,
) -> Option<&'a Deployment> {
    deployments.into_iter().find(|deployment| {
        deployment.name_any() == COREDNS_DEPLOYMENT
            && deployment.namespace().as_deref() == Some(COREDNS_NAMESPACE)
    })
}

/// What stands between the cluster and ready, at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Readiness {
    expected: usize,
    not_ready: Vec<String>,
    missing: Vec<String>,
    coredns_available: bool,
}

impl Readiness {
    fn reached(&self, until: WaitFor) -> bool {
        match until {
            WaitFor::Ready => {
                self.not_ready.is_empty() && self.missing.is_empty() && self.coredns_available
            }
            WaitFor::Registered => self.missing.is_empty(),
        }
    }

    fn progress(&self) -> ReadyProgress {
        ReadyProgress {
            ready_nodes: self.expected - self.not_ready.len() - self.missing.len(),
            expected_nodes: self.expected,
            coredns_available: self.coredns_available,
        }
    }

    /// The outstanding items, e.g. `nodes not Ready: a, b; CoreDNS not available`.
    fn outstanding(&self) -> String {
        let mut parts = Vec::new();
        if !self.not_ready.is_empty() {
            parts.push(format!("nodes not Ready: {}", self.not_ready.join(", ")));
        }
        if !self.missing.is_empty() {
            parts.push(format!("nodes missing: {}", self.missing.join(", ")));
        }
        if !self.coredns_available {
            parts.push("CoreDNS not available".to_owned());
        }
        if parts.is_empty() {
            "nothing outstanding".to_owned()
        } else {
            parts.join("; ")
        }
    }
}

/// Compares what the API server shows with what is expected. Nodes that
/// are not expected (left over, or added by hand) do not count.
fn assess<'a>(
    expected_nodes: &[String],
    nodes: impl IntoIterator<Item = &'a Node>,
    coredns: Option<&Deployment>,
) -> Readiness {
    let nodes: Vec<&Node> = nodes.into_iter().collect();
    let mut not_ready = Vec::new();
    let mut missing = Vec::new();
    for name in expected_nodes {
        match nodes.iter().find(|node| node.name_any() == *name) {
            None => missing.push(name.clone()),
            Some(node) if !node_is_ready(node) => not_ready.push(name.clone()),
            Some(_) => {}
        }
    }
    Readiness {
        expected: expected_nodes.len(),
        not_ready,
        missing,
        coredns_available: coredns.is_some_and(deployment_is_available),
    }
}

fn node_is_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|status| status.conditions.as_ref())
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|condition| condition.type_ == "Ready" && condition.status == "True")
        })
}

/// `availableReplicas` alone is enough: the `Available` condition lags it
/// and may be absent on a deployment that has just been created.
fn deployment_is_available(deployment: &Deployment) -> bool {
    let Some(status) = deployment.status.as_ref() else {
        return false;
    };
    let available_condition = status.conditions.as_ref().is_some_and(|conditions| {
        conditions.iter().any(|condition| {
            condition.type_.as_deref() == Some("Available")
                && condition.status.as_deref() == Some("True")
        })
    });
    available_condition || status.available_replicas.unwrap_or(0) >= 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, ready: Option<&str>) -> Node {
        let conditions: Vec<_> = ready
            .map(|status| json!({"type": "Ready", "status": status}))
            .into_iter()
            .chain([json!({"type": "MemoryPressure", "status": "False"})])
            .collect();
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "status": {"conditions": conditions},
        }))
        .unwrap()
    }

    fn coredns(status: serde_json::Value) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "coredns", "namespace": "kube-system"},
            "status": status,
        }))
        .unwrap()
    }

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn node_readiness_follows_the_ready_condition_only() {
        let cases = [
            (Some("True"), true),
            (Some("False"), false),
            (Some("Unknown"), false),
            (None, false),
        ];
        for (ready, expected) in cases {
            assert_eq!(
                node_is_ready(&node("n", ready)),
                expected,
                "Ready={ready:?}"
            );
        }
        let without_status: Node =
            serde_json::from_value(json!({"metadata": {"name": "n"}})).unwrap();
        assert!(!node_is_ready(&without_status));
    }

    #[test]
    fn coredns_is_available_by_condition_or_by_replicas() {
        let cases = [
            (json!({}), false),
            (json!({"availableReplicas": 0}), false),
            (json!({"availableReplicas": 1}), true),
            (json!({"availableReplicas": 2}), true),
            (
                json!({"conditions": [{"type": "Available", "status": "True"}]}),
                true,
            ),
            (
                json!({"conditions": [{"type": "Available", "status": "False"}]}),
                false,
            ),
            (
                json!({"conditions": [{"type": "Progressing", "status": "True"}]}),
                false,
            ),
        ];
        for (status, expected) in cases {
            assert_eq!(
                deployment_is_available(&coredns(status.clone())),
                expected,
                "{status}"
            );
        }
        let without_status: Deployment =
            serde_json::from_value(json!({"metadata": {"name": "coredns"}})).unwrap();
        assert!(!deployment_is_available(&without_status));
    }

    #[test]
    fn only_the_coredns_deployment_of_kube_system_counts() {
        let elsewhere: Deployment = serde_json::from_value(json!({
            "metadata": {"name": "coredns", "namespace": "default"},
            "status": {"availableReplicas": 1},
        }))
        .unwrap();
        assert!(find_coredns([&elsewhere]).is_none());
        let real = coredns(json!({"availableReplicas": 1}));
        assert_eq!(find_coredns([&elsewhere, &real]), Some(&real));
    }

    #[test]
    fn without_a_cni_registered_nodes_are_enough() {
        let unavailable = coredns(json!({"availableReplicas": 0}));
        let a_not_ready = node("a", Some("False"));
        let b_not_ready = node("b", None);
        // (expected, nodes there, registered, ready)
        type Case<'a> = (&'a [&'a str], Vec<&'a Node>, bool, bool);
        let table: [Case; 3] = [
            (&["a", "b"], vec![&a_not_ready, &b_not_ready], true, false),
            (&["a", "b"], vec![&a_not_ready], false, false),
            (&[], vec![], true, false),
        ];
        for (expected, nodes, registered, ready) in table {
            let readiness = assess(&names(expected), nodes, Some(&unavailable));
            assert_eq!(
                readiness.reached(WaitFor::Registered),
                registered,
                "{expected:?}"
            );
            assert_eq!(readiness.reached(WaitFor::Ready), ready, "{expected:?}");
        }
    }

    #[test]
    fn assessment_names_what_is_outstanding() {
        let available = coredns(json!({"availableReplicas": 1}));
        let unavailable = coredns(json!({"availableReplicas": 0}));
        let a_ready = node("a", Some("True"));
        let b_not_ready = node("b", Some("False"));
        let c_ready = node("c", Some("True"));
        let stray = node("stray", Some("False"));
        struct Case<'a> {
            expected: Vec<String>,
            nodes: Vec<&'a Node>,
            coredns: Option<&'a Deployment>,
            complete: bool,
            ready_nodes: usize,
            outstanding: &'a str,
        }
        let cases = [
            Case {
                expected: names(&["a", "c"]),
                nodes: vec![&a_ready, &c_ready, &stray],
                coredns: Some(&available),
                complete: true,
                ready_nodes: 2,
                outstanding: "nothing outstanding",
            },
            Case {
                expected: names(&["a", "b", "c"]),
                nodes: vec![&a_ready, &b_not_ready],
                coredns: Some(&available),
                complete: false,
                ready_nodes: 1,
                outstanding: "nodes not Ready: b; nodes missing: c",
            },
            Case {
                expected: names(&["a"]),
                nodes: vec![&a_ready],
                coredns: Some(&unavailable),
                complete: false,
                ready_nodes: 1,
                outstanding: "CoreDNS not available",
            },
            Case {
                expected: names(&["a", "b"]),
                nodes: vec![],
                coredns: None,
                complete: false,
                ready_nodes: 0,
                outstanding: "nodes missing: a, b; CoreDNS not available",
            },
            Case {
                expected: vec![],
                nodes: vec![&b_not_ready],
                coredns: Some(&available),
                complete: true,
                ready_nodes: 0,
                outstanding: "nothing outstanding",
            },
        ];
        for case in cases {
            let readiness = assess(&case.expected, case.nodes.iter().copied(), case.coredns);
            assert_eq!(
                readiness.reached(WaitFor::Ready),
                case.complete,
                "{:?}",
                case.expected
            );
            assert_eq!(readiness.outstanding(), case.outstanding);
            let progress = readiness.progress();
            assert_eq!(
                progress.ready_nodes, case.ready_nodes,
                "{:?}",
                case.expected
            );
            assert_eq!(progress.expected_nodes, case.expected.len());
        }
    }

    #[test]
    fn progress_reads_as_a_sentence() {
        let progress = ReadyProgress {
            ready_nodes: 1,
            expected_nodes: 3,
            coredns_available: false,
        };
        assert_eq!(
            progress.to_string(),
            "1/3 nodes Ready, CoreDNS not available yet"
        );
        let done = ReadyProgress {
            ready_nodes: 3,
            coredns_available: true,
            ..progress
        };
        assert_eq!(done.to_string(), "3/3 nodes Ready, CoreDNS available");
    }

    const KUBECONFIG: &str = r#"
apiVersion: v1
kind: Config
current-context: first
clusters:
- name: first
  cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}
- name: second
  cluster: {server: "https://127.0.0.1:7443", insecure-skip-tls-verify: true}
users:
- name: admin
  user: {token: "abc"}
contexts:
- name: first
  context: {cluster: first, user: admin, namespace: first-ns}
- name: second
  context: {cluster: second, user: admin, namespace: second-ns}
"#;

    #[tokio::test]
    async fn client_uses_the_named_context_not_the_current_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig");
        std::fs::write(&path, KUBECONFIG).unwrap();
        let client = client_for_context(&path, "second").await.unwrap();
        assert_eq!(client.default_namespace(), "second-ns");
    }

    #[tokio::test]
    async fn unknown_context_and_missing_file_are_errors_that_say_which() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig");
        std::fs::write(&path, KUBECONFIG).unwrap();
        let Err(error) = client_for_context(&path, "third").await else {
            panic!("context third does not exist");
        };
        assert!(format!("{error:#}").contains("third"), "{error:#}");

        let absent = dir.path().join("absent");
        let Err(error) = client_for_context(&absent, "first").await else {
            panic!("the kubeconfig does not exist");
        };
        assert!(format!("{error:#}").contains("absent"), "{error:#}");
    }
}
