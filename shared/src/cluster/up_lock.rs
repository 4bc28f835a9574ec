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
use crate::progress::Progress;
use anyhow::{anyhow, Context};
use std::collections::BTreeMap;
use std::future::Future;
use std::time::{SystemTime, UNIX_EPOCH};

/// A held lock. [`UpLock::around`] removes it; a run killed outright leaves it, and the
/// next `up` names it; `clean` removes it when its holder was a run on this machine that
/// is gone, and refuses while a live run holds it.
#[derive(Debug)]
pub struct UpLock {
    volume: String,
}

/// The lock volume of a cluster: `dind-up-lock`, `dind-up-lock-cluster-10`, ...
pub fn lock_volume(identity: &ClusterIdentity) -> String {
    format!("{LOCK_VOLUME_PREFIX}{}", identity.suffix())
}

/// What every lock volume's name starts with.
pub const LOCK_VOLUME_PREFIX: &str = "dind-up-lock";

/// This machine's name, as holder IDs carry it.
fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// Who holds a lock: which command, on which machine, which process, since when, and a
/// random part so two runs can never share it.
fn holder_id(command: &str) -> anyhow::Result<String> {
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce).map_err(|e| anyhow!("reading random bytes: {e}"))?;
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!(
        "cmd={command} host={} pid={} since={since} id={nonce}",
        this_host(),
        std::process::id()
    ))
}

/// One `key=value` field of a holder ID.
fn holder_field<'a>(holder: &'a str, key: &str) -> Option<&'a str> {
    holder
        .split(' ')
        .find_map(|field| field.strip_prefix(key)?.strip_prefix('='))
}

/// Whether `holder` was a run on `host` (this machine) whose process is gone, by `alive`:
/// only then can nothing be creating the cluster. A holder on another machine, or one
/// that cannot be read, may still be running.
pub fn holder_is_gone(holder: &str, host: &str, alive: impl Fn(u32) -> bool) -> bool {
    let same_host = !host.is_empty() && holder_field(holder, "host") == Some(host);
    let pid = holder_field(holder, "pid").and_then(|p| p.parse::<u32>().ok());
    match pid {
        Some(pid) if same_host => pid != std::process::id() && !alive(pid),
        _ => false,
    }
}

fn process_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

impl UpLock {
    /// Takes the cluster's lock for `command` (`up`, `join`, `clean`), or says which run
    /// holds it.
    pub async fn take(
        engine: &Engine,
        identity: &ClusterIdentity,
        command: &str,
    ) -> anyhow::Result<UpLock> {
        match UpLock::try_take(engine, identity, command).await? {
            Ok(lock) => Ok(lock),
            Err(found) => Err(held(identity, found.as_deref())),
        }
    }

    /// For `clean`: takes the lock, after removing one left by a run on this machine that
    /// is gone (a killed `up`); a live holder's lock is never removed under it.
    pub async fn take_for_clean(
        engine: &Engine,
        identity: &ClusterIdentity,
    ) -> anyhow::Result<UpLock> {
        match UpLock::try_take(engine, identity, "clean").await? {
            Ok(lock) => Ok(lock),
            Err(Some(found)) if holder_is_gone(&found, &this_host(), process_alive) => {
                let volume = lock_volume(identity);
                engine
                    .remove_volume(&volume)
                    .await
                    .with_context(|| format!("removing the stale lock {volume}"))?;
                UpLock::take(engine, identity, "clean").await
            }
            Err(found) => Err(held(identity, found.as_deref())),
        }
    }

    /// The lock, or the holder Docker answered with (`None`: a volume of that name that
    /// dind did not make).
    async fn try_take(
        engine: &Engine,
        identity: &ClusterIdentity,
        command: &str,
    ) -> anyhow::Result<Result<UpLock, Option<String>>> {
        let volume = lock_volume(identity);
        let holder = holder_id(command)?;
        let wanted = BTreeMap::from([
            (labels::CLUSTER.to_string(), identity.key()),
            (labels::UP_LOCK.to_string(), holder.clone()),
        ]);
        let answered = engine
            .create_volume(&volume, &wanted)
            .await
            .with_context(|| format!("taking the lock of cluster {}", identity.key()))?;
        Ok(match answered.get(labels::UP_LOCK) {
            Some(found) if *found == holder => Ok(UpLock { volume }),
            found => Err(found.cloned()),
        })
    }

    /// Runs `work` under the lock and gives the lock back however `work` ends; a lock
    /// that cannot be removed is said, and `work`'s own result returned.
    pub async fn around<T>(
        self,
        engine: &Engine,
        progress: &Progress,
        work: impl Future<Output = anyhow::Result<T>>,
    ) -> anyhow::Result<T> {
        let result = work.await;
        if let Err(error) = engine.remove_volume(&self.volume).await {
            progress.note(format!("Warning: the cluster's `up` lock stays: {error:#}"));
        }
        result
    }
}

/// The one line a run that finds the lock held says.
fn held(identity: &ClusterIdentity, found: Option<&str>) -> anyhow::Error {
    let volume = lock_volume(identity);
    let command = found.and_then(|f| holder_field(f, "cmd")).unwrap_or("up");
    anyhow!(
        "cluster {} is busy: another `{command}` holds its lock ({}); wait for it to end, or \
         if none is running, remove the lock: docker volume rm {volume}",
        identity.key(),
        found.unwrap_or("a volume of that name that dind did not make"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_gone_run_of_this_machine_leaves_a_stale_lock() {
        let me = std::process::id();
        let alive = |pid: u32| pid == 42;
        // (holder, this machine's name, gone)
        let table = [
            (
                "cmd=up host=box pid=7 since=1 id=ab".to_string(),
                "box",
                true,
            ),
            ("cmd=up host=box pid=42 since=1 id=ab".into(), "box", false),
            ("cmd=up host=other pid=7 since=1 id=ab".into(), "box", false),
            ("cmd=up host=box since=1 id=ab".into(), "box", false),
            ("cmd=up host=box pid=x since=1 id=ab".into(), "box", false),
            ("cmd=up host= pid=7 since=1 id=ab".into(), "", false),
            (
                format!("cmd=up host=box pid={me} since=1 id=ab"),
                "box",
                false,
            ),
            ("host=box pid=7 since=1 id=ab".into(), "box", true),
            ("not a holder".into(), "box", false),
        ];
        for (holder, host, gone) in table {
            assert_eq!(holder_is_gone(&holder, host, alive), gone, "{holder}");
        }
    }

    #[test]
    fn a_held_lock_names_the_command_and_the_way_out() {
        let identity = ClusterIdentity::new(7, None).unwrap();
        let text = held(&identity, Some("cmd=join host=box pid=7 since=1 id=ab")).to_string();
        assert!(
            text.starts_with("cluster cluster-7 is busy: another `join` holds its lock"),
            "{text}"
        );
        assert!(
            text.ends_with("docker volume rm dind-up-lock-cluster-7"),
            "{text}"
        );
        let text = held(&identity, None).to_string();
        assert!(text.contains("another `up`"), "{text}");
        assert!(text.contains("did not make"), "{text}");
    }
}
