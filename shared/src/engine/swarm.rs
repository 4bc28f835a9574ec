//! What a Docker engine says of its swarm membership, and the image copy between
//! engines: the two things a cluster spread over several engines asks of each one.

use super::Engine;
use anyhow::Context;
use bollard::models::LocalNodeState;
use futures::{Stream, StreamExt};
use std::sync::Arc;

/// One engine's place in a swarm, from `docker info` (and, on a manager, the swarm's
/// join token and its node list).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SwarmMembership {
    /// `inactive`, `pending`, `active`, `error` or `locked`.
    pub state: String,
    pub node_id: String,
    /// It answers swarm management calls (creating a swarm-scoped network needs one).
    pub manager: bool,
    /// `ADDR:PORT` of a manager, for a join command.
    pub manager_addr: Option<String>,
    /// On a manager: the token a worker joins with.
    pub worker_token: Option<String>,
    /// On a manager: the node IDs of every member.
    pub member_ids: Vec<String>,
}

impl Engine {
    pub async fn swarm_membership(&self) -> anyhow::Result<SwarmMembership> {
        let info = self
            .docker
            .info()
            .await
            .context("asking the Docker daemon for its swarm state")?;
        let swarm = info.swarm.unwrap_or_default();
        let state = match swarm.local_node_state {
            Some(LocalNodeState::EMPTY) | None => "inactive".to_string(),
            Some(state) => state.to_string(),
        };
        let manager = swarm.control_available.unwrap_or(false);
        let mut membership = SwarmMembership {
            state,
            node_id: swarm.node_id.unwrap_or_default(),
            manager,
            manager_addr: swarm
                .remote_managers
                .unwrap_or_default()
                .into_iter()
                .find_map(|peer| peer.addr),
            ..SwarmMembership::default()
        };
        if manager {
            let inspected = self
                .docker
                .inspect_swarm()
                .await
                .context("inspecting the swarm on a manager")?;
            membership.worker_token = inspected.join_tokens.and_then(|t| t.worker);
            membership.member_ids = self
                .docker
                .list_nodes(None::<bollard::query_parameters::ListNodesOptions>)
                .await
                .context("listing the swarm's nodes on a manager")?
                .into_iter()
                .filter_map(|node| node.id)
                .collect();
        }
        Ok(membership)
    }

    /// `docker load` from a stream of a `docker save` archive (another engine's export).
    pub async fn import_images_stream<S>(&self, archive: S) -> anyhow::Result<()>
    where
        S: Stream<Item = anyhow::Result<Arc<[u8]>>> + Send + 'static,
    {
        let body = archive.map(|chunk| {
            chunk
                .map(|bytes| bytes::Bytes::copy_from_slice(&bytes))
                .map_err(|e| std::io::Error::other(format!("{e:#}")))
        });
        let options = bollard::query_parameters::ImportImageOptionsBuilder::new()
            .quiet(true)
            .build();
        let mut progress = self.docker.import_image_stream(options, body, None);
        while let Some(step) = progress.next().await {
            step.context("loading an image archive into the Docker daemon")?;
        }
        Ok(())
    }
}
