//! Every knob of a cluster, where its value came from, and the checks that run before
//! anything is created.
//!
//! One table, [`VARIABLES`], names each setting three ways: its kubeadm-dind-cluster
//! environment variable (`CLUSTER_ID`), its flag (`--cluster-id`) and its key in the YAML
//! config file (`cluster-id`). Resolution is flag > environment > file > default, and
//! [`ResolvedSettings`] remembers the winner's [`Source`] so `settings` can show it.
//! [`Settings`] is the typed, validated result the rest of the crate works from.
//!
//! The pipeline, one file a stage (as ripgrep's `flags/`): [`table`] (what settings
//! exist), [`sources`] (the layers and the resolution), [`values`] (the value types and
//! their parsers), [`typed`] ([`Settings`]), [`stored`] (its stored form, the
//! settings label, read back as untrusted input). [`kdc`] maps
//! kubeadm-dind-cluster's own variables onto the table.

pub mod component_args;
pub mod containerd_patches;
pub mod docker_hosts;
pub mod kdc;
pub mod kube_proxy;
pub mod kubeadm_patches;
pub mod mounts;
pub mod sources;
pub mod stored;
pub mod table;
pub mod typed;
pub mod values;

pub use sources::{
    config_file_path, read_config_file, Layer, ResolvedSettings, ResolvedValue, Source,
};
pub use table::{
    variable_of_flag, Component, DefaultValue, Help, Variable, DEFAULT_KUBERNETES_VERSION,
    VARIABLES,
};
pub use typed::{Settings, SETTINGS_VERSION};
pub use values::{first_v4, first_v6, parse_cluster_id, Cni, IpMode, NodeIpv4};
