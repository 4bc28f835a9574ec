//! A cluster's nodes after `join` and `remove-node`: the plan of the nodes that exist,
//! masters and workers (numbers freed by `remove-node` stay free), and every other node's routes to the
//! pod subnets kept in step with them.
//!
//! For the CNIs dind configures itself (bridge, ptp) each node routes every other node's
//! pod subnets via that node's address. A node that joins or leaves changes those routes
//! on every node: each running node gets its rewritten pod-network file (applied again at
//! every boot) and the route changes live, as kindnetd keeps one route per Node's pod
//! range via the Node's address (kind images/kindnetd/cmd/kindnetd/routes.go, `syncRoute`).

use super::engines::Engines;
use super::nodes::pod_network_files;
use crate::cni::{self, Route};
use crate::engine::{ContainerInfo, Engine};
use crate::names::labels;
use crate::node::Node;
use crate::plan::{ClusterPlan, NodePlan, Role};
use crate::settings::Settings;
use std::collections::HashMap;

/// A node by its place in the plan: its role and number (0 for `kube-master`, k for
/// `kube-master-k`, n for `kube-node-n`; master and worker numbers overlap).
pub type Member = (Role, u16);

/// The members among a cluster's node containers, by their labels.
pub fn members(containers: &[ContainerInfo]) -> Vec<Member> {
    containers
        .iter()
        .filter_map(|c| {
            let role = match c.labels.get(labels::NODE_ROLE)?.as_str() {
                "master" => Role::Master,
                "worker" => Role::Worker,
                _ => return None,
            };
            Some((role, c.labels.get(labels::NODE_INDEX)?.parse().ok()?))
        })
        .collect()
}

/// The highest number in use by `role` (`kube-master` counts as master 1).
fn highest(members: &[Member], role: Role) -> Option<u16> {
    members
        .iter()
        .filter(|(r, _)| *r == role)
        .map(|&(_, index)| match role {
            Role::Master => index.max(1),
            Role::Worker => index,
        })
        .max()
}

/// The member a `join` of `role` adds: one past the highest number in use.
pub fn next_member(members: &[Member], role: Role) -> Member {
    let floor = match role {
        Role::Master => 1,
        Role::Worker => 0,
    };
    (role, highest(members, role).unwrap_or(floor) + 1)
}

/// `settings` with the masters and workers counted to the highest numbers of `members`.
/// A cluster made with several masters counts at least two, so it keeps its load balancer
/// when only its first master is left (its kubeconfig and certificates name the balancer).
fn counted(settings: &Settings, members: &[Member]) -> Settings {
    let balanced = if settings.masters > 1 { 2 } else { 1 };
    Settings {
        masters: highest(members, Role::Master).unwrap_or(1).max(balanced),
        num_nodes: highest(members, Role::Worker).unwrap_or(0),
        ..settings.clone()
    }
}

/// The plan of `members`, each planned as `up` plans it: the planner's limits apply to
/// the highest numbers ([`counted`]).
pub fn plan_of(settings: &Settings, members: &[Member]) -> anyhow::Result<ClusterPlan> {
    let settings = counted(settings, members);
    let mut plan = ClusterPlan::new(&settings)?;
    plan.nodes
        .retain(|node| members.contains(&(node.role, node.index)));
    Ok(plan)
}

/// What a `join` works from: the plans before and after it, the new node, and the
/// settings the new node's label records (the cluster as it will be).
pub struct Joining {
    pub before: ClusterPlan,
    pub after: ClusterPlan,
    pub node: NodePlan,
    /// The new node's place in the plan `up` makes of the counted members (numbers freed
    /// by `remove-node` included), which gives its engine ([`crate::placement`]): the
    /// same node number always lands on the same engine.
    pub position: usize,
    pub settings: Settings,
}

/// The plan of the members there are, and of one more of `role`: its address limits
/// give the same error as `up`, and numbers freed by `remove-node` are not waited for.
pub fn plan_join(settings: &Settings, members: &[Member], role: Role) -> anyhow::Result<Joining> {
    let added = next_member(members, role);
    let all = [members, &[added]].concat();
    let before = plan_of(settings, members)?;
    let after = plan_of(settings, &all)?;
    let settings = counted(settings, &all);
    let position = ClusterPlan::new(&settings)?
        .nodes
        .iter()
        .position(|node| (node.role, node.index) == added);
    let node = after
        .nodes
        .iter()
        .find(|node| (node.role, node.index) == added)
        .cloned();
    let (Some(node), Some(position)) = (node, position) else {
        anyhow::bail!("the plan has no place for a new {}", role.as_str());
    };
    Ok(Joining {
        before,
        after,
        node,
        position,
        settings,
    })
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
    engines: &Engines,
    settings: &Settings,
    before: &ClusterPlan,
    after: &ClusterPlan,
    except: Option<&str>,
) -> anyhow::Result<()> {
    if !cni::configured_by_dind(settings.cni) {
        return Ok(());
    }
    // Each node is reached on the engine that holds it.
    let found: HashMap<String, (Engine, String)> = engines
        .containers(&[
            (labels::CLUSTER, &after.cluster_key),
            (labels::NODE_ROLE, ""),
        ])
        .await?
        .into_iter()
        .map(|(engine, c)| (c.name, (engine, c.state)))
        .collect();
    let mtu = super::nodes::overlay_mtu(engines.master(), after).await?;
    let updates = after
        .nodes
        .iter()
        .filter(|node| Some(node.name.as_str()) != except)
        .filter_map(|node| Some((node, found.get(&node.name)?)))
        .map(|(node, (engine, state))| async move {
            let target = Node::new(engine, &node.name);
            target
                .write_files(&pod_network_files(settings, after, node, mtu))
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

    const M: Role = Role::Master;
    const W: Role = Role::Worker;

    #[test]
    fn the_plan_holds_only_the_nodes_that_exist() {
        // (extra settings, existing members, names planned)
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a [Member], &'a [&'a str]);
        let table: [Case; 5] = [
            (
                &[],
                &[(M, 0), (W, 1), (W, 2)],
                &["kube-master", "kube-node-1", "kube-node-2"],
            ),
            // After `remove-node kube-node-1`, `join` plans node 3 next to node 2 only:
            // the wait for Ready then names no node that is gone.
            (
                &[],
                &[(M, 0), (W, 2), (W, 3)],
                &["kube-master", "kube-node-2", "kube-node-3"],
            ),
            (&[], &[(M, 0)], &["kube-master"]),
            // Master and worker numbers overlap: kube-master-2 is not kube-node-2.
            (
                &[("DIND_MASTERS", "3")],
                &[(M, 0), (M, 3), (W, 2)],
                &["kube-master", "kube-master-3", "kube-node-2"],
            ),
            (&[("DIND_MASTERS", "3")], &[(M, 0)], &["kube-master"]),
        ];
        for (extra, members, names) in table {
            let mut s = settings();
            s.masters = Settings::from_env_pairs(extra).unwrap().masters;
            let plan = plan_of(&s, members).unwrap();
            let planned: Vec<&str> = plan.nodes.iter().map(|n| n.name.as_str()).collect();
            assert_eq!(planned, names, "{members:?}");
            // A cluster made with several masters keeps its balancer.
            assert_eq!(plan.load_balancer.is_some(), s.masters > 1, "{members:?}");
        }
        let plan = plan_of(&settings(), &[(M, 0), (W, 2), (W, 3)]).unwrap();
        assert_eq!(plan.nodes[2].ipv4.unwrap().to_string(), "10.192.0.5");
        assert_eq!(plan.nodes[2].pod_subnets[0].to_string(), "10.244.5.0/24");
    }

    #[test]
    fn the_next_member_is_one_past_the_highest_of_its_role() {
        // (members, role, next)
        let table: [(&[Member], Role, Member); 6] = [
            (&[], W, (W, 1)),
            (&[(M, 0)], W, (W, 1)),
            (&[(M, 0), (W, 1), (W, 2)], W, (W, 3)),
            (&[(M, 0), (W, 2)], W, (W, 3)),
            (&[(M, 0), (W, 4)], M, (M, 2)),
            (&[(M, 0), (M, 2), (M, 3), (W, 1)], M, (M, 4)),
        ];
        for (members, role, next) in table {
            assert_eq!(next_member(members, role), next, "{members:?} {role:?}");
        }
    }

    #[test]
    fn a_master_joins_in_the_next_master_place_and_the_label_counts_it() {
        let mut s = settings();
        s.masters = 3;
        let members = [(M, 0), (M, 2), (M, 3), (W, 1), (W, 2)];
        let joining = plan_join(&s, &members, M).unwrap();
        assert_eq!(joining.node.name, "kube-master-4");
        assert_eq!(joining.node.ipv4.unwrap().to_string(), "10.192.0.251");
        assert_eq!(
            (joining.settings.masters, joining.settings.num_nodes),
            (4, 2)
        );
        assert_eq!(joining.before.nodes.len(), 5);
        assert_eq!(joining.after.nodes.len(), 6);
        let worker = plan_join(&s, &members, W).unwrap();
        assert_eq!(worker.node.name, "kube-node-3");
        assert_eq!((worker.settings.masters, worker.settings.num_nodes), (3, 3));
    }

    #[test]
    fn a_joining_node_takes_the_plan_position_up_would_give_it() {
        // (masters made, members, role joining, its position in the plan)
        type Case<'a> = (u16, &'a [Member], Role, usize);
        let table: [Case; 5] = [
            (1, &[(M, 0)], W, 1),
            (1, &[(M, 0), (W, 1)], W, 2),
            // A number freed by remove-node keeps its place: node 3 is third after the master.
            (1, &[(M, 0), (W, 2)], W, 3),
            (3, &[(M, 0), (M, 2), (M, 3), (W, 1)], W, 4),
            (3, &[(M, 0), (M, 2), (W, 1)], M, 2),
        ];
        for (masters, members, role, position) in table {
            let mut s = settings();
            s.masters = masters;
            let joining = plan_join(&s, members, role).unwrap();
            assert_eq!(joining.position, position, "{members:?} {role:?}");
        }
    }

    #[test]
    fn routes_follow_a_join_and_a_removal() {
        let s = settings();
        let before = plan_of(&s, &[(M, 0), (W, 1), (W, 2)]).unwrap();
        let after = plan_of(&s, &[(M, 0), (W, 2), (W, 3)]).unwrap();
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
