//! A cluster's nodes after `join` and `remove-node`: the plan of the nodes that exist
//! (node numbers freed by `remove-node` stay free), and every other node's routes to the
//! pod subnets kept in step with them.
//!
//! For the CNIs dind configures itself (bridge, ptp) each node routes every other node's
//! pod subnets via that node's address. A node that joins or leaves changes those routes
//! on every node: each running node gets its rewritten pod-network file (applied again at
//! every boot) and the route changes live, as kindnetd keeps one route per Node's pod
//! range via the Node's address (kind images/kindnetd/cmd/kindnetd/routes.go, `syncRoute`).

use super::nodes::pod_network_files;
use crate::cni::{self, Route};
use crate::engine::Engine;
use crate::names::labels;
use crate::node::Node;
use crate::plan::ClusterPlan;
use crate::settings::Settings;
use std::collections::HashMap;

/// The plan of the nodes numbered `indices` (the master's 0 among them), each planned as
/// `up` plans it: the planner's limits apply to the highest number.
pub fn plan_of(settings: &Settings, indices: &[u16]) -> anyhow::Result<ClusterPlan> {
    let mut settings = settings.clone();
    settings.num_nodes = indices.iter().copied().max().unwrap_or(0);
    let mut plan = ClusterPlan::new(&settings)?;
    plan.nodes.retain(|node| indices.contains(&node.index));
    Ok(plan)
}

/// The `ip` commands that take a node from routes `before` to routes `after`: `replace`
/// for a route it lacks, `del` for a destination that left.
pub fn route_commands(before: &[Route], after: &[Route]) -> Vec<Vec<String>> {
    let added = after
        .iter()
        .filter(|route| !before.contains(route))
        .map(Route::ip_route_args);
    let gone = before
        .iter()
        .filter(|old| !after.iter().any(|new| new.destination == old.destination))
        .map(|old| {
            let mut args = vec!["ip".to_string()];
            if old.destination.addr().is_ipv6() {
                args.push("-6".to_string());
            }
            args.extend(["route".into(), "del".into(), old.destination.to_string()]);
            args
        });
    added.chain(gone).collect()
}

/// Brings every node of `after` but `except` from the routes of `before` to those of
/// `after`: the pod-network file of every node container, and the routes live in the
/// running ones (a stopped node applies its file when it boots).
pub async fn sync_routes(
    engine: &Engine,
    settings: &Settings,
    before: &ClusterPlan,
    after: &ClusterPlan,
    except: Option<&str>,
) -> anyhow::Result<()> {
    if cni::manifest(settings.cni).is_some() {
        return Ok(());
    }
    let states: HashMap<String, String> = engine
        .containers(&[
            (labels::CLUSTER, &after.cluster_key),
            (labels::NODE_ROLE, ""),
        ])
        .await?
        .into_iter()
        .map(|c| (c.name, c.state))
        .collect();
    let updates = after
        .nodes
        .iter()
        .filter(|node| Some(node.name.as_str()) != except)
        .filter_map(|node| Some((node, states.get(&node.name)?)))
        .map(|(node, state)| async move {
            let target = Node::new(engine, &node.name);
            target
                .write_files(&pod_network_files(settings, after, node))
                .await?;
            if state != "running" {
                return Ok(());
            }
            let old = before
                .nodes
                .iter()
                .find(|n| n.name == node.name)
                .map(|n| cni::static_routes(settings.cni, before, n))
                .unwrap_or_default();
            let new = cni::static_routes(settings.cni, after, node);
            for argv in route_commands(&old, &new) {
                let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
                target.run(&argv).await?;
            }
            Ok::<_, anyhow::Error>(())
        });
    futures::future::try_join_all(updates).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Cni;

    fn settings() -> Settings {
        Settings::from_env_pairs(&[("NUM_NODES", "2")]).unwrap()
    }

    #[test]
    fn the_plan_holds_only_the_nodes_that_exist() {
        // (existing indices, names planned)
        let table: [(&[u16], &[&str]); 3] = [
            (&[0, 1, 2], &["kube-master", "kube-node-1", "kube-node-2"]),
            // After `remove-node kube-node-1`, `join` plans node 3 next to node 2 only:
            // the wait for Ready then names no node that is gone.
            (&[0, 2, 3], &["kube-master", "kube-node-2", "kube-node-3"]),
            (&[0], &["kube-master"]),
        ];
        for (indices, names) in table {
            let plan = plan_of(&settings(), indices).unwrap();
            let planned: Vec<&str> = plan.nodes.iter().map(|n| n.name.as_str()).collect();
            assert_eq!(planned, names, "{indices:?}");
        }
        let plan = plan_of(&settings(), &[0, 2, 3]).unwrap();
        assert_eq!(plan.nodes[2].ipv4.unwrap().to_string(), "10.192.0.5");
        assert_eq!(plan.nodes[2].pod_subnets[0].to_string(), "10.244.5.0/24");
    }

    #[test]
    fn routes_follow_a_join_and_a_removal() {
        let s = settings();
        let before = plan_of(&s, &[0, 1, 2]).unwrap();
        let after = plan_of(&s, &[0, 2, 3]).unwrap();
        let routes = |plan: &ClusterPlan| cni::static_routes(Cni::Bridge, plan, plan.master());
        let commands = route_commands(&routes(&before), &routes(&after));
        let text: Vec<String> = commands.iter().map(|c| c.join(" ")).collect();
        assert_eq!(
            text,
            [
                "ip route replace 10.244.5.0/24 via 10.192.0.5",
                "ip route del 10.244.3.0/24",
            ]
        );
        assert!(route_commands(&routes(&after), &routes(&after)).is_empty());
    }
}
