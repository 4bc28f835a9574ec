//! `load IMAGE...` (alias `copy-image`): host images into every node's containerd, in
//! namespace `k8s.io`, where kubelet finds them.
//!
//! One `docker save` stream of the images is read once and fanned out, chunk by chunk,
//! to a `ctr -n k8s.io images import -` in every node at once; nothing is written to a
//! file, and a slow node slows the stream (bounded channels) rather than filling memory.
//! Each imported image is labelled with Docker's image ID, so a node that already holds
//! that ID under that name is skipped: a second `load` of the same image sends nothing.
//! On a cluster spread over `--docker-hosts`, the stream still comes from the user's
//! engine (the docker options'), and each node imports it on the engine that holds it.

use super::engines::Engines;
use super::inventory::{self, Selector};
use crate::engine::{Engine, HostInfo, Platform};
use crate::error::usage;
use crate::node::Node;
use crate::progress::Progress;
use anyhow::{anyhow, bail};
use futures::StreamExt;
use serde::Serialize;
use std::sync::Arc;

/// The containerd label carrying Docker's image ID.
pub const DOCKER_ID_LABEL: &str = "dind.docker-id";

/// How many chunks may wait for a slow node before the stream waits for it.
const CHANNEL_CHUNKS: usize = 64;

/// What `load` did in one node.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NodeLoad {
    pub node: String,
    /// The images sent to it; empty when it held them all already.
    pub loaded: Vec<String>,
    pub skipped: Vec<String>,
}

/// The reference containerd gives a Docker image name: `docker.io/library/` for official
/// images, `docker.io/` for other Hub images, `:latest` without a tag.
pub fn containerd_ref(image: &str) -> String {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let first = name.split('/').next().unwrap_or_default();
    let has_domain =
        name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let mut full = if has_domain {
        name.to_string()
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    let last = full.rsplit('/').next().unwrap_or_default();
    if digest.is_none() && !last.contains(':') {
        full.push_str(":latest");
    }
    if let Some(d) = digest {
        full = format!("{full}@{d}");
    }
    full
}

/// Loads `images` from the `source` engine into the running nodes of a cluster on
/// `engines` (`only`: these nodes).
pub async fn load(
    source: &Engine,
    engines: &Engines,
    cluster_key: &str,
    images: &[String],
    only: &[String],
    progress: &Progress,
) -> anyhow::Result<Vec<NodeLoad>> {
    let wanted = wanted_images(source, images).await?;
    let targets = target_nodes(engines, cluster_key, only).await?;
    let platform = nodes_platform(source, engines.master(), cluster_key).await?;
    let holdings = missing_images(&targets, &wanted).await?;
    let mut report: Vec<NodeLoad> = targets
        .iter()
        .zip(&holdings)
        .map(|(node, missing)| NodeLoad {
            node: node.name.clone(),
            loaded: missing.clone(),
            skipped: images
                .iter()
                .filter(|i| !missing.contains(i))
                .cloned()
                .collect(),
        })
        .collect();
    let receivers: Vec<&Node> = targets
        .iter()
        .zip(&holdings)
        .filter(|(_, missing)| !missing.is_empty())
        .map(|(node, _)| node)
        .collect();
    if receivers.is_empty() {
        progress.note(format!(
            "Every node already holds {}: nothing to send",
            images.join(", ")
        ));
        return Ok(report);
    }
    let to_send: Vec<&str> = wanted
        .iter()
        .filter(|(image, _, _)| holdings.iter().any(|m| m.contains(image)))
        .map(|(image, _, _)| image.as_str())
        .collect();
    let step = progress.step(format!(
        "Loading {} into {} node(s)",
        to_send.join(", "),
        receivers.len()
    ));
    let result = fan_out(source, &to_send, platform.as_ref(), &receivers, &step).await;
    step.finish(result)?;
    label_loaded(&receivers, &wanted, &to_send).await?;
    for entry in &mut report {
        if receivers.iter().any(|n| n.name == entry.node) {
            entry.loaded = to_send.iter().map(|s| s.to_string()).collect();
            entry.skipped.retain(|i| !entry.loaded.contains(i));
        }
    }
    Ok(report)
}

/// The oldest Docker API whose image export takes a `platform` (moby API CHANGELOG v1.48).
const MIN_API_EXPORT_PLATFORM: (u32, u32) = (1, 48);

/// Whether an export must name the nodes' platform: on Docker's containerd image store
/// an image whose index lists platforms not all present locally (what `docker pull`
/// leaves on Docker 29) cannot be exported whole, so only the nodes' platform is
/// (kind#3795's workaround). The classic store has one platform per image anyway, and
/// an older API has no `platform` to pass.
pub fn exports_one_platform(host: &HostInfo) -> bool {
    host.containerd_store
        && super::preflight::parse_api_version(&host.api_version)
            .is_some_and(|api| api >= MIN_API_EXPORT_PLATFORM)
}

/// The platform to export for from `source`: the one of the cluster's node image (on
/// `master`, the master's engine, which holds it), when [`exports_one_platform`].
async fn nodes_platform(
    source: &Engine,
    master: &Engine,
    cluster_key: &str,
) -> anyhow::Result<Option<Platform>> {
    if !exports_one_platform(&source.host_info().await?) {
        return Ok(None);
    }
    let rows = inventory::nodes(master, &Selector::Cluster(cluster_key.to_string())).await?;
    match rows.first() {
        Some(node) => Ok(Some(master.image_platform(&node.image).await?)),
        None => Ok(None),
    }
}

/// An image to load: its Docker name, its containerd reference and its Docker ID.
type Wanted = (String, String, String);

/// Every image must exist before anything is sent.
async fn wanted_images(engine: &Engine, images: &[String]) -> anyhow::Result<Vec<Wanted>> {
    if images.is_empty() {
        return Err(usage("load needs at least one IMAGE"));
    }
    let mut wanted = Vec::new();
    for image in images {
        let (id, _) = engine.image_id_and_size(image).await?.ok_or_else(|| {
            usage(format!(
                "image {image} does not exist on the Docker host; build it or pull it first"
            ))
        })?;
        wanted.push((image.clone(), containerd_ref(image), id));
    }
    Ok(wanted)
}

/// The running nodes to load into, each on its engine: all of the cluster's, or those
/// named in `only`.
pub(super) async fn target_nodes(
    engines: &Engines,
    cluster_key: &str,
    only: &[String],
) -> anyhow::Result<Vec<Node>> {
    let all: Vec<_> = engines.all().collect();
    let rows = inventory::nodes_on(&all, &Selector::Cluster(cluster_key.to_string())).await?;
    if rows.is_empty() {
        bail!("cluster {cluster_key} has no node containers; is it up?");
    }
    for name in only {
        if !rows.iter().any(|r| &r.name == name) {
            return Err(usage(format!(
                "cluster {cluster_key} has no node named {name}"
            )));
        }
    }
    let targets: Vec<Node> = rows
        .iter()
        .filter(|r| only.is_empty() || only.contains(&r.name))
        .map(|r| Node::new(engines.named(r.engine.as_deref()), &r.name))
        .collect();
    if let Some(r) = rows
        .iter()
        .find(|r| targets.iter().any(|t| t.name == r.name) && r.state != "running")
    {
        bail!(
            "node {} is {}, not running; `unpause` or `up` it first",
            r.name,
            r.state
        );
    }
    Ok(targets)
}

/// Which node lacks which image.
async fn missing_images(targets: &[Node], wanted: &[Wanted]) -> anyhow::Result<Vec<Vec<String>>> {
    futures::future::try_join_all(targets.iter().map(|node| async move {
        let mut missing = Vec::new();
        for (image, reference, id) in wanted {
            if !holds(node, reference, id).await? {
                missing.push(image.clone());
            }
        }
        Ok::<_, anyhow::Error>(missing)
    }))
    .await
}

/// Labels what arrived with Docker's ID, so the next load can skip it.
async fn label_loaded(
    receivers: &[&Node],
    wanted: &[Wanted],
    to_send: &[&str],
) -> anyhow::Result<()> {
    let labels = receivers.iter().map(|node| async move {
        for (image, reference, id) in wanted
            .iter()
            .filter(|(i, _, _)| to_send.contains(&i.as_str()))
        {
            node.run(&[
                "ctr",
                "-n",
                "k8s.io",
                "images",
                "label",
                reference,
                &format!("{DOCKER_ID_LABEL}={id}"),
            ])
            .await
            .map_err(|e| e.context(format!("labelling {image} in {}", node.name)))?;
        }
        Ok::<_, anyhow::Error>(())
    });
    futures::future::try_join_all(labels).await?;
    Ok(())
}

/// Whether `node` holds `reference` imported from Docker image `id`.
async fn holds(node: &Node, reference: &str, id: &str) -> anyhow::Result<bool> {
    let filter = format!("name=={reference},labels.\"{DOCKER_ID_LABEL}\"=={id}");
    let listed = node
        .run(&["ctr", "-n", "k8s.io", "images", "ls", "-q", &filter])
        .await?;
    Ok(listed.lines().any(|l| l.trim() == reference))
}

/// One export stream from `source`, every chunk handed to every node's import on the
/// node's own engine.
async fn fan_out(
    source: &Engine,
    images: &[&str],
    platform: Option<&Platform>,
    nodes: &[&Node],
    step: &crate::progress::Step,
) -> anyhow::Result<()> {
    let argv = ["ctr", "-n", "k8s.io", "images", "import", "-"];
    let mut senders = Vec::new();
    let mut imports = Vec::new();
    for node in nodes {
        let (tx, rx) = tokio::sync::mpsc::channel::<Arc<[u8]>>(CHANNEL_CHUNKS);
        senders.push(tx);
        let engine = node.engine().clone();
        let name = node.name.clone();
        imports.push(tokio::spawn(async move {
            let output = engine.exec_streaming(&name, &argv, rx).await?;
            if output.exit_code != 0 {
                bail!(
                    "`{}` failed in {name} with exit code {}: {}",
                    argv.join(" "),
                    output.exit_code,
                    output.stderr.trim()
                );
            }
            Ok(())
        }));
    }
    let mut stream = Box::pin(source.export_images_stream(images, platform));
    let mut sent: u64 = 0;
    let mut shown = 0;
    let mut export_error = None;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => {
                export_error = Some(e);
                break;
            }
        };
        sent += chunk.len() as u64;
        // A node whose import failed has dropped its receiver; the others go on, and
        // its error is reported below.
        for tx in &senders {
            let _ = tx.send(chunk.clone()).await;
        }
        if sent >> 24 != shown {
            shown = sent >> 24;
            step.detail(format!("{} MiB sent", sent >> 20));
        }
    }
    drop(senders);
    let mut failures = Vec::new();
    for (node, import) in nodes.iter().zip(imports) {
        match import.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(format!("{e:#}")),
            Err(e) => failures.push(format!("the import into {} stopped: {e}", node.name)),
        }
    }
    if let Some(e) = export_error {
        return Err(e);
    }
    if !failures.is_empty() {
        return Err(anyhow!("{}", failures.join("\n")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_containerd_store_on_api_1_48_exports_one_platform() {
        // (containerd store, API, exports one platform)
        let table = [
            (false, "1.51", false),
            (false, "1.41", false),
            (true, "1.47", false),
            (true, "1.48", true),
            (true, "1.51", true),
            (true, "junk", false),
        ];
        for (containerd_store, api, want) in table {
            let host = HostInfo {
                server_version: "x".into(),
                cgroup_version: crate::engine::CgroupVersion::V2,
                storage_driver: "overlayfs".into(),
                docker_root_dir: "/var/lib/docker".into(),
                api_version: api.into(),
                containerd_store,
            };
            assert_eq!(
                exports_one_platform(&host),
                want,
                "{containerd_store} {api}"
            );
        }
    }

    #[test]
    fn containerd_references() {
        let table = [
            ("busybox", "docker.io/library/busybox:latest"),
            ("i9-load:1", "docker.io/library/i9-load:1"),
            ("user/app:2", "docker.io/user/app:2"),
            ("example.com/app", "example.com/app:latest"),
            ("localhost:5000/app:3", "localhost:5000/app:3"),
            ("localhost/app", "localhost/app:latest"),
            ("app@sha256:abc", "docker.io/library/app@sha256:abc"),
        ];
        for (image, reference) in table {
            assert_eq!(containerd_ref(image), reference, "{image}");
        }
    }
}
