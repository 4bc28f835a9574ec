//! `apiserver-port`: the host port the cluster's API server is published on (on the
//! load balancer of a cluster with several masters, else on the master).

use super::{print, CommandContext, SelectArgs};

/// `apiserver-port`: the host port the cluster's API server is published on.
pub async fn apiserver_port(args: &SelectArgs, ctx: &CommandContext) -> anyhow::Result<()> {
    let identity = args.settings.settings()?.identity;
    let balancer = identity.load_balancer_name();
    let publisher = match ctx.engine.container_running(&balancer).await? {
        Some(_) => balancer,
        None => identity.node_name(0),
    };
    let ports = ctx.engine.published_ports(&publisher, "6443/tcp").await?;
    let (_, port) = ports.first().ok_or_else(|| {
        anyhow::anyhow!("{publisher} publishes no API server port; is the cluster up?")
    })?;
    print(port, args.output, || format!("{port}\n"))
}
