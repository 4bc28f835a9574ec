//! The engines of one cluster: the one the docker options choose, or the `--docker-hosts`
//! list (master's engine first). Connects to each, answers which engine holds a node (by
//! [`crate::placement`]), gathers their swarm memberships for the pre-flight gate, and
//! sends the node image to the engines that lack the current one.

use super::api_address::DaemonLocation;
use crate::docker_cli::{connect, select_endpoint, DockerGlobalOptions};
use crate::engine::{ContainerInfo, Engine, SwarmMembership};
use crate::names::labels;
use crate::placement::engine_index;
use crate::progress::Progress;
use anyhow::Context;

/// The engines a cluster spreads over, in `--docker-hosts` order.
#[derive(Debug, Clone)]
pub struct Engines {
    /// The `--docker-hosts` entries; empty for the one engine of the docker options.
    pub hosts: Vec<String>,
    engines: Vec<Engine>,
}

impl Engines {
    /// Only `engine`: the cluster is not spread.
    pub fn single(engine: &Engine) -> Engines {
        Engines {
            hosts: Vec::new(),
            engines: vec![engine.clone()],
        }
    }

    /// Connects to every `hosts` entry (a `-H` address when it has `://`, else a docker
    /// context name); none means `default`, the engine of the docker options. Any engine
    /// that cannot be reached fails the whole.
    pub async fn connect(hosts: &[String], default: &Engine) -> anyhow::Result<Engines> {
        if hosts.is_empty() {
            return Ok(Engines::single(default));
        }
        let engines = futures::future::try_join_all(hosts.iter().map(|h| connect_host(h))).await?;
        Ok(Engines {
            hosts: hosts.to_vec(),
            engines,
        })
    }

    /// The engines of `hosts` that answer, and the failure of each that does not: for
    /// removals, which do what they can where they can.
    pub async fn connect_reachable(
        hosts: &[String],
        default: &Engine,
    ) -> (Engines, Vec<anyhow::Error>) {
        if hosts.is_empty() {
            return (Engines::single(default), Vec::new());
        }
        let results = futures::future::join_all(hosts.iter().map(|h| connect_host(h))).await;
        let (mut engines, mut unreachable) = (Engines::single(default), Vec::new());
        engines.engines.clear();
        for (host, result) in hosts.iter().zip(results) {
            match result {
                Ok(engine) => {
                    engines.hosts.push(host.clone());
                    engines.engines.push(engine);
                }
                Err(error) => unreachable.push(error),
            }
        }
        (engines, unreachable)
    }

    /// The engine of the master, of the API server and of the DNS64/NAT64 containers.
    pub fn master(&self) -> &Engine {
        &self.engines[0]
    }

    /// The engine at `position` in `--docker-hosts` (0 with one engine).
    pub fn at(&self, position: usize) -> &Engine {
        &self.engines[position.min(self.engines.len() - 1)]
    }

    /// The engine that holds the node at `position` in the plan (the master is 0).
    pub fn for_position(&self, position: usize) -> &Engine {
        &self.engines[self.index_for_position(position)]
    }

    /// The position in [`Engines::all`] of the engine that holds the node at `position`.
    pub fn index_for_position(&self, position: usize) -> usize {
        engine_index(position, self.engines.len())
    }

    /// The `--docker-hosts` entry of the node at `position`; `None` with one engine.
    pub fn host_of_position(&self, position: usize) -> Option<&str> {
        self.hosts
            .get(engine_index(position, self.hosts.len()))
            .map(String::as_str)
    }

    /// The engine of a `--docker-hosts` entry, as [`super::inventory::ContainerRow::engine`]
    /// names it; the master's for `None` (a cluster on one engine) or an entry not listed.
    pub fn named(&self, host: Option<&str>) -> &Engine {
        host.and_then(|host| self.hosts.iter().position(|h| h == host))
            .map(|i| &self.engines[i])
            .unwrap_or_else(|| self.master())
    }

    /// Every engine with its `--docker-hosts` entry (`None` for the single engine).
    pub fn all(&self) -> impl Iterator<Item = (Option<&str>, &Engine)> {
        self.engines
            .iter()
            .enumerate()
            .map(|(i, engine)| (self.hosts.get(i).map(String::as_str), engine))
    }

    /// The containers labelled `labels` on every engine, each with the engine that holds it.
    pub async fn containers(
        &self,
        labels: &[(&str, &str)],
    ) -> anyhow::Result<Vec<(Engine, ContainerInfo)>> {
        let listed =
            futures::future::try_join_all(self.engines.iter().map(|e| e.containers(labels)))
                .await?;
        Ok(self
            .engines
            .iter()
            .zip(listed)
            .flat_map(|(engine, found)| found.into_iter().map(|c| (engine.clone(), c)))
            .collect())
    }

    /// The swarm membership of each engine, for the pre-flight gate; empty with one engine.
    pub async fn swarm_memberships(&self) -> anyhow::Result<Vec<(String, SwarmMembership)>> {
        if self.hosts.len() < 2 {
            return Ok(Vec::new());
        }
        let asked = self
            .hosts
            .iter()
            .zip(&self.engines)
            .map(|(host, engine)| async move {
                let membership = engine
                    .swarm_membership()
                    .await
                    .with_context(|| format!("--docker-hosts entry {host:?}"))?;
                Ok::<_, anyhow::Error>((host.clone(), membership))
            });
        futures::future::try_join_all(asked).await
    }

    /// Whether each engine (in [`Engines::all`] order) is a swarm manager; `true` for the
    /// one engine of a cluster not spread, whose networks are local. An engine that does
    /// not say counts as a worker: its overlay is left to a manager.
    pub async fn managers(&self) -> Vec<bool> {
        if self.hosts.len() < 2 {
            return vec![true; self.engines.len()];
        }
        futures::future::join_all(self.engines.iter().map(|engine| async move {
            engine
                .swarm_membership()
                .await
                .map(|m| m.manager)
                .unwrap_or(false)
        }))
        .await
    }

    /// Sends `image` from the master's engine to every other engine that lacks it or holds
    /// a copy with another recipe label (an older build of the same tag).
    pub async fn share_image(&self, image: &str, progress: &Progress) -> anyhow::Result<()> {
        let recipe = |labels: Option<std::collections::HashMap<String, String>>| {
            labels.and_then(|mut l| l.remove(labels::IMAGE_RECIPE))
        };
        let source = self.master();
        let wanted = recipe(source.image_labels(image).await?);
        for (host, engine) in self.all().skip(1) {
            let present = engine.image_labels(image).await?;
            if present.is_some() && recipe(present) == wanted {
                continue;
            }
            let host = host.unwrap_or_default();
            let step = progress.step(format!("Sending image {image} to {host}"));
            let sent = engine
                .import_images_stream(source.export_images_stream(&[image], None))
                .await
                .with_context(|| format!("sending image {image} to --docker-hosts entry {host:?}"));
            step.finish(sent)?;
        }
        Ok(())
    }
}

/// The endpoint of one `--docker-hosts` entry: a `-H` address when it has `://`, else a
/// docker context name.
fn endpoint_of(host: &str) -> anyhow::Result<crate::docker_cli::DockerEndpoint> {
    let options = if host.contains("://") {
        DockerGlobalOptions {
            host: Some(host.to_string()),
            ..DockerGlobalOptions::default()
        }
    } else {
        DockerGlobalOptions {
            context: Some(host.to_string()),
            ..DockerGlobalOptions::default()
        }
    };
    select_endpoint(&options, &|name| std::env::var(name).ok())
        .with_context(|| format!("--docker-hosts entry {host:?}"))
}

/// Where the master's engine runs, when `--docker-hosts` names it: the API server is
/// published there, so the rules for a remote daemon (publish address, certSANs, the
/// `ssh -L` hint) follow that engine, not the one of the docker options.
pub fn master_location(hosts: &[String]) -> anyhow::Result<Option<DaemonLocation>> {
    match hosts.first() {
        Some(host) if hosts.len() > 1 => Ok(Some(DaemonLocation::of(&endpoint_of(host)?))),
        _ => Ok(None),
    }
}

/// Connects to one `--docker-hosts` entry.
async fn connect_host(host: &str) -> anyhow::Result<Engine> {
    let endpoint = endpoint_of(host)?;
    let docker = connect(&endpoint)
        .await
        .with_context(|| format!("--docker-hosts entry {host:?} cannot be reached"))?;
    Ok(Engine::new(docker))
}

/// `what`, with the `--docker-hosts` entry it happened on when the cluster spreads over
/// several engines (`host` is `None` with one): for errors of a step done on every engine.
pub fn on_host(what: &str, host: Option<&str>) -> String {
    match host {
        Some(host) => format!("{what} on --docker-hosts entry {host:?}"),
        None => what.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_server_follows_the_master_engine() {
        let hosts = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // (--docker-hosts, the remote host the API server is published on, if any)
        let table: [(&[&str], Option<Option<&str>>); 4] = [
            (&[], None),
            (&["tcp://10.1.2.3:2376"], None),
            (
                &["unix:///var/run/docker.sock", "tcp://10.1.2.3:2376"],
                Some(None),
            ),
            (
                &["tcp://10.1.2.3:2376", "unix:///var/run/docker.sock"],
                Some(Some("10.1.2.3")),
            ),
        ];
        for (list, want) in table {
            let got = master_location(&hosts(list)).unwrap();
            let got = got.map(|location| match location {
                DaemonLocation::Local => None,
                DaemonLocation::Remote { host, .. } => Some(host),
            });
            assert_eq!(got, want.map(|w| w.map(str::to_string)), "{list:?}");
        }
    }
}
