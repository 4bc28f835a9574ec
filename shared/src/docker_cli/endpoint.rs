//! What the daemon choice produces: the endpoint, where the choice came from, and its
//! TLS material. Apart from the choice itself ([`super::select_endpoint`]) so the parts
//! that build an endpoint (the host syntax, the context store) need not import it.

use std::fmt;
use std::path::PathBuf;

/// The daemon docker talks to when nothing else is chosen.
pub const DEFAULT_LOCAL_HOST: &str = "unix:///var/run/docker.sock";

/// The daemon to talk to, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct DockerEndpoint {
    /// `unix://...`, `tcp://...`, `ssh://...` or `npipe://...`.
    pub host: String,
    pub source: EndpointSource,
    /// `None` for plain connections.
    pub tls: Option<TlsSettings>,
}

/// Where the endpoint choice came from, for error messages and `-D` output.
#[derive(Debug, Clone, PartialEq)]
pub enum EndpointSource {
    ContextFlag {
        context: String,
    },
    HostFlag,
    DockerHostEnv,
    DockerContextEnv {
        context: String,
    },
    ConfigFile {
        context: String,
        path: PathBuf,
    },
    /// Nothing chose a daemon: docker's default host.
    BuiltInDefault,
}

impl fmt::Display for EndpointSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndpointSource::ContextFlag { context } => write!(f, "--context {context}"),
            EndpointSource::HostFlag => f.write_str("-H/--host"),
            EndpointSource::DockerHostEnv => f.write_str("DOCKER_HOST"),
            EndpointSource::DockerContextEnv { context } => {
                write!(f, "DOCKER_CONTEXT={context}")
            }
            EndpointSource::ConfigFile { context, path } => {
                write!(f, "currentContext {context:?} in {}", path.display())
            }
            EndpointSource::BuiltInDefault => f.write_str("docker's default host"),
        }
    }
}

/// TLS material for a daemon connection. Paths are those docker would use; a missing
/// client certificate or key means none is presented, and no CA means the system's roots
/// (docker/cli `cli/context/docker/load.go`, `tlsConfig`: `RootCAs` is set only from a CA).
#[derive(Debug, Clone, PartialEq)]
pub struct TlsSettings {
    /// Whether the daemon's certificate is checked (`--tlsverify`, not `SkipTLSVerify`).
    pub verify: bool,
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}
