//! Pre-flight checks: what the Docker host must offer before `up`, `restore` (an `up`
//! from snapshots) or `join` creates anything.
//!
//! [`gate`] is the one door all of them pass: the storage driver, the cluster's and the
//! custom networks, the host probe's facts and the published ports. Pure: each check reads
//! what was gathered from Docker and either passes, adds a note for the user, or fails
//! with the exact fix in its message. Nothing is created before the gate passes (the
//! probe container itself is removed again).

use super::extras::NodeExtras;
use super::host_probe::HostFacts;
use super::network::{check_network, NetworkState};
use crate::engine::{HostInfo, NetworkInfo};
use crate::error::usage;
use crate::plan::ClusterPlan;
use crate::publish::PortSpec;
use crate::settings::Settings;
use anyhow::bail;

/// Which command passes the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `up` or `restore`: the cluster's network may be there (kept by `down`) or not.
    Up,
    /// `join`: one more node for a running cluster, whose network must be there.
    Join,
}

/// Everything the gate reads, gathered from Docker and the settings before anything is
/// created.
#[derive(Debug, Clone, Copy)]
pub struct Gate<'a> {
    pub purpose: Purpose,
    pub settings: &'a Settings,
    pub intent: Intent<'a>,
    /// What the host probe found.
    pub facts: &'a HostFacts,
    /// Every Docker network there is.
    pub networks: &'a [NetworkInfo],
    pub extras: &'a NodeExtras,
    /// The `--publish` ports the nodes to be created take.
    pub ports: &'a [PortSpec],
    /// Each `--docker-hosts` engine's swarm membership; empty with one engine.
    pub swarm: &'a [(String, crate::engine::SwarmMembership)],
}

/// What passing the gate tells the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passed {
    pub network: NetworkState,
    /// The edge network's, when the nodes have no IPv4 (else `Exists`).
    pub edge: NetworkState,
    /// With several engines: the position of the swarm manager the network is created on.
    pub swarm_manager: Option<usize>,
    /// Notes for the user: requirements that do not stop this run.
    pub notes: Vec<String>,
}

/// The one pre-flight gate: runs every check, in the order a user would fix them.
pub fn gate(gate: &Gate<'_>) -> anyhow::Result<Passed> {
    let plan = gate.intent.plan;
    let swarm_manager = super::swarm_check::check_swarm(gate.swarm)?;
    storage_driver(gate.intent.host, gate.settings)?;
    let (network, edge) = check_network(plan, gate.networks)?;
    if gate.purpose == Purpose::Join && network == NetworkState::Missing {
        return Err(usage(format!(
            "the network {} of {} is missing; is the cluster up?",
            plan.network.name, plan.cluster_key
        )));
    }
    gate.extras.check_networks(plan, gate.networks)?;
    let notes = check(gate.facts, gate.intent)?;
    published_ports_free(gate.facts, gate.ports)?;
    Ok(Passed {
        network,
        edge,
        swarm_manager,
        notes,
    })
}

/// What the checks need beyond the host's facts.
#[derive(Debug, Clone, Copy)]
pub struct Intent<'a> {
    pub plan: &'a ClusterPlan,
    /// `up --nodes-only`: no Kubernetes, so Kubernetes-only requirements become notes.
    pub nodes_only: bool,
    /// What the daemon says of itself.
    pub host: &'a HostInfo,
    /// The node image's size, when known.
    pub node_image_bytes: Option<u64>,
}

/// Runs every check of the host probe's facts; returns the notes to show, or the first
/// failure.
fn check(facts: &HostFacts, intent: Intent<'_>) -> anyhow::Result<Vec<String>> {
    let mut notes = Vec::new();
    br_netfilter(facts, intent, &mut notes)?;
    api_version(intent.host)?;
    inotify(facts, intent)?;
    disk_space(facts, intent)?;
    tun_device(facts, intent)?;
    Ok(notes)
}

/// The oldest Docker API `up` can use: the cgroup namespace mode of node containers
/// (`HostConfig.CgroupnsMode`) arrived in API 1.41 (Docker 20.10).
pub const MIN_API_VERSION: (u32, u32) = (1, 41);

pub fn parse_api_version(text: &str) -> Option<(u32, u32)> {
    let (major, minor) = text.trim().split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Refuses a daemon whose API is older than what `up` uses.
pub fn api_version(host: &HostInfo) -> anyhow::Result<()> {
    let (major, minor) = MIN_API_VERSION;
    match parse_api_version(&host.api_version) {
        Some(v) if v >= MIN_API_VERSION => Ok(()),
        _ => bail!(
            "the Docker daemon speaks API {} (Docker {}), but dind needs API {major}.{minor} \
             (Docker 20.10) or newer for the cgroup namespace of its nodes. \
             Fix: upgrade Docker on the daemon's host to 20.10 or later",
            host.api_version,
            host.server_version
        ),
    }
}

/// inotify instances and watches one node uses: systemd, containerd and (with
/// Kubernetes) kubelet and its pods all watch files. Counted here: a booted bare node
/// holds 8 instances; kind's "known issues" page has multi-node Kubernetes clusters fail
/// with the common default of 128 instances and recommends 512 instances and 524288
/// watches, so a Kubernetes node counts as 32 instances and 8192 watches.
fn inotify_per_node(nodes_only: bool) -> (u64, u64) {
    if nodes_only {
        (10, 2048)
    } else {
        (32, 8192)
    }
}

/// Refuses a host whose inotify limits are too low for the number of nodes.
fn inotify(facts: &HostFacts, intent: Intent<'_>) -> anyhow::Result<()> {
    let nodes = intent.plan.nodes.len() as u64;
    let (instances, watches) = inotify_per_node(intent.nodes_only);
    let checks = [
        (
            "fs.inotify.max_user_instances",
            facts.inotify_max_user_instances,
            instances * nodes,
            512.max(instances * nodes),
        ),
        (
            "fs.inotify.max_user_watches",
            facts.inotify_max_user_watches,
            watches * nodes,
            524_288.max(watches * nodes),
        ),
    ];
    for (sysctl, have, need, fix) in checks {
        if let Some(have) = have {
            if have < need {
                bail!(
                    "the Docker host's {sysctl} is {have}, too low for {nodes} node(s) (they need about {need}). \
                     Fix, on the Docker host: `sudo sysctl -w {sysctl}={fix}` \
                     (and keep it with `echo {sysctl}={fix} | sudo tee /etc/sysctl.d/99-dind.conf`)"
                );
            }
        }
    }
    Ok(())
}

/// Room every cluster needs under the data root beyond the node image: the nodes' own
/// layers and their containerd volumes (a Kubernetes node pulls ~0.5 GB of images).
pub const DISK_MARGIN_BYTES: u64 = 2 << 30;

/// Refuses a host with too little free space under the daemon's data root.
fn disk_space(facts: &HostFacts, intent: Intent<'_>) -> anyhow::Result<()> {
    let Some(free) = facts.data_root_free_bytes else {
        return Ok(());
    };
    let need = intent.node_image_bytes.unwrap_or(0) + DISK_MARGIN_BYTES;
    if free < need {
        let mib = |b: u64| b >> 20;
        bail!(
            "only {} MiB are free under the Docker daemon's data root {}; the node image and its \
             nodes need about {} MiB. Fix: free space there (`docker system df` shows what \
             Docker holds; `docker dind clean` removes old clusters) or move Docker's data-root",
            mib(free),
            intent.host.docker_root_dir,
            mib(need)
        );
    }
    Ok(())
}

/// tayga, the NAT64 of an IPv6 cluster, needs `/dev/net/tun`; Docker's own error for a
/// missing device does not say why it is wanted.
fn tun_device(facts: &HostFacts, intent: Intent<'_>) -> anyhow::Result<()> {
    if intent.plan.net64.is_none() || facts.dev_net_tun {
        return Ok(());
    }
    bail!(
        "IP_MODE=ipv6 needs /dev/net/tun on the Docker host for the NAT64 container (tayga), \
         and it is missing. Fix, on the Docker host: `sudo modprobe tun` (or \
         `sudo mkdir -p /dev/net && sudo mknod /dev/net/tun c 10 200`), or use IP_MODE=ipv4 or dual-stack"
    )
}

/// Refuses the btrfs storage driver unless RUN_ON_BTRFS_ANYWAY.
fn storage_driver(host: &HostInfo, settings: &Settings) -> anyhow::Result<()> {
    if host.storage_driver == "btrfs" && !settings.run_on_btrfs_anyway {
        return Err(usage(
            "the Docker daemon uses the btrfs storage driver, on which nested containers and \
             volume cleanup are known to fail; set RUN_ON_BTRFS_ANYWAY=true (--run-on-btrfs-anyway) to try anyway",
        ));
    }
    Ok(())
}

/// The bridge CNI needs `net.bridge.bridge-nf-call-iptables`: without it, a pod calling a
/// Service whose backend is on the same node never sees the reply (DNS fails about half
/// the time). kubeadm no longer checks it (its `FileContent--proc-sys-net-bridge-bridge-nf-call-iptables`
/// preflight check went away in 1.30, kubernetes PR #123464), so this gate does.
fn br_netfilter(
    facts: &HostFacts,
    intent: Intent<'_>,
    notes: &mut Vec<String>,
) -> anyhow::Result<()> {
    if facts.br_netfilter {
        return Ok(());
    }
    const FIX: &str = "load it on the Docker host with `sudo modprobe br_netfilter` \
                       (and keep it with `echo br_netfilter | sudo tee /etc/modules-load.d/br_netfilter.conf`)";
    if intent.nodes_only {
        notes.push(format!(
            "The Docker host has no br_netfilter module loaded; Kubernetes on these nodes will need it: {FIX}"
        ));
        return Ok(());
    }
    bail!(
        "the Docker host has no br_netfilter module loaded and dind could not load it; \
         Kubernetes pods would lose Service replies. Fix: {FIX}"
    )
}

/// Every `--publish` host port must be free on the Docker host; Docker would otherwise
/// fail only when it starts the node, after the cluster's objects exist.
fn published_ports_free(facts: &HostFacts, specs: &[PortSpec]) -> anyhow::Result<()> {
    let taken: Vec<String> = specs
        .iter()
        .filter(|s| facts.port_taken(s.udp, s.address, s.host_port))
        .map(ToString::to_string)
        .collect();
    if !taken.is_empty() {
        bail!(
            "host port(s) already in use on the Docker host: {}; free them or choose other host ports for --publish (EXTRA_PORTS)",
            taken.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;

    fn host(api: &str, driver: &str) -> HostInfo {
        HostInfo {
            server_version: "20.10.24".into(),
            cgroup_version: crate::engine::CgroupVersion::V1,
            storage_driver: driver.into(),
            docker_root_dir: "/var/lib/docker".into(),
            api_version: api.into(),
            containerd_store: false,
        }
    }

    fn good_facts() -> HostFacts {
        HostFacts {
            br_netfilter: true,
            dev_net_tun: true,
            inotify_max_user_instances: Some(8192),
            inotify_max_user_watches: Some(1 << 20),
            data_root_free_bytes: Some(100 << 30),
            ..HostFacts::default()
        }
    }

    #[test]
    fn each_bad_value_fails_with_its_fix() {
        let v4 =
            ClusterPlan::new(&Settings::from_env_pairs(&[("NUM_NODES", "3")]).unwrap()).unwrap();
        let v6 =
            ClusterPlan::new(&Settings::from_env_pairs(&[("IP_MODE", "ipv6")]).unwrap()).unwrap();
        let good_host = host("1.41", "overlay2");
        let old_host = host("1.40", "overlay2");
        let good = good_facts();
        let few_instances = HostFacts {
            inotify_max_user_instances: Some(100),
            ..good_facts()
        };
        let few_watches = HostFacts {
            inotify_max_user_watches: Some(8192),
            ..good_facts()
        };
        let full_disk = HostFacts {
            data_root_free_bytes: Some(1 << 30),
            ..good_facts()
        };
        let no_tun = HostFacts {
            dev_net_tun: false,
            ..good_facts()
        };
        // (facts, plan, host, expected failure text; None = passes)
        let table: [(&HostFacts, &ClusterPlan, &HostInfo, Option<&str>); 8] = [
            (&good, &v4, &good_host, None),
            (&good, &v6, &good_host, None),
            (&no_tun, &v4, &good_host, None),
            (&good, &v4, &old_host, Some("API 1.40")),
            (
                &few_instances,
                &v4,
                &good_host,
                Some("sudo sysctl -w fs.inotify.max_user_instances=512"),
            ),
            (
                &few_watches,
                &v4,
                &good_host,
                Some("sudo sysctl -w fs.inotify.max_user_watches=524288"),
            ),
            (
                &full_disk,
                &v4,
                &good_host,
                Some("1024 MiB are free under the Docker daemon's data root /var/lib/docker"),
            ),
            (&no_tun, &v6, &good_host, Some("sudo modprobe tun")),
        ];
        for (i, (facts, plan, host, failure)) in table.into_iter().enumerate() {
            let result = check(
                facts,
                Intent {
                    plan,
                    nodes_only: false,
                    host,
                    node_image_bytes: Some(500 << 20),
                },
            );
            match (failure, result) {
                (None, Ok(_)) => {}
                (Some(text), Err(e)) => assert!(e.to_string().contains(text), "case {i}: {e}"),
                (want, got) => panic!("case {i}: wanted {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn inotify_scales_with_nodes_and_kubernetes() {
        let facts = HostFacts {
            inotify_max_user_instances: Some(128),
            ..good_facts()
        };
        let host = host("1.41", "overlay2");
        // (workers, nodes_only, passes): 128 instances hold 4 Kubernetes nodes, 12 bare ones.
        let table = [
            (3, false, true),
            (4, false, false),
            (11, true, true),
            (12, true, false),
        ];
        for (workers, nodes_only, passes) in table {
            let workers = workers.to_string();
            let plan = ClusterPlan::new(
                &Settings::from_env_pairs(&[("NUM_NODES", workers.as_str())]).unwrap(),
            )
            .unwrap();
            let result = check(
                &facts,
                Intent {
                    plan: &plan,
                    nodes_only,
                    host: &host,
                    node_image_bytes: None,
                },
            );
            assert_eq!(
                result.is_ok(),
                passes,
                "{workers} workers, nodes_only={nodes_only}"
            );
        }
    }

    #[test]
    fn btrfs_is_refused_unless_asked() {
        let anyway = Settings::from_env_pairs(&[("RUN_ON_BTRFS_ANYWAY", "true")]).unwrap();
        let plain = Settings::from_env_pairs(&[]).unwrap();
        let table = [
            ("btrfs", &plain, false),
            ("btrfs", &anyway, true),
            ("overlay2", &plain, true),
        ];
        for (driver, settings, passes) in table {
            let result = storage_driver(&host("1.41", driver), settings);
            assert_eq!(result.is_ok(), passes, "{driver}");
            if let Err(e) = result {
                assert!(e.to_string().contains("RUN_ON_BTRFS_ANYWAY=true"), "{e}");
                assert_eq!(crate::exit_code(&e), 2);
            }
        }
    }

    #[test]
    fn br_netfilter_is_required_for_kubernetes_only() {
        let plan = ClusterPlan::new(&Settings::from_env_pairs(&[]).unwrap()).unwrap();
        let host = host("1.41", "overlay2");
        let missing = HostFacts {
            br_netfilter: false,
            ..good_facts()
        };
        let present = good_facts();
        // (facts, nodes_only, passes, notes)
        let table = [
            (&present, false, true, 0),
            (&present, true, true, 0),
            (&missing, true, true, 1),
            (&missing, false, false, 0),
        ];
        for (facts, nodes_only, passes, notes) in table {
            let result = check(
                facts,
                Intent {
                    plan: &plan,
                    nodes_only,
                    host: &host,
                    node_image_bytes: None,
                },
            );
            assert_eq!(result.is_ok(), passes, "nodes_only={nodes_only}");
            match result {
                Ok(n) => assert_eq!(n.len(), notes),
                Err(e) => assert!(e.to_string().contains("sudo modprobe br_netfilter"), "{e}"),
            }
        }
    }

    #[test]
    fn taken_host_ports_are_refused() {
        let facts = super::super::host_probe::parse(
            "listen_tcp=127.0.0.1:18080\nlisten_tcp=*:9000\nlisten_udp=0.0.0.0:5353\nprobe=done\n",
        )
        .unwrap();
        let specs = |items: &[&str]| {
            crate::publish::parse_all(&items.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap()
        };
        // (publications, error needle or None)
        let table: &[(&[&str], Option<&str>)] = &[
            (&["127.0.0.1:18081:80"], None),
            (&["18080:80"], Some("127.0.0.1:18080:80/tcp")),
            (&["10.1.2.3:18080:80"], None),
            (&["0.0.0.0:18080:80"], Some("0.0.0.0:18080")),
            (&["9000:80"], Some("127.0.0.1:9000")),
            (&["18080:80/udp"], None),
            (&["5353:53/udp"], Some("5353:53/udp")),
        ];
        for (items, needle) in table {
            let result = published_ports_free(&facts, &specs(items));
            match needle {
                None => assert!(result.is_ok(), "{items:?}: {result:?}"),
                Some(needle) => {
                    let err = result.unwrap_err().to_string();
                    assert!(
                        err.contains(needle) && err.contains("already in use"),
                        "{err}"
                    );
                }
            }
        }
    }

    /// `join` passes the gate `up` passes: the same inputs give the same answer, except
    /// that a joining node needs its cluster's network to be there already (`up` creates
    /// it when it is missing).
    #[test]
    fn join_is_refused_where_up_is_and_without_the_cluster_network() {
        use super::super::host_probe::Listener;
        use crate::names::labels;
        let settings = Settings::from_env_pairs(&[("EXTRA_PORTS", "127.0.0.1:18080:80")]).unwrap();
        let plan = ClusterPlan::new(&settings).unwrap();
        let extras = NodeExtras::prepare(&settings, &plan, None).unwrap();
        let host = host("1.41", "overlay2");
        let free = good_facts();
        let taken = HostFacts {
            listening: vec![Listener {
                udp: false,
                address: Some([127, 0, 0, 1].into()),
                port: 18080,
            }],
            ..good_facts()
        };
        let cluster_network = |cluster: &str| NetworkInfo {
            name: plan.network.name.clone(),
            subnets: plan.network.subnets.clone(),
            labels: [(labels::CLUSTER.to_string(), cluster.to_string())].into(),
        };
        let ours = [cluster_network(&plan.cluster_key)];
        let foreign = [cluster_network("cluster-99")];
        let missing = format!(
            "the network {} of {} is missing; is the cluster up?",
            plan.network.name, plan.cluster_key
        );
        let missing = missing.as_str();
        let port = "host port(s) already in use on the Docker host: 127.0.0.1:18080:80/tcp";
        let foreign_network = "is not this cluster's";
        // (purpose, networks there, host facts, the network's state or (error, exit code))
        type Case<'a> = (
            Purpose,
            &'a [NetworkInfo],
            &'a HostFacts,
            Result<NetworkState, (&'a str, i32)>,
        );
        let table: [Case; 9] = [
            (Purpose::Up, &ours, &free, Ok(NetworkState::Exists)),
            (Purpose::Join, &ours, &free, Ok(NetworkState::Exists)),
            (Purpose::Up, &[], &free, Ok(NetworkState::Missing)),
            (Purpose::Join, &[], &free, Err((missing, 2))),
            (Purpose::Up, &ours, &taken, Err((port, 1))),
            (Purpose::Join, &ours, &taken, Err((port, 1))),
            // The missing network comes first: without it there is no cluster to join.
            (Purpose::Join, &[], &taken, Err((missing, 2))),
            (Purpose::Up, &foreign, &free, Err((foreign_network, 2))),
            (Purpose::Join, &foreign, &free, Err((foreign_network, 2))),
        ];
        for (i, (purpose, networks, facts, expected)) in table.into_iter().enumerate() {
            let result = gate(&Gate {
                purpose,
                settings: &settings,
                intent: Intent {
                    plan: &plan,
                    nodes_only: false,
                    host: &host,
                    node_image_bytes: None,
                },
                facts,
                networks,
                extras: &extras,
                ports: &extras.ports,
                swarm: &[],
            });
            match (expected, result) {
                (Ok(state), Ok(passed)) => assert_eq!(passed.network, state, "case {i}"),
                (Err((needle, code)), Err(e)) => {
                    let text = format!("{e:#}");
                    assert!(text.contains(needle), "case {i}: {text}");
                    assert!(!text.contains('\n'), "case {i}: one line: {text}");
                    assert_eq!(crate::exit_code(&e), code, "case {i}: {text}");
                }
                (want, got) => panic!("case {i} ({purpose:?}): wanted {want:?}, got {got:?}"),
            }
        }
    }
}
