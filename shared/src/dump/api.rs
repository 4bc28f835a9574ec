//! The cluster-wide sections of a dump, read through the Kubernetes API with kube-rs:
//! every container's log (and its previous log after a restart), a wide listing of the
//! resources in all namespaces, a description of each, nodes and events.
//!
//! Listings ask the API server for the table kubectl itself prints (`as=Table`), with the
//! wide columns; a server that answers with a plain list gets namespace, name and age.
//! Descriptions are the objects as YAML without managed fields. Secret values never
//! appear: data, stringData and the last-applied annotation of a Secret are redacted.

use super::format::Section;
use super::nodes::failure;
use anyhow::Context;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, LogParams};
use kube::core::{GroupVersionKind, Request};
use kube::Resource;
use serde_json::Value;
use std::time::Duration;

/// How long the API server may take to answer the first request before the dump gives
/// up on the API sections (the node sections do not need it).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one request (a log, a listing) may take: a hung kubelet must not hang the
/// dump.
pub const PART_TIMEOUT: Duration = Duration::from_secs(60);

/// `request` with [`PART_TIMEOUT`]; `what` names it in the error.
async fn bounded<T, E: Into<anyhow::Error>>(
    what: &str,
    request: impl std::future::Future<Output = Result<T, E>>,
) -> anyhow::Result<T> {
    match tokio::time::timeout(PART_TIMEOUT, request).await {
        Ok(result) => result.map_err(Into::into),
        Err(_) => Err(anyhow::anyhow!(
            "{what}: no answer within {}s",
            PART_TIMEOUT.as_secs()
        )),
    }
}

/// How many pod logs are read at once.
const LOG_CONCURRENCY: usize = 8;

/// A resource type a dump lists and describes.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
}

const fn kind(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
) -> Kind {
    Kind {
        group,
        version,
        kind,
        plural,
    }
}

/// What `kubectl get all` shows, plus the configuration, storage and access objects a
/// broken cluster is usually debugged with.
pub const KINDS: &[Kind] = &[
    kind("", "v1", "Namespace", "namespaces"),
    kind("", "v1", "Pod", "pods"),
    kind("", "v1", "Service", "services"),
    kind("", "v1", "Endpoints", "endpoints"),
    kind("apps", "v1", "DaemonSet", "daemonsets"),
    kind("apps", "v1", "Deployment", "deployments"),
    kind("apps", "v1", "ReplicaSet", "replicasets"),
    kind("apps", "v1", "StatefulSet", "statefulsets"),
    kind("batch", "v1", "Job", "jobs"),
    kind("batch", "v1", "CronJob", "cronjobs"),
    kind("", "v1", "ConfigMap", "configmaps"),
    kind("", "v1", "Secret", "secrets"),
    kind("", "v1", "ServiceAccount", "serviceaccounts"),
    kind("", "v1", "PersistentVolume", "persistentvolumes"),
    kind("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
    kind("storage.k8s.io", "v1", "StorageClass", "storageclasses"),
    kind("networking.k8s.io", "v1", "Ingress", "ingresses"),
    kind(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
    ),
];

const NODES: Kind = kind("", "v1", "Node", "nodes");
const EVENTS: Kind = kind("", "v1", "Event", "events");

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

impl Kind {
    fn url_path(&self) -> String {
        let resource = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(self.group, self.version, self.kind),
            self.plural,
        );
        DynamicObject::url_path(&resource, None)
    }
}

/// Every cluster-wide section. When the API server does not answer, one section says so
/// and the others are left out; any other failure becomes (or goes into) the section of
/// the part that failed.
pub async fn sections(client: &kube::Client) -> Vec<Section> {
    match tokio::time::timeout(PROBE_TIMEOUT, client.apiserver_version()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            let e = anyhow::Error::from(e);
            return vec![Section::new(
                "api-server.txt",
                failure("the API server did not answer", &e),
            )];
        }
        Err(_) => {
            return vec![Section::new(
                "api-server.txt",
                format!(
                    "dump: the API server did not answer within {}s\n",
                    PROBE_TIMEOUT.as_secs()
                ),
            )]
        }
    }
    let mut out = pod_logs(client).await;
    let mut listing = String::new();
    for kind in KINDS {
        listing.push_str(&format!("== {} ==\n", kind.plural));
        listing.push_str(&table_or_failure(client, kind).await);
        listing.push('\n');
    }
    out.push(Section::new("kubectl-all.txt", listing));
    let mut described = String::new();
    for kind in KINDS {
        described.push_str(&describe(client, kind).await);
    }
    out.push(Section::new("describe-all.txt", described));
    out.push(Section::new(
        "nodes.txt",
        table_or_failure(client, &NODES).await,
    ));
    out.push(Section::new(
        "events.txt",
        table_or_failure(client, &EVENTS).await,
    ));
    out
}

/// The log file name of one container, as kubeadm-dind-cluster named it.
pub fn pod_log_file(node: &str, namespace: &str, pod: &str, container: &str) -> String {
    format!("pod-{node}-{namespace}-{pod}--{container}.log")
}

/// The file name of a restarted container's previous log.
pub fn previous_log_file(node: &str, namespace: &str, pod: &str, container: &str) -> String {
    format!("pod-{node}-{namespace}-{pod}--{container}.previous.log")
}

/// One log to read: (section name, namespace, pod, container, previous).
type LogJob = (String, String, String, String, bool);

/// The logs to read for `pods`: every init and regular container of every scheduled pod,
/// and the previous log of each container that restarted.
pub fn log_jobs(pods: &[Pod]) -> Vec<LogJob> {
    let mut jobs = Vec::new();
    for pod in pods {
        let (Some(spec), Some(name)) = (&pod.spec, &pod.metadata.name) else {
            continue;
        };
        // An unscheduled pod has no logs; it shows in the listing and description.
        let Some(node) = &spec.node_name else {
            continue;
        };
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let status = pod.status.as_ref();
        let restarts = |container: &str| {
            status
                .into_iter()
                .flat_map(|s| {
                    s.container_statuses
                        .iter()
                        .flatten()
                        .chain(s.init_container_statuses.iter().flatten())
                })
                .find(|s| s.name == container)
                .map_or(0, |s| s.restart_count)
        };
        let containers = spec
            .init_containers
            .iter()
            .flatten()
            .chain(spec.containers.iter());
        for container in containers {
            let c = &container.name;
            jobs.push((
                pod_log_file(node, &namespace, name, c),
                namespace.clone(),
                name.clone(),
                c.clone(),
                false,
            ));
            if restarts(c) > 0 {
                jobs.push((
                    previous_log_file(node, &namespace, name, c),
                    namespace.clone(),
                    name.clone(),
                    c.clone(),
                    true,
                ));
            }
        }
    }
    jobs
}

async fn pod_logs(client: &kube::Client) -> Vec<Section> {
    let list = Api::<Pod>::all(client.clone());
    let pods = match bounded("pods", list.list(&ListParams::default())).await {
        Ok(list) => list.items,
        Err(e) => {
            return vec![Section::new(
                "pods.txt",
                failure("could not list the pods", &e),
            )]
        }
    };
    futures::stream::iter(log_jobs(&pods))
        .map(|(file, namespace, pod, container, previous)| async move {
            let api = Api::<Pod>::namespaced(client.clone(), &namespace);
            let params = LogParams {
                container: Some(container.clone()),
                previous,
                ..LogParams::default()
            };
            let what = format!("the log of {namespace}/{pod} container {container}");
            let body = match bounded(&what, api.logs(&pod, &params)).await {
                Ok(text) => text,
                Err(e) => failure(&format!("could not read {what}"), &e),
            };
            Section::new(file, body)
        })
        .buffered(LOG_CONCURRENCY)
        .collect()
        .await
}

async fn get_json(client: &kube::Client, kind: &Kind, table: bool) -> anyhow::Result<Value> {
    let mut request = Request::new(kind.url_path())
        .list(&ListParams::default())
        .with_context(|| format!("building the request for {}", kind.plural))?;
    if table {
        // As kubectl asks: the server renders the columns, wide ones included.
        request.headers_mut().insert(
            "accept",
            "application/json;as=Table;v=v1;g=meta.k8s.io, application/json"
                .parse()
                .context("an Accept header")?,
        );
    }
    let text = bounded(kind.plural, client.request_text(request))
        .await
        .with_context(|| format!("listing {}", kind.plural))?;
    serde_json::from_str(&text).with_context(|| format!("reading the list of {}", kind.plural))
}

async fn table_or_failure(client: &kube::Client, kind: &Kind) -> String {
    match get_json(client, kind, true).await {
        Ok(value) => render_listing(&value),
        Err(e) => failure(&format!("could not list {}", kind.plural), &e),
    }
}

/// A listing as text: a server-side `Table` with all its columns (kubectl's `-o wide`),
/// with a NAMESPACE column when rows belong to namespaces; a plain list as namespace,
/// name and creation time.
pub fn render_listing(value: &Value) -> String {
    let namespace_of =
        |object: &Value| object["metadata"]["namespace"].as_str().map(str::to_string);
    let cell = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "<none>".to_string(),
        other => other.to_string(),
    };
    let mut rows: Vec<Vec<String>> = Vec::new();
    if value["kind"] == "Table" {
        let header: Vec<String> = value["columnDefinitions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| c["name"].as_str().unwrap_or_default().to_uppercase())
            .collect();
        let table_rows = value["rows"].as_array().cloned().unwrap_or_default();
        let namespaced = table_rows
            .iter()
            .any(|r| namespace_of(&r["object"]).is_some());
        rows.push(if namespaced {
            [vec!["NAMESPACE".to_string()], header].concat()
        } else {
            header
        });
        for row in &table_rows {
            let cells: Vec<String> = row["cells"]
                .as_array()
                .into_iter()
                .flatten()
                .map(cell)
                .collect();
            rows.push(if namespaced {
                [
                    vec![namespace_of(&row["object"]).unwrap_or_default()],
                    cells,
                ]
                .concat()
            } else {
                cells
            });
        }
    } else {
        rows.push(["NAMESPACE", "NAME", "CREATED"].map(String::from).to_vec());
        for item in value["items"].as_array().into_iter().flatten() {
            let meta = &item["metadata"];
            rows.push(vec![
                namespace_of(item).unwrap_or_else(|| "-".to_string()),
                cell(&meta["name"]),
                cell(&meta["creationTimestamp"]),
            ]);
        }
    }
    if rows.len() == 1 {
        return "No resources found.\n".to_string();
    }
    // Event messages can be longer than any format width.
    crate::text_table::align(&rows, "   ")
}

async fn describe(client: &kube::Client, kind: &Kind) -> String {
    match get_json(client, kind, false).await {
        Ok(list) => {
            let mut out = String::new();
            for mut item in list["items"].as_array().cloned().unwrap_or_default() {
                clean_for_description(&mut item, kind.kind);
                let meta = &item["metadata"];
                let name = match meta["namespace"].as_str() {
                    Some(ns) => format!("{ns}/{}", meta["name"].as_str().unwrap_or_default()),
                    None => meta["name"].as_str().unwrap_or_default().to_string(),
                };
                out.push_str(&format!("--- {} {name}\n", kind.kind));
                out.push_str(&serde_yaml::to_string(&item).unwrap_or_else(|e| {
                    format!("dump: could not render {} {name}: {e}\n", kind.kind)
                }));
            }
            out
        }
        Err(e) => format!(
            "--- {}\n{}",
            kind.kind,
            failure(&format!("could not describe {}", kind.plural), &e)
        ),
    }
}

/// What an object's description shows: no managed fields, and for a Secret (`kind` is
/// the list's kind, since list items often carry none) no values, only their sizes.
pub fn clean_for_description(object: &mut Value, kind: &str) {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    let secret = kind == "Secret" || object["kind"] == "Secret";
    if !secret {
        return;
    }
    // `get_mut`, not indexing: indexing a JSON object inserts the missing key as null.
    for field in ["data", "stringData"] {
        if let Some(values) = object.get_mut(field).and_then(Value::as_object_mut) {
            for value in values.values_mut() {
                let size = value.as_str().map_or(0, str::len);
                *value = Value::String(format!("<redacted: {size} characters>"));
            }
        }
    }
    if let Some(annotations) = object
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
        .and_then(Value::as_object_mut)
    {
        if let Some(value) = annotations.get_mut(LAST_APPLIED) {
            *value = Value::String("<redacted>".to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_redacted_and_others_kept() {
        let table = [
            (
                json!({"metadata": {"name": "s", "managedFields": [{}],
                    "annotations": {LAST_APPLIED: "{\"data\":{\"k\":\"c2VjcmV0\"}}", "keep": "x"}},
                    "data": {"k": "c2VjcmV0"}, "stringData": {"p": "hunter2"}}),
                "Secret",
                json!({"metadata": {"name": "s",
                    "annotations": {LAST_APPLIED: "<redacted>", "keep": "x"}},
                    "data": {"k": "<redacted: 8 characters>"},
                    "stringData": {"p": "<redacted: 7 characters>"}}),
            ),
            (
                json!({"kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "eA=="}}),
                "List",
                json!({"kind": "Secret", "metadata": {"name": "s"},
                    "data": {"k": "<redacted: 4 characters>"}}),
            ),
            (
                json!({"metadata": {"name": "c", "managedFields": []}, "data": {"k": "v"}}),
                "ConfigMap",
                json!({"metadata": {"name": "c"}, "data": {"k": "v"}}),
            ),
        ];
        for (mut object, kind, want) in table {
            clean_for_description(&mut object, kind);
            assert_eq!(object, want);
        }
    }

    #[test]
    fn listings() {
        let table = [
            (
                json!({"kind": "Table", "columnDefinitions": [{"name": "Name"}, {"name": "Ready"}, {"name": "IP"}],
                "rows": [
                    {"cells": ["coredns-1", "1/1", "10.244.0.2"], "object": {"metadata": {"namespace": "kube-system"}}},
                    {"cells": ["web", "0/2", null], "object": {"metadata": {"namespace": "default"}}},
                ]}),
                "NAMESPACE     NAME        READY   IP\n\
                 kube-system   coredns-1   1/1     10.244.0.2\n\
                 default       web         0/2     <none>\n",
            ),
            (
                json!({"kind": "Table", "columnDefinitions": [{"name": "Name"}, {"name": "Status"}],
                    "rows": [{"cells": ["kube-master", "Ready"], "object": {"metadata": {}}}]}),
                "NAME          STATUS\nkube-master   Ready\n",
            ),
            (
                json!({"kind": "PodList", "items": [
                    {"metadata": {"name": "p", "namespace": "n", "creationTimestamp": "2026-11-22T00:00:00Z"}}]}),
                "NAMESPACE   NAME   CREATED\nn           p      2026-11-22T00:00:00Z\n",
            ),
            (
                json!({"kind": "PodList", "items": []}),
                "No resources found.\n",
            ),
        ];
        for (value, want) in table {
            assert_eq!(render_listing(&value), want);
        }
    }

    #[test]
    fn log_jobs_cover_every_container_and_previous_logs() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"nodeName": "kube-node-1",
                "initContainers": [{"name": "init"}],
                "containers": [{"name": "app"}, {"name": "sidecar"}]},
            "status": {"containerStatuses": [
                {"name": "app", "restartCount": 2, "ready": true, "image": "", "imageID": ""},
                {"name": "sidecar", "restartCount": 0, "ready": true, "image": "", "imageID": ""}]}
        }))
        .unwrap();
        let pending: Pod = serde_json::from_value(json!({
            "metadata": {"name": "pending", "namespace": "default"},
            "spec": {"containers": [{"name": "app"}]}
        }))
        .unwrap();
        let jobs: Vec<(String, bool)> = log_jobs(&[pod, pending])
            .into_iter()
            .map(|(file, _, _, _, previous)| (file, previous))
            .collect();
        assert_eq!(
            jobs,
            [
                ("pod-kube-node-1-default-web--init.log".to_string(), false),
                ("pod-kube-node-1-default-web--app.log".to_string(), false),
                (
                    "pod-kube-node-1-default-web--app.previous.log".to_string(),
                    true
                ),
                (
                    "pod-kube-node-1-default-web--sidecar.log".to_string(),
                    false
                ),
            ]
        );
    }
}
