//! DNS64 and NAT64 for IPv6-only clusters, rendered from the plan: BIND's and tayga's
//! configuration, their containers, and the per-node settings that point nodes at them.
//!
//! BIND answers AAAA queries for IPv4-only names with the IPv4 address written inside
//! the DNS64 prefix; nodes route that prefix to tayga, which translates to IPv4 from a
//! private pool and masquerades it. BIND reaches its own IPv4 upstream the same way.

use super::node_spec::cluster_labels;
use crate::engine::ContainerSpec;
use crate::names::labels;
use crate::node::NodeFile;
use crate::plan::{ClusterPlan, Net64Plan};
use std::collections::BTreeMap;

/// tayga's configuration file inside its container.
pub const TAYGA_CONF: &str = "/etc/tayga/dind.conf";
/// BIND's configuration file inside its container.
pub const NAMED_CONF: &str = "/etc/bind/dind/named.conf";
/// The settings file the node image's `dind-net64.service` reads at every boot.
pub const NODE_NET64_ENV: &str = "/etc/dind/net64.env";

pub fn tayga_conf(n: &Net64Plan) -> String {
    format!(
        "# Rendered by dind for {container}.\n\
         tun-device nat64\n\
         ipv4-addr {ipv4}\n\
         prefix {prefix}\n\
         dynamic-pool {pool}\n\
         data-dir /var/spool/tayga\n",
        container = n.nat64_container,
        ipv4 = n.nat64_v4_address,
        prefix = n.dns64_prefix,
        pool = n.nat64_dynamic_pool,
    )
}

pub fn named_conf(n: &Net64Plan) -> String {
    // `exclude { any; }` drops every real AAAA record, so every name gets a synthesized
    // answer and all IPv6 traffic to the outside goes through NAT64, which is what a
    // host without IPv6 connectivity needs.
    let exclude = if n.allow_aaaa_use {
        ""
    } else {
        "\n        exclude { any; };"
    };
    format!(
        "// Rendered by dind for {container}.\n\
         options {{\n    \
             directory \"/var/cache/bind\";\n    \
             listen-on {{ any; }};\n    \
             listen-on-v6 {{ any; }};\n    \
             allow-query {{ any; }};\n    \
             allow-recursion {{ any; }};\n    \
             recursion yes;\n    \
             forward only;\n    \
             forwarders {{ {upstream}; }};\n    \
             dnssec-validation no;\n    \
             dns64 {prefix} {{{exclude}\n    \
             }};\n\
         }};\n",
        container = n.dns64_container,
        upstream = n.upstream_dns_via_nat64,
        prefix = n.dns64_prefix,
    )
}

/// The environment both support containers and the nodes' boot script read.
fn net64_env(n: &Net64Plan) -> Vec<String> {
    vec![
        format!("DIND_DNS64_SERVER={}", n.dns64_address),
        format!("DIND_DNS64_PREFIX={}", n.dns64_prefix),
        format!("DIND_NAT64_GATEWAY={}", n.nat64_address),
        format!("DIND_NAT64_POOL={}", n.nat64_v4_pool),
    ]
}

/// The node names and addresses the boot script adds to `/etc/hosts`: with the DNS64
/// server as their only resolver, nodes no longer see Docker's DNS, yet kubeadm reaches
/// the master by name.
pub const NODE_HOSTS: &str = "/etc/dind/hosts";

/// The files that make a node use the DNS64 server, route the prefix to NAT64 and know
/// the other nodes by name, now and after every restart.
pub fn node_net64_files(plan: &ClusterPlan, n: &Net64Plan) -> Vec<NodeFile> {
    let balancer = plan
        .load_balancer
        .iter()
        .map(|lb| (lb.name.as_str(), lb.addresses()));
    let hosts: String = plan
        .nodes
        .iter()
        .map(|node| (node.name.as_str(), node.addresses()))
        .chain(balancer)
        .flat_map(|(name, addresses)| addresses.into_iter().map(move |a| format!("{a} {name}\n")))
        .collect();
    vec![
        NodeFile::new(NODE_NET64_ENV, net64_env(n).join("\n") + "\n"),
        NodeFile::new(NODE_HOSTS, hosts),
    ]
}

pub(super) fn support_labels(plan: &ClusterPlan, role: &str) -> BTreeMap<String, String> {
    let mut l = cluster_labels(plan);
    l.insert(labels::SUPPORT.to_string(), role.to_string());
    l
}

/// The NAT64 gateway: tayga needs a tun device and NET_ADMIN, nothing more.
pub fn nat64_container(
    plan: &ClusterPlan,
    n: &Net64Plan,
    image: &str,
) -> (ContainerSpec, Vec<NodeFile>) {
    let mut env = net64_env(n);
    // Without node IPv4 the gateway's IPv4 side is the edge network, which Docker may not
    // pick for the default route of a container whose first network is IPv6-only.
    if let Some(gateway) = plan.edge.as_ref().and_then(|e| e.gateways.first()) {
        env.push(format!("DIND_NAT64_V4_GATEWAY={gateway}"));
    }
    let spec = ContainerSpec {
        name: n.nat64_container.clone(),
        image: image.to_string(),
        hostname: Some(n.nat64_container.clone()),
        labels: support_labels(plan, "nat64"),
        env,
        entrypoint: Some(vec!["/usr/local/bin/dind-nat64".into()]),
        cap_add: vec!["NET_ADMIN".into()],
        devices: vec!["/dev/net/tun:/dev/net/tun:rwm".into()],
        sysctls: BTreeMap::from([
            ("net.ipv4.ip_forward".into(), "1".into()),
            ("net.ipv6.conf.all.disable_ipv6".into(), "0".into()),
            ("net.ipv6.conf.all.forwarding".into(), "1".into()),
        ]),
        network: Some(plan.network.name.clone()),
        ipv6: Some(n.nat64_address),
        restart: Some("unless-stopped".into()),
        ..ContainerSpec::default()
    };
    in_mesh(plan, spec, vec![NodeFile::new(TAYGA_CONF, tayga_conf(n))])
}

/// The DNS64 server: NET_ADMIN only to route the DNS64 prefix to the gateway.
pub fn dns64_container(
    plan: &ClusterPlan,
    n: &Net64Plan,
    image: &str,
) -> (ContainerSpec, Vec<NodeFile>) {
    let spec = ContainerSpec {
        name: n.dns64_container.clone(),
        image: image.to_string(),
        hostname: Some(n.dns64_container.clone()),
        labels: support_labels(plan, "dns64"),
        env: net64_env(n),
        entrypoint: Some(vec!["/usr/local/bin/dind-dns64".into()]),
        cap_add: vec!["NET_ADMIN".into()],
        sysctls: BTreeMap::from([("net.ipv6.conf.all.disable_ipv6".into(), "0".into())]),
        network: Some(plan.network.name.clone()),
        ipv6: Some(n.dns64_address),
        restart: Some("unless-stopped".into()),
        ..ContainerSpec::default()
    };
    in_mesh(plan, spec, vec![NodeFile::new(NAMED_CONF, named_conf(n))])
}

/// A support container of a cluster spread over engines: at its fixed overlay IPv4
/// address, adding its IPv6 one itself before its entrypoint routes through it
/// (crate::cluster::v6_mesh). Unchanged on one engine.
fn in_mesh(
    plan: &ClusterPlan,
    spec: ContainerSpec,
    files: Vec<NodeFile>,
) -> (ContainerSpec, Vec<NodeFile>) {
    let Some(mesh) = &plan.v6_mesh else {
        return (spec, files);
    };
    let Some(member) = mesh.member(&spec.name) else {
        return (spec, files);
    };
    let entrypoint = spec
        .entrypoint
        .as_ref()
        .map(|e| super::v6_mesh::support_entrypoint(&e.join(" ")));
    let files = [files, super::v6_mesh::first_script(mesh, &spec.name)].concat();
    let spec = ContainerSpec {
        ipv4: Some(member.ipv4),
        ipv6: None,
        entrypoint,
        ..spec
    };
    (spec, files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;

    fn plan(pairs: &[(&str, &str)]) -> ClusterPlan {
        ClusterPlan::new(&Settings::from_env_pairs(pairs).unwrap()).unwrap()
    }

    #[test]
    fn tayga_and_bind_follow_the_plan() {
        let p = plan(&[
            ("IP_MODE", "ipv6"),
            ("CLUSTER_ID", "5"),
            ("REMOTE_DNS64_V4SERVER", "10.99.0.53"),
        ]);
        let n = p.net64.clone().unwrap();
        let tayga = tayga_conf(&n);
        for line in [
            "tun-device nat64",
            "ipv4-addr 172.18.5.1",
            "prefix fd00:10:64:ff9b::/96",
            "dynamic-pool 172.18.5.128/25",
        ] {
            assert!(
                tayga.lines().any(|l| l == line),
                "{line} missing from\n{tayga}"
            );
        }
        let named = named_conf(&n);
        assert!(
            named.contains("forwarders { fd00:10:64:ff9b::a63:35; };"),
            "{named}"
        );
        assert!(named.contains("dns64 fd00:10:64:ff9b::/96 {"), "{named}");
        assert!(
            named.contains("exclude { any; };"),
            "synthesize for every name by default"
        );
        let allowed = plan(&[("IP_MODE", "ipv6"), ("DIND_ALLOW_AAAA_USE", "true")])
            .net64
            .unwrap();
        assert!(
            !named_conf(&allowed).contains("exclude"),
            "real AAAA records win when allowed"
        );
    }

    #[test]
    fn support_containers_get_least_privileges() {
        let p = plan(&[("IP_MODE", "ipv6"), ("CLUSTER_ID", "5")]);
        let n = p.net64.clone().unwrap();
        let (nat64, files) = nat64_container(&p, &n, "dind-support:x");
        assert_eq!(nat64.name, "tayga-cluster-5");
        assert!(!nat64.privileged);
        assert_eq!(nat64.cap_add, vec!["NET_ADMIN".to_string()]);
        assert_eq!(
            nat64.devices,
            vec!["/dev/net/tun:/dev/net/tun:rwm".to_string()]
        );
        assert_eq!(nat64.ipv6, Some("fd00:20:5::200".parse().unwrap()));
        assert_eq!(nat64.labels[labels::SUPPORT], "nat64");
        assert_eq!(files[0].path, TAYGA_CONF);
        let (dns64, files) = dns64_container(&p, &n, "dind-support:x");
        assert_eq!(dns64.name, "bind9-cluster-5");
        assert!(!dns64.privileged && dns64.devices.is_empty());
        assert_eq!(dns64.ipv6, Some("fd00:20:5::100".parse().unwrap()));
        assert_eq!(dns64.labels[labels::CLUSTER], "cluster-5");
        assert_eq!(files[0].path, NAMED_CONF);
        let files = node_net64_files(&p, &n);
        let env = String::from_utf8(files[0].contents.clone()).unwrap();
        assert_eq!(String::from_utf8(files[1].contents.clone()).unwrap(), "fd00:20:5::2 kube-master-cluster-5\nfd00:20:5::3 kube-node-1-cluster-5\nfd00:20:5::4 kube-node-2-cluster-5\n");
        assert!(env.contains("DIND_DNS64_SERVER=fd00:20:5::100\n"));
        assert!(env.contains("DIND_NAT64_GATEWAY=fd00:20:5::200\n"));
        assert!(env.contains("DIND_DNS64_PREFIX=fd00:10:64:ff9b::/96\n"));
    }

    #[test]
    fn spread_support_containers_hold_an_overlay_ipv4_and_add_their_ipv6() {
        let hosts = ("DIND_DOCKER_HOSTS", "unix:///a.sock,unix:///b.sock");
        let p = plan(&[("IP_MODE", "ipv6"), ("CLUSTER_ID", "5"), hosts]);
        let n = p.net64.clone().unwrap();
        // (container, overlay address, its own entrypoint)
        let table = [
            (nat64_container(&p, &n, "x"), "10.192.5.241", "dind-nat64"),
            (dns64_container(&p, &n, "x"), "10.192.5.240", "dind-dns64"),
        ];
        for ((spec, files), ipv4, entrypoint) in table {
            assert_eq!(spec.ipv4, Some(ipv4.parse().unwrap()), "{}", spec.name);
            assert_eq!(spec.ipv6, None, "{}", spec.name);
            let wrapped = spec.entrypoint.unwrap().join(" ");
            assert!(
                wrapped.ends_with(&format!("exec /usr/local/bin/{entrypoint}")),
                "{wrapped}"
            );
            assert_eq!(files[1].path, super::super::v6_mesh::MESH_SCRIPT);
        }
        let single = plan(&[("IP_MODE", "ipv6"), ("CLUSTER_ID", "5")]);
        let (spec, files) = dns64_container(&single, single.net64.as_ref().unwrap(), "x");
        assert_eq!(
            spec.entrypoint,
            Some(vec!["/usr/local/bin/dind-dns64".to_string()])
        );
        assert_eq!((spec.ipv4, files.len()), (None, 1), "one engine: unchanged");
    }
}
