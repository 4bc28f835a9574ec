//! `docker dind registry up|down|clean|status`, and the two places clusters meet the
//! registry: a new cluster joins a running registry at the end of `up`
//! ([`join_new_cluster`]), and `clean` detaches it before removing a cluster network
//! ([`super::registry_leave::remove_network`]). What is rendered lives in [`super::local_registry`].

use super::inventory::{self, Selector};
use super::local_registry::REGISTRY_PORT;
use super::local_registry::{
    addresses_on, free_slot, hosts_toml, node_facing_address, published_port, registry_container,
    slot_of, RegistryOptions, DEFAULT_PORT, MAX_MIRRORS, PROXY_LABEL, REGISTRY_LABEL,
};
use super::registry_hosting;
use super::registry_ready;
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
        let slot = match options.proxy {
            None => 0,
            Some(_) => mirror_slot(engine).await?,
        };
        create(engine, options, &recipe.tag, slot, progress).await?;
    } else if engine.container_running(&options.name).await? == Some(false) {
        engine.start_container(&options.name).await?;
    }
    registry_ready::wait_until_answering(engine, &options.name).await?;
    // A registry that ran already keeps the port and slot it was started with.
    let info = registry(engine, &options.name)
        .await?
        .with_context(|| format!("registry {} is gone", options.name))?;
    for network in cluster_networks(engine).await? {
        join(engine, &info, &network, kubeconfig, progress).await?;
    }
    status_of(engine, &options.name).await
}

/// A free slot for a new pull-through registry; with every slot taken, bad input.
async fn mirror_slot(engine: &Engine) -> anyhow::Result<u8> {
    let taken: Vec<u8> = registries(engine)
        .await?
        .iter()
        .filter(|r| r.labels.contains_key(PROXY_LABEL))
        .map(|r| slot_of(&r.labels))
        .collect();
    free_slot(&taken).ok_or_else(|| {
        usage(format!(
            "--proxy: {MAX_MIRRORS} pull-through registries exist already, each with its own address on every cluster network; `registry clean --name NAME` one first"
        ))
    })
}

/// One registry meets one cluster network: the local registry is attached (hosts.toml
/// and ConfigMap), a pull-through registry only joins it, for `--registry-mirror NAME`.
async fn join(
    engine: &Engine,
    info: &ContainerInfo,
    network: &NetworkInfo,
    kubeconfig: Option<&Path>,
    progress: &Progress,
) -> anyhow::Result<()> {
    match info.labels.get(PROXY_LABEL) {
        Some(upstream) => {
            let slot = slot_of(&info.labels);
            let note = format!(
                "clusters made with --registry-mirror {} pull {upstream} through it",
                info.name
            );
            join_network(engine, &info.name, slot, network, &note, progress).await?;
            Ok(())
        }
        None => {
            let port = published_port(&info.ports).unwrap_or(DEFAULT_PORT);
            attach(engine, &info.name, port, network, kubeconfig, progress).await
        }
    }
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
    slot: u8,
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
    let (spec, config) = registry_container(options, image, slot);
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
    let note = format!("its nodes pull localhost:{port}/... from it");
    let Some(address) = join_network(engine, registry, 0, network, &note, progress).await? else {
        return Ok(());
    };
    let cluster = cluster_of(network);
    let file = hosts_toml(port, address);
    for node in inventory::nodes(engine, &Selector::Cluster(cluster.clone())).await? {
        if node.state == "running" && matches!(node.role.as_str(), "master" | "worker") {
            let written = Node::new(engine, &node.name)
                .write_files(std::slice::from_ref(&file))
                .await;
            if let Err(error) = written {
                // A node stopped or removed since it was listed (its cluster is being
                // cleaned meanwhile) has nothing to point; any other node must be.
                if engine.container_running(&node.name).await?.is_some() {
                    return Err(error)
                        .with_context(|| format!("pointing {} at registry {registry}", node.name));
                }
            }
        }
    }
    announce(&cluster, address, port, kubeconfig, progress).await;
    Ok(())
}

/// Connects a registry to a cluster network at its slot's fixed addresses (unless it is
/// already) and returns the address nodes reach it at; `None` when the network has no
/// room for it, which is said and leaves the cluster as it is.
async fn join_network(
    engine: &Engine,
    registry: &str,
    slot: u8,
    network: &NetworkInfo,
    what_for: &str,
    progress: &Progress,
) -> anyhow::Result<Option<IpAddr>> {
    let Some(address) = node_facing_address(&network.subnets, slot) else {
        return Ok(None);
    };
    let cluster = cluster_of(network);
    if engine
        .container_networks(registry)
        .await?
        .contains(&network.name)
    {
        return Ok(Some(address));
    }
    let (v4, v6) = addresses_on(&network.subnets, slot);
    if let Err(error) = engine
        .connect_network_at(&network.name, registry, v4, v6)
        .await
    {
        progress.note(format!(
            "Registry {registry} cannot join cluster {cluster} at {address}: {error:#}"
        ));
        return Ok(None);
    }
    progress.note(format!(
        "Registry {registry} joined cluster {cluster} at {address}; {what_for}"
    ));
    Ok(Some(address))
}

fn cluster_of(network: &NetworkInfo) -> String {
    network
        .labels
        .get(labels::CLUSTER)
        .cloned()
        .unwrap_or_default()
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

/// At the end of `up`: the running local registry and every pull-through registry join
/// the new cluster. A failure here leaves the cluster as it is and says why.
pub async fn join_new_cluster(
    engine: &Engine,
    cluster_key: &str,
    kubeconfig: Option<&Path>,
    progress: &Progress,
) {
    let result = async {
        let joining: Vec<ContainerInfo> = registries(engine)
            .await?
            .into_iter()
            .filter(|r| r.labels.contains_key(PROXY_LABEL) || r.state == "running")
            .collect();
        for network in cluster_networks(engine).await? {
            if network.labels.get(labels::CLUSTER).map(String::as_str) == Some(cluster_key) {
                for registry in &joining {
                    join(engine, registry, &network, kubeconfig, progress).await?;
                }
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
