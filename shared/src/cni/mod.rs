//! The pod network of a cluster, per CNI plugin.
//!
//! `bridge` and `ptp` are configured by dind itself: each node gets a CNI config list
//! whose `host-local` ranges are its own pod subnets from the plan, and a static route to
//! every other node's pod subnets via that node's management address, as
//! kubeadm-dind-cluster did. Both are written into the node before its first boot, and
//! the node's `dind-pod-network` unit applies the routes and the masquerade at every boot
//! ([`pod_network_file`]), so a restarted node keeps pod-to-pod traffic. Every other
//! plugin is an upstream manifest applied after `kubeadm init`, pinned in [`MANIFESTS`];
//! those plugins route by themselves.
//!
//! [`manifests`] says how each plugin is set up (one row a plugin), [`config`] renders
//! the config lists of dind's own, [`flannel`] and [`weave`] patch those plugins'
//! manifests to the cluster's pod range (with [`manifest_text`]'s line helpers); this module holds the routes and the masquerade
//! of dind's own plugins.

pub mod config;
pub mod flannel;
mod manifest_text;
pub mod manifests;
pub mod mtu;
pub mod weave;

pub use config::{node_config_files, set_hairpin, CONFIG_DIR, CONFIG_FILE};
pub use manifests::{configured_by_dind, manifest, release_for, setup, Manifest, Setup, MANIFESTS};

/// Rewrites an upstream manifest for a cluster's plan.
pub type ManifestPatch = fn(&str, &ClusterPlan) -> anyhow::Result<String>;

/// How a plugin's upstream manifest is patched before it is applied: flannel and weave
/// hardcode a pod range of their own, which must be the cluster's. `None` for a manifest
/// applied as published.
pub fn manifest_patch(cni: Cni) -> Option<ManifestPatch> {
    match cni {
        Cni::Flannel => Some(flannel::patch),
        Cni::Weave => Some(weave::patch),
        _ => None,
    }
}

use crate::plan::{ClusterPlan, NodePlan};
use crate::settings::Cni;
use ipnet::IpNet;
use std::net::IpAddr;

/// The node's own description of its pod network, read by its `dind-pod-network` unit.
pub const POD_NETWORK_FILE: &str = "/etc/dind/pod-network";

/// Every file dind writes into a node for its pod network: the CNI config list and
/// [`POD_NETWORK_FILE`]. Empty for manifest plugins.
pub fn node_files(cni: Cni, plan: &ClusterPlan, node: &NodePlan) -> Vec<(String, String)> {
    let mut files = node_config_files(cni, node);
    files.extend(pod_network_file(cni, plan, node));
    files
}

/// [`POD_NETWORK_FILE`]: one `route DESTINATION VIA` line per route of
/// [`static_routes`], and one `masquerade NODE_SUBNET CLUSTER_RANGE` line per pod subnet
/// of the node: pod traffic from that subnet is masqueraded unless it goes to the cluster's
/// pod range of the same family. This is kindnet's rule (its masquerade agent exempts the
/// cluster's pod CIDRs), where the CNI plugins' `ipMasq` would exempt the node's own
/// subnet only. `None` for manifest plugins, which do their own, and for `none`.
pub fn pod_network_file(cni: Cni, plan: &ClusterPlan, node: &NodePlan) -> Option<(String, String)> {
    configured_by_dind(cni).then_some(())?;
    let mut text =
        String::from("# Written by dind; applied at every boot by dind-pod-network.service.\n");
    for route in static_routes(cni, plan, node) {
        text.push_str(&format!("route {} {}\n", route.destination, route.via));
    }
    for subnet in &node.pod_subnets {
        let range = plan
            .pod_cidrs
            .iter()
            .find(|range| range.addr().is_ipv4() == subnet.addr().is_ipv4())?;
        text.push_str(&format!("masquerade {subnet} {range}\n"));
    }
    Some((POD_NETWORK_FILE.to_string(), text))
}

/// A route a node adds so its pods reach another node's pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub destination: IpNet,
    pub via: IpAddr,
}

impl Route {
    /// The `ip` argv that installs the route; `replace`, so running it again is harmless.
    pub fn ip_route_args(&self) -> Vec<String> {
        let mut args = vec!["ip".to_string()];
        if self.destination.addr().is_ipv6() {
            args.push("-6".to_string());
        }
        args.extend([
            "route".to_string(),
            "replace".to_string(),
            self.destination.to_string(),
            "via".to_string(),
            self.via.to_string(),
        ]);
        args
    }
}

/// The routes `node` needs: every other node's pod subnets via that node's management
/// address of the same family. Empty for manifest plugins, which route by themselves, and
/// for `none`, whose plugin the user brings.
pub fn static_routes(cni: Cni, plan: &ClusterPlan, node: &NodePlan) -> Vec<Route> {
    if !configured_by_dind(cni) {
        return Vec::new();
    }
    plan.nodes
        .iter()
        .filter(|other| other.name != node.name)
        .flat_map(|other| {
            other.pod_subnets.iter().filter_map(move |subnet| {
                let via = match subnet {
                    IpNet::V4(_) => other.ipv4.map(IpAddr::V4),
                    IpNet::V6(_) => other.ipv6.map(IpAddr::V6),
                }?;
                Some(Route {
                    destination: *subnet,
                    via,
                })
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;
    use clap::ValueEnum;

    fn plan(pairs: &[(&str, &str)]) -> ClusterPlan {
        ClusterPlan::new(&Settings::from_env_pairs(pairs).unwrap()).unwrap()
    }

    #[test]
    fn routes_from_node_1_reach_the_other_nodes() {
        // (mode, expected argv of node 1's routes)
        let table: [(&str, &[&str]); 2] = [
            (
                "ipv4",
                &[
                    "ip route replace 10.244.2.0/24 via 10.192.0.2",
                    "ip route replace 10.244.4.0/24 via 10.192.0.4",
                ],
            ),
            (
                "dual-stack",
                &[
                    "ip route replace 10.244.2.0/24 via 10.192.0.2",
                    "ip -6 route replace fd00:40:0:0:2::/80 via fd00:20::2",
                    "ip route replace 10.244.4.0/24 via 10.192.0.4",
                    "ip -6 route replace fd00:40:0:0:4::/80 via fd00:20::4",
                ],
            ),
        ];
        for (mode, expected) in table {
            let p = plan(&[("IP_MODE", mode), ("NUM_NODES", "2")]);
            assert_eq!(p.nodes.len(), 3);
            let node1 = &p.nodes[1];
            for cni in [Cni::Bridge, Cni::Ptp] {
                let routes: Vec<String> = static_routes(cni, &p, node1)
                    .iter()
                    .map(|r| r.ip_route_args().join(" "))
                    .collect();
                assert_eq!(routes, *expected, "{mode} {cni}");
            }
        }
    }

    #[test]
    fn masquerade_spares_the_cluster_pod_range() {
        // (settings, node index, expected masquerade lines)
        type Pairs = &'static [(&'static str, &'static str)];
        let table: [(Pairs, usize, &[&str]); 4] = [
            (&[], 0, &["masquerade 10.244.2.0/24 10.244.0.0/16"]),
            (
                &[("POD_NETWORK_CIDR", "10.50.0.0/16"), ("NUM_NODES", "1")],
                1,
                &["masquerade 10.50.3.0/24 10.50.0.0/16"],
            ),
            (
                &[("IP_MODE", "ipv6")],
                0,
                &["masquerade fd00:40:0:0:2::/80 fd00:40::/72"],
            ),
            (
                &[("IP_MODE", "dual-stack")],
                0,
                &[
                    "masquerade 10.244.2.0/24 10.244.0.0/16",
                    "masquerade fd00:40:0:0:2::/80 fd00:40::/72",
                ],
            ),
        ];
        for (pairs, index, expected) in table {
            let p = plan(pairs);
            let node = &p.nodes[index];
            for cni in [Cni::Bridge, Cni::Ptp] {
                let (path, text) = pod_network_file(cni, &p, node).unwrap();
                assert_eq!(path, POD_NETWORK_FILE);
                let masq: Vec<&str> = text
                    .lines()
                    .filter(|l| l.starts_with("masquerade "))
                    .collect();
                assert_eq!(masq, expected, "{pairs:?} {cni}");
                // Each line names one of the node's subnets and the cluster range that
                // contains it: other nodes' pods are inside the exempted range.
                for line in masq {
                    let fields: Vec<IpNet> = line
                        .split(' ')
                        .skip(1)
                        .map(|f| f.parse().unwrap())
                        .collect();
                    assert!(node.pod_subnets.contains(&fields[0]));
                    assert!(fields[1].contains(&fields[0]), "{line}");
                    for other in p.nodes.iter().flat_map(|n| &n.pod_subnets) {
                        if other.addr().is_ipv4() == fields[1].addr().is_ipv4() {
                            assert!(fields[1].contains(other), "{line} spares {other}");
                        }
                    }
                }
                let routes = text.lines().filter(|l| l.starts_with("route ")).count();
                assert_eq!(routes, static_routes(cni, &p, node).len());
                assert_eq!(node_files(cni, &p, node).len(), 2);
            }
        }
    }

    #[test]
    fn routes_are_written_for_every_boot() {
        let p = plan(&[("NUM_NODES", "2")]);
        let (_, text) = pod_network_file(Cni::Bridge, &p, &p.nodes[1]).unwrap();
        let routes: Vec<&str> = text.lines().filter(|l| l.starts_with("route ")).collect();
        assert_eq!(
            routes,
            [
                "route 10.244.2.0/24 10.192.0.2",
                "route 10.244.4.0/24 10.192.0.4"
            ]
        );
    }

    #[test]
    fn manifest_plugins_and_none_get_no_files_or_routes() {
        let p = plan(&[]);
        for &cni in Cni::value_variants()
            .iter()
            .filter(|cni| !configured_by_dind(**cni))
        {
            assert!(node_config_files(cni, p.master()).is_empty(), "{cni}");
            assert!(node_files(cni, &p, p.master()).is_empty(), "{cni}");
            assert!(static_routes(cni, &p, p.master()).is_empty(), "{cni}");
        }
    }
}
