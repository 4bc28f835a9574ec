//! `clean`: everything of a cluster, on every engine it spreads over, and its kubeconfig
//! entries. It holds the cluster's `up` lock, so it never removes what a running `up`,
//! `join` or `restore` is creating (nor the lock under it); a lock left by a killed run of
//! this machine goes with the rest.

use super::engines::Engines;
use super::inventory::{self, Removed};
use super::up_lock::UpLock;
use crate::engine::Engine;
use crate::progress::Progress;
use crate::settings::Settings;
use std::path::Path;

/// Removes the cluster. With `--docker-hosts`, every engine that answers is cleaned, the
/// swarm managers last (a manager removes the overlay network once no node uses it). The
/// engines that do not answer are named in the error, after everything else is removed; so
/// is the overlay network when the swarm still holds the attachment of a node on one of
/// them (it goes with a later `clean`, once that engine answers or has left the swarm).
pub async fn clean(
    engine: &Engine,
    settings: &Settings,
    kubeconfig: Option<&Path>,
    progress: &Progress,
) -> anyhow::Result<Removed> {
    let key = settings.identity.key();
    let (engines, unreachable) = Engines::connect_reachable(&settings.docker_hosts, engine).await;
    let Some(lock_engine) = engines.all().next().map(|(_, e)| e.clone()) else {
        return Err(left_behind(&key, &unreachable, &[]));
    };
    let managers = engines.managers().await;
    let clean = async {
        let mut removed = Removed::default();
        let mut kept = Vec::new();
        let mut order: Vec<(bool, &Engine)> = engines
            .all()
            .zip(&managers)
            .map(|((_, e), manager)| (*manager, e))
            .collect();
        order.sort_by_key(|(manager, _)| *manager);
        for (manager, engine) in order {
            let mut on_engine = match inventory::clean_on(engine, &key, progress, manager).await {
                Ok(on_engine) => on_engine,
                // The swarm keeps an unreachable engine's attachments to the overlay.
                Err(error) if manager && !unreachable.is_empty() => {
                    kept.push(format!("{error:#}"));
                    inventory::clean_on(engine, &key, progress, false).await?
                }
                Err(error) => return Err(error),
            };
            on_engine.images = super::snapshot::discard(engine, &key).await?;
            removed.merge(on_engine);
        }
        super::kubernetes::remove_context(settings, kubeconfig, progress)?;
        Ok((removed, kept))
    };
    let (removed, kept) = UpLock::take_for_clean(&lock_engine, &settings.identity)
        .await?
        .around(&lock_engine, progress, clean)
        .await?;
    if !unreachable.is_empty() {
        return Err(left_behind(&key, &unreachable, &kept));
    }
    Ok(removed)
}

/// What `clean` could not remove: the engines it could not reach, and what the swarm
/// still holds for them.
fn left_behind(key: &str, unreachable: &[anyhow::Error], kept: &[String]) -> anyhow::Error {
    let named: Vec<String> = unreachable.iter().map(|e| format!("{e:#}")).collect();
    let mut message = format!(
        "removed what {key} had on the engines that answer; could not reach: {}",
        named.join("; ")
    );
    if !kept.is_empty() {
        message.push_str(&format!(
            "; kept, until that engine answers or leaves the swarm (`docker node rm`), then \
             `clean` again: {}",
            kept.join("; ")
        ));
    }
    anyhow::anyhow!(message)
}
