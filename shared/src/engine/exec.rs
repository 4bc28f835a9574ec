//! Inside running containers: commands, files and console output.

use super::{Engine, ExecOutput};
use anyhow::{anyhow, Context};
use bollard::query_parameters::{
    DownloadFromContainerOptionsBuilder, LogsOptionsBuilder, UploadToContainerOptionsBuilder,
};
use futures::StreamExt;
use std::sync::Arc;

impl Engine {
    /// Runs a command in a running container and collects its output.
    pub async fn exec(
        &self,
        container: &str,
        argv: &[&str],
        stdin: Option<Vec<u8>>,
    ) -> anyhow::Result<ExecOutput> {
        let input = stdin.map(|data| {
            let (tx, rx) = tokio::sync::mpsc::channel(1);
            // Capacity 1 and a fresh channel: this send cannot fail.
            let _ = tx.try_send(Arc::from(data));
            rx
        });
        self.exec_with(container, argv, input).await
    }

    /// Runs a command with its stdin fed from `input` as the chunks arrive, and collects
    /// its output. Output is read while input is written, so neither side blocks.
    pub async fn exec_streaming(
        &self,
        container: &str,
        argv: &[&str],
        input: tokio::sync::mpsc::Receiver<Arc<[u8]>>,
    ) -> anyhow::Result<ExecOutput> {
        self.exec_with(container, argv, Some(input)).await
    }

    async fn exec_with(
        &self,
        container: &str,
        argv: &[&str],
        input: Option<tokio::sync::mpsc::Receiver<Arc<[u8]>>>,
    ) -> anyhow::Result<ExecOutput> {
        use bollard::exec::{CreateExecOptions, StartExecResults};
        use tokio::io::AsyncWriteExt;
        let what = || format!("running `{}` in {container}", argv.join(" "));
        let exec = self
            .docker
            .create_exec(
                container,
                CreateExecOptions {
                    cmd: Some(argv.iter().map(|s| s.to_string()).collect()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    attach_stdin: Some(input.is_some()),
                    ..Default::default()
                },
            )
            .await
            .with_context(what)?;
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        if let StartExecResults::Attached {
            mut output,
            input: mut stdin,
        } = self
            .docker
            .start_exec(&exec.id, None)
            .await
            .with_context(what)?
        {
            let feed = async {
                if let Some(mut input) = input {
                    while let Some(chunk) = input.recv().await {
                        stdin.write_all(&chunk).await.with_context(what)?;
                    }
                    stdin.shutdown().await.with_context(what)?;
                }
                drop(stdin);
                Ok::<_, anyhow::Error>(())
            };
            let collect = async {
                while let Some(item) = output.next().await {
                    match item.with_context(what)? {
                        bollard::container::LogOutput::StdErr { message } => {
                            stderr.extend_from_slice(&message)
                        }
                        other => stdout.extend_from_slice(&other.into_bytes()),
                    }
                }
                Ok::<_, anyhow::Error>(())
            };
            futures::future::try_join(feed, collect).await?;
        }
        let inspect = self
            .docker
            .inspect_exec(&exec.id)
            .await
            .with_context(what)?;
        Ok(ExecOutput {
            exit_code: inspect.exit_code.unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        })
    }

    /// Unpacks a tar archive at `/` in a container (running or only created).
    pub async fn upload_tar(&self, container: &str, tar: Vec<u8>) -> anyhow::Result<()> {
        self.upload_tar_into(container, "/", tar).await
    }

    /// Unpacks a tar archive in directory `dir` of a container (running or not).
    pub async fn upload_tar_into(
        &self,
        container: &str,
        dir: &str,
        tar: Vec<u8>,
    ) -> anyhow::Result<()> {
        let options = UploadToContainerOptionsBuilder::default().path(dir).build();
        self.docker
            .upload_to_container(container, Some(options), bollard::body_full(tar.into()))
            .await
            .with_context(|| format!("copying files into {container}"))
    }

    /// A path of a container as a tar archive (Docker's archive API), for binary files
    /// that an exec's text output would mangle.
    pub async fn download_tar(&self, container: &str, path: &str) -> anyhow::Result<Vec<u8>> {
        let options = DownloadFromContainerOptionsBuilder::default()
            .path(path)
            .build();
        let mut stream = self
            .docker
            .download_from_container(container, Some(options));
        let mut tar = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.with_context(|| format!("copying {path} out of {container}"))?;
            tar.extend_from_slice(&chunk);
        }
        Ok(tar)
    }

    /// Follows a container's output until a line contains `needle`. Fails when the
    /// output ends first (the container stopped).
    pub async fn wait_for_output(&self, container: &str, needle: &str) -> anyhow::Result<()> {
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .follow(true)
            .build();
        let mut stream = self.docker.logs(container, Some(options));
        // Output arrives in chunks that may split a line; keep the unfinished tail.
        let mut pending = String::new();
        while let Some(item) = stream.next().await {
            let chunk = item.with_context(|| format!("following the output of {container}"))?;
            pending.push_str(&strip_terminal_colors(&String::from_utf8_lossy(
                &chunk.into_bytes(),
            )));
            if pending.contains(needle) {
                return Ok(());
            }
            if let Some(last_newline) = pending.rfind('\n') {
                pending.drain(..=last_newline);
            }
        }
        Err(anyhow!(
            "{container} stopped before its output showed {needle:?}"
        ))
    }

    /// The last `lines` lines of a container's output.
    pub async fn logs_tail(&self, container: &str, lines: usize) -> anyhow::Result<String> {
        self.logs(container, &lines.to_string()).await
    }

    /// A container's whole output (its console), e.g. for a dump.
    pub async fn logs_all(&self, container: &str) -> anyhow::Result<String> {
        self.logs(container, "all").await
    }

    async fn logs(&self, container: &str, tail: &str) -> anyhow::Result<String> {
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail(tail)
            .build();
        let mut stream = self.docker.logs(container, Some(options));
        let mut out = Vec::new();
        while let Some(item) = stream.next().await {
            out.extend_from_slice(
                &item
                    .with_context(|| format!("reading the log of {container}"))?
                    .into_bytes(),
            );
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

/// Console text without its colour escapes (`ESC [ ... m`), as a person reads it.
fn strip_terminal_colors(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_escapes_are_stripped() {
        let table = [
            ("[\u{1b}[0;32m  OK  \u{1b}[0m] Reached target \u{1b}[0;1;39mmulti-user.target\u{1b}[0m - Multi-User System.", "[  OK  ] Reached target multi-user.target - Multi-User System."),
            ("plain", "plain"),
            ("", ""),
        ];
        for (raw, clean) in table {
            assert_eq!(strip_terminal_colors(raw), clean);
        }
    }
}
