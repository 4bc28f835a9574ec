//! What every command runs with: the Docker engine the plugin's global options choose,
//! the kubeconfig, and progress on stderr.

use crate::engine::Engine;
use crate::progress::Progress;
use std::path::PathBuf;

/// What the commands need from the plugin that runs them.
#[derive(Debug, Clone)]
pub struct CommandContext {
    pub engine: Engine,
    /// `--kubeconfig`, when given.
    pub kubeconfig: Option<PathBuf>,
    pub progress: Progress,
    /// Where the chosen daemon runs.
    pub daemon: crate::cluster::api_address::DaemonLocation,
}

impl CommandContext {
    /// Connects to the daemon the docker CLI would choose for these global options.
    pub async fn connect(
        docker: &crate::docker_cli::DockerGlobalOptions,
        kubeconfig: Option<PathBuf>,
    ) -> anyhow::Result<CommandContext> {
        let endpoint =
            crate::docker_cli::select_endpoint(docker, &|name| std::env::var(name).ok())?;
        let engine = Engine::new(crate::docker_cli::connect(&endpoint).await?);
        Ok(CommandContext {
            daemon: crate::cluster::api_address::DaemonLocation::of(&endpoint),
            engine,
            kubeconfig,
            progress: Progress::stderr(),
        })
    }
}
