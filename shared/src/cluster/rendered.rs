//! `up --dry-run --show kubeadm|containerd`: the files `up` would write into the nodes,
//! rendered from the settings with their patches applied, with no Docker at all.
//!
//! Two values are made at random by every `up` and are shown as placeholders here: the
//! bootstrap token and, with several masters, the certificate key. The host's cgroup
//! version (which sets kubelet's `failCgroupV1`) is this machine's.

use crate::bootstrap_token::BootstrapToken;
use crate::kubeadm::{self, KubeadmInputs};
use crate::plan::{ClusterPlan, Role};
use crate::settings::{containerd_patches, Settings};
use crate::version::KubeVersion;
use anyhow::anyhow;

/// A token of kubeadm's form that reads as a placeholder: `up` makes a random one.
const PLACEHOLDER_TOKEN: &str = "token0.dryrunplaceholdr";
/// A placeholder for the certificate key `up` makes at random.
const PLACEHOLDER_KEY: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Every node's kubeadm configuration, each under a comment naming the node, the file
/// and the command that reads it.
pub fn kubeadm_files(
    settings: &Settings,
    plan: &ClusterPlan,
    host_cgroup_v1: bool,
    dedicated_master: bool,
) -> anyhow::Result<String> {
    let version = KubeVersion::parse(&settings.kubernetes_version)?;
    let token = BootstrapToken::parse(PLACEHOLDER_TOKEN)
        .ok_or_else(|| anyhow!("the placeholder token has kubeadm's form"))?;
    let inputs = KubeadmInputs {
        plan,
        settings,
        version: &version,
        host_cgroup_v1,
        dedicated_master: dedicated_master && !plan.workers().is_empty(),
        bootstrap_token: &token,
        certificate_key: plan.load_balancer.as_ref().map(|_| PLACEHOLDER_KEY),
    };
    let placeholders = if plan.load_balancer.is_some() {
        "The bootstrap token and the certificate key are placeholders: `up` makes random ones."
    } else {
        "The bootstrap token is a placeholder: `up` makes a random one."
    };
    let mut text =
        format!("# The kubeadm configuration of every node, patches applied. {placeholders}\n");
    for node in &plan.nodes {
        let (command, documents) = if node.name == plan.master().name {
            let command = kubeadm::init_command(plan.load_balancer.is_some());
            (command, kubeadm::render_init(&inputs)?)
        } else {
            (
                kubeadm::join_command(),
                kubeadm::render_join(&inputs, node)?,
            )
        };
        let role = match node.role {
            Role::Master => "master",
            Role::Worker => "worker",
        };
        text.push_str(&format!(
            "---\n# {} ({role}): {}, read by `{}`\n{documents}",
            node.name,
            kubeadm::CONFIG_PATH,
            command.join(" ")
        ));
        if !text.ends_with('\n') {
            text.push('\n');
        }
    }
    Ok(text)
}

/// A node's containerd configuration: the node image's, with the config file's patches.
pub fn containerd_file(settings: &Settings) -> anyhow::Result<String> {
    let base = crate::image::recipe::NODE_CONTAINERD_CONFIG;
    let config = if settings.containerd_patches.is_empty() {
        base.to_string()
    } else {
        containerd_patches::apply(base, &settings.containerd_patches)?
    };
    Ok(format!(
        "# {}, as every node gets it (the image's build sets the sandbox image of its \
         Kubernetes release).\n{config}",
        super::extras::CONTAINERD_CONFIG
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        Settings::from_env_pairs(pairs).unwrap()
    }

    #[test]
    fn every_node_has_its_kubeadm_documents_under_its_name() {
        // (settings, headers in order)
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);
        let table: [Case; 2] = [
            (
                &[("NUM_NODES", "1")],
                &[
                    "# kube-master (master): /dind/kubeadm.conf, read by `kubeadm init --config /dind/kubeadm.conf",
                    "# kube-node-1 (worker): /dind/kubeadm.conf, read by `kubeadm join --config /dind/kubeadm.conf",
                ],
            ),
            (
                &[("NUM_NODES", "1"), ("DIND_MASTERS", "3")],
                &[
                    "# kube-master (master)",
                    "# kube-master-2 (master)",
                    "# kube-master-3 (master)",
                    "# kube-node-1 (worker)",
                ],
            ),
        ];
        for (pairs, headers) in table {
            let s = settings(pairs);
            let plan = ClusterPlan::new(&s).unwrap();
            let text = kubeadm_files(&s, &plan, false, true).unwrap();
            let found: Vec<&str> = text.lines().filter(|l| l.starts_with("# kube-")).collect();
            assert_eq!(found.len(), headers.len(), "{text}");
            for (line, header) in found.iter().zip(headers) {
                assert!(line.starts_with(header), "{line} / {header}");
            }
            assert_eq!(text.matches("kind: InitConfiguration").count(), 1);
            assert!(text.contains("token: token0.dryrunplaceholdr"), "{text}");
        }
    }

    #[test]
    fn kubeadm_patches_show_in_the_documents() {
        let mut s = settings(&[]);
        s.kubeadm_patches.merge.push(
            "kind: ClusterConfiguration\napiServer:\n  extraArgs:\n  - name: v\n    value: \"4\"\n"
                .into(),
        );
        let plan = ClusterPlan::new(&s).unwrap();
        let text = kubeadm_files(&s, &plan, false, true).unwrap();
        assert!(text.contains("- name: v\n    value: '4'"), "{text}");
    }

    #[test]
    fn containerd_patches_show_in_the_config() {
        let mut s = settings(&[]);
        assert!(containerd_file(&s)
            .unwrap()
            .ends_with(crate::image::recipe::NODE_CONTAINERD_CONFIG));
        s.containerd_patches
            .push("[plugins.'io.containerd.cri.v1.images']\nsnapshotter = 'native'\n".into());
        let text = containerd_file(&s).unwrap();
        assert!(text.contains("snapshotter = \"native\""), "{text}");
        assert!(!text.contains("snapshotter = 'overlayfs'"), "{text}");
    }
}
