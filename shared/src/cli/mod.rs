//! Command-line pieces both plugins share: the settings flags (generated from
//! [`crate::settings::VARIABLES`], so a new setting is one table row), the `up`, `down`,
//! `clean`, `settings` and `nodes` commands, and output formats.
//!
//! The binaries only add their own global options (docker's `-H`, kubectl's
//! `--kubeconfig`) and choose which commands to show.

pub mod completion;
pub mod contexts;
pub mod dump;
pub mod e2e;

use crate::cluster::{self, inventory, UpOptions};
use crate::engine::Engine;
use crate::error::usage;
use crate::plan::ClusterPlan;
use crate::progress::Progress;
use crate::settings::{read_config_file, Component, Layer, ResolvedSettings, Settings, VARIABLES};
use anyhow::Context;
use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches, ValueEnum};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

pub mod reup;
pub use reup::ReupArgs;
pub mod state;

/// The settings given as flags: one flag per [`VARIABLES`] row, plus the repeatable
/// component-argument flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingsFlags(pub Layer);

impl FromArgMatches for SettingsFlags {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut layer = Layer::default();
        for v in VARIABLES {
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
        let cmd = VARIABLES.iter().fold(cmd, |cmd, v| {
            let arg = Arg::new(v.flag)
                .long(v.flag)
                .help(format!("{} [env: {}]", v.help, v.env));
            let arg = match v.alias {
                Some(alias) => arg.alias(alias),
                None => arg,
            };
            cmd.arg(if v.switch {
                arg.action(ArgAction::SetTrue)
            } else if v.repeatable {
                arg.value_name("VALUE").action(ArgAction::Append)
            } else {
                arg.value_name("VALUE")
            })
        });
        Component::ALL.iter().fold(cmd, |cmd, c| {
            cmd.arg(
                Arg::new(c.flag())
                    .long(c.flag())
                    .value_name("NAME=VALUE")
                    .action(ArgAction::Append)
                    .help(format!(
                        "extra argument for the component, repeatable [env: {}NAME]",
                        c.env_prefix()
                    )),
            )
        })
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
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

    /// Resolved and typed; the warnings of ignored kubeadm-dind-cluster variables go to stderr.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let settings = Settings::from_resolved(&self.resolve()?)?;
        for warning in &settings.kdc.warnings {
            eprintln!("Warning: {warning}");
        }
        Ok(settings)
    }
}

/// Output formats for data on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Output {
    #[default]
    Text,
    Yaml,
    Json,
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
    let seconds = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("invalid duration {text:?}: use e.g. 90s, 5m or 1h")),
    };
    Ok(Duration::from_secs(seconds))
}

/// `up`: create a cluster.
#[derive(Debug, Clone, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub settings: SettingsFlags,
    /// Print the plan (names, addresses, subnets, context) and create nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Output format of --dry-run and of the result.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
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
    /// Let workloads run on the master even when there are workers.
    #[arg(long)]
    pub no_dedicated: bool,
}

/// `down`, `clean`, `nodes`: which cluster.
#[derive(Debug, Clone, Args)]
pub struct SelectArgs {
    #[command(flatten)]
    pub settings: SettingsFlags,
    /// Every dind cluster (nodes and support only).
    #[arg(long)]
    pub all: bool,
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// `settings`: show the effective settings.
#[derive(Debug, Clone, Args)]
pub struct SettingsArgs {
    #[command(flatten)]
    pub settings: SettingsFlags,
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// What the commands need from the plugin that runs them.
#[derive(Debug, Clone)]
pub struct CommandContext {
    pub engine: Engine,
    /// `--kubeconfig`, when given.
    pub kubeconfig: Option<PathBuf>,
    pub progress: Progress,
    /// Where the chosen daemon runs.
    pub daemon: crate::cluster::api_address::DaemonLocation,
}

impl CommandContext {
    /// Connects to the daemon the docker CLI would choose for these global options.
    pub async fn connect(
        docker: &crate::docker_cli::DockerGlobalOptions,
        kubeconfig: Option<PathBuf>,
    ) -> anyhow::Result<CommandContext> {
        let endpoint =
            crate::docker_cli::select_endpoint(docker, &|name| std::env::var(name).ok())?;
        let engine = Engine::new(crate::docker_cli::connect(&endpoint).await?);
        Ok(CommandContext {
            daemon: crate::cluster::api_address::DaemonLocation::of(&endpoint),
            engine,
            kubeconfig,
            progress: Progress::stderr(),
        })
    }
}

/// Prints `value` on stdout in the chosen format; `text` renders the text form.
pub fn print<T: serde::Serialize>(
    value: &T,
    output: Output,
    text: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    let rendered = match output {
        Output::Text => text(),
        Output::Yaml => serde_yaml::to_string(value).context("rendering YAML")?,
        Output::Json => serde_json::to_string_pretty(value).context("rendering JSON")? + "\n",
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(rendered.as_bytes())
        .context("writing to stdout")?;
    stdout.flush().context("writing to stdout")
}

/// `up --dry-run`: the plan, with no Docker at all.
pub fn dry_run(args: &UpArgs) -> anyhow::Result<()> {
    let mut settings = args.settings.settings()?;
    cluster::kube_binaries::pin_local_image(&mut settings)?;
    let plan = ClusterPlan::new(&settings)?;
    // The plan is structured data; text would only be a worse YAML.
    let output = if args.output == Output::Json {
        Output::Json
    } else {
        Output::Yaml
    };
    print(&plan, output, String::new)
}

/// `up`.
pub async fn up(args: &UpArgs, ctx: &CommandContext) -> anyhow::Result<()> {
    let mut settings = args.settings.settings()?;
    cluster::kube_binaries::pin_local_image(&mut settings)?;
    let options = UpOptions {
        nodes_only: args.nodes_only,
        retain: args.retain,
        wait: args.wait,
        node_timeout: args.node_timeout,
        dedicated_master: !args.no_dedicated,
        kubeconfig: ctx.kubeconfig.clone(),
        daemon: ctx.daemon.clone(),
    };
    let report = cluster::up(&ctx.engine, &settings, &options, &ctx.progress).await?;
    print(&report, args.output, || report.summary())
}

fn cluster_key(args: &SelectArgs) -> anyhow::Result<String> {
    Ok(args.settings.settings()?.identity.key())
}

/// `down`.
pub async fn down(args: &SelectArgs, ctx: &CommandContext) -> anyhow::Result<()> {
    if args.all {
        return Err(usage(
            "down takes one cluster: --cluster-id or --label, not --all",
        ));
    }
    state::snapshot_before_down(args, ctx).await?;
    let removed = inventory::down(&ctx.engine, &cluster_key(args)?, &ctx.progress).await?;
    print(&removed, args.output, String::new)
}

/// `clean`: also removes the cluster's kubeconfig entries.
pub async fn clean(args: &SelectArgs, ctx: &CommandContext) -> anyhow::Result<()> {
    if args.all {
        return Err(usage(
            "clean takes one cluster: --cluster-id or --label, not --all",
        ));
    }
    let settings = args.settings.settings()?;
    let removed = cluster::clean(
        &ctx.engine,
        &settings,
        ctx.kubeconfig.as_deref(),
        &ctx.progress,
    )
    .await?;
    print(&removed, args.output, String::new)
}

/// `nodes` (and `support`): one line per container.
pub async fn list(args: &SelectArgs, ctx: &CommandContext, support: bool) -> anyhow::Result<()> {
    let selector = if args.all {
        inventory::Selector::All
    } else {
        inventory::Selector::Cluster(cluster_key(args)?)
    };
    let rows = if support {
        inventory::support(&ctx.engine, &selector).await?
    } else {
        inventory::nodes(&ctx.engine, &selector).await?
    };
    print(&rows, args.output, || {
        let mut table = vec![[
            "CLUSTER", "NAME", "ROLE", "STATE", "IPV4", "IPV6", "IMAGE", "PORTS",
        ]
        .map(String::from)
        .to_vec()];
        for r in &rows {
            table.push(vec![
                r.cluster.clone(),
                r.name.clone(),
                r.role.clone(),
                r.state.clone(),
                r.ipv4.clone().unwrap_or_else(|| "-".into()),
                r.ipv6.clone().unwrap_or_else(|| "-".into()),
                r.image.clone(),
                if r.ports.is_empty() {
                    "-".into()
                } else {
                    r.ports.join(",")
                },
            ]);
        }
        render_table(&table)
    })
}

/// `settings`: every setting, its value and where it came from.
pub fn show_settings(args: &SettingsArgs) -> anyhow::Result<()> {
    let resolved = args.settings.resolve()?;
    // Validate too, so `settings` is a cheap way to check a config; the table still
    // shows first, so a refused kubeadm-dind-cluster variable is seen with its fate.
    let checked = Settings::from_resolved(&resolved);
    let rows = resolved.rows();
    let kdc_rows = crate::settings::kdc::fate_rows(&resolved.kdc);
    let mut json: Vec<BTreeMap<&str, String>> = rows
        .iter()
        .map(|(env, flag, value, source)| {
            BTreeMap::from([
                ("name", env.clone()),
                ("flag", flag.clone()),
                ("value", value.clone()),
                ("source", source.to_string()),
            ])
        })
        .collect();
    for [name, value, fate, detail] in &kdc_rows {
        let row = BTreeMap::from([
            ("name", name.clone()),
            ("value", value.clone()),
            ("source", "environment".to_string()),
            ("kdc_fate", fate.clone()),
            ("detail", detail.clone()),
        ]);
        match json.iter_mut().find(|r| r.get("name") == Some(name)) {
            Some(existing) => {
                existing.insert("kdc_fate", fate.clone());
            }
            None => json.push(row),
        }
    }
    print(&json, args.output, || {
        let mut table = vec![["NAME", "FLAG", "VALUE", "SOURCE"]
            .map(String::from)
            .to_vec()];
        table.extend(
            rows.iter()
                .map(|(e, f, v, s)| vec![e.clone(), f.clone(), v.clone(), s.to_string()]),
        );
        let mut text = render_table(&table);
        if let Some(path) = &resolved.config_file {
            text.push_str(&format!("config file: {}\n", path.display()));
        }
        if !kdc_rows.is_empty() {
            text.push_str(
                "\nkubeadm-dind-cluster variables (docs/from-kubeadm-dind-cluster.md):\n",
            );
            let mut table = vec![["NAME", "VALUE", "FATE", "WHY"].map(String::from).to_vec()];
            table.extend(kdc_rows.iter().map(|row| row.to_vec()));
            text.push_str(&render_table(&table));
        }
        text
    })?;
    checked.map(|_| ())
}

/// Left-aligned columns separated by two spaces.
pub fn render_table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, cell)| format!("{cell:<width$}", width = widths[i]))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
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
    fn tables_align() {
        let rows = vec![
            vec!["A".to_string(), "BB".to_string()],
            vec!["CCC".to_string(), "D".to_string()],
        ];
        assert_eq!(render_table(&rows), "A    BB\nCCC  D\n");
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

/// `build-image`: the node image, from one of three Kubernetes sources.
#[derive(Debug, Clone, Args)]
pub struct BuildImageArgs {
    /// Download this Kubernetes release (each binary checked against its published sha256).
    #[arg(long, value_name = "vX.Y.Z", conflicts_with_all = ["kube_binaries", "bare"])]
    pub kubernetes_version: Option<String>,
    /// Take kubeadm, kubelet and kubectl from this directory (build-from-source workflow).
    #[arg(long, value_name = "DIR", conflicts_with = "bare")]
    pub kube_binaries: Option<PathBuf>,
    /// With --kube-binaries: preload the control-plane image archives (*.tar) of this
    /// directory [default: _output/release-images/<arch> of the source tree DIR lies in].
    #[arg(long, value_name = "DIR2", requires = "kube_binaries")]
    pub kube_images: Option<PathBuf>,
    /// No Kubernetes at all: nodes that boot and run containers, for `up --nodes-only`.
    #[arg(long)]
    pub bare: bool,
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// What `build-image` produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BuiltImage {
    pub image: String,
    pub kubernetes_version: String,
    pub reused: bool,
}

/// `build-image`.
pub async fn build_image(args: &BuildImageArgs, ctx: &CommandContext) -> anyhow::Result<()> {
    let source = if args.bare {
        crate::image::KubeSource::Bare
    } else if let Some(dir) = &args.kube_binaries {
        crate::image::KubeSource::Local {
            binaries: dir.clone(),
            images: args.kube_images.clone(),
        }
    } else {
        let version = args
            .kubernetes_version
            .as_deref()
            .unwrap_or(crate::settings::DEFAULT_KUBERNETES_VERSION);
        let version = crate::version::KubeVersion::parse(version)?;
        version.require_supported()?;
        crate::image::KubeSource::Release(version.to_string())
    };
    // DIND_KUBE_DOWNLOAD_URL and the proxies, from the environment and the config file.
    let settings = SettingsFlags::default().settings()?;
    let recipe = crate::image::node_recipe(&source, &settings)?;
    let outcome = crate::image::ensure_image(&ctx.engine, &recipe, &ctx.progress).await?;
    let built = BuiltImage {
        image: recipe.tag.clone(),
        kubernetes_version: recipe
            .labels
            .get(crate::names::labels::IMAGE_KUBERNETES_VERSION)
            .cloned()
            .unwrap_or_default(),
        reused: outcome == crate::image::build::Outcome::Reused,
    };
    print(&built, args.output, || format!("{}\n", built.image))
}

/// `apiserver-port`: the host port the cluster's API server is published on.
pub async fn apiserver_port(args: &SelectArgs, ctx: &CommandContext) -> anyhow::Result<()> {
    let master = args.settings.settings()?.identity.node_name(0);
    let ports = ctx.engine.published_ports(&master, "6443/tcp").await?;
    let (_, port) = ports.first().ok_or_else(|| {
        anyhow::anyhow!("{master} publishes no API server port; is the cluster up?")
    })?;
    print(port, args.output, || format!("{port}\n"))
}
