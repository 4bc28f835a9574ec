//! Where `--publish` ports go: on the first worker, or on the master when there are no
//! workers (kubeadm-dind-cluster put its `EXTRA_PORTS` on workers, where NodePort,
//! hostPort and ingress traffic is served). Pure; the parser is [`crate::publish`], the
//! check that the host ports are free is part of [`super::preflight::gate`].

use crate::engine::PortPublication;
use crate::plan::ClusterPlan;
use crate::publish::PortSpec;

/// The index of the node that carries the publications.
pub fn publishing_node(plan: &ClusterPlan) -> u16 {
    plan.nodes
        .iter()
        .map(|n| n.index)
        .find(|i| *i > 0)
        .unwrap_or(0)
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

/// The `--publish` ports node `index` takes: all of them on the publishing node, none
/// elsewhere.
pub fn specs_for<'a>(plan: &ClusterPlan, specs: &'a [PortSpec], index: u16) -> &'a [PortSpec] {
    if index == publishing_node(plan) {
        specs
    } else {
        &[]
    }
}

/// The publications node `index` gets.
pub fn publications_for(
    plan: &ClusterPlan,
    specs: &[PortSpec],
    index: u16,
) -> Vec<PortPublication> {
    specs_for(plan, specs, index)
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
        // (NUM_NODES, node that publishes)
        for (nodes, publisher) in [("2", 1), ("1", 1), ("0", 0)] {
            let plan =
                ClusterPlan::new(&Settings::from_env_pairs(&[("NUM_NODES", nodes)]).unwrap())
                    .unwrap();
            assert_eq!(publishing_node(&plan), publisher, "NUM_NODES={nodes}");
            for node in &plan.nodes {
                let ports = publications_for(&plan, &specs, node.index);
                assert_eq!(ports.len(), usize::from(node.index == publisher));
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
