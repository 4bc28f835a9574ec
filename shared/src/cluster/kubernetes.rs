//! Kubernetes on the booted nodes, in kind's proven order: kubeadm configuration into
//! every node, CNI configuration, `kubeadm init` on the master, `kubeadm join` on the
//! workers concurrently, manifest CNIs, the published API server, the kubectl context,
//! `DIND_PORT_FORWARDER`, and the wait for Ready.

use super::run::Run;
use crate::bootstrap_token::BootstrapToken;
use crate::cni;
use crate::engine::CgroupVersion;
use crate::kubeadm::{self, KubeadmInputs, ADMIN_CONF};
use crate::kubeconfig::{self, ContextEntries};
use crate::node::{Node, NodeFile};
use crate::plan::ClusterPlan;
use crate::progress::Progress;
use crate::ready::WaitFor;
use crate::settings::Cni;
use crate::settings::Settings;
use crate::version::KubeVersion;
use anyhow::{anyhow, bail, Context};
use std::path::{Path, PathBuf};

/// Where the master keeps an upstream manifest it patches before applying it.
fn patched_manifest_path(manifest: &cni::Manifest) -> String {
    format!("/dind/{}-{}.yaml", manifest.name, manifest.version)
}

/// Fails unless the master has kubeadm, with a message that says how to get an image
/// that has it. Returns kubeadm's version.
pub async fn require_kubeadm(master: &Node, image: &str) -> anyhow::Result<KubeVersion> {
    match master.run(&["kubeadm", "version", "-o", "short"]).await {
        Ok(version) => KubeVersion::parse(version.trim()).context("reading kubeadm's version"),
        Err(_) => Err(anyhow!(
            "the node image {image} has no kubeadm, so Kubernetes cannot be set up.\n\
             Build an image with Kubernetes and use it:\n  \
             docker dind build-image --kubernetes-version {}   (or --kube-binaries DIR)\n  \
             kubectl dind up --image <the tag it prints>\n\
             or stop at booted nodes with `docker dind up --nodes-only`.",
            crate::settings::DEFAULT_KUBERNETES_VERSION
        )),
    }
}

/// Writes each node's kubeadm configuration (init for the master, join for workers) at
/// [`kubeadm::CONFIG_PATH`], the path the kubeadm commands are given.
pub async fn write_kubeadm_configs(
    nodes: &[Node],
    inputs: &KubeadmInputs<'_>,
) -> anyhow::Result<()> {
    let writes = nodes
        .iter()
        .zip(&inputs.plan.nodes)
        .map(|(node, node_plan)| async move {
            let config = if node_plan.name == inputs.plan.master().name {
                kubeadm::render_init(inputs)?
            } else {
                kubeadm::render_join(inputs, node_plan)?
            };
            node.write_files(&[NodeFile::new(kubeadm::CONFIG_PATH, config)])
                .await
        });
    futures::future::try_join_all(writes).await?;
    Ok(())
}

/// Where `kubectl apply -f` reads a CNI manifest from: its URL, or for the plugins whose
/// manifest hardcodes a pod range ([`cni::manifest_patch`]: flannel, weave) a copy
/// downloaded into the master (where the user's proxy and network apply, as for
/// `kubectl apply -f URL`) and patched to the cluster's pod range.
async fn manifest_source(
    master: &Node,
    cni: Cni,
    manifest: &cni::Manifest,
    plan: &ClusterPlan,
) -> anyhow::Result<String> {
    let Some(patch) = cni::manifest_patch(cni) else {
        return Ok(manifest.url.to_string());
    };
    let path = patched_manifest_path(manifest);
    let url = manifest.url;
    master
        .run(&["curl", "-fsSL", "--retry", "3", "-o", &path, url])
        .await
        .with_context(|| format!("downloading {url} in {}", master.name))?;
    let patched = patch(&master.read_file(&path).await?, plan)
        .with_context(|| format!("patching {url} to the cluster's pod range"))?;
    master.write_files(&[NodeFile::new(&path, patched)]).await?;
    Ok(path)
}

async fn run_step(
    progress: &Progress,
    message: String,
    node: &Node,
    argv: &[String],
) -> anyhow::Result<()> {
    let step = progress.step(message);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    step.finish(node.run(&argv).await).map(drop)
}

/// What `up --cni none` says instead of waiting for Ready.
pub const NO_CNI_NOTE: &str = "--cni none: no CNI plugin is installed; the nodes stay NotReady \
     (and pods Pending) until you apply one, e.g. `kubectl apply -f <your CNI's manifest>`";

/// What the end of `up` (and of `reup`) waits for, and its words. Without a CNI plugin
/// the nodes stay NotReady: waiting for Ready would only time out.
pub(super) fn wait_target(cni: Cni) -> (WaitFor, &'static str) {
    match cni {
        Cni::None => (WaitFor::Registered, "nodes to register"),
        _ => (WaitFor::Ready, "nodes to be Ready and CoreDNS available"),
    }
}

/// The kubeconfig file `up` writes to and `clean` removes from.
pub(crate) fn kubeconfig_files(explicit: Option<&Path>) -> (Option<PathBuf>, Vec<PathBuf>) {
    let env = std::env::var_os("KUBECONFIG");
    let home = dirs::home_dir();
    (
        kubeconfig::merge_target(explicit, env.as_deref(), home.as_deref()),
        kubeconfig::all_files(explicit, env.as_deref(), home.as_deref()),
    )
}

/// Sets up Kubernetes on booted nodes; returns the API server URL.
pub async fn bring_up(run: &Run<'_>, nodes: &[Node]) -> anyhow::Result<String> {
    let Run {
        settings,
        plan,
        options,
        cgroup,
        progress,
        ..
    } = *run;
    let master = &nodes[0];
    let version = require_kubeadm(master, &plan.image).await?;
    let certificate_key = match plan.load_balancer {
        Some(_) => Some(kubeadm::new_certificate_key()?),
        None => None,
    };
    let bootstrap_token = BootstrapToken::random()?;
    let inputs = KubeadmInputs {
        plan,
        settings,
        version: &version,
        host_cgroup_v1: cgroup == CgroupVersion::V1,
        dedicated_master: options.dedicated_master && !plan.workers().is_empty(),
        bootstrap_token: &bootstrap_token,
        certificate_key: certificate_key.as_deref(),
    };
    if cgroup == CgroupVersion::V1 {
        progress.note(
            "This host mounts cgroup v1: kubelet runs with failCgroupV1=false, which Kubernetes \
             supports only until its cgroup v1 code is removed (1.38 at the earliest)",
        );
    }
    // The CNI files dind renders itself (bridge, ptp) went in before each node's first
    // boot (`create_nodes`).
    write_kubeadm_configs(nodes, &inputs).await?;

    run_step(
        progress,
        format!("Running kubeadm init on {}", master.name),
        master,
        &kubeadm::init_command(certificate_key.is_some()),
    )
    .await?;
    let join = kubeadm::join_command();
    let (masters, workers) = nodes.split_at(plan.masters().len());
    // One master at a time: each join adds an etcd member, and etcd takes one new member
    // at a time (kind joins its secondary control planes serially too,
    // pkg/cluster/internal/create/actions/kubeadmjoin/join.go).
    for other in &masters[1..] {
        let message = format!("Joining master {}", other.name);
        run_step(progress, message, other, &join).await?;
    }
    let joins = workers
        .iter()
        .map(|worker| run_step(progress, format!("Joining {}", worker.name), worker, &join));
    futures::future::try_join_all(joins).await?;
    if let Some((manifest, untested)) = cni::release_for(settings.cni, &version) {
        if let Some(note) = untested {
            progress.note(note);
        }
        let source = manifest_source(master, settings.cni, manifest, plan).await?;
        let apply = [
            "kubectl",
            "--kubeconfig",
            ADMIN_CONF,
            "apply",
            "-f",
            &source,
        ]
        .map(String::from);
        run_step(
            progress,
            format!("Installing {} {}", manifest.name, manifest.version),
            master,
            &apply,
        )
        .await?;
    }

    let server = connect_and_wait(run, master).await?;
    if let Some(dir) = &settings.kdc.kubectl_dir {
        super::kubectl_dir::install(master, dir, &version.to_string(), progress).await?;
    }
    Ok(server)
}

/// Writes the cluster's context for the API server's published port (which changes when
/// a restored master publishes on a fresh host port), runs the port forwarder, and waits
/// until every node is Ready and CoreDNS available. The end of `up` and of a restore.
pub(super) async fn connect_and_wait(run: &Run<'_>, master: &Node) -> anyhow::Result<String> {
    let Run {
        engine,
        settings,
        plan,
        options,
        ledger,
        progress,
        ..
    } = *run;
    let port = super::api_proxy::published_api_port(engine, &plan.cluster)
        .await?
        .ok_or_else(|| anyhow!("{} does not publish the API server port", master.name))?;
    let (server, tunnel) =
        super::api_address::kubeconfig_server(plan.apiserver_address, port, &options.daemon);
    if let Some(tunnel) = tunnel {
        progress.note(tunnel);
    }

    let (target, _) = kubeconfig_files(options.kubeconfig.as_deref());
    let target = target
        .ok_or_else(|| anyhow!("cannot tell which kubeconfig file to write: no home directory"))?;
    let admin_conf = master.read_file(ADMIN_CONF).await?;
    let entries = ContextEntries::from_admin_conf(&admin_conf, &plan.context, &server)?;
    // As in kubeadm-dind-cluster, only the default cluster becomes the current context.
    let set_current = plan.cluster.id() == 0 && plan.cluster.label().is_none();
    ledger.write_context(&target, &entries, set_current)?;
    progress.note(format!(
        "Wrote context {} to {}",
        plan.context,
        target.display()
    ));

    if let Some(forwarder) = &settings.port_forwarder {
        let status = tokio::process::Command::new(forwarder)
            .arg(port.to_string())
            .status()
            .await
            .with_context(|| format!("running DIND_PORT_FORWARDER {}", forwarder.display()))?;
        if !status.success() {
            bail!(
                "DIND_PORT_FORWARDER {} {port} failed: {status}",
                forwarder.display()
            );
        }
    }

    let (until, what) = wait_target(settings.cni);
    if until == WaitFor::Registered {
        progress.note(NO_CNI_NOTE);
    }
    let step = progress.step(format!(
        "Waiting up to {}s for {what}",
        options.wait.as_secs()
    ));
    let client = crate::ready::client_for_context(&target, &plan.context).await?;
    let names: Vec<String> = plan.nodes.iter().map(|n| n.name.clone()).collect();
    let mut detail = |p: &crate::ready::ReadyProgress| step.detail(p.to_string());
    let waited = crate::ready::wait_for(client, &names, until, options.wait, &mut detail).await;
    step.finish(waited)?;
    Ok(server)
}

/// Removes the cluster's context, cluster and user from every kubeconfig file kubectl reads.
pub fn remove_context(
    settings: &Settings,
    kubeconfig: Option<&Path>,
    progress: &Progress,
) -> anyhow::Result<()> {
    let (_, files) = kubeconfig_files(kubeconfig);
    let name = settings.identity.context_name();
    for file in kubeconfig::remove_context(&files, &name)? {
        progress.note(format!("Removed context {name} from {}", file.display()));
    }
    Ok(())
}
