//! `join`: one more worker for a running cluster, at the next node number, name and plan
//! address. On a Kubernetes cluster the worker joins with a fresh bootstrap token from
//! the master (the cluster's own token may have expired: kubeadm gives it 24 hours).

use super::extras::NodeExtras;
use super::host_probe::{probe_host, HostFacts};
use super::ledger::Ledger;
use super::node_spec::{node_container, NodeHost, Privileges};
use super::nodes::wait_node_ready;
use super::nodes::{cluster_volumes, create_node, pod_network_files, NewNode};
use super::preflight::{self, Gate, Intent, Purpose};
use super::run::{Run, UpOptions};
use super::support::configure_node;
use crate::bootstrap_token::BootstrapToken;
use crate::engine::{Engine, NetworkInfo};
use crate::kubeadm::{self, KubeadmInputs};
use crate::names::labels;
use crate::node::{Node, NodeFile};
use crate::plan::NodePlan;
use crate::progress::Progress;
use crate::settings::Settings;
use anyhow::{anyhow, bail, Context};
use serde::Serialize;

/// What `join` added.
#[derive(Debug, Clone, Serialize)]
pub struct Joined {
    pub cluster: String,
    pub node: String,
    pub index: u16,
    pub ipv4: Option<String>,
    pub ipv6: Option<String>,
}

/// The settings a running cluster was created with, from its master's label.
pub async fn cluster_settings(
    engine: &Engine,
    cluster_key: &str,
) -> anyhow::Result<(Settings, Vec<crate::engine::ContainerInfo>)> {
    let nodes = engine
        .containers(&[(labels::CLUSTER, cluster_key), (labels::NODE_ROLE, "")])
        .await?;
    let master = nodes
        .iter()
        .find(|c| c.labels.get(labels::NODE_ROLE).map(String::as_str) == Some("master"))
        .ok_or_else(|| anyhow!("cluster {cluster_key} has no master container; is it up?"))?;
    let json = master
        .labels
        .get(labels::SETTINGS)
        .ok_or_else(|| anyhow!("{} has no settings label", master.name))?;
    let settings = Settings::from_label(&master.name, json)?;
    Ok((settings, nodes))
}

/// The number the next worker gets: one past the highest in use.
pub fn next_index(indices: &[u16]) -> u16 {
    indices.iter().max().map_or(1, |m| m + 1)
}

/// Adds a worker. A failure removes the container and volume it created.
pub async fn join(
    engine: &Engine,
    cluster_key: &str,
    options: &UpOptions,
    progress: &Progress,
) -> anyhow::Result<Joined> {
    let (mut settings, nodes) = cluster_settings(engine, cluster_key).await?;
    let indices: Vec<u16> = nodes
        .iter()
        .filter_map(|c| c.labels.get(labels::NODE_INDEX)?.parse().ok())
        .collect();
    let index = next_index(&indices);
    // The plan of the nodes there are, and one more worker: its address limits give the
    // same error as `up`, and numbers freed by `remove-node` are not waited for.
    let existing = super::membership::plan_of(&settings, &indices)?;
    let plan = super::membership::plan_of(&settings, &[indices.as_slice(), &[index]].concat())?;
    settings.num_nodes = index;
    let node_plan = plan
        .nodes
        .iter()
        .find(|node| node.index == index)
        .cloned()
        .ok_or_else(|| anyhow!("the plan has no node {index}"))?;
    let host_info = engine.host_info().await?;
    // The worker gets the same registry, CA and proxy files and custom networks as the
    // nodes `up` made, from the settings recorded on the cluster.
    let extras = NodeExtras::prepare(&settings, &plan)?;
    let ledger = Ledger::default();
    let run = Run {
        engine,
        settings: &settings,
        plan: &plan,
        options,
        cgroup: host_info.cgroup_version,
        host: &host_info,
        ledger: &ledger,
        progress,
    };
    let joined = async {
        pass_gate(&run, &extras, index).await?;
        let node = create_worker(&run, &extras, &node_plan).await?;
        let step = progress.step(format!("Waiting for {} to boot", node.name));
        step.finish(wait_node_ready(&node, options.node_timeout).await)?;
        if let Some(net64) = &plan.net64 {
            configure_node(&node, &plan, net64).await?;
        }
        // The other nodes route to the new node's pods before any pod can run there.
        super::membership::sync_routes(engine, &settings, &existing, &plan, Some(&node.name))
            .await?;
        if !options.nodes_only {
            join_kubernetes(&run, &node, &node_plan).await?;
        }
        Ok::<_, anyhow::Error>(())
    };
    let result = tokio::select! {
        result = joined => result,
        () = crate::interrupt::interrupted() => Err(crate::error::interrupted()),
    };
    if let Err(error) = result {
        if !options.retain {
            if let Err(rollback) = ledger.roll_back(engine, progress).await {
                return Err(error.context(format!(
                    "and removing what was created failed too: {rollback:#}"
                )));
            }
        }
        return Err(error);
    }
    // The new worker pulls localhost:PORT/... from the local registry as the others do.
    super::registry_ops::join_new_cluster(
        engine,
        cluster_key,
        options.kubeconfig.as_deref(),
        progress,
    )
    .await;
    Ok(Joined {
        cluster: cluster_key.to_string(),
        node: node_plan.name.clone(),
        index,
        ipv4: node_plan.ipv4.map(|a| a.to_string()),
        ipv6: node_plan.ipv6.map(|a| a.to_string()),
    })
}

/// The pre-flight gate for worker `index`: the gate `up` passes, over the whole cluster
/// (the host's limits hold every node), with the `--publish` ports this worker would take.
pub fn join_gate<'a>(
    settings: &'a Settings,
    intent: Intent<'a>,
    index: u16,
    facts: &'a HostFacts,
    networks: &'a [NetworkInfo],
    extras: &'a NodeExtras,
) -> Gate<'a> {
    Gate {
        purpose: Purpose::Join,
        settings,
        intent,
        facts,
        networks,
        extras,
        ports: super::ports::specs_for(intent.plan, &extras.ports, index),
    }
}

/// Probes the host and passes the pre-flight gate, before the worker is created.
async fn pass_gate(run: &Run<'_>, extras: &NodeExtras, index: u16) -> anyhow::Result<()> {
    let Run {
        engine,
        settings,
        plan,
        options,
        host,
        ledger,
        progress,
        ..
    } = *run;
    let facts = probe_host(engine, plan, host, ledger).await?;
    let node_image_bytes = engine.image_id_and_size(&plan.image).await?.map(|(_, b)| b);
    let networks = engine.networks().await?;
    let intent = Intent {
        plan,
        nodes_only: options.nodes_only,
        host,
        node_image_bytes,
    };
    let passed = preflight::gate(&join_gate(
        settings, intent, index, &facts, &networks, extras,
    ))?;
    for note in passed.notes {
        progress.note(note);
    }
    Ok(())
}

/// Creates the worker's container (privileged like the master, from the node image) and
/// its volume, with the extras, and starts it.
async fn create_worker(
    run: &Run<'_>,
    extras: &NodeExtras,
    node_plan: &NodePlan,
) -> anyhow::Result<Node> {
    let Run {
        engine,
        settings,
        plan,
        ledger,
        progress,
        ..
    } = *run;
    let details = engine.container_details(&plan.master().name).await?;
    let host = NodeHost {
        privileges: if details.privileged {
            Privileges::Privileged
        } else {
            Privileges::ExplicitCapabilities
        },
        cgroup: run.cgroup,
        has_lib_modules: details.binds.iter().any(|b| b.starts_with("/lib/modules:")),
    };
    let settings_json =
        serde_json::to_string(settings).context("serializing the settings for the node labels")?;
    let mut spec = node_container(plan, node_plan, &host, &settings_json);
    // A restored cluster runs from snapshot images; a new worker starts from the node image.
    spec.image = plan.image.clone();
    let step = progress.step(format!("Creating {}", node_plan.name));
    let volume_exists = cluster_volumes(engine, plan)
        .await?
        .contains(&node_plan.volume);
    let files = pod_network_files(settings, plan, node_plan);
    let new_node = NewNode {
        spec: &spec,
        volume: &node_plan.volume,
        volume_exists,
        files: &files,
    };
    let node = create_node(engine, plan, new_node, extras, ledger).await?;
    step.done();
    Ok(node)
}

/// kubeadm's part, a recipe here (no Kubernetes binaries on this machine): a fresh token
/// from `kubeadm token create` on the master (it prints only the token; see
/// kubernetes/kubernetes cmd/kubeadm/app/cmd/token.go, `RunCreateToken`), the node's join
/// configuration rendered as `up` renders it with that token, `kubeadm join`, then the
/// wait for every node, the new one included, to be Ready.
async fn join_kubernetes(run: &Run<'_>, node: &Node, node_plan: &NodePlan) -> anyhow::Result<()> {
    let plan = run.plan;
    let master = Node::new(run.engine, &plan.master().name);
    let version = super::kubernetes::require_kubeadm(&master, &plan.image).await?;
    let printed = master
        .run(&["kubeadm", "token", "create", "--ttl", "1h"])
        .await?;
    let Some(token) = BootstrapToken::parse(printed.trim()) else {
        bail!(
            "`kubeadm token create` on {} printed {} characters that are not a token",
            master.name,
            printed.trim().len()
        );
    };
    let inputs = KubeadmInputs {
        plan,
        settings: run.settings,
        version: &version,
        host_cgroup_v1: run.cgroup == crate::engine::CgroupVersion::V1,
        dedicated_master: run.options.dedicated_master,
        bootstrap_token: &token,
    };
    let config = kubeadm::render_join(&inputs, node_plan)?;
    node.write_files(&[NodeFile::new(kubeadm::CONFIG_PATH, config)])
        .await?;
    let step = run.progress.step(format!("Joining {}", node.name));
    let argv = kubeadm::join_command();
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    step.finish(node.run(&argv).await)?;
    super::kubernetes::connect_and_wait(run, &master).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ClusterPlan;

    #[test]
    fn next_numbers() {
        let table: [(&[u16], u16); 4] = [(&[], 1), (&[0], 1), (&[0, 1, 2], 3), (&[0, 2], 3)];
        for (indices, next) in table {
            assert_eq!(next_index(indices), next, "{indices:?}");
        }
    }

    #[test]
    fn join_past_the_address_limit_fails_like_up() {
        let mut settings = Settings::from_env_pairs(&[]).unwrap();
        settings.num_nodes = crate::plan::max_workers(settings.ip_mode) + 1;
        let error = ClusterPlan::new(&settings).unwrap_err();
        assert!(
            error.to_string().contains("worker nodes requested"),
            "{error}"
        );
        assert_eq!(crate::exit_code(&error), 2);
    }

    /// Stands for the cluster's own network in the table below.
    const OURS: &str = "(the cluster's network)";

    /// The gate `join` passes, for the next worker of a cluster of `workers` workers,
    /// with `taken` listening on the host and `networks` existing.
    fn gate_result(
        workers: u16,
        extra: &[(&str, &str)],
        taken: &str,
        networks: &[&str],
    ) -> anyhow::Result<preflight::Passed> {
        let mut settings = Settings::from_env_pairs(extra).unwrap();
        let index = next_index(&(0..=workers).collect::<Vec<_>>());
        settings.num_nodes = index;
        let plan = ClusterPlan::new(&settings).unwrap();
        let host = crate::engine::HostInfo {
            server_version: "20.10.24".into(),
            cgroup_version: crate::engine::CgroupVersion::V1,
            storage_driver: "overlay2".into(),
            docker_root_dir: "/var/lib/docker".into(),
            api_version: "1.41".into(),
        };
        let facts = HostFacts {
            br_netfilter: true,
            dev_net_tun: true,
            ..super::super::host_probe::parse(&format!("{taken}probe=done\n")).unwrap()
        };
        let networks: Vec<NetworkInfo> = networks
            .iter()
            .map(|name| NetworkInfo {
                name: match *name {
                    OURS => plan.network.name.clone(),
                    other => other.to_string(),
                },
                subnets: if *name == OURS {
                    plan.network.subnets.clone()
                } else {
                    Vec::new()
                },
                labels: [(labels::CLUSTER.to_string(), plan.cluster_key.clone())].into(),
            })
            .collect();
        let extras = NodeExtras::prepare(&settings, &plan).unwrap();
        let intent = Intent {
            plan: &plan,
            nodes_only: false,
            host: &host,
            node_image_bytes: None,
        };
        preflight::gate(&join_gate(
            &settings, intent, index, &facts, &networks, &extras,
        ))
    }

    #[test]
    fn join_passes_the_same_gate_as_up() {
        let publish = [("EXTRA_PORTS", "127.0.0.1:18080:80")];
        let custom = [("DIND_CUSTOM_NETWORKS", "team-net")];
        let port_taken = "listen_tcp=127.0.0.1:18080\n";
        // (workers before the join, settings, listening, networks, error needle or None)
        type Case<'a> = (
            u16,
            &'a [(&'a str, &'a str)],
            &'a str,
            &'a [&'a str],
            Option<&'a str>,
        );
        let table: [Case; 7] = [
            (0, &[], "", &[OURS], None),
            // The first worker takes the --publish ports: a taken one is refused.
            (
                0,
                &publish,
                port_taken,
                &[OURS],
                Some("127.0.0.1:18080:80/tcp"),
            ),
            (0, &publish, "", &[OURS], None),
            // A later worker takes none.
            (1, &publish, port_taken, &[OURS], None),
            (2, &custom, "", &[OURS], Some("do not exist: team-net")),
            (2, &custom, "", &[OURS, "team-net"], None),
            (1, &[], "", &[], Some("is missing; is the cluster up?")),
        ];
        for (i, (workers, extra, taken, networks, needle)) in table.into_iter().enumerate() {
            let result = gate_result(workers, extra, taken, networks);
            match (needle, result) {
                (None, Ok(passed)) => {
                    assert_eq!(passed.network, super::super::network::NetworkState::Exists)
                }
                (Some(needle), Err(e)) => assert!(e.to_string().contains(needle), "case {i}: {e}"),
                (want, got) => panic!("case {i}: wanted {want:?}, got {got:?}"),
            }
        }
    }
}
