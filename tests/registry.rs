//! `docker dind registry` on the real Docker engine: Debian's distribution registry,
//! pushed to from the host's docker CLI on `127.0.0.1:5001`, pulled from inside IPv4 and
//! IPv6 nodes with `ctr` through the `hosts.toml` dind writes, kept across `down`/`up`,
//! gone after `clean`; and a pull-through mirror of a second local registry.
//!
//! Cluster IDs 231 to 233 and 235; registry names `dind-registry` (the default, as the
//! acceptance asks) and `i22-*`; host ports 5001-5005. `registry up` joins EVERY dind
//! cluster on the daemon, so this file runs under the team lock taken exclusively.

mod support;

use dind::engine::Engine;
use std::process::Output;
use support::*;

const IMAGE: &str = "dind-test/busybox:1";
const HOST_REF: &str = "127.0.0.1:5001/dind-test/busybox:1";
const NODE_REF: &str = "localhost:5001/dind-test/busybox:1";

/// Removes a registry and its volume (`registry clean`) when dropped.
struct RegistryGuard(&'static str);

impl Drop for RegistryGuard {
    fn drop(&mut self) {
        let _ = run("docker-dind", &["registry", "clean", "--name", self.0], &[]);
    }
}

fn ok(output: Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

fn node_names(cluster_id: &str) -> Vec<String> {
    let listed = run_ok(
        "docker-dind",
        &["nodes", "-o", "json", "--cluster-id", cluster_id],
        &[],
    );
    let nodes: Vec<serde_json::Value> = serde_json::from_str(&listed).expect("nodes JSON");
    nodes
        .iter()
        .filter(|n| matches!(n["role"].as_str(), Some("master" | "worker")))
        .map(|n| n["name"].as_str().expect("a name").to_string())
        .collect()
}

/// `up --nodes-only` of a master and one worker from the bare image.
fn up_nodes_only(cluster_id: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "up",
        "--nodes-only",
        "--nodes",
        "1",
        "--image",
        BARE_IMAGE,
        "--cluster-id",
        cluster_id,
    ];
    args.extend_from_slice(extra);
    run("docker-dind", &args, &[])
}

/// Pulls `reference` in the node through its hosts.toml, runs a nested container from
/// it that echoes `message`, and removes the image again.
async fn pull_and_run(engine: &Engine, node: &str, reference: &str, message: &str) {
    let pulled = exec(
        engine,
        node,
        &[
            "ctr",
            "-n",
            "k8s.io",
            "images",
            "pull",
            "--hosts-dir",
            "/etc/containerd/certs.d",
            reference,
        ],
    )
    .await;
    assert!(!pulled.is_empty(), "pull in {node} printed nothing");
    let out = exec(
        engine,
        node,
        &[
            "ctr",
            "-n",
            "k8s.io",
            "run",
            "--rm",
            reference,
            // One name per node: on a cgroup v1 host the nodes share the host's cgroup
            // tree, so two nodes running a container of one name at once collide at
            // /sys/fs/cgroup/<controller>/k8s.io/<name> (kubelet's pod UIDs never do).
            &format!("i22-hello-{node}"),
            "/bin/busybox",
            "echo",
            message,
        ],
    )
    .await;
    assert_eq!(out.trim(), message, "{node}");
    exec(
        engine,
        node,
        &["ctr", "-n", "k8s.io", "images", "rm", reference],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn nodes_pull_what_the_host_pushed() {
    let Some(engine) = docker().await else { return };
    ensure_images();
    let mut cleanup = RemoveOnDrop::default();
    build_busybox_image(IMAGE, &mut cleanup);
    cleanup.images.push(HOST_REF.into());
    let _before = CleanOnDrop::cluster(&["--cluster-id", "231"]);
    let _after = CleanOnDrop::cluster(&["--cluster-id", "232"]);
    let _registry = RegistryGuard("dind-registry");

    // A cluster that exists before the registry is updated live.
    ok(up_nodes_only("231", &[]), "up of cluster 231");
    let up = ok(run("docker-dind", &["registry", "up"], &[]), "registry up");
    assert!(
        up.contains("joined cluster cluster-231 at 10.192.231.247"),
        "{up}"
    );
    ok(docker_cli(&["tag", IMAGE, HOST_REF]), "docker tag");
    ok(docker_cli(&["push", HOST_REF]), "docker push");
    let before = node_names("231");
    assert_eq!(before.len(), 2, "{before:?}");
    for node in &before {
        pull_and_run(&engine, node, NODE_REF, "pulled from the registry").await;
    }

    // An IPv6 cluster created while the registry runs joins it without any flag, and
    // reaches it over IPv6.
    let up6 = ok(
        up_nodes_only("232", &["--ip-mode", "ipv6"]),
        "up of an IPv6 cluster",
    );
    assert!(
        up6.contains("joined cluster cluster-232 at fd00:20:232::5001"),
        "{up6}"
    );
    let after = node_names("232");
    for node in &after {
        let hosts = exec(
            &engine,
            node,
            &["cat", "/etc/containerd/certs.d/localhost:5001/hosts.toml"],
        )
        .await;
        assert!(hosts.contains("http://[fd00:20:232::5001]:5000"), "{hosts}");
        pull_and_run(&engine, node, NODE_REF, "pulled from the registry").await;
    }
    let status = run_ok("docker-dind", &["registry", "status", "-o", "json"], &[]);
    let status: serde_json::Value = serde_json::from_str(&status).expect("status JSON");
    let clusters = status
        .as_array()
        .expect("a list")
        .iter()
        .find(|r| r["name"] == "dind-registry")
        .expect("dind-registry in the status")["clusters"]
        .as_array()
        .expect("clusters")
        .clone();
    assert!(
        clusters.contains(&"cluster-231".into()) && clusters.contains(&"cluster-232".into()),
        "{status}"
    );

    // load --via-registry: pushed once, pulled by every node under its own name.
    let loaded = run_ok(
        "docker-dind",
        &[
            "load",
            "--via-registry",
            IMAGE,
            "--cluster-id",
            "231",
            "-o",
            "json",
        ],
        &[],
    );
    assert!(loaded.contains("kube-node-1-cluster-231"), "{loaded}");
    for node in &before {
        let listed = exec(
            &engine,
            node,
            &["ctr", "-n", "k8s.io", "images", "ls", "-q"],
        )
        .await;
        assert!(
            listed.lines().any(|l| l == "docker.io/dind-test/busybox:1"),
            "{node}: {listed}"
        );
    }

    // The images live in the volume: down and up keep them.
    let down = ok(
        run("docker-dind", &["registry", "down"], &[]),
        "registry down",
    );
    assert!(
        down.contains("Warning: removing registry dind-registry while cluster(s)"),
        "{down}"
    );
    ok(
        run("docker-dind", &["registry", "up"], &[]),
        "registry up again",
    );
    pull_and_run(&engine, &before[0], NODE_REF, "pulled from the registry").await;

    // A cluster can be cleaned while the registry is on its network.
    run_ok("docker-dind", &["clean", "--cluster-id", "232"], &[]);

    // clean leaves neither container nor volume.
    ok(
        run("docker-dind", &["registry", "clean"], &[]),
        "registry clean",
    );
    let left = docker_cli(&["ps", "-aq", "--filter", "label=dind.registry=dind-registry"]);
    assert!(left.stdout.is_empty(), "containers left");
    let volumes = docker_cli(&[
        "volume",
        "ls",
        "-q",
        "--filter",
        "label=dind.registry=dind-registry",
    ]);
    assert!(volumes.stdout.is_empty(), "volumes left");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_refused_before_anything_is_created() {
    let Some(_engine) = docker().await else {
        return;
    };
    let mut cleanup = RemoveOnDrop::default();
    // A container that is no registry holds the name and port 5003.
    cleanup.containers.push("i22-squatter".into());
    ok(
        docker_cli(&[
            "run",
            "-d",
            "--name",
            "i22-squatter",
            "-p",
            "127.0.0.1:5003:80",
            "--entrypoint",
            "/bin/sleep",
            BARE_IMAGE,
            "300",
        ]),
        "a squatter",
    );
    // (flags, what the one-line error names)
    let table: [(&[&str], &str); 4] = [
        (
            &["--name", "i22-squatter", "--port", "5004"],
            "--name i22-squatter",
        ),
        (&["--name", "i22-x", "--port", "5003"], "--port 5003"),
        (
            &["--name", "i22-x", "--proxy", "ftp://example.org"],
            "--proxy",
        ),
        (
            &[
                "--name",
                "i22-x",
                "--proxy",
                "https://x",
                "--proxy-credentials",
                "/no/such/file",
            ],
            "--proxy-credentials",
        ),
    ];
    for (flags, names) in table {
        let mut args = vec!["registry", "up"];
        args.extend_from_slice(flags);
        let output = run("docker-dind", &args, &[]);
        assert_eq!(output.status.code(), Some(2), "{flags:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(names), "{flags:?}: {stderr}");
    }
    let left = docker_cli(&["ps", "-aq", "--filter", "name=i22-x"]);
    assert!(left.stdout.is_empty(), "nothing was created");
    let volumes = docker_cli(&["volume", "ls", "-q", "--filter", "name=i22-x"]);
    assert!(volumes.stdout.is_empty(), "no volume was created");
}

/// How many blob fetches the upstream's access log shows.
fn blob_fetches(container: &str) -> usize {
    let logs = docker_cli(&["logs", container]);
    let text =
        String::from_utf8_lossy(&logs.stdout).into_owned() + &String::from_utf8_lossy(&logs.stderr);
    text.lines()
        .filter(|l| l.contains("\"GET /v2/dind-test/only-upstream/blobs/"))
        .count()
}

/// `GET /v2/` on a host port: the status line.
fn get_v2(port: u16) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .write_all(b"GET /v2/ HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .expect("send");
    let mut answer = String::new();
    // A registry that is not listening yet behind Docker's port proxy resets here.
    stream.read_to_string(&mut answer).expect("read the answer");
    answer.lines().next().unwrap_or_default().to_string()
}

/// The upstream is a second local registry the nodes cannot reach (it sits on Docker's
/// default bridge); a cluster made after the mirror, with `--registry-mirror NAME`, pulls
/// through it.
#[tokio::test(flavor = "multi_thread")]
async fn a_pull_through_mirror_serves_what_only_its_upstream_has() {
    let Some(engine) = docker().await else { return };
    ensure_images();
    let mut cleanup = RemoveOnDrop::default();
    let _mirror = RegistryGuard("i22-mirror");
    let _cluster = CleanOnDrop::cluster(&["--cluster-id", "233"]);
    let _cluster6 = CleanOnDrop::cluster(&["--cluster-id", "235"]);
    build_busybox_image("i22-only-upstream:1", &mut cleanup);
    let upstream_ref = "127.0.0.1:5002/dind-test/only-upstream:1";
    let mirror_ref = "127.0.0.1:5005/dind-test/only-upstream:1";
    cleanup
        .images
        .extend([upstream_ref.to_string(), mirror_ref.to_string()]);

    // The upstream: a plain distribution registry from the same Debian package.
    let recipe = dind::image::Recipe::registry();
    dind::image::ensure_image(&engine, &recipe, &dind::progress::Progress::quiet())
        .await
        .expect("the registry image");
    cleanup.containers.push("i22-upstream".into());
    ok(
        docker_cli(&[
            "create",
            "--name",
            "i22-upstream",
            "-p",
            "127.0.0.1:5002:5000",
            &recipe.tag,
        ]),
        "create the upstream",
    );
    dind::node::Node::new(&engine, "i22-upstream")
        .write_files(&[dind::node::NodeFile::new(
            dind::cluster::local_registry::CONFIG_PATH,
            dind::cluster::local_registry::registry_config(None),
        )])
        .await
        .expect("upstream config");
    ok(docker_cli(&["start", "i22-upstream"]), "start the upstream");
    // The distribution registry logs this line once it accepts connections.
    dind::node::Node::new(&engine, "i22-upstream")
        .wait_for_output("listening on")
        .await
        .expect("the upstream listens");
    ok(
        docker_cli(&["tag", "i22-only-upstream:1", upstream_ref]),
        "tag",
    );
    ok(docker_cli(&["push", upstream_ref]), "push to the upstream");
    let address = ok(
        docker_cli(&[
            "inspect",
            "-f",
            "{{.NetworkSettings.IPAddress}}",
            "i22-upstream",
        ]),
        "upstream address",
    );
    let address = address.trim();

    let dir = tempfile::tempdir().expect("tempdir");
    let credentials = dir.path().join("upstream.creds");
    std::fs::write(&credentials, "username=i22\npassword=not-in-argv\n").expect("write");
    let up = ok(
        run(
            "docker-dind",
            &[
                "registry",
                "up",
                "--name",
                "i22-mirror",
                "--port",
                "5005",
                "--proxy",
                &format!("http://{address}:5000"),
                "--proxy-credentials",
                credentials.to_str().expect("utf-8"),
            ],
            &[],
        ),
        "registry up --proxy",
    );
    assert!(up.contains("i22-mirror"), "{up}");
    let inspect = ok(docker_cli(&["inspect", "i22-mirror"]), "inspect the mirror");
    assert!(
        !inspect.contains("not-in-argv"),
        "the password stays out of argv, env and labels"
    );

    // `registry up` returns once the mirror answers: the first request gets an answer,
    // not a reset.
    let status_line = get_v2(5005);
    assert!(status_line.contains(" 200 "), "{status_line}");

    // A cluster made after the mirror joins it without more ado; --registry-mirror NAME
    // points its nodes' containerd at the mirror for the upstream's images.
    let up = ok(
        up_nodes_only("233", &["--registry-mirror", "i22-mirror"]),
        "up with --registry-mirror i22-mirror",
    );
    assert!(
        up.contains("Registry i22-mirror joined cluster cluster-233 at 10.192.233.246"),
        "{up}"
    );
    let nodes = node_names("233");
    assert_eq!(nodes.len(), 2, "{nodes:?}");
    let upstream_host = format!("{address}:5000");
    let node_ref = format!("{upstream_host}/dind-test/only-upstream:1");
    let before = blob_fetches("i22-upstream");
    let mut first_fetch = None;
    for node in &nodes {
        let hosts = exec(
            &engine,
            node,
            &[
                "cat",
                &format!("/etc/containerd/certs.d/{upstream_host}/hosts.toml"),
            ],
        )
        .await;
        assert!(
            hosts.contains(&format!("server = \"http://{upstream_host}\"")),
            "{hosts}"
        );
        assert!(
            hosts.contains("[host.\"http://10.192.233.246:5000\"]"),
            "{hosts}"
        );
        pull_and_run(&engine, node, &node_ref, "pulled through the mirror").await;
        let fetched = blob_fetches("i22-upstream");
        match first_fetch {
            None => {
                assert!(fetched > before, "the first pull fetched from the upstream");
                first_fetch = Some(fetched);
            }
            Some(first) => assert_eq!(
                fetched, first,
                "{node}: the second pull came from the mirror's cache"
            ),
        }
    }
    let first = first_fetch.expect("a first pull");

    // An IPv6 cluster reaches the mirror over IPv6, from its cache.
    let up6 = ok(
        up_nodes_only(
            "235",
            &["--ip-mode", "ipv6", "--registry-mirror", "i22-mirror"],
        ),
        "up of an IPv6 cluster with --registry-mirror i22-mirror",
    );
    assert!(
        up6.contains("Registry i22-mirror joined cluster cluster-235 at fd00:20:235::5002"),
        "{up6}"
    );
    let node6 = &node_names("235")[0];
    let hosts6 = exec(
        &engine,
        node6,
        &[
            "cat",
            &format!("/etc/containerd/certs.d/{upstream_host}/hosts.toml"),
        ],
    )
    .await;
    assert!(
        hosts6.contains("[host.\"http://[fd00:20:235::5002]:5000\"]"),
        "{hosts6}"
    );
    pull_and_run(&engine, node6, &node_ref, "pulled through the mirror").await;
    assert_eq!(
        blob_fetches("i22-upstream"),
        first,
        "the IPv6 node's pull came from the mirror's cache"
    );
    run_ok("docker-dind", &["clean", "--cluster-id", "235"], &[]);

    // The node asked the mirror, never the upstream (which it cannot reach).
    let mirror_log = docker_cli(&["logs", "i22-mirror"]);
    let mirror_log = String::from_utf8_lossy(&mirror_log.stderr).into_owned()
        + &String::from_utf8_lossy(&mirror_log.stdout);
    assert!(
        mirror_log.contains("/v2/dind-test/only-upstream/manifests/1"),
        "{mirror_log}"
    );
    // The host pulls through the mirror's published port, also from its cache.
    ok(docker_cli(&["pull", mirror_ref]), "a pull on the host");
    assert_eq!(
        blob_fetches("i22-upstream"),
        first,
        "the host's pull came from the mirror's cache"
    );
    let status = run_ok("docker-dind", &["registry", "status", "-o", "json"], &[]);
    assert!(status.contains("cluster-233"), "{status}");
    run_ok("docker-dind", &["clean", "--cluster-id", "233"], &[]);
}
