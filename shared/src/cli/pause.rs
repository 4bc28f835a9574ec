//! `pause` (`freeze`) and `unpause`: freeze or thaw every node container of a cluster.

use super::{print, CommandContext, SelectArgs};
use crate::cluster::pause;

/// `pause` (`freeze`) and `unpause`.
pub async fn set_paused(
    args: &SelectArgs,
    ctx: &CommandContext,
    freeze: bool,
) -> anyhow::Result<()> {
    let key = args.cluster.cluster_key()?;
    let changed = pause::set_paused(&ctx.engine, &key, freeze, &ctx.progress).await?;
    print(&changed, args.output, String::new)
}
