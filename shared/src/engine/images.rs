//! Images: inspect, pull, build, export and remove.

use super::json_stream::{classify, labels_lacking, Next};
use super::Engine;
use anyhow::{anyhow, bail, Context};
use bollard::query_parameters::{BuildImageOptionsBuilder, CreateImageOptionsBuilder};
use futures::{Stream, StreamExt};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// How a build's output stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildEnd {
    /// Every message was read; the last said the build succeeded.
    Complete,
    /// The stream ended unreadably (see [`super::json_stream`]), and the image under the
    /// tag carries every label this build gave it: the build finished.
    JudgedByImage,
}

/// What a ragged end is, in the words errors and notes use.
pub const RAGGED_END: &str =
    "the daemon's output stream ended with bytes bollard could not read (\"bytes remaining on stream\")";

impl Engine {
    /// The labels of an image, or `None` when the image is not present.
    pub async fn image_labels(
        &self,
        image: &str,
    ) -> anyhow::Result<Option<HashMap<String, String>>> {
        match self.docker.inspect_image(image).await {
            Ok(inspect) => Ok(Some(
                inspect.config.and_then(|c| c.labels).unwrap_or_default(),
            )),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("inspecting image {image}")),
        }
    }

    /// An image's `ENTRYPOINT` and `CMD`, empty when unset.
    pub async fn image_entrypoint_and_cmd(
        &self,
        image: &str,
    ) -> anyhow::Result<(Vec<String>, Vec<String>)> {
        let config = self
            .docker
            .inspect_image(image)
            .await
            .with_context(|| format!("inspecting image {image}"))?
            .config
            .unwrap_or_default();
        Ok((
            config.entrypoint.unwrap_or_default(),
            config.cmd.unwrap_or_default(),
        ))
    }

    /// Pulls an image from its registry.
    pub async fn pull_image(&self, image: &str) -> anyhow::Result<()> {
        let options = CreateImageOptionsBuilder::default()
            .from_image(image)
            .build();
        let mut stream = self.docker.create_image(Some(options), None, None);
        while let Some(item) = stream.next().await {
            if let Next::RaggedEnd =
                classify(item).with_context(|| format!("pulling image {image}"))?
            {
                // The pull's messages ended unreadably: the image itself says whether it
                // arrived.
                if self.image_labels(image).await?.is_none() {
                    bail!("pulling image {image}: {RAGGED_END}, and {image} is not there");
                }
                break;
            }
        }
        Ok(())
    }

    /// Builds an image from a tar context with `build_args`; `on_line` sees each line of
    /// build output. A build whose output stream ends unreadably is judged by the image:
    /// it finished when `tag` carries every one of `labels` (the recipe label holds the
    /// recipe's hash, so an older image under the tag does not pass).
    pub async fn build_image(
        &self,
        tag: &str,
        context_tar: Vec<u8>,
        labels: &BTreeMap<String, String>,
        build_args: &BTreeMap<String, String>,
        on_line: &mut (dyn FnMut(&str) + Send),
    ) -> anyhow::Result<BuildEnd> {
        let wanted = labels;
        let labels: HashMap<String, String> = labels.clone().into_iter().collect();
        let build_args: HashMap<String, String> = build_args.clone().into_iter().collect();
        let options = BuildImageOptionsBuilder::default()
            .dockerfile("Dockerfile")
            .t(tag)
            .rm(true)
            .forcerm(true)
            .labels(&labels)
            .buildargs(&build_args)
            .build();
        let mut stream =
            self.docker
                .build_image(options, None, Some(bollard::body_full(context_tar.into())));
        while let Some(item) = stream.next().await {
            let info = match classify(item).with_context(|| format!("building image {tag}"))? {
                Next::Message(info) => info,
                Next::RaggedEnd => return self.judge_build_by_image(tag, wanted).await,
            };
            if let Some(detail) = info.error_detail {
                return Err(anyhow!(
                    "building image {tag}: {}",
                    detail.message.unwrap_or_default()
                ));
            }
            if let Some(text) = info.stream {
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    on_line(line);
                }
            }
        }
        Ok(BuildEnd::Complete)
    }

    /// After a ragged end: the build finished if the tag carries the labels it was given.
    async fn judge_build_by_image(
        &self,
        tag: &str,
        wanted: &BTreeMap<String, String>,
    ) -> anyhow::Result<BuildEnd> {
        let Some(have) = self.image_labels(tag).await? else {
            bail!("building image {tag}: {RAGGED_END}, and no image {tag} exists: the build did not finish");
        };
        let lacking = labels_lacking(wanted, &have);
        if !lacking.is_empty() {
            bail!(
                "building image {tag}: {RAGGED_END}, and the image {tag} lacks this build's label(s) {}: the build did not finish",
                lacking.join(", ")
            );
        }
        Ok(BuildEnd::JudgedByImage)
    }

    /// The bytes of `docker save IMAGE`.
    pub async fn export_image(&self, image: &str) -> anyhow::Result<Vec<u8>> {
        let mut stream = self.docker.export_image(image);
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk.with_context(|| format!("exporting image {image}"))?);
        }
        Ok(out)
    }

    pub async fn remove_image(&self, image: &str) -> anyhow::Result<()> {
        match self
            .docker
            .remove_image(
                image,
                None::<bollard::query_parameters::RemoveImageOptions>,
                None,
            )
            .await
        {
            Ok(_)
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(e).with_context(|| format!("removing image {image}")),
        }
    }

    /// `docker save IMAGE...` as a stream of chunks, never held whole in memory.
    pub fn export_images_stream(
        &self,
        images: &[&str],
    ) -> impl Stream<Item = anyhow::Result<Arc<[u8]>>> + Send + 'static {
        let what = images.join(" ");
        self.docker.export_images(images).map(move |chunk| {
            chunk
                .map(|bytes| Arc::from(&bytes[..]))
                .with_context(|| format!("exporting {what}"))
        })
    }
}
