//! `wait_for_static_pods` (what `reup` waits for after restarting the control plane)
//! against the test API server: kube-runtime's watcher lists the master's kube-system
//! pods, then watches from the list's resourceVersion. The server answers each watch with
//! the scripted changes after its resourceVersion and holds it when there are none, so
//! the wait is driven by watch events and the tests never poll.

mod api_server;

use api_server::{ok, Answer, Seen, HANG};
use dind::static_pods::{wait_for_static_pods, ExpectedPod, StaticPodProgress};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PODS_PATH: &str = "/api/v1/namespaces/kube-system/pods";
const NODE: &str = "kube-master";
const OLD: &str = "registry.k8s.io/kube-apiserver:v1.37.0";
const NEW: &str = "registry.k8s.io/kube-apiserver:v1.99.0-i19";
/// When `reup` read the master's clock, just before the restart.
const SINCE: i64 = 1_800_000_000; // 2027-01-15T08:00:00Z
const BEFORE: &str = "2027-01-15T07:00:00Z";
const AFTER: &str = "2027-01-15T08:00:07Z";

fn pod(component: &str, image: &str, started: Option<&str>, ready: bool) -> Value {
    let state = match started {
        Some(at) => json!({"running": {"startedAt": at}}),
        None => json!({"waiting": {"reason": "ContainerCreating"}}),
    };
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("{component}-{NODE}"), "namespace": "kube-system"},
        "spec": {"nodeName": NODE, "containers": [{"name": component, "image": image}]},
        "status": {
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
            "containerStatuses": [{
                "name": component, "image": image, "imageID": "", "ready": ready,
                "restartCount": 0, "state": state,
            }],
        },
    })
}

fn expected() -> Vec<ExpectedPod> {
    [
        ("kube-apiserver", Some(NEW)),
        ("kube-controller-manager", None),
        ("kube-scheduler", None),
    ]
    .map(|(component, image)| ExpectedPod {
        component: component.to_string(),
        image: image.map(str::to_string),
    })
    .to_vec()
}

/// A server whose pods start as `initial` and then change by `changes`, one watch event
/// each (`ADDED`, `MODIFIED` or `DELETED` and the object), at resourceVersions 2, 3, …
/// The first `refused` lists are refused, as while the API server restarts.
fn scripted(initial: Vec<Value>, changes: Vec<(&str, Value)>, refused: usize) -> ScriptedServer {
    let events: Vec<(u64, String)> = changes
        .into_iter()
        .enumerate()
        .map(|(i, (kind, mut object))| {
            let version = i as u64 + 2;
            object["metadata"]["resourceVersion"] = json!(version.to_string());
            (version, json!({"type": kind, "object": object}).to_string())
        })
        .collect();
    let refused = Arc::new(Mutex::new(refused));
    let handler = move |seen: &Seen| -> Answer {
        if seen.path != PODS_PATH
            || seen.param("fieldSelector").as_deref() != Some(&format!("spec.nodeName={NODE}"))
        {
            return api_server::not_found();
        }
        if seen.param("watch").as_deref() == Some("true") {
            let since: u64 = seen
                .param("resourceVersion")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let lines: Vec<&str> = events
                .iter()
                .filter(|(version, _)| *version > since)
                .map(|(_, line)| line.as_str())
                .collect();
            if lines.is_empty() {
                return Some((HANG, String::new()));
            }
            return Some((200, format!("{}\n", lines.join("\n"))));
        }
        let mut refused = refused.lock().unwrap();
        if *refused > 0 {
            *refused -= 1;
            return None;
        }
        ok(json!({
            "apiVersion": "v1", "kind": "PodList",
            "metadata": {"resourceVersion": "1"},
            "items": initial,
        }))
    };
    let (client, seen) = api_server::serve(handler);
    ScriptedServer { client, seen }
}

struct ScriptedServer {
    client: kube::Client,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl ScriptedServer {
    fn count(&self, watch: bool) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| (s.param("watch").as_deref() == Some("true")) == watch)
            .count()
    }
}

fn the_old_control_plane() -> Vec<Value> {
    vec![
        pod("kube-apiserver", OLD, Some(BEFORE), true),
        pod("kube-controller-manager", "cm", Some(BEFORE), true),
        pod("kube-scheduler", "s", Some(BEFORE), true),
        pod("etcd", "e", Some(BEFORE), true),
    ]
}

fn progress(running: usize) -> StaticPodProgress {
    StaticPodProgress {
        running,
        expected: 3,
    }
}

#[tokio::test]
async fn waits_for_the_new_images_restarted_and_ready() {
    let server = scripted(
        the_old_control_plane(),
        vec![
            ("MODIFIED", pod("kube-scheduler", "s", Some(AFTER), true)),
            ("DELETED", pod("kube-apiserver", OLD, Some(BEFORE), true)),
            ("ADDED", pod("kube-apiserver", NEW, None, false)),
            ("MODIFIED", pod("kube-apiserver", NEW, Some(AFTER), false)),
            (
                "MODIFIED",
                pod("kube-controller-manager", "cm", Some(AFTER), true),
            ),
            ("MODIFIED", pod("kube-apiserver", NEW, Some(AFTER), true)),
        ],
        0,
    );
    let mut reported = Vec::new();
    wait_for_static_pods(
        server.client.clone(),
        NODE,
        &expected(),
        SINCE,
        Duration::from_secs(60),
        &mut |p| reported.push(*p),
    )
    .await
    .unwrap();
    // Nothing counts from the list (all started before the restart); then one by one,
    // the API server last, once it is Ready on the new image.
    assert_eq!(reported.first(), Some(&progress(0)));
    assert_eq!(reported.last(), Some(&progress(3)));
    let mut counts: Vec<usize> = reported.iter().map(|p| p.running).collect();
    counts.dedup();
    assert_eq!(counts, [0, 1, 2, 3]);
    assert_eq!(server.count(false), 1, "one list");
    assert!(server.count(true) >= 1, "then watches");
}

#[tokio::test(start_paused = true)]
async fn times_out_naming_each_pod_and_why() {
    let server = scripted(
        the_old_control_plane(),
        vec![
            (
                "MODIFIED",
                pod("kube-controller-manager", "cm", Some(AFTER), true),
            ),
            ("DELETED", pod("kube-scheduler", "s", Some(BEFORE), true)),
        ],
        0,
    );
    let error = wait_for_static_pods(
        server.client,
        NODE,
        &expected(),
        SINCE,
        Duration::from_secs(5),
        &mut |_| {},
    )
    .await
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "timed out after 5s waiting for the control plane on {NODE}: \
             kube-apiserver-{NODE} runs {OLD}, not {NEW}; kube-scheduler-{NODE} missing"
        )
    );
}

#[tokio::test(start_paused = true)]
async fn a_restarting_api_server_does_not_end_the_wait() {
    let restarted = vec![
        pod("kube-apiserver", NEW, Some(AFTER), true),
        pod("kube-controller-manager", "cm", Some(AFTER), true),
        pod("kube-scheduler", "s", Some(AFTER), true),
    ];
    let server = scripted(restarted, vec![], 3);
    wait_for_static_pods(
        server.client.clone(),
        NODE,
        &expected(),
        SINCE,
        Duration::from_secs(120),
        &mut |_| {},
    )
    .await
    .unwrap();
    assert_eq!(
        server.count(false),
        4,
        "three refused lists, then one answered"
    );
}
