//! `docker dind registry up|down|clean|status`, and the two places clusters meet the
//! registry: a new cluster joins a running registry at the end of `up`
//! ([`join_new_cluster`]), and `clean` detaches it before removing a cluster network
//! ([`super::registry_leave::leave_network`]). What is rendered lives in [`super::local_registry`].

use super::inventory::{self, Selector};
use super::local_registry::REGISTRY_PORT;
use super::local_registry::{
    addresses_on, hosts_toml, node_facing_address, published_port, registry_container,
    RegistryOptions, PROXY_LABEL, REGISTRY_LABEL,
};
use super::registry_hosting;
use crate::engine::{ContainerInfo, Engine, NetworkInfo};
use crate::error::usage;
use crate::image::{ensure_image, Recipe};
use crate::names::{labels, ClusterIdentity};
use crate::node::Node;
use crate::progress::Progress;
use anyhow::Context;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

/// One registry, as `registry status` and `registry up` report it.
#[derive(Debug, Clone, Serialize)]
pub struct RegistryStatus {
    pub name: String,
    pub state: String,
    pub port: Option<u16>,
    /// The upstream of a pull-through registry.
    pub proxy: Option<String>,
    /// The clusters whose network it is connected to.
    pub clusters: Vec<String>,
}

/// Starts the registry (or finds it running) and connects it to every cluster.
pub async fn up(
    engine: &Engine,
    options: &RegistryOptions,
    kubeconfig: Option<&Path>,
    progress: &Progress,
) -> anyhow::Result<RegistryStatus> {
    options.check()?;
    let existing = registry(engine, &options.name).await?;
    if existing.is_none() {
        refuse_clashes(engine, options).await?;
        let recipe = Recipe::registry();
        ensure_image(engine, &recipe, progress).await.map_err(|e| {
            usage(format!(
                "the registry image cannot be built on this engine: {e:#}"
            ))
        })?;
        create(engine, options, &recipe.tag, progress).await?;
    } else if engine.container_running(&options.name).await? == Some(false) {
        engine.start_container(&options.name).await?;
    }
    // A registry that ran already keeps the port it was started with.
    let port = registry(engine, &options.name)
        .await?
        .and_then(|r| published_port(&r.ports))
        .unwrap_or(options.port);
    if options.proxy.is_none() {
        for network in cluster_networks(engine).await? {
            attach(engine, &options.name, port, &network, kubeconfig, progress).await?;
        }
    }
    status_of(engine, &options.name).await
}

/// A name taken by a container that is not a dind registry, a host port another
/// container publishes, or a second local registry: refused before anything is created.
async fn refuse_clashes(engine: &Engine, options: &RegistryOptions) -> anyhow::Result<()> {
    if engine.container_running(&options.name).await?.is_some() {
        return Err(usage(format!(
            "--name {}: a container of that name exists and is not a dind registry; choose another --name",
            options.name
        )));
    }
    let others = engine.containers(&[]).await?;
    let wanted = format!(":{}->", options.port);
    if let Some(other) = others
        .iter()
        .find(|c| c.ports.iter().any(|p| p.contains(&wanted)))
    {
        return Err(usage(format!(
            "--port {}: host port {} is already published by container {}; choose another --port",
            options.port, options.port, other.name
        )));
    }
    if options.proxy.is_none() {
        let local = registries(engine).await?;
        if let Some(other) = local.iter().find(|c| !c.labels.contains_key(PROXY_LABEL)) {
            return Err(usage(format!(
                "--name {}: the local registry {} exists already and holds the registry address on every cluster network; use it, or `registry clean --name {}` first",
                options.name, other.name, other.name
            )));
        }
    }
    Ok(())
}

/// Creates the volume (kept if it exists: it holds the images), the container and its
/// configuration, and starts it. A start Docker refuses (a host port in use by a
/// process) removes the container again and is reported as bad input.
async fn create(
    engine: &Engine,
    options: &RegistryOptions,
    image: &str,
    progress: &Progress,
) -> anyhow::Result<()> {
    let step = progress.step(format!(
        "Starting registry {} on {}:{}",
        options.name, options.address, options.port
    ));
    let volume_labels = BTreeMap::from([(REGISTRY_LABEL.to_string(), options.name.clone())]);
    let volume = options.volume();
    let new_volume = engine
        .volumes(&[(REGISTRY_LABEL, &options.name)])
        .await?
        .is_empty();
    if new_volume {
        engine.create_volume(&volume, &volume_labels).await?;
    }
    let (spec, config) = registry_container(options, image);
    let result = async {
        engine.create_container(&spec).await?;
        Node::new(engine, &spec.name).write_files(&[config]).await?;
        engine.start_container(&spec.name).await
    }
    .await;
    if let Err(error) = result {
        engine.remove_container(&spec.name).await?;
        if new_volume {
            engine.remove_volume(&volume).await?;
        }
        let text = format!("{error:#}");
        let error = if text.contains("already allocated") || text.contains("address already in use")
        {
            usage(format!(
                "--port {}: {}:{} is already in use on the Docker host; choose another --port",
                options.port, options.address, options.port
            ))
        } else {
            error
        };
        return step.finish(Err(error));
    }
    step.done();
    Ok(())
}

/// Connects the registry to one cluster network at its fixed addresses (unless it is
/// already), points every running node of that cluster at it, and, in a cluster with
/// Kubernetes, writes the KEP-1755 ConfigMap.
async fn attach(
    engine: &Engine,
    registry: &str,
    port: u16,
    network: &NetworkInfo,
    kubeconfig: Option<&Path>,
    progress: &Progress,
) -> anyhow::Result<()> {
    let Some(address) = node_facing_address(&network.subnets) else {
        return Ok(());
    };
    let cluster = network
        .labels
        .get(labels::CLUSTER)
        .cloned()
        .unwrap_or_default();
    if !engine
        .container_networks(registry)
        .await?
        .contains(&network.name)
    {
        let (v4, v6) = addresses_on(&network.subnets);
        if let Err(error) = engine
            .connect_network_at(&network.name, registry, v4, v6)
            .await
        {
            progress.note(format!(
                "Registry {registry} cannot join cluster {cluster} at {address}: {error:#}"
            ));
            return Ok(());
        }
        progress.note(format!(
            "Registry {registry} joined cluster {cluster} at {address}; its nodes pull localhost:{port}/... from it"
        ));
    }
    let file = hosts_toml(port, address);
    for node in inventory::nodes(engine, &Selector::Cluster(cluster.clone())).await? {
        if node.state == "running" && matches!(node.role.as_str(), "master" | "worker") {
            Node::new(engine, &node.name)
                .write_files(std::slice::from_ref(&file))
                .await
                .with_context(|| format!("pointing {} at registry {registry}", node.name))?;
        }
    }
    announce(&cluster, address, port, kubeconfig, progress).await;
    Ok(())
}

/// Writes the `local-registry-hosting` ConfigMap into a cluster that has a kubectl
/// context; a nodes-only cluster has none and is skipped. A cluster whose API cannot
/// be reached keeps its registry and gets a warning.
async fn announce(
    cluster: &str,
    address: IpAddr,
    port: u16,
    kubeconfig: Option<&Path>,
    progress: &Progress,
) {
    let context = match cluster {
        "default" => "dind".to_string(),
        key => format!("dind-{key}"),
    };
    let Some(identity) = ClusterIdentity::from_context_name(&context) else {
        return;
    };
    let Ok(client) = crate::contexts::client_for(&identity, kubeconfig).await else {
        return;
    };
    let config_map = registry_hosting::hosting_configmap(port, address, REGISTRY_PORT);
    if let Err(error) = registry_hosting::apply(client, &config_map).await {
        progress.note(format!(
            "Warning: cluster {cluster} did not get the {} ConfigMap: {error:#}",
            registry_hosting::NAME
        ));
    }
}

/// At the end of `up`: a running local registry joins the new cluster. A failure here
/// leaves the cluster as it is and says why.
pub async fn join_new_cluster(
    engine: &Engine,
    cluster_key: &str,
    kubeconfig: Option<&Path>,
    progress: &Progress,
) {
    let result = async {
        let Some(local) = local_registry(engine).await? else {
            return Ok(());
        };
        let Some(port) = published_port(&local.ports) else {
            return Ok(());
        };
        for network in cluster_networks(engine).await? {
            if network.labels.get(labels::CLUSTER).map(String::as_str) == Some(cluster_key) {
                attach(engine, &local.name, port, &network, kubeconfig, progress).await?;
            }
        }
        anyhow::Ok(())
    }
    .await;
    if let Err(error) = result {
        progress.note(format!(
            "The local registry did not join {cluster_key}: {error:#}"
        ));
    }
}

/// Removes the registry container (`clean`: its volume too). Clusters using it keep
/// running; the warning names them.
pub async fn down(
    engine: &Engine,
    name: &str,
    with_volume: bool,
    progress: &Progress,
) -> anyhow::Result<Vec<String>> {
    let mut removed = Vec::new();
    if registry(engine, name).await?.is_some() {
        let status = status_of(engine, name).await?;
        if !status.clusters.is_empty() {
            progress.note(format!(
                "Warning: removing registry {name} while cluster(s) {} pull from it",
                status.clusters.join(", ")
            ));
        }
        for network in engine.container_networks(name).await? {
            if network != "bridge" {
                engine.disconnect_network(&network, name).await?;
            }
        }
        engine.remove_container(name).await?;
        removed.push(name.to_string());
    }
    if with_volume {
        for volume in engine.volumes(&[(REGISTRY_LABEL, name)]).await? {
            engine.remove_volume(&volume).await?;
            removed.push(volume);
        }
    }
    Ok(removed)
}

/// Every dind registry.
pub async fn status(engine: &Engine) -> anyhow::Result<Vec<RegistryStatus>> {
    let mut out = Vec::new();
    for registry in registries(engine).await? {
        out.push(status_of(engine, &registry.name).await?);
    }
    Ok(out)
}

async fn status_of(engine: &Engine, name: &str) -> anyhow::Result<RegistryStatus> {
    let info = registry(engine, name)
        .await?
        .with_context(|| format!("registry {name} is gone"))?;
    let networks = engine.networks().await?;
    let joined = engine.container_networks(name).await?;
    let clusters = networks
        .iter()
        .filter(|n| joined.contains(&n.name))
        .filter_map(|n| n.labels.get(labels::CLUSTER).cloned())
        .collect();
    Ok(RegistryStatus {
        name: info.name.clone(),
        state: info.state.clone(),
        port: published_port(&info.ports),
        proxy: info.labels.get(PROXY_LABEL).cloned(),
        clusters,
    })
}

async fn registries(engine: &Engine) -> anyhow::Result<Vec<ContainerInfo>> {
    engine.containers(&[(REGISTRY_LABEL, "")]).await
}

async fn registry(engine: &Engine, name: &str) -> anyhow::Result<Option<ContainerInfo>> {
    Ok(engine
        .containers(&[(REGISTRY_LABEL, name)])
        .await?
        .into_iter()
        .find(|c| c.name == name))
}

/// The host port of the running local registry, if one runs.
pub async fn local_registry_port(engine: &Engine) -> anyhow::Result<Option<u16>> {
    Ok(local_registry(engine)
        .await?
        .and_then(|r| published_port(&r.ports)))
}

/// The running local registry (not a pull-through one), if any.
async fn local_registry(engine: &Engine) -> anyhow::Result<Option<ContainerInfo>> {
    Ok(registries(engine)
        .await?
        .into_iter()
        .find(|c| c.state == "running" && !c.labels.contains_key(PROXY_LABEL)))
}

async fn cluster_networks(engine: &Engine) -> anyhow::Result<Vec<NetworkInfo>> {
    Ok(engine
        .networks()
        .await?
        .into_iter()
        .filter(|n| n.labels.contains_key(labels::CLUSTER))
        .collect())
}
