//! `remove-node NAME`: drain and delete a worker, then remove its container and volume.

use super::{print, ClusterFlags, CommandContext, Output};
use crate::cluster::remove_node;
use clap::Args;

/// `remove-node NAME`.
#[derive(Debug, Clone, Args)]
pub struct RemoveNodeArgs {
    /// The node to remove, e.g. kube-node-2 or kube-master-3 (within the selected
    /// cluster), or its container name.
    pub name: String,
    #[command(flatten)]
    pub cluster: ClusterFlags,
    /// Output format of the result on stdout.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// `remove-node`.
pub async fn remove_node(args: &RemoveNodeArgs, ctx: &CommandContext) -> anyhow::Result<()> {
    let (settings, nodes, engines) = args.cluster.running_spread(ctx).await?;
    let name = nodes.resolve(&args.name)?;
    let removed = remove_node::remove_node(
        &engines,
        &settings.identity.key(),
        &name,
        ctx.kubeconfig.as_deref(),
        &settings.identity.context_name(),
        &ctx.progress,
    )
    .await?;
    print(&removed, args.output, || {
        format!("Removed {}\n", removed.node)
    })
}
