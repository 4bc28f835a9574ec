//! The control-plane image archives of a source-tree build (`--kube-binaries DIR`).
//!
//! A from-source Kubernetes version has no registry tags, so its control-plane images
//! exist only as the archives `make quick-release-images` writes to
//! `_output/release-images/<arch>/*.tar`. They go into the node image (`kube-images/`),
//! and each node imports them at first boot (`dind-import-images`).
//!
//! Also [`NodeKubernetes::load`], which reads a source's local binaries and archives, so
//! the recipe itself stays pure.

use super::recipe::{ContextFile, KubeSource, NodeKubernetes, KUBE_BINARIES};
use crate::error::usage;
use anyhow::Context;
use std::path::{Path, PathBuf};

impl NodeKubernetes {
    /// Reads local binaries and image archives: the file I/O the pure recipe leaves out.
    pub fn load(source: &KubeSource, download_url: &str) -> anyhow::Result<NodeKubernetes> {
        Ok(match source {
            KubeSource::Release(version) => NodeKubernetes::Release {
                version: version.clone(),
                download_url: download_url.trim_end_matches('/').to_string(),
            },
            KubeSource::Bare => NodeKubernetes::Bare,
            KubeSource::Local { binaries, images } => {
                let mut files = read_kube_binaries(binaries)?;
                files.extend(read_image_archives(binaries, images.as_deref())?);
                NodeKubernetes::Local(files)
            }
        })
    }
}

/// `kubeadm`, `kubelet` and `kubectl` of `dir`, as `kube-bin/<name>` context files.
pub fn read_kube_binaries(dir: &Path) -> anyhow::Result<Vec<ContextFile>> {
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

/// The Debian/Go name of an architecture, as Kubernetes' `_output` tree uses it.
pub fn kube_arch(rust_arch: &str) -> &str {
    match rust_arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// `_output/release-images/<arch>` of the source tree `binaries` lies in: the nearest
/// ancestor named `_output` (binaries are in `_output/bin` or
/// `_output/dockerized/bin/linux/<arch>`). Pure: whether it exists is not checked.
pub fn default_images_dir(binaries: &Path, arch: &str) -> Option<PathBuf> {
    binaries
        .ancestors()
        .find(|dir| dir.file_name().is_some_and(|n| n == "_output"))
        .map(|output| output.join("release-images").join(arch))
}

/// The `*.tar` archives to preload, as context files under `kube-images/`: those in
/// `explicit` (which must hold at least one), or in the default directory when it exists.
pub fn read_image_archives(
    binaries: &Path,
    explicit: Option<&Path>,
) -> anyhow::Result<Vec<ContextFile>> {
    let dir = match explicit {
        Some(dir) => dir.to_path_buf(),
        None => match default_images_dir(binaries, kube_arch(std::env::consts::ARCH)) {
            Some(dir) if dir.is_dir() => dir,
            _ => return Ok(Vec::new()),
        },
    };
    let mut archives: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "tar") && path.is_file())
        .collect();
    archives.sort();
    if archives.is_empty() && explicit.is_some() {
        return Err(usage(format!(
            "--kube-images {}: no *.tar image archives there",
            dir.display()
        )));
    }
    archives
        .iter()
        .map(|path| {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .with_context(|| format!("{}: not a UTF-8 file name", path.display()))?;
            let contents =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            Ok(ContextFile {
                path: format!("kube-images/{name}"),
                contents,
                mode: 0o644,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_images_dir_is_in_the_source_tree() {
        // (binaries dir, expected images dir)
        let table = [
            (
                "/src/kubernetes/_output/dockerized/bin/linux/amd64",
                Some("/src/kubernetes/_output/release-images/amd64"),
            ),
            (
                "/src/kubernetes/_output/bin",
                Some("/src/kubernetes/_output/release-images/amd64"),
            ),
            ("/opt/kube/bin", None),
        ];
        for (binaries, expected) in table {
            assert_eq!(
                default_images_dir(Path::new(binaries), "amd64"),
                expected.map(PathBuf::from),
                "{binaries}"
            );
        }
        assert_eq!(kube_arch("x86_64"), "amd64");
        assert_eq!(kube_arch("aarch64"), "arm64");
    }

    #[test]
    fn archives_come_from_the_explicit_dir_or_the_tree() {
        let tree = tempfile::tempdir().unwrap();
        let bin = tree.path().join("_output/dockerized/bin/linux/amd64");
        let images = tree
            .path()
            .join("_output/release-images")
            .join(kube_arch(std::env::consts::ARCH));
        std::fs::create_dir_all(&bin).unwrap();
        assert!(
            read_image_archives(&bin, None).unwrap().is_empty(),
            "no tree images: none"
        );
        std::fs::create_dir_all(&images).unwrap();
        std::fs::write(images.join("kube-apiserver.tar"), b"a").unwrap();
        std::fs::write(images.join("README"), b"x").unwrap();
        let found = read_image_archives(&bin, None).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].path, "kube-images/kube-apiserver.tar");
        let empty = tempfile::tempdir().unwrap();
        let err = read_image_archives(&bin, Some(empty.path())).unwrap_err();
        assert_eq!(crate::error::exit_code(&err), 2, "{err}");
    }

    #[test]
    fn local_binaries_must_all_be_there() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("kubeadm"), b"stand-in").unwrap();
        let source = KubeSource::Local {
            binaries: dir.path().to_path_buf(),
            images: None,
        };
        let err = NodeKubernetes::load(&source, super::super::recipe::DEFAULT_KUBE_DOWNLOAD_URL)
            .unwrap_err();
        assert_eq!(crate::error::exit_code(&err), 2);
        assert!(err.to_string().contains("kubelet is missing"), "{err}");
    }
}
