//! One cluster over two Docker engines in one swarm (`--docker-hosts`): this machine's
//! daemon (the manager) and a Docker 28 engine in a container (a worker). Run by
//! `scripts/test-swarm.sh`, which starts the inner engine, makes the swarm, runs
//! `swarm_preflight_*` before the inner engine joins and the rest after, and dissolves the
//! swarm. Alone (without `DIND_SWARM_INNER_HOST`) every test here fails under CI=true and
//! is skipped otherwise. Cluster IDs 241-249.

mod support;

use std::process::{Command, Stdio};
use support::swarm::{docker_on, engines, labelled_on, plan_and_up, CleanBoth};
use support::{ensure_images, run, run_ok, BARE_IMAGE};

/// Pre-flight refuses an engine outside the swarm with exit 2 and the join command, and
/// creates nothing on either engine. The script runs this before the inner engine joins.
#[test]
fn swarm_preflight_refuses_an_engine_outside_the_swarm() {
    let Some((host, inner)) = engines() else {
        return;
    };
    ensure_images();
    let hosts = format!("{host},{inner}");
    let out = run(
        "docker-dind",
        &[
            "up",
            "--nodes-only",
            "--nodes",
            "1",
            "--cluster-id",
            "241",
            "--image",
            BARE_IMAGE,
            "--docker-hosts",
            &hosts,
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let join = format!("docker -H {inner} swarm join --token SWMTKN-");
    assert!(stderr.contains("is not in a swarm"), "{stderr}");
    assert!(stderr.contains(&join), "{stderr}");
    for engine in [&host, &inner] {
        assert_eq!(labelled_on(engine, "cluster-241"), Vec::<String>::new());
    }
}

/// Four nodes over two engines: master and the second worker on the host's engine, the
/// other two on the inner one, each at its plan address on the overlay; they reach each
/// other by address and by name, with the overlay's MTU on their interfaces and in their
/// CNI config; `nodes`
/// names each node's engine; `clean` leaves nothing on either engine.
#[test]
fn nodes_spread_over_two_engines() {
    let Some((host, inner)) = engines() else {
        return;
    };
    ensure_images();
    let hosts = format!("{host},{inner}");
    let select = ["--cluster-id", "242", "--docker-hosts", &hosts];
    let _clean = CleanBoth(select.iter().map(|s| s.to_string()).collect());
    let mut up = vec!["up", "--nodes-only", "--nodes", "3", "--image", BARE_IMAGE];
    up.extend(select);
    let plan = plan_and_up(&up);
    assert_eq!(
        plan["placement"],
        serde_json::json!([
            {"engine": host, "nodes": ["kube-master-cluster-242", "kube-node-2-cluster-242"]},
            {"engine": inner, "nodes": ["kube-node-1-cluster-242", "kube-node-3-cluster-242"]},
        ])
    );

    let mut nodes = vec!["nodes", "-o", "json"];
    nodes.extend(select);
    let rows: serde_json::Value =
        serde_json::from_str(&run_ok("docker-dind", &nodes, &[])).expect("nodes -o json");
    let rows = rows.as_array().expect("a list of nodes");
    assert_eq!(rows.len(), 4, "{rows:?}");
    for (row, planned) in rows
        .iter()
        .zip(plan["nodes"].as_array().expect("plan nodes"))
    {
        let name = row["name"].as_str().expect("a name");
        assert_eq!(row["name"], planned["name"]);
        assert_eq!(
            row["ipv4"], planned["ipv4"],
            "{name} is at its plan address"
        );
        let engine = row["engine"].as_str().expect("each node names its engine");
        let on_engine = docker_on(engine, &["inspect", "--format", "{{.State.Running}}", name]);
        assert_eq!(
            String::from_utf8_lossy(&on_engine.stdout).trim(),
            "true",
            "{name} runs on {engine}"
        );
    }

    // Every node reaches every other by address and by name: 3,000 bytes sent through a
    // socat echo come back whole. Each node's interface on the overlay has its MTU (1450),
    // and its CNI config carries the same for the pods.
    for node in rows {
        let (name, engine) = (
            node["name"].as_str().unwrap(),
            node["engine"].as_str().unwrap(),
        );
        let listen = docker_on(
            engine,
            &[
                "exec",
                "-d",
                name,
                "socat",
                "TCP-LISTEN:7777,fork,reuseaddr",
                "EXEC:cat",
            ],
        );
        assert!(
            listen.status.success(),
            "{}",
            String::from_utf8_lossy(&listen.stderr)
        );
        let mtu = docker_on(engine, &["exec", name, "cat", "/sys/class/net/eth0/mtu"]);
        assert_eq!(
            String::from_utf8_lossy(&mtu.stdout).trim(),
            "1450",
            "{name}"
        );
        let conf = docker_on(
            engine,
            &["exec", name, "cat", "/etc/cni/net.d/10-dind.conflist"],
        );
        let conf: serde_json::Value =
            serde_json::from_slice(&conf.stdout).expect("the CNI config list is JSON");
        assert_eq!(conf["plugins"][0]["mtu"], 1450, "{name}: {conf}");
    }
    for from in rows {
        let (from_name, from_engine) = (
            from["name"].as_str().unwrap(),
            from["engine"].as_str().unwrap(),
        );
        for to in rows {
            if to["name"] == from["name"] {
                continue;
            }
            for target in [to["ipv4"].as_str().unwrap(), to["name"].as_str().unwrap()] {
                let script = format!(
                    "head -c 3000 /dev/zero | tr '\\0' x | \
                     socat -t2 - TCP:{target}:7777,connect-timeout=5,retry=20,interval=0.2 | wc -c"
                );
                let out = docker_on(from_engine, &["exec", from_name, "sh", "-c", &script]);
                assert_eq!(
                    String::from_utf8_lossy(&out.stdout).trim(),
                    "3000",
                    "{from_name} on {from_engine} to {target}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }

    let mut clean = vec!["clean"];
    clean.extend(select);
    run_ok("docker-dind", &clean, &[]);
    for engine in [&host, &inner] {
        assert_eq!(
            labelled_on(engine, "cluster-242"),
            Vec::<String>::new(),
            "on {engine}"
        );
    }
}

/// The inner engine stops while `up` creates the nodes: the run fails and removes what it
/// made on the host's engine. Then `clean` of a cluster that was up on both engines
/// removes its part on the host's engine and names the engine it could not reach. The
/// script runs this last: the inner engine stays down.
#[test]
fn engine_gone_during_up_rolls_back() {
    let Some((host, inner)) = engines() else {
        return;
    };
    let container = std::env::var("DIND_SWARM_INNER_CONTAINER")
        .expect("scripts/test-swarm.sh names the inner engine's container");
    ensure_images();
    let hosts = format!("{host},{inner}");
    // A cluster up on both engines before the inner one goes.
    let standing = ["--cluster-id", "246", "--docker-hosts", &hosts];
    let _clean_standing = CleanBoth(standing.iter().map(|s| s.to_string()).collect());
    let mut up_standing = vec!["up", "--nodes-only", "--nodes", "1", "--image", BARE_IMAGE];
    up_standing.extend(standing);
    run_ok("docker-dind", &up_standing, &[]);
    let select = ["--cluster-id", "245", "--docker-hosts", &hosts];
    let mut up = vec!["up", "--nodes-only", "--nodes", "3", "--image", BARE_IMAGE];
    up.extend(select);
    let mut running = Command::new(support::bin("docker-dind"))
        .args(&up)
        .env("KUBECONFIG", support::test_kubeconfig())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("docker-dind up starts");
    // Halfway: once a node of the cluster exists on the inner engine.
    let filter = "label=dind.cluster=cluster-245";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        let out = docker_on(&inner, &["ps", "-aq", "--filter", filter]);
        if !String::from_utf8_lossy(&out.stdout).trim().is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no node appeared on {inner}"
        );
        if let Ok(Some(status)) = running.try_wait() {
            panic!("up ended ({status}) before a node appeared on {inner}");
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let stopped = support::docker_cli(&["stop", "-t", "1", &container]);
    assert!(
        stopped.status.success(),
        "{}",
        String::from_utf8_lossy(&stopped.stderr)
    );
    let out = running.wait_with_output().expect("up ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "up succeeded without its engine: {stderr}"
    );
    assert_eq!(
        labelled_on(&host, "cluster-245"),
        Vec::<String>::new(),
        "the host's engine keeps nothing: {stderr}"
    );

    let mut clean = vec!["clean"];
    clean.extend(standing);
    let out = run("docker-dind", &clean, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "clean succeeded without its engine: {stderr}"
    );
    assert!(stderr.contains("could not reach"), "{stderr}");
    assert!(
        stderr.contains(inner.as_str()),
        "the error names the engine: {stderr}"
    );
    // The swarm may still hold the gone engine's attachment to the overlay: then the
    // network is all that stays, and the error names it.
    let network = "network kubeadm-dind-net-cluster-246".to_string();
    let left = labelled_on(&host, "cluster-246");
    assert!(
        left.is_empty() || left == vec![network.clone()],
        "clean removed the host's part: {left:?} {stderr}"
    );
    if !left.is_empty() {
        assert!(
            stderr.contains("kept") && stderr.contains("kubeadm-dind-net-cluster-246"),
            "{stderr}"
        );
    }
}
