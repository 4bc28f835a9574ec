//! The KEP-1755 `local-registry-hosting` ConfigMap, written through kube-rs against the
//! test API server: one server-side apply of the KEP's schema in `kube-public`.

mod api_server;

use api_server::{ok, serve, Seen};
use dind::cluster::registry_hosting::{apply, hosting_configmap, DATA_KEY, HELP};
use serde_json::json;

#[tokio::test]
async fn the_configmap_is_applied_with_the_keps_schema() {
    let (client, seen) = serve(|request: &Seen| {
        let mut body = request.json();
        body["metadata"]["resourceVersion"] = json!("1");
        ok(body)
    });
    let config_map = hosting_configmap(5001, "fd00:20:5::5001".parse().unwrap(), 5000);
    apply(client, &config_map)
        .await
        .expect("the apply succeeds");

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "one request: {seen:?}");
    let request = &seen[0];
    assert_eq!(request.method, "PATCH");
    assert_eq!(
        request.path,
        "/api/v1/namespaces/kube-public/configmaps/local-registry-hosting"
    );
    assert_eq!(request.param("fieldManager").as_deref(), Some("dind"));
    assert_eq!(request.param("force").as_deref(), Some("true"));
    let body = request.json();
    assert_eq!(body["apiVersion"], "v1");
    assert_eq!(body["kind"], "ConfigMap");
    assert_eq!(body["metadata"]["namespace"], "kube-public");
    let document: serde_yaml::Value =
        serde_yaml::from_str(body["data"][DATA_KEY].as_str().expect("the KEP's data key"))
            .expect("a YAML document");
    assert_eq!(document["host"].as_str(), Some("localhost:5001"));
    assert_eq!(
        document["hostFromContainerRuntime"].as_str(),
        Some("localhost:5001")
    );
    assert_eq!(
        document["hostFromClusterNetwork"].as_str(),
        Some("[fd00:20:5::5001]:5000")
    );
    assert_eq!(document["help"].as_str(), Some(HELP));
}

#[tokio::test]
async fn a_refusing_server_is_an_error_naming_the_configmap() {
    let (client, _seen) = serve(|_| {
        Some((
            403,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                "reason": "Forbidden", "code": 403, "message": "forbidden"})
            .to_string(),
        ))
    });
    let config_map = hosting_configmap(5001, "10.192.5.254".parse().unwrap(), 5000);
    let error = apply(client, &config_map).await.unwrap_err();
    assert!(
        error
            .to_string()
            .contains("kube-public/local-registry-hosting"),
        "{error:#}"
    );
}
