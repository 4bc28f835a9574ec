//! Issue 8: what a real host needs of a node, shown on real node containers (cluster IDs
//! 20–29): DNS that pods can use, br_netfilter, a machine-id per node, pod routes and
//! masquerade that survive a restart, supported versions, preloaded images, and a first
//! run that fails fast and clearly when downloads cannot work.

mod support;

use dind::cni;
use dind::node::Node;
use dind::plan::ClusterPlan;
use dind::settings::{Cni, Settings};
use std::time::Duration;
use support::*;

fn plan(pairs: &[(&str, &str)]) -> ClusterPlan {
    ClusterPlan::new(&Settings::from_env_pairs(pairs).expect("settings")).expect("plan")
}

/// A one-binary image made here, because no registry can be reached; removed on drop.
fn busybox_image(tag: &str, cleanup: &mut RemoveOnDrop) {
    let busybox = std::path::Path::new("/bin/busybox");
    assert!(
        busybox.is_file(),
        "this test needs a static busybox at /bin/busybox (Debian: busybox-static)"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(busybox, dir.path().join("busybox")).expect("copy busybox");
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\n",
    )
    .expect("write Dockerfile");
    cleanup.images.push(tag.into());
    let built = docker_cli(&[
        "build",
        "-q",
        "-t",
        tag,
        dir.path().to_str().expect("utf-8"),
    ]);
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
}

async fn resolv_conf(engine: &dind::engine::Engine, node: &str) -> String {
    let text = exec(engine, node, &["cat", "/etc/resolv.conf"]).await;
    let loopback: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("nameserver 127.") || l.starts_with("nameserver ::1"))
        .collect();
    assert!(
        loopback.is_empty(),
        "{node} resolves through loopback:\n{text}"
    );
    text
}

/// Checks what a node must show after every boot: DNS off loopback, br_netfilter on,
/// the routes to the other nodes' pod subnets, and the masquerade that spares the
/// cluster's pod range.
async fn assert_node_boot_fixes(engine: &dind::engine::Engine, plan: &ClusterPlan, index: usize) {
    let node_plan = &plan.nodes[index];
    let name = node_plan.name.as_str();
    resolv_conf(engine, name).await;
    let nf = exec(
        engine,
        name,
        &["cat", "/proc/sys/net/bridge/bridge-nf-call-iptables"],
    )
    .await;
    assert_eq!(nf.trim(), "1", "{name}: bridge-nf-call-iptables");
    let routes = exec(engine, name, &["ip", "-4", "route"]).await;
    let expected = cni::static_routes(Cni::Bridge, plan, node_plan);
    assert!(!expected.is_empty());
    for route in expected {
        let line = format!("{} via {} ", route.destination, route.via);
        assert!(routes.contains(&line), "{name} lacks {line}:\n{routes}");
    }
    let masq = exec(engine, name, &["iptables", "-t", "nat", "-S", "DIND-MASQ"]).await;
    let range = plan.pod_cidrs[0];
    for rule in [
        format!("-A DIND-MASQ -d {range} -j RETURN"),
        "-A DIND-MASQ -j MASQUERADE".to_string(),
    ] {
        assert!(masq.contains(&rule), "{name} lacks {rule}:\n{masq}");
    }
    let postrouting = exec(
        engine,
        name,
        &["iptables", "-t", "nat", "-S", "POSTROUTING"],
    )
    .await;
    let jump = format!(
        "-A POSTROUTING -s {} -j DIND-MASQ",
        node_plan.pod_subnets[0]
    );
    assert_eq!(
        postrouting.matches(&jump).count(),
        1,
        "{name}:\n{postrouting}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn nodes_get_pod_dns_br_netfilter_machine_ids_and_routes_that_survive_a_restart() {
    let Some(engine) = docker().await else { return };
    ensure_images();
    let _clean = CleanOnDrop::cluster(&["--cluster-id", "20"]);
    let mut cleanup = RemoveOnDrop::default();
    run_ok(
        "docker-dind",
        &[
            "up",
            "--nodes-only",
            "--nodes",
            "1",
            "--cluster-id",
            "20",
            "--image",
            BARE_IMAGE,
        ],
        &[],
    );
    let plan = plan(&[("CLUSTER_ID", "20"), ("NUM_NODES", "1")]);
    let (master, worker) = (plan.nodes[0].name.as_str(), plan.nodes[1].name.as_str());
    for index in 0..2 {
        assert_node_boot_fixes(&engine, &plan, index).await;
    }
    let master_id = exec(&engine, master, &["cat", "/etc/machine-id"]).await;
    let worker_id = exec(&engine, worker, &["cat", "/etc/machine-id"]).await;
    assert_eq!(master_id.trim().len(), 32, "{master_id:?}");
    assert_ne!(master_id, worker_id, "two nodes share a machine-id");

    // DNS as a pod sees it: a container started by containerd on the node's CNI network
    // (the bridge config list `up` wrote), with the node's resolv.conf, resolves another
    // node's container name to that node's plan address.
    let image = "i8-busybox:1";
    busybox_image(image, &mut cleanup);
    let archive = engine.export_image(image).await.expect("docker save");
    let node = Node::new(&engine, master);
    node.exec_with_input(&["ctr", "-n", "k8s.io", "images", "import", "-"], archive)
        .await
        .expect("ctr images import");
    let answer = exec(
        &engine,
        master,
        &[
            "ctr",
            "-n",
            "k8s.io",
            "run",
            "--rm",
            "--cni",
            "--mount",
            "type=bind,src=/etc/resolv.conf,dst=/etc/resolv.conf,options=rbind:ro",
            "docker.io/library/i8-busybox:1",
            "i8-dns",
            "/bin/busybox",
            "sh",
            "-c",
            &format!("ip -4 addr show eth0; nslookup {worker}"),
        ],
    )
    .await;
    let pod_subnet = plan.nodes[0].pod_subnets[0];
    let pod_ip = answer
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .and_then(|cidr| cidr.split('/').next())
        .and_then(|ip| ip.parse::<std::net::IpAddr>().ok())
        .unwrap_or_else(|| panic!("no pod address:\n{answer}"));
    assert!(pod_subnet.contains(&pod_ip), "{pod_ip} not in {pod_subnet}");
    let worker_ip = plan.nodes[1].ipv4.expect("worker IPv4");
    assert!(
        answer.contains(&format!("Address: {worker_ip}")),
        "{worker} did not resolve to {worker_ip}:\n{answer}"
    );

    // A restart keeps the machine-id and brings the routes, masquerade and DNS back
    // without `up`.
    let restarted = docker_cli(&["restart", worker]);
    assert!(restarted.status.success());
    dind::cluster::nodes::wait_node_ready(&Node::new(&engine, worker), Duration::from_secs(60))
        .await
        .expect("the worker boots again");
    assert_eq!(
        exec(&engine, worker, &["cat", "/etc/machine-id"]).await,
        worker_id,
        "the machine-id changed across docker restart"
    );
    assert_node_boot_fixes(&engine, &plan, 1).await;
}
