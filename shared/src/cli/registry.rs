//! `registry up|down|clean|status`: dind's local registry, shared by every cluster on the
//! daemon (a container, so it belongs to `docker dind`).

use super::{print, render_table, CommandContext, Output};
use crate::cluster::local_registry::{
    parse_credentials, RegistryOptions, Upstream, DEFAULT_NAME, DEFAULT_PORT,
};
use crate::cluster::registry_ops::{self, RegistryStatus};
use crate::error::usage;
use clap::{Args, Subcommand};
use std::net::IpAddr;
use std::path::PathBuf;

/// `registry ...`.
#[derive(Debug, Clone, Args)]
pub struct RegistryArgs {
    #[command(subcommand)]
    pub action: RegistryAction,
}

#[derive(Debug, Clone, Subcommand)]
pub enum RegistryAction {
    /// Start the registry and connect it to every cluster; nodes pull localhost:PORT/... from it.
    Up(RegistryUpArgs),
    /// Remove the registry container; its images stay in its volume.
    Down(RegistryNameArgs),
    /// Remove the registry container and its volume.
    Clean(RegistryNameArgs),
    /// List the registries, their ports and the clusters they serve.
    Status {
        /// Output format of the result on stdout.
        #[arg(short = 'o', long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
}

#[derive(Debug, Clone, Args)]
pub struct RegistryUpArgs {
    /// The container's name.
    #[arg(long, default_value = DEFAULT_NAME)]
    pub name: String,
    /// The host port it is published on.
    #[arg(long, default_value_t = DEFAULT_PORT)]
    pub port: u16,
    /// The host address it is published on.
    #[arg(long, default_value = "127.0.0.1")]
    pub address: IpAddr,
    /// Run a pull-through mirror of this upstream (https:// or http://) instead.
    #[arg(long, value_name = "URL")]
    pub proxy: Option<String>,
    /// A file with `username=` and `password=` lines for the upstream.
    #[arg(long, value_name = "FILE", requires = "proxy")]
    pub proxy_credentials: Option<PathBuf>,
    /// Output format of the result on stdout.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

#[derive(Debug, Clone, Args)]
pub struct RegistryNameArgs {
    /// The registry container's name.
    #[arg(long, default_value = DEFAULT_NAME)]
    pub name: String,
}

impl RegistryUpArgs {
    fn options(&self) -> anyhow::Result<RegistryOptions> {
        let proxy = match &self.proxy {
            None => None,
            Some(url) => {
                let (username, password) = match &self.proxy_credentials {
                    None => (None, None),
                    Some(path) => {
                        let source = path.display().to_string();
                        let text = std::fs::read_to_string(path).map_err(|e| {
                            usage(format!("cannot read --proxy-credentials {source}: {e}"))
                        })?;
                        let (u, p) = parse_credentials(&source, &text)?;
                        (Some(u), Some(p))
                    }
                };
                Some(Upstream {
                    url: url.clone(),
                    username,
                    password,
                })
            }
        };
        let options = RegistryOptions {
            name: self.name.clone(),
            address: self.address,
            port: self.port,
            proxy,
        };
        options.check()?;
        Ok(options)
    }
}

/// `registry`.
pub async fn registry(args: &RegistryArgs, ctx: &CommandContext) -> anyhow::Result<()> {
    match &args.action {
        RegistryAction::Up(up) => {
            let options = up.options()?;
            let status = registry_ops::up(
                &ctx.engine,
                &options,
                ctx.kubeconfig.as_deref(),
                &ctx.progress,
            )
            .await?;
            print(&status, up.output, || table(std::slice::from_ref(&status)))
        }
        RegistryAction::Down(a) => {
            removed(registry_ops::down(&ctx.engine, &a.name, false, &ctx.progress).await?)
        }
        RegistryAction::Clean(a) => {
            removed(registry_ops::down(&ctx.engine, &a.name, true, &ctx.progress).await?)
        }
        RegistryAction::Status { output } => {
            let list = registry_ops::status(&ctx.engine).await?;
            print(&list, *output, || table(&list))
        }
    }
}

fn removed(names: Vec<String>) -> anyhow::Result<()> {
    print(&names, Output::Text, || {
        names.iter().map(|n| format!("removed {n}\n")).collect()
    })
}

fn table(list: &[RegistryStatus]) -> String {
    let mut rows = vec![vec![
        "NAME".to_string(),
        "STATE".into(),
        "PORT".into(),
        "PROXY".into(),
        "CLUSTERS".into(),
    ]];
    for r in list {
        rows.push(vec![
            r.name.clone(),
            r.state.clone(),
            r.port.map(|p| p.to_string()).unwrap_or_default(),
            r.proxy.clone().unwrap_or_default(),
            r.clusters.join(","),
        ]);
    }
    render_table(&rows)
}
