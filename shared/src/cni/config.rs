//! The CNI config list dind writes into every node for the plugins it configures itself
//! (`bridge`, `ptp`): `host-local` ranges from the node's pod subnets, and `portmap`.
//!
//! No loopback config is written: containerd's CRI plugin sets up each pod's loopback
//! interface on its own.

use crate::plan::NodePlan;
use crate::settings::Cni;
use ipnet::IpNet;
use serde_json::{json, Value};

/// Where containerd looks for CNI configuration inside a node.
pub const CONFIG_DIR: &str = "/etc/cni/net.d";

/// The config list dind writes for `bridge` and `ptp`.
pub const CONFIG_FILE: &str = "/etc/cni/net.d/10-dind.conflist";

/// The bridge device `bridge` puts pods on.
const BRIDGE_NAME: &str = "cni0";

/// The CNI files to write into one node, as (path, content); empty for manifest plugins.
pub fn node_config_files(cni: Cni, node: &NodePlan) -> Vec<(String, String)> {
    let main = match cni {
        Cni::Bridge => json!({
            "type": "bridge",
            "bridge": BRIDGE_NAME,
            "isGateway": true,
            // The plugin's own masquerade covers everything outside the node's subnet,
            // other nodes' pods included; the node's unit masquerades instead, sparing
            // the cluster's whole pod range (see [`pod_network_file`]).
            "ipMasq": false,
            // Lets a pod reach itself through a service that picks it as the backend.
            "hairpinMode": true,
            "ipam": host_local(node),
        }),
        Cni::Ptp => json!({
            "type": "ptp",
            "ipMasq": false,
            "ipam": host_local(node),
        }),
        // Every other plugin is an upstream manifest ([`super::MANIFESTS`]), which
        // writes its own config.
        _ => return Vec::new(),
    };
    let list = json!({
        "cniVersion": "0.4.0",
        "name": "dind",
        "plugins": [
            main,
            // hostPort support.
            { "type": "portmap", "capabilities": { "portMappings": true } },
        ],
    });
    vec![(CONFIG_FILE.to_string(), format!("{list:#}\n"))]
}

/// `USE_HAIRPIN`: sets the `bridge` plugin's `hairpinMode` in rendered config lists
/// (containernetworking/plugins, plugins/main/bridge/README.md: "`hairpinMode` (boolean,
/// optional): set hairpin mode for interfaces on the bridge"). `None` keeps dind's default;
/// other plugins have no such field and are left alone.
pub fn set_hairpin(files: Vec<(String, String)>, hairpin: Option<bool>) -> Vec<(String, String)> {
    let Some(on) = hairpin else {
        return files;
    };
    edit_plugins(files, &["bridge"], |plugin| {
        plugin["hairpinMode"] = Value::Bool(on)
    })
}

/// Applies `edit` to every plugin of a type in `types`, in every rendered config list of
/// `files`; files that are not config lists are left alone.
pub(super) fn edit_plugins(
    files: Vec<(String, String)>,
    types: &[&str],
    edit: impl Fn(&mut Value),
) -> Vec<(String, String)> {
    files
        .into_iter()
        .map(|(path, contents)| {
            let Ok(mut list) = serde_json::from_str::<Value>(&contents) else {
                return (path, contents);
            };
            let Some(plugins) = list["plugins"].as_array_mut() else {
                return (path, contents);
            };
            for plugin in plugins
                .iter_mut()
                .filter(|p| types.iter().any(|t| p["type"] == *t))
            {
                edit(plugin);
            }
            (path, format!("{list:#}\n"))
        })
        .collect()
}

/// `host-local` IPAM over the node's pod subnets, one range set per family, with a default
/// route per family through the plugin's gateway.
fn host_local(node: &NodePlan) -> Value {
    let ranges: Vec<Value> = node
        .pod_subnets
        .iter()
        .map(|subnet| json!([{ "subnet": subnet.to_string() }]))
        .collect();
    let routes: Vec<Value> = node
        .pod_subnets
        .iter()
        .map(|subnet| {
            json!({ "dst": match subnet {
                IpNet::V4(_) => "0.0.0.0/0",
                IpNet::V6(_) => "::/0",
            }})
        })
        .collect();
    json!({ "type": "host-local", "ranges": ranges, "routes": routes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ClusterPlan;
    use crate::settings::Settings;

    fn plan(pairs: &[(&str, &str)]) -> ClusterPlan {
        ClusterPlan::new(&Settings::from_env_pairs(pairs).unwrap()).unwrap()
    }

    fn config(cni: Cni, node: &NodePlan) -> Value {
        let files = node_config_files(cni, node);
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].0, CONFIG_FILE);
        assert!(files[0].0.starts_with(CONFIG_DIR));
        serde_json::from_str(&files[0].1).unwrap()
    }

    #[test]
    fn master_ranges_per_ip_mode() {
        // (mode, expected subnets of the master's ranges, expected default routes)
        let table: [(&str, &[&str], &[&str]); 3] = [
            ("ipv4", &["10.244.2.0/24"], &["0.0.0.0/0"]),
            ("ipv6", &["fd00:40:0:0:2::/80"], &["::/0"]),
            (
                "dual-stack",
                &["10.244.2.0/24", "fd00:40:0:0:2::/80"],
                &["0.0.0.0/0", "::/0"],
            ),
        ];
        for (mode, subnets, defaults) in table {
            let p = plan(&[("IP_MODE", mode)]);
            for cni in [Cni::Bridge, Cni::Ptp] {
                let list = config(cni, p.master());
                let main = &list["plugins"][0];
                assert_eq!(main["type"], cni.to_string(), "{mode}");
                let ranges: Vec<String> = main["ipam"]["ranges"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|set| {
                        assert_eq!(set.as_array().unwrap().len(), 1, "one range per family");
                        let net: IpNet = set[0]["subnet"].as_str().unwrap().parse().unwrap();
                        net.to_string()
                    })
                    .collect();
                let subnets: Vec<String> = subnets
                    .iter()
                    .map(|s| s.parse::<IpNet>().unwrap().to_string())
                    .collect();
                assert_eq!(ranges, subnets, "{mode} {cni}");
                let routes: Vec<&str> = main["ipam"]["routes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["dst"].as_str().unwrap())
                    .collect();
                assert_eq!(routes, defaults, "{mode} {cni}");
                assert_eq!(main["ipMasq"], false, "the node's unit masquerades");
                assert_eq!(list["plugins"][1]["type"], "portmap");
                if cni == Cni::Bridge {
                    assert_eq!(main["isGateway"], true);
                    assert_eq!(main["hairpinMode"], true);
                } else {
                    assert!(main.get("bridge").is_none());
                }
            }
        }
    }

    #[test]
    fn use_hairpin_sets_the_bridge_field_only() {
        let plan = ClusterPlan::new(&Settings::from_env_pairs(&[]).unwrap()).unwrap();
        for (cni, hairpin, want) in [
            (Cni::Bridge, None, Some(true)),
            (Cni::Bridge, Some(false), Some(false)),
            (Cni::Bridge, Some(true), Some(true)),
            (Cni::Ptp, Some(true), None),
        ] {
            let files = set_hairpin(node_config_files(cni, plan.master()), hairpin);
            let list: Value = serde_json::from_str(&files[0].1).unwrap();
            assert_eq!(
                list["plugins"][0]["hairpinMode"].as_bool(),
                want,
                "{cni} {hairpin:?}"
            );
        }
    }
}
