//! Shared pieces of the end-to-end tests: the plugin binaries, a real Docker engine,
//! the offline images, and guards that remove what a test created even when it fails.
#![allow(dead_code)]

pub mod swarm;

use dind::engine::Engine;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The path of a plugin binary, built once per test process by the same cargo that runs
/// the tests (a no-op when it is up to date).
pub fn bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(workspace())
            // --workspace: the feature set of scripts/test's build, so nothing recompiles.
            .args(["build", "--quiet", "--workspace"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the plugins failed");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace().join("target"));
        target.join("debug")
    });
    dir.join(name)
}

/// Runs a plugin binary with extra environment variables; returns its output.
pub fn run(name: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(bin(name));
    // A private kubeconfig, so no test ever touches the user's.
    command
        .args(args)
        .stdin(Stdio::null())
        .env("KUBECONFIG", test_kubeconfig());
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("the plugin binary runs")
}

/// The kubeconfig file the plugins see in tests.
pub fn test_kubeconfig() -> PathBuf {
    std::env::temp_dir().join("dind-tests-kubeconfig")
}

/// Like [`run`], and fails the test with the plugin's stderr unless it succeeded.
pub fn run_ok(name: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let output = run(name, args, env);
    assert!(
        output.status.success(),
        "`{name} {}` failed ({}):\n{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 output")
}

/// A Docker engine through the product's own daemon selection, or `None` (with the
/// one-line reason printed) when none can be had on a developer's machine. Under
/// `CI=true` a missing daemon fails the test instead.
pub async fn docker() -> Option<Engine> {
    let endpoint =
        dind::docker_cli::select_endpoint(&Default::default(), &|name| std::env::var(name).ok())
            .expect("a Docker endpoint can be chosen");
    let connected = match dind::docker_cli::connect(&endpoint).await {
        Ok(docker) => docker
            .ping()
            .await
            .map(|_| docker)
            .map_err(anyhow::Error::from),
        Err(e) => Err(e),
    };
    match connected {
        Ok(docker) => Some(Engine::new(docker)),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true but no Docker daemon can be reached ({e:#}); .ci/run must start one")
        }
        Err(e) => {
            eprintln!("skipped: no Docker daemon ({e:#})");
            None
        }
    }
}

/// The offline images every Docker test needs: the base image (made with debootstrap
/// when it is missing, as the README says to do without a registry) and the bare node
/// image, built by the same `build-image` code users run. Once per test process.
pub fn ensure_images() {
    static READY: Mutex<bool> = Mutex::new(false);
    let mut ready = READY.lock().unwrap_or_else(|e| e.into_inner());
    if *ready {
        return;
    }
    ensure_base_image();
    run_ok("docker-dind", &["build-image", "--bare"], &[]);
    *ready = true;
}

/// The node image the tests run.
pub const BARE_IMAGE: &str = "dind-node:bare";

fn ensure_base_image() {
    let present = Command::new("docker")
        .args(["image", "inspect", dind::image::recipe::BASE_IMAGE])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if present {
        return;
    }
    let script = workspace().join("scripts/base-image.sh");
    let status = Command::new("bash")
        .arg(&script)
        .status()
        .expect("bash runs");
    assert!(
        status.success(),
        "{} failed: the base image cannot be made",
        script.display()
    );
}

/// Removes a cluster (`docker-dind clean`) when dropped, even if the test panicked.
pub struct CleanOnDrop(pub Vec<String>);

impl CleanOnDrop {
    /// One guard for the given cluster-selecting flags, e.g. `["--cluster-id", "10"]`.
    pub fn cluster(flags: &[&str]) -> CleanOnDrop {
        CleanOnDrop(flags.iter().map(|s| s.to_string()).collect())
    }
}

impl Drop for CleanOnDrop {
    fn drop(&mut self) {
        let mut args = vec!["clean".to_string()];
        args.extend(self.0.iter().cloned());
        // A private kubeconfig so cleaning never touches the user's.
        let _ = Command::new(bin("docker-dind"))
            .args(&args)
            .env("KUBECONFIG", test_kubeconfig())
            .stdin(Stdio::null())
            .output();
    }
}

/// Removes Docker objects made by a test itself (peers, test networks, images) when dropped.
#[derive(Default)]
pub struct RemoveOnDrop {
    pub containers: Vec<String>,
    pub networks: Vec<String>,
    pub images: Vec<String>,
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let quiet = |args: &[&str]| {
            let _ = Command::new("docker")
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        };
        for c in &self.containers {
            quiet(&["rm", "-f", c]);
        }
        for n in &self.networks {
            quiet(&["network", "rm", n]);
        }
        for i in &self.images {
            quiet(&["rmi", "-f", i]);
        }
    }
}

/// `docker ...` with the real CLI, for what the tests set up themselves.
pub fn docker_cli(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the docker CLI runs")
}

/// Runs a command in a container and returns its stdout, failing the test otherwise.
pub async fn exec(engine: &Engine, container: &str, argv: &[&str]) -> String {
    let node = dind::node::Node::new(engine, container);
    match node.run(argv).await {
        Ok(out) => out,
        Err(e) => panic!("{e:#}"),
    }
}

/// Docker object names that still carry a cluster's label.
pub fn labelled_objects(cluster_key: &str) -> Vec<String> {
    let filter = format!("label=dind.cluster={cluster_key}");
    let mut names = Vec::new();
    for args in [
        vec![
            "ps",
            "-a",
            "--filter",
            filter.as_str(),
            "--format",
            "container {{.Names}}",
        ],
        vec![
            "volume",
            "ls",
            "--filter",
            filter.as_str(),
            "--format",
            "volume {{.Name}}",
        ],
        vec![
            "network",
            "ls",
            "--filter",
            filter.as_str(),
            "--format",
            "network {{.Name}}",
        ],
        vec![
            "images",
            "--filter",
            filter.as_str(),
            "--format",
            "image {{.Repository}}:{{.Tag}} {{.ID}}",
        ],
    ] {
        let out = docker_cli(&args);
        names.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_string),
        );
    }
    names
}

/// Runs a `up` that must fail: checks its error names every `needle` and that rollback
/// left nothing of `cluster_key`; then runs it again with `--retain` and returns, sorted,
/// the objects that kept.
pub fn failing_up_rolls_back(
    plugin: &str,
    args: &[&str],
    cluster_key: &str,
    needles: &[&str],
) -> Vec<String> {
    let out = run(plugin, args, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "the error lacks {needle:?}: {stderr}"
        );
    }
    assert!(
        labelled_objects(cluster_key).is_empty(),
        "rollback left {:?}",
        labelled_objects(cluster_key)
    );

    let retained = run(plugin, &[args, &["--retain"]].concat(), &[]);
    assert_eq!(
        retained.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&retained.stderr)
    );
    let mut kept = labelled_objects(cluster_key);
    kept.sort();
    kept
}

/// A throwaway self-signed certificate and its key, made with openssl in `dir`, as
/// `(certificate PEM path, key PEM path)`: a stand-in kubeadm's client certificate, or a
/// private CA a user would pass.
pub fn self_signed_cert(dir: &Path, subject: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", &format!("/CN={subject}")])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs (scripts/test installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// A stand-in kubeadm with a fresh client certificate made in `dir` (see
/// [`stand_in_kubeadm`]).
pub fn stand_in_kubeadm_in(dir: &Path, extra_init: &str) -> String {
    let (cert, key) = self_signed_cert(dir, "stand-in");
    let read = |path: &Path| std::fs::read_to_string(path).expect("read the PEM");
    stand_in_kubeadm(&read(&cert), &read(&key), extra_init)
}

/// A line for a stand-in kubeadm script: the node image build asks kubeadm for its
/// images to pin containerd's pause image, so every stand-in kubeadm answers that.
pub const STAND_IN_IMAGE_LIST: &str =
    "[ \"$1 $2\" = 'config images' ] && echo registry.k8s.io/pause:3.10.1 && exit 0\n";

/// Writes an executable script.
pub fn write_executable(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write script");
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
}

/// `docker-dind build-image --kube-binaries DIR -o json`, parsed.
pub fn build_image_from(kube_binaries: &Path) -> serde_json::Value {
    let dir = kube_binaries.to_str().expect("utf-8 path");
    let out = run_ok(
        "docker-dind",
        &["build-image", "--kube-binaries", dir, "-o", "json"],
        &[],
    );
    serde_json::from_str(&out).expect("build-image -o json is JSON")
}

/// A docker CLI config directory whose `cli-plugins` holds this build's docker-dind, so
/// `docker --config DIR ...` (or `DOCKER_CONFIG=DIR`) runs it as `docker dind`.
pub fn docker_config_with_plugin() -> tempfile::TempDir {
    let config = tempfile::tempdir().expect("tempdir");
    let plugins = config.path().join("cli-plugins");
    std::fs::create_dir(&plugins).expect("mkdir");
    std::os::unix::fs::symlink(bin("docker-dind"), plugins.join("docker-dind")).expect("symlink");
    config
}

/// The candidates of a cobra `__complete` answer (values only), and its directive line.
pub fn completion_candidates(stdout: &[u8]) -> (Vec<String>, String) {
    let text = String::from_utf8_lossy(stdout);
    let mut values = Vec::new();
    let mut directive = String::new();
    for line in text.lines() {
        match line.strip_prefix(':') {
            Some(d) => directive = d.to_string(),
            None => values.push(line.split('\t').next().unwrap_or_default().to_string()),
        }
    }
    (values, directive)
}

/// A stand-in for kubeadm, not kubeadm: it records how it was called and leaves behind
/// what `up` reads after `kubeadm init` (an admin kubeconfig, with a real client
/// certificate so that kube-rs accepts it), then runs `extra_init`. No API server answers.
pub fn stand_in_kubeadm(cert_pem: &str, key_pem: &str, extra_init: &str) -> String {
    use base64::Engine as _;
    let b64 = |pem: &str| base64::engine::general_purpose::STANDARD.encode(pem);
    format!(
        r#"#!/bin/sh
echo "$@" >> /var/log/stand-in-kubeadm.log
case "$1" in
  version) echo v1.37.0 ;;
  # The node image build pins containerd's pause image from this list.
  config) printf '%s\n' registry.k8s.io/kube-apiserver:v1.37.0 registry.k8s.io/pause:3.10.1 ;;
  init)
    mkdir -p /etc/kubernetes
    cat > /etc/kubernetes/admin.conf <<'CONF'
apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: {cert}
    server: https://kube-master:6443
  name: kubernetes
contexts:
- context:
    cluster: kubernetes
    user: kubernetes-admin
  name: kubernetes-admin@kubernetes
current-context: kubernetes-admin@kubernetes
users:
- name: kubernetes-admin
  user:
    client-certificate-data: {cert}
    client-key-data: {key}
CONF
    {extra_init}
    ;;
esac
"#,
        cert = b64(cert_pem),
        key = b64(key_pem),
    )
}

/// A one-binary image (`FROM scratch` plus a static busybox), made here because no
/// registry can be reached; removed by `cleanup`.
pub fn build_busybox_image(tag: &str, cleanup: &mut RemoveOnDrop) {
    let busybox = Path::new("/bin/busybox");
    assert!(
        busybox.is_file(),
        "this test needs a static busybox at /bin/busybox (Debian: busybox-static)"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(busybox, dir.path().join("busybox")).expect("copy busybox");
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\n",
    )
    .expect("write Dockerfile");
    cleanup.images.push(tag.into());
    let built = docker_cli(&[
        "build",
        "-q",
        "-t",
        tag,
        dir.path().to_str().expect("utf-8"),
    ]);
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
}

/// A tiny image archive (`docker save`) whose image is named `reference`.
pub fn image_archive(reference: &str, path: &std::path::Path, cleanup: &mut RemoveOnDrop) {
    build_busybox_image("i8-busybox:1", cleanup);
    assert!(docker_cli(&["tag", "i8-busybox:1", reference])
        .status
        .success());
    cleanup.images.push(reference.into());
    let saved = docker_cli(&["save", "-o", path.to_str().expect("utf-8"), reference]);
    assert!(
        saved.status.success(),
        "{}",
        String::from_utf8_lossy(&saved.stderr)
    );
}

/// `sh -c SCRIPT` in a container; its stdout.
pub fn in_container(container: &str, script: &str) -> String {
    let out = docker_cli(&["exec", container, "sh", "-c", script]);
    assert!(
        out.status.success(),
        "{container}: {script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What `host:port` answers first (up to 8 bytes) to a connection from the Docker
/// engine's own machine (a host-network container there), tried for up to 10 s while it
/// is not `want`: a published port is how a user on that machine reaches a cluster.
pub fn answer_from_engine_host(host: &str, port: &str, want: &str) -> String {
    let probe = format!("exec 3<>/dev/tcp/{host}/{port} && head -c 8 <&3");
    let mut answer = String::new();
    for _ in 0..20 {
        let out = docker_cli(&[
            "run",
            "--rm",
            "--network",
            "host",
            "--entrypoint",
            "bash",
            BARE_IMAGE,
            "-c",
            &probe,
        ]);
        answer = String::from_utf8_lossy(&out.stdout).into_owned();
        if answer == want {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    answer
}

/// An authoritative BIND server's configuration for `zone` (at /etc/bind/db.dind-test), and
/// that zone: its name server at `server`, then `records` (zone-file lines): the "IPv4
/// internet" of the DNS64 tests.
pub fn auth_dns_files(zone: &str, server: &str, records: &str) -> (String, String) {
    let conf = format!(
        "options {{ directory \"/var/cache/bind\"; listen-on {{ any; }}; listen-on-v6 {{ none; }}; \
         recursion no; allow-query {{ any; }}; dnssec-validation no; }};\n\
         zone \"{zone}\" {{ type master; file \"/etc/bind/db.dind-test\"; }};\n"
    );
    let db = format!(
        "$TTL 60\n@ IN SOA ns.{zone}. admin.{zone}. 1 60 60 60 60\n@ IN NS ns.{zone}.\n\
         ns IN A {server}\n{records}"
    );
    (conf, db)
}
