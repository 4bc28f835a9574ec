//! The IPv6 mesh of an IPv6 cluster spread over several Docker engines: who holds which
//! fixed address on the swarm overlay, and which IPv6 address each adds itself.
//!
//! On a swarm overlay a container keeps only one fixed address, and IPv6 neighbour
//! discovery does not cross engines (moby#48116); see `check_spread_ip_mode` in
//! crate::plan for the measurements. So the overlay carries IPv4 only: every member
//! (node, DNS64 server, NAT64 gateway) gets a fixed IPv4 address there, which also makes
//! the MAC Docker derives from it unique, and adds its plan IPv6 address to its own
//! interface, with a permanent neighbour entry for every other member
//! (crate::cluster::v6_mesh).

use crate::plan::{Net64Plan, NodePlan};
use ipnet::{Ipv4Net, Ipv6Net};
use serde::Serialize;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The DNS64 server's and the NAT64 gateway's host numbers on the overlay: above the swarm's
/// dynamic range (`.224/28`, crate::plan::swarm_dynamic_range) and below the masters, which
/// count down from `.253`.
pub const DNS64_OVERLAY_HOST: u32 = 240;
pub const NAT64_OVERLAY_HOST: u32 = 241;

/// One container of the mesh.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MeshMember {
    pub name: String,
    /// Its fixed address on the overlay.
    pub ipv4: Ipv4Addr,
    /// Its plan IPv6 address, which it adds itself.
    pub ipv6: Ipv6Addr,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct V6MeshPlan {
    /// The prefix length of the members' IPv6 addresses (the management subnet's).
    pub prefix_len: u8,
    pub members: Vec<MeshMember>,
}

impl V6MeshPlan {
    pub fn member(&self, name: &str) -> Option<&MeshMember> {
        self.members.iter().find(|m| m.name == name)
    }
}

/// The mesh of `nodes` and the support containers: each node's overlay IPv4 address has
/// the host number of its IPv6 one.
pub fn mesh_plan(
    overlay: Ipv4Net,
    v6: Ipv6Net,
    nodes: &[NodePlan],
    net64: Option<&Net64Plan>,
) -> V6MeshPlan {
    let at = |host: u32| Ipv4Addr::from(u32::from(overlay.network()) + host);
    let host_of = |a: Ipv6Addr| (u128::from(a) - u128::from(v6.network())) as u32;
    let node_members = nodes.iter().filter_map(|n| {
        let ipv6 = n.ipv6?;
        Some(MeshMember {
            name: n.name.clone(),
            ipv4: at(host_of(ipv6)),
            ipv6,
        })
    });
    let support = net64.into_iter().flat_map(|n| {
        [
            MeshMember {
                name: n.dns64_container.clone(),
                ipv4: at(DNS64_OVERLAY_HOST),
                ipv6: n.dns64_address,
            },
            MeshMember {
                name: n.nat64_container.clone(),
                ipv4: at(NAT64_OVERLAY_HOST),
                ipv6: n.nat64_address,
            },
        ]
    });
    V6MeshPlan {
        prefix_len: v6.prefix_len(),
        members: node_members.chain(support).collect(),
    }
}
