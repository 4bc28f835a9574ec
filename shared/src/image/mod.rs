//! The images dind builds: the node image (systemd, containerd, kubelet) and the support
//! image (BIND for DNS64, tayga for NAT64).
//!
//! [`recipe`] renders each image's build context as data and hashes it; identical
//! recipes are reused, not rebuilt. [`build`] runs the Docker build.

pub mod recipe;

pub use recipe::{node_image_tag, KubeSource, Recipe};
