//! The kubeadm configuration of whole clusters, checked two ways: against committed golden
//! files (any change to the output shows up in review), and by parsing the output back and
//! asserting the values that matter, so a golden regenerated blindly is still checked.
//!
//! Regenerate the golden files with `DIND_UPDATE_GOLDEN=1 cargo test -p dind --test kubeadm_golden`.

use dind::kubeadm::{self, KubeadmInputs};
use dind::plan::ClusterPlan;
use dind::settings::Settings;
use dind::version::KubeVersion;
use serde::Deserialize;
use serde_yaml::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn settings(env: &[(&str, &str)]) -> Settings {
    Settings::from_env_pairs(env).unwrap()
}

struct Rendered {
    init: String,
    joins: Vec<(String, String)>,
}

/// A fixed token, so the golden files do not move; real clusters get random ones.
const GOLDEN_TOKEN: &str = "g0ld3n.t0k3nf0rg0ld3nf1";

fn golden_token() -> dind::bootstrap_token::BootstrapToken {
    dind::bootstrap_token::BootstrapToken::parse(GOLDEN_TOKEN).unwrap()
}

fn render(env: &[(&str, &str)], version: &str) -> Rendered {
    let settings = settings(env);
    let plan = ClusterPlan::new(&settings).unwrap();
    let version = KubeVersion::parse(version).unwrap();
    let inputs = KubeadmInputs {
        plan: &plan,
        settings: &settings,
        version: &version,
        // This project's machines mount cgroup v1, so that is the variant worth pinning.
        host_cgroup_v1: true,
        dedicated_master: true,
        bootstrap_token: &golden_token(),
        certificate_key: None,
    };
    Rendered {
        init: kubeadm::render_init(&inputs).unwrap(),
        joins: plan
            .workers()
            .iter()
            .map(|w| (w.name.clone(), kubeadm::render_join(&inputs, w).unwrap()))
            .collect(),
    }
}

fn documents(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|doc| Value::deserialize(doc).expect("every document parses"))
        .collect()
}

fn only<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = docs.iter().filter(|d| d["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "exactly one {kind}");
    found[0]
}

fn str_of(value: &Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value:?}"))
}

/// Extra arguments as a map, checking they have the shape of the schema: a map in
/// v1beta3, a list of `{name, value}` in v1beta4.
fn args(value: &Value, api: &str) -> BTreeMap<String, String> {
    match api {
        "kubeadm.k8s.io/v1beta3" => value
            .as_mapping()
            .unwrap_or_else(|| panic!("v1beta3 args are a map: {value:?}"))
            .iter()
            .map(|(k, v)| (str_of(k).to_string(), str_of(v).to_string()))
            .collect(),
        "kubeadm.k8s.io/v1beta4" => value
            .as_sequence()
            .unwrap_or_else(|| panic!("v1beta4 args are a list: {value:?}"))
            .iter()
            .map(|item| {
                (
                    str_of(&item["name"]).to_string(),
                    str_of(&item["value"]).to_string(),
                )
            })
            .collect(),
        other => panic!("unexpected api {other}"),
    }
}

fn golden(name: &str, actual: &str) {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "golden", name]
        .iter()
        .collect();
    if std::env::var("DIND_UPDATE_GOLDEN").as_deref() == Ok("1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with DIND_UPDATE_GOLDEN=1 to create it",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{} differs from the rendered output; review, then regenerate with DIND_UPDATE_GOLDEN=1\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}

struct Case {
    mode: &'static str,
    pods: &'static str,
    services: &'static str,
    /// node-ip of the master, then of each worker.
    node_ips: [&'static str; 3],
    master_addresses: &'static [&'static str],
    cluster_dns: &'static str,
}

const CASES: [Case; 3] = [
    Case {
        mode: "ipv4",
        pods: "10.244.0.0/16",
        services: "10.96.0.0/12",
        node_ips: ["10.192.0.2", "10.192.0.3", "10.192.0.4"],
        master_addresses: &["10.192.0.2"],
        cluster_dns: "10.96.0.10",
    },
    Case {
        mode: "ipv6",
        pods: "fd00:40::/72",
        services: "fd00:30::/110",
        node_ips: ["fd00:20::2", "fd00:20::3", "fd00:20::4"],
        master_addresses: &["fd00:20::2"],
        cluster_dns: "fd00:30::a",
    },
    Case {
        mode: "dual-stack",
        pods: "10.244.0.0/16,fd00:40::/72",
        services: "10.96.0.0/12,fd00:30::/110",
        node_ips: [
            "10.192.0.2,fd00:20::2",
            "10.192.0.3,fd00:20::3",
            "10.192.0.4,fd00:20::4",
        ],
        master_addresses: &["10.192.0.2", "fd00:20::2"],
        cluster_dns: "10.96.0.10",
    },
];

#[test]
fn golden_renders_for_each_version_and_ip_mode() {
    // (version, kubeadm api, whether failCgroupV1 exists)
    let versions = [
        ("v1.33.0", "kubeadm.k8s.io/v1beta4", true),
        ("v1.37.0", "kubeadm.k8s.io/v1beta4", true),
    ];
    for (version, api, has_fail_cgroup_v1) in versions {
        for case in &CASES {
            let label = format!("{version} {}", case.mode);
            let rendered = render(&[("IP_MODE", case.mode)], version);
            let short = version.trim_start_matches('v').trim_end_matches(".0");
            golden(
                &format!("kubeadm-init-{short}-{}.yaml", case.mode),
                &rendered.init,
            );
            golden(
                &format!("kubeadm-join-{short}-{}.yaml", case.mode),
                &rendered.joins[0].1,
            );

            assert_go_types(&rendered.init, &label);
            assert_go_types(&rendered.joins[0].1, &label);
            let docs = documents(&rendered.init);
            assert_eq!(docs.len(), 4, "{label}");

            let init = only(&docs, "InitConfiguration");
            assert_eq!(init["apiVersion"], api, "{label}");
            assert_eq!(init["bootstrapTokens"][0]["token"], GOLDEN_TOKEN, "{label}");
            assert_eq!(
                init["localAPIEndpoint"]["advertiseAddress"], case.master_addresses[0],
                "{label}"
            );
            assert_eq!(init["localAPIEndpoint"]["bindPort"], 6443, "{label}");
            let registration = &init["nodeRegistration"];
            assert_eq!(registration["name"], "kube-master", "{label}");
            assert_eq!(
                registration["criSocket"], "unix:///run/containerd/containerd.sock",
                "{label}"
            );
            assert_eq!(
                args(&registration["kubeletExtraArgs"], api)["node-ip"],
                case.node_ips[0],
                "{label}"
            );
            assert!(
                registration.get("taints").is_none(),
                "{label}: a dedicated master keeps kubeadm's taint"
            );

            let cluster = only(&docs, "ClusterConfiguration");
            assert_eq!(cluster["apiVersion"], api, "{label}");
            assert_eq!(cluster["kubernetesVersion"], version, "{label}");
            assert_eq!(
                cluster["controlPlaneEndpoint"], "kube-master:6443",
                "{label}"
            );
            // The default CNI (bridge) takes node ranges from dind's plan: no allocator.
            assert!(cluster["networking"].get("podSubnet").is_none(), "{label}");
            assert_eq!(
                cluster["networking"]["serviceSubnet"], case.services,
                "{label}"
            );
            assert_eq!(
                cluster["networking"]["dnsDomain"], "cluster.local",
                "{label}"
            );
            let sans: Vec<&str> = cluster["apiServer"]["certSANs"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(str_of)
                .collect();
            for want in ["localhost", "127.0.0.1", "::1", "kube-master"]
                .iter()
                .chain(case.master_addresses)
            {
                assert!(
                    sans.contains(want),
                    "{label}: certSANs {sans:?} lack {want}"
                );
            }
            // No allocator for the default CNI, so no allocator sizes either.
            assert!(
                cluster["controllerManager"].get("extraArgs").is_none(),
                "{label}"
            );

            let kubelet = only(&docs, "KubeletConfiguration");
            assert_eq!(
                kubelet["apiVersion"], "kubelet.config.k8s.io/v1beta1",
                "{label}"
            );
            assert_eq!(kubelet["cgroupDriver"], "systemd", "{label}");
            assert_eq!(kubelet["failSwapOn"], false, "{label}");
            assert_eq!(kubelet["imageGCHighThresholdPercent"], 100, "{label}");
            for signal in ["nodefs.available", "nodefs.inodesFree", "imagefs.available"] {
                assert_eq!(kubelet["evictionHard"][signal], "0%", "{label} {signal}");
            }
            // Memory eviction keeps the kubelet's default, as in kind.
            assert!(
                kubelet["evictionHard"].get("memory.available").is_none(),
                "{label}"
            );
            assert_eq!(
                kubelet["containerRuntimeEndpoint"], "unix:///run/containerd/containerd.sock",
                "{label}"
            );
            assert_eq!(kubelet["clusterDNS"][0], case.cluster_dns, "{label}");
            assert_eq!(
                kubelet["failCgroupV1"].as_bool(),
                has_fail_cgroup_v1.then_some(false),
                "{label}"
            );

            let proxy = only(&docs, "KubeProxyConfiguration");
            assert_eq!(
                proxy["apiVersion"], "kubeproxy.config.k8s.io/v1alpha1",
                "{label}"
            );
            assert_eq!(proxy["mode"], "iptables", "{label}");
            assert_eq!(proxy["clusterCIDR"], case.pods, "{label}");
            assert_eq!(proxy["conntrack"]["maxPerCore"], 0, "{label}");

            // Each worker joins with its own node-ip.
            assert_eq!(rendered.joins.len(), 2, "{label}");
            for (i, (name, text)) in rendered.joins.iter().enumerate() {
                let docs = documents(text);
                assert_eq!(docs.len(), 1, "{label} {name}");
                let join = only(&docs, "JoinConfiguration");
                assert_eq!(join["apiVersion"], api, "{label} {name}");
                let bootstrap = &join["discovery"]["bootstrapToken"];
                assert_eq!(
                    bootstrap["apiServerEndpoint"], "kube-master:6443",
                    "{label}"
                );
                assert_eq!(bootstrap["token"], GOLDEN_TOKEN, "{label}");
                assert_eq!(bootstrap["unsafeSkipCAVerification"], true, "{label}");
                let registration = &join["nodeRegistration"];
                assert_eq!(
                    registration["name"],
                    format!("kube-node-{}", i + 1),
                    "{label}"
                );
                assert_eq!(registration["name"], name.as_str(), "{label}");
                assert_eq!(
                    registration["criSocket"], "unix:///run/containerd/containerd.sock",
                    "{label}"
                );
                assert_eq!(
                    args(&registration["kubeletExtraArgs"], api)["node-ip"],
                    case.node_ips[i + 1],
                    "{label} {name}"
                );
            }
        }
    }
}

#[test]
fn gates_and_args_from_the_environment_land_in_their_components() {
    let env = [
        ("FEATURE_GATES", "Foo=true"),
        ("KUBELET_FEATURE_GATES", "Bar=false,Baz=true"),
        ("APISERVER_AUDIT_LOG_MAXAGE", "30"),
        ("SCHEDULER_V", "4"),
    ];
    for (version, api) in [
        ("v1.33.0", "kubeadm.k8s.io/v1beta4"),
        ("v1.37.0", "kubeadm.k8s.io/v1beta4"),
    ] {
        let docs = documents(&render(&env, version).init);
        let cluster = only(&docs, "ClusterConfiguration");
        let apiserver = args(&cluster["apiServer"]["extraArgs"], api);
        let controller = args(&cluster["controllerManager"]["extraArgs"], api);
        let scheduler = args(&cluster["scheduler"]["extraArgs"], api);
        for (name, component) in [
            ("apiserver", &apiserver),
            ("controller-manager", &controller),
            ("scheduler", &scheduler),
        ] {
            assert_eq!(
                component.get("feature-gates").map(String::as_str),
                Some("Foo=true"),
                "{version} {name}"
            );
        }
        assert_eq!(
            apiserver.get("audit-log-maxage").map(String::as_str),
            Some("30"),
            "{version}"
        );
        assert_eq!(
            scheduler.get("v").map(String::as_str),
            Some("4"),
            "{version}"
        );
        assert!(!apiserver.contains_key("v"), "{version}");
        assert!(!scheduler.contains_key("audit-log-maxage"), "{version}");
        assert!(!controller.contains_key("v"), "{version}");
        assert!(!controller.contains_key("audit-log-maxage"), "{version}");

        let kubelet = only(&docs, "KubeletConfiguration");
        assert_eq!(kubelet["featureGates"]["Bar"], false, "{version}");
        assert_eq!(kubelet["featureGates"]["Baz"], true, "{version}");
        assert_eq!(
            kubelet["featureGates"].as_mapping().unwrap().len(),
            2,
            "{version}: only the kubelet's gates"
        );
        assert!(
            kubelet["featureGates"].get("Foo").is_none(),
            "{version}: control-plane gates stay out of the kubelet"
        );
    }
}

fn render_with(
    settings: &Settings,
    version: &str,
    certificate_key: Option<&str>,
) -> (ClusterPlan, String, Vec<(String, String)>) {
    let plan = ClusterPlan::new(settings).unwrap();
    let version = KubeVersion::parse(version).unwrap();
    let inputs = KubeadmInputs {
        plan: &plan,
        settings,
        version: &version,
        host_cgroup_v1: true,
        dedicated_master: true,
        bootstrap_token: &golden_token(),
        certificate_key,
    };
    let init = kubeadm::render_init(&inputs).unwrap();
    let joins = plan
        .nodes
        .iter()
        .skip(1)
        .map(|n| (n.name.clone(), kubeadm::render_join(&inputs, n).unwrap()))
        .collect();
    (plan, init, joins)
}

/// A fixed key for the golden files; real runs make a random one per cluster.
const GOLDEN_KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[test]
fn three_masters_go_through_the_balancer_with_the_uploaded_certificates() {
    let ha = settings(&[("DIND_MASTERS", "3"), ("NUM_NODES", "1")]);
    let (_, init, joins) = render_with(&ha, "v1.37.0", Some(GOLDEN_KEY));
    golden("kubeadm-init-1.37-ha.yaml", &init);
    assert_go_types(&init, "ha init");
    for (name, text) in &joins {
        assert_go_types(text, name);
    }
    golden("kubeadm-join-1.37-ha-master.yaml", &joins[0].1);
    golden("kubeadm-join-1.37-ha-worker.yaml", &joins[2].1);
    let docs = documents(&init);
    let init_doc = only(&docs, "InitConfiguration");
    assert_eq!(init_doc["certificateKey"], GOLDEN_KEY);
    let cluster = only(&docs, "ClusterConfiguration");
    assert_eq!(cluster["controlPlaneEndpoint"], "kube-master-lb:6443");
    let sans: Vec<&str> = cluster["apiServer"]["certSANs"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(str_of)
        .collect();
    for want in ["kube-master-lb", "10.192.0.254", "kube-master", "127.0.0.1"] {
        assert!(sans.contains(&want), "certSANs {sans:?} lack {want}");
    }
    // (node, is a master, node-ip)
    let expected = [
        ("kube-master-2", true, "10.192.0.253"),
        ("kube-master-3", true, "10.192.0.252"),
        ("kube-node-1", false, "10.192.0.3"),
    ];
    assert_eq!(joins.len(), expected.len());
    for ((name, text), (want, master, ip)) in joins.iter().zip(expected) {
        assert_eq!(name, want);
        let docs = documents(text);
        let join = only(&docs, "JoinConfiguration");
        assert_eq!(
            join["discovery"]["bootstrapToken"]["apiServerEndpoint"], "kube-master-lb:6443",
            "{name}"
        );
        assert_eq!(
            args(
                &join["nodeRegistration"]["kubeletExtraArgs"],
                "kubeadm.k8s.io/v1beta4"
            )["node-ip"],
            ip,
            "{name}"
        );
        if master {
            assert_eq!(join["controlPlane"]["certificateKey"], GOLDEN_KEY, "{name}");
            assert_eq!(
                join["controlPlane"]["localAPIEndpoint"]["advertiseAddress"], ip,
                "{name}"
            );
            assert_eq!(
                join["controlPlane"]["localAPIEndpoint"]["bindPort"], 6443,
                "{name}"
            );
        } else {
            assert!(join.get("controlPlane").is_none(), "{name}");
        }
    }
    // One master: no certificate key anywhere, the master is the endpoint (unchanged).
    let (_, one, _) = render_with(&settings(&[]), "v1.37.0", None);
    assert!(
        !one.contains("certificateKey") && one.contains("controlPlaneEndpoint: kube-master:6443")
    );
}

#[test]
fn each_kube_proxy_mode_renders_as_kube_proxy_reads_it() {
    // (mode, KubeProxyConfiguration.mode, tcpBeLiberal, skipped phase)
    let table = [
        ("iptables", Some("iptables"), None, false),
        ("nftables", Some("nftables"), Some(true), false),
        ("ipvs", Some("ipvs"), None, false),
        ("none", None, None, true),
    ];
    for (mode, in_doc, liberal, skipped) in table {
        let (_, init, _) = render_with(
            &settings(&[("DIND_KUBE_PROXY_MODE", mode)]),
            "v1.37.0",
            None,
        );
        golden(&format!("kubeadm-init-1.37-proxy-{mode}.yaml"), &init);
        assert_go_types(&init, mode);
        let docs = documents(&init);
        let proxies: Vec<&Value> = docs
            .iter()
            .filter(|d| d["kind"] == "KubeProxyConfiguration")
            .collect();
        assert_eq!(
            proxies.first().map(|p| str_of(&p["mode"])),
            in_doc,
            "{mode}"
        );
        if let Some(proxy) = proxies.first() {
            assert_eq!(proxy["apiVersion"], "kubeproxy.config.k8s.io/v1alpha1");
            assert_eq!(proxy["conntrack"]["maxPerCore"], 0, "{mode}");
            assert_eq!(
                proxy["conntrack"]["tcpBeLiberal"].as_bool(),
                liberal,
                "{mode}"
            );
        }
        let init_doc = only(&docs, "InitConfiguration");
        assert_eq!(
            init_doc["skipPhases"]
                .as_sequence()
                .is_some_and(|p| p.iter().any(|s| s == "addon/kube-proxy")),
            skipped,
            "{mode}"
        );
    }
}

#[test]
fn patches_land_in_the_documents_they_name() {
    let mut s = settings(&[("NUM_NODES", "1")]);
    s.kubeadm_patches = dind::settings::kubeadm_patches::KubeadmPatches {
        merge: vec![
            "kind: ClusterConfiguration\napiServer:\n  extraArgs:\n  - name: v\n    value: \"5\"\n".into(),
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\nnodeRegistration:\n  imagePullPolicy: Never\n".into(),
        ],
        json6902: vec![dind::settings::kubeadm_patches::Json6902Patch {
            group: "kubelet.config.k8s.io".into(),
            version: "v1beta1".into(),
            kind: "KubeletConfiguration".into(),
            patch: "- op: add\n  path: /maxPods\n  value: 42\n".into(),
        }],
    };
    let (_, init, joins) = render_with(&s, "v1.37.0", None);
    golden("kubeadm-init-1.37-patched.yaml", &init);
    golden("kubeadm-join-1.37-patched.yaml", &joins[0].1);
    assert_go_types(&init, "patched init");
    assert_go_types(&joins[0].1, "patched join");
    let docs = documents(&init);
    let cluster = only(&docs, "ClusterConfiguration");
    assert_eq!(
        args(&cluster["apiServer"]["extraArgs"], "kubeadm.k8s.io/v1beta4")["v"],
        "5"
    );
    assert!(
        cluster["apiServer"]["certSANs"].is_sequence(),
        "a merge patch keeps the keys it does not name"
    );
    assert_eq!(only(&docs, "KubeletConfiguration")["maxPods"], 42);
    let join = documents(&joins[0].1);
    assert_eq!(
        only(&join, "JoinConfiguration")["nodeRegistration"]["imagePullPolicy"],
        "Never"
    );
    assert_eq!(
        only(&join, "JoinConfiguration")["nodeRegistration"]["name"],
        "kube-node-1"
    );
}

/// The fields of the Go types dind's documents may use, as JSON paths (`[]` is any list
/// item, `*` any map key), by kind. kubeadm: cmd/kubeadm/app/apis/kubeadm/v1beta4/types.go
/// (InitConfiguration, ClusterConfiguration, JoinConfiguration, NodeRegistrationOptions,
/// APIEndpoint, Arg, JoinControlPlane, Discovery, BootstrapTokenDiscovery) and
/// bootstraptoken/v1 BootstrapToken; kubelet: staging/src/k8s.io/kubelet/config/v1beta1/
/// types.go (KubeletConfiguration); kube-proxy: staging/src/k8s.io/kube-proxy/config/
/// v1alpha1/types.go (KubeProxyConfiguration, KubeProxyConntrackConfiguration).
const GO_TYPES: &[(&str, &[&str])] = &[
    (
        "InitConfiguration",
        &[
            "bootstrapTokens[].token",
            "bootstrapTokens[].description",
            "bootstrapTokens[].ttl",
            "bootstrapTokens[].usages[]",
            "bootstrapTokens[].groups[]",
            "dryRun",
            "localAPIEndpoint.advertiseAddress",
            "localAPIEndpoint.bindPort",
            "certificateKey",
            "skipPhases[]",
            "patches.directory",
            "nodeRegistration.name",
            "nodeRegistration.criSocket",
            "nodeRegistration.taints[].key",
            "nodeRegistration.taints[].value",
            "nodeRegistration.taints[].effect",
            "nodeRegistration.kubeletExtraArgs[].name",
            "nodeRegistration.kubeletExtraArgs[].value",
            "nodeRegistration.ignorePreflightErrors[]",
            "nodeRegistration.imagePullPolicy",
        ],
    ),
    (
        "ClusterConfiguration",
        &[
            "kubernetesVersion",
            "controlPlaneEndpoint",
            "clusterName",
            "certificatesDir",
            "imageRepository",
            "featureGates.*",
            "networking.serviceSubnet",
            "networking.podSubnet",
            "networking.dnsDomain",
            "apiServer.certSANs[]",
            "apiServer.extraArgs[].name",
            "apiServer.extraArgs[].value",
            "controllerManager.extraArgs[].name",
            "controllerManager.extraArgs[].value",
            "scheduler.extraArgs[].name",
            "scheduler.extraArgs[].value",
            "etcd.local.dataDir",
            "etcd.local.extraArgs[].name",
            "etcd.local.extraArgs[].value",
            "dns.imageRepository",
            "dns.imageTag",
        ],
    ),
    (
        "JoinConfiguration",
        &[
            "dryRun",
            "caCertPath",
            "skipPhases[]",
            "patches.directory",
            "discovery.bootstrapToken.token",
            "discovery.bootstrapToken.apiServerEndpoint",
            "discovery.bootstrapToken.caCertHashes[]",
            "discovery.bootstrapToken.unsafeSkipCAVerification",
            "discovery.tlsBootstrapToken",
            "controlPlane.localAPIEndpoint.advertiseAddress",
            "controlPlane.localAPIEndpoint.bindPort",
            "controlPlane.certificateKey",
            "nodeRegistration.name",
            "nodeRegistration.criSocket",
            "nodeRegistration.taints[].key",
            "nodeRegistration.taints[].value",
            "nodeRegistration.taints[].effect",
            "nodeRegistration.kubeletExtraArgs[].name",
            "nodeRegistration.kubeletExtraArgs[].value",
            "nodeRegistration.ignorePreflightErrors[]",
            "nodeRegistration.imagePullPolicy",
        ],
    ),
    (
        "KubeletConfiguration",
        &[
            "cgroupDriver",
            "containerRuntimeEndpoint",
            "failSwapOn",
            "imageGCHighThresholdPercent",
            "evictionHard.*",
            "clusterDNS[]",
            "clusterDomain",
            "address",
            "healthzBindAddress",
            "failCgroupV1",
            "hairpinMode",
            "featureGates.*",
            "maxPods",
            "cgroupRoot",
        ],
    ),
    (
        "KubeProxyConfiguration",
        &[
            "mode",
            "clusterCIDR",
            "featureGates.*",
            "conntrack.maxPerCore",
            "conntrack.min",
            "conntrack.tcpEstablishedTimeout",
            "conntrack.tcpCloseWaitTimeout",
            "conntrack.tcpBeLiberal",
            "conntrack.udpTimeout",
            "conntrack.udpStreamTimeout",
            "iptables.minSyncPeriod",
            "nftables.minSyncPeriod",
            "ipvs.minSyncPeriod",
            "ipvs.scheduler",
        ],
    ),
];

/// Every leaf of `value` as a path: `a.b`, `a[]`, `a[].b`.
fn leaf_paths(value: &Value, prefix: &str, out: &mut Vec<String>) {
    match value {
        Value::Mapping(map) if !map.is_empty() => {
            for (key, child) in map {
                let key = str_of(key);
                let path = if prefix.is_empty() {
                    key.to_string()
                } else {
                    format!("{prefix}.{key}")
                };
                leaf_paths(child, &path, out);
            }
        }
        Value::Sequence(items) if !items.is_empty() => {
            for item in items {
                leaf_paths(item, &format!("{prefix}[]"), out);
            }
        }
        _ => out.push(prefix.to_string()),
    }
}

/// Fails unless every field of every document is one its Go type has.
fn assert_go_types(text: &str, label: &str) {
    for doc in documents(text) {
        let kind = str_of(&doc["kind"]);
        let allowed = GO_TYPES
            .iter()
            .find(|(k, _)| *k == kind)
            .unwrap_or_else(|| panic!("{label}: unknown kind {kind}"))
            .1;
        let mut paths = Vec::new();
        leaf_paths(&doc, "", &mut paths);
        for path in paths.iter().filter(|p| *p != "apiVersion" && *p != "kind") {
            let known = allowed.iter().any(|a| match a.strip_suffix('*') {
                Some(map) => path.starts_with(map),
                // An empty list or map (`taints: []`) is the field itself.
                None => {
                    *a == path
                        || a.starts_with(&format!("{path}[]"))
                        || a.starts_with(&format!("{path}."))
                }
            });
            assert!(known, "{label}: {kind} has no field {path}");
        }
    }
}
