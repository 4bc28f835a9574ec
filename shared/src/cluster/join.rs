//! `join`: one more worker for a running cluster, at the next node number, name and plan
//! address, or with `--control-plane` one more master of a cluster with a load balancer.
//! On a Kubernetes cluster the node joins with a fresh bootstrap token from the master
//! (the cluster's own token may have expired: kubeadm gives it 24 hours); a master also
//! with a fresh certificate key, under which the first master uploads the control-plane
//! certificates again (kubeadm deletes the uploaded ones after two hours). A new master
//! is added to the balancer once it has joined. On a cluster spread over `--docker-hosts`
//! the new node goes on the engine its plan position gives ([`crate::placement`]).

use super::engines::Engines;
use super::extras::NodeExtras;
use super::host_probe::{probe_host, HostFacts};
use super::ledger::Ledger;
use super::node_spec::{node_container, NodeHost, Privileges};
use super::nodes::wait_node_ready;
use super::nodes::{cluster_volumes, create_node, pod_network_files, NewNode};
use super::preflight::{self, Gate, Intent, Purpose};
use super::run::{Run, UpOptions};
use super::support::configure_node;
use super::up_lock::UpLock;
use crate::bootstrap_token::BootstrapToken;
use crate::engine::{Engine, NetworkInfo};
use crate::kubeadm::{self, KubeadmInputs};
use crate::names::labels;
use crate::node::{Node, NodeFile};
use crate::plan::{ClusterPlan, NodePlan, Role};
use crate::progress::Progress;
use crate::settings::Settings;
use anyhow::{anyhow, bail};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};

/// What `join` added.
#[derive(Debug, Clone, Serialize)]
pub struct Joined {
    pub cluster: String,
    pub node: String,
    pub index: u16,
    pub ipv4: Option<String>,
    pub ipv6: Option<String>,
}

/// The settings a running cluster was created with, from its master's label, and its
/// node containers on every engine of `engines`, which must be those it spreads over.
pub async fn cluster_settings(
    engines: &Engines,
    cluster_key: &str,
) -> anyhow::Result<(Settings, Vec<crate::engine::ContainerInfo>)> {
    let nodes: Vec<_> = engines
        .containers(&[(labels::CLUSTER, cluster_key), (labels::NODE_ROLE, "")])
        .await?
        .into_iter()
        .map(|(_, c)| c)
        .collect();
    let master = nodes
        .iter()
        .find(|c| c.labels.get(labels::NODE_ROLE).map(String::as_str) == Some("master"))
        .ok_or_else(|| anyhow!("cluster {cluster_key} has no master container; is it up?"))?;
    let json = master
        .labels
        .get(labels::SETTINGS)
        .ok_or_else(|| anyhow!("{} has no settings label", master.name))?;
    let settings = Settings::from_label(&master.name, json)?;
    check_read_back(&master.name, &settings, cluster_key)?;
    require_same_hosts(cluster_key, &settings.docker_hosts, &engines.hosts)?;
    Ok((settings, nodes))
}

/// A cluster spread over several engines is changed only with the `--docker-hosts` list
/// it was made with: with another, the nodes of the engines left out would be neither
/// counted nor given the new routes.
pub fn require_same_hosts(
    cluster_key: &str,
    made: &[String],
    given: &[String],
) -> anyhow::Result<()> {
    if made == given || (made.len() < 2 && given.len() < 2) {
        return Ok(());
    }
    let shown = |hosts: &[String]| match hosts.len() {
        0 => "none".to_string(),
        _ => hosts.join(","),
    };
    Err(crate::error::usage(format!(
        "cluster {cluster_key} was made with --docker-hosts {}, not {}: pass the same list",
        shown(made),
        shown(given)
    )))
}

/// The checks of settings read back from the label of `owner` beyond the settings' own
/// ([`Settings::from_label`]): they are those of the cluster `owner` was found as (a label
/// naming another cluster would plan, and roll back, that cluster's objects), and they
/// pass every check `up` runs before creating anything (plan, registries, proxies).
pub fn check_read_back(owner: &str, settings: &Settings, cluster_key: &str) -> anyhow::Result<()> {
    let label = labels::SETTINGS;
    let named = settings.identity.key();
    if named != cluster_key {
        bail!(
            "the {label} label of {owner} names cluster {named}, but {owner} belongs to cluster {cluster_key}; refused"
        );
    }
    super::check_offline(settings)
        .map(drop)
        .map_err(|error| anyhow!("the {label} label of {owner} is refused: {error:#}"))
}

/// Adds a worker, or a master (`role`), to the cluster `own` (the invoking user's
/// settings) selects, under the cluster's `up` lock: a `join` beside an `up`, a `restore`
/// or another `join` could pick the same node number, and its rollback would remove the
/// other's node. A failure removes the container and volume it created, and takes the
/// other nodes' routes and pod-network files back to the cluster without it.
pub async fn join(
    engines: &Engines,
    own: &Settings,
    options: &UpOptions,
    role: Role,
    progress: &Progress,
) -> anyhow::Result<Joined> {
    let engine = engines.master();
    UpLock::take(engine, &own.identity, "join")
        .await?
        .around(
            engine,
            progress,
            join_locked(engines, own, options, role, progress),
        )
        .await
}

/// Masters join only a cluster made with several: its balancer is their way in.
async fn require_balancer(
    engine: &Engine,
    settings: &Settings,
    cluster_key: &str,
) -> anyhow::Result<()> {
    let balancer = settings.identity.load_balancer_name();
    if engine.container_running(&balancer).await?.is_none() {
        return Err(crate::error::usage(format!(
            "cluster {cluster_key} has one master and no load balancer: masters join only \
             a cluster made with several (`up --masters 3`)"
        )));
    }
    Ok(())
}

/// `join` once the cluster's lock is held. What names this machine's programs and files
/// (the port forwarder, the CA) is the user's own, never the cluster's label's.
async fn join_locked(
    engines: &Engines,
    own: &Settings,
    options: &UpOptions,
    role: Role,
    progress: &Progress,
) -> anyhow::Result<Joined> {
    let engine = engines.master();
    let cluster_key = &own.identity.key();
    let (stored, nodes) = cluster_settings(engines, cluster_key).await?;
    let settings = stored.with_local_from(own);
    if role == Role::Master {
        require_balancer(engine, &settings, cluster_key).await?;
    }
    let super::membership::Joining {
        before: existing,
        after: plan,
        node: node_plan,
        position,
        settings,
    } = super::membership::plan_join(&settings, &super::membership::members(&nodes), role)?;
    let index = node_plan.index;
    let host_info = engine.host_info().await?;
    // The same node IPv4 decision as `up` made on this engine: the node network then has
    // the same subnets.
    let plan =
        super::node_ipv4::apply(&plan, &super::node_ipv4::decide_for(&settings, &host_info)?);
    // The worker gets the same registry, CA and proxy files and custom networks as the
    // nodes `up` made, from the settings recorded on the cluster.
    let named_mirror = super::registry_mirror::resolve(engine, &settings, &plan).await?;
    let extras = NodeExtras::prepare(&settings, &plan, named_mirror)?;
    let ledger = Ledger::default();
    let run = Run {
        engine,
        engines,
        settings: &settings,
        plan: &plan,
        options,
        cgroup: host_info.cgroup_version,
        host: &host_info,
        ledger: &ledger,
        progress,
    };
    // Set once the other nodes route to the new one, so a failure takes that back.
    let routes_synced = AtomicBool::new(false);
    let joined = async {
        pass_gate(&run, &extras, &node_plan.name).await?;
        engines.share_image(&plan.image, progress).await?;
        let node = create_joining_node(&run, &extras, &node_plan, position).await?;
        let step = progress.step(format!("Waiting for {} to boot", node.name));
        step.finish(wait_node_ready(&node, options.node_timeout).await)?;
        if let Some(net64) = &plan.net64 {
            configure_node(&node, &plan, net64).await?;
        }
        // The other nodes route to the new node's pods before any pod can run there.
        routes_synced.store(true, Ordering::SeqCst);
        super::membership::sync_routes(engines, &settings, &existing, &plan, Some(&node.name))
            .await?;
        if !options.nodes_only {
            join_kubernetes(&run, &node, &node_plan).await?;
        }
        if node_plan.role == Role::Master {
            let step = progress.step(format!("Adding {} to the load balancer", node.name));
            step.finish(super::load_balancer::reload(engine, &plan).await)?;
        }
        Ok::<_, anyhow::Error>(())
    };
    let result = tokio::select! {
        result = joined => result,
        () = crate::interrupt::interrupted() => Err(crate::error::interrupted()),
    };
    if let Err(error) = result {
        if options.retain {
            return Err(error);
        }
        let routed = routes_synced.load(Ordering::SeqCst);
        let undone = roll_back(&run, &existing, &node_plan.name, routed).await;
        return Err(match undone {
            Ok(()) => error,
            Err(rollback) => error.context(format!(
                "and removing what was created failed too: {rollback:#}"
            )),
        });
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

/// Undoes a failed join: the other nodes' routes and pod-network files back to the
/// cluster without `new_node` (when they were given routes to it), then the ledger's
/// containers and volumes.
async fn roll_back(
    run: &Run<'_>,
    existing: &ClusterPlan,
    new_node: &str,
    routed: bool,
) -> anyhow::Result<()> {
    let unrouted = if routed {
        let step = run.progress.step(format!(
            "Removing the routes to {new_node} from the other nodes"
        ));
        step.finish(
            super::membership::sync_routes(
                run.engines,
                run.settings,
                run.plan,
                existing,
                Some(new_node),
            )
            .await,
        )
    } else {
        Ok(())
    };
    let removed = run.ledger.roll_back(run.engine, run.progress).await;
    unrouted.and(removed)
}

/// The pre-flight gate for node `name`: the gate `up` passes, over the whole cluster
/// (the host's limits hold every node), with the `--publish` ports this node would take.
pub fn join_gate<'a>(
    settings: &'a Settings,
    intent: Intent<'a>,
    name: &str,
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
        ports: super::ports::specs_for(intent.plan, &extras.ports, name),
        swarm: &[],
    }
}

/// Probes the host and passes the pre-flight gate, before the worker is created.
async fn pass_gate(run: &Run<'_>, extras: &NodeExtras, name: &str) -> anyhow::Result<()> {
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
        settings, intent, name, &facts, &networks, extras,
    ))?;
    for note in passed.notes {
        progress.note(note);
    }
    Ok(())
}

/// Creates the new node's container (privileged like the master, from the node image) and
/// its volume, with the extras, and starts it.
async fn create_joining_node(
    run: &Run<'_>,
    extras: &NodeExtras,
    node_plan: &NodePlan,
    position: usize,
) -> anyhow::Result<Node> {
    let Run {
        engine,
        settings,
        plan,
        ledger,
        progress,
        ..
    } = *run;
    let target = run.engines.for_position(position);
    let host = joining_host(run, position).await?;
    let settings_json = settings.label_json()?;
    let mut spec = node_container(plan, node_plan, &host, &settings_json);
    // A restored cluster runs from snapshot images; a new worker starts from the node image.
    spec.image = plan.image.clone();
    let step = progress.step(format!("Creating {}", node_plan.name));
    let volume_exists = cluster_volumes(target, plan)
        .await?
        .contains(&node_plan.volume);
    let mtu = super::nodes::overlay_mtu(engine, plan).await?;
    let files = pod_network_files(settings, plan, node_plan, mtu);
    let new_node = NewNode {
        spec: &spec,
        volume: &node_plan.volume,
        volume_exists,
        files: &files,
    };
    let node = create_node(target, plan, new_node, extras, ledger).await?;
    step.done();
    Ok(node)
}

/// What the engine of the node at `position` grants: as the master was made when it is
/// the master's engine; another engine's privileges and cgroup version probed, as `up`
/// probes them, since an engine in another place may grant others.
async fn joining_host(run: &Run<'_>, position: usize) -> anyhow::Result<NodeHost> {
    let details = run
        .engine
        .container_details(&run.plan.master().name)
        .await?;
    let has_lib_modules = details.binds.iter().any(|b| b.starts_with("/lib/modules:"));
    if run.engines.index_for_position(position) == 0 {
        return Ok(NodeHost {
            privileges: if details.privileged {
                Privileges::Privileged
            } else {
                Privileges::ExplicitCapabilities
            },
            cgroup: run.cgroup,
            has_lib_modules,
        });
    }
    let target = run.engines.for_position(position);
    let probe_name = format!(
        "dind-privilege-probe-{}-{}-join",
        run.plan.cluster_key,
        std::process::id()
    );
    Ok(NodeHost {
        privileges: super::nodes::detect_privileges(target, run.plan, &probe_name, run.ledger)
            .await?,
        cgroup: target.host_info().await?.cgroup_version,
        has_lib_modules,
    })
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
    let certificate_key = match node_plan.role {
        Role::Master => {
            let key = kubeadm::new_certificate_key()?;
            let argv = kubeadm::upload_certs_command(&key);
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            master.run(&argv).await?;
            Some(key)
        }
        Role::Worker => None,
    };
    let inputs = KubeadmInputs {
        plan,
        settings: run.settings,
        version: &version,
        host_cgroup_v1: run.cgroup == crate::engine::CgroupVersion::V1,
        dedicated_master: run.options.dedicated_master,
        bootstrap_token: &token,
        certificate_key: certificate_key.as_deref(),
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

    #[test]
    fn a_spread_cluster_is_changed_only_with_its_own_engines() {
        let list = |hosts: &str| -> Vec<String> {
            hosts
                .split(',')
                .filter(|h| !h.is_empty())
                .map(str::to_string)
                .collect()
        };
        // (made with, given, accepted)
        let table = [
            ("", "", true),
            ("a", "", true),
            ("", "a", true),
            ("a,b", "a,b", true),
            ("a,b", "", false),
            ("a,b", "a", false),
            ("a,b", "b,a", false),
            ("", "a,b", false),
        ];
        for (made, given, accepted) in table {
            let result = require_same_hosts("cluster-9", &list(made), &list(given));
            assert_eq!(result.is_ok(), accepted, "{made} / {given}");
            if let Err(error) = result {
                assert_eq!(crate::exit_code(&error), 2);
                assert!(error.to_string().contains("pass the same list"), "{error}");
            }
        }
    }

    #[test]
    fn join_past_the_address_limit_fails_like_up() {
        let mut settings = Settings::from_env_pairs(&[]).unwrap();
        settings.num_nodes = crate::plan::max_workers(settings.ip_mode, 1) + 1;
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
        let index = workers + 1;
        settings.num_nodes = index;
        let plan = ClusterPlan::new(&settings).unwrap();
        let host = crate::engine::HostInfo {
            server_version: "20.10.24".into(),
            cgroup_version: crate::engine::CgroupVersion::V1,
            storage_driver: "overlay2".into(),
            docker_root_dir: "/var/lib/docker".into(),
            api_version: "1.41".into(),
            containerd_store: false,
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
        let extras = NodeExtras::prepare(&settings, &plan, None).unwrap();
        let intent = Intent {
            plan: &plan,
            nodes_only: false,
            host: &host,
            node_image_bytes: None,
        };
        let name = plan.nodes[usize::from(index)].name.clone();
        preflight::gate(&join_gate(
            &settings, intent, &name, &facts, &networks, &extras,
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
