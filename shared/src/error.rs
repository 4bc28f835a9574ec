//! The line between "you asked for something invalid" and "something failed while doing it".
//!
//! Usage errors exit with code 2, like clap's own parse errors, so scripts can tell a typo
//! from a broken Docker daemon. Everything else exits 1.

use std::fmt;

/// An invalid request: bad flag values, settings that contradict each other, a name that
/// Docker cannot hold. Raised before anything is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Builds an [`anyhow::Error`] that [`exit_code`] maps to 2.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(message.into()))
}

/// The user stopped the run (Ctrl-C, SIGTERM, the docker CLI going away).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupted;

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

/// Builds an [`anyhow::Error`] that [`exit_code`] maps to 130.
pub fn interrupted() -> anyhow::Error {
    anyhow::Error::new(Interrupted)
}

/// The process exit code for an error: 130 (128 + SIGINT, as shells report Ctrl-C) when
/// the run was interrupted, 2 when any cause is a [`UsageError`], else 1.
pub fn exit_code(error: &anyhow::Error) -> i32 {
    if error.chain().any(|cause| cause.is::<Interrupted>()) {
        130
    } else if error.chain().any(|cause| cause.is::<UsageError>()) {
        2
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn usage_errors_exit_2_even_when_wrapped() {
        let wrapped = Err::<(), _>(usage("bad id"))
            .context("reading settings")
            .unwrap_err();
        assert_eq!(exit_code(&wrapped), 2);
        assert_eq!(exit_code(&anyhow::anyhow!("docker is down")), 1);
        let stopped = Err::<(), _>(interrupted())
            .context("creating the nodes")
            .unwrap_err();
        assert_eq!(exit_code(&stopped), 130);
        assert_eq!(format!("{stopped:#}"), "creating the nodes: interrupted");
    }
}
