//! What a run of `up` created, so a failed or interrupted run can remove exactly that
//! and nothing that existed before it.
//!
//! Every object is created through the ledger, which records it *before* asking Docker.
//! Docker finishes a create even when the client hangs up, so an interrupted run could
//! otherwise leave an object behind that appears after rollback looked. The ledger runs
//! each create as its own task and rollback first waits until none is in flight.

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

/// The record of one run. Cheap to clone; clones share the record, so concurrent node
/// tasks can all write to it.
#[derive(Debug, Clone)]
pub struct Ledger {
    created: Arc<Mutex<Vec<Created>>>,
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
    fn record(&self, object: Created) {
        if let Ok(mut created) = self.created.lock() {
            created.push(object);
        }
    }

    /// Records `object`, then runs `create` to completion even if the caller is dropped.
    async fn create<F>(&self, object: Created, create: F) -> anyhow::Result<()>
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        self.record(object);
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
        self.record(Created::KubeconfigContext {
            file: file.to_path_buf(),
            name: entries.name().to_string(),
        });
        crate::kubeconfig::write_context(file, entries, set_current)
    }

    pub async fn create_network(&self, engine: &Engine, spec: &NetworkSpec) -> anyhow::Result<()> {
        let (engine, spec) = (engine.clone(), spec.clone());
        self.create(Created::Network(spec.name.clone()), async move {
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
        let (engine, name, labels) = (engine.clone(), name.to_string(), labels.clone());
        self.create(Created::Volume(name.clone()), async move {
            engine.create_volume(&name, &labels).await.map(drop)
        })
        .await
    }

    pub async fn create_container(
        &self,
        engine: &Engine,
        spec: &ContainerSpec,
    ) -> anyhow::Result<()> {
        let (engine, spec) = (engine.clone(), spec.clone());
        self.create(Created::Container(spec.name.clone()), async move {
            engine.create_container(&spec).await
        })
        .await
    }

    pub fn created(&self) -> Vec<Created> {
        self.created.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Removes everything recorded: containers first (they hold the volumes and the
    /// network), concurrently, then volumes, then the network. Every removal is tried
    /// even when one fails; the first error is returned.
    pub async fn roll_back(&self, engine: &Engine, progress: &Progress) -> anyhow::Result<()> {
        // Objects still being created would appear after their removal.
        let _ = self.in_flight.subscribe().wait_for(|n| *n == 0).await;
        let created = self.created();
        if created.is_empty() {
            return Ok(());
        }
        let step = progress.step("Removing what this run created");
        let (mut containers, mut volumes, mut networks, mut contexts) =
            (vec![], vec![], vec![], vec![]);
        for object in &created {
            match object {
                Created::Container(name) => containers.push(name),
                Created::Volume(name) => volumes.push(name),
                Created::Network(name) => networks.push(name),
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
            futures::future::join_all(containers.iter().map(|n| engine.remove_container(n))).await,
        );
        results.extend(
            futures::future::join_all(volumes.iter().map(|n| engine.remove_volume(n))).await,
        );
        for network in &networks {
            results.push(engine.remove_network(network).await);
        }
        let outcome = match results.into_iter().find_map(Result::err) {
            None => Ok(()),
            Some(e) => Err(e.context("rolling back")),
        };
        step.finish(outcome)
    }
}
