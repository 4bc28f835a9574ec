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
            pause_node(engine, name).await
        } else {
            engine.unpause_container(name).await
        }
    });
    step.finish(futures::future::try_join_all(changes).await)?;
    Ok(names)
}

/// How often a freeze is tried before its error stands.
const FREEZE_ATTEMPTS: u32 = 5;

/// Freezes one node. On cgroup v1, runc gives up on a freeze when some task does not
/// reach the frozen state in time (a process in uninterruptible I/O, e.g. an image import
/// in the node) and reports "unable to freeze"; the cgroup is thawed again, so asking
/// once more is safe, and it succeeds once the I/O has moved on.
async fn pause_node(engine: &Engine, name: &str) -> anyhow::Result<()> {
    let mut delay = std::time::Duration::from_millis(200);
    let mut attempt = 1;
    loop {
        match engine.pause_container(name).await {
            Err(e) if attempt < FREEZE_ATTEMPTS && is_transient_freeze_failure(&e) => {
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            result => return result,
        }
    }
}

fn is_transient_freeze_failure(error: &anyhow::Error) -> bool {
    format!("{error:#}").contains("unable to freeze")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_freezer_timeouts_are_retried() {
        let table = [
            (
                "Cannot pause container x: OCI runtime pause failed: unable to freeze: unknown",
                true,
            ),
            ("Container x is not running", false),
            ("No such container: x", false),
        ];
        for (text, retried) in table {
            assert_eq!(
                is_transient_freeze_failure(&anyhow::anyhow!(text.to_string())),
                retried,
                "{text}"
            );
        }
    }
}
