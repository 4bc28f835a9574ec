//! `apiserver-port`: the host port the cluster's API server is published on.

use super::{print, CommandContext, SelectArgs};

/// `apiserver-port`: the host port the cluster's API server is published on.
pub async fn apiserver_port(args: &SelectArgs, ctx: &CommandContext) -> anyhow::Result<()> {
    let master = args.cluster.running(ctx).await?.identity.node_name(0);
    let ports = ctx.engine.published_ports(&master, "6443/tcp").await?;
    let (_, port) = ports.first().ok_or_else(|| {
        anyhow::anyhow!("{master} publishes no API server port; is the cluster up?")
    })?;
    print(port, args.output, || format!("{port}\n"))
}
