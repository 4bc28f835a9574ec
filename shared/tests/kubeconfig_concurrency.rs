//! Acceptance tests for the kubeconfig module against real processes and the real kubectl:
//! eight `up`s writing one file at once lose nothing, and `clean` over a two-file
//! `$KUBECONFIG` removes only dind's own entries.

use dind::kubeconfig::{all_files, merge_target, remove_context, write_context, ContextEntries};
use serde_yaml::Value;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Set in a child process: the context name it writes.
const CHILD_CONTEXT: &str = "DIND_TEST_KUBECONFIG_CHILD_CONTEXT";
/// Set in a child process: the kubeconfig it writes to.
const CHILD_FILE: &str = "DIND_TEST_KUBECONFIG_CHILD_FILE";
const WRITERS: usize = 8;

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

const USER_FILE: &str = "\
apiVersion: v1
kind: Config
x-unknown-top: kept
preferences: {}
clusters:
- name: prod
  cluster:
    server: https://prod.example:6443
    x-unknown-cluster: kept
users:
- name: prod-admin
  user:
    token: secret
contexts:
- name: prod
  context:
    cluster: prod
    user: prod-admin
current-context: prod
";

/// Not a test of its own: the body of each writer process the acceptance test spawns.
#[test]
fn kubeconfig_writer_child() {
    let (Some(name), Some(file)) = (
        std::env::var_os(CHILD_CONTEXT),
        std::env::var_os(CHILD_FILE),
    ) else {
        return;
    };
    let name = name.into_string().unwrap();
    // The start barrier: the parent closes every child's stdin at once.
    std::io::stdin().read_to_end(&mut Vec::new()).unwrap();
    let entries =
        ContextEntries::from_admin_conf(ADMIN_CONF, &name, "https://127.0.0.1:40000").unwrap();
    write_context(Path::new(&file), &entries, false).unwrap();
}

#[test]
fn eight_processes_merge_into_one_file_and_lose_nothing() {
    let Some(kubectl) = kubectl() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config");
    fs::write(&file, USER_FILE).unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();

    let names: Vec<String> = (1..=WRITERS).map(|i| format!("dind-cluster-{i}")).collect();
    let exe = std::env::current_exe().unwrap();
    let mut children: Vec<_> = names
        .iter()
        .map(|name| {
            Command::new(&exe)
                .args(["--exact", "kubeconfig_writer_child", "--nocapture"])
                .env(CHILD_CONTEXT, name)
                .env(CHILD_FILE, &file)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in &mut children {
        drop(child.stdin.take());
    }
    for (name, child) in names.iter().zip(children) {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "writer of {name} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let mut expected: Vec<String> = names.iter().map(|n| format!("context/{n}")).collect();
    expected.push("context/prod".into());
    expected.sort();
    assert_eq!(context_names(&kubectl, &file), expected);

    let doc = read_yaml(&file);
    let original: Value = serde_yaml::from_str(USER_FILE).unwrap();
    assert_eq!(doc["x-unknown-top"], original["x-unknown-top"]);
    assert_eq!(doc["clusters"][0], original["clusters"][0]);
    assert_eq!(doc["clusters"][0]["cluster"]["x-unknown-cluster"], "kept");
    assert_eq!(doc["users"][0], original["users"][0]);
    assert_eq!(doc["contexts"][0], original["contexts"][0]);
    assert_eq!(doc["current-context"], "prod");
    assert_eq!(
        fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "config")
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
}

#[test]
fn clean_removes_only_its_entries_from_every_file() {
    let Some(kubectl) = kubectl() else { return };
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    let second = dir.path().join("second");
    let untouched = dir.path().join("untouched");
    let missing = dir.path().join("missing");
    fs::write(&untouched, USER_FILE).unwrap();

    let ours =
        ContextEntries::from_admin_conf(ADMIN_CONF, "dind-foo", "https://[::1]:40001").unwrap();
    let neighbour =
        ContextEntries::from_admin_conf(ADMIN_CONF, "dind-bar", "https://127.0.0.1:40002").unwrap();
    fs::write(&first, USER_FILE).unwrap();
    write_context(&first, &ours, true).unwrap();
    write_context(&second, &neighbour, true).unwrap();
    write_context(&second, &ours, false).unwrap();

    let env = std::env::join_paths([&first, &second, &untouched, &missing]).unwrap();
    let files = all_files(None, Some(&env), None);
    assert_eq!(
        files,
        [
            first.clone(),
            second.clone(),
            untouched.clone(),
            missing.clone()
        ]
    );
    assert_eq!(merge_target(None, Some(&env), None), Some(first.clone()));
    let untouched_inode = fs::metadata(&untouched).unwrap().ino();

    assert_eq!(
        remove_context(&files, "dind-foo").unwrap(),
        [first.clone(), second.clone()]
    );

    assert_eq!(context_names(&kubectl, &first), ["context/prod"]);
    assert_eq!(context_names(&kubectl, &second), ["context/dind-bar"]);
    assert_eq!(current_context(&kubectl, &first), None);
    assert_eq!(
        current_context(&kubectl, &second).as_deref(),
        Some("dind-bar")
    );
    assert!(!missing.exists());
    assert_eq!(fs::metadata(&untouched).unwrap().ino(), untouched_inode);
    assert_eq!(fs::read_to_string(&untouched).unwrap(), USER_FILE);

    let mut first_expected: Value = serde_yaml::from_str(USER_FILE).unwrap();
    first_expected["current-context"] = "".into();
    assert_eq!(read_yaml(&first), first_expected);
    let second_doc = read_yaml(&second);
    for list in ["clusters", "users", "contexts"] {
        let names: Vec<&str> = second_doc[list]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["dind-bar"], "{list}");
    }

    assert_eq!(
        remove_context(&files, "dind-foo").unwrap(),
        Vec::<PathBuf>::new()
    );
}

/// The real kubectl, or `None` (test skipped) when it is missing outside CI.
fn kubectl() -> Option<PathBuf> {
    match which::which("kubectl") {
        Ok(path) => Some(path),
        Err(_) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("kubectl is not on PATH, and CI=true requires these tests to run")
        }
        Err(_) => {
            eprintln!("skipped: kubectl is not on PATH");
            None
        }
    }
}

fn kubectl_config(kubectl: &Path, file: &Path, args: &[&str]) -> std::process::Output {
    Command::new(kubectl)
        .arg("--kubeconfig")
        .arg(file)
        .arg("config")
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .unwrap()
}

fn context_names(kubectl: &Path, file: &Path) -> Vec<String> {
    let out = kubectl_config(kubectl, file, &["get-contexts", "-o", "name"]);
    assert!(
        out.status.success(),
        "kubectl get-contexts on {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut names: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| format!("context/{}", l.trim_start_matches("context/")))
        .collect();
    names.sort();
    names
}

/// kubectl's own view of `current-context`; `None` when it says none is set.
fn current_context(kubectl: &Path, file: &Path) -> Option<String> {
    let out = kubectl_config(kubectl, file, &["current-context"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        assert!(stderr.contains("current-context is not set"), "{stderr}");
        return None;
    }
    Some(String::from_utf8(out.stdout).unwrap().trim().to_string())
}

fn read_yaml(file: &Path) -> Value {
    serde_yaml::from_str(&fs::read_to_string(file).unwrap()).unwrap()
}
