//! `MASTER_EXTRA_OPTS`: kubeadm-dind-cluster's extra docker-run options for the master,
//! added to the master's container spec. dind's own settings come first: extra binds,
//! environment, ports and limits are added, and an extra label never replaces one of
//! dind's (the parser already refuses `dind.*` keys).

use crate::engine::{ContainerSpec, PortPublication};
use crate::settings::kdc::ExtraOpts;

/// The master's spec with the extra options added.
pub fn apply(opts: &ExtraOpts, mut spec: ContainerSpec) -> ContainerSpec {
    spec.binds.extend(opts.binds.iter().cloned());
    spec.env.extend(opts.env.iter().cloned());
    for (key, value) in &opts.labels {
        spec.labels
            .entry(key.clone())
            .or_insert_with(|| value.clone());
    }
    spec.ports
        .extend(opts.ports.iter().map(|p| PortPublication {
            container_port: p.container_port,
            protocol: p.protocol.clone(),
            host_ip: p.host_ip,
            host_port: p.host_port,
        }));
    spec.tmpfs.extend(opts.tmpfs.iter().cloned());
    for (key, value) in &opts.sysctls {
        spec.sysctls.insert(key.clone(), value.clone());
    }
    spec.devices.extend(opts.devices.iter().cloned());
    spec.cap_add.extend(opts.cap_add.iter().cloned());
    spec.cap_drop.extend(opts.cap_drop.iter().cloned());
    spec.security_opt.extend(opts.security_opt.iter().cloned());
    spec.extra_hosts.extend(opts.extra_hosts.iter().cloned());
    spec.memory = opts.memory.or(spec.memory);
    spec.nano_cpus = opts.nano_cpus.or(spec.nano_cpus);
    spec
}

#[cfg(test)]
mod tests {
    use crate::cluster::node_spec::{node_container, NodeHost, Privileges};
    use crate::engine::CgroupVersion;
    use crate::plan::ClusterPlan;
    use crate::settings::Settings;

    #[test]
    fn only_the_master_gets_the_extra_options() {
        let settings = Settings::from_env_pairs(&[(
            "MASTER_EXTRA_OPTS",
            "-v /src:/go/src:ro -e FOO=1 -p 127.0.0.1:8080:80 --add-host db:10.0.0.5 -m 1g -l team=x",
        )])
        .unwrap();
        let plan = ClusterPlan::new(&settings).unwrap();
        let host = NodeHost {
            privileges: Privileges::Privileged,
            cgroup: CgroupVersion::V2,
            has_lib_modules: false,
        };
        let master = node_container(&plan, plan.master(), &host, "{}");
        assert!(master.binds.contains(&"/src:/go/src:ro".to_string()));
        assert!(master.env.contains(&"FOO=1".to_string()));
        assert!(master.env.contains(&"container=docker".to_string()));
        assert_eq!(
            master.ports.len(),
            2,
            "the API server port and the extra one"
        );
        assert_eq!(master.ports[1].host_port, 8080);
        assert_eq!(master.extra_hosts, ["db:10.0.0.5"]);
        assert_eq!(master.memory, Some(1 << 30));
        assert_eq!(master.labels["team"], "x");
        let worker = node_container(&plan, &plan.workers()[0], &host, "{}");
        assert!(!worker.binds.iter().any(|b| b.starts_with("/src")));
        assert!(worker.extra_hosts.is_empty() && worker.memory.is_none());
    }
}
