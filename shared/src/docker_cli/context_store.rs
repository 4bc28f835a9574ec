//! docker's context store: `currentContext` in `config.json`, and a context's docker
//! endpoint and TLS files (docker/cli `cli/context/store`, `cli/context/docker/load.go`).

use std::path::Path;

use anyhow::{anyhow, Context as _, Result};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::endpoint::{DockerEndpoint, EndpointSource, TlsSettings};
use crate::error::usage;

pub(super) fn read_current_context(config_file: &Path) -> Result<Option<String>> {
    #[derive(Deserialize)]
    struct ConfigFile {
        #[serde(rename = "currentContext", default)]
        current_context: Option<String>,
    }
    let text = match std::fs::read_to_string(config_file) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(error).with_context(|| format!("reading {}", config_file.display()))
        }
    };
    let config: ConfigFile = serde_json::from_str(&text)
        .with_context(|| format!("parsing the Docker config file {}", config_file.display()))?;
    Ok(config.current_context.filter(|name| !name.is_empty()))
}

/// The sha256 of a context name, in hex: the directory docker keeps that context under.
pub(super) fn context_dir_name(context: &str) -> String {
    Sha256::digest(context.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

pub(super) fn context_endpoint(
    config_dir: &Path,
    context: &str,
    source: EndpointSource,
) -> Result<DockerEndpoint> {
    #[derive(Deserialize)]
    struct Meta {
        #[serde(rename = "Endpoints")]
        endpoints: Endpoints,
    }
    #[derive(Deserialize)]
    struct Endpoints {
        docker: Option<Endpoint>,
    }
    #[derive(Deserialize)]
    struct Endpoint {
        #[serde(rename = "Host")]
        host: Option<String>,
        #[serde(rename = "SkipTLSVerify", default)]
        skip_tls_verify: bool,
    }

    let dir_name = context_dir_name(context);
    let meta_file = config_dir
        .join("contexts/meta")
        .join(&dir_name)
        .join("meta.json");
    let text = match std::fs::read_to_string(&meta_file) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(usage(format!(
                "Docker context {context:?} (from {source}) does not exist: no {}",
                meta_file.display()
            )))
        }
        Err(error) => {
            return Err(error).with_context(|| format!("reading {}", meta_file.display()))
        }
    };
    let meta: Meta = serde_json::from_str(&text).with_context(|| {
        format!(
            "parsing Docker context {context:?} in {}",
            meta_file.display()
        )
    })?;
    let endpoint = meta.endpoints.docker.ok_or_else(|| {
        anyhow!(
            "Docker context {context:?} has no docker endpoint ({})",
            meta_file.display()
        )
    })?;
    let host = endpoint
        .host
        .filter(|host| !host.is_empty())
        .ok_or_else(|| {
            anyhow!(
                "Docker context {context:?} has no docker host ({})",
                meta_file.display()
            )
        })?;

    let tls_dir = config_dir
        .join("contexts/tls")
        .join(&dir_name)
        .join("docker");
    let present = |file: &str| Some(tls_dir.join(file)).filter(|path| path.exists());
    let (ca, cert, key) = (present("ca.pem"), present("cert.pem"), present("key.pem"));
    let has_tls_material = ca.is_some() || cert.is_some() || key.is_some();
    let tls = (has_tls_material || endpoint.skip_tls_verify).then_some(TlsSettings {
        verify: !endpoint.skip_tls_verify,
        ca,
        cert,
        key,
    });
    Ok(DockerEndpoint { host, source, tls })
}
