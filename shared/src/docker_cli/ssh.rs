//! `ssh://` daemons, reached as the docker CLI reaches them (docker/cli `cli/connhelper`):
//! each connection runs `ssh [-l USER] [-p PORT] -o ConnectTimeout=30 -T -- HOST docker
//! [--host=unix://PATH] system dial-stdio` and speaks HTTP over that process's stdin and
//! stdout. The user's own `ssh` does the rest (its config, keys, agent, known hosts).
//!
//! Not bollard's `ssh` feature: in bollard 0.21 it hands the `openssh` crate the URL's
//! authority without its `ssh://` scheme, so a port (`ssh://me@h:2222`) reaches `ssh` as
//! part of the host name, and it ignores the socket path; docker's helper has neither gap.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use anyhow::{bail, Result};
use bollard::{BollardRequest, Docker, API_DEFAULT_VERSION};
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, Join};
use tokio::process::{Child, ChildStdin, ChildStdout};

/// An `ssh://[user@]host[:port][/socket/path]` Docker host, checked as docker/cli's
/// `connhelper/ssh/ssh.go` (`ParseURL`, `NewSpec`) checks it.
#[derive(Debug, Clone, PartialEq)]
pub struct SshTarget {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    /// The daemon's socket on the remote machine, when not docker's default.
    pub socket_path: Option<String>,
}

impl SshTarget {
    pub fn parse(url: &str) -> Result<SshTarget> {
        let Some(rest) = url.strip_prefix("ssh://") else {
            bail!("invalid SSH URL {url:?}: incorrect scheme");
        };
        if rest.contains('?') {
            bail!("invalid SSH URL {url:?}: query parameters are not allowed");
        }
        if rest.contains('#') {
            bail!("invalid SSH URL {url:?}: fragments are not allowed");
        }
        let (authority, path) = match rest.find('/') {
            Some(slash) => rest.split_at(slash),
            None => (rest, ""),
        };
        let (user, host_port) = match authority.rsplit_once('@') {
            Some((user, host_port)) => (Some(user), host_port),
            None => (None, authority),
        };
        if user.is_some_and(|user| user.contains(':')) {
            bail!("invalid SSH URL {url:?}: plain-text password is not supported");
        }
        let (host, port) = match host_port.rsplit_once(':') {
            Some((host, _)) if !host.ends_with(']') && host.contains(':') => (host_port, None),
            Some((host, "")) => (host, None),
            Some((host, port)) => {
                let port = port
                    .parse::<u16>()
                    .map_err(|_| anyhow::anyhow!("invalid SSH URL {url:?}: invalid port"))?;
                (host, Some(port))
            }
            None => (host_port, None),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            bail!("invalid SSH URL {url:?}: hostname is empty");
        }
        Ok(SshTarget {
            user: user.filter(|user| !user.is_empty()).map(str::to_string),
            host: host.to_string(),
            port,
            // connhelper.go: a path other than "/" names the remote socket.
            socket_path: Some(path.to_string()).filter(|path| !path.trim_matches('/').is_empty()),
        })
    }

    /// The arguments of `ssh`, as docker's connection helper builds them.
    pub fn ssh_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(user) = &self.user {
            args.extend(["-l".to_string(), user.clone()]);
        }
        if let Some(port) = self.port {
            args.extend(["-p".to_string(), port.to_string()]);
        }
        args.extend(["-o", "ConnectTimeout=30", "-T", "--"].map(String::from));
        args.push(self.host.clone());
        // One word, as docker passes it: ssh hands the remote shell a command line.
        args.push(match &self.socket_path {
            Some(path) => format!(
                "docker '--host=unix://{}' system dial-stdio",
                path.replace('\'', "'\\''")
            ),
            None => "docker system dial-stdio".to_string(),
        });
        args
    }
}

/// A client for an `ssh://` daemon.
pub fn open(url: &str, timeout_secs: u64) -> Result<Docker> {
    let target = SshTarget::parse(url)?;
    let connector = SshConnector {
        args: Arc::new(target.ssh_args()),
    };
    let client = Client::builder(TokioExecutor::new()).build(connector);
    let transport = move |request: BollardRequest| {
        let client = client.clone();
        async move {
            client
                .request(request)
                .await
                .map_err(bollard::errors::Error::from)
        }
    };
    // The host part is only what HTTP requests name; docker uses the same placeholder.
    Ok(Docker::connect_with_custom_transport(
        transport,
        Some("http://docker.example.com"),
        timeout_secs,
        API_DEFAULT_VERSION,
    )?)
}

/// Opens one connection: one `ssh` process.
#[derive(Clone)]
struct SshConnector {
    args: Arc<Vec<String>>,
}

impl tower_service::Service<http::Uri> for SshConnector {
    type Response = SshStream;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<SshStream>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Uri) -> Self::Future {
        let args = self.args.clone();
        Box::pin(async move {
            let mut child = tokio::process::Command::new("ssh")
                .args(args.iter())
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                // ssh's own messages (a host key to accept, a refused key) reach the user.
                .stderr(std::process::Stdio::inherit())
                .kill_on_drop(true)
                .spawn()
                .map_err(|error| io::Error::new(error.kind(), format!("running ssh: {error}")))?;
            let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
                return Err(io::Error::other("ssh without piped stdin and stdout"));
            };
            Ok(SshStream {
                io: TokioIo::new(tokio::io::join(stdout, stdin)),
                _child: child,
            })
        })
    }
}

/// HTTP over an `ssh` process; the process ends with the connection.
struct SshStream {
    io: TokioIo<Join<ChildStdout, ChildStdin>>,
    _child: Child,
}

impl Connection for SshStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for SshStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for SshStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

// Only to name the bounds the client needs of the process's pipes.
const _: fn() = || {
    fn duplex<T: AsyncRead + AsyncWrite + Unpin + Send>() {}
    duplex::<Join<ChildStdout, ChildStdin>>();
};

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows from docker/cli `cli/connhelper/ssh/ssh.go` (`NewSpec`, `Spec.Args`) and
    /// `cli/connhelper/connhelper.go` (`-o ConnectTimeout=30`, `-T`, the remote command).
    #[test]
    fn ssh_urls_become_docker_s_ssh_command() {
        let cases: [(&str, Option<&str>); 6] = [
            (
                "ssh://root@127.0.0.1:2222",
                Some("-l root -p 2222 -o ConnectTimeout=30 -T -- 127.0.0.1 |docker system dial-stdio"),
            ),
            (
                "ssh://h.example",
                Some("-o ConnectTimeout=30 -T -- h.example |docker system dial-stdio"),
            ),
            (
                "ssh://me@h/",
                Some("-l me -o ConnectTimeout=30 -T -- h |docker system dial-stdio"),
            ),
            (
                "ssh://me@h/run/user/1000/docker.sock",
                Some("-l me -o ConnectTimeout=30 -T -- h |docker '--host=unix:///run/user/1000/docker.sock' system dial-stdio"),
            ),
            ("ssh://me:secret@h", None),
            ("ssh://h?x=1", None),
        ];
        for (url, want) in cases {
            let got = SshTarget::parse(url).map(|target| {
                let mut args = target.ssh_args();
                let command = args.pop().unwrap();
                format!("{} |{command}", args.join(" "))
            });
            assert_eq!(got.ok().as_deref(), want, "{url}");
        }
        assert!(SshTarget::parse("ssh://").is_err());
        assert_eq!(
            SshTarget::parse("ssh://[fd00::5]:22").unwrap().host,
            "fd00::5"
        );
    }
}
