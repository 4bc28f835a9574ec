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
    build_busybox_image(image, &mut cleanup);
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

/// Stand-ins for kubeadm, kubelet and kubectl, not Kubernetes. The kubeadm stand-in
/// answers what the image build asks: its version and its image list, with a pause image
/// no constant in dind names.
fn stand_in_binaries(dir: &std::path::Path) {
    std::fs::create_dir_all(dir).expect("mkdir");
    write_executable(
        &dir.join("kubeadm"),
        "#!/bin/sh
case \"$1\" in
  version) echo v1.37.0 ;;
  config) printf '%s\\n' registry.k8s.io/kube-apiserver:v1.37.0 registry.k8s.io/pause:3.99-i8 ;;
  *) echo stand-in kubeadm \"$@\" ;;
esac
",
    );
    for name in ["kubelet", "kubectl"] {
        write_executable(
            &dir.join(name),
            &format!("#!/bin/sh\necho stand-in {name}\n"),
        );
    }
}

fn build_image(args: &[&str]) -> String {
    let out = run_ok(
        "docker-dind",
        &[&["build-image"], args, &["-o", "json"]].concat(),
        &[],
    );
    let built: serde_json::Value = serde_json::from_str(&out).expect("json");
    built["image"].as_str().expect("tag").to_string()
}

/// Boots a one-node cluster of `image` and returns what containerd's k8s.io namespace
/// holds right after `up` says the node is ready.
async fn images_after_boot(engine: &dind::engine::Engine, image: &str, id: &str) -> String {
    run_ok(
        "docker-dind",
        &[
            "up",
            "--nodes-only",
            "--nodes",
            "0",
            "--cluster-id",
            id,
            "--image",
            image,
        ],
        &[],
    );
    exec(
        engine,
        &format!("kube-master-cluster-{id}"),
        &["ctr", "-n", "k8s.io", "images", "ls", "-q"],
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn local_builds_preload_image_archives_and_pin_pause_from_kubeadm() {
    let Some(engine) = docker().await else { return };
    ensure_images();
    let _clean22 = CleanOnDrop::cluster(&["--cluster-id", "22"]);
    let _clean23 = CleanOnDrop::cluster(&["--cluster-id", "23"]);
    let mut cleanup = RemoveOnDrop::default();
    let dir = tempfile::tempdir().expect("tempdir");

    // --kube-binaries DIR --kube-images DIR2.
    let bin = dir.path().join("bin");
    stand_in_binaries(&bin);
    let images = dir.path().join("images");
    std::fs::create_dir(&images).expect("mkdir");
    image_archive(
        "registry.k8s.io/i8-stand-in-apiserver:v0",
        &images.join("apiserver.tar"),
        &mut cleanup,
    );
    let explicit = build_image(&[
        "--kube-binaries",
        bin.to_str().expect("utf-8"),
        "--kube-images",
        images.to_str().expect("utf-8"),
    ]);
    cleanup.images.push(explicit.clone());
    let sandbox = docker_cli(&[
        "run",
        "--rm",
        "--entrypoint",
        "grep",
        &explicit,
        "sandbox =",
        "/etc/containerd/config.toml",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&sandbox.stdout).trim(),
        "sandbox = 'registry.k8s.io/pause:3.99-i8'",
        "the pause pin comes from kubeadm config images list"
    );
    let listed = images_after_boot(&engine, &explicit, "22").await;
    assert!(
        listed
            .lines()
            .any(|l| l == "registry.k8s.io/i8-stand-in-apiserver:v0"),
        "{listed}"
    );

    // The same without --kube-images, from a tree laid out like Kubernetes' _output/:
    // the archive's architecture suffix is dropped, as kubeadm names the images.
    let arch = dind::image::local::kube_arch(std::env::consts::ARCH);
    let tree_bin = dir
        .path()
        .join(format!("kubernetes/_output/dockerized/bin/linux/{arch}"));
    stand_in_binaries(&tree_bin);
    let release_images = dir
        .path()
        .join(format!("kubernetes/_output/release-images/{arch}"));
    std::fs::create_dir_all(&release_images).expect("mkdir");
    let suffixed = format!("registry.k8s.io/i8-kube-scheduler-{arch}:v0");
    image_archive(
        &suffixed,
        &release_images.join("kube-scheduler.tar"),
        &mut cleanup,
    );
    let from_tree = build_image(&["--kube-binaries", tree_bin.to_str().expect("utf-8")]);
    cleanup.images.push(from_tree.clone());
    assert_ne!(from_tree, explicit);
    let listed = images_after_boot(&engine, &from_tree, "23").await;
    for want in [suffixed.as_str(), "registry.k8s.io/i8-kube-scheduler:v0"] {
        assert!(
            listed.lines().any(|l| l == want),
            "{want} missing:\n{listed}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_download_url_fails_up_in_seconds_with_a_short_message() {
    let Some(_engine) = docker().await else {
        return;
    };
    ensure_images();
    let _clean = CleanOnDrop::cluster(&["--cluster-id", "24"]);
    let started = std::time::Instant::now();
    // Nothing listens on port 9 of the build container: the download fails at once.
    let out = run(
        "kubectl-dind",
        &[
            "up",
            "--cluster-id",
            "24",
            "--kubernetes-version",
            "v1.37.0",
        ],
        &[("DIND_KUBE_DOWNLOAD_URL", "http://127.0.0.1:9/i8-release")],
    );
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        elapsed < Duration::from_secs(60),
        "took {elapsed:?}:\n{stderr}"
    );
    for needle in [
        "http://127.0.0.1:9/i8-release/v1.37.0/bin/linux/",
        "host 127.0.0.1:9",
        "DIND_HTTP_PROXY",
        "HTTPS_PROXY",
        "build args",
        "--kube-binaries DIR",
        "--image IMAGE",
    ] {
        assert!(stderr.contains(needle), "{needle:?} missing:\n{stderr}");
    }
    // Progress showed the build's steps as it went; the error itself is the short message.
    let message: Vec<&str> = stderr
        .lines()
        .skip_while(|l| !l.contains("could not download"))
        .collect();
    assert!(
        !message
            .iter()
            .any(|l| l.contains("Step ") || l.contains("curl:")),
        "the build log is not dumped:\n{stderr}"
    );
    assert!(
        (1..=3).contains(&message.len()),
        "the message is at most three lines:\n{stderr}"
    );
    let log = message[0]
        .split("the full build log is in ")
        .nth(1)
        .expect("the log path is printed")
        .trim();
    let log_text = std::fs::read_to_string(log).expect("the build log exists");
    assert!(log_text.contains("Step "), "{log_text}");
    assert!(
        labelled_objects("cluster-24").is_empty(),
        "{:?}",
        labelled_objects("cluster-24")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kubernetes_before_1_33_is_refused_before_anything_is_created() {
    let Some(_engine) = docker().await else {
        return;
    };
    for (plugin, args) in [
        (
            "kubectl-dind",
            vec![
                "up",
                "--cluster-id",
                "25",
                "--kubernetes-version",
                "v1.30.0",
            ],
        ),
        (
            "docker-dind",
            vec!["build-image", "--kubernetes-version", "v1.30.0"],
        ),
    ] {
        let out = run(plugin, &args, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{plugin}: {stderr}");
        assert!(
            stderr.contains("v1.30.0") && stderr.contains("v1.33 and newer"),
            "{stderr}"
        );
    }
    assert!(labelled_objects("cluster-25").is_empty());
    let image = docker_cli(&["image", "inspect", "dind-node:v1.30.0"]);
    assert!(!image.status.success(), "no image was built");
}
