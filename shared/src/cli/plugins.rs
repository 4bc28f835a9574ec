//! Which commands each plugin shows, in which order and with which wording: `kubectl
//! dind` the Kubernetes-facing ones, `docker dind` the container-facing ones. What a
//! command takes and does is the same in both (see [`super::dispatch`]).

use super::dispatch::Plugin;
use clap::Args;
use std::path::PathBuf;

/// kubectl's own global options, which kubectl does not parse for plugins: `kubectl
/// dind` takes them itself.
#[derive(Debug, Clone, Args)]
pub struct KubeOptions {
    /// The kubeconfig file to write and clean contexts in (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Select the cluster by its context name (dind, dind-cluster-N, dind-LABEL) instead of --cluster-id/--label.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// Refused: every kubectl dind command works on a whole cluster (dump takes every namespace).
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
}

impl KubeOptions {
    /// kubectl's `-n` is taken so a habitual `-n NAME` gets a reason, not clap's "unexpected
    /// argument": no command here works inside one namespace, and accepting it silently
    /// would suggest that `dump -n NAME` keeps to that namespace.
    pub fn refuse_namespace(&self) -> anyhow::Result<()> {
        match &self.namespace {
            Some(namespace) => Err(crate::error::usage(format!(
                "-n/--namespace {namespace}: kubectl dind's commands work on a whole cluster \
                 (dump takes every namespace, e2e makes its own); select the cluster with \
                 --context, --cluster-id or --label"
            ))),
            None => Ok(()),
        }
    }
}

/// The commands `kubectl dind` shows, in help order, with its own wording where it has one.
pub const KUBECTL_DIND: Plugin = Plugin {
    bin: "kubectl-dind",
    completion_prefix: "",
    commands: &[
        ("up", None),
        ("down", None),
        ("clean", None),
        ("settings", None),
        ("apiserver-port", None),
        ("reup", None),
        (
            "completion",
            Some(
                "Print a shell completion script for running kubectl-dind directly (kubectl \
                 itself completes `kubectl dind` through kubectl_complete-dind)",
            ),
        ),
        ("dump", None),
        ("dump64", None),
        ("split-dump", None),
        ("split-dump64", None),
        ("e2e", None),
        ("e2e-serial", None),
        ("contexts", None),
        ("snapshot", None),
        ("restore", None),
        ("pause", None),
        ("unpause", None),
        ("join", None),
        ("remove-node", None),
    ],
};

/// The commands `docker dind` shows, in help order, with its own wording where it has one.
pub const DOCKER_DIND: Plugin = Plugin {
    bin: "docker-dind",
    completion_prefix: "dind ",
    commands: &[
        (
            "up",
            Some(
                "Create a cluster: network, node containers, DNS64/NAT64 in IPv6 mode, then \
                 Kubernetes unless --nodes-only",
            ),
        ),
        ("down", None),
        (
            "clean",
            Some("Remove everything of the cluster, including its kubeconfig entries"),
        ),
        ("nodes", None),
        ("support", None),
        ("build-image", None),
        ("settings", None),
        ("apiserver-port", None),
        (
            "reup",
            Some(
                "Copy new kubeadm, kubelet and kubectl into a running cluster's nodes (and, \
                 unless --nodes-only, restart kubelet and the control plane and wait for Ready)",
            ),
        ),
        (
            "completion",
            Some(
                "Print a shell completion script for running docker-dind directly (the docker \
                 CLI itself completes `docker dind` through its __complete protocol)",
            ),
        ),
        ("snapshot", None),
        (
            "restore",
            Some("Bring a cluster that is down back from its snapshot"),
        ),
        ("pause", None),
        ("unpause", None),
        (
            "join",
            Some("Add a worker at the next node number and plan address"),
        ),
        ("remove-node", None),
        ("load", None),
        ("registry", None),
    ],
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::DindCommand;
    use clap::{Command, Subcommand};

    #[test]
    fn every_listed_command_exists_and_every_command_is_listed() {
        let every = DindCommand::augment_subcommands(Command::new("every"));
        for plugin in [KUBECTL_DIND, DOCKER_DIND] {
            let cmd = plugin.command(Command::new(plugin.bin));
            let shown: Vec<&str> = cmd.get_subcommands().map(|s| s.get_name()).collect();
            let listed: Vec<&str> = plugin.commands.iter().map(|(name, _)| *name).collect();
            assert_eq!(shown, listed, "{}", plugin.bin);
            cmd.debug_assert();
        }
        for sub in every.get_subcommands() {
            let shown = [KUBECTL_DIND, DOCKER_DIND]
                .iter()
                .any(|p| p.commands.iter().any(|(name, _)| *name == sub.get_name()));
            assert!(shown, "{} is in no plugin", sub.get_name());
        }
    }
}
