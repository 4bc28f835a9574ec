//! Every command of both plugins, parsed and run in one place. A plugin only says which
//! commands it shows, in which order and with which wording ([`Plugin`]); what a command
//! takes and does is its own `cli/<command>.rs`.

use super::build_image::BuildImageArgs;
use super::completion::{self, Shell};
use super::contexts::ContextsArgs;
use super::down::DownArgs;
use super::dump::{DumpArgs, SplitArgs};
use super::e2e::{E2eArgs, E2eSerialArgs};
use super::flags::ListArgs;
use super::join::JoinArgs;
use super::load::LoadArgs;
use super::registry::RegistryArgs;
use super::remove_node::RemoveNodeArgs;
use super::reup::ReupArgs;
use super::settings::SettingsArgs;
use super::up::UpArgs;
use super::{CommandContext, SelectArgs};
use crate::docker_cli::DockerGlobalOptions;
use crate::error::usage;
use crate::names::ClusterIdentity;
use crate::settings::Layer;
use anyhow::Context;
use clap::{ArgMatches, Command, FromArgMatches, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;

/// Every dind command. A plugin shows a subset of them (see [`Plugin::commands`]); the
/// one-line help here is the wording both plugins use unless they give their own.
#[derive(Debug, Clone, Subcommand)]
pub enum DindCommand {
    /// Create a cluster and write its kubectl context.
    Up(UpArgs),
    /// Remove the node containers; keep volumes, network and DNS64/NAT64 containers.
    Down(DownArgs),
    /// Remove everything of the cluster and its kubeconfig entries.
    Clean(SelectArgs),
    /// List node containers.
    Nodes(ListArgs),
    /// List the DNS64/NAT64 support containers.
    Support(ListArgs),
    /// Build the node image.
    BuildImage(BuildImageArgs),
    /// Show the effective settings and where each value came from.
    Settings(SettingsArgs),
    /// Print the host port of the API server.
    ApiserverPort(SelectArgs),
    /// Copy new kubeadm, kubelet and kubectl into a running cluster's nodes, restart kubelet
    /// and the control plane, and wait for Ready (the build-from-source loop).
    Reup(ReupArgs),
    /// Print a shell completion script for running the plugin directly.
    Completion {
        /// The shell the script is for.
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print the cluster's state (nodes, services, pod logs, resources) as @@@ <file> @@@ sections.
    Dump(DumpArgs),
    /// The dump, xz-compressed and base64-encoded between %%% start-base64 %%% lines, for CI logs.
    Dump64(DumpArgs),
    /// Write each section of a dump read from stdin to a file under --dir.
    SplitDump(SplitArgs),
    /// Find a dump64 block in stdin (e.g. a whole CI log), decode it and split it.
    SplitDump64(SplitArgs),
    /// Run the parallel [Conformance] e2e tests (not [Serial]) in the cluster.
    E2e(E2eArgs),
    /// Run the [Serial] [Conformance] e2e tests, one at a time.
    E2eSerial(E2eSerialArgs),
    /// List the dind contexts in the kubeconfig, with endpoint and master state.
    Contexts(ContextsArgs),
    /// Keep the state of every node of a running cluster (`down` does this too).
    Snapshot(SelectArgs),
    /// Bring a cluster that is down back from its snapshot, and wait until it is Ready.
    Restore(UpArgs),
    /// Freeze every node container of the cluster.
    Pause(SelectArgs),
    /// Thaw every node container of the cluster.
    Unpause(SelectArgs),
    /// Add a worker with a fresh kubeadm join token.
    Join(JoinArgs),
    /// Drain and delete a worker from Kubernetes, then remove its container and volume.
    RemoveNode(RemoveNodeArgs),
    /// Put host images into every node's containerd (namespace k8s.io).
    #[command(alias = "copy-image")]
    Load(LoadArgs),
    /// Run the local registry every cluster pulls `localhost:5001/...` from.
    Registry(RegistryArgs),
}

impl DindCommand {
    /// The flags that name the command's cluster (all its settings for `up` and the
    /// like), for commands that work on one.
    pub fn settings_mut(&mut self) -> Option<&mut Layer> {
        match self {
            DindCommand::Up(a) | DindCommand::Restore(a) => Some(&mut a.settings.0),
            DindCommand::Settings(a) => Some(&mut a.settings.0),
            DindCommand::Reup(a) => Some(&mut a.settings.0),
            DindCommand::Clean(a)
            | DindCommand::ApiserverPort(a)
            | DindCommand::Snapshot(a)
            | DindCommand::Pause(a)
            | DindCommand::Unpause(a) => Some(&mut a.cluster.0),
            DindCommand::Down(a) => Some(&mut a.select.cluster.0),
            DindCommand::Nodes(a) | DindCommand::Support(a) => Some(&mut a.select.cluster.0),
            DindCommand::Join(a) => Some(&mut a.cluster.0),
            DindCommand::RemoveNode(a) => Some(&mut a.cluster.0),
            DindCommand::Load(a) => Some(&mut a.cluster.0),
            DindCommand::Dump(a) | DindCommand::Dump64(a) => Some(&mut a.cluster.0),
            DindCommand::E2e(a) => Some(&mut a.common.cluster.0),
            DindCommand::E2eSerial(a) => Some(&mut a.common.cluster.0),
            DindCommand::BuildImage(_)
            | DindCommand::Completion { .. }
            | DindCommand::SplitDump(_)
            | DindCommand::SplitDump64(_)
            | DindCommand::Contexts(_)
            | DindCommand::Registry(_) => None,
        }
    }

    /// `--context dind-cluster-10` means `--cluster-id 10`, unless the cluster is named
    /// otherwise by `--cluster-id` or `--label`.
    pub fn select_by_context(&mut self, context: &str) -> anyhow::Result<()> {
        let identity = ClusterIdentity::from_context_name(context).ok_or_else(|| {
            usage(format!(
                "--context {context:?} is not a dind context (dind, dind-cluster-N or dind-LABEL)"
            ))
        })?;
        let Some(layer) = self.settings_mut() else {
            return Ok(());
        };
        if !layer.values.contains_key("CLUSTER_ID") && !layer.values.contains_key("DIND_LABEL") {
            layer.values.insert("CLUSTER_ID", identity.id().to_string());
            if let Some(label) = identity.label() {
                layer.values.insert("DIND_LABEL", label.to_string());
            }
        }
        Ok(())
    }

    /// Runs the commands that must work without a daemon; `None` for the others.
    fn run_offline(&self, plugin: &Plugin) -> Option<anyhow::Result<()>> {
        Some(match self {
            DindCommand::Up(args) if args.dry_run => super::up::dry_run(args),
            DindCommand::Settings(args) => super::settings::show_settings(args),
            DindCommand::Completion { shell } => {
                print!(
                    "{}",
                    completion::script(*shell, plugin.bin, plugin.completion_prefix)
                );
                Ok(())
            }
            DindCommand::SplitDump(args) => super::dump::split(args, false),
            DindCommand::SplitDump64(args) => super::dump::split(args, true),
            _ => return None,
        })
    }

    /// Runs a command that needs the daemon.
    async fn run_online(&self, ctx: &CommandContext) -> anyhow::Result<()> {
        use super::*;
        spread::refuse_spread(&mut self.clone())?;
        match self {
            DindCommand::Up(args) => up::up(args, ctx).await,
            DindCommand::Down(args) => down::down(args, ctx).await,
            DindCommand::Clean(args) => clean::clean(args, ctx).await,
            DindCommand::Nodes(args) => nodes::list(args, ctx, false).await,
            DindCommand::Support(args) => nodes::list(args, ctx, true).await,
            DindCommand::BuildImage(args) => build_image::build_image(args, ctx).await,
            DindCommand::ApiserverPort(args) => apiserver_port::apiserver_port(args, ctx).await,
            DindCommand::Reup(args) => reup::reup(args, ctx).await,
            DindCommand::Dump(args) => dump::dump(args, ctx, false).await,
            DindCommand::Dump64(args) => dump::dump(args, ctx, true).await,
            DindCommand::E2e(args) => e2e::e2e(args, ctx).await,
            DindCommand::E2eSerial(args) => e2e::e2e_serial(args, ctx).await,
            DindCommand::Contexts(args) => contexts::contexts(args, ctx).await,
            DindCommand::Snapshot(args) => snapshot::take_snapshot(args, ctx).await,
            DindCommand::Restore(args) => snapshot::restore(args, ctx).await,
            DindCommand::Pause(args) => pause::set_paused(args, ctx, true).await,
            DindCommand::Unpause(args) => pause::set_paused(args, ctx, false).await,
            DindCommand::Join(args) => join::join(args, ctx).await,
            DindCommand::RemoveNode(args) => remove_node::remove_node(args, ctx).await,
            DindCommand::Load(args) => load::load(args, ctx).await,
            DindCommand::Registry(args) => registry::registry(args, ctx).await,
            DindCommand::Settings(_)
            | DindCommand::Completion { .. }
            | DindCommand::SplitDump(_)
            | DindCommand::SplitDump64(_) => Ok(()),
        }
    }
}

/// One plugin's face: which commands it shows and how it words them.
#[derive(Debug, Clone, Copy)]
pub struct Plugin {
    /// The executable's name, for completion scripts.
    pub bin: &'static str,
    /// What the host CLI puts between the executable and the command (docker's `dind `).
    pub completion_prefix: &'static str,
    /// The commands shown, in help order, each with the plugin's own one-line help when
    /// it words it differently from [`DindCommand`].
    pub commands: &'static [(&'static str, Option<&'static str>)],
}

impl Plugin {
    /// `top` (the plugin's name, about and global options) with this plugin's commands.
    pub fn command(&self, top: Command) -> Command {
        let every = DindCommand::augment_subcommands(Command::new("every"));
        let shown = self
            .commands
            .iter()
            .enumerate()
            .filter_map(|(order, (name, about))| {
                let sub = every.find_subcommand(name)?.clone().display_order(order);
                Some(match about {
                    Some(about) => sub.about(*about),
                    None => sub,
                })
            });
        top.subcommands(shown)
            .subcommand_required(true)
            .arg_required_else_help(true)
    }

    /// Parses `args` (the first being the program's name) or exits as clap does.
    pub fn parse<I, T>(&self, top: Command, args: I) -> (ArgMatches, DindCommand)
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let mut cmd = self.command(top);
        let matches = cmd
            .try_get_matches_from_mut(args)
            .unwrap_or_else(|e| e.exit());
        let command =
            DindCommand::from_arg_matches(&matches).unwrap_or_else(|e| e.format(&mut cmd).exit());
        (matches, command)
    }

    /// Runs `command`, connecting to the daemon the docker options choose when it needs one.
    pub fn run(
        &self,
        command: &DindCommand,
        docker: &DockerGlobalOptions,
        kubeconfig: Option<PathBuf>,
    ) -> anyhow::Result<()> {
        if let Some(result) = command.run_offline(self) {
            return result;
        }
        let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
        runtime.block_on(async {
            let ctx = CommandContext::connect(docker, kubeconfig).await?;
            command.run_online(&ctx).await
        })
    }
}

/// Prints the error as both plugins do and exits with its code (2 for usage errors).
pub fn exit_with(error: &anyhow::Error) -> ! {
    eprintln!("Error: {error:#}");
    std::process::exit(crate::error::exit_code(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLUGIN: Plugin = Plugin {
        bin: "probe",
        completion_prefix: "",
        commands: &[
            ("join", Some("Reworded join")),
            ("up", None),
            ("load", None),
            ("completion", None),
        ],
    };

    fn parse(args: &[&str]) -> DindCommand {
        let cmd = PLUGIN.command(Command::new("probe"));
        let matches = cmd.try_get_matches_from(args).unwrap();
        DindCommand::from_arg_matches(&matches).unwrap()
    }

    #[test]
    fn a_plugin_shows_its_commands_in_its_order_and_wording() {
        let mut cmd = PLUGIN.command(Command::new("probe"));
        cmd.build();
        let shown: Vec<(String, String)> = cmd
            .get_subcommands()
            .filter(|s| s.get_name() != "help")
            .map(|s| {
                let about = s.get_about().map(ToString::to_string).unwrap_or_default();
                (s.get_name().to_string(), about)
            })
            .collect();
        let names: Vec<&str> = shown.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["join", "up", "load", "completion"]);
        assert_eq!(shown[0].1, "Reworded join");
        assert_eq!(shown[1].1, "Create a cluster and write its kubectl context");
        let help = cmd.render_help().to_string();
        let positions: Vec<usize> = names.iter().map(|n| help.find(n).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{help}");
        assert!(PLUGIN
            .command(Command::new("probe"))
            .try_get_matches_from(["probe", "down"])
            .is_err());
        assert!(matches!(
            parse(&["probe", "copy-image", "busybox"]),
            DindCommand::Load(_)
        ));
    }

    #[test]
    fn up_and_join_share_the_node_flags_in_their_own_words() {
        let DindCommand::Join(join) = parse(&["probe", "join", "--retain", "--wait", "2m"]) else {
            panic!("not join")
        };
        assert!(join.nodes.retain && !join.nodes.nodes_only);
        assert_eq!(join.nodes.wait.as_secs(), 120);
        assert_eq!(join.nodes.node_timeout.as_secs(), 180);
        let DindCommand::Up(up) = parse(&["probe", "up", "--nodes-only", "--node-timeout", "90"])
        else {
            panic!("not up")
        };
        assert!(up.nodes.nodes_only && !up.nodes.retain);
        assert_eq!(
            (up.nodes.wait.as_secs(), up.nodes.node_timeout.as_secs()),
            (300, 90)
        );

        let mut cmd = PLUGIN.command(Command::new("probe"));
        let help = |cmd: &mut Command, name: &str| {
            let sub = cmd.find_subcommand_mut(name).unwrap();
            sub.render_help().to_string()
        };
        let join_help = help(&mut cmd, "join");
        assert!(join_help.contains("Keep what was created when `join` fails, for debugging"));
        assert!(join_help.contains("only create and boot the node"));
        assert!(!join_help.contains("`up` fails"));
        let up_help = help(&mut cmd, "up");
        assert!(up_help.contains("Keep what was created when `up` fails, for debugging"));
        assert!(up_help.contains("Ready and CoreDNS to be available"));
    }

    #[test]
    fn context_names_the_cluster_unless_a_flag_does() {
        type Expected = (Option<&'static str>, Option<&'static str>);
        let table: [(&[&str], &str, Expected); 6] = [
            (&["probe", "up"], "dind", (Some("0"), None)),
            (&["probe", "up"], "dind-cluster-10", (Some("10"), None)),
            (&["probe", "join"], "dind-foo", (Some("0"), Some("foo"))),
            (&["probe", "join"], "dind-foo-4", (Some("4"), Some("foo"))),
            (
                &["probe", "up", "--cluster-id", "3"],
                "dind-foo",
                (Some("3"), None),
            ),
            (
                &["probe", "up", "--label", "bar"],
                "dind-cluster-10",
                (None, Some("bar")),
            ),
        ];
        for (args, context, (id, label)) in table {
            let mut command = parse(args);
            command.select_by_context(context).unwrap();
            let values = &command.settings_mut().unwrap().values;
            let got = (
                values.get("CLUSTER_ID").map(String::as_str),
                values.get("DIND_LABEL").map(String::as_str),
            );
            assert_eq!(got, (id, label), "{args:?} --context {context}");
        }
        let error = parse(&["probe", "up"])
            .select_by_context("minikube")
            .unwrap_err();
        assert_eq!(crate::error::exit_code(&error), 2);
        assert!(error.to_string().contains("--context \"minikube\""));
        let mut load = parse(&["probe", "load", "busybox"]);
        load.select_by_context("dind-cluster-2").unwrap();
        assert_eq!(load.settings_mut().unwrap().values["CLUSTER_ID"], "2");
        let mut completion = parse(&["probe", "completion", "bash"]);
        assert!(completion.settings_mut().is_none());
        completion.select_by_context("dind-cluster-2").unwrap();
    }
}
