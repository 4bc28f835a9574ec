//! Taking a snapshot: every node becomes its node image plus ONE layer holding what
//! differs from it ([`super::changes`]), however many `down`/`up` cycles came before.
//!
//! Committing a restored node would stack a layer on its snapshot at every cycle (overlay2
//! stops at 127). Instead a stage container is created from the node image, the deleted
//! paths are removed in it, the changed paths are copied into it from the node (Docker's
//! archive API, so a paused node works too), and the stage is committed with the node
//! image's entrypoint. The stage carries the cluster's label, so `clean` removes one that
//! an interrupted snapshot left behind.

use super::changes::ChangeSet;
use super::{keys, snapshot_image, SnapshotMeta};
use crate::cluster::engines::Engines;
use crate::cluster::inventory::{self, Selector};
use crate::engine::{is_not_found, ContainerSpec, Engine};
use crate::names::labels;
use crate::progress::Progress;
use crate::settings::Settings;
use anyhow::Context;
use std::collections::BTreeMap;

/// Where kubeadm leaves the admin kubeconfig: a snapshot holding it had Kubernetes.
const ADMIN_CONF: &str = "/etc/kubernetes/admin.conf";

/// Snapshots every node of a cluster (running, or paused), each on the engine that holds
/// it, replacing the previous snapshot. Returns the images written.
pub async fn take(
    engines: &Engines,
    cluster_key: &str,
    progress: &Progress,
) -> anyhow::Result<Vec<String>> {
    let all: Vec<_> = engines.all().collect();
    let rows = inventory::nodes_on(&all, &Selector::Cluster(cluster_key.to_string())).await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let step = progress.step(format!(
        "Snapshotting {} node(s) of {cluster_key}",
        rows.len()
    ));
    let count = rows.len();
    let taken = all
        .iter()
        .map(|(_, engine)| take_on(engine, cluster_key, count));
    let written = step.finish(futures::future::try_join_all(taken).await)?;
    // Images of nodes that no longer exist on an engine (removed with `remove-node`) are
    // stale now.
    for (position, ((_, engine), written)) in all.iter().zip(&written).enumerate() {
        for old in super::find(engine, cluster_key, position).await? {
            if !written.contains(&old.tag) {
                engine.remove_image(&old.tag).await?;
            }
        }
    }
    Ok(written.concat())
}

/// Snapshots the nodes of a cluster of `nodes` nodes that one engine holds.
async fn take_on(engine: &Engine, cluster_key: &str, nodes: usize) -> anyhow::Result<Vec<String>> {
    let containers = engine
        .containers(&[(labels::CLUSTER, cluster_key), (labels::NODE_ROLE, "")])
        .await?;
    let commits = containers.iter().map(|node| async move {
        let settings_json = node
            .labels
            .get(labels::SETTINGS)
            .with_context(|| format!("{} has no settings label", node.name))?;
        let settings = Settings::from_label(&node.name, settings_json)?;
        snapshot_node(
            engine,
            cluster_key,
            &node.name,
            settings_json,
            &settings,
            nodes,
        )
        .await
    });
    futures::future::try_join_all(commits).await
}

/// One node: its changes against the node image, copied onto the node image in a stage
/// container, committed as `dind-snapshot:<node>`.
async fn snapshot_node(
    engine: &Engine,
    cluster_key: &str,
    node: &str,
    settings_json: &str,
    settings: &Settings,
    nodes: usize,
) -> anyhow::Result<String> {
    let details = engine.container_details(node).await?;
    let running_from = engine
        .image_labels(&details.image_id)
        .await?
        .unwrap_or_default();
    // A restored node runs from its snapshot image; the node image is the one that
    // snapshot was made from, and its recorded changes are the node's too.
    let (node_image, base) = match running_from.get(keys::NODE_IMAGE) {
        Some(image) => {
            let base: ChangeSet = running_from
                .get(keys::CHANGES)
                .map(|json| serde_json::from_str(json))
                .transpose()
                .with_context(|| format!("reading the change label of {node}'s snapshot"))?
                .unwrap_or_default();
            (image.clone(), base)
        }
        None => (details.image_id.clone(), ChangeSet::default()),
    };
    let changes = engine.container_changes(node).await?;
    let set = ChangeSet::merge(&base, &changes, &details.mount_points);
    let meta = SnapshotMeta {
        kubernetes_version: settings.kubernetes_version.clone(),
        node_image: node_image.clone(),
        ip_mode: settings.ip_mode,
        nodes,
        kubernetes: set.holds(ADMIN_CONF),
    };
    let mut image_labels = meta.to_labels();
    image_labels.insert(
        keys::CHANGES.into(),
        serde_json::to_string(&set).context("serializing a snapshot's changes")?,
    );
    image_labels.insert(labels::CLUSTER.into(), cluster_key.into());
    image_labels.insert(labels::SETTINGS.into(), settings_json.into());
    let stage = format!("dind-snapshot-stage-{node}");
    engine.remove_container(&stage).await?;
    let image = snapshot_image(node);
    let result = stage_and_commit(
        engine,
        node,
        &stage,
        &node_image,
        &set,
        &image,
        &image_labels,
    )
    .await;
    engine.remove_container(&stage).await?;
    result.map(|()| image)
}

async fn stage_and_commit(
    engine: &Engine,
    node: &str,
    stage: &str,
    node_image: &str,
    set: &ChangeSet,
    image: &str,
    image_labels: &BTreeMap<String, String>,
) -> anyhow::Result<()> {
    let deleted: Vec<String> = set.deleted.iter().cloned().collect();
    engine
        .create_container(&ContainerSpec {
            name: stage.to_string(),
            image: node_image.to_string(),
            labels: BTreeMap::from([(
                labels::CLUSTER.to_string(),
                image_labels[labels::CLUSTER].clone(),
            )]),
            entrypoint: Some(vec!["rm".into(), "-rf".into(), "--".into()]),
            cmd: Some(deleted.clone()),
            network: Some("none".into()),
            ..ContainerSpec::default()
        })
        .await?;
    if !deleted.is_empty() {
        engine.start_container(stage).await?;
        let code = engine.wait_container(stage).await?;
        anyhow::ensure!(
            code == 0,
            "removing the deleted paths of {node} in its snapshot stage exited with {code}"
        );
    }
    for path in &set.paths {
        let tar = match engine.download_tar(node, path).await {
            Ok(tar) => tar,
            // Gone since Docker listed it (a node still running writes on).
            Err(e) if is_not_found(&e) => continue,
            Err(e) => return Err(e),
        };
        let parent = match path.rsplit_once('/') {
            Some(("", _)) | None => "/",
            Some((parent, _)) => parent,
        };
        // Unpacked at `/`: Docker refuses a relative symlink (`/etc/mtab ->
        // ../proc/self/mounts`) that would leave the directory it unpacks into.
        engine.upload_tar(stage, under(&tar, parent)?).await?;
    }
    let (entrypoint, cmd) = engine.image_entrypoint_and_cmd(node_image).await?;
    let as_json = |list: &Vec<String>| serde_json::to_string(list).unwrap_or_default();
    let instructions = [
        format!("ENTRYPOINT {}", as_json(&entrypoint)),
        format!("CMD {}", as_json(&cmd)),
    ];
    engine
        .commit_container_with(stage, image, image_labels, &instructions)
        .await?;
    Ok(())
}

/// The archive of one path (entries relative to its `parent`) with every entry named from
/// the root instead; hard-link targets too, symlink targets as they are.
fn under(tar: &[u8], parent: &str) -> anyhow::Result<Vec<u8>> {
    let prefix = std::path::Path::new(parent.trim_start_matches('/'));
    let mut out = tar::Builder::new(Vec::new());
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries().context("reading a node's archive")? {
        let mut entry = entry.context("reading a node's archive")?;
        let path = prefix.join(entry.path().context("reading a node's archive")?);
        let mut header = entry.header().clone();
        if header.entry_type().is_hard_link() {
            let target = entry
                .link_name()
                .context("reading a node's archive")?
                .map(|t| prefix.join(t))
                .unwrap_or_default();
            out.append_link(&mut header, &path, &target)
                .context("writing a snapshot archive")?;
        } else if header.entry_type().is_symlink() {
            let target = entry
                .link_name()
                .context("reading a node's archive")?
                .map(|t| t.into_owned())
                .unwrap_or_default();
            out.append_link(&mut header, &path, &target)
                .context("writing a snapshot archive")?;
        } else {
            out.append_data(&mut header, &path, &mut entry)
                .context("writing a snapshot archive")?;
        }
    }
    out.into_inner().context("writing a snapshot archive")
}
