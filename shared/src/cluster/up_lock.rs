//! One `up` at a time per cluster, for every client of a daemon (two terminals, two CI
//! jobs, two machines sharing a remote daemon): the lock lives on the daemon's side.
//!
//! The lock is a volume named after the cluster, created first, labelled with a holder
//! ID unique to this run. Docker answers a create of an existing volume name with the
//! existing volume and its original labels, under a per-name lock (moby
//! volume/service/store.go, `Create` -> `create`: "if we already have this stored
//! locally, return it"), so whoever's ID comes back holds the lock: an atomic
//! test-and-set that needs no image. Without it, a losing run's name conflict made its
//! rollback remove the winner's containers, volumes and network.

use crate::engine::Engine;
use crate::names::{labels, ClusterIdentity};
use anyhow::{anyhow, Context};
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// A held lock. [`UpLock::release`] removes it; a run killed outright leaves it, and the
/// next `up` names it (`clean` removes it too: it carries the cluster's label).
#[derive(Debug)]
pub struct UpLock {
    volume: String,
}

/// The lock volume of a cluster: `dind-up-lock`, `dind-up-lock-cluster-10`, ...
pub fn lock_volume(identity: &ClusterIdentity) -> String {
    format!("dind-up-lock{}", identity.suffix())
}

/// Who holds a lock: this machine, this process, when, and a random part so two runs
/// can never share it.
fn holder_id() -> anyhow::Result<String> {
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce).map_err(|e| anyhow!("reading random bytes: {e}"))?;
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host = host.trim();
    let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!(
        "host={host} pid={} since={since} id={nonce}",
        std::process::id()
    ))
}

impl UpLock {
    /// Takes the cluster's lock, or says which run holds it.
    pub async fn take(engine: &Engine, identity: &ClusterIdentity) -> anyhow::Result<UpLock> {
        let volume = lock_volume(identity);
        let holder = holder_id()?;
        let wanted = BTreeMap::from([
            (labels::CLUSTER.to_string(), identity.key()),
            (labels::UP_LOCK.to_string(), holder.clone()),
        ]);
        let answered = engine
            .create_volume(&volume, &wanted)
            .await
            .with_context(|| format!("taking the lock of cluster {}", identity.key()))?;
        match answered.get(labels::UP_LOCK) {
            Some(found) if *found == holder => Ok(UpLock { volume }),
            found => Err(anyhow!(
                "cluster {} is being created by another `up` ({}); wait for it to end, or if \
                 none is running, remove its lock: docker volume rm {volume}",
                identity.key(),
                found.map_or(
                    "a volume of that name that dind did not make",
                    String::as_str
                ),
            )),
        }
    }

    /// Gives the lock back.
    pub async fn release(self, engine: &Engine) -> anyhow::Result<()> {
        engine.remove_volume(&self.volume).await.map(drop)
    }
}
