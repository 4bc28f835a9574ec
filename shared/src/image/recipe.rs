//! Image recipes as data: a Dockerfile plus the files of its build context, hashed so
//! that an unchanged recipe is reused rather than rebuilt.
//!
//! The files ship inside the binary (`files/`), so `docker dind build-image` needs
//! nothing from the source tree.

use crate::error::usage;
use crate::names::labels;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The image every dind image starts from. Without a registry it can be made locally;
/// see [`BASE_IMAGE_HINT`].
pub const BASE_IMAGE: &str = "debian:trixie-slim";

/// How to provide [`BASE_IMAGE`] on a machine that cannot pull it.
pub const BASE_IMAGE_HINT: &str =
    "debootstrap --variant=minbase trixie /tmp/dind-rootfs http://deb.debian.org/debian \
     && tar -C /tmp/dind-rootfs -c . | docker import - debian:trixie-slim";

/// The Kubernetes binaries a node image needs in its PATH.
pub const KUBE_BINARIES: [&str; 3] = ["kubeadm", "kubelet", "kubectl"];

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

/// The tag of the node image for a release or a bare build. Local builds are tagged by
/// their recipe hash instead (see [`Recipe::node`]).
pub fn node_image_tag(source: &KubeSource) -> String {
    match source {
        KubeSource::Release(version) => format!("dind-node:{version}"),
        KubeSource::Local(_) => "dind-node:local".to_string(),
        KubeSource::Bare => "dind-node:bare".to_string(),
    }
}

/// One file of a build context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextFile {
    /// Relative to the context root.
    pub path: String,
    pub contents: Vec<u8>,
    pub mode: u32,
}

impl ContextFile {
    fn embedded(path: &str, contents: &[u8]) -> ContextFile {
        let mode = if path.contains("/bin/") { 0o755 } else { 0o644 };
        ContextFile {
            path: path.to_string(),
            contents: contents.to_vec(),
            mode,
        }
    }
}

macro_rules! embedded_files {
    ($($context_path:literal => $source:literal),* $(,)?) => {
        &[$(($context_path, include_bytes!($source) as &[u8])),*]
    };
}

const NODE_FILES: &[(&str, &[u8])] = embedded_files! {
    "apt/sources.list.d/forky.list" => "files/apt/sources.list.d/forky.list",
    "apt/preferences.d/forky" => "files/apt/preferences.d/forky",
    "rootfs/etc/containerd/config.toml" => "files/rootfs-node/etc/containerd/config.toml",
    "rootfs/etc/crictl.yaml" => "files/rootfs-node/etc/crictl.yaml",
    "rootfs/etc/systemd/system/kubelet.service" => "files/rootfs-node/etc/systemd/system/kubelet.service",
    "rootfs/etc/systemd/system/kubelet.service.d/10-kubeadm.conf" => "files/rootfs-node/etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
    "rootfs/etc/systemd/system/dind-net64.service" => "files/rootfs-node/etc/systemd/system/dind-net64.service",
    "rootfs/usr/local/bin/dind-net64" => "files/rootfs-node/usr/local/bin/dind-net64",
    "rootfs/etc/systemd/system/dind-node-setup.service" => "files/rootfs-node/etc/systemd/system/dind-node-setup.service",
    "rootfs/usr/local/bin/dind-node-setup" => "files/rootfs-node/usr/local/bin/dind-node-setup",
    "rootfs/etc/systemd/system/dind-pod-network.service" => "files/rootfs-node/etc/systemd/system/dind-pod-network.service",
    "rootfs/usr/local/bin/dind-pod-network" => "files/rootfs-node/usr/local/bin/dind-pod-network",
};

const SUPPORT_FILES: &[(&str, &[u8])] = embedded_files! {
    "rootfs/usr/local/bin/dind-dns64" => "files/rootfs-support/usr/local/bin/dind-dns64",
    "rootfs/usr/local/bin/dind-nat64" => "files/rootfs-support/usr/local/bin/dind-nat64",
};

const NODE_DOCKERFILE: &str = include_str!("files/node.Dockerfile");
const SUPPORT_DOCKERFILE: &str = include_str!("files/support.Dockerfile");
const KUBE_BINARIES_MARKER: &str = "KUBE_BINARIES";

/// The Kubernetes part of a node recipe, with local binaries already read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKubernetes {
    Release(String),
    Local(Vec<ContextFile>),
    Bare,
}

impl NodeKubernetes {
    /// Reads local binaries; the only I/O of this module.
    pub fn load(source: &KubeSource) -> anyhow::Result<NodeKubernetes> {
        Ok(match source {
            KubeSource::Release(version) => NodeKubernetes::Release(version.clone()),
            KubeSource::Bare => NodeKubernetes::Bare,
            KubeSource::Local(dir) => NodeKubernetes::Local(read_kube_binaries(dir)?),
        })
    }
}

fn read_kube_binaries(dir: &Path) -> anyhow::Result<Vec<ContextFile>> {
    KUBE_BINARIES
        .iter()
        .map(|name| {
            let path = dir.join(name);
            if !path.is_file() {
                return Err(usage(format!(
                    "--kube-binaries {}: {name} is missing; the directory must hold kubeadm, kubelet and kubectl",
                    dir.display()
                )));
            }
            let contents = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            Ok(ContextFile { path: format!("kube-bin/{name}"), contents, mode: 0o755 })
        })
        .collect()
}

/// A whole build: Dockerfile, context files, tag and labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipe {
    pub tag: String,
    pub dockerfile: String,
    pub files: Vec<ContextFile>,
    /// What the image says it holds: [`labels::IMAGE_KUBERNETES_VERSION`] and [`labels::IMAGE_RECIPE`].
    pub labels: BTreeMap<String, String>,
}

impl Recipe {
    /// The node image for a Kubernetes source.
    pub fn node(kubernetes: &NodeKubernetes) -> Recipe {
        let (instructions, version) = match kubernetes {
            NodeKubernetes::Release(version) => (release_download(version), version.clone()),
            NodeKubernetes::Local(_) => {
                ("COPY kube-bin/ /usr/bin/".to_string(), "local".to_string())
            }
            NodeKubernetes::Bare => (
                "# Bare: no Kubernetes binaries, for up --nodes-only.".to_string(),
                "none".to_string(),
            ),
        };
        let dockerfile = NODE_DOCKERFILE.replace(KUBE_BINARIES_MARKER, &instructions);
        let mut files: Vec<ContextFile> = NODE_FILES
            .iter()
            .map(|(p, c)| ContextFile::embedded(p, c))
            .collect();
        if let NodeKubernetes::Local(binaries) = kubernetes {
            files.extend(binaries.iter().cloned());
        }
        let mut recipe = Recipe {
            tag: String::new(),
            dockerfile,
            files,
            labels: BTreeMap::new(),
        };
        let hash = recipe.hash();
        recipe.tag = match kubernetes {
            NodeKubernetes::Release(v) => node_image_tag(&KubeSource::Release(v.clone())),
            NodeKubernetes::Local(_) => format!("dind-node:local-{}", &hash[..12]),
            NodeKubernetes::Bare => node_image_tag(&KubeSource::Bare),
        };
        recipe
            .labels
            .insert(labels::IMAGE_KUBERNETES_VERSION.to_string(), version);
        recipe.labels.insert(labels::IMAGE_RECIPE.to_string(), hash);
        recipe
    }

    /// The DNS64/NAT64 support image.
    pub fn support() -> Recipe {
        let files: Vec<ContextFile> = SUPPORT_FILES
            .iter()
            .map(|(p, c)| ContextFile::embedded(p, c))
            .collect();
        let mut recipe = Recipe {
            tag: String::new(),
            dockerfile: SUPPORT_DOCKERFILE.to_string(),
            files,
            labels: BTreeMap::new(),
        };
        let hash = recipe.hash();
        recipe.tag = format!("dind-support:{}", &hash[..12]);
        recipe.labels.insert(labels::IMAGE_RECIPE.to_string(), hash);
        recipe
    }

    /// A hex SHA-256 over the Dockerfile and every file's path, mode and contents.
    pub fn hash(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.dockerfile.as_bytes());
        let mut files: Vec<&ContextFile> = self.files.iter().collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        for file in files {
            hasher.update(file.path.as_bytes());
            hasher.update([0]);
            hasher.update(file.mode.to_be_bytes());
            hasher.update((file.contents.len() as u64).to_be_bytes());
            hasher.update(&file.contents);
        }
        hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The build context as an uncompressed tar, Dockerfile at the root.
    pub fn context_tar(&self) -> anyhow::Result<Vec<u8>> {
        let mut builder = tar::Builder::new(Vec::new());
        let dockerfile = ContextFile {
            path: "Dockerfile".into(),
            contents: self.dockerfile.clone().into_bytes(),
            mode: 0o644,
        };
        for file in std::iter::once(&dockerfile).chain(&self.files) {
            let mut header = tar::Header::new_gnu();
            header.set_size(file.contents.len() as u64);
            header.set_mode(file.mode);
            header.set_mtime(0);
            builder
                .append_data(&mut header, &file.path, file.contents.as_slice())
                .with_context(|| format!("adding {} to the build context", file.path))?;
        }
        builder.into_inner().context("finishing the build context")
    }
}

/// Dockerfile lines that download kubeadm, kubelet and kubectl of a release and check
/// each against the `.sha256` published beside it.
fn release_download(version: &str) -> String {
    format!(
        "ARG KUBERNETES_VERSION={version}\n\
         RUN arch=\"$(dpkg --print-architecture)\" \\\n \
         && base=\"https://dl.k8s.io/release/${{KUBERNETES_VERSION}}/bin/linux/${{arch}}\" \\\n \
         && for bin in {bins}; do \\\n      \
         curl -fsSLo \"/usr/bin/$bin\" \"$base/$bin\" \\\n      \
         && echo \"$(curl -fsSL \"$base/$bin.sha256\")  /usr/bin/$bin\" | sha256sum -c - \\\n      \
         && chmod 0755 \"/usr/bin/$bin\" || exit 1; \\\n    \
         done",
        bins = KUBE_BINARIES.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_labels_follow_the_source() {
        let local = NodeKubernetes::Local(vec![ContextFile {
            path: "kube-bin/kubeadm".into(),
            contents: b"x".to_vec(),
            mode: 0o755,
        }]);
        // (source, tag prefix, version label, mentions dl.k8s.io)
        let table = [
            (
                NodeKubernetes::Release("v1.33.1".into()),
                "dind-node:v1.33.1",
                "v1.33.1",
                true,
            ),
            (NodeKubernetes::Bare, "dind-node:bare", "none", false),
            (local, "dind-node:local-", "local", false),
        ];
        for (source, tag, version, downloads) in table {
            let r = Recipe::node(&source);
            assert!(r.tag.starts_with(tag), "{}", r.tag);
            assert_eq!(r.labels[labels::IMAGE_KUBERNETES_VERSION], version);
            assert_eq!(r.labels[labels::IMAGE_RECIPE], r.hash());
            assert_eq!(r.dockerfile.contains("dl.k8s.io"), downloads);
            assert!(!r.dockerfile.contains(KUBE_BINARIES_MARKER));
            assert!(
                r.dockerfile.starts_with("# The dind node image")
                    && r.dockerfile.contains(&format!("FROM {BASE_IMAGE}"))
            );
        }
    }

    #[test]
    fn release_downloads_are_checked_against_their_sha256() {
        let r = Recipe::node(&NodeKubernetes::Release("v1.37.0".into()));
        assert!(r.dockerfile.contains("sha256sum -c"));
        assert!(r.dockerfile.contains("$base/$bin.sha256"));
        assert!(r.dockerfile.contains("for bin in kubeadm kubelet kubectl"));
    }

    #[test]
    fn the_hash_changes_with_the_recipe_only() {
        let a = Recipe::node(&NodeKubernetes::Bare);
        assert_eq!(a.hash(), Recipe::node(&NodeKubernetes::Bare).hash());
        assert_ne!(
            a.hash(),
            Recipe::node(&NodeKubernetes::Release("v1.37.0".into())).hash()
        );
        let mut changed = a.clone();
        changed.files[0].contents.push(b'\n');
        assert_ne!(a.hash(), changed.hash());
        assert_ne!(Recipe::support().hash(), a.hash());
    }

    #[test]
    fn context_tar_holds_the_dockerfile_and_files() {
        let r = Recipe::support();
        let tar_bytes = r.context_tar().unwrap();
        let mut archive = tar::Archive::new(tar_bytes.as_slice());
        let entries: Vec<(String, u32)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().display().to_string(),
                    e.header().mode().unwrap(),
                )
            })
            .collect();
        assert!(entries.contains(&("Dockerfile".to_string(), 0o644)));
        assert!(entries.contains(&("rootfs/usr/local/bin/dind-nat64".to_string(), 0o755)));
    }

    #[test]
    fn local_binaries_must_all_be_there() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("kubeadm"), b"stand-in").unwrap();
        let err = NodeKubernetes::load(&KubeSource::Local(dir.path().to_path_buf())).unwrap_err();
        assert_eq!(crate::error::exit_code(&err), 2);
        assert!(err.to_string().contains("kubelet is missing"), "{err}");
    }
}
