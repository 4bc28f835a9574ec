//! How a node's filesystem differs from the node image it was first created from, across
//! snapshots: what a snapshot image must hold on top of the node image.
//!
//! Docker reports a container's changes against the image it runs from. A restored node
//! runs from its snapshot image, so its changes against the *node image* are the ones its
//! snapshot recorded plus the ones Docker reports since. Keeping that set lets every
//! snapshot be the node image plus one layer, however many `down`/`up` cycles came before
//! (overlay2 stops at 127 layers).

use crate::engine::FileChange;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The paths that differ from the node image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeSet {
    /// Added or changed paths, each copied whole (a directory with everything in it);
    /// none lies under another.
    pub paths: BTreeSet<String>,
    /// Paths of the node image that are gone; removed before `paths` are copied in, so a
    /// directory deleted and made anew holds only its new entries.
    pub deleted: BTreeSet<String>,
}

/// Whether `path` lies strictly under `dir`.
fn is_under(path: &str, dir: &str) -> bool {
    dir == "/" && path != "/"
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

fn is_at_or_under(path: &str, dir: &str) -> bool {
    path == dir || is_under(path, dir)
}

impl ChangeSet {
    /// The changes against the node image of a node that runs from a snapshot recording
    /// `base` (empty for a node created from the node image) and whose own changes since
    /// are `changes`. Nothing at, under or above a mount point (volumes, tmpfs) is taken:
    /// those are not the container's to keep.
    pub fn merge(
        base: &ChangeSet,
        changes: &[(String, FileChange)],
        mount_points: &[String],
    ) -> ChangeSet {
        let mut paths: BTreeSet<String> = base.paths.clone();
        let mut deleted: BTreeSet<String> = base.deleted.clone();
        let listed: Vec<&str> = changes
            .iter()
            .map(|(p, _)| p.as_str())
            .chain(base.paths.iter().map(String::as_str))
            .chain(base.deleted.iter().map(String::as_str))
            .collect();
        for (path, kind) in changes {
            match kind {
                FileChange::Deleted => {
                    paths.retain(|p| !is_at_or_under(p, path));
                    deleted.insert(path.clone());
                }
                // A directory whose entries are listed changed only through them: copying
                // it whole would copy the node image's files as well.
                FileChange::Modified if listed.iter().any(|other| is_under(other, path)) => {}
                FileChange::Modified | FileChange::Added => {
                    paths.insert(path.clone());
                }
            }
        }
        // A path copied whole covers everything under it, a deleted one what was under it.
        let copied: Vec<String> = paths.iter().cloned().collect();
        paths.retain(|p| !copied.iter().any(|other| is_under(p, other)));
        paths.retain(|p| {
            !mount_points
                .iter()
                .any(|m| is_at_or_under(p, m) || is_under(m, p))
        });
        let gone: Vec<String> = deleted.iter().cloned().collect();
        deleted.retain(|d| !gone.iter().any(|other| is_under(d, other)));
        ChangeSet { paths, deleted }
    }
}

impl ChangeSet {
    /// Whether `path` is one of the changed paths or lies under one.
    pub fn holds(&self, path: &str) -> bool {
        self.paths.iter().any(|p| is_at_or_under(path, p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use FileChange::*;

    fn set(paths: &[&str], deleted: &[&str]) -> ChangeSet {
        ChangeSet {
            paths: paths.iter().map(|s| s.to_string()).collect(),
            deleted: deleted.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn changes(list: &[(&str, FileChange)]) -> Vec<(String, FileChange)> {
        list.iter().map(|(p, k)| (p.to_string(), *k)).collect()
    }

    #[test]
    fn merges_docker_changes_onto_a_snapshot() {
        // (base, Docker's changes, expected)
        let table = [
            // A node from the node image: a new file, a new directory with its entries,
            // a deleted file; modified parents are not copied whole.
            (
                set(&[], &[]),
                changes(&[
                    ("/etc", Modified),
                    ("/etc/machine-id", Modified),
                    ("/etc/kubernetes", Added),
                    ("/etc/kubernetes/admin.conf", Added),
                    ("/usr", Modified),
                    ("/usr/share", Modified),
                    ("/usr/share/doc", Deleted),
                ]),
                set(&["/etc/kubernetes", "/etc/machine-id"], &["/usr/share/doc"]),
            ),
            // A restored node keeps its snapshot's paths and adds its own.
            (
                set(&["/etc/kubernetes", "/etc/machine-id"], &["/usr/share/doc"]),
                changes(&[
                    ("/etc", Modified),
                    ("/etc/kubernetes", Modified),
                    ("/etc/kubernetes/pki", Added),
                    ("/root", Modified),
                    ("/root/.bash_history", Added),
                ]),
                set(
                    &["/etc/kubernetes", "/etc/machine-id", "/root/.bash_history"],
                    &["/usr/share/doc"],
                ),
            ),
            // Deleting what the snapshot added drops it; what it deleted and the node made
            // anew is removed, then copied.
            (
                set(&["/etc/kubernetes", "/etc/machine-id"], &["/usr/share/doc"]),
                changes(&[
                    ("/etc", Modified),
                    ("/etc/kubernetes", Deleted),
                    ("/usr", Modified),
                    ("/usr/share", Modified),
                    ("/usr/share/doc", Added),
                ]),
                set(
                    &["/etc/machine-id", "/usr/share/doc"],
                    &["/etc/kubernetes", "/usr/share/doc"],
                ),
            ),
            // A directory changed only in itself (its mode) is copied whole; one changed
            // through a snapshot's path is not.
            (
                set(&["/etc/a/b"], &[]),
                changes(&[("/etc/a", Modified), ("/opt", Modified)]),
                set(&["/etc/a/b", "/opt"], &[]),
            ),
            // Deletions under a deleted directory are covered by it.
            (
                set(&[], &["/srv/x/y"]),
                changes(&[("/srv", Modified), ("/srv/x", Deleted)]),
                set(&[], &["/srv/x"]),
            ),
        ];
        for (base, changes, expected) in table {
            assert_eq!(
                ChangeSet::merge(&base, &changes, &[]),
                expected,
                "{changes:?}"
            );
        }
    }

    #[test]
    fn mount_points_are_not_the_layer_s() {
        let merged = ChangeSet::merge(
            &set(&[], &[]),
            &changes(&[
                ("/var", Modified),
                ("/run", Modified),
                ("/etc", Modified),
                ("/etc/hostname.d", Added),
            ]),
            &["/var/lib/containerd".into(), "/run".into()],
        );
        assert_eq!(merged, set(&["/etc/hostname.d"], &[]));
    }

    #[test]
    fn paths_nest_by_component() {
        assert!(is_under("/etc/a", "/etc"));
        assert!(!is_under("/etcetera", "/etc"));
        assert!(!is_under("/etc", "/etc"));
        assert!(is_under("/etc", "/"));
    }
}
