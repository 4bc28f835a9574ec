//! The plugin protocols and the settings front door: what kubectl and the docker CLI
//! see, dry runs, precedence, and usage errors.

mod support;

use std::process::{Command, Stdio};
use support::*;

#[test]
fn dry_run_from_the_environment_equals_the_flag() {
    let from_env = run_ok(
        "kubectl-dind",
        &["up", "--dry-run", "-o", "json"],
        &[("CLUSTER_ID", "10")],
    );
    let from_flag = run_ok(
        "kubectl-dind",
        &["up", "--cluster-id", "10", "--dry-run", "-o", "json"],
        &[],
    );
    assert_eq!(from_env, from_flag);
    let plan: serde_json::Value = serde_json::from_str(&from_flag).expect("json");
    assert_eq!(plan["context"], "dind-cluster-10");
    assert_eq!(plan["network"]["name"], "kubeadm-dind-net-cluster-10");
    assert_eq!(plan["nodes"][0]["name"], "kube-master-cluster-10");
    assert_eq!(plan["nodes"][0]["ipv4"], "10.192.10.2");
    assert_eq!(plan["nodes"][1]["ipv4"], "10.192.10.3");
    assert_eq!(
        plan["nodes"][1]["volume"],
        "kubeadm-dind-kube-node-1-cluster-10"
    );
    let docker = run_ok(
        "docker-dind",
        &["up", "--cluster-id", "10", "--dry-run", "-o", "json"],
        &[],
    );
    assert_eq!(docker, from_flag, "both plugins print the same plan");
    let yaml = run_ok(
        "docker-dind",
        &["up", "--cluster-id", "10", "--dry-run"],
        &[],
    );
    assert_eq!(
        serde_yaml::from_str::<serde_json::Value>(&yaml).expect("yaml"),
        plan
    );
}

#[test]
fn flag_beats_environment_beats_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, "cluster-id: 3\nnodes: 4\ncni: ptp\n").expect("write config");
    let config = config.to_str().expect("utf-8");
    let env = [
        ("DIND_CONFIG", config),
        ("CLUSTER_ID", "5"),
        ("NUM_NODES", "6"),
    ];
    let rows: Vec<serde_json::Value> = serde_json::from_str(&run_ok(
        "kubectl-dind",
        &["settings", "--cluster-id", "7", "-o", "json"],
        &env,
    ))
    .expect("json");
    let row = |name: &str| {
        rows.iter()
            .find(|r| r["name"] == name)
            .cloned()
            .expect("row")
    };
    let table = [
        ("CLUSTER_ID", "7", "flag"),
        ("NUM_NODES", "6", "environment"),
        ("CNI_PLUGIN", "ptp", "file"),
        ("IP_MODE", "ipv4", "default"),
    ];
    for (name, value, source) in table {
        assert_eq!(
            (row(name)["value"].clone(), row(name)["source"].clone()),
            (value.into(), source.into()),
            "{name}"
        );
    }
    let plan: serde_json::Value = serde_json::from_str(&run_ok(
        "kubectl-dind",
        &["up", "--cluster-id", "7", "--dry-run", "-o", "json"],
        &env,
    ))
    .expect("json");
    assert_eq!(plan["context"], "dind-cluster-7");
    assert_eq!(
        plan["nodes"].as_array().map(Vec::len),
        Some(7),
        "6 workers from the environment, plus the master"
    );
    let text = run_ok("kubectl-dind", &["settings"], &env);
    assert!(
        text.contains(config),
        "the text view names the config file:\n{text}"
    );
}

#[test]
fn bad_input_exits_2_before_anything_is_created() {
    // (args, env, what the one-line error says)
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let table: &[Case] = &[
        (&["up", "--cluster-id", "300"], &[], "0 to 254"),
        (&["up", "--cluster-id", "ten"], &[], "0 to 254"),
        (
            &["up", "--mgmt-cidrs", "10.192.0.0/16"],
            &[],
            "must be a /24",
        ),
        (
            &["up", "--ip-mode", "ipv6", "--mgmt-cidrs", "fd00:1:2:3::/64"],
            &[],
            "no room for the cluster ID",
        ),
        (&["up", "--pod-cidr", "10.244.0.0/20"], &[], "must be a /16"),
        (&["up", "--service-cidr", "10.192.0.0/12"], &[], "overlaps"),
        (&["up", "--nodes", "300"], &[], "at most 252"),
        (&["up", "--ip-mode", "ipv7"], &[], "unknown IP mode"),
        (&["up", "--cni", "cilium"], &[], "unknown CNI"),
        (&["up", "--label", "Foo_Bar"], &[], "invalid label"),
        (
            &["up", "--ip-mode", "ipv6", "--nat64-prefix", "172"],
            &[],
            "private",
        ),
        (&["up"], &[("CLUSTER_ID", "999")], "0 to 254"),
    ];
    for (args, env, needle) in table {
        for plugin in ["kubectl-dind", "docker-dind"] {
            let out = run(plugin, args, env);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{plugin} {args:?}: {stderr}");
            assert!(stderr.contains(needle), "{plugin} {args:?}: {stderr}");
            assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        }
    }
    assert!(labelled_objects("cluster-300").is_empty() || !docker_available());
}

fn docker_available() -> bool {
    docker_cli(&["info"]).status.success()
}

#[test]
fn docker_cli_lists_and_runs_the_plugin() {
    if !docker_available() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("CI=true but no Docker daemon answers `docker info`");
        }
        eprintln!("skipped: no Docker daemon");
        return;
    }
    let config = tempfile::tempdir().expect("tempdir");
    let plugins = config.path().join("cli-plugins");
    std::fs::create_dir(&plugins).expect("mkdir");
    std::os::unix::fs::symlink(bin("docker-dind"), plugins.join("docker-dind")).expect("symlink");
    let docker = |args: &[&str]| {
        Command::new("docker")
            .args(args)
            .env("DOCKER_CONFIG", config.path())
            .stdin(Stdio::null())
            .output()
            .expect("docker runs")
    };

    let info = docker(&["info"]);
    let info_text = String::from_utf8_lossy(&info.stdout);
    assert!(
        info_text.lines().any(
            |l| l.trim().starts_with("dind: Multi-node Kubernetes clusters")
                && l.contains("(dind)")
        ),
        "docker info lists the plugin:\n{info_text}"
    );
    assert!(!info_text.contains("Invalid Plugins"), "{info_text}");

    let help = docker(&["--help"]);
    let help_text = String::from_utf8_lossy(&help.stdout);
    assert!(
        help_text
            .lines()
            .any(|l| l.trim_start().starts_with("dind*")),
        "docker --help lists dind:\n{help_text}"
    );

    let run_help = docker(&["-H", "unix:///var/run/docker.sock", "dind", "--help"]);
    assert!(
        run_help.status.success(),
        "{}",
        String::from_utf8_lossy(&run_help.stderr)
    );
    let text = String::from_utf8_lossy(&run_help.stdout);
    assert!(
        text.contains("Usage: docker dind") && text.contains("nodes"),
        "{text}"
    );

    let help_dind = docker(&["help", "dind"]);
    assert!(
        help_dind.status.success(),
        "{}",
        String::from_utf8_lossy(&help_dind.stderr)
    );
    assert!(String::from_utf8_lossy(&help_dind.stdout).contains("Usage: docker dind"));

    let dry = docker(&[
        "-H",
        "unix:///var/run/docker.sock",
        "dind",
        "up",
        "--cluster-id",
        "10",
        "--dry-run",
        "-o",
        "json",
    ]);
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&dry.stdout).expect("json");
    assert_eq!(plan["context"], "dind-cluster-10");
}

#[test]
fn kubectl_lists_and_runs_the_plugin() {
    let Ok(kubectl) = which_kubectl() else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("CI=true but kubectl is not on PATH; .ci/run must install it");
        }
        eprintln!("skipped: kubectl is not on PATH");
        return;
    };
    // A PATH with only kubectl and the plugin, so other plugins cannot add warnings.
    let path_dir = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::symlink(&kubectl, path_dir.path().join("kubectl")).expect("symlink");
    std::os::unix::fs::symlink(bin("kubectl-dind"), path_dir.path().join("kubectl-dind"))
        .expect("symlink");
    let kubectl = |args: &[&str]| {
        Command::new(path_dir.path().join("kubectl"))
            .args(args)
            .env("PATH", path_dir.path())
            .env("KUBECONFIG", test_kubeconfig())
            .stdin(Stdio::null())
            .output()
            .expect("kubectl runs")
    };
    let list = kubectl(&["plugin", "list"]);
    let stdout = String::from_utf8_lossy(&list.stdout);
    let stderr = String::from_utf8_lossy(&list.stderr);
    assert!(list.status.success(), "kubectl plugin list: {stderr}");
    assert!(
        stdout.lines().any(|l| l.ends_with("/kubectl-dind")),
        "{stdout}"
    );
    assert!(
        !stdout.to_lowercase().contains("warning") && !stderr.to_lowercase().contains("warning"),
        "{stdout}{stderr}"
    );

    let help = kubectl(&["dind", "--help"]);
    assert!(
        help.status.success(),
        "{}",
        String::from_utf8_lossy(&help.stderr)
    );
    let text = String::from_utf8_lossy(&help.stdout);
    for word in [
        "Usage: kubectl dind",
        "--kubeconfig",
        "--context",
        "--namespace",
        "up",
        "clean",
    ] {
        assert!(text.contains(word), "{word} missing from:\n{text}");
    }
    // kubectl's global flags, after the plugin name, are the plugin's own.
    let dry = kubectl(&[
        "dind",
        "up",
        "--context",
        "dind-cluster-12",
        "--kubeconfig",
        "/nonexistent",
        "--dry-run",
        "-o",
        "json",
    ]);
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&dry.stdout).expect("json");
    assert_eq!(
        plan["context"], "dind-cluster-12",
        "--context selects the cluster"
    );
    // A namespace cannot act on any command: refused with its reason, exit 2.
    let namespaced = kubectl(&["dind", "dump", "-n", "kube-system", "--context", "dind"]);
    let stderr = String::from_utf8_lossy(&namespaced.stderr);
    assert_eq!(namespaced.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("-n/--namespace kube-system"), "{stderr}");
    assert!(stderr.contains("whole cluster"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

fn which_kubectl() -> Result<std::path::PathBuf, which::Error> {
    which::which("kubectl")
}

#[test]
fn the_readme_lists_every_setting() {
    let readme = std::fs::read_to_string(workspace().join("README.md")).expect("README.md");
    for v in dind::settings::VARIABLES {
        assert!(
            readme.contains(&format!("`{}`", v.env)),
            "README lacks the variable {}",
            v.env
        );
        assert!(
            readme.contains(&format!("`--{}", v.flag)),
            "README lacks the flag --{}",
            v.flag
        );
    }
}
