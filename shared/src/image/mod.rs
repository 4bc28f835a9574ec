//! The images dind builds: the node image (systemd, containerd, kubelet) and the support
//! image (BIND for DNS64, tayga for NAT64).
//!
//! [`recipe`] renders each image's build context as data and hashes it; [`build`] runs
//! the Docker build, reusing an image whose recipe label matches.

pub mod build;
pub mod local;
pub mod recipe;

pub use build::{ensure_image, node_recipe};
pub use recipe::{node_image_tag, KubeSource, NodeKubernetes, Recipe};
