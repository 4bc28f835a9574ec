//! Issue 19: the paths around the default `up`, on real node containers (cluster IDs
//! 191–199): routes that follow `join` and `remove-node`, a `join` after a removal, an API
//! server port that stays across restarts, `/var` as the node volume through snapshot and
//! restore, and what the capability-set mode and every host need of a node (containerd's
//! `restrict_oom_score_adj`, a `product_uuid` per node, `arp_ignore`).

mod support;

use std::time::Duration;
use support::*;

/// Runs docker-dind, asserts success, returns stdout.
fn dind(args: &[&str]) -> String {
    run_ok("docker-dind", args, &[])
}

/// A nodes-only cluster of the bare image with `workers` workers.
fn up_bare(cluster_id: &str, workers: &str) {
    dind(&[
        "up",
        "--nodes-only",
        "--nodes",
        workers,
        "--image",
        BARE_IMAGE,
        "--cluster-id",
        cluster_id,
    ]);
}

fn inspect(container: &str, format: &str) -> String {
    let out = docker_cli(&["inspect", "-f", format, container]);
    assert!(out.status.success(), "inspect {container}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

async fn restart_and_wait(engine: &dind::engine::Engine, node: &str) {
    assert!(
        docker_cli(&["restart", node]).status.success(),
        "restart {node}"
    );
    dind::cluster::nodes::wait_node_ready(
        &dind::node::Node::new(engine, node),
        Duration::from_secs(90),
    )
    .await
    .expect("the node boots again");
}

#[tokio::test(flavor = "multi_thread")]
async fn nodes_keep_their_var_their_api_port_and_get_the_host_fixes() {
    let Some(engine) = docker().await else { return };
    ensure_images();
    let id = ["--cluster-id", "191"];
    let _clean = CleanOnDrop::cluster(&id);
    up_bare("191", "1");
    let (master, worker) = ("kube-master-cluster-191", "kube-node-1-cluster-191");

    // /var is the node's volume.
    for node in [master, worker] {
        let mounts = inspect(
            node,
            "{{range .Mounts}}{{.Type}}:{{.Name}}:{{.Destination}} {{end}}",
        );
        // Docker lists mounts in no fixed order, and the output is trimmed: compare items.
        let wanted = format!("volume:kubeadm-dind-{node}:/var");
        assert!(
            mounts.split_whitespace().any(|m| m == wanted),
            "{node}: {mounts}"
        );
    }

    // containerd restricts oom_score_adj exactly where nodes lack CAP_SYS_RESOURCE.
    let privileged = inspect(master, "{{.HostConfig.Privileged}}") == "true";
    let dump = in_container(
        master,
        "containerd config dump | grep restrict_oom_score_adj",
    );
    assert_eq!(
        dump.trim(),
        format!("restrict_oom_score_adj = {}", !privileged),
        "privileged: {privileged}"
    );

    // arp_ignore 0 whatever the host says; a product_uuid per node, shown over DMI where
    // the host has DMI (this machine has none).
    for node in [master, worker] {
        let arp = in_container(
            node,
            "cat /proc/sys/net/ipv4/conf/all/arp_ignore /proc/sys/net/ipv4/conf/default/arp_ignore",
        );
        assert_eq!(arp, "0\n0\n", "{node}");
    }
    let uuid = |node: &str| {
        in_container(node, "cat /etc/dind/product_uuid")
            .trim()
            .to_string()
    };
    let (master_uuid, worker_uuid) = (uuid(master), uuid(worker));
    assert_eq!(master_uuid.len(), 36, "{master_uuid}");
    assert_ne!(master_uuid, worker_uuid, "two nodes share a product_uuid");
    for node in [master, worker] {
        let shown = in_container(
            node,
            "if [ -f /sys/class/dmi/id/product_uuid ]; then cat /sys/class/dmi/id/product_uuid; else cat /etc/dind/product_uuid; fi",
        );
        assert_eq!(shown.trim(), uuid(node), "{node}");
    }

    // The API server's host port survives a restart of the master.
    let port = dind(&["apiserver-port", "--cluster-id", "191"]);
    assert!(port.trim().parse::<u16>().is_ok(), "{port}");
    restart_and_wait(&engine, master).await;
    assert_eq!(dind(&["apiserver-port", "--cluster-id", "191"]), port);
    assert_eq!(uuid(master), master_uuid, "the product_uuid is kept");

    // A file under /var/lib/etcd lives in the volume: `down` (snapshot) and `up` (restore)
    // keep it, and the port with it.
    in_container(
        master,
        "mkdir -p /var/lib/etcd && echo i19 > /var/lib/etcd/i19-kept",
    );
    dind(&["down", "--cluster-id", "191"]);
    up_bare("191", "1");
    assert_eq!(in_container(master, "cat /var/lib/etcd/i19-kept"), "i19\n");
    assert_eq!(dind(&["apiserver-port", "--cluster-id", "191"]), port);

    // `clean` removes the volumes with everything else.
    dind(&["clean", "--cluster-id", "191"]);
    let left = labelled_objects("cluster-191");
    assert!(left.is_empty(), "{left:?}");
}

/// The route lines `ip route` shows for the pod subnets of the cluster.
fn pod_routes(node: &str) -> String {
    in_container(node, "ip -4 route | grep '^10.244.' || true")
}

#[tokio::test(flavor = "multi_thread")]
async fn join_after_remove_node_plans_the_nodes_there_are_and_every_node_routes_to_it() {
    let Some(engine) = docker().await else { return };
    ensure_images();
    let id = ["--cluster-id", "192"];
    let _clean = CleanOnDrop::cluster(&id);
    up_bare("192", "2");
    let master = "kube-master-cluster-192";
    let node2 = "kube-node-2-cluster-192";
    let node3 = "kube-node-3-cluster-192";
    // Node n has 10.192.192.(n+2) and pods in 10.244.(n+2).0/24.
    assert!(pod_routes(master).contains("10.244.3.0/24 via 10.192.192.3"));

    dind(&[
        "remove-node",
        "kube-node-1-cluster-192",
        "--cluster-id",
        "192",
    ]);
    for node in [master, node2] {
        let routes = pod_routes(node);
        assert!(!routes.contains("10.244.3.0/24"), "{node}:\n{routes}");
        let file = in_container(node, "cat /etc/dind/pod-network");
        assert!(!file.contains("10.244.3.0/24"), "{node}:\n{file}");
    }

    let joined: serde_json::Value = serde_json::from_str(&dind(&[
        "join",
        "--nodes-only",
        "--cluster-id",
        "192",
        "-o",
        "json",
    ]))
    .expect("join -o json");
    assert_eq!(joined["node"], node3);
    assert_eq!(joined["ipv4"], "10.192.192.5");
    let route = "10.244.5.0/24 via 10.192.192.5";
    for node in [master, node2] {
        let routes = pod_routes(node);
        assert!(routes.contains(route), "{node}:\n{routes}");
        let file = in_container(node, "cat /etc/dind/pod-network");
        assert!(
            file.contains("route 10.244.5.0/24 10.192.192.5"),
            "{node}:\n{file}"
        );
    }
    let routes = pod_routes(node3);
    for expected in [
        "10.244.2.0/24 via 10.192.192.2",
        "10.244.4.0/24 via 10.192.192.4",
    ] {
        assert!(routes.contains(expected), "{node3}:\n{routes}");
    }
    assert!(!routes.contains("10.244.3.0/24"), "{node3}:\n{routes}");

    // The routes come back from the file at the next boot; the removed node's do not.
    restart_and_wait(&engine, master).await;
    let routes = pod_routes(master);
    assert!(routes.contains(route), "{routes}");
    assert!(!routes.contains("10.244.3.0/24"), "{routes}");
}

#[tokio::test(flavor = "multi_thread")]
async fn reup_loads_the_trees_release_images_and_points_the_manifests_at_them() {
    let Some(_engine) = docker().await else {
        return;
    };
    ensure_images();
    let id = ["--cluster-id", "193"];
    let _clean = CleanOnDrop::cluster(&id);
    let mut cleanup = RemoveOnDrop::default();
    up_bare("193", "1");
    let (master, worker) = ("kube-master-cluster-193", "kube-node-1-cluster-193");
    // The manifest kubeadm init would have written.
    in_container(
        master,
        "mkdir -p /etc/kubernetes/manifests && printf 'spec:\\n  containers:\\n  - image: registry.k8s.io/kube-apiserver:v1.37.0\\n    name: kube-apiserver\\n' > /etc/kubernetes/manifests/kube-apiserver.yaml",
    );
    // A source tree: binaries in _output/bin, `make quick-release-images` archives beside.
    let tree = tempfile::tempdir().expect("tempdir");
    let bin = tree.path().join("_output/bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    for name in ["kubeadm", "kubelet", "kubectl"] {
        write_executable(
            &bin.join(name),
            &format!("#!/bin/sh\necho stand-in i19 {name}\n"),
        );
    }
    let arch = dind::image::local::kube_arch(std::env::consts::ARCH);
    let images = tree.path().join("_output/release-images").join(arch);
    std::fs::create_dir_all(&images).expect("mkdir");
    let archived = format!("registry.k8s.io/kube-apiserver-{arch}:v1.99.0-i19");
    image_archive(&archived, &images.join("kube-apiserver.tar"), &mut cleanup);

    let report: serde_json::Value = serde_json::from_str(&dind(&[
        "reup",
        "--cluster-id",
        "193",
        "--nodes-only",
        "--kube-binaries",
        bin.to_str().expect("utf-8"),
        "-o",
        "json",
    ]))
    .expect("reup -o json");
    let tag = "registry.k8s.io/kube-apiserver:v1.99.0-i19";
    assert_eq!(report["images"], serde_json::json!([tag]));
    for node in [master, worker] {
        let listed = in_container(node, "ctr -n k8s.io images ls -q");
        assert!(listed.lines().any(|l| l == tag), "{node}:\n{listed}");
        assert_eq!(in_container(node, "kubeadm"), "stand-in i19 kubeadm\n");
    }
    let manifest = in_container(master, "cat /etc/kubernetes/manifests/kube-apiserver.yaml");
    assert!(
        manifest.contains(&format!("  - image: {tag}\n")),
        "{manifest}"
    );
}
