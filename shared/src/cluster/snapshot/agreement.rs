//! What `restore` may be told: it brings a cluster back as its snapshot has it (the
//! settings label of the snapshot), so each setting given with it must agree with the
//! snapshot's; one that differs is named with its source, never silently ignored.

use crate::settings::{Layer, ResolvedSettings, Settings, Source, VARIABLES};
use serde_json::Value;
use std::collections::BTreeSet;

/// Variables that select the cluster (they found the snapshot) or steer `up` itself, and
/// those that name programs, files and folders of this machine, which `restore` takes
/// from the user, never from the snapshot (`settings::stored`).
const NOT_COMPARED: [&str; 7] = [
    "CLUSTER_ID",
    "DIND_LABEL",
    "SKIP_SNAPSHOT",
    "E2E_REPORT_DIR",
    "DIND_PORT_FORWARDER",
    "DIND_CA_CERT_URL",
    "DIND_ADDONS",
];

/// Settings fields a snapshot is made for, set by these variables even when given at their
/// default value.
const SNAPSHOT_FIELDS: [(&str, &str); 4] = [
    ("NUM_NODES", "num_nodes"),
    ("DIND_IMAGE", "image"),
    ("DIND_KUBERNETES_VERSION", "kubernetes_version"),
    ("IP_MODE", "ip_mode"),
];

/// One line per setting given (flag, environment or config file) that differs from the
/// snapshot's; empty when they all agree.
pub fn disagreements(
    resolved: &ResolvedSettings,
    snapshot: &Settings,
) -> anyhow::Result<Vec<String>> {
    let asked = json(&Settings::from_resolved(resolved)?);
    let kept = json(snapshot);
    let selectors = |extra: Option<(&'static str, String)>| {
        let mut layer = Layer::default();
        for key in ["CLUSTER_ID", "DIND_LABEL"] {
            if let Some(value) = resolved.get(key) {
                layer.values.insert(key, value.to_string());
            }
        }
        layer.values.extend(extra);
        let r = ResolvedSettings::resolve(&layer, &Layer::default(), &Layer::default(), None);
        Settings::from_resolved(&r).ok().map(|s| json(&s))
    };
    let plain = selectors(None);
    let mut lines = Vec::new();
    for v in VARIABLES {
        let given = &resolved.values[v.env];
        if given.source == Source::Default || NOT_COMPARED.contains(&v.env) {
            continue;
        }
        // The fields this variable sets: those it changes on its own, and the ones a
        // snapshot is made for.
        let alone = selectors(given.value.clone().map(|value| (v.env, value)));
        let mut fields: BTreeSet<String> = match (&alone, &plain) {
            (Some(Value::Object(a)), Some(Value::Object(p))) => a
                .iter()
                .filter(|(k, value)| p.get(*k) != Some(value))
                .map(|(k, _)| k.clone())
                .collect(),
            _ => BTreeSet::new(),
        };
        fields.extend(
            SNAPSHOT_FIELDS
                .iter()
                .filter(|(env, _)| *env == v.env)
                .map(|(_, field)| field.to_string()),
        );
        fields.remove("version");
        fields.remove("kdc");
        if let Some(field) = fields.iter().find(|f| asked.get(f) != kept.get(f)) {
            let name = match given.source {
                Source::Flag => format!("--{}", v.flag),
                Source::Environment => v.env.to_string(),
                _ => format!("{} (config file)", v.flag),
            };
            lines.push(format!(
                "{name} asks {} where the snapshot has {}",
                show(asked.get(field)),
                show(kept.get(field))
            ));
        }
    }
    let component_args_given = resolved
        .component_args
        .values()
        .flat_map(|args| args.values())
        .any(|r| r.source != Source::Default);
    if component_args_given && asked.get("component_args") != kept.get("component_args") {
        lines.push(format!(
            "the component arguments ask {} where the snapshot has {}",
            show(asked.get("component_args")),
            show(kept.get("component_args"))
        ));
    }
    Ok(lines)
}

fn json(settings: &Settings) -> Value {
    serde_json::to_value(settings).unwrap_or_default()
}

fn show(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "none".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(flags: &[(&'static str, &str)], env: &[(&str, &str)]) -> ResolvedSettings {
        let mut layer = Layer::default();
        for (k, v) in flags {
            layer.values.insert(*k, v.to_string());
        }
        let env = Layer::from_env(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        ResolvedSettings::resolve(&layer, &env, &Layer::default(), None)
    }

    #[test]
    fn only_settings_given_and_different_are_named() {
        let snapshot = Settings::from_env_pairs(&[
            ("CLUSTER_ID", "121"),
            ("NUM_NODES", "1"),
            ("DIND_IMAGE", "dind-node:bare"),
        ])
        .unwrap();
        // (flags, env, lines naming)
        type Pairs<'a> = &'a [(&'static str, &'a str)];
        let table: [(Pairs, Pairs, &[&str]); 6] = [
            // Nothing but the selector: the snapshot's settings, no question.
            (&[("CLUSTER_ID", "121")], &[], &[]),
            // Repeating the original flags agrees.
            (
                &[
                    ("CLUSTER_ID", "121"),
                    ("NUM_NODES", "1"),
                    ("DIND_IMAGE", "dind-node:bare"),
                ],
                &[],
                &[],
            ),
            // The default node count, given explicitly, still differs from the snapshot's.
            (
                &[("CLUSTER_ID", "121"), ("NUM_NODES", "2")],
                &[],
                &["--nodes asks 2 where the snapshot has 1"],
            ),
            (
                &[("CLUSTER_ID", "121")],
                &[("IP_MODE", "ipv6")],
                &["IP_MODE asks ipv6 where the snapshot has ipv4"],
            ),
            (
                &[("CLUSTER_ID", "121"), ("CNI_PLUGIN", "ptp")],
                &[],
                &["--cni asks ptp where the snapshot has bridge"],
            ),
            // SKIP_SNAPSHOT steers up; it is restore's own refusal.
            (&[("CLUSTER_ID", "121")], &[("SKIP_SNAPSHOT", "true")], &[]),
        ];
        for (flags, env, want) in table {
            let got = disagreements(&resolved(flags, env), &snapshot).unwrap();
            assert_eq!(got, want, "{flags:?} {env:?}");
        }
    }
}
