//! Starts the DNS64 and NAT64 containers of an IPv6 cluster, idempotently (and the API
//! proxy of one whose nodes have no IPv4), and points the nodes at them.

use super::api_proxy::ensure_api_proxy;
use super::ledger::Ledger;
use super::net64::{dns64_container, nat64_container, node_net64_files};
use crate::engine::{ContainerSpec, Engine};
use crate::image::{ensure_image, Recipe};
use crate::node::{Node, NodeFile};
use crate::plan::{ClusterPlan, Net64Plan};
use crate::progress::Progress;

/// Makes sure both support containers run: reuses running ones, starts stopped ones,
/// creates missing ones.
pub async fn ensure_support(
    engine: &Engine,
    plan: &ClusterPlan,
    ledger: &Ledger,
    progress: &Progress,
) -> anyhow::Result<()> {
    let Some(n) = &plan.net64 else { return Ok(()) };
    let recipe = Recipe::support();
    ensure_image(engine, &recipe, progress).await?;
    let step = progress.step(format!(
        "Starting DNS64 ({}) and NAT64 ({})",
        n.dns64_container, n.nat64_container
    ));
    let (nat64, nat64_files) = nat64_container(plan, n, &recipe.tag);
    let (dns64, dns64_files) = dns64_container(plan, n, &recipe.tag);
    // Without node IPv4, the gateway's IPv4 side is on the edge network.
    let edge = plan.edge.as_ref().map(|e| e.name.as_str());
    let result = futures::future::try_join3(
        ensure_container(engine, &nat64, &nat64_files, edge, ledger),
        ensure_container(engine, &dns64, &dns64_files, None, ledger),
        ensure_api_proxy(engine, plan, &recipe.tag, ledger),
    )
    .await;
    step.finish(result).map(drop)
}

pub(super) async fn ensure_container(
    engine: &Engine,
    spec: &ContainerSpec,
    files: &[NodeFile],
    also_on: Option<&str>,
    ledger: &Ledger,
) -> anyhow::Result<()> {
    match engine.container_running(&spec.name).await? {
        Some(true) => Ok(()),
        Some(false) => engine.start_container(&spec.name).await,
        None => {
            ledger.create_container(engine, spec).await?;
            Node::new(engine, &spec.name).write_files(files).await?;
            if let Some(network) = also_on {
                engine.connect_network(network, &spec.name).await?;
            }
            engine.start_container(&spec.name).await
        }
    }
}

/// Makes a node resolve through the DNS64 server and route the prefix to NAT64. The
/// settings file stays in the node, and its boot unit applies it again after a restart.
pub async fn configure_node(node: &Node, plan: &ClusterPlan, n: &Net64Plan) -> anyhow::Result<()> {
    node.write_files(&node_net64_files(plan, n)).await?;
    node.run(&["systemctl", "restart", "dind-net64.service"])
        .await?;
    Ok(())
}
