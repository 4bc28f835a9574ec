//! Where `--publish` ports go: on the first worker, or on the master when there are no
//! workers (kubeadm-dind-cluster put its `EXTRA_PORTS` on workers, where NodePort,
//! hostPort and ingress traffic is served). Pure; the parser is [`crate::publish`], the
//! check that the host ports are free is part of [`super::preflight::gate`].

use crate::engine::PortPublication;
use crate::plan::ClusterPlan;
use crate::publish::PortSpec;

/// The name of the node that carries the publications: the first worker, else the master.
pub fn publishing_node(plan: &ClusterPlan) -> &str {
    plan.workers()
        .first()
        .unwrap_or_else(|| plan.master())
        .name
        .as_str()
}

/// Docker's form of one publication.
pub fn publication(spec: &PortSpec) -> PortPublication {
    PortPublication {
        container_port: spec.container_port,
        protocol: spec.protocol().into(),
        host_ip: spec.address,
        host_port: spec.host_port,
    }
}

/// The `--publish` ports node `name` takes: all of them on the publishing node, none
/// elsewhere.
pub fn specs_for<'a>(plan: &ClusterPlan, specs: &'a [PortSpec], name: &str) -> &'a [PortSpec] {
    if name == publishing_node(plan) {
        specs
    } else {
        &[]
    }
}

/// The publications node `name` gets.
pub fn publications_for(
    plan: &ClusterPlan,
    specs: &[PortSpec],
    name: &str,
) -> Vec<PortPublication> {
    specs_for(plan, specs, name)
        .iter()
        .map(publication)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;

    #[test]
    fn ports_go_to_the_first_worker_or_the_master() {
        let specs = crate::publish::parse_all(&["127.0.0.1:18080:80".into()]).unwrap();
        // (NUM_NODES, masters, node that publishes)
        let table = [
            ("2", "1", "kube-node-1"),
            ("1", "1", "kube-node-1"),
            ("0", "1", "kube-master"),
            ("2", "3", "kube-node-1"),
            ("0", "3", "kube-master"),
        ];
        for (nodes, masters, publisher) in table {
            let pairs = [("NUM_NODES", nodes), ("DIND_MASTERS", masters)];
            let plan = ClusterPlan::new(&Settings::from_env_pairs(&pairs).unwrap()).unwrap();
            assert_eq!(publishing_node(&plan), publisher, "{pairs:?}");
            for node in &plan.nodes {
                let ports = publications_for(&plan, &specs, &node.name);
                assert_eq!(
                    ports.len(),
                    usize::from(node.name == publisher),
                    "{pairs:?}"
                );
            }
        }
        let p = publication(&specs[0]);
        assert_eq!(
            (
                p.host_ip.to_string(),
                p.host_port,
                p.container_port,
                p.protocol.as_str()
            ),
            ("127.0.0.1".to_string(), 18080, 80, "tcp")
        );
    }
}
