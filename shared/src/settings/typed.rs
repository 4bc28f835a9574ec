//! [`Settings`]: the typed, checked result of resolution that the rest of the crate
//! works from, and its stored form, the settings label of every node.

use super::kdc;
use super::kube_proxy::KubeProxyMode;
use super::kubeadm_patches::KubeadmPatches;
use super::mounts::Mount;
use super::sources::{Layer, ResolvedSettings};
use super::table::{Component, DEFAULT_KUBERNETES_VERSION};
use super::values::{
    kube_download_url, parse_cluster_id, parse_dns64_prefix, parse_switch, split_json_or_list,
    split_list, split_words_or_list, Cni, IpMode, NodeIpv4,
};
use crate::error::usage;
use crate::image::build::NodeBuild;
use crate::names::ClusterIdentity;
use crate::version::KubeVersion;
use anyhow::Context;
use ipnet::{IpNet, Ipv6Net};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::str::FromStr;

/// The version of the stored settings ([`crate::names::labels::SETTINGS`]). Raise it when a change to
/// [`Settings`] means an older dind would read a label wrongly, or this one an older label.
/// 2: the label no longer holds this machine's programs, files and folders
/// ([`super::stored`]), and a label that does is refused.
pub const SETTINGS_VERSION: u32 = 2;

/// The typed, checked settings of one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// The stored format's version, [`SETTINGS_VERSION`] (the settings are a node label).
    #[serde(default)]
    pub version: u32,
    pub identity: ClusterIdentity,
    pub ip_mode: IpMode,
    /// `DIND_NODE_IPV4`: whether an IPv6 cluster's nodes keep an IPv4 address.
    #[serde(default)]
    pub node_ipv4: NodeIpv4,
    pub num_nodes: u16,
    pub cni: Cni,
    /// As given; [`crate::plan`] injects the cluster ID.
    pub mgmt_cidrs: Vec<IpNet>,
    pub pod_cidrs: Vec<IpNet>,
    pub service_cidrs: Vec<IpNet>,
    pub dns64_prefix: Ipv6Net,
    pub nat64_v4_subnet_prefix: String,
    pub remote_dns64_v4server: Ipv4Addr,
    pub allow_aaaa_use: bool,
    pub apiserver_port: Option<u16>,
    pub apiserver_address: Option<IpAddr>,
    pub port_forwarder: Option<PathBuf>,
    pub extra_ports: Vec<String>,
    pub feature_gates: Option<String>,
    pub kubelet_feature_gates: Option<String>,
    pub component_args: BTreeMap<Component, BTreeMap<String, String>>,
    pub image: Option<String>,
    pub kubernetes_version: String,
    /// `DIND_KUBE_DOWNLOAD_URL`: an http(s) URL.
    pub kube_download_url: String,
    pub skip_snapshot: bool,
    pub http_proxy: Option<String>,
    pub https_proxy: Option<String>,
    pub no_proxy: Option<String>,
    pub registry_mirror: Option<String>,
    pub insecure_registries: Vec<String>,
    pub custom_networks: Vec<String>,
    pub e2e_report_dir: Option<PathBuf>,
    pub run_on_btrfs_anyway: bool,
    pub skip_dashboard: bool,
    /// What kubeadm-dind-cluster's own variables ask for.
    #[serde(default)]
    pub kdc: kdc::KdcSettings,
    /// `DIND_CA_CERT_URL` / `--ca-cert`: a file path or URL.
    #[serde(default)]
    pub ca_cert: Option<String>,
    #[serde(default)]
    pub propagate_http_proxy: bool,
    #[serde(default)]
    pub no_storage: bool,
    /// `dashboard`, file paths and URLs, in the order given.
    #[serde(default)]
    pub addons: Vec<String>,
    /// `DIND_MASTERS`: 1, 3 or 5 (`join --control-plane` adds more).
    #[serde(default = "one_master")]
    pub masters: u16,
    #[serde(default, skip_serializing_if = "KubeProxyMode::is_default")]
    pub kube_proxy_mode: KubeProxyMode,
    /// `--mount`: host folders in the nodes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<Mount>,
    /// `kubeadm-config-patches` and `kubeadm-config-patches-json6902` (config file).
    #[serde(default, skip_serializing_if = "KubeadmPatches::is_empty")]
    pub kubeadm_patches: KubeadmPatches,
    /// `containerd-config-patches` (config file): merged into every node's containerd
    /// configuration before its first start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containerd_patches: Vec<String>,
    /// `--docker-hosts`: the engines the nodes are spread over, master's first; empty
    /// means the one engine the docker options choose.
    #[serde(default)]
    pub docker_hosts: Vec<String>,
}

fn one_master() -> u16 {
    1
}

/// `DIND_MASTERS`: an odd count, so etcd keeps a quorum when one master is lost.
fn parse_masters(text: &str) -> anyhow::Result<u16> {
    match text.trim() {
        "1" => Ok(1),
        "3" => Ok(3),
        "5" => Ok(5),
        other => Err(usage(format!(
            "invalid number of masters {other:?} (DIND_MASTERS, --masters): use 1, 3 or 5, an odd count so etcd keeps its quorum"
        ))),
    }
}

/// `DIND_MOUNTS`, host paths taken from the current directory when relative.
fn parse_mounts(value: Option<&str>) -> anyhow::Result<Vec<Mount>> {
    let entries = split_list(value);
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let cwd = std::env::current_dir().context("reading the current directory for --mount")?;
    entries.iter().map(|m| Mount::parse(m, &cwd)).collect()
}

impl Settings {
    /// Types and checks the resolved values. Address-plan checks (sizes, overlaps) are
    /// [`crate::plan::ClusterPlan::new`]'s.
    pub fn from_resolved(r: &ResolvedSettings) -> anyhow::Result<Settings> {
        let get = |env| r.get(env).unwrap_or_default();
        let cluster_id = named(r, "CLUSTER_ID", parse_cluster_id(get("CLUSTER_ID")))?;
        let identity = named(
            r,
            "DIND_LABEL",
            ClusterIdentity::new(cluster_id, r.get("DIND_LABEL").map(str::to_string)),
        )?;
        super::component_args::check_names(&super::component_args::component_args(r))?;
        let ip_mode = named(r, "IP_MODE", IpMode::from_str(get("IP_MODE")))?;
        let node_ipv4 = named(
            r,
            "DIND_NODE_IPV4",
            parse_node_ipv4(r.get("DIND_NODE_IPV4").unwrap_or("auto"), ip_mode),
        )?;
        let num_nodes = named(r, "NUM_NODES", parse_num_nodes(get("NUM_NODES")))?;
        let cni = named(r, "CNI_PLUGIN", parse_cni(get("CNI_PLUGIN"), ip_mode))?;
        let dns64_prefix = named(r, "DNS64_PREFIX", parse_dns64_prefix(get("DNS64_PREFIX")))?;
        let remote_dns64_v4server = named(
            r,
            "REMOTE_DNS64_V4SERVER",
            parse_remote_dns64_server(get("REMOTE_DNS64_V4SERVER")),
        )?;
        let apiserver_port = parsed(r, "APISERVER_PORT", parse_apiserver_port)?;
        let apiserver_address = parsed(r, "DIND_APISERVER_ADDRESS", parse_apiserver_address)?;
        let kubernetes_version = parsed(r, "DIND_KUBERNETES_VERSION", parse_kubernetes_version)?;
        let kube_download_url = parsed(r, "DIND_KUBE_DOWNLOAD_URL", kube_download_url)?;
        let cidrs = |name| named(r, name, parse_cidrs(name, get(name), ip_mode));
        let settings = Settings {
            version: SETTINGS_VERSION,
            identity,
            ip_mode,
            node_ipv4,
            num_nodes,
            cni,
            mgmt_cidrs: cidrs("MGMT_CIDRS")?,
            pod_cidrs: cidrs("POD_NETWORK_CIDR")?,
            service_cidrs: cidrs("SERVICE_CIDR")?,
            dns64_prefix,
            nat64_v4_subnet_prefix: r
                .get("NAT64_V4_SUBNET_PREFIX")
                .unwrap_or_default()
                .to_string(),
            remote_dns64_v4server,
            allow_aaaa_use: parse_switch(r.get("DIND_ALLOW_AAAA_USE"))
                || ip_mode == IpMode::DualStack,
            apiserver_port,
            apiserver_address,
            port_forwarder: text(r, "DIND_PORT_FORWARDER").map(PathBuf::from),
            extra_ports: split_words_or_list(r.get("EXTRA_PORTS")),
            feature_gates: kdc::feature_gates("FEATURE_GATES", r.get("FEATURE_GATES"))?,
            kubelet_feature_gates: kdc::feature_gates(
                "KUBELET_FEATURE_GATES",
                r.get("KUBELET_FEATURE_GATES"),
            )?,
            component_args: component_args(r),
            image: text(r, "DIND_IMAGE"),
            kubernetes_version,
            kube_download_url,
            skip_snapshot: parse_switch(r.get("SKIP_SNAPSHOT")),
            http_proxy: text(r, "DIND_HTTP_PROXY"),
            https_proxy: text(r, "DIND_HTTPS_PROXY"),
            no_proxy: text(r, "DIND_NO_PROXY"),
            registry_mirror: text(r, "DIND_REGISTRY_MIRROR"),
            insecure_registries: split_json_or_list(
                "DIND_INSECURE_REGISTRIES",
                r.get("DIND_INSECURE_REGISTRIES"),
            )?,
            custom_networks: split_words_or_list(r.get("DIND_CUSTOM_NETWORKS")),
            e2e_report_dir: text(r, "E2E_REPORT_DIR").map(PathBuf::from),
            run_on_btrfs_anyway: parse_switch(r.get("RUN_ON_BTRFS_ANYWAY")),
            skip_dashboard: parse_switch(r.get("SKIP_DASHBOARD")),
            kdc: kdc::KdcSettings::from_env(&r.kdc, text(r, "DIND_IMAGE").as_deref())?,
            ca_cert: text(r, "DIND_CA_CERT_URL"),
            propagate_http_proxy: parse_switch(r.get("DIND_PROPAGATE_HTTP_PROXY")),
            no_storage: parse_switch(r.get("DIND_NO_STORAGE")),
            addons: split_list(r.get("DIND_ADDONS")),
            masters: named(
                r,
                "DIND_MASTERS",
                parse_masters(r.get("DIND_MASTERS").unwrap_or("1")),
            )?,
            kube_proxy_mode: parsed(r, "DIND_KUBE_PROXY_MODE", parse_kube_proxy_mode)?,
            mounts: parsed(r, "DIND_MOUNTS", parse_mounts)?,
            kubeadm_patches: r.kubeadm_patches.clone(),
            containerd_patches: r.containerd_patches.clone(),
            docker_hosts: super::docker_hosts::parse_docker_hosts(r.get("DIND_DOCKER_HOSTS"))?,
        };
        kdc::check_component_gates(&settings.component_args)?;
        crate::publish::parse_all(&settings.extra_ports)?;
        crate::manifests::check_addons(&settings.addons, settings.skip_dashboard)?;
        Ok(settings)
    }

    /// The settings a process would get with exactly these environment variables, no
    /// flags and no config file. For tests and for callers that hold settings as pairs.
    pub fn from_env_pairs(pairs: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let env = Layer::from_env(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Settings::from_resolved(&ResolvedSettings::resolve(
            &Layer::default(),
            &env,
            &Layer::default(),
            None,
        ))
    }

    /// The image `up` runs: `DIND_IMAGE`, else the one dind builds for the Kubernetes version.
    pub fn node_image(&self) -> String {
        self.image.clone().unwrap_or_else(|| {
            crate::image::node_image_tag(&crate::image::KubeSource::Release(
                self.kubernetes_version.clone(),
            ))
        })
    }
}

/// What a node image build takes from the settings: the image module gets these values,
/// not the settings.
impl From<&Settings> for NodeBuild {
    fn from(settings: &Settings) -> NodeBuild {
        NodeBuild {
            kube_download_url: settings.kube_download_url.clone(),
            http_proxy: settings.http_proxy.clone(),
            https_proxy: settings.https_proxy.clone(),
            no_proxy: settings.no_proxy.clone(),
        }
    }
}

/// A variable's value when it is set and not empty.
fn text(r: &ResolvedSettings, key: &str) -> Option<String> {
    r.get(key).filter(|s| !s.is_empty()).map(str::to_string)
}

/// A bad value's usage error, prefixed with where the user gave it (`IP_MODE: …`,
/// `--nodes: …`) unless the message names it already; other errors unchanged.
/// [`named`] for a parser of the variable's optional value.
fn parsed<T>(
    r: &ResolvedSettings,
    env: &str,
    parse: impl FnOnce(Option<&str>) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    named(r, env, parse(r.get(env)))
}

fn parse_kube_proxy_mode(value: Option<&str>) -> anyhow::Result<KubeProxyMode> {
    Ok(value
        .filter(|m| !m.is_empty())
        .map(str::parse)
        .transpose()?
        .unwrap_or_default())
}

fn named<T>(r: &ResolvedSettings, env: &str, result: anyhow::Result<T>) -> anyhow::Result<T> {
    result.map_err(|e| match r.given_as(env) {
        Some(given) if crate::error::exit_code(&e) == 2 && !e.to_string().contains(&given) => {
            usage(format!("{given}: {e}"))
        }
        _ => e,
    })
}

fn parse_num_nodes(text: &str) -> anyhow::Result<u16> {
    text.parse().map_err(|_| {
        usage(format!(
            "invalid number of nodes {text:?}: expected a whole number"
        ))
    })
}

/// `off` acts only on IPv6 clusters: the nodes of the other modes need their IPv4.
fn parse_node_ipv4(text: &str, ip_mode: IpMode) -> anyhow::Result<NodeIpv4> {
    let value = NodeIpv4::from_str(text)?;
    if value == NodeIpv4::Off && ip_mode != IpMode::Ipv6 {
        return Err(usage(format!(
            "DIND_NODE_IPV4=off needs --ip-mode ipv6: nodes of an {ip_mode} cluster use IPv4"
        )));
    }
    Ok(value)
}

/// A CNI plugin that can serve the IP mode.
pub(super) fn parse_cni(text: &str, ip_mode: IpMode) -> anyhow::Result<Cni> {
    let cni = Cni::from_str(text)?;
    if ip_mode.has_ipv6() && !cni.supports_ipv6() {
        return Err(usage(format!(
            "CNI plugin {cni} cannot give pods IPv6 addresses in {ip_mode} mode: use bridge or ptp"
        )));
    }
    Ok(cni)
}

fn parse_remote_dns64_server(text: &str) -> anyhow::Result<Ipv4Addr> {
    text.parse().map_err(|_| {
        usage(format!(
            "invalid REMOTE_DNS64_V4SERVER {text:?}: expected an IPv4 address"
        ))
    })
}

pub(super) fn parse_apiserver_port(value: Option<&str>) -> anyhow::Result<Option<u16>> {
    match value {
        None | Some("") => Ok(None),
        Some(p) => Ok(Some(p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(
            || usage(format!("invalid API server port {p:?}: expected 1..65535")),
        )?)),
    }
}

fn parse_apiserver_address(value: Option<&str>) -> anyhow::Result<Option<IpAddr>> {
    match value {
        None | Some("") => Ok(None),
        Some(a) => Ok(Some(
            a.trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .map_err(|_| {
                    usage(format!(
                        "invalid API server address {a:?}: expected an IP address"
                    ))
                })?,
        )),
    }
}

/// A Kubernetes release dind supports, in its canonical `vX.Y.Z` form.
pub(super) fn parse_kubernetes_version(value: Option<&str>) -> anyhow::Result<String> {
    let version = KubeVersion::parse(value.unwrap_or(DEFAULT_KUBERNETES_VERSION))?;
    version.require_supported()?;
    Ok(version.to_string())
}

/// The component arguments' winning values.
fn component_args(r: &ResolvedSettings) -> BTreeMap<Component, BTreeMap<String, String>> {
    r.component_args
        .iter()
        .map(|(c, args)| {
            (
                *c,
                args.iter()
                    .map(|(k, v)| (k.clone(), v.value.clone().unwrap_or_default()))
                    .collect(),
            )
        })
        .collect()
}

/// Parses a comma-separated CIDR list and checks it has exactly the families of the mode.
pub(super) fn parse_cidrs(name: &str, text: &str, ip_mode: IpMode) -> anyhow::Result<Vec<IpNet>> {
    let nets = split_list(Some(text))
        .iter()
        .map(|s| {
            IpNet::from_str(s).map_err(|_| {
                usage(format!(
                    "invalid {name} entry {s:?}: expected a CIDR like 10.0.0.0/16"
                ))
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let v4 = nets.iter().filter(|n| matches!(n, IpNet::V4(_))).count();
    let v6 = nets.len() - v4;
    let want = (
        usize::from(ip_mode.has_ipv4()),
        usize::from(ip_mode.has_ipv6()),
    );
    if (v4, v6) != want {
        let expected = match ip_mode {
            IpMode::Ipv4 => "one IPv4 CIDR",
            IpMode::Ipv6 => "one IPv6 CIDR",
            IpMode::DualStack => "one IPv4 and one IPv6 CIDR, comma-separated",
        };
        let hint = (ip_mode == IpMode::DualStack)
            .then(|| kdc::dual_stack_hint(name, &nets))
            .flatten()
            .map(|h| format!("; {h}"))
            .unwrap_or_default();
        return Err(usage(format!(
            "invalid {name} {text:?} for {ip_mode} mode: expected {expected}{hint}"
        )));
    }
    Ok(nets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn settings(pairs: &[(&str, &str)]) -> anyhow::Result<Settings> {
        Settings::from_env_pairs(pairs)
    }

    #[test]
    fn defaults_of_each_ip_mode() {
        // (mode, mgmt, pods, services)
        let table = [
            ("ipv4", "10.192.0.0/24", "10.244.0.0/16", "10.96.0.0/12"),
            ("ipv6", "fd00:20::/64", "fd00:40::/72", "fd00:30::/110"),
            (
                "dual-stack",
                "10.192.0.0/24,fd00:20::/64",
                "10.244.0.0/16,fd00:40::/72",
                "10.96.0.0/12,fd00:30::/110",
            ),
        ];
        for (mode, mgmt, pods, services) in table {
            let s = settings(&[("IP_MODE", mode)]).unwrap();
            let join = |nets: &[IpNet]| {
                nets.iter()
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            assert_eq!(join(&s.mgmt_cidrs), mgmt, "{mode}");
            assert_eq!(join(&s.pod_cidrs), pods, "{mode}");
            assert_eq!(join(&s.service_cidrs), services, "{mode}");
            assert_eq!(
                s.allow_aaaa_use,
                mode == "dual-stack",
                "AAAA use is forced on only in dual-stack"
            );
        }
    }

    #[test]
    fn usage_errors_name_what_is_wrong() {
        let table: &[(&[(&'static str, &str)], &str)] = &[
            (&[("CLUSTER_ID", "300")], "0 to 254"),
            (&[("CLUSTER_ID", "ten")], "0 to 254"),
            (&[("IP_MODE", "ipv5")], "unknown IP mode"),
            (&[("CNI_PLUGIN", "cilium")], "unknown CNI plugin"),
            (
                &[("IP_MODE", "ipv6"), ("CNI_PLUGIN", "flannel")],
                "cannot give pods IPv6",
            ),
            (&[("DIND_LABEL", "Foo_Bar")], "invalid label"),
            (&[("MGMT_CIDRS", "fd00:20::/64")], "expected one IPv4 CIDR"),
            (&[("DNS64_PREFIX", "fd00:10:64::/64")], "/96"),
            (&[("NUM_NODES", "-1")], "number of nodes"),
            (&[("APISERVER_PORT", "70000")], "API server port"),
        ];
        for (pairs, needle) in table {
            let err = settings(pairs).unwrap_err();
            assert_eq!(crate::error::exit_code(&err), 2, "{pairs:?}");
            assert!(err.to_string().contains(needle), "{pairs:?}: {err}");
            // The variable that was wrong leads the message.
            let named = pairs.iter().any(|(k, _)| err.to_string().contains(k));
            assert!(named, "{pairs:?}: {err}");
        }
    }

    #[test]
    fn a_bad_value_names_the_flag_or_file_key_it_came_from() {
        let flags = Layer {
            values: [("IP_MODE", "ipv7".to_string())].into(),
            ..Layer::default()
        };
        let file = Layer {
            values: [("NUM_NODES", "many".to_string())].into(),
            ..Layer::default()
        };
        let path = std::path::PathBuf::from("/c.yaml");
        let none = Layer::default();
        let by_flag = ResolvedSettings::resolve(&flags, &none, &none, None);
        let err = Settings::from_resolved(&by_flag).unwrap_err();
        assert!(err.to_string().starts_with("--ip-mode: "), "{err}");
        let by_file = ResolvedSettings::resolve(&none, &none, &file, Some(path));
        let err = Settings::from_resolved(&by_file).unwrap_err();
        assert!(err.to_string().starts_with("nodes in /c.yaml: "), "{err}");
        assert_eq!(crate::error::exit_code(&err), 2);
    }

    #[test]
    fn component_args_come_from_every_layer() {
        let env = Layer::from_env([
            ("APISERVER_AUDIT_LOG_PATH".to_string(), "-".to_string()),
            ("APISERVER_PORT".to_string(), "6443".to_string()),
            ("SCHEDULER_V".to_string(), "2".to_string()),
            ("DIND_ALLOW_AAAA_USE".to_string(), String::new()),
        ]);
        assert_eq!(
            env.values.get("APISERVER_PORT").map(String::as_str),
            Some("6443")
        );
        assert!(
            !env.values.contains_key("DIND_ALLOW_AAAA_USE"),
            "an empty switch is off"
        );
        let file = Layer::from_yaml(
            "scheduler-args:\n  v: 1\n  leader-elect: false\ncluster-id: 4\nnodes: [1]\n",
            Path::new("config.yaml"),
        )
        .unwrap();
        let r = ResolvedSettings::resolve(&Layer::default(), &env, &file, None);
        let s = Settings::from_resolved(&r).unwrap();
        assert_eq!(
            s.component_args[&Component::Apiserver]["audit-log-path"],
            "-"
        );
        assert_eq!(s.component_args[&Component::Scheduler]["v"], "2");
        assert_eq!(
            s.component_args[&Component::Scheduler]["leader-elect"],
            "false"
        );
        assert!(!s.component_args[&Component::Apiserver].contains_key("port"));
        assert_eq!(s.identity.id(), 4);
    }

    #[test]
    fn lists_split_on_commas_and_keep_spaces_in_items() {
        let dir = tempfile::tempdir().unwrap();
        let spaced = dir.path().join("My Dir");
        std::fs::create_dir(&spaced).unwrap();
        let manifest = spaced.join("x.yaml");
        std::fs::write(&manifest, "kind: List\n").unwrap();
        let manifest = manifest.to_str().unwrap();
        let s = settings(&[
            ("DIND_ADDONS", &format!("{manifest}, dashboard")),
            ("EXTRA_PORTS", "8080:80 8443:443,9000:90"),
            ("DIND_CUSTOM_NETWORKS", "a b,c"),
        ])
        .unwrap();
        assert_eq!(s.addons, [manifest, "dashboard"]);
        assert_eq!(s.extra_ports, ["8080:80", "8443:443", "9000:90"]);
        assert_eq!(s.custom_networks, ["a", "b", "c"]);
    }

    #[test]
    fn a_node_build_gets_the_download_url_and_the_proxies() {
        let s = settings(&[
            ("DIND_KUBE_DOWNLOAD_URL", "https://mirror.example/release/"),
            ("DIND_HTTP_PROXY", "http://p:3128"),
            ("DIND_NO_PROXY", "example.com"),
        ])
        .unwrap();
        assert_eq!(
            NodeBuild::from(&s),
            NodeBuild {
                kube_download_url: "https://mirror.example/release".into(),
                http_proxy: Some("http://p:3128".into()),
                https_proxy: None,
                no_proxy: Some("example.com".into()),
            }
        );
    }
}
