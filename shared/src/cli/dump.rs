//! `dump`, `dump64`, `split-dump` and `split-dump64`.

use super::{ClusterFlags, CommandContext};
use crate::cluster::engines::Engines;
use crate::dump::split::{self, Splitter};
use crate::dump::{self, format};
use anyhow::{anyhow, Context};
use clap::Args;
use std::io::{Read, Write};
use std::path::PathBuf;

/// `dump`, `dump64`: which cluster.
#[derive(Debug, Clone, Args)]
pub struct DumpArgs {
    #[command(flatten)]
    pub cluster: ClusterFlags,
}

/// `split-dump`, `split-dump64`: where the files go.
#[derive(Debug, Clone, Args)]
pub struct SplitArgs {
    /// The directory to write the sections to.
    #[arg(long, value_name = "DIR", default_value = "cluster-dump")]
    pub dir: PathBuf,
    /// Stop with an error after writing this much (e.g. 500M, 2G, 4T): a dump64 block
    /// in a log can decompress to far more than the log.
    #[arg(long, value_name = "SIZE", default_value = "2G", value_parser = split::parse_size)]
    pub max_size: u64,
}

/// `dump` (or with `base64`, `dump64`): the cluster's state on stdout.
pub async fn dump(args: &DumpArgs, ctx: &CommandContext, base64: bool) -> anyhow::Result<()> {
    let settings = args.cluster.settings()?;
    let identity = settings.identity;
    // A dump reads what it can: an engine that cannot be reached gets a section.
    let (engines, unreachable) =
        Engines::connect_reachable(&settings.docker_hosts, &ctx.engine).await;
    if engines.all().next().is_none() {
        let why: Vec<String> = unreachable.iter().map(|e| format!("{e:#}")).collect();
        return Err(anyhow!(
            "nothing to dump: no engine of --docker-hosts answers: {}",
            why.join("; ")
        ));
    }
    let client = crate::contexts::client_for(&identity, ctx.kubeconfig.as_deref()).await;
    let sections = dump::collect(&engines, &unreachable, &identity, client, &ctx.progress).await?;
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

/// `split-dump` (or with `base64`, `split-dump64`): stdin into files under `--dir`, as
/// it streams in, so memory stays small whatever the dump's size.
pub fn split(args: &SplitArgs, base64: bool) -> anyhow::Result<()> {
    let mut splitter = Splitter::new(&args.dir, args.max_size)?;
    let mut stdin = std::io::stdin().lock();
    if base64 {
        // The log itself is read whole (the block may be anywhere in it); only what it
        // decompresses to is streamed.
        let mut log = Vec::new();
        stdin
            .read_to_end(&mut log)
            .context("reading the log from stdin")?;
        format::decompress(&format::compressed64(&log)?, |piece| splitter.feed(piece))?;
    } else {
        let mut buffer = vec![0; 1 << 16];
        loop {
            let read = stdin
                .read(&mut buffer)
                .context("reading the dump from stdin")?;
            if read == 0 {
                break;
            }
            splitter.feed(&buffer[..read])?;
        }
    }
    let outcome = splitter.finish()?;
    let written = outcome.written.len();
    let files = if written == 1 { "file" } else { "files" };
    eprintln!(" • Wrote {written} {files} to {}", args.dir.display());
    if outcome.refused.is_empty() {
        return Ok(());
    }
    let named: Vec<String> = outcome
        .refused
        .iter()
        .map(|(name, why)| format!("{name:?} ({why})"))
        .collect();
    Err(anyhow!(
        "refused {} section(s), nothing was written for them (the others are in {}): {}",
        named.len(),
        args.dir.display(),
        named.join(", ")
    ))
}
