//! The context of one `up` (or `join`): its options, and [`Run`], what every step reads.
//! Apart from the orchestrator in [`super::up`], so the steps it calls do not import it
//! (kind keeps its `ActionContext` apart the same way, in `actions/action.go`).

use super::api_address::DaemonLocation;
use super::ledger::Ledger;
use crate::engine::{CgroupVersion, Engine, HostInfo};
use crate::plan::ClusterPlan;
use crate::progress::Progress;
use crate::settings::Settings;
use std::path::PathBuf;
use std::time::Duration;

/// How `up` runs, beyond the cluster's settings.
#[derive(Debug, Clone)]
pub struct UpOptions {
    pub nodes_only: bool,
    pub retain: bool,
    pub wait: Duration,
    pub node_timeout: Duration,
    /// Keep workloads off the master when there are workers.
    pub dedicated_master: bool,
    /// `--kubeconfig`, when given.
    pub kubeconfig: Option<PathBuf>,
    /// Where the Docker daemon runs: a remote one changes the API server's address.
    pub daemon: DaemonLocation,
    /// `restore`: a snapshot that does not fit is an error that keeps it.
    pub restoring: bool,
}

/// One run of `up`: what every step needs.
pub struct Run<'a> {
    /// The master's engine: the API server's, the support containers', the lock's.
    pub engine: &'a Engine,
    /// Every engine the nodes are spread over (only `engine` without `--docker-hosts`).
    pub engines: &'a super::engines::Engines,
    pub settings: &'a Settings,
    pub plan: &'a ClusterPlan,
    pub options: &'a UpOptions,
    pub cgroup: CgroupVersion,
    /// What the daemon says of itself.
    pub host: &'a HostInfo,
    /// Everything this run created, for rollback.
    pub ledger: &'a Ledger,
    pub progress: &'a Progress,
}
