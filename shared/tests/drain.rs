//! `remove-node`'s Kubernetes half against a fake API server (`tower_test`'s mock
//! service): cordon, evict every pod but DaemonSet and mirror pods, delete the Node, in
//! that order, as `kubectl drain --ignore-daemonsets` then `kubectl delete node` do.

use dind::cluster::remove_node::drain_and_delete;
use http::{Request, Response, StatusCode};
use kube::client::Body;
use serde_json::json;
use tower_test::mock;

fn json_response(status: StatusCode, body: serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string().into_bytes()))
        .expect("a response")
}

fn pod(namespace: &str, name: &str, owner: Option<&str>, mirror: bool) -> serde_json::Value {
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"nodeName": "kube-node-2", "containers": []}
    });
    if let Some(kind) = owner {
        pod["metadata"]["ownerReferences"] =
            json!([{"apiVersion": "apps/v1", "kind": kind, "name": "x", "uid": "u"}]);
    }
    if mirror {
        pod["metadata"]["annotations"] = json!({"kubernetes.io/config.mirror": "abc"});
    }
    pod
}

#[tokio::test]
async fn drain_cordons_evicts_workloads_and_deletes_the_node() {
    let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let server = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some((request, respond)) = handle.next_request().await {
            let line = format!(
                "{} {}",
                request.method(),
                request
                    .uri()
                    .path_and_query()
                    .map(|p| p.to_string())
                    .unwrap_or_default()
            );
            let node =
                json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "kube-node-2"}});
            let response = match (request.method().as_str(), request.uri().path()) {
                ("PATCH", "/api/v1/nodes/kube-node-2") => json_response(StatusCode::OK, node),
                ("GET", "/api/v1/pods") => json_response(
                    StatusCode::OK,
                    json!({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": [
                        pod("default", "web-1", Some("ReplicaSet"), false),
                        pod("kube-system", "kube-proxy-x", Some("DaemonSet"), false),
                        pod("kube-system", "static-y", None, true),
                        pod("default", "bare", None, false),
                    ]}),
                ),
                ("POST", path) if path.ends_with("/eviction") => json_response(
                    StatusCode::CREATED,
                    json!({"apiVersion": "v1", "kind": "Status", "status": "Success"}),
                ),
                ("DELETE", "/api/v1/nodes/kube-node-2") => json_response(
                    StatusCode::OK,
                    json!({"apiVersion": "v1", "kind": "Status", "status": "Success"}),
                ),
                _ => json_response(StatusCode::NOT_FOUND, json!({"kind": "Status"})),
            };
            seen.push(line);
            respond.send_response(response);
        }
        seen
    });
    let client = kube::Client::new(service, "default");
    drain_and_delete(client, "kube-node-2")
        .await
        .expect("drain and delete");
    let seen = server.await.expect("the fake server ends with the client");
    assert_eq!(seen.len(), 5, "{seen:#?}");
    assert!(
        seen[0].starts_with("PATCH /api/v1/nodes/kube-node-2"),
        "{seen:#?}"
    );
    assert!(
        seen[1].starts_with("GET /api/v1/pods?") && seen[1].contains("spec.nodeName%3Dkube-node-2"),
        "{seen:#?}"
    );
    assert!(
        seen[2].starts_with("POST /api/v1/namespaces/default/pods/web-1/eviction"),
        "{seen:#?}"
    );
    assert!(
        seen[3].starts_with("POST /api/v1/namespaces/default/pods/bare/eviction"),
        "{seen:#?}"
    );
    assert!(
        seen[4].starts_with("DELETE /api/v1/nodes/kube-node-2"),
        "{seen:#?}"
    );
}
