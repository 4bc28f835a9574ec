//! IPv6 neighbours of a cluster spread over several engines, pinned in every container
//! of the cluster on its overlay network.
//!
//! Measured on this project's swarm (Docker 20.10 as manager, Docker 28.5.2 as worker):
//! on an overlay with an IPv6 subnet, IPv4 crosses from one engine's container to the
//! other's, but IPv6 does not: the neighbour solicitation goes unanswered (`ip -6 neigh`
//! shows the peer `FAILED`, TCP times out). Docker programs each engine's VXLAN device
//! (`proxy l2miss l3miss`, no learning) with the remote containers' MACs and their IPv4
//! neighbours only, and floods no multicast to other engines (moby#48116). With the
//! peer's MAC pinned in the container (`ip -6 neigh replace ... nud permanent`), IPv6
//! crosses, since the overlay forwards by MAC. So `up` reads every engine's endpoints on
//! the overlay and writes the list into each container of the cluster there; their boot
//! scripts (`dind-neighbors`, in the node and support images) pin it at every start.

use super::engines::Engines;
use crate::engine::NetworkEndpoint;
use crate::node::{Node, NodeFile};
use crate::plan::ClusterPlan;
use ipnet::IpNet;

/// The list `dind-neighbors` pins: one `ADDRESS MAC` line per container.
pub const NEIGHBORS_FILE: &str = "/etc/dind/neighbors";

/// The list for a cluster from its overlay's endpoints on every engine: the cluster's
/// nodes and its DNS64 and NAT64 containers, by address; other endpoints (the swarm's
/// own, other clusters') are left out.
pub fn render(plan: &ClusterPlan, endpoints: &[NetworkEndpoint]) -> String {
    let support = plan
        .net64
        .iter()
        .flat_map(|n| [n.dns64_container.as_str(), n.nat64_container.as_str()]);
    let members: Vec<&str> = plan
        .nodes
        .iter()
        .map(|n| n.name.as_str())
        .chain(support)
        .collect();
    let mut lines: Vec<(std::net::Ipv6Addr, &str)> = endpoints
        .iter()
        .filter(|e| members.contains(&e.container.as_str()) && !e.mac.is_empty())
        .filter_map(|e| e.ipv6.map(|address| (address, e.mac.as_str())))
        .collect();
    lines.sort();
    lines.dedup();
    lines
        .iter()
        .map(|(address, mac)| format!("{address} {mac}\n"))
        .collect()
}

/// Whether a plan needs its neighbours pinned: nodes on several engines, IPv6 on the
/// overlay.
pub fn needed(plan: &ClusterPlan) -> bool {
    !plan.placement.is_empty()
        && plan
            .network
            .subnets
            .iter()
            .any(|s| matches!(s, IpNet::V6(_)))
}

/// Pins the neighbours in every node and in the DNS64 and NAT64 containers (on the
/// master's engine), when the plan needs it.
pub async fn pin(engines: &Engines, plan: &ClusterPlan, nodes: &[Node]) -> anyhow::Result<()> {
    if !needed(plan) {
        return Ok(());
    }
    let mut endpoints = Vec::new();
    for (_, engine) in engines.all() {
        endpoints.extend(engine.network_endpoints(&plan.network.name).await?);
    }
    let list = [NodeFile::new(NEIGHBORS_FILE, render(plan, &endpoints))];
    let list = &list;
    let in_nodes = nodes.iter().map(|node| async move {
        node.write_files(list).await?;
        node.run(&["systemctl", "restart", "dind-neighbors.service"])
            .await
            .map(drop)
    });
    let support = plan
        .net64
        .iter()
        .flat_map(|n| [n.dns64_container.clone(), n.nat64_container.clone()])
        .map(|name| async move {
            let container = Node::new(engines.master(), name);
            container.write_files(list).await?;
            container.run(&["dind-neighbors"]).await.map(drop)
        });
    futures::future::try_join(
        futures::future::try_join_all(in_nodes),
        futures::future::try_join_all(support),
    )
    .await
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;

    fn plan(pairs: &[(&str, &str)]) -> ClusterPlan {
        ClusterPlan::new(&Settings::from_env_pairs(pairs).unwrap()).unwrap()
    }

    fn endpoint(container: &str, mac: &str, ipv6: Option<&str>) -> NetworkEndpoint {
        NetworkEndpoint {
            container: container.into(),
            mac: mac.into(),
            ipv6: ipv6.map(|a| a.parse().unwrap()),
        }
    }

    #[test]
    fn the_list_holds_the_clusters_containers_by_address() {
        let spread = [
            ("IP_MODE", "ipv6"),
            ("CLUSTER_ID", "7"),
            ("NUM_NODES", "1"),
            ("DIND_DOCKER_HOSTS", "unix:///a.sock,unix:///b.sock"),
        ];
        let p = plan(&spread);
        assert!(needed(&p));
        let endpoints = [
            endpoint(
                "kube-node-1-cluster-7",
                "02:42:0a:c0:07:03",
                Some("fd00:20:7::3"),
            ),
            endpoint(
                "tayga-cluster-7",
                "02:42:0a:c0:07:df",
                Some("fd00:20:7::200"),
            ),
            endpoint(
                "kube-master-cluster-7",
                "02:42:0a:c0:07:02",
                Some("fd00:20:7::2"),
            ),
            endpoint(
                "bind9-cluster-7",
                "02:42:0a:c0:07:de",
                Some("fd00:20:7::100"),
            ),
            // The swarm's own endpoint, another cluster's node, one without IPv6.
            endpoint(
                "kubeadm-dind-net-cluster-7-endpoint",
                "02:42:0a:c0:07:e0",
                Some("fd00:20:7::e0"),
            ),
            endpoint(
                "kube-master-cluster-8",
                "02:42:0a:c0:08:02",
                Some("fd00:20:8::2"),
            ),
            endpoint("kube-node-1-cluster-7", "02:42:0a:c0:07:03", None),
        ];
        assert_eq!(
            render(&p, &endpoints),
            "fd00:20:7::2 02:42:0a:c0:07:02\nfd00:20:7::3 02:42:0a:c0:07:03\n\
             fd00:20:7::100 02:42:0a:c0:07:de\nfd00:20:7::200 02:42:0a:c0:07:df\n"
        );
        // (settings, needed)
        let table: [(&[(&str, &str)], bool); 4] = [
            (&spread, true),
            (
                &[
                    ("IP_MODE", "dual-stack"),
                    ("DIND_DOCKER_HOSTS", "unix:///a.sock,unix:///b.sock"),
                ],
                true,
            ),
            (
                &[("DIND_DOCKER_HOSTS", "unix:///a.sock,unix:///b.sock")],
                false,
            ),
            (&[("IP_MODE", "ipv6")], false),
        ];
        for (pairs, want) in table {
            assert_eq!(needed(&plan(pairs)), want, "{pairs:?}");
        }
    }
}
