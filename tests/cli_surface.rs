//! The command-line surface of both plugins, without Docker: every `--help` describes
//! every flag, the commands that only select a cluster keep their help short, and every
//! `kubectl dind`/`docker dind` command in the README's `sh` blocks parses with the
//! current command line.

mod support;

use clap::{Args, Command, FromArgMatches};
use dind::cli::plugins::{KubeOptions, DOCKER_DIND, KUBECTL_DIND};
use dind::cli::DindCommand;
use support::*;

/// The commands that take the cluster settings; every other command only selects a
/// cluster (or takes none) and keeps its help under [`SHORT_HELP`] lines.
const TAKE_SETTINGS: [&str; 4] = ["up", "restore", "settings", "reup"];
const SHORT_HELP: usize = 30;
/// The only commands where `--all` works.
const TAKE_ALL: [&str; 2] = ["nodes", "support"];

/// `bin path... --help`, which must succeed.
fn help(bin: &str, path: &[String]) -> String {
    let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
    args.push("--help");
    run_ok(bin, &args, &[])
}

/// The names under the help's `Commands:` heading, without `help`.
fn subcommands(help: &str) -> Vec<String> {
    help.split("\nCommands:\n")
        .nth(1)
        .map(|section| {
            section
                .lines()
                .take_while(|line| !line.trim().is_empty())
                .filter(|line| line.starts_with("  ") && !line.starts_with("   "))
                .filter_map(|line| line.split_whitespace().next())
                .filter(|name| *name != "help")
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The arguments (flags and positionals) listed in `help` without a description: a
/// description is on the argument's line after two spaces, or on the next, deeper line.
fn undescribed(help: &str) -> Vec<String> {
    let lines: Vec<&str> = help.lines().collect();
    let mut missing = Vec::new();
    let mut heading = "";
    for (i, line) in lines.iter().enumerate() {
        if !line.starts_with(' ') {
            heading = line;
            continue;
        }
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        // Arguments start at most 6 columns in; deeper lines are wrapped descriptions.
        let is_argument = indent <= 6
            && heading.ends_with(':')
            && (trimmed.starts_with('-')
                || (heading == "Arguments:"
                    && (trimmed.starts_with('<') || trimmed.starts_with('['))));
        if !is_argument {
            continue;
        }
        let same_line = trimmed
            .split_once("  ")
            .is_some_and(|(_, d)| !d.trim().is_empty());
        let next_line = lines.get(i + 1).is_some_and(|next| {
            let next_trimmed = next.trim_start();
            !next_trimmed.is_empty()
                && next.len() - next_trimmed.len() > indent
                && !next_trimmed.starts_with('-')
        });
        if !same_line && !next_line {
            missing.push(trimmed.to_string());
        }
    }
    missing
}

/// Every command path of a plugin binary, e.g. `["registry", "up"]`, with its help.
fn walk(bin: &str) -> Vec<(Vec<String>, String)> {
    let mut found = Vec::new();
    let mut queue = vec![Vec::new()];
    while let Some(path) = queue.pop() {
        let text = help(bin, &path);
        for sub in subcommands(&text) {
            let mut deeper = path.clone();
            deeper.push(sub);
            queue.push(deeper);
        }
        found.push((path, text));
    }
    found
}

#[test]
fn every_help_describes_every_flag_and_selecting_commands_stay_short() {
    for bin in ["kubectl-dind", "docker-dind"] {
        let commands = walk(bin);
        assert!(
            commands.len() > 15,
            "{bin}: only {} commands found",
            commands.len()
        );
        for (path, text) in &commands {
            let name = path.join(" ");
            assert_eq!(
                undescribed(text),
                Vec::<String>::new(),
                "{bin} {name} --help:\n{text}"
            );
            let top = path.first().map(String::as_str).unwrap_or_default();
            if !path.is_empty() && !TAKE_SETTINGS.contains(&top) {
                let lines = text.lines().count();
                assert!(
                    lines < SHORT_HELP,
                    "{bin} {name} --help has {lines} lines:\n{text}"
                );
            }
            let offers_all = text.split_whitespace().any(|word| word == "--all");
            assert_eq!(
                offers_all,
                path.len() == 1 && TAKE_ALL.contains(&top),
                "{bin} {name}: --all is offered exactly where it works:\n{text}"
            );
        }
    }
}

#[test]
fn up_help_shows_the_defaults_and_the_component_variable_families() {
    let text = run_ok("docker-dind", &["up", "--help"], &[]);
    for shown in [
        "[env: NUM_NODES] [default: 2]",
        "[env: CNI_PLUGIN] [default: bridge]",
        &format!("[default: {}]", dind::settings::DEFAULT_KUBERNETES_VERSION),
        "[env: APISERVER_*",
        "--kube-binaries <DIR>",
    ] {
        assert!(text.contains(shown), "up --help lacks {shown:?}:\n{text}");
    }
}

#[test]
fn the_help_check_sees_a_missing_description() {
    let text = "Arguments:\n  <NAME>\n  <IMAGE>  Says what\n\nOptions:\n      --described  Says what\n      --bare <X>\n      --wrapped <Y>\n          [ADDR:]PORT says what\n  -h, --help  Print help\n";
    assert_eq!(undescribed(text), ["<NAME>", "--bare <X>"]);
}

/// Shell words of one line: quotes group, unquoted `#` after a space starts a comment,
/// `&&`, `||`, `|` and `;` separate commands, and a redirection takes its word with it.
fn shell_commands(line: &str) -> Vec<Vec<String>> {
    let mut commands = vec![Vec::new()];
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    let mut redirect = false;
    let mut chars = line.chars().peekable();
    let finish =
        |word: &mut Option<String>, commands: &mut Vec<Vec<String>>, redirect: &mut bool| {
            if let Some(w) = word.take() {
                if std::mem::take(redirect) {
                    return;
                }
                commands.last_mut().expect("one command").push(w);
            }
        };
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, '#') if word.is_none() => break,
            (None, ' ' | '\t') => finish(&mut word, &mut commands, &mut redirect),
            (None, '&' | '|' | ';') => {
                finish(&mut word, &mut commands, &mut redirect);
                if chars.peek() == Some(&c) {
                    chars.next();
                }
                commands.push(Vec::new());
            }
            (None, '>' | '<') => {
                finish(&mut word, &mut commands, &mut redirect);
                redirect = true;
            }
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    finish(&mut word, &mut commands, &mut redirect);
    commands.retain(|c| !c.is_empty());
    commands
}

#[test]
fn shell_words_are_split_as_a_shell_would() {
    let table: [(&str, &[&[&str]]); 5] = [
        (
            "kubectl dind e2e \"\" \"should be\"   # skip",
            &[&["kubectl", "dind", "e2e", "", "should be"]],
        ),
        ("a b && c d", &[&["a", "b"], &["c", "d"]]),
        (
            "kubectl dind dump > dump.txt",
            &[&["kubectl", "dind", "dump"]],
        ),
        (
            "kubectl dind split-dump64 < log.txt  # x",
            &[&["kubectl", "dind", "split-dump64"]],
        ),
        (
            "X=1 Y='a b' docker dind up",
            &[&["X=1", "Y=a b", "docker", "dind", "up"]],
        ),
    ];
    for (line, expected) in table {
        let got = shell_commands(line);
        let expected: Vec<Vec<String>> = expected
            .iter()
            .map(|c| c.iter().map(|w| w.to_string()).collect())
            .collect();
        assert_eq!(got, expected, "{line}");
    }
}

/// Every `kubectl dind …`/`docker dind …` command of the README's `sh` blocks, with the
/// line it is on; environment assignments before it are dropped.
fn readme_commands() -> Vec<(String, Vec<String>)> {
    let readme = std::fs::read_to_string(workspace().join("README.md")).expect("README.md");
    let mut found = Vec::new();
    for block in readme.split("```sh\n").skip(1) {
        let block = block.split("```").next().unwrap_or_default();
        for line in block.lines() {
            let line = line.strip_prefix("$ ").unwrap_or(line);
            for words in shell_commands(line) {
                let start = words
                    .iter()
                    .position(|w| !w.contains('=') || w.starts_with('-'))
                    .unwrap_or(words.len());
                let words = &words[start..];
                if words.len() >= 2
                    && words[1] == "dind"
                    && ["kubectl", "docker"].contains(&words[0].as_str())
                {
                    found.push((line.to_string(), words.to_vec()));
                }
            }
        }
    }
    found
}

/// Parses `words` (`kubectl dind …` or `docker dind …`) as that plugin does.
fn parse(words: &[String]) -> Result<DindCommand, clap::Error> {
    let (plugin, top) = match words[0].as_str() {
        "kubectl" => (
            KUBECTL_DIND,
            KubeOptions::augment_args(Command::new("kubectl dind")),
        ),
        _ => (DOCKER_DIND, Command::new("docker dind")),
    };
    let args = std::iter::once("dind".to_string()).chain(words[2..].iter().cloned());
    let matches = plugin.command(top).try_get_matches_from(args)?;
    DindCommand::from_arg_matches(&matches)
}

#[test]
fn every_readme_command_parses_with_the_current_command_line() {
    let commands = readme_commands();
    assert!(
        commands.len() > 30,
        "only {} README commands found",
        commands.len()
    );
    let failures: Vec<String> = commands
        .iter()
        .filter_map(|(line, words)| parse(words).err().map(|e| format!("{line}\n  {e}")))
        .collect();
    assert!(
        failures.is_empty(),
        "README commands that do not parse:\n{}",
        failures.join("\n")
    );
    assert!(parse(&[
        "docker".into(),
        "dind".into(),
        "up".into(),
        "--no-such-flag".into()
    ])
    .is_err());
}

/// The README's facts that code holds too: the oldest Kubernetes release, the default
/// one, and the benchmark's run count it quotes.
#[test]
fn the_readme_states_what_the_code_does() {
    let readme = std::fs::read_to_string(workspace().join("README.md")).expect("README.md");
    let (major, minor) = dind::version::OLDEST_SUPPORTED;
    let oldest = format!("Kubernetes {major}.{minor} and newer are supported");
    assert!(readme.contains(&oldest), "README lacks {oldest:?}");
    let default = dind::settings::DEFAULT_KUBERNETES_VERSION;
    assert!(
        readme.contains(&format!("| `{default}` |")),
        "README's default is not {default}"
    );
    let bench = std::fs::read_to_string(workspace().join("scripts/bench-up.sh")).expect("bench");
    let runs = bench
        .lines()
        .find_map(|l| l.strip_prefix("runs=${RUNS:-"))
        .and_then(|rest| rest.strip_suffix('}'))
        .expect("bench-up.sh sets runs");
    let speed = readme
        .split("\n## Speed\n")
        .nth(1)
        .expect("a Speed section");
    let quoted = speed
        .split("median of ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the Speed section quotes a run count");
    assert!(
        quoted == runs || speed.contains(&format!("RUNS={quoted} scripts/bench-up.sh")),
        "the Speed section quotes {quoted} runs; bench-up.sh runs {runs} unless RUNS says how many"
    );
    assert!(
        readme.contains("the CNI, the published ports"),
        "the dry-run paragraph"
    );
}

/// A bad value names where it came from, and `settings` says so before (instead of)
/// its table; a mistyped config-file key gets the closest known key.
#[test]
fn bad_input_names_its_source_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, "ip-mod: ipv6\n").expect("config written");
    let config = config.to_string_lossy().to_string();
    /// (plugin, arguments, the one environment variable, what stderr's first line says)
    type Case<'a> = (&'a str, &'a [&'a str], (&'a str, &'a str), &'a str);
    let table: [Case; 4] = [
        (
            "kubectl-dind",
            &["up", "--dry-run"],
            ("IP_MODE", "ipv7"),
            "IP_MODE: ",
        ),
        (
            "docker-dind",
            &["up", "--dry-run"],
            ("NUM_NODES", "many"),
            "NUM_NODES: ",
        ),
        (
            "kubectl-dind",
            &["settings"],
            ("CLUSTER_ID", "300"),
            "CLUSTER_ID: ",
        ),
        (
            "docker-dind",
            &["settings"],
            ("DIND_CONFIG", &config),
            "did you mean ip-mode?",
        ),
    ];
    for (bin, args, env, says) in table {
        let out = run(bin, args, &[env]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{bin} {args:?} {env:?}: {stderr}"
        );
        let first = stderr.lines().next().unwrap_or_default();
        assert!(first.contains(says), "{bin} {args:?} {env:?}: {stderr}");
        assert!(
            out.stdout.is_empty(),
            "{bin} {args:?}: nothing on stdout before the error"
        );
    }
}
