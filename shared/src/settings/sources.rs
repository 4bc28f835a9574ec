//! Where raw setting values come from: the environment, the YAML config file and the
//! flags each fill a [`Layer`], and [`ResolvedSettings::resolve`] picks the winner of every
//! variable (flag > environment > file > default), remembering its [`Source`].

use super::kdc;
use super::kubeadm_patches::{Json6902Patch, KubeadmPatches, JSON6902_KEY, MERGE_KEY};
use super::table::{variable_of_flag, Component, DefaultValue, VARIABLES};
use super::values::IpMode;
use crate::error::usage;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use DefaultValue::{ByIpMode, Fixed, None as Unset};

/// Where a setting's value came from, in rising precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Default,
    File,
    Environment,
    Flag,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Default => "default",
            Source::File => "file",
            Source::Environment => "environment",
            Source::Flag => "flag",
        })
    }
}

/// Raw values from one layer: variable env name → value, and component → (arg → value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layer {
    pub values: BTreeMap<&'static str, String>,
    pub component_args: BTreeMap<Component, BTreeMap<String, String>>,
    /// The kubeadm-dind-cluster variables that are set (environment only), see [`kdc`].
    pub kdc: BTreeMap<String, String>,
    /// kind's kubeadm patches (config file only: they are YAML documents).
    pub kubeadm_patches: KubeadmPatches,
    /// kind's containerd patches (config file only: they are TOML documents).
    pub containerd_patches: Vec<String>,
}

impl Layer {
    /// Reads the variables and component-argument families from environment pairs.
    pub fn from_env<I: IntoIterator<Item = (String, String)>>(vars: I) -> Layer {
        let vars: BTreeMap<String, String> = vars.into_iter().collect();
        let mut layer = Layer {
            kdc: kdc::collect(&vars),
            ..Layer::default()
        };
        layer.values.extend(kdc::aliases(&vars));
        for v in VARIABLES {
            if let Some(value) = vars.get(v.env) {
                // An empty switch variable means "off", as in the shell tool.
                if !(v.switch && value.is_empty()) {
                    layer.values.insert(v.env, value.clone());
                }
            }
        }
        for (key, value) in &vars {
            if VARIABLES.iter().any(|v| v.env == key) {
                continue;
            }
            for component in Component::ALL {
                if let Some(name) = key.strip_prefix(component.env_prefix()) {
                    if !name.is_empty() {
                        let arg = name.to_ascii_lowercase().replace('_', "-");
                        layer
                            .component_args
                            .entry(component)
                            .or_default()
                            .insert(arg, value.clone());
                    }
                }
            }
        }
        layer
    }

    /// Parses the YAML config file: flag names as keys, component arguments as maps.
    pub fn from_yaml(text: &str, path: &Path) -> anyhow::Result<Layer> {
        let doc: serde_yaml::Value = serde_yaml::from_str(text)
            .map_err(|e| usage(format!("{}: not valid YAML: {e}", path.display())))?;
        let mut layer = Layer::default();
        let map = match doc {
            serde_yaml::Value::Null => return Ok(layer),
            serde_yaml::Value::Mapping(map) => map,
            _ => {
                return Err(usage(format!(
                    "{}: expected a mapping of settings",
                    path.display()
                )))
            }
        };
        for (key, value) in map {
            let key = key.as_str().map(str::to_string).unwrap_or_default();
            if let Some(variable) = variable_of_flag(&key) {
                layer
                    .values
                    .insert(variable.env, scalar_to_string(&value, &key, path)?);
            } else if let Some(component) = Component::ALL.into_iter().find(|c| c.file_key() == key)
            {
                let args = value.as_mapping().ok_or_else(|| {
                    usage(format!(
                        "{}: {key} must be a mapping of argument names to values",
                        path.display()
                    ))
                })?;
                let entry = layer.component_args.entry(component).or_default();
                for (arg, arg_value) in args {
                    let arg = arg.as_str().unwrap_or_default().to_string();
                    entry.insert(arg.clone(), scalar_to_string(arg_value, &arg, path)?);
                }
            } else if key == MERGE_KEY || key == JSON6902_KEY {
                read_kubeadm_patches(&mut layer.kubeadm_patches, &key, value, path)?;
            } else if key == super::containerd_patches::KEY {
                layer.containerd_patches = read_containerd_patches(value, path)?;
            } else {
                let known = VARIABLES
                    .iter()
                    .map(|v| v.flag)
                    .chain(Component::ALL.iter().map(|c| c.file_key()));
                let hint = match crate::suggest::closest(&key, known).as_slice() {
                    [] => String::new(),
                    near => format!("did you mean {}? ", near.join(" or ")),
                };
                return Err(usage(format!(
                    "{}: unknown setting {key:?}; {hint}`kubectl dind settings` lists the valid ones",
                    path.display()
                )));
            }
        }
        Ok(layer)
    }
}

/// `kubeadm-config-patches` (a list of YAML documents, as text or as mappings) and
/// `kubeadm-config-patches-json6902` (a list of `group`, `version`, `kind`, `patch`),
/// checked as they are read.
fn read_kubeadm_patches(
    patches: &mut KubeadmPatches,
    key: &str,
    value: serde_yaml::Value,
    path: &Path,
) -> anyhow::Result<()> {
    let bad = |why: String| usage(format!("{}: {key}: {why}", path.display()));
    let items = match value {
        serde_yaml::Value::Sequence(items) => items,
        _ => return Err(bad("expected a list".into())),
    };
    for item in items {
        if key == MERGE_KEY {
            let text = match item {
                serde_yaml::Value::String(text) => text,
                other => serde_yaml::to_string(&other).map_err(|e| bad(e.to_string()))?,
            };
            patches.merge.push(text);
        } else {
            let mut entry: Json6902Patch = serde_yaml::from_value(item.clone()).map_err(|e| {
                bad(format!(
                    "each entry has group, version, kind and patch: {e}"
                ))
            })?;
            if let Some(operations) = item.get("patch").filter(|p| !p.is_string()) {
                entry.patch = serde_yaml::to_string(operations).map_err(|e| bad(e.to_string()))?;
            }
            patches.json6902.push(entry);
        }
    }
    patches.parsed().map(drop)
}

/// `containerd-config-patches`: a list of TOML documents, checked as they are read.
fn read_containerd_patches(value: serde_yaml::Value, path: &Path) -> anyhow::Result<Vec<String>> {
    let key = super::containerd_patches::KEY;
    let bad = |why: &str| usage(format!("{}: {key}: {why}", path.display()));
    let serde_yaml::Value::Sequence(items) = value else {
        return Err(bad("expected a list of TOML documents"));
    };
    let patches = items
        .into_iter()
        .map(|item| match item {
            serde_yaml::Value::String(text) => Ok(text),
            _ => Err(bad(
                "each entry is a TOML document as text (`- |` then the TOML)",
            )),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    super::containerd_patches::check(&patches)
        .map_err(|e| usage(format!("{}: {e}", path.display())))?;
    Ok(patches)
}

fn scalar_to_string(value: &serde_yaml::Value, key: &str, path: &Path) -> anyhow::Result<String> {
    match value {
        serde_yaml::Value::String(s) => Ok(s.clone()),
        serde_yaml::Value::Number(n) => Ok(n.to_string()),
        serde_yaml::Value::Bool(b) => Ok(b.to_string()),
        serde_yaml::Value::Sequence(items) => items
            .iter()
            .map(|item| scalar_to_string(item, key, path))
            .collect::<anyhow::Result<Vec<_>>>()
            .map(|items| items.join(",")),
        _ => Err(usage(format!(
            "{}: {key} must be a string, number or list",
            path.display()
        ))),
    }
}

/// The config file: `DIND_CONFIG`, else `<config dir>/dind/config.yaml`.
/// Returns the path and whether the user named it explicitly (then it must exist).
pub fn config_file_path(env: &BTreeMap<String, String>) -> Option<(PathBuf, bool)> {
    if let Some(path) = env.get("DIND_CONFIG").filter(|p| !p.is_empty()) {
        return Some((PathBuf::from(path), true));
    }
    dirs::config_dir().map(|dir| (dir.join("dind").join("config.yaml"), false))
}

/// Reads the config file layer, if there is one.
pub fn read_config_file(
    env: &BTreeMap<String, String>,
) -> anyhow::Result<(Layer, Option<PathBuf>)> {
    let Some((path, explicit)) = config_file_path(env) else {
        return Ok((Layer::default(), None));
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok((Layer::from_yaml(&text, &path)?, Some(path))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            Ok((Layer::default(), None))
        }
        // The user named it (DIND_CONFIG), or it exists and cannot be read as text: bad
        // input, not a failure of dind.
        Err(e) => Err(usage(format!(
            "cannot read the config file {} (DIND_CONFIG or the default path): {e}",
            path.display()
        ))),
    }
}

/// One resolved variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvedValue {
    pub value: Option<String>,
    pub source: Source,
}

/// Every variable's winning raw value and its source, before typing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvedSettings {
    pub values: BTreeMap<&'static str, ResolvedValue>,
    pub component_args: BTreeMap<Component, BTreeMap<String, ResolvedValue>>,
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// The kubeadm-dind-cluster variables that are set, see [`kdc`].
    pub kdc: BTreeMap<String, String>,
    /// The config file's kubeadm patches.
    #[serde(skip_serializing_if = "KubeadmPatches::is_empty")]
    pub kubeadm_patches: KubeadmPatches,
    /// The config file's containerd patches.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub containerd_patches: Vec<String>,
}

impl ResolvedSettings {
    /// Resolves flag > environment > file > default. IP-mode defaults follow the
    /// resolved IP mode.
    pub fn resolve(
        flags: &Layer,
        env: &Layer,
        file: &Layer,
        config_file: Option<PathBuf>,
    ) -> ResolvedSettings {
        let pick = |key: &'static str| -> Option<ResolvedValue> {
            [
                (flags, Source::Flag),
                (env, Source::Environment),
                (file, Source::File),
            ]
            .into_iter()
            .find_map(|(layer, source)| {
                layer.values.get(key).map(|v| ResolvedValue {
                    value: Some(v.clone()),
                    source,
                })
            })
        };
        let ip_mode = pick("IP_MODE")
            .and_then(|r| r.value)
            .and_then(|v| IpMode::from_str(&v).ok())
            .unwrap_or(IpMode::Ipv4);
        let mut values = BTreeMap::new();
        for v in VARIABLES {
            let resolved = pick(v.env).unwrap_or_else(|| ResolvedValue {
                value: match v.default {
                    Unset => None,
                    Fixed(s) => Some(s.to_string()),
                    ByIpMode(v4, v6, dual) => Some(
                        match ip_mode {
                            IpMode::Ipv4 => v4,
                            IpMode::Ipv6 => v6,
                            IpMode::DualStack => dual,
                        }
                        .to_string(),
                    ),
                },
                source: Source::Default,
            });
            values.insert(v.env, resolved);
        }
        let mut component_args: BTreeMap<Component, BTreeMap<String, ResolvedValue>> =
            BTreeMap::new();
        // Lowest precedence first, so higher layers overwrite.
        for (layer, source) in [
            (file, Source::File),
            (env, Source::Environment),
            (flags, Source::Flag),
        ] {
            for (component, args) in &layer.component_args {
                for (arg, value) in args {
                    component_args.entry(*component).or_default().insert(
                        arg.clone(),
                        ResolvedValue {
                            value: Some(value.clone()),
                            source,
                        },
                    );
                }
            }
        }
        ResolvedSettings {
            values,
            component_args,
            config_file,
            kdc: env.kdc.clone(),
            kubeadm_patches: file.kubeadm_patches.clone(),
            containerd_patches: file.containerd_patches.clone(),
        }
    }

    /// How the user gave a variable's value, for error messages: `--ip-mode`,
    /// `IP_MODE`, or `ip-mode in FILE`; `None` for a default.
    pub fn given_as(&self, env: &str) -> Option<String> {
        let variable = VARIABLES.iter().find(|v| v.env == env)?;
        match self.values.get(env)?.source {
            Source::Default => None,
            Source::Flag => Some(format!("--{}", variable.flag)),
            Source::Environment => Some(env.to_string()),
            Source::File => Some(match &self.config_file {
                Some(path) => format!("{} in {}", variable.flag, path.display()),
                None => variable.flag.to_string(),
            }),
        }
    }

    /// The raw value of a variable.
    pub fn get(&self, env: &str) -> Option<&str> {
        self.values.get(env).and_then(|r| r.value.as_deref())
    }

    /// Rows of `(env, flag, value, source)` for display.
    pub fn rows(&self) -> Vec<(String, String, String, Source)> {
        let mut rows: Vec<_> = VARIABLES
            .iter()
            .map(|v| {
                let r = &self.values[v.env];
                (
                    v.env.to_string(),
                    format!("--{}", v.flag),
                    r.value.clone().unwrap_or_default(),
                    r.source,
                )
            })
            .collect();
        for (component, args) in &self.component_args {
            for (arg, r) in args {
                let env = format!(
                    "{}{}",
                    component.env_prefix(),
                    arg.to_ascii_uppercase().replace('-', "_")
                );
                rows.push((
                    env,
                    format!("--{} {arg}=…", component.flag()),
                    r.value.clone().unwrap_or_default(),
                    r.source,
                ));
            }
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(pairs: &[(&'static str, &str)]) -> Layer {
        Layer {
            values: pairs.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            ..Layer::default()
        }
    }

    #[test]
    fn flag_beats_environment_beats_file_beats_default() {
        let file = layer(&[
            ("CLUSTER_ID", "3"),
            ("NUM_NODES", "4"),
            ("CNI_PLUGIN", "ptp"),
        ]);
        let env = layer(&[("CLUSTER_ID", "5"), ("NUM_NODES", "6")]);
        let flags = layer(&[("CLUSTER_ID", "7")]);
        let r = ResolvedSettings::resolve(&flags, &env, &file, None);
        let table = [
            ("CLUSTER_ID", "7", Source::Flag),
            ("NUM_NODES", "6", Source::Environment),
            ("CNI_PLUGIN", "ptp", Source::File),
            ("IP_MODE", "ipv4", Source::Default),
        ];
        for (key, value, source) in table {
            assert_eq!(
                r.values[key],
                ResolvedValue {
                    value: Some(value.into()),
                    source
                },
                "{key}"
            );
        }
    }

    #[test]
    fn unknown_file_keys_are_rejected() {
        let err = Layer::from_yaml("clusterid: 4\n", Path::new("c.yaml")).unwrap_err();
        assert_eq!(crate::error::exit_code(&err), 2);
        assert!(err.to_string().contains("unknown setting"));
        let err = Layer::from_yaml("ip-mod: ipv6\n", Path::new("c.yaml")).unwrap_err();
        assert_eq!(crate::error::exit_code(&err), 2);
        assert!(
            err.to_string()
                .contains("unknown setting \"ip-mod\"; did you mean ip-mode?"),
            "{err}"
        );
    }
}
