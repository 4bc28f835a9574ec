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

/// The process exit code for an error: 2 when any cause is a [`UsageError`], else 1.
pub fn exit_code(error: &anyhow::Error) -> i32 {
    if error.chain().any(|cause| cause.is::<UsageError>()) {
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
    }
}
