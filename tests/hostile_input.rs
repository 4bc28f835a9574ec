//! Hostile and careless input against the real binaries and a real Docker engine:
//! clusters whose names used to share a key, two `up`s of one cluster at once, and many
//! malformed values that must all be refused before anything is created, settings labels
//! that were tampered with, and the cluster lock `join` and `clean` respect. Cluster IDs
//! 209–213 (and label `i20a`, whose address ID is 206).

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
        why.contains("cluster cluster-212 is busy: another `up` holds its lock"),
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

/// Files the malformed-config cases point `DIND_CONFIG` at.
fn config_files(dir: &std::path::Path) -> [(String, &'static [u8]); 5] {
    [
        ("bad.yaml", &b"not yaml: [\n"[..]),
        ("unknown.yaml", b"nodez: 3\n"),
        ("nonutf8.yaml", b"\xff\xfe: 1\n"),
        ("map.yaml", b"cluster-id: {a: 1}\n"),
        ("notpem.pem", b"nope\n"),
    ]
    .map(|(name, text)| {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write case file");
        (path.to_str().expect("utf-8").to_string(), text)
    })
}

/// (flags, environment, only for `up`: the flag belongs to `up`)
type Case = (Vec<String>, Vec<(String, String)>, bool);

fn malformed_cases(dir: &std::path::Path) -> Vec<Case> {
    let files = config_files(dir);
    let file = |i: usize| files[i].0.clone();
    let long = "x".repeat(70_000);
    let flags: Vec<Vec<&str>> = vec![
        vec!["--cluster-id", "255"],
        vec!["--cluster-id=-1"],
        vec!["--cluster-id", "abc"],
        vec!["--cluster-id", "1e3"],
        vec!["--cluster-id", "99999999999999999999"],
        vec!["--label", "Foo"],
        vec!["--label=-a"],
        vec!["--label", "a-"],
        vec!["--label", "a_b"],
        vec!["--label", "a.b"],
        vec!["--label", "cluster-3"],
        vec!["--label", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"],
        vec!["--label", "default"],
        vec!["--label", "foo-7"],
        vec!["--label", "cluster", "--cluster-id", "7"],
        vec!["--label", "a b"],
        vec!["--label", "é"],
        vec!["--label", &long],
        vec!["--ip-mode", "ipv5"],
        vec!["--ip-mode", "IPV4"],
        vec!["--nodes=-1"],
        vec!["--nodes", "abc"],
        vec!["--nodes", "65536"],
        vec!["--nodes", "253"],
        vec!["--nodes", "1.5"],
        vec!["--ip-mode", "ipv6", "--nodes", "254"],
        vec!["--cni", "foo"],
        vec!["--ip-mode", "ipv6", "--cni", "calico"],
        vec!["--mgmt-cidrs", "10.192.0.0/16"],
        vec!["--ip-mode", "ipv6", "--mgmt-cidrs", "fd00:20::/128"],
        vec!["--mgmt-cidrs", "garbage"],
        vec!["--mgmt-cidrs", "10.192.0.0/33"],
        vec!["--ip-mode", "ipv6", "--mgmt-cidrs", "fd00:20::/120"],
        vec!["--pod-cidr", "10.244.0.0/8"],
        vec!["--pod-cidr", "10.244.0.1/16"],
        vec!["--ip-mode", "ipv6", "--pod-cidr", "fd00:40::/121"],
        vec!["--pod-cidr", "x"],
        vec!["--service-cidr", "10.96.0.0/32"],
        vec!["--service-cidr", "10.96.0.0/29"],
        vec!["--ip-mode", "ipv6", "--service-cidr", "fd00:30::/128"],
        vec!["--service-cidr", "10.0.0.0/8"],
        vec!["--service-cidr", "10.244.0.0/16"],
        vec!["--service-cidr", "10.96.0.0/12,10.97.0.0/16"],
        vec!["--ip-mode", "ipv6", "--dns64-prefix", "fd00::/64"],
        vec!["--ip-mode", "ipv6", "--dns64-prefix", "x"],
        vec!["--ip-mode", "ipv6", "--nat64-prefix", "300.1"],
        vec!["--ip-mode", "ipv6", "--nat64-prefix", "a.b"],
        vec!["--ip-mode", "ipv6", "--nat64-prefix", "10.1.2"],
        vec!["--remote-dns64-server", "::1"],
        vec!["--remote-dns64-server", "256.1.1.1"],
        vec!["--apiserver-port", "0"],
        vec!["--apiserver-port", "65536"],
        vec!["--apiserver-port", "http"],
        vec!["--apiserver-address", "localhost"],
        vec!["--apiserver-address", "1.2.3"],
        vec!["--publish", "abc"],
        vec!["--publish", "99999:80"],
        vec!["--publish", "80:0"],
        vec!["--publish", "80:80/sctpx"],
        vec!["--publish", ":80"],
        vec!["--feature-gates", "Foo"],
        vec!["--feature-gates", "Foo=maybe"],
        vec!["--feature-gates", "=true"],
        vec!["--kubelet-feature-gates", "A=b"],
        vec!["--kubernetes-version", "1.20.0"],
        vec!["--kubernetes-version", "v1.32.0"],
        vec!["--kubernetes-version", "latest"],
        vec!["--kube-download-url", "ftp://x"],
        vec!["--kube-download-url", "http://"],
        vec!["--kube-download-url", "https://a b"],
        vec!["--http-proxy", "http://a b"],
        vec!["--http-proxy", "not a url"],
        vec!["--http-proxy", "ftp://x"],
        vec!["--https-proxy", "http://h:99999"],
        vec!["--https-proxy", "http://"],
        vec!["--no-proxy", "a b"],
        vec!["--registry-mirror", "http://a b"],
        vec!["--insecure-registries", ".."],
        vec!["--insecure-registries", "a/b"],
        vec!["--insecure-registries", "[\"x\""],
        vec!["--insecure-registries", "host:99999"],
        vec!["--ca-cert", "/no/such/file"],
        vec!["--ca-cert", "http://example.com/ca.pem"],
        vec!["--ca-cert", "/"],
        vec!["--ca-cert", "ftp://example.com/ca.pem"],
        vec!["--https-proxy", "http://u:secret%zz@proxy:3128"],
        vec!["--http-proxy", "http://u:secret%@proxy:3128"],
        vec!["--addons", "/no/such dir/x.yaml"],
        vec!["--addons", "/no/such.yaml"],
        vec!["--addons", "ftp://x"],
        vec!["--addons", "unknown-addon"],
        vec!["--apiserver-arg", "a b=1"],
        vec!["--apiserver-arg", "=x"],
        vec!["--apiserver-arg", "noequals"],
        vec!["--scheduler-arg", "A=1"],
        vec!["--controller-manager-arg", "a;b=1"],
    ];
    let mut cases: Vec<Case> = flags
        .into_iter()
        .map(|f| (f.into_iter().map(String::from).collect(), vec![], false))
        .collect();
    let ca = vec!["--ca-cert".to_string(), file(4)];
    cases.push((ca, vec![], false));
    for up_only in [
        vec!["--wait", "307445734561825861m"],
        vec!["--wait", "5x"],
        vec!["--node-timeout=-1s"],
        vec!["--wait", "169h"],
    ] {
        cases.push((
            up_only.into_iter().map(String::from).collect(),
            vec![],
            true,
        ));
    }
    let env: Vec<(&str, String)> = vec![
        ("APISERVER_A B", "1".into()),
        ("MASTER_EXTRA_OPTS", "--cpus inf".into()),
        ("MASTER_EXTRA_OPTS", "--cpus nan".into()),
        ("MASTER_EXTRA_OPTS", "--memory 0".into()),
        ("MASTER_EXTRA_OPTS", "-p 99999".into()),
        ("MASTER_EXTRA_OPTS", "-p :6443".into()),
        ("MASTER_EXTRA_OPTS", "--cpus -1".into()),
        ("DIND_CA_CERT_URL", "http://example.com/ca.pem".into()),
        ("DIND_CA_CERT_URL", "/no/such/ca.pem".into()),
        ("DIND_HTTPS_PROXY", "http://u:secret%4@proxy:1".into()),
        ("DIND_CONFIG", "/no/such/config.yaml".into()),
        ("DIND_CONFIG", dir.to_str().expect("utf-8").into()),
        ("DIND_CONFIG", file(2)),
        ("DIND_CONFIG", file(0)),
        ("DIND_CONFIG", file(1)),
        ("DIND_CONFIG", file(3)),
        ("DIND_DAEMON_JSON_FILE", "x".into()),
        ("CLUSTER_ID", "999".into()),
        ("NUM_NODES", "x".into()),
        ("DIND_HTTP_PROXY", "http://user:secret@proxy:99999".into()),
    ];
    for (name, value) in env {
        cases.push((vec![], vec![(name.to_string(), value)], false));
    }
    cases
}

/// Docker objects any of the cases could have made (all use cluster ID 211).
fn leftovers() -> Vec<String> {
    let mut found = labelled_objects("cluster-211");
    for label in ["default", "foo-7", "cluster"] {
        found.extend(labelled_objects(&format!("{label}-211")));
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_values_exit_2_with_one_line_and_create_nothing() {
    let Some(_engine) = docker().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = malformed_cases(dir.path());
    assert!(cases.len() >= 100, "{} cases", cases.len());
    assert!(leftovers().is_empty(), "cluster 211 exists before the test");
    let mut failures = Vec::new();
    for (flags, env, up_only) in &cases {
        let mut flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let sets_id = flags.iter().any(|f| f.starts_with("--cluster-id"))
            || env.iter().any(|(k, _)| k == "CLUSTER_ID");
        if !sets_id {
            flags.extend(["--cluster-id", "211"]);
        }
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let commands: &[&[&str]] = if *up_only {
            &[&["up", "--dry-run"], &["up", "--nodes-only"]]
        } else {
            &[&["settings"], &["up", "--dry-run"], &["up", "--nodes-only"]]
        };
        for plugin in ["kubectl-dind", "docker-dind"] {
            for command in commands {
                let mut args = command.to_vec();
                args.extend(&flags);
                let out = run(plugin, &args, &env);
                let text = stderr(&out);
                // The reason: what comes before clap's usage hint, warnings aside.
                let reason: Vec<&str> = text
                    .lines()
                    .take_while(|l| !l.is_empty())
                    .filter(|l| !l.starts_with("Warning:"))
                    .collect();
                if out.status.code() != Some(2)
                    || reason.len() != 1
                    || text.contains("panicked")
                    || text.contains("secret")
                {
                    let shown: Vec<String> =
                        args.iter().map(|a| a.chars().take(40).collect()).collect();
                    failures.push(format!(
                        "{plugin} {shown:?} {env:?}: {:?} {}",
                        out.status.code(),
                        text.chars().take(300).collect::<String>()
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert!(leftovers().is_empty(), "nothing created: {:?}", leftovers());
}

#[test]
fn long_values_and_environment_arguments_show_in_settings() {
    let long = "x".repeat(70_000);
    for plugin in ["kubectl-dind", "docker-dind"] {
        let out = run(
            plugin,
            &["settings", "--no-proxy", &long],
            &[("APISERVER_FOO", "bar")],
        );
        let text = stderr(&out);
        assert!(out.status.success(), "{plugin}: {text}");
        let table = String::from_utf8_lossy(&out.stdout);
        let row = table
            .lines()
            .find(|l| l.starts_with("APISERVER_FOO"))
            .unwrap_or_else(|| panic!("a row for APISERVER_FOO:\n{table}"));
        assert!(
            row.contains("--apiserver-arg foo=…")
                && row.contains("bar")
                && row.ends_with("environment"),
            "{row}"
        );
        assert!(table.contains(&long));
        let warnings: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("APISERVER_FOO"))
            .collect();
        assert_eq!(
            warnings,
            ["Warning: APISERVER_FOO=bar from the environment becomes kube-apiserver --foo=bar (kubeadm-dind-cluster's convention; unset it if it was meant for another tool)"],
            "{plugin}"
        );
        let plan = run_ok(
            plugin,
            &["up", "--dry-run", "-o", "json"],
            &[("APISERVER_FOO", "bar")],
        );
        let plan: serde_json::Value = serde_json::from_str(&plan).expect("json");
        assert_eq!(
            plan["component_args"],
            serde_json::json!([{
                "component": "kube-apiserver",
                "name": "foo",
                "value": "bar",
                "source": "environment",
                "given_as": "APISERVER_FOO"
            }])
        );
    }
}

/// Creates a stand-in master of cluster 210 whose settings label is `label`, as anyone
/// who can create a container on a shared daemon could.
fn fake_master(label: &str, cleanup: &mut RemoveOnDrop) {
    let name = "kube-master-cluster-210";
    let _ = docker_cli(&["rm", "-f", name]);
    let settings = format!("dind.settings={label}");
    let out = docker_cli(&[
        "create",
        "--name",
        name,
        "--label",
        "dind.cluster=cluster-210",
        "--label",
        "dind.node-role=master",
        "--label",
        "dind.node-index=0",
        "--label",
        &settings,
        BARE_IMAGE,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    cleanup.containers.push(name.to_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn join_refuses_a_tampered_settings_label_and_runs_nothing() {
    let Some(_engine) = docker().await else {
        return;
    };
    ensure_images();
    let _clean = CleanOnDrop::cluster(&["--cluster-id", "210"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("ran");
    let program = dir.path().join("forward.sh");
    write_executable(
        &program,
        &format!("#!/bin/sh\ntouch {}\n", marker.display()),
    );
    let genuine =
        dind::settings::Settings::from_env_pairs(&[("CLUSTER_ID", "210")]).expect("settings");
    let genuine = serde_json::to_value(&genuine).expect("json");
    let tampered = |field: &str, value: serde_json::Value| {
        let mut label = genuine.clone();
        label[field] = value;
        label.to_string()
    };
    // (label, what the one-line refusal names)
    let cases = [
        (
            tampered("port_forwarder", program.to_str().expect("utf-8").into()),
            "DIND_PORT_FORWARDER",
        ),
        (
            tampered("ca_cert", "/etc/passwd".into()),
            "DIND_CA_CERT_URL",
        ),
        (
            tampered("insecure_registries", serde_json::json!([".."])),
            "invalid registry",
        ),
        (
            tampered("identity", serde_json::json!({"id": 0, "label": null})),
            "names cluster default",
        ),
    ];
    for (label, needle) in cases {
        let mut cleanup = RemoveOnDrop::default();
        fake_master(&label, &mut cleanup);
        for plugin in ["kubectl-dind", "docker-dind"] {
            let out = run(
                plugin,
                &["join", "--nodes-only", "--cluster-id", "210"],
                &[("KUBECONFIG", test_kubeconfig().to_str().expect("utf-8"))],
            );
            let why = stderr(&out);
            assert!(!out.status.success(), "{needle}: join went ahead: {why}");
            assert!(
                why.contains("label of kube-master-cluster-210") && why.contains(needle),
                "{needle}: {why}"
            );
            assert_eq!(why.trim().lines().count(), 1, "one line: {why}");
            assert!(!marker.exists(), "the label's program ran");
            assert_eq!(
                labelled_objects("cluster-210"),
                ["container kube-master-cluster-210"],
                "{needle}: nothing created, the lock given back"
            );
        }
    }
}

/// Removes cluster 209's lock volume when dropped, so the cluster's own clean can run
/// even when the test stops while a stand-in holder's lock is there.
struct LockOf209;

impl Drop for LockOf209 {
    fn drop(&mut self) {
        let _ = docker_cli(&["volume", "rm", "dind-up-lock-cluster-209"]);
    }
}

/// Cluster 209's objects, sorted: Docker lists images created in the same second in no
/// fixed order.
fn objects_of_209() -> Vec<String> {
    let mut objects = labelled_objects("cluster-209");
    objects.sort();
    objects
}

/// A lock volume as a run holding it leaves it: `holder` is its `dind.up-lock` label.
fn lock_of_209(holder: &str) {
    let _ = docker_cli(&["volume", "rm", "dind-up-lock-cluster-209"]);
    let lock = format!("dind.up-lock={holder}");
    let out = docker_cli(&[
        "volume",
        "create",
        "--label",
        "dind.cluster=cluster-209",
        "--label",
        &lock,
        "dind-up-lock-cluster-209",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn join_and_clean_respect_the_lock_of_a_running_up() {
    let Some(_engine) = docker().await else {
        return;
    };
    ensure_images();
    let id = ["--cluster-id", "209"];
    let _clean = CleanOnDrop::cluster(&id);
    let _lock = LockOf209;
    let kubeconfig = tempfile::tempdir().expect("tempdir");
    let kubeconfig = kubeconfig.path().join("config");
    let env = [("KUBECONFIG", kubeconfig.to_str().expect("utf-8"))];
    // A master whose MASTER_EXTRA_OPTS publishes a port without an address: bound on
    // loopback, not on every address.
    run_ok(
        "docker-dind",
        &[
            "up",
            "--nodes-only",
            "--nodes",
            "0",
            "--image",
            BARE_IMAGE,
            "--cluster-id",
            "209",
        ],
        &[("MASTER_EXTRA_OPTS", "-p 80"), env[0]],
    );
    let bindings = docker_cli(&[
        "inspect",
        "--format",
        "{{json .HostConfig.PortBindings}}",
        "kube-master-cluster-209",
    ]);
    let bindings: serde_json::Value =
        serde_json::from_slice(&bindings.stdout).expect("port bindings");
    assert_eq!(bindings["80/tcp"][0]["HostIp"], "127.0.0.1", "{bindings}");

    // Another machine's `up` holds the lock: join and clean wait for no one and remove
    // nothing, the lock included.
    lock_of_209("cmd=up host=elsewhere pid=1 since=1 id=00");
    let before = objects_of_209();
    for command in [&["join", "--nodes-only"][..], &["clean"]] {
        for plugin in ["kubectl-dind", "docker-dind"] {
            let mut args = command.to_vec();
            args.extend(id);
            let out = run(plugin, &args, &env);
            let why = stderr(&out);
            assert!(!out.status.success(), "{command:?}: {why}");
            assert!(
                why.contains("cluster cluster-209 is busy: another `up` holds its lock"),
                "{command:?}: {why}"
            );
            assert_eq!(objects_of_209(), before, "{command:?}");
        }
    }
    // With the lock given back, join goes ahead: the label `up` wrote reads back whole.
    let _ = docker_cli(&["volume", "rm", "dind-up-lock-cluster-209"]);
    let joined = run_ok(
        "kubectl-dind",
        &["join", "--nodes-only", "--cluster-id", "209", "-o", "json"],
        &env,
    );
    assert!(joined.contains("kube-node-1-cluster-209"), "{joined}");

    // `restore` takes the same lock: with a snapshot to restore, it still waits for no one.
    run_ok("docker-dind", &["down", "--cluster-id", "209"], &env);
    lock_of_209("cmd=join host=elsewhere pid=1 since=1 id=00");
    let before = objects_of_209();
    let out = run(
        "kubectl-dind",
        &["restore", "--nodes-only", "--cluster-id", "209"],
        &env,
    );
    let why = stderr(&out);
    assert!(
        why.contains("cluster cluster-209 is busy: another `join` holds its lock"),
        "{why}"
    );
    assert_eq!(objects_of_209(), before, "restore created nothing");

    // A lock left by a run of this machine that is gone (a killed `up`) goes with clean.
    let mut gone = std::process::Command::new("true").spawn().expect("true");
    let pid = gone.id();
    gone.wait().expect("true ends");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    lock_of_209(&format!(
        "cmd=up host={} pid={pid} since=1 id=00",
        host.trim()
    ));
    run_ok("docker-dind", &["clean", "--cluster-id", "209"], &env);
    assert!(
        labelled_objects("cluster-209").is_empty(),
        "{:?}",
        labelled_objects("cluster-209")
    );
}

#[test]
fn lists_keep_spaces_and_the_api_server_off_loopback_is_warned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spaced = dir.path().join("My Dir");
    std::fs::create_dir(&spaced).expect("mkdir");
    let manifest = spaced.join("x.yaml");
    std::fs::write(&manifest, "kind: List\n").expect("manifest");
    let manifest = manifest.to_str().expect("utf-8");
    let ca = dir.path().join("ca.pem");
    std::fs::write(
        &ca,
        "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n",
    )
    .expect("ca");
    for plugin in ["kubectl-dind", "docker-dind"] {
        let out = run(
            plugin,
            &["settings", "--addons", manifest, "-o", "json"],
            &[("DIND_CA_CERT_URL", ca.to_str().expect("utf-8"))],
        );
        assert!(out.status.success(), "{plugin}: {}", stderr(&out));
        let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("json");
        let value = |name: &str| {
            rows.iter()
                .find(|r| r["name"] == name)
                .map(|r| r["value"].clone())
        };
        assert_eq!(value("DIND_ADDONS"), Some(manifest.into()), "{plugin}");
        assert!(
            !rows
                .iter()
                .any(|r| r.get("kdc_fate") == Some(&"refused".into())),
            "DIND_CA_CERT_URL acts: {rows:?}"
        );
        run_ok(plugin, &["up", "--dry-run", "--addons", manifest], &[]);
        // A proxy's password is never printed, in the table or in JSON.
        for output in ["text", "json"] {
            let shown = run_ok(
                plugin,
                &["settings", "-o", output],
                &[("DIND_HTTPS_PROXY", "http://me:s3cr%40t@proxy:3128")],
            );
            assert!(!shown.contains("s3cr"), "{shown}");
            assert!(shown.contains("http://me:***@proxy:3128"), "{shown}");
        }

        for command in [&["settings"][..], &["up", "--dry-run"]] {
            let mut args = command.to_vec();
            args.extend(["--apiserver-address", "0.0.0.0"]);
            let out = run(plugin, &args, &[("MASTER_EXTRA_OPTS", "-p 16443:6443")]);
            let text = stderr(&out);
            assert!(out.status.success(), "{plugin} {args:?}: {text}");
            let warnings: Vec<&str> = text.lines().filter(|l| l.contains("API server")).collect();
            assert_eq!(warnings.len(), 1, "{plugin} {args:?}: {text}");
            assert!(warnings[0].starts_with("Warning: the API server is published on 0.0.0.0"));
        }
        let plan = run_ok(
            plugin,
            &["up", "--dry-run", "-o", "json"],
            &[("MASTER_EXTRA_OPTS", "-p 16443:6443")],
        );
        let plan: serde_json::Value = serde_json::from_str(&plan).expect("json");
        assert_eq!(
            plan["master_extra_opts"]["ports"][0]["host_ip"], "127.0.0.1",
            "{plan}"
        );
    }
}
