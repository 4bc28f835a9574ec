//! kind's `containerdConfigPatches` for the nodes' `/etc/containerd/config.toml`
//! (config-file key `containerd-config-patches`: a list of TOML snippets). As kind does
//! (pkg/internal/patch/toml.go, `TOML`): the file and each patch go from TOML to JSON,
//! each patch is merged in as an RFC 7386 merge patch (the `json-patch` crate), and the
//! result goes back to TOML. Tables merge key by key, a key set to a value replaces it,
//! and lists are replaced whole.

use crate::error::usage;

/// The config-file key, for messages.
pub const KEY: &str = "containerd-config-patches";

/// Parses every patch as TOML, so a bad one fails with the position that holds it.
pub fn check(patches: &[String]) -> anyhow::Result<()> {
    parsed(patches).map(drop)
}

fn parsed(patches: &[String]) -> anyhow::Result<Vec<serde_json::Value>> {
    patches
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let table: toml::Table = toml::from_str(text)
                .map_err(|e| usage(format!("{KEY}[{i}]: not a TOML document: {e}")))?;
            serde_json::to_value(table)
                .map_err(|e| usage(format!("{KEY}[{i}]: cannot be merged as JSON: {e}")))
        })
        .collect()
}

/// `config` (a containerd config.toml) with `patches` merged in, in order.
pub fn apply(config: &str, patches: &[String]) -> anyhow::Result<String> {
    let base: toml::Table = toml::from_str(config)
        .map_err(|e| anyhow::anyhow!("the node's containerd config is not TOML: {e}"))?;
    let mut merged = serde_json::to_value(base)
        .map_err(|e| anyhow::anyhow!("the node's containerd config as JSON: {e}"))?;
    for patch in parsed(patches)? {
        json_patch::merge(&mut merged, &patch);
    }
    let table: toml::Table = serde_json::from_value(merged)
        .map_err(|e| usage(format!("{KEY}: the merged configuration is not TOML: {e}")))?;
    let text = toml::to_string(&table)
        .map_err(|e| usage(format!("{KEY}: the merged configuration is not TOML: {e}")))?;
    Ok(format!(
        "# containerd's configuration, with the {KEY} of dind's config file merged in.\n{text}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = crate::image::recipe::NODE_CONTAINERD_CONFIG;

    fn value(text: &str, path: &[&str]) -> Option<toml::Value> {
        let table: toml::Table = toml::from_str(text).unwrap();
        let mut at = toml::Value::Table(table);
        for key in path {
            at = at.get(key)?.clone();
        }
        Some(at)
    }

    const RUNC: [&str; 6] = [
        "plugins",
        "io.containerd.cri.v1.runtime",
        "containerd",
        "runtimes",
        "runc",
        "options",
    ];

    #[test]
    fn patches_merge_key_by_key_into_the_nodes_config() {
        let patches = [
            // kind's docs' example, for containerd 2's CRI plugin names.
            "[plugins.\"io.containerd.cri.v1.images\".registry]\nconfig_path = \"/etc/containerd/other.d\"\n".to_string(),
            "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]\nBinaryName = '/usr/local/bin/runc'\n".to_string(),
            "version = 3\n".to_string(),
        ];
        let merged = apply(BASE, &patches).unwrap();
        let registry = ["plugins", "io.containerd.cri.v1.images", "registry"];
        assert_eq!(
            value(&merged, &[&registry[..], &["config_path"]].concat()),
            Some("/etc/containerd/other.d".into())
        );
        // The patched table keeps its other keys; other tables are untouched.
        assert_eq!(
            value(&merged, &[&RUNC[..], &["SystemdCgroup"]].concat()),
            Some(true.into())
        );
        assert_eq!(
            value(&merged, &[&RUNC[..], &["BinaryName"]].concat()),
            Some("/usr/local/bin/runc".into())
        );
        assert_eq!(value(&merged, &["version"]), Some(3.into()));
        // dind-entrypoint still finds the line it turns on where nodes lack CAP_SYS_RESOURCE.
        assert!(
            merged
                .lines()
                .any(|l| l.trim_start() == "restrict_oom_score_adj = false"),
            "{merged}"
        );
        assert_eq!(
            apply(BASE, &[])
                .unwrap()
                .lines()
                .skip(1)
                .collect::<Vec<_>>(),
            apply(&apply(BASE, &[]).unwrap(), &[])
                .unwrap()
                .lines()
                .skip(1)
                .collect::<Vec<_>>(),
            "merging is stable"
        );
    }

    #[test]
    fn a_patch_that_is_not_toml_is_refused_with_its_position() {
        let patches = ["version = 3".to_string(), "[plugins\nbroken".to_string()];
        let error = check(&patches).unwrap_err();
        assert_eq!(crate::error::exit_code(&error), 2);
        assert!(
            error
                .to_string()
                .starts_with("containerd-config-patches[1]: not a TOML"),
            "{error}"
        );
        assert!(check(&patches[..1]).is_ok());
    }
}
