//! The flags several commands share: the settings flags (generated from
//! [`crate::settings::VARIABLES`], so a new setting is one table row), the cluster
//! selection of `down`/`clean`/`nodes`/..., the node-creation group of `up` and `join`,
//! and the duration parser their timeouts use.

use super::{CommandContext, Output};
use crate::cluster::UpOptions;
use crate::settings::table::{DefaultValue, Variable};
use crate::settings::{read_config_file, Component, Layer, ResolvedSettings, Settings, VARIABLES};
use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches};
use std::collections::BTreeMap;
use std::time::Duration;

/// The settings given as flags: one flag per [`VARIABLES`] row, plus the repeatable
/// component-argument flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingsFlags(pub Layer);

impl FromArgMatches for SettingsFlags {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut layer = Layer::default();
        read_variables(matches, &mut layer, &VARIABLES.iter().collect::<Vec<_>>());
        for component in Component::ALL {
            for pair in matches
                .get_many::<String>(component.flag())
                .into_iter()
                .flatten()
            {
                let (arg, value) = pair.split_once('=').ok_or_else(|| {
                    clap::Error::raw(
                        clap::error::ErrorKind::ValueValidation,
                        format!("--{} expects NAME=VALUE, got {pair:?}\n", component.flag()),
                    )
                })?;
                layer
                    .component_args
                    .entry(component)
                    .or_default()
                    .insert(arg.to_string(), value.to_string());
            }
        }
        Ok(SettingsFlags(layer))
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Args for SettingsFlags {
    fn augment_args(cmd: Command) -> Command {
        let cmd =
            cmd.next_help_heading("Cluster settings (flag > environment > config file > default)");
        let cmd = VARIABLES
            .iter()
            .fold(cmd, |cmd, v| cmd.arg(variable_arg(v)));
        Component::ALL.iter().fold(cmd, |cmd, c| {
            cmd.arg(
                Arg::new(c.flag())
                    .long(c.flag())
                    .value_name("NAME=VALUE")
                    .action(ArgAction::Append)
                    .help(format!(
                        "extra {} argument, repeatable [env: {}*, e.g. {}V=2 for --v=2]",
                        c.program(),
                        c.env_prefix(),
                        c.env_prefix()
                    )),
            )
        })
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

/// The flag of one settings row: its help, where its value may also come from, and its
/// default (a default that follows the IP mode is spelled out for each mode).
fn variable_arg(v: &Variable) -> Arg {
    let default = match v.default {
        DefaultValue::None => String::new(),
        DefaultValue::Fixed(value) => format!(" [default: {value}]"),
        DefaultValue::ByIpMode(v4, v6, dual) => {
            format!(" [default: ipv4 {v4}; ipv6 {v6}; dual-stack {dual}]")
        }
    };
    let arg = Arg::new(v.flag)
        .long(v.flag)
        .help(format!("{} [env: {}]{default}", v.help, v.env));
    let arg = match v.alias {
        Some(alias) => arg.alias(alias),
        None => arg,
    };
    if v.switch {
        arg.action(ArgAction::SetTrue)
    } else if v.repeatable {
        arg.value_name("VALUE").action(ArgAction::Append)
    } else {
        arg.value_name("VALUE")
    }
}

/// Reads the flags of `rows` (of [`VARIABLES`]) from `matches` into `layer`.
fn read_variables(matches: &ArgMatches, layer: &mut Layer, rows: &[&'static Variable]) {
    for v in rows {
        if v.switch {
            if matches.get_flag(v.flag) {
                layer.values.insert(v.env, "true".into());
            }
        } else if v.repeatable {
            if let Some(values) = matches.get_many::<String>(v.flag) {
                let values: Vec<&str> = values.map(String::as_str).collect();
                layer.values.insert(v.env, values.join(","));
            }
        } else if let Some(value) = matches.get_one::<String>(v.flag) {
            layer.values.insert(v.env, value.clone());
        }
    }
}

/// The settings rows that select a cluster: `--cluster-id` and `--label`.
fn selector_rows() -> Vec<&'static Variable> {
    VARIABLES
        .iter()
        .filter(|v| SELECTORS.contains(&v.env))
        .collect()
}

/// The variables that name a cluster, and the engines it is spread over.
const SELECTORS: [&str; 3] = ["CLUSTER_ID", "DIND_LABEL", "DIND_DOCKER_HOSTS"];

/// Which cluster a command that only selects one works on: `--cluster-id` and `--label`
/// (and kubectl's `--context`), with the environment and config file as for `up`. The
/// other settings are `up`'s business: the cluster records them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterFlags(pub Layer);

impl FromArgMatches for ClusterFlags {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut layer = Layer::default();
        read_variables(matches, &mut layer, &selector_rows());
        Ok(ClusterFlags(layer))
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Args for ClusterFlags {
    fn augment_args(cmd: Command) -> Command {
        selector_rows().into_iter().fold(cmd, |cmd, v| {
            let value_name = match v.env {
                "CLUSTER_ID" => "ID",
                "DIND_DOCKER_HOSTS" => "HOSTS",
                _ => "LABEL",
            };
            cmd.arg(variable_arg(v).value_name(value_name))
        })
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl ClusterFlags {
    /// The settings these flags select, resolved as `up` resolves them.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        SettingsFlags(self.0.clone()).settings()
    }

    /// The selected cluster's key.
    pub fn cluster_key(&self) -> anyhow::Result<String> {
        Ok(self.settings()?.identity.key())
    }

    /// The engines the selected cluster spreads over (`--docker-hosts`), or the one engine
    /// of the docker options.
    pub async fn engines(
        &self,
        ctx: &CommandContext,
    ) -> anyhow::Result<crate::cluster::engines::Engines> {
        crate::cluster::engines::Engines::connect(&self.settings()?.docker_hosts, &ctx.engine).await
    }

    /// [`Self::running`] for a cluster that may spread over several engines: its settings
    /// and engines, once some engine holds a node of it.
    pub async fn running_on(
        &self,
        ctx: &CommandContext,
    ) -> anyhow::Result<(Settings, crate::cluster::engines::Engines)> {
        let (settings, _, engines) = self.running_spread(ctx).await?;
        Ok((settings, engines))
    }

    /// The settings of the selected cluster, which the command needs up: a cluster with
    /// no node containers is a one-line error naming the `up` command.
    pub async fn running(&self, ctx: &CommandContext) -> anyhow::Result<Settings> {
        Ok(self.running_nodes(ctx).await?.0)
    }

    /// [`Self::running`], with the container names of its nodes as the user may type
    /// them (`kube-node-2` within the cluster, or in full), resolved to their full names.
    pub async fn running_nodes(
        &self,
        ctx: &CommandContext,
    ) -> anyhow::Result<(Settings, NodeNames)> {
        let (settings, names, _) = self.running_spread(ctx).await?;
        Ok((settings, names))
    }

    /// [`Self::running_nodes`] over every engine of `--docker-hosts`, with those engines.
    pub async fn running_spread(
        &self,
        ctx: &CommandContext,
    ) -> anyhow::Result<(Settings, NodeNames, crate::cluster::engines::Engines)> {
        let settings = self.settings()?;
        let engines = self.engines(ctx).await?;
        let rows = crate::cluster::inventory::require_up_on(&engines, &settings.identity).await?;
        let names = NodeNames {
            names: rows.into_iter().map(|r| r.name).collect(),
            key: settings.identity.key(),
            suffix: settings.identity.suffix(),
        };
        Ok((settings, names, engines))
    }
}

/// The node containers of a running cluster, to resolve the node names users type.
pub struct NodeNames {
    names: Vec<String>,
    key: String,
    suffix: String,
}

impl NodeNames {
    /// The container name `typed` means (see [`crate::cluster::node_names::resolve`]).
    pub fn resolve(&self, typed: &str) -> anyhow::Result<String> {
        crate::cluster::node_names::resolve(typed, &self.names, &self.key, &self.suffix)
    }
}

impl SettingsFlags {
    /// Resolves these flags against the process environment and the config file.
    pub fn resolve(&self) -> anyhow::Result<ResolvedSettings> {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        let (file, path) = read_config_file(&env)?;
        Ok(ResolvedSettings::resolve(
            &self.0,
            &Layer::from_env(env),
            &file,
            path,
        ))
    }

    /// Resolved and typed; the warnings of ignored kubeadm-dind-cluster variables and of
    /// component arguments from the environment go to stderr.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let resolved = self.resolve()?;
        let settings = Settings::from_resolved(&resolved)?;
        warn(&settings, &resolved);
        Ok(settings)
    }
}

/// Prints the one-line warnings of these settings on stderr.
pub fn warn(settings: &Settings, resolved: &ResolvedSettings) {
    let args = crate::settings::component_args::component_args(resolved);
    for warning in settings
        .kdc
        .warnings
        .iter()
        .chain(&crate::settings::component_args::warnings(&args))
    {
        eprintln!("Warning: {warning}");
    }
}

/// `clean`, `snapshot`, `pause`, `apiserver-port`, ...: which cluster, and the format.
#[derive(Debug, Clone, Args)]
pub struct SelectArgs {
    #[command(flatten)]
    pub cluster: ClusterFlags,
    /// Output format of the result on stdout.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// `nodes` and `support`: one cluster, or every one.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// Every dind cluster, not only the selected one.
    #[arg(long)]
    pub all: bool,
}

/// How `up` and `join` create nodes. The help texts are `up`'s; `join` words some of
/// them for one node (see [`super::join::JoinArgs`]).
#[derive(Debug, Clone, Args)]
pub struct NodeOptions {
    /// Stop once the node containers are ready, before Kubernetes is set up.
    #[arg(long)]
    pub nodes_only: bool,
    /// Keep what was created when `up` fails, for debugging.
    #[arg(long)]
    pub retain: bool,
    /// How long to wait for every node to be Ready and CoreDNS to be available.
    #[arg(long, value_parser = parse_duration, default_value = "5m")]
    pub wait: Duration,
    /// How long each node container may take to boot.
    #[arg(long, value_parser = parse_duration, default_value = "3m")]
    pub node_timeout: Duration,
}

impl NodeOptions {
    /// The library's options for these flags, in the plugin's context.
    pub fn up_options(&self, dedicated_master: bool, ctx: &CommandContext) -> UpOptions {
        UpOptions {
            nodes_only: self.nodes_only,
            retain: self.retain,
            wait: self.wait,
            node_timeout: self.node_timeout,
            dedicated_master,
            kubeconfig: ctx.kubeconfig.clone(),
            daemon: ctx.daemon.clone(),
            restoring: false,
        }
    }
}

/// Parses `90s`, `5m`, `1h` or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number
        .parse()
        .map_err(|_| format!("invalid duration {text:?}: use e.g. 90s, 5m or 1h"))?;
    let unit_seconds: u64 = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(format!("invalid duration {text:?}: use e.g. 90s, 5m or 1h")),
    };
    // A week is past any wait a person means; beyond it, deadlines overflow.
    const MAX_SECONDS: u64 = 7 * 24 * 3600;
    n.checked_mul(unit_seconds)
        .filter(|s| *s <= MAX_SECONDS)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("invalid duration {text:?}: at most a week (168h)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Parser, Debug)]
    struct Probe {
        #[command(flatten)]
        settings: SettingsFlags,
    }

    #[test]
    fn settings_flags_cover_every_variable() {
        let p = Probe::try_parse_from([
            "probe",
            "--cluster-id",
            "10",
            "--ip-mode",
            "ipv6",
            "--skip-snapshot",
            "--apiserver-arg",
            "v=2",
            "--apiserver-arg",
            "audit-log-path=-",
        ])
        .unwrap();
        assert_eq!(p.settings.0.values["CLUSTER_ID"], "10");
        assert_eq!(p.settings.0.values["IP_MODE"], "ipv6");
        assert_eq!(p.settings.0.values["SKIP_SNAPSHOT"], "true");
        assert_eq!(
            p.settings.0.component_args[&Component::Apiserver]["audit-log-path"],
            "-"
        );
        assert!(Probe::try_parse_from(["probe", "--apiserver-arg", "novalue"]).is_err());
        let help = Probe::command().render_long_help().to_string();
        for v in VARIABLES {
            assert!(
                help.contains(&format!("--{}", v.flag)),
                "--{} missing from help",
                v.flag
            );
            assert!(help.contains(v.env), "{} missing from help", v.env);
        }
    }

    #[test]
    fn durations() {
        let table = [
            ("90s", Some(90)),
            ("5m", Some(300)),
            ("1h", Some(3600)),
            ("42", Some(42)),
            ("5x", None),
            ("", None),
        ];
        for (text, secs) in table {
            assert_eq!(
                parse_duration(text).ok().map(|d| d.as_secs()),
                secs,
                "{text}"
            );
        }
    }

    #[test]
    fn publish_repeats_and_extra_ports_still_works() {
        let p = Probe::try_parse_from([
            "probe",
            "--publish",
            "127.0.0.1:18080:80",
            "--extra-ports",
            "8443:443/tcp",
        ])
        .unwrap();
        assert_eq!(
            p.settings.0.values["EXTRA_PORTS"],
            "127.0.0.1:18080:80,8443:443/tcp"
        );
        let file = Layer::from_yaml(
            "extra-ports: [\"1:2\"]\nno-storage: true\n",
            std::path::Path::new("c.yaml"),
        )
        .unwrap();
        assert_eq!(file.values["EXTRA_PORTS"], "1:2");
        assert_eq!(file.values["DIND_NO_STORAGE"], "true");
    }
}
