//! Clusters that keep their state, on a real Docker engine: snapshot and restore across
//! `down`/`up`, restart policy, pause/unpause, join/remove-node, and `load`. Cluster IDs
//! 30–44 (issue 9's range), one per test, so the tests run concurrently.

mod support;

use serde_json::Value;
use std::time::Instant;
use support::*;

fn nodes_json(flags: &[&str]) -> Vec<Value> {
    let mut args = vec!["nodes", "-o", "json"];
    args.extend_from_slice(flags);
    serde_json::from_str(&run_ok("docker-dind", &args, &[])).expect("nodes -o json is JSON")
}

fn field(node: &Value, key: &str) -> String {
    node[key].as_str().unwrap_or_default().to_string()
}

/// Runs docker-dind, asserts success, returns stderr (progress and notes).
fn run_stderr(args: &[&str]) -> String {
    let output = run("docker-dind", args, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "docker-dind {} failed:\n{stderr}",
        args.join(" ")
    );
    stderr
}

/// Names of the snapshot images of a cluster, by Docker's own listing.
fn snapshot_images(cluster_key: &str) -> Vec<String> {
    let filter = format!("label=dind.cluster={cluster_key}");
    let out = docker_cli(&[
        "images",
        "--filter",
        &filter,
        "--format",
        "{{.Repository}}:{{.Tag}}",
    ]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("dind-snapshot:"))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn down_then_up_restores_files_name_and_address() {
    let Some(engine) = docker().await else { return };
    ensure_images();
    let id = ["--cluster-id", "30"];
    let _clean = CleanOnDrop::cluster(&id);
    run_ok("docker-dind", &["clean", "--cluster-id", "30"], &[]);
    let up = |nodes: &str, extra: &[&str]| {
        let mut args = vec![
            "up",
            "--nodes-only",
            "--image",
            BARE_IMAGE,
            "--nodes",
            nodes,
        ];
        args.extend_from_slice(&id);
        args.extend_from_slice(extra);
        run_stderr(&args)
    };
    let first = up("1", &[]);
    assert!(!first.contains("Restoring"), "{first}");
    let worker = "kube-node-1-cluster-30";
    exec(
        &engine,
        worker,
        &[
            "sh",
            "-c",
            "echo kept > /var/lib/i9-file && echo kept > /etc/i9-file",
        ],
    )
    .await;
    let before = nodes_json(&id);

    run_stderr(&["down", "--cluster-id", "30"]);
    assert!(nodes_json(&id).is_empty(), "down leaves no node containers");
    assert_eq!(
        snapshot_images("cluster-30").len(),
        2,
        "down snapshots both nodes"
    );

    let restored = up("1", &[]);
    assert!(
        restored.contains("Restoring cluster-30 from its snapshot"),
        "{restored}"
    );
    assert_eq!(
        exec(
            &engine,
            worker,
            &["cat", "/var/lib/i9-file", "/etc/i9-file"]
        )
        .await,
        "kept\nkept\n"
    );
    let after = nodes_json(&id);
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(field(b, "name"), field(a, "name"));
        assert_eq!(field(b, "ipv4"), field(a, "ipv4"));
        assert_eq!(field(a, "state"), "running");
    }
    assert_eq!(field(&after[1], "ipv4"), "10.192.30.3");

    // Another node count: `up` refuses (exit 2) rather than discard the snapshot, which
    // stays; --skip-snapshot discards it for a full up.
    run_stderr(&["down", "--cluster-id", "30"]);
    let mut args = vec!["up", "--nodes-only", "--image", BARE_IMAGE, "--nodes", "2"];
    args.extend_from_slice(&id);
    let refused = run("docker-dind", &args, &[]);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("2 node(s) and 3 are wanted"), "{stderr}");
    assert!(stderr.contains("--skip-snapshot"), "{stderr}");
    assert_eq!(
        snapshot_images("cluster-30").len(),
        2,
        "the snapshot is kept"
    );
    let skipped = up("2", &["--skip-snapshot"]);
    assert!(skipped.contains("SKIP_SNAPSHOT"), "{skipped}");
    assert!(!skipped.contains("Restoring"), "{skipped}");
    let gone = engine
        .exec(worker, &["test", "-e", "/etc/i9-file"], None)
        .await
        .expect("exec");
    assert_ne!(gone.exit_code, 0, "--skip-snapshot does not restore");

    // `snapshot` of a running cluster, `restore` of a stopped one, then `clean` removes all.
    exec(&engine, worker, &["sh", "-c", "echo y > /etc/i9-file"]).await;
    run_stderr(&["snapshot", "--cluster-id", "30"]);
    assert_eq!(snapshot_images("cluster-30").len(), 3);
    run_stderr(&["down", "--cluster-id", "30", "--skip-snapshot"]);
    let restored = run_stderr(&[
        "restore",
        "--nodes-only",
        "--image",
        BARE_IMAGE,
        "--nodes",
        "2",
        "--cluster-id",
        "30",
    ]);
    assert!(restored.contains("Restoring"), "{restored}");
    assert_eq!(exec(&engine, worker, &["cat", "/etc/i9-file"]).await, "y\n");
    run_stderr(&["clean", "--cluster-id", "30"]);
    assert!(
        snapshot_images("cluster-30").is_empty(),
        "clean removes snapshot images"
    );
    assert!(
        labelled_objects("cluster-30").is_empty(),
        "clean removes volumes too"
    );
    let refused = run(
        "docker-dind",
        &["restore", "--nodes-only", "--cluster-id", "30"],
        &[],
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("no snapshot"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_node_comes_back_with_its_state_and_policy() {
    let Some(engine) = docker().await else { return };
    ensure_images();
    let _clean = CleanOnDrop::cluster(&["--cluster-id", "31"]);
    run_stderr(&[
        "up",
        "--nodes-only",
        "--image",
        BARE_IMAGE,
        "--nodes",
        "0",
        "--cluster-id",
        "31",
    ]);
    let master = "kube-master-cluster-31";
    let policy = docker_cli(&[
        "inspect",
        "-f",
        "{{.HostConfig.RestartPolicy.Name}}",
        master,
    ]);
    assert_eq!(
        String::from_utf8_lossy(&policy.stdout).trim(),
        "unless-stopped"
    );
    exec(
        &engine,
        master,
        &[
            "sh",
            "-c",
            "echo kept > /etc/i9-restart && echo kept > /var/lib/i9-restart",
        ],
    )
    .await;
    assert!(docker_cli(&["restart", master]).status.success());
    let node = dind::node::Node::new(&engine, master);
    dind::cluster::nodes::wait_node_ready(&node, std::time::Duration::from_secs(120))
        .await
        .expect("the restarted node boots");
    assert_eq!(
        exec(
            &engine,
            master,
            &["cat", "/etc/i9-restart", "/var/lib/i9-restart"]
        )
        .await,
        "kept\nkept\n"
    );
    let nodes = nodes_json(&["--cluster-id", "31"]);
    assert_eq!(field(&nodes[0], "ipv4"), "10.192.31.2");
    assert_eq!(field(&nodes[0], "state"), "running");
}

#[tokio::test(flavor = "multi_thread")]
async fn pause_and_unpause_every_node() {
    let Some(_engine) = docker().await else {
        return;
    };
    ensure_images();
    let id = ["--cluster-id", "32"];
    let _clean = CleanOnDrop::cluster(&id);
    run_stderr(&[
        "up",
        "--nodes-only",
        "--image",
        BARE_IMAGE,
        "--nodes",
        "1",
        "--cluster-id",
        "32",
    ]);
    run_stderr(&["pause", "--cluster-id", "32"]);
    let paused = nodes_json(&id);
    assert_eq!(paused.len(), 2);
    assert!(
        paused.iter().all(|n| field(n, "state") == "paused"),
        "{paused:?}"
    );
    run_stderr(&["unpause", "--cluster-id", "32"]);
    let running = nodes_json(&id);
    assert!(
        running.iter().all(|n| field(n, "state") == "running"),
        "{running:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn join_adds_the_next_node_and_remove_node_removes_only_it() {
    let Some(engine) = docker().await else { return };
    ensure_images();
    let id = ["--cluster-id", "33"];
    let _clean = CleanOnDrop::cluster(&id);
    run_stderr(&[
        "up",
        "--nodes-only",
        "--image",
        BARE_IMAGE,
        "--nodes",
        "1",
        "--cluster-id",
        "33",
    ]);
    let joined: Value = serde_json::from_str(&run_ok(
        "docker-dind",
        &["join", "--nodes-only", "--cluster-id", "33", "-o", "json"],
        &[],
    ))
    .expect("join -o json");
    assert_eq!(field(&joined, "node"), "kube-node-2-cluster-33");
    let nodes = nodes_json(&id);
    assert_eq!(nodes.len(), 3);
    assert_eq!(field(&nodes[2], "name"), "kube-node-2-cluster-33");
    assert_eq!(field(&nodes[2], "ipv4"), "10.192.33.4");
    assert_eq!(field(&nodes[2], "state"), "running");
    exec(&engine, "kube-node-2-cluster-33", &["ctr", "version"]).await;

    let refused = run(
        "docker-dind",
        &[
            "remove-node",
            "kube-master-cluster-33",
            "--cluster-id",
            "33",
        ],
        &[],
    );
    assert_eq!(
        refused.status.code(),
        Some(2),
        "removing the master is refused"
    );
    assert!(String::from_utf8_lossy(&refused.stderr).contains("is the master"));

    // A typo gets the closest names; the short name works within the cluster, as
    // `remove-node --help` writes it.
    let typo = run(
        "docker-dind",
        &["remove-node", "kube-node-3", "--cluster-id", "33"],
        &[],
    );
    assert_eq!(typo.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&typo.stderr).contains("did you mean kube-node-1 or kube-node-2?"),
        "{}",
        String::from_utf8_lossy(&typo.stderr)
    );
    run_stderr(&["remove-node", "kube-node-2", "--cluster-id", "33"]);
    let names: Vec<String> = nodes_json(&id).iter().map(|n| field(n, "name")).collect();
    assert_eq!(names, ["kube-master-cluster-33", "kube-node-1-cluster-33"]);
    let objects = labelled_objects("cluster-33");
    assert!(
        !objects.iter().any(|o| o.contains("kube-node-2")),
        "{objects:?}"
    );
    assert!(
        objects
            .iter()
            .any(|o| o.contains("kubeadm-dind-kube-node-1-cluster-33")),
        "{objects:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn load_puts_an_image_into_every_node_once() {
    let Some(engine) = docker().await else { return };
    ensure_images();
    let id = ["--cluster-id", "34"];
    let _clean = CleanOnDrop::cluster(&id);
    let image = format!("i9-load-{}:1", std::process::id());
    let source = format!("i9-load-src-{}", std::process::id());
    let _remove = RemoveOnDrop {
        containers: vec![source.clone()],
        networks: Vec::new(),
        images: vec![image.clone()],
    };
    // ~100 MB of random data on the local base image (no registry here).
    let made = docker_cli(&[
        "run",
        "--name",
        &source,
        dind::image::recipe::BASE_IMAGE,
        "dd",
        "if=/dev/urandom",
        "of=/i9-blob",
        "bs=1M",
        "count=100",
    ]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    assert!(docker_cli(&["commit", &source, &image]).status.success());
    run_stderr(&[
        "up",
        "--nodes-only",
        "--image",
        BARE_IMAGE,
        "--nodes",
        "2",
        "--cluster-id",
        "34",
    ]);

    let missing = run(
        "docker-dind",
        &["load", "i9-no-such-image:1", "--cluster-id", "34"],
        &[],
    );
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("does not exist on the Docker host"));

    let first = run_stderr(&["load", &image, "--cluster-id", "34"]);
    assert!(first.contains("Loading"), "{first}");
    let reference = format!("docker.io/library/{image}");
    for node in [
        "kube-master-cluster-34",
        "kube-node-1-cluster-34",
        "kube-node-2-cluster-34",
    ] {
        let listed = exec(
            &engine,
            node,
            &["ctr", "-n", "k8s.io", "images", "ls", "-q"],
        )
        .await;
        assert!(listed.lines().any(|l| l == reference), "{node}: {listed}");
    }

    let start = Instant::now();
    let output = run(
        "docker-dind",
        &["load", &image, "--cluster-id", "34", "-o", "json"],
        &[],
    );
    let took = start.elapsed();
    assert!(output.status.success());
    let report: Vec<Value> = serde_json::from_slice(&output.stdout).expect("load -o json");
    assert_eq!(report.len(), 3);
    assert!(
        report
            .iter()
            .all(|n| n["loaded"].as_array().is_some_and(Vec::is_empty)),
        "{report:?}"
    );
    assert!(took.as_secs_f64() < 1.0, "a second load took {took:?}");

    // --nodes: only that node gets the image again.
    exec(
        &engine,
        "kube-node-2-cluster-34",
        &["ctr", "-n", "k8s.io", "images", "rm", &reference],
    )
    .await;
    let only: Vec<Value> = serde_json::from_str(&run_ok(
        "docker-dind",
        &[
            "load",
            &image,
            "--node",
            "kube-node-2-cluster-34",
            "--cluster-id",
            "34",
            "-o",
            "json",
        ],
        &[],
    ))
    .expect("load -o json");
    assert_eq!(only.len(), 1);
    assert_eq!(only[0]["node"], "kube-node-2-cluster-34");
    assert_eq!(only[0]["loaded"][0], image.as_str());
    // An unknown node is refused before anything is sent.
    let subset = run(
        "docker-dind",
        &[
            "load",
            &image,
            "--node",
            "kube-node-9",
            "--cluster-id",
            "34",
        ],
        &[],
    );
    assert_eq!(subset.status.code(), Some(2));
}
