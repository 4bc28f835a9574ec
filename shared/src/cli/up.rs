//! `up` (and its `--dry-run`): create a cluster, or print its plan.

use super::{print, CommandContext, NodeOptions, Output, SettingsFlags};
use crate::cluster;
use crate::plan::ClusterPlan;
use crate::settings::component_args::{component_args, ComponentArg};
use clap::{Args, ValueEnum};
use serde::Serialize;

/// What `up --dry-run --show` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Show {
    /// Every node's kubeadm documents, as written to /dind/kubeadm.conf.
    Kubeadm,
    /// A node's /etc/containerd/config.toml.
    Containerd,
}

/// `up`: create a cluster.
#[derive(Debug, Clone, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub settings: SettingsFlags,
    /// Print the plan (names, addresses, subnets, context) and create nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: print instead every node's kubeadm configuration (patches
    /// applied) or a node's containerd configuration.
    #[arg(long, value_enum, requires = "dry_run")]
    pub show: Option<Show>,
    /// Output format of --dry-run and of the result.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    #[command(flatten)]
    pub nodes: NodeOptions,
    /// Let workloads run on the master even when there are workers.
    #[arg(long)]
    pub no_dedicated: bool,
}

/// `up --dry-run`: the plan, with no Docker at all.
pub fn dry_run(args: &UpArgs) -> anyhow::Result<()> {
    let resolved = args.settings.resolve()?;
    let mut settings = args.settings.settings()?;
    cluster::kube_binaries::pin_local_image(&mut settings)?;
    cluster::node_image::choose_for_nodes_only(&mut settings, args.nodes.nodes_only);
    let plan = cluster::check_offline(&settings)?;
    for warning in cluster::api_address::exposure_warnings(&plan) {
        eprintln!("{warning}");
    }
    match args.show {
        Some(Show::Kubeadm) => {
            // This machine's cgroup version: a remote daemon's may differ.
            let cgroup_v1 = !std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
            let text =
                cluster::rendered::kubeadm_files(&settings, &plan, cgroup_v1, !args.no_dedicated)?;
            print!("{text}");
            return Ok(());
        }
        Some(Show::Containerd) => {
            print!("{}", cluster::rendered::containerd_file(&settings)?);
            return Ok(());
        }
        None => {}
    }
    let shown = DryRun {
        plan: &plan,
        component_args: component_args(&resolved),
    };
    // The plan is structured data; text would only be a worse YAML.
    let output = if args.output == Output::Json {
        Output::Json
    } else {
        Output::Yaml
    };
    print(&shown, output, String::new)
}

/// What `--dry-run` prints: the plan, and the control plane's extra arguments with where
/// each came from (none: the plan alone, as before).
#[derive(Serialize)]
struct DryRun<'a> {
    #[serde(flatten)]
    plan: &'a ClusterPlan,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    component_args: Vec<ComponentArg>,
}

/// `up`.
pub async fn up(args: &UpArgs, ctx: &CommandContext) -> anyhow::Result<()> {
    let mut settings = args.settings.settings()?;
    cluster::kube_binaries::pin_local_image(&mut settings)?;
    cluster::node_image::choose_for_nodes_only(&mut settings, args.nodes.nodes_only);
    let options = args.nodes.up_options(!args.no_dedicated, ctx);
    let report = cluster::up(&ctx.engine, &settings, &options, &ctx.progress).await?;
    print(&report, args.output, || report.summary())
}
