//! The kubeadm side of `up`, as far as it runs without Kubernetes binaries: the rendered
//! configuration lands in real nodes where kubeadm is told to look, the API server port
//! is published on loopback only, and an image without kubeadm fails cleanly.

mod support;

use dind::kubeadm::{self, KubeadmInputs};
use dind::settings::Settings;
use support::*;

fn settings(pairs: &[(&str, &str)]) -> Settings {
    Settings::from_env_pairs(pairs).expect("valid settings")
}

#[tokio::test(flavor = "multi_thread")]
async fn kubeadm_configs_land_where_kubeadm_reads_them_and_the_api_port_is_loopback_only() {
    let Some(engine) = docker().await else { return };
    ensure_images();
    let _clean = CleanOnDrop::cluster(&["--cluster-id", "14"]);
    run_ok(
        "docker-dind",
        &[
            "up",
            "--nodes-only",
            "--nodes",
            "1",
            "--cluster-id",
            "14",
            "--image",
            BARE_IMAGE,
        ],
        &[],
    );

    let settings = settings(&[
        ("CLUSTER_ID", "14"),
        ("NUM_NODES", "1"),
        ("DIND_IMAGE", BARE_IMAGE),
    ]);
    let plan = dind::ClusterPlan::new(&settings).expect("plan");
    let version = dind::version::KubeVersion::parse("v1.37.0").expect("version");
    let host = engine.host_info().await.expect("docker info");
    let inputs = KubeadmInputs {
        plan: &plan,
        settings: &settings,
        version: &version,
        host_cgroup_v1: host.cgroup_version == dind::engine::CgroupVersion::V1,
        dedicated_master: true,
    };
    let nodes: Vec<dind::node::Node> = plan
        .nodes
        .iter()
        .map(|n| dind::node::Node::new(&engine, &n.name))
        .collect();
    dind::cluster::kubernetes::write_kubeadm_configs(&nodes, &inputs)
        .await
        .expect("configs written");

    assert!(kubeadm::init_command()
        .windows(2)
        .any(|w| w == ["--config", kubeadm::CONFIG_PATH]));
    assert!(kubeadm::join_command()
        .windows(2)
        .any(|w| w == ["--config", kubeadm::CONFIG_PATH]));
    let master_config = exec(
        &engine,
        "kube-master-cluster-14",
        &["cat", kubeadm::CONFIG_PATH],
    )
    .await;
    assert_eq!(
        master_config,
        kubeadm::render_init(&inputs).expect("render")
    );
    assert!(
        master_config.contains("kind: InitConfiguration")
            && master_config.contains("advertiseAddress: 10.192.14.2")
    );
    let worker_config = exec(
        &engine,
        "kube-node-1-cluster-14",
        &["cat", kubeadm::CONFIG_PATH],
    )
    .await;
    assert_eq!(
        worker_config,
        kubeadm::render_join(&inputs, &plan.nodes[1]).expect("render")
    );
    assert!(
        worker_config.contains("kind: JoinConfiguration")
            && worker_config.contains("kube-master-cluster-14:6443")
    );

    let requested = engine
        .requested_port_bindings("kube-master-cluster-14")
        .await
        .expect("inspect");
    assert_eq!(
        requested.get("6443/tcp"),
        Some(&vec![("127.0.0.1".to_string(), String::new())]),
        "{requested:?}"
    );
    let published = engine
        .published_ports("kube-master-cluster-14", "6443/tcp")
        .await
        .expect("inspect");
    assert_eq!(published.len(), 1, "{published:?}");
    assert_eq!(published[0].0, "127.0.0.1");
    assert!(published[0].1 > 0);
    let port = run_ok(
        "docker-dind",
        &["apiserver-port", "--cluster-id", "14"],
        &[],
    );
    assert_eq!(port.trim(), published[0].1.to_string());
    let requested_worker = engine
        .requested_port_bindings("kube-node-1-cluster-14")
        .await
        .expect("inspect");
    assert!(
        requested_worker.is_empty(),
        "workers publish nothing: {requested_worker:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn up_with_an_image_without_kubeadm_fails_and_leaves_nothing_unless_retain() {
    let Some(_engine) = docker().await else {
        return;
    };
    ensure_images();
    let _clean = CleanOnDrop::cluster(&["--cluster-id", "16"]);
    let args = [
        "up",
        "--nodes",
        "1",
        "--cluster-id",
        "16",
        "--image",
        BARE_IMAGE,
    ];
    // The error says what is missing and how to get an image that has it.
    let kept = failing_up_rolls_back(
        "kubectl-dind",
        &args,
        "cluster-16",
        &[
            "the node image dind-node:bare has no kubeadm",
            "docker dind build-image --kubernetes-version",
        ],
    );
    for node in [
        "container kube-master-cluster-16",
        "container kube-node-1-cluster-16",
    ] {
        assert!(
            kept.iter().any(|k| k == node),
            "--retain keeps {node}: {kept:?}"
        );
    }
}
