//! The cluster's shared resources: networks and volumes.

use super::{label_filters, Engine, NetworkInfo, NetworkSpec};
use anyhow::Context;
use bollard::models::{Ipam, IpamConfig, NetworkCreateRequest, VolumeCreateRequest};
use bollard::query_parameters::{
    ListNetworksOptionsBuilder, ListVolumesOptionsBuilder, RemoveVolumeOptionsBuilder,
};
use ipnet::IpNet;
use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

impl Engine {
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
        self.network_mtu("bridge").await
    }

    /// The MTU a network's options set, if any.
    pub async fn network_mtu(&self, name: &str) -> anyhow::Result<Option<u32>> {
        let network = self
            .docker
            .inspect_network(
                name,
                None::<bollard::query_parameters::InspectNetworkOptions>,
            )
            .await
            .with_context(|| format!("inspecting Docker network {name}"))?;
        Ok(network
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
                ip_range: spec
                    .dynamic_ranges
                    .iter()
                    .find(|range| subnet.contains(*range))
                    .map(ToString::to_string),
                ..Default::default()
            })
            .collect();
        let mut options = HashMap::new();
        if let Some(mtu) = spec.mtu {
            options.insert("com.docker.network.driver.mtu".to_string(), mtu.to_string());
        }
        let request = NetworkCreateRequest {
            name: spec.name.clone(),
            driver: Some(if spec.overlay { "overlay" } else { "bridge" }.into()),
            enable_ipv4: (!spec.ipv4).then_some(false),
            attachable: spec.overlay.then_some(true),
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

    /// Creates a volume, or finds the one of that name: Docker then answers with the
    /// existing volume, unchanged. Returns the labels of the volume Docker answered with.
    pub async fn create_volume(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> anyhow::Result<BTreeMap<String, String>> {
        let request = VolumeCreateRequest {
            name: Some(name.to_string()),
            labels: Some(labels.clone().into_iter().collect()),
            ..Default::default()
        };
        let volume = self
            .docker
            .create_volume(request)
            .await
            .with_context(|| format!("creating volume {name}"))?;
        Ok(volume.labels.into_iter().collect())
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
}
