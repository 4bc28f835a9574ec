//! `up` (and its `--dry-run`): create a cluster, or print its plan.

use super::{print, CommandContext, NodeOptions, Output, SettingsFlags};
use crate::cluster;
use crate::cluster::planned_extras::{planned_extras, PlannedExtras};
use crate::error::usage;
use crate::plan::ClusterPlan;
use crate::settings::component_args::{component_args, ComponentArg};
use crate::settings::kdc::KubeBinaries;
use crate::settings::Settings;
use clap::{Args, ValueEnum};
use serde::Serialize;
use std::path::PathBuf;

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
    /// Build the node image from the kubeadm, kubelet and kubectl in this directory, as
    /// `build-image --kube-binaries DIR` does [env: DIND_K8S_BIN_DIR]
    #[arg(long, value_name = "DIR")]
    pub kube_binaries: Option<PathBuf>,
}

impl UpArgs {
    /// The typed settings with `--kube-binaries`, which beats `DIND_K8S_BIN_DIR` as
    /// every flag beats the environment.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let mut settings = self.settings.settings()?;
        if let Some(dir) = &self.kube_binaries {
            if let Some(image) = &settings.image {
                return Err(usage(format!(
                    "--kube-binaries and the image {image} (--image or DIND_IMAGE) both choose \
                     the node image: give one of them"
                )));
            }
            settings.kdc.kube_binaries = Some(KubeBinaries::Dir(dir.clone()));
        }
        Ok(settings)
    }
}

/// `up --dry-run`: the plan, with no Docker at all.
pub fn dry_run(args: &UpArgs) -> anyhow::Result<()> {
    let resolved = args.settings.resolve()?;
    let mut settings = args.settings()?;
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
    let host_env = |name: &str| std::env::var(name).ok();
    let shown = DryRun {
        plan: &plan,
        component_args: component_args(&resolved),
        extras: planned_extras(&settings, &plan, args.nodes.nodes_only, &host_env)?,
    };
    // The plan is structured data; text would only be a worse YAML.
    let output = if args.output == Output::Json {
        Output::Json
    } else {
        Output::Yaml
    };
    print(&shown, output, String::new)
}

/// What `--dry-run` prints: the plan, the control plane's extra arguments with where
/// each came from (when there are any), and what the nodes and the cluster get beyond
/// their addresses.
#[derive(Serialize)]
struct DryRun<'a> {
    #[serde(flatten)]
    plan: &'a ClusterPlan,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    component_args: Vec<ComponentArg>,
    #[serde(flatten)]
    extras: PlannedExtras,
}

/// `up`.
pub async fn up(args: &UpArgs, ctx: &CommandContext) -> anyhow::Result<()> {
    let mut settings = args.settings()?;
    cluster::kube_binaries::pin_local_image(&mut settings)?;
    cluster::node_image::choose_for_nodes_only(&mut settings, args.nodes.nodes_only);
    let options = args.nodes.up_options(!args.no_dedicated, ctx);
    let report = cluster::up(&ctx.engine, &settings, &options, &ctx.progress).await?;
    print(&report, args.output, || report.summary())
}
