//! The commands that act on a running cluster spread over two Docker engines in one swarm
//! (`--docker-hosts`): `load` into the nodes of both engines, `join` and `remove-node` of a
//! worker on the engine its plan position gives. Run by `scripts/test-swarm.sh` once the
//! inner engine has joined the swarm; alone (without `DIND_SWARM_INNER_HOST`) every test
//! here fails under CI=true and is skipped otherwise. Cluster IDs 237-238.

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
/// only, is refused with exit 2.
#[test]
fn load_puts_an_image_into_the_nodes_of_both_engines() {
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

    drop(_clean);
    for engine in [&host, &inner] {
        assert_eq!(labelled_on(engine, "cluster-237"), Vec::<String>::new());
    }
}
