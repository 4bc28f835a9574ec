//! kind's `kubeadmConfigPatches` and `kubeadmConfigPatchesJSON6902` for dind's rendered
//! kubeadm documents (config-file keys `kubeadm-config-patches` and
//! `kubeadm-config-patches-json6902`, so kind users' snippets carry over): merge patches
//! (RFC 7386) and JSON patches (RFC 6902), each applied to the documents of the `kind`
//! it names, and of its group and version when it gives them, as kind matches them
//! (pkg/internal/patch/resource.go, `matches`). The `json-patch` crate patches.
//!
//! A patch that does not parse, fails to apply or matches no document is refused
//! before anything is created ([`check`]).

use crate::error::usage;
use serde::{Deserialize, Serialize};
use serde_yaml::Value;

/// The kubeadm patches of a cluster, as the config file gives them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubeadmPatches {
    /// Merge patches: YAML documents naming their `kind` (and maybe `apiVersion`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merge: Vec<String>,
    /// JSON patches with the kind (and maybe group and version) they apply to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub json6902: Vec<Json6902Patch>,
}

/// One entry of `kubeadm-config-patches-json6902`: kind's `PatchJSON6902`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Json6902Patch {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    pub kind: String,
    /// The operations, as YAML or JSON text.
    pub patch: String,
}

/// The config-file keys, for messages.
pub const MERGE_KEY: &str = "kubeadm-config-patches";
pub const JSON6902_KEY: &str = "kubeadm-config-patches-json6902";

impl KubeadmPatches {
    pub fn is_empty(&self) -> bool {
        self.merge.is_empty() && self.json6902.is_empty()
    }

    /// Parses every patch, so a bad one fails with the key and position that hold it.
    pub fn parsed(&self) -> anyhow::Result<Parsed> {
        let merge = self
            .merge
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let bad = |why: String| usage(format!("{MERGE_KEY}[{i}]: {why}"));
                let value: serde_json::Value = serde_yaml::from_str(text)
                    .map_err(|e| bad(format!("not a YAML document: {e}")))?;
                let target = Target::of_document(&value)
                    .ok_or_else(|| bad("a merge patch must name the kind it patches".into()))?;
                Ok((target, value))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let json6902 = self
            .json6902
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let bad = |why: String| usage(format!("{JSON6902_KEY}[{i}]: {why}"));
                if p.kind.is_empty() {
                    return Err(bad("`kind` is required".into()));
                }
                let operations: json_patch::Patch = serde_yaml::from_str(&p.patch)
                    .map_err(|e| bad(format!("not an RFC 6902 list of operations: {e}")))?;
                let api_version = match (p.group.as_str(), p.version.as_str()) {
                    ("", version) => version.to_string(),
                    (group, version) => format!("{group}/{version}"),
                };
                Ok((
                    Target {
                        kind: p.kind.clone(),
                        api_version,
                    },
                    operations,
                ))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Parsed { merge, json6902 })
    }
}

/// The documents a patch applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub kind: String,
    /// `group/version`, `version`, `group/` or empty (any).
    pub api_version: String,
}

impl Target {
    fn of_document(doc: &serde_json::Value) -> Option<Target> {
        let kind = doc.get("kind")?.as_str()?.to_string();
        let api_version = doc
            .get("apiVersion")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_string();
        Some(Target { kind, api_version })
    }

    /// kind's rule: the kind must match; an empty apiVersion matches any, a group
    /// without a version any version of the group.
    fn matches(&self, doc: &serde_json::Value) -> bool {
        let Some(of_doc) = Target::of_document(doc) else {
            return false;
        };
        if of_doc.kind != self.kind {
            return false;
        }
        if self.api_version.is_empty() {
            return true;
        }
        let split = |v: &str| match v.rsplit_once('/') {
            Some((group, version)) => (group.to_string(), version.to_string()),
            None => (String::new(), v.to_string()),
        };
        let (group, version) = split(&of_doc.api_version);
        let (want_group, want_version) = split(&self.api_version);
        group == want_group && (want_version.is_empty() || version == want_version)
    }
}

/// Parsed patches, ready to apply.
#[derive(Debug, Clone)]
pub struct Parsed {
    merge: Vec<(Target, serde_json::Value)>,
    json6902: Vec<(Target, json_patch::Patch)>,
}

/// Which patches matched a document, in the order given (merge patches, then JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matched {
    pub merge: Vec<bool>,
    pub json6902: Vec<bool>,
}

impl Parsed {
    /// Applies every patch to the documents it matches: merge patches first, then JSON
    /// patches, as kind does. Keys keep the documents' order; new ones follow.
    pub fn apply(&self, docs: &[Value]) -> anyhow::Result<(Vec<Value>, Matched)> {
        let mut matched = Matched {
            merge: vec![false; self.merge.len()],
            json6902: vec![false; self.json6902.len()],
        };
        let mut out = Vec::with_capacity(docs.len());
        for doc in docs {
            let mut json: serde_json::Value = serde_json::to_value(doc)
                .map_err(|e| anyhow::anyhow!("a kubeadm document is not JSON: {e}"))?;
            for (i, (target, patch)) in self.merge.iter().enumerate() {
                if target.matches(&json) {
                    let mut patch = patch.clone();
                    // The document keeps its own apiVersion: the patch's only selects.
                    if let Some(map) = patch.as_object_mut() {
                        map.remove("apiVersion");
                    }
                    json_patch::merge(&mut json, &patch);
                    matched.merge[i] = true;
                }
            }
            for (i, (target, patch)) in self.json6902.iter().enumerate() {
                if target.matches(&json) {
                    json_patch::patch(&mut json, &patch.0).map_err(|e| {
                        usage(format!(
                            "{JSON6902_KEY}[{i}] does not apply to {}: {e}",
                            target.kind
                        ))
                    })?;
                    matched.json6902[i] = true;
                }
            }
            out.push(in_order_of(doc, &json));
        }
        Ok((out, matched))
    }
}

/// `patched` as YAML, its mapping keys in the order `original` has them (new keys after,
/// sorted): `serde_json` sorts keys, and reviewers read the documents.
fn in_order_of(original: &Value, patched: &serde_json::Value) -> Value {
    match (original, patched) {
        (Value::Mapping(before), serde_json::Value::Object(after)) => {
            let mut mapping = serde_yaml::Mapping::new();
            for (key, old) in before {
                if let Some(new) = key.as_str().and_then(|k| after.get(k)) {
                    mapping.insert(key.clone(), in_order_of(old, new));
                }
            }
            for (key, new) in after {
                if !mapping.contains_key(key.as_str()) {
                    mapping.insert(key.as_str().into(), in_order_of(&Value::Null, new));
                }
            }
            Value::Mapping(mapping)
        }
        (Value::Sequence(before), serde_json::Value::Array(after)) => Value::Sequence(
            after
                .iter()
                .enumerate()
                .map(|(i, new)| in_order_of(before.get(i).unwrap_or(&Value::Null), new))
                .collect(),
        ),
        (_, new) => serde_yaml::to_value(new).unwrap_or(Value::Null),
    }
}

/// Fails unless every patch matched at least one of `matched` (one per rendered set of
/// documents: init and each kind of join).
pub fn require_all_matched(patches: &KubeadmPatches, matched: &[Matched]) -> anyhow::Result<()> {
    let any = |pick: &dyn Fn(&Matched) -> &Vec<bool>, i: usize| {
        matched
            .iter()
            .any(|m| pick(m).get(i).copied().unwrap_or(false))
    };
    for (i, text) in patches.merge.iter().enumerate() {
        if !any(&|m| &m.merge, i) {
            let first = text
                .lines()
                .find(|l| l.trim_start().starts_with("kind"))
                .unwrap_or("");
            return Err(usage(format!(
                "{MERGE_KEY}[{i}] ({}) matches no kubeadm document: dind renders InitConfiguration, \
                 ClusterConfiguration, KubeletConfiguration, KubeProxyConfiguration and JoinConfiguration",
                first.trim()
            )));
        }
    }
    for (i, p) in patches.json6902.iter().enumerate() {
        if !any(&|m| &m.json6902, i) {
            return Err(usage(format!(
                "{JSON6902_KEY}[{i}] (kind {}) matches no kubeadm document",
                p.kind
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Value {
        serde_yaml::from_str(text).unwrap()
    }

    fn docs() -> Vec<Value> {
        vec![
            doc("apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nnetworking:\n  podSubnet: 10.244.0.0/16\n  dnsDomain: cluster.local\n"),
            doc("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nfailSwapOn: false\n"),
        ]
    }

    #[test]
    fn patches_match_by_kind_then_group_and_version() {
        // (merge patch, matches the ClusterConfiguration)
        let table = [
            ("kind: ClusterConfiguration\nclusterName: a\n", true),
            (
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nclusterName: a\n",
                true,
            ),
            (
                "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nclusterName: a\n",
                false,
            ),
            (
                "apiVersion: kubeadm.k8s.io/\nkind: ClusterConfiguration\nclusterName: a\n",
                true,
            ),
            (
                "apiVersion: other.io/v1beta4\nkind: ClusterConfiguration\nclusterName: a\n",
                false,
            ),
            ("kind: InitConfiguration\nclusterName: a\n", false),
        ];
        for (patch, matches) in table {
            let patches = KubeadmPatches {
                merge: vec![patch.into()],
                ..Default::default()
            };
            let (out, matched) = patches.parsed().unwrap().apply(&docs()).unwrap();
            assert_eq!(matched.merge, vec![matches], "{patch}");
            assert_eq!(out[0]["clusterName"] == "a", matches, "{patch}");
            assert_eq!(out[0]["apiVersion"], "kubeadm.k8s.io/v1beta4", "{patch}");
        }
    }

    #[test]
    fn merge_then_json_patches_keep_the_key_order() {
        let patches = KubeadmPatches {
            merge: vec!["kind: ClusterConfiguration\nnetworking:\n  dnsDomain: example.test\n  serviceSubnet: 10.0.0.0/16\n".into()],
            json6902: vec![Json6902Patch {
                group: "kubelet.config.k8s.io".into(),
                version: "v1beta1".into(),
                kind: "KubeletConfiguration".into(),
                patch: "- op: add\n  path: /maxPods\n  value: 42\n- op: remove\n  path: /failSwapOn\n".into(),
            }],
        };
        let (out, matched) = patches.parsed().unwrap().apply(&docs()).unwrap();
        assert_eq!(
            matched,
            Matched {
                merge: vec![true],
                json6902: vec![true]
            }
        );
        let networking: Vec<&str> = out[0]["networking"]
            .as_mapping()
            .unwrap()
            .keys()
            .map(|k| k.as_str().unwrap())
            .collect();
        assert_eq!(networking, ["podSubnet", "dnsDomain", "serviceSubnet"]);
        assert_eq!(out[0]["networking"]["dnsDomain"], "example.test");
        assert_eq!(out[1]["maxPods"], 42);
        assert!(out[1].get("failSwapOn").is_none());
        assert_eq!(
            out[0].as_mapping().unwrap().keys().next().unwrap().as_str(),
            Some("apiVersion")
        );
    }

    #[test]
    fn bad_and_unmatched_patches_are_usage_errors_naming_their_key() {
        let cases: [(KubeadmPatches, &str); 5] = [
            (
                KubeadmPatches {
                    merge: vec!["kind: [unclosed".into()],
                    ..Default::default()
                },
                "kubeadm-config-patches[0]: not a YAML",
            ),
            (
                KubeadmPatches {
                    merge: vec!["clusterName: a\n".into()],
                    ..Default::default()
                },
                "must name the kind",
            ),
            (
                KubeadmPatches {
                    json6902: vec![Json6902Patch {
                        kind: "KubeletConfiguration".into(),
                        patch: "- op: fly\n".into(),
                        ..Default::default()
                    }],
                    ..Default::default()
                },
                "kubeadm-config-patches-json6902[0]: not an RFC 6902",
            ),
            (
                KubeadmPatches {
                    json6902: vec![Json6902Patch {
                        kind: "KubeletConfiguration".into(),
                        patch: "- op: remove\n  path: /nothing\n".into(),
                        ..Default::default()
                    }],
                    ..Default::default()
                },
                "does not apply to KubeletConfiguration",
            ),
            (
                KubeadmPatches {
                    merge: vec!["kind: Nothing\na: b\n".into()],
                    ..Default::default()
                },
                "matches no kubeadm document",
            ),
        ];
        for (patches, needle) in cases {
            let error = patches
                .parsed()
                .and_then(|p| p.apply(&docs()))
                .and_then(|(_, m)| require_all_matched(&patches, &[m]))
                .unwrap_err();
            assert_eq!(crate::error::exit_code(&error), 2, "{needle}");
            assert!(error.to_string().contains(needle), "{needle}: {error}");
        }
    }
}
