//! `dump`, `dump64`, `split-dump` and `split-dump64`.

use super::{CommandContext, SettingsFlags};
use crate::dump::{self, format};
use anyhow::{anyhow, Context};
use clap::Args;
use std::io::{Read, Write};
use std::path::PathBuf;

/// `dump`, `dump64`: which cluster.
#[derive(Debug, Clone, Args)]
pub struct DumpArgs {
    #[command(flatten)]
    pub settings: SettingsFlags,
}

/// `split-dump`, `split-dump64`: where the files go.
#[derive(Debug, Clone, Args)]
pub struct SplitArgs {
    /// The directory to write the sections to.
    #[arg(long, value_name = "DIR", default_value = "cluster-dump")]
    pub dir: PathBuf,
}

/// `dump` (or with `base64`, `dump64`): the cluster's state on stdout.
pub async fn dump(args: &DumpArgs, ctx: &CommandContext, base64: bool) -> anyhow::Result<()> {
    let identity = args.settings.settings()?.identity;
    let client = crate::contexts::client_for(&identity, ctx.kubeconfig.as_deref()).await;
    let sections = dump::collect(&ctx.engine, &identity, client, &ctx.progress).await?;
    let text = format::render(&sections);
    let out = if base64 {
        format::encode64(text.as_bytes())?
    } else {
        text
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .context("writing the dump to stdout")
}

/// `split-dump` (or with `base64`, `split-dump64`): stdin into files under `--dir`.
pub fn split(args: &SplitArgs, base64: bool) -> anyhow::Result<()> {
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .context("reading the dump from stdin")?;
    let dump = if base64 {
        format::decode64(&input)?
    } else {
        input
    };
    let outcome = format::split(&dump, &args.dir)?;
    eprintln!(
        " • Wrote {} files to {}",
        outcome.written.len(),
        args.dir.display()
    );
    if outcome.refused.is_empty() {
        return Ok(());
    }
    let named: Vec<String> = outcome
        .refused
        .iter()
        .map(|(name, why)| format!("{name:?} ({why})"))
        .collect();
    Err(anyhow!(
        "refused {} section(s) whose file name would leave {}: {}; nothing was written for them",
        named.len(),
        args.dir.display(),
        named.join(", ")
    ))
}
