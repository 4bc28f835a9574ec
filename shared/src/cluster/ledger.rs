//! What a run of `up` created, so a failed or interrupted run can remove exactly that
//! and nothing that existed before it.
//!
//! Every object is created through the ledger, which records it *before* asking Docker.
//! Docker finishes a create even when the client hangs up, so an interrupted run could
//! otherwise leave an object behind that appears after rollback looked. The ledger runs
//! each create as its own task and rollback first waits until none is in flight.
//!
//! Each object is recorded with the engine that creates it: a cluster spread over several
//! engines (`--docker-hosts`) is rolled back on each.

use crate::engine::{ContainerSpec, Engine, NetworkSpec};
use crate::progress::Progress;
use anyhow::Context;
use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// An object a run created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    Container(String),
    Volume(String),
    Network(String),
    /// A context (with its cluster and user) written into a kubeconfig file.
    KubeconfigContext {
        file: PathBuf,
        name: String,
    },
}

/// An object and the engine it was created on.
type Record = (Created, Option<Engine>);

/// The record of one run. Cheap to clone; clones share the record, so concurrent node
/// tasks can all write to it.
#[derive(Debug, Clone)]
pub struct Ledger {
    /// Each object with the engine it was created on (none for kubeconfig entries).
    created: Arc<Mutex<Vec<Record>>>,
    /// How many create calls are under way.
    in_flight: Arc<watch::Sender<usize>>,
}

impl Default for Ledger {
    fn default() -> Ledger {
        Ledger {
            created: Arc::default(),
            in_flight: Arc::new(watch::Sender::new(0)),
        }
    }
}

impl Ledger {
    fn record(&self, object: Created, engine: Option<&Engine>) {
        if let Ok(mut created) = self.created.lock() {
            created.push((object, engine.cloned()));
        }
    }

    /// Records `object` on `engine`, then runs `create` to completion even if the caller
    /// is dropped.
    async fn create<F>(&self, engine: &Engine, object: Created, create: F) -> anyhow::Result<()>
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        self.record(object, Some(engine));
        self.in_flight.send_modify(|n| *n += 1);
        let in_flight = self.in_flight.clone();
        let task = tokio::spawn(async move {
            let result = create.await;
            in_flight.send_modify(|n| *n -= 1);
            result
        });
        task.await.context("a Docker create call did not finish")?
    }

    /// Writes a kubectl context into `file`, recorded so a rollback removes it again.
    pub fn write_context(
        &self,
        file: &std::path::Path,
        entries: &crate::kubeconfig::ContextEntries,
        set_current: bool,
    ) -> anyhow::Result<()> {
        self.record(
            Created::KubeconfigContext {
                file: file.to_path_buf(),
                name: entries.name().to_string(),
            },
            None,
        );
        crate::kubeconfig::write_context(file, entries, set_current)
    }

    pub async fn create_network(&self, engine: &Engine, spec: &NetworkSpec) -> anyhow::Result<()> {
        let (owner, spec) = (engine.clone(), spec.clone());
        self.create(engine, Created::Network(spec.name.clone()), async move {
            let engine = owner;
            engine.create_network(&spec).await
        })
        .await
    }

    pub async fn create_volume(
        &self,
        engine: &Engine,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> anyhow::Result<()> {
        let (owner, name, labels) = (engine.clone(), name.to_string(), labels.clone());
        self.create(engine, Created::Volume(name.clone()), async move {
            let engine = owner;
            engine.create_volume(&name, &labels).await.map(drop)
        })
        .await
    }

    pub async fn create_container(
        &self,
        engine: &Engine,
        spec: &ContainerSpec,
    ) -> anyhow::Result<()> {
        let (owner, spec) = (engine.clone(), spec.clone());
        self.create(engine, Created::Container(spec.name.clone()), async move {
            let engine = owner;
            engine.create_container(&spec).await
        })
        .await
    }

    pub fn created(&self) -> Vec<Created> {
        self.created_on().into_iter().map(|(c, _)| c).collect()
    }

    fn created_on(&self) -> Vec<Record> {
        self.created.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Removes everything recorded: containers first (they hold the volumes and the
    /// network), concurrently, then volumes, then the network, each on the engine that
    /// created it (`engine` for objects recorded without one). Every removal is tried even
    /// when one fails; the first error is returned.
    pub async fn roll_back(&self, engine: &Engine, progress: &Progress) -> anyhow::Result<()> {
        // Objects still being created would appear after their removal.
        let _ = self.in_flight.subscribe().wait_for(|n| *n == 0).await;
        let created = self.created_on();
        if created.is_empty() {
            return Ok(());
        }
        let step = progress.step("Removing what this run created");
        let (mut containers, mut volumes, mut networks, mut contexts) =
            (vec![], vec![], vec![], vec![]);
        for (object, on) in &created {
            let on = on.as_ref().unwrap_or(engine);
            match object {
                Created::Container(name) => containers.push((on, name)),
                Created::Volume(name) => volumes.push((on, name)),
                Created::Network(name) => networks.push((on, name)),
                Created::KubeconfigContext { file, name } => contexts.push((file, name)),
            }
        }
        let mut results: Vec<anyhow::Result<bool>> = contexts
            .into_iter()
            .map(|(file, name)| {
                crate::kubeconfig::remove_context(std::slice::from_ref(file), name).map(|_| true)
            })
            .collect();
        results.extend(
            futures::future::join_all(containers.iter().map(|(e, n)| e.remove_container(n))).await,
        );
        results.extend(
            futures::future::join_all(volumes.iter().map(|(e, n)| e.remove_volume(n))).await,
        );
        for (on, network) in &networks {
            results.push(on.remove_network(network).await);
        }
        let outcome = match results.into_iter().find_map(Result::err) {
            None => Ok(()),
            Some(e) => Err(e.context("rolling back")),
        };
        step.finish(outcome)
    }
}
