//! `pause` and `unpause`: freeze and thaw every node container of one cluster (Docker's
//! freezer cgroup), e.g. to give the CPU back without losing any state.

use super::engines::{on_host, Engines};
use super::inventory::{self, ContainerRow, Selector};
use crate::engine::Engine;
use crate::progress::Progress;
use anyhow::{bail, Context};

/// Pauses (`freeze`) or unpauses every node of a cluster, each on the engine that holds
/// it; nodes already in the wanted state are left alone. Returns the nodes changed.
pub async fn set_paused(
    engines: &Engines,
    cluster_key: &str,
    freeze: bool,
    progress: &Progress,
) -> anyhow::Result<Vec<String>> {
    let rows = inventory::nodes_on(
        &engines.all().collect::<Vec<_>>(),
        &Selector::Cluster(cluster_key.to_string()),
    )
    .await?;
    if rows.is_empty() {
        bail!("cluster {cluster_key} has no node containers; is it up?");
    }
    let (from, verb) = if freeze {
        ("running", "Pausing")
    } else {
        ("paused", "Unpausing")
    };
    let to_change = to_change(&rows, from);
    if to_change.is_empty() {
        return Ok(Vec::new());
    }
    let step = progress.step(format!(
        "{verb} {} node(s) of {cluster_key}",
        to_change.len()
    ));
    let changes = to_change.iter().map(|(host, name)| async move {
        let engine = engines.named(*host);
        let changed = if freeze {
            pause_node(engine, name).await
        } else {
            engine.unpause_container(name).await
        };
        changed.with_context(|| on_host(&format!("{verb} {name}"), *host))
    });
    step.finish(futures::future::try_join_all(changes).await)?;
    Ok(to_change
        .into_iter()
        .map(|(_, name)| name.to_string())
        .collect())
}

/// The nodes in state `from` (`running` or `paused`), each with its engine's
/// `--docker-hosts` entry.
fn to_change<'a>(rows: &'a [ContainerRow], from: &str) -> Vec<(Option<&'a str>, &'a str)> {
    rows.iter()
        .filter(|r| r.state == from)
        .map(|r| (r.engine.as_deref(), r.name.as_str()))
        .collect()
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
    fn only_nodes_in_the_other_state_change_each_on_its_engine() {
        let row = |name: &str, state: &str, engine: Option<&str>| ContainerRow {
            cluster: "cluster-1".into(),
            name: name.into(),
            role: "worker".into(),
            state: state.into(),
            ipv4: None,
            ipv6: None,
            image: "dind-node:bare".into(),
            ports: Vec::new(),
            engine: engine.map(str::to_string),
        };
        let rows = [
            row("a", "running", Some("h1")),
            row("b", "paused", Some("h2")),
            row("c", "running", Some("h2")),
            row("d", "exited", None),
        ];
        // (from, expected)
        type Changed = Vec<(Option<&'static str>, &'static str)>;
        let table: [(&str, Changed); 3] = [
            ("running", vec![(Some("h1"), "a"), (Some("h2"), "c")]),
            ("paused", vec![(Some("h2"), "b")]),
            ("restarting", vec![]),
        ];
        for (from, expected) in table {
            assert_eq!(to_change(&rows, from), expected, "{from}");
        }
    }

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
