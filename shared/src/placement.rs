//! Which engine of `--docker-hosts` holds which node: the master (and everything that
//! serves the whole cluster) on the first, the nodes dealt round-robin in plan order, so
//! the master's engine gets every n-th worker too. Pure: `up --dry-run` shows it.

use serde::Serialize;

/// The nodes one engine holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnginePlacement {
    /// The `--docker-hosts` entry, as given.
    pub engine: String,
    pub nodes: Vec<String>,
}

/// The position in `hosts` of the engine that holds the node at `position` in the plan
/// (the master is position 0).
pub fn engine_index(position: usize, engines: usize) -> usize {
    position % engines.max(1)
}

/// The placement of `nodes` (in plan order, master first) over `hosts`; empty with fewer
/// than two engines, where there is nothing to place.
pub fn place(hosts: &[String], nodes: &[String]) -> Vec<EnginePlacement> {
    if hosts.len() < 2 {
        return Vec::new();
    }
    let mut placed: Vec<EnginePlacement> = hosts
        .iter()
        .map(|engine| EnginePlacement {
            engine: engine.clone(),
            nodes: Vec::new(),
        })
        .collect();
    for (position, node) in nodes.iter().enumerate() {
        placed[engine_index(position, hosts.len())]
            .nodes
            .push(node.clone());
    }
    placed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn master_first_then_round_robin() {
        let nodes = strings(&["kube-master", "kube-node-1", "kube-node-2", "kube-node-3"]);
        type Case = (
            &'static [&'static str],
            Vec<(&'static str, &'static [&'static str])>,
        );
        let table: [Case; 3] = [
            (&[], vec![]),
            (&["a"], vec![]),
            (
                &["a", "b"],
                vec![
                    ("a", &["kube-master", "kube-node-2"]),
                    ("b", &["kube-node-1", "kube-node-3"]),
                ],
            ),
        ];
        for (hosts, want) in table {
            let want: Vec<EnginePlacement> = want
                .into_iter()
                .map(|(engine, nodes)| EnginePlacement {
                    engine: engine.into(),
                    nodes: strings(nodes),
                })
                .collect();
            assert_eq!(place(&strings(hosts), &nodes), want, "{hosts:?}");
        }
        let three = place(&strings(&["a", "b", "c"]), &nodes[..2]);
        assert_eq!(three[2].nodes, Vec::<String>::new());
    }
}
