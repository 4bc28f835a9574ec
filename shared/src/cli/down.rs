//! `down`: remove the node containers on every engine the cluster spreads over, keeping a
//! snapshot unless SKIP_SNAPSHOT.

use super::{print, snapshot::snapshot_before_down, CommandContext, SelectArgs, SettingsFlags};
use crate::cluster::engines::on_host;
use crate::cluster::inventory::{self, Removed};
use anyhow::Context;
use clap::Args;

/// `down`: which cluster, and whether to keep its nodes' state.
#[derive(Debug, Clone, Args)]
pub struct DownArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// Remove the nodes without keeping a snapshot of them [env: SKIP_SNAPSHOT]
    #[arg(long)]
    pub skip_snapshot: bool,
}

/// `down`.
pub async fn down(args: &DownArgs, ctx: &CommandContext) -> anyhow::Result<()> {
    let mut flags = SettingsFlags(args.select.cluster.0.clone());
    if args.skip_snapshot {
        flags.0.values.insert("SKIP_SNAPSHOT", "true".into());
    }
    let settings = flags.settings()?;
    let key = settings.identity.key();
    let engines = args.select.cluster.engines(ctx).await?;
    snapshot_before_down(&settings, &engines, ctx).await?;
    let mut removed = Removed::default();
    for (host, engine) in engines.all() {
        let mut on_engine = inventory::down(engine, &key, &ctx.progress)
            .await
            .with_context(|| on_host("removing the nodes", host))?;
        // The snapshots the nodes ran from, replaced by the one just taken.
        on_engine.images = crate::cluster::snapshot::prune(engine, &key)
            .await
            .with_context(|| on_host("removing replaced snapshot images", host))?;
        removed.merge(on_engine);
    }
    if removed.is_empty() {
        eprintln!("cluster {key} has no node containers: nothing to remove");
    }
    print(&removed, args.select.output, String::new)
}
