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
        certificate_key: None,
    };
    let nodes: Vec<dind::node::Node> = plan
        .nodes
        .iter()
        .map(|n| dind::node::Node::new(&engine, &n.name))
        .collect();
    dind::cluster::kubernetes::write_kubeadm_configs(&nodes, &inputs)
        .await
        .expect("configs written");

    assert!(kubeadm::init_command(false)
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

/// With three masters, `up` runs kubeadm as kind does: `init --upload-certs` on the first
/// master, then each other master's control-plane join one after the other, then the
/// workers; the masters' join configurations carry init's certificate key, every join
/// goes through the balancer, and the kubeconfig points at the balancer's published port.
#[tokio::test(flavor = "multi_thread")]
async fn three_masters_join_one_at_a_time_after_init_then_the_workers() {
    let Some(engine) = docker().await else { return };
    ensure_images();
    let _clean = CleanOnDrop::cluster(&["--cluster-id", "222"]);
    let dir = tempfile::tempdir().expect("tempdir");
    // The stand-in, timed: every call notes when it starts and ends, and a join takes a
    // moment, so two joins at once would overlap in the log.
    let kubeadm = stand_in_kubeadm_in(dir.path(), "").replacen(
        "#!/bin/sh\n",
        "#!/bin/sh\n\
         echo \"start $(date +%s%N) $1\" >> /var/log/stand-in-order.log\n\
         trap 'echo \"end $(date +%s%N) $1\" >> /var/log/stand-in-order.log' EXIT\n\
         [ \"$1\" = join ] && sleep 0.3\n",
        1,
    );
    let (image, _cleanup) =
        stand_in_image(dir.path(), kubeadm, "#!/bin/sh\necho stand-in kubectl\n");
    let kubeconfig = dir.path().join("kubeconfig");
    let kubeconfig = kubeconfig.to_str().expect("utf-8");
    let out = run(
        "kubectl-dind",
        &[
            "up",
            "--cluster-id",
            "222",
            "--masters",
            "3",
            "--nodes",
            "1",
            "--image",
            &image,
            "--wait",
            "2s",
            "--retain",
        ],
        &[("KUBECONFIG", kubeconfig)],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "the wait times out: {stderr}");

    let masters = [
        "kube-master-cluster-222",
        "kube-master-2-cluster-222",
        "kube-master-3-cluster-222",
    ];
    let worker = "kube-node-1-cluster-222";
    // (node, start, end) of every init and join.
    let mut calls: Vec<(String, String, u128, u128)> = Vec::new();
    for node in masters.iter().chain([&worker]) {
        let log = exec(&engine, node, &["cat", "/var/log/stand-in-order.log"]).await;
        let mut start = None;
        for line in log.lines() {
            let parts: Vec<&str> = line.split_whitespace().collect();
            let (Some(when), Some(what)) = (parts.get(1), parts.get(2)) else {
                continue;
            };
            if !["init", "join"].contains(what) {
                continue;
            }
            let when: u128 = when.parse().expect("nanoseconds");
            match parts[0] {
                "start" => start = Some(when),
                _ => calls.push((
                    node.to_string(),
                    what.to_string(),
                    start.expect("a start"),
                    when,
                )),
            }
        }
    }
    let order: Vec<(&str, &str)> = calls
        .iter()
        .map(|(n, w, _, _)| (n.as_str(), w.as_str()))
        .collect();
    assert_eq!(order.len(), 4, "{calls:?}");
    let find = |node: &str| {
        calls
            .iter()
            .find(|c| c.0 == node)
            .unwrap_or_else(|| panic!("{node} ran kubeadm: {calls:?}"))
    };
    let (init, m2, m3, w) = (
        find(masters[0]),
        find(masters[1]),
        find(masters[2]),
        find(worker),
    );
    assert_eq!(
        (init.1.as_str(), m2.1.as_str(), m3.1.as_str(), w.1.as_str()),
        ("init", "join", "join", "join")
    );
    assert!(init.3 <= m2.2, "init ends before master 2 joins: {calls:?}");
    assert!(
        m2.3 <= m3.2,
        "master 2's join ends before master 3's starts: {calls:?}"
    );
    assert!(m3.3 <= w.2, "the worker joins after the masters: {calls:?}");

    let init_args = exec(
        &engine,
        masters[0],
        &["cat", "/var/log/stand-in-kubeadm.log"],
    )
    .await;
    assert!(
        init_args
            .lines()
            .any(|l| l.starts_with("init --config /dind/kubeadm.conf")
                && l.ends_with("--upload-certs")),
        "{init_args}"
    );
    let documents = |text: String| -> Vec<serde_yaml::Value> {
        text.split("---\n")
            .map(|d| serde_yaml::from_str(d).expect("a document"))
            .collect()
    };
    let init = documents(exec(&engine, masters[0], &["cat", "/dind/kubeadm.conf"]).await);
    let key = init[0]["certificateKey"]
        .as_str()
        .expect("init has a certificate key")
        .to_string();
    assert_eq!(key.len(), 64, "32 bytes in hex");
    let cluster = init
        .iter()
        .find(|d| d["kind"] == "ClusterConfiguration")
        .expect("ClusterConfiguration");
    assert_eq!(
        cluster["controlPlaneEndpoint"],
        "kube-master-lb-cluster-222:6443"
    );
    for (node, control_plane) in [(masters[1], true), (masters[2], true), (worker, false)] {
        let join = documents(exec(&engine, node, &["cat", "/dind/kubeadm.conf"]).await);
        assert_eq!(join[0]["kind"], "JoinConfiguration", "{node}");
        assert_eq!(
            join[0]["discovery"]["bootstrapToken"]["apiServerEndpoint"],
            "kube-master-lb-cluster-222:6443",
            "{node}"
        );
        assert_eq!(
            join[0]["controlPlane"]["certificateKey"].as_str() == Some(key.as_str()),
            control_plane,
            "{node}"
        );
    }

    let port = engine
        .published_ports("kube-master-lb-cluster-222", "6443/tcp")
        .await
        .expect("inspect")[0]
        .1;
    let written: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(kubeconfig).expect("kubeconfig"))
            .expect("YAML");
    let server = written["clusters"]
        .as_sequence()
        .expect("clusters")
        .iter()
        .find(|c| c["name"] == "dind-cluster-222")
        .expect("the cluster entry")["cluster"]["server"]
        .clone();
    assert_eq!(server, format!("https://127.0.0.1:{port}").as_str());
    run_ok(
        "kubectl-dind",
        &["clean", "--cluster-id", "222"],
        &[("KUBECONFIG", kubeconfig)],
    );
    assert!(
        labelled_objects("cluster-222").is_empty(),
        "{:?}",
        labelled_objects("cluster-222")
    );
}

/// `--cni none` (kind's `disableDefaultCNI`): no CNI files or routes in the nodes, no
/// manifest applied, kubeadm's podSubnet set for the user's plugin, and `up` waits for
/// the nodes to register instead of Ready, saying they stay NotReady until a CNI is applied.
#[tokio::test(flavor = "multi_thread")]
async fn with_no_cni_the_nodes_get_none_and_up_waits_only_for_them_to_register() {
    let Some(engine) = docker().await else { return };
    ensure_images();
    let _clean = CleanOnDrop::cluster(&["--cluster-id", "224"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let (image, _cleanup) = stand_in_image(
        dir.path(),
        stand_in_kubeadm_in(dir.path(), ""),
        "#!/bin/sh\necho \"$*\" >> /var/log/stand-in-kubectl.log\n",
    );
    let kubeconfig = dir.path().join("kubeconfig");
    let kubeconfig = kubeconfig.to_str().expect("utf-8");
    let out = run(
        "kubectl-dind",
        &[
            "up",
            "--cluster-id",
            "224",
            "--nodes",
            "1",
            "--cni",
            "none",
            "--image",
            &image,
            "--wait",
            "2s",
            "--retain",
        ],
        &[("KUBECONFIG", kubeconfig)],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Nothing serves the API here, so even registering times out; the wait was for that.
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("Waiting up to 2s for nodes to register"),
        "{stderr}"
    );
    assert!(!stderr.contains("for nodes to be Ready"), "{stderr}");
    assert!(
        stderr.contains("the nodes stay NotReady (and pods Pending) until you apply one"),
        "{stderr}"
    );
    let master = "kube-master-cluster-224";
    for node in [master, "kube-node-1-cluster-224"] {
        let files = exec(&engine, node, &["ls", "-A", dind::cni::CONFIG_DIR]).await;
        assert_eq!(files.trim(), "", "{node}: no CNI config");
        let network = dind::node::Node::new(&engine, node)
            .exec(&["test", "-e", dind::cni::POD_NETWORK_FILE])
            .await
            .expect("exec");
        assert_ne!(network.exit_code, 0, "{node}: no pod-network file");
    }
    let routes = exec(&engine, master, &["ip", "route"]).await;
    assert!(!routes.contains("10.244."), "no pod routes: {routes}");
    let applied = dind::node::Node::new(&engine, master)
        .exec(&["cat", "/var/log/stand-in-kubectl.log"])
        .await
        .expect("exec");
    assert!(
        !applied.stdout.contains("apply"),
        "no manifest applied: {}",
        applied.stdout
    );
    let config = exec(&engine, master, &["cat", dind::kubeadm::CONFIG_PATH]).await;
    assert!(
        config.contains("podSubnet: 10.244.0.0/16"),
        "the user's CNI gets kubeadm's pod range: {config}"
    );
    run_ok(
        "kubectl-dind",
        &["clean", "--cluster-id", "224"],
        &[("KUBECONFIG", kubeconfig)],
    );
    assert!(
        labelled_objects("cluster-224").is_empty(),
        "{:?}",
        labelled_objects("cluster-224")
    );
}

/// A node image built with stand-in `kubeadm`, `kubelet` and `kubectl` scripts, and its
/// removal when the test ends.
fn stand_in_image(dir: &std::path::Path, kubeadm: String, kubectl: &str) -> (String, RemoveOnDrop) {
    let bin_dir = dir.join("bin");
    std::fs::create_dir(&bin_dir).expect("mkdir");
    for (name, text) in [
        ("kubeadm", kubeadm),
        ("kubelet", "#!/bin/sh\necho stand-in kubelet\n".to_string()),
        ("kubectl", kubectl.to_string()),
    ] {
        write_executable(&bin_dir.join(name), &text);
    }
    let built = build_image_from(&bin_dir);
    let image = built["image"].as_str().expect("tag").to_string();
    let mut cleanup = RemoveOnDrop::default();
    cleanup.images.push(image.clone());
    (image, cleanup)
}
