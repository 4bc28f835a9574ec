//! Every operation on a node container goes through [`Node`]: run a command, write files,
//! read files, read its log. Cluster steps never address Docker directly.

use crate::engine::{Engine, ExecOutput};
use anyhow::{bail, Context};

/// A file to place in a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFile {
    /// Absolute path inside the node.
    pub path: String,
    pub contents: Vec<u8>,
    pub mode: u32,
}

impl NodeFile {
    pub fn new(path: impl Into<String>, contents: impl Into<Vec<u8>>) -> NodeFile {
        NodeFile {
            path: path.into(),
            contents: contents.into(),
            mode: 0o644,
        }
    }
}

/// A node container (or a support container: the operations are the same).
#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    engine: Engine,
}

impl Node {
    pub fn new(engine: &Engine, name: impl Into<String>) -> Node {
        Node {
            name: name.into(),
            engine: engine.clone(),
        }
    }

    /// The engine that holds this container.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Runs a command and returns its output whatever its exit code.
    pub async fn exec(&self, argv: &[&str]) -> anyhow::Result<ExecOutput> {
        self.engine.exec(&self.name, argv, None).await
    }

    /// Runs a command with `stdin` fed to it and fails on a non-zero exit.
    pub async fn exec_with_input(&self, argv: &[&str], stdin: Vec<u8>) -> anyhow::Result<String> {
        let output = self.engine.exec(&self.name, argv, Some(stdin)).await?;
        check(&self.name, argv, output)
    }

    /// Runs a command, fails on a non-zero exit with its stderr, returns its stdout.
    pub async fn run(&self, argv: &[&str]) -> anyhow::Result<String> {
        let output = self.exec(argv).await?;
        check(&self.name, argv, output)
    }

    /// Places files in the node through Docker's archive API, which also works before
    /// the container starts. Paths under tmpfs mounts (`/run`, `/tmp`) cannot be written
    /// this way: Docker writes beneath the mount.
    pub async fn write_files(&self, files: &[NodeFile]) -> anyhow::Result<()> {
        let mut builder = tar::Builder::new(Vec::new());
        for file in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(file.contents.len() as u64);
            header.set_mode(file.mode);
            header.set_mtime(0);
            let relative = file.path.trim_start_matches('/');
            builder
                .append_data(&mut header, relative, file.contents.as_slice())
                .with_context(|| format!("packing {} for {}", file.path, self.name))?;
        }
        let tar = builder
            .into_inner()
            .with_context(|| format!("packing files for {}", self.name))?;
        self.engine.upload_tar(&self.name, tar).await
    }

    /// Reads a file from the node.
    pub async fn read_file(&self, path: &str) -> anyhow::Result<String> {
        self.run(&["cat", path]).await
    }

    /// Reads a regular file from the node as bytes, through Docker's archive API.
    pub async fn read_bytes(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        let tar = self.engine.download_tar(&self.name, path).await?;
        let mut archive = tar::Archive::new(tar.as_slice());
        let mut entries = archive
            .entries()
            .with_context(|| format!("reading the archive of {path} from {}", self.name))?;
        let mut entry = entries
            .next()
            .with_context(|| format!("{path} is not in the archive from {}", self.name))?
            .with_context(|| format!("reading the archive of {path} from {}", self.name))?;
        let mut contents = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut contents)
            .with_context(|| format!("reading {path} from {}", self.name))?;
        Ok(contents)
    }

    /// Waits until the node's console output shows `needle`.
    pub async fn wait_for_output(&self, needle: &str) -> anyhow::Result<()> {
        self.engine.wait_for_output(&self.name, needle).await
    }

    /// The node's whole console output, as `docker logs` shows it.
    pub async fn console_log(&self) -> anyhow::Result<String> {
        self.engine.logs_all(&self.name).await
    }

    /// The last lines of the node's console output, for error messages.
    pub async fn log_tail(&self, lines: usize) -> String {
        self.engine
            .logs_tail(&self.name, lines)
            .await
            .unwrap_or_else(|e| format!("(could not read the log of {}: {e:#})", self.name))
    }
}

fn check(node: &str, argv: &[&str], output: ExecOutput) -> anyhow::Result<String> {
    if output.exit_code != 0 {
        let detail = if output.stderr.trim().is_empty() {
            output.stdout.trim()
        } else {
            output.stderr.trim()
        };
        bail!(
            "`{}` failed in {node} with exit code {}: {detail}",
            argv.join(" "),
            output.exit_code
        );
    }
    Ok(output.stdout)
}
