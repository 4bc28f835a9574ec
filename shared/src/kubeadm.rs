//! The kubeadm configuration of a cluster: one multi-document file for `kubeadm init` on
//! the master, one `JoinConfiguration` per worker, and the commands that use them.
//!
//! The recipe is kind's, which is proven to run kubeadm inside containers, except for
//! kind's fixed bootstrap token: here each cluster has its own random one
//! ([`BootstrapToken`]), since a fixed one lets anyone who reaches the API port join a
//! node and get a certificate approved. Then containerd's socket, the systemd cgroup driver, no swap check, and
//! no disk-based garbage collection or eviction because every node sees the host's disk.
//! Documents are built as YAML values and serialized, never templated, so the output
//! always parses and values are always quoted correctly.

use crate::bootstrap_token::BootstrapToken;
use crate::error::usage;
use crate::plan::{ClusterPlan, NodePlan, Role};
use crate::settings::kube_proxy::KubeProxyMode;
use crate::settings::{Component, Settings};
use crate::version::KubeVersion;
use anyhow::{anyhow, Context};
use ipnet::IpNet;
use serde_yaml::{Mapping, Value};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Where kubeadm leaves the cluster-admin kubeconfig in the master: present once
/// Kubernetes was set up (`kubeadm init` writes it; kubectl in the master uses it).
pub const ADMIN_CONF: &str = "/etc/kubernetes/admin.conf";

/// Where the configuration file goes inside a node; kubeadm reads it through `--config`.
pub const CONFIG_PATH: &str = "/dind/kubeadm.conf";

/// The port the API server listens on inside the master.
pub const API_SERVER_PORT: u16 = 6443;

/// containerd's CRI socket in the node image.
pub const CRI_SOCKET: &str = "unix:///run/containerd/containerd.sock";

const DNS_DOMAIN: &str = "cluster.local";

/// Everything the configuration depends on.
#[derive(Debug, Clone, Copy)]
pub struct KubeadmInputs<'a> {
    pub plan: &'a ClusterPlan,
    pub settings: &'a Settings,
    /// The Kubernetes release inside the node image.
    pub version: &'a KubeVersion,
    /// Whether the Docker host mounts cgroup v1, which recent kubelets refuse by default.
    pub host_cgroup_v1: bool,
    /// Whether the master keeps kubeadm's control-plane taint, so ordinary pods avoid it.
    pub dedicated_master: bool,
    /// The token `kubeadm init` creates and workers join with: random per cluster.
    pub bootstrap_token: &'a BootstrapToken,
    /// With several masters: the key `kubeadm init --upload-certs` encrypts the
    /// control-plane certificates with, which the other masters need to join.
    pub certificate_key: Option<&'a str>,
}

/// The kubeadm configuration schema: `kubeadm.k8s.io/v1beta4` (kubeadm has it from 1.31;
/// dind supports 1.33 and newer, see [`KubeVersion::require_supported`]).
pub fn api_version(version: &KubeVersion) -> anyhow::Result<&'static str> {
    Schema::of(version).map(Schema::api_version)
}

/// The configuration for `kubeadm init` on the master: `InitConfiguration`,
/// `ClusterConfiguration`, `KubeletConfiguration` and `KubeProxyConfiguration`.
///
/// When the master is not dedicated (no workers, or `--no-dedicated`) its
/// `nodeRegistration.taints` is an empty list: kubeadm adds the control-plane taint only
/// when the field is absent, so the empty list is what lets ordinary pods run there.
pub fn render_init(inputs: &KubeadmInputs) -> anyhow::Result<String> {
    to_documents(&patched(inputs, &init_documents(inputs)?)?)
}

/// The documents of [`render_init`], before the settings' patches.
fn init_documents(inputs: &KubeadmInputs) -> anyhow::Result<Vec<Value>> {
    let schema = Schema::of(inputs.version)?;
    let mode = inputs.settings.kube_proxy_mode;
    mode.require_supported(inputs.version)?;
    let mut docs = vec![
        init_configuration(inputs, schema)?,
        cluster_configuration(inputs, schema)?,
        kubelet_configuration(inputs)?,
    ];
    docs.extend(kube_proxy_configuration(inputs.plan, mode));
    Ok(docs)
}

/// The settings' kubeadm patches applied to `docs` (kind's `kubeadmConfigPatches`).
fn patched(inputs: &KubeadmInputs, docs: &[Value]) -> anyhow::Result<Vec<Value>> {
    let patches = &inputs.settings.kubeadm_patches;
    if patches.is_empty() {
        return Ok(docs.to_vec());
    }
    Ok(patches.parsed()?.apply(docs)?.0)
}

/// The checks of the kubeadm side of `settings` that need no Docker: kube-proxy's mode
/// in the chosen release, and the patches (against documents rendered with a throwaway
/// token). `settings`, `up --dry-run` and `up` all run them.
pub fn check_settings(settings: &Settings, plan: &ClusterPlan) -> anyhow::Result<()> {
    let version = KubeVersion::parse(&settings.kubernetes_version)?;
    settings.kube_proxy_mode.require_supported(&version)?;
    let token = BootstrapToken::random()?;
    check_patches(&KubeadmInputs {
        plan,
        settings,
        version: &version,
        host_cgroup_v1: false,
        dedicated_master: true,
        bootstrap_token: &token,
        certificate_key: None,
    })
}

/// Refuses patches that do not apply or match no document, by rendering what a cluster of
/// these settings renders: init, and a worker's and (with several masters) a master's
/// join. Runs before anything is created.
pub fn check_patches(inputs: &KubeadmInputs) -> anyhow::Result<()> {
    let patches = &inputs.settings.kubeadm_patches;
    if patches.is_empty() {
        return Ok(());
    }
    let parsed = patches.parsed()?;
    // A worker's join is rendered even for a cluster without workers: `join` adds some.
    let mut settings = inputs.settings.clone();
    settings.num_nodes = settings.num_nodes.max(1);
    let plan = ClusterPlan::new(&settings)?;
    let key = "0".repeat(64);
    let inputs = KubeadmInputs {
        plan: &plan,
        settings: &settings,
        certificate_key: Some(&key),
        ..*inputs
    };
    let mut sets = vec![init_documents(&inputs)?];
    for node in [plan.masters().get(1), plan.workers().first()]
        .into_iter()
        .flatten()
    {
        sets.push(join_documents(&inputs, node)?);
    }
    let matched = sets
        .iter()
        .map(|docs| parsed.apply(docs).map(|(_, m)| m))
        .collect::<anyhow::Result<Vec<_>>>()?;
    crate::settings::kubeadm_patches::require_all_matched(patches, &matched)
}

/// The `JoinConfiguration` of a worker or of a master other than the first. The kubelet
/// settings come from the cluster (kubeadm init uploads them), so only the node's own
/// registration is here, and for a master its API server and the certificate key
/// (`controlPlane`: with `--config`, kubeadm refuses `--control-plane` and
/// `--certificate-key` on the command line; cmd/kubeadm/app/apis/kubeadm/validation/
/// validation.go, `isAllowedFlag`).
pub fn render_join(inputs: &KubeadmInputs, node: &NodePlan) -> anyhow::Result<String> {
    to_documents(&patched(inputs, &join_documents(inputs, node)?)?)
}

/// The documents of [`render_join`], before the settings' patches.
fn join_documents(inputs: &KubeadmInputs, node: &NodePlan) -> anyhow::Result<Vec<Value>> {
    let schema = Schema::of(inputs.version)?;
    let plan = inputs.plan;
    if node.name == plan.master().name {
        return Err(anyhow!(
            "{} is the first master: it runs kubeadm init, not join",
            node.name
        ));
    }
    let discovery = mapping([(
        "bootstrapToken",
        mapping([
            (
                "apiServerEndpoint",
                Value::from(control_plane_endpoint(plan)),
            ),
            ("token", inputs.bootstrap_token.secret().into()),
            // The token authenticates the API server well enough for a throwaway local
            // cluster; pinning the CA would need a round trip to the master first.
            ("unsafeSkipCAVerification", true.into()),
        ]),
    )]);
    let taints = (node.role == Role::Master && !inputs.dedicated_master).then(Vec::new);
    let mut doc = Mapping::new();
    doc.insert("apiVersion".into(), schema.api_version().into());
    doc.insert("kind".into(), "JoinConfiguration".into());
    doc.insert("discovery".into(), discovery);
    doc.insert(
        "nodeRegistration".into(),
        node_registration(schema, plan, node, taints)?,
    );
    if node.role == Role::Master {
        doc.insert("controlPlane".into(), join_control_plane(inputs, node)?);
    }
    Ok(vec![Value::Mapping(doc)])
}

/// The kubeadm preflight checks that cannot pass inside a container, or that stop a
/// throwaway cluster on a small machine, by their names in kubeadm
/// (cmd/kubeadm/app/preflight/checks.go):
/// - `SystemVerification`: its KernelValidator reads the kernel's config and modules,
///   which a container does not see (cgroup v1 hosts also fail it from 1.31);
/// - `Swap`: the host's swap, which the kubelet is told to tolerate (`failSwapOn: false`);
/// - `NumCPU` and `Mem` (`NumCPUCheck`, `MemCheck`: 2 CPUs, 1700 MB): every node sees the
///   whole host, and a laptop or CI runner below that still runs a local cluster.
///
/// Every other check runs and stops kubeadm when it fails. (kind skips the whole preflight
/// phase, `--skip-phases=preflight`, in pkg/cluster/internal/create/actions/kubeadminit/init.go;
/// dind's own pre-flight gate checks `br_netfilter` on the host, which kubeadm stopped
/// checking in 1.30, kubernetes PR #123464.)
pub const IGNORED_PREFLIGHT_CHECKS: [&str; 4] = ["SystemVerification", "Swap", "NumCPU", "Mem"];

const IGNORE_PREFLIGHT_ERRORS: &str =
    "--ignore-preflight-errors=SystemVerification,Swap,NumCPU,Mem";

/// The argv that initializes the master, run inside it. With several masters,
/// `--upload-certs` puts the control-plane certificates, encrypted with the
/// configuration's `certificateKey`, where the other masters' joins fetch them.
pub fn init_command(upload_certs: bool) -> Vec<String> {
    let mut argv: Vec<String> = [
        "kubeadm",
        "init",
        "--config",
        CONFIG_PATH,
        "--skip-token-print",
        IGNORE_PREFLIGHT_ERRORS,
    ]
    .map(String::from)
    .to_vec();
    if upload_certs {
        argv.push("--upload-certs".into());
    }
    argv
}

/// A fresh certificate key: kubeadm's is "a hex encoded string that is an AES key of
/// size 32 bytes" (cmd/kubeadm/app/apis/kubeadm/v1beta4/types.go, `certificateKey`).
pub fn new_certificate_key() -> anyhow::Result<String> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key)
        .map_err(|e| anyhow!("reading random bytes for the certificate key: {e}"))?;
    Ok(key.iter().map(|b| format!("{b:02x}")).collect())
}

/// The argv that uploads the control-plane certificates again under `key`, on the first
/// master, for a master that joins later (kubeadm deletes the uploaded ones after two
/// hours). No `--config`, so the key may be a flag.
pub fn upload_certs_command(key: &str) -> Vec<String> {
    [
        "kubeadm",
        "init",
        "phase",
        "upload-certs",
        "--upload-certs",
        "--certificate-key",
        key,
    ]
    .map(String::from)
    .to_vec()
}

/// The argv that joins a worker, run inside it.
pub fn join_command() -> Vec<String> {
    [
        "kubeadm",
        "join",
        "--config",
        CONFIG_PATH,
        IGNORE_PREFLIGHT_ERRORS,
    ]
    .map(String::from)
    .to_vec()
}

/// The kubeadm configuration schema of a Kubernetes release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Schema {
    /// Component and kubelet extra arguments are lists of `{name, value}`.
    V1beta4,
}

impl Schema {
    fn of(version: &KubeVersion) -> anyhow::Result<Schema> {
        version.require_supported()?;
        Ok(Schema::V1beta4)
    }

    fn api_version(self) -> &'static str {
        match self {
            Schema::V1beta4 => "kubeadm.k8s.io/v1beta4",
        }
    }

    fn args(self, args: &BTreeMap<String, String>) -> Value {
        match self {
            Schema::V1beta4 => Value::Sequence(
                args.iter()
                    .map(|(name, value)| {
                        mapping([
                            ("name", name.as_str().into()),
                            ("value", value.as_str().into()),
                        ])
                    })
                    .collect(),
            ),
        }
    }
}

fn init_configuration(inputs: &KubeadmInputs, schema: Schema) -> anyhow::Result<Value> {
    let plan = inputs.plan;
    let master = plan.master();
    let advertise = node_ips(plan, master)
        .first()
        .copied()
        .ok_or_else(|| anyhow!("the master {} has no address", master.name))?;
    let taints = (!inputs.dedicated_master).then(Vec::new);
    let mut doc = Mapping::new();
    doc.insert("apiVersion".into(), schema.api_version().into());
    doc.insert("kind".into(), "InitConfiguration".into());
    doc.insert(
        "bootstrapTokens".into(),
        Value::Sequence(vec![mapping([(
            "token",
            inputs.bootstrap_token.secret().into(),
        )])]),
    );
    doc.insert(
        "localAPIEndpoint".into(),
        mapping([
            ("advertiseAddress", advertise.to_string().into()),
            ("bindPort", API_SERVER_PORT.into()),
        ]),
    );
    doc.insert(
        "nodeRegistration".into(),
        node_registration(schema, plan, master, taints)?,
    );
    if inputs.settings.kube_proxy_mode == KubeProxyMode::None {
        // kind's way to run without kube-proxy: skip kubeadm's addon phase.
        doc.insert(
            "skipPhases".into(),
            Value::Sequence(vec!["addon/kube-proxy".into()]),
        );
    }
    if plan.load_balancer.is_some() {
        let key = inputs.certificate_key.ok_or_else(|| {
            anyhow!("a cluster with several masters needs a certificate key for kubeadm init")
        })?;
        doc.insert("certificateKey".into(), key.into());
    }
    Ok(Value::Mapping(doc))
}

/// `JoinConfiguration.controlPlane` of a master that joins: its own API server and the
/// key of the certificates kubeadm init uploaded.
fn join_control_plane(inputs: &KubeadmInputs, node: &NodePlan) -> anyhow::Result<Value> {
    let advertise = node_ips(inputs.plan, node)
        .first()
        .copied()
        .ok_or_else(|| anyhow!("the master {} has no address", node.name))?;
    let key = inputs.certificate_key.ok_or_else(|| {
        anyhow!(
            "{} joins as a master but no certificate key was uploaded",
            node.name
        )
    })?;
    Ok(mapping([
        (
            "localAPIEndpoint",
            mapping([
                ("advertiseAddress", advertise.to_string().into()),
                ("bindPort", API_SERVER_PORT.into()),
            ]),
        ),
        ("certificateKey", key.into()),
    ]))
}

fn cluster_configuration(inputs: &KubeadmInputs, schema: Schema) -> anyhow::Result<Value> {
    let plan = inputs.plan;
    let settings = inputs.settings;
    // bridge and ptp get each node's pod subnet from dind's plan. The controller-manager's
    // allocator would hand out other ranges, in registration order, as spec.podCIDR; kubeadm
    // turns the allocator on only when podSubnet is set (cmd/kubeadm/app/phases/controlplane/
    // manifests.go, `allocate-node-cidrs` under `PodSubnet != ""`), so it is left out for
    // them, as kubeadm-dind-cluster did. kube-proxy's clusterCIDR still covers the pods.
    // Manifest plugins and the user's own (`none`) get it, as kind always sets podSubnet.
    let allocates_pod_cidrs = !crate::cni::configured_by_dind(settings.cni);
    let apiserver = component_args(settings, Component::Apiserver, BTreeMap::new())?;
    let mask_sizes = if allocates_pod_cidrs {
        node_cidr_mask_sizes(plan)
    } else {
        BTreeMap::new()
    };
    let controller_manager = component_args(settings, Component::ControllerManager, mask_sizes)?;
    let scheduler = component_args(settings, Component::Scheduler, BTreeMap::new())?;
    let with_args = |args: &BTreeMap<String, String>| {
        let mut component = Mapping::new();
        if !args.is_empty() {
            component.insert("extraArgs".into(), schema.args(args));
        }
        component
    };
    let mut apiserver_section = with_args(&apiserver);
    apiserver_section.insert(
        "certSANs".into(),
        Value::Sequence(cert_sans(plan).into_iter().map(Value::from).collect()),
    );
    let mut networking = Mapping::new();
    if allocates_pod_cidrs {
        networking.insert("podSubnet".into(), join_nets(&plan.pod_cidrs).into());
    }
    networking.insert(
        "serviceSubnet".into(),
        join_nets(&plan.service_cidrs).into(),
    );
    networking.insert("dnsDomain".into(), DNS_DOMAIN.into());
    Ok(mapping([
        ("apiVersion", schema.api_version().into()),
        ("kind", "ClusterConfiguration".into()),
        ("kubernetesVersion", inputs.version.to_string().into()),
        ("controlPlaneEndpoint", control_plane_endpoint(plan).into()),
        ("networking", Value::Mapping(networking)),
        ("apiServer", Value::Mapping(apiserver_section)),
        (
            "controllerManager",
            Value::Mapping(with_args(&controller_manager)),
        ),
        ("scheduler", Value::Mapping(with_args(&scheduler))),
    ]))
}

fn kubelet_configuration(inputs: &KubeadmInputs) -> anyhow::Result<Value> {
    let plan = inputs.plan;
    let version = inputs.version;
    let mut doc = Mapping::new();
    let mut set = |key: &str, value: Value| {
        doc.insert(key.into(), value);
    };
    set("apiVersion", "kubelet.config.k8s.io/v1beta1".into());
    set("kind", "KubeletConfiguration".into());
    // The node image boots systemd and runs containerd with SystemdCgroup=true; the
    // kubelet must use the same driver or pods land in cgroups nobody manages.
    set("cgroupDriver", "systemd".into());
    // The field exists from 1.27; older kubelets get the socket from kubeadm's flags.
    if version.at_least(1, 27) {
        set("containerRuntimeEndpoint", CRI_SOCKET.into());
    }
    set("failSwapOn", false.into());
    // The nodes share the host's disk: a kubelet that sees it fill up would delete images
    // and evict pods to free space that other nodes and the host are using. Memory
    // eviction stays at the kubelet's default, as in kind (kind
    // pkg/cluster/internal/kubeadm/config.go: evictionHard holds nodefs and imagefs only).
    set("imageGCHighThresholdPercent", 100u8.into());
    set(
        "evictionHard",
        mapping([
            ("nodefs.available", "0%".into()),
            ("nodefs.inodesFree", "0%".into()),
            ("imagefs.available", "0%".into()),
        ]),
    );
    // The CoreDNS service kubeadm creates is single-stack, on the tenth address of the
    // first service range only; a second nameserver would be a dead entry in every pod.
    if let Some(dns) = plan.dns_service_ips.first() {
        set("clusterDNS", Value::Sequence(vec![dns.to_string().into()]));
    }
    set("clusterDomain", DNS_DOMAIN.into());
    // The kubelet's address is the node's first node-ip; when that is IPv6 the default
    // IPv4 listeners would make the kubelet unreachable for logs and exec.
    if first_service_is_v6(plan) {
        set("address", "::".into());
        set("healthzBindAddress", "::".into());
    }
    // From 1.31 the kubelet refuses cgroup v1 unless told otherwise; older ones have no
    // such field and would reject it.
    if inputs.host_cgroup_v1 && version.at_least(1, 31) {
        set("failCgroupV1", false.into());
    }
    // USE_HAIRPIN: KubeletConfiguration.hairpinMode is "promiscuous-bridge" (the
    // default), "hairpin-veth" or "none" (k8s.io/kubelet/config/v1beta1 types.go,
    // HairpinMode); with CNI the bridge plugin's own hairpinMode does the work too.
    if let Some(on) = inputs.settings.kdc.use_hairpin {
        set(
            "hairpinMode",
            if on { "hairpin-veth" } else { "none" }.into(),
        );
    }
    let gates = parse_feature_gates(
        inputs
            .settings
            .kubelet_feature_gates
            .as_deref()
            .unwrap_or(""),
        "KUBELET_FEATURE_GATES",
    )?;
    if !gates.is_empty() {
        set(
            "featureGates",
            Value::Mapping(
                gates
                    .into_iter()
                    .map(|(name, on)| (Value::from(name), Value::from(on)))
                    .collect(),
            ),
        );
    }
    Ok(Value::Mapping(doc))
}

/// kube-proxy's configuration, none for `--kube-proxy-mode none` (kind's template in
/// pkg/cluster/internal/kubeadm/config.go renders none either).
fn kube_proxy_configuration(plan: &ClusterPlan, mode: KubeProxyMode) -> Option<Value> {
    if mode == KubeProxyMode::None {
        return None;
    }
    // A container cannot set the host-wide nf_conntrack_max, and kube-proxy exits when
    // it fails to; 0 leaves it alone, as kind does.
    let mut conntrack = Mapping::new();
    conntrack.insert("maxPerCore".into(), 0u8.into());
    if mode == KubeProxyMode::Nftables {
        // As kind: the nftables proxier needs liberal TCP tracking on kernels before 6.1
        // (kubernetes/kubernetes#117924).
        conntrack.insert("tcpBeLiberal".into(), true.into());
    }
    Some(mapping([
        ("apiVersion", "kubeproxy.config.k8s.io/v1alpha1".into()),
        ("kind", "KubeProxyConfiguration".into()),
        ("mode", mode.to_string().into()),
        ("clusterCIDR", join_nets(&plan.pod_cidrs).into()),
        ("conntrack", Value::Mapping(conntrack)),
    ]))
}

/// `nodeRegistration` for a node; `taints: Some(vec![])` removes kubeadm's default taint.
fn node_registration(
    schema: Schema,
    plan: &ClusterPlan,
    node: &NodePlan,
    taints: Option<Vec<Value>>,
) -> anyhow::Result<Value> {
    let ips = node_ips(plan, node);
    if ips.is_empty() {
        return Err(anyhow!("node {} has no address", node.name));
    }
    let node_ip = ips
        .iter()
        .map(IpAddr::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let kubelet_args = BTreeMap::from([("node-ip".to_string(), node_ip)]);
    let mut registration = Mapping::new();
    registration.insert("name".into(), node.name.as_str().into());
    registration.insert("criSocket".into(), CRI_SOCKET.into());
    registration.insert("kubeletExtraArgs".into(), schema.args(&kubelet_args));
    if let Some(taints) = taints {
        registration.insert("taints".into(), Value::Sequence(taints));
    }
    Ok(Value::Mapping(registration))
}

/// The extra arguments of one control-plane component: `base`, then the user's arguments
/// for it, with `FEATURE_GATES` and the component's own `feature-gates` merged (the
/// component's win on conflicts).
fn component_args(
    settings: &Settings,
    component: Component,
    base: BTreeMap<String, String>,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut args = base;
    let user = settings.component_args.get(&component);
    let mut gates = parse_feature_gates(
        settings.feature_gates.as_deref().unwrap_or(""),
        "FEATURE_GATES",
    )?;
    for (name, value) in user.into_iter().flatten() {
        if name == "feature-gates" {
            let source = format!("{}FEATURE_GATES", component.env_prefix());
            gates.extend(parse_feature_gates(value, &source)?);
        } else {
            args.insert(name.clone(), value.clone());
        }
    }
    if !gates.is_empty() {
        let joined = gates
            .iter()
            .map(|(name, on)| format!("{name}={on}"))
            .collect::<Vec<_>>()
            .join(",");
        args.insert("feature-gates".to_string(), joined);
    }
    Ok(args)
}

/// Parses `Foo=true,Bar=false`; empty entries are skipped. `source` names the setting in
/// errors.
fn parse_feature_gates(text: &str, source: &str) -> anyhow::Result<BTreeMap<String, bool>> {
    let mut gates = BTreeMap::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let bad = || {
            usage(format!(
                "invalid {source} entry {entry:?}: expected Name=true or Name=false, e.g. {source}=Foo=true,Bar=false"
            ))
        };
        let (name, value) = entry.split_once('=').ok_or_else(bad)?;
        let name = name.trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(bad());
        }
        let on = match value.trim().to_ascii_lowercase().as_str() {
            "true" => true,
            "false" => false,
            _ => return Err(bad()),
        };
        gates.insert(name.to_string(), on);
    }
    Ok(gates)
}

/// The controller-manager's per-node pod subnet sizes, taken from the plan's split so the
/// `podCIDR` it assigns each node has the size dind routes. Only the families the pod
/// network has: the controller-manager refuses a size for a family a single-stack cluster
/// lacks.
fn node_cidr_mask_sizes(plan: &ClusterPlan) -> BTreeMap<String, String> {
    plan.master()
        .pod_subnets
        .iter()
        .map(|subnet| {
            let family = match subnet {
                IpNet::V4(_) => "ipv4",
                IpNet::V6(_) => "ipv6",
            };
            (
                format!("node-cidr-mask-size-{family}"),
                subnet.prefix_len().to_string(),
            )
        })
        .collect()
}

/// A node's addresses in the order of the service families: in dual-stack the first
/// service range decides which family the cluster prefers.
fn node_ips(plan: &ClusterPlan, node: &NodePlan) -> Vec<IpAddr> {
    let mut ips = node.addresses();
    if first_service_is_v6(plan) {
        ips.sort_by_key(|ip| !ip.is_ipv6());
    }
    ips
}

fn first_service_is_v6(plan: &ClusterPlan) -> bool {
    matches!(plan.service_cidrs.first(), Some(IpNet::V6(_)))
}

/// Where kubeadm and the nodes reach the API server: the load balancer when there is
/// one (kind's `ControlPlaneEndpoint`), else the master.
fn control_plane_endpoint(plan: &ClusterPlan) -> String {
    let host = match &plan.load_balancer {
        Some(lb) => &lb.name,
        None => &plan.master().name,
    };
    format!("{host}:{API_SERVER_PORT}")
}

/// Names the API server certificate must hold: loopback in both families (kubectl on the
/// host through a published port, and tools inside the master), the master's name and
/// addresses, the load balancer's name and addresses (every master's certificate is
/// reached through it), the host address the API server is published on, and the host
/// the kubeconfig reaches it by (`apiserver_names`: a remote daemon's name).
pub(crate) fn cert_sans(plan: &ClusterPlan) -> Vec<String> {
    let master = plan.master();
    let mut sans: Vec<String> = vec![
        "localhost".into(),
        "127.0.0.1".into(),
        "::1".into(),
        master.name.clone(),
    ];
    sans.extend(node_ips(plan, master).iter().map(IpAddr::to_string));
    if let Some(lb) = &plan.load_balancer {
        sans.push(lb.name.clone());
        sans.extend(lb.addresses().iter().map(IpAddr::to_string));
    }
    sans.push(plan.apiserver_address.to_string());
    sans.extend(plan.apiserver_names.iter().cloned());
    let mut seen = std::collections::BTreeSet::new();
    sans.retain(|san| seen.insert(san.clone()));
    sans
}

fn join_nets(nets: &[IpNet]) -> String {
    nets.iter()
        .map(IpNet::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn mapping<const N: usize>(entries: [(&str, Value); N]) -> Value {
    Value::Mapping(
        entries
            .into_iter()
            .map(|(key, value)| (Value::from(key), value))
            .collect(),
    )
}

fn to_documents(docs: &[Value]) -> anyhow::Result<String> {
    let texts = docs
        .iter()
        .map(|doc| crate::yaml11::to_string(doc).context("serializing the kubeadm configuration"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(texts.join("---\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        Settings::from_env_pairs(pairs).unwrap()
    }

    pub(super) fn test_token() -> BootstrapToken {
        BootstrapToken::parse("x1y2z3.a1b2c3d4e5f6g7h8").unwrap()
    }

    /// The token of the rendered `InitConfiguration` and of a worker's `JoinConfiguration`.
    fn rendered_tokens(s: &Settings, token: &BootstrapToken) -> (String, String) {
        let plan = ClusterPlan::new(s).unwrap();
        let version = KubeVersion::parse("v1.37.0").unwrap();
        let inputs = KubeadmInputs {
            plan: &plan,
            settings: s,
            version: &version,
            host_cgroup_v1: false,
            dedicated_master: true,
            bootstrap_token: token,
            certificate_key: None,
        };
        let init = docs(&render_init(&inputs).unwrap());
        let join = docs(&render_join(&inputs, &plan.workers()[0]).unwrap());
        let text = |v: &Value| v.as_str().unwrap().to_string();
        (
            text(&init[0]["bootstrapTokens"][0]["token"]),
            text(&join[0]["discovery"]["bootstrapToken"]["token"]),
        )
    }

    #[test]
    fn every_cluster_gets_its_own_bootstrap_token() {
        let (a, b) = (
            BootstrapToken::random().unwrap(),
            BootstrapToken::random().unwrap(),
        );
        let (init_a, join_a) = rendered_tokens(&settings(&[]), &a);
        let (init_b, join_b) = rendered_tokens(&settings(&[("CLUSTER_ID", "10")]), &b);
        assert_eq!((init_a.as_str(), join_a.as_str()), (a.secret(), a.secret()));
        assert_eq!((init_b.as_str(), join_b.as_str()), (b.secret(), b.secret()));
        assert_ne!(init_a, init_b);
        // kind's fixed token, spelled so this test does not hold it whole.
        let fixed = format!("{}.{}", "abcdef", "0123456789abcdef");
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut pending = vec![src];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    pending.push(path);
                } else if let Ok(text) = std::fs::read_to_string(&path) {
                    assert!(
                        !text.contains(&fixed),
                        "{} holds a fixed token",
                        path.display()
                    );
                }
            }
        }
    }

    fn docs(text: &str) -> Vec<Value> {
        serde_yaml::Deserializer::from_str(text)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect()
    }

    /// `render_init` on a cgroup v2 host with a dedicated master.
    fn render_init_text(s: &Settings, version: &str) -> anyhow::Result<String> {
        let plan = ClusterPlan::new(s).unwrap();
        let version = KubeVersion::parse(version).unwrap();
        render_init(&KubeadmInputs {
            plan: &plan,
            settings: s,
            version: &version,
            host_cgroup_v1: false,
            dedicated_master: true,
            bootstrap_token: &test_token(),
            certificate_key: None,
        })
    }

    /// The value of a v1beta4 `{name, value}` argument.
    fn arg(args: &Value, name: &str) -> Value {
        args.as_sequence()
            .and_then(|list| list.iter().find(|a| a["name"] == name))
            .map(|a| a["value"].clone())
            .unwrap_or_else(|| panic!("no argument {name} in {args:?}"))
    }

    fn kind<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
        docs.iter()
            .find(|d| d["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind}"))
    }

    fn render(
        pairs: &[(&str, &str)],
        version: &str,
        cgroup_v1: bool,
        dedicated: bool,
    ) -> Vec<Value> {
        let s = settings(pairs);
        let plan = ClusterPlan::new(&s).unwrap();
        let version = KubeVersion::parse(version).unwrap();
        let inputs = KubeadmInputs {
            plan: &plan,
            settings: &s,
            version: &version,
            host_cgroup_v1: cgroup_v1,
            dedicated_master: dedicated,
            bootstrap_token: &test_token(),
            certificate_key: None,
        };
        docs(&render_init(&inputs).unwrap())
    }

    #[test]
    fn api_version_follows_the_release() {
        let table = [
            ("v1.33.0", Some("kubeadm.k8s.io/v1beta4")),
            ("v1.37.0-rc.1", Some("kubeadm.k8s.io/v1beta4")),
            ("v1.32.9", None),
            ("v1.30.0", None),
            ("v1.22.17", None),
        ];
        for (version, expected) in table {
            let result = api_version(&KubeVersion::parse(version).unwrap());
            match expected {
                Some(api) => assert_eq!(result.unwrap(), api, "{version}"),
                None => assert_eq!(
                    crate::error::exit_code(&result.unwrap_err()),
                    2,
                    "{version}"
                ),
            }
        }
    }

    #[test]
    fn only_named_preflight_checks_are_ignored() {
        let expected = format!(
            "--ignore-preflight-errors={}",
            IGNORED_PREFLIGHT_CHECKS.join(",")
        );
        for argv in [init_command(false), join_command()] {
            let flags: Vec<&String> = argv
                .iter()
                .filter(|a| a.starts_with("--ignore-preflight-errors"))
                .collect();
            assert_eq!(flags, [&expected], "{argv:?}");
            assert!(!expected.to_ascii_lowercase().contains("all"));
            assert!(!expected.contains("bridge-nf-call-iptables"));
        }
    }

    #[test]
    fn yaml_1_1_booleans_in_arguments_stay_strings() {
        let s = settings(&[
            ("APISERVER_anonymous_auth", "off"),
            ("SCHEDULER_leader_elect", "no"),
        ]);
        let text = render_init_text(&s, "v1.37.0").unwrap();
        let cluster = kind(&docs(&text), "ClusterConfiguration").clone();
        assert_eq!(
            arg(&cluster["apiServer"]["extraArgs"], "anonymous-auth"),
            Value::from("off")
        );
        assert_eq!(
            arg(&cluster["scheduler"]["extraArgs"], "leader-elect"),
            Value::from("no")
        );
        // Read as kubeadm reads it (YAML 1.1): both are strings, and nothing a YAML 1.1
        // reader would turn into a boolean is left plain anywhere in the file.
        let scalars = crate::yaml11::tests::yaml11_scalars(&text);
        for value in ["off", "no"] {
            assert!(
                scalars.contains(&(value.to_string(), true)),
                "{value}:\n{text}"
            );
        }
        // Real booleans are written `true`/`false`; any other plain 1.1 boolean would be
        // a string that kubeadm misreads.
        for (value, string) in &scalars {
            if crate::yaml11::YAML11_BOOLS.contains(&value.as_str()) && !*string {
                assert!(value == "true" || value == "false", "{value}:\n{text}");
            }
        }
    }

    #[test]
    fn feature_gates_parse_or_fail_as_usage() {
        let gates = parse_feature_gates(" Foo=true, Bar=FALSE,,", "FEATURE_GATES").unwrap();
        assert_eq!(
            gates,
            BTreeMap::from([("Bar".to_string(), false), ("Foo".to_string(), true)])
        );
        for bad in ["Foo", "Foo=yes", "=true", "Foo Bar=true"] {
            let err = parse_feature_gates(bad, "KUBELET_FEATURE_GATES").unwrap_err();
            assert_eq!(crate::error::exit_code(&err), 2, "{bad}");
            assert!(
                err.to_string().contains("KUBELET_FEATURE_GATES"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn bad_kubelet_gates_fail_the_render() {
        // Settings refuse them first (so --dry-run does); the render checks again.
        let early = Settings::from_env_pairs(&[("KUBELET_FEATURE_GATES", "Foo:true")]);
        assert_eq!(crate::error::exit_code(&early.unwrap_err()), 2);
        let mut s = settings(&[]);
        s.kubelet_feature_gates = Some("Foo:true".into());
        let plan = ClusterPlan::new(&s).unwrap();
        let version = KubeVersion::parse("v1.33.0").unwrap();
        let inputs = KubeadmInputs {
            plan: &plan,
            settings: &s,
            version: &version,
            host_cgroup_v1: false,
            dedicated_master: true,
            bootstrap_token: &test_token(),
            certificate_key: None,
        };
        assert_eq!(
            crate::error::exit_code(&render_init(&inputs).unwrap_err()),
            2
        );
    }

    #[test]
    fn component_feature_gates_merge_over_global_ones() {
        let docs = render(
            &[
                ("FEATURE_GATES", "A=true,B=true"),
                ("APISERVER_FEATURE_GATES", "B=false,C=true"),
            ],
            "v1.33.0",
            false,
            true,
        );
        let cluster = kind(&docs, "ClusterConfiguration");
        assert_eq!(
            arg(&cluster["apiServer"]["extraArgs"], "feature-gates"),
            Value::from("A=true,B=false,C=true")
        );
        assert_eq!(
            arg(&cluster["scheduler"]["extraArgs"], "feature-gates"),
            Value::from("A=true,B=true")
        );
    }

    #[test]
    fn taints_are_emptied_only_for_a_shared_master() {
        for dedicated in [true, false] {
            let docs = render(&[], "v1.37.0", false, dedicated);
            let taints = &kind(&docs, "InitConfiguration")["nodeRegistration"]["taints"];
            if dedicated {
                assert_eq!(*taints, Value::Null, "absent: kubeadm taints the master");
            } else {
                assert_eq!(*taints, Value::Sequence(vec![]));
            }
        }
    }

    #[test]
    fn fail_cgroup_v1_only_where_the_field_exists_and_is_needed() {
        // (version, host cgroup v1, expected failCgroupV1)
        let table = [
            ("v1.37.0", true, Some(false)),
            ("v1.33.0", true, Some(false)),
            ("v1.37.0", false, None),
        ];
        for (version, v1, expected) in table {
            let docs = render(&[], version, v1, true);
            let field = &kind(&docs, "KubeletConfiguration")["failCgroupV1"];
            assert_eq!(field.as_bool(), expected, "{version} {v1}");
        }
    }

    #[test]
    fn controller_manager_mask_sizes_match_the_plan() {
        type Args = &'static [(&'static str, &'static str)];
        // (mode, pod cidr, CNI, expected args): only manifest CNIs, which dind offers in
        // IPv4 only, have the controller-manager allocate node ranges.
        let table: [(&str, &str, &str, Args); 3] = [
            (
                "ipv4",
                "10.244.0.0/16",
                "flannel",
                &[("node-cidr-mask-size-ipv4", "24")],
            ),
            ("ipv6", "fd00:40::/64", "bridge", &[]),
            ("dual-stack", "10.244.0.0/16,fd00:40::/72", "ptp", &[]),
        ];
        for (mode, pods, cni, expected) in table {
            let docs = render(
                &[
                    ("IP_MODE", mode),
                    ("POD_NETWORK_CIDR", pods),
                    ("CNI_PLUGIN", cni),
                ],
                "v1.33.0",
                false,
                true,
            );
            let manager = &kind(&docs, "ClusterConfiguration")["controllerManager"];
            if expected.is_empty() {
                assert!(manager.get("extraArgs").is_none(), "{mode}");
                continue;
            }
            let expected: Vec<Value> = expected
                .iter()
                .map(|(k, v)| mapping([("name", (*k).into()), ("value", (*v).into())]))
                .collect();
            assert_eq!(manager["extraArgs"], Value::Sequence(expected), "{mode}");
        }
    }

    #[test]
    fn only_manifest_cnis_have_the_controller_manager_allocate_pod_cidrs() {
        // (CNI, podSubnet and mask sizes rendered)
        for (cni, allocates) in [
            ("bridge", false),
            ("ptp", false),
            ("flannel", true),
            ("calico", true),
        ] {
            let docs = render(&[("CNI_PLUGIN", cni)], "v1.37.0", false, true);
            let cluster = kind(&docs, "ClusterConfiguration");
            assert_eq!(
                cluster["networking"].get("podSubnet").is_some(),
                allocates,
                "{cni}"
            );
            assert_eq!(
                cluster["controllerManager"].get("extraArgs").is_some(),
                allocates,
                "{cni}"
            );
            // kube-proxy still knows the pods' range either way.
            let proxy = kind(&docs, "KubeProxyConfiguration");
            assert_eq!(proxy["clusterCIDR"], Value::from("10.244.0.0/16"), "{cni}");
        }
    }

    #[test]
    fn ipv6_first_services_put_ipv6_first() {
        let docs = render(
            &[
                ("IP_MODE", "dual-stack"),
                ("SERVICE_CIDR", "fd00:30::/110,10.96.0.0/12"),
            ],
            "v1.37.0",
            false,
            true,
        );
        let init = kind(&docs, "InitConfiguration");
        assert_eq!(
            init["localAPIEndpoint"]["advertiseAddress"],
            Value::from("fd00:20::2")
        );
        assert_eq!(
            init["nodeRegistration"]["kubeletExtraArgs"][0]["value"],
            Value::from("fd00:20::2,10.192.0.2")
        );
        let kubelet = kind(&docs, "KubeletConfiguration");
        assert_eq!(kubelet["address"], Value::from("::"));
        assert_eq!(
            kubelet["clusterDNS"],
            Value::Sequence(vec!["fd00:30::a".into()])
        );
    }

    #[test]
    fn join_refuses_the_master() {
        let s = settings(&[]);
        let plan = ClusterPlan::new(&s).unwrap();
        let version = KubeVersion::parse("v1.37.0").unwrap();
        let inputs = KubeadmInputs {
            plan: &plan,
            settings: &s,
            version: &version,
            host_cgroup_v1: false,
            dedicated_master: true,
            bootstrap_token: &test_token(),
            certificate_key: None,
        };
        assert!(render_join(&inputs, plan.master()).is_err());
        assert!(render_join(&inputs, &plan.workers()[0]).is_ok());
    }

    #[test]
    fn commands_pass_the_config_file() {
        for (argv, verb) in [(init_command(false), "init"), (join_command(), "join")] {
            assert_eq!(argv[..2], ["kubeadm".to_string(), verb.to_string()]);
            let at = argv.iter().position(|a| a == "--config").unwrap();
            assert_eq!(argv[at + 1], CONFIG_PATH);
            assert!(!argv.contains(&"--ignore-preflight-errors=all".to_string()));
        }
    }
}

#[cfg(test)]
mod kdc_tests {
    use super::*;

    fn kubelet_and_cluster(pairs: &[(&str, &str)]) -> (Value, Value) {
        let settings = Settings::from_env_pairs(pairs).unwrap();
        let plan = ClusterPlan::new(&settings).unwrap();
        let version = KubeVersion::parse("v1.35.2").unwrap();
        let inputs = KubeadmInputs {
            plan: &plan,
            settings: &settings,
            version: &version,
            host_cgroup_v1: false,
            dedicated_master: true,
            bootstrap_token: &super::tests::test_token(),
            certificate_key: None,
        };
        let docs: Vec<Value> = serde_yaml::Deserializer::from_str(&render_init(&inputs).unwrap())
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect();
        let find = |kind: &str| docs.iter().find(|d| d["kind"] == kind).cloned().unwrap();
        (find("KubeletConfiguration"), find("ClusterConfiguration"))
    }

    #[test]
    fn use_hairpin_sets_the_kubelet_mode() {
        for (value, want) in [
            (None, None),
            (Some("true"), Some("hairpin-veth")),
            (Some("false"), Some("none")),
        ] {
            let pairs: Vec<(&str, &str)> = value.map(|v| ("USE_HAIRPIN", v)).into_iter().collect();
            let (kubelet, _) = kubelet_and_cluster(&pairs);
            assert_eq!(kubelet["hairpinMode"].as_str(), want, "{value:?}");
        }
    }

    #[test]
    fn feature_gates_none_render_no_gates() {
        let (kubelet, cluster) =
            kubelet_and_cluster(&[("FEATURE_GATES", "none"), ("KUBELET_FEATURE_GATES", "none")]);
        assert!(kubelet.get("featureGates").is_none());
        let text = serde_yaml::to_string(&cluster).unwrap();
        assert!(!text.contains("feature-gates"), "{text}");
    }
}
