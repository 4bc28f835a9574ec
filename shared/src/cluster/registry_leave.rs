//! Where `clean` meets the local registry: before a cluster network is removed, every
//! dind registry container leaves it. Apart from `registry_ops`, so `inventory` (which
//! `registry_ops` uses to find a cluster's nodes) needs nothing of it back.

use super::local_registry::REGISTRY_LABEL;
use crate::engine::Engine;

/// Before a cluster network is removed: every dind registry leaves it, or Docker
/// refuses to remove a network with a container on it.
pub async fn leave_network(engine: &Engine, network: &str) -> anyhow::Result<()> {
    for registry in engine.containers(&[(REGISTRY_LABEL, "")]).await? {
        if engine
            .container_networks(&registry.name)
            .await?
            .iter()
            .any(|n| n == network)
        {
            engine.disconnect_network(network, &registry.name).await?;
        }
    }
    Ok(())
}
