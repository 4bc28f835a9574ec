//! `kubectl dind e2e` as a user runs it: the plugin binary, a kubeconfig context, a test
//! API server on a local port, and a real node (`up --nodes-only`, cluster IDs 49–50) on
//! which the conformance pod "ran". Proves that `E2E_REPORT_DIR` acts (the JUnit files
//! are read from the node through Docker), that a failed run exits non-zero, and that the
//! namespace, binding and results directory go, also on Ctrl-C.

mod support;

use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the test API server has seen and how its pod behaves.
#[derive(Default)]
struct State {
    requests: Vec<(String, String)>,
    pod: Option<Value>,
    /// `None` keeps the pod Pending; `Some(code)` ends it with that exit code.
    exit_code: Option<i32>,
    node: String,
}

type Shared = Arc<Mutex<State>>;

fn answer(state: &Shared, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    let mut s = state.lock().unwrap();
    let path = path.split('?').next().unwrap_or_default();
    s.requests.push((method.to_string(), path.to_string()));
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let echo = || String::from_utf8_lossy(body).into_owned();
    match (method, parts.as_slice()) {
        ("GET", ["version"]) => (
            200,
            json!({"major": "1", "minor": "31", "gitVersion": "v1.31.2", "gitCommit": "x",
                "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
                "goVersion": "go1.23", "compiler": "gc", "platform": "linux/amd64"})
            .to_string(),
        ),
        ("POST", ["api", "v1", "namespaces", _, "pods"]) => {
            let pod: Value = serde_json::from_slice(body).unwrap();
            // The conformance runner "writes" its results into the hostPath on the node.
            let dir = pod["spec"]["volumes"][0]["hostPath"]["path"]
                .as_str()
                .unwrap()
                .to_string();
            let script = format!(
                "mkdir -p {dir} && printf '<testsuite tests=\"1\" failures=\"1\"/>\\n' > {dir}/junit_01.xml \
                 && echo 'FAIL! -- 0 Passed | 1 Failed' > {dir}/e2e.log && echo other > {dir}/e2e.tar.gz"
            );
            let out = docker_cli(&["exec", &s.node, "sh", "-c", &script]);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            s.pod = Some(pod);
            (201, echo())
        }
        ("POST", _) => (201, echo()),
        ("GET", ["api", "v1", "namespaces", _, "pods", "conformance"]) => {
            let Some(mut pod) = s.pod.clone() else {
                return (404, json!({"kind": "Status", "code": 404}).to_string());
            };
            pod["spec"]["nodeName"] = json!(s.node);
            pod["status"] = match s.exit_code {
                None => json!({"phase": "Pending", "containerStatuses": [{"name": "conformance",
                    "ready": false, "restartCount": 0, "image": "", "imageID": "",
                    "state": {"waiting": {"reason": "ContainerCreating"}}}]}),
                Some(code) => json!({"phase": if code == 0 { "Succeeded" } else { "Failed" },
                    "containerStatuses": [{"name": "conformance", "ready": false,
                    "restartCount": 0, "image": "", "imageID": "",
                    "state": {"terminated": {"exitCode": code}}}]}),
            };
            (200, pod.to_string())
        }
        ("GET", [.., "conformance", "log"]) => (
            200,
            "Ran 1 of 7000 Specs\nFAIL! -- 0 Passed | 1 Failed\n".to_string(),
        ),
        ("DELETE", ["api", "v1", "namespaces", name]) => (
            200,
            json!({"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": name}})
                .to_string(),
        ),
        ("DELETE", _) => (
            200,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}).to_string(),
        ),
        _ => (
            404,
            json!({"kind": "Status", "apiVersion": "v1", "code": 404}).to_string(),
        ),
    }
}

/// A plain-HTTP API server on a free local port: one request per connection.
async fn start_server(state: Shared) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let state = state.clone();
            tokio::spawn(async move {
                let mut data = Vec::new();
                let mut buf = [0u8; 8192];
                let header_end = loop {
                    let n = stream.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    data.extend_from_slice(&buf[..n]);
                    if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                        break at + 4;
                    }
                };
                let head = String::from_utf8_lossy(&data[..header_end]).into_owned();
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                while data.len() < header_end + length {
                    let n = stream.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    data.extend_from_slice(&buf[..n]);
                }
                let mut request_line = head.lines().next().unwrap_or_default().split(' ');
                let method = request_line.next().unwrap_or_default().to_string();
                let path = request_line.next().unwrap_or_default().to_string();
                let body = data[header_end..].to_vec();
                let state2 = state.clone();
                let (code, text) =
                    tokio::task::spawn_blocking(move || answer(&state2, &method, &path, &body))
                        .await
                        .unwrap();
                let response = format!(
                    "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    port
}

fn kubeconfig(dir: &std::path::Path, context: &str, port: u16) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: {context}\nclusters:\n- name: {context}\n  cluster:\n    server: http://127.0.0.1:{port}\nusers:\n- name: {context}\n  user:\n    token: i10\ncontexts:\n- name: {context}\n  context:\n    cluster: {context}\n    user: {context}\n"
        ),
    )
    .unwrap();
    path
}

fn node_has(node: &str, path: &str) -> bool {
    docker_cli(&["exec", node, "test", "-e", path])
        .status
        .success()
}

fn up_one_node(id: &str) {
    run_ok(
        "kubectl-dind",
        &[
            "up",
            "--nodes-only",
            "--nodes",
            "0",
            "--cluster-id",
            id,
            "--image",
            BARE_IMAGE,
        ],
        &[],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_run_exits_non_zero_and_copies_junit_to_e2e_report_dir() {
    let Some(_engine) = docker().await else {
        return;
    };
    ensure_images();
    let _clean = CleanOnDrop::cluster(&["--cluster-id", "49"]);
    tokio::task::spawn_blocking(|| up_one_node("49"))
        .await
        .unwrap();
    let node = "kube-master-cluster-49";
    let state: Shared = Arc::new(Mutex::new(State {
        exit_code: Some(1),
        node: node.to_string(),
        ..State::default()
    }));
    let port = start_server(state.clone()).await;
    let work = tempfile::tempdir().unwrap();
    let config = kubeconfig(work.path(), "dind-cluster-49", port);
    let reports = work.path().join("reports");
    let (config_arg, reports_env) = (
        config.to_str().unwrap().to_string(),
        reports.to_str().unwrap().to_string(),
    );
    let output = tokio::task::spawn_blocking(move || {
        run(
            "kubectl-dind",
            &[
                "e2e",
                "existing RC",
                "--cluster-id",
                "49",
                "--kubeconfig",
                &config_arg,
            ],
            &[("E2E_REPORT_DIR", &reports_env)],
        )
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the e2e tests failed"), "{stderr}");
    assert!(
        stderr.contains("FAIL! -- 0 Passed | 1 Failed"),
        "the runner's output streams: {stderr}"
    );

    assert_eq!(
        std::fs::read_to_string(reports.join("junit_01.xml")).unwrap(),
        "<testsuite tests=\"1\" failures=\"1\"/>\n"
    );
    assert!(reports.join("e2e.log").is_file());
    assert!(
        !reports.join("e2e.tar.gz").exists(),
        "only JUnit files and the log"
    );

    let s = state.lock().unwrap();
    let pod = s.pod.as_ref().expect("a pod was created");
    let namespace = pod["metadata"]["namespace"].as_str().unwrap();
    let env: Vec<(&str, &str)> = pod["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["value"].as_str().unwrap()))
        .collect();
    assert!(env.contains(&(
        "E2E_FOCUS",
        r"existing RC.*\[Conformance\]|\[Conformance\].*existing RC"
    )));
    assert!(env.contains(&("E2E_SKIP", r"\[Serial\]")));
    assert!(s
        .requests
        .contains(&("DELETE".into(), format!("/api/v1/namespaces/{namespace}"))));
    assert!(s.requests.contains(&(
        "DELETE".into(),
        format!("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{namespace}-cluster-admin")
    )));
    assert!(!node_has(node, &format!("/var/lib/dind-e2e/{namespace}")));
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_removes_the_namespace_and_binding() {
    let Some(_engine) = docker().await else {
        return;
    };
    ensure_images();
    let _clean = CleanOnDrop::cluster(&["--cluster-id", "50"]);
    tokio::task::spawn_blocking(|| up_one_node("50"))
        .await
        .unwrap();
    let node = "kube-master-cluster-50";
    let state: Shared = Arc::new(Mutex::new(State {
        exit_code: None,
        node: node.to_string(),
        ..State::default()
    }));
    let port = start_server(state.clone()).await;
    let work = tempfile::tempdir().unwrap();
    let config = kubeconfig(work.path(), "dind-cluster-50", port);
    let child = Command::new(bin("kubectl-dind"))
        .args(["e2e-serial", "--cluster-id", "50", "--kubeconfig"])
        .arg(&config)
        .env("KUBECONFIG", test_kubeconfig())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the pod exists and is being waited for.
    let mut waited = Duration::ZERO;
    while state
        .lock()
        .unwrap()
        .requests
        .iter()
        .filter(|(m, p)| m == "GET" && p.contains("/pods/conformance"))
        .count()
        < 2
    {
        assert!(waited < Duration::from_secs(60), "the pod was never polled");
        tokio::time::sleep(Duration::from_millis(200)).await;
        waited += Duration::from_millis(200);
    }
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(130),
        "Ctrl-C exits 130: {stderr}"
    );
    assert!(stderr.contains("interrupted"), "{stderr}");

    let s = state.lock().unwrap();
    let namespace = s.pod.as_ref().unwrap()["metadata"]["namespace"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(s
        .requests
        .contains(&("DELETE".into(), format!("/api/v1/namespaces/{namespace}"))));
    assert!(s.requests.contains(&(
        "DELETE".into(),
        format!("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{namespace}-cluster-admin")
    )));
    assert!(!node_has(node, &format!("/var/lib/dind-e2e/{namespace}")));
}
