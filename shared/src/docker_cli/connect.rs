//! Opening a bollard client for a chosen [`DockerEndpoint`].

use std::path::Path;

use anyhow::{bail, Context as _, Result};
use bollard::{Docker, API_DEFAULT_VERSION};

use super::endpoint::DockerEndpoint;

/// bollard's default per-request timeout; long operations stream, so this bounds only the
/// wait for a response to start.
const REQUEST_TIMEOUT_SECS: u64 = 120;

/// Opens a client for `endpoint` and negotiates the API version, so older daemons (a 20.10
/// daemon speaks API 1.41) work with bollard's newer default.
pub async fn connect(endpoint: &DockerEndpoint) -> Result<Docker> {
    let describe = || {
        format!(
            "the Docker daemon at {} (chosen by {})",
            endpoint.host, endpoint.source
        )
    };
    let client = open_client(endpoint).with_context(|| format!("connecting to {}", describe()))?;
    client
        .negotiate_version()
        .await
        .with_context(|| format!("negotiating the API version with {}", describe()))
}

pub(super) fn open_client(endpoint: &DockerEndpoint) -> Result<Docker> {
    let host = endpoint.host.as_str();
    let scheme = host.split_once("://").map_or("", |(scheme, _)| scheme);
    let client = match (scheme, &endpoint.tls) {
        ("unix", _) => Docker::connect_with_unix(host, REQUEST_TIMEOUT_SECS, API_DEFAULT_VERSION)?,
        ("tcp", None) => {
            Docker::connect_with_http(host, REQUEST_TIMEOUT_SECS, API_DEFAULT_VERSION)?
        }
        ("tcp", Some(tls)) if tls.verify => {
            // No CA means the system's roots, which bollard always trusts: an empty CA
            // file adds nothing to them.
            let ca = tls.ca.as_deref().unwrap_or(Path::new("/dev/null"));
            // bollard reads the client certificate lazily and presents none when the files
            // cannot be read, which is what a missing certificate should mean.
            let no_file = Path::new("");
            Docker::connect_with_ssl(
                host,
                tls.key.as_deref().unwrap_or(no_file),
                tls.cert.as_deref().unwrap_or(no_file),
                ca,
                REQUEST_TIMEOUT_SECS,
                API_DEFAULT_VERSION,
            )?
        }
        ("tcp", Some(_)) => bail!(
            "TLS without verifying the daemon's certificate (--tls or --tlsverify=false, or a \
             context with SkipTLSVerify) is not supported: bollard always verifies; use \
             --tlsverify with the daemon's CA certificate"
        ),
        ("ssh", _) => super::ssh::open(host, REQUEST_TIMEOUT_SECS)?,
        ("npipe", _) => open_named_pipe(host)?,
        _ => bail!("unsupported Docker host {host:?}"),
    };
    Ok(client)
}

#[cfg(windows)]
fn open_named_pipe(host: &str) -> Result<Docker> {
    Ok(Docker::connect_with_named_pipe(
        host,
        REQUEST_TIMEOUT_SECS,
        API_DEFAULT_VERSION,
    )?)
}

#[cfg(not(windows))]
fn open_named_pipe(host: &str) -> Result<Docker> {
    bail!("{host}: named pipes exist only on Windows")
}
