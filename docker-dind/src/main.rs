//! `docker dind`: the container-facing face of dind, as a Docker CLI plugin.
//!
//! Docker runs it as `docker-dind [GLOBAL OPTIONS] dind [ARGS]`; it may also be run
//! directly as `docker-dind [ARGS]`.

use clap::{CommandFactory, Parser, Subcommand};
use dind::cli::completion::{self, Shell};
use dind::cli::state::{JoinArgs, LoadArgs, RemoveNodeArgs};
use dind::cli::{self, BuildImageArgs, CommandContext, SelectArgs, SettingsArgs, UpArgs};
use dind::docker_cli::{metadata_json, split_plugin_args, DockerGlobalOptions};

#[derive(Debug, Parser)]
#[command(
    name = "docker dind",
    version,
    about = "Multi-node Kubernetes clusters in Docker containers: nodes, networks, DNS64/NAT64, images",
    after_help = "The Kubernetes-facing commands (contexts, e2e, dumps) are in `kubectl dind`."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a cluster: network, node containers, DNS64/NAT64 in IPv6 mode, then
    /// Kubernetes unless --nodes-only.
    Up(UpArgs),
    /// Remove the node containers; keep volumes, network and DNS64/NAT64 containers.
    Down(SelectArgs),
    /// Remove everything of the cluster, including its kubeconfig entries.
    Clean(SelectArgs),
    /// List node containers.
    Nodes(SelectArgs),
    /// List the DNS64/NAT64 support containers.
    Support(SelectArgs),
    /// Build the node image.
    BuildImage(BuildImageArgs),
    /// Show the effective settings and where each value came from.
    Settings(SettingsArgs),
    /// Print the host port of the API server.
    ApiserverPort(SelectArgs),
    /// Copy new kubeadm, kubelet and kubectl into a running cluster's nodes (and, unless
    /// --nodes-only, restart kubelet and the control plane and wait for Ready).
    Reup(cli::ReupArgs),
    /// Print a shell completion script for running docker-dind directly (the docker CLI
    /// itself completes `docker dind` through its __complete protocol).
    Completion {
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Keep the state of every node of a running cluster (`down` does this too).
    Snapshot(SelectArgs),
    /// Bring a cluster that is down back from its snapshot.
    Restore(UpArgs),
    /// Freeze every node container of the cluster.
    Pause(SelectArgs),
    /// Thaw every node container of the cluster.
    Unpause(SelectArgs),
    /// Add a worker at the next node number and plan address.
    Join(JoinArgs),
    /// Drain and delete a worker from Kubernetes, then remove its container and volume.
    RemoveNode(RemoveNodeArgs),
    /// Put host images into every node's containerd (namespace k8s.io).
    #[command(alias = "copy-image")]
    Load(LoadArgs),
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("docker-cli-plugin-metadata") {
        println!("{}", metadata_json(env!("CARGO_PKG_VERSION")));
        return;
    }
    // The docker CLI's completion: `docker-dind __complete dind WORDS`.
    if args.first().map(String::as_str) == Some("__complete") {
        let words = match args.get(1).map(String::as_str) {
            Some("dind") => &args[2..],
            _ => &args[1..],
        };
        if let Err(e) = completion::run(&Cli::command(), words) {
            exit_with(&e);
        }
        return;
    }
    let (globals, rest) = match split_plugin_args(&args) {
        Ok(split) => split,
        Err(e) => exit_with(&e),
    };
    let cli = Cli::parse_from(std::iter::once("docker dind".to_string()).chain(rest));
    if let Err(e) = run(cli, globals) {
        exit_with(&e);
    }
}

fn exit_with(error: &anyhow::Error) -> ! {
    eprintln!("Error: {error:#}");
    std::process::exit(dind::exit_code(error))
}

fn run(cli: Cli, globals: DockerGlobalOptions) -> anyhow::Result<()> {
    // Commands that must work without a daemon.
    match &cli.command {
        Command::Up(args) if args.dry_run => return cli::dry_run(args),
        Command::Settings(args) => return cli::show_settings(args),
        Command::Completion { shell } => {
            print!("{}", completion::script(*shell, "docker-dind", "dind "));
            return Ok(());
        }
        _ => {}
    }
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let ctx = CommandContext::connect(&globals, None).await?;
        match &cli.command {
            Command::Up(args) => cli::up(args, &ctx).await,
            Command::Down(args) => cli::down(args, &ctx).await,
            Command::Clean(args) => cli::clean(args, &ctx).await,
            Command::Nodes(args) => cli::list(args, &ctx, false).await,
            Command::Support(args) => cli::list(args, &ctx, true).await,
            Command::BuildImage(args) => cli::build_image(args, &ctx).await,
            Command::ApiserverPort(args) => cli::apiserver_port(args, &ctx).await,
            Command::Reup(args) => cli::reup::reup(args, &ctx).await,
            Command::Settings(_) | Command::Completion { .. } => Ok(()),
            Command::Snapshot(args) => cli::state::take_snapshot(args, &ctx).await,
            Command::Restore(args) => cli::state::restore(args, &ctx).await,
            Command::Pause(args) => cli::state::set_paused(args, &ctx, true).await,
            Command::Unpause(args) => cli::state::set_paused(args, &ctx, false).await,
            Command::Join(args) => cli::state::join(args, &ctx).await,
            Command::RemoveNode(args) => cli::state::remove_node(args, &ctx).await,
            Command::Load(args) => cli::state::load(args, &ctx).await,
        }
    })
}
