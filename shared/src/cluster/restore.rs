//! `up` from a snapshot: every node comes back from its snapshot image, with its volume,
//! at its plan address; for a Kubernetes cluster the context is rewritten for the
//! master's published port and `up` waits for the nodes to be Ready, as a first `up`
//! does. Nothing is probed again: the snapshot knows how its nodes ran.

use super::network::{create_network, NetworkState};
use super::node_spec::{cluster_labels, node_container, NodeHost, Privileges};
use super::nodes::wait_nodes_ready;
use super::snapshot::Snapshot;
use super::support::{configure_node, ensure_support};
use super::up::{Run, UpReport};
use crate::engine::ContainerSpec;
use crate::node::Node;
use anyhow::Context;

/// Where kubeadm leaves the admin kubeconfig: present once Kubernetes was set up.
const ADMIN_CONF: &str = "/etc/kubernetes/admin.conf";

/// Creates one node container from `spec` (its volume too, when missing) and starts it.
pub(super) async fn create_node(
    run: &Run<'_>,
    spec: &ContainerSpec,
    volume: &str,
) -> anyhow::Result<Node> {
    let existing = run
        .engine
        .volumes(&[(crate::names::labels::CLUSTER, &run.plan.cluster_key)])
        .await?;
    if !existing.iter().any(|v| v == volume) {
        run.ledger
            .create_volume(run.engine, volume, &cluster_labels(run.plan))
            .await?;
    }
    run.ledger.create_container(run.engine, spec).await?;
    run.engine.start_container(&spec.name).await?;
    Ok(Node::new(run.engine, &spec.name))
}

/// The host inputs a snapshot's nodes ran with.
pub(super) fn snapshot_host(run: &Run<'_>, snapshot: &Snapshot) -> NodeHost {
    NodeHost {
        privileges: if snapshot.privileged {
            Privileges::Privileged
        } else {
            Privileges::ExplicitCapabilities
        },
        cgroup: run.host.cgroup_version,
        has_lib_modules: snapshot.lib_modules,
    }
}

/// Restores the cluster from `snapshot`.
pub(super) async fn restore(
    run: &Run<'_>,
    network_state: NetworkState,
    snapshot: &Snapshot,
) -> anyhow::Result<UpReport> {
    let Run {
        engine,
        settings,
        plan,
        options,
        ledger,
        progress,
        ..
    } = *run;
    progress.note(format!(
        "Restoring {} from its snapshot (SKIP_SNAPSHOT=true for a full up)",
        plan.cluster_key
    ));
    if network_state == NetworkState::Missing {
        let step = progress.step(format!("Creating network {}", plan.network.name));
        create_network(engine, plan, ledger).await?;
        step.done();
    }
    let host = snapshot_host(run, snapshot);
    let settings_json =
        serde_json::to_string(settings).context("serializing the settings for the node labels")?;
    let step = progress.step(format!("Restoring {} node container(s)", plan.nodes.len()));
    let boot = async {
        let creates = plan.nodes.iter().map(|node| {
            let mut spec = node_container(plan, node, &host, &settings_json);
            spec.image = snapshot.images[&node.name].clone();
            async move { create_node(run, &spec, &node.volume).await }
        });
        let nodes = futures::future::try_join_all(creates).await?;
        step.done();
        wait_nodes_ready(&nodes, options.node_timeout, progress).await?;
        Ok::<_, anyhow::Error>(nodes)
    };
    let (nodes, ()) =
        futures::future::try_join(boot, ensure_support(engine, plan, ledger, progress)).await?;
    if let Some(net64) = &plan.net64 {
        futures::future::try_join_all(nodes.iter().map(|node| configure_node(node, plan, net64)))
            .await?;
    }
    let mut report = UpReport {
        cluster: plan.cluster_key.clone(),
        nodes: nodes.iter().map(|n| n.name.clone()).collect(),
        privileges: host.privileges,
        cgroup_version: host.cgroup,
        context: None,
        apiserver: None,
    };
    if options.nodes_only {
        return Ok(report);
    }
    let master = &nodes[0];
    let has_kubernetes = master.exec(&["test", "-e", ADMIN_CONF]).await?.exit_code == 0;
    let published = if has_kubernetes {
        // etcd, the certificates and kubelet kept their addresses: no kubeadm, only the wait.
        super::kubernetes::connect_and_wait(run, master).await?
    } else {
        super::kubernetes::bring_up(run, &nodes).await?
    };
    report.context = Some(plan.context.clone());
    report.apiserver = Some(published);
    Ok(report)
}
