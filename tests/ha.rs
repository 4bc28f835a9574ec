//! A cluster with several masters behind its load balancer, on a real Docker engine:
//! Debian's HAProxy in the `dind-lb` image in front of three nodes-only masters, each
//! running a small TLS listener on 6443 that answers with its own name (the health
//! check is kind's `GET /healthz` over TLS, so the listener speaks HTTPS). Cluster IDs
//! 221–229 (issue 21's range).

mod support;

use dind::engine::Engine;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

/// Starts, in the background, a TLS listener on 6443 of `node` that answers any request
/// with the node's name. It reads the request before answering: a reply sent before
/// the request was read makes the kernel reset the connection on close. Its files live
/// on the node's own disk: the node's `/tmp` is a tmpfs mounted `noexec` (Docker's
/// default for `--tmpfs`, as kind's nodes), where the answer script could not run.
async fn start_listener(engine: &Engine, node: &str) {
    let script = r#"set -e
mkdir -p /opt/dind-listener && cd /opt/dind-listener
if [ ! -f pem ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout key -out cert -days 1 -subj /CN=dind-test >/dev/null 2>&1
  cat key cert > pem
fi
cat > answer <<'EOS'
#!/bin/sh
while read -r line; do [ "${line%$(printf '\r')}" = "" ] && break; done
printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n%s' "$(hostname)"
EOS
chmod +x answer
setsid socat OPENSSL-LISTEN:6443,reuseaddr,fork,cert=/opt/dind-listener/pem,verify=0 \
  EXEC:/opt/dind-listener/answer </dev/null >/dev/null 2>&1 &
"#;
    exec(engine, node, &["sh", "-c", script]).await;
}

/// One HTTPS request to the host's published port, through the host's openssl; the
/// body (the answering master's name), or `None` when the request failed.
fn ask(port: u16) -> Option<String> {
    let mut child = Command::new("timeout")
        .args(["5", "openssl", "s_client", "-quiet", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("timeout and openssl run (scripts/test installs openssl)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"GET / HTTP/1.0\r\n\r\n")
        .expect("write the request");
    let out = child.wait_with_output().expect("openssl ends");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    (head.starts_with("HTTP/1.0 200") && !body.is_empty()).then(|| body.to_string())
}

/// Asks until every name in `wanted` answered, for at most `limit`.
fn reach_all(port: u16, wanted: &[&str], limit: Duration) -> Vec<String> {
    let start = Instant::now();
    let mut seen: Vec<String> = Vec::new();
    while start.elapsed() < limit && !wanted.iter().all(|w| seen.iter().any(|s| s == w)) {
        if let Some(name) = ask(port) {
            if !seen.contains(&name) {
                seen.push(name);
            }
        }
    }
    seen
}

fn published_port(name: &str) -> u16 {
    let out = docker_cli(&["port", name, "6443/tcp"]);
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .next()
        .and_then(|l| l.rsplit(':').next())
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} publishes 6443: {text:?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn three_masters_behind_a_balancer_that_follows_them() {
    let Some(engine) = docker().await else { return };
    ensure_images();
    let _clean = CleanOnDrop::cluster(&["--cluster-id", "221"]);
    run_ok("docker-dind", &["clean", "--cluster-id", "221"], &[]);
    let up = [
        "up",
        "--nodes-only",
        "--cluster-id",
        "221",
        "--masters",
        "3",
        "--nodes",
        "1",
        "--image",
        BARE_IMAGE,
    ];
    run_ok("docker-dind", &up, &[]);

    // Every container at the plan's address.
    let plan: serde_json::Value = serde_json::from_str(&run_ok(
        "docker-dind",
        &[&up[..], &["--dry-run", "-o", "json"]].concat(),
        &[],
    ))
    .expect("the plan is JSON");
    let mut expected: Vec<(String, String)> = plan["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| {
            (
                n["name"].as_str().unwrap().to_string(),
                n["ipv4"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let lb = &plan["load_balancer"];
    expected.push((
        lb["name"].as_str().unwrap().to_string(),
        lb["ipv4"].as_str().unwrap().to_string(),
    ));
    assert_eq!(
        expected,
        [
            ("kube-master-cluster-221", "10.192.221.2"),
            ("kube-master-2-cluster-221", "10.192.221.253"),
            ("kube-master-3-cluster-221", "10.192.221.252"),
            ("kube-node-1-cluster-221", "10.192.221.3"),
            ("kube-master-lb-cluster-221", "10.192.221.254"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    for (name, address) in &expected {
        let out = docker_cli(&[
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}} {{.State.Running}}",
            name,
        ]);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            format!("{address} true"),
            "{name}"
        );
    }

    // Requests to the published port reach every master.
    let masters = [
        "kube-master-cluster-221",
        "kube-master-2-cluster-221",
        "kube-master-3-cluster-221",
    ];
    for master in masters {
        start_listener(&engine, master).await;
    }
    let port = published_port("kube-master-lb-cluster-221");
    let seen = reach_all(port, &masters, Duration::from_secs(30));
    assert_eq!(seen.len(), 3, "requests reached {seen:?}");

    // A stopped master drops out: 20 requests in a row succeed within 10 s of the stop.
    let stopped = masters[1];
    let out = docker_cli(&["stop", "-t", "0", stopped]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stop = Instant::now();
    let answers: Vec<Option<String>> = (0..20).map(|_| ask(port)).collect();
    let took = stop.elapsed();
    assert!(
        answers
            .iter()
            .all(|a| a.as_deref().is_some_and(|n| n != stopped)),
        "{answers:?}"
    );
    assert!(
        took < Duration::from_secs(10),
        "20 requests took {took:?} after the stop"
    );

    // Started again (with its listener), it is used again.
    let out = docker_cli(&["start", stopped]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    start_listener(&engine, stopped).await;
    assert!(
        reach_all(port, &[stopped], Duration::from_secs(30))
            .iter()
            .any(|n| n == stopped),
        "{stopped} is used again"
    );

    // join --control-plane adds kube-master-4, and the balancer reaches it.
    let joined: serde_json::Value = serde_json::from_str(&run_ok(
        "docker-dind",
        &[
            "join",
            "--control-plane",
            "--nodes-only",
            "--cluster-id",
            "221",
            "-o",
            "json",
        ],
        &[],
    ))
    .expect("join -o json");
    assert_eq!(joined["node"], "kube-master-4-cluster-221");
    assert_eq!(joined["ipv4"], "10.192.221.251");
    start_listener(&engine, "kube-master-4-cluster-221").await;
    assert!(
        reach_all(
            port,
            &["kube-master-4-cluster-221"],
            Duration::from_secs(30)
        )
        .iter()
        .any(|n| n == "kube-master-4-cluster-221"),
        "the balancer reaches the new master"
    );
    assert_eq!(
        published_port("kube-master-lb-cluster-221"),
        port,
        "the reload kept the port"
    );
    assert_eq!(
        run_ok(
            "docker-dind",
            &["apiserver-port", "--cluster-id", "221"],
            &[]
        )
        .trim(),
        port.to_string(),
        "apiserver-port names the balancer's port"
    );

    // A worker joins at worker number 2, not in kube-master-2's place.
    let worker: serde_json::Value = serde_json::from_str(&run_ok(
        "docker-dind",
        &["join", "--nodes-only", "--cluster-id", "221", "-o", "json"],
        &[],
    ))
    .expect("join -o json");
    assert_eq!(worker["node"], "kube-node-2-cluster-221");
    assert_eq!(worker["ipv4"], "10.192.221.4");

    // remove-node of a secondary master takes it out of the balancer; the first master
    // is refused with exit 2.
    let refused = run(
        "docker-dind",
        &[
            "remove-node",
            "kube-master-cluster-221",
            "--cluster-id",
            "221",
        ],
        &[],
    );
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    run_ok(
        "docker-dind",
        &[
            "remove-node",
            "kube-master-2-cluster-221",
            "--cluster-id",
            "221",
        ],
        &[],
    );
    let config = exec(
        &engine,
        "kube-master-lb-cluster-221",
        &["cat", "/etc/haproxy/dind.cfg"],
    )
    .await;
    assert!(
        !config.contains("kube-master-2-cluster-221")
            && config.contains("kube-master-4-cluster-221"),
        "{config}"
    );
    let answers: Vec<Option<String>> = (0..12).map(|_| ask(port)).collect();
    assert!(
        answers.iter().all(|a| a
            .as_deref()
            .is_some_and(|n| n != "kube-master-2-cluster-221")),
        "every request answered, none by the removed master: {answers:?}"
    );

    run_ok("docker-dind", &["clean", "--cluster-id", "221"], &[]);
    assert!(
        labelled_objects("cluster-221").is_empty(),
        "{:?}",
        labelled_objects("cluster-221")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn mounted_host_folders_are_in_every_node_and_ro_is_read_only() {
    let Some(engine) = docker().await else { return };
    ensure_images();
    let _clean = CleanOnDrop::cluster(&["--cluster-id", "223"]);
    run_ok("docker-dind", &["clean", "--cluster-id", "223"], &[]);
    let shared = tempfile::tempdir().expect("tempdir");
    let read_only = tempfile::tempdir().expect("tempdir");
    std::fs::write(shared.path().join("hello.txt"), "from the host\n").expect("write");
    std::fs::write(read_only.path().join("kept.txt"), "kept\n").expect("write");
    let rw = format!("{}:/mnt/dind-shared", shared.path().display());
    let ro = format!("{}:/mnt/dind-ro:ro", read_only.path().display());
    // A missing host path is refused before anything is created.
    let out = run(
        "docker-dind",
        &[
            "up",
            "--nodes-only",
            "--cluster-id",
            "223",
            "--image",
            BARE_IMAGE,
            "--mount",
            "/nonexistent-dind-223:/x",
        ],
        &[],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(labelled_objects("cluster-223").is_empty());

    // The same cluster takes kind's containerdConfigPatches from the config file; a
    // patch that is not TOML is refused before anything is created.
    let config = shared.path().join("dind.yaml");
    let config = config.to_str().expect("utf-8");
    std::fs::write(
        config,
        "containerd-config-patches:\n- |\n  [plugins.\"io.containerd.cri.v1.images\"]\n  max_concurrent_downloads = 7\n- \"[plugins\\nbroken\"\n",
    )
    .expect("write");
    let out = run(
        "docker-dind",
        &[
            "up",
            "--nodes-only",
            "--cluster-id",
            "223",
            "--image",
            BARE_IMAGE,
        ],
        &[("DIND_CONFIG", config)],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("containerd-config-patches[1]"), "{stderr}");
    assert!(labelled_objects("cluster-223").is_empty());
    std::fs::write(
        config,
        "containerd-config-patches:\n- |\n  [plugins.\"io.containerd.cri.v1.images\"]\n  max_concurrent_downloads = 7\n",
    )
    .expect("write");
    run_ok(
        "docker-dind",
        &[
            "up",
            "--nodes-only",
            "--cluster-id",
            "223",
            "--nodes",
            "2",
            "--image",
            BARE_IMAGE,
            "--mount",
            &rw,
            "--mount",
            &ro,
        ],
        &[("DIND_CONFIG", config)],
    );
    for node in [
        "kube-master-cluster-223",
        "kube-node-1-cluster-223",
        "kube-node-2-cluster-223",
    ] {
        assert_eq!(
            exec(&engine, node, &["cat", "/mnt/dind-shared/hello.txt"]).await,
            "from the host\n",
            "{node}"
        );
        assert_eq!(
            exec(&engine, node, &["cat", "/mnt/dind-ro/kept.txt"]).await,
            "kept\n",
            "{node}"
        );
        let write = dind::node::Node::new(&engine, node)
            .exec(&["touch", "/mnt/dind-ro/new"])
            .await
            .expect("exec");
        assert_ne!(write.exit_code, 0, "{node}: the :ro mount is read-only");
        assert!(
            write.stderr.contains("Read-only file system"),
            "{node}: {}",
            write.stderr
        );
    }
    assert!(!read_only.path().join("new").exists());
    // Every node's containerd read the patched file: it booted (the boot wait asks
    // containerd with `ctr version`) with the patched key next to the image's own.
    for node in ["kube-master-cluster-223", "kube-node-2-cluster-223"] {
        let containerd = exec(&engine, node, &["cat", "/etc/containerd/config.toml"]).await;
        assert!(
            containerd.contains("max_concurrent_downloads = 7")
                && containerd.contains("SystemdCgroup = true")
                && containerd.contains("sandbox = \"registry.k8s.io/pause"),
            "{node}: {containerd}"
        );
        let active = exec(&engine, node, &["systemctl", "is-active", "containerd"]).await;
        assert_eq!(active.trim(), "active", "{node}");
    }
    run_ok("docker-dind", &["clean", "--cluster-id", "223"], &[]);
    assert!(
        labelled_objects("cluster-223").is_empty(),
        "{:?}",
        labelled_objects("cluster-223")
    );
}

/// `down` and `up` of a cluster with three masters: every master and the worker come back
/// from their snapshots at their addresses with their files, the balancer keeps its
/// address and published port and reaches every master again; `clean` leaves nothing.
#[tokio::test(flavor = "multi_thread")]
async fn three_masters_come_back_from_down_behind_their_balancer() {
    let Some(engine) = docker().await else { return };
    ensure_images();
    let select = ["--cluster-id", "225"];
    let _clean = CleanOnDrop::cluster(&select);
    run_ok("docker-dind", &[&["clean"][..], &select].concat(), &[]);
    let up = [
        &[
            "up",
            "--nodes-only",
            "--masters",
            "3",
            "--nodes",
            "1",
            "--image",
            BARE_IMAGE,
        ][..],
        &select,
    ]
    .concat();
    run_ok("docker-dind", &up, &[]);
    let nodes = [
        "kube-master-cluster-225",
        "kube-master-2-cluster-225",
        "kube-master-3-cluster-225",
        "kube-node-1-cluster-225",
    ];
    let lb = "kube-master-lb-cluster-225";
    let address_of = |name: &str| {
        let out = docker_cli(&[
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            name,
        ]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let before: Vec<String> = nodes.iter().map(|n| address_of(n)).collect();
    let port = published_port(lb);
    for node in nodes {
        exec(
            &engine,
            node,
            &["sh", "-c", &format!("echo {node} > /etc/dind-marker")],
        )
        .await;
    }

    run_ok("docker-dind", &[&["down"][..], &select].concat(), &[]);
    for node in nodes {
        let out = docker_cli(&["inspect", node]);
        assert!(!out.status.success(), "{node} is gone after down");
    }
    run_ok("docker-dind", &up, &[]);

    let after: Vec<String> = nodes.iter().map(|n| address_of(n)).collect();
    assert_eq!(after, before, "every node at its address again");
    for node in nodes {
        let marker = exec(&engine, node, &["cat", "/etc/dind-marker"]).await;
        assert_eq!(marker.trim(), node, "{node} came back from its snapshot");
    }
    assert_eq!(published_port(lb), port, "the balancer keeps its port");
    let masters = &nodes[..3];
    for master in masters {
        start_listener(&engine, master).await;
    }
    let seen = reach_all(port, masters, Duration::from_secs(30));
    assert_eq!(seen.len(), 3, "requests reached {seen:?}");

    run_ok("docker-dind", &[&["clean"][..], &select].concat(), &[]);
    assert_eq!(labelled_objects("cluster-225"), Vec::<String>::new());
}
