//! `kubectl dind`: the Kubernetes-facing face of dind, as a kubectl plugin.
//!
//! kubectl parses no global flags for plugins, so `--kubeconfig`, `--context` and
//! `-n/--namespace` are this program's own, and `KUBECONFIG` is honoured.

use clap::{Args, CommandFactory, Parser, Subcommand};
use dind::cli::completion::{self, Shell};
use dind::cli::contexts::ContextsArgs;
use dind::cli::dump::{DumpArgs, SplitArgs};
use dind::cli::e2e::{E2eArgs, E2eSerialArgs};
use dind::cli::state::{JoinArgs, RemoveNodeArgs};
use dind::cli::{self, CommandContext, SelectArgs, SettingsArgs, UpArgs};
use dind::docker_cli::DockerGlobalOptions;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "kubectl dind",
    bin_name = "kubectl dind",
    version,
    about = "Multi-node Kubernetes clusters in Docker containers, built with kubeadm",
    after_help = "Contexts are named dind (default cluster), dind-cluster-N (--cluster-id N) or dind-LABEL (--label LABEL).\n\
                  The container-facing commands (nodes, images, DNS64/NAT64) are in `docker dind`."
)]
struct Cli {
    #[command(flatten)]
    kube: KubeOptions,
    #[command(subcommand)]
    command: Command,
}

/// kubectl's own global options, which kubectl does not parse for plugins.
#[derive(Debug, Clone, Args)]
struct KubeOptions {
    /// The kubeconfig file to write and clean contexts in (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// Select the cluster by its context name (dind, dind-cluster-N, dind-LABEL) instead of --cluster-id/--label.
    #[arg(long, global = true, value_name = "NAME")]
    context: Option<String>,
    /// Namespace for commands that work inside the cluster.
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE")]
    namespace: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a cluster and write its kubectl context.
    Up(UpArgs),
    /// Remove the node containers; keep volumes, network and DNS64/NAT64 containers.
    Down(SelectArgs),
    /// Remove everything of the cluster and its kubeconfig entries.
    Clean(SelectArgs),
    /// Show the effective settings and where each value came from.
    Settings(SettingsArgs),
    /// Print the host port of the API server.
    ApiserverPort(SelectArgs),
    /// Copy new kubeadm, kubelet and kubectl into a running cluster's nodes, restart kubelet
    /// and the control plane, and wait for Ready (the build-from-source loop).
    Reup(cli::ReupArgs),
    /// Print a shell completion script for running kubectl-dind directly (kubectl
    /// itself completes `kubectl dind` through kubectl_complete-dind).
    Completion {
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print the cluster's state (nodes, services, pod logs, resources) as @@@ <file> @@@ sections.
    Dump(DumpArgs),
    /// The dump, xz-compressed and base64-encoded between %%% start-base64 %%% lines, for CI logs.
    Dump64(DumpArgs),
    /// Write each section of a dump read from stdin to a file under --dir.
    SplitDump(SplitArgs),
    /// Find a dump64 block in stdin (e.g. a whole CI log), decode it and split it.
    SplitDump64(SplitArgs),
    /// Run the parallel [Conformance] e2e tests (not [Serial]) in the cluster.
    E2e(E2eArgs),
    /// Run the [Serial] [Conformance] e2e tests, one at a time.
    E2eSerial(E2eSerialArgs),
    /// List the dind contexts in the kubeconfig, with endpoint and master state.
    Contexts(ContextsArgs),
    /// Keep the state of every node of a running cluster (`down` does this too).
    Snapshot(SelectArgs),
    /// Bring a cluster that is down back from its snapshot, and wait until it is Ready.
    Restore(UpArgs),
    /// Freeze every node container of the cluster.
    Pause(SelectArgs),
    /// Thaw every node container of the cluster.
    Unpause(SelectArgs),
    /// Add a worker with a fresh kubeadm join token.
    Join(JoinArgs),
    /// Drain and delete a worker from Kubernetes, then remove its container and volume.
    RemoveNode(RemoveNodeArgs),
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // kubectl's plugin completion: `kubectl_complete-dind WORDS` runs `kubectl-dind __complete WORDS`.
    if args.first().map(String::as_str) == Some("__complete") {
        if let Err(e) = completion::run(&Cli::command(), &args[1..]) {
            eprintln!("Error: {e:#}");
            std::process::exit(1);
        }
        return;
    }
    let mut cli = Cli::parse();
    if let Err(e) = select_by_context(&mut cli).and_then(|()| run(cli)) {
        eprintln!("Error: {e:#}");
        std::process::exit(dind::exit_code(&e));
    }
}

/// `--context dind-cluster-10` means `--cluster-id 10`, unless the cluster is named otherwise.
fn select_by_context(cli: &mut Cli) -> anyhow::Result<()> {
    let Some(context) = &cli.kube.context else {
        return Ok(());
    };
    let identity = dind::ClusterIdentity::from_context_name(context).ok_or_else(|| {
        dind::usage(format!(
            "--context {context:?} is not a dind context (dind, dind-cluster-N or dind-LABEL)"
        ))
    })?;
    let layer = match &mut cli.command {
        Command::Up(a) | Command::Restore(a) => &mut a.settings.0,
        Command::Down(a)
        | Command::Clean(a)
        | Command::ApiserverPort(a)
        | Command::Snapshot(a)
        | Command::Pause(a)
        | Command::Unpause(a) => &mut a.settings.0,
        Command::Join(a) => &mut a.settings.0,
        Command::RemoveNode(a) => &mut a.settings.0,
        Command::Settings(a) => &mut a.settings.0,
        Command::Reup(a) => &mut a.settings.0,
        Command::Dump(a) | Command::Dump64(a) => &mut a.settings.0,
        Command::E2e(a) => &mut a.common.settings.0,
        Command::E2eSerial(a) => &mut a.common.settings.0,
        Command::Completion { .. }
        | Command::SplitDump(_)
        | Command::SplitDump64(_)
        | Command::Contexts(_) => return Ok(()),
    };
    if !layer.values.contains_key("CLUSTER_ID") && !layer.values.contains_key("DIND_LABEL") {
        layer.values.insert("CLUSTER_ID", identity.id().to_string());
        if let Some(label) = identity.label() {
            layer.values.insert("DIND_LABEL", label.to_string());
        }
    }
    Ok(())
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Up(args) if args.dry_run => return cli::dry_run(args),
        Command::Settings(args) => return cli::show_settings(args),
        Command::Completion { shell } => {
            print!("{}", completion::script(*shell, "kubectl-dind", ""));
            return Ok(());
        }
        Command::SplitDump(args) => return cli::dump::split(args, false),
        Command::SplitDump64(args) => return cli::dump::split(args, true),
        _ => {}
    }
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let ctx =
            CommandContext::connect(&DockerGlobalOptions::default(), cli.kube.kubeconfig.clone())
                .await?;
        match &cli.command {
            Command::Up(args) => cli::up(args, &ctx).await,
            Command::Down(args) => cli::down(args, &ctx).await,
            Command::Clean(args) => cli::clean(args, &ctx).await,
            Command::ApiserverPort(args) => cli::apiserver_port(args, &ctx).await,
            Command::Reup(args) => cli::reup::reup(args, &ctx).await,
            Command::Dump(args) => cli::dump::dump(args, &ctx, false).await,
            Command::Dump64(args) => cli::dump::dump(args, &ctx, true).await,
            Command::E2e(args) => {
                let suite = dind::e2e::spec::Suite::Parallel;
                let (focus, skip) = (args.focus.as_deref(), args.skip.as_deref());
                cli::e2e::run(suite, focus, skip, &args.common, &ctx).await
            }
            Command::E2eSerial(args) => {
                let suite = dind::e2e::spec::Suite::Serial;
                cli::e2e::run(suite, args.focus.as_deref(), None, &args.common, &ctx).await
            }
            Command::Contexts(args) => cli::contexts::contexts(args, &ctx).await,
            Command::Settings(_)
            | Command::Completion { .. }
            | Command::SplitDump(_)
            | Command::SplitDump64(_) => Ok(()),
            Command::Snapshot(args) => cli::state::take_snapshot(args, &ctx).await,
            Command::Restore(args) => cli::state::restore(args, &ctx).await,
            Command::Pause(args) => cli::state::set_paused(args, &ctx, true).await,
            Command::Unpause(args) => cli::state::set_paused(args, &ctx, false).await,
            Command::Join(args) => cli::state::join(args, &ctx).await,
            Command::RemoveNode(args) => cli::state::remove_node(args, &ctx).await,
        }
    })
}
