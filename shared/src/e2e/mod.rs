//! `e2e` and `e2e-serial`: Kubernetes' conformance image, of the server's own version,
//! run as a pod in a namespace of its own, through kube-rs. Its output streams to the
//! terminal; its JUnit files are copied to the report directory; the namespace and the
//! cluster role binding are deleted afterwards, also when the user presses Ctrl-C.
//!
//! Results: the conformance runner writes them into its `RESULTS_DIR` and then exits, and
//! its image has no shell or tar to copy them out of a live container. The directory is
//! therefore a hostPath on the node (dind's nodes are Docker containers), read through
//! Docker once the pod has ended ([`NodeResults`]). That needs no registry and no helper
//! image, which an offline cluster could not pull.

pub mod spec;

use crate::node::Node;
use crate::progress::Progress;
use anyhow::{anyhow, Context};
use futures::{AsyncBufReadExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::api::{Api, DeleteParams, LogParams, PostParams};
use spec::RunSpec;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often the pod's state is read while waiting.
const POLL: Duration = Duration::from_secs(2);
/// How long the pod may take to start (pulling the conformance image is most of it).
const START_TIMEOUT: Duration = Duration::from_secs(20 * 60);
/// How long a run may take: the conformance runner's own ginkgo timeout (24h).
const RUN_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// Where the results directory of a run lives and how to read and remove it.
pub trait ResultsStore {
    /// The result files (name, contents) in `dir` on `node`.
    fn fetch(
        &self,
        node: &str,
        dir: &str,
    ) -> impl Future<Output = anyhow::Result<Vec<(String, String)>>>;
    fn remove(&self, node: &str, dir: &str) -> impl Future<Output = anyhow::Result<()>>;
}

/// The results directory on a dind node, read through Docker.
#[derive(Debug, Clone)]
pub struct NodeResults(pub crate::engine::Engine);

impl ResultsStore for NodeResults {
    async fn fetch(&self, node: &str, dir: &str) -> anyhow::Result<Vec<(String, String)>> {
        let node = Node::new(&self.0, node);
        let listing = node
            .run(&[
                "find",
                dir,
                "-maxdepth",
                "1",
                "-type",
                "f",
                "(",
                "-name",
                "*.xml",
                "-o",
                "-name",
                "e2e.log",
                ")",
                "-printf",
                "%f\\n",
            ])
            .await?;
        let mut files = Vec::new();
        for name in listing.lines().filter(|l| !l.is_empty()) {
            let text = node.read_file(&format!("{dir}/{name}")).await?;
            files.push((name.to_string(), text));
        }
        Ok(files)
    }

    async fn remove(&self, node: &str, dir: &str) -> anyhow::Result<()> {
        Node::new(&self.0, node)
            .run(&["rm", "-rf", dir])
            .await
            .map(|_| ())
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Outcome {
    pub namespace: String,
    pub image: String,
    pub exit_code: i32,
    /// The files copied into the report directory.
    pub reports: Vec<PathBuf>,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.exit_code == 0
    }
}

/// A unique suffix for a run's namespace.
pub fn run_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{:x}{:x}", now.as_secs(), std::process::id() & 0xfff)
}

/// Runs the suite and returns how it ended; deletes what it created whatever happens.
pub async fn run(
    client: &kube::Client,
    suite: spec::Suite,
    focus: Option<&str>,
    skip: Option<&str>,
    results: &impl ResultsStore,
    report_dir: Option<&Path>,
    progress: &Progress,
) -> anyhow::Result<Outcome> {
    let version = client
        .apiserver_version()
        .await
        .context("asking the API server for its version")?;
    let run = RunSpec::new(suite, focus, skip, &version.git_version, &run_id())?;
    progress.note(format!(
        "Running {} in namespace {} (focus {:?}, skip {:?})",
        run.image, run.namespace, run.focus, run.skip
    ));
    let outcome = tokio::select! {
        outcome = run_pod(client, &run, results, report_dir, progress) => outcome,
        () = crate::interrupt::interrupted() => Err(crate::error::interrupted()),
    };
    let cleaned = clean_up(client, &run, results).await;
    match (outcome, cleaned) {
        (Ok(outcome), Ok(())) => Ok(outcome),
        (Ok(_), Err(e)) => Err(e),
        (Err(e), Ok(())) => Err(e),
        (Err(e), Err(c)) => Err(e.context(format!("and cleaning up failed too: {c:#}"))),
    }
}

async fn run_pod(
    client: &kube::Client,
    run: &RunSpec,
    results: &impl ResultsStore,
    report_dir: Option<&Path>,
    progress: &Progress,
) -> anyhow::Result<Outcome> {
    let pods = create_objects(client, run).await?;
    wait_started(&pods, run, progress).await?;
    follow_log(&pods).await?;
    // The log ends when the runner does, or when the connection drops on a long run;
    // either way the pod's state says when it is over.
    wait_for(&pods, RUN_TIMEOUT, |pod| {
        matches!(phase(pod).as_str(), "Succeeded" | "Failed").then_some(())
    })
    .await?;
    let pod = pods
        .get(spec::POD)
        .await
        .context("reading the conformance pod")?;
    let exit_code =
        terminated_exit_code(&pod).unwrap_or(if phase(&pod) == "Succeeded" { 0 } else { 1 });
    let reports = match report_dir {
        Some(dir) => copy_reports(&pod, run, results, dir, progress).await?,
        None => Vec::new(),
    };
    Ok(Outcome {
        namespace: run.namespace.clone(),
        image: run.image.clone(),
        exit_code,
        reports,
    })
}

/// The namespace, service account, cluster role binding and pod of a run.
async fn create_objects(client: &kube::Client, run: &RunSpec) -> anyhow::Result<Api<Pod>> {
    let post = PostParams::default();
    Api::<Namespace>::all(client.clone())
        .create(&post, &run.namespace_object()?)
        .await
        .with_context(|| format!("creating namespace {}", run.namespace))?;
    let pods = Api::<Pod>::namespaced(client.clone(), &run.namespace);
    Api::<ServiceAccount>::namespaced(client.clone(), &run.namespace)
        .create(&post, &run.service_account()?)
        .await
        .context("creating the conformance service account")?;
    Api::<ClusterRoleBinding>::all(client.clone())
        .create(&post, &run.cluster_role_binding()?)
        .await
        .with_context(|| format!("creating cluster role binding {}", run.binding()))?;
    pods.create(&post, &run.pod()?)
        .await
        .context("creating the conformance pod")?;
    Ok(pods)
}

/// Waits for the pod to leave `Pending`, showing why it waits; an image name the node
/// can never pull fails at once.
async fn wait_started(pods: &Api<Pod>, run: &RunSpec, progress: &Progress) -> anyhow::Result<()> {
    let step = progress.step(format!("Starting {}", run.image));
    let mut last_reason = None;
    let started = wait_for(pods, START_TIMEOUT, |pod| {
        let phase = phase(pod);
        if phase != "Pending" {
            return Some(Ok(()));
        }
        let reason = waiting_reason(pod);
        if reason.is_some() && reason != last_reason {
            // ErrImagePull and the like: say so, an offline node may never get the image.
            step.detail(format!(
                "waiting: {}",
                reason.as_deref().unwrap_or_default()
            ));
            last_reason.clone_from(&reason);
        }
        match reason.as_deref() {
            Some("InvalidImageName") => Some(Err(anyhow!(
                "the conformance pod cannot start: InvalidImageName"
            ))),
            _ => None,
        }
    })
    .await;
    step.finish(started.and_then(|r| r))
}

/// The runner prints its progress; shows it as it comes.
async fn follow_log(pods: &Api<Pod>) -> anyhow::Result<()> {
    let params = LogParams {
        follow: true,
        container: Some(spec::POD.to_string()),
        ..LogParams::default()
    };
    let mut lines = pods
        .log_stream(spec::POD, &params)
        .await
        .context("following the conformance pod's log")?
        .lines();
    while let Some(line) = lines
        .try_next()
        .await
        .context("reading the conformance pod's log")?
    {
        eprintln!("{line}");
    }
    Ok(())
}

/// Copies the result files from the node the pod ran on into `dir`.
async fn copy_reports(
    pod: &Pod,
    run: &RunSpec,
    results: &impl ResultsStore,
    dir: &Path,
    progress: &Progress,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut reports = Vec::new();
    let node = node_of(pod).ok_or_else(|| anyhow!("the conformance pod ran on no node"))?;
    let files = results
        .fetch(&node, &run.node_results_dir())
        .await
        .with_context(|| format!("reading the results on {node}"))?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, text) in files {
        let path = dir.join(&name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        reports.push(path);
    }
    progress.note(format!(
        "Copied {} result files to {}",
        reports.len(),
        dir.display()
    ));
    Ok(reports)
}

/// Polls the pod until `done` says so (`Some`), or fails after `timeout`.
async fn wait_for<T>(
    pods: &Api<Pod>,
    timeout: Duration,
    mut done: impl FnMut(&Pod) -> Option<T>,
) -> anyhow::Result<T> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let pod = pods
            .get(spec::POD)
            .await
            .context("reading the conformance pod")?;
        if let Some(value) = done(&pod) {
            return Ok(value);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(anyhow!(
                "the conformance pod is still {} after {}s{}",
                phase(&pod),
                timeout.as_secs(),
                waiting_reason(&pod)
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

fn phase(pod: &Pod) -> String {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_else(|| "Pending".to_string())
}

fn node_of(pod: &Pod) -> Option<String> {
    pod.spec.as_ref().and_then(|s| s.node_name.clone())
}

fn container_state(pod: &Pod) -> Option<&k8s_openapi::api::core::v1::ContainerState> {
    pod.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .iter()
        .find(|c| c.name == spec::POD)?
        .state
        .as_ref()
}

fn waiting_reason(pod: &Pod) -> Option<String> {
    container_state(pod)?.waiting.as_ref()?.reason.clone()
}

fn terminated_exit_code(pod: &Pod) -> Option<i32> {
    Some(container_state(pod)?.terminated.as_ref()?.exit_code)
}

/// Deletes the run's namespace (and with it the pod) and cluster role binding, and the
/// results directory on the node. Objects already gone are fine.
async fn clean_up(
    client: &kube::Client,
    run: &RunSpec,
    results: &impl ResultsStore,
) -> anyhow::Result<()> {
    let mut failures = Vec::new();
    let pods = Api::<Pod>::namespaced(client.clone(), &run.namespace);
    if let Ok(Some(pod)) = pods.get_opt(spec::POD).await {
        if let Some(node) = node_of(&pod) {
            if let Err(e) = results.remove(&node, &run.node_results_dir()).await {
                failures.push(format!("removing the results on {node}: {e:#}"));
            }
        }
    }
    let delete = DeleteParams::default();
    let binding = Api::<ClusterRoleBinding>::all(client.clone())
        .delete(&run.binding(), &delete)
        .await;
    if let Err(e) = binding {
        if !is_not_found(&e) {
            failures.push(format!(
                "deleting cluster role binding {}: {e}",
                run.binding()
            ));
        }
    }
    let namespace = Api::<Namespace>::all(client.clone())
        .delete(&run.namespace, &delete)
        .await;
    if let Err(e) = namespace {
        if !is_not_found(&e) {
            failures.push(format!("deleting namespace {}: {e}", run.namespace));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(anyhow!("cleaning up the e2e run: {}", failures.join("; ")))
    }
}

fn is_not_found(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 404)
}
