//! `pause` (`freeze`) and `unpause`: freeze or thaw every node container of a cluster,
//! on every engine it spreads over.

use super::{print, CommandContext, SelectArgs};
use crate::cluster::pause;

/// `pause` (`freeze`) and `unpause`.
pub async fn set_paused(
    args: &SelectArgs,
    ctx: &CommandContext,
    freeze: bool,
) -> anyhow::Result<()> {
    let (settings, engines) = args.cluster.running_on(ctx).await?;
    let key = settings.identity.key();
    let changed = pause::set_paused(&engines, &key, freeze, &ctx.progress).await?;
    if changed.is_empty() {
        let state = if freeze { "paused" } else { "running" };
        eprintln!("every node of cluster {key} is already {state}: nothing to do");
    }
    print(&changed, args.output, String::new)
}
