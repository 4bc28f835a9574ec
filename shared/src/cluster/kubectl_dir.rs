//! kubeadm-dind-cluster's `KUBECTL_DIR` / `DOWNLOAD_KUBECTL`: a kubectl of the cluster's
//! version in a directory of the user's, as `kubectl-<version>` with a `kubectl` link to
//! it (the shell tool's layout). The node image already holds that kubectl at
//! `/usr/bin/kubectl`, so it is copied out of the master instead of downloaded.

use crate::node::Node;
use crate::progress::Progress;
use anyhow::Context;
use std::path::{Path, PathBuf};

/// Where the node image keeps kubectl.
pub const NODE_KUBECTL: &str = "/usr/bin/kubectl";

/// Copies the master's kubectl into `dir`; returns the path of the `kubectl` link.
pub async fn install(
    master: &Node,
    dir: &Path,
    version: &str,
    progress: &Progress,
) -> anyhow::Result<PathBuf> {
    let contents = master.read_bytes(NODE_KUBECTL).await?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = format!("kubectl-{version}");
    let target = dir.join(&name);
    // Written beside, then renamed: a kubectl that is running keeps its old file.
    let partial = dir.join(format!(".{name}.partial"));
    std::fs::write(&partial, &contents)
        .with_context(|| format!("writing {}", partial.display()))?;
    set_executable(&partial)?;
    std::fs::rename(&partial, &target)
        .with_context(|| format!("renaming {} to {}", partial.display(), target.display()))?;
    let link = dir.join("kubectl");
    match std::fs::symlink_metadata(&link) {
        Ok(_) => {
            std::fs::remove_file(&link).with_context(|| format!("replacing {}", link.display()))?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("looking at {}", link.display())),
    }
    make_link(&name, &link)?;
    progress.note(format!(
        "Put kubectl {version} in {} (KUBECTL_DIR)",
        link.display()
    ));
    Ok(link)
}

#[cfg(unix)]
fn set_executable(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} executable", path.display()))
}

#[cfg(not(unix))]
fn set_executable(_path: &Path) -> anyhow::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn make_link(target: &str, link: &Path) -> anyhow::Result<()> {
    std::os::unix::fs::symlink(target, link)
        .with_context(|| format!("linking {} to {target}", link.display()))
}

#[cfg(not(unix))]
fn make_link(target: &str, link: &Path) -> anyhow::Result<()> {
    let dir = link.parent().unwrap_or(Path::new("."));
    std::fs::copy(dir.join(target), link)
        .map(|_| ())
        .with_context(|| format!("copying {target} to {}", link.display()))
}
