//! `remove-node NAME`: drain and delete a node from Kubernetes (through kube-rs), then
//! remove its container and volume. A master other than the first runs `kubeadm reset`
//! first, which removes its etcd member so etcd keeps its quorum, and leaves the load
//! balancer afterwards. The first master (where dind runs kubeadm) and the last one are
//! refused: the cluster is its masters.

use super::engines::Engines;
use crate::names::labels;
use crate::node::Node;
use crate::progress::Progress;
use anyhow::{anyhow, Context};
use k8s_openapi::api::core::v1::{Node as KubeNode, Pod};
use kube::api::{Api, DeleteParams, EvictParams, ListParams, Patch, PatchParams};
use serde::Serialize;
use std::path::Path;

/// What `remove-node` removed.
#[derive(Debug, Clone, Serialize)]
pub struct RemovedNode {
    pub node: String,
    pub container: bool,
    pub volume: bool,
    /// Whether it was drained and deleted from Kubernetes.
    pub kubernetes: bool,
}

/// Removes worker `name` of the cluster, on the engine of `engines` that holds it.
pub async fn remove_node(
    engines: &Engines,
    cluster_key: &str,
    name: &str,
    kubeconfig: Option<&Path>,
    context: &str,
    progress: &Progress,
) -> anyhow::Result<RemovedNode> {
    let engine = engines.master();
    let found = engines
        .containers(&[(labels::CLUSTER, cluster_key), (labels::NODE_ROLE, "")])
        .await?;
    let (own_engine, node) = found.iter().find(|(_, c)| c.name == name).ok_or_else(|| {
        crate::error::usage(format!("cluster {cluster_key} has no node named {name}"))
    })?;
    let nodes: Vec<_> = found.iter().map(|(_, c)| c.clone()).collect();
    let is_master = |c: &crate::engine::ContainerInfo| {
        c.labels.get(labels::NODE_ROLE).map(String::as_str) == Some("master")
    };
    let removing_master = is_master(node);
    if removing_master {
        let first = node.labels.get(labels::NODE_INDEX).map(String::as_str) == Some("0");
        let masters = nodes.iter().filter(|c| is_master(c)).count();
        if first || masters <= 1 {
            // A one-master cluster words it as before several masters existed.
            let which = match (masters, first) {
                (0 | 1, _) => "the",
                (_, true) => "the first",
                (_, false) => "the last",
            };
            return Err(crate::error::usage(format!(
                "{name} is {which} master of {cluster_key}; remove the whole cluster with `down` or `clean` instead"
            )));
        }
    }
    let master = found
        .iter()
        .find(|(_, c)| c.labels.get(labels::NODE_ROLE).map(String::as_str) == Some("master"));
    let has_kubernetes = match master {
        Some((on, m)) => Node::new(on, &m.name)
            .exec(&["test", "-e", crate::kubeadm::ADMIN_CONF])
            .await
            .map(|o| o.exit_code == 0)
            .unwrap_or(false),
        None => false,
    };
    if has_kubernetes {
        let (target, _) = super::kubernetes::kubeconfig_files(kubeconfig);
        let target = target.ok_or_else(|| {
            anyhow!("cannot tell which kubeconfig file to read: no home directory")
        })?;
        if removing_master {
            let step = progress.step(format!("Running kubeadm reset on {name}"));
            let reset = Node::new(own_engine, name)
                .run(&["kubeadm", "reset", "--force"])
                .await;
            step.finish(reset)?;
        }
        let client = crate::ready::client_for_context(&target, context).await?;
        let step = progress.step(format!("Draining and deleting {name} from Kubernetes"));
        step.finish(drain_and_delete(client, name).await)?;
    }
    let volume = node
        .labels
        .get(labels::NODE_INDEX)
        .and_then(|i| i.parse::<u16>().ok());
    let step = progress.step(format!("Removing {name} and its volume"));
    let container = own_engine.remove_container(name).await?;
    let volume = match volume {
        Some(_) => {
            own_engine
                .remove_volume(&format!("kubeadm-dind-{name}"))
                .await?
        }
        None => false,
    };
    step.done();
    if master.is_some() {
        let (settings, _) = super::join::cluster_settings(engines, cluster_key).await?;
        let remaining: Vec<_> = nodes.iter().filter(|c| c.name != name).cloned().collect();
        let before = super::membership::plan_of(&settings, &super::membership::members(&nodes))?;
        let after = super::membership::plan_of(&settings, &super::membership::members(&remaining))?;
        let step = progress.step(format!("Removing the routes to {name}'s pods"));
        step.finish(
            super::membership::sync_routes(engines, &settings, &before, &after, None).await,
        )?;
        if removing_master {
            let step = progress.step(format!("Removing {name} from the load balancer"));
            step.finish(super::load_balancer::reload(engine, &after).await)?;
        }
    }
    Ok(RemovedNode {
        node: name.to_string(),
        container,
        volume,
        kubernetes: has_kubernetes,
    })
}

/// What `kubectl drain --ignore-daemonsets --delete-emptydir-data` then `kubectl delete
/// node` do: cordon, evict every pod but DaemonSet and mirror pods, delete the Node.
pub async fn drain_and_delete(client: kube::Client, name: &str) -> anyhow::Result<()> {
    let nodes: Api<KubeNode> = Api::all(client.clone());
    let cordon = serde_json::json!({ "spec": { "unschedulable": true } });
    nodes
        .patch(name, &PatchParams::default(), &Patch::Merge(&cordon))
        .await
        .with_context(|| format!("cordoning node {name}"))?;
    let pods: Api<Pod> = Api::all(client.clone());
    let on_node = pods
        .list(&ListParams::default().fields(&format!("spec.nodeName={name}")))
        .await
        .with_context(|| format!("listing the pods on {name}"))?;
    for pod in on_node.items.iter().filter(|p| evictable(p)) {
        let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
        let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
        Api::<Pod>::namespaced(client.clone(), namespace)
            .evict(pod_name, &EvictParams::default())
            .await
            .with_context(|| format!("evicting pod {namespace}/{pod_name} from {name}"))?;
    }
    nodes
        .delete(name, &DeleteParams::default())
        .await
        .with_context(|| format!("deleting node {name}"))?;
    Ok(())
}

/// DaemonSet pods come back at once and mirror pods belong to kubelet: drain leaves both.
fn evictable(pod: &Pod) -> bool {
    let daemonset = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.kind == "DaemonSet");
    let mirror = pod
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key("kubernetes.io/config.mirror"));
    !daemonset && !mirror
}
