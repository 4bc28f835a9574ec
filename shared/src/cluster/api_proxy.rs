//! The API proxy of a cluster whose nodes have no IPv4 ([`super::node_ipv4`]): a `socat`
//! container on the edge network (IPv4) and the node network (IPv6) that publishes the
//! API server port where the master would, and forwards each connection to the master
//! over IPv6.
//!
//! Why `socat` in the support image rather than HAProxy: the proxy forwards one port to
//! one backend, so it needs no balancing or health checks; `socat` comes with the image
//! that the same cluster already builds for DNS64/NAT64 (one more Debian package, no new
//! image), and forks one process per connection: `scripts/bench-api-proxy.sh` measured
//! about 1 ms more per connection than a published port alone (200 connections: 829 ms
//! against 641 ms) and no loss on a 200 MB transfer (1338 ms against 1517 ms), which for
//! kubectl and the readiness wait (a handful of long-lived connections) does not show. It
//! carries TLS through untouched, so the API server's certificate and the kubeconfig are
//! the same as with a published master.
//!
//! The proxy belongs to the master's publication: `down` removes it with the nodes, and
//! `up` creates it afresh with the port it decides.

use super::ledger::Ledger;
use super::net64::support_labels;
use crate::engine::{is_not_found, ContainerSpec, Engine, PortPublication};
use crate::names::{labels, ClusterIdentity};
use crate::plan::ClusterPlan;
use std::collections::BTreeMap;
use std::net::Ipv6Addr;

/// Host part of the proxy's address on the node network (`::300`): past the nodes (at
/// most `::ff`), the DNS64 server (`::100`) and the NAT64 gateway (`::200`).
const API_PROXY_HOST: u128 = 0x300;

/// The `dind.support` label value of the proxy.
pub const API_PROXY_ROLE: &str = "api-proxy";

/// The proxy's container (created on the edge network) and its fixed address on the node
/// network; `None` when the master publishes the API server itself.
pub fn api_proxy_container(plan: &ClusterPlan, image: &str) -> Option<(ContainerSpec, Ipv6Addr)> {
    let edge = plan.edge.as_ref()?;
    let master = plan.master().ipv6?;
    let node_v6 = plan.network.subnets.iter().find_map(|s| match s {
        ipnet::IpNet::V6(net) => Some(*net),
        ipnet::IpNet::V4(_) => None,
    })?;
    let address = Ipv6Addr::from(u128::from(node_v6.network()) + API_PROXY_HOST);
    let port = crate::kubeadm::API_SERVER_PORT;
    let name = plan.cluster.api_proxy_name();
    let spec = ContainerSpec {
        name: name.clone(),
        image: image.to_string(),
        hostname: Some(name),
        labels: support_labels(plan, API_PROXY_ROLE),
        entrypoint: Some(vec!["socat".into()]),
        cmd: Some(vec![
            format!("TCP6-LISTEN:{port},ipv6only=0,fork,reuseaddr"),
            format!("TCP6:[{master}]:{port},connect-timeout=5"),
        ]),
        sysctls: BTreeMap::from([("net.ipv6.conf.all.disable_ipv6".into(), "0".into())]),
        network: Some(edge.name.clone()),
        ports: vec![PortPublication {
            container_port: port,
            protocol: "tcp".into(),
            host_ip: plan.apiserver_address,
            host_port: plan.apiserver_port.unwrap_or(0),
        }],
        restart: Some("unless-stopped".into()),
        ..ContainerSpec::default()
    };
    Some((spec, address))
}

/// Creates and starts the proxy of a cluster that needs one, replacing one left from an
/// earlier run (it holds no state, and may publish another port).
pub async fn ensure_api_proxy(
    engine: &Engine,
    plan: &ClusterPlan,
    image: &str,
    ledger: &Ledger,
) -> anyhow::Result<()> {
    let Some((spec, address)) = api_proxy_container(plan, image) else {
        return Ok(());
    };
    if engine.container_running(&spec.name).await?.is_some() {
        engine.remove_container(&spec.name).await?;
    }
    ledger.create_container(engine, &spec).await?;
    engine
        .connect_network_at(&plan.network.name, &spec.name, None, Some(address))
        .await?;
    engine.start_container(&spec.name).await
}

/// Removes the proxy of a cluster, if it has one (`down`).
pub async fn remove_api_proxy(engine: &Engine, cluster_key: &str) -> anyhow::Result<Vec<String>> {
    let proxies: Vec<String> = engine
        .containers(&[
            (labels::CLUSTER, cluster_key),
            (labels::SUPPORT, API_PROXY_ROLE),
        ])
        .await?
        .into_iter()
        .map(|c| c.name)
        .collect();
    for proxy in &proxies {
        engine.remove_container(proxy).await?;
    }
    Ok(proxies)
}

/// The host port the cluster's API server is published on: the master's, or its
/// proxy's when the nodes have no IPv4.
pub async fn published_api_port(
    engine: &Engine,
    cluster: &ClusterIdentity,
) -> anyhow::Result<Option<u16>> {
    let port = format!("{}/tcp", crate::kubeadm::API_SERVER_PORT);
    // Several masters publish the port on their balancer; IPv4-less nodes on the proxy.
    for publisher in [
        cluster.load_balancer_name(),
        cluster.node_name(0),
        cluster.api_proxy_name(),
    ] {
        match engine.published_ports(&publisher, &port).await {
            Ok(ports) if !ports.is_empty() => return Ok(ports.first().map(|(_, p)| *p)),
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::node_ipv4::{apply, Decision};
    use crate::settings::Settings;

    fn plan(pairs: &[(&str, &str)]) -> ClusterPlan {
        ClusterPlan::new(&Settings::from_env_pairs(pairs).unwrap()).unwrap()
    }

    #[test]
    fn only_nodes_without_ipv4_get_a_proxy() {
        let v6 = plan(&[("IP_MODE", "ipv6"), ("CLUSTER_ID", "7")]);
        assert!(api_proxy_container(&v6, "img").is_none());
        assert!(api_proxy_container(&plan(&[]), "img").is_none());
        let mut no_v4 = apply(
            &v6,
            &Decision {
                ipv4: false,
                note: None,
            },
        );
        no_v4.apiserver_port = Some(40123);
        let (spec, address) = api_proxy_container(&no_v4, "img").expect("a proxy");
        assert_eq!(spec.name, "dind-api-proxy-cluster-7");
        assert_eq!(address, "fd00:20:7::300".parse::<Ipv6Addr>().unwrap());
        assert_eq!(spec.network.as_deref(), Some("kubeadm-dind-edge-cluster-7"));
        assert_eq!(
            spec.cmd.unwrap(),
            [
                "TCP6-LISTEN:6443,ipv6only=0,fork,reuseaddr",
                "TCP6:[fd00:20:7::2]:6443,connect-timeout=5"
            ]
        );
        assert_eq!(spec.ports.len(), 1);
        assert_eq!(spec.ports[0].host_port, 40123);
        assert_eq!(spec.ports[0].host_ip, no_v4.apiserver_address);
        assert_eq!(spec.labels[labels::SUPPORT], API_PROXY_ROLE);
        assert!(!spec.privileged && spec.cap_add.is_empty());
    }
}
