//! The IPv6 mesh of an IPv6 cluster spread over several engines (crate::plan::mesh), on
//! the containers: each member adds its plan IPv6 address to its overlay interface and
//! pins every other member's MAC, read from the engine that runs it, since neighbour
//! discovery does not cross engines (moby#48116). The script stays in each container:
//! nodes run it from a boot unit, the support containers from their entrypoint, so a
//! restart applies it again (the MACs follow the fixed IPv4 addresses, so they hold).

use super::engines::Engines;
use crate::engine::Engine;
use crate::node::{Node, NodeFile};
use crate::plan::mesh::{MeshMember, V6MeshPlan};
use crate::plan::ClusterPlan;
use anyhow::Context;
use std::collections::BTreeMap;

/// The script each member runs.
pub const MESH_SCRIPT: &str = "/etc/dind/v6-mesh";
/// The nodes' boot unit that runs it before `dind-net64.service` routes through NAT64.
pub const MESH_UNIT: &str = "/etc/systemd/system/dind-v6-mesh.service";

const UNIT: &str = "[Unit]\n\
Description=dind: this node's IPv6 address and its peers' MACs on other Docker engines\n\
After=network.target\n\
Before=dind-net64.service containerd.service kubelet.service\n\
\n\
[Service]\n\
Type=oneshot\n\
RemainAfterExit=yes\n\
ExecStart=/bin/sh /etc/dind/v6-mesh\n\
\n\
[Install]\n\
WantedBy=multi-user.target\n";

/// The overlay interface is the one holding the member's fixed IPv4 address: Docker
/// renames a container's interfaces at a restart (measured: a gateway attached to a
/// second network found that one as eth0 after `docker restart`). Docker 28 turns IPv6
/// off on the interface of a network without IPv6 (the overlay), Docker 20.10 leaves it
/// on; nodes may write /proc/sys, and a container that could not fails here, naming it.
fn find_interface(ipv4: std::net::Ipv4Addr) -> String {
    format!(
        "dev=$(ip -o -4 addr show to {ipv4}/32 | cut -d' ' -f2)\n\
         [ -n \"$dev\" ] || {{ echo \"no interface holds {ipv4}\" >&2; exit 1; }}\n\
         if [ \"$(cat /proc/sys/net/ipv6/conf/$dev/disable_ipv6)\" != 0 ]; then\n  \
         echo 0 > /proc/sys/net/ipv6/conf/$dev/disable_ipv6\nfi\n"
    )
}

/// The script of member `own`: its address, then a permanent neighbour entry for every
/// other member whose MAC is known (none before the others have started).
pub fn mesh_script(mesh: &V6MeshPlan, own: &MeshMember, macs: &BTreeMap<String, String>) -> String {
    let mut script = format!(
        "#!/bin/sh\n# Rendered by dind for {name}.\nset -eu\n{interface}\
         ip -6 addr replace {address}/{len} dev \"$dev\" nodad\n",
        interface = find_interface(own.ipv4),
        name = own.name,
        address = own.ipv6,
        len = mesh.prefix_len,
    );
    for peer in mesh.members.iter().filter(|m| m.name != own.name) {
        if let Some(mac) = macs.get(&peer.name) {
            script.push_str(&format!(
                "ip -6 neigh replace {} lladdr {mac} nud permanent dev \"$dev\"\n",
                peer.ipv6
            ));
        }
    }
    script
}

/// The entrypoint of a support container in the mesh: the script (when written), then
/// its own entrypoint, whose route needs the address on the interface.
pub fn support_entrypoint(entrypoint: &str) -> Vec<String> {
    vec![
        "/bin/sh".into(),
        "-c".into(),
        format!("if [ -f {MESH_SCRIPT} ]; then sh {MESH_SCRIPT}; fi; exec {entrypoint}"),
    ]
}

/// The script with the member's own address only, for a support container's first start.
pub fn first_script(mesh: &V6MeshPlan, name: &str) -> Vec<NodeFile> {
    mesh.member(name)
        .map(|own| NodeFile::new(MESH_SCRIPT, mesh_script(mesh, own, &BTreeMap::new())))
        .into_iter()
        .collect()
}

/// Reads every member's MAC, writes each member's script and applies it: on the nodes
/// through their boot unit, on the support containers (on the master's engine) directly.
pub async fn apply(
    engines: &Engines,
    plan: &ClusterPlan,
    mesh: &V6MeshPlan,
    nodes: &[Node],
) -> anyhow::Result<()> {
    let support = plan
        .net64
        .iter()
        .flat_map(|n| [n.dns64_container.clone(), n.nat64_container.clone()])
        .map(|name| Node::new(engines.master(), name));
    let members: Vec<Node> = nodes
        .iter()
        .map(|n| Node::new(n.engine(), n.name.clone()))
        .chain(support)
        .collect();
    let network = &plan.network.name;
    let macs = futures::future::try_join_all(members.iter().map(|m| async move {
        let mac = mac_of(m.engine(), &m.name, network).await?;
        Ok::<_, anyhow::Error>((m.name.clone(), mac))
    }))
    .await?
    .into_iter()
    .collect::<BTreeMap<_, _>>();
    let is_node = |name: &str| nodes.iter().any(|n| n.name == name);
    futures::future::try_join_all(members.iter().filter_map(|m| {
        let own = mesh.member(&m.name)?;
        let script = NodeFile::new(MESH_SCRIPT, mesh_script(mesh, own, &macs));
        Some(apply_one(m, script, is_node(&m.name)))
    }))
    .await?;
    Ok(())
}

async fn mac_of(engine: &Engine, container: &str, network: &str) -> anyhow::Result<String> {
    engine
        .container_mac(container, network)
        .await?
        .with_context(|| format!("{container} has no MAC address on {network}"))
}

async fn apply_one(member: &Node, script: NodeFile, is_node: bool) -> anyhow::Result<()> {
    if !is_node {
        member.write_files(&[script]).await?;
        member.run(&["sh", MESH_SCRIPT]).await?;
        return Ok(());
    }
    member
        .write_files(&[script, NodeFile::new(MESH_UNIT, UNIT)])
        .await?;
    member.run(&["systemctl", "daemon-reload"]).await?;
    member
        .run(&["systemctl", "enable", "dind-v6-mesh.service"])
        .await?;
    member
        .run(&["systemctl", "restart", "dind-v6-mesh.service"])
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;

    fn mesh() -> V6MeshPlan {
        let settings = Settings::from_env_pairs(&[
            ("IP_MODE", "ipv6"),
            ("CLUSTER_ID", "5"),
            ("NUM_NODES", "1"),
            ("DIND_DOCKER_HOSTS", "unix:///a.sock,unix:///b.sock"),
        ])
        .unwrap();
        ClusterPlan::new(&settings).unwrap().v6_mesh.unwrap()
    }

    #[test]
    fn each_member_pins_every_other_one() {
        let mesh = mesh();
        let macs: BTreeMap<String, String> = mesh
            .members
            .iter()
            .enumerate()
            .map(|(i, m)| (m.name.clone(), format!("02:42:0a:c0:05:0{i}")))
            .collect();
        let node = mesh.member("kube-node-1-cluster-5").unwrap();
        assert_eq!(
            mesh_script(&mesh, node, &macs),
            "#!/bin/sh\n# Rendered by dind for kube-node-1-cluster-5.\nset -eu\n\
             dev=$(ip -o -4 addr show to 10.192.5.3/32 | cut -d' ' -f2)\n\
             [ -n \"$dev\" ] || { echo \"no interface holds 10.192.5.3\" >&2; exit 1; }\n\
             if [ \"$(cat /proc/sys/net/ipv6/conf/$dev/disable_ipv6)\" != 0 ]; then\n  \
             echo 0 > /proc/sys/net/ipv6/conf/$dev/disable_ipv6\nfi\n\
             ip -6 addr replace fd00:20:5::3/64 dev \"$dev\" nodad\n\
             ip -6 neigh replace fd00:20:5::2 lladdr 02:42:0a:c0:05:00 nud permanent dev \"$dev\"\n\
             ip -6 neigh replace fd00:20:5::100 lladdr 02:42:0a:c0:05:02 nud permanent dev \"$dev\"\n\
             ip -6 neigh replace fd00:20:5::200 lladdr 02:42:0a:c0:05:03 nud permanent dev \"$dev\"\n"
        );
        let first = first_script(&mesh, "tayga-cluster-5");
        assert_eq!(first[0].path, MESH_SCRIPT);
        let text = String::from_utf8(first[0].contents.clone()).unwrap();
        assert!(text.contains("ip -6 addr replace fd00:20:5::200/64 dev \"$dev\" nodad\n"));
        assert!(!text.contains("neigh"), "no MAC is known yet: {text}");
        assert!(first_script(&mesh, "not-a-member").is_empty());
        assert_eq!(
            support_entrypoint("/usr/local/bin/dind-nat64")[2],
            "if [ -f /etc/dind/v6-mesh ]; then sh /etc/dind/v6-mesh; fi; exec /usr/local/bin/dind-nat64"
        );
        assert!(UNIT.contains("Before=dind-net64.service"));
    }
}
