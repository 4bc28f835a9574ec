//! `pause` and `unpause`: freeze and thaw every node container of one cluster (Docker's
//! freezer cgroup), e.g. to give the CPU back without losing any state.

use super::inventory::{self, Selector};
use crate::engine::Engine;
use crate::progress::Progress;
use anyhow::bail;

/// Pauses (`freeze`) or unpauses every node of a cluster; nodes already in the wanted
/// state are left alone. Returns the nodes changed.
pub async fn set_paused(
    engine: &Engine,
    cluster_key: &str,
    freeze: bool,
    progress: &Progress,
) -> anyhow::Result<Vec<String>> {
    let rows = inventory::nodes(engine, &Selector::Cluster(cluster_key.to_string())).await?;
    if rows.is_empty() {
        bail!("cluster {cluster_key} has no node containers; is it up?");
    }
    let (from, verb) = if freeze {
        ("running", "Pausing")
    } else {
        ("paused", "Unpausing")
    };
    let names: Vec<String> = rows
        .into_iter()
        .filter(|r| r.state == from)
        .map(|r| r.name)
        .collect();
    if names.is_empty() {
        return Ok(names);
    }
    let step = progress.step(format!("{verb} {} node(s) of {cluster_key}", names.len()));
    let changes = names.iter().map(|name| async move {
        if freeze {
            engine.pause_container(name).await
        } else {
            engine.unpause_container(name).await
        }
    });
    step.finish(futures::future::try_join_all(changes).await)?;
    Ok(names)
}
