//! Hostile and careless input against the real binaries and a real Docker engine:
//! clusters whose names used to share a key, two `up`s of one cluster at once, and many
//! malformed values that must all be refused before anything is created. Cluster IDs
//! 211–213 (and label `i20a`, whose address ID is 206).

mod support;

use std::process::Output;
use support::*;

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_ups_of_one_cluster_one_wins_and_the_other_says_why() {
    let Some(_engine) = docker().await else {
        return;
    };
    ensure_images();
    let _clean = CleanOnDrop::cluster(&["--cluster-id", "212"]);
    let args = [
        "up",
        "--nodes-only",
        "--nodes",
        "1",
        "--cluster-id",
        "212",
        "--image",
        BARE_IMAGE,
    ];
    // Both plugins at once, as two terminals (or two machines sharing a daemon) would.
    let first = std::thread::spawn(move || run("docker-dind", &args, &[]));
    let second = std::thread::spawn(move || run("kubectl-dind", &args, &[]));
    let outcomes = [
        first.join().expect("first up"),
        second.join().expect("second up"),
    ];
    let won: Vec<&Output> = outcomes.iter().filter(|o| o.status.success()).collect();
    let lost: Vec<&Output> = outcomes.iter().filter(|o| !o.status.success()).collect();
    assert_eq!(
        (won.len(), lost.len()),
        (1, 1),
        "one up wins: {:?}",
        outcomes.iter().map(stderr).collect::<Vec<_>>()
    );
    let why = stderr(lost[0]);
    assert!(
        why.contains("cluster cluster-212 is being created by another `up`"),
        "{why}"
    );
    assert_eq!(why.trim().lines().count(), 1, "one line: {why}");
    // The winner's cluster is whole: the loser's failure removed nothing of it.
    let nodes: Vec<serde_json::Value> = serde_json::from_str(&run_ok(
        "docker-dind",
        &["nodes", "--cluster-id", "212", "-o", "json"],
        &[],
    ))
    .expect("nodes -o json");
    let running: Vec<&str> = nodes
        .iter()
        .filter(|n| n["state"] == "running")
        .filter_map(|n| n["name"].as_str())
        .collect();
    assert_eq!(
        running,
        ["kube-master-cluster-212", "kube-node-1-cluster-212"]
    );
    let mut objects = labelled_objects("cluster-212");
    objects.sort();
    assert_eq!(
        objects,
        [
            "container kube-master-cluster-212",
            "container kube-node-1-cluster-212",
            "network kubeadm-dind-net-cluster-212",
            "volume kubeadm-dind-kube-master-cluster-212",
            "volume kubeadm-dind-kube-node-1-cluster-212",
        ],
        "the cluster is whole and the lock is gone"
    );
}

/// A kubeconfig with one context per name, as `up` would write them.
fn kubeconfig_with(contexts: &[&str]) -> String {
    let mut text = String::from("apiVersion: v1\nkind: Config\nclusters:\n");
    for name in contexts {
        text.push_str(&format!(
            "- name: {name}\n  cluster:\n    server: https://127.0.0.1:1\n"
        ));
    }
    text.push_str("users:\n");
    for name in contexts {
        text.push_str(&format!("- name: {name}\n  user:\n    token: i20\n"));
    }
    text.push_str("contexts:\n");
    for name in contexts {
        text.push_str(&format!(
            "- name: {name}\n  context:\n    cluster: {name}\n    user: {name}\n"
        ));
    }
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn clean_of_one_cluster_leaves_a_similar_name_whole() {
    let Some(_engine) = docker().await else {
        return;
    };
    ensure_images();
    // The names that used to share a key with another cluster are refused outright.
    for (label, id) in [("default", "0"), ("i20a-213", "0"), ("cluster", "213")] {
        for plugin in ["kubectl-dind", "docker-dind"] {
            let out = run(
                plugin,
                &["up", "--dry-run", "--label", label, "--cluster-id", id],
                &[],
            );
            let why = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{label}: {why}");
            assert!(why.contains("invalid label"), "{label}: {why}");
        }
    }
    let with_id = ["--label", "i20a", "--cluster-id", "213"];
    let without = ["--label", "i20a"];
    let _clean_with_id = CleanOnDrop::cluster(&with_id);
    let _clean_without = CleanOnDrop::cluster(&without);
    let home = tempfile::tempdir().expect("tempdir");
    let kubeconfig = home.path().join("config");
    std::fs::write(
        &kubeconfig,
        kubeconfig_with(&["dind-i20a", "dind-i20a-213"]),
    )
    .expect("kubeconfig");
    let env = [("KUBECONFIG", kubeconfig.to_str().expect("utf-8 path"))];
    for flags in [&with_id[..], &without[..]] {
        let mut args = vec!["up", "--nodes-only", "--nodes", "0", "--image", BARE_IMAGE];
        args.extend_from_slice(flags);
        run_ok("docker-dind", &args, &env);
    }
    let before = labelled_objects("i20a-213");
    assert_eq!(before.len(), 3, "container, volume, network: {before:?}");
    assert_eq!(labelled_objects("i20a").len(), 3);

    let mut clean = vec!["clean"];
    clean.extend_from_slice(&without);
    run_ok("kubectl-dind", &clean, &env);
    assert!(labelled_objects("i20a").is_empty());
    assert_eq!(
        labelled_objects("i20a-213"),
        before,
        "the other cluster is whole"
    );
    let left = std::fs::read_to_string(&kubeconfig).expect("kubeconfig");
    assert!(left.contains("name: dind-i20a-213"), "{left}");
    assert!(!left.contains("name: dind-i20a\n"), "{left}");
}
