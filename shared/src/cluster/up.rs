//! The `up` sequence and its rollback.

use super::engines::Engines;
use super::extras::NodeExtras;
use super::host_probe::{probe_host, HostFacts};
use super::inventory::{self, Selector};
use super::ledger::Ledger;
use super::network::{create_edge_network, create_network, NetworkState};
use super::node_spec::{NodeHost, Privileges};
use super::nodes::{create_nodes, detect_privileges, wait_nodes_ready};
use super::preflight::{self, Gate, Intent, Purpose};
use super::run::{Run, UpOptions};
use super::snapshot::Snapshot;
use super::support::{configure_node, ensure_support};
use super::up_lock::UpLock;
use crate::engine::{CgroupVersion, Engine};
use crate::error::usage;
use crate::image::{ensure_image, node_recipe, KubeSource};
use crate::kubeadm::ADMIN_CONF;
use crate::node::Node;
use crate::plan::ClusterPlan;
use crate::progress::Progress;
use crate::settings::Settings;
use anyhow::Context;
use serde::Serialize;

/// What `up` made.
#[derive(Debug, Clone, Serialize)]
pub struct UpReport {
    pub cluster: String,
    pub nodes: Vec<String>,
    pub privileges: Privileges,
    pub cgroup_version: CgroupVersion,
    /// The kubectl context, when Kubernetes was set up.
    pub context: Option<String>,
    pub apiserver: Option<String>,
}

impl UpReport {
    pub fn summary(&self) -> String {
        match &self.context {
            Some(context) => format!(
                "Cluster {} is up: {} node(s), API server {}.\nUse it with: kubectl --context {context} get nodes\n",
                self.cluster,
                self.nodes.len(),
                self.apiserver.as_deref().unwrap_or("?")
            ),
            None => format!("Nodes of {} are ready: {}\n", self.cluster, self.nodes.join(", ")),
        }
    }
}

/// Creates the cluster. A failure or Ctrl-C removes what this run created, unless
/// `options.retain`.
pub async fn up(
    engine: &Engine,
    settings: &Settings,
    options: &UpOptions,
    progress: &Progress,
) -> anyhow::Result<UpReport> {
    let plan = ClusterPlan::new(settings)?;
    check_knobs(settings, &plan, options, progress)?;
    let engines = Engines::connect(&settings.docker_hosts, engine).await?;
    let engine = engines.master();
    let spread_options;
    let options = match super::engines::master_location(&settings.docker_hosts)? {
        Some(daemon) => {
            spread_options = UpOptions {
                daemon,
                ..options.clone()
            };
            &spread_options
        }
        None => options,
    };
    let named_mirror = super::registry_mirror::resolve(engine, settings, &plan).await?;
    let extras = NodeExtras::prepare(settings, &plan, named_mirror)?;
    // Everything from the first look at Docker on runs under the cluster's lock, so two
    // runs never both find the cluster absent and roll back each other's objects.
    let command = if options.restoring { "restore" } else { "up" };
    UpLock::take(engine, &plan.cluster, command)
        .await?
        .around(
            engine,
            progress,
            up_locked(&engines, settings, options, progress, &plan, &extras),
        )
        .await
}

/// `up` once the cluster's lock is held.
async fn up_locked(
    engines: &Engines,
    settings: &Settings,
    options: &UpOptions,
    progress: &Progress,
    plan: &ClusterPlan,
    extras: &NodeExtras,
) -> anyhow::Result<UpReport> {
    let engine = engines.master();
    let prepared = async {
        let host = engine.host_info().await?;
        let node_ipv4 = super::node_ipv4::decide_for(settings, &host)?;
        if !inventory::nodes_on(
            &engines.all().collect::<Vec<_>>(),
            &Selector::Cluster(plan.cluster_key.clone()),
        )
        .await?
        .is_empty()
        {
            return Err(usage(format!(
                "cluster {} already has node containers; run `down` (or `clean`) for it first",
                plan.cluster_key
            )));
        }
        ensure_node_image(engine, settings, plan, progress).await?;
        let image_labels = engine.image_labels(&plan.image).await?.unwrap_or_default();
        super::node_image::check_labels(&plan.image, &image_labels, options.nodes_only)?;
        let snapshot =
            super::snapshot::prepare(engines, settings, plan, options.restoring, progress).await?;
        Ok((host, node_ipv4, snapshot))
    };
    // Nothing is created yet: an interrupt only has to give the lock back.
    let (host, node_ipv4, snapshot) = tokio::select! {
        prepared = prepared => prepared?,
        () = crate::interrupt::interrupted() => return Err(crate::error::interrupted()),
    };
    if let Some(note) = &node_ipv4.note {
        progress.note(note);
    }
    let plan = &super::node_ipv4::apply(plan, &node_ipv4);
    if snapshot.is_none() {
        for (_, engine) in engines.all() {
            remove_leftover_volumes(engine, plan, progress).await?;
        }
    }

    let ledger = Ledger::default();
    let run = Run {
        engine,
        engines,
        settings,
        plan,
        options,
        cgroup: host.cgroup_version,
        host: &host,
        ledger: &ledger,
        progress,
    };
    let provisioned = provision(&run, extras, snapshot.as_ref());
    let result = tokio::select! {
        result = provisioned => result,
        () = crate::interrupt::interrupted() => Err(crate::error::interrupted()),
    };
    match result {
        Ok(report) => {
            super::registry_ops::join_new_cluster(
                engine,
                &plan.cluster_key,
                options.kubeconfig.as_deref(),
                progress,
            )
            .await;
            Ok(report)
        }
        Err(error) if options.retain => {
            progress.note(format!(
                "--retain: keeping {} object(s) this run created",
                ledger.created().len()
            ));
            Err(error)
        }
        Err(error) => {
            if let Err(rollback) = ledger.roll_back(engine, progress).await {
                return Err(error.context(format!(
                    "and removing what was created failed too: {rollback:#}"
                )));
            }
            Err(error)
        }
    }
}

/// Node volumes that `down` kept without a snapshot to restore them with. They hold all of
/// an earlier cluster's `/var`: its etcd data, which `kubeadm init` refuses
/// (`DirAvailable--var-lib-etcd`), its kubelet state and the old image's package state.
/// A full `up` starts from fresh ones.
async fn remove_leftover_volumes(
    engine: &Engine,
    plan: &ClusterPlan,
    progress: &Progress,
) -> anyhow::Result<()> {
    let existing = super::nodes::cluster_volumes(engine, plan).await?;
    let leftover: Vec<&str> = plan
        .nodes
        .iter()
        .map(|node| node.volume.as_str())
        .filter(|volume| existing.iter().any(|e| e == volume))
        .collect();
    if leftover.is_empty() {
        return Ok(());
    }
    progress.note(format!(
        "Removing {} node volume(s) of {} that no snapshot restores, for a full up from fresh /var",
        leftover.len(),
        plan.cluster_key
    ));
    for volume in leftover {
        engine.remove_volume(volume).await?;
    }
    Ok(())
}

/// Everything `up` creates; every object is recorded in the run's ledger first. With a
/// `snapshot`, nodes come back from their snapshot images instead of the node image, and
/// a cluster that had Kubernetes is only waited for: etcd, the certificates and kubelet
/// kept their addresses, so no kubeadm runs. Probes, pre-flight checks, the API server's
/// address and the node extras are the same either way: the host may have changed.
async fn provision(
    run: &Run<'_>,
    extras: &NodeExtras,
    snapshot: Option<&Snapshot>,
) -> anyhow::Result<UpReport> {
    let (privileges, facts, passed) = pass_gate(run, extras).await?;
    let decided_plan = decide_api_endpoint(run, &facts, snapshot)?;
    let run = &Run {
        plan: &decided_plan,
        ..*run
    };
    let Run {
        engine,
        plan,
        options,
        ledger,
        progress,
        ..
    } = *run;
    if privileges == Privileges::ExplicitCapabilities {
        progress.note("The Docker daemon refuses --privileged; nodes run with an explicit capability set instead");
    }
    if snapshot.is_none() {
        run.engines.share_image(&plan.image, progress).await?;
    }
    if passed.network == NetworkState::Missing {
        let step = progress.step(format!("Creating network {}", plan.network.name));
        let swarm_manager = run.engines.at(passed.swarm_manager.unwrap_or(0));
        create_network(swarm_manager, plan, ledger).await?;
        step.done();
    }
    if passed.edge == NetworkState::Missing {
        create_edge_network(engine, plan, ledger).await?;
    }
    let master_host = NodeHost {
        privileges,
        cgroup: run.cgroup,
        has_lib_modules: facts.lib_modules,
    };
    let node_hosts = node_hosts(run, master_host).await?;
    let nodes = boot_nodes(run, &node_hosts, extras, snapshot).await?;
    let mut report = UpReport {
        cluster: plan.cluster_key.clone(),
        nodes: nodes.iter().map(|n| n.name.clone()).collect(),
        privileges,
        cgroup_version: run.cgroup,
        context: None,
        apiserver: None,
    };
    if options.nodes_only {
        return Ok(report);
    }
    report.apiserver = Some(set_up_kubernetes(run, &nodes, snapshot.is_some()).await?);
    report.context = Some(plan.context.clone());
    Ok(report)
}

/// Each engine's [`NodeHost`], in [`Engines::all`] order: the master's from the gate's
/// probes, every other engine's probed alike, since an engine in another place may grant
/// other privileges or mount another cgroup version. The node image is on each by now.
async fn node_hosts(run: &Run<'_>, master: NodeHost) -> anyhow::Result<Vec<NodeHost>> {
    let mut hosts = vec![master.clone()];
    for (position, (_, engine)) in run.engines.all().enumerate().skip(1) {
        let probe_name = format!(
            "dind-privilege-probe-{}-{}-{position}",
            run.plan.cluster_key,
            std::process::id()
        );
        let privileges = detect_privileges(engine, run.plan, &probe_name, run.ledger).await?;
        hosts.push(NodeHost {
            privileges,
            cgroup: engine.host_info().await?.cgroup_version,
            // The probe of `/lib/modules` ran on the master's host; a node without it
            // only misses the read-only modules it shares.
            has_lib_modules: master.has_lib_modules,
        });
    }
    Ok(hosts)
}

/// Probes the host (whether it grants `--privileged`, and its facts) and passes the
/// pre-flight gate. Both probes run before anything is created: a host that cannot take
/// the cluster fails here with its fix, leaving nothing behind.
async fn pass_gate(
    run: &Run<'_>,
    extras: &NodeExtras,
) -> anyhow::Result<(Privileges, HostFacts, preflight::Passed)> {
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
    let probe_name = format!(
        "dind-privilege-probe-{}-{}",
        plan.cluster_key,
        std::process::id()
    );
    let (privileges, facts) = futures::future::try_join(
        detect_privileges(engine, plan, &probe_name, ledger),
        probe_host(engine, plan, host, ledger),
    )
    .await?;
    let node_image_bytes = engine.image_id_and_size(&plan.image).await?.map(|(_, b)| b);
    let swarm = run.engines.swarm_memberships().await?;
    let mut networks = Vec::new();
    for (_, engine) in run.engines.all() {
        networks.extend(engine.networks().await?);
    }
    let passed = preflight::gate(&Gate {
        purpose: Purpose::Up,
        settings,
        intent: Intent {
            plan,
            nodes_only: options.nodes_only,
            host,
            node_image_bytes,
        },
        facts: &facts,
        networks: &networks,
        extras,
        ports: &extras.ports,
        swarm: &swarm,
    })?;
    for note in &passed.notes {
        progress.note(note);
    }
    Ok((privileges, facts, passed))
}

/// The plan with where the master publishes the API server, decided before anything is
/// created: the address, the host port (`--apiserver-port`, else the one a restored
/// snapshot was pinned to, else a free one, pinned so that restarts keep it), and the
/// name the kubeconfig reaches it by, which its certificate must hold.
fn decide_api_endpoint(
    run: &Run<'_>,
    facts: &HostFacts,
    snapshot: Option<&Snapshot>,
) -> anyhow::Result<ClusterPlan> {
    let publish = super::api_address::publish_address(
        run.settings.apiserver_address,
        run.plan.apiserver_address,
        &run.options.daemon,
        facts.ipv6_loopback,
    )?;
    for note in publish
        .notes
        .into_iter()
        .chain(super::api_address::extra_exposures(run.plan))
    {
        run.progress.note(note);
    }
    let port = match run
        .plan
        .apiserver_port
        .or(snapshot.and_then(|s| s.apiserver_port))
    {
        Some(port) => port,
        None => {
            super::api_address::free_port(&run.plan.cluster_key, publish.address, &facts.listening)?
        }
    };
    Ok(super::api_address::with_endpoint(
        run.plan,
        publish.address,
        port,
        &run.options.daemon,
    ))
}

/// Creates and boots every node (from its snapshot image when restoring), with the
/// DNS64/NAT64 support containers alongside in IPv6 mode.
async fn boot_nodes(
    run: &Run<'_>,
    node_hosts: &[NodeHost],
    extras: &NodeExtras,
    snapshot: Option<&Snapshot>,
) -> anyhow::Result<Vec<Node>> {
    let Run {
        engine,
        settings,
        plan,
        options,
        ledger,
        progress,
        ..
    } = *run;
    // The label keeps the pinned port, for `join` and for a restore from the snapshot.
    let labelled = Settings {
        apiserver_port: plan.apiserver_port,
        ..settings.clone()
    };
    let settings_json = labelled.label_json()?;
    if snapshot.is_some() {
        progress.note(format!(
            "Restoring {} from its snapshot (SKIP_SNAPSHOT=true for a full up)",
            plan.cluster_key
        ));
    }
    let images = snapshot.map(|s| &s.images);
    let nodes_step = progress.step(format!("Creating {} node container(s)", plan.nodes.len()));
    let boot = async {
        let nodes = create_nodes(
            run.engines,
            plan,
            node_hosts,
            settings,
            &settings_json,
            extras,
            images,
            ledger,
        )
        .await?;
        nodes_step.done();
        wait_nodes_ready(&nodes, options.node_timeout, progress).await?;
        Ok::<_, anyhow::Error>(nodes)
    };
    let support = async {
        futures::future::try_join(
            ensure_support(engine, plan, ledger, progress),
            super::load_balancer::ensure(engine, plan, ledger, progress),
        )
        .await
        .map(drop)
    };
    let (nodes, ()) = futures::future::try_join(boot, support).await?;
    if let Some(mesh) = &plan.v6_mesh {
        super::v6_mesh::apply(run.engines, plan, mesh, &nodes).await?;
    }
    if let Some(net64) = &plan.net64 {
        futures::future::try_join_all(nodes.iter().map(|node| configure_node(node, plan, net64)))
            .await?;
    }
    Ok(nodes)
}

/// kubeadm on the booted nodes, then the addons; or, for a cluster restored with its
/// Kubernetes, only the wait for it. Returns the API server's URL.
async fn set_up_kubernetes(
    run: &Run<'_>,
    nodes: &[Node],
    restored: bool,
) -> anyhow::Result<String> {
    let master = &nodes[0];
    let restored_kubernetes =
        restored && master.exec(&["test", "-e", ADMIN_CONF]).await?.exit_code == 0;
    if restored_kubernetes {
        return super::kubernetes::connect_and_wait(run, master).await;
    }
    let published = super::kubernetes::bring_up(run, nodes).await?;
    super::addons::apply(run, master).await?;
    Ok(published)
}

/// The checks of kind's knobs that need no Docker, before anything is created: mount
/// host paths (on this machine when the daemon is local; a remote daemon's are its own),
/// the kube-proxy mode and the kubeadm patches against the release `up` builds.
fn check_knobs(
    settings: &Settings,
    plan: &ClusterPlan,
    options: &UpOptions,
    progress: &Progress,
) -> anyhow::Result<()> {
    match &options.daemon {
        super::api_address::DaemonLocation::Local => {
            crate::settings::mounts::require_host_paths(&settings.mounts)?
        }
        super::api_address::DaemonLocation::Remote { host, .. } if !settings.mounts.is_empty() => {
            progress.note(format!(
                "--mount: the host paths are on the daemon's machine, {host}, not this one"
            ))
        }
        super::api_address::DaemonLocation::Remote { .. } => {}
    }
    crate::kubeadm::check_settings(settings, plan)
}

/// Builds the node image `up` needs when it is missing: the one for the configured
/// Kubernetes version, or a `dind-node` image named by `--image` that dind knows how to
/// build (`dind-node:bare`, `dind-node:vX.Y.Z`). Any other `--image` must exist or be
/// pullable.
async fn ensure_node_image(
    engine: &Engine,
    settings: &Settings,
    plan: &ClusterPlan,
    progress: &Progress,
) -> anyhow::Result<()> {
    let source = match &settings.image {
        None => Some(KubeSource::Release(settings.kubernetes_version.clone())),
        Some(image) => {
            super::kube_binaries::local_source(settings).or_else(|| buildable_source(image))
        }
    };
    match source {
        Some(source) => {
            ensure_image(engine, &node_recipe(&source, settings)?, progress).await?;
        }
        None if engine.image_labels(&plan.image).await?.is_none() => {
            engine.pull_image(&plan.image).await.with_context(|| {
                format!(
                    "node image {} is not present; build one with `docker dind build-image`",
                    plan.image
                )
            })?;
        }
        None => {}
    }
    Ok(())
}

/// The source of a node image dind can build by its tag.
fn buildable_source(image: &str) -> Option<KubeSource> {
    let tag = image.strip_prefix("dind-node:")?;
    if tag == "bare" {
        return Some(KubeSource::Bare);
    }
    crate::version::KubeVersion::parse(tag)
        .ok()
        .map(|v| KubeSource::Release(v.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_dind_can_build_by_tag() {
        let table = [
            ("dind-node:bare", Some(KubeSource::Bare)),
            (
                "dind-node:v1.33.1",
                Some(KubeSource::Release("v1.33.1".into())),
            ),
            ("dind-node:local-abc", None),
            ("example.com/node:v1.33.1", None),
        ];
        for (image, source) in table {
            assert_eq!(buildable_source(image), source, "{image}");
        }
    }
}
