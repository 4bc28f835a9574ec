//! # dind
//!
//! Multi-node Kubernetes clusters made of Docker containers, built with kubeadm.
//! This crate does all the work; `kubectl-dind` and `docker-dind` only present it.
//!
//! The layers, from pure to I/O:
//! - [`settings`], [`names`], [`plan`]: who a cluster is, what its objects are called,
//!   which addresses they get. No I/O, unit-tested with tables.
//! - [`image`]: the node and support image recipes (pure) and their builds.
//! - [`engine`]: the one seam to Docker; [`node::Node`] is every node operation.
//! - [`cluster`]: the steps of `up`, `down` and `clean`, one small module each.
//! - [`kubeadm`], [`cni`]: kubeadm and CNI configuration rendered from the
//!   plan (pure).
//! - [`kubeconfig`]: merging and removing kubectl contexts without losing anything.
//! - [`publish`], [`manifests`]: host port publications and the pinned addon
//!   manifests (pure).
//! - [`ready`]: waiting, through the Kubernetes API, until a cluster can take work.
//! - [`dump`], [`e2e`], [`contexts`]: a cluster's state as text sections, conformance
//!   runs, and the dind contexts of the kubeconfig (pure formats apart from their I/O).
//! - [`bootstrap_token`]: the random token a cluster's workers join with.
//! - [`text_table`]: aligned text columns that never panic on long cells.
//! - [`suggest`]: the known names closest to a mistyped one.
//! - [`yaml11`]: YAML that kubeadm and kubectl (YAML 1.1 readers) read as written.
//! - [`cli`]: the commands both plugins present.

pub mod bootstrap_token;
pub mod cli;
pub mod cluster;
pub mod cni;
pub mod contexts;
pub mod docker_cli;
pub mod dump;
pub mod e2e;
pub mod engine;
pub mod error;
pub mod image;
pub mod interrupt;
pub mod kubeadm;
pub mod kubeconfig;
pub mod manifests;
pub mod names;
pub mod node;
pub mod placement;
pub mod plan;
pub mod progress;
pub mod publish;
pub mod ready;
pub mod settings;
pub mod static_pods;
pub mod suggest;
pub mod text_table;
pub mod version;
pub mod yaml11;

pub use error::{exit_code, usage, UsageError};
pub use names::ClusterIdentity;
pub use plan::ClusterPlan;
pub use settings::Settings;
