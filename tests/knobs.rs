//! kind's knobs through the plugins, with no Docker: `up --dry-run --show kubeadm` and
//! `--show containerd` print what `up` would write into the nodes, patches applied, and
//! bad patches are refused with exit 2.

mod support;

use support::*;

#[test]
fn dry_run_shows_every_nodes_kubeadm_documents_and_the_containerd_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("dind.yaml");
    std::fs::write(
        &config,
        "kubeadm-config-patches:\n- |\n  kind: ClusterConfiguration\n  apiServer:\n    extraArgs:\n    - name: v\n      value: \"4\"\n\
         containerd-config-patches:\n- |\n  [plugins.\"io.containerd.cri.v1.images\"]\n  max_concurrent_downloads = 7\n",
    )
    .expect("write");
    let config = config.to_str().expect("utf-8");
    let env = [("DIND_CONFIG", config)];
    let kubeadm = run_ok(
        "docker-dind",
        &[
            "up",
            "--dry-run",
            "--show",
            "kubeadm",
            "--masters",
            "3",
            "--nodes",
            "1",
        ],
        &env,
    );
    let headers: Vec<&str> = kubeadm
        .lines()
        .filter(|l| l.starts_with("# kube-"))
        .map(|l| l.split(':').next().unwrap_or_default())
        .collect();
    assert_eq!(
        headers,
        [
            "# kube-master (master)",
            "# kube-master-2 (master)",
            "# kube-master-3 (master)",
            "# kube-node-1 (worker)"
        ],
        "{kubeadm}"
    );
    assert!(
        kubeadm
            .lines()
            .any(|l| l.contains("`kubeadm init --config /dind/kubeadm.conf")
                && l.ends_with(" --upload-certs`")),
        "{kubeadm}"
    );
    assert!(kubeadm.contains("controlPlaneEndpoint: kube-master-lb:6443"));
    assert_eq!(kubeadm.matches("certificateKey:").count(), 3, "{kubeadm}");
    assert!(
        kubeadm.contains("- name: v\n    value: '4'"),
        "the patch: {kubeadm}"
    );

    let containerd = run_ok(
        "kubectl-dind",
        &["up", "--dry-run", "--show", "containerd"],
        &env,
    );
    assert!(
        containerd.contains("max_concurrent_downloads = 7"),
        "{containerd}"
    );
    assert!(containerd.contains("SystemdCgroup = true"), "{containerd}");

    // --show needs --dry-run; a patch that is not TOML is refused before anything.
    let alone = run("docker-dind", &["up", "--show", "kubeadm"], &[]);
    assert_eq!(alone.status.code(), Some(2));
    std::fs::write(config, "containerd-config-patches:\n- \"[plugins\"\n").expect("write");
    let bad = run("docker-dind", &["up", "--dry-run"], &env);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("containerd-config-patches[0]: not a TOML"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}
