//! Snapshots: what a cluster's nodes were, kept across `down` so the next `up` restores
//! them instead of starting again.
//!
//! A node's state lives in two places: its volume (all of `/var`: containerd's data,
//! etcd, the kubelet's state, pod logs; kept by `down` anyway) and its container
//! filesystem (`/etc/kubernetes`, the CNI configuration, `/etc/machine-id`, whatever a
//! user wrote outside `/var`). The second is kept by committing each node to an image,
//! `dind-snapshot:<node name>`, when the cluster is taken `down` (or on `snapshot`).
//! Committing only copies the container's own layer, run concurrently, and nothing at
//! all during `up`. A restore creates each node from its snapshot image with the volume
//! it had, at the plan's address; no kubeadm. Without a snapshot to restore, `up` removes
//! leftover node volumes first (their etcd data would stop `kubeadm init`).
//!
//! Each snapshot image carries [`SnapshotMeta`] as labels. A snapshot made for another
//! Kubernetes version, node image, IP mode or node count is stale: `up` discards it (and
//! the node volumes, whose containerd state belongs to it) and says so in one line.
//!
//! A restored node runs from its snapshot image, so its next snapshot is one layer on top
//! of the last: each `down`/`up` cycle adds a layer. Docker's overlay2 stops at 125
//! layers, ~110 cycles from a fresh `up`; `--skip-snapshot` (or `clean`) starts over.

use super::inventory::{self, Selector};
use crate::engine::Engine;
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
}

impl SnapshotMeta {
    /// What a cluster planned from these settings needs of a snapshot.
    pub fn wanted(settings: &Settings, plan: &ClusterPlan, node_image_id: &str) -> SnapshotMeta {
        SnapshotMeta {
            kubernetes_version: settings.kubernetes_version.clone(),
            node_image: node_image_id.to_string(),
            ip_mode: plan.ip_mode,
            nodes: plan.nodes.len(),
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
        ])
    }

    /// `None` when a label is missing or unreadable (not a snapshot dind made).
    pub fn from_labels(labels: &HashMap<String, String>) -> Option<SnapshotMeta> {
        Some(SnapshotMeta {
            kubernetes_version: labels.get(keys::KUBERNETES_VERSION)?.clone(),
            node_image: labels.get(keys::NODE_IMAGE)?.clone(),
            ip_mode: labels.get(keys::IP_MODE)?.parse().ok()?,
            nodes: labels.get(keys::NODES)?.parse().ok()?,
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
struct Found {
    tag: String,
    node: String,
    labels: HashMap<String, String>,
}

async fn find(engine: &Engine, cluster_key: &str) -> anyhow::Result<Vec<Found>> {
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
                        tag: tag.clone(),
                        node: node.to_string(),
                        labels: image.labels.clone(),
                    })
                })
                .collect::<Vec<_>>()
        })
        .collect())
}

/// Whether the cluster has a snapshot at all.
pub async fn exists(engine: &Engine, cluster_key: &str) -> anyhow::Result<bool> {
    Ok(!find(engine, cluster_key).await?.is_empty())
}

/// Decides, before `up` creates anything, whether it restores: `Some` for a snapshot that
/// matches; a stale one, or any with `SKIP_SNAPSHOT`, is discarded with one line.
pub async fn prepare(
    engine: &Engine,
    settings: &Settings,
    plan: &ClusterPlan,
    progress: &Progress,
) -> anyhow::Result<Option<Snapshot>> {
    let found = find(engine, &plan.cluster_key).await?;
    if found.is_empty() {
        return Ok(None);
    }
    if settings.skip_snapshot {
        progress.note(format!(
            "SKIP_SNAPSHOT: discarding the snapshot of {} for a full up",
            plan.cluster_key
        ));
        discard(engine, &plan.cluster_key).await?;
        return Ok(None);
    }
    let node_image = engine
        .image_id_and_size(&plan.image)
        .await?
        .map(|(id, _)| id)
        .unwrap_or_default();
    let wanted = SnapshotMeta::wanted(settings, plan, &node_image);
    let by_node: HashMap<&str, &Found> = found.iter().map(|f| (f.node.as_str(), f)).collect();
    let reason = plan
        .nodes
        .iter()
        .find_map(|node| match by_node.get(node.name.as_str()) {
            None => Some(format!("it has no image of node {}", node.name)),
            Some(f) => match SnapshotMeta::from_labels(&f.labels) {
                None => Some(format!("its image {} is unreadable", f.tag)),
                Some(meta) => meta.mismatch(&wanted),
            },
        });
    if let Some(reason) = reason {
        progress.note(format!(
            "The snapshot of {} is stale ({reason}): discarding it and its node volumes for a full up",
            plan.cluster_key
        ));
        discard(engine, &plan.cluster_key).await?;
        for node in &plan.nodes {
            engine.remove_volume(&node.volume).await?;
        }
        return Ok(None);
    }
    let apiserver_port = by_node
        .get(plan.master().name.as_str())
        .and_then(|master| pinned_port(&master.labels));
    Ok(Some(Snapshot {
        images: plan
            .nodes
            .iter()
            .map(|n| (n.name.clone(), snapshot_image(&n.name)))
            .collect(),
        apiserver_port,
    }))
}

/// The `apiserver_port` recorded in a node's settings label (the commit keeps the
/// container's labels). Read as plain JSON: only this one field matters here.
fn pinned_port(labels: &HashMap<String, String>) -> Option<u16> {
    let settings: serde_json::Value = serde_json::from_str(labels.get(labels::SETTINGS)?).ok()?;
    settings.get("apiserver_port")?.as_u64()?.try_into().ok()
}

/// Removes every snapshot image of the cluster; returns their tags.
pub async fn discard(engine: &Engine, cluster_key: &str) -> anyhow::Result<Vec<String>> {
    let tags: Vec<String> = find(engine, cluster_key)
        .await?
        .into_iter()
        .map(|f| f.tag)
        .collect();
    futures::future::try_join_all(tags.iter().map(|t| engine.remove_image(t))).await?;
    Ok(tags)
}

/// Commits every node of a cluster (running, or paused) to its snapshot image, replacing
/// the previous snapshot. Returns the images written.
pub async fn take(
    engine: &Engine,
    cluster_key: &str,
    progress: &Progress,
) -> anyhow::Result<Vec<String>> {
    let rows = inventory::nodes(engine, &Selector::Cluster(cluster_key.to_string())).await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let step = progress.step(format!(
        "Snapshotting {} node(s) of {cluster_key}",
        rows.len()
    ));
    let count = rows.len();
    let commits = rows.iter().map(|row| async move {
        let details = engine.container_details(&row.name).await?;
        // A restored node runs from its snapshot image; the node image is the one that
        // snapshot was made from.
        let node_image = match engine.image_labels(&details.image_id).await? {
            Some(l) if l.contains_key(keys::NODE_IMAGE) => l[keys::NODE_IMAGE].clone(),
            _ => details.image_id.clone(),
        };
        let container_labels = engine
            .containers(&[(labels::CLUSTER, cluster_key), (labels::NODE_ROLE, "")])
            .await?
            .into_iter()
            .find(|c| c.name == row.name)
            .map(|c| c.labels)
            .unwrap_or_default();
        let settings: Settings = container_labels
            .get(labels::SETTINGS)
            .map(|json| Settings::from_label(&row.name, json))
            .transpose()?
            .with_context(|| format!("{} has no settings label", row.name))?;
        let meta = SnapshotMeta {
            kubernetes_version: settings.kubernetes_version.clone(),
            node_image,
            ip_mode: settings.ip_mode,
            nodes: count,
        };
        let image_labels = meta.to_labels();
        let image = snapshot_image(&row.name);
        engine
            .commit_container(&row.name, &image, &image_labels)
            .await?;
        Ok::<_, anyhow::Error>(image)
    });
    let written = step.finish(futures::future::try_join_all(commits).await)?;
    // Images of nodes that no longer exist (removed with `remove-node`) are stale now.
    for old in find(engine, cluster_key).await? {
        if !written.contains(&old.tag) {
            engine.remove_image(&old.tag).await?;
        }
    }
    Ok(written)
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
    fn snapshot_images_are_named_by_node() {
        assert_eq!(
            snapshot_image("kube-node-1-cluster-30"),
            "dind-snapshot:kube-node-1-cluster-30"
        );
    }
}
