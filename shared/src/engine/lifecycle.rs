//! Containers: list, create, start, restart, remove, and what Docker says of them.

use super::{label_filters, ContainerInfo, ContainerSpec, Engine};
use anyhow::Context;
use bollard::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HostConfig,
    HostConfigCgroupnsModeEnum, NetworkingConfig, PortBinding, RestartPolicy,
    RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, InspectContainerOptions, ListContainersOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use std::collections::HashMap;

impl Engine {
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
                // A node on custom networks too (`DIND_CUSTOM_NETWORKS`) shows its
                // cluster network's addresses; the map's order is random.
                let mut endpoints: Vec<_> = endpoints.into_iter().collect();
                endpoints
                    .sort_by_key(|(name, _)| (!name.starts_with("kubeadm-dind-net"), name.clone()));
                let endpoints: Vec<_> = endpoints.into_iter().map(|(_, e)| e).collect();
                let ipv4 = endpoints
                    .iter()
                    .find_map(|e| e.ip_address.as_deref().and_then(|a| a.parse().ok()));
                let ipv6 = endpoints.iter().find_map(|e| {
                    e.global_ipv6_address
                        .as_deref()
                        .and_then(|a| a.parse().ok())
                });
                let ports = published_ports_of(c.ports.as_deref().unwrap_or_default());
                ContainerInfo {
                    ports,
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

    /// Starts a container. On a swarm overlay the engine asks a manager for the container's
    /// attachment, and under load (two spread `up`s at once) that request can time out
    /// (moby#41841, #31018): the container stays created and a second start succeeds, so
    /// that one failure is retried a few times. Every other error is returned at once.
    pub async fn start_container(&self, name: &str) -> anyhow::Result<()> {
        let mut backoff = std::time::Duration::from_millis(500);
        let mut attempt = 1;
        loop {
            let started = self
                .docker
                .start_container(
                    name,
                    None::<bollard::query_parameters::StartContainerOptions>,
                )
                .await;
            match started {
                Err(e) if attempt < START_ATTEMPTS && is_swarm_attach_timeout(&e.to_string()) => {
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                    attempt += 1;
                }
                other => return other.with_context(|| format!("starting container {name}")),
            }
        }
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

    /// Waits until a started container exits; returns its exit code.
    pub async fn wait_container(&self, name: &str) -> anyhow::Result<i64> {
        use futures::StreamExt;
        let mut stream = self.docker.wait_container(
            name,
            None::<bollard::query_parameters::WaitContainerOptions>,
        );
        match stream.next().await {
            Some(Ok(response)) => Ok(response.status_code),
            // bollard reports a non-zero exit as an error carrying the code.
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
            Some(Err(e)) => Err(e).with_context(|| format!("waiting for container {name}")),
            None => Err(anyhow::anyhow!(
                "waiting for container {name}: the daemon sent no exit status"
            )),
        }
    }

    /// Sends a signal to a container's main process, as `docker kill --signal`.
    pub async fn signal_container(&self, name: &str, signal: &str) -> anyhow::Result<()> {
        let options = bollard::query_parameters::KillContainerOptionsBuilder::default()
            .signal(signal)
            .build();
        self.docker
            .kill_container(name, Some(options))
            .await
            .with_context(|| format!("sending {signal} to container {name}"))
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
}

/// `ADDR:HOST->CONTAINER/PROTO` for each published port, sorted, without duplicates.
fn published_ports_of(ports: &[bollard::models::PortSummary]) -> Vec<String> {
    let mut out: Vec<String> = ports
        .iter()
        .filter_map(|p| {
            let public = p.public_port?;
            let ip = p.ip.as_deref().unwrap_or("0.0.0.0");
            let ip = if ip.contains(':') {
                format!("[{ip}]")
            } else {
                ip.to_string()
            };
            let proto = p.typ.map(|t| t.to_string()).unwrap_or_else(|| "tcp".into());
            Some(format!("{ip}:{public}->{}/{proto}", p.private_port))
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Translates a [`ContainerSpec`] into Docker's create request.
fn container_body(spec: &ContainerSpec) -> ContainerCreateBody {
    let non_empty = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    let port_bindings = port_bindings(spec);
    let exposed: Vec<String> = port_bindings.keys().cloned().collect();
    let host_config = HostConfig {
        privileged: Some(spec.privileged),
        cap_add: non_empty(&spec.cap_add),
        cap_drop: non_empty(&spec.cap_drop),
        security_opt: non_empty(&spec.security_opt),
        device_cgroup_rules: non_empty(&spec.device_cgroup_rules),
        devices: (!spec.devices.is_empty()).then(|| device_mappings(&spec.devices)),
        cgroupns_mode: Some(if spec.cgroupns_host {
            HostConfigCgroupnsModeEnum::HOST
        } else {
            HostConfigCgroupnsModeEnum::PRIVATE
        }),
        binds: non_empty(&spec.binds),
        tmpfs: (!spec.tmpfs.is_empty()).then(|| {
            spec.tmpfs
                .iter()
                // `PATH[:OPTIONS]`, as `docker run --tmpfs` takes it.
                .map(|t| match t.split_once(':') {
                    Some((path, options)) => (path.to_string(), options.to_string()),
                    None => (t.clone(), String::new()),
                })
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
        extra_hosts: non_empty(&spec.extra_hosts),
        memory: spec.memory,
        nano_cpus: spec.nano_cpus,
        ..Default::default()
    };
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
        networking_config: networking_config(spec),
        ..Default::default()
    }
}

/// Docker's port bindings of a spec, by `PORT/PROTOCOL`; host port 0 lets Docker pick.
fn port_bindings(spec: &ContainerSpec) -> HashMap<String, Option<Vec<PortBinding>>> {
    spec.ports
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
        .collect()
}

/// `HOST[:CONTAINER[:PERMISSIONS]]` devices, as `docker run --device` takes them.
fn device_mappings(devices: &[String]) -> Vec<bollard::models::DeviceMapping> {
    devices
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
}

/// The fixed addresses on the container's network. The host's network has no endpoint
/// settings to give; Docker refuses them there.
fn networking_config(spec: &ContainerSpec) -> Option<NetworkingConfig> {
    spec.network
        .as_ref()
        .filter(|network| network.as_str() != "host")
        .map(|network| NetworkingConfig {
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
        })
}

/// How many times a start that timed out attaching to a swarm overlay is tried.
const START_ATTEMPTS: u32 = 4;

/// Whether a start failed only because the swarm did not hand out the overlay attachment in
/// time (the container itself is fine).
fn is_swarm_attach_timeout(message: &str) -> bool {
    message.contains("attaching to network failed") && message.contains("context deadline exceeded")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_swarm_attach_timeout_is_retried() {
        let table = [
            (
                "Docker responded with status code 500: failed to set up container networking: \
                 attaching to network failed, make sure your network options are correct and \
                 check manager logs: context deadline exceeded",
                true,
            ),
            (
                "Docker responded with status code 500: context deadline exceeded",
                false,
            ),
            (
                "Docker responded with status code 400: invalid CapDrop: capability not supported",
                false,
            ),
            ("attaching to network failed: network not found", false),
        ];
        for (message, retried) in table {
            assert_eq!(is_swarm_attach_timeout(message), retried, "{message}");
        }
    }
}
