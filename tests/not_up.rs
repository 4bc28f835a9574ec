//! Commands on a cluster that does not exist: the ones that need it running say in one
//! line that it is not up, with the `up` command (not Docker's 404 about a container),
//! and `down`/`clean`/`pause` say there is nothing to do. Nothing is created.
//! Cluster ID 189 (issue 18's range), which no test brings up.

mod support;

use support::*;

const ID: &str = "189";
const KEY: &str = "cluster-189";

#[tokio::test(flavor = "multi_thread")]
async fn commands_on_a_cluster_that_is_not_up_say_so_in_one_line() {
    let Some(_engine) = docker().await else {
        return;
    };
    assert!(labelled_objects(KEY).is_empty(), "cluster {KEY} exists");
    let needs_running: [(&str, &[&str]); 9] = [
        ("docker-dind", &["apiserver-port"]),
        ("kubectl-dind", &["apiserver-port"]),
        ("docker-dind", &["snapshot"]),
        ("docker-dind", &["pause"]),
        ("docker-dind", &["unpause"]),
        ("docker-dind", &["remove-node", "kube-node-1"]),
        ("docker-dind", &["load", "no-such-image:never"]),
        ("docker-dind", &["join", "--nodes-only"]),
        ("kubectl-dind", &["e2e"]),
    ];
    for (bin, args) in needs_running {
        let mut args = args.to_vec();
        args.extend(["--cluster-id", ID]);
        let out = run(bin, &args, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let what = format!("{bin} {}", args.join(" "));
        assert_eq!(out.status.code(), Some(1), "{what}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{what}: one line: {stderr}");
        assert!(
            stderr.contains(&format!("cluster {KEY} is not up"))
                && stderr.contains(&format!("`kubectl dind up --cluster-id {ID}`")),
            "{what}: {stderr}"
        );
        assert!(!stderr.contains("404"), "{what}: {stderr}");
    }
    let nothing: [(&str, &[&str], &str); 3] = [
        ("docker-dind", &["down"], "nothing to remove"),
        ("kubectl-dind", &["clean"], "nothing to remove"),
        ("docker-dind", &["nodes"], "no node containers"),
    ];
    for (bin, args, says) in nothing {
        let mut args = args.to_vec();
        args.extend(["--cluster-id", ID]);
        let out = run(bin, &args, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{bin} {args:?}: {stderr}");
        assert!(stderr.contains(says), "{bin} {args:?}: {stderr}");
    }
    assert!(
        labelled_objects(KEY).is_empty(),
        "a command created something"
    );
}
