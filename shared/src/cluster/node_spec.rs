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

/// Where a node's volume is mounted: containerd's data, which must not sit on the
/// container's own overlay filesystem for nested containers to run, and which holds
/// the node's images across `down` and `up`. (kubeadm-dind-cluster's node volumes held
/// Docker's data the same way.) An empty directory in the image, so creating the
/// volume copies nothing; all of `/var` costs ~0.4 s per node in copying alone.
pub const NODE_VOLUME_PATH: &str = "/var/lib/containerd";

/// How node containers get their privileges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Privileges {
    /// `--privileged`.
    Privileged,
    /// All capabilities but those the daemon cannot grant, unconfined, all devices.
    ExplicitCapabilities,
}

/// The security-related part of a node's container, as a [`ContainerSpec`] fragment:
/// privileges, capabilities, confinement, cgroup namespace, and the binds these need.
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
        }
    }
    if cgroup == CgroupVersion::V1 {
        // A private cgroup namespace mounts v1 hierarchies read-only, and nested
        // containers then fail to create their cgroups.
        security.cgroupns_host = true;
        security
            .binds
            .push("/sys/fs/cgroup:/sys/fs/cgroup:rw".into());
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
    let mut sysctls = BTreeMap::new();
    if plan.ip_mode.has_ipv6() {
        sysctls.insert("net.ipv6.conf.all.disable_ipv6".into(), "0".into());
        sysctls.insert("net.ipv6.conf.all.forwarding".into(), "1".into());
    }
    let ports = if plan.api_publisher() == node.name {
        vec![api_publication(plan)]
    } else {
        Vec::new()
    };
    let spec = ContainerSpec {
        name: node.name.clone(),
        image: plan.image.clone(),
        hostname: Some(node.name.clone()),
        labels: node_labels(plan, node, settings_json),
        env: vec!["container=docker".into()],
        tty: true,
        stop_signal: Some("SIGRTMIN+3".into()),
        binds,
        tmpfs: vec!["/run".into(), "/tmp".into()],
        sysctls,
        network: Some(plan.network.name.clone()),
        ipv4: node.ipv4,
        ipv6: node.ipv6,
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
        // (privileges, cgroup, privileged, drops SYS_RESOURCE, host cgroupns, binds cgroup tree)
        let table = [
            (
                Privileges::Privileged,
                CgroupVersion::V2,
                true,
                false,
                false,
                false,
            ),
            (
                Privileges::Privileged,
                CgroupVersion::V1,
                true,
                false,
                true,
                true,
            ),
            (
                Privileges::ExplicitCapabilities,
                CgroupVersion::V2,
                false,
                true,
                false,
                false,
            ),
            (
                Privileges::ExplicitCapabilities,
                CgroupVersion::V1,
                false,
                true,
                true,
                true,
            ),
        ];
        for (privileges, cgroup, privileged, drops, host_ns, binds) in table {
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
        assert_eq!(
            master.network.as_deref(),
            Some("kubeadm-dind-net-cluster-10")
        );
        assert!(master
            .binds
            .contains(&"kubeadm-dind-kube-master-cluster-10:/var/lib/containerd".to_string()));
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
        assert!(node_container(
            &v4,
            v4.master(),
            &NodeHost {
                privileges: Privileges::Privileged,
                cgroup: CgroupVersion::V2,
                has_lib_modules: false
            },
            "{}"
        )
        .sysctls
        .is_empty());
    }
}
