//! `reup`: refresh the Kubernetes binaries of a running cluster (see [`crate::cluster::reup`]).

use super::{parse_duration, print, CommandContext, Output, SettingsFlags};
use crate::cluster::kube_binaries::resolve_dir;
use crate::cluster::reup::{self, ReupOptions};
use crate::error::usage;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

/// `reup`'s arguments.
#[derive(Debug, Clone, Args)]
pub struct ReupArgs {
    #[command(flatten)]
    pub settings: SettingsFlags,
    /// Take kubeadm, kubelet and kubectl from this directory [default: DIND_K8S_BIN_DIR,
    /// or the KUBE_ROOT source tree's _output/…/bin with BUILD_KUBEADM/BUILD_HYPERKUBE].
    #[arg(long, value_name = "DIR")]
    pub kube_binaries: Option<PathBuf>,
    /// Only copy the binaries in; restart nothing (for a cluster made with --nodes-only).
    #[arg(long)]
    pub nodes_only: bool,
    /// How long to wait for every node to be Ready again.
    #[arg(long, value_parser = parse_duration, default_value = "5m")]
    pub wait: Duration,
    /// Output format of the result on stdout.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// `reup`.
pub async fn reup(args: &ReupArgs, ctx: &CommandContext) -> anyhow::Result<()> {
    let settings = args.settings.settings()?;
    let dir = match (&args.kube_binaries, &settings.kdc.kube_binaries) {
        (Some(dir), _) => dir.clone(),
        (None, Some(binaries)) => resolve_dir(binaries)?,
        (None, None) => {
            return Err(usage(
                "reup needs the new binaries: --kube-binaries DIR (or DIND_K8S_BIN_DIR=DIR)",
            ))
        }
    };
    let options = ReupOptions {
        nodes_only: args.nodes_only,
        wait: args.wait,
        kubeconfig: ctx.kubeconfig.clone(),
    };
    let report = reup::reup(&ctx.engine, &settings, &dir, &options, &ctx.progress).await?;
    print(&report, args.output, || report.summary())
}
