//! A container's state as a whole: commit it to an image (snapshots), pause and unpause
//! it, and find images by label.

use super::{label_filters, Engine};
use anyhow::Context;
use bollard::query_parameters::{
    CommitContainerOptionsBuilder, InspectContainerOptions, ListImagesOptionsBuilder,
};
use std::collections::{BTreeMap, HashMap};

/// An image as listed.
#[derive(Debug, Clone)]
pub struct ImageRow {
    pub id: String,
    pub tags: Vec<String>,
    pub labels: HashMap<String, String>,
}

/// What a snapshot must know of a node container beyond its plan.
#[derive(Debug, Clone)]
pub struct ContainerDetails {
    /// The ID of the image it was created from.
    pub image_id: String,
    pub privileged: bool,
    pub binds: Vec<String>,
    /// Docker's restart policy name (`unless-stopped`, `on-failure`, ...).
    pub restart_policy: String,
    /// Where volumes, binds and tmpfs are mounted: not part of the container's layer.
    pub mount_points: Vec<String>,
}

/// How a path of a container differs from its image (Docker's `changes` kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileChange {
    Modified,
    Added,
    Deleted,
}

impl Engine {
    /// Commits a container's filesystem (volumes excluded) to `image`, adding `labels`.
    /// Docker pauses the container while it copies, so the image is consistent.
    pub async fn commit_container(
        &self,
        container: &str,
        image: &str,
        labels: &BTreeMap<String, String>,
    ) -> anyhow::Result<String> {
        self.commit_container_with(container, image, labels, &[])
            .await
    }

    /// [`Self::commit_container`], also applying Dockerfile instructions such as
    /// `ENTRYPOINT [...]` to the image's configuration.
    pub async fn commit_container_with(
        &self,
        container: &str,
        image: &str,
        labels: &BTreeMap<String, String>,
        instructions: &[String],
    ) -> anyhow::Result<String> {
        let (repo, tag) = image.rsplit_once(':').unwrap_or((image, "latest"));
        // Labels go in as a Dockerfile `LABEL` change; values are quoted JSON strings.
        // Docker joins its `changes` with newlines and parses them as a Dockerfile.
        let mut changes: Vec<String> = instructions.to_vec();
        if !labels.is_empty() {
            let pairs: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}={}", serde_json::Value::String(v.clone())))
                .collect();
            changes.push(format!("LABEL {}", pairs.join(" ")));
        }
        let changes = changes.join("\n");
        let options = CommitContainerOptionsBuilder::default()
            .container(container)
            .repo(repo)
            .tag(tag)
            .pause(true)
            .changes(&changes)
            .build();
        let response = self
            .docker
            .commit_container(options, bollard::models::ContainerConfig::default())
            .await
            .with_context(|| format!("committing container {container} to {image}"))?;
        Ok(response.id)
    }

    /// Images carrying all the given labels.
    pub async fn images(&self, labels: &[(&str, &str)]) -> anyhow::Result<Vec<ImageRow>> {
        let options = ListImagesOptionsBuilder::default()
            .filters(&label_filters(labels))
            .build();
        let list = self
            .docker
            .list_images(Some(options))
            .await
            .context("listing Docker images")?;
        Ok(list
            .into_iter()
            .map(|i| ImageRow {
                id: i.id,
                tags: i.repo_tags,
                labels: i.labels,
            })
            .collect())
    }

    /// An image's ID and size in bytes, or `None` when it is not present.
    pub async fn image_id_and_size(&self, image: &str) -> anyhow::Result<Option<(String, u64)>> {
        match self.docker.inspect_image(image).await {
            Ok(inspect) => Ok(Some((
                inspect.id.unwrap_or_default(),
                inspect.size.unwrap_or(0).max(0) as u64,
            ))),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("inspecting image {image}")),
        }
    }

    pub async fn container_details(&self, name: &str) -> anyhow::Result<ContainerDetails> {
        let inspect = self
            .docker
            .inspect_container(name, None::<InspectContainerOptions>)
            .await
            .with_context(|| format!("inspecting container {name}"))?;
        let host = inspect.host_config.unwrap_or_default();
        let mount_points = inspect
            .mounts
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| m.destination)
            .chain(host.tmpfs.clone().unwrap_or_default().into_keys())
            .collect();
        Ok(ContainerDetails {
            mount_points,
            image_id: inspect.image.unwrap_or_default(),
            privileged: host.privileged.unwrap_or(false),
            binds: host.binds.unwrap_or_default(),
            restart_policy: host
                .restart_policy
                .and_then(|p| p.name)
                .map(|n| n.to_string())
                .unwrap_or_default(),
        })
    }

    /// The paths of a container's filesystem that differ from its image.
    pub async fn container_changes(&self, name: &str) -> anyhow::Result<Vec<(String, FileChange)>> {
        use bollard::models::ChangeType;
        let changes = self
            .docker
            .container_changes(name)
            .await
            .with_context(|| format!("listing the changes of container {name}"))?;
        Ok(changes
            .unwrap_or_default()
            .into_iter()
            .map(|c| {
                let kind = match c.kind {
                    ChangeType::_1 => FileChange::Added,
                    ChangeType::_2 => FileChange::Deleted,
                    ChangeType::_0 => FileChange::Modified,
                };
                (c.path, kind)
            })
            .collect())
    }

    pub async fn pause_container(&self, name: &str) -> anyhow::Result<()> {
        self.docker
            .pause_container(name)
            .await
            .with_context(|| format!("pausing container {name}"))
    }

    pub async fn unpause_container(&self, name: &str) -> anyhow::Result<()> {
        self.docker
            .unpause_container(name)
            .await
            .with_context(|| format!("unpausing container {name}"))
    }
}
