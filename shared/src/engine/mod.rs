//! The one seam between cluster logic and the container engine.
//!
//! Everything dind asks of Docker goes through [`Engine`], in dind's own terms
//! ([`ContainerSpec`], [`NetworkSpec`], label selectors), so the cluster steps never see
//! bollard's types. Node operations go through [`crate::node::Node`], built on this.
//!
//! The methods are split by concern: [`images`](self::images) (build, export, remove;
//! their JSON streams read by [`json_stream`](self::json_stream)),
//! [`resources`](self::resources) (networks and volumes), [`lifecycle`](self::lifecycle)
//! (containers: list, create, start, stop, inspect) and [`exec`](self::exec) (commands,
//! files and logs of running containers) and [`state`](self::state) (commit, pause,
//! snapshot images) and [`platform`](self::platform) (image platforms, exports of one).

mod attach;
mod exec;
mod images;
mod json_stream;
mod lifecycle;
mod platform;
mod push;
mod resources;
mod state;
mod swarm;

pub use images::{BuildEnd, RAGGED_END};
pub use platform::Platform;
pub use state::{ContainerDetails, FileChange, ImageRow};
pub use swarm::SwarmMembership;

use anyhow::Context;
use bollard::models::SystemInfoCgroupVersionEnum;
use bollard::Docker;
use ipnet::IpNet;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The host's cgroup hierarchy, as the daemon reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum CgroupVersion {
    V1,
    V2,
}

/// What dind needs to know about the daemon.
#[derive(Debug, Clone)]
pub struct HostInfo {
    pub server_version: String,
    pub cgroup_version: CgroupVersion,
    pub storage_driver: String,
    /// Where the daemon keeps images, containers and volumes, on its own machine.
    pub docker_root_dir: String,
    /// The API version agreed with the daemon, e.g. `1.41`.
    pub api_version: String,
    /// Whether images live in Docker's containerd image store (`docker info` lists the
    /// `io.containerd.snapshotter.v1` driver), the default of Docker 29's new installs.
    pub containerd_store: bool,
}

/// The driver type `docker info` reports on the containerd image store.
const CONTAINERD_SNAPSHOTTER: &str = "io.containerd.snapshotter.v1";

/// A Docker network as dind sees it.
#[derive(Debug, Clone)]
pub struct NetworkInfo {
    pub name: String,
    pub subnets: Vec<IpNet>,
    pub labels: HashMap<String, String>,
}

/// A network to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkSpec {
    pub name: String,
    pub subnets: Vec<IpNet>,
    pub gateways: Vec<IpAddr>,
    pub mtu: Option<u32>,
    pub labels: BTreeMap<String, String>,
    /// `false` creates the network without IPv4 (`EnableIPv4`, API 1.48); only sent then.
    pub ipv4: bool,
    /// A swarm-scoped attachable overlay (nodes on several engines), not a local bridge.
    pub overlay: bool,
    /// Where the engine may hand out addresses of its own (`IPRange`), per subnet that
    /// has one: a swarm gives every engine an endpoint on each overlay, which must not
    /// take a node's fixed address.
    pub dynamic_ranges: Vec<IpNet>,
}

/// One port publication: container port → host address and port (0 = any free port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortPublication {
    pub container_port: u16,
    pub protocol: String,
    pub host_ip: IpAddr,
    pub host_port: u16,
}

/// A container to create, in dind's terms.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub hostname: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub env: Vec<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub tty: bool,
    pub stop_signal: Option<String>,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub security_opt: Vec<String>,
    /// No masked or read-only paths under /proc and /sys. The docker CLI's
    /// `--security-opt systempaths=unconfined` means this; the API wants it spelled out.
    pub unconfined_system_paths: bool,
    pub device_cgroup_rules: Vec<String>,
    /// `PATH_ON_HOST:PATH_IN_CONTAINER:PERMISSIONS`.
    pub devices: Vec<String>,
    /// `true` shares the host's cgroup namespace, `false` gives a private one.
    pub cgroupns_host: bool,
    /// `SOURCE:TARGET[:OPTIONS]`, where SOURCE is a volume name or a host path.
    pub binds: Vec<String>,
    pub tmpfs: Vec<String>,
    pub sysctls: BTreeMap<String, String>,
    pub network: Option<String>,
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    pub ports: Vec<PortPublication>,
    /// Docker restart policy name: `no`, `on-failure`, `unless-stopped`.
    pub restart: Option<String>,
    /// `HOST:IP` entries for /etc/hosts (`--add-host`).
    pub extra_hosts: Vec<String>,
    /// Memory limit in bytes (`--memory`).
    pub memory: Option<i64>,
    /// CPU limit in units of 10⁻⁹ CPUs (`--cpus`).
    pub nano_cpus: Option<i64>,
}

/// A container as listed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ContainerInfo {
    pub name: String,
    pub image: String,
    pub state: String,
    pub labels: HashMap<String, String>,
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    /// Published ports, `127.0.0.1:18080->80/tcp`, as Docker lists them.
    pub ports: Vec<String>,
}

/// The result of a command run in a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    pub exit_code: i64,
    pub stdout: String,
    pub stderr: String,
}

/// A handle on the Docker daemon. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Engine {
    docker: Docker,
}

/// Whether an engine error is Docker's "no such object".
pub fn is_not_found(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<bollard::errors::Error>(),
            Some(bollard::errors::Error::DockerResponseServerError {
                status_code: 404,
                ..
            })
        )
    })
}

impl Engine {
    /// Wraps a connected client; see [`crate::docker_cli::connect`] for choosing the daemon.
    pub fn new(docker: Docker) -> Engine {
        Engine { docker }
    }

    pub async fn host_info(&self) -> anyhow::Result<HostInfo> {
        let info = self
            .docker
            .info()
            .await
            .context("asking the Docker daemon for its info")?;
        let cgroup_version = match info.cgroup_version {
            Some(SystemInfoCgroupVersionEnum::_1) => CgroupVersion::V1,
            _ => CgroupVersion::V2,
        };
        Ok(HostInfo {
            server_version: info.server_version.unwrap_or_default(),
            cgroup_version,
            storage_driver: info.driver.unwrap_or_default(),
            docker_root_dir: info.docker_root_dir.unwrap_or_default(),
            api_version: self.docker.client_version().to_string(),
            containerd_store: info
                .driver_status
                .unwrap_or_default()
                .iter()
                .flatten()
                .any(|field| field == CONTAINERD_SNAPSHOTTER),
        })
    }
}

/// Docker's label filter for list calls: `key` alone, or `key=value`.
pub(crate) fn label_filters(labels: &[(&str, &str)]) -> HashMap<String, Vec<String>> {
    let values = labels
        .iter()
        .map(|(k, v)| {
            if v.is_empty() {
                k.to_string()
            } else {
                format!("{k}={v}")
            }
        })
        .collect();
    HashMap::from([("label".to_string(), values)])
}
