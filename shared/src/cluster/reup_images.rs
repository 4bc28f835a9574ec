//! `reup`'s control-plane images: the archives `make quick-release-images` writes beside a
//! source tree's binaries (`_output/release-images/<arch>/*.tar`) go into every node's
//! containerd, under the names kubeadm's manifests use, and the master's static pod
//! manifests are pointed at their tags. Without this a rebuilt kube-apiserver,
//! kube-controller-manager or kube-scheduler would never run, and a newer kubelet could
//! end up ahead of the API server, outside the version skew policy. kubeadm-dind-cluster's
//! reup loaded the rebuilt images too (`dind-cluster.sh`, `dind::update-cluster` /
//! `dind::push-binaries`).

use crate::image::local::{kube_arch, read_image_archives};
use crate::node::{Node, NodeFile};
use anyhow::{anyhow, Context};
use std::io::Read;
use std::path::Path;

/// The control-plane components kubeadm runs as static pods, restarted by `reup`. etcd is
/// left running: it is not built from the binaries and holds the cluster's state.
pub const CONTROL_PLANE: [&str; 3] = [
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
];

/// Where the archives are put in a node for the import, and removed from after it.
const NODE_DIR: &str = "/dind/images/reup";

/// Where kubeadm writes the control plane's static pod manifests, one per component.
const MANIFESTS_DIR: &str = "/etc/kubernetes/manifests";

/// One image archive of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseImage {
    pub file: String,
    pub contents: Vec<u8>,
    /// The name the archive gives its image (`registry.k8s.io/kube-apiserver-amd64:TAG`).
    pub archived_as: String,
    /// The name kubeadm's manifests use: the architecture suffix dropped.
    pub reference: String,
}

/// The release-image archives beside the binaries of `dir` (none outside a source tree).
pub fn release_images(dir: &Path) -> anyhow::Result<Vec<ReleaseImage>> {
    let arch = kube_arch(std::env::consts::ARCH);
    read_image_archives(dir, None)?
        .into_iter()
        .map(|file| {
            let name = file.path.rsplit('/').next().unwrap_or_default().to_string();
            let archived_as = archive_reference(&file.contents)
                .with_context(|| format!("reading the image name in {name}"))?;
            Ok(ReleaseImage {
                reference: without_arch(&archived_as, arch),
                archived_as,
                file: name,
                contents: file.contents,
            })
        })
        .collect()
}

/// The first name in the `RepoTags` of a `docker save` archive's `manifest.json`.
pub fn archive_reference(archive: &[u8]) -> anyhow::Result<String> {
    let mut entries = tar::Archive::new(archive);
    for entry in entries.entries().context("reading the archive")? {
        let mut entry = entry.context("reading the archive")?;
        if entry
            .path()
            .ok()
            .is_some_and(|p| p == Path::new("manifest.json"))
        {
            let mut text = String::new();
            entry
                .read_to_string(&mut text)
                .context("reading manifest.json")?;
            let manifest: serde_json::Value =
                serde_json::from_str(&text).context("parsing manifest.json")?;
            return manifest[0]["RepoTags"][0]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| anyhow!("manifest.json names no image"));
        }
    }
    Err(anyhow!("no manifest.json: not a `docker save` archive"))
}

/// `registry.k8s.io/kube-apiserver-amd64:TAG` → `registry.k8s.io/kube-apiserver:TAG`, as
/// the node image's `dind-import-images` renames them at boot.
pub fn without_arch(reference: &str, arch: &str) -> String {
    reference.replacen(&format!("-{arch}:"), ":", 1)
}

/// The component an image is: its last path segment, without the tag.
pub fn component(reference: &str) -> &str {
    let name = reference.rsplit('/').next().unwrap_or(reference);
    name.split(':').next().unwrap_or(name)
}

/// The shell that points a component's static pod manifest at `reference`, when the
/// master runs that component (each manifest has one container, one `image:` line).
pub fn manifest_script(component: &str, reference: &str) -> String {
    format!(
        "f={MANIFESTS_DIR}/{component}.yaml; if [ -f \"$f\" ]; then sed -i 's#^\\( *\\(- *\\)\\{{0,1\\}}image: \\).*#\\1{reference}#' \"$f\"; fi"
    )
}

/// Imports `images` into every node's containerd (namespace `k8s.io`, where the CRI
/// plugin looks) under the names kubeadm uses, and points the master's manifests at the
/// control-plane ones.
pub async fn load(nodes: &[Node], master: &Node, images: &[ReleaseImage]) -> anyhow::Result<()> {
    if images.is_empty() {
        return Ok(());
    }
    let files: Vec<NodeFile> = images
        .iter()
        .map(|image| NodeFile {
            path: format!("{NODE_DIR}/{}", image.file),
            contents: image.contents.clone(),
            mode: 0o644,
        })
        .collect();
    let imports = nodes.iter().map(|node| {
        let files = &files;
        async move {
            node.write_files(files).await?;
            for image in images {
                let path = format!("{NODE_DIR}/{}", image.file);
                node.run(&[
                    "ctr",
                    "-n",
                    "k8s.io",
                    "images",
                    "import",
                    "--digests",
                    &path,
                ])
                .await?;
                if image.reference != image.archived_as {
                    node.run(&[
                        "ctr",
                        "-n",
                        "k8s.io",
                        "images",
                        "tag",
                        "--force",
                        &image.archived_as,
                        &image.reference,
                    ])
                    .await?;
                }
            }
            node.run(&["rm", "-rf", NODE_DIR]).await.map(drop)
        }
    });
    futures::future::try_join_all(imports).await?;
    for image in images {
        let name = component(&image.reference);
        if CONTROL_PLANE.contains(&name) {
            master
                .run(&["sh", "-c", &manifest_script(name, &image.reference)])
                .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docker_save(reference: &str) -> Vec<u8> {
        let manifest = format!(r#"[{{"Config":"c.json","RepoTags":["{reference}"],"Layers":[]}}]"#);
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(manifest.len() as u64);
        header.set_mode(0o644);
        builder
            .append_data(&mut header, "manifest.json", manifest.as_bytes())
            .unwrap();
        builder.into_inner().unwrap()
    }

    #[test]
    fn archives_name_their_image_and_kubeadm_names_it_without_the_arch() {
        let archive = docker_save("registry.k8s.io/kube-apiserver-amd64:v1.99.0-dirty");
        let archived = archive_reference(&archive).unwrap();
        assert_eq!(
            archived,
            "registry.k8s.io/kube-apiserver-amd64:v1.99.0-dirty"
        );
        // (archived as, arch, kubeadm's name, component)
        let table = [
            (
                "registry.k8s.io/kube-apiserver-amd64:v1.99.0-dirty",
                "amd64",
                "registry.k8s.io/kube-apiserver:v1.99.0-dirty",
                "kube-apiserver",
            ),
            (
                "registry.k8s.io/kube-scheduler:v1.99.0",
                "amd64",
                "registry.k8s.io/kube-scheduler:v1.99.0",
                "kube-scheduler",
            ),
            (
                "registry.k8s.io/kube-proxy-arm64:v1.99.0",
                "arm64",
                "registry.k8s.io/kube-proxy:v1.99.0",
                "kube-proxy",
            ),
        ];
        for (archived, arch, reference, name) in table {
            assert_eq!(without_arch(archived, arch), reference);
            assert_eq!(component(reference), name);
        }
        assert!(archive_reference(b"not a tar at all, not even close........").is_err());
    }

    #[test]
    fn the_manifest_script_sets_the_image_line() {
        let dir = tempfile::tempdir().unwrap();
        let script = manifest_script("kube-apiserver", "registry.k8s.io/kube-apiserver:v1.99.0")
            .replace(MANIFESTS_DIR, dir.path().to_str().unwrap());
        let manifest = dir.path().join("kube-apiserver.yaml");
        std::fs::write(
            &manifest,
            "spec:\n  containers:\n  - command:\n    - kube-apiserver\n    image: registry.k8s.io/kube-apiserver:v1.33.0\n    name: kube-apiserver\n",
        )
        .unwrap();
        let status = std::process::Command::new("sh")
            .args(["-c", &script])
            .status()
            .unwrap();
        assert!(status.success());
        let text = std::fs::read_to_string(&manifest).unwrap();
        assert!(
            text.contains("    image: registry.k8s.io/kube-apiserver:v1.99.0\n"),
            "{text}"
        );
        assert!(text.contains("    - kube-apiserver\n"), "{text}");
        // No manifest (a worker, a nodes-only cluster): nothing to do, no error.
        std::fs::remove_file(&manifest).unwrap();
        let status = std::process::Command::new("sh")
            .args(["-c", &script])
            .status()
            .unwrap();
        assert!(status.success());
    }
}
