//! `load --via-registry`: push each image to dind's local registry once, then let every
//! node pull it (through the `hosts.toml` the registry wrote) and give it its original
//! name, so pods that name the image as before find it. The host sends each image once,
//! whatever the number of nodes, and nodes fetch only the layers they lack.

use super::load::{containerd_ref, target_nodes, NodeLoad};
use super::local_registry::CONFIG_PATH;
use super::registries::CERTS_DIR;
use super::registry_ops::local_registry_port;
use crate::engine::Engine;
use crate::error::usage;
use crate::progress::Progress;

/// The image's names in the registry: `(repository the host daemon pushes, tag, the
/// reference nodes pull)`. The host pushes to `127.0.0.1:PORT`, nodes pull
/// `localhost:PORT`; both are the same registry and the same repository path.
pub fn registry_names(image: &str, port: u16) -> (String, String, String) {
    let full = containerd_ref(image);
    let path = full.split_once('/').map_or(full.as_str(), |(_, p)| p);
    let (repo_path, tag) = match path.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r, t),
        _ => (path, "latest"),
    };
    (
        format!("127.0.0.1:{port}/{repo_path}"),
        tag.to_string(),
        format!("localhost:{port}/{repo_path}:{tag}"),
    )
}

/// Loads `images` into the running nodes of a cluster through the local registry.
pub async fn load_via_registry(
    engine: &Engine,
    cluster_key: &str,
    images: &[String],
    only: &[String],
    progress: &Progress,
) -> anyhow::Result<Vec<NodeLoad>> {
    if images.iter().any(|i| i.contains('@')) {
        return Err(usage(
            "load --via-registry takes tagged images, not digests",
        ));
    }
    let port = local_registry_port(engine).await?.ok_or_else(|| {
        usage(format!(
            "load --via-registry needs the local registry; start it with `docker dind registry up` (it writes {CONFIG_PATH} and the nodes' {CERTS_DIR} entries)"
        ))
    })?;
    let targets = target_nodes(&super::engines::Engines::single(engine), cluster_key, only).await?;
    for image in images {
        let (repo, tag, node_ref) = registry_names(image, port);
        let step = progress.step(format!("Pushing {image} to the local registry"));
        let pushed = async {
            engine.tag_image(image, &repo, &tag).await?;
            let result = engine.push_image(&repo, &tag).await;
            engine.remove_image(&format!("{repo}:{tag}")).await?;
            result
        }
        .await;
        step.finish(pushed)?;
        let step = progress.step(format!("Pulling {image} in {} node(s)", targets.len()));
        let name = containerd_ref(image);
        let pulls = targets.iter().map(|node| {
            let (node_ref, name) = (node_ref.clone(), name.clone());
            async move {
                node.run(&[
                    "ctr",
                    "-n",
                    "k8s.io",
                    "images",
                    "pull",
                    "--hosts-dir",
                    CERTS_DIR,
                    &node_ref,
                ])
                .await?;
                node.run(&[
                    "ctr", "-n", "k8s.io", "images", "tag", "--force", &node_ref, &name,
                ])
                .await
                .map(drop)
            }
        });
        step.finish(futures::future::try_join_all(pulls).await)?;
    }
    Ok(targets
        .iter()
        .map(|node| NodeLoad {
            node: node.name.clone(),
            loaded: images.to_vec(),
            skipped: Vec::new(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names_keep_the_repository_path() {
        // (image, pushed repository, tag, node reference)
        let table = [
            (
                "app:1",
                "127.0.0.1:5001/library/app",
                "1",
                "localhost:5001/library/app:1",
            ),
            (
                "me/app",
                "127.0.0.1:5001/me/app",
                "latest",
                "localhost:5001/me/app:latest",
            ),
            (
                "example.com:5000/team/app:v2",
                "127.0.0.1:5001/team/app",
                "v2",
                "localhost:5001/team/app:v2",
            ),
        ];
        for (image, repo, tag, node) in table {
            let got = registry_names(image, 5001);
            assert_eq!(
                got,
                (repo.to_string(), tag.to_string(), node.to_string()),
                "{image}"
            );
        }
    }
}
