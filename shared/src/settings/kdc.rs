//! kubeadm-dind-cluster's variables and commands, and what each one does in dind.
//!
//! People come with the environment of the shell tool (`dind-cluster.sh`, `config.sh`).
//! Every variable it reads has exactly one fate, decided in [`KDC_VARIABLES`]:
//! - it **acts**: it is a dind setting of the same name ([`Fate::Same`]), another name
//!   for one ([`Fate::Alias`]), or dind handles it itself ([`Fate::Acts`]);
//! - it is **refused** (exit 2, before anything is created) with a reason and the
//!   replacement ([`Fate::Refused`], or [`Fate::Values`] for the values dind cannot honour);
//! - it is **ignored with a warning** that says why ([`Fate::Ignored`]).
//!
//! Nothing is silently ignored. [`Layer::from_env`](super::sources::Layer::from_env) collects the
//! ones that are set and applies the aliases; [`KdcSettings::from_env`] types and checks
//! the rest; `settings` shows each set one with its fate ([`fate_rows`]).

use super::table::{Component, DefaultValue, VARIABLES};
use crate::error::usage;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

mod extra_opts;
pub use extra_opts::{ExtraOpts, ExtraPort};

/// What dind does with one of kubeadm-dind-cluster's variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// A dind setting of the same name and meaning (a row of [`VARIABLES`], a component
    /// argument family, or an input dind reads the same way, such as `DOCKER_HOST`).
    Same,
    /// Another name for the dind setting named here.
    Alias(&'static str),
    /// dind honours it itself, as described.
    Acts(&'static str),
    /// Refused whenever it is set.
    Refused {
        reason: &'static str,
        instead: &'static str,
    },
    /// Acts for the listed values (compared case-insensitively), refused for any other.
    Values {
        accepted: &'static [&'static str],
        reason: &'static str,
        instead: &'static str,
    },
    /// Has no meaning in dind; a warning says why.
    Ignored(&'static str),
}

/// One variable kubeadm-dind-cluster reads, and its fate.
#[derive(Debug, Clone, Copy)]
pub struct KdcVariable {
    /// The variable's name; a name ending in `*` is a family (`APISERVER_*`).
    pub name: &'static str,
    pub fate: Fate,
}

const fn same(name: &'static str) -> KdcVariable {
    KdcVariable {
        name,
        fate: Fate::Same,
    }
}

const fn alias(name: &'static str, to: &'static str) -> KdcVariable {
    KdcVariable {
        name,
        fate: Fate::Alias(to),
    }
}

const fn acts(name: &'static str, how: &'static str) -> KdcVariable {
    KdcVariable {
        name,
        fate: Fate::Acts(how),
    }
}

const fn refused(name: &'static str, reason: &'static str, instead: &'static str) -> KdcVariable {
    KdcVariable {
        name,
        fate: Fate::Refused { reason, instead },
    }
}

const fn ignored(name: &'static str, why: &'static str) -> KdcVariable {
    KdcVariable {
        name,
        fate: Fate::Ignored(why),
    }
}

const NO_BUILD: &str = "dind does not build Kubernetes: it takes the binaries you built \
                        (DIND_K8S_BIN_DIR, or BUILD_KUBEADM/BUILD_HYPERKUBE with KUBE_ROOT)";
const NO_PREBUILT: &str = "dind builds its node image itself for DIND_KUBERNETES_VERSION \
                           (or DIND_K8S_VERSION); the prebuilt mirantis images are gone";
const FROM_IMAGE_ENV: &str = "kubeadm-dind-cluster read it from its node image's /dind-env; \
                              dind's node image holds the kubectl of its own version";

/// Every variable kubeadm-dind-cluster's `dind-cluster.sh` and `config.sh` read from the
/// environment, with its fate. The migration page shows the same table.
pub const KDC_VARIABLES: &[KdcVariable] = &[
    // The settings dind kept under their names (rows of VARIABLES).
    same("APISERVER_PORT"),
    same("CLUSTER_ID"),
    same("CNI_PLUGIN"),
    same("DIND_ALLOW_AAAA_USE"),
    same("DIND_CA_CERT_URL"),
    same("DIND_CUSTOM_NETWORKS"),
    same("DIND_HTTPS_PROXY"),
    same("DIND_HTTP_PROXY"),
    same("DIND_IMAGE"),
    same("DIND_INSECURE_REGISTRIES"),
    same("DIND_LABEL"),
    same("DIND_NO_PROXY"),
    same("DIND_PORT_FORWARDER"),
    same("DIND_REGISTRY_MIRROR"),
    same("DNS64_PREFIX"),
    same("E2E_REPORT_DIR"),
    same("EXTRA_PORTS"),
    same("FEATURE_GATES"),
    same("IP_MODE"),
    same("KUBELET_FEATURE_GATES"),
    same("MGMT_CIDRS"),
    same("NAT64_V4_SUBNET_PREFIX"),
    same("NUM_NODES"),
    same("POD_NETWORK_CIDR"),
    same("REMOTE_DNS64_V4SERVER"),
    same("RUN_ON_BTRFS_ANYWAY"),
    same("SERVICE_CIDR"),
    same("SKIP_DASHBOARD"),
    same("SKIP_SNAPSHOT"),
    same("APISERVER_*"),
    same("CONTROLLER_MANAGER_*"),
    same("SCHEDULER_*"),
    same("DOCKER_HOST"),
    // Other names for dind's settings.
    alias("DIND_K8S_VERSION", "DIND_KUBERNETES_VERSION"),
    alias("DIND_SUBNET", "MGMT_CIDRS"),
    alias("DIND_SUBNET_SIZE", "MGMT_CIDRS"),
    // Handled by dind itself.
    acts(
        "DIND_K8S_BIN_DIR",
        "the node image is built from kubeadm, kubelet and kubectl in this directory, as \
         `build-image --kube-binaries DIR` does; also the default of `reup --kube-binaries`",
    ),
    acts(
        "BUILD_KUBEADM",
        "the node image is built from the binaries of the KUBE_ROOT source tree's \
         _output/…/bin (run `make WHAT='cmd/kubeadm cmd/kubelet cmd/kubectl'` first)",
    ),
    acts(
        "BUILD_HYPERKUBE",
        "as BUILD_KUBEADM: the node image takes kubelet and kubectl from the source tree's \
         _output/…/bin (hyperkube no longer exists)",
    ),
    acts(
        "KUBE_ROOT",
        "the Kubernetes source tree BUILD_KUBEADM/BUILD_HYPERKUBE take binaries from \
         (default: the current directory)",
    ),
    acts(
        "KUBEADM_DIND_LOCAL",
        "the source tree's _output/local/bin is preferred to _output/dockerized/bin",
    ),
    acts(
        "MASTER_EXTRA_OPTS",
        "extra docker-run options of the master container: -v, -e, -l, -p, --tmpfs, \
         --sysctl, --device, --cap-add, --cap-drop, --security-opt, --add-host, -m, --cpus; \
         any other option is refused",
    ),
    acts(
        "USE_HAIRPIN",
        "true or false: the bridge CNI plugin's hairpinMode and the kubelet's hairpinMode \
         (hairpin-veth or none); unset keeps dind's default, hairpin on",
    ),
    acts(
        "KUBECTL_DIR",
        "after up, kubectl of the cluster's version is put there (kubectl-<version>, and a \
         kubectl link to it)",
    ),
    acts(
        "DOWNLOAD_KUBECTL",
        "after up, kubectl of the cluster's version is put in KUBECTL_DIR (default \
         ~/.kubeadm-dind-cluster), taken from the node image instead of a download",
    ),
    // A dind setting too: the host's HTTP_PROXY, HTTPS_PROXY and NO_PROXY (either case)
    // reach the nodes unless DIND_HTTP_PROXY and friends are set (cluster/registries.rs).
    same("DIND_PROPAGATE_HTTP_PROXY"),
    KdcVariable {
        name: "DNS_SERVICE",
        fate: Fate::Values {
            accepted: &["coredns"],
            reason: "kubeadm installs only CoreDNS since Kubernetes 1.21; kube-dns is gone",
            instead: "unset DNS_SERVICE or set DNS_SERVICE=coredns",
        },
    },
    KdcVariable {
        name: "DIND_CRI",
        fate: Fate::Values {
            accepted: &["containerd"],
            reason: "dind's nodes run containerd; dockershim left Kubernetes in 1.24",
            instead: "unset DIND_CRI or set DIND_CRI=containerd",
        },
    },
    KdcVariable {
        name: "DNS64_PREFIX_SIZE",
        fate: Fate::Values {
            accepted: &["96"],
            reason: "dind's DNS64 and NAT64 use a /96 prefix (RFC 6052's well-known size)",
            instead: "unset DNS64_PREFIX_SIZE; give the prefix in DNS64_PREFIX",
        },
    },
    // Refused: they cannot act on dind's nodes.
    refused(
        "DIND_STORAGE_DRIVER",
        "it configured the Docker daemon inside kubeadm-dind-cluster's nodes; dind's nodes \
         run containerd, whose snapshotter sits on a node volume",
        "unset it; the node volume's filesystem is the host Docker's",
    ),
    refused(
        "DIND_DAEMON_JSON_FILE",
        "it configured the Docker daemon inside kubeadm-dind-cluster's nodes; dind's nodes \
         run containerd, not Docker",
        "DIND_REGISTRY_MIRROR and DIND_INSECURE_REGISTRIES configure containerd's registries",
    ),
    refused(
        "DIND_IMAGE_DIGEST",
        "dind pins an image by its own name",
        "DIND_IMAGE=<name>@<digest>",
    ),
    refused(
        "KUBEADM_SOURCE",
        "it told kubeadm-dind-cluster's node image where to fetch kubeadm; dind's node \
         image holds its binaries",
        "DIND_K8S_BIN_DIR=<dir with kubeadm, kubelet, kubectl>",
    ),
    refused(
        "HYPERKUBE_SOURCE",
        "hyperkube no longer exists, and dind's node image holds its binaries",
        "DIND_K8S_BIN_DIR=<dir with kubeadm, kubelet, kubectl>",
    ),
    refused(
        "ENABLE_CEPH",
        "it loaded the rbd kernel module and mounted host devices into the nodes for Ceph \
         RBD; dind makes no such host changes",
        "a CSI driver whose node plugin runs in pods, or a local-path provisioner",
    ),
    refused(
        "DASHBOARD_URL",
        "dind does not fetch a dashboard manifest by URL at up",
        "kubectl apply -f $DASHBOARD_URL once the cluster is up",
    ),
    // Ignored with a warning: they have no meaning any more.
    ignored("DIND_COMMIT", NO_PREBUILT),
    ignored("DIND_IMAGE_BASE", NO_PREBUILT),
    ignored(
        "DIND_SKIP_PULL",
        "dind never pulls its node image; it builds it or uses a local one",
    ),
    ignored(
        "DIND_NO_PARALLEL_E2E",
        "dind's e2e runs the parallel suite; e2e-serial runs the serial one",
    ),
    ignored(
        "EMBEDDED_CONFIG",
        "dind has no config.sh to source; its config file is DIND_CONFIG",
    ),
    ignored(
        "GCE_HOSTED",
        "dind reaches any daemon through DOCKER_HOST or a docker context; GCE needs no switch",
    ),
    ignored(
        "CALICO_VERSION",
        "dind applies the Calico release pinned in its CNI table; kubeadm-dind-cluster's \
         v3.3-era manifests do not run on today's Kubernetes",
    ),
    ignored(
        "KUBE_ROUTER_VERSION",
        "dind applies the kube-router release pinned in its CNI table",
    ),
    ignored("ETCD_HOST", NO_BUILD),
    ignored("KUBE_RSYNC_ADDR", NO_BUILD),
    ignored("KUBE_VERBOSE", NO_BUILD),
    ignored("KUBE_DATA_CONTAINER_NAME", NO_BUILD),
    ignored("KUBE_BUILD_DATA_CONTAINER_NAME", NO_BUILD),
    ignored("KUBECTL_VERSION", FROM_IMAGE_ENV),
    ignored("KUBECTL_LINUX_URL", FROM_IMAGE_ENV),
    ignored("KUBECTL_LINUX_SHA1", FROM_IMAGE_ENV),
    ignored("KUBECTL_DARWIN_URL", FROM_IMAGE_ENV),
    ignored("KUBECTL_DARWIN_SHA1", FROM_IMAGE_ENV),
];

/// kubeadm-dind-cluster's commands and their dind equivalents, for the migration page.
pub const KDC_COMMANDS: &[(&str, &str)] = &[
    ("up", "`kubectl dind up` (or `docker dind up`)"),
    (
        "reup",
        "`kubectl dind reup --kube-binaries DIR`: copies new kubeadm/kubelet/kubectl into the running nodes, restarts kubelet and the control plane, waits for Ready",
    ),
    ("down", "`kubectl dind down`"),
    ("init", "`kubectl dind up` (kubeadm init is one of its steps)"),
    ("join", "`kubectl dind join`"),
    ("pause", "`docker dind pause`"),
    ("unpause", "`docker dind unpause`"),
    ("snapshot", "`docker dind snapshot`"),
    ("restore", "`docker dind restore`"),
    ("clean", "`kubectl dind clean`"),
    ("copy-image", "`docker dind load` (alias `copy-image`)"),
    ("e2e", "`kubectl dind e2e [focus] [skip]`"),
    ("e2e-serial", "`kubectl dind e2e-serial [focus]`"),
    ("dump", "`kubectl dind dump`"),
    ("dump64", "`kubectl dind dump64`"),
    ("split-dump", "`kubectl dind split-dump`"),
    ("split-dump64", "`kubectl dind split-dump64`"),
    ("apiserver-port", "`kubectl dind apiserver-port`"),
];

/// The row of a variable name; a family row (`APISERVER_*`) matches its prefix.
pub fn lookup(name: &str) -> Option<&'static KdcVariable> {
    KDC_VARIABLES.iter().find(|v| v.name == name).or_else(|| {
        KDC_VARIABLES.iter().find(|v| {
            v.name
                .strip_suffix('*')
                .is_some_and(|prefix| name.starts_with(prefix) && name.len() > prefix.len())
        })
    })
}

/// What a set variable does with its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Acts(String),
    Refused(String),
    Warned(String),
}

impl Verdict {
    /// The word `settings` shows in its FATE column.
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Acts(_) => "acts",
            Verdict::Refused(_) => "refused",
            Verdict::Warned(_) => "ignored",
        }
    }

    pub fn text(&self) -> &str {
        match self {
            Verdict::Acts(t) | Verdict::Refused(t) | Verdict::Warned(t) => t,
        }
    }
}

impl Fate {
    /// The fate of a variable set to `value`.
    pub fn verdict(&self, name: &str, value: &str) -> Verdict {
        match *self {
            Fate::Same => Verdict::Acts("dind's setting of the same name".into()),
            Fate::Alias(to) => Verdict::Acts(format!("another name for {to}")),
            Fate::Acts(how) => Verdict::Acts(how.into()),
            Fate::Refused { reason, instead } => Verdict::Refused(format!(
                "{name} is not supported by dind: {reason}. Instead: {instead}"
            )),
            Fate::Values {
                accepted,
                reason,
                instead,
            } => {
                if accepted
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(value.trim()))
                {
                    Verdict::Acts(format!("{value} is what dind does"))
                } else {
                    Verdict::Refused(format!(
                        "{name}={value} is not supported by dind: {reason}. Instead: {instead}"
                    ))
                }
            }
            Fate::Ignored(why) => Verdict::Warned(format!("{name} is ignored: {why}")),
        }
    }
}

/// The set kubeadm-dind-cluster variables among environment pairs (empty means unset,
/// as `${VAR:-default}` made it in the shell tool).
pub fn collect(vars: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    vars.iter()
        .filter(|(name, value)| !value.is_empty() && lookup(name).is_some())
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

/// The environment values the aliases give dind's own settings, for the names the
/// environment does not set itself. Pure: `vars` is the whole environment.
pub fn aliases(vars: &BTreeMap<String, String>) -> Vec<(&'static str, String)> {
    let set = |name: &str| vars.get(name).filter(|v| !v.is_empty());
    let mut out = Vec::new();
    if let (Some(version), None) = (set("DIND_K8S_VERSION"), set("DIND_KUBERNETES_VERSION")) {
        out.push(("DIND_KUBERNETES_VERSION", version.clone()));
    }
    // As in the shell tool, the legacy pair counts only when both are set and
    // MGMT_CIDRS is not.
    if let (Some(subnet), Some(size), None) = (
        set("DIND_SUBNET"),
        set("DIND_SUBNET_SIZE"),
        set("MGMT_CIDRS"),
    ) {
        out.push(("MGMT_CIDRS", format!("{subnet}/{size}")));
    }
    out
}

/// Where the node image's Kubernetes binaries come from, when not from a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KubeBinaries {
    /// `DIND_K8S_BIN_DIR`: a directory holding kubeadm, kubelet and kubectl.
    Dir(PathBuf),
    /// `BUILD_KUBEADM`/`BUILD_HYPERKUBE`: a Kubernetes source tree whose `_output`
    /// holds the built binaries; `local_first` prefers `_output/local`.
    SourceTree { root: PathBuf, local_first: bool },
}

impl KubeBinaries {
    /// The directories to look in, in order, for a machine of `arch` (Go's name).
    pub fn candidate_dirs(&self, arch: &str) -> Vec<PathBuf> {
        match self {
            KubeBinaries::Dir(dir) => vec![dir.clone()],
            KubeBinaries::SourceTree { root, local_first } => {
                let dockerized = root.join(format!("_output/dockerized/bin/linux/{arch}"));
                let local = root.join(format!("_output/local/bin/linux/{arch}"));
                let mut dirs = if *local_first {
                    vec![local, dockerized]
                } else {
                    vec![dockerized, local]
                };
                // `make quick-release` and friends leave a flat _output/bin as well.
                dirs.push(root.join("_output/bin"));
                dirs
            }
        }
    }
}

/// The typed result of the variables dind handles itself (the [`Fate::Acts`] rows).
/// Part of [`super::typed::Settings`], and so of the settings label on every node.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct KdcSettings {
    /// `MASTER_EXTRA_OPTS`, parsed.
    pub master_extra_opts: ExtraOpts,
    /// `USE_HAIRPIN`; `None` keeps dind's defaults.
    pub use_hairpin: Option<bool>,
    /// `KUBECTL_DIR` / `DOWNLOAD_KUBECTL`: where `up` puts kubectl.
    pub kubectl_dir: Option<PathBuf>,
    /// `DIND_K8S_BIN_DIR` or `BUILD_KUBEADM`/`BUILD_HYPERKUBE` with `KUBE_ROOT`.
    pub kube_binaries: Option<KubeBinaries>,
    /// One line per ignored variable; printed on stderr by the commands.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

impl KdcSettings {
    /// Checks every set variable against its fate (the first refusal is a usage error)
    /// and types the ones dind handles itself. `kdc` holds the set variables
    /// ([`collect`]); `image` is `DIND_IMAGE`, which a binary directory conflicts with.
    pub fn from_env(
        kdc: &BTreeMap<String, String>,
        image: Option<&str>,
    ) -> anyhow::Result<KdcSettings> {
        let mut out = KdcSettings::default();
        for (name, value) in kdc {
            let Some(variable) = lookup(name) else {
                continue;
            };
            match variable.fate.verdict(name, value) {
                Verdict::Refused(message) => return Err(usage(message)),
                Verdict::Warned(message) => out.warnings.push(message),
                Verdict::Acts(_) => {}
            }
        }
        let get = |name: &str| kdc.get(name).map(String::as_str);
        if let (Some(_), None) = (get("DIND_SUBNET"), get("DIND_SUBNET_SIZE")) {
            return Err(usage(
                "DIND_SUBNET is set without DIND_SUBNET_SIZE: set both (e.g. DIND_SUBNET=10.192.0.0 DIND_SUBNET_SIZE=24), or MGMT_CIDRS=10.192.0.0/24",
            ));
        }
        if let (Some(_), Some(_)) = (get("DIND_SUBNET"), get("MGMT_CIDRS")) {
            out.warnings.push(
                "DIND_SUBNET and DIND_SUBNET_SIZE are ignored: MGMT_CIDRS is set, and wins as in kubeadm-dind-cluster".into(),
            );
        }
        if let Some(opts) = get("MASTER_EXTRA_OPTS") {
            out.master_extra_opts = ExtraOpts::parse(opts)?;
        }
        if let Some(value) = get("USE_HAIRPIN") {
            out.use_hairpin = Some(parse_bool("USE_HAIRPIN", value)?);
        }
        out.kubectl_dir = match (get("KUBECTL_DIR"), get("DOWNLOAD_KUBECTL")) {
            (Some(dir), _) => Some(PathBuf::from(dir)),
            (None, Some(_)) => Some(
                dirs::home_dir()
                    .ok_or_else(|| {
                        usage("DOWNLOAD_KUBECTL needs KUBECTL_DIR: there is no home directory")
                    })?
                    .join(".kubeadm-dind-cluster"),
            ),
            (None, None) => None,
        };
        let building = get("BUILD_KUBEADM").is_some() || get("BUILD_HYPERKUBE").is_some();
        out.kube_binaries = if let Some(dir) = get("DIND_K8S_BIN_DIR") {
            if building {
                out.warnings.push(
                    "BUILD_KUBEADM/BUILD_HYPERKUBE are ignored: DIND_K8S_BIN_DIR is set, and wins as in kubeadm-dind-cluster".into(),
                );
            }
            Some(KubeBinaries::Dir(PathBuf::from(dir)))
        } else if building {
            Some(KubeBinaries::SourceTree {
                root: get("KUBE_ROOT").map_or_else(|| PathBuf::from("."), PathBuf::from),
                local_first: get("KUBEADM_DIND_LOCAL").is_some(),
            })
        } else {
            if get("KUBE_ROOT").is_some() || get("KUBEADM_DIND_LOCAL").is_some() {
                out.warnings.push(
                    "KUBE_ROOT/KUBEADM_DIND_LOCAL are ignored: they only matter with BUILD_KUBEADM or BUILD_HYPERKUBE".into(),
                );
            }
            None
        };
        if let (Some(_), Some(image)) = (&out.kube_binaries, image) {
            return Err(usage(format!(
                "DIND_IMAGE={image} and {} both choose the node image: set one of them",
                if get("DIND_K8S_BIN_DIR").is_some() {
                    "DIND_K8S_BIN_DIR"
                } else {
                    "BUILD_KUBEADM/BUILD_HYPERKUBE"
                }
            )));
        }
        Ok(out)
    }
}

fn parse_bool(name: &str, value: &str) -> anyhow::Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "y" | "on" => Ok(true),
        "false" | "0" | "no" | "n" | "off" => Ok(false),
        _ => Err(usage(format!(
            "invalid {name} {value:?}: expected true or false"
        ))),
    }
}

/// `FEATURE_GATES` / `KUBELET_FEATURE_GATES`: `none` (kubeadm-dind-cluster's word for
/// "no gates") and empty mean no gates; anything else must be `Name=true|false,...`, checked
/// here so a malformed value fails in `--dry-run`, not on the nodes.
pub fn feature_gates(name: &str, value: Option<&str>) -> anyhow::Result<Option<String>> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if value.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    check_gate_entries(name, value, &format!(", or {name}=none for no gates"))?;
    Ok(Some(value.to_string()))
}

/// The component families' own gates (`APISERVER_FEATURE_GATES`, `--scheduler-arg
/// feature-gates=...`), checked like `FEATURE_GATES` so they too fail in `--dry-run`.
pub fn check_component_gates(
    args: &BTreeMap<Component, BTreeMap<String, String>>,
) -> anyhow::Result<()> {
    for (component, args) in args {
        if let Some(value) = args.get("feature-gates") {
            let name = format!("{}FEATURE_GATES", component.env_prefix());
            check_gate_entries(&name, value, "")?;
        }
    }
    Ok(())
}

fn check_gate_entries(name: &str, value: &str, alternative: &str) -> anyhow::Result<()> {
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let valid = entry.split_once('=').is_some_and(|(gate, on)| {
            !gate.trim().is_empty()
                && gate.trim().chars().all(|c| c.is_ascii_alphanumeric())
                && matches!(on.trim().to_ascii_lowercase().as_str(), "true" | "false")
        });
        if !valid {
            return Err(usage(format!(
                "invalid {name} entry {entry:?}: expected Name=true or Name=false \
                 (e.g. {name}=Foo=true,Bar=false){alternative}"
            )));
        }
    }
    Ok(())
}

/// In dual-stack mode, the value to suggest for a CIDR list given with one family only
/// (kubeadm-dind-cluster's dual-stack default `SERVICE_CIDR` was the single IPv6
/// `fd00:30::/110`): the given range plus dind's default for the missing family.
pub fn dual_stack_hint(name: &str, nets: &[IpNet]) -> Option<String> {
    let [given] = nets else {
        return None;
    };
    let variable = VARIABLES.iter().find(|v| v.env == name)?;
    let DefaultValue::ByIpMode(_, _, dual) = variable.default else {
        return None;
    };
    let other = dual.split(',').find_map(|d| {
        let d: IpNet = d.trim().parse().ok()?;
        (matches!(d, IpNet::V4(_)) != matches!(given, IpNet::V4(_))).then_some(d)
    })?;
    let (v4, v6) = if matches!(given, IpNet::V4(_)) {
        (*given, other)
    } else {
        (other, *given)
    };
    Some(format!(
        "dual-stack needs one range per family, e.g. {name}={v4},{v6}"
    ))
}

/// One row of `settings`' kubeadm-dind-cluster section: name, value, fate word, detail.
pub fn fate_rows(kdc: &BTreeMap<String, String>) -> Vec<[String; 4]> {
    kdc.iter()
        .filter_map(|(name, value)| {
            let verdict = lookup(name)?.fate.verdict(name, value);
            Some([
                name.clone(),
                value.clone(),
                verdict.word().to_string(),
                verdict.text().to_string(),
            ])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn same_and_alias_rows_name_real_dind_settings() {
        for v in KDC_VARIABLES {
            match v.fate {
                Fate::Same if !v.name.ends_with('*') && v.name != "DOCKER_HOST" => assert!(
                    VARIABLES.iter().any(|d| d.env == v.name),
                    "{} is marked Same but is no dind setting",
                    v.name
                ),
                Fate::Alias(to) => assert!(VARIABLES.iter().any(|d| d.env == to), "{}", v.name),
                _ => {}
            }
        }
        // Every dind setting named after kdc is in the table.
        for name in ["CLUSTER_ID", "MGMT_CIDRS", "SKIP_SNAPSHOT"] {
            assert_eq!(lookup(name).map(|v| v.fate), Some(Fate::Same), "{name}");
        }
        assert_eq!(
            lookup("APISERVER_ADMISSION_CONTROL").map(|v| v.name),
            Some("APISERVER_*")
        );
        assert!(lookup("APISERVER_").is_none());
        assert!(lookup("HOME").is_none());
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = KDC_VARIABLES.iter().map(|v| v.name).collect();
        names.sort_unstable();
        let len = names.len();
        names.dedup();
        assert_eq!(names.len(), len);
    }

    #[test]
    fn verdicts_by_value() {
        let table = [
            ("DNS_SERVICE", "coredns", "acts"),
            ("DNS_SERVICE", "CoreDNS", "acts"),
            ("DNS_SERVICE", "kube-dns", "refused"),
            ("DIND_CRI", "containerd", "acts"),
            ("DIND_CRI", "docker", "refused"),
            ("DNS64_PREFIX_SIZE", "96", "acts"),
            ("DNS64_PREFIX_SIZE", "64", "refused"),
            ("DIND_STORAGE_DRIVER", "overlay2", "refused"),
            ("DIND_COMMIT", "current", "ignored"),
            ("DIND_K8S_VERSION", "v1.33.1", "acts"),
        ];
        for (name, value, word) in table {
            let verdict = lookup(name).unwrap().fate.verdict(name, value);
            assert_eq!(verdict.word(), word, "{name}={value}");
            assert!(verdict.text().len() > 10, "{name}: {}", verdict.text());
        }
        let refusal = lookup("DIND_STORAGE_DRIVER")
            .unwrap()
            .fate
            .verdict("DIND_STORAGE_DRIVER", "overlay2");
        assert!(refusal.text().contains("containerd"), "{}", refusal.text());
        assert!(refusal.text().contains("Instead:"), "{}", refusal.text());
    }

    #[test]
    fn aliases_fill_only_unset_dind_names() {
        type Pairs<'a> = &'a [(&'a str, &'a str)];
        let table: &[(Pairs, Pairs)] = &[
            (
                &[("DIND_K8S_VERSION", "v1.35.2")],
                &[("DIND_KUBERNETES_VERSION", "v1.35.2")],
            ),
            (
                &[
                    ("DIND_K8S_VERSION", "v1.35.2"),
                    ("DIND_KUBERNETES_VERSION", "v1.34.0"),
                ],
                &[],
            ),
            (
                &[("DIND_SUBNET", "10.200.0.0"), ("DIND_SUBNET_SIZE", "24")],
                &[("MGMT_CIDRS", "10.200.0.0/24")],
            ),
            (&[("DIND_SUBNET", "10.200.0.0")], &[]),
            (
                &[
                    ("DIND_SUBNET", "10.200.0.0"),
                    ("DIND_SUBNET_SIZE", "24"),
                    ("MGMT_CIDRS", "10.1.0.0/24"),
                ],
                &[],
            ),
            (&[("HTTP_PROXY", "http://p:3128")], &[]),
        ];
        for (input, want) in table {
            let got = aliases(&env(input));
            let want: Vec<(&str, String)> = want.iter().map(|(k, v)| (*k, v.to_string())).collect();
            assert_eq!(got, want, "{input:?}");
        }
    }

    #[test]
    fn typed_variables() {
        let s = KdcSettings::from_env(
            &env(&[
                ("USE_HAIRPIN", "false"),
                ("KUBECTL_DIR", "/tmp/k"),
                ("BUILD_KUBEADM", "y"),
                ("KUBE_ROOT", "/src/k8s"),
                ("DIND_COMMIT", "current"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(s.use_hairpin, Some(false));
        assert_eq!(s.kubectl_dir, Some(PathBuf::from("/tmp/k")));
        assert_eq!(
            s.kube_binaries,
            Some(KubeBinaries::SourceTree {
                root: "/src/k8s".into(),
                local_first: false
            })
        );
        assert_eq!(s.warnings.len(), 1);
        assert!(
            s.warnings[0].starts_with("DIND_COMMIT is ignored"),
            "{:?}",
            s.warnings
        );

        let dir = KdcSettings::from_env(
            &env(&[("DIND_K8S_BIN_DIR", "/bin-dir"), ("BUILD_HYPERKUBE", "y")]),
            None,
        )
        .unwrap();
        assert_eq!(
            dir.kube_binaries,
            Some(KubeBinaries::Dir("/bin-dir".into()))
        );
        assert!(dir.warnings[0].contains("DIND_K8S_BIN_DIR is set"));

        let errors: &[(&[(&str, &str)], &str)] = &[
            (
                &[("DIND_STORAGE_DRIVER", "overlay2")],
                "DIND_STORAGE_DRIVER",
            ),
            (&[("DNS_SERVICE", "kube-dns")], "CoreDNS"),
            (&[("USE_HAIRPIN", "maybe")], "true or false"),
            (&[("DIND_SUBNET", "10.1.0.0")], "DIND_SUBNET_SIZE"),
            (&[("MASTER_EXTRA_OPTS", "--privileged")], "--privileged"),
        ];
        for (pairs, needle) in errors {
            let err = KdcSettings::from_env(&env(pairs), None).unwrap_err();
            assert_eq!(crate::error::exit_code(&err), 2, "{pairs:?}");
            assert!(err.to_string().contains(needle), "{pairs:?}: {err}");
        }
        let err =
            KdcSettings::from_env(&env(&[("DIND_K8S_BIN_DIR", "/d")]), Some("x:y")).unwrap_err();
        assert!(err.to_string().contains("set one of them"), "{err}");
    }

    #[test]
    fn source_tree_dirs() {
        let tree = KubeBinaries::SourceTree {
            root: "/k".into(),
            local_first: true,
        };
        assert_eq!(
            tree.candidate_dirs("amd64"),
            vec![
                PathBuf::from("/k/_output/local/bin/linux/amd64"),
                PathBuf::from("/k/_output/dockerized/bin/linux/amd64"),
                PathBuf::from("/k/_output/bin"),
            ]
        );
    }

    #[test]
    fn gates() {
        let table = [
            (None, Ok(None)),
            (Some(""), Ok(None)),
            (Some("none"), Ok(None)),
            (Some("NONE"), Ok(None)),
            (Some("Foo=true,Bar=false"), Ok(Some("Foo=true,Bar=false"))),
            (Some("bogus"), Err(())),
            (Some("Foo=yes"), Err(())),
            (Some("Foo-Bar=true"), Err(())),
        ];
        for (value, want) in table {
            let got = feature_gates("FEATURE_GATES", value);
            match want {
                Ok(w) => assert_eq!(got.unwrap().as_deref(), w, "{value:?}"),
                Err(()) => {
                    let err = got.unwrap_err();
                    assert_eq!(crate::error::exit_code(&err), 2);
                    assert!(err.to_string().contains("FEATURE_GATES=none"), "{err}");
                }
            }
        }
    }

    #[test]
    fn component_gates_fail_early() {
        let ok = BTreeMap::from([(
            Component::Scheduler,
            BTreeMap::from([("feature-gates".to_string(), "Foo=true".to_string())]),
        )]);
        check_component_gates(&ok).unwrap();
        let bad = BTreeMap::from([(
            Component::Apiserver,
            BTreeMap::from([("feature-gates".to_string(), "none".to_string())]),
        )]);
        let err = check_component_gates(&bad).unwrap_err();
        assert_eq!(crate::error::exit_code(&err), 2);
        assert!(err.to_string().contains("APISERVER_FEATURE_GATES"), "{err}");
    }

    #[test]
    fn dual_stack_hints_show_both_families() {
        let v6: Vec<IpNet> = vec!["fd00:30::/110".parse().unwrap()];
        assert_eq!(
            dual_stack_hint("SERVICE_CIDR", &v6).unwrap(),
            "dual-stack needs one range per family, e.g. SERVICE_CIDR=10.96.0.0/12,fd00:30::/110"
        );
        let v4: Vec<IpNet> = vec!["10.100.0.0/16".parse().unwrap()];
        assert!(dual_stack_hint("SERVICE_CIDR", &v4)
            .unwrap()
            .ends_with("SERVICE_CIDR=10.100.0.0/16,fd00:30::/110"));
        assert_eq!(dual_stack_hint("SERVICE_CIDR", &[]), None);
    }
}
