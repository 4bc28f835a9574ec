//! Attaching a running container to networks at fixed addresses, detaching it, and
//! listing its networks: what a container shared by several clusters (the local
//! registry) needs, where a node only ever joins the one network it is created on.

use super::Engine;
use anyhow::Context;
use bollard::models::{
    EndpointIpamConfig, EndpointSettings, NetworkConnectRequest, NetworkDisconnectRequest,
};
use bollard::query_parameters::InspectContainerOptions;
use std::net::{Ipv4Addr, Ipv6Addr};

impl Engine {
    /// Connects `container` to `network` with the given fixed addresses (Docker picks
    /// any family left out).
    pub async fn connect_network_at(
        &self,
        network: &str,
        container: &str,
        ipv4: Option<Ipv4Addr>,
        ipv6: Option<Ipv6Addr>,
    ) -> anyhow::Result<()> {
        let request = NetworkConnectRequest {
            container: container.to_string(),
            endpoint_config: Some(EndpointSettings {
                ipam_config: Some(EndpointIpamConfig {
                    ipv4_address: ipv4.map(|a| a.to_string()),
                    ipv6_address: ipv6.map(|a| a.to_string()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        };
        self.docker
            .connect_network(network, request)
            .await
            .with_context(|| format!("connecting {container} to network {network}"))
    }

    /// Disconnects `container` from `network`, even when it is stopped; one already off
    /// the network (or gone) is left as it is.
    pub async fn disconnect_network(&self, network: &str, container: &str) -> anyhow::Result<()> {
        let request = NetworkDisconnectRequest {
            container: container.to_string(),
            force: Some(true),
        };
        match self.docker.disconnect_network(network, request).await {
            // Already gone (another command took it off, or removed the network
            // meanwhile): what was asked for holds.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code,
                message,
            }) if status_code == 404
                || (status_code == 500 && message.contains("is not connected")) =>
            {
                Ok(())
            }
            result => {
                result.with_context(|| format!("disconnecting {container} from network {network}"))
            }
        }
    }

    /// The names of the networks a container is connected to.
    pub async fn container_networks(&self, container: &str) -> anyhow::Result<Vec<String>> {
        let details = self
            .docker
            .inspect_container(container, None::<InspectContainerOptions>)
            .await
            .with_context(|| format!("inspecting container {container}"))?;
        let mut names: Vec<String> = details
            .network_settings
            .and_then(|n| n.networks)
            .unwrap_or_default()
            .into_keys()
            .collect();
        names.sort();
        Ok(names)
    }

    /// The MAC address a container has on a network, once it is connected and started.
    pub async fn container_mac(
        &self,
        container: &str,
        network: &str,
    ) -> anyhow::Result<Option<String>> {
        let details = self
            .docker
            .inspect_container(container, None::<InspectContainerOptions>)
            .await
            .with_context(|| format!("inspecting container {container}"))?;
        Ok(details
            .network_settings
            .and_then(|n| n.networks)
            .and_then(|mut n| n.remove(network))
            .and_then(|endpoint| endpoint.mac_address)
            .filter(|mac| !mac.is_empty()))
    }
}
