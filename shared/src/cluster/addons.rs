//! After the cluster is ready: the default StorageClass (unless `--no-storage`) and the
//! `--addons`, applied with the master's own kubectl and the admin kubeconfig kubeadm
//! wrote. dind's pinned manifests ([`crate::manifests`]) and user files go in on stdin
//! (`kubectl apply -f -`); URLs are fetched by kubectl in the master.
//!
//! kind does the same for its default StorageClass: `kubectl
//! --kubeconfig=/etc/kubernetes/admin.conf apply -f -` on the first control-plane node
//! (kubernetes-sigs/kind `pkg/cluster/internal/create/actions/installstorage/storage.go`).
//!
//! This is a recipe on this project's machines (no Kubernetes server binaries here):
//! the rendered manifests are unit-tested, the apply runs on a real cluster only.

use super::run::Run;
use crate::kubeadm::ADMIN_CONF;
use crate::manifests::{self, Addon};
use crate::node::Node;
use anyhow::Context;

/// Applies the storage manifest and the addons, in that order.
pub async fn apply(run: &Run<'_>, master: &Node) -> anyhow::Result<()> {
    let Run {
        settings, progress, ..
    } = *run;
    if !settings.no_storage {
        let step = progress.step(format!(
            "Installing the default StorageClass {} ({} {})",
            manifests::STORAGE_CLASS,
            manifests::STORAGE.name,
            manifests::STORAGE.version
        ));
        step.finish(apply_text(master, manifests::render(&manifests::STORAGE)).await)?;
    }
    for addon in manifests::parse_addons(&settings.addons, settings.skip_dashboard)? {
        let (what, result) = match &addon {
            Addon::Predefined(pinned) => (
                format!("{} {}", pinned.name, pinned.version),
                Some(manifests::render(pinned)),
            ),
            Addon::File(path) => (
                path.display().to_string(),
                Some(
                    std::fs::read_to_string(path)
                        .with_context(|| format!("reading addon {}", path.display()))?,
                ),
            ),
            Addon::Url(url) => (url.clone(), None),
        };
        let step = progress.step(format!("Applying addon {what}"));
        let applied = match result {
            Some(text) => apply_text(master, text).await,
            None => match &addon {
                Addon::Url(url) => master
                    .run(&["kubectl", "--kubeconfig", ADMIN_CONF, "apply", "-f", url])
                    .await
                    .map(drop),
                _ => Ok(()),
            },
        };
        step.finish(applied)?;
    }
    Ok(())
}

async fn apply_text(master: &Node, text: String) -> anyhow::Result<()> {
    master
        .exec_with_input(
            &["kubectl", "--kubeconfig", ADMIN_CONF, "apply", "-f", "-"],
            text.into_bytes(),
        )
        .await
        .map(drop)
}
