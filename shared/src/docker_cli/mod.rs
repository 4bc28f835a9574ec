//! The Docker CLI plugin protocol: what `docker` hands `docker-dind`, and which daemon it means.
//!
//! docker runs a plugin with its own full argument list, `docker-dind [GLOBAL OPTIONS] dind
//! [ARGS]`, and leaves the global options (`--context`, `-H`, TLS flags, ...) for the plugin
//! to honour. bollard only knows `DOCKER_HOST`, so the daemon choice, Docker contexts
//! included, is redone here the way the docker CLI makes it. The parsing and the choice are
//! pure apart from reading the Docker config directory; only [`connect`] talks to a daemon.

use std::path::PathBuf;

use anyhow::{anyhow, Result};

use crate::error::usage;

mod connect;
mod context_store;
mod endpoint;
mod hosts;
mod ssh;

pub use connect::connect;
use context_store::{context_endpoint, read_current_context};
pub use endpoint::{DockerEndpoint, EndpointSource, TlsSettings, DEFAULT_LOCAL_HOST};
pub use hosts::host_name;
use hosts::normalize_host;
pub use ssh::SshTarget;

/// The plugin's command name: `docker dind`.
pub const PLUGIN_NAME: &str = "dind";
/// The argument with which docker asks a plugin for its metadata.
pub const METADATA_COMMAND: &str = "docker-cli-plugin-metadata";
/// The context name that means "no context": `-H`, `DOCKER_HOST` or the local socket.
const DEFAULT_CONTEXT: &str = "default";

/// The JSON object `docker-dind docker-cli-plugin-metadata` must print.
///
/// `SchemaVersion` stays "0.1.0": older docker releases reject any other value.
pub fn metadata_json(version: &str) -> String {
    serde_json::json!({
        "SchemaVersion": "0.1.0",
        "Vendor": "dind",
        "Version": version,
        "ShortDescription": "Multi-node Kubernetes clusters in Docker containers",
        "URL": env!("CARGO_PKG_REPOSITORY"),
    })
    .to_string()
}

/// The docker global options that docker passes on ahead of the plugin name.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct DockerGlobalOptions {
    pub config: Option<PathBuf>,
    pub context: Option<String>,
    pub host: Option<String>,
    pub debug: bool,
    pub log_level: Option<String>,
    pub tls: bool,
    /// `--tlsverify[=BOOL]`: `None` when the flag is not given. Given at all, even as
    /// `=false`, it turns TLS on (docker/cli `cli/flags/options.go`, `SetDefaultOptions`).
    pub tlsverify: Option<bool>,
    pub tlscacert: Option<PathBuf>,
    pub tlscert: Option<PathBuf>,
    pub tlskey: Option<PathBuf>,
}

/// Splits a plugin's argv (without argv\[0\]) into docker's global options and the plugin's
/// own arguments.
///
/// Globals count only when the word `dind` (or `help dind`, from `docker help dind`)
/// follows them: docker always sends that word, so without it this is a direct run of
/// `docker-dind`, and leading flags such as `--context` belong to the plugin itself.
/// Such arguments come back unchanged with default options.
pub fn split_plugin_args(args: &[String]) -> Result<(DockerGlobalOptions, Vec<String>)> {
    let direct_invocation = || Ok((DockerGlobalOptions::default(), args.to_vec()));
    let mut options = DockerGlobalOptions::default();
    // Reported only once the arguments prove to come from docker.
    let mut first_error: Option<anyhow::Error> = None;
    let mut index = 0;
    loop {
        let Some(arg) = args.get(index) else {
            return direct_invocation();
        };
        let plugin_args = if arg == PLUGIN_NAME {
            Some(args[index + 1..].to_vec())
        } else if arg == "help" && args.get(index + 1).is_some_and(|next| next == PLUGIN_NAME) {
            let mut rest = args[index + 2..].to_vec();
            rest.push("--help".to_string());
            Some(rest)
        } else {
            None
        };
        if let Some(plugin_args) = plugin_args {
            return match first_error {
                Some(error) => Err(error),
                None => Ok((options, plugin_args)),
            };
        }
        match parse_global_option(args, index, &mut options) {
            Some((consumed, outcome)) => {
                if let Err(error) = outcome {
                    first_error.get_or_insert(error);
                }
                index += consumed;
            }
            None => return direct_invocation(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum GlobalFlag {
    Config,
    Context,
    Debug,
    Host,
    LogLevel,
    Tls,
    TlsVerify,
    TlsCaCert,
    TlsCert,
    TlsKey,
}

impl GlobalFlag {
    fn from_long(name: &str) -> Option<Self> {
        Some(match name {
            "config" => GlobalFlag::Config,
            "context" => GlobalFlag::Context,
            "debug" => GlobalFlag::Debug,
            "host" => GlobalFlag::Host,
            "log-level" => GlobalFlag::LogLevel,
            "tls" => GlobalFlag::Tls,
            "tlsverify" => GlobalFlag::TlsVerify,
            "tlscacert" => GlobalFlag::TlsCaCert,
            "tlscert" => GlobalFlag::TlsCert,
            "tlskey" => GlobalFlag::TlsKey,
            _ => return None,
        })
    }

    fn from_short(letter: char) -> Option<Self> {
        Some(match letter {
            'c' => GlobalFlag::Context,
            'D' => GlobalFlag::Debug,
            'H' => GlobalFlag::Host,
            'l' => GlobalFlag::LogLevel,
            _ => return None,
        })
    }

    fn is_switch(self) -> bool {
        matches!(
            self,
            GlobalFlag::Debug | GlobalFlag::Tls | GlobalFlag::TlsVerify
        )
    }

    fn set_value(self, options: &mut DockerGlobalOptions, value: String) -> Result<()> {
        match self {
            GlobalFlag::Config => options.config = Some(value.into()),
            GlobalFlag::Context => options.context = Some(value),
            GlobalFlag::Host => {
                if options.host.is_some() {
                    return Err(usage("Specify only one -H"));
                }
                options.host = Some(value);
            }
            GlobalFlag::LogLevel => options.log_level = Some(value),
            GlobalFlag::TlsCaCert => options.tlscacert = Some(value.into()),
            GlobalFlag::TlsCert => options.tlscert = Some(value.into()),
            GlobalFlag::TlsKey => options.tlskey = Some(value.into()),
            GlobalFlag::Debug | GlobalFlag::Tls | GlobalFlag::TlsVerify => {
                let on = parse_go_bool(&value).ok_or_else(|| {
                    usage(format!(
                        "invalid value {value:?} for a docker switch: expected true or false"
                    ))
                })?;
                self.set_switch(options, on);
            }
        }
        Ok(())
    }

    fn set_switch(self, options: &mut DockerGlobalOptions, on: bool) {
        match self {
            GlobalFlag::Debug => options.debug = on,
            GlobalFlag::Tls => options.tls = on,
            GlobalFlag::TlsVerify => options.tlsverify = Some(on),
            _ => {}
        }
    }
}

/// Go's `strconv.ParseBool`, which docker's flag parser uses for `--debug=false` and the like.
fn parse_go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Reads one docker global option at `args[index]` the way docker's flag parser (pflag)
/// does: `--name value`, `--name=value`, `-X value`, `-X=value`, `-Xvalue`, and switches
/// bundled as `-DH value`. Returns how many words it used, or `None` when the word is no
/// global option (or its value is missing).
fn parse_global_option(
    args: &[String],
    index: usize,
    options: &mut DockerGlobalOptions,
) -> Option<(usize, Result<()>)> {
    let arg = args[index].as_str();
    let next_word = || args.get(index + 1).cloned();
    if let Some(long) = arg.strip_prefix("--") {
        let (name, inline_value) = match long.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (long, None),
        };
        let flag = GlobalFlag::from_long(name)?;
        return match (inline_value, flag.is_switch()) {
            (Some(value), _) => Some((1, flag.set_value(options, value))),
            (None, true) => {
                flag.set_switch(options, true);
                Some((1, Ok(())))
            }
            (None, false) => Some((2, flag.set_value(options, next_word()?))),
        };
    }
    let letters = arg
        .strip_prefix('-')
        .filter(|letters| !letters.is_empty())?;
    for (position, letter) in letters.char_indices() {
        let flag = GlobalFlag::from_short(letter)?;
        let after = &letters[position + letter.len_utf8()..];
        if let Some(value) = after.strip_prefix('=') {
            return Some((1, flag.set_value(options, value.to_string())));
        }
        if flag.is_switch() {
            flag.set_switch(options, true);
            continue;
        }
        return if after.is_empty() {
            Some((2, flag.set_value(options, next_word()?)))
        } else {
            Some((1, flag.set_value(options, after.to_string())))
        };
    }
    Some((1, Ok(())))
}

/// Picks the daemon as the docker CLI does: `--context`, then `-H`, then `DOCKER_HOST`,
/// then `DOCKER_CONTEXT`, then `currentContext` in `config.json`, else the local socket.
/// Context `default` means the `-H`/`DOCKER_HOST`/socket default. `env` reads the
/// environment (a parameter so tests can supply their own).
pub fn select_endpoint(
    options: &DockerGlobalOptions,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<DockerEndpoint> {
    let env = |name: &str| env(name).filter(|value| !value.is_empty());
    if options.context.is_some() && options.host.is_some() {
        return Err(usage(
            "conflicting options: either specify --host or --context, not both",
        ));
    }
    let named_context = if let Some(context) = &options.context {
        let source = EndpointSource::ContextFlag {
            context: context.clone(),
        };
        Some((context.clone(), source))
    } else if options.host.is_some() || env("DOCKER_HOST").is_some() {
        None
    } else if let Some(context) = env("DOCKER_CONTEXT") {
        let source = EndpointSource::DockerContextEnv {
            context: context.clone(),
        };
        Some((context, source))
    } else {
        let path = docker_config_dir(options, &env)?.join("config.json");
        read_current_context(&path)?.map(|context| {
            let source = EndpointSource::ConfigFile {
                context: context.clone(),
                path,
            };
            (context, source)
        })
    };
    match named_context {
        Some((context, source)) if context != DEFAULT_CONTEXT => {
            context_endpoint(&docker_config_dir(options, &env)?, &context, source)
        }
        _ => default_endpoint(options, &env),
    }
}

/// `--config`, else `DOCKER_CONFIG`, else `~/.docker`.
fn docker_config_dir(
    options: &DockerGlobalOptions,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<PathBuf> {
    if let Some(dir) = &options.config {
        return Ok(dir.clone());
    }
    if let Some(dir) = env("DOCKER_CONFIG") {
        return Ok(dir.into());
    }
    let home = env("HOME")
        .map(PathBuf::from)
        .or_else(dirs::home_dir)
        .ok_or_else(|| {
            anyhow!("cannot find the Docker config directory: no home directory; set DOCKER_CONFIG")
        })?;
    Ok(home.join(".docker"))
}

/// The endpoint of the `default` context: `-H`, `DOCKER_HOST` or docker's default host,
/// with TLS from the `--tls*` flags or `DOCKER_TLS`, `DOCKER_TLS_VERIFY`, `DOCKER_CERT_PATH`.
fn default_endpoint(
    options: &DockerGlobalOptions,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<DockerEndpoint> {
    let tls = default_tls(options, env)?;
    let (raw_host, source) = match (&options.host, env("DOCKER_HOST")) {
        (Some(host), _) => (host.clone(), EndpointSource::HostFlag),
        (None, Some(host)) => (host, EndpointSource::DockerHostEnv),
        (None, None) => (String::new(), EndpointSource::BuiltInDefault),
    };
    let host = normalize_host(&raw_host, tls.is_some()).map_err(|reason| {
        usage(format!(
            "invalid Docker host {raw_host:?} from {source}: {reason}"
        ))
    })?;
    Ok(DockerEndpoint { host, source, tls })
}

fn default_tls(
    options: &DockerGlobalOptions,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<TlsSettings>> {
    // docker/cli `cli/flags/options.go`: `--tlsverify` defaults to DOCKER_TLS_VERIFY being
    // set, `--tls` to DOCKER_TLS; `SetDefaultOptions` turns TLS on when `--tlsverify` is
    // given at all (even `=false`) or true, and verification is exactly `--tlsverify`.
    let verify = options
        .tlsverify
        .unwrap_or_else(|| env("DOCKER_TLS_VERIFY").is_some());
    let tls = options.tls || env("DOCKER_TLS").is_some() || options.tlsverify.is_some() || verify;
    if !tls {
        return Ok(None);
    }
    // `InstallFlags` fixes the certificate directory from DOCKER_CERT_PATH or
    // `config.Dir()` (DOCKER_CONFIG or ~/.docker) before any flag is parsed, so `--config`
    // does not move it.
    let cert_dir = match env("DOCKER_CERT_PATH") {
        Some(dir) => PathBuf::from(dir),
        None => docker_config_dir(&DockerGlobalOptions::default(), env)?,
    };
    // An explicit empty path means no file (`TLSDataFromFiles` skips ""); a defaulted
    // client certificate or key that does not exist is dropped (`SetDefaultOptions`); the
    // defaulted CA is kept, and docker fails reading it when it is missing.
    let explicit = |path: &Option<PathBuf>| {
        path.as_ref()
            .map(|path| Some(path.clone()).filter(|path| !path.as_os_str().is_empty()))
    };
    let defaulted_if_present = |flag: &Option<PathBuf>, file: &str| {
        explicit(flag).unwrap_or_else(|| Some(cert_dir.join(file)).filter(|path| path.exists()))
    };
    Ok(Some(TlsSettings {
        verify,
        ca: explicit(&options.tlscacert).unwrap_or_else(|| Some(cert_dir.join("ca.pem"))),
        cert: defaulted_if_present(&options.tlscert, "cert.pem"),
        key: defaulted_if_present(&options.tlskey, "key.pem"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit_code;
    use context_store::context_dir_name;
    use std::collections::HashMap;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn metadata_is_exactly_the_documented_object() {
        let parsed: serde_json::Value = serde_json::from_str(&metadata_json("0.1.0")).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!({
                "SchemaVersion": "0.1.0",
                "Vendor": "dind",
                "Version": "0.1.0",
                "ShortDescription": "Multi-node Kubernetes clusters in Docker containers",
                "URL": "https://github.com/dind-dev/dind",
            })
        );
    }

    #[test]
    fn split_plugin_args_table() {
        let opts = DockerGlobalOptions::default;
        let cases: Vec<(&str, DockerGlobalOptions, &str)> = vec![
            // What docker sends for `docker dind up`.
            ("dind up", opts(), "up"),
            ("--config /cfg dind up", DockerGlobalOptions { config: Some("/cfg".into()), ..opts() }, "up"),
            ("--config=/cfg dind up", DockerGlobalOptions { config: Some("/cfg".into()), ..opts() }, "up"),
            ("-c remote dind up", DockerGlobalOptions { context: Some("remote".into()), ..opts() }, "up"),
            ("--context remote dind up", DockerGlobalOptions { context: Some("remote".into()), ..opts() }, "up"),
            ("--context=remote dind up", DockerGlobalOptions { context: Some("remote".into()), ..opts() }, "up"),
            ("-cremote dind up", DockerGlobalOptions { context: Some("remote".into()), ..opts() }, "up"),
            ("-H tcp://h:1 dind up", DockerGlobalOptions { host: Some("tcp://h:1".into()), ..opts() }, "up"),
            ("-H=tcp://h:1 dind up", DockerGlobalOptions { host: Some("tcp://h:1".into()), ..opts() }, "up"),
            ("--host tcp://h:1 dind up", DockerGlobalOptions { host: Some("tcp://h:1".into()), ..opts() }, "up"),
            ("--host=tcp://h:1 dind up", DockerGlobalOptions { host: Some("tcp://h:1".into()), ..opts() }, "up"),
            ("-D dind up", DockerGlobalOptions { debug: true, ..opts() }, "up"),
            ("--debug dind up", DockerGlobalOptions { debug: true, ..opts() }, "up"),
            ("--debug=false dind up", opts(), "up"),
            ("-DH tcp://h:1 dind up", DockerGlobalOptions { debug: true, host: Some("tcp://h:1".into()), ..opts() }, "up"),
            ("-l warn dind up", DockerGlobalOptions { log_level: Some("warn".into()), ..opts() }, "up"),
            ("--log-level=warn dind up", DockerGlobalOptions { log_level: Some("warn".into()), ..opts() }, "up"),
            (
                "--tls --tlsverify --tlscacert /t/ca.pem --tlscert=/t/cert.pem --tlskey /t/key.pem dind up",
                DockerGlobalOptions {
                    tls: true,
                    tlsverify: Some(true),
                    tlscacert: Some("/t/ca.pem".into()),
                    tlscert: Some("/t/cert.pem".into()),
                    tlskey: Some("/t/key.pem".into()),
                    ..opts()
                },
                "up",
            ),
            // Plugin arguments after `dind` are the plugin's, even when they look global.
            ("-D dind up --context kind -D", DockerGlobalOptions { debug: true, ..opts() }, "up --context kind -D"),
            // `docker help dind [COMMAND]`.
            ("help dind", opts(), "--help"),
            ("-D help dind up", DockerGlobalOptions { debug: true, ..opts() }, "up --help"),
            // Direct runs of `docker-dind`, with no `dind` word: unchanged.
            ("docker-cli-plugin-metadata", opts(), "docker-cli-plugin-metadata"),
            ("up --num-nodes 3", opts(), "up --num-nodes 3"),
            ("--context kind-ctx up", opts(), "--context kind-ctx up"),
            ("-D", opts(), "-D"),
            ("--host", opts(), "--host"),
            ("", opts(), ""),
        ];
        for (line, want_options, want_rest) in cases {
            let (options, rest) = split_plugin_args(&words(line))
                .unwrap_or_else(|error| panic!("{line:?}: {error:#}"));
            assert_eq!(options, want_options, "options of {line:?}");
            assert_eq!(rest, words(want_rest), "plugin args of {line:?}");
        }
    }

    #[test]
    fn metadata_request_from_docker_passes_through_as_first_plugin_arg() {
        let (_, rest) = split_plugin_args(&words("docker-cli-plugin-metadata")).unwrap();
        assert_eq!(rest.first().map(String::as_str), Some(METADATA_COMMAND));
    }

    #[test]
    fn bad_globals_before_dind_are_usage_errors() {
        for line in ["--debug=maybe dind up", "-H tcp://a:1 -H tcp://b:1 dind up"] {
            let error = split_plugin_args(&words(line)).unwrap_err();
            assert_eq!(exit_code(&error), 2, "{line:?}: {error:#}");
        }
        // Without the `dind` word they are not docker's, so they are left to the plugin.
        let (_, rest) = split_plugin_args(&words("--debug=maybe up")).unwrap();
        assert_eq!(rest, words("--debug=maybe up"));
    }

    type EnvVars<'a> = &'a [(&'a str, &'a str)];

    /// A Docker config directory, `<temp home>/.docker`, with contexts.
    struct DockerConfig {
        home: tempfile::TempDir,
    }

    impl DockerConfig {
        fn new() -> Self {
            let home = tempfile::tempdir().unwrap();
            std::fs::create_dir(home.path().join(".docker")).unwrap();
            DockerConfig { home }
        }

        fn path(&self) -> PathBuf {
            self.home.path().join(".docker")
        }

        /// Returns the context's TLS directory (not created).
        fn add_context(&self, name: &str, meta_json: &str) -> PathBuf {
            let meta_dir = self
                .path()
                .join("contexts/meta")
                .join(context_dir_name(name));
            std::fs::create_dir_all(&meta_dir).unwrap();
            std::fs::write(meta_dir.join("meta.json"), meta_json).unwrap();
            self.path()
                .join("contexts/tls")
                .join(context_dir_name(name))
                .join("docker")
        }

        fn add_host_context(&self, name: &str, host: &str) {
            self.add_context(
                name,
                &format!(
                    r#"{{"Name":"{name}","Metadata":{{}},"Endpoints":{{"docker":{{"Host":"{host}","SkipTLSVerify":false}}}}}}"#
                ),
            );
        }

        fn set_current_context(&self, name: &str) {
            std::fs::write(
                self.path().join("config.json"),
                format!(r#"{{"auths":{{}},"currentContext":"{name}"}}"#),
            )
            .unwrap();
        }

        /// `vars`, with DOCKER_CONFIG pointing here unless `vars` sets it.
        fn env(&self, vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
            let mut map: HashMap<String, String> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            map.entry("DOCKER_CONFIG".into())
                .or_insert_with(|| self.path().display().to_string());
            move |name| map.get(name).cloned()
        }

        /// Only HOME, pointing at this directory's parent.
        fn home_env(&self) -> impl Fn(&str) -> Option<String> {
            let home = self.home.path().display().to_string();
            move |name| (name == "HOME").then(|| home.clone())
        }
    }

    #[test]
    fn context_dir_name_is_the_sha256_of_the_name() {
        // `printf default | sha256sum`
        assert_eq!(
            context_dir_name("default"),
            "37a8eec1ce19687d132fe29051dca629d164e2c4958ba141d5f4133a33f0688f"
        );
    }

    #[test]
    fn each_source_beats_the_next() {
        let config = DockerConfig::new();
        for name in ["flag-ctx", "env-ctx", "file-ctx"] {
            config.add_host_context(name, &format!("tcp://{name}:2375"));
        }
        config.set_current_context("file-ctx");
        let with_context = DockerGlobalOptions {
            context: Some("flag-ctx".into()),
            ..Default::default()
        };
        let with_host = DockerGlobalOptions {
            host: Some("tcp://flag-host:2375".into()),
            ..Default::default()
        };
        let none = DockerGlobalOptions::default();
        let all_env = [
            ("DOCKER_HOST", "tcp://env-host:2375"),
            ("DOCKER_CONTEXT", "env-ctx"),
        ];
        let cases: Vec<(&str, &DockerGlobalOptions, EnvVars, &str, EndpointSource)> = vec![
            (
                "--context beats DOCKER_HOST, DOCKER_CONTEXT and config.json",
                &with_context,
                &all_env,
                "tcp://flag-ctx:2375",
                EndpointSource::ContextFlag {
                    context: "flag-ctx".into(),
                },
            ),
            (
                "-H beats DOCKER_HOST",
                &with_host,
                &all_env,
                "tcp://flag-host:2375",
                EndpointSource::HostFlag,
            ),
            (
                "DOCKER_HOST beats DOCKER_CONTEXT",
                &none,
                &all_env,
                "tcp://env-host:2375",
                EndpointSource::DockerHostEnv,
            ),
            (
                "DOCKER_CONTEXT beats config.json",
                &none,
                &[("DOCKER_CONTEXT", "env-ctx")],
                "tcp://env-ctx:2375",
                EndpointSource::DockerContextEnv {
                    context: "env-ctx".into(),
                },
            ),
            (
                "config.json currentContext beats the local socket",
                &none,
                &[],
                "tcp://file-ctx:2375",
                EndpointSource::ConfigFile {
                    context: "file-ctx".into(),
                    path: config.path().join("config.json"),
                },
            ),
            (
                "an empty DOCKER_HOST counts as unset",
                &none,
                &[("DOCKER_HOST", ""), ("DOCKER_CONTEXT", "env-ctx")],
                "tcp://env-ctx:2375",
                EndpointSource::DockerContextEnv {
                    context: "env-ctx".into(),
                },
            ),
        ];
        for (rule, options, vars, want_host, want_source) in cases {
            let endpoint = select_endpoint(options, &config.env(vars))
                .unwrap_or_else(|error| panic!("{rule}: {error:#}"));
            assert_eq!(endpoint.host, want_host, "{rule}");
            assert_eq!(endpoint.source, want_source, "{rule}");
            assert_eq!(endpoint.tls, None, "{rule}");
        }
    }

    #[test]
    fn nothing_chosen_means_the_local_socket() {
        let empty = DockerConfig::new();
        let endpoint = select_endpoint(&DockerGlobalOptions::default(), &empty.env(&[])).unwrap();
        assert_eq!(endpoint.host, DEFAULT_LOCAL_HOST);
        assert_eq!(endpoint.source, EndpointSource::BuiltInDefault);
    }

    #[test]
    fn config_flag_overrides_docker_config() {
        let env_config = DockerConfig::new();
        env_config.add_host_context("ctx", "tcp://from-env-config:2375");
        env_config.set_current_context("ctx");
        let flag_config = DockerConfig::new();
        flag_config.add_host_context("ctx", "tcp://from-flag-config:2375");
        flag_config.set_current_context("ctx");
        let options = DockerGlobalOptions {
            config: Some(flag_config.path()),
            ..Default::default()
        };
        let endpoint = select_endpoint(&options, &env_config.env(&[])).unwrap();
        assert_eq!(endpoint.host, "tcp://from-flag-config:2375");
    }

    #[test]
    fn docker_config_defaults_to_home_dot_docker() {
        let config = DockerConfig::new();
        config.add_host_context("home-ctx", "tcp://home-ctx:2375");
        config.set_current_context("home-ctx");
        let endpoint =
            select_endpoint(&DockerGlobalOptions::default(), &config.home_env()).unwrap();
        assert_eq!(endpoint.host, "tcp://home-ctx:2375");
    }

    #[test]
    fn default_context_means_the_host_default() {
        let config = DockerConfig::new();
        config.set_current_context("default");
        let cases: Vec<(&str, DockerGlobalOptions, EnvVars, &str, EndpointSource)> = vec![
            (
                "--context default with DOCKER_HOST",
                DockerGlobalOptions {
                    context: Some("default".into()),
                    ..Default::default()
                },
                &[("DOCKER_HOST", "tcp://env-host:2375")],
                "tcp://env-host:2375",
                EndpointSource::DockerHostEnv,
            ),
            (
                "DOCKER_CONTEXT=default",
                DockerGlobalOptions::default(),
                &[("DOCKER_CONTEXT", "default")],
                DEFAULT_LOCAL_HOST,
                EndpointSource::BuiltInDefault,
            ),
            (
                "currentContext default",
                DockerGlobalOptions::default(),
                &[],
                DEFAULT_LOCAL_HOST,
                EndpointSource::BuiltInDefault,
            ),
        ];
        for (rule, options, vars, want_host, want_source) in cases {
            let endpoint = select_endpoint(&options, &config.env(vars))
                .unwrap_or_else(|error| panic!("{rule}: {error:#}"));
            assert_eq!(
                (endpoint.host.as_str(), endpoint.source),
                (want_host, want_source),
                "{rule}"
            );
        }
    }

    #[test]
    fn missing_context_is_a_usage_error_naming_it() {
        let config = DockerConfig::new();
        config.set_current_context("gone-from-file");
        let cases: Vec<(DockerGlobalOptions, EnvVars, &str)> = vec![
            (
                DockerGlobalOptions {
                    context: Some("gone-flag".into()),
                    ..Default::default()
                },
                &[],
                "gone-flag",
            ),
            (
                DockerGlobalOptions::default(),
                &[("DOCKER_CONTEXT", "gone-env")],
                "gone-env",
            ),
            (DockerGlobalOptions::default(), &[], "gone-from-file"),
        ];
        for (options, vars, name) in cases {
            let error = select_endpoint(&options, &config.env(vars)).unwrap_err();
            assert_eq!(exit_code(&error), 2, "{error:#}");
            assert!(
                error.to_string().contains(&format!("\"{name}\"")),
                "{error:#}"
            );
        }
    }

    #[test]
    fn context_and_host_together_are_a_usage_error_as_in_docker() {
        let config = DockerConfig::new();
        let options = DockerGlobalOptions {
            context: Some("any".into()),
            host: Some("tcp://h:2375".into()),
            ..Default::default()
        };
        let error = select_endpoint(&options, &config.env(&[])).unwrap_err();
        assert_eq!(exit_code(&error), 2);
    }

    #[test]
    fn context_tls_material_and_skip_verify() {
        let config = DockerConfig::new();
        let tls_dir = config.add_context(
            "secure",
            r#"{"Name":"secure","Endpoints":{"docker":{"Host":"tcp://secure:2376","SkipTLSVerify":false}}}"#,
        );
        std::fs::create_dir_all(&tls_dir).unwrap();
        for file in ["ca.pem", "cert.pem", "key.pem"] {
            std::fs::write(tls_dir.join(file), "stand-in PEM").unwrap();
        }
        config.add_context(
            "insecure",
            r#"{"Name":"insecure","Endpoints":{"docker":{"Host":"tcp://insecure:2376","SkipTLSVerify":true}}}"#,
        );
        config.add_host_context("plain", "tcp://plain:2375");

        let select = |name: &str| {
            let options = DockerGlobalOptions {
                context: Some(name.into()),
                ..Default::default()
            };
            select_endpoint(&options, &config.env(&[])).unwrap()
        };
        assert_eq!(
            select("secure").tls,
            Some(TlsSettings {
                verify: true,
                ca: Some(tls_dir.join("ca.pem")),
                cert: Some(tls_dir.join("cert.pem")),
                key: Some(tls_dir.join("key.pem")),
            })
        );
        assert_eq!(
            select("insecure").tls,
            Some(TlsSettings {
                verify: false,
                ca: None,
                cert: None,
                key: None
            })
        );
        assert_eq!(select("plain").tls, None);
    }

    /// The default context's endpoint from flags and environment. Each row is what the
    /// docker CLI does, from docker/cli's `cli/flags/options.go` (`InstallFlags`: the
    /// certificate directory and the TLS defaults; `SetDefaultOptions`: `--tlsverify`
    /// given at all turns TLS on, absent default certificates are dropped),
    /// `cli/command/cli.go` (`getServerHost` → `opts.ParseHost(defaultToTLS, ...)`) and
    /// `opts/hosts.go` (`ParseTCPAddr(addr, defaultTCPHost)`: port 2375 even with TLS).
    #[test]
    fn default_context_endpoints_follow_docker() {
        struct Row {
            rule: &'static str,
            flags: &'static str,
            env: &'static [(&'static str, &'static str)],
            host: &'static str,
            /// None: plain; Some(verify).
            tls: Option<bool>,
            ca: Option<&'static str>,
            cert: Option<&'static str>,
            key: Option<&'static str>,
        }
        // $E: a directory with ca.pem, cert.pem and key.pem, named by DOCKER_CERT_PATH or
        // DOCKER_CONFIG; $F: the --config directory (a cert.pem only); $H: ~/.docker.
        let rows = [
            Row { rule: "tcp://h with TLS dials 2375 (ParseTCPAddr's defaultTCPHost)",
                flags: "--tlsverify -H tcp://h", env: &[("DOCKER_CERT_PATH", "$E")],
                host: "tcp://h:2375", tls: Some(true), ca: Some("$E/ca.pem"), cert: Some("$E/cert.pem"), key: Some("$E/key.pem") },
            Row { rule: "DOCKER_HOST=tcp://h with DOCKER_TLS_VERIFY dials 2375",
                flags: "", env: &[("DOCKER_HOST", "tcp://h"), ("DOCKER_TLS_VERIFY", "1"), ("DOCKER_CERT_PATH", "$E")],
                host: "tcp://h:2375", tls: Some(true), ca: Some("$E/ca.pem"), cert: Some("$E/cert.pem"), key: Some("$E/key.pem") },
            Row { rule: "TLS and no host: defaultTLSHost, port 2376",
                flags: "--tls", env: &[("DOCKER_CERT_PATH", "$E")],
                host: "tcp://localhost:2376", tls: Some(false), ca: Some("$E/ca.pem"), cert: Some("$E/cert.pem"), key: Some("$E/key.pem") },
            Row { rule: "--tlsverify=false: TLS on, without verification",
                flags: "--tlsverify=false -H tcp://h:2376", env: &[("DOCKER_CERT_PATH", "$E")],
                host: "tcp://h:2376", tls: Some(false), ca: Some("$E/ca.pem"), cert: Some("$E/cert.pem"), key: Some("$E/key.pem") },
            Row { rule: "--tlsverify=false beats DOCKER_TLS_VERIFY, TLS stays on",
                flags: "--tlsverify=false -H tcp://h:2376", env: &[("DOCKER_TLS_VERIFY", "1"), ("DOCKER_CERT_PATH", "$E")],
                host: "tcp://h:2376", tls: Some(false), ca: Some("$E/ca.pem"), cert: Some("$E/cert.pem"), key: Some("$E/key.pem") },
            Row { rule: "DOCKER_TLS alone: TLS without verification",
                flags: "-H tcp://h:2376", env: &[("DOCKER_TLS", "1"), ("DOCKER_CERT_PATH", "$E")],
                host: "tcp://h:2376", tls: Some(false), ca: Some("$E/ca.pem"), cert: Some("$E/cert.pem"), key: Some("$E/key.pem") },
            Row { rule: "no TLS flag or variable: plain",
                flags: "-H tcp://h", env: &[("DOCKER_CERT_PATH", "$E")],
                host: "tcp://h:2375", tls: None, ca: None, cert: None, key: None },
            Row { rule: "--config does not move the certificate directory",
                flags: "--config $F --tlsverify -H tcp://h:2376", env: &[],
                host: "tcp://h:2376", tls: Some(true), ca: Some("$H/ca.pem"), cert: None, key: None },
            Row { rule: "DOCKER_CONFIG does move it",
                flags: "--tlsverify -H tcp://h:2376", env: &[("DOCKER_CONFIG", "$E")],
                host: "tcp://h:2376", tls: Some(true), ca: Some("$E/ca.pem"), cert: Some("$E/cert.pem"), key: Some("$E/key.pem") },
            Row { rule: "cert and key without a CA (--tlscacert ''): the system roots",
                flags: "--tlsverify --tlscacert= --tlscert /c/cert.pem --tlskey /c/key.pem -H tcp://h:2376", env: &[],
                host: "tcp://h:2376", tls: Some(true), ca: None, cert: Some("/c/cert.pem"), key: Some("/c/key.pem") },
            Row { rule: "explicit paths are kept even when missing",
                flags: "--tlsverify --tlscacert /x/ca.pem --tlscert /x/cert.pem -H tcp://h:2376", env: &[("DOCKER_CERT_PATH", "$E")],
                host: "tcp://h:2376", tls: Some(true), ca: Some("/x/ca.pem"), cert: Some("/x/cert.pem"), key: Some("$E/key.pem") },
        ];

        let env_dir = tempfile::tempdir().unwrap();
        for file in ["ca.pem", "cert.pem", "key.pem"] {
            std::fs::write(env_dir.path().join(file), "stand-in PEM").unwrap();
        }
        let flag_dir = tempfile::tempdir().unwrap();
        std::fs::write(flag_dir.path().join("cert.pem"), "stand-in PEM").unwrap();
        let home = DockerConfig::new();
        let subst = |text: &str| {
            text.replace("$E", &env_dir.path().display().to_string())
                .replace("$F", &flag_dir.path().display().to_string())
                .replace("$H", &home.path().display().to_string())
        };
        for row in rows {
            let line = format!("{} dind up", subst(row.flags));
            // `--tlscacert=` is one word: an empty value.
            let (options, _) = split_plugin_args(&words(&line)).unwrap();
            let vars: Vec<(String, String)> = row
                .env
                .iter()
                .map(|(k, v)| (k.to_string(), subst(v)))
                .chain([("HOME".to_string(), home.home.path().display().to_string())])
                .collect();
            let env =
                move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
            let endpoint = select_endpoint(&options, &env)
                .unwrap_or_else(|error| panic!("{}: {error:#}", row.rule));
            assert_eq!(endpoint.host, row.host, "{}", row.rule);
            let path = |p: Option<&str>| p.map(|p| PathBuf::from(subst(p)));
            let want = row.tls.map(|verify| TlsSettings {
                verify,
                ca: path(row.ca),
                cert: path(row.cert),
                key: path(row.key),
            });
            assert_eq!(endpoint.tls, want, "{}", row.rule);
        }
    }

    /// A context's TLS from its store directory, as docker/cli's
    /// `cli/context/docker/load.go` (`tlsConfig`) reads it: cert and key without ca.pem
    /// verify against the system roots.
    #[test]
    fn context_cert_and_key_without_ca_means_system_roots() {
        let config = DockerConfig::new();
        let tls_dir = config.add_context(
            "roots",
            r#"{"Name":"roots","Endpoints":{"docker":{"Host":"tcp://roots:2376","SkipTLSVerify":false}}}"#,
        );
        std::fs::create_dir_all(&tls_dir).unwrap();
        for file in ["cert.pem", "key.pem"] {
            std::fs::write(tls_dir.join(file), "stand-in PEM").unwrap();
        }
        let options = DockerGlobalOptions {
            context: Some("roots".into()),
            ..Default::default()
        };
        let endpoint = select_endpoint(&options, &config.env(&[])).unwrap();
        assert_eq!(
            endpoint.tls,
            Some(TlsSettings {
                verify: true,
                ca: None,
                cert: Some(tls_dir.join("cert.pem")),
                key: Some(tls_dir.join("key.pem")),
            })
        );
        // And the client accepts it: no CA file is needed to build the connection.
        assert!(connect::open_client(&endpoint).is_ok());
    }

    #[test]
    fn invalid_docker_host_is_a_usage_error_naming_its_source() {
        let config = DockerConfig::new();
        let error = select_endpoint(
            &DockerGlobalOptions::default(),
            &config.env(&[("DOCKER_HOST", "ftp://x")]),
        )
        .unwrap_err();
        assert_eq!(exit_code(&error), 2);
        assert!(error.to_string().contains("DOCKER_HOST"), "{error:#}");
    }

    #[test]
    fn transports() {
        let insecure = TlsSettings {
            verify: false,
            ca: None,
            cert: None,
            key: None,
        };
        let endpoint = |host: &str, tls: Option<TlsSettings>| DockerEndpoint {
            host: host.into(),
            source: EndpointSource::HostFlag,
            tls,
        };
        // TLS without verification: refused plainly, never downgraded to plain HTTP.
        let error = connect::open_client(&endpoint("tcp://h:2376", Some(insecure))).unwrap_err();
        assert!(
            error.to_string().contains("TLS without verifying"),
            "{error:#}"
        );
        // ssh:// opens (it connects on first use, through `ssh`).
        assert!(connect::open_client(&endpoint("ssh://me@h:2222", None)).is_ok());
        assert!(connect::open_client(&endpoint("ssh://me:pw@h", None)).is_err());
    }
}
