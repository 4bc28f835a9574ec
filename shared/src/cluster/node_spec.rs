//! What a node container looks like: the pure translation of a [`NodePlan`] into a
//! [`ContainerSpec`], including the privilege decision.
//!
//! Where the daemon grants `--privileged`, nodes get it, as kind's do. Where it refuses
//! (some sandboxes lack capabilities in their bounding set), nodes get an explicit
//! capability set that was measured to boot systemd and run nested containers. On
//! cgroup v1 hosts nested containers also need the host's cgroup tree, writable, and the
//! host cgroup namespace; on cgroup v2 a private namespace is enough.

use crate::engine::{CgroupVersion, ContainerSpec, PortPublication};
use crate::names::labels;
use crate::plan::{ClusterPlan, NodePlan, Role};
use std::collections::BTreeMap;

/// Where a node's volume is mounted: all of `/var`, as kind mounts it
/// (kind pkg/cluster/internal/providers/docker/provision.go, `--volume /var`). containerd's
/// data must not sit on the container's own overlay filesystem for nested containers to
/// run; etcd, the kubelet's pods, emptyDirs and logs are faster and keep the container
/// layer small off it; and the node's images stay across `down` and `up`. Docker copies
/// the image's `/var` into a new volume once; the image keeps it small (no apt lists, and
/// the control-plane archives in `/dind/images`).
pub const NODE_VOLUME_PATH: &str = "/var";

/// How node containers get their privileges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Privileges {
    /// `--privileged`.
    Privileged,
    /// All capabilities but those the daemon cannot grant, unconfined, all devices.
    ExplicitCapabilities,
}

/// The environment that tells the node's entrypoint (`dind-entrypoint`, before systemd)
/// to remount the cgroup2 filesystem read-write: Docker mounts it read-only in a
/// container that is not `--privileged`, and systemd and the kubelet then create no cgroup.
pub const CGROUP_REMOUNT_ENV: &str = "DIND_CGROUP_REMOUNT_RW=1";

/// The environment that tells the node's entrypoint to set containerd's
/// `restrict_oom_score_adj`: without `CAP_SYS_RESOURCE` runc cannot give the pod sandbox
/// its `oom_score_adj` of -998, and every sandbox fails. kind sets the same option where
/// its nodes lack the privilege (kind images/base/files/usr/local/bin/entrypoint,
/// `configure_containerd`, for user namespaces).
pub const RESTRICT_OOM_SCORE_ADJ_ENV: &str = "DIND_RESTRICT_OOM_SCORE_ADJ=1";

/// The security-related part of a node's container, as a [`ContainerSpec`] fragment:
/// privileges, capabilities, confinement, cgroup namespace, the binds these need, and the
/// environment the node's entrypoint acts on before systemd starts.
pub fn node_security(privileges: Privileges, cgroup: CgroupVersion) -> ContainerSpec {
    let mut security = ContainerSpec {
        security_opt: vec!["seccomp=unconfined".into(), "apparmor=unconfined".into()],
        ..ContainerSpec::default()
    };
    match privileges {
        Privileges::Privileged => security.privileged = true,
        Privileges::ExplicitCapabilities => {
            security.cap_add = vec!["ALL".into()];
            // Not in the bounding set of daemons that refuse --privileged; asking for it fails.
            security.cap_drop = vec!["SYS_RESOURCE".into()];
            security.unconfined_system_paths = true;
            security.device_cgroup_rules = vec!["a *:* rwm".into()];
            security.env.push(RESTRICT_OOM_SCORE_ADJ_ENV.into());
        }
    }
    match cgroup {
        CgroupVersion::V1 => {
            // A private cgroup namespace mounts v1 hierarchies read-only, and nested
            // containers then fail to create their cgroups.
            security.cgroupns_host = true;
            security
                .binds
                .push("/sys/fs/cgroup:/sys/fs/cgroup:rw".into());
        }
        // The private namespace's own cgroup2 tree is what the node should manage; only
        // its read-only mount (no --privileged) is in the way.
        CgroupVersion::V2 if privileges == Privileges::ExplicitCapabilities => {
            security.env.push(CGROUP_REMOUNT_ENV.into());
        }
        CgroupVersion::V2 => {}
    }
    security
}

/// Whether a daemon's refusal to start a privileged container means "privileges not
/// grantable here" rather than some other failure.
pub fn refuses_privileged(error_text: &str) -> bool {
    let text = error_text.to_ascii_lowercase();
    text.contains("unable to apply caps") || text.contains("operation not permitted")
}

/// Host-dependent inputs to a node's container.
#[derive(Debug, Clone)]
pub struct NodeHost {
    pub privileges: Privileges,
    pub cgroup: CgroupVersion,
    /// Whether the host has `/lib/modules` to share read-only.
    pub has_lib_modules: bool,
}

/// The container of one node.
pub fn node_container(
    plan: &ClusterPlan,
    node: &NodePlan,
    host: &NodeHost,
    settings_json: &str,
) -> ContainerSpec {
    let security = node_security(host.privileges, host.cgroup);
    let mut binds = vec![format!("{}:{NODE_VOLUME_PATH}", node.volume)];
    if host.has_lib_modules {
        binds.push("/lib/modules:/lib/modules:ro".into());
    }
    binds.extend(security.binds.iter().cloned());
    binds.extend(crate::settings::mounts::binds_for(
        &plan.mounts,
        node.role == Role::Master,
    ));
    // Hosts may set arp_ignore to 2, which a new network namespace inherits for IPv4, and
    // which drops ARP for the /32 addresses `ptp` gives pods' host ends. kind sets `all` to
    // 0 (kind images/base/files/etc/sysctl.d/10-network-magic.conf); the kernel uses the
    // larger of `all` and the interface's value (Documentation/networking/ip-sysctl.rst,
    // arp_ignore), so `default`, which veths created later take, is 0 too.
    let mut sysctls = BTreeMap::from([
        ("net.ipv4.conf.all.arp_ignore".to_string(), "0".to_string()),
        (
            "net.ipv4.conf.default.arp_ignore".to_string(),
            "0".to_string(),
        ),
    ]);
    if plan.ip_mode.has_ipv6() {
        sysctls.insert("net.ipv6.conf.all.disable_ipv6".into(), "0".into());
        sysctls.insert("net.ipv6.conf.all.forwarding".into(), "1".into());
    }
    // Without node IPv4 the cluster's API proxy publishes the port instead
    // (crate::cluster::node_ipv4); with several masters, their balancer.
    let ports = if plan.edge.is_none() && plan.api_publisher() == node.name {
        vec![api_publication(plan)]
    } else {
        Vec::new()
    };
    // Spread over engines, an IPv6 node holds a fixed IPv4 address on the overlay and
    // adds its IPv6 one itself (crate::cluster::v6_mesh).
    let (ipv4, ipv6) = match plan.v6_mesh.as_ref().and_then(|m| m.member(&node.name)) {
        Some(member) => (Some(member.ipv4), None),
        None => (node.ipv4, node.ipv6),
    };
    let spec = ContainerSpec {
        name: node.name.clone(),
        image: plan.image.clone(),
        hostname: Some(node.name.clone()),
        labels: node_labels(plan, node, settings_json),
        env: [vec!["container=docker".to_string()], security.env.clone()].concat(),
        tty: true,
        stop_signal: Some("SIGRTMIN+3".into()),
        binds,
        tmpfs: vec!["/run".into(), "/tmp".into()],
        sysctls,
        network: Some(plan.network.name.clone()),
        ipv4,
        ipv6,
        ports,
        restart: Some("unless-stopped".into()),
        ..security
    };
    match node.role {
        Role::Master => super::master_opts::apply(&plan.master_extra_opts, spec),
        Role::Worker => spec,
    }
}

/// The API server's host port: on the master, or on the load balancer when there is one.
pub fn api_publication(plan: &ClusterPlan) -> PortPublication {
    PortPublication {
        container_port: crate::kubeadm::API_SERVER_PORT,
        protocol: "tcp".into(),
        host_ip: plan.apiserver_address,
        host_port: plan.apiserver_port.unwrap_or(0),
    }
}

/// The labels of a node container; [`labels::SETTINGS`] lets a later restore rebuild the plan.
pub fn node_labels(
    plan: &ClusterPlan,
    node: &NodePlan,
    settings_json: &str,
) -> BTreeMap<String, String> {
    BTreeMap::from([
        (labels::CLUSTER.to_string(), plan.cluster_key.clone()),
        (
            labels::NODE_ROLE.to_string(),
            node.role.as_str().to_string(),
        ),
        (labels::NODE_INDEX.to_string(), node.index.to_string()),
        (labels::SETTINGS.to_string(), settings_json.to_string()),
    ])
}

/// The labels of every other object of the cluster (network, volumes, support containers).
pub fn cluster_labels(plan: &ClusterPlan) -> BTreeMap<String, String> {
    BTreeMap::from([(labels::CLUSTER.to_string(), plan.cluster_key.clone())])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;

    fn plan(pairs: &[(&str, &str)]) -> ClusterPlan {
        ClusterPlan::new(&Settings::from_env_pairs(pairs).unwrap()).unwrap()
    }

    #[test]
    fn privilege_decision_table() {
        // (privileges, cgroup, privileged, drops SYS_RESOURCE, host cgroupns, binds cgroup
        // tree, entrypoint remounts cgroup2 rw, containerd restricts oom_score_adj)
        use CgroupVersion::{V1, V2};
        use Privileges::{ExplicitCapabilities as Caps, Privileged};
        let table = [
            (Privileged, V2, true, false, false, false, false, false),
            (Privileged, V1, true, false, true, true, false, false),
            (Caps, V2, false, true, false, false, true, true),
            (Caps, V1, false, true, true, true, false, true),
        ];
        for (privileges, cgroup, privileged, drops, host_ns, binds, remount, restrict) in table {
            let s = node_security(privileges, cgroup);
            let case = format!("{privileges:?}/{cgroup:?}");
            assert_eq!(s.privileged, privileged, "{case}");
            assert_eq!(
                s.cap_drop.contains(&"SYS_RESOURCE".to_string()),
                drops,
                "{case}"
            );
            assert_eq!(s.cgroupns_host, host_ns, "{case}");
            assert_eq!(
                s.binds
                    .contains(&"/sys/fs/cgroup:/sys/fs/cgroup:rw".to_string()),
                binds,
                "{case}"
            );
            assert!(
                s.security_opt.contains(&"seccomp=unconfined".to_string()),
                "{case}"
            );
            assert_eq!(
                s.cap_add.contains(&"ALL".to_string()),
                !privileged,
                "{case}"
            );
            assert_eq!(
                s.env.contains(&CGROUP_REMOUNT_ENV.to_string()),
                remount,
                "{case}"
            );
            assert_eq!(
                s.env.contains(&RESTRICT_OOM_SCORE_ADJ_ENV.to_string()),
                restrict,
                "{case}"
            );
            // The node container carries the decision to its entrypoint.
            let p = plan(&[]);
            let host = NodeHost {
                privileges,
                cgroup,
                has_lib_modules: false,
            };
            let node = node_container(&p, p.master(), &host, "{}");
            assert!(node.env.contains(&"container=docker".to_string()), "{case}");
            for env in &s.env {
                assert!(node.env.contains(env), "{case}: {env}");
            }
        }
    }

    #[test]
    fn refusals_are_recognised() {
        assert!(refuses_privileged(
            "OCI runtime create failed: unable to apply caps: operation not permitted: unknown"
        ));
        assert!(!refuses_privileged("No such image: dind-node:bare"));
    }

    #[test]
    fn master_and_worker_containers() {
        let p = plan(&[("CLUSTER_ID", "10"), ("IP_MODE", "dual-stack")]);
        let host = NodeHost {
            privileges: Privileges::ExplicitCapabilities,
            cgroup: CgroupVersion::V1,
            has_lib_modules: true,
        };
        let master = node_container(&p, p.master(), &host, "{}");
        assert_eq!(master.name, "kube-master-cluster-10");
        assert_eq!(master.hostname.as_deref(), Some("kube-master-cluster-10"));
        assert_eq!(master.ipv4, Some("10.192.10.2".parse().unwrap()));
        assert_eq!(master.ipv6, Some("fd00:20:10::2".parse().unwrap()));
        let spread = plan(&[
            ("CLUSTER_ID", "10"),
            ("IP_MODE", "ipv6"),
            ("DIND_DOCKER_HOSTS", "unix:///a.sock,unix:///b.sock"),
        ]);
        let on_overlay = node_container(&spread, &spread.nodes[1], &host, "{}");
        assert_eq!(on_overlay.ipv4, Some("10.192.10.3".parse().unwrap()));
        assert_eq!(on_overlay.ipv6, None, "added by the node itself");
        assert_eq!(
            master.network.as_deref(),
            Some("kubeadm-dind-net-cluster-10")
        );
        assert!(master
            .binds
            .contains(&"kubeadm-dind-kube-master-cluster-10:/var".to_string()));
        assert!(master
            .binds
            .contains(&"/lib/modules:/lib/modules:ro".to_string()));
        assert_eq!(master.tmpfs, vec!["/run".to_string(), "/tmp".to_string()]);
        assert_eq!(master.sysctls["net.ipv6.conf.all.disable_ipv6"], "0");
        assert_eq!(master.labels[labels::CLUSTER], "cluster-10");
        assert_eq!(master.labels[labels::NODE_ROLE], "master");
        assert_eq!(master.ports.len(), 1);
        assert_eq!(master.ports[0].host_ip.to_string(), "127.0.0.1");
        let worker = node_container(
            &p,
            &p.nodes[2],
            &NodeHost {
                has_lib_modules: false,
                ..host
            },
            "{}",
        );
        assert_eq!(worker.name, "kube-node-2-cluster-10");
        assert!(worker.ports.is_empty());
        assert!(!worker.binds.iter().any(|b| b.starts_with("/lib/modules")));
        assert_eq!(worker.labels[labels::NODE_INDEX], "2");
        let v4 = plan(&[]);
        let sysctls = node_container(
            &v4,
            v4.master(),
            &NodeHost {
                privileges: Privileges::Privileged,
                cgroup: CgroupVersion::V2,
                has_lib_modules: false,
            },
            "{}",
        )
        .sysctls;
        assert_eq!(
            sysctls.keys().collect::<Vec<_>>(),
            [
                "net.ipv4.conf.all.arp_ignore",
                "net.ipv4.conf.default.arp_ignore"
            ],
            "an IPv4 cluster sets only arp_ignore"
        );
        assert!(sysctls.values().all(|v| v == "0"));
    }
}
