//! Where `clean` meets the local registry: before a cluster network is removed, every
//! dind registry container leaves it. Apart from `registry_ops`, so `inventory` (which
//! `registry_ops` uses to find a cluster's nodes) needs nothing of it back.

use super::local_registry::REGISTRY_LABEL;
use crate::engine::Engine;

/// Before a cluster network is removed: every dind registry leaves it, or Docker
/// refuses to remove a network with a container on it.
pub async fn leave_network(engine: &Engine, network: &str) -> anyhow::Result<()> {
    for registry in registries_on(engine, network).await? {
        engine.disconnect_network(network, &registry).await?;
    }
    Ok(())
}

/// Removes a cluster network once every dind registry has left it. A `registry up`
/// running meanwhile joins every cluster network there is, this one included, and Docker
/// then refuses the removal ("has active endpoints"): while that is what stands in the
/// way, leave and remove again, a few times.
pub async fn remove_network(engine: &Engine, network: &str) -> anyhow::Result<()> {
    let mut attempts = 0;
    loop {
        leave_network(engine, network).await?;
        match engine.remove_network(network).await {
            Ok(_) => return Ok(()),
            Err(error) => {
                attempts += 1;
                if attempts >= 3 || registries_on(engine, network).await?.is_empty() {
                    return Err(error);
                }
            }
        }
    }
}

/// The dind registry containers connected to `network`.
async fn registries_on(engine: &Engine, network: &str) -> anyhow::Result<Vec<String>> {
    let mut on = Vec::new();
    for registry in engine.containers(&[(REGISTRY_LABEL, "")]).await? {
        let networks = engine.container_networks(&registry.name).await?;
        if networks.iter().any(|n| n == network) {
            on.push(registry.name);
        }
    }
    Ok(on)
}
