//! Progress on stderr: long steps say what they do and how long it took. Data goes to
//! stdout, never here.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Where progress goes. Cheap to clone; a quiet one prints nothing.
#[derive(Debug, Clone)]
pub struct Progress {
    enabled: Arc<AtomicBool>,
}

impl Progress {
    pub fn stderr() -> Progress {
        Progress {
            enabled: Arc::new(AtomicBool::new(true)),
        }
    }

    pub fn quiet() -> Progress {
        Progress {
            enabled: Arc::new(AtomicBool::new(false)),
        }
    }

    fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// A one-off message.
    pub fn note(&self, message: impl AsRef<str>) {
        if self.enabled() {
            eprintln!(" • {}", message.as_ref());
        }
    }

    /// Starts a step; finish it with [`Step::done`] or [`Step::failed`].
    pub fn step(&self, message: impl Into<String>) -> Step {
        let message = message.into();
        if self.enabled() {
            eprintln!(" … {message}");
        }
        Step {
            message,
            started: Instant::now(),
            progress: self.clone(),
        }
    }
}

/// A step under way.
#[derive(Debug)]
pub struct Step {
    message: String,
    started: Instant,
    progress: Progress,
}

impl Step {
    /// A line of detail under the step.
    pub fn detail(&self, line: impl AsRef<str>) {
        if self.progress.enabled() {
            eprintln!("     {}", line.as_ref());
        }
    }

    /// Finishes the step as `result` says, and passes it on.
    pub fn finish<T>(self, result: anyhow::Result<T>) -> anyhow::Result<T> {
        match &result {
            Ok(_) => self.done(),
            Err(_) => self.failed(),
        }
        result
    }

    pub fn done(self) {
        if self.progress.enabled() {
            eprintln!(
                " ✓ {} ({:.1}s)",
                self.message,
                self.started.elapsed().as_secs_f64()
            );
        }
    }

    pub fn failed(self) {
        if self.progress.enabled() {
            eprintln!(
                " ✗ {} ({:.1}s)",
                self.message,
                self.started.elapsed().as_secs_f64()
            );
        }
    }
}
