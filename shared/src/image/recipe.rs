//! Image recipes as data: a Dockerfile plus the files of its build context, hashed so
//! that an unchanged recipe is reused rather than rebuilt.
//!
//! The files ship inside the binary (`files/`), so `docker dind build-image` needs
//! nothing from the source tree.

use crate::names::labels;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The image every dind image starts from. Without a registry it can be made locally;
/// see [`BASE_IMAGE_HINT`].
pub const BASE_IMAGE: &str = "debian:trixie-slim";

/// How to provide [`BASE_IMAGE`] on a machine that cannot pull it.
pub const BASE_IMAGE_HINT: &str =
    "debootstrap --variant=minbase trixie /tmp/dind-rootfs http://deb.debian.org/debian \
     && tar -C /tmp/dind-rootfs -c . | docker import - debian:trixie-slim";

/// The Kubernetes binaries a node image needs in its PATH.
pub const KUBE_BINARIES: [&str; 3] = ["kubeadm", "kubelet", "kubectl"];

/// Where the official release downloads live (`DIND_KUBE_DOWNLOAD_URL` changes it, for a
/// mirror): `<url>/<version>/bin/linux/<arch>/<binary>`, each with a `.sha256` beside it.
pub const DEFAULT_KUBE_DOWNLOAD_URL: &str = "https://dl.k8s.io/release";

/// Where the node image's Kubernetes binaries come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KubeSource {
    /// The official release downloads for this version, each checked against its `.sha256`.
    Release(String),
    /// `kubeadm`, `kubelet` and `kubectl` from a local directory (build-from-source
    /// workflow), with the control-plane image archives from `images` or, by default, from
    /// the `_output/release-images/<arch>/` of the source tree `binaries` lies in.
    Local {
        binaries: PathBuf,
        images: Option<PathBuf>,
    },
    /// No Kubernetes at all: nodes boot and run containers, for `up --nodes-only`.
    Bare,
}

/// The tag of the node image for a release or a bare build. Local builds are tagged by
/// their recipe hash instead (see [`Recipe::node`]).
pub fn node_image_tag(source: &KubeSource) -> String {
    match source {
        KubeSource::Release(version) => format!("dind-node:{version}"),
        KubeSource::Local { .. } => "dind-node:local".to_string(),
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

/// The containerd configuration the node image starts from (its build then sets the
/// sandbox image of the Kubernetes release).
pub const NODE_CONTAINERD_CONFIG: &str =
    include_str!("files/rootfs-node/etc/containerd/config.toml");

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
    "rootfs/etc/systemd/system/dind-images.service" => "files/rootfs-node/etc/systemd/system/dind-images.service",
    "rootfs/usr/local/bin/dind-import-images" => "files/rootfs-node/usr/local/bin/dind-import-images",
    "rootfs/usr/local/bin/dind-entrypoint" => "files/rootfs-node/usr/local/bin/dind-entrypoint",
};

const SUPPORT_FILES: &[(&str, &[u8])] = embedded_files! {
    "rootfs/usr/local/bin/dind-dns64" => "files/rootfs-support/usr/local/bin/dind-dns64",
    "rootfs/usr/local/bin/dind-nat64" => "files/rootfs-support/usr/local/bin/dind-nat64",
};

const NODE_DOCKERFILE: &str = include_str!("files/node.Dockerfile");
const SUPPORT_DOCKERFILE: &str = include_str!("files/support.Dockerfile");
const LOAD_BALANCER_DOCKERFILE: &str = include_str!("files/lb.Dockerfile");
const REGISTRY_DOCKERFILE: &str = include_str!("files/registry.Dockerfile");
const KUBE_BINARIES_MARKER: &str = "KUBE_BINARIES";

/// The Kubernetes part of a node recipe, with local files already read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKubernetes {
    Release {
        version: String,
        /// [`DEFAULT_KUBE_DOWNLOAD_URL`] or a mirror of it.
        download_url: String,
    },
    /// The binaries (`kube-bin/`) and any control-plane image archives (`kube-images/`).
    Local(Vec<ContextFile>),
    Bare,
}

/// A whole build: Dockerfile, context files, tag and labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipe {
    pub tag: String,
    pub dockerfile: String,
    pub files: Vec<ContextFile>,
    /// What the image says it holds: [`labels::IMAGE_KUBERNETES_VERSION`] and [`labels::IMAGE_RECIPE`].
    pub labels: BTreeMap<String, String>,
    /// Build args that do not change what is built (proxies); not part of the hash.
    pub build_args: BTreeMap<String, String>,
}

impl Recipe {
    /// The node image for a Kubernetes source.
    pub fn node(kubernetes: &NodeKubernetes) -> Recipe {
        let (instructions, version) = match kubernetes {
            NodeKubernetes::Release { version, .. } => (
                [
                    "COPY --from=kube-download /out/ /usr/bin/",
                    PAUSE_PIN,
                    RELEASE_IMAGES,
                ]
                .join("\n"),
                version.clone(),
            ),
            NodeKubernetes::Local(files) => {
                let mut lines = vec!["COPY kube-bin/ /usr/bin/", PAUSE_PIN];
                if files.iter().any(|f| f.path.starts_with("kube-images/")) {
                    lines.push("COPY kube-images/ /dind/images/");
                }
                (lines.join("\n"), "local".to_string())
            }
            NodeKubernetes::Bare => (
                "# Bare: no Kubernetes binaries, for up --nodes-only.".to_string(),
                "none".to_string(),
            ),
        };
        let mut dockerfile = NODE_DOCKERFILE.replace(KUBE_BINARIES_MARKER, &instructions);
        if let NodeKubernetes::Release {
            version,
            download_url,
        } = kubernetes
        {
            // The downloads come first, in their own small stage: a download that cannot
            // work fails the build in seconds, before the node's packages are installed.
            let stage = release_download(version, download_url);
            dockerfile = dockerfile.replacen(
                &format!("FROM {BASE_IMAGE} AS node"),
                &format!("{stage}\n\nFROM {BASE_IMAGE} AS node"),
                1,
            );
        }
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
            build_args: BTreeMap::new(),
        };
        let hash = recipe.hash();
        recipe.tag = match kubernetes {
            NodeKubernetes::Release { version, .. } => {
                node_image_tag(&KubeSource::Release(version.clone()))
            }
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
            build_args: BTreeMap::new(),
        };
        let hash = recipe.hash();
        recipe.tag = format!("dind-support:{}", &hash[..12]);
        recipe.labels.insert(labels::IMAGE_RECIPE.to_string(), hash);
        recipe
    }

    /// The load balancer image of clusters with several masters (HAProxy).
    pub fn load_balancer() -> Recipe {
        Recipe::dockerfile_only("dind-lb", LOAD_BALANCER_DOCKERFILE)
    }

    /// The image of `docker dind registry`: Debian's distribution registry, configured
    /// by a file dind writes into each container.
    pub fn registry() -> Recipe {
        Recipe::dockerfile_only("dind-registry", REGISTRY_DOCKERFILE)
    }

    /// An image built from a Dockerfile alone, tagged `repository:` and its hash.
    fn dockerfile_only(repository: &str, dockerfile: &str) -> Recipe {
        let mut recipe = Recipe {
            tag: String::new(),
            dockerfile: dockerfile.to_string(),
            files: Vec::new(),
            labels: BTreeMap::new(),
            build_args: BTreeMap::new(),
        };
        let hash = recipe.hash();
        recipe.tag = format!("{repository}:{}", &hash[..12]);
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

/// What a failed download prints in the build, for [`super::build`] to find: the marker,
/// then the URL.
pub const DOWNLOAD_FAILED_MARKER: &str = "dind-download-failed:";

/// The `kube-download` stage: kubeadm, kubelet and kubectl of a release from
/// `download_url`, each checked against the `.sha256` published beside it, and crictl,
/// which dumps and users want (kubeadm 1.30 and older required it), from the cri-tools
/// release downloads, checked the same way (Debian has no cri-tools package; crictl works
/// with any CRI runtime of its generation or later, so one pin serves every supported
/// release). All land in `/out`. The predefined build args `HTTP_PROXY`/`HTTPS_PROXY`/
/// `NO_PROXY` reach apt and curl as environment.
fn release_download(version: &str, download_url: &str) -> String {
    format!(
        "FROM {BASE_IMAGE} AS kube-download\n\
         RUN apt-get update && apt-get install -y --no-install-recommends curl ca-certificates && mkdir /out\n\
         ARG KUBERNETES_VERSION={version}\n\
         ARG KUBE_DOWNLOAD_URL={download_url}\n\
         RUN arch=\"$(dpkg --print-architecture)\" \\\n \
         && base=\"${{KUBE_DOWNLOAD_URL}}/${{KUBERNETES_VERSION}}/bin/linux/${{arch}}\" \\\n \
         && for bin in {bins}; do \\\n      \
         {{ curl -fsSL --connect-timeout 10 -o \"/out/$bin\" \"$base/$bin\" \\\n      \
         && sum=\"$(curl -fsSL --connect-timeout 10 \"$base/$bin.sha256\")\"; }} \\\n      \
         || {{ echo \"{DOWNLOAD_FAILED_MARKER} $base/$bin\"; exit 1; }}; \\\n      \
         echo \"$sum  /out/$bin\" | sha256sum -c - && chmod 0755 \"/out/$bin\" || exit 1; \\\n    \
         done\n\
         {CRICTL_DOWNLOAD}",
        bins = KUBE_BINARIES.join(" ")
    )
}

const CRICTL_DOWNLOAD: &str = r#"ARG CRICTL_VERSION=v1.34.0
RUN arch="$(dpkg --print-architecture)" \
 && url="https://github.com/kubernetes-sigs/cri-tools/releases/download/${CRICTL_VERSION}/crictl-${CRICTL_VERSION}-linux-${arch}.tar.gz" \
 && { curl -fsSL --connect-timeout 10 -o /tmp/crictl.tar.gz "$url" && sum="$(curl -fsSL --connect-timeout 10 "$url.sha256")"; } \
 || { echo "dind-download-failed: $url"; exit 1; }; \
 echo "${sum%% *}  /tmp/crictl.tar.gz" | sha256sum -c - \
 && tar -C /out -xzf /tmp/crictl.tar.gz crictl && rm /tmp/crictl.tar.gz"#;

/// Pins containerd's sandbox (pause) image to the one this kubeadm expects, from
/// `kubeadm config images list` at build time (the version is passed so that kubeadm
/// asks no server which release is stable).
const PAUSE_PIN: &str = r#"RUN pause="$(kubeadm config images list --kubernetes-version "$(kubeadm version -o short)" | grep '/pause:')" \
 && [ "$(printf '%s\n' "$pause" | wc -l)" = 1 ] && [ -n "$pause" ] \
 || { echo "kubeadm config images list names no single pause image: $pause"; exit 1; }; \
 sed -i "s|^\( *sandbox = \).*|\1'$pause'|" /etc/containerd/config.toml \
 && grep -qF "sandbox = '$pause'" /etc/containerd/config.toml"#;

/// The control-plane images `kubeadm config images list` names, as archives in the image
/// at `/dind/images`, which each node imports into containerd at its first boot
/// (`dind-images.service`), so that `kubeadm init` pulls nothing. A separate stage
/// fetches them with skopeo (no daemon needed), so the node image carries the archives
/// but not skopeo. They stay outside the node volume's path (`/var`), so creating a
/// node does not copy them into its volume, and only Kubernetes nodes import them.
const RELEASE_IMAGES: &str = r#"FROM debian:trixie-slim AS control-plane-images
COPY --from=node /usr/bin/kubeadm /usr/bin/kubeadm
RUN apt-get update && apt-get install -y --no-install-recommends skopeo ca-certificates \
 && mkdir /images \
 && for image in $(kubeadm config images list --kubernetes-version "$(kubeadm version -o short)"); do \
      name="$(echo "$image" | tr '/:' '__')"; \
      skopeo copy --retry-times 3 "docker://$image" "docker-archive:/images/$name.tar:$image" \
      || { echo "dind-download-failed: https://${image%%/*} ($image)"; exit 1; }; \
    done
FROM node
COPY --from=control-plane-images /images/ /dind/images/"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn release(version: &str) -> NodeKubernetes {
        NodeKubernetes::Release {
            version: version.into(),
            download_url: DEFAULT_KUBE_DOWNLOAD_URL.into(),
        }
    }

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
                NodeKubernetes::Release {
                    version: "v1.33.1".into(),
                    download_url: DEFAULT_KUBE_DOWNLOAD_URL.into(),
                },
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
        let r = Recipe::node(&release("v1.37.0"));
        assert!(r.dockerfile.contains("sha256sum -c"));
        assert!(r.dockerfile.contains("$base/$bin.sha256"));
        assert!(r.dockerfile.contains("for bin in kubeadm kubelet kubectl"));
    }

    #[test]
    fn release_images_carry_crictl_the_pause_pin_and_preloaded_images() {
        let mirror = NodeKubernetes::Release {
            version: "v1.37.0".into(),
            download_url: "http://mirror.example/k8s".into(),
        };
        let r = Recipe::node(&mirror);
        let d = &r.dockerfile;
        assert!(
            d.contains("ARG KUBE_DOWNLOAD_URL=http://mirror.example/k8s"),
            "{d}"
        );
        assert!(!d.contains("dl.k8s.io"), "the mirror replaces the default");
        assert!(d.contains("crictl-${CRICTL_VERSION}-linux-${arch}.tar.gz"));
        assert!(d.contains("\"$url.sha256\""), "crictl is checked by sha256");
        assert!(d.contains("kubeadm config images list --kubernetes-version"));
        assert!(
            d.contains("sandbox = "),
            "the pause pin is written into containerd's config"
        );
        assert!(d.contains("FROM debian:trixie-slim AS node"));
        assert!(d.contains("COPY --from=control-plane-images /images/ /dind/images/"));
        // The final stage is the node, so the image runs systemd.
        let last_from = d.rfind("\nFROM ").unwrap();
        assert!(d[last_from..].starts_with("\nFROM node\n"), "{d}");
        assert!(d
            .trim_end()
            .ends_with("ENTRYPOINT [\"/usr/local/bin/dind-entrypoint\"]"));
        assert_ne!(
            r.hash(),
            Recipe::node(&release("v1.37.0")).hash(),
            "the URL is part of the recipe"
        );
    }

    #[test]
    fn local_builds_pin_pause_and_copy_image_archives_when_they_have_some() {
        let bin = ContextFile {
            path: "kube-bin/kubeadm".into(),
            contents: b"x".to_vec(),
            mode: 0o755,
        };
        let archive = ContextFile {
            path: "kube-images/a.tar".into(),
            contents: b"t".to_vec(),
            mode: 0o644,
        };
        let without = Recipe::node(&NodeKubernetes::Local(vec![bin.clone()]));
        let with = Recipe::node(&NodeKubernetes::Local(vec![bin, archive]));
        for r in [&without, &with] {
            assert!(r.dockerfile.contains("kubeadm config images list"));
            assert!(!r.dockerfile.contains("skopeo"), "nothing is downloaded");
        }
        assert!(!without.dockerfile.contains("kube-images/"));
        assert!(with.dockerfile.contains("COPY kube-images/ /dind/images/"));
        let bare = Recipe::node(&NodeKubernetes::Bare);
        assert!(!bare.dockerfile.contains("/dind/images"));
    }

    #[test]
    fn the_hash_changes_with_the_recipe_only() {
        let a = Recipe::node(&NodeKubernetes::Bare);
        assert_eq!(a.hash(), Recipe::node(&NodeKubernetes::Bare).hash());
        assert_ne!(a.hash(), Recipe::node(&release("v1.37.0")).hash());
        let mut changed = a.clone();
        changed.files[0].contents.push(b'\n');
        assert_ne!(a.hash(), changed.hash());
        assert_ne!(Recipe::support().hash(), a.hash());
        let registry = Recipe::registry();
        assert!(registry.tag.starts_with("dind-registry:"));
        assert!(registry.dockerfile.contains("docker-registry"));
        assert_ne!(registry.hash(), Recipe::support().hash());
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
}
