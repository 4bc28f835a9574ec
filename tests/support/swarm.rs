//! The two engines of the swarm stage (scripts/test-swarm.sh, or scripts/swarm-dev.sh
//! while working on it): this machine's daemon and a Docker 28 engine in a container,
//! joined in one swarm; and what tests of clusters spread over them need.

use super::{run, run_ok};
use std::process::{Command, Output, Stdio};

/// The two engines, as `--docker-hosts` entries: (host's daemon, inner engine).
pub fn engines() -> Option<(String, String)> {
    match std::env::var("DIND_SWARM_INNER_HOST") {
        Ok(inner) => {
            let host = std::env::var("DOCKER_HOST")
                .unwrap_or_else(|_| "unix:///var/run/docker.sock".to_string());
            Some((host, inner))
        }
        Err(_) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true but DIND_SWARM_INNER_HOST is unset: run scripts/test-swarm.sh")
        }
        Err(_) => {
            eprintln!("skipped: DIND_SWARM_INNER_HOST is unset (scripts/test-swarm.sh sets it)");
            None
        }
    }
}

/// `docker -H HOST ARGS...` with the real CLI.
pub fn docker_on(host: &str, args: &[&str]) -> Output {
    Command::new("docker")
        .arg("-H")
        .arg(host)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the docker CLI runs")
}

/// The containers, volumes and networks labelled with `cluster_key` on `host`.
pub fn labelled_on(host: &str, cluster_key: &str) -> Vec<String> {
    let filter = format!("label=dind.cluster={cluster_key}");
    let mut names = Vec::new();
    for (kind, args) in [
        ("container", vec!["ps", "-a", "--format", "{{.Names}}"]),
        ("volume", vec!["volume", "ls", "--format", "{{.Name}}"]),
        ("network", vec!["network", "ls", "--format", "{{.Name}}"]),
    ] {
        let mut args = args;
        args.extend(["--filter", filter.as_str()]);
        let out = docker_on(host, &args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        names.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| !l.is_empty())
                .map(|name| format!("{kind} {name}")),
        );
    }
    names
}

/// Runs `docker-dind clean` for the cluster on both engines when dropped.
pub struct CleanBoth(pub Vec<String>);

impl Drop for CleanBoth {
    fn drop(&mut self) {
        let mut args = vec!["clean".to_string()];
        args.extend(self.0.iter().cloned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let _ = run("docker-dind", &args, &[]);
    }
}

/// Runs `docker-dind UP_ARGS...` after the same command with `--dry-run -o json`, and
/// returns that plan: what the cluster `up` made is meant to be.
pub fn plan_and_up(up: &[&str]) -> serde_json::Value {
    let plan = run_ok(
        "docker-dind",
        &[up, &["--dry-run", "-o", "json"]].concat(),
        &[],
    );
    let plan = serde_json::from_str(&plan).expect("the plan is JSON");
    run_ok("docker-dind", up, &[]);
    plan
}
