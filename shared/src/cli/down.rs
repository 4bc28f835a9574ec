//! `down`: remove the node containers, keeping a snapshot unless SKIP_SNAPSHOT.

use super::{print, snapshot::snapshot_before_down, CommandContext, SelectArgs, SettingsFlags};
use crate::cluster::inventory;
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
    snapshot_before_down(&settings, ctx).await?;
    let mut removed = inventory::down(&ctx.engine, &key, &ctx.progress).await?;
    // The snapshots the nodes ran from, replaced by the one just taken.
    removed.images = crate::cluster::snapshot::prune(&ctx.engine, &key).await?;
    if removed.is_empty() {
        eprintln!("cluster {key} has no node containers: nothing to remove");
    }
    print(&removed, args.select.output, String::new)
}
