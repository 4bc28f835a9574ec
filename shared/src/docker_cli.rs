//! TEMPORARY placeholder until the docker_cli branch lands; replaced wholesale.
use std::path::PathBuf;
#[derive(Debug, Default, Clone, PartialEq)]
pub struct DockerGlobalOptions {
    pub config: Option<PathBuf>,
    pub context: Option<String>,
    pub host: Option<String>,
    pub debug: bool,
    pub log_level: Option<String>,
    pub tls: bool,
    pub tlsverify: bool,
    pub tlscacert: Option<PathBuf>,
    pub tlscert: Option<PathBuf>,
    pub tlskey: Option<PathBuf>,
}
#[derive(Debug, Clone)]
pub struct DockerEndpoint {
    pub host: String,
}
pub fn metadata_json(version: &str) -> String {
    format!("{{\"SchemaVersion\":\"0.1.0\",\"Vendor\":\"dind\",\"Version\":\"{version}\",\"ShortDescription\":\"Multi-node Kubernetes clusters in Docker containers\"}}")
}
pub fn split_plugin_args(args: &[String]) -> anyhow::Result<(DockerGlobalOptions, Vec<String>)> {
    let mut rest: Vec<String> = args.to_vec();
    if rest.first().map(String::as_str) == Some("dind") {
        rest.remove(0);
    }
    Ok((DockerGlobalOptions::default(), rest))
}
pub fn select_endpoint(
    _opts: &DockerGlobalOptions,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<DockerEndpoint> {
    Ok(DockerEndpoint {
        host: env("DOCKER_HOST").unwrap_or_else(|| "unix:///var/run/docker.sock".into()),
    })
}
pub async fn connect(_endpoint: &DockerEndpoint) -> anyhow::Result<bollard::Docker> {
    Ok(bollard::Docker::connect_with_local_defaults()?
        .negotiate_version()
        .await?)
}
