//! The README's nodes-only workflow, run as written on a real Docker engine with no
//! Kubernetes download reachable, and the snapshot's layer count over down/up cycles.
//! Cluster IDs 181–182 (issue 18's range).

mod support;

use support::*;

/// Where no Kubernetes download can come from: nothing listens on port 9.
const UNREACHABLE: &str = "http://127.0.0.1:9/release";

/// The commands of the fenced `sh` block under `heading` in the README, split at `&&`,
/// without comments.
fn readme_commands(heading: &str) -> Vec<Vec<String>> {
    let readme = std::fs::read_to_string(workspace().join("README.md")).expect("README.md");
    let section = readme
        .split(&format!("\n{heading}\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("README has no {heading:?} section"));
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("the section has an sh block");
    block
        .lines()
        .map(|line| line.split(" #").next().unwrap_or_default())
        .flat_map(|line| line.split("&&").map(str::to_string).collect::<Vec<_>>())
        .map(|command| command.split_whitespace().map(str::to_string).collect())
        .filter(|words: &Vec<String>| !words.is_empty())
        .collect()
}

/// Repository:tag names of the images carrying the cluster's label, and untagged IDs.
fn labelled_images(cluster_key: &str) -> Vec<String> {
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
        .map(str::to_string)
        .collect()
}

fn layers(image: &str) -> usize {
    let out = docker_cli(&["image", "inspect", "-f", "{{len .RootFS.Layers}}", image]);
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{image} has no layer count"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_readme_nodes_only_workflow_runs_offline_and_keeps_the_snapshot() {
    let Some(engine) = docker().await else { return };
    ensure_images();
    let env = [
        ("CLUSTER_ID", "181"),
        ("DIND_KUBE_DOWNLOAD_URL", UNREACHABLE),
    ];
    let _clean = CleanOnDrop::cluster(&["--cluster-id", "181"]);
    run_ok("docker-dind", &["clean"], &env);
    let commands = readme_commands("### Nodes only");
    assert!(commands.len() >= 7, "{commands:?}");
    for words in &commands {
        assert_eq!(words[..2], ["docker", "dind"], "{words:?}");
        let args: Vec<&str> = words[2..].iter().map(String::as_str).collect();
        if args[0] == "clean" {
            continue;
        }
        let stdout = run_ok("docker-dind", &args, &env);
        match args[0] {
            "up" => {
                exec(
                    &engine,
                    "kube-node-1-cluster-181",
                    &["sh", "-c", "echo kept > /etc/i18-kept && rm /etc/issue"],
                )
                .await;
            }
            "nodes" => assert!(stdout.contains("kube-node-1-cluster-181"), "{stdout}"),
            "restore" => {
                assert_eq!(
                    labelled_images("cluster-181").len(),
                    2,
                    "restore keeps both snapshot images"
                );
                let files = exec(
                    &engine,
                    "kube-node-1-cluster-181",
                    &[
                        "sh",
                        "-c",
                        "cat /etc/i18-kept; test -e /etc/issue || echo gone",
                    ],
                )
                .await;
                assert_eq!(files, "kept\ngone\n");
            }
            _ => {}
        }
    }
    // A restore that asks for something else is refused and keeps the snapshot.
    run_ok("docker-dind", &["down"], &env);
    let refused = run("docker-dind", &["restore", "--nodes", "3"], &env);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("--nodes asks 3 where the snapshot has 1"),
        "{stderr}"
    );
    assert_eq!(labelled_images("cluster-181").len(), 2);
    // So is an up that would discard it.
    let refused = run("docker-dind", &["up", "--nodes-only"], &env);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--skip-snapshot"), "{stderr}");
    assert_eq!(labelled_images("cluster-181").len(), 2);

    let clean = commands.last().expect("a clean command");
    assert_eq!(clean[2], "clean");
    run_ok("docker-dind", &["clean"], &env);
    assert!(labelled_objects("cluster-181").is_empty());
    assert!(labelled_images("cluster-181").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_down_up_cycles_keep_the_snapshot_one_layer_above_the_node_image() {
    let Some(engine) = docker().await else { return };
    ensure_images();
    let id = ["--cluster-id", "182"];
    let _clean = CleanOnDrop::cluster(&id);
    run_ok("docker-dind", &["clean", "--cluster-id", "182"], &[]);
    let up = ["up", "--nodes-only", "--nodes", "0", "--cluster-id", "182"];
    run_ok("docker-dind", &up, &[]);
    let master = "kube-master-cluster-182";
    let snapshot = "dind-snapshot:kube-master-cluster-182";
    let node_layers = layers(BARE_IMAGE);
    for cycle in 1..=10 {
        match cycle {
            1 => {
                exec(&engine, master, &["sh", "-c", "echo kept > /etc/i18-kept"]).await;
            }
            2 => {
                exec(&engine, master, &["rm", "/etc/issue"]).await;
            }
            _ => {}
        }
        run_ok("docker-dind", &["down", "--cluster-id", "182"], &[]);
        assert_eq!(layers(snapshot), node_layers + 1, "cycle {cycle}");
        assert_eq!(
            labelled_images("cluster-182"),
            [snapshot],
            "cycle {cycle}: the replaced snapshot is gone"
        );
        run_ok("docker-dind", &up, &[]);
    }
    let files = exec(
        &engine,
        master,
        &[
            "sh",
            "-c",
            "cat /etc/i18-kept; test -e /etc/issue || echo gone",
        ],
    )
    .await;
    assert_eq!(files, "kept\ngone\n");
    run_ok("docker-dind", &["snapshot", "--cluster-id", "182"], &[]);
    run_ok("docker-dind", &["snapshot", "--cluster-id", "182"], &[]);
    run_ok("docker-dind", &["clean", "--cluster-id", "182"], &[]);
    assert!(labelled_images("cluster-182").is_empty());
    assert!(labelled_objects("cluster-182").is_empty());
}
