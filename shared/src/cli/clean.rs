//! `clean`: remove everything of a cluster, with its kubeconfig entries.

use super::{print, CommandContext, SelectArgs};
use crate::cluster;

/// `clean`: also removes the cluster's kubeconfig entries.
pub async fn clean(args: &SelectArgs, ctx: &CommandContext) -> anyhow::Result<()> {
    let settings = args.cluster.settings()?;
    let removed = cluster::clean(
        &ctx.engine,
        &settings,
        ctx.kubeconfig.as_deref(),
        &ctx.progress,
    )
    .await?;
    if removed.is_empty() {
        eprintln!(
            "cluster {} has no containers, volumes, networks or snapshots: nothing to remove",
            settings.identity.key()
        );
    }
    print(&removed, args.output, String::new)
}
