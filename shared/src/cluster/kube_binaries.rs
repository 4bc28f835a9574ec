//! Node images from Kubernetes binaries on this machine: `DIND_K8S_BIN_DIR`, or a source
//! tree's `_output/…/bin` for kubeadm-dind-cluster's `BUILD_KUBEADM`/`BUILD_HYPERKUBE`.
//! The image is the one `build-image --kube-binaries DIR` makes from the same directory.

use crate::error::usage;
use crate::image::recipe::KUBE_BINARIES;
use crate::image::{KubeSource, NodeKubernetes, Recipe};
use crate::settings::kdc::KubeBinaries;
use crate::settings::Settings;
use std::path::PathBuf;

/// Go's name for this machine's architecture, as Kubernetes' `_output` paths use it.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// The directory that holds kubeadm, kubelet and kubectl: the first candidate of
/// [`KubeBinaries::candidate_dirs`] that has all three.
pub fn resolve_dir(binaries: &KubeBinaries) -> anyhow::Result<PathBuf> {
    let candidates = binaries.candidate_dirs(go_arch());
    if let Some(dir) = candidates
        .iter()
        .find(|dir| KUBE_BINARIES.iter().all(|b| dir.join(b).is_file()))
    {
        return Ok(dir.clone());
    }
    let looked = candidates
        .iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    Err(usage(match binaries {
        KubeBinaries::Dir(dir) => format!(
            "--kube-binaries or DIND_K8S_BIN_DIR {}: it must hold kubeadm, kubelet and kubectl",
            dir.display()
        ),
        KubeBinaries::SourceTree { root, .. } => format!(
            "BUILD_KUBEADM/BUILD_HYPERKUBE: no kubeadm, kubelet and kubectl in the source tree {} \
             (looked in {looked}); build them first with `make WHAT='cmd/kubeadm cmd/kubelet cmd/kubectl'` \
             in KUBE_ROOT, or set DIND_K8S_BIN_DIR",
            root.display()
        ),
    }))
}

/// When the settings take the node image from local binaries, reads them, names the
/// image after their recipe hash (`dind-node:local-…`) and settles the directory, so the
/// plan (and `--dry-run`) shows the image `up` will build. A missing binary fails here,
/// before anything is created.
pub fn pin_local_image(settings: &mut Settings) -> anyhow::Result<()> {
    let Some(binaries) = &settings.kdc.kube_binaries else {
        return Ok(());
    };
    if settings.image.is_some() {
        return Ok(());
    }
    let dir = resolve_dir(binaries)?;
    let source = KubeSource::Local {
        binaries: dir.clone(),
        images: None,
    };
    let recipe = Recipe::node(&NodeKubernetes::load(&source, &settings.kube_download_url)?);
    settings.image = Some(recipe.tag);
    settings.kdc.kube_binaries = Some(KubeBinaries::Dir(dir));
    Ok(())
}

/// The source `up` builds the node image from when the settings name a binary directory.
pub fn local_source(settings: &Settings) -> Option<KubeSource> {
    match &settings.kdc.kube_binaries {
        Some(KubeBinaries::Dir(dir)) => Some(KubeSource::Local {
            binaries: dir.clone(),
            images: None,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_tree_binaries_are_found_or_named() {
        let tree = tempfile::tempdir().unwrap();
        let binaries = KubeBinaries::SourceTree {
            root: tree.path().to_path_buf(),
            local_first: false,
        };
        let err = resolve_dir(&binaries).unwrap_err();
        assert_eq!(crate::error::exit_code(&err), 2);
        assert!(err.to_string().contains("make WHAT="), "{err}");
        let bin = tree
            .path()
            .join(format!("_output/local/bin/linux/{}", go_arch()));
        std::fs::create_dir_all(&bin).unwrap();
        for b in KUBE_BINARIES {
            std::fs::write(bin.join(b), b).unwrap();
        }
        assert_eq!(resolve_dir(&binaries).unwrap(), bin);

        let mut settings = Settings::from_env_pairs(&[
            ("BUILD_KUBEADM", "y"),
            ("KUBE_ROOT", tree.path().to_str().unwrap()),
        ])
        .unwrap();
        pin_local_image(&mut settings).unwrap();
        let image = settings.image.clone().unwrap();
        assert!(image.starts_with("dind-node:local-"), "{image}");
        assert_eq!(
            local_source(&settings),
            Some(KubeSource::Local {
                binaries: bin,
                images: None
            })
        );
    }
}
