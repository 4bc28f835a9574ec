//! Node containers: decide their privileges, create and start them all at once, and wait
//! until each is ready (systemd running, containerd answering).

use super::engines::Engines;
use super::extras::NodeExtras;
use super::ledger::Ledger;
use super::node_spec::{cluster_labels, node_container, refuses_privileged, NodeHost, Privileges};
use crate::cni;
use crate::engine::{ContainerSpec, Engine};
use crate::node::{Node, NodeFile};
use crate::plan::ClusterPlan;
use crate::plan::NodePlan;
use crate::progress::Progress;
use crate::settings::Settings;
use anyhow::{anyhow, Context};
use std::collections::BTreeMap;
use std::time::Duration;

/// What systemd prints on the console when a node has booted.
const BOOTED: &str = "Reached target multi-user.target";

/// How many log lines a readiness timeout shows.
const LOG_TAIL_LINES: usize = 30;

/// Asks the daemon whether it grants `--privileged`, by starting a throwaway container
/// from the node image that does nothing. Some daemons (sandboxes without every
/// capability in their bounding set) refuse it; nodes then get an explicit capability set.
/// The probe is recorded in `ledger` and labelled, so an interrupted run removes it too.
pub async fn detect_privileges(
    engine: &Engine,
    plan: &ClusterPlan,
    probe_name: &str,
    ledger: &Ledger,
) -> anyhow::Result<Privileges> {
    let spec = ContainerSpec {
        name: probe_name.to_string(),
        image: plan.image.clone(),
        labels: cluster_labels(plan),
        entrypoint: Some(vec!["/bin/true".into()]),
        privileged: true,
        ..ContainerSpec::default()
    };
    ledger.create_container(engine, &spec).await?;
    let started = engine.start_container(probe_name).await;
    engine.remove_container(probe_name).await?;
    match started {
        Ok(()) => Ok(Privileges::Privileged),
        Err(e) if refuses_privileged(&format!("{e:#}")) => Ok(Privileges::ExplicitCapabilities),
        Err(e) => Err(e.context("checking whether the Docker daemon grants --privileged")),
    }
}

/// Creates every node's volume and container and starts them, all concurrently, each on
/// its engine (by [`crate::placement`] when the cluster spreads over several). Each
/// node's pod network files ([`pod_network_files`]) and its extras go in before its first
/// boot. `images` (node name → image) replaces the node image, for a restore from snapshots.
/// `hosts` holds each engine's [`NodeHost`], in [`Engines::all`] order.
#[allow(clippy::too_many_arguments)]
pub async fn create_nodes(
    engines: &Engines,
    plan: &ClusterPlan,
    hosts: &[NodeHost],
    settings: &Settings,
    settings_json: &str,
    extras: &NodeExtras,
    images: Option<&BTreeMap<String, String>>,
    ledger: &Ledger,
) -> anyhow::Result<Vec<Node>> {
    // Per engine: `down` kept each node's volume on the engine that held the node.
    let mut existing_volumes = Vec::new();
    for (_, engine) in engines.all() {
        existing_volumes.push(cluster_volumes(engine, plan).await?);
    }
    let mtu = overlay_mtu(engines.master(), plan).await?;
    let tasks = plan.nodes.iter().enumerate().map(|(position, node)| {
        let engine = engines.for_position(position);
        let host = &hosts[engines.index_for_position(position).min(hosts.len() - 1)];
        let mut spec = node_container(plan, node, host, settings_json);
        spec.ports.extend(super::ports::publications_for(
            plan,
            &extras.ports,
            &node.name,
        ));
        if let Some(image) = images.and_then(|images| images.get(&node.name)) {
            spec.image = image.clone();
        }
        let volume_exists = existing_volumes
            .get(engines.index_for_position(position))
            .is_some_and(|on_engine| on_engine.contains(&node.volume));
        let files = pod_network_files(settings, plan, node, mtu);
        async move {
            let created = NewNode {
                spec: &spec,
                volume: &node.volume,
                volume_exists,
                files: &files,
            };
            create_node(engine, plan, created, extras, ledger).await
        }
    });
    futures::future::try_join_all(tasks).await
}

/// The pods' MTU on a cluster spread over engines: the overlay's own, or VXLAN's default
/// when it sets none. `None` on one engine, where the kernel's choice fits the bridge.
pub async fn overlay_mtu(master: &Engine, plan: &ClusterPlan) -> anyhow::Result<Option<u32>> {
    if plan.placement.is_empty() {
        return Ok(None);
    }
    let set = master.network_mtu(&plan.network.name).await?;
    Ok(Some(set.unwrap_or(cni::mtu::OVERLAY_DEFAULT_MTU)))
}

/// The volumes the cluster already has (kept by `down`).
pub async fn cluster_volumes(engine: &Engine, plan: &ClusterPlan) -> anyhow::Result<Vec<String>> {
    engine
        .volumes(&[(crate::names::labels::CLUSTER, &plan.cluster_key)])
        .await
}

/// The files of a node's pod network that dind renders itself (bridge, ptp): the CNI
/// config list, and the routes and masquerade rules its boot unit applies at every boot.
pub fn pod_network_files(
    settings: &Settings,
    plan: &ClusterPlan,
    node: &NodePlan,
    mtu: Option<u32>,
) -> Vec<NodeFile> {
    let files = cni::node_files(settings.cni, plan, node);
    let files = cni::mtu::set_mtu(files, mtu);
    cni::set_hairpin(files, settings.kdc.use_hairpin)
        .into_iter()
        .map(|(path, contents)| NodeFile::new(path, contents))
        .collect()
}

/// One node to create: its container, its volume, and its own files.
pub struct NewNode<'a> {
    pub spec: &'a ContainerSpec,
    pub volume: &'a str,
    /// `down` kept the volume.
    pub volume_exists: bool,
    /// Placed before the first boot, with the extras' files.
    pub files: &'a [NodeFile],
}

/// Creates one node: its volume unless it exists, its container, its files and extras
/// (placed before it starts), then starts it. Every object goes through `ledger`, so a
/// failed run removes it.
pub async fn create_node(
    engine: &Engine,
    plan: &ClusterPlan,
    node: NewNode<'_>,
    extras: &NodeExtras,
    ledger: &Ledger,
) -> anyhow::Result<Node> {
    let NewNode {
        spec,
        volume,
        volume_exists,
        files,
    } = node;
    if !volume_exists {
        ledger
            .create_volume(engine, volume, &cluster_labels(plan))
            .await?;
    }
    ledger.create_container(engine, spec).await?;
    if !files.is_empty() {
        Node::new(engine, &spec.name).write_files(files).await?;
    }
    extras.before_start(engine, &spec.name).await?;
    engine.start_container(&spec.name).await?;
    Ok(Node::new(engine, &spec.name))
}

/// Waits, concurrently, until every node is ready, each within `timeout`.
pub async fn wait_nodes_ready(
    nodes: &[Node],
    timeout: Duration,
    progress: &Progress,
) -> anyhow::Result<()> {
    let step = progress.step(format!("Waiting for {} node(s) to boot", nodes.len()));
    let result =
        futures::future::try_join_all(nodes.iter().map(|node| wait_node_ready(node, timeout)))
            .await;
    step.finish(result).map(drop)
}

/// A node is ready when systemd has finished booting and containerd answers.
pub async fn wait_node_ready(node: &Node, timeout: Duration) -> anyhow::Result<()> {
    match tokio::time::timeout(timeout, boot_finished(node)).await {
        Ok(result) => result,
        Err(_) => Err(anyhow!(
            "node {} was not ready after {}s (systemd running, containerd answering); the end of its log:\n{}",
            node.name,
            timeout.as_secs(),
            node.log_tail(LOG_TAIL_LINES).await
        )),
    }
}

async fn boot_finished(node: &Node) -> anyhow::Result<()> {
    // systemd announces the end of boot on the console; waiting for that line costs
    // nothing, where polling with `systemctl` would compete with the boot for the CPU.
    node.wait_for_output(BOOTED).await?;
    // The console line may be from an earlier boot of a restarted node; `--wait` blocks
    // until this boot is over. It fails only before systemd's bus exists: retried.
    let mut backoff = Duration::from_millis(50);
    loop {
        let output = node
            .exec(&["systemctl", "is-system-running", "--wait"])
            .await?;
        match output.stdout.trim() {
            // Degraded still means systemd is up; `systemctl --failed` in the node names the unit that failed.
            "running" | "degraded" => break,
            _ => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_millis(500));
            }
        }
    }
    node.run(&["ctr", "version"])
        .await
        .with_context(|| format!("containerd does not answer in {}", node.name))?;
    Ok(())
}
