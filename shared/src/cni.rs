//! The pod network of a cluster, per CNI plugin.
//!
//! `bridge` and `ptp` are configured by dind itself: each node gets a CNI config list
//! whose `host-local` ranges are its own pod subnets from the plan, and a static route to
//! every other node's pod subnets via that node's management address, as
//! kubeadm-dind-cluster did. Both are written into the node before its first boot, and
//! the node's `dind-pod-network` unit applies the routes and the masquerade at every boot
//! ([`pod_network_file`]), so a restarted node keeps pod-to-pod traffic. Every other plugin is an upstream manifest applied after
//! `kubeadm init`, pinned in [`MANIFESTS`]; those plugins route by themselves.
//!
//! No loopback config is written: containerd's CRI plugin sets up each pod's loopback
//! interface on its own.

use crate::plan::{ClusterPlan, NodePlan};
use crate::settings::Cni;
use ipnet::IpNet;
use serde_json::{json, Value};
use std::net::IpAddr;

/// Where containerd looks for CNI configuration inside a node.
pub const CONFIG_DIR: &str = "/etc/cni/net.d";

/// The config list dind writes for `bridge` and `ptp`.
pub const CONFIG_FILE: &str = "/etc/cni/net.d/10-dind.conflist";

/// The node's own description of its pod network, read by its `dind-pod-network` unit.
pub const POD_NETWORK_FILE: &str = "/etc/dind/pod-network";

/// The bridge device `bridge` puts pods on.
const BRIDGE_NAME: &str = "cni0";

/// An upstream CNI manifest, pinned to one release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Manifest {
    pub name: &'static str,
    pub version: &'static str,
    pub url: &'static str,
}

/// Every upstream manifest dind applies. To move a plugin to another release, change its
/// row here and nowhere else.
///
/// `calico-kdd` uses the same manifest as `calico`: the Kubernetes API datastore (KDD),
/// once a separate manifest, has long been calico.yaml's default.
pub const MANIFESTS: &[(Cni, Manifest)] = &[
    (
        Cni::Flannel,
        Manifest {
            name: "flannel",
            version: "v0.27.4",
            url: "https://github.com/flannel-io/flannel/releases/download/v0.27.4/kube-flannel.yml",
        },
    ),
    (
        Cni::Calico,
        Manifest {
            name: "calico",
            version: "v3.29.1",
            url: "https://raw.githubusercontent.com/projectcalico/calico/v3.29.1/manifests/calico.yaml",
        },
    ),
    (
        Cni::CalicoKdd,
        Manifest {
            name: "calico",
            version: "v3.29.1",
            url: "https://raw.githubusercontent.com/projectcalico/calico/v3.29.1/manifests/calico.yaml",
        },
    ),
    (
        Cni::Weave,
        Manifest {
            name: "weave",
            version: "v2.8.1",
            url: "https://github.com/weaveworks/weave/releases/download/v2.8.1/weave-daemonset-k8s-1.11.yaml",
        },
    ),
    (
        Cni::KubeRouter,
        Manifest {
            name: "kube-router",
            version: "v2.4.0",
            url: "https://raw.githubusercontent.com/cloudnativelabs/kube-router/v2.4.0/daemonset/kubeadm-kuberouter.yaml",
        },
    ),
];

/// The upstream manifest of a plugin; `None` for the plugins dind configures itself.
pub fn manifest(cni: Cni) -> Option<&'static Manifest> {
    MANIFESTS
        .iter()
        .find(|(plugin, _)| *plugin == cni)
        .map(|(_, manifest)| manifest)
}

/// The CNI files to write into one node, as (path, content); empty for manifest plugins.
pub fn node_config_files(cni: Cni, node: &NodePlan) -> Vec<(String, String)> {
    let main = match cni {
        Cni::Bridge => json!({
            "type": "bridge",
            "bridge": BRIDGE_NAME,
            "isGateway": true,
            // The plugin's own masquerade covers everything outside the node's subnet,
            // other nodes' pods included; the node's unit masquerades instead, sparing
            // the cluster's whole pod range (see [`pod_network_file`]).
            "ipMasq": false,
            // Lets a pod reach itself through a service that picks it as the backend.
            "hairpinMode": true,
            "ipam": host_local(node),
        }),
        Cni::Ptp => json!({
            "type": "ptp",
            "ipMasq": false,
            "ipam": host_local(node),
        }),
        Cni::Flannel | Cni::Calico | Cni::CalicoKdd | Cni::Weave | Cni::KubeRouter => {
            return Vec::new()
        }
    };
    let list = json!({
        "cniVersion": "0.4.0",
        "name": "dind",
        "plugins": [
            main,
            // hostPort support.
            { "type": "portmap", "capabilities": { "portMappings": true } },
        ],
    });
    vec![(CONFIG_FILE.to_string(), format!("{list:#}\n"))]
}

/// `USE_HAIRPIN`: sets the `bridge` plugin's `hairpinMode` in rendered config lists
/// (containernetworking/plugins, plugins/main/bridge/README.md: "`hairpinMode` (boolean,
/// optional): set hairpin mode for interfaces on the bridge"). `None` keeps dind's default;
/// other plugins have no such field and are left alone.
pub fn set_hairpin(files: Vec<(String, String)>, hairpin: Option<bool>) -> Vec<(String, String)> {
    let Some(on) = hairpin else {
        return files;
    };
    files
        .into_iter()
        .map(|(path, contents)| {
            let Ok(mut list) = serde_json::from_str::<Value>(&contents) else {
                return (path, contents);
            };
            if let Some(plugins) = list["plugins"].as_array_mut() {
                for plugin in plugins.iter_mut().filter(|p| p["type"] == "bridge") {
                    plugin["hairpinMode"] = Value::Bool(on);
                }
            }
            (path, format!("{list:#}\n"))
        })
        .collect()
}

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
/// subnet only. `None` for manifest plugins, which do their own.
pub fn pod_network_file(cni: Cni, plan: &ClusterPlan, node: &NodePlan) -> Option<(String, String)> {
    manifest(cni).is_none().then_some(())?;
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

/// `host-local` IPAM over the node's pod subnets, one range set per family, with a default
/// route per family through the plugin's gateway.
fn host_local(node: &NodePlan) -> Value {
    let ranges: Vec<Value> = node
        .pod_subnets
        .iter()
        .map(|subnet| json!([{ "subnet": subnet.to_string() }]))
        .collect();
    let routes: Vec<Value> = node
        .pod_subnets
        .iter()
        .map(|subnet| {
            json!({ "dst": match subnet {
                IpNet::V4(_) => "0.0.0.0/0",
                IpNet::V6(_) => "::/0",
            }})
        })
        .collect();
    json!({ "type": "host-local", "ranges": ranges, "routes": routes })
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
/// address of the same family. Empty for manifest plugins, which route by themselves.
pub fn static_routes(cni: Cni, plan: &ClusterPlan, node: &NodePlan) -> Vec<Route> {
    if manifest(cni).is_some() {
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

    fn plan(pairs: &[(&str, &str)]) -> ClusterPlan {
        ClusterPlan::new(&Settings::from_env_pairs(pairs).unwrap()).unwrap()
    }

    fn config(cni: Cni, node: &NodePlan) -> Value {
        let files = node_config_files(cni, node);
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].0, CONFIG_FILE);
        assert!(files[0].0.starts_with(CONFIG_DIR));
        serde_json::from_str(&files[0].1).unwrap()
    }

    #[test]
    fn master_ranges_per_ip_mode() {
        // (mode, expected subnets of the master's ranges, expected default routes)
        let table: [(&str, &[&str], &[&str]); 3] = [
            ("ipv4", &["10.244.2.0/24"], &["0.0.0.0/0"]),
            ("ipv6", &["fd00:40:0:0:2::/80"], &["::/0"]),
            (
                "dual-stack",
                &["10.244.2.0/24", "fd00:40:0:0:2::/80"],
                &["0.0.0.0/0", "::/0"],
            ),
        ];
        for (mode, subnets, defaults) in table {
            let p = plan(&[("IP_MODE", mode)]);
            for cni in [Cni::Bridge, Cni::Ptp] {
                let list = config(cni, p.master());
                let main = &list["plugins"][0];
                assert_eq!(main["type"], cni.to_string(), "{mode}");
                let ranges: Vec<String> = main["ipam"]["ranges"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|set| {
                        assert_eq!(set.as_array().unwrap().len(), 1, "one range per family");
                        let net: IpNet = set[0]["subnet"].as_str().unwrap().parse().unwrap();
                        net.to_string()
                    })
                    .collect();
                let subnets: Vec<String> = subnets
                    .iter()
                    .map(|s| s.parse::<IpNet>().unwrap().to_string())
                    .collect();
                assert_eq!(ranges, subnets, "{mode} {cni}");
                let routes: Vec<&str> = main["ipam"]["routes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["dst"].as_str().unwrap())
                    .collect();
                assert_eq!(routes, defaults, "{mode} {cni}");
                assert_eq!(main["ipMasq"], false, "the node's unit masquerades");
                assert_eq!(list["plugins"][1]["type"], "portmap");
                if cni == Cni::Bridge {
                    assert_eq!(main["isGateway"], true);
                    assert_eq!(main["hairpinMode"], true);
                } else {
                    assert!(main.get("bridge").is_none());
                }
            }
        }
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
    fn manifest_plugins_get_no_files_or_routes() {
        let p = plan(&[]);
        for cni in [
            Cni::Flannel,
            Cni::Calico,
            Cni::CalicoKdd,
            Cni::Weave,
            Cni::KubeRouter,
        ] {
            assert!(node_config_files(cni, p.master()).is_empty(), "{cni}");
            assert!(node_files(cni, &p, p.master()).is_empty(), "{cni}");
            assert!(static_routes(cni, &p, p.master()).is_empty(), "{cni}");
        }
    }

    #[test]
    fn every_manifest_plugin_is_pinned() {
        for cni in [
            Cni::Flannel,
            Cni::Calico,
            Cni::CalicoKdd,
            Cni::Weave,
            Cni::KubeRouter,
        ] {
            let m = manifest(cni).unwrap_or_else(|| panic!("{cni} has no manifest"));
            let semver = m.version.strip_prefix('v').unwrap_or_default();
            assert_eq!(semver.split('.').count(), 3, "{cni}: {}", m.version);
            assert!(
                semver.split('.').all(|n| n.parse::<u32>().is_ok()),
                "{cni}: {}",
                m.version
            );
            assert!(m.url.starts_with("https://"), "{cni}");
            assert!(
                m.url.contains(&format!("/{}/", m.version)),
                "{cni}: {}",
                m.url
            );
        }
        assert_eq!(manifest(Cni::CalicoKdd), manifest(Cni::Calico));
        assert!(manifest(Cni::Bridge).is_none());
        assert!(manifest(Cni::Ptp).is_none());
    }
}

#[cfg(test)]
mod hairpin_tests {
    use super::*;
    use crate::settings::Settings;

    #[test]
    fn use_hairpin_sets_the_bridge_field_only() {
        let plan = ClusterPlan::new(&Settings::from_env_pairs(&[]).unwrap()).unwrap();
        for (cni, hairpin, want) in [
            (Cni::Bridge, None, Some(true)),
            (Cni::Bridge, Some(false), Some(false)),
            (Cni::Bridge, Some(true), Some(true)),
            (Cni::Ptp, Some(true), None),
        ] {
            let files = set_hairpin(node_config_files(cni, plan.master()), hairpin);
            let list: Value = serde_json::from_str(&files[0].1).unwrap();
            assert_eq!(
                list["plugins"][0]["hairpinMode"].as_bool(),
                want,
                "{cni} {hairpin:?}"
            );
        }
    }
}
