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

use ipnet::{Ipv4Net, Ipv6Net};
use serde::Serialize;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The support containers' host numbers on the overlay (the DNS64 server's, then the NAT64
/// gateway's): above the swarm's dynamic range (`.224/28`, crate::plan::swarm_dynamic_range)
/// and below the masters, which count down from `.253`.
pub const SUPPORT_OVERLAY_HOSTS: [u32; 2] = [240, 241];

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

/// The mesh of `nodes` and the `support` containers, each a (name, plan IPv6 address):
/// each node's overlay IPv4 address has the host number of its IPv6 one, the support
/// containers take [`SUPPORT_OVERLAY_HOSTS`] in order.
pub fn mesh_plan(
    overlay: Ipv4Net,
    v6: Ipv6Net,
    nodes: &[(String, Ipv6Addr)],
    support: &[(String, Ipv6Addr)],
) -> V6MeshPlan {
    let at = |host: u32| Ipv4Addr::from(u32::from(overlay.network()) + host);
    let host_of = |a: Ipv6Addr| (u128::from(a) - u128::from(v6.network())) as u32;
    let member = |(name, ipv6): &(String, Ipv6Addr), host: u32| MeshMember {
        name: name.clone(),
        ipv4: at(host),
        ipv6: *ipv6,
    };
    let node_members = nodes.iter().map(|n| member(n, host_of(n.1)));
    let support_members = support
        .iter()
        .zip(SUPPORT_OVERLAY_HOSTS)
        .map(|(s, host)| member(s, host));
    V6MeshPlan {
        prefix_len: v6.prefix_len(),
        members: node_members.chain(support_members).collect(),
    }
}
