//! Command-line glue both plugins share, one file per command (cargo's rule): each
//! `cli/<command>.rs` holds its arguments and its call into the library, and
//! [`dispatch`] parses and runs them all. This module keeps what every command shares:
//! the flags ([`flags`]), the output formats ([`output`]) and the context a command runs
//! in ([`context`]).
//!
//! The binaries only add their own global options (docker's `-H`, kubectl's
//! `--kubeconfig`) to their face in [`plugins`], and parse and run through it.

pub mod apiserver_port;
pub mod build_image;
pub mod clean;
pub mod completion;
pub mod context;
pub mod contexts;
pub mod dispatch;
pub mod down;
pub mod dump;
pub mod e2e;
pub mod flags;
pub mod join;
pub mod load;
pub mod nodes;
pub mod output;
pub mod pause;
pub mod plugins;
pub mod registry;
pub mod remove_node;
pub mod reup;
pub mod settings;
pub mod snapshot;
pub mod spread;
pub mod up;

pub use context::CommandContext;
pub use dispatch::{exit_with, DindCommand, Plugin};
pub use flags::{parse_duration, ClusterFlags, ListArgs, NodeOptions, SelectArgs, SettingsFlags};
pub use output::{print, render_table, Output};
pub use up::UpArgs;
