//! `dump`: the state of a cluster as one text block of sections, for bug reports and CI
//! logs. [`format`] is the pure text format (sections, dump64); [`split`] writes a dump
//! into files as it streams in, within a size limit and without following links; [`nodes`]
//! reads each node through Docker; [`api`] reads the cluster through the Kubernetes API.
//!
//! A dump never stops at the first failure: a part that fails becomes a section saying
//! why, so a cluster whose API server is down (or that never had one) still gets every
//! node section. On a cluster spread over `--docker-hosts` each node is read on its own
//! engine, and an engine that cannot be reached gets a section saying so.

pub mod api;
pub mod format;
pub mod nodes;
pub mod split;

use crate::cluster::engines::Engines;
use crate::cluster::inventory::{self, Selector};
use crate::engine::Engine;
use crate::names::ClusterIdentity;
use crate::node::Node;
use crate::progress::Progress;
use format::Section;

/// Every section of the cluster's dump: the nodes' first (they need only Docker), then
/// the API's. `unreachable` holds the failures of the engines that could not be reached.
/// `client` is the API client, or why there is none (no context, say). Fails only when
/// nothing at all could be dumped.
pub async fn collect(
    engines: &Engines,
    unreachable: &[anyhow::Error],
    identity: &ClusterIdentity,
    client: anyhow::Result<kube::Client>,
    progress: &Progress,
) -> anyhow::Result<Vec<Section>> {
    let mut sections: Vec<Section> = unreachable
        .iter()
        .enumerate()
        .map(|(i, e)| {
            Section::new(
                format!("engine-unreachable-{}.txt", i + 1),
                nodes::failure("could not reach an engine of --docker-hosts", e),
            )
        })
        .collect();
    let mut nodes_found = 0;
    let all: Vec<_> = engines.all().collect();
    match inventory::nodes_on(&all, &Selector::Cluster(identity.key())).await {
        Ok(rows) => {
            nodes_found = rows.len();
            if rows.is_empty() {
                sections.push(Section::new(
                    "nodes-docker.txt",
                    format!("dump: no node containers of cluster {}\n", identity.key()),
                ));
            }
            for row in rows {
                let step = progress.step(format!("Dumping node {}", row.name));
                let node = Node::new(engines.named(row.engine.as_deref()), &row.name);
                sections.extend(nodes::sections(&node).await);
                step.done();
            }
        }
        Err(e) => sections.push(Section::new(
            "nodes-docker.txt",
            nodes::failure("could not list the node containers", &e),
        )),
    }
    sections.extend(balancer_sections(engines.master(), identity).await);
    let api_answered = match client {
        Ok(client) => {
            let step = progress.step("Dumping the cluster through the Kubernetes API");
            let api_sections = api::sections(&client).await;
            step.done();
            let answered = !(api_sections.len() == 1 && api_sections[0].name == "api-server.txt");
            sections.extend(api_sections);
            answered
        }
        Err(e) => {
            sections.push(Section::new(
                "api-server.txt",
                nodes::failure("no Kubernetes API client", &e),
            ));
            false
        }
    };
    if nodes_found == 0 && !api_answered {
        anyhow::bail!(
            "nothing to dump for cluster {}: no node containers and no API server\n{}",
            identity.key(),
            format::render(&sections)
        );
    }
    Ok(sections)
}

/// The load balancer's sections, when the cluster has one: its console (HAProxy's notes
/// of masters going down and up) and its configuration.
async fn balancer_sections(engine: &Engine, identity: &ClusterIdentity) -> Vec<Section> {
    let name = identity.load_balancer_name();
    let console = nodes::console_file(&name);
    match engine.container_running(&name).await {
        Ok(Some(_)) => {}
        Ok(None) => return Vec::new(),
        Err(e) => {
            return vec![Section::new(
                console,
                nodes::failure("could not inspect the load balancer", &e),
            )]
        }
    }
    let log = engine
        .logs_all(&name)
        .await
        .unwrap_or_else(|e| nodes::failure("could not read the load balancer's log", &e));
    let config = Node::new(engine, &name)
        .read_file(crate::cluster::load_balancer::CONFIG_PATH)
        .await
        .unwrap_or_else(|e| nodes::failure("could not read the load balancer's configuration", &e));
    vec![
        Section::new(console, log),
        Section::new(format!("haproxy-{name}.cfg"), config),
    ]
}
