//! `docker dind`: the container-facing face of dind, as a Docker CLI plugin.
//!
//! Docker runs it as `docker-dind [GLOBAL OPTIONS] dind [ARGS]`; it may also be run
//! directly as `docker-dind [ARGS]`.

use clap::{CommandFactory, Parser};
use dind::cli::plugins::DOCKER_DIND;
use dind::cli::{completion, exit_with};
use dind::docker_cli::{metadata_json, split_plugin_args};

#[derive(Debug, Parser)]
#[command(
    name = "docker dind",
    version,
    about = "Multi-node Kubernetes clusters in Docker containers: nodes, networks, DNS64/NAT64, images",
    after_help = "The Kubernetes-facing commands (contexts, e2e, dumps) are in `kubectl dind`."
)]
struct Cli {}

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
        if let Err(e) = completion::run(&DOCKER_DIND.command(Cli::command()), words) {
            exit_with(&e);
        }
        return;
    }
    let (globals, rest) = match split_plugin_args(&args) {
        Ok(split) => split,
        Err(e) => exit_with(&e),
    };
    let args = std::iter::once("docker dind".to_string()).chain(rest);
    let (_, command) = DOCKER_DIND.parse(Cli::command(), args);
    if let Err(e) = DOCKER_DIND.run(&command, &globals, None) {
        exit_with(&e);
    }
}
