//! CLI glue for the commands that keep or change a running cluster's state: `snapshot`,
//! `restore`, `pause`, `unpause`, `join`, `remove-node` and `load` (`copy-image`).

use super::{parse_duration, print, up, CommandContext, Output, SelectArgs, SettingsFlags, UpArgs};
use crate::cluster::{join, load, pause, remove_node, snapshot, UpOptions};
use crate::error::usage;
use clap::Args;
use std::time::Duration;

fn one_cluster(args: &SelectArgs, command: &str) -> anyhow::Result<String> {
    if args.all {
        return Err(usage(format!(
            "{command} takes one cluster: --cluster-id or --label, not --all"
        )));
    }
    Ok(args.settings.settings()?.identity.key())
}

/// `snapshot`: commit every node of a running cluster, for a later `restore`/`up`.
pub async fn take_snapshot(args: &SelectArgs, ctx: &CommandContext) -> anyhow::Result<()> {
    let key = one_cluster(args, "snapshot")?;
    let images = snapshot::take(&ctx.engine, &key, &ctx.progress).await?;
    if images.is_empty() {
        anyhow::bail!("cluster {key} has no node containers to snapshot; is it up?");
    }
    print(&images, args.output, || format!("{}\n", images.join("\n")))
}

/// `down`'s first half: keep the nodes' state unless SKIP_SNAPSHOT.
pub async fn snapshot_before_down(args: &SelectArgs, ctx: &CommandContext) -> anyhow::Result<()> {
    let settings = args.settings.settings()?;
    if !args.all && !settings.skip_snapshot {
        snapshot::take(&ctx.engine, &settings.identity.key(), &ctx.progress).await?;
    }
    Ok(())
}

/// `restore`: `up` from the snapshot of a cluster that is down; fails without one.
pub async fn restore(args: &UpArgs, ctx: &CommandContext) -> anyhow::Result<()> {
    let settings = args.settings.settings()?;
    if settings.skip_snapshot {
        return Err(usage(
            "restore cannot --skip-snapshot; use `up --skip-snapshot` for a full up",
        ));
    }
    let key = settings.identity.key();
    if !snapshot::exists(&ctx.engine, &key).await? {
        anyhow::bail!("cluster {key} has no snapshot to restore; `down` or `snapshot` makes one, `up` starts afresh");
    }
    up(args, ctx).await
}

/// `pause` (`freeze`) and `unpause`.
pub async fn set_paused(
    args: &SelectArgs,
    ctx: &CommandContext,
    freeze: bool,
) -> anyhow::Result<()> {
    let key = one_cluster(args, if freeze { "pause" } else { "unpause" })?;
    let changed = pause::set_paused(&ctx.engine, &key, freeze, &ctx.progress).await?;
    print(&changed, args.output, String::new)
}

/// `join`: one more worker.
#[derive(Debug, Clone, Args)]
pub struct JoinArgs {
    #[command(flatten)]
    pub settings: SettingsFlags,
    /// The cluster has no Kubernetes: only create and boot the node.
    #[arg(long)]
    pub nodes_only: bool,
    /// Keep what was created when `join` fails, for debugging.
    #[arg(long)]
    pub retain: bool,
    /// How long to wait for every node to be Ready.
    #[arg(long, value_parser = parse_duration, default_value = "5m")]
    pub wait: Duration,
    /// How long the node container may take to boot.
    #[arg(long, value_parser = parse_duration, default_value = "3m")]
    pub node_timeout: Duration,
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

pub async fn join(args: &JoinArgs, ctx: &CommandContext) -> anyhow::Result<()> {
    let key = args.settings.settings()?.identity.key();
    let options = UpOptions {
        nodes_only: args.nodes_only,
        retain: args.retain,
        wait: args.wait,
        node_timeout: args.node_timeout,
        dedicated_master: true,
        kubeconfig: ctx.kubeconfig.clone(),
        daemon: ctx.daemon.clone(),
    };
    let joined = join::join(&ctx.engine, &key, &options, &ctx.progress).await?;
    print(&joined, args.output, || {
        let address = joined
            .ipv4
            .clone()
            .or(joined.ipv6.clone())
            .unwrap_or_default();
        format!("{} joined {} at {address}\n", joined.node, joined.cluster)
    })
}

/// `remove-node NAME`.
#[derive(Debug, Clone, Args)]
pub struct RemoveNodeArgs {
    /// The worker to remove, e.g. kube-node-2.
    pub name: String,
    #[command(flatten)]
    pub settings: SettingsFlags,
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

pub async fn remove_node(args: &RemoveNodeArgs, ctx: &CommandContext) -> anyhow::Result<()> {
    let settings = args.settings.settings()?;
    let removed = remove_node::remove_node(
        &ctx.engine,
        &settings.identity.key(),
        &args.name,
        ctx.kubeconfig.as_deref(),
        &settings.identity.context_name(),
        &ctx.progress,
    )
    .await?;
    print(&removed, args.output, || {
        format!("Removed {}\n", removed.node)
    })
}

/// `load IMAGE...` (`copy-image`).
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Host images to put into the nodes' containerd (namespace k8s.io).
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
    /// Only these nodes (comma-separated names); default: every node. (So `load` takes
    /// the cluster by --cluster-id/--label only, not the whole settings: `--nodes` is
    /// NUM_NODES elsewhere.)
    #[arg(long, value_delimiter = ',', value_name = "NODE,...")]
    pub nodes: Vec<String>,
    /// The cluster's ID [env: CLUSTER_ID].
    #[arg(long, value_name = "VALUE")]
    pub cluster_id: Option<String>,
    /// The cluster's label [env: DIND_LABEL].
    #[arg(long, value_name = "VALUE")]
    pub label: Option<String>,
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

impl LoadArgs {
    /// The cluster's key, with the environment and config file as for every command.
    fn cluster_key(&self) -> anyhow::Result<String> {
        let mut flags = SettingsFlags::default();
        if let Some(id) = &self.cluster_id {
            flags.0.values.insert("CLUSTER_ID", id.clone());
        }
        if let Some(label) = &self.label {
            flags.0.values.insert("DIND_LABEL", label.clone());
        }
        Ok(flags.settings()?.identity.key())
    }
}

pub async fn load(args: &LoadArgs, ctx: &CommandContext) -> anyhow::Result<()> {
    let key = args.cluster_key()?;
    let report = load::load(&ctx.engine, &key, &args.images, &args.nodes, &ctx.progress).await?;
    print(&report, args.output, || {
        report
            .iter()
            .map(|n| {
                format!(
                    "{}: loaded [{}], already there [{}]\n",
                    n.node,
                    n.loaded.join(", "),
                    n.skipped.join(", ")
                )
            })
            .collect()
    })
}
