//! Waiting until a registry container answers `GET /v2/`: `registry up` returns only once
//! pushes and pulls can start. Docker starts the published port's proxy with the
//! container, before the registry inside listens, so a client that comes too early gets
//! "connection reset" (seen on the first pull through a fresh pull-through mirror).
//!
//! The probe runs inside the registry's own network namespace (`bash`'s `/dev/tcp`: the
//! Debian image has no HTTP client), so it works whatever machine the CLI runs on; the
//! registry listens on every address of its container, the published one included.

use super::local_registry::REGISTRY_PORT;
use crate::engine::Engine;
use crate::node::Node;
use anyhow::anyhow;
use std::time::Duration;

/// How long a registry may take to listen; it needs well under a second here.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The pause between two probes.
const PROBE_INTERVAL: Duration = Duration::from_millis(200);

/// One HTTP/1.0 `GET /v2/` on the registry's port; prints the status line.
fn probe_script() -> String {
    format!(
        "exec 3<>/dev/tcp/127.0.0.1/{REGISTRY_PORT} && \
         printf 'GET /v2/ HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n 1 <&3"
    )
}

/// Whether a status line is the registry API answering: 200, or 401 from a registry
/// that asks for credentials (the distribution spec's "API version check").
pub fn answers_v2(status_line: &str) -> bool {
    let mut parts = status_line.split_whitespace();
    let version = parts.next().unwrap_or_default();
    version.starts_with("HTTP/") && matches!(parts.next(), Some("200" | "401"))
}

/// Waits until the registry answers `GET /v2/`. Fails at once when the container stops
/// (a configuration it refuses), with the end of its log.
pub async fn wait_until_answering(engine: &Engine, name: &str) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    let script = probe_script();
    let node = Node::new(engine, name);
    loop {
        if engine.container_running(name).await? != Some(true) {
            return Err(anyhow!(
                "registry {name} stopped before it answered GET /v2/:\n{}",
                node.log_tail(20).await
            ));
        }
        // An exec that fails (the container restarting) is one more failed probe.
        if let Ok(output) = node.exec(&["bash", "-c", &script]).await {
            if answers_v2(&output.stdout) {
                return Ok(());
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(anyhow!(
                "registry {name} did not answer GET /v2/ within {} s:\n{}",
                READY_TIMEOUT.as_secs(),
                node.log_tail(20).await
            ));
        }
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        let table = [
            ("HTTP/1.1 200 OK\r\n", true),
            ("HTTP/1.0 200 OK", true),
            ("HTTP/1.1 401 Unauthorized", true),
            ("HTTP/1.1 404 Not Found", false),
            ("HTTP/1.1 503 Service Unavailable", false),
            ("", false),
            ("200 OK", false),
            ("bash: connect: Connection refused", false),
        ];
        for (line, answers) in table {
            assert_eq!(answers_v2(line), answers, "{line:?}");
        }
    }

    #[test]
    fn the_probe_asks_for_the_api_root_on_the_registry_port() {
        let script = probe_script();
        assert!(script.contains("/dev/tcp/127.0.0.1/5000"), "{script}");
        assert!(script.contains("GET /v2/ HTTP/1.0"), "{script}");
    }
}
