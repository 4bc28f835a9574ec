//! Kubernetes on the booted nodes: kubeadm, CNI, the published API server, the kubectl
//! context, and the wait for Ready.

use super::UpOptions;
use crate::engine::{CgroupVersion, Engine};
use crate::node::Node;
use crate::plan::ClusterPlan;
use crate::progress::Progress;
use crate::settings::Settings;
use anyhow::anyhow;
use std::path::Path;

/// Fails unless the master has kubeadm, with a message that says how to get an image
/// that has it.
pub async fn require_kubeadm(master: &Node, image: &str) -> anyhow::Result<String> {
    match master.run(&["kubeadm", "version", "-o", "short"]).await {
        Ok(version) => Ok(version.trim().to_string()),
        Err(_) => Err(anyhow!(
            "the node image {image} has no kubeadm, so Kubernetes cannot be set up.\n\
             Build an image with Kubernetes and use it:\n  \
             docker dind build-image --kubernetes-version v1.37.0   (or --kube-binaries DIR)\n  \
             kubectl dind up --image <the tag it prints>\n\
             or use `docker dind up --nodes-only` to stop at booted nodes."
        )),
    }
}

pub async fn bring_up(
    _engine: &Engine,
    _settings: &Settings,
    plan: &ClusterPlan,
    nodes: &[Node],
    _cgroup: CgroupVersion,
    _options: &UpOptions,
    _progress: &Progress,
) -> anyhow::Result<String> {
    require_kubeadm(&nodes[0], &plan.image).await?;
    Err(anyhow!("WIP"))
}

pub fn remove_context(
    _settings: &Settings,
    _kubeconfig: Option<&Path>,
    _progress: &Progress,
) -> anyhow::Result<()> {
    Ok(())
}
