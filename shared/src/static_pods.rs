//! Waiting until the control plane's static pods run again, as `reup` left them: each of
//! kube-apiserver, kube-controller-manager and kube-scheduler on the master runs the image
//! its manifest now names, was started after the restart, and is Ready.
//!
//! The API server shows a static pod as its mirror pod, named `<pod>-<node in lower case>`
//! (`generatePodName`, `pkg/kubelet/config/common.go`), whose status the kubelet keeps.
//! The pod's UID is a hash of the manifest's pod (`applyDefaults`, same file), so a
//! restart with an unchanged manifest keeps the mirror pod and its old status: "Ready"
//! alone could be the status from before, and the containers' `startedAt` tells the new
//! run from the old one.
//!
//! As in [`crate::ready`], the wait follows watch events (a kube-runtime watcher feeding a
//! reflector store) under a deadline; [`assess`] is pure and unit-tested.

use std::fmt;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::{reflector, watcher, WatchStreamExt};
use kube::ResourceExt;

/// The namespace kubeadm's static pods are mirrored in.
const NAMESPACE: &str = "kube-system";

/// One static pod the wait expects on the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedPod {
    /// The static pod's name in its manifest (kubeadm names it after the component).
    pub component: String,
    /// The image its manifest now names, when `reup` changed it.
    pub image: Option<String>,
}

/// How many of the expected static pods run again, reported while waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaticPodProgress {
    pub running: usize,
    pub expected: usize,
}

impl fmt::Display for StaticPodProgress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{} control-plane pods restarted and Ready",
            self.running, self.expected
        )
    }
}

/// Waits until every pod of `expected` runs on `node` as [`assess`] says, its containers
/// started at or after `since` (Unix seconds, read from the node's own clock), or fails
/// once `timeout` has passed, naming each pod still outstanding and why. API errors (the
/// API server is one of the pods restarting) do not end the wait: the watcher retries with
/// backoff until the deadline.
pub async fn wait_for_static_pods(
    client: kube::Client,
    node: &str,
    expected: &[ExpectedPod],
    since: i64,
    timeout: Duration,
    progress: &mut dyn FnMut(&StaticPodProgress),
) -> anyhow::Result<()> {
    let (store, writer) = reflector::store::<Pod>();
    let config = watcher::Config::default().fields(&format!("spec.nodeName={node}"));
    let mut events = reflector(
        writer,
        watcher(Api::<Pod>::namespaced(client, NAMESPACE), config).default_backoff(),
    )
    .boxed();
    let outstanding = || {
        let pods = store.state();
        assess(expected, node, since, pods.iter().map(AsRef::as_ref))
    };

    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let mut last_api_error: Option<String> = None;
    let mut last_progress = None;
    loop {
        let event = tokio::select! {
            () = &mut deadline => {
                let mut message = format!(
                    "timed out after {timeout:?} waiting for the control plane on {node}: {}",
                    outstanding().join("; ")
                );
                if let Some(error) = last_api_error {
                    message.push_str(&format!("; last API error: {error}"));
                }
                anyhow::bail!(message);
            }
            Some(event) = events.next() => event,
        };
        if let Err(error) = event {
            last_api_error = Some(error.to_string());
            continue;
        }
        last_api_error = None;
        let left = outstanding();
        let now = StaticPodProgress {
            running: expected.len() - left.len(),
            expected: expected.len(),
        };
        if last_progress != Some(now) {
            progress(&now);
            last_progress = Some(now);
        }
        if left.is_empty() {
            return Ok(());
        }
    }
}

/// What keeps each expected pod from counting, one line a pod (empty: all run). A pod
/// counts when its mirror pod exists, its containers run the expected image (when one is
/// expected), every container started at or after `since`, and its `Ready` condition is
/// `True`.
pub fn assess<'a>(
    expected: &[ExpectedPod],
    node: &str,
    since: i64,
    pods: impl IntoIterator<Item = &'a Pod>,
) -> Vec<String> {
    let pods: Vec<&Pod> = pods.into_iter().collect();
    expected
        .iter()
        .filter_map(|want| {
            let name = format!("{}-{}", want.component, node.to_lowercase());
            let Some(pod) = pods.iter().find(|pod| pod.name_any() == name) else {
                return Some(format!("{name} missing"));
            };
            why_not_running(pod, want, since).map(|why| format!("{name} {why}"))
        })
        .collect()
}

fn why_not_running(pod: &Pod, want: &ExpectedPod, since: i64) -> Option<String> {
    let images: Vec<&str> = pod
        .spec
        .iter()
        .flat_map(|spec| &spec.containers)
        .filter_map(|c| c.image.as_deref())
        .collect();
    if let Some(image) = &want.image {
        if images.iter().any(|i| i != image) || images.is_empty() {
            return Some(format!("runs {}, not {image}", images.join(", ")));
        }
    }
    let status = pod.status.as_ref();
    let started: Vec<Option<i64>> = status
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .map(|c| {
            c.state
                .as_ref()
                .and_then(|state| state.running.as_ref())
                .and_then(|running| running.started_at.as_ref())
                .map(|time| time.0.as_second())
        })
        .collect();
    if started.is_empty() || started.iter().any(|s| s.is_none_or(|at| at < since)) {
        return Some("not restarted yet".to_string());
    }
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        });
    (!ready).then(|| "not Ready".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SINCE: i64 = 1_800_000_000; // 2027-01-15T08:00:00Z

    fn pod(component: &str, image: &str, started: Option<&str>, ready: bool) -> Pod {
        let state = match started {
            Some(at) => json!({"running": {"startedAt": at}}),
            None => json!({"waiting": {"reason": "ContainerCreating"}}),
        };
        serde_json::from_value(json!({
            "metadata": {"name": format!("{component}-kube-master"), "namespace": NAMESPACE},
            "spec": {"containers": [{"name": component, "image": image}]},
            "status": {
                "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
                "containerStatuses": [{
                    "name": component, "image": image, "imageID": "", "ready": ready,
                    "restartCount": 0, "state": state,
                }],
            },
        }))
        .unwrap()
    }

    fn want(component: &str, image: Option<&str>) -> ExpectedPod {
        ExpectedPod {
            component: component.to_string(),
            image: image.map(str::to_string),
        }
    }

    #[test]
    fn a_pod_counts_once_it_runs_the_new_image_restarted_and_ready() {
        const NEW: &str = "registry.k8s.io/kube-apiserver:v1.99.0";
        const OLD: &str = "registry.k8s.io/kube-apiserver:v1.37.0";
        const AFTER: &str = "2027-01-15T08:00:05Z";
        const BEFORE: &str = "2027-01-15T07:59:59Z";
        // (expected image, the mirror pod, what is outstanding)
        let table: [(Option<&str>, Option<Pod>, Option<&str>); 8] = [
            (Some(NEW), Some(pod("kube-apiserver", NEW, Some(AFTER), true)), None),
            (
                Some(NEW),
                Some(pod("kube-apiserver", OLD, Some(BEFORE), true)),
                Some("kube-apiserver-kube-master runs registry.k8s.io/kube-apiserver:v1.37.0, not registry.k8s.io/kube-apiserver:v1.99.0"),
            ),
            (
                Some(NEW),
                Some(pod("kube-apiserver", NEW, None, false)),
                Some("kube-apiserver-kube-master not restarted yet"),
            ),
            (
                Some(NEW),
                Some(pod("kube-apiserver", NEW, Some(AFTER), false)),
                Some("kube-apiserver-kube-master not Ready"),
            ),
            (None, Some(pod("kube-apiserver", OLD, Some(AFTER), true)), None),
            // The status from before the restart: Ready, but started before it.
            (
                None,
                Some(pod("kube-apiserver", OLD, Some(BEFORE), true)),
                Some("kube-apiserver-kube-master not restarted yet"),
            ),
            // Started in the very second the wait began counts (RFC 3339 has seconds).
            (
                None,
                Some(pod("kube-apiserver", OLD, Some("2027-01-15T08:00:00Z"), true)),
                None,
            ),
            (
                Some(NEW),
                None,
                Some("kube-apiserver-kube-master missing"),
            ),
        ];
        for (image, mirror, outstanding) in table {
            let expected = [want("kube-apiserver", image)];
            let left = assess(&expected, "kube-master", SINCE, mirror.iter());
            assert_eq!(
                left,
                outstanding.into_iter().collect::<Vec<_>>(),
                "{image:?} {mirror:?}"
            );
        }
    }

    #[test]
    fn only_the_expected_pods_on_the_node_count() {
        const AFTER: &str = "2027-01-15T08:00:05Z";
        let expected = [want("kube-apiserver", None), want("kube-scheduler", None)];
        let pods = [
            pod("kube-apiserver", "a", Some(AFTER), true),
            pod("etcd", "e", Some("2020-01-01T00:00:00Z"), false),
        ];
        assert_eq!(
            assess(&expected, "kube-master", SINCE, pods.iter()),
            ["kube-scheduler-kube-master missing"]
        );
        // Another node's pods carry another suffix; the kubelet lower-cases the node's.
        assert!(assess(&expected, "Kube-Master", SINCE, pods.iter()).len() == 1);
        assert_eq!(
            assess(&expected, "kube-node-1", SINCE, pods.iter()),
            [
                "kube-apiserver-kube-node-1 missing",
                "kube-scheduler-kube-node-1 missing"
            ]
        );
        let progress = StaticPodProgress {
            running: 1,
            expected: 2,
        };
        assert_eq!(
            progress.to_string(),
            "1/2 control-plane pods restarted and Ready"
        );
    }
}
