//! `--mount HOST_PATH:NODE_PATH[:ro]`: host folders in the nodes, kind's `extraMounts`
//! (containerPath, hostPath, readOnly). In the config file an entry may add `:masters`
//! or `:workers` to limit it to those nodes, as kind's mounts are per node.
//!
//! Host paths are on the Docker daemon's machine, since the daemon makes the bind; a
//! relative one is taken from the current directory, as kind does.

use crate::error::usage;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Which nodes a mount goes into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountNodes {
    All,
    Masters,
    Workers,
}

/// One host folder in the nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    pub host_path: PathBuf,
    pub node_path: String,
    pub read_only: bool,
    pub nodes: MountNodes,
}

impl Mount {
    /// Parses `HOST:NODE[:ro][:masters|:workers]`; `cwd` resolves a relative host path.
    pub fn parse(text: &str, cwd: &Path) -> anyhow::Result<Mount> {
        let bad = |why: &str| {
            usage(format!(
                "invalid --mount {text:?} (DIND_MOUNTS, mount:): {why}; expected HOST_PATH:NODE_PATH[:ro], e.g. ./data:/data:ro"
            ))
        };
        let mut parts = text.split(':');
        let host = parts
            .next()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("no host path"))?;
        let node = parts
            .next()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| bad("no node path"))?;
        if !node.starts_with('/') {
            return Err(bad("the node path must be absolute"));
        }
        let mut mount = Mount {
            host_path: cwd.join(host),
            node_path: node.to_string(),
            read_only: false,
            nodes: MountNodes::All,
        };
        for option in parts {
            match option {
                "ro" => mount.read_only = true,
                "rw" => mount.read_only = false,
                "masters" => mount.nodes = MountNodes::Masters,
                "workers" => mount.nodes = MountNodes::Workers,
                other => return Err(bad(&format!("unknown option {other:?}"))),
            }
        }
        Ok(mount)
    }

    /// Whether a master (`true`) or a worker (`false`) gets this mount. (A flag, not the
    /// plan's role: the settings hold mounts, and the plan is built from the settings.)
    pub fn applies_to(&self, master: bool) -> bool {
        match self.nodes {
            MountNodes::All => true,
            MountNodes::Masters => master,
            MountNodes::Workers => !master,
        }
    }

    /// Docker's bind: `HOST:NODE[:ro]`.
    pub fn bind(&self) -> String {
        let ro = if self.read_only { ":ro" } else { "" };
        format!("{}:{}{ro}", self.host_path.display(), self.node_path)
    }
}

/// The binds of a master (`true`) or a worker.
pub fn binds_for(mounts: &[Mount], master: bool) -> Vec<String> {
    mounts
        .iter()
        .filter(|m| m.applies_to(master))
        .map(Mount::bind)
        .collect()
}

/// Refuses, before anything is created, a host path that does not exist on this machine
/// (the daemon's, when the daemon is local).
pub fn require_host_paths(mounts: &[Mount]) -> anyhow::Result<()> {
    for mount in mounts {
        if !mount.host_path.exists() {
            return Err(usage(format!(
                "--mount: the host path {} does not exist",
                mount.host_path.display()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_parse_into_binds_for_their_nodes() {
        let cwd = Path::new("/work/here");
        // (text, bind, masters get it, workers get it)
        let table = [
            ("/data:/data", "/data:/data", true, true),
            ("/data:/mnt/d:ro", "/data:/mnt/d:ro", true, true),
            ("data:/d", "/work/here/data:/d", true, true),
            ("/a:/b:ro:masters", "/a:/b:ro", true, false),
            ("/a:/b:workers", "/a:/b", false, true),
        ];
        for (text, bind, masters, workers) in table {
            let mount = Mount::parse(text, cwd).unwrap();
            assert_eq!(mount.bind(), bind, "{text}");
            assert_eq!(
                binds_for(std::slice::from_ref(&mount), true).len() == 1,
                masters,
                "{text}"
            );
            assert_eq!(binds_for(&[mount], false).len() == 1, workers, "{text}");
        }
        for text in ["", "/a", ":/b", "/a:b", "/a:/b:rx", "/a:/b:ro:all"] {
            let error = Mount::parse(text, cwd).unwrap_err();
            assert_eq!(crate::error::exit_code(&error), 2, "{text}");
            assert!(error.to_string().contains("--mount"), "{text}: {error}");
        }
    }

    #[test]
    fn a_missing_host_path_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let here = Mount::parse(&format!("{}:/x", dir.path().display()), Path::new("/")).unwrap();
        assert!(require_host_paths(&[here]).is_ok());
        let gone = Mount::parse("/nonexistent-dind-i21:/x", Path::new("/")).unwrap();
        let error = require_host_paths(&[gone]).unwrap_err();
        assert_eq!(crate::error::exit_code(&error), 2);
        assert!(error.to_string().contains("/nonexistent-dind-i21"));
    }
}
