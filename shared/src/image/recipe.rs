//! Image recipes as data: a Dockerfile plus the files of its build context.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Where the node image's Kubernetes binaries come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KubeSource {
    /// The official release downloads for this version, each checked against its `.sha256`.
    Release(String),
    /// `kubeadm`, `kubelet` and `kubectl` from a local directory (build-from-source workflow).
    Local(PathBuf),
    /// No Kubernetes at all: nodes boot and run containers, for `up --nodes-only`.
    Bare,
}

/// The tag of the node image for a source. Local builds are tagged by their recipe hash
/// by [`Recipe`]; this gives their repository-only default.
pub fn node_image_tag(source: &KubeSource) -> String {
    match source {
        KubeSource::Release(version) => format!("dind-node:{version}"),
        KubeSource::Local(_) => "dind-node:local".to_string(),
        KubeSource::Bare => "dind-node:bare".to_string(),
    }
}

/// A build context: Dockerfile and files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipe {
    pub tag: String,
}
