//! The cluster's Docker network: checked against every existing network before anything
//! is created, then created with the plan's subnets and the default bridge's MTU.

use super::ledger::Ledger;
use super::node_spec::cluster_labels;
use crate::engine::{Engine, NetworkInfo, NetworkSpec};
use crate::error::usage;
use crate::names::labels;
use crate::plan::{overlaps, ClusterPlan, NetworkPlan};
use ipnet::IpNet;

/// Whether the cluster's network is there already (kept by `down`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkState {
    Missing,
    Exists,
}

/// Checks names and subnets of the cluster's network (and of its edge network, when its
/// nodes have no IPv4) against the existing networks, without creating anything. Returns
/// the state of each: the node network's, then the edge's (`Exists` when there is none).
pub fn check_network(
    plan: &ClusterPlan,
    existing: &[NetworkInfo],
) -> anyhow::Result<(NetworkState, NetworkState)> {
    let network = check_one(&plan.network, &plan.cluster_key, existing)?;
    let edge = match &plan.edge {
        Some(edge) => check_one(edge, &plan.cluster_key, existing)?,
        None => NetworkState::Exists,
    };
    Ok((network, edge))
}

fn check_one(
    ours: &NetworkPlan,
    cluster_key: &str,
    existing: &[NetworkInfo],
) -> anyhow::Result<NetworkState> {
    if let Some(same_name) = existing.iter().find(|n| n.name == ours.name) {
        let same_cluster =
            same_name.labels.get(labels::CLUSTER).map(String::as_str) == Some(cluster_key);
        let sorted = |nets: &[IpNet]| {
            let mut nets = nets.to_vec();
            nets.sort();
            nets
        };
        if same_cluster && sorted(&same_name.subnets) == sorted(&ours.subnets) {
            return Ok(NetworkState::Exists);
        }
        if same_cluster {
            // Kept by `down` from an up that decided node IPv4 otherwise.
            return Err(usage(format!(
                "the network {} of {cluster_key} has subnets {}, but this up plans {}; \
                 run `clean` for the cluster first (or set DIND_NODE_IPV4 as before)",
                ours.name,
                join(&same_name.subnets),
                join(&ours.subnets)
            )));
        }
        return Err(usage(format!(
            "a Docker network named {} already exists with subnets {} and is not this cluster's; \
             remove it or choose another --cluster-id or --label",
            ours.name,
            join(&same_name.subnets)
        )));
    }
    for network in existing {
        for subnet in &ours.subnets {
            if let Some(theirs) = network
                .subnets
                .iter()
                .find(|theirs| overlaps(subnet, theirs))
            {
                return Err(usage(format!(
                    "the management subnet {subnet} of {} collides with Docker network {:?} ({theirs}); \
                     choose another --cluster-id or --mgmt-cidrs",
                    ours.name, network.name
                )));
            }
        }
    }
    Ok(NetworkState::Missing)
}

/// Creates the node network, recording it first so a rollback removes it. With nodes on
/// several engines it is an attachable overlay, created on a swarm manager (`engine`).
pub async fn create_network(
    engine: &Engine,
    plan: &ClusterPlan,
    ledger: &Ledger,
) -> anyhow::Result<()> {
    let overlay = !plan.placement.is_empty();
    create(
        engine,
        plan,
        &plan.network,
        plan.edge.is_none(),
        overlay,
        ledger,
    )
    .await
}

/// Creates the edge network of a cluster whose nodes have no IPv4, if it has one.
pub async fn create_edge_network(
    engine: &Engine,
    plan: &ClusterPlan,
    ledger: &Ledger,
) -> anyhow::Result<()> {
    match &plan.edge {
        Some(edge) => create(engine, plan, edge, true, false, ledger).await,
        None => Ok(()),
    }
}

async fn create(
    engine: &Engine,
    plan: &ClusterPlan,
    network: &NetworkPlan,
    ipv4: bool,
    overlay: bool,
    ledger: &Ledger,
) -> anyhow::Result<()> {
    // Nodes inherit the host's path MTU through the default bridge; a larger one breaks
    // large packets on hosts with tunnels or VPNs. The overlay sets its own (VXLAN's
    // 50 bytes less).
    let mtu = if overlay {
        None
    } else {
        engine.default_bridge_mtu().await.unwrap_or(None)
    };
    let spec = NetworkSpec {
        name: network.name.clone(),
        subnets: network.subnets.clone(),
        gateways: network.gateways.clone(),
        mtu,
        labels: cluster_labels(plan),
        ipv4,
        overlay,
        dynamic_ranges: if overlay {
            network
                .subnets
                .iter()
                .map(|s| crate::plan::swarm_dynamic_range(*s))
                .collect()
        } else {
            Vec::new()
        },
    };
    ledger.create_network(engine, &spec).await
}

fn join(nets: &[IpNet]) -> String {
    nets.iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;
    use std::collections::HashMap;

    fn plan(id: &str) -> ClusterPlan {
        ClusterPlan::new(&Settings::from_env_pairs(&[("CLUSTER_ID", id)]).unwrap()).unwrap()
    }

    fn network(name: &str, subnet: &str, cluster: Option<&str>) -> NetworkInfo {
        NetworkInfo {
            name: name.into(),
            subnets: vec![subnet.parse().unwrap()],
            labels: cluster
                .map(|c| HashMap::from([(labels::CLUSTER.to_string(), c.to_string())]))
                .unwrap_or_default(),
        }
    }

    #[test]
    fn collisions_and_reuse() {
        let p = plan("10");
        // (existing networks, expected state or error substring)
        let table: Vec<(Vec<NetworkInfo>, Result<NetworkState, &str>)> = vec![
            (vec![], Ok(NetworkState::Missing)),
            (
                vec![network("bridge", "172.17.0.0/16", None)],
                Ok(NetworkState::Missing),
            ),
            (
                vec![network(
                    "kubeadm-dind-net-cluster-10",
                    "10.192.10.0/24",
                    Some("cluster-10"),
                )],
                Ok(NetworkState::Exists),
            ),
            (
                vec![network("other", "10.192.10.0/24", None)],
                Err("collides with Docker network \"other\""),
            ),
            (
                vec![network("wide", "10.192.0.0/16", None)],
                Err("collides"),
            ),
            (
                vec![network(
                    "kubeadm-dind-net-cluster-10",
                    "10.192.10.0/24",
                    None,
                )],
                Err("is not this cluster's"),
            ),
            (
                vec![network(
                    "kubeadm-dind-net-cluster-10",
                    "10.50.0.0/24",
                    Some("cluster-10"),
                )],
                Err("run `clean` for the cluster first"),
            ),
        ];
        for (existing, expected) in table {
            let got = check_network(&p, &existing).map(|(network, _)| network);
            match (got, expected) {
                (Ok(state), Ok(want)) => assert_eq!(state, want),
                (Err(e), Err(needle)) => {
                    assert_eq!(crate::error::exit_code(&e), 2);
                    assert!(e.to_string().contains(needle), "{e}");
                }
                (got, want) => panic!("{existing:?}: got {got:?}, want {want:?}"),
            }
        }
    }
}
