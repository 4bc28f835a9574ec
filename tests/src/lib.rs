//! Test-only crate: see the files beside this one.
