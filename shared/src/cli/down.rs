//! `down`: remove the node containers, keeping a snapshot unless SKIP_SNAPSHOT.

use super::{print, snapshot::snapshot_before_down, CommandContext, SelectArgs};
use crate::cluster::inventory;

/// `down`.
pub async fn down(args: &SelectArgs, ctx: &CommandContext) -> anyhow::Result<()> {
    let key = args.one_cluster("down")?;
    snapshot_before_down(args, ctx).await?;
    let mut removed = inventory::down(&ctx.engine, &key, &ctx.progress).await?;
    // The snapshots the nodes ran from, replaced by the one just taken.
    removed.images = crate::cluster::snapshot::prune(&ctx.engine, &key).await?;
    print(&removed, args.output, String::new)
}
