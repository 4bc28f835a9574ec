//! Shell completion through each host's own protocol, with the real CLIs: kubectl runs
//! `kubectl_complete-dind` from PATH, the docker CLI runs `docker-dind __complete dind`.
//! Completing cluster IDs of a running cluster is in `everyday.rs`, which has one.

mod support;

use std::process::{Command, Stdio};
use support::*;

#[test]
fn kubectl_completes_the_plugin_through_kubectl_complete_dind() {
    let Ok(kubectl) = which::which("kubectl") else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("CI=true but kubectl is not on PATH");
        }
        eprintln!("skipped: kubectl is not on PATH");
        return;
    };
    // A PATH with only kubectl and the two plugin executables.
    let path = tempfile::tempdir().expect("tempdir");
    for (link, target) in [
        ("kubectl", kubectl),
        ("kubectl-dind", bin("kubectl-dind")),
        ("kubectl_complete-dind", bin("kubectl_complete-dind")),
    ] {
        std::os::unix::fs::symlink(target, path.path().join(link)).expect("symlink");
    }
    let complete = |words: &[&str]| {
        let out = Command::new(path.path().join("kubectl"))
            .arg("__complete")
            .args(words)
            .env("PATH", path.path())
            .env("KUBECONFIG", test_kubeconfig())
            .stdin(Stdio::null())
            .output()
            .expect("kubectl runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        completion_candidates(&out.stdout)
    };
    let (values, directive) = complete(&["dind", ""]);
    for expected in ["up", "down", "clean", "settings", "completion"] {
        assert!(
            values.iter().any(|v| v == expected),
            "{expected} missing: {values:?}"
        );
    }
    assert_eq!(directive, "4");
    let (values, _) = complete(&["dind", "up", "--ip-mode", ""]);
    assert_eq!(values, ["dual-stack", "ipv4", "ipv6"]);
    let (values, _) = complete(&["dind", "up", "--pub"]);
    assert_eq!(values, ["--publish"]);
}

#[test]
fn docker_completes_the_plugin_through_its_complete_command() {
    if !docker_cli(&["version", "--format", "{{.Client.Version}}"])
        .status
        .success()
    {
        eprintln!("skipped: no docker CLI");
        return;
    }
    let config = docker_config_with_plugin();
    let out = Command::new("docker")
        .args(["__complete", "dind", ""])
        .env("DOCKER_CONFIG", config.path())
        .stdin(Stdio::null())
        .output()
        .expect("docker runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (values, directive) = completion_candidates(&out.stdout);
    for expected in ["nodes", "up", "down", "clean", "build-image"] {
        assert!(
            values.iter().any(|v| v == expected),
            "{expected} missing: {values:?}"
        );
    }
    assert_eq!(directive, "4");
}

#[test]
fn completion_scripts_work_in_bash() {
    // The bash script, sourced into a real bash, completes subcommands by asking the binary.
    for (binary, expected) in [("docker-dind", "nodes"), ("kubectl-dind", "clean")] {
        let dir = bin(binary).parent().expect("bin dir").to_path_buf();
        let script = format!(
            "source <({binary} completion bash) && COMP_WORDS=({binary} '') && COMP_CWORD=1 && \
             _{}_complete && printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            binary.replace('-', "_")
        );
        let out = Command::new("bash")
            .args(["-c", &script])
            .env("PATH", format!("{}:/usr/bin:/bin", dir.display()))
            .stdin(Stdio::null())
            .output()
            .expect("bash runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{binary}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.lines().any(|l| l == expected), "{binary}: {stdout}");
        assert!(stdout.lines().any(|l| l == "up"), "{binary}: {stdout}");
    }
    for shell in ["zsh", "fish"] {
        let out = run_ok("docker-dind", &["completion", shell], &[]);
        assert!(
            out.contains("docker-dind __complete dind"),
            "{shell}: {out}"
        );
    }
}
