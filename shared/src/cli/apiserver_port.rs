//! `apiserver-port`: the host port the cluster's API server is published on (on the
//! load balancer of a cluster with several masters, else on the master).

use super::{print, CommandContext, SelectArgs};

/// `apiserver-port`: the host port the cluster's API server is published on.
pub async fn apiserver_port(args: &SelectArgs, ctx: &CommandContext) -> anyhow::Result<()> {
    let identity = args.cluster.running(ctx).await?.identity;
    let port = crate::cluster::api_proxy::published_api_port(&ctx.engine, &identity)
        .await?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{} publishes no API server port; is the cluster up?",
                identity.node_name(0)
            )
        })?;
    print(&port, args.output, || format!("{port}\n"))
}
