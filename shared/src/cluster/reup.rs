//! `reup`: the edit–build–test loop of Kubernetes developers, as kubeadm-dind-cluster had
//! it. New kubeadm, kubelet and kubectl go into every node of a running cluster; for a
//! Kubernetes cluster the kubelets and the control-plane static pods restart and `reup`
//! waits until the control-plane pods run again, on the new images when the tree had
//! them ([`crate::static_pods`]), and the nodes are Ready. No container is recreated, so the cluster keeps
//! its state (etcd, certificates, workloads, files written in the nodes), and it takes
//! seconds, not a new `up`.

use super::inventory::{self, Selector};
use super::reup_images::ReleaseImage;
use crate::error::usage;
use crate::node::{Node, NodeFile};
use crate::progress::Progress;
use crate::settings::Settings;
use crate::static_pods::{wait_for_static_pods, ExpectedPod, StaticPodProgress};
use anyhow::{anyhow, Context};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where the node image keeps the Kubernetes binaries (the Dockerfile's `COPY kube-bin/
/// /usr/bin/`).
pub const NODE_BIN_DIR: &str = "/usr/bin";

pub use super::reup_images::CONTROL_PLANE;

/// How `reup` runs.
#[derive(Debug, Clone)]
pub struct ReupOptions {
    /// Copy the binaries only; restart nothing (a `--nodes-only` cluster).
    pub nodes_only: bool,
    pub wait: Duration,
    /// `--kubeconfig`, when given.
    pub kubeconfig: Option<PathBuf>,
}

/// What `reup` did.
#[derive(Debug, Clone, Serialize)]
pub struct ReupReport {
    pub cluster: String,
    pub nodes: Vec<String>,
    /// The binaries copied, as paths in the nodes.
    pub binaries: Vec<String>,
    /// The control-plane images loaded into every node, by the names kubeadm uses.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    /// Whether kubelet and the control plane were restarted.
    pub restarted: bool,
    pub seconds: f64,
}

impl ReupReport {
    pub fn summary(&self) -> String {
        format!(
            "Refreshed {} in {} node(s) of {} in {:.1}s{}\n",
            self.binaries.join(", "),
            self.nodes.len(),
            self.cluster,
            self.seconds,
            if self.restarted {
                "; kubelet and the control plane restarted, control-plane pods and nodes Ready"
            } else {
                ""
            }
        )
    }
}

/// The files `reup` writes into each node, read from `dir`.
pub fn node_files(dir: &Path) -> anyhow::Result<Vec<NodeFile>> {
    // Only the binaries: control-plane image archives are the node image's business.
    let files = crate::image::local::read_kube_binaries(dir)?;
    Ok(files
        .into_iter()
        .map(|file| {
            let name = file.path.rsplit('/').next().unwrap_or_default().to_string();
            NodeFile {
                path: format!("{NODE_BIN_DIR}/{name}"),
                contents: file.contents,
                mode: 0o755,
            }
        })
        .collect())
}

/// The shell recipe that restarts the control-plane static pods on the master: the
/// manifests move out of the kubelet's static pod directory (the kubelet then stops those
/// pods), and back once the containers are gone (the kubelet starts them again).
pub fn restart_control_plane_script() -> String {
    let components = CONTROL_PLANE.join(" ");
    let pattern = CONTROL_PLANE.join("|");
    format!(
        r#"set -eu
manifests=/etc/kubernetes/manifests
aside=/etc/kubernetes/dind-reup-manifests
mkdir -p "$aside"
for c in {components}; do
  if [ -f "$manifests/$c.yaml" ]; then mv "$manifests/$c.yaml" "$aside/"; fi
done
i=0
while [ -n "$(crictl ps -q --label io.kubernetes.pod.namespace=kube-system --name '^({pattern})$')" ]; do
  i=$((i + 1))
  if [ "$i" -gt 60 ]; then echo "the control-plane containers did not stop within 60s" >&2; break; fi
  sleep 1
done
for f in "$aside"/*.yaml; do
  if [ -e "$f" ]; then mv "$f" "$manifests/"; fi
done
rmdir "$aside"
"#
    )
}

/// Refreshes the binaries of the cluster `settings` names from `dir`.
pub async fn reup(
    engine: &crate::engine::Engine,
    settings: &Settings,
    dir: &Path,
    options: &ReupOptions,
    progress: &Progress,
) -> anyhow::Result<ReupReport> {
    let started = Instant::now();
    let files = node_files(dir)?;
    let images = super::reup_images::release_images(dir)?;
    let key = settings.identity.key();
    let rows = inventory::nodes(engine, &Selector::Cluster(key.clone())).await?;
    if rows.is_empty() {
        return Err(usage(format!(
            "cluster {key} has no node containers: reup refreshes a running cluster; run `up` first"
        )));
    }
    if let Some(stopped) = rows.iter().find(|r| r.state != "running") {
        return Err(usage(format!(
            "node {} of cluster {key} is {}, not running; bring the cluster up first",
            stopped.name, stopped.state
        )));
    }
    let nodes: Vec<Node> = rows.iter().map(|r| Node::new(engine, &r.name)).collect();

    let step = progress.step(format!(
        "Copying {} into {} node(s)",
        files
            .iter()
            .map(|f| f.path.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        nodes.len()
    ));
    let copied =
        futures::future::try_join_all(nodes.iter().map(|node| node.write_files(&files))).await;
    step.finish(copied)?;
    if !images.is_empty() {
        let master = rows
            .iter()
            .zip(&nodes)
            .find(|(row, _)| row.role == "master")
            .map(|(_, node)| node)
            .ok_or_else(|| anyhow!("cluster {key} has no master node"))?;
        let step = progress.step(format!(
            "Loading {} control-plane image(s) into {} node(s)",
            images.len(),
            nodes.len()
        ));
        step.finish(super::reup_images::load(&nodes, master, &images).await)?;
    }

    let mut report = ReupReport {
        cluster: key,
        nodes: rows.iter().map(|r| r.name.clone()).collect(),
        binaries: files.iter().map(|f| f.path.clone()).collect(),
        images: images.iter().map(|i| i.reference.clone()).collect(),
        restarted: false,
        seconds: 0.0,
    };
    if !options.nodes_only {
        restart(settings, &rows, &nodes, &images, options, progress).await?;
        report.restarted = true;
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The control-plane pods the wait expects after a restart: every component, on the image
/// `reup` loaded for it, if any.
pub fn expected_pods(images: &[ReleaseImage]) -> Vec<ExpectedPod> {
    CONTROL_PLANE
        .iter()
        .map(|component| ExpectedPod {
            component: component.to_string(),
            image: images
                .iter()
                .find(|image| super::reup_images::component(&image.reference) == *component)
                .map(|image| image.reference.clone()),
        })
        .collect()
}

/// Restarts kubelet everywhere and the control plane on the master, then waits for the
/// control-plane pods and for Ready.
async fn restart(
    settings: &Settings,
    rows: &[inventory::ContainerRow],
    nodes: &[Node],
    images: &[ReleaseImage],
    options: &ReupOptions,
    progress: &Progress,
) -> anyhow::Result<()> {
    let step = progress.step("Restarting kubelet on every node");
    let restarted = futures::future::try_join_all(nodes.iter().map(|node| async move {
        node.run(&["systemctl", "restart", "kubelet"])
            .await
            .with_context(|| {
                format!(
                    "restarting kubelet in {}; for a cluster made with --nodes-only use reup --nodes-only",
                    node.name
                )
            })
    }))
    .await;
    step.finish(restarted)?;

    let master = rows
        .iter()
        .zip(nodes)
        .find(|(row, _)| row.role == "master")
        .map(|(_, node)| node)
        .ok_or_else(|| anyhow!("cluster {} has no master node", settings.identity.key()))?;
    // The master's clock, not this host's: the kubelet stamps `startedAt` with it, and a
    // remote daemon's machine may disagree with this one.
    let since = master.run(&["date", "+%s"]).await?;
    let since: i64 = since
        .trim()
        .parse()
        .with_context(|| format!("reading the time in {}: {since:?}", master.name))?;
    let step = progress.step(format!("Restarting the control plane on {}", master.name));
    let script = restart_control_plane_script();
    let result = master.run(&["sh", "-c", &script]).await;
    step.finish(result)?;

    let (target, _) = super::kubernetes::kubeconfig_files(options.kubeconfig.as_deref());
    let target = target
        .ok_or_else(|| anyhow!("cannot tell which kubeconfig file to read: no home directory"))?;
    let context = settings.identity.context_name();
    let client = crate::ready::client_for_context(&target, &context).await?;
    let step = progress.step(format!(
        "Waiting up to {}s for {} to run again{}",
        options.wait.as_secs(),
        CONTROL_PLANE.join(", "),
        if images.is_empty() {
            ""
        } else {
            " on the new images"
        }
    ));
    let mut detail = |p: &StaticPodProgress| step.detail(p.to_string());
    let waited = wait_for_static_pods(
        client.clone(),
        &master.name,
        &expected_pods(images),
        since,
        options.wait,
        &mut detail,
    )
    .await;
    step.finish(waited)?;

    let (until, what) = super::kubernetes::wait_target(settings.cni);
    let step = progress.step(format!(
        "Waiting up to {}s for {what}",
        options.wait.as_secs()
    ));
    let names: Vec<String> = rows.iter().map(|r| r.name.clone()).collect();
    let mut detail = |p: &crate::ready::ReadyProgress| step.detail(p.to_string());
    let waited = crate::ready::wait_for(client, &names, until, options.wait, &mut detail).await;
    step.finish(waited)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binaries_land_in_usr_bin_executable() {
        let dir = tempfile::tempdir().unwrap();
        for b in crate::image::recipe::KUBE_BINARIES {
            std::fs::write(dir.path().join(b), format!("#!/bin/sh\necho {b}\n")).unwrap();
        }
        let files = node_files(dir.path()).unwrap();
        let paths: Vec<_> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            ["/usr/bin/kubeadm", "/usr/bin/kubelet", "/usr/bin/kubectl"]
        );
        assert!(files.iter().all(|f| f.mode == 0o755));
        assert_eq!(files[0].contents, b"#!/bin/sh\necho kubeadm\n");
        std::fs::remove_file(dir.path().join("kubelet")).unwrap();
        let err = node_files(dir.path()).unwrap_err();
        assert_eq!(crate::error::exit_code(&err), 2);
    }

    #[test]
    fn the_wait_expects_every_component_on_its_loaded_image() {
        let image = |reference: &str| ReleaseImage {
            file: "x.tar".into(),
            contents: Vec::new(),
            archived_as: reference.into(),
            reference: reference.into(),
        };
        // (images reup loaded, expected image of each component in CONTROL_PLANE order)
        let table: [(Vec<ReleaseImage>, [Option<&str>; 3]); 3] = [
            (Vec::new(), [None, None, None]),
            (
                vec![
                    image("registry.k8s.io/kube-apiserver:v1.99.0"),
                    image("registry.k8s.io/kube-proxy:v1.99.0"),
                ],
                [Some("registry.k8s.io/kube-apiserver:v1.99.0"), None, None],
            ),
            (
                vec![
                    image("registry.k8s.io/kube-scheduler:v1.99.0"),
                    image("registry.k8s.io/kube-controller-manager:v1.99.0"),
                ],
                [
                    None,
                    Some("registry.k8s.io/kube-controller-manager:v1.99.0"),
                    Some("registry.k8s.io/kube-scheduler:v1.99.0"),
                ],
            ),
        ];
        for (images, expected) in table {
            let pods = expected_pods(&images);
            let components: Vec<&str> = pods.iter().map(|p| p.component.as_str()).collect();
            assert_eq!(components, CONTROL_PLANE);
            let got: Vec<Option<&str>> = pods.iter().map(|p| p.image.as_deref()).collect();
            assert_eq!(got, expected);
        }
    }

    #[test]
    fn the_restart_recipe_cycles_only_the_control_plane() {
        let script = restart_control_plane_script();
        for c in CONTROL_PLANE {
            assert!(script.contains(c), "{c}");
        }
        assert!(!script.contains("etcd"), "etcd keeps running");
        assert!(script.contains("'^(kube-apiserver|kube-controller-manager|kube-scheduler)$'"));
        assert!(script.contains(r#"mv "$f" "$manifests/""#));
        // The recipe is valid sh.
        let status = std::process::Command::new("sh")
            .args(["-n", "-c", &script])
            .status()
            .unwrap();
        assert!(status.success());
    }
}
