//! Issue 11's everyday settings on real node containers (`up --nodes-only`, cluster IDs
//! 55–64): a `--publish`ed port answers from the host, the registry, CA and proxy files
//! reach every node before containerd starts, nodes join existing custom networks, and
//! bad input (a taken host port, a missing network) creates nothing.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};
use support::*;

const CLUSTER: &str = "55";
const MASTER: &str = "kube-master-cluster-55";
const WORKER: &str = "kube-node-1-cluster-55";
const NETWORK: &str = "i11-extra-net";
const NETWORK_SUBNET: &str = "10.211.55.0/24";

/// A port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A throwaway self-signed CA, as a user with a private CA would pass it.
fn make_ca(dir: &Path) -> std::path::PathBuf {
    self_signed_cert(dir, "i11 test CA").0
}

/// GET / from the host, retried while the node's listener comes up.
fn http_get(port: u16, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let attempt = (|| -> std::io::Result<String> {
            let mut stream = TcpStream::connect(("127.0.0.1", port))?;
            stream.set_read_timeout(Some(Duration::from_secs(5)))?;
            stream.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
            let mut reply = String::new();
            stream.read_to_string(&mut reply)?;
            Ok(reply)
        })();
        match attempt {
            Ok(reply) if reply.contains("i11-hello") => return reply,
            other if Instant::now() > deadline => {
                panic!("no answer from 127.0.0.1:{port} through the published port: {other:?}")
            }
            _ => std::thread::sleep(Duration::from_millis(300)),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn settings_reach_every_node_and_a_published_port_answers() {
    let Some(engine) = docker().await else { return };
    ensure_images();
    let mut own = RemoveOnDrop::default();
    own.networks.push(NETWORK.into());
    let _ = docker_cli(&["network", "rm", NETWORK]);
    let made = docker_cli(&["network", "create", "--subnet", NETWORK_SUBNET, NETWORK]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    // Dropped before `own`, so the network is free when it is removed.
    let _clean = CleanOnDrop::cluster(&["--cluster-id", CLUSTER]);

    let dir = tempfile::tempdir().expect("tempdir");
    let ca = make_ca(dir.path());
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    let args = [
        "up",
        "--nodes-only",
        "--cluster-id",
        CLUSTER,
        "--nodes",
        "1",
        "--image",
        BARE_IMAGE,
        "--publish",
        &publish,
        "--registry-mirror",
        "https://mirror.i11.test",
        "--insecure-registries",
        r#"["reg.i11.test:5000", "other.i11.test"]"#,
        "--ca-cert",
        ca.to_str().expect("utf-8"),
        "--http-proxy",
        "http://proxy.i11.test:3128",
        "--https-proxy",
        "http://proxy.i11.test:3129",
        "--no-proxy",
        "corp.i11.test",
        "--custom-networks",
        NETWORK,
    ];
    run_ok("docker-dind", &args, &[]);

    // The docker CLI's completion offers the running cluster's ID (the issue's "cluster
    // 10" is this test's 55, in issue 11's ID range).
    let config = docker_config_with_plugin();
    let complete = std::process::Command::new("docker")
        .args(["__complete", "dind", "nodes", "--cluster-id", ""])
        .env("DOCKER_CONFIG", config.path())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("docker runs");
    let (ids, directive) = completion_candidates(&complete.stdout);
    assert!(ids.iter().any(|id| id == CLUSTER), "{ids:?}");
    assert_eq!(directive, "4");

    let pem = std::fs::read_to_string(&ca).expect("ca");
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .join("\n");
    for node in [MASTER, WORKER] {
        // Registries: containerd's hosts directory, with the given hosts.
        let mirror = exec(
            &engine,
            node,
            &["cat", "/etc/containerd/certs.d/docker.io/hosts.toml"],
        )
        .await;
        assert!(
            mirror.contains("server = \"https://registry-1.docker.io\""),
            "{node}: {mirror}"
        );
        assert!(
            mirror.contains("[host.\"https://mirror.i11.test\"]"),
            "{node}: {mirror}"
        );
        for host in ["reg.i11.test:5000", "other.i11.test"] {
            let path = format!("/etc/containerd/certs.d/{host}/hosts.toml");
            let text = exec(&engine, node, &["cat", &path]).await;
            assert!(
                text.contains(&format!("[host.\"http://{host}\"]")),
                "{node} {path}: {text}"
            );
            assert!(text.contains("skip_verify = true"), "{node} {path}: {text}");
        }
        // containerd read its config with them and still answers.
        exec(&engine, node, &["ctr", "version"]).await;
        let config = exec(&engine, node, &["containerd", "config", "dump"]).await;
        assert!(
            config.contains("/etc/containerd/certs.d"),
            "{node}: config_path is set"
        );

        // The CA is in the trust store update-ca-certificates built.
        let bundle = exec(
            &engine,
            node,
            &["cat", "/etc/ssl/certs/ca-certificates.crt"],
        )
        .await;
        assert!(
            bundle.contains(&body),
            "{node}: the CA is not in the trust store"
        );
        exec(
            &engine,
            node,
            &["test", "-e", "/etc/ssl/certs/dind-extra-ca.pem"],
        )
        .await;

        // Proxies: the systemd environment of containerd and kubelet.
        for unit in ["containerd", "kubelet"] {
            let env = exec(
                &engine,
                node,
                &["systemctl", "show", "-p", "Environment", unit],
            )
            .await;
            for needle in [
                "HTTP_PROXY=http://proxy.i11.test:3128",
                "https_proxy=http://proxy.i11.test:3129",
                "NO_PROXY=corp.i11.test,localhost,127.0.0.1,::1,10.192.55.0/24,10.244.0.0/16,10.96.0.0/12,kube-master-cluster-55,kube-node-1-cluster-55",
            ] {
                assert!(env.contains(needle), "{node} {unit} lacks {needle}: {env}");
            }
        }
        let containerd_env = exec(
            &engine,
            node,
            &[
                "sh",
                "-c",
                "tr '\\0' '\\n' < /proc/$(pidof containerd)/environ",
            ],
        )
        .await;
        assert!(
            containerd_env.contains("HTTPS_PROXY=http://proxy.i11.test:3129"),
            "{node}: the running containerd has the proxy: {containerd_env}"
        );

        // The custom network gave the node an address in its subnet.
        let addresses = exec(&engine, node, &["ip", "-4", "-o", "addr"]).await;
        assert!(addresses.contains("inet 10.211.55."), "{node}: {addresses}");
        assert!(addresses.contains("inet 10.192.55."), "{node}: {addresses}");
    }

    // The published port: a listener on port 80 in the worker answers the host.
    let node = dind::node::Node::new(&engine, WORKER);
    let mut reply = dind::node::NodeFile::new(
        "/usr/local/bin/i11-reply",
        "#!/bin/sh\nprintf 'HTTP/1.0 200 OK\\r\\nContent-Length: 9\\r\\n\\r\\ni11-hello'\n",
    );
    reply.mode = 0o755;
    node.write_files(&[reply])
        .await
        .expect("write the reply script");
    exec(
        &engine,
        WORKER,
        &[
            "systemd-run",
            "--unit",
            "i11-http",
            "socat",
            "TCP-LISTEN:80,fork,reuseaddr",
            "EXEC:/usr/local/bin/i11-reply",
        ],
    )
    .await;
    let answer = http_get(port, Duration::from_secs(30));
    assert!(answer.starts_with("HTTP/1.0 200 OK"), "{answer}");

    // `nodes` shows the publication on the worker only.
    let rows: Vec<serde_json::Value> = serde_json::from_str(&run_ok(
        "docker-dind",
        &["nodes", "--cluster-id", CLUSTER, "-o", "json"],
        &[],
    ))
    .expect("json");
    let published = format!("127.0.0.1:{port}->80/tcp");
    for row in &rows {
        let ports = row["ports"].to_string();
        assert_eq!(ports.contains(&published), row["name"] == WORKER, "{row}");
    }
    let text = run_ok("docker-dind", &["nodes", "--cluster-id", CLUSTER], &[]);
    assert!(
        text.lines()
            .any(|l| l.starts_with("cluster-55  kube-node-1") && l.contains(&published)),
        "{text}"
    );
    addons_are_applied_through_the_masters_kubectl(&engine).await;
    // `_clean` drops before `own` (declared later), so the network is free by then.
}

/// The storage and addon step, through the product's own code, on the running master with
/// a stand-in kubectl (no Kubernetes here): it records each call and the manifest fed to
/// it. A real cluster runs the same `kubectl apply` calls.
async fn addons_are_applied_through_the_masters_kubectl(engine: &dind::engine::Engine) {
    let master = dind::node::Node::new(engine, MASTER);
    let mut kubectl = dind::node::NodeFile::new(
        "/usr/local/bin/kubectl",
        "#!/bin/sh\necho \"ARGS $*\" >> /var/log/i11-kubectl.log\n\
         if [ \"$5\" = - ]; then cat >> /var/log/i11-kubectl.log; fi\n",
    );
    kubectl.mode = 0o755;
    master
        .write_files(&[kubectl])
        .await
        .expect("stand-in kubectl");
    let dir = tempfile::tempdir().expect("tempdir");
    let own = dir.path().join("i11-addon.yaml");
    std::fs::write(
        &own,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: i11-addon\n",
    )
    .expect("write addon");
    let addons = format!(
        "dashboard,{},https://example.invalid/i11.yaml",
        own.display()
    );
    let settings = dind::Settings::from_env_pairs(&[
        ("CLUSTER_ID", CLUSTER),
        ("NUM_NODES", "1"),
        ("DIND_ADDONS", &addons),
    ])
    .expect("settings");
    let plan = dind::ClusterPlan::new(&settings).expect("plan");
    let host = engine.host_info().await.expect("docker info");
    let ledger = dind::cluster::ledger::Ledger::default();
    let options = dind::cluster::UpOptions {
        nodes_only: false,
        retain: false,
        wait: Duration::from_secs(1),
        node_timeout: Duration::from_secs(1),
        dedicated_master: true,
        kubeconfig: None,
        daemon: Default::default(),
        restoring: false,
    };
    let engines = dind::cluster::engines::Engines::single(engine);
    let run = dind::cluster::Run {
        engine,
        engines: &engines,
        settings: &settings,
        plan: &plan,
        options: &options,
        cgroup: host.cgroup_version,
        host: &host,
        ledger: &ledger,
        progress: &dind::progress::Progress::stderr(),
    };
    dind::cluster::addons::apply(&run, &master)
        .await
        .expect("storage and addons apply");
    let log = exec(engine, MASTER, &["cat", "/var/log/i11-kubectl.log"]).await;
    let applies: Vec<&str> = log.lines().filter(|l| l.starts_with("ARGS ")).collect();
    assert_eq!(
        applies,
        [
            "ARGS --kubeconfig /etc/kubernetes/admin.conf apply -f -",
            "ARGS --kubeconfig /etc/kubernetes/admin.conf apply -f -",
            "ARGS --kubeconfig /etc/kubernetes/admin.conf apply -f -",
            "ARGS --kubeconfig /etc/kubernetes/admin.conf apply -f https://example.invalid/i11.yaml",
        ],
        "{log}"
    );
    // In order: the default StorageClass, the dashboard, the user's file.
    let storage = log
        .find("storageclass.kubernetes.io/is-default-class")
        .expect(&log);
    let dashboard = log.find("kubernetesui/dashboard:v2.7.0").expect(&log);
    let user = log.find("name: i11-addon").expect(&log);
    assert!(storage < dashboard && dashboard < user, "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_taken_host_port_or_a_missing_network_creates_nothing() {
    let Some(_engine) = docker().await else {
        return;
    };
    ensure_images();
    let _clean = CleanOnDrop::cluster(&["--cluster-id", "56"]);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let publish = format!("127.0.0.1:{port}:80");
    let args = [
        "up",
        "--nodes-only",
        "--cluster-id",
        "56",
        "--nodes",
        "1",
        "--image",
        BARE_IMAGE,
        "--publish",
        &publish,
    ];
    let kept = failing_up_rolls_back(
        "docker-dind",
        &args,
        "cluster-56",
        &["already in use", &format!("127.0.0.1:{port}:80/tcp")],
    );
    assert!(
        kept.is_empty(),
        "the check runs before anything is created: {kept:?}"
    );
    drop(listener);

    let missing = run(
        "docker-dind",
        &[
            "up",
            "--nodes-only",
            "--cluster-id",
            "56",
            "--image",
            BARE_IMAGE,
            "--custom-networks",
            "i11-no-such-net",
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(missing.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("do not exist: i11-no-such-net"), "{stderr}");
    assert!(labelled_objects("cluster-56").is_empty());
}
