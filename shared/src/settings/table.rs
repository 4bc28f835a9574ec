//! The table of every setting: its environment variable, flag, config-file key, default
//! and help, and the families of extra component arguments. Data only: the layers that
//! fill it are [`super::sources`], the types its values become are [`super::values`].

use super::values::{one_of, value_names, Cni, IpMode, NodeIpv4};
use crate::image::recipe::DEFAULT_KUBE_DOWNLOAD_URL;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The Kubernetes release a node image gets when none is asked for.
pub const DEFAULT_KUBERNETES_VERSION: &str = "v1.37.0";

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
    pub help: Help,
    /// Whether the flag may be given several times; the values are joined with commas.
    pub repeatable: bool,
    /// An older flag name that still works (hidden from help).
    pub alias: Option<&'static str>,
}

/// What `--help` says about a setting.
#[derive(Debug, Clone, Copy)]
pub enum Help {
    Text(&'static str),
    /// "a, b or c", listed from the enum of the setting's values.
    OneOf(fn() -> Vec<String>),
}

impl fmt::Display for Help {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Help::Text(text) => f.write_str(text),
            Help::OneOf(values) => f.write_str(&one_of(&values())),
        }
    }
}

impl Variable {
    /// The only values the setting takes, for completion; `None` when it takes any text.
    pub fn choices(&self) -> Option<Vec<String>> {
        match self.help {
            Help::OneOf(values) => Some(values()),
            Help::Text(_) => None,
        }
    }
}

/// The table row of a flag (or of its old alias).
pub fn variable_of_flag(flag: &str) -> Option<&'static Variable> {
    VARIABLES
        .iter()
        .find(|v| v.flag == flag || v.alias == Some(flag))
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
        help: Help::Text(help),
        repeatable: false,
        alias: None,
    }
}

/// A setting whose values are an enum's: its help and its completion list the enum's
/// values, so a new variant needs no edit here.
const fn choice(
    env: &'static str,
    flag: &'static str,
    default: DefaultValue,
    values: fn() -> Vec<String>,
) -> Variable {
    Variable {
        help: Help::OneOf(values),
        ..var(env, flag, default, "")
    }
}

const fn switch(env: &'static str, flag: &'static str, help: &'static str) -> Variable {
    Variable {
        switch: true,
        ..var(env, flag, Unset, help)
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
        repeatable: true,
        alias,
        ..var(env, flag, Unset, help)
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
    choice("IP_MODE", "ip-mode", Fixed("ipv4"), value_names::<IpMode>),
    choice(
        "DIND_NODE_IPV4",
        "node-ipv4",
        Fixed("auto"),
        value_names::<NodeIpv4>,
    ),
    var(
        "NUM_NODES",
        "nodes",
        Fixed("2"),
        "number of worker nodes; 0 runs an untainted master only",
    ),
    var(
        "DIND_MASTERS",
        "masters",
        Fixed("1"),
        "number of masters: 1, 3 or 5; more than one puts the load balancer kube-master-lb in front of them",
    ),
    choice("CNI_PLUGIN", "cni", Fixed("bridge"), value_names::<Cni>),
    var(
        "DIND_KUBE_PROXY_MODE",
        "kube-proxy-mode",
        Fixed("iptables"),
        "kube-proxy's mode: iptables, nftables, ipvs or none (no kube-proxy)",
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
        "node image; unset: dind-node:<kubernetes version> (built when missing), dind-node:bare with --nodes-only",
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
        Fixed(DEFAULT_KUBE_DOWNLOAD_URL),
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
        "mirror of docker.io for containerd in every node (a URL), or the name of a dind pull-through registry (`registry up --proxy URL --name NAME`) for its upstream",
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
        "a CA certificate (FILE, file:// or https:// URL; plain http:// is refused) added to every node's trust store",
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
    list(
        "DIND_MOUNTS",
        "mount",
        None,
        "HOST_PATH:NODE_PATH[:ro]: a host folder in every node (in the config file, :masters or :workers limits it)",
    ),
    list(
        "DIND_DOCKER_HOSTS",
        "docker-hosts",
        None,
        "Docker engines of one swarm to spread the nodes over (a -H address or a context name each); the first holds the master",
    ),
];

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

    /// The program the arguments go to, e.g. `kube-apiserver`.
    pub fn program(self) -> &'static str {
        match self {
            Component::Apiserver => "kube-apiserver",
            Component::ControllerManager => "kube-controller-manager",
            Component::Scheduler => "kube-scheduler",
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
