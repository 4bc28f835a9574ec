//! Starts the DNS64 and NAT64 containers of an IPv6 cluster, idempotently, and points the
//! nodes at them.

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
    let result = futures::future::try_join(
        ensure_container(engine, &nat64, &nat64_files, ledger),
        ensure_container(engine, &dns64, &dns64_files, ledger),
    )
    .await;
    step.finish(result).map(drop)
}

pub(super) async fn ensure_container(
    engine: &Engine,
    spec: &ContainerSpec,
    files: &[NodeFile],
    ledger: &Ledger,
) -> anyhow::Result<()> {
    match engine.container_running(&spec.name).await? {
        Some(true) => Ok(()),
        Some(false) => engine.start_container(&spec.name).await,
        None => {
            ledger.create_container(engine, spec).await?;
            Node::new(engine, &spec.name).write_files(files).await?;
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
