//! `load IMAGE...` (`copy-image`): put host images into the nodes' containerd.

use super::{print, ClusterFlags, CommandContext, Output};
use crate::cluster::load;
use clap::Args;

/// `load IMAGE...` (`copy-image`).
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Host images to put into the nodes' containerd (namespace k8s.io).
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
    /// Only this node (repeatable, or comma-separated names); default: every node.
    /// (`--nodes`, its old name, is a worker count elsewhere.)
    #[arg(
        long = "node",
        alias = "nodes",
        value_delimiter = ',',
        value_name = "NODE"
    )]
    pub nodes: Vec<String>,
    #[command(flatten)]
    pub cluster: ClusterFlags,
    /// Push each image to the local registry (`registry up`) once and let the nodes
    /// pull it, instead of importing it into every node.
    #[arg(long)]
    pub via_registry: bool,
    /// Output format of the result on stdout.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// `load`.
pub async fn load(args: &LoadArgs, ctx: &CommandContext) -> anyhow::Result<()> {
    let (settings, nodes, engines) = args.cluster.running_spread(ctx).await?;
    let key = settings.identity.key();
    let only = args
        .nodes
        .iter()
        .map(|typed| nodes.resolve(typed))
        .collect::<anyhow::Result<Vec<String>>>()?;
    if args.via_registry && engines.hosts.len() > 1 {
        // The local registry runs on one engine; the nodes on the others do not reach it
        // as `localhost`.
        return Err(crate::error::usage(
            "load --via-registry does not work across several --docker-hosts engines yet; \
             load without it sends the image to every engine's nodes",
        ));
    }
    let report = if args.via_registry {
        crate::cluster::load_via_registry::load_via_registry(
            &ctx.engine,
            &key,
            &args.images,
            &only,
            &ctx.progress,
        )
        .await?
    } else {
        load::load(
            &ctx.engine,
            &engines,
            &key,
            &args.images,
            &only,
            &ctx.progress,
        )
        .await?
    };
    print(&report, args.output, || {
        report
            .iter()
            .map(|n| {
                format!(
                    "{}: loaded [{}], already there [{}]\n",
                    n.node,
                    n.loaded.join(", "),
                    n.skipped.join(", ")
                )
            })
            .collect()
    })
}
