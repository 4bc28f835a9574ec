//! The dump's cluster-wide sections against a test API server: every container's log
//! (and the previous one after a restart), listings as the server renders them, and no
//! Secret value anywhere.

mod api_server;

use api_server::{not_found, ok, serve, version, Seen, HANG};
use base64::Engine as _;
use dind::dump::{api, format};
use serde_json::json;

const SECRET_VALUE: &str = "s3cr3t-hunter2-value";

fn pods() -> serde_json::Value {
    json!({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": [
        {"metadata": {"name": "web", "namespace": "default"},
         "spec": {"nodeName": "kube-node-1", "containers": [{"name": "app"}, {"name": "sidecar"}]},
         "status": {"containerStatuses": [
            {"name": "app", "restartCount": 1, "ready": true, "image": "app", "imageID": ""},
            {"name": "sidecar", "restartCount": 0, "ready": true, "image": "side", "imageID": ""}]}},
        {"metadata": {"name": "coredns-1", "namespace": "kube-system"},
         "spec": {"nodeName": "kube-master", "containers": [{"name": "coredns"}]}},
    ]})
}

fn secret_list() -> serde_json::Value {
    let encoded = base64::engine::general_purpose::STANDARD.encode(SECRET_VALUE);
    json!({"kind": "SecretList", "apiVersion": "v1", "metadata": {}, "items": [
        {"metadata": {"name": "db", "namespace": "default", "annotations": {
            "kubectl.kubernetes.io/last-applied-configuration":
                format!("{{\"stringData\":{{\"password\":\"{SECRET_VALUE}\"}}}}")}},
         "type": "Opaque", "data": {"password": encoded}},
    ]})
}

fn cluster(seen: &Seen) -> api_server::Answer {
    let table = seen.accept.contains("as=Table");
    match (seen.path.as_str(), table) {
        ("/version", _) => Some((200, version("v1.31.2"))),
        ("/api/v1/pods", false) => ok(pods()),
        ("/api/v1/pods", true) => ok(json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1",
            "columnDefinitions": [{"name": "Name"}, {"name": "Ready"}, {"name": "Node"}],
            "rows": [{"cells": ["web", "2/2", "kube-node-1"], "object": {"metadata": {"namespace": "default"}}}]})),
        ("/api/v1/namespaces/default/pods/web/log", _) => {
            let text = match (seen.param("container").as_deref(), seen.param("previous")) {
                (Some("app"), Some(p)) if p == "true" => "app: the crash before the restart\n",
                (Some("app"), _) => "app: serving on :8080\n",
                (Some("sidecar"), _) => "sidecar: proxy ready\n",
                _ => return not_found(),
            };
            Some((200, text.to_string()))
        }
        ("/api/v1/namespaces/kube-system/pods/coredns-1/log", _) => {
            Some((200, "[INFO] CoreDNS-1.11.1\n".to_string()))
        }
        ("/api/v1/secrets", false) => ok(secret_list()),
        ("/api/v1/secrets", true) => ok(json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1",
            "columnDefinitions": [{"name": "Name"}, {"name": "Type"}, {"name": "Data"}],
            "rows": [{"cells": ["db", "Opaque", 1], "object": {"metadata": {"namespace": "default"}}}]})),
        ("/api/v1/nodes", true) => ok(json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1",
            "columnDefinitions": [{"name": "Name"}, {"name": "Status"}, {"name": "Internal-IP"}],
            "rows": [{"cells": ["kube-master", "Ready", "10.192.45.2"], "object": {"metadata": {}}}]})),
        _ => not_found(),
    }
}

fn section<'a>(sections: &'a [format::Section], name: &str) -> &'a str {
    &sections
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| {
            panic!(
                "no section {name}; have {:?}",
                sections.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        })
        .body
}

#[tokio::test]
async fn pod_logs_listings_and_no_secret_values() {
    let (client, _) = serve(cluster);
    let sections = api::sections(&client).await;
    let dump = format::render(&sections);

    assert_eq!(
        section(&sections, "pod-kube-node-1-default-web--app.log"),
        "app: serving on :8080\n"
    );
    assert_eq!(
        section(&sections, "pod-kube-node-1-default-web--sidecar.log"),
        "sidecar: proxy ready\n"
    );
    assert_eq!(
        section(&sections, "pod-kube-node-1-default-web--app.previous.log"),
        "app: the crash before the restart\n"
    );
    assert!(
        !sections.iter().any(|s| s.name.contains("sidecar.previous")),
        "a container that never restarted has no previous log"
    );
    assert_eq!(
        section(
            &sections,
            "pod-kube-master-kube-system-coredns-1--coredns.log"
        ),
        "[INFO] CoreDNS-1.11.1\n"
    );
    for marker in [
        "@@@ pod-kube-node-1-default-web--app.log @@@\n",
        "@@@ pod-kube-node-1-default-web--sidecar.log @@@\n",
    ] {
        assert!(dump.contains(marker), "{marker}");
    }

    let listing = section(&sections, "kubectl-all.txt");
    assert!(
        listing.contains(
            "== pods ==\nNAMESPACE   NAME   READY   NODE\ndefault     web    2/2     kube-node-1\n"
        ),
        "{listing}"
    );
    assert!(
        listing.contains("default     db     Opaque   1\n"),
        "{listing}"
    );
    // A type the server does not serve says why, and the rest goes on.
    assert!(
        listing.contains("== deployments ==\ndump: could not list deployments"),
        "{listing}"
    );
    assert!(section(&sections, "nodes.txt").contains("kube-master   Ready    10.192.45.2"));
    assert!(section(&sections, "events.txt").starts_with("dump: could not list events"));

    let described = section(&sections, "describe-all.txt");
    assert!(described.contains("--- Secret default/db\n"), "{described}");
    assert!(described.contains("<redacted: "), "{described}");
    assert!(described.contains("--- Pod default/web\n"), "{described}");
    let encoded = base64::engine::general_purpose::STANDARD.encode(SECRET_VALUE);
    assert!(!dump.contains(SECRET_VALUE), "the Secret's value leaked");
    assert!(!dump.contains(&encoded), "the Secret's base64 value leaked");
}

#[tokio::test]
async fn an_api_server_that_does_not_answer_gets_one_section_saying_so() {
    let (client, seen) = serve(|_| None);
    let sections = api::sections(&client).await;
    assert_eq!(sections.len(), 1, "{sections:?}");
    assert_eq!(sections[0].name, "api-server.txt");
    assert!(
        sections[0].body.contains("the API server did not answer")
            && sections[0].body.contains("connection refused"),
        "{}",
        sections[0].body
    );
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "one probe, no storm of requests"
    );
}

#[tokio::test(start_paused = true)]
async fn a_log_that_never_comes_gets_a_section_saying_so() {
    let (client, _) = serve(|seen| {
        if seen.path == "/api/v1/namespaces/default/pods/web/log"
            && seen.param("container").as_deref() == Some("sidecar")
        {
            return Some((HANG, String::new()));
        }
        cluster(seen)
    });
    let sections = api::sections(&client).await;
    let sidecar = section(&sections, "pod-kube-node-1-default-web--sidecar.log");
    assert!(
        sidecar.starts_with("dump: could not read the log of default/web container sidecar")
            && sidecar.contains("no answer within 60s"),
        "{sidecar}"
    );
    assert_eq!(
        section(&sections, "pod-kube-node-1-default-web--app.log"),
        "app: serving on :8080\n"
    );
    assert!(section(&sections, "nodes.txt").contains("kube-master"));
}
