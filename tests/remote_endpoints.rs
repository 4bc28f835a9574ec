//! Docker endpoints and engines as users have them, against real Docker: an `ssh://`
//! daemon reached through a real sshd and the real docker CLI, and an IPv6 cluster on an
//! engine whose host may have IPv6 disabled (the Docker 28 stage runs it on one that has).
//!
//! Cluster IDs 75–76 (issue 13's range).

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

/// An sshd on 127.0.0.1 with keys made for this test, ended when dropped.
struct Sshd {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen(path: &Path) {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .output()
        .expect("ssh-keygen runs (openssh-client)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl Sshd {
    fn start() -> Sshd {
        let sshd = Path::new("/usr/sbin/sshd");
        assert!(
            sshd.exists(),
            "/usr/sbin/sshd is missing: scripts/test installs openssh-server"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let p = |name: &str| dir.path().join(name);
        keygen(&p("host_key"));
        keygen(&p("client_key"));
        std::fs::copy(p("client_key.pub"), p("authorized_keys")).expect("authorized_keys");
        // sshd's privilege separation directory.
        std::fs::create_dir_all("/run/sshd").expect("mkdir /run/sshd");
        let port = free_port();
        std::fs::write(
            p("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\n\
                 AuthorizedKeysFile {keys}\nPidFile {pid}\nPermitRootLogin prohibit-password\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n\
                 StrictModes no\nSetEnv PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin\n",
                host_key = p("host_key").display(),
                keys = p("authorized_keys").display(),
                pid = p("sshd.pid").display(),
            ),
        )
        .expect("sshd_config");
        let child = Command::new(sshd)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(p("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(p("sshd.log")).expect("log"))
            .spawn()
            .expect("sshd starts");
        let server = Sshd { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sshd did not listen: {}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// OpenSSH reads the config and known hosts of the user's home from the password
    /// database, not `$HOME`, so the test gives its client options another way that a
    /// user also has: an `ssh` first in `PATH` that passes `-F` with this test's config
    /// (its key, and this server's host key as the only known host). Nothing of root's
    /// own `~/.ssh` is read or written.
    fn client_bin_dir(&self) -> PathBuf {
        let p = |name: &str| self.dir.path().join(name);
        let host_pub = std::fs::read_to_string(p("host_key.pub")).expect("host key");
        std::fs::write(
            p("known_hosts"),
            format!("[127.0.0.1]:{} {}", self.port, host_pub.trim()),
        )
        .expect("known_hosts");
        std::fs::write(
            p("ssh_config"),
            format!(
                "Host 127.0.0.1\n  IdentityFile {key}\n  IdentitiesOnly yes\n  \
                 UserKnownHostsFile {known}\n  StrictHostKeyChecking yes\n  BatchMode yes\n",
                key = p("client_key").display(),
                known = p("known_hosts").display(),
            ),
        )
        .expect("ssh_config");
        let bin = p("bin");
        std::fs::create_dir_all(&bin).expect("mkdir");
        write_executable(
            &bin.join("ssh"),
            &format!(
                "#!/bin/sh\nexec /usr/bin/ssh -F {} \"$@\"\n",
                p("ssh_config").display()
            ),
        );
        bin
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_cli_with_an_ssh_host_lists_the_nodes_through_ssh() {
    let Some(_engine) = docker().await else {
        return;
    };
    ensure_images();
    let _clean = CleanOnDrop::cluster(&["--cluster-id", "75"]);
    run_ok(
        "docker-dind",
        &[
            "up",
            "--cluster-id",
            "75",
            "--nodes",
            "1",
            "--nodes-only",
            "--image",
            BARE_IMAGE,
        ],
        &[],
    );

    let sshd = Sshd::start();
    let ssh_bin = sshd.client_bin_dir();
    let config = tempfile::tempdir().expect("tempdir");
    let plugins = config.path().join("cli-plugins");
    std::fs::create_dir(&plugins).expect("mkdir");
    std::os::unix::fs::symlink(bin("docker-dind"), plugins.join("docker-dind")).expect("symlink");
    let path = format!(
        "{}:{}",
        ssh_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let host = format!("ssh://root@127.0.0.1:{}", sshd.port);
    let out = Command::new("docker")
        .args([
            "-H",
            &host,
            "dind",
            "nodes",
            "--cluster-id",
            "75",
            "-o",
            "json",
        ])
        .env("DOCKER_CONFIG", config.path())
        .env("PATH", &path)
        .env_remove("DOCKER_HOST")
        .env("KUBECONFIG", test_kubeconfig())
        .stdin(Stdio::null())
        .output()
        .expect("docker runs");
    assert!(
        out.status.success(),
        "docker -H {host} dind nodes failed: {}\nsshd: {}",
        String::from_utf8_lossy(&out.stderr),
        sshd.log()
    );
    let nodes: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let names: Vec<&str> = nodes
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|n| n["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["kube-master-cluster-75", "kube-node-1-cluster-75"],
        "{nodes}"
    );
    // The connection went through sshd: it logged root's key login.
    assert!(
        sshd.log().contains("Accepted publickey for root"),
        "{}",
        sshd.log()
    );

    // The same path refuses a host key it does not know, as docker does.
    std::fs::write(sshd.dir.path().join("known_hosts"), "").expect("empty known_hosts");
    let refused = Command::new("docker")
        .args(["-H", &host, "dind", "nodes", "--cluster-id", "75"])
        .env("DOCKER_CONFIG", config.path())
        .env("PATH", &path)
        .env_remove("DOCKER_HOST")
        .stdin(Stdio::null())
        .output()
        .expect("docker runs");
    assert!(!refused.status.success());
}

/// Whether the Docker daemon's machine has `::1` on its loopback, asked of a host-network
/// container there (as `up`'s host probe does).
fn daemon_host_has_ipv6_loopback() -> bool {
    let out = docker_cli(&[
        "run",
        "--rm",
        "--network",
        "host",
        "--entrypoint",
        "cat",
        BARE_IMAGE,
        "/proc/net/if_inet6",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.starts_with("00000000000000000000000000000001"))
}

/// Started by the stand-in kubeadm's `init`: a listener on the API server's port (6443,
/// IPv4 and IPv6) that answers `dind-api`, so the kubeconfig's address can be tried.
const API_PORT_LISTENER: &str = "setsid socat TCP6-LISTEN:6443,ipv6only=0,fork,reuseaddr \
     SYSTEM:'echo dind-api' </dev/null >/dev/null 2>&1 &";

/// Item 8: an IPv6 cluster on an engine whose host has IPv6 disabled comes up with a
/// kubeconfig server that works, and an explicit `--apiserver-address ::1` there is
/// refused before anything is created (exit 2, naming IPv6). On a host with IPv6 the same
/// test checks the `[::1]` path. `DIND_TEST_EXPECT_NO_IPV6=1` (the Docker 28 stage) makes
/// the no-IPv6 case required, so that stage cannot pass on the other path.
#[tokio::test(flavor = "multi_thread")]
async fn ipv6_cluster_on_a_host_without_ipv6() {
    let Some(_engine) = docker().await else {
        return;
    };
    ensure_images();
    let has_v6 = daemon_host_has_ipv6_loopback();
    if std::env::var("DIND_TEST_EXPECT_NO_IPV6").as_deref() == Ok("1") {
        assert!(
            !has_v6,
            "this engine's host was meant to have IPv6 disabled"
        );
    }
    let _clean = CleanOnDrop::cluster(&["--cluster-id", "76"]);

    let dir = tempfile::tempdir().expect("tempdir");
    let path = |name: &str| dir.path().join(name).to_str().expect("utf-8").to_string();
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).expect("read");
    let bins = dir.path().join("bin");
    std::fs::create_dir(&bins).expect("mkdir");
    write_executable(
        &bins.join("kubeadm"),
        &stand_in_kubeadm_in(dir.path(), API_PORT_LISTENER),
    );
    write_executable(&bins.join("kubelet"), "#!/bin/sh\necho stand-in kubelet\n");
    write_executable(&bins.join("kubectl"), "#!/bin/sh\necho stand-in kubectl\n");
    let image = build_image_from(&bins)["image"]
        .as_str()
        .expect("tag")
        .to_string();
    let mut cleanup = RemoveOnDrop::default();
    cleanup.images.push(image.clone());

    let kubeconfig = path("kubeconfig");
    let env = [("KUBECONFIG", kubeconfig.as_str())];
    let base = [
        "up",
        "--cluster-id",
        "76",
        "--ip-mode",
        "ipv6",
        "--nodes",
        "0",
        "--image",
        &image,
    ];

    if !has_v6 {
        let refused = run(
            "kubectl-dind",
            &[&base[..], &["--apiserver-address", "::1"]].concat(),
            &env,
        );
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(refused.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("IPv6"), "{stderr}");
        assert!(
            labelled_objects("cluster-76").is_empty(),
            "{:?}",
            labelled_objects("cluster-76")
        );
    }

    // Everything up to the readiness wait runs for real; the wait times out, since the
    // stand-in serves no API.
    let out = run(
        "kubectl-dind",
        &[&base[..], &["--wait", "2s", "--retain"]].concat(),
        &env,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("timed out after 2s"), "{stderr}");
    assert_eq!(
        stderr.contains("IPv6 disabled"),
        !has_v6,
        "the note says where the API server went: {stderr}"
    );

    let written: serde_yaml::Value = serde_yaml::from_str(&read("kubeconfig")).expect("kubeconfig");
    let server = written["clusters"]
        .as_sequence()
        .expect("clusters")
        .iter()
        .find(|c| c["name"] == "dind-cluster-76")
        .expect("cluster entry")["cluster"]["server"]
        .as_str()
        .expect("server")
        .to_string();
    let want_host = if has_v6 {
        "https://[::1]:"
    } else {
        "https://127.0.0.1:"
    };
    assert!(server.starts_with(want_host), "{server}");

    // The server works: from the daemon's machine, its address reaches the master's
    // API server port.
    let authority = server.trim_start_matches("https://");
    let (host, port) = authority.rsplit_once(':').expect("host:port");
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let answer = answer_from_engine_host(host, port, "dind-api");
    assert_eq!(answer, "dind-api", "{server} does not reach the master");

    run_ok("kubectl-dind", &["clean", "--cluster-id", "76"], &env);
    assert!(labelled_objects("cluster-76").is_empty());
}
