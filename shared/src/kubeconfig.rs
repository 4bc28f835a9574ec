//! The kubectl context dind writes for each cluster on `up` and removes on `clean`.
//!
//! A kubeconfig belongs to its user: everything dind does not own must come out of a
//! write exactly as it went in, including fields this crate has never heard of. So
//! documents are handled as untyped YAML ([`serde_yaml::Value`]), never through a struct
//! that could drop fields. Every write is locked with client-go's `<file>.lock` scheme, so
//! dind and kubectl exclude each other, and atomic (temp file, fsync, rename), so a crash
//! leaves the old file or the new one, never half of one. Like kubectl's own writes, a
//! rewrite keeps data, not layout: comments and quoting style are not preserved.
//!
//! Pure: [`ContextEntries::from_admin_conf`], [`merge`], [`remove`], [`all_files`].
//! I/O: [`merge_target`] (it asks which files exist), [`write_context`], [`remove_context`].

use anyhow::{anyhow, bail, Context, Result};
use serde_yaml::{Mapping, Value};
use std::ffi::{OsStr, OsString};
use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a write waits for another writer's lock before giving up. client-go itself
/// does not wait at all; a short wait lets parallel `up`s of several clusters succeed.
const LOCK_TIMEOUT: Duration = Duration::from_secs(30);

/// Each list of named entries and the key that holds an entry's body.
const NAMED_LISTS: [(&str, &str); 3] = [
    ("clusters", "cluster"),
    ("users", "user"),
    ("contexts", "context"),
];

/// The cluster, user and context entries of one dind cluster, all under one name
/// (`dind`, `dind-cluster-10`, ...; see [`crate::ClusterIdentity::context_name`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ContextEntries {
    name: String,
    /// Whole list items (`{name, cluster: {...}}` and so on), in [`NAMED_LISTS`] order.
    items: [Value; 3],
}

impl ContextEntries {
    /// Builds the entries from the text of a node's `/etc/kubernetes/admin.conf`.
    ///
    /// The context kubeadm made current (or the only one) is followed to its cluster and
    /// user; all three are renamed to `name` and the cluster's `server` becomes `server`,
    /// e.g. `https://127.0.0.1:32768` or `https://[::1]:32768` (`format!("https://{addr}")`
    /// of a `SocketAddr` gives both forms). Every other field is kept as kubeadm wrote it.
    pub fn from_admin_conf(admin_conf: &str, name: &str, server: &str) -> Result<Self> {
        if name.is_empty() {
            bail!("a kubeconfig context needs a non-empty name");
        }
        let doc = parse_document(admin_conf)?.ok_or_else(|| anyhow!("admin.conf is empty"))?;

        let current = doc
            .get("current-context")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty());
        let contexts = items(&doc, "contexts")?;
        let context_item = match current {
            Some(current) => find_named(contexts, current)
                .ok_or_else(|| anyhow!("admin.conf has no context named {current:?}"))?,
            None => match contexts {
                [only] => only,
                _ => bail!(
                    "admin.conf has {} contexts and no current-context; expected exactly one",
                    contexts.len()
                ),
            },
        };
        let reference = |key: &str| {
            context_item
                .get("context")
                .and_then(|body| body.get(key))
                .and_then(Value::as_str)
                .ok_or_else(|| anyhow!("the context in admin.conf names no {key}"))
        };
        let cluster_ref = reference("cluster")?;
        let user_ref = reference("user")?;
        let cluster_item = find_named(items(&doc, "clusters")?, cluster_ref)
            .ok_or_else(|| anyhow!("admin.conf has no cluster named {cluster_ref:?}"))?;
        let user_item = find_named(items(&doc, "users")?, user_ref)
            .ok_or_else(|| anyhow!("admin.conf has no user named {user_ref:?}"))?;

        let renamed = |item: &Value, body_key: &str, patch: &[(&str, &str)]| -> Result<Value> {
            let mut item = item.clone();
            let map = item
                .as_mapping_mut()
                .ok_or_else(|| anyhow!("admin.conf: a {body_key} entry is not a mapping"))?;
            map.insert("name".into(), name.into());
            let body = map
                .get_mut(body_key)
                .and_then(Value::as_mapping_mut)
                .ok_or_else(|| anyhow!("admin.conf: the {body_key} entry has no body"))?;
            for (key, value) in patch {
                body.insert((*key).into(), (*value).into());
            }
            Ok(item)
        };
        Ok(ContextEntries {
            name: name.to_string(),
            items: [
                renamed(cluster_item, "cluster", &[("server", server)])?,
                renamed(user_item, "user", &[])?,
                renamed(
                    context_item,
                    "context",
                    &[("cluster", name), ("user", name)],
                )?,
            ],
        })
    }

    /// The one name of the cluster, the user and the context.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Merges `entries` into the kubeconfig text `existing` and returns the new text.
///
/// Each entry replaces the item of the same name in its list (in place, dropping any
/// later duplicates of that name) or is appended. Empty text gets a fresh document.
/// Everything else, known or not, is kept.
///
/// `current-context` changes only when `set_current` is true. dind passes true only for
/// the default cluster (ID 0, no label), as kubeadm-dind-cluster did: bringing up an
/// extra cluster should not switch where the user's plain `kubectl` commands go.
pub fn merge(existing: &str, entries: &ContextEntries, set_current: bool) -> Result<String> {
    let mut doc = parse_document(existing)?.unwrap_or_else(fresh_document);
    for ((list_key, _), item) in NAMED_LISTS.iter().zip(&entries.items) {
        let list = items_mut(&mut doc, list_key)?;
        match list.iter().position(|i| has_name(i, &entries.name)) {
            Some(at) => {
                list[at] = item.clone();
                let mut index = 0;
                list.retain(|i| {
                    let keep = index <= at || !has_name(i, &entries.name);
                    index += 1;
                    keep
                });
            }
            None => list.push(item.clone()),
        }
    }
    if set_current {
        doc.insert("current-context".into(), entries.name.as_str().into());
    }
    crate::yaml11::to_string(&Value::Mapping(doc)).context("cannot serialize the kubeconfig")
}

/// Removes the cluster, user and context named `name` from the kubeconfig text
/// `existing`; clears `current-context` (to `""`, as kubectl does) only if it named that
/// context. Returns the new text, or `None` when nothing changed.
pub fn remove(existing: &str, name: &str) -> Result<Option<String>> {
    let Some(mut doc) = parse_document(existing)? else {
        return Ok(None);
    };
    let mut changed = false;
    for (list_key, _) in NAMED_LISTS {
        if doc.get(list_key).is_none_or(Value::is_null) {
            continue;
        }
        let list = items_mut(&mut doc, list_key)?;
        let before = list.len();
        list.retain(|item| !has_name(item, name));
        changed |= list.len() != before;
    }
    if doc.get("current-context").and_then(Value::as_str) == Some(name) {
        doc.insert("current-context".into(), "".into());
        changed = true;
    }
    if !changed {
        return Ok(None);
    }
    crate::yaml11::to_string(&Value::Mapping(doc))
        .map(Some)
        .context("cannot serialize the kubeconfig")
}

/// The file `up` writes its context into, as kubectl (and kind) choose it: `--kubeconfig`
/// if given; else from `$KUBECONFIG` (a path list) the only entry, or the first entry that
/// is an existing file, or if none exists the last entry; else `~/.kube/config`.
/// `None` only when nothing is set and there is no home directory.
pub fn merge_target(
    explicit: Option<&Path>,
    kubeconfig_env: Option<&OsStr>,
    home: Option<&Path>,
) -> Option<PathBuf> {
    pick_merge_target(all_files(explicit, kubeconfig_env, home), |p| p.is_file())
}

/// Every file `clean` must look in: `--kubeconfig` alone if given, else every entry of
/// `$KUBECONFIG` (empty entries and duplicates dropped), else `~/.kube/config`.
pub fn all_files(
    explicit: Option<&Path>,
    kubeconfig_env: Option<&OsStr>,
    home: Option<&Path>,
) -> Vec<PathBuf> {
    if let Some(explicit) = explicit.filter(|p| !p.as_os_str().is_empty()) {
        return vec![explicit.to_path_buf()];
    }
    let mut from_env: Vec<PathBuf> = Vec::new();
    for path in kubeconfig_env
        .map(std::env::split_paths)
        .into_iter()
        .flatten()
    {
        if !path.as_os_str().is_empty() && !from_env.contains(&path) {
            from_env.push(path);
        }
    }
    if !from_env.is_empty() {
        return from_env;
    }
    home.map(|home| home.join(".kube").join("config"))
        .into_iter()
        .collect()
}

/// Merges `entries` into the kubeconfig at `path` (see [`merge`] for what changes and
/// for `set_current`), creating the file and its directory if needed. The file ends up
/// with mode 0600.
pub fn write_context(path: &Path, entries: &ContextEntries, set_current: bool) -> Result<()> {
    write_context_within(path, entries, set_current, LOCK_TIMEOUT)
}

/// Removes the entries named `name` from each of `paths` (see [`remove`]) and returns
/// the files that held any. Files without them, or missing, are neither locked nor
/// rewritten. Every file is tried even if one fails; the error then names each failure.
pub fn remove_context(paths: &[PathBuf], name: &str) -> Result<Vec<PathBuf>> {
    let mut cleaned = Vec::new();
    let mut failures = Vec::new();
    for path in paths {
        match remove_from_file(path, name, LOCK_TIMEOUT) {
            Ok(true) => cleaned.push(path.clone()),
            Ok(false) => {}
            Err(error) => failures.push(format!("{error:#}")),
        }
    }
    if !failures.is_empty() {
        bail!(
            "cannot remove context {name} from every kubeconfig file: {}",
            failures.join("; ")
        );
    }
    Ok(cleaned)
}

fn write_context_within(
    path: &Path,
    entries: &ContextEntries,
    set_current: bool,
    lock_timeout: Duration,
) -> Result<()> {
    if let Some(parent) = non_empty_parent(path) {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .with_context(|| format!("cannot create directory {}", parent.display()))?;
    }
    let _lock = FileLock::acquire(path, lock_timeout)?;
    let target = resolve_symlinks(path)?;
    let existing = read_or_empty(&target)?;
    let merged = merge(&existing, entries, set_current).with_context(|| {
        format!(
            "cannot merge context {} into {}",
            entries.name,
            target.display()
        )
    })?;
    write_atomically(&target, &merged)
}

fn remove_from_file(path: &Path, name: &str, lock_timeout: Duration) -> Result<bool> {
    let target = resolve_symlinks(path)?;
    let in_file = |text: &str| {
        remove(text, name)
            .with_context(|| format!("cannot remove context {name} from {}", target.display()))
    };
    // Looking before locking keeps `clean` from creating lock files next to every
    // kubeconfig the user has; the decision is made again under the lock.
    if in_file(&read_or_empty(&target)?)?.is_none() {
        return Ok(false);
    }
    let _lock = FileLock::acquire(path, lock_timeout)?;
    match in_file(&read_or_empty(&target)?)? {
        Some(text) => write_atomically(&target, &text).map(|()| true),
        None => Ok(false),
    }
}

/// client-go's lock: `<path>.lock`, created exclusively, removed when dropped.
struct FileLock {
    path: PathBuf,
}

impl FileLock {
    fn acquire(kubeconfig: &Path, timeout: Duration) -> Result<FileLock> {
        let mut lock_name = OsString::from(kubeconfig.as_os_str());
        lock_name.push(".lock");
        let path = PathBuf::from(lock_name);
        let deadline = Instant::now() + timeout;
        // The lock file offers no way to be told when it goes away, so poll, briefly.
        let mut pause = Duration::from_millis(5);
        loop {
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
            {
                Ok(_) => return Ok(FileLock { path }),
                Err(error) if error.kind() == ErrorKind::AlreadyExists => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        bail!(
                            "timed out after {}s waiting for the lock {} on {}; if no dind or \
                             kubectl is running, a crashed one left it behind: remove {}",
                            timeout.as_secs(),
                            path.display(),
                            kubeconfig.display(),
                            path.display()
                        );
                    }
                    std::thread::sleep(pause.min(left));
                    pause = (pause * 2).min(Duration::from_millis(200));
                }
                Err(error) => {
                    return Err(error)
                        .with_context(|| format!("cannot create lock file {}", path.display()))
                }
            }
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Nothing can be returned from here; a lock left behind makes the next write
        // time out with a message that says which file to remove.
        let _ = fs::remove_file(&self.path);
    }
}

/// Follows symlinks to the real file, so that renaming over it keeps a user's
/// `~/.kube/config -> dotfiles/...` link instead of replacing the link with a file.
fn resolve_symlinks(path: &Path) -> Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..40 {
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = fs::read_link(&current)
                    .with_context(|| format!("cannot read symlink {}", current.display()))?;
                current = match non_empty_parent(&current) {
                    Some(parent) if link.is_relative() => parent.join(link),
                    _ => link,
                };
            }
            Ok(_) => return Ok(current),
            Err(error) if error.kind() == ErrorKind::NotFound => return Ok(current),
            Err(error) => {
                return Err(error).with_context(|| format!("cannot stat {}", current.display()))
            }
        }
    }
    bail!("too many levels of symlinks at {}", path.display())
}

fn read_or_empty(path: &Path) -> Result<String> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(String::new()),
        Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn write_atomically(target: &Path, text: &str) -> Result<()> {
    let dir = non_empty_parent(target).unwrap_or(Path::new("."));
    let file_name = target.file_name().unwrap_or(OsStr::new("kubeconfig"));
    let mut prefix = OsString::from(".");
    prefix.push(file_name);
    prefix.push(".dind-");
    let mut temp = tempfile::Builder::new()
        .prefix(&prefix)
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    let temp_path = temp.path().to_path_buf();
    let context = || format!("cannot write {}", temp_path.display());
    temp.write_all(text.as_bytes()).with_context(context)?;
    temp.as_file()
        .set_permissions(Permissions::from_mode(0o600))
        .with_context(context)?;
    keep_owner(temp.as_file(), target)?;
    temp.as_file().sync_all().with_context(context)?;
    temp.persist(target)
        .map_err(|error| error.error)
        .with_context(|| format!("cannot replace {}", target.display()))?;
    // The rename is durable only once the directory entry is.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync directory {}", dir.display()))
}

/// A root-run dind must not hand the user's kubeconfig over to root.
fn keep_owner(replacement: &File, target: &Path) -> Result<()> {
    let old = match fs::metadata(target) {
        Ok(meta) => meta,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(()),
        Err(error) => {
            return Err(error).with_context(|| format!("cannot stat {}", target.display()))
        }
    };
    let new = replacement
        .metadata()
        .with_context(|| format!("cannot stat the replacement for {}", target.display()))?;
    if (old.uid(), old.gid()) == (new.uid(), new.gid()) {
        return Ok(());
    }
    std::os::unix::fs::fchown(replacement, Some(old.uid()), Some(old.gid())).with_context(|| {
        format!(
            "cannot give the new {} its owner {}:{}",
            target.display(),
            old.uid(),
            old.gid()
        )
    })
}

fn non_empty_parent(path: &Path) -> Option<&Path> {
    path.parent().filter(|p| !p.as_os_str().is_empty())
}

/// The top-level mapping of a kubeconfig, or `None` for an empty (or comment-only) text.
fn parse_document(text: &str) -> Result<Option<Mapping>> {
    match serde_yaml::from_str::<Value>(text).context("not valid YAML")? {
        Value::Null => Ok(None),
        Value::Mapping(map) => Ok(Some(map)),
        _ => bail!("not a kubeconfig: the top level is not a mapping"),
    }
}

fn fresh_document() -> Mapping {
    let mut doc = Mapping::new();
    doc.insert("apiVersion".into(), "v1".into());
    doc.insert("kind".into(), "Config".into());
    doc.insert("preferences".into(), Value::Mapping(Mapping::new()));
    doc.insert("current-context".into(), "".into());
    doc
}

fn items<'a>(doc: &'a Mapping, list_key: &str) -> Result<&'a [Value]> {
    match doc.get(list_key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Sequence(list)) => Ok(list),
        Some(_) => bail!("not a kubeconfig: `{list_key}` is not a list"),
    }
}

/// The list under `list_key`, created empty when absent or null (kubectl writes
/// `clusters: null` for an empty list).
fn items_mut<'a>(doc: &'a mut Mapping, list_key: &str) -> Result<&'a mut Vec<Value>> {
    let slot = doc
        .entry(list_key.into())
        .or_insert(Value::Sequence(Vec::new()));
    if slot.is_null() {
        *slot = Value::Sequence(Vec::new());
    }
    slot.as_sequence_mut()
        .ok_or_else(|| anyhow!("not a kubeconfig: `{list_key}` is not a list"))
}

fn find_named<'a>(list: &'a [Value], name: &str) -> Option<&'a Value> {
    list.iter().find(|item| has_name(item, name))
}

fn has_name(item: &Value, name: &str) -> bool {
    item.get("name").and_then(Value::as_str) == Some(name)
}

fn pick_merge_target(
    mut candidates: Vec<PathBuf>,
    is_file: impl Fn(&Path) -> bool,
) -> Option<PathBuf> {
    if candidates.len() > 1 {
        if let Some(existing) = candidates.iter().find(|p| is_file(p)) {
            return Some(existing.clone());
        }
    }
    candidates.pop()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADMIN_CONF: &str = "\
apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Q0EtREFUQQ==
    server: https://kube-master:6443
  name: kubernetes
contexts:
- context:
    cluster: kubernetes
    user: kubernetes-admin
  name: kubernetes-admin@kubernetes
current-context: kubernetes-admin@kubernetes
kind: Config
preferences: {}
users:
- name: kubernetes-admin
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
";

    /// A user's file with something of everything dind must not lose.
    const USER_FILE: &str = "\
apiVersion: v1
kind: Config
x-top-level: kept
preferences:
  colors: true
  x-pref: kept
extensions:
- name: some-tool
  extension:
    any: thing
clusters:
- name: prod
  cluster:
    server: https://prod:6443
    x-cluster-field: kept
- name: dind-cluster-10
  cluster:
    server: https://127.0.0.1:1
users:
- name: prod-admin
  user:
    token: abc
    x-user-field: kept
- name: dind-cluster-10
  user:
    token: stale
contexts:
- name: prod
  context:
    cluster: prod
    user: prod-admin
    namespace: web
    x-context-field: kept
- name: dind-cluster-10
  context:
    cluster: dind-cluster-10
    user: dind-cluster-10
current-context: prod
";

    fn entries(name: &str) -> ContextEntries {
        ContextEntries::from_admin_conf(ADMIN_CONF, name, "https://127.0.0.1:32768").unwrap()
    }

    fn yaml(text: &str) -> Value {
        serde_yaml::from_str(text).unwrap()
    }

    /// The value at a path of mapping keys and list indexes, e.g. `clusters.0.name`.
    fn at(doc: &Value, path: &str) -> Value {
        path.split('.')
            .fold(doc.clone(), |value, step| match step.parse::<usize>() {
                Ok(index) => value.get(index).cloned().unwrap_or(Value::Null),
                Err(_) => value.get(step).cloned().unwrap_or(Value::Null),
            })
    }

    fn names(doc: &Value, list: &str) -> Vec<String> {
        doc.get(list)
            .and_then(Value::as_sequence)
            .map(|items| {
                items
                    .iter()
                    .map(|i| i.get("name").and_then(Value::as_str).unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn admin_conf_becomes_three_entries_under_one_name() {
        let e = entries("dind-cluster-10");
        assert_eq!(e.name(), "dind-cluster-10");
        let expected = [
            "name: dind-cluster-10\ncluster: {certificate-authority-data: Q0EtREFUQQ==, server: 'https://127.0.0.1:32768'}",
            "name: dind-cluster-10\nuser: {client-certificate-data: Q0VSVA==, client-key-data: S0VZ}",
            "name: dind-cluster-10\ncontext: {cluster: dind-cluster-10, user: dind-cluster-10}",
        ];
        for (item, expected) in e.items.iter().zip(expected) {
            assert_eq!(item, &yaml(expected));
        }
    }

    #[test]
    fn admin_conf_server_may_be_ipv6_and_extra_fields_survive() {
        let conf = ADMIN_CONF.replace(
            "    server: https://kube-master:6443\n",
            "    server: https://kube-master:6443\n    tls-server-name: kubernetes\n",
        );
        let e = ContextEntries::from_admin_conf(&conf, "dind", "https://[::1]:40000").unwrap();
        let cluster = &e.items[0];
        assert_eq!(at(cluster, "cluster.server"), yaml("'https://[::1]:40000'"));
        assert_eq!(at(cluster, "cluster.tls-server-name"), yaml("kubernetes"));
    }

    #[test]
    fn admin_conf_without_current_context_uses_its_only_context() {
        let conf = ADMIN_CONF.replace("current-context: kubernetes-admin@kubernetes\n", "");
        assert_eq!(
            ContextEntries::from_admin_conf(&conf, "dind", "https://127.0.0.1:1").unwrap(),
            ContextEntries::from_admin_conf(ADMIN_CONF, "dind", "https://127.0.0.1:1").unwrap()
        );
    }

    #[test]
    fn broken_admin_conf_is_refused() {
        let cases = [
            ("", "empty"),
            ("- a\n- b\n", "not a mapping"),
            ("contexts: {a: b}\n", "not a list"),
            ("contexts: []\n", "expected exactly one"),
            (
                &ADMIN_CONF.replace(
                    "current-context: kubernetes-admin@kubernetes",
                    "current-context: other",
                ),
                "no context named \"other\"",
            ),
            (
                &ADMIN_CONF.replace("  name: kubernetes\n", "  name: elsewhere\n"),
                "no cluster named \"kubernetes\"",
            ),
            (
                &ADMIN_CONF.replace("- name: kubernetes-admin", "- name: nobody"),
                "no user named \"kubernetes-admin\"",
            ),
        ];
        for (conf, message) in cases {
            let error =
                ContextEntries::from_admin_conf(conf, "dind", "https://127.0.0.1:1").unwrap_err();
            assert!(
                format!("{error:#}").contains(message),
                "{conf:?}: {error:#}"
            );
        }
        assert!(ContextEntries::from_admin_conf(ADMIN_CONF, "", "https://x").is_err());
    }

    #[test]
    fn merge_into_nothing_makes_a_fresh_document() {
        for existing in ["", "\n", "# only a comment\n", "~\n"] {
            let doc = yaml(&merge(existing, &entries("dind"), false).unwrap());
            assert_eq!(at(&doc, "apiVersion"), yaml("v1"), "{existing:?}");
            assert_eq!(at(&doc, "kind"), yaml("Config"));
            assert_eq!(at(&doc, "preferences"), yaml("{}"));
            assert_eq!(at(&doc, "current-context"), yaml("''"));
            for list in ["clusters", "users", "contexts"] {
                assert_eq!(names(&doc, list), ["dind"], "{list}");
            }
        }
    }

    #[test]
    fn merge_replaces_by_name_appends_and_keeps_everything_else() {
        struct Case {
            name: &'static str,
            existing: &'static str,
            set_current: bool,
            contexts: &'static [&'static str],
            current: &'static str,
        }
        let cases = [
            Case {
                name: "dind-cluster-10",
                existing: USER_FILE,
                set_current: false,
                contexts: &["prod", "dind-cluster-10"],
                current: "prod",
            },
            Case {
                name: "dind",
                existing: USER_FILE,
                set_current: false,
                contexts: &["prod", "dind-cluster-10", "dind"],
                current: "prod",
            },
            Case {
                name: "dind",
                existing: USER_FILE,
                set_current: true,
                contexts: &["prod", "dind-cluster-10", "dind"],
                current: "dind",
            },
            Case {
                name: "dind-cluster-10",
                existing: "apiVersion: v1\nkind: Config\nclusters: null\nusers: null\ncontexts: null\ncurrent-context: \"\"\n",
                set_current: true,
                contexts: &["dind-cluster-10"],
                current: "dind-cluster-10",
            },
        ];
        for case in cases {
            let merged =
                yaml(&merge(case.existing, &entries(case.name), case.set_current).unwrap());
            let label = format!("{} set_current={}", case.name, case.set_current);
            assert_eq!(names(&merged, "contexts"), case.contexts, "{label}");
            assert_eq!(
                names(&merged, "clusters").len(),
                case.contexts.len(),
                "{label}"
            );
            assert_eq!(
                names(&merged, "users").len(),
                case.contexts.len(),
                "{label}"
            );
            assert_eq!(
                at(&merged, "current-context"),
                yaml(case.current),
                "{label}"
            );
            let ours = entries(case.name);
            for ((list, _), item) in NAMED_LISTS.iter().zip(&ours.items) {
                let found = find_named(
                    items(merged.as_mapping().unwrap(), list).unwrap(),
                    case.name,
                );
                assert_eq!(found, Some(item), "{label}: {list}");
            }
        }
    }

    #[test]
    fn merge_keeps_unknown_fields_at_every_level() {
        let merged = yaml(&merge(USER_FILE, &entries("dind-cluster-10"), true).unwrap());
        let original = yaml(USER_FILE);
        for path in [
            "x-top-level",
            "preferences",
            "extensions",
            "clusters.0",
            "users.0",
            "contexts.0",
        ] {
            assert_eq!(at(&merged, path), at(&original, path), "{path}");
        }
        assert_eq!(
            at(&merged, "clusters.0.cluster.x-cluster-field"),
            yaml("kept")
        );
        assert_eq!(at(&merged, "users.0.user.x-user-field"), yaml("kept"));
        assert_eq!(
            at(&merged, "contexts.0.context.x-context-field"),
            yaml("kept")
        );
        assert_eq!(at(&merged, "preferences.x-pref"), yaml("kept"));
        assert_eq!(at(&merged, "extensions.0.extension.any"), yaml("thing"));
        assert_eq!(
            at(&merged, "clusters.1.cluster.server"),
            yaml("'https://127.0.0.1:32768'")
        );
        assert_eq!(
            at(&merged, "users.1.user.token"),
            Value::Null,
            "the stale user is replaced"
        );
    }

    #[test]
    fn merge_drops_later_duplicates_of_its_own_name_only() {
        let existing = "\
clusters:
- {name: a, cluster: {server: 'https://a'}}
- {name: dind, cluster: {server: 'https://old1'}}
- {name: b, cluster: {server: 'https://b'}}
- {name: dind, cluster: {server: 'https://old2'}}
- {name: b, cluster: {server: 'https://b2'}}
";
        let merged = yaml(&merge(existing, &entries("dind"), false).unwrap());
        assert_eq!(names(&merged, "clusters"), ["a", "dind", "b", "b"]);
        assert_eq!(
            at(&merged, "clusters.1.cluster.server"),
            yaml("'https://127.0.0.1:32768'")
        );
    }

    #[test]
    fn merge_refuses_what_is_not_a_kubeconfig() {
        for existing in [
            "[1, 2]\n",
            "clusters: oops\n",
            "a: [\n",
            "a: 1\n---\nb: 2\n",
        ] {
            assert!(
                merge(existing, &entries("dind"), false).is_err(),
                "{existing:?}"
            );
        }
    }

    #[test]
    fn remove_drops_exactly_its_entries_and_follows_current_context_rules() {
        struct Case {
            name: &'static str,
            current_before: &'static str,
            changed: bool,
            current_after: &'static str,
        }
        let cases = [
            Case {
                name: "dind-cluster-10",
                current_before: "prod",
                changed: true,
                current_after: "prod",
            },
            Case {
                name: "dind-cluster-10",
                current_before: "dind-cluster-10",
                changed: true,
                current_after: "''",
            },
            Case {
                name: "dind",
                current_before: "prod",
                changed: false,
                current_after: "prod",
            },
            // A dangling current-context of ours is still ours to clear.
            Case {
                name: "dind",
                current_before: "dind",
                changed: true,
                current_after: "''",
            },
            Case {
                name: "prod-ish",
                current_before: "prod",
                changed: false,
                current_after: "prod",
            },
        ];
        for case in cases {
            let existing = USER_FILE.replace(
                "current-context: prod",
                &format!("current-context: {}", case.current_before),
            );
            let label = format!("{} (current {})", case.name, case.current_before);
            let result = remove(&existing, case.name).unwrap();
            assert_eq!(result.is_some(), case.changed, "{label}");
            let after = yaml(result.as_deref().unwrap_or(&existing));
            assert_eq!(
                at(&after, "current-context"),
                yaml(case.current_after),
                "{label}"
            );
            for list in ["clusters", "users", "contexts"] {
                assert!(
                    !names(&after, list).contains(&case.name.to_string()),
                    "{label}: {list}"
                );
            }
            let original = yaml(&existing);
            for path in [
                "x-top-level",
                "preferences",
                "extensions",
                "clusters.0",
                "users.0",
                "contexts.0",
                "apiVersion",
                "kind",
            ] {
                assert_eq!(at(&after, path), at(&original, path), "{label}: {path}");
            }
        }
    }

    #[test]
    fn remove_leaves_empty_and_foreign_files_alone() {
        for existing in [
            "",
            "apiVersion: v1\nkind: Config\nclusters: null\n",
            "clusters: []\n",
        ] {
            assert_eq!(remove(existing, "dind").unwrap(), None, "{existing:?}");
        }
        assert!(remove("clusters: 7\n", "dind").is_err());
    }

    #[test]
    fn remove_undoes_merge() {
        let merged = merge(USER_FILE, &entries("dind"), false).unwrap();
        let removed = remove(&merged, "dind").unwrap().unwrap();
        assert_eq!(yaml(&removed), yaml(USER_FILE));
    }

    #[test]
    fn all_files_follows_kubectl() {
        type Case<'a> = (
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a Path>,
            &'a [&'a str],
        );
        let home = Some(Path::new("/home/u"));
        let cases: [Case; 8] = [
            (Some("/x"), Some("/a:/b"), home, &["/x"]),
            (Some(""), Some("/a"), home, &["/a"]),
            (None, Some("/a:/b"), home, &["/a", "/b"]),
            (None, Some(":/a::/b:/a:"), home, &["/a", "/b"]),
            (None, Some("rel/config"), home, &["rel/config"]),
            (None, Some(""), home, &["/home/u/.kube/config"]),
            (None, None, home, &["/home/u/.kube/config"]),
            (None, None, None, &[]),
        ];
        for (explicit, env, home, expected) in cases {
            let files = all_files(explicit.map(Path::new), env.map(OsStr::new), home);
            let expected: Vec<PathBuf> = expected.iter().map(PathBuf::from).collect();
            assert_eq!(files, expected, "{explicit:?} {env:?} {home:?}");
        }
    }

    #[test]
    fn merge_target_takes_the_first_existing_file_else_the_last() {
        let cases: [(&[&str], &[&str], Option<&str>); 6] = [
            (&["/a"], &[], Some("/a")),
            (&["/a", "/b", "/c"], &["/b", "/c"], Some("/b")),
            (&["/a", "/b", "/c"], &["/a"], Some("/a")),
            (&["/a", "/b", "/c"], &[], Some("/c")),
            (&["/a"], &["/other"], Some("/a")),
            (&[], &[], None),
        ];
        for (candidates, existing, expected) in cases {
            let picked = pick_merge_target(candidates.iter().map(PathBuf::from).collect(), |p| {
                existing.iter().any(|e| Path::new(e) == p)
            });
            assert_eq!(
                picked,
                expected.map(PathBuf::from),
                "{candidates:?} {existing:?}"
            );
        }
    }

    #[test]
    fn merge_target_looks_at_real_files() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            dir.path().join("a"),
            dir.path().join("b"),
            dir.path().join("c"),
        );
        fs::create_dir(&a).unwrap(); // a directory is not a kubeconfig
        fs::write(&c, "").unwrap();
        let env = std::env::join_paths([&a, &b, &c]).unwrap();
        assert_eq!(merge_target(None, Some(&env), None), Some(c.clone()));
        fs::remove_file(&c).unwrap();
        assert_eq!(merge_target(None, Some(&env), None), Some(c));
        assert_eq!(
            merge_target(None, None, Some(dir.path())),
            Some(dir.path().join(".kube/config"))
        );
    }

    #[test]
    fn write_context_creates_private_dir_and_file_and_tightens_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new/.kube/config");
        write_context(&path, &entries("dind"), true).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert_eq!(
            at(
                &yaml(&fs::read_to_string(&path).unwrap()),
                "current-context"
            ),
            yaml("dind")
        );

        fs::set_permissions(&path, Permissions::from_mode(0o644)).unwrap();
        write_context(&path, &entries("dind-foo"), false).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(
            fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1,
            "no temp or lock file left"
        );
    }

    #[test]
    fn write_context_keeps_a_symlinked_kubeconfig_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("dotfiles-kubeconfig");
        fs::write(&real, USER_FILE).unwrap();
        let link = dir.path().join("config");
        std::os::unix::fs::symlink("dotfiles-kubeconfig", &link).unwrap();
        write_context(&link, &entries("dind"), false).unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        let doc = yaml(&fs::read_to_string(&real).unwrap());
        assert_eq!(names(&doc, "contexts"), ["prod", "dind-cluster-10", "dind"]);

        assert_eq!(
            remove_context(std::slice::from_ref(&link), "dind").unwrap(),
            std::slice::from_ref(&link)
        );
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(yaml(&fs::read_to_string(&real).unwrap()), yaml(USER_FILE));
    }

    #[test]
    fn a_held_lock_times_out_naming_the_lock_file_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        fs::write(&path, USER_FILE).unwrap();
        let lock = dir.path().join("config.lock");
        fs::write(&lock, "").unwrap();
        let error = write_context_within(&path, &entries("dind"), false, Duration::from_millis(50))
            .unwrap_err();
        let message = format!("{error:#}");
        assert!(message.contains(&lock.display().to_string()), "{message}");
        assert!(message.contains("remove"), "{message}");
        assert_eq!(fs::read_to_string(&path).unwrap(), USER_FILE);
        assert!(lock.exists(), "someone else's lock is not ours to remove");

        let error =
            remove_from_file(&path, "dind-cluster-10", Duration::from_millis(50)).unwrap_err();
        assert!(format!("{error:#}").contains("config.lock"));
        assert_eq!(fs::read_to_string(&path).unwrap(), USER_FILE);
    }

    #[test]
    fn an_unreadable_kubeconfig_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        fs::write(&path, "clusters: [\n").unwrap();
        let error = write_context(&path, &entries("dind"), true).unwrap_err();
        assert!(
            format!("{error:#}").contains(&path.display().to_string()),
            "{error:#}"
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), "clusters: [\n");
        assert!(!dir.path().join("config.lock").exists());
    }

    #[test]
    fn remove_context_tries_every_file_and_reports_failures() {
        let dir = tempfile::tempdir().unwrap();
        let broken = dir.path().join("broken");
        let good = dir.path().join("good");
        fs::write(&broken, "clusters: 7\n").unwrap();
        fs::write(&good, USER_FILE).unwrap();
        let error = remove_context(&[broken.clone(), good.clone()], "dind-cluster-10").unwrap_err();
        assert!(
            format!("{error:#}").contains(&broken.display().to_string()),
            "{error:#}"
        );
        assert!(
            !names(&yaml(&fs::read_to_string(&good).unwrap()), "contexts")
                .contains(&"dind-cluster-10".to_string())
        );
    }
}
