//! `snapshot` and `restore` (and `down`'s snapshot): keep a cluster's nodes and bring
//! them back.

use super::{print, up::UpArgs, CommandContext, SelectArgs};
use crate::cluster::engines::Engines;
use crate::cluster::snapshot;
use crate::error::usage;

/// `snapshot`: commit every node of a running cluster, for a later `restore`/`up`.
pub async fn take_snapshot(args: &SelectArgs, ctx: &CommandContext) -> anyhow::Result<()> {
    let (settings, engines) = args.cluster.running_on(ctx).await?;
    let key = settings.identity.key();
    let images = snapshot::take(&engines, &key, &ctx.progress).await?;
    print(&images, args.output, || format!("{}\n", images.join("\n")))
}

/// `down`'s first half: keep the nodes' state (on each node's engine) unless SKIP_SNAPSHOT.
pub async fn snapshot_before_down(
    settings: &crate::settings::Settings,
    engines: &Engines,
    ctx: &CommandContext,
) -> anyhow::Result<()> {
    if !settings.skip_snapshot {
        snapshot::take(engines, &settings.identity.key(), &ctx.progress).await?;
    }
    Ok(())
}

/// `restore`: `up` from the snapshot of a cluster that is down, with the settings the
/// snapshot was taken with; fails without one, and refuses settings that differ from them.
pub async fn restore(args: &UpArgs, ctx: &CommandContext) -> anyhow::Result<()> {
    if args.kube_binaries.is_some() {
        return Err(usage(
            "restore brings back the snapshot's nodes as they were: --kube-binaries is for \
             `up`, and `reup --kube-binaries` refreshes a running cluster",
        ));
    }
    let resolved = args.settings.resolve()?;
    let asked = args.settings.settings()?;
    if asked.skip_snapshot {
        return Err(usage(
            "restore cannot --skip-snapshot; use `up --skip-snapshot` for a full up",
        ));
    }
    let key = asked.identity.key();
    // Each node's snapshot is on its own engine; the master's (first) holds the settings.
    let engines = Engines::connect(&asked.docker_hosts, &ctx.engine).await?;
    let Some(stored) = snapshot::settings_of(&engines, &key).await? else {
        anyhow::bail!("cluster {key} has no snapshot to restore; `down` or `snapshot` makes one, `up` starts afresh");
    };
    let mut settings = stored.with_local_from(&asked);
    // The recorded settings are those of the `up` that made the cluster: its
    // SKIP_SNAPSHOT was a wish for that run. A restore never discards what it restores.
    settings.skip_snapshot = false;
    let disagreements = snapshot::disagreements(&resolved, &settings)?;
    if !disagreements.is_empty() {
        return Err(usage(format!(
            "restore brings {key} back as its snapshot has it, and {}; leave them out, or \
             start over with `clean` and `up`",
            disagreements.join(", ")
        )));
    }
    let mut options = args.nodes.up_options(!args.no_dedicated, ctx);
    options.restoring = true;
    options.nodes_only |= !snapshot::has_kubernetes(&engines, &key).await?;
    let report = crate::cluster::up(&ctx.engine, &settings, &options, &ctx.progress).await?;
    super::print(&report, args.output, || report.summary())
}
