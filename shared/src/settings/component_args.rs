//! The control plane's extra arguments (`APISERVER_*`, `--apiserver-arg`,
//! `apiserver-args:`): their names checked, each shown with where it came from, and one
//! warning for each that came from the environment. kubeadm-dind-cluster read every
//! `APISERVER_*` variable, so dind still does; but a variable set for another tool
//! (`APISERVER_HOST`) silently became a flag, and `APISERVER_AUTHORIZATION_MODE` opened
//! a cluster without anyone seeing it.

use super::{Component, ResolvedSettings, Source};
use crate::error::usage;
use serde::Serialize;

/// One argument of one component, as `settings` and `up --dry-run` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComponentArg {
    /// `kube-apiserver`, `kube-controller-manager`, `kube-scheduler`.
    pub component: &'static str,
    pub name: String,
    pub value: String,
    pub source: Source,
    /// What set it: the variable, the flag or the config key.
    pub given_as: String,
}

/// The binary a component's arguments go to.
fn binary(component: Component) -> &'static str {
    match component {
        Component::Apiserver => "kube-apiserver",
        Component::ControllerManager => "kube-controller-manager",
        Component::Scheduler => "kube-scheduler",
    }
}

/// Every component argument, with its source.
pub fn component_args(resolved: &ResolvedSettings) -> Vec<ComponentArg> {
    let mut args = Vec::new();
    for (component, named) in &resolved.component_args {
        for (name, resolved) in named {
            let given_as = match resolved.source {
                Source::Environment => format!(
                    "{}{}",
                    component.env_prefix(),
                    name.to_ascii_uppercase().replace('-', "_")
                ),
                Source::Flag => format!("--{} {name}=…", component.flag()),
                Source::File | Source::Default => {
                    format!("{}: {{{name}: …}}", component.file_key())
                }
            };
            args.push(ComponentArg {
                component: binary(*component),
                name: name.clone(),
                value: resolved.value.clone().unwrap_or_default(),
                source: resolved.source,
                given_as,
            });
        }
    }
    args
}

/// An argument name kubeadm can pass as `--NAME`: lowercase letters, digits and `-`,
/// starting with a letter or digit.
pub fn is_valid_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Refuses argument names kubeadm could not pass as `--NAME`: lowercase letters, digits
/// and `-`, starting with a letter or digit.
pub fn check_names(args: &[ComponentArg]) -> anyhow::Result<()> {
    for arg in args {
        if !is_valid_name(&arg.name) {
            return Err(usage(format!(
                "invalid {} argument name {:?} (from {}, {}): use lowercase letters, digits and '-'",
                arg.component, arg.name, arg.given_as, arg.source
            )));
        }
    }
    Ok(())
}

/// One line for each argument that came from the environment, so a variable set for
/// something else is seen before it changes the control plane.
pub fn warnings(args: &[ComponentArg]) -> Vec<String> {
    args.iter()
        .filter(|arg| arg.source == Source::Environment)
        .map(|arg| {
            format!(
                "{}={} from the environment becomes {} --{}={} (kubeadm-dind-cluster's convention; unset it if it was meant for another tool)",
                arg.given_as, arg.value, arg.component, arg.name, arg.value
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Layer;

    fn resolved(env: &[(&str, &str)], flags: &[(Component, &str, &str)]) -> ResolvedSettings {
        let env = Layer::from_env(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let mut flag_layer = Layer::default();
        for (component, name, value) in flags {
            flag_layer
                .component_args
                .entry(*component)
                .or_default()
                .insert(name.to_string(), value.to_string());
        }
        ResolvedSettings::resolve(&flag_layer, &env, &Layer::default(), None)
    }

    #[test]
    fn arguments_show_where_they_came_from() {
        let r = resolved(
            &[("APISERVER_FOO", "bar"), ("SCHEDULER_V", "2")],
            &[(Component::ControllerManager, "node-monitor-period", "5s")],
        );
        let args = component_args(&r);
        let shown: Vec<(&str, &str, &str, Source, &str)> = args
            .iter()
            .map(|a| {
                (
                    a.component,
                    a.name.as_str(),
                    a.value.as_str(),
                    a.source,
                    a.given_as.as_str(),
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                (
                    "kube-apiserver",
                    "foo",
                    "bar",
                    Source::Environment,
                    "APISERVER_FOO"
                ),
                (
                    "kube-controller-manager",
                    "node-monitor-period",
                    "5s",
                    Source::Flag,
                    "--controller-manager-arg node-monitor-period=…"
                ),
                (
                    "kube-scheduler",
                    "v",
                    "2",
                    Source::Environment,
                    "SCHEDULER_V"
                ),
            ]
        );
        let warnings = warnings(&args);
        assert_eq!(warnings.len(), 2);
        assert!(
            warnings[0].starts_with(
                "APISERVER_FOO=bar from the environment becomes kube-apiserver --foo=bar"
            ),
            "{warnings:?}"
        );
        assert!(check_names(&args).is_ok());
    }

    #[test]
    fn names_kubeadm_cannot_pass_are_refused_with_their_source() {
        type Env<'a> = &'a [(&'a str, &'a str)];
        type Flags<'a> = &'a [(Component, &'a str, &'a str)];
        // (environment, flags, the source the error names)
        let table: &[(Env, Flags, &str)] = &[
            (
                &[],
                &[(Component::Apiserver, "a b", "1")],
                "--apiserver-arg a b=…",
            ),
            (
                &[],
                &[(Component::Apiserver, "", "1")],
                "--apiserver-arg =…",
            ),
            (
                &[],
                &[(Component::Scheduler, "A", "1")],
                "--scheduler-arg A=…",
            ),
            (
                &[],
                &[(Component::Scheduler, "-x", "1")],
                "--scheduler-arg -x=…",
            ),
            (&[("APISERVER_A;B", "1")], &[], "APISERVER_A;B"),
        ];
        for (env, flags, source) in table {
            let error = check_names(&component_args(&resolved(env, flags)))
                .unwrap_err()
                .to_string();
            assert!(error.contains(source), "{error}");
            assert_eq!(error.lines().count(), 1);
        }
    }
}
