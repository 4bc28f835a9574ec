//! The lifecycle of a cluster: `up`, `down` and `clean`, one small module per step.
//!
//! [`up`] runs the steps in order (with [`Run`], the context every step reads, kept apart
//! in `run.rs`): check the plan against Docker, make sure the images exist, ask the
//! Docker host what it offers ([`host_probe`]) and pass the one pre-flight gate
//! ([`preflight::gate`], which `join` passes too), create the network, create and boot
//! every node concurrently (with the DNS64/NAT64 support containers in IPv6 mode), then,
//! unless `--nodes-only`, set up Kubernetes with kubeadm, then the default StorageClass
//! and the addons ([`addons`]). Each node gets its [`extras`] (registry, CA and proxy
//! files, published ports, custom networks) between its creation and its start. Anything
//! a failed or interrupted run created is removed, unless `--retain`.

pub mod addons;
pub mod api_address;
pub mod api_proxy;
pub mod clean;
pub mod engines;
pub mod extras;
pub mod host_probe;
pub mod inventory;
pub mod join;
pub mod kube_binaries;
pub mod kubectl_dir;
pub mod kubernetes;
pub mod ledger;
pub mod load;
pub mod load_balancer;
pub mod load_via_registry;
pub mod local_registry;
pub mod master_opts;
pub mod membership;
pub mod net64;
pub mod network;
pub mod node_image;
pub mod node_ipv4;
pub mod node_names;
pub mod node_spec;
pub mod nodes;
pub mod pause;
pub mod planned_extras;
pub mod ports;
pub mod preflight;
pub mod registries;
pub mod registry_hosting;
pub mod registry_leave;
pub mod registry_mirror;
pub mod registry_ops;
pub mod registry_ready;
pub mod remove_node;
pub mod rendered;
pub mod reup;
pub mod reup_images;
mod run;
pub mod snapshot;
pub mod support;
pub mod swarm_check;
mod up;
pub mod up_lock;
pub mod v6_mesh;

pub use clean::clean;
pub use extras::check_offline;
pub use run::{Run, UpOptions};
pub use up::{up, UpReport};
