//! YAML that reads the same under YAML 1.1 as under 1.2.
//!
//! kubeadm, kubectl and the kubelet read YAML through `sigs.k8s.io/yaml`, which is
//! go-yaml v2: a YAML 1.1 reader. There, a plain `off`, `on`, `yes`, `no`, `y` or `n`
//! is a boolean and `1_000` an integer. serde_yaml writes YAML 1.2 and leaves such strings
//! unquoted, so a component argument `APISERVER_anonymous_auth=off` would reach kubeadm
//! as `false` and fail to decode into its string field. [`to_string`] serializes a
//! [`Value`] with every such string (and mapping key) single-quoted.

use anyhow::Context;
use serde_yaml::{Mapping, Value};

/// The plain scalars YAML 1.1 resolves to booleans (<https://yaml.org/type/bool.html>).
pub const YAML11_BOOLS: &[&str] = &[
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
    "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
];

/// Whether a YAML 1.1 reader would not read `text`, written plain, as a string, where
/// serde_yaml (YAML 1.2) writes it plain: the 1.1 booleans, and the 1.1 integers and
/// floats with `_` separators or base-60 parts (<https://yaml.org/type/int.html>).
pub fn is_ambiguous(text: &str) -> bool {
    if YAML11_BOOLS.contains(&text) {
        return true;
    }
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let numeric = !unsigned.is_empty()
        && unsigned.starts_with(|c: char| c.is_ascii_digit())
        && unsigned
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '_' | ':' | '.'));
    numeric && (unsigned.contains('_') || unsigned.contains(':'))
}

/// Serializes `value` as YAML whose strings stay strings under YAML 1.1.
pub fn to_string(value: &Value) -> anyhow::Result<String> {
    let mut quoted = Vec::new();
    let marked = mark(value, &mut quoted);
    let mut text = serde_yaml::to_string(&marked).context("serializing YAML")?;
    // Replaced from the last marker down, so that marker 1 never matches inside 10.
    for (index, original) in quoted.iter().enumerate().rev() {
        let single = format!("'{}'", original.replace('\'', "''"));
        text = text.replace(&marker(index), &single);
    }
    Ok(text)
}

/// A plain-safe stand-in for the `index`th ambiguous string.
fn marker(index: usize) -> String {
    format!("dind-yaml11-quoted-{index}-x")
}

fn mark(value: &Value, quoted: &mut Vec<String>) -> Value {
    match value {
        Value::String(text) if is_ambiguous(text) => {
            quoted.push(text.clone());
            Value::String(marker(quoted.len() - 1))
        }
        Value::Sequence(items) => Value::Sequence(items.iter().map(|v| mark(v, quoted)).collect()),
        Value::Mapping(map) => Value::Mapping(
            map.iter()
                .map(|(k, v)| (mark(k, quoted), mark(v, quoted)))
                .collect::<Mapping>(),
        ),
        Value::Tagged(tagged) => Value::Tagged(Box::new(serde_yaml::value::TaggedValue {
            tag: tagged.tag.clone(),
            value: mark(&tagged.value, quoted),
        })),
        other => other.clone(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
    use yaml_rust2::scanner::{Marker, TScalarStyle};

    /// Every scalar of `text` as a YAML 1.1 reader types it: `(value, is_string)`. Quoted
    /// scalars are strings; plain ones are strings unless YAML 1.1 resolves them to a
    /// boolean, null, integer or float. Built on yaml-rust2's parser events, which keep
    /// the scalar style that a YAML 1.2 loader throws away.
    pub(crate) fn yaml11_scalars(text: &str) -> Vec<(String, bool)> {
        struct Scalars(Vec<(String, bool)>);
        impl MarkedEventReceiver for Scalars {
            fn on_event(&mut self, event: Event, _: Marker) {
                if let Event::Scalar(value, style, _, _) = event {
                    let string = style != TScalarStyle::Plain || resolves_to_string(&value);
                    self.0.push((value, string));
                }
            }
        }
        let mut scalars = Scalars(Vec::new());
        Parser::new_from_str(text)
            .load(&mut scalars, true)
            .expect("valid YAML");
        scalars.0
    }

    /// YAML 1.1's implicit resolution of a plain scalar, from its type specs.
    fn resolves_to_string(plain: &str) -> bool {
        let null = ["", "~", "null", "Null", "NULL"].contains(&plain);
        let digits = plain.trim_start_matches(['-', '+']).replace('_', "");
        let int = !digits.is_empty()
            && (digits.chars().all(|c| c.is_ascii_digit())
                || digits
                    .split(':')
                    .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
                || digits
                    .strip_prefix("0x")
                    .is_some_and(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()))
                || digits
                    .strip_prefix("0b")
                    .is_some_and(|b| !b.is_empty() && b.chars().all(|c| c == '0' || c == '1')));
        let float = digits.parse::<f64>().is_ok() && digits.contains('.')
            || [".inf", ".Inf", ".INF", ".nan", ".NaN", ".NAN"].contains(&digits.as_str());
        !(YAML11_BOOLS.contains(&plain) || null || int || float)
    }

    #[test]
    fn ambiguous_strings_stay_strings_under_yaml_1_1() {
        let strings = [
            "off",
            "On",
            "yes",
            "N",
            "TRUE",
            "1_000",
            "1:30",
            "-2_0",
            "plain",
            "10.244.0.0/16",
            "fd00::1",
            "v1.33.0",
            "it's",
            "0",
        ];
        let doc = Value::Mapping(
            strings
                .iter()
                .map(|s| (Value::from(*s), Value::from(*s)))
                .chain([
                    ("flag".into(), Value::Bool(false)),
                    ("n".into(), 3u8.into()),
                ])
                .collect(),
        );
        let text = to_string(&doc).unwrap();
        assert!(!text.contains("dind-yaml11"), "{text}");
        let back: Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(back, doc, "{text}");
        let scalars = yaml11_scalars(&text);
        for s in strings {
            let typed: Vec<bool> = scalars
                .iter()
                .filter(|(v, _)| v == s)
                .map(|(_, string)| *string)
                .collect();
            assert_eq!(typed, [true, true], "{s} as key and value in:\n{text}");
        }
        assert!(
            scalars.contains(&("false".into(), false)),
            "a real bool stays a bool"
        );
        assert!(
            scalars.contains(&("3".into(), false)),
            "a number stays a number"
        );
    }

    #[test]
    fn what_is_ambiguous() {
        for yes in ["off", "Y", "no", "1_0", "+1:20", "190:20:30.15"] {
            assert!(is_ambiguous(yes), "{yes}");
        }
        for no in [
            "offline", "x", "10", "1.5", "fd00::1", ":1", "v1:2", "", "-",
        ] {
            assert!(!is_ambiguous(no), "{no}");
        }
    }
}
