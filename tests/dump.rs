//! `kubectl dind dump`, `dump64`, `split-dump`, `split-dump64` and `contexts` on real
//! nodes (`up --nodes-only`, cluster IDs 45–47): every per-node section with real
//! content, byte-identical round trips (also out of a timestamp-prefixed CI log), names
//! that would escape the output directory, and the contexts' running state.

mod support;

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use support::*;

/// Runs `kubectl-dind` with `input` on stdin.
fn kubectl_dind_with_input(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(bin("kubectl-dind"))
        .args(args)
        .env("KUBECONFIG", test_kubeconfig())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl-dind runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write stdin");
    child.wait_with_output().expect("kubectl-dind finishes")
}

fn assert_ok(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Every file under `dir`, by relative path.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let data = std::fs::read(&path).expect("read");
                files.insert(path.strip_prefix(dir).unwrap().to_path_buf(), data);
            }
        }
    }
    files
}

/// The (name, body) sections of a dump, in order.
fn sections(dump: &[u8]) -> Vec<(String, String)> {
    dind::dump::format::parse(dump)
        .into_iter()
        .map(|(n, b)| {
            (
                String::from_utf8(n).unwrap(),
                String::from_utf8_lossy(&b).into_owned(),
            )
        })
        .collect()
}

fn nodes_json(flags: &[&str]) -> Vec<Value> {
    let mut args = vec!["nodes", "-o", "json"];
    args.extend_from_slice(flags);
    serde_json::from_str(&run_ok("docker-dind", &args, &[])).expect("nodes -o json is JSON")
}

fn kubeconfig_with(contexts: &[(&str, &str)], current: &str) -> String {
    let mut text = format!("apiVersion: v1\nkind: Config\ncurrent-context: {current}\nclusters:\n");
    for (name, server) in contexts {
        text.push_str(&format!(
            "- name: {name}\n  cluster:\n    server: {server}\n    insecure-skip-tls-verify: true\n"
        ));
    }
    text.push_str("users:\n");
    for (name, _) in contexts {
        text.push_str(&format!("- name: {name}\n  user:\n    token: i10-test\n"));
    }
    text.push_str("contexts:\n");
    for (name, _) in contexts {
        text.push_str(&format!(
            "- name: {name}\n  context:\n    cluster: {name}\n    user: {name}\n"
        ));
    }
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn dump_of_real_nodes_and_round_trips() {
    let Some(_engine) = docker().await else {
        return;
    };
    ensure_images();
    let _clean = CleanOnDrop::cluster(&["--cluster-id", "45"]);
    run_ok(
        "kubectl-dind",
        &[
            "up",
            "--nodes-only",
            "--nodes",
            "1",
            "--cluster-id",
            "45",
            "--image",
            BARE_IMAGE,
        ],
        &[],
    );
    let nodes = nodes_json(&["--cluster-id", "45"]);
    assert_eq!(nodes.len(), 2);
    let master_ip = nodes[0]["ipv4"].as_str().expect("the master's address");
    let work = tempfile::tempdir().unwrap();
    let kubeconfig = work.path().join("kubeconfig");

    // A --nodes-only cluster has no context: the node sections come anyway.
    let dump = run("kubectl-dind", &["dump", "--cluster-id", "45"], &[]);
    assert_ok(&dump, "dump");
    let dumped = sections(&dump.stdout);
    let body = |name: &str| {
        dumped
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b.as_str())
            .unwrap_or_else(|| {
                panic!(
                    "no section {name}: {:?}",
                    dumped.iter().map(|(n, _)| n).collect::<Vec<_>>()
                )
            })
    };
    for node in ["kube-master-cluster-45", "kube-node-1-cluster-45"] {
        let containerd = body(&format!("service-{node}-containerd.log"));
        assert!(
            containerd.contains("containerd.service") && containerd.contains("active (running)"),
            "{containerd}"
        );
        // The bare image has no kubelet; its section says so rather than vanishing.
        let kubelet = body(&format!("service-{node}-kubelet.log"));
        assert!(kubelet.contains("kubelet"), "{kubelet}");
        let ps = body(&format!("psaux-{node}.txt"));
        assert!(ps.starts_with("USER") && ps.contains("containerd"), "{ps}");
        let containers = body(&format!("containers-{node}.txt"));
        assert!(containers.contains("CONTAINER"), "{containers}");
        assert!(body(&format!("ip-r-{node}.txt")).contains("default via"));
        let console = body(&format!("docker-{node}.log"));
        assert!(console.contains("Reached target"), "{console}");
    }
    let ip_a = body("ip-a-kube-master-cluster-45.txt");
    assert!(
        ip_a.contains(&format!("inet {master_ip}/")),
        "the master's plan address {master_ip} in:\n{ip_a}"
    );
    assert!(body("api-server.txt").contains("no context dind-cluster-45"));

    // dump | split-dump: the tree holds each section byte for byte.
    let plain_dir = work.path().join("plain");
    let plain_dir_arg = plain_dir.to_str().unwrap();
    let split = kubectl_dind_with_input(&["split-dump", "--dir", plain_dir_arg], &dump.stdout);
    assert_ok(&split, "split-dump");
    let plain = tree(&plain_dir);
    assert_eq!(plain.len(), dumped.len());
    let mut rebuilt = Vec::new();
    for (name, _) in &dumped {
        rebuilt.extend_from_slice(format!("@@@ {name} @@@\n").as_bytes());
        rebuilt.extend_from_slice(&plain[Path::new(name)]);
    }
    assert!(
        rebuilt == dump.stdout,
        "split-dump's files rebuild the dump"
    );

    // A context whose API server does not answer: still every node section.
    std::fs::write(
        &kubeconfig,
        kubeconfig_with(
            &[("dind-cluster-45", "https://127.0.0.1:1")],
            "dind-cluster-45",
        ),
    )
    .unwrap();
    let dump64 = run(
        "kubectl-dind",
        &[
            "dump64",
            "--cluster-id",
            "45",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
        ],
        &[],
    );
    assert_ok(&dump64, "dump64");
    let block = String::from_utf8(dump64.stdout).unwrap();
    let lines: Vec<&str> = block.lines().collect();
    assert_eq!(lines.first(), Some(&"%%% start-base64 %%%"));
    assert_eq!(lines.last(), Some(&"%%% end-base64 %%%"));
    assert!(lines.iter().all(|l| l.len() <= 100));
    let decoded = dind::dump::format::decode64(block.as_bytes()).unwrap();
    let decoded_sections = sections(&decoded);
    for (name, _) in &dumped {
        if name != "api-server.txt" {
            assert!(
                decoded_sections.iter().any(|(n, _)| n == name),
                "{name} missing when the API server does not answer"
            );
        }
    }
    let api = &decoded_sections
        .iter()
        .find(|(n, _)| n == "api-server.txt")
        .expect("the API section")
        .1;
    assert!(api.contains("did not answer"), "{api}");

    // dump64 | split-dump64 gives the same tree as split-dump of the same dump, also when
    // the block sits in a CI log whose every line starts with a timestamp.
    let dir64 = work.path().join("from64");
    let split64 = kubectl_dind_with_input(
        &["split-dump64", "--dir", dir64.to_str().unwrap()],
        block.as_bytes(),
    );
    assert_ok(&split64, "split-dump64");
    let dir_decoded = work.path().join("decoded");
    let split_decoded = kubectl_dind_with_input(
        &["split-dump", "--dir", dir_decoded.to_str().unwrap()],
        &decoded,
    );
    assert_ok(&split_decoded, "split-dump of the decoded dump");
    let from64 = tree(&dir64);
    assert_eq!(from64.len(), decoded_sections.len());
    assert!(
        from64 == tree(&dir_decoded),
        "split-dump64 and split-dump agree"
    );

    let mut log = String::from("2026-11-22T05:00:00.0000000Z ##[group]Run tests\n");
    for (i, line) in block.lines().enumerate() {
        log.push_str(&format!(
            "2026-11-22T05:00:{:02}.{:07}Z {line}\n",
            i % 60,
            i * 31
        ));
    }
    log.push_str("2026-11-22T05:01:00.0000000Z ##[error]Process completed with exit code 1.\n");
    let dir_log = work.path().join("from-log");
    let split_log = kubectl_dind_with_input(
        &["split-dump64", "--dir", dir_log.to_str().unwrap()],
        log.as_bytes(),
    );
    assert_ok(&split_log, "split-dump64 of a timestamped log");
    assert!(
        tree(&dir_log) == from64,
        "the timestamped log gives the same tree"
    );
}

#[test]
fn split_dump_refuses_names_that_escape_and_writes_the_rest() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("a").join("b").join("out");
    let absolute = root.path().join("absolute-x");
    let tmp_x_existed = Path::new("/tmp/x").exists();
    let crafted = format!(
        "CI noise before the dump\n@@@ good.txt @@@\nkept\n@@@ ../../x @@@\nclimbing\n\
         @@@ /tmp/x @@@\nabsolute\n@@@ {} @@@\nabsolute too\n@@@ sub/also-good.log @@@\nkept too\n",
        absolute.display()
    );
    let output = kubectl_dind_with_input(
        &["split-dump", "--dir", out.to_str().unwrap()],
        crafted.as_bytes(),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    for name in [
        "\"../../x\"",
        "\"/tmp/x\"",
        &format!("{:?}", absolute.display().to_string()),
    ] {
        assert!(stderr.contains(name), "the error names {name}: {stderr}");
    }
    assert_eq!(
        tree(&out),
        BTreeMap::from([
            (PathBuf::from("good.txt"), b"kept\n".to_vec()),
            (PathBuf::from("sub/also-good.log"), b"kept too\n".to_vec()),
        ])
    );
    assert!(!root.path().join("a").join("x").exists());
    assert!(!absolute.exists());
    assert_eq!(Path::new("/tmp/x").exists(), tmp_x_existed);
}

#[test]
fn split_dump_never_follows_links_out_of_its_directory() {
    let root = tempfile::tempdir().unwrap();
    let outside = root.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("victim.txt"), "untouched\n").unwrap();
    let out = root.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::os::unix::fs::symlink(outside.join("victim.txt"), out.join("link.txt")).unwrap();
    std::os::unix::fs::symlink(&outside, out.join("linked")).unwrap();
    let crafted = "@@@ link.txt @@@\nevil\n@@@ linked/new.txt @@@\nevil\n@@@ a @@@\nfile\n\
                   @@@ a/b @@@\nunder a file\n@@@ good.txt @@@\nkept\n";
    let output = kubectl_dind_with_input(
        &["split-dump", "--dir", out.to_str().unwrap()],
        crafted.as_bytes(),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    for link in [out.join("link.txt"), out.join("linked")] {
        let named = format!("{} is a symbolic link", link.display());
        assert!(stderr.contains(&named), "the error names {named}: {stderr}");
    }
    assert_eq!(
        std::fs::read_to_string(outside.join("victim.txt")).unwrap(),
        "untouched\n"
    );
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        1,
        "nothing new outside"
    );
    assert_eq!(std::fs::read_to_string(out.join("a")).unwrap(), "file\n");
    assert_eq!(
        std::fs::read_to_string(out.join("good.txt")).unwrap(),
        "kept\n"
    );
}

/// Runs `kubectl-dind args` on `input`; returns its output and its peak resident memory in
/// bytes, as the kernel counted it (`wait4`'s `ru_maxrss`).
// wait4 reaps the child itself, which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn kubectl_dind_peak_memory(
    args: &[&str],
    input: &[u8],
) -> (std::process::ExitStatus, Vec<u8>, u64) {
    use std::os::unix::process::ExitStatusExt;
    let mut child = Command::new(bin("kubectl-dind"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl-dind runs");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let mut stderr = Vec::new();
    std::io::Read::read_to_end(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("read stderr");
    writer.join().expect("stdin writer");
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, whose pid std has not reaped (no wait() was called).
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32, "wait4");
    (
        std::process::ExitStatus::from_raw(status),
        stderr,
        // Linux counts ru_maxrss in KiB.
        u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024,
    )
}

#[test]
fn split_dump64_of_an_xz_bomb_stops_at_the_limit_in_little_memory() {
    // 600 MiB of zeros compresses to about 90 KB (the bomb was 1.5 GB in 294 KB);
    // more than twice the limit, and a full read of the limit would show in the memory.
    let mut encoder = xz2::write::XzEncoder::new(Vec::new(), 0);
    encoder.write_all(b"@@@ big.txt @@@\n").unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..600 {
        encoder.write_all(&zeros).unwrap();
    }
    let compressed = encoder.finish().unwrap();
    assert!(compressed.len() < 400_000, "{}", compressed.len());
    let mut log = String::from("job output\n%%% start-base64 %%%\n");
    let encoded = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &compressed);
    for line in encoded.as_bytes().chunks(100) {
        log.push_str(std::str::from_utf8(line).unwrap());
        log.push('\n');
    }
    log.push_str("%%% end-base64 %%%\n");
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    let (status, stderr, peak) = kubectl_dind_peak_memory(
        &[
            "split-dump64",
            "--dir",
            out.to_str().unwrap(),
            "--max-size",
            "256M",
        ],
        log.as_bytes(),
    );
    let stderr = String::from_utf8_lossy(&stderr);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("larger than 256 MiB (the --max-size limit)"),
        "{stderr}"
    );
    // Everything up to the limit was written, the marker line included in the count.
    let written = std::fs::metadata(out.join("big.txt")).unwrap().len();
    assert_eq!(written, (256 << 20) - "@@@ big.txt @@@\n".len() as u64);
    eprintln!("split-dump64 of the bomb: peak memory {} MiB", peak >> 20);
    assert!(peak < 200 << 20, "peak memory {} MiB", peak >> 20);
}

#[tokio::test(flavor = "multi_thread")]
async fn contexts_lists_clusters_with_their_running_state() {
    let Some(_engine) = docker().await else {
        return;
    };
    ensure_images();
    let _clean_46 = CleanOnDrop::cluster(&["--cluster-id", "46"]);
    let _clean_47 = CleanOnDrop::cluster(&["--cluster-id", "47"]);
    let up = |id: &'static str| {
        std::thread::spawn(move || {
            run(
                "kubectl-dind",
                &[
                    "up",
                    "--nodes-only",
                    "--nodes",
                    "0",
                    "--cluster-id",
                    id,
                    "--image",
                    BARE_IMAGE,
                ],
                &[],
            )
        })
    };
    let (a, b) = (up("46"), up("47"));
    assert_ok(&a.join().unwrap(), "up of cluster 46");
    assert_ok(&b.join().unwrap(), "up of cluster 47");
    // 47's master stops: its context stays, not running.
    let stopped = docker_cli(&["stop", "kube-master-cluster-47"]);
    assert!(
        stopped.status.success(),
        "{}",
        String::from_utf8_lossy(&stopped.stderr)
    );

    let work = tempfile::tempdir().unwrap();
    let kubeconfig = work.path().join("config");
    std::fs::write(
        &kubeconfig,
        kubeconfig_with(
            &[
                ("dind-cluster-46", "https://127.0.0.1:46443"),
                ("dind-cluster-47", "https://127.0.0.1:47443"),
                ("dind-i10ctx", "https://127.0.0.1:10443"),
                ("prod", "https://prod.example:6443"),
            ],
            "dind-cluster-46",
        ),
    )
    .unwrap();
    let out = run_ok(
        "kubectl-dind",
        &[
            "contexts",
            "-o",
            "json",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
        ],
        &[],
    );
    let rows: Vec<Value> = serde_json::from_str(&out).expect("contexts -o json is JSON");
    let got: Vec<(&str, &str, &str, &str, bool, &str, bool)> = rows
        .iter()
        .map(|r| {
            (
                r["context"].as_str().unwrap(),
                r["cluster"].as_str().unwrap(),
                r["server"].as_str().unwrap(),
                r["master"].as_str().unwrap(),
                r["running"].as_bool().unwrap(),
                r["master_state"].as_str().unwrap(),
                r["current"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "dind-cluster-46",
                "cluster-46",
                "https://127.0.0.1:46443",
                "kube-master-cluster-46",
                true,
                "running",
                true
            ),
            (
                "dind-cluster-47",
                "cluster-47",
                "https://127.0.0.1:47443",
                "kube-master-cluster-47",
                false,
                "stopped",
                false
            ),
            (
                "dind-i10ctx",
                "i10ctx",
                "https://127.0.0.1:10443",
                "kube-master-i10ctx",
                false,
                "absent",
                false
            ),
        ]
    );
    assert_eq!(rows[0]["cluster_id"], 46);
    assert_eq!(rows[2]["label"], "i10ctx");

    let text = run_ok(
        "kubectl-dind",
        &["contexts", "--kubeconfig", kubeconfig.to_str().unwrap()],
        &[],
    );
    assert!(text.starts_with("CURRENT  CONTEXT"), "{text}");
    assert!(!text.contains("prod"), "only dind contexts: {text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_with_nothing_to_dump_fails_saying_so() {
    let Some(_engine) = docker().await else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let empty = work.path().join("kubeconfig");
    let out = run(
        "kubectl-dind",
        &[
            "dump",
            "--cluster-id",
            "54",
            "--kubeconfig",
            empty.to_str().unwrap(),
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "nothing to dump for cluster cluster-54: no node containers and no API server"
        ),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "no half dump on stdout");
}
