//! `kubectl dind`: the Kubernetes-facing face of dind, as a kubectl plugin.
//!
//! kubectl parses no global flags for plugins, so `--kubeconfig`, `--context` and
//! `-n/--namespace` (refused with its reason) are this program's own, and `KUBECONFIG`
//! is honoured.

use clap::{CommandFactory, FromArgMatches, Parser};
use dind::cli::plugins::{KubeOptions, KUBECTL_DIND};
use dind::cli::{completion, exit_with};
use dind::docker_cli::DockerGlobalOptions;

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
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // kubectl's plugin completion: `kubectl_complete-dind WORDS` runs `kubectl-dind __complete WORDS`.
    if args.first().map(String::as_str) == Some("__complete") {
        if let Err(e) = completion::run(&KUBECTL_DIND.command(Cli::command()), &args[1..]) {
            eprintln!("Error: {e:#}");
            std::process::exit(1);
        }
        return;
    }
    let (matches, mut command) = KUBECTL_DIND.parse(Cli::command(), std::env::args_os());
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let selected = cli
        .kube
        .refuse_namespace()
        .and_then(|()| match &cli.kube.context {
            Some(context) => command.select_by_context(context),
            None => Ok(()),
        });
    let ran = selected.and_then(|()| {
        KUBECTL_DIND.run(
            &command,
            &DockerGlobalOptions::default(),
            cli.kube.kubeconfig.clone(),
        )
    });
    if let Err(e) = ran {
        exit_with(&e);
    }
}
