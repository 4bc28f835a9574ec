//! `join`: one more worker, or with `--control-plane` one more master.

use super::{print, ClusterFlags, CommandContext, NodeOptions, Output};
use crate::cluster::join;
use crate::plan::Role;
use clap::Args;

/// `join`: one more worker. It shares `up`'s node flags, worded for one node.
#[derive(Debug, Clone, Args)]
#[command(
    mut_arg("nodes_only", |arg| arg.help("The cluster has no Kubernetes: only create and boot the node")),
    mut_arg("retain", |arg| arg.help("Keep what was created when `join` fails, for debugging")),
    mut_arg("wait", |arg| arg.help("How long to wait for every node to be Ready")),
    mut_arg("node_timeout", |arg| arg.help("How long the node container may take to boot")),
)]
pub struct JoinArgs {
    #[command(flatten)]
    pub cluster: ClusterFlags,
    #[command(flatten)]
    pub nodes: NodeOptions,
    /// Add a master (to a cluster made with several) instead of a worker.
    #[arg(long)]
    pub control_plane: bool,
    /// Output format of the result on stdout.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// `join`.
pub async fn join(args: &JoinArgs, ctx: &CommandContext) -> anyhow::Result<()> {
    // The user's own settings (environment, config file) name what is local to this
    // machine; the cluster's come from its master's label.
    let (own, _, engines) = args.cluster.running_spread(ctx).await?;
    let options = args.nodes.up_options(true, ctx);
    let role = if args.control_plane {
        Role::Master
    } else {
        Role::Worker
    };
    let joined = join::join(&engines, &own, &options, role, &ctx.progress).await?;
    print(&joined, args.output, || {
        let address = joined
            .ipv4
            .clone()
            .or(joined.ipv6.clone())
            .unwrap_or_default();
        format!("{} joined {} at {address}\n", joined.node, joined.cluster)
    })
}
