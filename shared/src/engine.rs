//! The one seam between cluster logic and the container engine.
//!
//! Everything dind asks of Docker goes through [`Engine`], in dind's own terms
//! ([`ContainerSpec`], [`NetworkSpec`], label selectors), so the cluster steps never see
//! bollard's types. Node operations go through [`crate::node::Node`], built on this.

use anyhow::{anyhow, Context};
use bollard::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HostConfig,
    HostConfigCgroupnsModeEnum, Ipam, IpamConfig, NetworkCreateRequest, NetworkingConfig,
    PortBinding, RestartPolicy, RestartPolicyNameEnum, SystemInfoCgroupVersionEnum,
    VolumeCreateRequest,
};
use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateContainerOptionsBuilder, CreateImageOptionsBuilder,
    InspectContainerOptions, ListContainersOptionsBuilder, ListNetworksOptionsBuilder,
    ListVolumesOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveVolumeOptionsBuilder, UploadToContainerOptionsBuilder,
};
use bollard::Docker;
use futures::StreamExt;
use ipnet::IpNet;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

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
}

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
        })
    }

    // ---- images ----

    /// The labels of an image, or `None` when the image is not present.
    pub async fn image_labels(
        &self,
        image: &str,
    ) -> anyhow::Result<Option<HashMap<String, String>>> {
        match self.docker.inspect_image(image).await {
            Ok(inspect) => Ok(Some(
                inspect.config.and_then(|c| c.labels).unwrap_or_default(),
            )),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("inspecting image {image}")),
        }
    }

    /// Pulls an image from its registry.
    pub async fn pull_image(&self, image: &str) -> anyhow::Result<()> {
        let options = CreateImageOptionsBuilder::default()
            .from_image(image)
            .build();
        let mut stream = self.docker.create_image(Some(options), None, None);
        while let Some(item) = stream.next().await {
            item.with_context(|| format!("pulling image {image}"))?;
        }
        Ok(())
    }

    /// Builds an image from a tar context; `on_line` sees each line of build output.
    pub async fn build_image(
        &self,
        tag: &str,
        context_tar: Vec<u8>,
        labels: &BTreeMap<String, String>,
        on_line: &mut (dyn FnMut(&str) + Send),
    ) -> anyhow::Result<()> {
        let labels: HashMap<String, String> = labels.clone().into_iter().collect();
        let options = BuildImageOptionsBuilder::default()
            .dockerfile("Dockerfile")
            .t(tag)
            .rm(true)
            .forcerm(true)
            .labels(&labels)
            .build();
        let mut stream =
            self.docker
                .build_image(options, None, Some(bollard::body_full(context_tar.into())));
        while let Some(item) = stream.next().await {
            let info = item.with_context(|| format!("building image {tag}"))?;
            if let Some(detail) = info.error_detail {
                return Err(anyhow!(
                    "building image {tag}: {}",
                    detail.message.unwrap_or_default()
                ));
            }
            if let Some(text) = info.stream {
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    on_line(line);
                }
            }
        }
        Ok(())
    }

    /// The bytes of `docker save IMAGE`.
    pub async fn export_image(&self, image: &str) -> anyhow::Result<Vec<u8>> {
        let mut stream = self.docker.export_image(image);
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk.with_context(|| format!("exporting image {image}"))?);
        }
        Ok(out)
    }

    pub async fn remove_image(&self, image: &str) -> anyhow::Result<()> {
        match self
            .docker
            .remove_image(
                image,
                None::<bollard::query_parameters::RemoveImageOptions>,
                None,
            )
            .await
        {
            Ok(_)
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(e).with_context(|| format!("removing image {image}")),
        }
    }

    // ---- networks ----

    pub async fn networks(&self) -> anyhow::Result<Vec<NetworkInfo>> {
        let networks = self
            .docker
            .list_networks(Some(ListNetworksOptionsBuilder::default().build()))
            .await
            .context("listing Docker networks")?;
        Ok(networks
            .into_iter()
            .map(|n| NetworkInfo {
                name: n.name.unwrap_or_default(),
                subnets: n
                    .ipam
                    .and_then(|i| i.config)
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|c| c.subnet.and_then(|s| IpNet::from_str(&s).ok()))
                    .collect(),
                labels: n.labels.unwrap_or_default(),
            })
            .collect())
    }

    /// The MTU of Docker's default bridge, when it sets one.
    pub async fn default_bridge_mtu(&self) -> anyhow::Result<Option<u32>> {
        let bridge = self
            .docker
            .inspect_network(
                "bridge",
                None::<bollard::query_parameters::InspectNetworkOptions>,
            )
            .await
            .context("inspecting Docker's default bridge network")?;
        Ok(bridge
            .options
            .and_then(|o| o.get("com.docker.network.driver.mtu").cloned())
            .and_then(|mtu| mtu.parse().ok()))
    }

    pub async fn create_network(&self, spec: &NetworkSpec) -> anyhow::Result<()> {
        let config = spec
            .subnets
            .iter()
            .zip(&spec.gateways)
            .map(|(subnet, gateway)| IpamConfig {
                subnet: Some(subnet.to_string()),
                gateway: Some(gateway.to_string()),
                ..Default::default()
            })
            .collect();
        let mut options = HashMap::new();
        if let Some(mtu) = spec.mtu {
            options.insert("com.docker.network.driver.mtu".to_string(), mtu.to_string());
        }
        let request = NetworkCreateRequest {
            name: spec.name.clone(),
            driver: Some("bridge".into()),
            enable_ipv6: Some(spec.subnets.iter().any(|s| matches!(s, IpNet::V6(_)))),
            ipam: Some(Ipam {
                driver: Some("default".into()),
                config: Some(config),
                options: None,
            }),
            options: Some(options),
            labels: Some(spec.labels.clone().into_iter().collect()),
            ..Default::default()
        };
        self.docker
            .create_network(request)
            .await
            .with_context(|| format!("creating network {}", spec.name))?;
        Ok(())
    }

    /// Removes a network; `Ok(false)` when it did not exist.
    pub async fn remove_network(&self, name: &str) -> anyhow::Result<bool> {
        match self.docker.remove_network(name).await {
            Ok(()) => Ok(true),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(false),
            Err(e) => Err(e).with_context(|| format!("removing network {name}")),
        }
    }

    pub async fn connect_network(&self, network: &str, container: &str) -> anyhow::Result<()> {
        let request = bollard::models::NetworkConnectRequest {
            container: container.to_string(),
            ..Default::default()
        };
        self.docker
            .connect_network(network, request)
            .await
            .with_context(|| format!("connecting {container} to network {network}"))
    }

    // ---- volumes ----

    /// Names of volumes carrying all the given labels.
    pub async fn volumes(&self, labels: &[(&str, &str)]) -> anyhow::Result<Vec<String>> {
        let options = ListVolumesOptionsBuilder::default()
            .filters(&label_filters(labels))
            .build();
        let response = self
            .docker
            .list_volumes(Some(options))
            .await
            .context("listing Docker volumes")?;
        Ok(response
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.name)
            .collect())
    }

    pub async fn create_volume(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> anyhow::Result<()> {
        let request = VolumeCreateRequest {
            name: Some(name.to_string()),
            labels: Some(labels.clone().into_iter().collect()),
            ..Default::default()
        };
        self.docker
            .create_volume(request)
            .await
            .with_context(|| format!("creating volume {name}"))?;
        Ok(())
    }

    /// Removes a volume; `Ok(false)` when it did not exist.
    pub async fn remove_volume(&self, name: &str) -> anyhow::Result<bool> {
        let options = RemoveVolumeOptionsBuilder::default().force(true).build();
        match self.docker.remove_volume(name, Some(options)).await {
            Ok(()) => Ok(true),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(false),
            Err(e) => Err(e).with_context(|| format!("removing volume {name}")),
        }
    }

    // ---- containers ----

    /// Containers (running or not) carrying all the given labels.
    pub async fn containers(&self, labels: &[(&str, &str)]) -> anyhow::Result<Vec<ContainerInfo>> {
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&label_filters(labels))
            .build();
        let list = self
            .docker
            .list_containers(Some(options))
            .await
            .context("listing Docker containers")?;
        let mut out: Vec<ContainerInfo> = list
            .into_iter()
            .map(|c| {
                let endpoints = c
                    .network_settings
                    .and_then(|n| n.networks)
                    .unwrap_or_default();
                let ipv4 = endpoints
                    .values()
                    .find_map(|e| e.ip_address.as_deref().and_then(|a| a.parse().ok()));
                let ipv6 = endpoints.values().find_map(|e| {
                    e.global_ipv6_address
                        .as_deref()
                        .and_then(|a| a.parse().ok())
                });
                ContainerInfo {
                    name: c
                        .names
                        .unwrap_or_default()
                        .first()
                        .map(|n| n.trim_start_matches('/').to_string())
                        .unwrap_or_default(),
                    image: c.image.unwrap_or_default(),
                    state: c.state.map(|s| s.to_string()).unwrap_or_default(),
                    labels: c.labels.unwrap_or_default(),
                    ipv4,
                    ipv6,
                }
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    pub async fn create_container(&self, spec: &ContainerSpec) -> anyhow::Result<()> {
        let body = container_body(spec);
        let options = CreateContainerOptionsBuilder::default()
            .name(&spec.name)
            .build();
        self.docker
            .create_container(Some(options), body)
            .await
            .with_context(|| format!("creating container {}", spec.name))?;
        Ok(())
    }

    pub async fn start_container(&self, name: &str) -> anyhow::Result<()> {
        self.docker
            .start_container(
                name,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await
            .with_context(|| format!("starting container {name}"))
    }

    pub async fn restart_container(&self, name: &str) -> anyhow::Result<()> {
        self.docker
            .restart_container(
                name,
                None::<bollard::query_parameters::RestartContainerOptions>,
            )
            .await
            .with_context(|| format!("restarting container {name}"))
    }

    /// Force-removes a container and its anonymous volumes; `Ok(false)` when it did not exist.
    pub async fn remove_container(&self, name: &str) -> anyhow::Result<bool> {
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        match self.docker.remove_container(name, Some(options)).await {
            Ok(()) => Ok(true),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(false),
            Err(e) => Err(e).with_context(|| format!("removing container {name}")),
        }
    }

    /// Whether a container is running, `None` when it does not exist.
    pub async fn container_running(&self, name: &str) -> anyhow::Result<Option<bool>> {
        match self
            .docker
            .inspect_container(name, None::<InspectContainerOptions>)
            .await
        {
            Ok(c) => Ok(Some(c.state.and_then(|s| s.running).unwrap_or(false))),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("inspecting container {name}")),
        }
    }

    /// The host ports a container's port is published on, as Docker reports them.
    pub async fn published_ports(
        &self,
        name: &str,
        container_port: &str,
    ) -> anyhow::Result<Vec<(String, u16)>> {
        let inspect = self
            .docker
            .inspect_container(name, None::<InspectContainerOptions>)
            .await
            .with_context(|| format!("inspecting container {name}"))?;
        let bindings = inspect
            .network_settings
            .and_then(|n| n.ports)
            .and_then(|mut ports| ports.remove(container_port))
            .flatten()
            .unwrap_or_default();
        Ok(bindings
            .into_iter()
            .filter_map(|b| Some((b.host_ip.unwrap_or_default(), b.host_port?.parse().ok()?)))
            .collect())
    }

    /// The port bindings a container was created with (`HostConfig.PortBindings`).
    pub async fn requested_port_bindings(
        &self,
        name: &str,
    ) -> anyhow::Result<HashMap<String, Vec<(String, String)>>> {
        let inspect = self
            .docker
            .inspect_container(name, None::<InspectContainerOptions>)
            .await
            .with_context(|| format!("inspecting container {name}"))?;
        Ok(inspect
            .host_config
            .and_then(|h| h.port_bindings)
            .unwrap_or_default()
            .into_iter()
            .map(|(port, bindings)| {
                let bindings = bindings
                    .unwrap_or_default()
                    .into_iter()
                    .map(|b| {
                        (
                            b.host_ip.unwrap_or_default(),
                            b.host_port.unwrap_or_default(),
                        )
                    })
                    .collect();
                (port, bindings)
            })
            .collect())
    }

    /// Runs a command in a running container and collects its output.
    pub async fn exec(
        &self,
        container: &str,
        argv: &[&str],
        stdin: Option<Vec<u8>>,
    ) -> anyhow::Result<ExecOutput> {
        use bollard::exec::{CreateExecOptions, StartExecResults};
        use tokio::io::AsyncWriteExt;
        let what = || format!("running `{}` in {container}", argv.join(" "));
        let exec = self
            .docker
            .create_exec(
                container,
                CreateExecOptions {
                    cmd: Some(argv.iter().map(|s| s.to_string()).collect()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    attach_stdin: Some(stdin.is_some()),
                    ..Default::default()
                },
            )
            .await
            .with_context(what)?;
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        match self
            .docker
            .start_exec(&exec.id, None)
            .await
            .with_context(what)?
        {
            StartExecResults::Attached {
                mut output,
                mut input,
            } => {
                if let Some(data) = stdin {
                    input.write_all(&data).await.with_context(what)?;
                    input.shutdown().await.with_context(what)?;
                }
                drop(input);
                while let Some(item) = output.next().await {
                    match item.with_context(what)? {
                        bollard::container::LogOutput::StdErr { message } => {
                            stderr.extend_from_slice(&message)
                        }
                        other => stdout.extend_from_slice(&other.into_bytes()),
                    }
                }
            }
            StartExecResults::Detached => {}
        }
        let inspect = self
            .docker
            .inspect_exec(&exec.id)
            .await
            .with_context(what)?;
        Ok(ExecOutput {
            exit_code: inspect.exit_code.unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        })
    }

    /// Unpacks a tar archive at `/` in a container (running or only created).
    pub async fn upload_tar(&self, container: &str, tar: Vec<u8>) -> anyhow::Result<()> {
        let options = UploadToContainerOptionsBuilder::default().path("/").build();
        self.docker
            .upload_to_container(container, Some(options), bollard::body_full(tar.into()))
            .await
            .with_context(|| format!("copying files into {container}"))
    }

    /// Follows a container's output until a line contains `needle`. Fails when the
    /// output ends first (the container stopped).
    pub async fn wait_for_output(&self, container: &str, needle: &str) -> anyhow::Result<()> {
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .follow(true)
            .build();
        let mut stream = self.docker.logs(container, Some(options));
        // Output arrives in chunks that may split a line; keep the unfinished tail.
        let mut pending = String::new();
        while let Some(item) = stream.next().await {
            let chunk = item.with_context(|| format!("following the output of {container}"))?;
            pending.push_str(&strip_terminal_colors(&String::from_utf8_lossy(
                &chunk.into_bytes(),
            )));
            if pending.contains(needle) {
                return Ok(());
            }
            if let Some(last_newline) = pending.rfind('\n') {
                pending.drain(..=last_newline);
            }
        }
        Err(anyhow!(
            "{container} stopped before its output showed {needle:?}"
        ))
    }

    /// The last `lines` lines of a container's output.
    pub async fn logs_tail(&self, container: &str, lines: usize) -> anyhow::Result<String> {
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail(&lines.to_string())
            .build();
        let mut stream = self.docker.logs(container, Some(options));
        let mut out = Vec::new();
        while let Some(item) = stream.next().await {
            out.extend_from_slice(
                &item
                    .with_context(|| format!("reading the log of {container}"))?
                    .into_bytes(),
            );
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

/// Console text without its colour escapes (`ESC [ ... m`), as a person reads it.
fn strip_terminal_colors(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn label_filters(labels: &[(&str, &str)]) -> HashMap<String, Vec<String>> {
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

/// Translates a [`ContainerSpec`] into Docker's create request.
fn container_body(spec: &ContainerSpec) -> ContainerCreateBody {
    let non_empty = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    let port_bindings: HashMap<String, Option<Vec<PortBinding>>> = spec
        .ports
        .iter()
        .map(|p| {
            let binding = PortBinding {
                host_ip: Some(p.host_ip.to_string()),
                host_port: Some(if p.host_port == 0 {
                    String::new()
                } else {
                    p.host_port.to_string()
                }),
            };
            (
                format!("{}/{}", p.container_port, p.protocol),
                Some(vec![binding]),
            )
        })
        .collect();
    let exposed: Vec<String> = port_bindings.keys().cloned().collect();
    let host_config = HostConfig {
        privileged: Some(spec.privileged),
        cap_add: non_empty(&spec.cap_add),
        cap_drop: non_empty(&spec.cap_drop),
        security_opt: non_empty(&spec.security_opt),
        device_cgroup_rules: non_empty(&spec.device_cgroup_rules),
        devices: (!spec.devices.is_empty()).then(|| {
            spec.devices
                .iter()
                .map(|d| {
                    let mut parts = d.splitn(3, ':');
                    bollard::models::DeviceMapping {
                        path_on_host: parts.next().map(str::to_string),
                        path_in_container: parts.next().map(str::to_string),
                        cgroup_permissions: Some(parts.next().unwrap_or("rwm").to_string()),
                    }
                })
                .collect()
        }),
        cgroupns_mode: Some(if spec.cgroupns_host {
            HostConfigCgroupnsModeEnum::HOST
        } else {
            HostConfigCgroupnsModeEnum::PRIVATE
        }),
        binds: non_empty(&spec.binds),
        tmpfs: (!spec.tmpfs.is_empty()).then(|| {
            spec.tmpfs
                .iter()
                .map(|t| (t.clone(), String::new()))
                .collect()
        }),
        sysctls: (!spec.sysctls.is_empty()).then(|| spec.sysctls.clone().into_iter().collect()),
        network_mode: spec.network.clone(),
        port_bindings: (!port_bindings.is_empty()).then_some(port_bindings),
        restart_policy: spec.restart.as_deref().map(|name| RestartPolicy {
            name: Some(match name {
                "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
                "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
                "always" => RestartPolicyNameEnum::ALWAYS,
                _ => RestartPolicyNameEnum::NO,
            }),
            maximum_retry_count: (name == "on-failure").then_some(1),
        }),
        masked_paths: spec.unconfined_system_paths.then(Vec::new),
        readonly_paths: spec.unconfined_system_paths.then(Vec::new),
        init: Some(false),
        ..Default::default()
    };
    let networking_config = spec.network.as_ref().map(|network| NetworkingConfig {
        endpoints_config: Some(HashMap::from([(
            network.clone(),
            EndpointSettings {
                ipam_config: Some(EndpointIpamConfig {
                    ipv4_address: spec.ipv4.map(|a| a.to_string()),
                    ipv6_address: spec.ipv6.map(|a| a.to_string()),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )])),
    });
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        hostname: spec.hostname.clone(),
        labels: Some(spec.labels.clone().into_iter().collect()),
        env: non_empty(&spec.env),
        entrypoint: spec.entrypoint.clone(),
        cmd: spec.cmd.clone(),
        tty: Some(spec.tty),
        stop_signal: spec.stop_signal.clone(),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        host_config: Some(host_config),
        networking_config,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_escapes_are_stripped() {
        let table = [
            ("[\u{1b}[0;32m  OK  \u{1b}[0m] Reached target \u{1b}[0;1;39mmulti-user.target\u{1b}[0m - Multi-User System.", "[  OK  ] Reached target multi-user.target - Multi-User System."),
            ("plain", "plain"),
            ("", ""),
        ];
        for (raw, clean) in table {
            assert_eq!(strip_terminal_colors(raw), clean);
        }
    }
}
