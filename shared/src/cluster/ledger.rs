//! What a run of `up` created, so a failed or interrupted run can remove exactly that
//! and nothing that existed before it.
//!
//! Objects are recorded *before* Docker is asked to create them: if the run is
//! interrupted while a create call is in flight, rollback still knows the name, and
//! removing an object that never came to be is a no-op.

use crate::engine::Engine;
use crate::progress::Progress;
use std::sync::{Arc, Mutex};

/// An object a run created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    Container(String),
    Volume(String),
    Network(String),
}

/// The record of one run. Cheap to clone; clones share the record, so concurrent node
/// tasks can all write to it.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    created: Arc<Mutex<Vec<Created>>>,
}

impl Ledger {
    pub fn record(&self, object: Created) {
        if let Ok(mut created) = self.created.lock() {
            created.push(object);
        }
    }

    pub fn created(&self) -> Vec<Created> {
        self.created.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Removes everything recorded: containers first (they hold the volumes and the
    /// network), concurrently, then volumes, then the network. Every removal is tried
    /// even when one fails; the first error is returned.
    pub async fn roll_back(&self, engine: &Engine, progress: &Progress) -> anyhow::Result<()> {
        let created = self.created();
        if created.is_empty() {
            return Ok(());
        }
        let step = progress.step("Removing what this run created");
        let names = |pick: fn(&Created) -> Option<&String>| {
            created.iter().filter_map(pick).cloned().collect::<Vec<_>>()
        };
        let containers = names(|c| {
            if let Created::Container(n) = c {
                Some(n)
            } else {
                None
            }
        });
        let volumes = names(|c| {
            if let Created::Volume(n) = c {
                Some(n)
            } else {
                None
            }
        });
        let networks = names(|c| {
            if let Created::Network(n) = c {
                Some(n)
            } else {
                None
            }
        });
        let mut results: Vec<anyhow::Result<bool>> =
            futures::future::join_all(containers.iter().map(|n| engine.remove_container(n))).await;
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
