//! IPv6-only clusters reaching IPv4-only hosts through their DNS64 server and NAT64
//! gateway, all real containers, offline.
//!
//! Nothing outside this machine answers, so the test brings its own "IPv4 internet": an
//! IPv4-only Docker network holding an authoritative DNS server for a test zone and a
//! TCP peer that echoes the address a connection came from. In production the NAT64
//! gateway reaches IPv4 hosts through its default route; here it is attached to that
//! network instead, since Docker isolates bridge networks from each other.

mod support;

use dind::engine::Engine;
use dind::image::{ensure_image, Recipe};
use dind::node::{Node, NodeFile};
use dind::progress::Progress;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};
use support::*;

const V4_NETWORK: &str = "dind-test-v4only";
const V4_SUBNET: &str = "10.250.77.0/24";
const AUTH_DNS: &str = "10.250.77.53";
const PEER: &str = "10.250.77.10";
const ZONE: &str = "dind.test";
const REAL_AAAA: &str = "fd00:99::10";

/// Retries `check` until it returns `Some` or `limit` passes: DNS and gateways need a
/// moment after their containers start, and nothing announces that they are serving.
async fn eventually<T, F, Fut>(limit: Duration, mut check: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < limit {
        match check().await {
            Ok(value) => return Ok(value),
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(last)
}

async fn start_ipv4_world(engine: &Engine, cleanup: &mut RemoveOnDrop) {
    cleanup.networks.push(V4_NETWORK.into());
    cleanup.containers.extend([
        "dind-test-authdns".to_string(),
        "dind-test-peer".to_string(),
    ]);
    let created = docker_cli(&["network", "create", "--subnet", V4_SUBNET, V4_NETWORK]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );

    let support_image = Recipe::support();
    ensure_image(engine, &support_image, &Progress::quiet())
        .await
        .expect("support image");
    let named = docker_cli(&[
        "create",
        "--name",
        "dind-test-authdns",
        "--network",
        V4_NETWORK,
        "--ip",
        AUTH_DNS,
        "--entrypoint",
        "named",
        &support_image.tag,
        "-g",
        "-u",
        "bind",
        "-c",
        "/etc/bind/dind-test.conf",
    ]);
    assert!(
        named.status.success(),
        "{}",
        String::from_utf8_lossy(&named.stderr)
    );
    let (conf, zone) = auth_dns_files(
        ZONE,
        AUTH_DNS,
        &format!("v4only IN A {PEER}\ndual IN A {PEER}\ndual IN AAAA {REAL_AAAA}\n"),
    );
    Node::new(engine, "dind-test-authdns")
        .write_files(&[
            NodeFile::new("/etc/bind/dind-test.conf", conf),
            NodeFile::new("/etc/bind/db.dind-test", zone),
        ])
        .await
        .expect("zone files");
    engine
        .start_container("dind-test-authdns")
        .await
        .expect("start the authoritative server");

    let peer = docker_cli(&[
        "run",
        "-d",
        "--name",
        "dind-test-peer",
        "--network",
        V4_NETWORK,
        "--ip",
        PEER,
        "--entrypoint",
        "socat",
        BARE_IMAGE,
        "TCP-LISTEN:8080,fork,reuseaddr",
        "SYSTEM:echo peer-saw-$SOCAT_PEERADDR",
    ]);
    assert!(
        peer.status.success(),
        "{}",
        String::from_utf8_lossy(&peer.stderr)
    );
}

/// The addresses a node resolves a name to, IPv6 only.
async fn resolve(engine: &Engine, node: &str, name: &str) -> Result<Vec<String>, String> {
    let out = Node::new(engine, node)
        .exec(&["getent", "ahostsv6", name])
        .await
        .map_err(|e| format!("{e:#}"))?;
    if out.exit_code != 0 {
        return Err(format!(
            "getent ahostsv6 {name} in {node} exited {}",
            out.exit_code
        ));
    }
    let mut addresses: Vec<String> = out
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    addresses.dedup();
    Ok(addresses)
}

/// Connects from a node to the peer by name over IPv6; returns what the peer saw.
async fn reach_peer(engine: &Engine, node: &str) -> Result<String, String> {
    let target = format!("TCP6:v4only.{ZONE}:8080");
    let out = Node::new(engine, node)
        .exec(&["socat", "-T3", "-", &target])
        .await
        .map_err(|e| format!("{e:#}"))?;
    let seen = out.stdout.trim().to_string();
    if out.exit_code == 0 && seen.starts_with("peer-saw-") {
        Ok(seen)
    } else {
        Err(format!(
            "socat to the peer from {node} exited {}: {}{}",
            out.exit_code, out.stdout, out.stderr
        ))
    }
}

/// The IPv4 address the NAT64 gateway has on the test's IPv4 network.
fn gateway_address_on_v4_network(tayga: &str) -> String {
    let format = format!("{{{{(index .NetworkSettings.Networks \"{V4_NETWORK}\").IPAddress}}}}");
    let out = docker_cli(&["inspect", "-f", &format, tayga]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn support_states(cluster_id: &str) -> Vec<(String, String)> {
    let json = run_ok(
        "docker-dind",
        &["support", "--cluster-id", cluster_id, "-o", "json"],
        &[],
    );
    let rows: Vec<serde_json::Value> = serde_json::from_str(&json).expect("json");
    rows.iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap_or_default().to_string(),
                r["state"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Whether `up --ip-mode ipv6` on this engine gives nodes no IPv4 (API 1.48, Docker 28).
async fn engine_drops_node_ipv4(engine: &Engine) -> bool {
    let host = engine.host_info().await.expect("host info");
    dind::cluster::preflight::parse_api_version(&host.api_version)
        .is_some_and(|v| v >= dind::cluster::node_ipv4::MIN_API_WITHOUT_IPV4)
}

/// A node has only loopback IPv4 (nodes without IPv4), or an address beside it.
async fn check_node_ipv4(engine: &Engine, node: &str, no_ipv4: bool) {
    let out = exec(engine, node, &["ip", "-4", "-o", "addr", "show"]).await;
    let interfaces: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    if no_ipv4 {
        assert_eq!(interfaces, ["lo"], "{node} has only loopback IPv4:\n{out}");
    } else {
        assert!(
            interfaces.iter().any(|i| *i != "lo"),
            "{node} keeps IPv4:\n{out}"
        );
    }
}

/// A listener on the API server port in the master (kubeadm's stand-in, as in
/// tests/remote_endpoints.rs) answers on the cluster's published API port from the
/// engine's host: through the API proxy when the nodes have no IPv4.
async fn published_api_port_answers(engine: &Engine, cluster_id: &str) {
    let master = format!("kube-master-cluster-{cluster_id}");
    exec(
        engine,
        &master,
        &[
            "bash",
            "-c",
            "setsid socat TCP6-LISTEN:6443,ipv6only=0,fork,reuseaddr SYSTEM:'echo dind-api' \
             </dev/null >/dev/null 2>&1 &",
        ],
    )
    .await;
    let port = run_ok(
        "docker-dind",
        &["apiserver-port", "--cluster-id", cluster_id],
        &[],
    );
    let port = port.trim();
    // The host address it is published on: the master's or its proxy's binding.
    let mut host = String::new();
    for publisher in [
        master.clone(),
        format!("dind-api-proxy-cluster-{cluster_id}"),
    ] {
        let out = docker_cli(&["port", &publisher, "6443/tcp"]);
        if let Some(line) = String::from_utf8_lossy(&out.stdout).lines().next() {
            let (address, _) = line.rsplit_once(':').expect("ADDR:PORT");
            host = address.trim_matches(|c| c == '[' || c == ']').to_string();
            break;
        }
    }
    assert!(
        !host.is_empty(),
        "nothing publishes the API port of cluster {cluster_id}"
    );
    let answer = answer_from_engine_host(&host, port, "dind-api");
    assert_eq!(
        answer, "dind-api",
        "{host}:{port} does not reach the master"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ipv6_clusters_reach_ipv4_hosts_through_dns64_and_nat64() {
    let Some(engine) = docker().await else { return };
    ensure_images();
    let mut cleanup = RemoveOnDrop::default();
    let _clean5 = CleanOnDrop::cluster(&["--cluster-id", "5"]);
    let _clean6 = CleanOnDrop::cluster(&["--cluster-id", "6"]);
    start_ipv4_world(&engine, &mut cleanup).await;

    // Cluster 5 synthesizes every answer; cluster 6 lets real AAAA records win.
    let up = |id: &'static str, allow_aaaa: bool| {
        std::thread::spawn(move || {
            let mut env = vec![("REMOTE_DNS64_V4SERVER", AUTH_DNS)];
            if allow_aaaa {
                env.push(("DIND_ALLOW_AAAA_USE", "true"));
            }
            run(
                "docker-dind",
                &[
                    "up",
                    "--nodes-only",
                    "--nodes",
                    "1",
                    "--ip-mode",
                    "ipv6",
                    "--cluster-id",
                    id,
                    "--image",
                    BARE_IMAGE,
                ],
                &env,
            )
        })
    };
    let (five, six) = (up("5", false), up("6", true));
    let no_ipv4 = engine_drops_node_ipv4(&engine).await;
    for (id, handle) in [("5", five), ("6", six)] {
        let out = handle.join().expect("thread");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "up of cluster {id}:\n{stderr}");
        let notes = stderr
            .lines()
            .filter(|l| l.contains("cannot create networks without IPv4"))
            .count();
        assert_eq!(
            notes,
            usize::from(!no_ipv4),
            "one note on older engines:\n{stderr}"
        );
    }
    for node in [
        "kube-master-cluster-5",
        "kube-node-1-cluster-5",
        "kube-master-cluster-6",
        "kube-node-1-cluster-6",
    ] {
        check_node_ipv4(&engine, node, no_ipv4).await;
    }
    published_api_port_answers(&engine, "5").await;
    for tayga in ["tayga-cluster-5", "tayga-cluster-6"] {
        engine
            .connect_network(V4_NETWORK, tayga)
            .await
            .expect("attach the gateway to the IPv4 world");
    }

    let synthesized = dind::plan::embed_v4(
        "fd00:10:64:ff9b::/96".parse().expect("prefix"),
        PEER.parse::<Ipv4Addr>().expect("ip"),
    )
    .to_string();
    let limit = Duration::from_secs(30);
    for (node, dual_expected) in [
        ("kube-master-cluster-5", synthesized.clone()),
        ("kube-master-cluster-6", REAL_AAAA.to_string()),
    ] {
        let (v4only_name, dual_name) = (format!("v4only.{ZONE}"), format!("dual.{ZONE}"));
        let v4only = eventually(limit, || resolve(&engine, node, &v4only_name))
            .await
            .expect("v4only resolves");
        assert_eq!(
            v4only,
            vec![synthesized.clone()],
            "{node}: A-only name gets prefix + IPv4"
        );
        let dual = eventually(limit, || resolve(&engine, node, &dual_name))
            .await
            .expect("dual resolves");
        assert_eq!(dual, vec![dual_expected], "{node}: dual-stack name");
        let resolv = exec(&engine, node, &["cat", "/etc/resolv.conf"]).await;
        let nameservers: Vec<&str> = resolv
            .lines()
            .filter(|l| l.starts_with("nameserver"))
            .collect();
        assert_eq!(
            nameservers.len(),
            1,
            "the DNS64 server is the only resolver: {resolv}"
        );
    }

    for (node, tayga) in [
        ("kube-master-cluster-5", "tayga-cluster-5"),
        ("kube-node-1-cluster-6", "tayga-cluster-6"),
    ] {
        let seen = eventually(limit, || reach_peer(&engine, node))
            .await
            .expect("the peer is reachable");
        assert_eq!(
            seen,
            format!("peer-saw-{}", gateway_address_on_v4_network(tayga)),
            "{node} reaches the peer through {tayga}, masqueraded"
        );
    }

    // Distinct support containers and pools.
    let tayga5 = exec(&engine, "tayga-cluster-5", &["cat", "/etc/tayga/dind.conf"]).await;
    let tayga6 = exec(&engine, "tayga-cluster-6", &["cat", "/etc/tayga/dind.conf"]).await;
    assert!(tayga5.contains("dynamic-pool 172.18.5.128/25"), "{tayga5}");
    assert!(tayga6.contains("dynamic-pool 172.18.6.128/25"), "{tayga6}");

    // The gateway survives a restart, and so does a node's configuration.
    docker_cli(&["restart", "tayga-cluster-5"]);
    eventually(limit, || reach_peer(&engine, "kube-master-cluster-5"))
        .await
        .expect("reachable after restarting tayga");
    docker_cli(&["restart", "kube-node-1-cluster-5"]);
    dind::cluster::nodes::wait_node_ready(
        &Node::new(&engine, "kube-node-1-cluster-5"),
        Duration::from_secs(60),
    )
    .await
    .expect("node boots again");
    eventually(limit, || reach_peer(&engine, "kube-node-1-cluster-5"))
        .await
        .expect("reachable after restarting the node");

    // down keeps the support containers; clean removes them.
    run_ok("docker-dind", &["down", "--cluster-id", "5"], &[]);
    let mut states = support_states("5");
    states.sort();
    assert_eq!(
        states,
        vec![
            ("bind9-cluster-5".into(), "running".into()),
            ("tayga-cluster-5".into(), "running".into())
        ]
    );
    // A second up reuses them.
    let ids = |names: &[&str]| -> Vec<String> {
        names
            .iter()
            .map(|n| {
                String::from_utf8_lossy(&docker_cli(&["inspect", "-f", "{{.Id}}", n]).stdout)
                    .trim()
                    .to_string()
            })
            .collect()
    };
    let before = ids(&["bind9-cluster-5", "tayga-cluster-5"]);
    let again = run(
        "docker-dind",
        &[
            "up",
            "--nodes-only",
            "--nodes",
            "1",
            "--ip-mode",
            "ipv6",
            "--cluster-id",
            "5",
            "--image",
            BARE_IMAGE,
        ],
        &[("REMOTE_DNS64_V4SERVER", AUTH_DNS)],
    );
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(
        ids(&["bind9-cluster-5", "tayga-cluster-5"]),
        before,
        "support containers are reused"
    );
    eventually(limit, || reach_peer(&engine, "kube-master-cluster-5"))
        .await
        .expect("reachable after down and up");
    run_ok("docker-dind", &["clean", "--cluster-id", "5"], &[]);
    assert!(support_states("5").is_empty());
    assert!(labelled_objects("cluster-5").is_empty());
    assert_eq!(
        support_states("6").len(),
        2 + usize::from(no_ipv4),
        "cluster 6 is untouched (with its API proxy when its nodes have no IPv4)"
    );
}
