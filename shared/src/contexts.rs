//! The dind contexts in the kubeconfig files kubectl reads (`contexts`), and the API
//! client of one cluster found there (for `dump` and `e2e`).
//!
//! Reading follows kubectl's merge of `$KUBECONFIG`: the first file that defines a
//! context, cluster or current-context wins. [`find`] is pure; [`list`] adds whether each
//! cluster's master container is running.

use crate::engine::Engine;
use crate::kubeconfig;
use crate::names::ClusterIdentity;
use anyhow::{anyhow, Context};
use serde::Serialize;
use serde_yaml::Value;
use std::path::{Path, PathBuf};

/// One dind context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContextRow {
    pub context: String,
    /// The cluster's key: `default`, `cluster-N`, a label, or `LABEL-N`.
    pub cluster: String,
    pub cluster_id: u8,
    pub label: Option<String>,
    /// The API endpoint (the context's cluster's `server`).
    pub server: Option<String>,
    pub master: String,
    /// `running`, `stopped` or `absent`; filled in by [`list`].
    pub master_state: String,
    pub running: bool,
    pub current: bool,
    /// The file that defines the context.
    pub file: PathBuf,
}

fn named<'a>(doc: &'a Value, list: &str) -> Vec<(&'a str, &'a Value)> {
    doc.get(list)
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(|entry| Some((entry.get("name")?.as_str()?, entry)))
        .collect()
}

/// The dind contexts of the given kubeconfig files (path, text), in file order, with
/// kubectl's precedence. A file that is not YAML is skipped, as kubectl would fail on it
/// only when it is used.
pub fn find(files: &[(PathBuf, String)]) -> Vec<ContextRow> {
    let docs: Vec<(&PathBuf, Value)> = files
        .iter()
        .filter_map(|(path, text)| Some((path, serde_yaml::from_str(text).ok()?)))
        .collect();
    let current = docs.iter().find_map(|(_, doc)| {
        doc.get("current-context")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    });
    let server_of = |cluster: &str| {
        docs.iter().find_map(|(_, doc)| {
            named(doc, "clusters")
                .into_iter()
                .find(|(name, _)| *name == cluster)
                .and_then(|(_, entry)| entry.get("cluster")?.get("server")?.as_str())
                .map(str::to_string)
        })
    };
    let mut rows: Vec<ContextRow> = Vec::new();
    for (path, doc) in &docs {
        for (name, entry) in named(doc, "contexts") {
            if rows.iter().any(|r| r.context == name) {
                continue;
            }
            let Some(identity) = ClusterIdentity::from_context_name(name) else {
                continue;
            };
            let cluster = entry
                .get("context")
                .and_then(|c| c.get("cluster"))
                .and_then(Value::as_str)
                .unwrap_or(name);
            rows.push(ContextRow {
                context: name.to_string(),
                cluster: identity.key(),
                cluster_id: identity.id(),
                label: identity.label().map(str::to_string),
                server: server_of(cluster),
                master: identity.node_name(0),
                master_state: String::new(),
                running: false,
                current: current == Some(name),
                file: (*path).clone(),
            });
        }
    }
    rows
}

/// Every kubeconfig file kubectl reads, with the text of those that exist.
pub fn read_files(explicit: Option<&Path>) -> anyhow::Result<Vec<(PathBuf, String)>> {
    let env = std::env::var_os("KUBECONFIG");
    let home = dirs::home_dir();
    let mut out = Vec::new();
    for path in kubeconfig::all_files(explicit, env.as_deref(), home.as_deref()) {
        match std::fs::read_to_string(&path) {
            Ok(text) => out.push((path, text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }
    Ok(out)
}

/// The dind contexts, each with its master container's state.
pub async fn list(engine: &Engine, explicit: Option<&Path>) -> anyhow::Result<Vec<ContextRow>> {
    let mut rows = find(&read_files(explicit)?);
    for row in &mut rows {
        let state = engine.container_running(&row.master).await?;
        row.running = state == Some(true);
        row.master_state = match state {
            Some(true) => "running",
            Some(false) => "stopped",
            None => "absent",
        }
        .to_string();
    }
    Ok(rows)
}

/// An API client for the cluster, from the kubeconfig file that holds its context.
pub async fn client_for(
    identity: &ClusterIdentity,
    explicit: Option<&Path>,
) -> anyhow::Result<kube::Client> {
    let context = identity.context_name();
    let row = find(&read_files(explicit)?)
        .into_iter()
        .find(|r| r.context == context)
        .ok_or_else(|| {
            anyhow!("no context {context} in the kubeconfig (a --nodes-only cluster has none)")
        })?;
    crate::ready::client_for_context(&row.file, &context).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(current: &str, contexts: &[(&str, &str)], clusters: &[(&str, &str)]) -> String {
        let mut text =
            format!("apiVersion: v1\nkind: Config\ncurrent-context: \"{current}\"\ncontexts:\n");
        for (name, cluster) in contexts {
            text.push_str(&format!(
                "- name: {name}\n  context:\n    cluster: {cluster}\n    user: {name}\n"
            ));
        }
        text.push_str("clusters:\n");
        for (name, server) in clusters {
            text.push_str(&format!(
                "- name: {name}\n  cluster:\n    server: {server}\n"
            ));
        }
        text
    }

    #[test]
    fn dind_contexts_with_kubectl_precedence() {
        let a = PathBuf::from("/a");
        let b = PathBuf::from("/b");
        let files = vec![
            (
                a.clone(),
                config(
                    "dind-cluster-45",
                    &[("dind-cluster-45", "dind-cluster-45"), ("prod", "prod")],
                    &[("dind-cluster-45", "https://127.0.0.1:40001")],
                ),
            ),
            (PathBuf::from("/broken"), ":\n- not yaml: [".to_string()),
            (
                b.clone(),
                config(
                    "dind",
                    &[
                        ("dind", "dind"),
                        ("dind-i10ctx", "dind-i10ctx"),
                        ("dind-cluster-45", "other"),
                    ],
                    &[
                        ("dind", "https://127.0.0.1:8443"),
                        ("dind-cluster-45", "https://ignored"),
                    ],
                ),
            ),
        ];
        let rows = find(&files);
        type Row<'a> = (
            &'a str,
            &'a str,
            u8,
            Option<&'a str>,
            Option<&'a str>,
            bool,
            &'a Path,
        );
        let got: Vec<Row> = rows
            .iter()
            .map(|r| {
                (
                    r.context.as_str(),
                    r.cluster.as_str(),
                    r.cluster_id,
                    r.label.as_deref(),
                    r.server.as_deref(),
                    r.current,
                    r.file.as_path(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "dind-cluster-45",
                    "cluster-45",
                    45,
                    None,
                    Some("https://127.0.0.1:40001"),
                    true,
                    a.as_path()
                ),
                (
                    "dind",
                    "default",
                    0,
                    None,
                    Some("https://127.0.0.1:8443"),
                    false,
                    b.as_path()
                ),
                (
                    "dind-i10ctx",
                    "i10ctx",
                    0,
                    Some("i10ctx"),
                    None,
                    false,
                    b.as_path()
                ),
            ]
        );
        assert_eq!(rows[2].master, "kube-master-i10ctx");
    }
}
