//! Tagging an image and pushing it to a registry: how `load --via-registry` hands an
//! image to dind's local registry once, instead of importing it into every node.

use super::Engine;
use anyhow::Context;
use bollard::query_parameters::{PushImageOptionsBuilder, TagImageOptionsBuilder};
use futures::StreamExt;

impl Engine {
    /// Gives `image` the further name `repo:tag`.
    pub async fn tag_image(&self, image: &str, repo: &str, tag: &str) -> anyhow::Result<()> {
        let options = TagImageOptionsBuilder::default()
            .repo(repo)
            .tag(tag)
            .build();
        self.docker
            .tag_image(image, Some(options))
            .await
            .with_context(|| format!("tagging {image} as {repo}:{tag}"))
    }

    /// Pushes `repo:tag` to the registry its name starts with. The daemon reports a
    /// failed push inside the stream, so every message is checked.
    pub async fn push_image(&self, repo: &str, tag: &str) -> anyhow::Result<()> {
        let options = PushImageOptionsBuilder::default().tag(tag).build();
        let mut stream = self.docker.push_image(repo, Some(options), None);
        while let Some(item) = stream.next().await {
            let info = item.with_context(|| format!("pushing {repo}:{tag}"))?;
            if let Some(error) = info.error_detail.and_then(|d| d.message) {
                anyhow::bail!("pushing {repo}:{tag}: {error}");
            }
        }
        Ok(())
    }
}
