//! What exists in Docker for a cluster, found by label, and the `down` and `clean`
//! removals built on that. Labels are the only truth: nothing is remembered elsewhere.

use crate::engine::{ContainerInfo, Engine};
use crate::names::{labels, ClusterIdentity};
use crate::progress::Progress;
use serde::Serialize;

/// Which clusters a command looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// One cluster, by its [`labels::CLUSTER`] value.
    Cluster(String),
    All,
}

impl Selector {
    fn with<'a>(&'a self, extra: (&'a str, &'a str)) -> Vec<(&'a str, &'a str)> {
        match self {
            Selector::Cluster(key) => vec![(labels::CLUSTER, key.as_str()), extra],
            Selector::All => vec![(labels::CLUSTER, ""), extra],
        }
    }
}

/// One container of a cluster, as `docker dind nodes` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerRow {
    pub cluster: String,
    pub name: String,
    /// `master`, `worker`, `dns64`, `nat64` or `load-balancer`.
    pub role: String,
    pub state: String,
    pub ipv4: Option<String>,
    pub ipv6: Option<String>,
    pub image: String,
    /// Host ports published to this container (the API server, `--publish`).
    pub ports: Vec<String>,
    /// The `--docker-hosts` entry of the engine that holds it; `None` with one engine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
}

fn row(c: ContainerInfo, role_label: &str) -> ContainerRow {
    ContainerRow {
        cluster: c.labels.get(labels::CLUSTER).cloned().unwrap_or_default(),
        role: c.labels.get(role_label).cloned().unwrap_or_default(),
        name: c.name,
        state: c.state,
        ipv4: c.ipv4.map(|a| a.to_string()),
        ipv6: c.ipv6.map(|a| a.to_string()),
        image: c.image,
        ports: c.ports,
        engine: None,
    }
}

/// The node containers, master first.
pub async fn nodes(engine: &Engine, selector: &Selector) -> anyhow::Result<Vec<ContainerRow>> {
    nodes_on(&[(None, engine)], selector).await
}

/// The node containers on every engine (each row naming its `--docker-hosts` entry),
/// master first.
pub async fn nodes_on(
    engines: &[(Option<&str>, &Engine)],
    selector: &Selector,
) -> anyhow::Result<Vec<ContainerRow>> {
    let mut found = Vec::new();
    for (host, engine) in engines {
        for (cluster, index, mut row) in indexed_nodes(engine, selector).await? {
            row.engine = host.map(str::to_string);
            found.push((cluster, index, row));
        }
    }
    found.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    Ok(found.into_iter().map(|(_, _, r)| r).collect())
}

/// The node containers of one engine with their cluster and node index, unsorted.
async fn indexed_nodes(
    engine: &Engine,
    selector: &Selector,
) -> anyhow::Result<Vec<(String, (bool, u32), ContainerRow)>> {
    let found: Vec<(String, (bool, u32), ContainerRow)> = engine
        .containers(&selector.with((labels::NODE_ROLE, "")))
        .await?
        .into_iter()
        .map(|c| {
            let index = c
                .labels
                .get(labels::NODE_INDEX)
                .and_then(|i| i.parse().ok())
                .unwrap_or(u32::MAX);
            let r = row(c, labels::NODE_ROLE);
            // Masters first (their numbers share the range of the workers').
            let rank = (r.role != "master", index);
            (r.cluster.clone(), rank, r)
        })
        .collect();
    Ok(found)
}

/// The node containers of a cluster a command needs running; when it has none, the
/// one-line error of [`not_up`] instead of whatever Docker says about a missing container.
pub async fn require_up(
    engine: &Engine,
    identity: &ClusterIdentity,
) -> anyhow::Result<Vec<ContainerRow>> {
    require_up_on(&[(None, engine)], identity).await
}

/// [`require_up`] for a cluster spread over `engines` (as [`nodes_on`] takes them).
pub async fn require_up_on(
    engines: &[(Option<&str>, &Engine)],
    identity: &ClusterIdentity,
) -> anyhow::Result<Vec<ContainerRow>> {
    let rows = nodes_on(engines, &Selector::Cluster(identity.key())).await?;
    if rows.is_empty() {
        return Err(not_up(identity));
    }
    Ok(rows)
}

/// "cluster-133 is not up", with the command that brings it up.
pub fn not_up(identity: &ClusterIdentity) -> anyhow::Error {
    let up = format!("kubectl dind up {}", identity.selector_flags());
    anyhow::anyhow!(
        "cluster {} is not up (it has no node containers): `{}` creates it, `restore` brings \
         back a snapshot",
        identity.key(),
        up.trim_end()
    )
}

/// The support containers: DNS64/NAT64, the load balancer.
pub async fn support(engine: &Engine, selector: &Selector) -> anyhow::Result<Vec<ContainerRow>> {
    Ok(engine
        .containers(&selector.with((labels::SUPPORT, "")))
        .await?
        .into_iter()
        .map(|c| row(c, labels::SUPPORT))
        .collect())
}

/// What `down` or `clean` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Removed {
    pub containers: Vec<String>,
    pub volumes: Vec<String>,
    pub networks: Vec<String>,
    /// Snapshot images (`clean`).
    pub images: Vec<String>,
}

impl Removed {
    /// Whether nothing at all was removed.
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty()
            && self.volumes.is_empty()
            && self.networks.is_empty()
            && self.images.is_empty()
    }

    /// Adds what was removed on another engine.
    pub fn merge(&mut self, other: Removed) {
        self.containers.extend(other.containers);
        self.volumes.extend(other.volumes);
        self.networks.extend(other.networks);
        self.images.extend(other.images);
    }
}

/// Removes the node containers; keeps volumes, the network and support containers.
pub async fn down(
    engine: &Engine,
    cluster_key: &str,
    progress: &Progress,
) -> anyhow::Result<Removed> {
    let selector = Selector::Cluster(cluster_key.to_string());
    let names: Vec<String> = nodes(engine, &selector)
        .await?
        .into_iter()
        .map(|r| r.name)
        .collect();
    // The API proxy is the master's publication, so it goes with the master.
    let mut removed = Removed {
        containers: super::api_proxy::remove_api_proxy(engine, cluster_key).await?,
        ..Removed::default()
    };
    if names.is_empty() {
        return Ok(removed);
    }
    let step = progress.step(format!(
        "Removing {} node container(s) of {cluster_key}",
        names.len()
    ));
    futures::future::try_join_all(names.iter().map(|n| engine.remove_container(n))).await?;
    step.done();
    removed.containers.extend(names);
    Ok(removed)
}

/// `down`, then the support containers, the volumes and the network.
pub async fn clean(
    engine: &Engine,
    cluster_key: &str,
    progress: &Progress,
) -> anyhow::Result<Removed> {
    clean_on(engine, cluster_key, progress, true).await
}

/// [`clean`] on one engine of a cluster spread over several; `networks` is false on a
/// swarm worker, which may still list the overlay but cannot remove it (its manager does).
pub async fn clean_on(
    engine: &Engine,
    cluster_key: &str,
    progress: &Progress,
    networks: bool,
) -> anyhow::Result<Removed> {
    let remove_networks = networks;
    let mut removed = down(engine, cluster_key, progress).await?;
    let cluster = [(labels::CLUSTER, cluster_key)];
    // Anything else carrying the label, support containers included.
    let leftovers: Vec<String> = engine
        .containers(&cluster)
        .await?
        .into_iter()
        .map(|c| c.name)
        .collect();
    futures::future::try_join_all(leftovers.iter().map(|n| engine.remove_container(n))).await?;
    removed.containers.extend(leftovers);
    // The lock volume is the caller's to give back: removing it here would let an `up`
    // start while the network is still being removed.
    let volumes: Vec<String> = engine
        .volumes(&cluster)
        .await?
        .into_iter()
        .filter(|v| !v.starts_with(super::up_lock::LOCK_VOLUME_PREFIX))
        .collect();
    futures::future::try_join_all(volumes.iter().map(|v| engine.remove_volume(v))).await?;
    removed.volumes = volumes;
    let networks: Vec<String> = engine
        .networks()
        .await?
        .into_iter()
        .filter(|_| remove_networks)
        .filter(|n| n.labels.get(labels::CLUSTER).map(String::as_str) == Some(cluster_key))
        .map(|n| n.name)
        .collect();
    for network in &networks {
        super::registry_leave::remove_network(engine, network).await?;
    }
    removed.networks = networks;
    if !(removed.volumes.is_empty() && removed.networks.is_empty()) {
        progress.note(format!(
            "Removed {} volume(s) and {} network(s) of {cluster_key}",
            removed.volumes.len(),
            removed.networks.len()
        ));
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_up_names_the_cluster_and_the_up_command() {
        let table = [
            (
                0,
                None,
                "cluster default is not up",
                "`kubectl dind up` creates it",
            ),
            (
                133,
                None,
                "cluster cluster-133 is not up",
                "`kubectl dind up --cluster-id 133` creates it",
            ),
            (
                0,
                Some("foo"),
                "cluster foo is not up",
                "`kubectl dind up --label foo`",
            ),
        ];
        for (id, label, start, up) in table {
            let identity = ClusterIdentity::new(id, label.map(str::to_string)).unwrap();
            let message = not_up(&identity).to_string();
            assert!(message.starts_with(start), "{message}");
            assert!(message.contains(up), "{message}");
            assert_eq!(message.lines().count(), 1, "{message}");
        }
    }
}
