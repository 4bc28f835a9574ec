//! Node containers on a real Docker engine: `up --nodes-only`, `nodes`, `down`, `clean`,
//! rollback, and `build-image --kube-binaries`. Each test uses its own cluster IDs, so
//! they run concurrently without touching each other.

mod support;

use serde_json::Value;
use std::path::Path;
use support::*;

fn nodes_json(flags: &[&str]) -> Vec<Value> {
    let mut args = vec!["nodes", "-o", "json"];
    args.extend_from_slice(flags);
    serde_json::from_str(&run_ok("docker-dind", &args, &[])).expect("nodes -o json is JSON")
}

fn field<'a>(node: &'a Value, key: &str) -> &'a str {
    node[key].as_str().unwrap_or_default()
}

/// Runs `docker-dind up` with the given flags in a thread, so two can overlap.
fn up_in_background(flags: Vec<String>) -> std::thread::JoinHandle<std::process::Output> {
    std::thread::spawn(move || {
        let args: Vec<&str> = flags.iter().map(String::as_str).collect();
        run("docker-dind", &args, &[])
    })
}

fn assert_success(output: &std::process::Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_clusters_boot_side_by_side_and_stay_isolated() {
    let Some(engine) = docker().await else { return };
    ensure_images();
    assert!(
        nodes_json(&[]).is_empty(),
        "a default dind cluster already runs here; this test would remove it, so it stops instead"
    );
    let _clean_default = CleanOnDrop::cluster(&[]);
    let _clean_10 = CleanOnDrop::cluster(&["--cluster-id", "10"]);

    let base = ["up", "--nodes-only", "--nodes", "2", "--image", BARE_IMAGE]
        .map(String::from)
        .to_vec();
    let default = up_in_background(base.clone());
    let ten = up_in_background([base, vec!["--cluster-id".into(), "10".into()]].concat());
    assert_success(
        &default.join().expect("thread"),
        "up of the default cluster",
    );
    assert_success(&ten.join().expect("thread"), "up of cluster 10");

    // (cluster flags, expected (name, role, ipv4))
    type Expected<'a> = (&'a [&'a str], [(&'a str, &'a str, &'a str); 3]);
    let expected: [Expected; 2] = [
        (
            &[],
            [
                ("kube-master", "master", "10.192.0.2"),
                ("kube-node-1", "worker", "10.192.0.3"),
                ("kube-node-2", "worker", "10.192.0.4"),
            ],
        ),
        (
            &["--cluster-id", "10"],
            [
                ("kube-master-cluster-10", "master", "10.192.10.2"),
                ("kube-node-1-cluster-10", "worker", "10.192.10.3"),
                ("kube-node-2-cluster-10", "worker", "10.192.10.4"),
            ],
        ),
    ];
    for (flags, want) in &expected {
        let nodes = nodes_json(flags);
        let got: Vec<(&str, &str, &str)> = nodes
            .iter()
            .map(|n| (field(n, "name"), field(n, "role"), field(n, "ipv4")))
            .collect();
        assert_eq!(
            got,
            want.to_vec(),
            "nodes of {flags:?} list exactly that cluster's nodes"
        );
        for node in &nodes {
            assert_eq!(field(node, "state"), "running");
            assert_eq!(field(node, "image"), BARE_IMAGE);
            let name = field(node, "name");
            let state = exec(&engine, name, &["systemctl", "is-system-running"]).await;
            assert_eq!(state.trim(), "running", "systemd in {name}");
            let ctr = exec(&engine, name, &["ctr", "version"]).await;
            assert!(
                ctr.contains("Server:") && ctr.contains("Version:"),
                "ctr version in {name}:\n{ctr}"
            );
            let machine = exec(
                &engine,
                name,
                &["sh", "-c", "test -e /dev/kmsg && findmnt -no PROPAGATION /"],
            )
            .await;
            assert!(
                machine.trim().split(',').any(|p| p == "shared"),
                "{name} has /dev/kmsg and a shared root for kubelet: {machine}"
            );
            let plugins = exec(&engine, name, &["ctr", "plugins", "ls"]).await;
            let cri_ok = plugins.lines().any(|l| {
                l.starts_with("io.containerd.grpc.v1")
                    && l.contains(" cri ")
                    && l.trim_end().ends_with("ok")
            });
            if !cri_ok {
                // Why it failed: the plugin's own error and containerd's log.
                let why = exec(
                    &engine,
                    name,
                    &[
                        "sh",
                        "-c",
                        "ctr plugins ls -d id==cri 2>&1; journalctl -u containerd --no-pager | tail -40",
                    ],
                )
                .await;
                panic!("containerd's CRI plugin, which kubelet talks to, is not loaded in {name}:\n{plugins}\n{why}");
            }
        }
    }
    // Other stages' clusters may stand on this daemon too (CI runs stages side by side):
    // --all lists both of these, whatever else it lists.
    let all = nodes_json(&["--all"]);
    let ours = all
        .iter()
        .filter(|n| ["default", "cluster-10"].contains(&field(n, "cluster")))
        .count();
    assert_eq!(ours, 6, "--all lists both clusters: {all:?}");

    // down keeps volumes, the network and a snapshot image per node; clean removes every
    // object of that cluster only.
    run_ok("docker-dind", &["down", "--cluster-id", "10"], &[]);
    // Images are listed with their ID after the tag; the tag is what is kept.
    let left: Vec<String> = labelled_objects("cluster-10")
        .into_iter()
        .map(|o| match o.strip_prefix("image ") {
            Some(image) => format!("image {}", image.split(' ').next().unwrap_or(image)),
            None => o,
        })
        .collect();
    let nodes = [
        "kube-master-cluster-10",
        "kube-node-1-cluster-10",
        "kube-node-2-cluster-10",
    ];
    let mut want_left: Vec<String> = nodes
        .iter()
        .map(|n| format!("volume kubeadm-dind-{n}"))
        .chain(nodes.iter().map(|n| format!("image dind-snapshot:{n}")))
        .collect();
    want_left.push("network kubeadm-dind-net-cluster-10".into());
    let mut left_sorted = left.clone();
    left_sorted.sort();
    want_left.sort();
    assert_eq!(
        left_sorted, want_left,
        "down keeps exactly the volumes, the network and the snapshot images"
    );
    assert!(nodes_json(&["--cluster-id", "10"]).is_empty());

    run_ok("docker-dind", &["clean", "--cluster-id", "10"], &[]);
    assert!(
        labelled_objects("cluster-10").is_empty(),
        "clean leaves nothing labelled for cluster 10"
    );
    assert_eq!(
        nodes_json(&[]).len(),
        3,
        "cluster 0 is untouched by cluster 10's clean"
    );
    // Nothing left to remove is not an error.
    run_ok("docker-dind", &["clean", "--cluster-id", "10"], &[]);
    run_ok("docker-dind", &["down", "--cluster-id", "10"], &[]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_nested_container_runs_inside_a_node() {
    let Some(engine) = docker().await else { return };
    ensure_images();
    let _clean = CleanOnDrop::cluster(&["--cluster-id", "11"]);
    let mut cleanup = RemoveOnDrop::default();
    run_ok(
        "docker-dind",
        &[
            "up",
            "--nodes-only",
            "--nodes",
            "0",
            "--cluster-id",
            "11",
            "--image",
            BARE_IMAGE,
        ],
        &[],
    );

    let image = "dind-test-nested:1";
    build_busybox_image(image, &mut cleanup);

    let archive = engine.export_image(image).await.expect("docker save");
    let node = dind::node::Node::new(&engine, "kube-master-cluster-11");
    // Streamed over the exec's stdin: /tmp is a tmpfs that Docker's archive API cannot write.
    let imported = node
        .exec_with_input(&["ctr", "-n", "k8s.io", "images", "import", "-"], archive)
        .await
        .expect("ctr images import");
    assert!(imported.contains("saved"), "{imported}");
    let out = exec(
        &engine,
        "kube-master-cluster-11",
        &[
            "ctr",
            "-n",
            "k8s.io",
            "run",
            "--rm",
            "docker.io/library/dind-test-nested:1",
            "nested-hello",
            "/bin/busybox",
            "echo",
            "hello from a nested container",
        ],
    )
    .await;
    assert_eq!(out.trim(), "hello from a nested container");
}

#[tokio::test(flavor = "multi_thread")]
async fn dual_stack_nodes_get_both_addresses_of_the_plan() {
    let Some(_engine) = docker().await else {
        return;
    };
    ensure_images();
    let _clean = CleanOnDrop::cluster(&["--cluster-id", "12"]);
    run_ok(
        "docker-dind",
        &[
            "up",
            "--nodes-only",
            "--nodes",
            "1",
            "--cluster-id",
            "12",
            "--ip-mode",
            "dual-stack",
            "--image",
            BARE_IMAGE,
        ],
        &[],
    );
    let nodes = nodes_json(&["--cluster-id", "12"]);
    let got: Vec<(&str, &str, &str)> = nodes
        .iter()
        .map(|n| (field(n, "name"), field(n, "ipv4"), field(n, "ipv6")))
        .collect();
    assert_eq!(
        got,
        vec![
            ("kube-master-cluster-12", "10.192.12.2", "fd00:20:12::2"),
            ("kube-node-1-cluster-12", "10.192.12.3", "fd00:20:12::3")
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_colliding_subnet_fails_before_anything_is_created() {
    let Some(_engine) = docker().await else {
        return;
    };
    ensure_images();
    let mut cleanup = RemoveOnDrop::default();
    let _clean = CleanOnDrop::cluster(&["--cluster-id", "13"]);
    cleanup.networks.push("dind-test-collider".into());
    let created = docker_cli(&[
        "network",
        "create",
        "--subnet",
        "10.192.13.0/24",
        "dind-test-collider",
    ]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );

    let out = run(
        "docker-dind",
        &[
            "up",
            "--nodes-only",
            "--cluster-id",
            "13",
            "--image",
            BARE_IMAGE,
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a collision is a usage error: {stderr}"
    );
    assert!(
        stderr.contains("collides with Docker network \"dind-test-collider\""),
        "{stderr}"
    );
    assert!(
        labelled_objects("cluster-13").is_empty(),
        "nothing was created"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failure_midway_removes_what_the_run_created_unless_retain() {
    let Some(_engine) = docker().await else {
        return;
    };
    ensure_images();
    let _clean = CleanOnDrop::cluster(&["--cluster-id", "15"]);
    // A zero boot timeout fails right after the containers, volumes and network exist.
    let args = [
        "up",
        "--nodes-only",
        "--nodes",
        "1",
        "--cluster-id",
        "15",
        "--image",
        BARE_IMAGE,
        "--node-timeout",
        "0s",
    ];
    let kept = failing_up_rolls_back(
        "docker-dind",
        &args,
        "cluster-15",
        &["was not ready after 0s", "the end of its log"],
    );
    assert_eq!(
        kept,
        vec![
            "container kube-master-cluster-15",
            "container kube-node-1-cluster-15",
            "network kubeadm-dind-net-cluster-15",
            "volume kubeadm-dind-kube-master-cluster-15",
            "volume kubeadm-dind-kube-node-1-cluster-15",
        ],
        "--retain keeps every object"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn build_image_puts_local_kube_binaries_in_the_path() {
    let Some(_engine) = docker().await else {
        return;
    };
    ensure_images();
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["kubeadm", "kubelet", "kubectl"] {
        let path = dir.path().join(name);
        // Stand-ins, not Kubernetes: they only say who they are.
        write_executable(
            &path,
            &format!(
                "#!/bin/sh
{STAND_IN_IMAGE_LIST}echo stand-in {name} \"$@\"
"
            ),
        );
    }
    let built = build_image_from(dir.path());
    let image = built["image"].as_str().expect("image tag").to_string();
    let mut cleanup = RemoveOnDrop::default();
    cleanup.images.push(image.clone());
    assert!(image.starts_with("dind-node:local-"), "{image}");
    assert_eq!(built["kubernetes_version"], "local");

    let out = docker_cli(&[
        "run",
        "--rm",
        "--entrypoint",
        "sh",
        &image,
        "-c",
        "for b in kubeadm kubelet kubectl; do command -v $b; $b version; done",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        vec![
            "/usr/bin/kubeadm",
            "stand-in kubeadm version",
            "/usr/bin/kubelet",
            "stand-in kubelet version",
            "/usr/bin/kubectl",
            "stand-in kubectl version"
        ]
    );
    // The same recipe is reused, not rebuilt.
    let again = build_image_from(dir.path());
    assert_eq!(again["image"], image.as_str());
    assert_eq!(again["reused"], true);
}

/// Starts `up` for cluster 17, sends it SIGINT once `ready_to_interrupt` holds for the
/// cluster's labelled objects, and checks that nothing of the cluster is left.
fn interrupt_up_when(ready_to_interrupt: impl Fn(&[String]) -> bool) {
    let mut child = std::process::Command::new(bin("docker-dind"))
        .args([
            "up",
            "--nodes-only",
            "--nodes",
            "2",
            "--cluster-id",
            "17",
            "--image",
            BARE_IMAGE,
        ])
        .env("KUBECONFIG", test_kubeconfig())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("docker-dind starts");
    // Nothing announces progress to another process, so look.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !ready_to_interrupt(&labelled_objects("cluster-17")) {
        assert!(
            std::time::Instant::now() < deadline,
            "up never got that far"
        );
        assert!(
            child.try_wait().expect("wait").is_none(),
            "up ended before it could be interrupted"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let output = child.wait_with_output().expect("up exits");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "an interrupted up fails: {stderr}"
    );
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert_eq!(
        output.status.code(),
        Some(130),
        "Ctrl-C exits 130: {stderr}"
    );
    assert!(
        labelled_objects("cluster-17").is_empty(),
        "left after Ctrl-C: {:?}",
        labelled_objects("cluster-17")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_up_removes_what_it_created() {
    let Some(_engine) = docker().await else {
        return;
    };
    ensure_images();
    let _clean = CleanOnDrop::cluster(&["--cluster-id", "17"]);
    // As soon as anything exists, and once the master's container does.
    interrupt_up_when(|objects| !objects.is_empty());
    interrupt_up_when(|objects| {
        objects
            .iter()
            .any(|o| o == "container kube-master-cluster-17")
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn the_host_probe_reads_the_daemon_machine() {
    let Some(engine) = support::docker().await else {
        return;
    };
    support::ensure_images();
    // The daemon runs on this machine here, so the probe must agree with what this
    // process sees itself.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let settings = dind::Settings::from_env_pairs(&[
        ("CLUSTER_ID", "19"),
        ("DIND_IMAGE", support::BARE_IMAGE),
    ])
    .unwrap();
    let plan = dind::ClusterPlan::new(&settings).unwrap();
    let host = engine.host_info().await.unwrap();
    let ledger = dind::cluster::ledger::Ledger::default();
    let facts = dind::cluster::host_probe::probe_host(&engine, &plan, &host, &ledger)
        .await
        .unwrap();

    let read = |path: &str| {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
    };
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(
        facts.lib_modules,
        Path::new("/lib/modules").join(kernel.trim()).is_dir()
    );
    assert_eq!(
        facts.br_netfilter,
        Path::new("/proc/sys/net/bridge/bridge-nf-call-iptables").exists()
    );
    assert_eq!(
        facts.inotify_max_user_instances,
        read("/proc/sys/fs/inotify/max_user_instances")
    );
    assert_eq!(
        facts.inotify_max_user_watches,
        read("/proc/sys/fs/inotify/max_user_watches")
    );
    assert_eq!(facts.dev_net_tun, Path::new("/dev/net/tun").exists());
    assert!(
        facts.data_root_free_bytes.is_some_and(|b| b > 0),
        "{facts:?}"
    );
    assert!(
        facts.port_taken(false, "127.0.0.1".parse().unwrap(), port),
        "the probe does not see this test's listener on port {port}: {:?}",
        facts.listening
    );
    drop(listener);
    assert!(
        support::labelled_objects("cluster-19").is_empty(),
        "the probe left {:?}",
        support::labelled_objects("cluster-19")
    );
}
