//! Drop-in for kubeadm-dind-cluster users: every variable its scripts read acts, is
//! refused or warns; the aliases plan what they say; local binaries become node images;
//! `reup` refreshes a running cluster; the migration page covers the whole fate table.
//!
//! Docker-backed tests here use cluster IDs 65–69 and names with `i12`.

mod support;

use dind::settings::kdc::{lookup, Fate, KDC_COMMANDS, KDC_VARIABLES};
use support::*;

/// Every variable name `dind-cluster.sh` and `config.sh` (kubernetes-retired/
/// kubeadm-dind-cluster, last commit) read as `$NAME` or `${NAME...}` and that a user can
/// set, plus the three component-argument families they read with `set | grep -E
/// "^APISERVER_[a-z_]+="` and the like (an example member of each stands for its family).
const KDC_READS: &[&str] = &[
    "APISERVER_PORT",
    "BUILD_HYPERKUBE",
    "BUILD_KUBEADM",
    "CALICO_VERSION",
    "CLUSTER_ID",
    "CNI_PLUGIN",
    "DASHBOARD_URL",
    "DIND_ALLOW_AAAA_USE",
    "DIND_CA_CERT_URL",
    "DIND_COMMIT",
    "DIND_CRI",
    "DIND_CUSTOM_NETWORKS",
    "DIND_DAEMON_JSON_FILE",
    "DIND_HTTPS_PROXY",
    "DIND_HTTP_PROXY",
    "DIND_IMAGE",
    "DIND_IMAGE_BASE",
    "DIND_IMAGE_DIGEST",
    "DIND_INSECURE_REGISTRIES",
    "DIND_K8S_BIN_DIR",
    "DIND_K8S_VERSION",
    "DIND_LABEL",
    "DIND_NO_PARALLEL_E2E",
    "DIND_NO_PROXY",
    "DIND_PORT_FORWARDER",
    "DIND_PROPAGATE_HTTP_PROXY",
    "DIND_REGISTRY_MIRROR",
    "DIND_SKIP_PULL",
    "DIND_STORAGE_DRIVER",
    "DIND_SUBNET",
    "DIND_SUBNET_SIZE",
    "DNS64_PREFIX",
    "DNS64_PREFIX_SIZE",
    "DNS_SERVICE",
    "DOCKER_HOST",
    "DOWNLOAD_KUBECTL",
    "E2E_REPORT_DIR",
    "EMBEDDED_CONFIG",
    "ENABLE_CEPH",
    "ETCD_HOST",
    "EXTRA_PORTS",
    "FEATURE_GATES",
    "GCE_HOSTED",
    "HYPERKUBE_SOURCE",
    "IP_MODE",
    "KUBEADM_DIND_LOCAL",
    "KUBEADM_SOURCE",
    "KUBECTL_DARWIN_SHA1",
    "KUBECTL_DARWIN_URL",
    "KUBECTL_DIR",
    "KUBECTL_LINUX_SHA1",
    "KUBECTL_LINUX_URL",
    "KUBECTL_VERSION",
    "KUBELET_FEATURE_GATES",
    "KUBE_BUILD_DATA_CONTAINER_NAME",
    "KUBE_DATA_CONTAINER_NAME",
    "KUBE_ROOT",
    "KUBE_ROUTER_VERSION",
    "KUBE_RSYNC_ADDR",
    "KUBE_VERBOSE",
    "MASTER_EXTRA_OPTS",
    "MGMT_CIDRS",
    "NAT64_V4_SUBNET_PREFIX",
    "NUM_NODES",
    "POD_NETWORK_CIDR",
    "REMOTE_DNS64_V4SERVER",
    "RUN_ON_BTRFS_ANYWAY",
    "SERVICE_CIDR",
    "SKIP_DASHBOARD",
    "SKIP_SNAPSHOT",
    "USE_HAIRPIN",
    "APISERVER_ADMISSION_CONTROL",
    "CONTROLLER_MANAGER_V",
    "SCHEDULER_V",
];

/// The other names the two scripts read: the shell's own and the scripts' internal
/// results, assigned before they are read, so no user value of them ever reached the
/// shell tool either. They are not kubeadm-dind-cluster settings and have no fate.
const SCRIPT_INTERNALS: &[(&str, &str)] = &[
    ("BASH_REMATCH", "bash"),
    ("BASH_SOURCE", "bash"),
    ("HOME", "the user's home"),
    ("PATH", "the shell's search path"),
    ("PWD", "the shell's directory"),
    ("RANDOM", "bash"),
    ("COMMAND", "the script's first argument"),
    ("CRI_SOCKET", "computed from DIND_CRI"),
    ("DEFAULT_DIND_LABEL", "a constant"),
    ("DIND_ROOT", "the script's own directory"),
    ("DNS64_PREFIX_CIDR", "computed from DNS64_PREFIX"),
    ("DNS_SVC_IP", "computed from SERVICE_CIDR"),
    ("GREEN", "a function argument"),
    ("INTERNAL_APISERVER_PORT", "a readonly constant"),
    ("LOCAL_NAT64_SERVER", "computed from MGMT_CIDRS"),
    ("NF", "awk's field count"),
    ("OPTS", "a local"),
    ("SERVICE_NET_MODE", "computed from SERVICE_CIDR"),
    ("TMP", "a path inside a node"),
];

/// A value that exercises a variable's fate without being refused for its value.
fn sample_value(name: &str) -> &'static str {
    match lookup(name).map(|v| v.fate) {
        Some(Fate::Values { accepted, .. }) => accepted[0],
        _ => "v1",
    }
}

#[test]
fn every_variable_kdc_reads_acts_is_refused_or_warns() {
    // `grep -oE '\$\{?[A-Z_][A-Z0-9_]*'` over the two scripts finds 90 distinct names; the
    // three family examples come on top.
    assert_eq!(
        KDC_READS.len() - 3 + SCRIPT_INTERNALS.len(),
        90,
        "the two scripts' names"
    );
    for name in KDC_READS {
        let row = lookup(name)
            .unwrap_or_else(|| panic!("{name} has no fate: it would be silently ignored"));
        let verdict = row.fate.verdict(name, sample_value(name));
        assert!(
            matches!(verdict.word(), "acts" | "refused" | "ignored"),
            "{name}"
        );
        // A refusal gives its replacement; a warning says why.
        match verdict.word() {
            "refused" => assert!(
                verdict.text().contains("Instead:"),
                "{name}: {}",
                verdict.text()
            ),
            "ignored" => assert!(
                verdict.text().starts_with(&format!("{name} is ignored: ")),
                "{name}"
            ),
            _ => {}
        }
    }
    for (name, why) in SCRIPT_INTERNALS {
        assert!(lookup(name).is_none(), "{name} ({why}) is no user setting");
    }
    // And the table holds nothing the scripts do not read.
    for row in KDC_VARIABLES {
        let prefix = row.name.trim_end_matches('*');
        assert!(
            KDC_READS.iter().any(|n| if row.name.ends_with('*') {
                n.starts_with(prefix)
            } else {
                n == &row.name
            }),
            "{} is in the fate table but not read by kdc",
            row.name
        );
    }
}

#[test]
fn each_fate_shows_through_the_plugin() {
    // acts: `settings` shows the value with its fate.
    let text = run_ok(
        "kubectl-dind",
        &["settings"],
        &[
            ("DIND_K8S_VERSION", "v1.35.2"),
            ("DIND_COMMIT", "current"),
            ("DNS_SERVICE", "coredns"),
        ],
    );
    let section = text
        .split("kubeadm-dind-cluster variables")
        .nth(1)
        .unwrap_or_else(|| panic!("no kdc section:\n{text}"));
    let line = |name: &str| {
        section
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} missing:\n{section}"))
            .to_string()
    };
    assert!(line("DIND_K8S_VERSION").contains("acts"));
    assert!(line("DIND_K8S_VERSION").contains("DIND_KUBERNETES_VERSION"));
    assert!(line("DNS_SERVICE").contains("acts"));
    assert!(line("DIND_COMMIT").contains("ignored"));

    // ignored: every command warns on stderr, naming the variable and why.
    let out = run(
        "kubectl-dind",
        &["up", "--dry-run"],
        &[("DIND_SKIP_PULL", "y")],
    );
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Warning: DIND_SKIP_PULL is ignored: dind never pulls"),
        "{stderr}"
    );

    // refused: `settings` shows the fate, then exits 2.
    let out = run(
        "kubectl-dind",
        &["settings", "-o", "json"],
        &[("DNS_SERVICE", "kube-dns")],
    );
    assert_eq!(out.status.code(), Some(2));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "DNS_SERVICE")
        .expect("DNS_SERVICE row");
    assert_eq!(row["kdc_fate"], "refused");
    assert!(String::from_utf8_lossy(&out.stderr).contains("CoreDNS"));
}

fn dry_run(env: &[(&str, &str)]) -> serde_json::Value {
    serde_json::from_str(&run_ok(
        "kubectl-dind",
        &["up", "--dry-run", "-o", "json"],
        env,
    ))
    .expect("the plan is JSON")
}

#[test]
fn aliases_plan_what_they_say() {
    let plan = dry_run(&[("DIND_K8S_VERSION", "v1.35.2")]);
    assert_eq!(plan["image"], "dind-node:v1.35.2");
    // dind's own name wins over the alias, as flags beat the environment.
    let plan = dry_run(&[
        ("DIND_K8S_VERSION", "v1.35.2"),
        ("DIND_KUBERNETES_VERSION", "v1.34.1"),
    ]);
    assert_eq!(plan["image"], "dind-node:v1.34.1");

    let plan = dry_run(&[("DIND_SUBNET", "10.200.0.0"), ("DIND_SUBNET_SIZE", "24")]);
    assert_eq!(plan["nodes"][0]["name"], "kube-master");
    assert_eq!(plan["nodes"][0]["ipv4"], "10.200.0.2");
    assert_eq!(plan["nodes"][1]["ipv4"], "10.200.0.3");
}

#[test]
fn feature_gates_none_plans_none_and_bad_gates_fail_the_dry_run() {
    let plan = dry_run(&[("FEATURE_GATES", "none"), ("KUBELET_FEATURE_GATES", "none")]);
    assert!(plan.get("feature_gates").is_none(), "{plan:#}");
    assert!(plan.get("kubelet_feature_gates").is_none(), "{plan:#}");
    // A real value is planned, so the absence above means something.
    let plan = dry_run(&[("FEATURE_GATES", "AllAlpha=false")]);
    assert_eq!(plan["feature_gates"], "AllAlpha=false");

    for (name, value) in [
        ("FEATURE_GATES", "bogus"),
        ("KUBELET_FEATURE_GATES", "Foo=maybe"),
    ] {
        let out = run("kubectl-dind", &["up", "--dry-run"], &[(name, value)]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}={value}: {stderr}");
        assert!(stderr.contains(name) && stderr.contains("none"), "{stderr}");
        assert!(out.stdout.is_empty(), "no plan is printed");
    }
}

#[test]
fn refusals_and_messages_exit_2_in_the_dry_run() {
    let table: &[(&[(&str, &str)], &str)] = &[
        (&[("DIND_STORAGE_DRIVER", "overlay2")], "containerd"),
        (&[("DIND_CRI", "docker")], "dockershim"),
        (&[("DNS_SERVICE", "kube-dns")], "CoreDNS"),
        (
            &[("MASTER_EXTRA_OPTS", "--privileged")],
            "supported: -v/--volume",
        ),
        (&[("DIND_SUBNET", "10.200.0.0")], "DIND_SUBNET_SIZE"),
        (
            &[("APISERVER_FEATURE_GATES", "bogus")],
            "APISERVER_FEATURE_GATES",
        ),
        (
            &[("IP_MODE", "dual-stack"), ("SERVICE_CIDR", "fd00:30::/110")],
            "SERVICE_CIDR=10.96.0.0/12,fd00:30::/110",
        ),
        (
            &[("DIND_K8S_BIN_DIR", "/nonexistent-i12")],
            "must hold kubeadm, kubelet and kubectl",
        ),
        (
            &[("BUILD_KUBEADM", "y"), ("KUBE_ROOT", "/nonexistent-i12")],
            "make WHAT=",
        ),
    ];
    for (env, needle) in table {
        let out = run("kubectl-dind", &["up", "--dry-run"], env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{env:?}: {stderr}");
        assert!(stderr.contains(needle), "{env:?}: {stderr}");
    }
}

#[test]
fn master_extra_opts_are_planned() {
    let plan = dry_run(&[(
        "MASTER_EXTRA_OPTS",
        "-v /src:/go/src:ro -p 127.0.0.1:8080:80 -m 1g",
    )]);
    let opts = &plan["master_extra_opts"];
    assert_eq!(opts["binds"][0], "/src:/go/src:ro");
    assert_eq!(opts["ports"][0]["host_port"], 8080);
    assert_eq!(opts["memory"], 1 << 30);
}

#[test]
fn the_migration_page_names_every_command_and_variable() {
    let page = std::fs::read_to_string(workspace().join("docs/from-kubeadm-dind-cluster.md"))
        .expect("docs/from-kubeadm-dind-cluster.md");
    for row in KDC_VARIABLES {
        assert!(
            page.contains(&format!("`{}`", row.name)),
            "the page lacks `{}`",
            row.name
        );
    }
    for (command, _) in KDC_COMMANDS {
        assert!(
            page.contains(&format!("`{command}`")),
            "the page lacks `{command}`"
        );
    }
    for change in ["NAT64_V4_SUBNET_PREFIX", "hairpin", "reup"] {
        assert!(page.contains(change), "the page lacks {change}");
    }
    let readme = std::fs::read_to_string(workspace().join("README.md")).expect("README.md");
    assert!(
        readme.contains("docs/from-kubeadm-dind-cluster.md"),
        "README links the page"
    );
}

/// Writes stand-in kubeadm, kubelet and kubectl that say who they are and which `tag`.
fn stand_ins(tag: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["kubeadm", "kubelet", "kubectl"] {
        write_executable(
            &dir.path().join(name),
            &format!("#!/bin/sh\n{STAND_IN_IMAGE_LIST}echo stand-in {tag} {name} \"$@\"\n"),
        );
    }
    dir
}

#[tokio::test]
async fn dind_k8s_bin_dir_builds_the_node_image_and_master_extra_opts_reach_the_master() {
    let Some(engine) = docker().await else {
        return;
    };
    ensure_images();
    let bin = stand_ins("i12a");
    let mounted = tempfile::tempdir().expect("tempdir");
    std::fs::write(mounted.path().join("i12-file"), "from the host\n").expect("write");
    let _clean = CleanOnDrop::cluster(&["--cluster-id", "65"]);
    let mut images = RemoveOnDrop::default();
    let opts = format!(
        "-v {}:/i12-src:ro -e I12_EXTRA=yes -l i12=master --add-host i12host:10.1.2.3",
        mounted.path().display()
    );
    let env = [
        ("DIND_K8S_BIN_DIR", bin.path().to_str().expect("utf-8")),
        ("MASTER_EXTRA_OPTS", opts.as_str()),
    ];
    // The dry run already names the image the binaries make.
    let plan = dry_run(&[env[0]]);
    let image = plan["image"].as_str().expect("image").to_string();
    assert!(image.starts_with("dind-node:local-"), "{image}");
    images.images.push(image.clone());

    let started = std::time::Instant::now();
    run_ok(
        "docker-dind",
        &[
            "up",
            "--nodes-only",
            "--cluster-id",
            "65",
            "--nodes",
            "1",
            "-o",
            "json",
        ],
        &env,
    );
    eprintln!("up with DIND_K8S_BIN_DIR took {:?}", started.elapsed());
    for node in ["kube-master-cluster-65", "kube-node-1-cluster-65"] {
        let inspect = docker_cli(&["inspect", "--format", "{{.Config.Image}}", node]);
        assert_eq!(String::from_utf8_lossy(&inspect.stdout).trim(), image);
        assert_eq!(
            in_container(
                node,
                "for b in kubeadm kubelet kubectl; do command -v $b; $b version; done"
            )
            .lines()
            .collect::<Vec<_>>(),
            [
                "/usr/bin/kubeadm",
                "stand-in i12a kubeadm version",
                "/usr/bin/kubelet",
                "stand-in i12a kubelet version",
                "/usr/bin/kubectl",
                "stand-in i12a kubectl version",
            ],
            "{node}"
        );
    }
    // MASTER_EXTRA_OPTS: on the master, and only there.
    let master = "kube-master-cluster-65";
    assert_eq!(
        in_container(master, "cat /i12-src/i12-file"),
        "from the host\n"
    );
    assert!(in_container(master, "cat /etc/hosts").contains("10.1.2.3\ti12host"));
    let inspect = |node: &str, format: &str| {
        String::from_utf8_lossy(&docker_cli(&["inspect", "--format", format, node]).stdout)
            .into_owned()
    };
    assert!(inspect(master, "{{json .Config.Env}}").contains("I12_EXTRA=yes"));
    assert!(inspect(master, "{{json .Config.Labels}}").contains("\"i12\":\"master\""));
    let worker = "kube-node-1-cluster-65";
    assert!(!inspect(worker, "{{json .Config.Env}}").contains("I12_EXTRA"));
    assert!(!inspect(worker, "{{json .HostConfig.Binds}}").contains("/i12-src"));
    assert!(!inspect(worker, "{{json .HostConfig.ExtraHosts}}").contains("i12host"));

    // KUBECTL_DIR: the master's kubectl, as up puts it there after a Kubernetes cluster is Ready.
    let kubectl_dir = tempfile::tempdir().expect("tempdir");
    let link = dind::cluster::kubectl_dir::install(
        &dind::node::Node::new(&engine, master),
        kubectl_dir.path(),
        "v1.35.2",
        &dind::progress::Progress::quiet(),
    )
    .await
    .expect("kubectl copied out of the master");
    assert_eq!(
        std::fs::read_link(&link).expect("a link"),
        std::path::Path::new("kubectl-v1.35.2")
    );
    let out = std::process::Command::new(&link)
        .arg("version")
        .output()
        .expect("runs");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "stand-in i12a kubectl version\n"
    );
}

#[tokio::test]
async fn reup_replaces_the_binaries_of_a_running_cluster_and_keeps_its_state() {
    let Some(_engine) = docker().await else {
        return;
    };
    ensure_images();
    let _clean = CleanOnDrop::cluster(&["--cluster-id", "66"]);
    run_ok(
        "docker-dind",
        &[
            "up",
            "--nodes-only",
            "--cluster-id",
            "66",
            "--nodes",
            "2",
            "--image",
            BARE_IMAGE,
        ],
        &[],
    );
    let nodes = [
        "kube-master-cluster-66",
        "kube-node-1-cluster-66",
        "kube-node-2-cluster-66",
    ];
    let id_of = |node: &str| {
        String::from_utf8_lossy(&docker_cli(&["inspect", "--format", "{{.Id}}", node]).stdout)
            .trim()
            .to_string()
    };
    let ids: Vec<String> = nodes.iter().map(|n| id_of(n)).collect();
    for node in nodes {
        in_container(node, "echo kept > /etc/i12-before-reup");
    }

    for tag in ["i12b", "i12c"] {
        let bin = stand_ins(tag);
        let started = std::time::Instant::now();
        let report: serde_json::Value = serde_json::from_str(&run_ok(
            "kubectl-dind",
            &[
                "reup",
                "--cluster-id",
                "66",
                "--nodes-only",
                "--kube-binaries",
                bin.path().to_str().expect("utf-8"),
                "-o",
                "json",
            ],
            &[],
        ))
        .expect("json report");
        let took = started.elapsed();
        eprintln!("reup ({tag}) took {took:?}");
        assert!(
            took < std::time::Duration::from_secs(30),
            "reup must take seconds: {took:?}"
        );
        assert_eq!(report["nodes"].as_array().map(Vec::len), Some(3));
        assert_eq!(report["restarted"], false);
        for node in nodes {
            assert_eq!(
                in_container(node, "kubeadm version; kubelet --version; kubectl version; cat /etc/i12-before-reup"),
                format!(
                    "stand-in {tag} kubeadm version\nstand-in {tag} kubelet --version\nstand-in {tag} kubectl version\nkept\n"
                ),
                "{node}"
            );
        }
    }
    let after: Vec<String> = nodes.iter().map(|n| id_of(n)).collect();
    assert_eq!(ids, after, "no node container was recreated");

    // DIND_K8S_BIN_DIR is reup's default source; no source at all is a usage error.
    let bin = stand_ins("i12d");
    run_ok(
        "docker-dind",
        &["reup", "--cluster-id", "66", "--nodes-only"],
        &[("DIND_K8S_BIN_DIR", bin.path().to_str().expect("utf-8"))],
    );
    assert_eq!(in_container(nodes[1], "kubeadm"), "stand-in i12d kubeadm\n");
    let out = run(
        "docker-dind",
        &["reup", "--cluster-id", "66", "--nodes-only"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    // A cluster that does not exist is refused before anything is touched.
    let out = run(
        "docker-dind",
        &[
            "reup",
            "--cluster-id",
            "67",
            "--nodes-only",
            "--kube-binaries",
            bin.path().to_str().expect("utf-8"),
        ],
        &[],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_refused_variable_stops_up_before_anything_is_created() {
    let Some(_engine) = docker().await else {
        return;
    };
    let _clean = CleanOnDrop::cluster(&["--cluster-id", "68"]);
    let key = dind::ClusterIdentity::new(68, None)
        .expect("identity")
        .key();
    let out = run(
        "docker-dind",
        &[
            "up",
            "--cluster-id",
            "68",
            "--nodes-only",
            "--image",
            BARE_IMAGE,
        ],
        &[("DIND_STORAGE_DRIVER", "overlay2")],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("DIND_STORAGE_DRIVER is not supported by dind"),
        "{stderr}"
    );
    assert!(stderr.contains("containerd"), "{stderr}");
    assert!(
        labelled_objects(&key).is_empty(),
        "{:?}",
        labelled_objects(&key)
    );
}

#[test]
fn a_source_tree_plans_the_same_image_as_its_binary_directory() {
    let binaries = stand_ins("i12tree");
    let tree = tempfile::tempdir().expect("tempdir");
    let out = tree.path().join(format!(
        "_output/local/bin/linux/{}",
        dind::cluster::kube_binaries::go_arch()
    ));
    std::fs::create_dir_all(&out).expect("mkdir");
    for name in ["kubeadm", "kubelet", "kubectl"] {
        std::fs::copy(binaries.path().join(name), out.join(name)).expect("copy");
    }
    let from_dir = dry_run(&[("DIND_K8S_BIN_DIR", binaries.path().to_str().expect("utf-8"))]);
    let root = tree.path().to_str().expect("utf-8");
    for build in ["BUILD_KUBEADM", "BUILD_HYPERKUBE"] {
        let from_tree = dry_run(&[(build, "y"), ("KUBE_ROOT", root)]);
        assert_eq!(from_tree["image"], from_dir["image"], "{build}");
    }
    // Without KUBE_ROOT the current directory is the tree, as kdc ran from it.
    let out = std::process::Command::new(bin("kubectl-dind"))
        .args(["up", "--dry-run", "-o", "json"])
        .current_dir(tree.path())
        .env("BUILD_KUBEADM", "y")
        .env("KUBECONFIG", test_kubeconfig())
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(plan["image"], from_dir["image"]);
}
