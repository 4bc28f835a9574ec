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
        bootstrap_token: &dind::bootstrap_token::BootstrapToken::random().expect("a token"),
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
    // Loopback only, on a host port picked at create time and pinned (a port Docker
    // picks at each start would change with every restart).
    let bindings = requested.get("6443/tcp").expect("6443 is published");
    assert_eq!(bindings.len(), 1, "{requested:?}");
    assert_eq!(bindings[0].0, "127.0.0.1", "{requested:?}");
    assert!(
        bindings[0].1.parse::<u16>().is_ok_and(|p| p > 0),
        "a pinned host port: {requested:?}"
    );
    let published = engine
        .published_ports("kube-master-cluster-14", "6443/tcp")
        .await
        .expect("inspect");
    assert_eq!(published.len(), 1, "{published:?}");
    assert_eq!(published[0].0, "127.0.0.1");
    assert_eq!(
        published[0].1.to_string(),
        bindings[0].1,
        "published where it was pinned"
    );
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
async fn up_refuses_an_image_without_kubernetes_before_creating_anything() {
    let Some(_engine) = docker().await else {
        return;
    };
    ensure_images();
    let _clean = CleanOnDrop::cluster(&["--cluster-id", "16"]);
    // (args, the refusal names)
    let table: [(&[&str], &str); 2] = [
        (&["--image", BARE_IMAGE], "has no Kubernetes"),
        (
            &["--nodes-only", "--image", dind::image::recipe::BASE_IMAGE],
            "is not a dind node image",
        ),
    ];
    for (extra, needle) in table {
        let mut args = vec!["up", "--nodes", "1", "--cluster-id", "16"];
        args.extend_from_slice(extra);
        let output = run("kubectl-dind", &args, &[]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(needle), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(labelled_objects("cluster-16").is_empty(), "nothing created");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn up_drives_kubeadm_cni_the_context_and_the_forwarder_then_rolls_back_on_timeout() {
    let Some(engine) = docker().await else { return };
    ensure_images();
    let _clean = CleanOnDrop::cluster(&["--cluster-id", "18"]);
    let dir = tempfile::tempdir().expect("tempdir");

    let path = |name: &str| dir.path().join(name).to_str().expect("utf-8").to_string();
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).expect("read");
    let bin_dir = dir.path().join("bin");
    std::fs::create_dir(&bin_dir).expect("mkdir");
    let scripts = [
        ("kubeadm", stand_in_kubeadm_in(dir.path(), "")),
        ("kubelet", "#!/bin/sh\necho stand-in kubelet\n".to_string()),
        ("kubectl", "#!/bin/sh\necho stand-in kubectl\n".to_string()),
    ];
    for (name, text) in scripts {
        write_executable(&bin_dir.join(name), &text);
    }
    let built = build_image_from(&bin_dir);
    let image = built["image"].as_str().expect("tag").to_string();
    let mut cleanup = RemoveOnDrop::default();
    cleanup.images.push(image.clone());

    let forwarder = path("forwarder");
    write_executable(
        std::path::Path::new(&forwarder),
        &format!(
            "#!/bin/sh
echo \"$1\" > {}
",
            path("forwarded-port")
        ),
    );
    let kubeconfig = path("kubeconfig");
    let env = [("KUBECONFIG", kubeconfig.as_str())];
    let args = [
        "up",
        "--cluster-id",
        "18",
        "--nodes",
        "1",
        "--image",
        &image,
        "--wait",
        "2s",
        "--port-forwarder",
        &forwarder,
    ];

    // Everything up to the wait runs for real; the wait times out, since nothing serves the API.
    let out = run("kubectl-dind", &[&args[..], &["--retain"]].concat(), &env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("timed out after 2s waiting for the cluster"),
        "{stderr}"
    );
    assert!(
        stderr.contains("kube-master-cluster-18") && stderr.contains("kube-node-1-cluster-18"),
        "{stderr}"
    );

    let master_calls = exec(
        &engine,
        "kube-master-cluster-18",
        &["cat", "/var/log/stand-in-kubeadm.log"],
    )
    .await;
    assert!(
        master_calls
            .lines()
            .any(|l| l.starts_with("init --config /dind/kubeadm.conf")),
        "{master_calls}"
    );
    let worker_calls = exec(
        &engine,
        "kube-node-1-cluster-18",
        &["cat", "/var/log/stand-in-kubeadm.log"],
    )
    .await;
    assert!(
        worker_calls
            .lines()
            .any(|l| l.starts_with("join --config /dind/kubeadm.conf")),
        "{worker_calls}"
    );
    for node in ["kube-master-cluster-18", "kube-node-1-cluster-18"] {
        let conflist = exec(&engine, node, &["cat", dind::cni::CONFIG_FILE]).await;
        assert!(
            conflist.contains("\"type\": \"bridge\"") || conflist.contains("\"type\":\"bridge\""),
            "{node}: {conflist}"
        );
    }
    let routes = exec(&engine, "kube-master-cluster-18", &["ip", "route"]).await;
    assert!(
        routes.contains("10.244.3.0/24 via 10.192.18.3"),
        "the master routes to the worker's pods: {routes}"
    );

    let port = engine
        .published_ports("kube-master-cluster-18", "6443/tcp")
        .await
        .expect("inspect")[0]
        .1;
    assert_eq!(
        read("forwarded-port").trim(),
        port.to_string(),
        "DIND_PORT_FORWARDER got the port"
    );
    let written: serde_yaml::Value = serde_yaml::from_str(&read("kubeconfig")).expect("kubeconfig");
    let cluster = written["clusters"]
        .as_sequence()
        .expect("clusters")
        .iter()
        .find(|c| c["name"] == "dind-cluster-18")
        .expect("cluster entry");
    assert_eq!(
        cluster["cluster"]["server"],
        format!("https://127.0.0.1:{port}").as_str()
    );
    assert!(written["contexts"]
        .as_sequence()
        .expect("contexts")
        .iter()
        .any(|c| c["name"] == "dind-cluster-18"));
    assert_ne!(
        written["current-context"], "dind-cluster-18",
        "only the default cluster becomes current"
    );

    run_ok("kubectl-dind", &["clean", "--cluster-id", "18"], &env);
    assert!(
        !read("kubeconfig").contains("dind-cluster-18"),
        "clean removed the entries"
    );

    // Without --retain, the failure removes the containers and the context it wrote.
    let out = run("kubectl-dind", &args, &env);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        labelled_objects("cluster-18").is_empty(),
        "left: {:?}",
        labelled_objects("cluster-18")
    );
    assert!(
        !read("kubeconfig").contains("dind-cluster-18"),
        "rollback removed the context:\n{}",
        read("kubeconfig")
    );
}
