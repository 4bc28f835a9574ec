//! Snapshots: what a cluster's nodes were, kept across `down` so `restore` (or the next
//! `up`) brings them back instead of starting again.
//!
//! A node's state lives in two places: its volume (all of `/var`: containerd's data,
//! etcd, the kubelet's state, pod logs; kept by `down` anyway) and its container
//! filesystem (`/etc/kubernetes`, `/etc/machine-id`, whatever a user wrote outside
//! `/var`). The second is kept as an image, `dind-snapshot:<node name>`: the node image
//! plus one layer of what differs from it ([`take`]), so repeated `down`/`up` cycles never
//! stack layers. A restore creates each node from its snapshot image with the volume it
//! had, at the plan's address; no kubeadm. Without a snapshot to restore, `up` removes
//! leftover node volumes first (their etcd data would stop `kubeadm init`).
//!
//! Each snapshot image carries [`SnapshotMeta`], the change set and the cluster's
//! settings as labels. `restore` takes the settings from there; a snapshot that does not
//! fit what `up` is asked is never discarded on its own: `up` refuses, and only
//! `--skip-snapshot` (kubeadm-dind-cluster's `SKIP_SNAPSHOT`) or `clean` removes it.

mod agreement;
mod changes;
mod take;

pub use agreement::disagreements;
pub use changes::ChangeSet;
pub use take::take;

use super::engines::{on_host, Engines};
use crate::engine::Engine;
use crate::error::usage;
use crate::names::labels;
use crate::plan::ClusterPlan;
use crate::progress::Progress;
use crate::settings::IpMode;
use crate::settings::Settings;
use anyhow::Context;
use std::collections::{BTreeMap, HashMap};

/// The repository of snapshot images; the tag is the node's name.
pub const SNAPSHOT_REPOSITORY: &str = "dind-snapshot";

/// Labels of a snapshot image, beside the node labels the commit keeps.
mod keys {
    pub const KUBERNETES_VERSION: &str = "dind.snapshot.kubernetes-version";
    pub const NODE_IMAGE: &str = "dind.snapshot.node-image";
    pub const IP_MODE: &str = "dind.snapshot.ip-mode";
    pub const NODES: &str = "dind.snapshot.nodes";
    pub const KUBERNETES: &str = "dind.snapshot.kubernetes";
    /// The [`super::ChangeSet`] the image holds against the node image, as JSON.
    pub const CHANGES: &str = "dind.snapshot.changes";
}

/// The image a node's snapshot is kept in.
pub fn snapshot_image(node_name: &str) -> String {
    format!("{SNAPSHOT_REPOSITORY}:{node_name}")
}

/// What a snapshot must match to be restored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotMeta {
    pub kubernetes_version: String,
    /// The ID of the node image the nodes were first created from.
    pub node_image: String,
    pub ip_mode: IpMode,
    pub nodes: usize,
    /// Whether the nodes had Kubernetes set up (kubeadm's admin.conf was there).
    pub kubernetes: bool,
}

impl SnapshotMeta {
    /// What a cluster planned from these settings needs of a snapshot.
    pub fn wanted(settings: &Settings, plan: &ClusterPlan, node_image_id: &str) -> SnapshotMeta {
        SnapshotMeta {
            kubernetes_version: settings.kubernetes_version.clone(),
            node_image: node_image_id.to_string(),
            ip_mode: plan.ip_mode,
            nodes: plan.nodes.len(),
            kubernetes: false,
        }
    }

    pub fn to_labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (
                keys::KUBERNETES_VERSION.into(),
                self.kubernetes_version.clone(),
            ),
            (keys::NODE_IMAGE.into(), self.node_image.clone()),
            (keys::IP_MODE.into(), self.ip_mode.to_string()),
            (keys::NODES.into(), self.nodes.to_string()),
            (keys::KUBERNETES.into(), self.kubernetes.to_string()),
        ])
    }

    /// `None` when a label is missing or unreadable (not a snapshot dind made).
    pub fn from_labels(labels: &HashMap<String, String>) -> Option<SnapshotMeta> {
        Some(SnapshotMeta {
            kubernetes_version: labels.get(keys::KUBERNETES_VERSION)?.clone(),
            node_image: labels.get(keys::NODE_IMAGE)?.clone(),
            ip_mode: labels.get(keys::IP_MODE)?.parse().ok()?,
            nodes: labels.get(keys::NODES)?.parse().ok()?,
            kubernetes: labels.get(keys::KUBERNETES).is_some_and(|k| k == "true"),
        })
    }

    /// Why a snapshot with these facts cannot serve `wanted`, or `None` when it can.
    pub fn mismatch(&self, wanted: &SnapshotMeta) -> Option<String> {
        let short = |id: &str| {
            id.trim_start_matches("sha256:")
                .chars()
                .take(12)
                .collect::<String>()
        };
        if self.nodes != wanted.nodes {
            return Some(format!(
                "it has {} node(s) and {} are wanted",
                self.nodes, wanted.nodes
            ));
        }
        if self.ip_mode != wanted.ip_mode {
            return Some(format!(
                "it is {} and {} is wanted",
                self.ip_mode, wanted.ip_mode
            ));
        }
        if self.kubernetes_version != wanted.kubernetes_version {
            return Some(format!(
                "it has Kubernetes {} and {} is wanted",
                self.kubernetes_version, wanted.kubernetes_version
            ));
        }
        if self.node_image != wanted.node_image {
            return Some(format!(
                "it was made from node image {} and the node image is now {}",
                short(&self.node_image),
                short(&wanted.node_image)
            ));
        }
        None
    }
}

/// A snapshot `up` can restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Node name → snapshot image, for every node of the plan.
    pub images: BTreeMap<String, String>,
    /// The API server's host port the master was pinned to, from its settings label, so
    /// a restored kubeconfig keeps working.
    pub apiserver_port: Option<u16>,
}

/// One snapshot image of a cluster.
#[derive(Debug, Clone)]
struct Found {
    /// The position in [`Engines::all`] of the engine that holds it.
    engine: usize,
    tag: String,
    node: String,
    labels: HashMap<String, String>,
}

/// The snapshot images of a cluster on one engine, as if it were at position `engine`.
async fn find(engine: &Engine, cluster_key: &str, position: usize) -> anyhow::Result<Vec<Found>> {
    let prefix = format!("{SNAPSHOT_REPOSITORY}:");
    Ok(engine
        .images(&[(labels::CLUSTER, cluster_key), (keys::NODES, "")])
        .await?
        .into_iter()
        .flat_map(|image| {
            image
                .tags
                .iter()
                .filter_map(|tag| {
                    tag.strip_prefix(&prefix).map(|node| Found {
                        engine: position,
                        tag: tag.clone(),
                        node: node.to_string(),
                        labels: image.labels.clone(),
                    })
                })
                .collect::<Vec<_>>()
        })
        .collect())
}

/// The snapshot images of a cluster on every engine it spreads over: each node's is
/// committed on the engine that held the node.
async fn find_all(engines: &Engines, cluster_key: &str) -> anyhow::Result<Vec<Found>> {
    let mut found = Vec::new();
    for (position, (host, engine)) in engines.all().enumerate() {
        found.extend(
            find(engine, cluster_key, position)
                .await
                .with_context(|| on_host("listing the snapshot images", host))?,
        );
    }
    Ok(found)
}

/// Decides, before `up` creates anything, whether it restores: `Some` for a snapshot that
/// matches, each node's image on the engine the plan places the node on. `SKIP_SNAPSHOT`
/// discards the snapshot (on every engine) with one line; one that does not match is
/// refused (a `restore` says how to start over, an `up` how to restore or discard it),
/// never removed on its own.
pub async fn prepare(
    engines: &Engines,
    settings: &Settings,
    plan: &ClusterPlan,
    restoring: bool,
    progress: &Progress,
) -> anyhow::Result<Option<Snapshot>> {
    let found = find_all(engines, &plan.cluster_key).await?;
    if found.is_empty() {
        return Ok(None);
    }
    if settings.skip_snapshot {
        progress.note(format!(
            "SKIP_SNAPSHOT: discarding the snapshot of {} for a full up",
            plan.cluster_key
        ));
        for (_, engine) in engines.all() {
            discard(engine, &plan.cluster_key).await?;
        }
        return Ok(None);
    }
    let node_image = engines
        .master()
        .image_id_and_size(&plan.image)
        .await?
        .map(|(id, _)| id)
        .unwrap_or_default();
    let wanted = SnapshotMeta::wanted(settings, plan, &node_image);
    let placed: Vec<(&str, usize)> = plan
        .nodes
        .iter()
        .enumerate()
        .map(|(position, node)| (node.name.as_str(), engines.index_for_position(position)))
        .collect();
    judge(&placed, &found, &wanted, &engines.hosts)
        .map(Some)
        .map_err(|reason| usage(refusal(&plan.cluster_key, &reason, restoring)))
}

/// The snapshot that restores the nodes `placed` (name and engine position, master
/// first), or why `found` cannot: a node without an image, an image on another engine
/// than the one its node goes to (the `--docker-hosts` order changed), or one that does
/// not fit `wanted`. `hosts` names the engines in the reason.
fn judge(
    placed: &[(&str, usize)],
    found: &[Found],
    wanted: &SnapshotMeta,
    hosts: &[String],
) -> Result<Snapshot, String> {
    let host = |position: usize| hosts.get(position).map_or("?", String::as_str);
    let mut kept: Vec<&Found> = Vec::new();
    for &(name, engine) in placed {
        let on_node = |f: &&Found| f.node == name;
        let Some(image) = found.iter().filter(on_node).find(|f| f.engine == engine) else {
            return Err(match found.iter().find(on_node) {
                Some(elsewhere) => format!(
                    "its image of node {name} is on --docker-hosts entry {}, and this run \
                     places the node on {}",
                    host(elsewhere.engine),
                    host(engine)
                ),
                None => format!("it has no image of node {name}"),
            });
        };
        match SnapshotMeta::from_labels(&image.labels) {
            None => return Err(format!("its image {} is unreadable", image.tag)),
            Some(meta) => {
                if let Some(reason) = meta.mismatch(wanted) {
                    return Err(reason);
                }
            }
        }
        kept.push(image);
    }
    Ok(Snapshot {
        images: kept
            .iter()
            .map(|f| (f.node.clone(), snapshot_image(&f.node)))
            .collect(),
        apiserver_port: kept.first().and_then(|master| pinned_port(&master.labels)),
    })
}

/// The `apiserver_port` recorded in a node's settings label (the commit keeps the
/// container's labels). Read as plain JSON: only this one field matters here.
fn pinned_port(labels: &HashMap<String, String>) -> Option<u16> {
    let settings: serde_json::Value = serde_json::from_str(labels.get(labels::SETTINGS)?).ok()?;
    settings.get("apiserver_port")?.as_u64()?.try_into().ok()
}

/// Why a snapshot is not used, and the ways on.
fn refusal(cluster_key: &str, reason: &str, restoring: bool) -> String {
    if restoring {
        format!(
            "the snapshot of {cluster_key} cannot be restored ({reason}); it is kept: `clean` removes it to start over"
        )
    } else {
        format!(
            "{cluster_key} has a snapshot that does not fit this up ({reason}): `restore` \
             brings it back as it was; `up --skip-snapshot` (SKIP_SNAPSHOT=true) discards it \
             for a full up"
        )
    }
}

/// The settings the snapshot of a cluster was taken with (those of its master), or `None`
/// without a snapshot.
pub async fn settings_of(engines: &Engines, cluster_key: &str) -> anyhow::Result<Option<Settings>> {
    let found = find_all(engines, cluster_key).await?;
    let Some(first) = found
        .iter()
        .find(|f| f.node.starts_with("kube-master"))
        .or(found.first())
    else {
        return Ok(None);
    };
    let json = first.labels.get(labels::SETTINGS).with_context(|| {
        format!(
            "snapshot image {} has no {} label",
            first.tag,
            labels::SETTINGS
        )
    })?;
    let settings = Settings::from_label(&first.tag, json)?;
    super::join::check_read_back(&first.tag, &settings, cluster_key)?;
    Ok(Some(settings))
}

/// Whether the snapshot of a cluster holds Kubernetes (its master's admin.conf).
pub async fn has_kubernetes(engines: &Engines, cluster_key: &str) -> anyhow::Result<bool> {
    Ok(find_all(engines, cluster_key)
        .await?
        .iter()
        .filter_map(|f| SnapshotMeta::from_labels(&f.labels))
        .any(|meta| meta.kubernetes))
}

/// Removes every image carrying the cluster's label: the snapshot images and older ones
/// they replaced (untagged). Returns what was removed.
pub async fn discard(engine: &Engine, cluster_key: &str) -> anyhow::Result<Vec<String>> {
    remove_images(engine, cluster_key, false).await
}

/// Removes the cluster's images that no tag names any more (snapshots replaced by newer
/// ones); those still in use by a container stay.
pub async fn prune(engine: &Engine, cluster_key: &str) -> anyhow::Result<Vec<String>> {
    remove_images(engine, cluster_key, true).await
}

async fn remove_images(
    engine: &Engine,
    cluster_key: &str,
    untagged_only: bool,
) -> anyhow::Result<Vec<String>> {
    let mut removed = Vec::new();
    for image in engine.images(&[(labels::CLUSTER, cluster_key)]).await? {
        let tagged: Vec<&String> = image
            .tags
            .iter()
            .filter(|t| *t != "<none>:<none>")
            .collect();
        if untagged_only && !tagged.is_empty() {
            continue;
        }
        let name = match tagged.first() {
            Some(tag) => (*tag).clone(),
            None => image.id.clone(),
        };
        for tag in &tagged {
            engine.remove_image(tag).await?;
        }
        if tagged.is_empty() {
            if let Err(e) = engine.remove_image(&image.id).await {
                // Still the image of a running node (a restored one): it goes later.
                if untagged_only {
                    continue;
                }
                return Err(e);
            }
        }
        removed.push(name);
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(version: &str, image: &str, mode: IpMode, nodes: usize) -> SnapshotMeta {
        SnapshotMeta {
            kubernetes_version: version.into(),
            node_image: image.into(),
            ip_mode: mode,
            nodes,
            kubernetes: false,
        }
    }

    #[test]
    fn labels_round_trip() {
        let m = meta("v1.33.1", "sha256:abc", IpMode::DualStack, 3);
        let labels: HashMap<String, String> = m.to_labels().into_iter().collect();
        assert_eq!(SnapshotMeta::from_labels(&labels), Some(m));
        assert_eq!(SnapshotMeta::from_labels(&HashMap::new()), None);
    }

    #[test]
    fn stale_snapshots_say_why() {
        let wanted = meta("v1.33.1", "sha256:abc", IpMode::Ipv4, 3);
        // (snapshot, reason contains)
        let table = [
            (wanted.clone(), None),
            (
                meta("v1.33.1", "sha256:abc", IpMode::Ipv4, 2),
                Some("2 node(s) and 3 are wanted"),
            ),
            (
                meta("v1.33.1", "sha256:abc", IpMode::Ipv6, 3),
                Some("ipv6 and ipv4"),
            ),
            (
                meta("v1.32.0", "sha256:abc", IpMode::Ipv4, 3),
                Some("Kubernetes v1.32.0"),
            ),
            (
                meta("v1.33.1", "sha256:def", IpMode::Ipv4, 3),
                Some("node image def"),
            ),
        ];
        for (snapshot, reason) in table {
            let got = snapshot.mismatch(&wanted);
            match reason {
                None => assert_eq!(got, None),
                Some(r) => assert!(got.as_deref().unwrap_or("").contains(r), "{got:?} vs {r}"),
            }
        }
    }

    #[test]
    fn the_pinned_port_comes_from_the_settings_label() {
        let with = |json: &str| HashMap::from([(labels::SETTINGS.to_string(), json.to_string())]);
        assert_eq!(
            pinned_port(&with(r#"{"apiserver_port":41234}"#)),
            Some(41234)
        );
        assert_eq!(pinned_port(&with(r#"{"apiserver_port":null}"#)), None);
        assert_eq!(pinned_port(&with("not json")), None);
        assert_eq!(pinned_port(&HashMap::new()), None);
    }

    #[test]
    fn each_node_is_restored_from_its_image_on_its_own_engine() {
        let wanted = meta("v1.33.1", "sha256:abc", IpMode::Ipv4, 2);
        let stale = meta("v1.33.1", "sha256:old", IpMode::Ipv4, 2);
        let image = |engine: usize, node: &str, meta: &SnapshotMeta, port: Option<u16>| {
            let mut labels: HashMap<String, String> = meta.to_labels().into_iter().collect();
            if let Some(port) = port {
                labels.insert(
                    labels::SETTINGS.into(),
                    format!(r#"{{"apiserver_port":{port}}}"#),
                );
            }
            Found {
                engine,
                tag: snapshot_image(node),
                node: node.into(),
                labels,
            }
        };
        let hosts = ["unix:///a".to_string(), "tcp://b:2375".to_string()];
        let placed = [("kube-master", 0), ("kube-node-1", 1)];
        let restored = Snapshot {
            images: BTreeMap::from([
                ("kube-master".into(), "dind-snapshot:kube-master".into()),
                ("kube-node-1".into(), "dind-snapshot:kube-node-1".into()),
            ]),
            apiserver_port: Some(41000),
        };
        // (images found, what comes out: the snapshot, or a part of the reason)
        let table: [(Vec<Found>, Result<Snapshot, &str>); 5] = [
            (
                vec![
                    image(1, "kube-node-1", &wanted, None),
                    image(0, "kube-master", &wanted, Some(41000)),
                ],
                Ok(restored.clone()),
            ),
            // A copy left on the other engine does not stand in the way.
            (
                vec![
                    image(0, "kube-master", &wanted, Some(41000)),
                    image(0, "kube-node-1", &stale, None),
                    image(1, "kube-node-1", &wanted, None),
                ],
                Ok(restored),
            ),
            (
                vec![image(0, "kube-master", &wanted, None)],
                Err("it has no image of node kube-node-1"),
            ),
            (
                vec![
                    image(0, "kube-master", &wanted, None),
                    image(0, "kube-node-1", &wanted, None),
                ],
                Err("node kube-node-1 is on --docker-hosts entry unix:///a, and this run places the node on tcp://b:2375"),
            ),
            (
                vec![
                    image(0, "kube-master", &wanted, None),
                    image(1, "kube-node-1", &stale, None),
                ],
                Err("node image old"),
            ),
        ];
        for (found, expected) in table {
            let got = judge(&placed, &found, &wanted, &hosts);
            match expected {
                Ok(snapshot) => assert_eq!(got, Ok(snapshot)),
                Err(part) => {
                    let reason = got.expect_err(part);
                    assert!(reason.contains(part), "{reason} vs {part}");
                }
            }
        }
    }

    #[test]
    fn snapshot_images_are_named_by_node() {
        assert_eq!(
            snapshot_image("kube-node-1-cluster-30"),
            "dind-snapshot:kube-node-1-cluster-30"
        );
    }
}
