//! `load IMAGE...` (`copy-image`): put host images into the nodes' containerd.

use super::{print, CommandContext, Output, SettingsFlags};
use crate::cluster::load;
use clap::Args;

/// `load IMAGE...` (`copy-image`).
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Host images to put into the nodes' containerd (namespace k8s.io).
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
    /// Only these nodes (comma-separated names); default: every node. (So `load` takes
    /// the cluster by --cluster-id/--label only, not the whole settings: `--nodes` is
    /// NUM_NODES elsewhere.)
    #[arg(long, value_delimiter = ',', value_name = "NODE,...")]
    pub nodes: Vec<String>,
    /// The cluster's ID [env: CLUSTER_ID].
    #[arg(long, value_name = "VALUE")]
    pub cluster_id: Option<String>,
    /// The cluster's label [env: DIND_LABEL].
    #[arg(long, value_name = "VALUE")]
    pub label: Option<String>,
    /// Push each image to the local registry (`registry up`) once and let the nodes
    /// pull it, instead of importing it into every node.
    #[arg(long)]
    pub via_registry: bool,
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

impl LoadArgs {
    /// The cluster's key, with the environment and config file as for every command.
    fn cluster_key(&self) -> anyhow::Result<String> {
        let mut flags = SettingsFlags::default();
        if let Some(id) = &self.cluster_id {
            flags.0.values.insert("CLUSTER_ID", id.clone());
        }
        if let Some(label) = &self.label {
            flags.0.values.insert("DIND_LABEL", label.clone());
        }
        Ok(flags.settings()?.identity.key())
    }
}

/// `load`.
pub async fn load(args: &LoadArgs, ctx: &CommandContext) -> anyhow::Result<()> {
    let key = args.cluster_key()?;
    let report = if args.via_registry {
        crate::cluster::load_via_registry::load_via_registry(
            &ctx.engine,
            &key,
            &args.images,
            &args.nodes,
            &ctx.progress,
        )
        .await?
    } else {
        load::load(&ctx.engine, &key, &args.images, &args.nodes, &ctx.progress).await?
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
