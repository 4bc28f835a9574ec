//! # dind
//!
//! Multi-node Kubernetes clusters made of Docker containers, built with kubeadm.
//! This crate does all the work; `kubectl-dind` and `docker-dind` only present it.
//!
//! The layers, from pure to I/O:
//! - [`settings`], [`names`], [`plan`]: who a cluster is, what its objects are called,
//!   which addresses they get. No I/O, unit-tested with tables.
//! - [`image`]: the node and support image recipes (pure) and their builds.
//! - [`engine`]: the one seam to Docker. Cluster logic never calls bollard directly.
//! - [`cluster`]: the steps of `up`, `down` and `clean`, one small module each.

pub mod docker_cli;
pub mod error;
pub mod image;
pub mod names;
pub mod plan;
pub mod settings;
pub mod version;

pub use error::{exit_code, usage, UsageError};
pub use names::ClusterIdentity;
pub use plan::ClusterPlan;
pub use settings::Settings;
