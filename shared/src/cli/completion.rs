//! Shell completion through each host's own protocol, answered from the clap command
//! tree and, for cluster-selecting flags, from the clusters that exist in Docker.
//!
//! - kubectl (1.26+) completes a plugin's arguments by running `kubectl_complete-dind`
//!   from PATH with the words typed after `kubectl dind`, the last one being the word
//!   under completion (kubernetes/kubernetes PR 105867). The `kubectl_complete-dind`
//!   binary hands them to `kubectl-dind __complete`.
//! - The docker CLI completes a plugin by running `docker-dind __complete dind WORDS...`,
//!   cobra's hidden completion command (docker/cli `cli-plugins/manager/cobra.go`).
//! - Both expect cobra's answer: one candidate per line (`value<TAB>description`), then
//!   `:<directive>`, a bit set (4 = no file completion; 0 = let the shell complete files).
//! - `completion bash|zsh|fish` prints a script for running the binaries directly that
//!   asks the same `__complete` command, so all shells see the same candidates. (A
//!   static clap_complete script could not offer the clusters that exist.)
//!
//! [`complete`] is pure and table-tested; [`existing_clusters`] is the Docker lookup.

use crate::cluster::inventory::{self, Selector};
use crate::engine::Engine;
use crate::names::ClusterIdentity;
use crate::settings::{variable_of_flag, Variable};
use clap::Command;
use std::time::Duration;

/// cobra's `ShellCompDirectiveNoFileComp`.
pub const NO_FILE_COMP: u32 = 4;
/// cobra's `ShellCompDirectiveDefault`: the shell may complete file names.
pub const DEFAULT: u32 = 0;

/// The answer to one completion request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// `value` or `value\tdescription`.
    pub candidates: Vec<String>,
    pub directive: u32,
}

impl Completion {
    /// cobra's wire form.
    pub fn render(&self) -> String {
        let mut out: String = self.candidates.iter().map(|c| format!("{c}\n")).collect();
        out.push_str(&format!(":{}\n", self.directive));
        out
    }
}

fn with_help(value: &str, help: Option<String>) -> String {
    match help {
        Some(help) if !help.is_empty() => {
            let first = help.lines().next().unwrap_or_default().to_string();
            format!("{value}\t{first}")
        }
        _ => value.to_string(),
    }
}

/// Completes `words` (everything after the plugin's name; the last is the word being
/// typed, possibly empty) against `cmd`, offering `clusters` for `--cluster-id`,
/// `--label` and `--context`.
pub fn complete(cmd: &Command, words: &[String], clusters: &[ClusterIdentity]) -> Completion {
    let mut root = cmd.clone();
    root.build();
    let (typed, before) = match words.split_last() {
        Some((last, rest)) => (last.as_str(), rest),
        None => ("", &[][..]),
    };
    // Walk down the subcommands named so far; skip the values of flags that take one.
    let mut current = &root;
    let mut skip_value = false;
    for word in before {
        if skip_value {
            skip_value = false;
            continue;
        }
        if word.starts_with('-') {
            skip_value = !word.contains('=') && find_arg(current, word).is_some_and(takes_value);
            continue;
        }
        if let Some(sub) = current.find_subcommand(word) {
            current = sub;
        }
    }
    if skip_value {
        let flag = before.last().map(String::as_str).unwrap_or_default();
        return values(current, flag, typed, "", clusters);
    }
    if let Some((flag, partial)) = typed.split_once('=').filter(|(f, _)| f.starts_with("--")) {
        return values(current, flag, partial, &format!("{flag}="), clusters);
    }
    if typed.starts_with('-') {
        let mut candidates: Vec<String> = current
            .get_arguments()
            .filter(|a| !a.is_hide_set())
            .filter_map(|a| {
                let long = format!("--{}", a.get_long()?);
                long.starts_with(typed)
                    .then(|| with_help(&long, a.get_help().map(|h| h.to_string())))
            })
            .collect();
        candidates.sort();
        return Completion {
            candidates,
            directive: NO_FILE_COMP,
        };
    }
    let candidates = current
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name().starts_with(typed))
        .map(|s| with_help(s.get_name(), s.get_about().map(|h| h.to_string())))
        .collect();
    Completion {
        candidates,
        directive: NO_FILE_COMP,
    }
}

fn find_arg<'a>(cmd: &'a Command, word: &str) -> Option<&'a clap::Arg> {
    let word = word.split('=').next().unwrap_or(word);
    cmd.get_arguments().find(|a| {
        if let Some(long) = word.strip_prefix("--") {
            a.get_long() == Some(long)
                || a.get_all_aliases()
                    .is_some_and(|aliases| aliases.contains(&long))
        } else if let Some(short) = word.strip_prefix('-') {
            short.len() == 1 && a.get_short().map(String::from).as_deref() == Some(short)
        } else {
            false
        }
    })
}

fn takes_value(arg: &clap::Arg) -> bool {
    arg.get_action().takes_values()
}

/// The values of `flag`, filtered by `partial`, each prefixed with `prefix`.
fn values(
    cmd: &Command,
    flag: &str,
    partial: &str,
    prefix: &str,
    clusters: &[ClusterIdentity],
) -> Completion {
    let Some(arg) = find_arg(cmd, flag) else {
        return Completion {
            candidates: Vec::new(),
            directive: DEFAULT,
        };
    };
    let mut options: Vec<String> = match arg.get_long() {
        Some("cluster-id") => clusters.iter().map(|c| c.id().to_string()).collect(),
        Some("label") => clusters
            .iter()
            .filter_map(|c| c.label().map(str::to_string))
            .collect(),
        Some("context") => clusters.iter().map(ClusterIdentity::context_name).collect(),
        Some("addons") => crate::manifests::PREDEFINED
            .iter()
            .map(|p| p.name.to_string())
            .collect(),
        // A setting whose values are an enum's (`--cni`, `--ip-mode`) lists them from
        // the settings table; the rest from clap.
        long => long
            .and_then(variable_of_flag)
            .and_then(Variable::choices)
            .unwrap_or_else(|| {
                arg.get_possible_values()
                    .iter()
                    .filter(|v| !v.is_hide_set())
                    .map(|v| v.get_name().to_string())
                    .collect()
            }),
    };
    // Addons are also files, so the shell may add file names.
    let known = matches!(arg.get_long(), Some("cluster-id" | "label" | "context"))
        || (!options.is_empty() && arg.get_long() != Some("addons"));
    options.sort();
    options.dedup();
    Completion {
        candidates: options
            .into_iter()
            .filter(|o| o.starts_with(partial))
            .map(|o| format!("{prefix}{o}"))
            .collect(),
        // A value dind cannot list (a file, an image, a CIDR) falls back to the shell.
        directive: if known { NO_FILE_COMP } else { DEFAULT },
    }
}

/// The clusters that have node containers, from their labels. Completion must never
/// fail or hang, so any trouble with Docker means "no clusters".
pub async fn existing_clusters(engine: &Engine) -> Vec<ClusterIdentity> {
    let rows = tokio::time::timeout(
        Duration::from_secs(3),
        inventory::nodes(engine, &Selector::All),
    )
    .await;
    let Ok(Ok(rows)) = rows else {
        return Vec::new();
    };
    let mut found: Vec<ClusterIdentity> = Vec::new();
    for row in rows {
        let identity = if row.cluster == "default" {
            Some(ClusterIdentity::default_cluster())
        } else {
            ClusterIdentity::from_context_name(&format!("dind-{}", row.cluster))
        };
        if let Some(identity) = identity.filter(|i| !found.contains(i)) {
            found.push(identity);
        }
    }
    found
}

/// Answers a completion request: looks up the clusters only when a cluster flag is
/// being completed, so completing subcommands needs no daemon.
pub async fn answer(
    cmd: &Command,
    words: &[String],
    connect: impl std::future::Future<Output = anyhow::Result<Engine>>,
) -> String {
    let wants_clusters = words.iter().rev().take(2).any(|w| {
        ["--cluster-id", "--label", "--context"]
            .iter()
            .any(|f| w == f || w.starts_with(&format!("{f}=")))
    });
    let clusters = if wants_clusters {
        match tokio::time::timeout(Duration::from_secs(3), connect).await {
            Ok(Ok(engine)) => existing_clusters(&engine).await,
            _ => Vec::new(),
        }
    } else {
        Vec::new()
    };
    complete(cmd, words, &clusters).render()
}

/// What a plugin binary does with a `__complete` request: answers it on stdout, talking
/// to the Docker daemon the docker CLI would choose (its environment and context).
pub fn run(cmd: &Command, words: &[String]) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    let text = runtime.block_on(answer(cmd, words, async {
        let options = crate::docker_cli::DockerGlobalOptions::default();
        Ok(super::CommandContext::connect(&options, None).await?.engine)
    }));
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

/// The shells `completion` writes scripts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// `completion SHELL`: a script completing `bin` by asking `bin __complete PREFIX...`.
/// `prefix` is what the binary expects before the words (`dind ` for docker-dind).
pub fn script(shell: Shell, bin: &str, prefix: &str) -> String {
    let func = format!("_{}_complete", bin.replace('-', "_"));
    let template = match shell {
        Shell::Bash => BASH,
        Shell::Zsh => ZSH,
        Shell::Fish => FISH,
    };
    template
        .replace("@FUNC@", &func)
        .replace("@BIN@", bin)
        .replace("@PREFIX@", prefix)
}

const BASH: &str = r#"# bash completion for @BIN@. Load it with: source <(@BIN@ completion bash)
@FUNC@() {
    local cur="${COMP_WORDS[COMP_CWORD]}" line directive=0 IFS=$'\n'
    local -a lines
    lines=($(@BIN@ __complete @PREFIX@"${COMP_WORDS[@]:1:COMP_CWORD-1}" "$cur" 2>/dev/null))
    COMPREPLY=()
    for line in "${lines[@]}"; do
        case "$line" in
            :*) directive="${line#:}" ;;
            *) COMPREPLY+=("${line%%$'\t'*}") ;;
        esac
    done
    if [ ${#COMPREPLY[@]} -eq 0 ] && [ $((directive & 4)) -eq 0 ]; then
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}
complete -F @FUNC@ @BIN@
"#;

const ZSH: &str = r#"#compdef @BIN@
# zsh completion for @BIN@. Load it with: source <(@BIN@ completion zsh)
@FUNC@() {
    local line directive=0
    local -a lines completions
    lines=("${(@f)$(@BIN@ __complete @PREFIX@"${(@)words[2,CURRENT-1]}" "${words[CURRENT]}" 2>/dev/null)}")
    for line in "${lines[@]}"; do
        if [[ $line == :* ]]; then
            directive=${line#:}
        elif [[ -n $line ]]; then
            completions+=("${line%%$'\t'*}")
        fi
    done
    if (( ${#completions} )); then
        compadd -- "${completions[@]}"
    elif (( (directive & 4) == 0 )); then
        _files
    fi
}
compdef @FUNC@ @BIN@
"#;

const FISH: &str = r#"# fish completion for @BIN@. Load it with: @BIN@ completion fish | source
function @FUNC@
    set -l words (commandline -opc)[2..-1] (commandline -ct)
    @BIN@ __complete @PREFIX@$words 2>/dev/null | string match -v -r '^:'
end
complete -c @BIN@ -f -a '(@FUNC@)'
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Parser, Subcommand};

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Sub,
    }

    #[derive(Subcommand)]
    enum Sub {
        /// Create a cluster.
        Up(crate::cli::UpArgs),
        /// Remove node containers.
        Down(crate::cli::down::DownArgs),
        /// List nodes.
        Nodes(crate::cli::flags::ListArgs),
    }

    fn words(text: &[&str]) -> Vec<String> {
        text.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn completion_table() {
        use clap::CommandFactory;
        let cmd = Cli::command();
        let clusters = [
            ClusterIdentity::new(10, None).unwrap(),
            ClusterIdentity::new(0, Some("i11lab".into())).unwrap(),
        ];
        // (words, expected candidates (values only), must be complete list, directive)
        let table: &[(&[&str], &[&str], bool, u32)] = &[
            (&[""], &["up", "down", "nodes"], false, NO_FILE_COMP),
            (&["n"], &["nodes"], true, NO_FILE_COMP),
            (
                &["nodes", "--cluster-id", ""],
                &["0", "10"],
                true,
                NO_FILE_COMP,
            ),
            (&["nodes", "--cluster-id", "1"], &["10"], true, NO_FILE_COMP),
            (&["nodes", "--label", ""], &["i11lab"], true, NO_FILE_COMP),
            (
                &["nodes", "--cluster-id=1"],
                &["--cluster-id=10"],
                true,
                NO_FILE_COMP,
            ),
            (
                &["up", "--ip-mode", ""],
                &["dual-stack", "ipv4", "ipv6"],
                true,
                NO_FILE_COMP,
            ),
            (&["up", "-o", "j"], &["json"], true, NO_FILE_COMP),
            (&["up", "--ca-cert", ""], &[], true, DEFAULT),
            (&["up", "--addons", ""], &["dashboard"], true, DEFAULT),
            (
                &["up", "--cni", "ca"],
                &["calico", "calico-kdd"],
                true,
                NO_FILE_COMP,
            ),
            (&["up", "--nodes-o"], &["--nodes-only"], true, NO_FILE_COMP),
            (
                &["up", "--publish", "1:2", "--no-st"],
                &["--no-storage"],
                true,
                NO_FILE_COMP,
            ),
            (
                &["up", "--cluster-id", "10", "--dry"],
                &["--dry-run"],
                true,
                NO_FILE_COMP,
            ),
            (&["down", ""], &[], true, NO_FILE_COMP),
        ];
        for (input, expected, exact, directive) in table {
            let got = complete(&cmd, &words(input), &clusters);
            let values: Vec<&str> = got
                .candidates
                .iter()
                .map(|c| c.split('\t').next().unwrap())
                .collect();
            if *exact {
                assert_eq!(values, *expected, "{input:?}");
            } else {
                for e in *expected {
                    assert!(values.contains(e), "{input:?}: {values:?}");
                }
            }
            assert_eq!(got.directive, *directive, "{input:?}");
        }
        let rendered = complete(&cmd, &words(&["n"]), &[]).render();
        assert_eq!(rendered, "nodes\tList nodes\n:4\n");
    }

    /// The values of `flag` in `up --help`: the text of its help line(s).
    fn help_of(flag: &str) -> String {
        use clap::CommandFactory;
        let help = Cli::command()
            .find_subcommand_mut("up")
            .unwrap()
            .render_long_help()
            .to_string();
        let start = help
            .find(&format!("--{flag} <"))
            .unwrap_or_else(|| panic!("--{flag} in help"));
        let rest = &help[start..];
        rest[..rest.find("[env:").unwrap()].to_string()
    }

    fn candidates(flag: &str) -> Vec<String> {
        use clap::CommandFactory;
        complete(&Cli::command(), &words(&["up", flag, ""]), &[]).candidates
    }

    /// A new CNI plugin is one variant and one [`crate::cni::MANIFESTS`] row: this walks
    /// every variant through the parser, `--help`, completion and the table.
    #[test]
    fn every_cni_variant_parses_and_shows_everywhere() {
        use crate::cni::{Setup, MANIFESTS};
        use crate::settings::Cni;
        use clap::ValueEnum;
        let help = help_of("cni");
        let offered = candidates("--cni");
        assert_eq!(offered.len(), Cni::value_variants().len(), "{offered:?}");
        for &cni in Cni::value_variants() {
            let name = cni.to_string();
            assert_eq!(name.parse::<Cni>().unwrap(), cni);
            assert_eq!(
                serde_json::to_value(cni).unwrap(),
                name.as_str(),
                "the settings label spells {name} as the flag does"
            );
            assert!(
                help.contains(&name),
                "{name} missing from --cni help: {help}"
            );
            assert!(offered.contains(&name), "{name} not completed: {offered:?}");
            let rows: Vec<_> = MANIFESTS.iter().filter(|(c, _)| *c == cni).collect();
            assert_eq!(rows.len(), 1, "{name} needs exactly one MANIFESTS row");
            let plan = crate::plan::ClusterPlan::new(
                &crate::settings::Settings::from_env_pairs(&[("CNI_PLUGIN", &name)]).unwrap(),
            )
            .unwrap();
            assert_eq!(
                rows[0].1 == Setup::Dind,
                !crate::cni::node_config_files(cni, plan.master()).is_empty(),
                "{name}: dind writes a config list exactly for the plugins it sets up"
            );
        }
        let err = "cilium".parse::<Cni>().unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown CNI plugin \"cilium\": use bridge, ptp, flannel, calico, calico-kdd, weave, kube-router or none"
        );
        assert!(help.starts_with(
            "--cni <VALUE>\n          bridge, ptp, flannel, calico, calico-kdd, weave, kube-router or none"
        ), "{help}");
    }

    #[test]
    fn every_ip_mode_parses_and_shows_everywhere() {
        use crate::settings::IpMode;
        use clap::ValueEnum;
        let help = help_of("ip-mode");
        let offered = candidates("--ip-mode");
        assert_eq!(offered, ["dual-stack", "ipv4", "ipv6"], "sorted, no alias");
        for &mode in IpMode::value_variants() {
            let name = mode.to_string();
            assert_eq!(name.parse::<IpMode>().unwrap(), mode);
            assert_eq!(serde_json::to_value(mode).unwrap(), name.as_str());
            assert!(help.contains(&name), "{name}: {help}");
        }
        assert_eq!("dual".parse::<IpMode>().unwrap(), IpMode::DualStack);
        assert_eq!(
            "ipv5".parse::<IpMode>().unwrap_err().to_string(),
            "unknown IP mode \"ipv5\": use ipv4, ipv6 or dual-stack"
        );
    }

    #[test]
    fn scripts_call_the_binary_with_its_prefix() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let text = script(shell, "docker-dind", "dind ");
            assert!(text.contains("docker-dind __complete dind "), "{shell:?}");
            for placeholder in ["@BIN@", "@FUNC@", "@PREFIX@"] {
                assert!(
                    !text.contains(placeholder),
                    "{shell:?}: {placeholder} is left"
                );
            }
        }
        assert!(script(Shell::Bash, "kubectl-dind", "")
            .contains("complete -F _kubectl_dind_complete kubectl-dind"));
    }
}
