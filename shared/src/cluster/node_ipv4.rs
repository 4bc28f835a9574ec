//! Whether the nodes of an IPv6 cluster have IPv4 at all: pure decisions, made before
//! anything is created.
//!
//! Docker gives every bridge network an IPv4 subnet unless it is created with
//! `EnableIPv4: false`, which arrived in API 1.48 (Docker 28; moby's API CHANGELOG,
//! v1.48: "`POST /networks/create` now has an `EnableIPv4` field"). On such an engine an
//! IPv6 cluster's node network has no IPv4, so its nodes have only IPv6 addresses (and
//! loopback) and reach IPv4 hosts through the cluster's DNS64/NAT64 only: what an
//! IPv6-only test needs, and what neither kind nor kubeadm-dind-cluster offered.
//!
//! The IPv4 subnet the node network would have had moves to a second, IPv4-only
//! network, the cluster's *edge*, which holds the two containers that need IPv4:
//! - the NAT64 gateway (tayga), whose IPv4 side must reach the outside;
//! - the API proxy, a dual-stack `socat` that publishes the API server port on the
//!   engine's host and forwards to the master over IPv6. Publishing on the master itself
//!   does not work there: measured on Docker 28.5.2 with a host without IPv6, a port
//!   published on 127.0.0.1 of an IPv6-only container refuses connections (the userland
//!   proxy in the host's namespace has no IPv6 to reach it with). A proxy container has
//!   both families in its own namespace, whatever the host has.

use super::preflight::parse_api_version;
use crate::engine::HostInfo;
use crate::error::usage;
use crate::plan::{ClusterPlan, NetworkPlan};
use crate::settings::{IpMode, NodeIpv4, Settings};
use ipnet::IpNet;

/// The oldest Docker API that creates networks without IPv4 (`EnableIPv4`).
pub const MIN_API_WITHOUT_IPV4: (u32, u32) = (1, 48);

/// What `up` does about node IPv4.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the nodes get an IPv4 address.
    pub ipv4: bool,
    /// The one line for the user, when IPv6 mode keeps IPv4.
    pub note: Option<String>,
}

/// Decides from the IP mode, the setting, the engine's API version and `publisher`: the
/// flag, if any, that publishes ports on a node container (`--publish`, or `--masters`,
/// whose balancer publishes the API server), which needs IPv4 for Docker to forward to
/// it from an IPv4 host address.
pub fn decide(
    mode: IpMode,
    setting: NodeIpv4,
    host: &HostInfo,
    publisher: Option<&str>,
) -> anyhow::Result<Decision> {
    let keep = |note: Option<String>| Ok(Decision { ipv4: true, note });
    // `off` in another mode is refused when the settings are read.
    if mode != IpMode::Ipv6 {
        return keep(None);
    }
    let engine_can =
        parse_api_version(&host.api_version).is_some_and(|v| v >= MIN_API_WITHOUT_IPV4);
    let engine = format!("Docker {} (API {})", host.server_version, host.api_version);
    match setting {
        NodeIpv4::On => keep(None),
        NodeIpv4::Off if !engine_can => Err(usage(format!(
            "DIND_NODE_IPV4=off: {engine} cannot create a network without IPv4 (API 1.48, \
             Docker 28, or newer needed); upgrade Docker or use DIND_NODE_IPV4=auto"
        ))),
        NodeIpv4::Off if publisher.is_some() => {
            let flag = publisher.unwrap_or_default();
            Err(usage(format!(
                "DIND_NODE_IPV4=off cannot go with {flag}: published ports reach a container \
                 through its IPv4 address; drop {flag} or use DIND_NODE_IPV4=auto"
            )))
        }
        NodeIpv4::Off => Ok(Decision {
            ipv4: false,
            note: None,
        }),
        NodeIpv4::Auto if !engine_can => keep(Some(format!(
            "{engine} cannot create networks without IPv4 (API 1.48 can): the nodes of this \
             IPv6 cluster keep an IPv4 address (DIND_NODE_IPV4=on says so without this note)"
        ))),
        NodeIpv4::Auto if publisher.is_some() => keep(Some(format!(
            "{} needs the nodes' IPv4 addresses: the nodes of this IPv6 cluster keep one \
             (DIND_NODE_IPV4=on says so without this note)",
            publisher.unwrap_or_default()
        ))),
        NodeIpv4::Auto => Ok(Decision {
            ipv4: false,
            note: None,
        }),
    }
}

/// Decides for `up` from its settings and the engine.
pub fn decide_for(settings: &Settings, host: &HostInfo) -> anyhow::Result<Decision> {
    // Spread over engines, the overlay carries the nodes' fixed IPv4 addresses only
    // (crate::plan::mesh).
    if settings.ip_mode == IpMode::Ipv6 && settings.docker_hosts.len() > 1 {
        return match settings.node_ipv4 {
            NodeIpv4::Off => Err(usage(
                "DIND_NODE_IPV4=off cannot go with several --docker-hosts (DIND_DOCKER_HOSTS): \
                 across engines the swarm overlay holds each node at a fixed IPv4 address; \
                 use DIND_NODE_IPV4=auto or a single Docker host",
            )),
            _ => Ok(Decision {
                ipv4: true,
                note: None,
            }),
        };
    }
    let publisher = if !settings.extra_ports.is_empty() {
        Some("--publish")
    } else if settings.masters > 1 {
        Some("--masters")
    } else {
        None
    };
    decide(settings.ip_mode, settings.node_ipv4, host, publisher)
}

/// `plan` with nodes without IPv4: the node network keeps only its IPv6 subnet, and the
/// IPv4 one (a known subnet, away from Docker's pools and the NAT64 pools) moves to the
/// cluster's edge network. The plan is unchanged when the decision keeps IPv4.
pub fn apply(plan: &ClusterPlan, decision: &Decision) -> ClusterPlan {
    if decision.ipv4 || plan.edge.is_some() {
        return plan.clone();
    }
    let (v4, v6): (Vec<_>, Vec<_>) = plan
        .network
        .subnets
        .iter()
        .zip(&plan.network.gateways)
        .partition(|(subnet, _)| matches!(subnet, IpNet::V4(_)));
    let split = |pairs: Vec<(&IpNet, &std::net::IpAddr)>| -> (Vec<IpNet>, Vec<std::net::IpAddr>) {
        pairs.into_iter().map(|(s, g)| (*s, *g)).unzip()
    };
    let (v4_subnets, v4_gateways) = split(v4);
    let (v6_subnets, v6_gateways) = split(v6);
    ClusterPlan {
        network: NetworkPlan {
            name: plan.network.name.clone(),
            subnets: v6_subnets,
            gateways: v6_gateways,
        },
        edge: Some(NetworkPlan {
            name: plan.cluster.edge_network_name(),
            subnets: v4_subnets,
            gateways: v4_gateways,
        }),
        ..plan.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::CgroupVersion;

    fn host(api: &str) -> HostInfo {
        HostInfo {
            server_version: "x".into(),
            cgroup_version: CgroupVersion::V2,
            storage_driver: "overlay2".into(),
            docker_root_dir: "/var/lib/docker".into(),
            api_version: api.into(),
            containerd_store: false,
        }
    }

    /// (mode, setting, API, --publish, Ok((ipv4, note contains)) or Err(message contains))
    type Case = (
        IpMode,
        NodeIpv4,
        &'static str,
        bool,
        Result<(bool, Option<&'static str>), &'static str>,
    );

    #[test]
    fn node_ipv4_follows_mode_setting_and_engine() {
        use IpMode::{DualStack, Ipv4, Ipv6};
        use NodeIpv4::{Auto, Off, On};
        let table: &[Case] = &[
            (Ipv4, Auto, "1.51", false, Ok((true, None))),
            (DualStack, Auto, "1.41", false, Ok((true, None))),
            (Ipv4, On, "1.51", false, Ok((true, None))),
            (Ipv6, Auto, "1.48", false, Ok((false, None))),
            (Ipv6, Auto, "1.51", false, Ok((false, None))),
            (
                Ipv6,
                Auto,
                "1.41",
                false,
                Ok((true, Some("cannot create networks without IPv4"))),
            ),
            (Ipv6, Auto, "1.47", false, Ok((true, Some("API 1.47")))),
            (
                Ipv6,
                Auto,
                "1.51",
                true,
                Ok((true, Some("--publish needs"))),
            ),
            (Ipv6, On, "1.51", false, Ok((true, None))),
            (Ipv6, On, "1.41", false, Ok((true, None))),
            (Ipv6, Off, "1.51", false, Ok((false, None))),
            (
                Ipv6,
                Off,
                "1.41",
                false,
                Err("cannot create a network without IPv4"),
            ),
            (
                Ipv6,
                Off,
                "garbage",
                false,
                Err("cannot create a network without IPv4"),
            ),
            (Ipv6, Off, "1.51", true, Err("cannot go with --publish")),
        ];
        for (mode, setting, api, publish, want) in table {
            let got = decide(*mode, *setting, &host(api), publish.then_some("--publish"));
            let case = format!("{mode} {setting} API {api} publish {publish}");
            match (got, want) {
                (Ok(d), Ok((ipv4, note))) => {
                    assert_eq!(d.ipv4, *ipv4, "{case}");
                    match (d.note, note) {
                        (None, None) => {}
                        (Some(n), Some(part)) => {
                            assert!(n.contains(part), "{case}: {n}");
                            assert!(!n.contains('\n'), "{case}: one line");
                        }
                        (n, want) => panic!("{case}: note {n:?}, want {want:?}"),
                    }
                }
                (Err(e), Err(part)) => {
                    assert_eq!(crate::error::exit_code(&e), 2, "{case}");
                    assert!(e.to_string().contains(part), "{case}: {e}");
                }
                (got, want) => panic!("{case}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn without_ipv4_the_v4_subnet_moves_to_the_edge() {
        let settings =
            Settings::from_env_pairs(&[("IP_MODE", "ipv6"), ("CLUSTER_ID", "7")]).unwrap();
        let plan = ClusterPlan::new(&settings).unwrap();
        let kept = apply(
            &plan,
            &Decision {
                ipv4: true,
                note: None,
            },
        );
        assert_eq!(kept, plan);
        let dropped = apply(
            &plan,
            &Decision {
                ipv4: false,
                note: None,
            },
        );
        let subnets = |n: &NetworkPlan| -> Vec<String> {
            n.subnets.iter().map(ToString::to_string).collect()
        };
        assert_eq!(subnets(&dropped.network), ["fd00:20:7::/64"]);
        assert_eq!(
            dropped.network.gateways,
            ["fd00:20:7::1".parse::<std::net::IpAddr>().unwrap()]
        );
        let edge = dropped.edge.clone().expect("an edge network");
        assert_eq!(edge.name, "kubeadm-dind-edge-cluster-7");
        assert_eq!(subnets(&edge), ["10.192.7.0/24"]);
        assert_eq!(
            edge.gateways,
            ["10.192.7.1".parse::<std::net::IpAddr>().unwrap()]
        );
        assert!(dropped.nodes.iter().all(|n| n.ipv4.is_none()));
        assert_eq!(
            apply(
                &dropped,
                &Decision {
                    ipv4: false,
                    note: None
                }
            ),
            dropped
        );
    }

    #[test]
    fn a_balancer_keeps_ipv4_as_published_ports_do() {
        // (settings, Ok(note contains) or Err(message contains))
        type Row = (
            &'static [(&'static str, &'static str)],
            Result<&'static str, &'static str>,
        );
        let table: [Row; 3] = [
            (
                &[("IP_MODE", "ipv6"), ("DIND_MASTERS", "3")],
                Ok("--masters needs"),
            ),
            (
                &[
                    ("IP_MODE", "ipv6"),
                    ("DIND_MASTERS", "3"),
                    ("DIND_NODE_IPV4", "off"),
                ],
                Err("cannot go with --masters"),
            ),
            (
                &[("IP_MODE", "ipv6"), ("EXTRA_PORTS", "8080:80")],
                Ok("--publish needs"),
            ),
        ];
        for (pairs, want) in table {
            let settings = Settings::from_env_pairs(pairs).unwrap();
            let got = decide_for(&settings, &host("1.51"));
            match (got, want) {
                (Ok(d), Ok(note)) => {
                    assert!(d.ipv4, "{pairs:?}");
                    assert!(d.note.unwrap().contains(note), "{pairs:?}");
                }
                (Err(e), Err(message)) => assert!(e.to_string().contains(message), "{e}"),
                (got, want) => panic!("{pairs:?}: got {got:?}, want {want:?}"),
            }
        }
    }
}
