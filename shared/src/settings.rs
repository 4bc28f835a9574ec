//! Every knob of a cluster, where its value came from, and the checks that run before
//! anything is created.
//!
//! One table, [`VARIABLES`], names each setting three ways: its kubeadm-dind-cluster
//! environment variable (`CLUSTER_ID`), its flag (`--cluster-id`) and its key in the YAML
//! config file (`cluster-id`). Resolution is flag > environment > file > default, and
//! [`ResolvedSettings`] remembers the winner's [`Source`] so `settings` can show it.
//! [`Settings`] is the typed, validated result the rest of the crate works from.

use crate::error::usage;
use crate::names::ClusterIdentity;
use anyhow::Context;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub mod kdc;

/// The Kubernetes release a node image gets when none is asked for.
pub const DEFAULT_KUBERNETES_VERSION: &str = "v1.37.0";

/// Where a setting's value came from, in rising precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Default,
    File,
    Environment,
    Flag,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Default => "default",
            Source::File => "file",
            Source::Environment => "environment",
            Source::Flag => "flag",
        })
    }
}

/// How a variable's default is chosen.
#[derive(Debug, Clone, Copy)]
pub enum DefaultValue {
    /// Unset unless given.
    None,
    Fixed(&'static str),
    /// Depends on the IP mode: (ipv4, ipv6, dual-stack).
    ByIpMode(&'static str, &'static str, &'static str),
}

/// One setting, named the three ways users can give it.
#[derive(Debug, Clone, Copy)]
pub struct Variable {
    /// The environment variable, as kubeadm-dind-cluster named it.
    pub env: &'static str,
    /// The long flag, without dashes; also the key in the config file.
    pub flag: &'static str,
    pub default: DefaultValue,
    /// Whether the flag takes no value (`--skip-snapshot`); its value is then `true`.
    pub switch: bool,
    pub help: &'static str,
    /// Whether the flag may be given several times; the values are joined with commas.
    pub repeatable: bool,
    /// An older flag name that still works (hidden from help).
    pub alias: Option<&'static str>,
}

const fn var(
    env: &'static str,
    flag: &'static str,
    default: DefaultValue,
    help: &'static str,
) -> Variable {
    Variable {
        env,
        flag,
        default,
        switch: false,
        help,
        repeatable: false,
        alias: None,
    }
}

const fn switch(env: &'static str, flag: &'static str, help: &'static str) -> Variable {
    Variable {
        env,
        flag,
        default: DefaultValue::None,
        switch: true,
        help,
        repeatable: false,
        alias: None,
    }
}

/// A repeatable flag (`--publish A --publish B`), also a comma list in the environment.
const fn list(
    env: &'static str,
    flag: &'static str,
    alias: Option<&'static str>,
    help: &'static str,
) -> Variable {
    Variable {
        env,
        flag,
        default: DefaultValue::None,
        switch: false,
        help,
        repeatable: true,
        alias,
    }
}

use DefaultValue::{ByIpMode, Fixed, None as Unset};

/// Every setting. The order is the order `settings` prints.
pub const VARIABLES: &[Variable] = &[
    var(
        "CLUSTER_ID",
        "cluster-id",
        Fixed("0"),
        "cluster ID, 0..254; 0 is the default cluster",
    ),
    var(
        "DIND_LABEL",
        "label",
        Unset,
        "custom cluster name; names get the suffix -LABEL",
    ),
    var(
        "IP_MODE",
        "ip-mode",
        Fixed("ipv4"),
        "ipv4, ipv6 or dual-stack",
    ),
    var(
        "NUM_NODES",
        "nodes",
        Fixed("2"),
        "number of worker nodes; 0 runs an untainted master only",
    ),
    var(
        "CNI_PLUGIN",
        "cni",
        Fixed("bridge"),
        "bridge, ptp, flannel, calico, calico-kdd, weave or kube-router",
    ),
    var(
        "MGMT_CIDRS",
        "mgmt-cidrs",
        ByIpMode(
            "10.192.0.0/24",
            "fd00:20::/64",
            "10.192.0.0/24,fd00:20::/64",
        ),
        "management network; the cluster ID is injected (IPv4 must be a /24)",
    ),
    var(
        "POD_NETWORK_CIDR",
        "pod-cidr",
        ByIpMode(
            "10.244.0.0/16",
            "fd00:40::/72",
            "10.244.0.0/16,fd00:40::/72",
        ),
        "pod network, split into one subnet per node (IPv4 must be a /16)",
    ),
    var(
        "SERVICE_CIDR",
        "service-cidr",
        ByIpMode(
            "10.96.0.0/12",
            "fd00:30::/110",
            "10.96.0.0/12,fd00:30::/110",
        ),
        "service network; the DNS service is its address 10",
    ),
    var(
        "DNS64_PREFIX",
        "dns64-prefix",
        Fixed("fd00:10:64:ff9b::"),
        "DNS64/NAT64 prefix (a /96), IPv6 mode only",
    ),
    var(
        "NAT64_V4_SUBNET_PREFIX",
        "nat64-prefix",
        Fixed("172.18"),
        "private IPv4 prefix of NAT64 pools: A.B gives A.B.<id>.0/24, 10 gives 10.<id>.0.0/16",
    ),
    var(
        "REMOTE_DNS64_V4SERVER",
        "remote-dns64-server",
        Fixed("8.8.8.8"),
        "IPv4 upstream resolver of the DNS64 server",
    ),
    switch(
        "DIND_ALLOW_AAAA_USE",
        "allow-aaaa",
        "use real AAAA records instead of synthesized ones (always on in dual-stack)",
    ),
    var(
        "APISERVER_PORT",
        "apiserver-port",
        Unset,
        "host port of the API server; unset picks a free one",
    ),
    var(
        "DIND_APISERVER_ADDRESS",
        "apiserver-address",
        Unset,
        "host address the API server is published on (default 127.0.0.1, or ::1 for IPv6 services)",
    ),
    var(
        "DIND_PORT_FORWARDER",
        "port-forwarder",
        Unset,
        "executable called with the API server port after the context is written",
    ),
    list(
        "EXTRA_PORTS",
        "publish",
        Some("extra-ports"),
        "[ADDR:]HOST:CONTAINER[/tcp|udp] published on the first worker (the master without workers); ADDR defaults to 127.0.0.1",
    ),
    var(
        "FEATURE_GATES",
        "feature-gates",
        Unset,
        "feature gates of the control plane, e.g. Foo=true,Bar=false",
    ),
    var(
        "KUBELET_FEATURE_GATES",
        "kubelet-feature-gates",
        Unset,
        "feature gates of the kubelets",
    ),
    var(
        "DIND_IMAGE",
        "image",
        Unset,
        "node image; unset builds dind-node:<kubernetes version>",
    ),
    var(
        "DIND_KUBERNETES_VERSION",
        "kubernetes-version",
        Fixed(DEFAULT_KUBERNETES_VERSION),
        "Kubernetes release of the node image dind builds",
    ),
    var(
        "DIND_KUBE_DOWNLOAD_URL",
        "kube-download-url",
        Fixed(crate::image::recipe::DEFAULT_KUBE_DOWNLOAD_URL),
        "base URL of the Kubernetes release downloads the node image build uses (a mirror)",
    ),
    switch(
        "SKIP_SNAPSHOT",
        "skip-snapshot",
        "always do a full up, never restore",
    ),
    var(
        "DIND_HTTP_PROXY",
        "http-proxy",
        Unset,
        "HTTP proxy for containerd and kubelet in every node",
    ),
    var(
        "DIND_HTTPS_PROXY",
        "https-proxy",
        Unset,
        "HTTPS proxy for containerd and kubelet in every node",
    ),
    var(
        "DIND_NO_PROXY",
        "no-proxy",
        Unset,
        "proxy exceptions; the cluster's ranges, node names and localhost are always added",
    ),
    var(
        "DIND_REGISTRY_MIRROR",
        "registry-mirror",
        Unset,
        "mirror of docker.io for containerd in every node (a URL)",
    ),
    var(
        "DIND_INSECURE_REGISTRIES",
        "insecure-registries",
        Unset,
        "registries (HOST[:PORT]) containerd reaches over plain HTTP or unverified TLS; comma list or JSON list",
    ),
    var(
        "DIND_CUSTOM_NETWORKS",
        "custom-networks",
        Unset,
        "existing Docker networks to attach every node to as well, comma-separated",
    ),
    var(
        "E2E_REPORT_DIR",
        "e2e-report-dir",
        Unset,
        "where e2e writes JUnit reports",
    ),
    switch(
        "RUN_ON_BTRFS_ANYWAY",
        "run-on-btrfs-anyway",
        "run on the btrfs storage driver although it is unsupported",
    ),
    switch(
        "SKIP_DASHBOARD",
        "skip-dashboard",
        "never install the dashboard addon (it is off unless --addons names it)",
    ),
    var(
        "DIND_CA_CERT_URL",
        "ca-cert",
        Unset,
        "a CA certificate (FILE, file:// or http(s):// URL) added to every node's trust store",
    ),
    switch(
        "DIND_PROPAGATE_HTTP_PROXY",
        "propagate-http-proxy",
        "take the proxy settings from this machine's HTTP_PROXY, HTTPS_PROXY and NO_PROXY",
    ),
    switch(
        "DIND_NO_STORAGE",
        "no-storage",
        "do not install the default StorageClass (local-path provisioner)",
    ),
    list(
        "DIND_ADDONS",
        "addons",
        None,
        "manifests applied once the cluster is ready: dashboard, a FILE or an http(s) URL",
    ),
];

/// `DIND_KUBE_DOWNLOAD_URL`, checked: curl in the image build must be able to use it.
fn kube_download_url(value: Option<&str>) -> anyhow::Result<String> {
    let url = value
        .filter(|v| !v.is_empty())
        .unwrap_or(crate::image::recipe::DEFAULT_KUBE_DOWNLOAD_URL);
    let host = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .and_then(|rest| rest.split('/').next())
        .filter(|host| !host.is_empty());
    if host.is_none()
        || url
            .chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '\\')
    {
        return Err(usage(format!(
            "invalid DIND_KUBE_DOWNLOAD_URL {url:?}: expected an http:// or https:// URL, e.g. https://dl.k8s.io/release"
        )));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// The families of extra component arguments: `APISERVER_FOO_BAR=x` in the environment,
/// `--apiserver-arg foo-bar=x` as a flag, `apiserver-args: {foo-bar: x}` in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Component {
    Apiserver,
    ControllerManager,
    Scheduler,
}

impl Component {
    pub const ALL: [Component; 3] = [
        Component::Apiserver,
        Component::ControllerManager,
        Component::Scheduler,
    ];

    /// The environment prefix, e.g. `APISERVER_`.
    pub fn env_prefix(self) -> &'static str {
        match self {
            Component::Apiserver => "APISERVER_",
            Component::ControllerManager => "CONTROLLER_MANAGER_",
            Component::Scheduler => "SCHEDULER_",
        }
    }

    /// The repeatable flag, e.g. `apiserver-arg`.
    pub fn flag(self) -> &'static str {
        match self {
            Component::Apiserver => "apiserver-arg",
            Component::ControllerManager => "controller-manager-arg",
            Component::Scheduler => "scheduler-arg",
        }
    }

    /// The config-file key, e.g. `apiserver-args`.
    pub fn file_key(self) -> &'static str {
        match self {
            Component::Apiserver => "apiserver-args",
            Component::ControllerManager => "controller-manager-args",
            Component::Scheduler => "scheduler-args",
        }
    }
}

/// Raw values from one layer: variable env name → value, and component → (arg → value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layer {
    pub values: BTreeMap<&'static str, String>,
    pub component_args: BTreeMap<Component, BTreeMap<String, String>>,
    /// The kubeadm-dind-cluster variables that are set (environment only), see [`kdc`].
    pub kdc: BTreeMap<String, String>,
}

impl Layer {
    /// Reads the variables and component-argument families from environment pairs.
    pub fn from_env<I: IntoIterator<Item = (String, String)>>(vars: I) -> Layer {
        let vars: BTreeMap<String, String> = vars.into_iter().collect();
        let mut layer = Layer {
            kdc: kdc::collect(&vars),
            ..Layer::default()
        };
        layer.values.extend(kdc::aliases(&vars));
        for v in VARIABLES {
            if let Some(value) = vars.get(v.env) {
                // An empty switch variable means "off", as in the shell tool.
                if !(v.switch && value.is_empty()) {
                    layer.values.insert(v.env, value.clone());
                }
            }
        }
        for (key, value) in &vars {
            if VARIABLES.iter().any(|v| v.env == key) {
                continue;
            }
            for component in Component::ALL {
                if let Some(name) = key.strip_prefix(component.env_prefix()) {
                    if !name.is_empty() {
                        let arg = name.to_ascii_lowercase().replace('_', "-");
                        layer
                            .component_args
                            .entry(component)
                            .or_default()
                            .insert(arg, value.clone());
                    }
                }
            }
        }
        layer
    }

    /// Parses the YAML config file: flag names as keys, component arguments as maps.
    pub fn from_yaml(text: &str, path: &Path) -> anyhow::Result<Layer> {
        let doc: serde_yaml::Value = serde_yaml::from_str(text)
            .map_err(|e| usage(format!("{}: not valid YAML: {e}", path.display())))?;
        let mut layer = Layer::default();
        let map = match doc {
            serde_yaml::Value::Null => return Ok(layer),
            serde_yaml::Value::Mapping(map) => map,
            _ => {
                return Err(usage(format!(
                    "{}: expected a mapping of settings",
                    path.display()
                )))
            }
        };
        for (key, value) in map {
            let key = key.as_str().map(str::to_string).unwrap_or_default();
            if let Some(variable) = VARIABLES
                .iter()
                .find(|v| v.flag == key || v.alias == Some(key.as_str()))
            {
                layer
                    .values
                    .insert(variable.env, scalar_to_string(&value, &key, path)?);
            } else if let Some(component) = Component::ALL.into_iter().find(|c| c.file_key() == key)
            {
                let args = value.as_mapping().ok_or_else(|| {
                    usage(format!(
                        "{}: {key} must be a mapping of argument names to values",
                        path.display()
                    ))
                })?;
                let entry = layer.component_args.entry(component).or_default();
                for (arg, arg_value) in args {
                    let arg = arg.as_str().unwrap_or_default().to_string();
                    entry.insert(arg.clone(), scalar_to_string(arg_value, &arg, path)?);
                }
            } else {
                return Err(usage(format!(
                    "{}: unknown setting {key:?}; `kubectl dind settings` lists the valid ones",
                    path.display()
                )));
            }
        }
        Ok(layer)
    }
}

fn scalar_to_string(value: &serde_yaml::Value, key: &str, path: &Path) -> anyhow::Result<String> {
    match value {
        serde_yaml::Value::String(s) => Ok(s.clone()),
        serde_yaml::Value::Number(n) => Ok(n.to_string()),
        serde_yaml::Value::Bool(b) => Ok(b.to_string()),
        serde_yaml::Value::Sequence(items) => items
            .iter()
            .map(|item| scalar_to_string(item, key, path))
            .collect::<anyhow::Result<Vec<_>>>()
            .map(|items| items.join(",")),
        _ => Err(usage(format!(
            "{}: {key} must be a string, number or list",
            path.display()
        ))),
    }
}

/// The config file: `DIND_CONFIG`, else `<config dir>/dind/config.yaml`.
/// Returns the path and whether the user named it explicitly (then it must exist).
pub fn config_file_path(env: &BTreeMap<String, String>) -> Option<(PathBuf, bool)> {
    if let Some(path) = env.get("DIND_CONFIG").filter(|p| !p.is_empty()) {
        return Some((PathBuf::from(path), true));
    }
    dirs::config_dir().map(|dir| (dir.join("dind").join("config.yaml"), false))
}

/// Reads the config file layer, if there is one.
pub fn read_config_file(
    env: &BTreeMap<String, String>,
) -> anyhow::Result<(Layer, Option<PathBuf>)> {
    let Some((path, explicit)) = config_file_path(env) else {
        return Ok((Layer::default(), None));
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok((Layer::from_yaml(&text, &path)?, Some(path))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            Ok((Layer::default(), None))
        }
        Err(e) => Err(e).with_context(|| format!("reading config file {}", path.display())),
    }
}

/// One resolved variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvedValue {
    pub value: Option<String>,
    pub source: Source,
}

/// Every variable's winning raw value and its source, before typing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvedSettings {
    pub values: BTreeMap<&'static str, ResolvedValue>,
    pub component_args: BTreeMap<Component, BTreeMap<String, ResolvedValue>>,
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// The kubeadm-dind-cluster variables that are set, see [`kdc`].
    pub kdc: BTreeMap<String, String>,
}

impl ResolvedSettings {
    /// Resolves flag > environment > file > default. IP-mode defaults follow the
    /// resolved IP mode.
    pub fn resolve(
        flags: &Layer,
        env: &Layer,
        file: &Layer,
        config_file: Option<PathBuf>,
    ) -> ResolvedSettings {
        let pick = |key: &'static str| -> Option<ResolvedValue> {
            [
                (flags, Source::Flag),
                (env, Source::Environment),
                (file, Source::File),
            ]
            .into_iter()
            .find_map(|(layer, source)| {
                layer.values.get(key).map(|v| ResolvedValue {
                    value: Some(v.clone()),
                    source,
                })
            })
        };
        let ip_mode = pick("IP_MODE")
            .and_then(|r| r.value)
            .and_then(|v| IpMode::from_str(&v).ok())
            .unwrap_or(IpMode::Ipv4);
        let mut values = BTreeMap::new();
        for v in VARIABLES {
            let resolved = pick(v.env).unwrap_or_else(|| ResolvedValue {
                value: match v.default {
                    Unset => None,
                    Fixed(s) => Some(s.to_string()),
                    ByIpMode(v4, v6, dual) => Some(
                        match ip_mode {
                            IpMode::Ipv4 => v4,
                            IpMode::Ipv6 => v6,
                            IpMode::DualStack => dual,
                        }
                        .to_string(),
                    ),
                },
                source: Source::Default,
            });
            values.insert(v.env, resolved);
        }
        let mut component_args: BTreeMap<Component, BTreeMap<String, ResolvedValue>> =
            BTreeMap::new();
        // Lowest precedence first, so higher layers overwrite.
        for (layer, source) in [
            (file, Source::File),
            (env, Source::Environment),
            (flags, Source::Flag),
        ] {
            for (component, args) in &layer.component_args {
                for (arg, value) in args {
                    component_args.entry(*component).or_default().insert(
                        arg.clone(),
                        ResolvedValue {
                            value: Some(value.clone()),
                            source,
                        },
                    );
                }
            }
        }
        ResolvedSettings {
            values,
            component_args,
            config_file,
            kdc: env.kdc.clone(),
        }
    }

    /// The raw value of a variable.
    pub fn get(&self, env: &str) -> Option<&str> {
        self.values.get(env).and_then(|r| r.value.as_deref())
    }

    /// Rows of `(env, flag, value, source)` for display.
    pub fn rows(&self) -> Vec<(String, String, String, Source)> {
        let mut rows: Vec<_> = VARIABLES
            .iter()
            .map(|v| {
                let r = &self.values[v.env];
                (
                    v.env.to_string(),
                    format!("--{}", v.flag),
                    r.value.clone().unwrap_or_default(),
                    r.source,
                )
            })
            .collect();
        for (component, args) in &self.component_args {
            for (arg, r) in args {
                let env = format!(
                    "{}{}",
                    component.env_prefix(),
                    arg.to_ascii_uppercase().replace('-', "_")
                );
                rows.push((
                    env,
                    format!("--{} {arg}=…", component.flag()),
                    r.value.clone().unwrap_or_default(),
                    r.source,
                ));
            }
        }
        rows
    }
}

/// IP family layout of a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IpMode {
    Ipv4,
    Ipv6,
    DualStack,
}

impl IpMode {
    pub fn has_ipv4(self) -> bool {
        self != IpMode::Ipv6
    }
    pub fn has_ipv6(self) -> bool {
        self != IpMode::Ipv4
    }
}

impl FromStr for IpMode {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        match s {
            "ipv4" => Ok(IpMode::Ipv4),
            "ipv6" => Ok(IpMode::Ipv6),
            "dual-stack" | "dual" => Ok(IpMode::DualStack),
            other => Err(usage(format!(
                "unknown IP mode {other:?}: use ipv4, ipv6 or dual-stack"
            ))),
        }
    }
}

impl fmt::Display for IpMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IpMode::Ipv4 => "ipv4",
            IpMode::Ipv6 => "ipv6",
            IpMode::DualStack => "dual-stack",
        })
    }
}

/// The pod network plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cni {
    Bridge,
    Ptp,
    Flannel,
    Calico,
    CalicoKdd,
    Weave,
    KubeRouter,
}

impl Cni {
    /// Only the plugins dind configures itself give pods IPv6 addresses.
    pub fn supports_ipv6(self) -> bool {
        matches!(self, Cni::Bridge | Cni::Ptp)
    }
}

impl FromStr for Cni {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        Ok(match s {
            "bridge" => Cni::Bridge,
            "ptp" => Cni::Ptp,
            "flannel" => Cni::Flannel,
            "calico" => Cni::Calico,
            "calico-kdd" => Cni::CalicoKdd,
            "weave" => Cni::Weave,
            "kube-router" => Cni::KubeRouter,
            other => {
                return Err(usage(format!(
                    "unknown CNI plugin {other:?}: use bridge, ptp, flannel, calico, calico-kdd, weave or kube-router"
                )))
            }
        })
    }
}

impl fmt::Display for Cni {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let json = serde_json::to_value(self).map_err(|_| fmt::Error)?;
        f.write_str(json.as_str().unwrap_or_default())
    }
}

/// The typed, checked settings of one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub identity: ClusterIdentity,
    pub ip_mode: IpMode,
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
}

impl Settings {
    /// Types and checks the resolved values. Address-plan checks (sizes, overlaps) are
    /// [`crate::plan::ClusterPlan::new`]'s.
    pub fn from_resolved(r: &ResolvedSettings) -> anyhow::Result<Settings> {
        let get = |key: &str| r.get(key).map(str::to_string);
        let cluster_id = parse_cluster_id(r.get("CLUSTER_ID").unwrap_or("0"))?;
        let identity = ClusterIdentity::new(cluster_id, get("DIND_LABEL"))?;
        let ip_mode = IpMode::from_str(r.get("IP_MODE").unwrap_or("ipv4"))?;
        let num_nodes = r.get("NUM_NODES").unwrap_or("2");
        let num_nodes: u16 = num_nodes.parse().map_err(|_| {
            usage(format!(
                "invalid number of nodes {num_nodes:?}: expected a whole number"
            ))
        })?;
        let cni = Cni::from_str(r.get("CNI_PLUGIN").unwrap_or("bridge"))?;
        if ip_mode.has_ipv6() && !cni.supports_ipv6() {
            return Err(usage(format!(
                "CNI plugin {cni} cannot give pods IPv6 addresses in {ip_mode} mode: use bridge or ptp"
            )));
        }
        let dns64 = r.get("DNS64_PREFIX").unwrap_or_default();
        let dns64_prefix = parse_dns64_prefix(dns64)?;
        let remote = r.get("REMOTE_DNS64_V4SERVER").unwrap_or_default();
        let remote_dns64_v4server = remote.parse().map_err(|_| {
            usage(format!(
                "invalid REMOTE_DNS64_V4SERVER {remote:?}: expected an IPv4 address"
            ))
        })?;
        let apiserver_port = match r.get("APISERVER_PORT") {
            None | Some("") => None,
            Some(p) => Some(p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                usage(format!("invalid API server port {p:?}: expected 1..65535"))
            })?),
        };
        let apiserver_address = match r.get("DIND_APISERVER_ADDRESS") {
            None | Some("") => None,
            Some(a) => Some(
                a.trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse()
                    .map_err(|_| {
                        usage(format!(
                            "invalid API server address {a:?}: expected an IP address"
                        ))
                    })?,
            ),
        };
        let kubernetes_version = r
            .get("DIND_KUBERNETES_VERSION")
            .unwrap_or(DEFAULT_KUBERNETES_VERSION);
        let kubernetes_version = crate::version::KubeVersion::parse(kubernetes_version)?;
        kubernetes_version.require_supported()?;
        let kubernetes_version = kubernetes_version.to_string();
        let kube_download_url = kube_download_url(r.get("DIND_KUBE_DOWNLOAD_URL"))?;
        let settings = Settings {
            identity,
            ip_mode,
            num_nodes,
            cni,
            mgmt_cidrs: parse_cidrs(
                "MGMT_CIDRS",
                r.get("MGMT_CIDRS").unwrap_or_default(),
                ip_mode,
            )?,
            pod_cidrs: parse_cidrs(
                "POD_NETWORK_CIDR",
                r.get("POD_NETWORK_CIDR").unwrap_or_default(),
                ip_mode,
            )?,
            service_cidrs: parse_cidrs(
                "SERVICE_CIDR",
                r.get("SERVICE_CIDR").unwrap_or_default(),
                ip_mode,
            )?,
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
            port_forwarder: get("DIND_PORT_FORWARDER")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            extra_ports: split_list(r.get("EXTRA_PORTS")),
            feature_gates: kdc::feature_gates("FEATURE_GATES", r.get("FEATURE_GATES"))?,
            kubelet_feature_gates: kdc::feature_gates(
                "KUBELET_FEATURE_GATES",
                r.get("KUBELET_FEATURE_GATES"),
            )?,
            component_args: r
                .component_args
                .iter()
                .map(|(c, args)| {
                    (
                        *c,
                        args.iter()
                            .map(|(k, v)| (k.clone(), v.value.clone().unwrap_or_default()))
                            .collect(),
                    )
                })
                .collect(),
            image: get("DIND_IMAGE").filter(|s| !s.is_empty()),
            kubernetes_version,
            kube_download_url,
            skip_snapshot: parse_switch(r.get("SKIP_SNAPSHOT")),
            http_proxy: get("DIND_HTTP_PROXY").filter(|s| !s.is_empty()),
            https_proxy: get("DIND_HTTPS_PROXY").filter(|s| !s.is_empty()),
            no_proxy: get("DIND_NO_PROXY").filter(|s| !s.is_empty()),
            registry_mirror: get("DIND_REGISTRY_MIRROR").filter(|s| !s.is_empty()),
            insecure_registries: split_json_or_list(
                "DIND_INSECURE_REGISTRIES",
                r.get("DIND_INSECURE_REGISTRIES"),
            )?,
            custom_networks: split_list(r.get("DIND_CUSTOM_NETWORKS")),
            e2e_report_dir: get("E2E_REPORT_DIR")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            run_on_btrfs_anyway: parse_switch(r.get("RUN_ON_BTRFS_ANYWAY")),
            skip_dashboard: parse_switch(r.get("SKIP_DASHBOARD")),
            kdc: kdc::KdcSettings::from_env(&r.kdc, r.get("DIND_IMAGE").filter(|s| !s.is_empty()))?,
            ca_cert: get("DIND_CA_CERT_URL").filter(|s| !s.is_empty()),
            propagate_http_proxy: parse_switch(r.get("DIND_PROPAGATE_HTTP_PROXY")),
            no_storage: parse_switch(r.get("DIND_NO_STORAGE")),
            addons: split_list(r.get("DIND_ADDONS")),
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

/// Parses a cluster ID: a decimal number from 0 to 254.
pub fn parse_cluster_id(text: &str) -> anyhow::Result<u8> {
    let range = format!("0 to {}", crate::names::MAX_CLUSTER_ID);
    let n: u32 = text.trim().parse().map_err(|_| {
        usage(format!(
            "invalid cluster ID {text:?}: it must be a number from {range}"
        ))
    })?;
    u8::try_from(n)
        .ok()
        .filter(|id| *id <= crate::names::MAX_CLUSTER_ID)
        .ok_or_else(|| {
            usage(format!(
                "invalid cluster ID {n}: it must be a number from {range}"
            ))
        })
}

fn parse_switch(value: Option<&str>) -> bool {
    !matches!(
        value.map(|v| v.trim().to_ascii_lowercase()).as_deref(),
        None | Some("" | "false" | "0" | "no" | "n")
    )
}

/// A list given as a JSON list (`["a:5000","b"]`, the shell tool's form) or a comma list.
fn split_json_or_list(name: &str, value: Option<&str>) -> anyhow::Result<Vec<String>> {
    match value.map(str::trim) {
        Some(text) if text.starts_with('[') => {
            let items: Vec<String> = serde_json::from_str(text).map_err(|e| {
                usage(format!(
                    "invalid {name} {text:?}: a JSON list of strings or a comma list ({e})"
                ))
            })?;
            Ok(items
                .into_iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect())
        }
        other => Ok(split_list(other)),
    }
}

fn split_list(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or_default()
        .split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Parses a comma-separated CIDR list and checks it has exactly the families of the mode.
fn parse_cidrs(name: &str, text: &str, ip_mode: IpMode) -> anyhow::Result<Vec<IpNet>> {
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

fn parse_dns64_prefix(text: &str) -> anyhow::Result<Ipv6Net> {
    let text = text.trim();
    let net = if text.contains('/') {
        Ipv6Net::from_str(text).ok()
    } else {
        text.parse().ok().and_then(|a| Ipv6Net::new(a, 96).ok())
    };
    match net {
        Some(net) if net.prefix_len() == 96 && net.trunc() == net => Ok(net),
        _ => Err(usage(format!(
            "invalid DNS64_PREFIX {text:?}: expected an IPv6 /96 prefix like fd00:10:64:ff9b::"
        ))),
    }
}

/// Converts a mgmt IPv4 net for error messages etc.
pub fn first_v4(nets: &[IpNet]) -> Option<Ipv4Net> {
    nets.iter().find_map(|n| match n {
        IpNet::V4(v4) => Some(*v4),
        IpNet::V6(_) => None,
    })
}

/// The IPv6 member of a CIDR list, if any.
pub fn first_v6(nets: &[IpNet]) -> Option<Ipv6Net> {
    nets.iter().find_map(|n| match n {
        IpNet::V6(v6) => Some(*v6),
        IpNet::V4(_) => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(pairs: &[(&'static str, &str)]) -> Layer {
        Layer {
            values: pairs.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            ..Layer::default()
        }
    }

    fn settings(pairs: &[(&str, &str)]) -> anyhow::Result<Settings> {
        Settings::from_env_pairs(pairs)
    }

    #[test]
    fn flag_beats_environment_beats_file_beats_default() {
        let file = layer(&[
            ("CLUSTER_ID", "3"),
            ("NUM_NODES", "4"),
            ("CNI_PLUGIN", "ptp"),
        ]);
        let env = layer(&[("CLUSTER_ID", "5"), ("NUM_NODES", "6")]);
        let flags = layer(&[("CLUSTER_ID", "7")]);
        let r = ResolvedSettings::resolve(&flags, &env, &file, None);
        let table = [
            ("CLUSTER_ID", "7", Source::Flag),
            ("NUM_NODES", "6", Source::Environment),
            ("CNI_PLUGIN", "ptp", Source::File),
            ("IP_MODE", "ipv4", Source::Default),
        ];
        for (key, value, source) in table {
            assert_eq!(
                r.values[key],
                ResolvedValue {
                    value: Some(value.into()),
                    source
                },
                "{key}"
            );
        }
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
        }
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
    fn unknown_file_keys_are_rejected() {
        let err = Layer::from_yaml("clusterid: 4\n", Path::new("c.yaml")).unwrap_err();
        assert_eq!(crate::error::exit_code(&err), 2);
        assert!(err.to_string().contains("unknown setting"));
    }
}
