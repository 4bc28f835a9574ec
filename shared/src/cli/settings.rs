//! `settings`: the effective settings and where each value came from.

use super::{print, render_table, Output, SettingsFlags};
use crate::settings::Settings;
use clap::Args;
use std::collections::BTreeMap;

/// `settings`: show the effective settings.
#[derive(Debug, Clone, Args)]
pub struct SettingsArgs {
    #[command(flatten)]
    pub settings: SettingsFlags,
    /// Output format of the table on stdout.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// `settings`: every setting, its value and where it came from.
pub fn show_settings(args: &SettingsArgs) -> anyhow::Result<()> {
    let resolved = args.settings.resolve()?;
    // Validate too, so `settings` is a cheap way to check a config: every check that
    // needs no Docker, as `up --dry-run` and `up` run them. For a person (text) the
    // error alone, not after a table that scrolls it away; scripts (-o json/yaml) still
    // get the rows, e.g. a refused kubeadm-dind-cluster variable with its fate.
    let checked = Settings::from_resolved(&resolved).and_then(|settings| {
        let plan = crate::cluster::check_offline(&settings)?;
        super::flags::warn(&settings, &resolved);
        for warning in crate::cluster::api_address::exposure_warnings(&plan) {
            eprintln!("{warning}");
        }
        Ok(settings)
    });
    let checked = match (checked, args.output) {
        (Err(e), Output::Text) => return Err(e),
        (checked, _) => checked,
    };
    // A proxy or mirror URL may hold a password; `settings` output lands in CI logs.
    let hide = crate::cluster::registries::without_password;
    let image = checked.as_ref().ok().map(Settings::node_image);
    let rows: Vec<_> = resolved
        .rows()
        .into_iter()
        .map(|(env, flag, value, source)| {
            let value = hide(&shown_value(&env, value, image.as_deref()));
            (env, flag, value, source)
        })
        .collect();
    let kdc_rows: Vec<[String; 4]> = crate::settings::kdc::fate_rows(&resolved.kdc)
        .into_iter()
        .map(|[name, value, fate, detail]| [name, hide(&value), fate, detail])
        .collect();
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

/// What an unset value means, where a blank would hide it: a switch is `false`, and
/// the image is the one `up` runs.
fn shown_value(env: &str, value: String, image: Option<&str>) -> String {
    if !value.is_empty() {
        return value;
    }
    let switch = crate::settings::VARIABLES
        .iter()
        .any(|v| v.env == env && v.switch);
    match (switch, env, image) {
        (true, _, _) => "false".into(),
        (false, "DIND_IMAGE", Some(image)) => image.into(),
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_switches_and_the_image_are_shown_as_what_they_mean() {
        let table = [
            ("SKIP_SNAPSHOT", "", Some("dind-node:v1.37.0"), "false"),
            ("SKIP_SNAPSHOT", "true", None, "true"),
            (
                "DIND_IMAGE",
                "",
                Some("dind-node:v1.37.0"),
                "dind-node:v1.37.0",
            ),
            ("DIND_IMAGE", "mine:1", Some("mine:1"), "mine:1"),
            ("APISERVER_PORT", "", Some("dind-node:v1.37.0"), ""),
        ];
        for (env, value, image, shown) in table {
            assert_eq!(shown_value(env, value.into(), image), shown, "{env}");
        }
    }
}
