//! The commands that act on a running cluster spread over two Docker engines in one swarm
//! (`--docker-hosts`): `load` into the nodes of both engines, `dump` of each node on its
//! engine, `join` and `remove-node` of a worker on the engine its plan position gives.
//! Run by `scripts/test-swarm.sh` once the inner engine has joined the swarm; alone
//! (without `DIND_SWARM_INNER_HOST`) every test here fails under CI=true and is skipped
//! otherwise. Cluster IDs 237-238.

mod support;

use support::swarm::{docker_on, engines, labelled_on, CleanBoth};
use support::{build_busybox_image, ensure_images, run, run_ok, RemoveOnDrop, BARE_IMAGE};

/// `docker -H HOST exec NODE ARGS...`, which must succeed; its stdout.
fn exec_on(host: &str, node: &str, args: &[&str]) -> String {
    let out = docker_on(host, &[&["exec", node], args].concat());
    assert!(
        out.status.success(),
        "{node} on {host}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The body of section `name` of a dump (`@@@ name @@@` up to the next marker).
fn section(dump: &str, name: &str) -> String {
    let marker = format!("@@@ {name} @@@\n");
    let start = dump
        .find(&marker)
        .unwrap_or_else(|| panic!("the dump has no section {name}"))
        + marker.len();
    let rest = &dump[start..];
    rest[..rest.find("@@@ ").unwrap_or(rest.len())].to_string()
}

/// `up --nodes-only --nodes 1` over both engines: the master on the host's, the worker on
/// the inner one.
fn up_spread(select: &[&str]) {
    let mut up = vec!["up", "--nodes-only", "--nodes", "1", "--image", BARE_IMAGE];
    up.extend(select);
    run_ok("docker-dind", &up, &[]);
}

/// `load` sends a host image into the master on the host's engine and the worker on the
/// inner engine (one export, each node importing on its own engine); a second `load`
/// finds both holding it and sends nothing; `--via-registry`, which works on one engine
/// only, is refused with exit 2. `dump` then reads each node's sections on its engine.
#[test]
fn load_and_dump_reach_the_nodes_of_both_engines() {
    let Some((host, inner)) = engines() else {
        return;
    };
    ensure_images();
    let hosts = format!("{host},{inner}");
    let select = ["--cluster-id", "237", "--docker-hosts", &hosts];
    let _clean = CleanBoth(select.iter().map(|s| s.to_string()).collect());
    let image = "dind-swarm-cmds:237";
    let mut remove = RemoveOnDrop::default();
    build_busybox_image(image, &mut remove);
    up_spread(&select);

    let first: serde_json::Value = serde_json::from_str(&run_ok(
        "docker-dind",
        &[&["load", image, "-o", "json"], &select[..]].concat(),
        &[],
    ))
    .expect("load -o json");
    let first = first.as_array().expect("one row per node");
    assert_eq!(first.len(), 2, "{first:?}");
    assert!(first.iter().all(|n| n["loaded"][0] == image), "{first:?}");
    let reference = format!("docker.io/library/{image}");
    for (engine, node) in [
        (&host, "kube-master-cluster-237"),
        (&inner, "kube-node-1-cluster-237"),
    ] {
        let listed = exec_on(engine, node, &["ctr", "-n", "k8s.io", "images", "ls", "-q"]);
        assert!(
            listed.lines().any(|l| l == reference),
            "{node} on {engine}: {listed}"
        );
    }

    let again: serde_json::Value = serde_json::from_str(&run_ok(
        "docker-dind",
        &[&["load", image, "-o", "json"], &select[..]].concat(),
        &[],
    ))
    .expect("load -o json");
    assert!(
        again
            .as_array()
            .expect("one row per node")
            .iter()
            .all(|n| n["loaded"].as_array().is_some_and(Vec::is_empty) && n["skipped"][0] == image),
        "{again}"
    );

    let via = run(
        "docker-dind",
        &[&["load", image, "--via-registry"], &select[..]].concat(),
        &[],
    );
    assert_eq!(via.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&via.stderr).contains("--docker-hosts"),
        "{}",
        String::from_utf8_lossy(&via.stderr)
    );

    // `dump` reads each node on its own engine: the worker's sections come from the
    // inner engine, with its overlay address, and none says it could not be read.
    let dump = run_ok("kubectl-dind", &[&["dump"], &select[..]].concat(), &[]);
    for (engine, node) in [
        (&host, "kube-master-cluster-237"),
        (&inner, "kube-node-1-cluster-237"),
    ] {
        let address = docker_on(
            engine,
            &[
                "inspect",
                "--format",
                "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
                node,
            ],
        );
        let address = String::from_utf8_lossy(&address.stdout).trim().to_string();
        assert!(!address.is_empty(), "{node} has an address on {engine}");
        let ip_a = section(&dump, &format!("ip-a-{node}.txt"));
        assert!(ip_a.contains(&format!("inet {address}/")), "{node}: {ip_a}");
        for file in [format!("psaux-{node}.txt"), format!("docker-{node}.log")] {
            let body = section(&dump, &file);
            assert!(!body.trim().is_empty(), "{file} is empty");
            assert!(!body.starts_with("dump: could not"), "{file}: {body}");
        }
    }

    drop(_clean);
    for engine in [&host, &inner] {
        assert_eq!(labelled_on(engine, "cluster-237"), Vec::<String>::new());
    }
}

/// The routes of `node` on `engine`, as `ip -4 route` prints them.
fn routes_of(engine: &str, node: &str) -> String {
    exec_on(engine, node, &["ip", "-4", "route"])
}

/// `join` puts each new worker on the engine its plan position gives (node 2 beside the
/// master on the host's engine, node 3 on the inner one), at its plan address; it reaches
/// the master by name across the overlay, carries the overlay's MTU in its CNI config, and
/// every node on both engines routes to its pods. `join` without the cluster's engine list
/// is refused with exit 2. `remove-node` removes node 3 from the inner engine and takes
/// the other nodes' routes to it away.
#[test]
fn join_and_remove_node_act_on_the_engine_of_each_node() {
    let Some((host, inner)) = engines() else {
        return;
    };
    ensure_images();
    let hosts = format!("{host},{inner}");
    let select = ["--cluster-id", "238", "--docker-hosts", &hosts];
    let _clean = CleanBoth(select.iter().map(|s| s.to_string()).collect());
    let mut dry = vec!["up", "--nodes-only", "--nodes", "3", "--image", BARE_IMAGE];
    dry.extend(select);
    dry.extend(["--dry-run", "-o", "json"]);
    let plan: serde_json::Value =
        serde_json::from_str(&run_ok("docker-dind", &dry, &[])).expect("the plan is JSON");
    let planned_ipv4 = |name: &str| -> String {
        plan["nodes"]
            .as_array()
            .expect("plan nodes")
            .iter()
            .find(|n| n["name"] == name)
            .and_then(|n| n["ipv4"].as_str())
            .unwrap_or_else(|| panic!("{name} is planned: {plan}"))
            .to_string()
    };
    up_spread(&select);
    let master = "kube-master-cluster-238";
    let listen = docker_on(
        &host,
        &[
            "exec",
            "-d",
            master,
            "socat",
            "TCP-LISTEN:7777,fork,reuseaddr",
            "EXEC:cat",
        ],
    );
    assert!(listen.status.success());

    let alone = run(
        "docker-dind",
        &["join", "--nodes-only", "--cluster-id", "238"],
        &[],
    );
    let stderr = String::from_utf8_lossy(&alone.stderr);
    assert_eq!(alone.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("pass the same list"), "{stderr}");

    let mut addresses = Vec::new();
    for (name, engine) in [
        ("kube-node-2-cluster-238", &host),
        ("kube-node-3-cluster-238", &inner),
    ] {
        let joined: serde_json::Value = serde_json::from_str(&run_ok(
            "docker-dind",
            &[&["join", "--nodes-only", "-o", "json"], &select[..]].concat(),
            &[],
        ))
        .expect("join -o json");
        assert_eq!(joined["node"], name, "{joined}");
        let ipv4 = planned_ipv4(name);
        assert_eq!(joined["ipv4"], ipv4.as_str(), "{joined}");
        let network = format!(
            "{{{{(index .NetworkSettings.Networks \"{}\").IPAddress}}}}",
            plan["network"]["name"]
                .as_str()
                .expect("the plan names its network")
        );
        let inspected = docker_on(engine, &["inspect", "--format", &network, name]);
        assert_eq!(
            String::from_utf8_lossy(&inspected.stdout).trim(),
            ipv4,
            "{name} runs on {engine} at its plan address: {}",
            String::from_utf8_lossy(&inspected.stderr)
        );
        let script = format!(
            "head -c 3000 /dev/zero | tr '\\0' x | \
             socat -t2 - TCP:{master}:7777,connect-timeout=5,retry=20,interval=0.2 | wc -c"
        );
        assert_eq!(exec_on(engine, name, &["sh", "-c", &script]).trim(), "3000");
        let conf = exec_on(engine, name, &["cat", "/etc/cni/net.d/10-dind.conflist"]);
        let conf: serde_json::Value = serde_json::from_str(&conf).expect("CNI config list");
        assert_eq!(conf["plugins"][0]["mtu"], 1450, "{name}: {conf}");
        addresses.push(ipv4);
    }
    let node3 = format!("via {} ", addresses[1]);
    for (engine, node) in [
        (&host, master),
        (&host, "kube-node-2-cluster-238"),
        (&inner, "kube-node-1-cluster-238"),
    ] {
        let routes = routes_of(engine, node);
        assert!(
            routes.contains(&node3),
            "{node} routes to node 3's pods: {routes}"
        );
    }
    let node2 = format!("via {} ", addresses[0]);
    let routes = routes_of(&inner, "kube-node-3-cluster-238");
    assert!(
        routes.contains(&node2),
        "node 3 routes to node 2's pods: {routes}"
    );

    run_ok(
        "docker-dind",
        &[&["remove-node", "kube-node-3"], &select[..]].concat(),
        &[],
    );
    let left = docker_on(
        &inner,
        &[
            "ps",
            "-a",
            "--format",
            "{{.Names}}",
            "--filter",
            "label=dind.cluster=cluster-238",
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&left.stdout).trim(),
        "kube-node-1-cluster-238"
    );
    let volumes = docker_on(&inner, &["volume", "ls", "-q"]);
    assert!(!String::from_utf8_lossy(&volumes.stdout).contains("kube-node-3-cluster-238"));
    for (engine, node) in [(&host, master), (&inner, "kube-node-1-cluster-238")] {
        let routes = routes_of(engine, node);
        assert!(
            !routes.contains(&node3),
            "{node} no longer routes to node 3: {routes}"
        );
    }

    drop(_clean);
    for engine in [&host, &inner] {
        assert_eq!(labelled_on(engine, "cluster-238"), Vec::<String>::new());
    }
}
