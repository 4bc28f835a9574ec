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

            let docs = documents(&rendered.init);
            assert_eq!(docs.len(), 4, "{label}");

            let init = only(&docs, "InitConfiguration");
            assert_eq!(init["apiVersion"], api, "{label}");
            assert_eq!(
                init["bootstrapTokens"][0]["token"],
                kubeadm::BOOTSTRAP_TOKEN,
                "{label}"
            );
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
            assert_eq!(cluster["networking"]["podSubnet"], case.pods, "{label}");
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
            let controller = args(&cluster["controllerManager"]["extraArgs"], api);
            assert_eq!(
                controller
                    .get("node-cidr-mask-size-ipv4")
                    .map(String::as_str),
                case.mode.ne("ipv6").then_some("24"),
                "{label}"
            );
            assert_eq!(
                controller
                    .get("node-cidr-mask-size-ipv6")
                    .map(String::as_str),
                case.mode.ne("ipv4").then_some("80"),
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
            for signal in [
                "nodefs.available",
                "nodefs.inodesFree",
                "imagefs.available",
                "memory.available",
            ] {
                assert_eq!(kubelet["evictionHard"][signal], "0%", "{label} {signal}");
            }
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
                assert_eq!(bootstrap["token"], kubeadm::BOOTSTRAP_TOKEN, "{label}");
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
