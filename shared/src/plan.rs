//! The address plan: every name, address and subnet of one cluster, computed from its
//! [`Settings`] without touching Docker.
//!
//! The arithmetic is kubeadm-dind-cluster's, with one fix: its NAT64 pools ran out of
//! private space above ID 13; here each cluster gets a /24 (or a /16 under `10`) that is
//! private and distinct for every ID 0..254. `up --dry-run` prints a [`ClusterPlan`] whole.

pub mod mesh;

use crate::error::usage;
use crate::names::ClusterIdentity;
use crate::settings::{first_v4, first_v6, IpMode, Settings};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Host part of the DNS64 server on an IPv6 management network (`::100`).
const DNS64_HOST: u128 = 0x100;
/// Host part of the NAT64 gateway on an IPv6 management network (`::200`).
const NAT64_HOST: u128 = 0x200;
/// The IPv4 side of an IPv6 cluster's Docker network, with the cluster ID injected.
const IPV6_MODE_DOCKER_V4: &str = "10.192.0.0/24";
/// The DNS service is the tenth address of the service range, as kubeadm makes it.
const DNS_SERVICE_OFFSET: u128 = 10;
/// The most masters a cluster can have (`--masters` offers 1, 3 or 5; `join
/// --control-plane` adds more): etcd advises at most seven members.
pub const MAX_MASTERS: u16 = 7;
/// Host part of the load balancer (.254, ::fe): the top of the range, so no address of
/// a one-master cluster moves. Masters 2, 3, … sit below it (.253, .252, …).
const LOAD_BALANCER_HOST: u32 = 254;
/// How many host addresses at the top of an IPv4 management range the balancer and
/// masters 2 to [`MAX_MASTERS`] take (.248 to .254 of a /24): what sits beside a cluster
/// on its network (the local registry and its mirrors) starts below them.
pub const TOP_HOSTS_FOR_MASTERS: u32 = MAX_MASTERS as u32;

/// The role of a node container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Master,
    Worker,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Master => "master",
            Role::Worker => "worker",
        }
    }
}

/// One node container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodePlan {
    /// Container name and hostname.
    pub name: String,
    pub role: Role,
    /// 0 for the first master, k for `kube-master-k`, n for `kube-node-n`.
    pub index: u16,
    pub volume: String,
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    /// One pod subnet per family, in the order of the pod CIDRs.
    pub pod_subnets: Vec<IpNet>,
}

impl NodePlan {
    /// The node's addresses, IPv4 first.
    pub fn addresses(&self) -> Vec<IpAddr> {
        both_families(self.ipv4, self.ipv6)
    }
}

/// The cluster's Docker network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkPlan {
    pub name: String,
    pub subnets: Vec<IpNet>,
    pub gateways: Vec<IpAddr>,
}

/// The DNS64 server and NAT64 gateway of an IPv6 cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Net64Plan {
    pub dns64_container: String,
    pub dns64_address: Ipv6Addr,
    pub nat64_container: String,
    pub nat64_address: Ipv6Addr,
    /// The /96 in which IPv4 addresses are written as IPv6 ones.
    pub dns64_prefix: Ipv6Net,
    /// The cluster's private IPv4 range for NAT64.
    pub nat64_v4_pool: Ipv4Net,
    /// tayga's own IPv4 address, inside the pool.
    pub nat64_v4_address: Ipv4Addr,
    /// The addresses tayga maps IPv6 clients to.
    pub nat64_dynamic_pool: Ipv4Net,
    /// The upstream IPv4 resolver, and the same address written inside the DNS64 prefix,
    /// which is how the IPv6-only DNS64 server reaches it through NAT64.
    pub upstream_dns_v4: Ipv4Addr,
    pub upstream_dns_via_nat64: Ipv6Addr,
    /// Real AAAA records win over synthesized ones.
    pub allow_aaaa_use: bool,
}

/// The load balancer in front of the masters of a cluster with several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoadBalancerPlan {
    /// Container name and hostname.
    pub name: String,
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
}

impl LoadBalancerPlan {
    /// Its addresses, IPv4 first.
    pub fn addresses(&self) -> Vec<IpAddr> {
        both_families(self.ipv4, self.ipv6)
    }
}

/// The addresses there are of the two families, IPv4 first.
fn both_families(ipv4: Option<Ipv4Addr>, ipv6: Option<Ipv6Addr>) -> Vec<IpAddr> {
    ipv4.map(IpAddr::V4)
        .into_iter()
        .chain(ipv6.map(IpAddr::V6))
        .collect()
}

/// Everything about one cluster that can be known before Docker is asked anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterPlan {
    pub cluster: ClusterIdentity,
    /// The value of the `dind.cluster` label on every object of the cluster.
    pub cluster_key: String,
    pub address_id: u8,
    pub ip_mode: IpMode,
    pub context: String,
    pub network: NetworkPlan,
    /// The IPv4-only network of a cluster whose nodes have no IPv4 (then `network` has
    /// only its IPv6 subnet); see [`crate::cluster::node_ipv4`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edge: Option<NetworkPlan>,
    pub nodes: Vec<NodePlan>,
    pub pod_cidrs: Vec<IpNet>,
    pub service_cidrs: Vec<IpNet>,
    pub dns_service_ips: Vec<IpAddr>,
    /// Where the API server is published on the Docker host.
    pub apiserver_address: IpAddr,
    pub apiserver_port: Option<u16>,
    /// Further names the API server's certificate holds: the host the kubeconfig reaches
    /// it by, known once `up` has decided where it is published.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub apiserver_names: Vec<String>,
    pub net64: Option<Net64Plan>,
    /// With several masters: the balancer the API server is reached through.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<LoadBalancerPlan>,
    pub image: String,
    /// `MASTER_EXTRA_OPTS`: extra container options of the master.
    #[serde(skip_serializing_if = "crate::settings::kdc::ExtraOpts::is_empty")]
    pub master_extra_opts: crate::settings::kdc::ExtraOpts,
    /// `--mount`: host folders in the nodes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<crate::settings::mounts::Mount>,
    /// The control plane's feature gates (`FEATURE_GATES`; `none` plans none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feature_gates: Option<String>,
    /// The kubelets' feature gates (`KUBELET_FEATURE_GATES`; `none` plans none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubelet_feature_gates: Option<String>,
    /// `--docker-hosts`: which engine holds which node; empty with one engine.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub placement: Vec<crate::placement::EnginePlacement>,
    /// An IPv6 cluster over several engines: the overlay's IPv4 addresses and the IPv6
    /// addresses its members add themselves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub v6_mesh: Option<mesh::V6MeshPlan>,
}

impl ClusterPlan {
    /// Computes the plan and rejects settings whose addresses cannot work. The checks
    /// run first, in the order a user would fix them; then the plan is built from
    /// values that passed.
    pub fn new(settings: &Settings) -> anyhow::Result<ClusterPlan> {
        let cluster = settings.identity.clone();
        let address_id = cluster.address_id();
        let mode = settings.ip_mode;
        let mgmt = Management::new(settings, address_id)?;
        check_pod_and_service_cidrs(settings)?;
        check_worker_count(settings)?;
        check_spread_ip_mode(settings)?;
        let net64 = net64_plan(settings, &cluster, &mgmt, address_id)?;
        check_disjoint(settings, &mgmt, net64.as_ref())?;

        let nodes = node_plans(settings, &cluster, &mgmt);
        let v6_mesh = match (mgmt.docker_v4, mgmt.v6) {
            (Some(overlay), Some(v6)) if settings.docker_hosts.len() > 1 => {
                Some(spread_mesh(overlay, v6, &nodes, net64.as_ref()))
            }
            _ => None,
        };
        // Spread, the overlay carries IPv4 only: the members add their IPv6 themselves.
        let subnets: Vec<IpNet> = match v6_mesh {
            Some(_) => mgmt.network_v4().map(IpNet::V4).into_iter().collect(),
            None => mgmt.subnets(),
        };
        let gateways = subnets.iter().map(|n| nth(*n, 1)).collect();
        let node_names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
        Ok(ClusterPlan {
            placement: crate::placement::place(&settings.docker_hosts, &node_names),
            cluster_key: cluster.key(),
            context: cluster.context_name(),
            network: NetworkPlan {
                name: cluster.network_name(),
                subnets,
                gateways,
            },
            edge: None,
            nodes,
            load_balancer: load_balancer_plan(settings, &cluster, &mgmt)?,
            pod_cidrs: settings.pod_cidrs.clone(),
            service_cidrs: settings.service_cidrs.clone(),
            dns_service_ips: settings
                .service_cidrs
                .iter()
                .map(|n| nth(*n, DNS_SERVICE_OFFSET))
                .collect(),
            apiserver_address: default_apiserver_address(settings),
            apiserver_port: settings.apiserver_port,
            apiserver_names: Vec::new(),
            net64,
            image: settings.node_image(),
            master_extra_opts: settings.kdc.master_extra_opts.clone(),
            mounts: settings.mounts.clone(),
            feature_gates: settings.feature_gates.clone(),
            kubelet_feature_gates: settings.kubelet_feature_gates.clone(),
            address_id,
            ip_mode: mode,
            v6_mesh,
            cluster,
        })
    }

    /// The first master: where kubeadm init runs.
    pub fn master(&self) -> &NodePlan {
        &self.nodes[0]
    }

    /// Every master, the first one first; they lead [`ClusterPlan::nodes`].
    pub fn masters(&self) -> &[NodePlan] {
        let count = self
            .nodes
            .iter()
            .take_while(|n| n.role == Role::Master)
            .count();
        &self.nodes[..count]
    }

    pub fn workers(&self) -> &[NodePlan] {
        &self.nodes[self.masters().len()..]
    }

    /// The container the API server's host port is published on: the load balancer
    /// when there is one, else the master.
    pub fn api_publisher(&self) -> &str {
        match &self.load_balancer {
            Some(lb) => &lb.name,
            None => &self.master().name,
        }
    }
}

/// The host part of master `k` (1 is the first): the first keeps .2; the others count
/// down from below the load balancer, clear of the workers' .3 upwards.
fn master_host(k: u16) -> u32 {
    match k {
        0 | 1 => 2,
        k => LOAD_BALANCER_HOST + 1 - u32::from(k),
    }
}

/// The balancer of a plan with several masters, at the top of the management range.
fn load_balancer_plan(
    settings: &Settings,
    cluster: &ClusterIdentity,
    mgmt: &Management,
) -> anyhow::Result<Option<LoadBalancerPlan>> {
    if settings.masters <= 1 {
        return Ok(None);
    }
    let name = cluster.load_balancer_name();
    if name.len() > 63 {
        return Err(usage(format!(
            "the load balancer's name {name} is longer than a hostname may be (63): use a shorter label for a cluster with several masters"
        )));
    }
    Ok(Some(LoadBalancerPlan {
        name,
        ipv4: mgmt.v4.map(|n| nth_v4(n, LOAD_BALANCER_HOST)),
        ipv6: mgmt.v6.map(|n| host_v6(n, u128::from(LOAD_BALANCER_HOST))),
    }))
}

/// The cluster's management subnets, with the cluster's address ID in them.
struct Management {
    v4: Option<Ipv4Net>,
    v6: Option<Ipv6Net>,
    /// Docker gives every bridge network an IPv4 subnet, even an IPv6 one. Left to its
    /// pools it may take 172.18.0.0/16, where NAT64 pools live, so an IPv6 cluster's
    /// network gets a known one. Nodes get no fixed IPv4 address on it.
    docker_v4: Option<Ipv4Net>,
}

impl Management {
    fn new(settings: &Settings, address_id: u8) -> anyhow::Result<Management> {
        Ok(Management {
            v4: first_v4(&settings.mgmt_cidrs)
                .map(|n| inject_id_v4(n, address_id))
                .transpose()?,
            v6: first_v6(&settings.mgmt_cidrs)
                .map(|n| inject_id_v6(n, address_id))
                .transpose()?,
            docker_v4: match settings.ip_mode {
                IpMode::Ipv6 => Some(inject_id_v4(
                    IPV6_MODE_DOCKER_V4.parse().expect("a valid constant"),
                    address_id,
                )?),
                _ => None,
            },
        })
    }

    /// The IPv4 subnet of the Docker network: the management one, or Docker's.
    fn network_v4(&self) -> Option<Ipv4Net> {
        self.v4.or(self.docker_v4)
    }

    /// The Docker network's subnets, IPv4 first.
    fn subnets(&self) -> Vec<IpNet> {
        self.network_v4()
            .map(IpNet::V4)
            .into_iter()
            .chain(self.v6.map(IpNet::V6))
            .collect()
    }
}

/// Pod networks that split into one subnet per node, and CIDRs without host bits.
fn check_pod_and_service_cidrs(settings: &Settings) -> anyhow::Result<()> {
    if let Some(pod) = first_v4(&settings.pod_cidrs) {
        if pod.prefix_len() != 16 {
            return Err(usage(format!(
                "invalid POD_NETWORK_CIDR {pod}: an IPv4 pod network must be a /16, split into one /24 per node"
            )));
        }
    }
    if let Some(pod) = first_v6(&settings.pod_cidrs) {
        if pod.prefix_len() > 120 {
            return Err(usage(format!(
                "invalid POD_NETWORK_CIDR {pod}: an IPv6 pod network must leave 8 bits for the node number (at most /120)"
            )));
        }
    }
    for net in &settings.service_cidrs {
        check_service_cidr_size(*net)?;
    }
    for net in settings.pod_cidrs.iter().chain(&settings.service_cidrs) {
        if net.trunc() != *net {
            return Err(usage(format!(
                "invalid CIDR {net}: host bits are set; did you mean {}?",
                net.trunc()
            )));
        }
    }
    Ok(())
}

/// A service range kubeadm takes: at most 20 host bits (kubeadm's
/// `MaximumBitsForServiceSubnet`, cmd/kubeadm/app/constants/constants.go) and room for
/// the DNS service at its tenth address (`MinimumAddressesInServiceSubnet`), so at least
/// 4 host bits.
fn check_service_cidr_size(net: IpNet) -> anyhow::Result<()> {
    let host_bits = net.max_prefix_len() - net.prefix_len();
    if host_bits < 4 {
        return Err(usage(format!(
            "invalid SERVICE_CIDR {net}: the DNS service is its address {DNS_SERVICE_OFFSET}, \
             so it needs at least 16 addresses (/{} or larger)",
            net.max_prefix_len() - 4
        )));
    }
    if host_bits > 20 {
        return Err(usage(format!(
            "invalid SERVICE_CIDR {net}: kubeadm takes at most 20 host bits (/{} or smaller)",
            net.max_prefix_len() - 20
        )));
    }
    Ok(())
}

/// The mesh of an IPv6 cluster over several engines: its nodes, then the DNS64 server and
/// the NAT64 gateway.
fn spread_mesh(
    overlay: Ipv4Net,
    v6: Ipv6Net,
    nodes: &[NodePlan],
    net64: Option<&Net64Plan>,
) -> mesh::V6MeshPlan {
    let nodes: Vec<(String, Ipv6Addr)> = nodes
        .iter()
        .filter_map(|n| Some((n.name.clone(), n.ipv6?)))
        .collect();
    let support: Vec<(String, Ipv6Addr)> = net64
        .iter()
        .flat_map(|n| {
            [
                (n.dns64_container.clone(), n.dns64_address),
                (n.nat64_container.clone(), n.nat64_address),
            ]
        })
        .collect();
    mesh::mesh_plan(overlay, v6, &nodes, &support)
}

/// Which IP modes spread over several engines. Measured on this project's swarm (Docker
/// 20.10 as manager, Docker 28.5.2 as worker), on an attachable overlay with an IPv4 and
/// an IPv6 subnet:
/// - a container keeps only one fixed address: with `--ip` and `--ip6` its IPv6 address
///   is a dynamic one (a dual-stack node loses its plan address), and with `--ip6` alone
///   its IPv4 address comes from the engine it runs on, which does not know the other
///   engines' addresses: a container on each engine got 10.192.235.224 and .225, the
///   addresses the swarm had given the other engine's own endpoint on the network;
/// - Docker makes a container's MAC from its IPv4 address, so those pairs shared a MAC
///   (02:42:0a:c0:eb:e0, :e1), and IPv6 between them timed out even with the peer's MAC
///   pinned (`ip -6 neigh replace ... nud permanent`); Docker 20.10 takes no MAC per
///   endpoint, only the container-wide `MacAddress`, which bollard no longer sends;
/// - neighbour discovery does not cross engines at all: without a pinned MAC, a node
///   on one engine found its peer on the other `FAILED` (moby#48116), where IPv4 worked;
///   with unique MACs pinned on both sides, IPv6 between engines worked.
///
/// So an IPv6 cluster spreads over an IPv4-only overlay, each member at a fixed IPv4
/// address (unique, and so is its MAC) adding its plan IPv6 address and its peers' MACs
/// itself (crate::plan::mesh). Dual-stack stays refused: its nodes' plan IPv4 addresses
/// would hold the overlay, but the mesh is not built or tested for it. Several masters
/// stay refused in IPv6 mode: their load balancer has no part in the mesh.
fn check_spread_ip_mode(settings: &Settings) -> anyhow::Result<()> {
    if settings.docker_hosts.len() < 2 {
        return Ok(());
    }
    match settings.ip_mode {
        IpMode::Ipv4 => Ok(()),
        IpMode::Ipv6 if settings.masters <= 1 => Ok(()),
        IpMode::Ipv6 => Err(usage(format!(
            "--masters {} cannot go with --ip-mode ipv6 (IP_MODE, config key ip-mode) and \
             several --docker-hosts (DIND_DOCKER_HOSTS, config key docker-hosts): the masters' \
             load balancer has no IPv6 address on the IPv4-only overlay; use one master, \
             --ip-mode ipv4 or a single Docker host",
            settings.masters
        ))),
        IpMode::DualStack => Err(usage(format!(
            "--ip-mode {} (IP_MODE, config key ip-mode) cannot go with several --docker-hosts \
             (DIND_DOCKER_HOSTS, config key docker-hosts): on a swarm overlay network a \
             container keeps only one fixed address, each engine hands out the other family (and \
             the MAC Docker makes from it) on its own, so containers on two engines collide, and \
             IPv6 neighbour discovery does not cross engines (moby#48116); use --ip-mode ipv4 \
             or ipv6, or a single Docker host",
            settings.ip_mode
        ))),
    }
}

/// No more workers than the management and pod subnets can address.
fn check_worker_count(settings: &Settings) -> anyhow::Result<()> {
    let mode = settings.ip_mode;
    let masters = settings.masters;
    if !(1..=MAX_MASTERS).contains(&masters) {
        return Err(usage(format!(
            "{masters} masters requested: a cluster has 1 to {MAX_MASTERS}"
        )));
    }
    let max_workers = max_workers(mode, masters);
    let spread_max = MAX_SPREAD_WORKERS.min(max_workers);
    if settings.docker_hosts.len() > 1 && settings.num_nodes > spread_max {
        return Err(usage(format!(
            "{} worker nodes requested, but a cluster spread over several --docker-hosts has \
             at most {spread_max}: the swarm takes addresses of its own from host \
             {SWARM_RANGE_FIRST_HOST} of the management subnet",
            settings.num_nodes
        )));
    }
    if settings.num_nodes > max_workers {
        return Err(usage(format!(
            "{} worker nodes requested, but the management and pod subnets address at most {max_workers} in {mode} mode{}",
            settings.num_nodes,
            if masters > 1 { " with several masters" } else { "" }
        )));
    }
    Ok(())
}

/// The DNS64/NAT64 pair of an IPv6 cluster; `None` in the other modes.
fn net64_plan(
    settings: &Settings,
    cluster: &ClusterIdentity,
    mgmt: &Management,
    address_id: u8,
) -> anyhow::Result<Option<Net64Plan>> {
    if settings.ip_mode != IpMode::Ipv6 {
        return Ok(None);
    }
    let mgmt = mgmt.v6.expect("ipv6 mode has an IPv6 management network");
    let pool = nat64_pool(&settings.nat64_v4_subnet_prefix, address_id)?;
    let prefix = settings.dns64_prefix;
    Ok(Some(Net64Plan {
        dns64_container: cluster.dns64_name(),
        dns64_address: host_v6(mgmt, DNS64_HOST),
        nat64_container: cluster.nat64_name(),
        nat64_address: host_v6(mgmt, NAT64_HOST),
        dns64_prefix: prefix,
        nat64_v4_pool: pool,
        nat64_v4_address: nth_v4(pool, 1),
        nat64_dynamic_pool: dynamic_pool(pool),
        upstream_dns_v4: settings.remote_dns64_v4server,
        upstream_dns_via_nat64: embed_v4(prefix, settings.remote_dns64_v4server),
        allow_aaaa_use: settings.allow_aaaa_use,
    }))
}

/// Everything routed inside the cluster must be disjoint.
fn check_disjoint(
    settings: &Settings,
    mgmt: &Management,
    net64: Option<&Net64Plan>,
) -> anyhow::Result<()> {
    let mut ranges: Vec<(&str, IpNet)> = Vec::new();
    ranges.extend(
        mgmt.network_v4()
            .map(|n| ("management network", IpNet::V4(n))),
    );
    ranges.extend(mgmt.v6.map(|n| ("management network", IpNet::V6(n))));
    ranges.extend(settings.pod_cidrs.iter().map(|n| ("pod network", *n)));
    ranges.extend(
        settings
            .service_cidrs
            .iter()
            .map(|n| ("service network", *n)),
    );
    if let Some(n) = net64 {
        ranges.push(("DNS64 prefix", IpNet::V6(n.dns64_prefix)));
        ranges.push(("NAT64 pool", IpNet::V4(n.nat64_v4_pool)));
    }
    for (i, (name_a, a)) in ranges.iter().enumerate() {
        for (name_b, b) in &ranges[i + 1..] {
            if overlaps(a, b) {
                return Err(usage(format!(
                    "the {name_a} {a} overlaps the {name_b} {b}: choose disjoint ranges"
                )));
            }
        }
    }
    Ok(())
}

/// The master (index 0) and the workers, with their addresses and pod subnets.
/// The masters, then the workers (whose numbers and addresses do not depend on how many
/// masters there are).
fn node_plans(settings: &Settings, cluster: &ClusterIdentity, mgmt: &Management) -> Vec<NodePlan> {
    let node = |name: String, role: Role, index: u16, host: u32| NodePlan {
        volume: format!("kubeadm-dind-{name}"),
        name,
        role,
        index,
        ipv4: mgmt.v4.map(|n| nth_v4(n, host)),
        ipv6: mgmt.v6.map(|n| host_v6(n, u128::from(host))),
        pod_subnets: settings
            .pod_cidrs
            .iter()
            .map(|cidr| node_pod_subnet(*cidr, host))
            .collect(),
    };
    let masters = (1..=settings.masters.max(1)).map(|k| {
        let index = if k == 1 { 0 } else { k };
        node(cluster.master_name(k), Role::Master, index, master_host(k))
    });
    let workers = (1..=settings.num_nodes).map(|index| {
        let host = u32::from(index) + 2;
        node(cluster.node_name(index), Role::Worker, index, host)
    });
    masters.chain(workers).collect()
}

/// `--apiserver-address`, else loopback of the first service network's family.
fn default_apiserver_address(settings: &Settings) -> IpAddr {
    let first_service_is_v6 = matches!(settings.service_cidrs.first(), Some(IpNet::V6(_)));
    settings
        .apiserver_address
        .unwrap_or(if first_service_is_v6 {
            IpAddr::V6(Ipv6Addr::LOCALHOST)
        } else {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        })
}

/// The most workers a mode can address: node hosts run from .2 and pod subnet numbers
/// up to 255; IPv4 stops before the broadcast .255, IPv6 before the DNS64 server ::100.
/// With several masters, the top of the range is the balancer's and the masters'.
pub fn max_workers(mode: IpMode, masters: u16) -> u16 {
    if masters > 1 {
        return (master_host(MAX_MASTERS) - 3) as u16;
    }
    match mode {
        IpMode::Ipv4 | IpMode::DualStack => 252,
        IpMode::Ipv6 => 253,
    }
}

/// The first host number of the addresses a swarm hands out on a cluster's overlay (one
/// endpoint per engine, moby's per-node load-balancer address): above every worker a
/// spread cluster may have ([`MAX_SPREAD_WORKERS`]), below the registries' and masters'.
pub const SWARM_RANGE_FIRST_HOST: u32 = 224;

/// The most workers of a cluster spread over several engines: the node addresses must
/// stay below [`SWARM_RANGE_FIRST_HOST`] (the master has `.2`, workers follow).
pub const MAX_SPREAD_WORKERS: u16 = (SWARM_RANGE_FIRST_HOST - 3) as u16;

/// Where a swarm may hand out addresses on `subnet` of a spread cluster's overlay: 16
/// addresses from host [`SWARM_RANGE_FIRST_HOST`] (a /28 of an IPv4 /24, a /124 of IPv6).
pub fn swarm_dynamic_range(subnet: IpNet) -> IpNet {
    let first = nth(subnet, u128::from(SWARM_RANGE_FIRST_HOST));
    let len = match subnet {
        IpNet::V4(_) => 28,
        IpNet::V6(_) => 124,
    };
    IpNet::new(first, len).expect("a /28 or /124 prefix is valid")
}

/// Replaces the third octet of an IPv4 /24 with the cluster ID.
pub fn inject_id_v4(net: Ipv4Net, id: u8) -> anyhow::Result<Ipv4Net> {
    if net.prefix_len() != 24 {
        return Err(usage(format!(
            "invalid IPv4 management CIDR {net}: it must be a /24, whose third octet carries the cluster ID"
        )));
    }
    let [a, b, _, _] = net.network().octets();
    Ok(Ipv4Net::new(Ipv4Addr::new(a, b, id, 0), 24).expect("a /24 is a valid prefix"))
}

/// Writes the cluster ID into the first hextet after the written ones, reading its
/// decimal digits as hex as kubeadm-dind-cluster did (ID 10 → hextet `10`, i.e. 0x10).
pub fn inject_id_v6(net: Ipv6Net, id: u8) -> anyhow::Result<Ipv6Net> {
    let mut segments = net.network().segments();
    let written = segments.iter().rposition(|s| *s != 0).map_or(0, |i| i + 1);
    if written >= 8 || (written as u8 + 1) * 16 > net.prefix_len() {
        return Err(usage(format!(
            "invalid IPv6 management CIDR {net}: it has no room for the cluster ID hextet; \
             use a prefix of at least /{} such as fd00:20::/64",
            (written.min(7) as u8 + 1) * 16
        )));
    }
    // Hosts: the gateway ::1, nodes ::2 to ::ff, DNS64 ::100 and NAT64 ::200.
    if net.prefix_len() > 118 {
        return Err(usage(format!(
            "invalid IPv6 management CIDR {net}: it must leave room for the nodes (::2 to ::ff), \
             DNS64 (::100) and NAT64 (::200), so at most /118, such as fd00:20::/64"
        )));
    }
    segments[written] =
        u16::from_str_radix(&id.to_string(), 16).expect("decimal digits are valid hex");
    Ok(Ipv6Net::new(Ipv6Addr::from(segments), net.prefix_len())
        .expect("the prefix length is unchanged"))
}

/// The pod subnet of the node whose number (management host part) is `k`: IPv4 /16 →
/// `a.b.k.0/24`; IPv6 /n → /(n+8) with `k` in the 8 new bits.
pub fn node_pod_subnet(cidr: IpNet, k: u32) -> IpNet {
    match cidr {
        IpNet::V4(net) => {
            let [a, b, _, _] = net.network().octets();
            IpNet::V4(Ipv4Net::new(Ipv4Addr::new(a, b, k as u8, 0), 24).expect("/24 is valid"))
        }
        IpNet::V6(net) => {
            let len = net.prefix_len() + 8;
            let base = u128::from(net.network()) | (u128::from(k) << (128 - u32::from(len)));
            IpNet::V6(Ipv6Net::new(Ipv6Addr::from(base), len).expect("at most /128"))
        }
    }
}

/// The NAT64 pool of a cluster. `A.B` gives `A.B.<id>.0/24` and needs `A.B.0.0/16` to be
/// private; a lone `10` gives `10.<id>.0.0/16`. Anything else could leave private space
/// for some ID, so it is refused for all.
pub fn nat64_pool(prefix: &str, id: u8) -> anyhow::Result<Ipv4Net> {
    let octets: Vec<u8> = prefix
        .trim()
        .trim_end_matches('.')
        .split('.')
        .map(|o| o.parse::<u8>())
        .collect::<Result<_, _>>()
        .map_err(|_| usage(format!("invalid NAT64_V4_SUBNET_PREFIX {prefix:?}: expected one or two octets, like 172.18")))?;
    let private16 =
        |a: u8, b: u8| a == 10 || (a == 172 && (16..=31).contains(&b)) || (a == 192 && b == 168);
    match octets.as_slice() {
        [10] => Ok(Ipv4Net::new(Ipv4Addr::new(10, id, 0, 0), 16).expect("/16 is valid")),
        [a, b] if private16(*a, *b) => Ok(Ipv4Net::new(Ipv4Addr::new(*a, *b, id, 0), 24).expect("/24 is valid")),
        _ => Err(usage(format!(
            "NAT64_V4_SUBNET_PREFIX {prefix:?} cannot keep every cluster's NAT64 pool private: \
             use 10, or two octets inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16 (default 172.18)"
        ))),
    }
}

/// The upper half of the pool, so tayga's own address (the first) stays outside it.
fn dynamic_pool(pool: Ipv4Net) -> Ipv4Net {
    let half = pool.prefix_len() + 1;
    let base = u32::from(pool.network()) | (1 << (32 - u32::from(half)));
    Ipv4Net::new(Ipv4Addr::from(base), half).expect("at most /25")
}

/// An IPv4 address written inside a /96 prefix (RFC 6052).
pub fn embed_v4(prefix: Ipv6Net, v4: Ipv4Addr) -> Ipv6Addr {
    Ipv6Addr::from(u128::from(prefix.network()) | u128::from(u32::from(v4)))
}

fn nth_v4(net: Ipv4Net, n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()) + n)
}

fn host_v6(net: Ipv6Net, n: u128) -> Ipv6Addr {
    Ipv6Addr::from(u128::from(net.network()) + n)
}

fn nth(net: IpNet, n: u128) -> IpAddr {
    match net {
        IpNet::V4(v4) => IpAddr::V4(nth_v4(v4, n as u32)),
        IpNet::V6(v6) => IpAddr::V6(host_v6(v6, n)),
    }
}

/// Whether two ranges share an address.
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(pairs: &[(&str, &str)]) -> anyhow::Result<ClusterPlan> {
        ClusterPlan::new(&Settings::from_env_pairs(pairs)?)
    }

    #[test]
    fn a_spread_cluster_leaves_the_swarm_its_range() {
        let table = [
            ("10.192.7.0/24", "10.192.7.224/28"),
            ("fd00:77::/64", "fd00:77::e0/124"),
        ];
        for (subnet, range) in table {
            let subnet: IpNet = subnet.parse().unwrap();
            assert_eq!(swarm_dynamic_range(subnet).to_string(), range, "{subnet}");
        }
        let hosts = ("DIND_DOCKER_HOSTS", "unix:///a.sock,unix:///b.sock");
        // (workers, mode, error needle or None)
        let cases = [
            ("221", "ipv4", None),
            ("222", "ipv4", Some("at most 221")),
            ("221", "ipv6", None),
            (
                "3",
                "dual-stack",
                Some("cannot go with several --docker-hosts (DIND_DOCKER_HOSTS"),
            ),
        ];
        for (workers, mode, needle) in cases {
            let result = plan(&[("NUM_NODES", workers), ("IP_MODE", mode), hosts]);
            match needle {
                None => {
                    let plan = result.unwrap();
                    let mesh = plan.v6_mesh.iter().flat_map(|m| &m.members);
                    let mesh_v4: Vec<IpAddr> = mesh.map(|m| IpAddr::V4(m.ipv4)).collect();
                    let unique: std::collections::BTreeSet<_> = mesh_v4.iter().collect();
                    assert_eq!(unique.len(), mesh_v4.len(), "{mesh_v4:?}");
                    for address in plan
                        .nodes
                        .iter()
                        .flat_map(|n| [n.ipv4.map(IpAddr::V4), n.ipv6.map(IpAddr::V6)])
                        .flatten()
                        .chain(mesh_v4)
                    {
                        assert!(
                            !plan
                                .network
                                .subnets
                                .iter()
                                .any(|s| swarm_dynamic_range(*s).contains(&address)),
                            "{address} is in the swarm's range"
                        );
                    }
                }
                Some(needle) => {
                    let err = result.unwrap_err();
                    assert_eq!(crate::error::exit_code(&err), 2, "{err}");
                    assert!(err.to_string().contains(needle), "{err}");
                    assert!(!err.to_string().contains('\n'), "one line: {err}");
                }
            }
        }
    }

    #[test]
    fn an_ipv6_cluster_spreads_over_an_ipv4_overlay() {
        let hosts = ("DIND_DOCKER_HOSTS", "unix:///a.sock,unix:///b.sock");
        let p = plan(&[("IP_MODE", "ipv6"), ("CLUSTER_ID", "5"), hosts]).unwrap();
        let subnets: Vec<String> = p.network.subnets.iter().map(|s| s.to_string()).collect();
        assert_eq!(subnets, ["10.192.5.0/24"]);
        let mesh = p.v6_mesh.clone().expect("a mesh");
        assert_eq!(mesh.prefix_len, 64);
        let members: Vec<(String, String, String)> = mesh
            .members
            .iter()
            .map(|m| (m.name.clone(), m.ipv4.to_string(), m.ipv6.to_string()))
            .collect();
        let row = |n: &str, a: &str, b: &str| (n.to_string(), a.to_string(), b.to_string());
        assert_eq!(
            members,
            [
                row("kube-master-cluster-5", "10.192.5.2", "fd00:20:5::2"),
                row("kube-node-1-cluster-5", "10.192.5.3", "fd00:20:5::3"),
                row("kube-node-2-cluster-5", "10.192.5.4", "fd00:20:5::4"),
                row("bind9-cluster-5", "10.192.5.240", "fd00:20:5::100"),
                row("tayga-cluster-5", "10.192.5.241", "fd00:20:5::200"),
            ]
        );
        // The nodes keep their plan addresses: only the containers differ.
        assert_eq!(p.nodes[0].ipv4, None);
        assert_eq!(p.nodes[0].ipv6, v6("fd00:20:5::2"));
        let single = plan(&[("IP_MODE", "ipv6"), ("CLUSTER_ID", "5")]).unwrap();
        assert_eq!(single.v6_mesh, None);
        assert_eq!(single.network.subnets.len(), 2);
        let err = plan(&[("IP_MODE", "ipv6"), ("DIND_MASTERS", "3"), hosts]).unwrap_err();
        assert_eq!(crate::error::exit_code(&err), 2, "{err}");
        assert!(err.to_string().contains("load balancer"), "{err}");
    }

    fn v4(s: &str) -> Option<Ipv4Addr> {
        Some(s.parse().unwrap())
    }
    fn v6(s: &str) -> Option<Ipv6Addr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn cluster_10_ipv4() {
        let p = plan(&[("CLUSTER_ID", "10")]).unwrap();
        assert_eq!(
            p.network.subnets,
            vec!["10.192.10.0/24".parse::<IpNet>().unwrap()]
        );
        assert_eq!(
            p.network.gateways,
            vec!["10.192.10.1".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(p.network.name, "kubeadm-dind-net-cluster-10");
        assert_eq!(p.master().name, "kube-master-cluster-10");
        assert_eq!(p.master().ipv4, v4("10.192.10.2"));
        assert_eq!(p.nodes[1].name, "kube-node-1-cluster-10");
        assert_eq!(p.nodes[1].ipv4, v4("10.192.10.3"));
        assert_eq!(p.context, "dind-cluster-10");
        assert_eq!(p.cluster_key, "cluster-10");
        assert_eq!(p.nodes.len(), 3);
        assert!(p.net64.is_none());
        assert_eq!(p.apiserver_address, "127.0.0.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn ipv6_management_id_injection() {
        // (mgmt, id, network, master)
        let table = [
            ("fd00:20::/64", "2", "fd00:20:2::/64", "fd00:20:2::2"),
            (
                "fd00:10:20::/64",
                "10",
                "fd00:10:20:10::/64",
                "fd00:10:20:10::2",
            ),
            ("fd00:20::/64", "0", "fd00:20::/64", "fd00:20::2"),
            ("fd00:20::/64", "254", "fd00:20:254::/64", "fd00:20:254::2"),
        ];
        for (mgmt, id, network, master) in table {
            let p = plan(&[
                ("IP_MODE", "ipv6"),
                ("MGMT_CIDRS", mgmt),
                ("CLUSTER_ID", id),
            ])
            .unwrap();
            assert_eq!(
                p.network
                    .subnets
                    .iter()
                    .find(|n| matches!(n, IpNet::V6(_)))
                    .unwrap()
                    .to_string(),
                network,
                "{mgmt} {id}"
            );
            assert_eq!(p.master().ipv6, v6(master), "{mgmt} {id}");
            assert_eq!(p.master().ipv4, None);
            assert_eq!(
                p.network.subnets[0].to_string(),
                format!("10.192.{id}.0/24"),
                "Docker's IPv4 side is known"
            );
        }
    }

    #[test]
    fn label_names_and_context() {
        let p = plan(&[("DIND_LABEL", "foo")]).unwrap();
        assert_eq!(p.master().name, "kube-master-foo");
        assert_eq!(p.context, "dind-foo");
        assert_ne!(
            p.address_id, 0,
            "a labelled cluster never takes the default cluster's addresses"
        );
        assert_eq!(
            p.network.subnets[0].to_string(),
            format!("10.192.{}.0/24", p.address_id)
        );
    }

    #[test]
    fn defaults_of_each_ip_mode() {
        // (mode, master v4, master v6, master pod subnets, dns service ips, apiserver address)
        let table = [
            (
                "ipv4",
                v4("10.192.0.2"),
                None,
                "10.244.2.0/24",
                "10.96.0.10",
                "127.0.0.1",
            ),
            (
                "ipv6",
                None,
                v6("fd00:20::2"),
                "fd00:40:0:0:2::/80",
                "fd00:30::a",
                "::1",
            ),
            (
                "dual-stack",
                v4("10.192.0.2"),
                v6("fd00:20::2"),
                "10.244.2.0/24,fd00:40:0:0:2::/80",
                "10.96.0.10,fd00:30::a",
                "127.0.0.1",
            ),
        ];
        for (mode, ipv4, ipv6, pods, dns, api) in table {
            let p = plan(&[("IP_MODE", mode)]).unwrap();
            let join = |items: Vec<String>| items.join(",");
            assert_eq!(p.master().ipv4, ipv4, "{mode}");
            assert_eq!(p.master().ipv6, ipv6, "{mode}");
            assert_eq!(
                join(
                    p.master()
                        .pod_subnets
                        .iter()
                        .map(|n| n.to_string())
                        .collect()
                ),
                pods,
                "{mode}"
            );
            assert_eq!(
                join(p.dns_service_ips.iter().map(|n| n.to_string()).collect()),
                dns,
                "{mode}"
            );
            assert_eq!(p.apiserver_address.to_string(), api, "{mode}");
            assert_eq!(p.net64.is_some(), mode == "ipv6", "{mode}");
        }
    }

    #[test]
    fn pod_subnets_per_node() {
        // (pod cidr, node number k, subnet)
        let table = [
            ("10.244.0.0/16", 2, "10.244.2.0/24"),
            ("10.244.0.0/16", 4, "10.244.4.0/24"),
            ("fd00:10:20:30::/72", 2, "fd00:10:20:30:2::/80"),
            ("fd00:10:20:30::/64", 2, "fd00:10:20:30:200::/72"),
            ("fd00:40::/72", 3, "fd00:40::3:0:0:0/80"),
        ];
        for (cidr, k, subnet) in table {
            assert_eq!(
                node_pod_subnet(cidr.parse().unwrap(), k),
                subnet.parse::<IpNet>().unwrap(),
                "{cidr} {k}"
            );
        }
    }

    #[test]
    fn ipv6_plan_has_dns64_and_nat64() {
        let p = plan(&[("IP_MODE", "ipv6"), ("CLUSTER_ID", "5")]).unwrap();
        let n = p.net64.unwrap();
        assert_eq!(n.dns64_container, "bind9-cluster-5");
        assert_eq!(n.nat64_container, "tayga-cluster-5");
        assert_eq!(
            n.dns64_address,
            "fd00:20:5::100".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(
            n.nat64_address,
            "fd00:20:5::200".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(n.dns64_prefix.to_string(), "fd00:10:64:ff9b::/96");
        assert_eq!(n.nat64_v4_pool.to_string(), "172.18.5.0/24");
        assert_eq!(
            n.nat64_v4_address,
            "172.18.5.1".parse::<Ipv4Addr>().unwrap()
        );
        assert_eq!(n.nat64_dynamic_pool.to_string(), "172.18.5.128/25");
        assert_eq!(
            n.upstream_dns_via_nat64,
            "fd00:10:64:ff9b::808:808".parse::<Ipv6Addr>().unwrap()
        );
        assert!(!n.allow_aaaa_use);
    }

    #[test]
    fn nat64_pools_are_private_and_disjoint_for_every_id() {
        let private: [Ipv4Net; 3] = [
            "10.0.0.0/8".parse().unwrap(),
            "172.16.0.0/12".parse().unwrap(),
            "192.168.0.0/16".parse().unwrap(),
        ];
        for prefix in ["172.18", "10", "192.168", "10.77"] {
            let ids = [0u8, 13, 14, 200, 254];
            let pools: Vec<Ipv4Net> = ids
                .iter()
                .map(|id| nat64_pool(prefix, *id).unwrap())
                .collect();
            for (i, pool) in pools.iter().enumerate() {
                assert!(
                    private.iter().any(|p| p.contains(pool)),
                    "{prefix}: {pool} is not private"
                );
                for other in &pools[i + 1..] {
                    assert!(
                        !overlaps(&IpNet::V4(*pool), &IpNet::V4(*other)),
                        "{prefix}: {pool} overlaps {other}"
                    );
                }
            }
            // Every ID, not just the sampled ones.
            let all: std::collections::BTreeSet<_> = (0..=254)
                .map(|id| nat64_pool(prefix, id).unwrap())
                .collect();
            assert_eq!(all.len(), 255);
        }
        for prefix in ["172", "172.32", "8.8", "192.169", "1.2.3", "x"] {
            assert_eq!(
                crate::error::exit_code(&nat64_pool(prefix, 1).unwrap_err()),
                2,
                "{prefix}"
            );
        }
    }

    #[test]
    fn invalid_plans_are_usage_errors() {
        let table: &[(&[(&'static str, &str)], &str)] = &[
            (&[("MGMT_CIDRS", "10.192.0.0/16")], "must be a /24"),
            (
                &[("IP_MODE", "ipv6"), ("MGMT_CIDRS", "fd00:1:2:3::/64")],
                "no room for the cluster ID",
            ),
            (&[("POD_NETWORK_CIDR", "10.244.0.0/20")], "must be a /16"),
            (&[("POD_NETWORK_CIDR", "10.192.0.0/16")], "overlaps"),
            (&[("SERVICE_CIDR", "10.240.0.0/12")], "overlaps"),
            (&[("SERVICE_CIDR", "10.244.0.0/12")], "host bits"),
            (&[("NUM_NODES", "253")], "at most 252"),
            (
                &[("IP_MODE", "ipv6"), ("NAT64_V4_SUBNET_PREFIX", "172")],
                "private",
            ),
            (
                &[("IP_MODE", "ipv6"), ("DNS64_PREFIX", "fd00:40::")],
                "overlaps",
            ),
            // Ranges too small for what lives in them, or too big for kubeadm.
            (&[("SERVICE_CIDR", "10.96.0.0/32")], "at least 16 addresses"),
            (&[("SERVICE_CIDR", "10.96.0.0/29")], "at least 16 addresses"),
            (
                &[("IP_MODE", "ipv6"), ("SERVICE_CIDR", "fd00:30::/128")],
                "at least 16 addresses",
            ),
            (&[("SERVICE_CIDR", "10.0.0.0/8")], "at most 20 host bits"),
            (
                &[("IP_MODE", "ipv6"), ("MGMT_CIDRS", "fd00:20::/128")],
                "at most /118",
            ),
            (
                &[
                    ("IP_MODE", "dual-stack"),
                    ("MGMT_CIDRS", "10.192.0.0/24,fd00:20::/120"),
                ],
                "at most /118",
            ),
        ];
        for (pairs, needle) in table {
            let err = plan(pairs).unwrap_err();
            assert_eq!(crate::error::exit_code(&err), 2, "{pairs:?}");
            assert!(err.to_string().contains(needle), "{pairs:?}: {err}");
        }
        assert_eq!(plan(&[("NUM_NODES", "252")]).unwrap().nodes.len(), 253);
        assert_eq!(
            plan(&[("IP_MODE", "ipv6"), ("NUM_NODES", "253")])
                .unwrap()
                .nodes
                .len(),
            254
        );
    }
}
