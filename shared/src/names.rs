//! Who a cluster is, and what each of its Docker objects and kubeconfig entries is called.
//!
//! The scheme is kubeadm-dind-cluster's, so scripts written for it keep working:
//! the default cluster has no suffix, `--cluster-id 10` adds `-cluster-10`, `--label foo`
//! adds `-foo` (or `-foo-10` with an ID too). Docker labels, not names, are the truth
//! that `down` and `clean` select by; see [`labels`].

use crate::error::usage;
use serde::{Deserialize, Serialize};

/// The highest cluster ID: the ID becomes an IPv4 octet, and 255 is a broadcast octet.
pub const MAX_CLUSTER_ID: u8 = 254;

/// Docker label keys that dind puts on every object it creates.
///
/// They carry everything `down`, `clean` and a later restore need, so no state lives
/// outside Docker.
pub mod labels {
    /// On every container, volume and network of a cluster; the value is [`super::ClusterIdentity::key`].
    pub const CLUSTER: &str = "dind.cluster";
    /// On node containers: `master` or `worker`.
    pub const NODE_ROLE: &str = "dind.node-role";
    /// On node containers: 0 for the master, n for `kube-node-n`.
    pub const NODE_INDEX: &str = "dind.node-index";
    /// On the DNS64 and NAT64 support containers: `dns64` or `nat64`. Node selectors
    /// never match these, which is how `down` keeps them.
    pub const SUPPORT: &str = "dind.support";
    /// On node containers and the network: the effective settings as JSON, for restore.
    pub const SETTINGS: &str = "dind.settings";
    /// On the lock volume of a cluster `up` is creating: who holds it, see
    /// `cluster::up_lock`.
    pub const UP_LOCK: &str = "dind.up-lock";
    /// On images dind builds: the Kubernetes version inside, or `none`.
    pub const IMAGE_KUBERNETES_VERSION: &str = "dind.kubernetes-version";
    /// On images dind builds: a hash of the recipe, so an unchanged recipe is reused.
    pub const IMAGE_RECIPE: &str = "dind.recipe";
}

/// The identity of one cluster: its ID and optional label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterIdentity {
    id: u8,
    label: Option<String>,
}

impl ClusterIdentity {
    /// The default cluster: ID 0, no label.
    pub fn default_cluster() -> Self {
        ClusterIdentity { id: 0, label: None }
    }

    /// Checks the ID range and that the label can live in container names and hostnames.
    pub fn new(id: u8, label: Option<String>) -> anyhow::Result<Self> {
        if id > MAX_CLUSTER_ID {
            return Err(usage(format!(
                "invalid cluster ID {id}: it must be a number from 0 to {MAX_CLUSTER_ID}"
            )));
        }
        let label = label.filter(|l| !l.is_empty());
        if let Some(label) = &label {
            validate_label(label)?;
        }
        Ok(ClusterIdentity { id, label })
    }

    /// The cluster a dind context name belongs to: `dind`, `dind-cluster-N`,
    /// `dind-LABEL` or `dind-LABEL-N`. `None` for other names.
    pub fn from_context_name(context: &str) -> Option<ClusterIdentity> {
        let rest = match context.strip_prefix("dind") {
            Some("") => return Some(ClusterIdentity::default_cluster()),
            Some(rest) => rest.strip_prefix('-')?,
            None => return None,
        };
        if let Some(id) = rest.strip_prefix("cluster-") {
            return ClusterIdentity::new(id.parse().ok()?, None).ok();
        }
        let (label, id) = match rest.rsplit_once('-') {
            Some((label, id)) if id.bytes().all(|b| b.is_ascii_digit()) => {
                (label, id.parse().ok()?)
            }
            _ => (rest, 0),
        };
        ClusterIdentity::new(id, Some(label.to_string())).ok()
    }

    pub fn id(&self) -> u8 {
        self.id
    }

    pub fn label(&self) -> Option<&str> {
        self.label.as_deref()
    }

    /// The suffix every name of this cluster carries.
    pub fn suffix(&self) -> String {
        match (&self.label, self.id) {
            (None, 0) => String::new(),
            (None, id) => format!("-cluster-{id}"),
            (Some(label), 0) => format!("-{label}"),
            (Some(label), id) => format!("-{label}-{id}"),
        }
    }

    /// The value of the [`labels::CLUSTER`] label: the suffix without its dash, or `default`.
    pub fn key(&self) -> String {
        match self.suffix().strip_prefix('-') {
            Some(rest) => rest.to_string(),
            None => "default".to_string(),
        }
    }

    /// The ID that goes into addresses. A labelled cluster with ID 0 gets a stable
    /// pseudo-random ID from 1 to 254 derived from its label, so that `down` and `up`
    /// give it the same addresses every time.
    pub fn address_id(&self) -> u8 {
        match (&self.label, self.id) {
            (Some(label), 0) => {
                // FNV-1a: small, stable across releases and platforms, unlike std's hasher.
                let hash = label.bytes().fold(0x811c_9dc5_u32, |h, b| {
                    (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
                });
                (hash % u32::from(MAX_CLUSTER_ID)) as u8 + 1
            }
            (_, id) => id,
        }
    }

    /// The flags that select this cluster, as a user types them: `--cluster-id 10`,
    /// `--label foo`, nothing for the default cluster.
    pub fn selector_flags(&self) -> String {
        let id = (self.id != 0).then(|| format!("--cluster-id {}", self.id));
        let label = self.label.as_ref().map(|label| format!("--label {label}"));
        [id, label]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The kubeconfig context, cluster and user name: `dind`, `dind-cluster-10`, `dind-foo`.
    pub fn context_name(&self) -> String {
        format!("dind{}", self.suffix())
    }

    /// Container name and hostname of node `index`: 0 is the master, n is `kube-node-n`.
    pub fn node_name(&self, index: u16) -> String {
        match index {
            0 => format!("kube-master{}", self.suffix()),
            n => format!("kube-node-{n}{}", self.suffix()),
        }
    }

    /// Container name and hostname of master `k`: the first is `kube-master` (as
    /// [`Self::node_name`] of 0), the others `kube-master-2`, `kube-master-3`, …
    pub fn master_name(&self, k: u16) -> String {
        match k {
            0 | 1 => self.node_name(0),
            k => format!("kube-master-{k}{}", self.suffix()),
        }
    }

    /// The load balancer in front of the masters of a cluster with several.
    pub fn load_balancer_name(&self) -> String {
        format!("kube-master-lb{}", self.suffix())
    }

    /// The volume that holds a node's `/var`, so it survives `down`.
    pub fn volume_name(&self, index: u16) -> String {
        format!("kubeadm-dind-{}", self.node_name(index))
    }

    pub fn network_name(&self) -> String {
        format!("kubeadm-dind-net{}", self.suffix())
    }

    /// The IPv4-only network of a cluster whose nodes have no IPv4
    /// ([`crate::cluster::node_ipv4`]); its stem differs from the node network's, so no
    /// label makes the two names meet.
    pub fn edge_network_name(&self) -> String {
        format!("kubeadm-dind-edge{}", self.suffix())
    }

    /// The dual-stack proxy that publishes the API server of such a cluster.
    pub fn api_proxy_name(&self) -> String {
        format!("dind-api-proxy{}", self.suffix())
    }

    pub fn dns64_name(&self) -> String {
        format!("bind9{}", self.suffix())
    }

    pub fn nat64_name(&self) -> String {
        format!("tayga{}", self.suffix())
    }
}

/// The longest label that still leaves `kube-node-253-<label>-254` within the 63
/// characters of a hostname.
const MAX_LABEL_LEN: usize = 63 - "kube-node-253--254".len();

fn validate_label(label: &str) -> anyhow::Result<()> {
    let charset_ok = label
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let edges_ok = !label.starts_with('-') && !label.ends_with('-');
    if !charset_ok || !edges_ok || label.len() > MAX_LABEL_LEN {
        return Err(usage(format!(
            "invalid label {label:?}: it becomes part of container names and hostnames, so use \
             at most {MAX_LABEL_LEN} lowercase letters, digits and '-', not starting or ending with '-'"
        )));
    }
    if let Some(why) = reads_as_another_cluster(label) {
        return Err(usage(format!("invalid label {label:?}: {why}")));
    }
    Ok(())
}

/// Why a label would give this cluster another cluster's key, names or context, if it
/// would. `down`, `clean`, `snapshot`, `pause` and `load` select by the key, so a shared
/// key acts on (and `clean` deletes) the other cluster.
fn reads_as_another_cluster(label: &str) -> Option<String> {
    if label == "default" {
        return Some(
            "`default` is the default cluster's name (its key, and CLUSTER in `contexts`)".into(),
        );
    }
    if label == "cluster" || label.starts_with("cluster-") {
        return Some(
            "labels 'cluster' and 'cluster-…' would clash with --cluster-id names (kube-master-cluster-N)"
                .into(),
        );
    }
    let (base, number) = label.rsplit_once('-')?;
    number.bytes().all(|b| b.is_ascii_digit()).then(|| {
        format!(
            "a label ending in -<number> has the names and context of --label {base} --cluster-id {number}; \
             end it with a letter"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(id: u8, label: Option<&str>) -> ClusterIdentity {
        ClusterIdentity::new(id, label.map(str::to_string)).expect("valid identity")
    }

    #[test]
    fn selector_flags_name_the_cluster_as_a_user_would() {
        let table = [
            (0, None, ""),
            (10, None, "--cluster-id 10"),
            (0, Some("foo"), "--label foo"),
            (4, Some("foo"), "--cluster-id 4 --label foo"),
        ];
        for (id, label, flags) in table {
            assert_eq!(
                identity(id, label).selector_flags(),
                flags,
                "{id} {label:?}"
            );
        }
    }

    #[test]
    fn names_follow_the_kubeadm_dind_cluster_scheme() {
        // (id, label, master, worker 1, volume of master, network, dns64, nat64, context, key)
        let table = [
            (
                0,
                None,
                "kube-master",
                "kube-node-1",
                "kubeadm-dind-kube-master",
                "kubeadm-dind-net",
                "bind9",
                "tayga",
                "dind",
                "default",
            ),
            (
                10,
                None,
                "kube-master-cluster-10",
                "kube-node-1-cluster-10",
                "kubeadm-dind-kube-master-cluster-10",
                "kubeadm-dind-net-cluster-10",
                "bind9-cluster-10",
                "tayga-cluster-10",
                "dind-cluster-10",
                "cluster-10",
            ),
            (
                0,
                Some("foo"),
                "kube-master-foo",
                "kube-node-1-foo",
                "kubeadm-dind-kube-master-foo",
                "kubeadm-dind-net-foo",
                "bind9-foo",
                "tayga-foo",
                "dind-foo",
                "foo",
            ),
            (
                7,
                Some("foo"),
                "kube-master-foo-7",
                "kube-node-1-foo-7",
                "kubeadm-dind-kube-master-foo-7",
                "kubeadm-dind-net-foo-7",
                "bind9-foo-7",
                "tayga-foo-7",
                "dind-foo-7",
                "foo-7",
            ),
        ];
        for (id, label, master, worker, volume, network, dns64, nat64, context, key) in table {
            let c = identity(id, label);
            assert_eq!(c.node_name(0), master);
            assert_eq!(c.node_name(1), worker);
            assert_eq!(c.volume_name(0), volume);
            assert_eq!(c.network_name(), network);
            assert_eq!(c.dns64_name(), dns64);
            assert_eq!(c.nat64_name(), nat64);
            assert_eq!(c.context_name(), context);
            assert_eq!(c.key(), key);
        }
    }

    #[test]
    fn context_names_map_back_to_clusters() {
        let table = [
            ("dind", Some((0, None))),
            ("dind-cluster-10", Some((10, None))),
            ("dind-foo", Some((0, Some("foo")))),
            ("dind-foo-7", Some((7, Some("foo")))),
            ("dind-cluster-300", None),
            ("kind-kind", None),
            ("dindx", None),
        ];
        for (context, expected) in table {
            let got = ClusterIdentity::from_context_name(context);
            assert_eq!(
                got.clone().map(|c| (c.id(), c.label().map(str::to_string))),
                expected.map(|(i, l)| (i, l.map(str::to_string))),
                "{context}"
            );
            if let Some(identity) = got {
                assert_eq!(identity.context_name(), context);
            }
        }
    }

    #[test]
    fn address_id_is_the_id_or_a_stable_pick_for_labels() {
        assert_eq!(identity(0, None).address_id(), 0);
        assert_eq!(identity(10, None).address_id(), 10);
        assert_eq!(identity(10, Some("foo")).address_id(), 10);
        let foo = identity(0, Some("foo")).address_id();
        assert!((1..=254).contains(&foo));
        assert_eq!(foo, identity(0, Some("foo")).address_id());
        assert_ne!(foo, identity(0, Some("bar")).address_id());
    }

    #[test]
    fn every_cluster_has_its_own_key_names_and_context() {
        let labels = [
            None,
            Some("a"),
            Some("foo"),
            Some("7"),
            Some("x-y"),
            Some("a1"),
            Some("foo-bar"),
        ];
        let mut seen = std::collections::BTreeMap::new();
        for label in labels {
            for id in [0, 1, 7, 10, 254] {
                let c = identity(id, label);
                for name in [
                    c.key(),
                    c.suffix(),
                    c.context_name(),
                    c.node_name(0),
                    c.network_name(),
                ] {
                    if let Some(other) = seen.insert(name.clone(), (id, label)) {
                        assert_eq!(other, (id, label), "{name} belongs to two clusters");
                    }
                }
                assert_eq!(
                    ClusterIdentity::from_context_name(&c.context_name()),
                    Some(c)
                );
            }
        }
        // The pairs that used to share a key: default / --label default, --label foo-7 /
        // --label foo --cluster-id 7, --label cluster --cluster-id 7 / --cluster-id 7.
        for (id, label) in [(0, "default"), (0, "foo-7"), (7, "cluster")] {
            assert!(
                ClusterIdentity::new(id, Some(label.to_string())).is_err(),
                "{label}"
            );
        }
    }

    #[test]
    fn bad_ids_and_labels_are_usage_errors() {
        for label in [
            "Foo",
            "-foo",
            "foo-",
            "foo_bar",
            "a.b",
            "cluster-3",
            "cluster",
            "default",
            "foo-7",
            "a-1-2",
            "x-007",
            &"x".repeat(46),
        ] {
            let err = ClusterIdentity::new(0, Some(label.to_string())).unwrap_err();
            assert_eq!(crate::error::exit_code(&err), 2, "{label}");
        }
        let err = ClusterIdentity::new(255, None).unwrap_err();
        assert!(err.to_string().contains("0 to 254"), "{err}");
        assert!(ClusterIdentity::new(0, Some(String::new()))
            .unwrap()
            .label()
            .is_none());
    }
}
