//! flannel's manifest, patched to the cluster's pod range.
//!
//! The pinned upstream `kube-flannel.yml` ([`super::MANIFESTS`]) hardcodes
//! `"Network": "10.244.0.0/16"` in its `net-conf.json`, and flannel hands out node subnets
//! from that range whatever kubeadm's `podSubnet` says. So `up` downloads the manifest in
//! the master (where the user's proxy and network apply, as for `kubectl apply -f URL`
//! before), [`patch`] rewrites the net-conf here, and the patched file is applied.
//!
//! Download-and-patch rather than embedding the manifest at build time: the pin stays a
//! URL and a version in one table, the binary carries no third-party manifests, and the
//! patch works on whatever a mirror serves as long as it has a `net-conf.json`.

use super::manifest_text::{indent, splice};
use crate::plan::ClusterPlan;
use anyhow::{anyhow, Context};
use ipnet::IpNet;
use serde_json::Value;

/// The ConfigMap key that holds flannel's network configuration.
const NET_CONF_KEY: &str = "net-conf.json: |";

/// Rewrites the `net-conf.json` block of a flannel manifest for the plan's pod ranges:
/// `Network` (IPv4) and, when the cluster has IPv6 pods, `EnableIPv6`/`IPv6Network`;
/// `EnableIPv4: false` for an IPv6-only cluster. Everything else is kept as it is.
pub fn patch(manifest: &str, plan: &ClusterPlan) -> anyhow::Result<String> {
    let lines: Vec<&str> = manifest.lines().collect();
    let key_at = lines
        .iter()
        .position(|l| l.trim_end().ends_with(NET_CONF_KEY))
        .ok_or_else(|| anyhow!("the flannel manifest has no {NET_CONF_KEY} block"))?;
    let key_indent = indent(lines[key_at]);
    let block_len = lines[key_at + 1..]
        .iter()
        .take_while(|l| l.trim().is_empty() || indent(l) > key_indent)
        .count();
    let block = &lines[key_at + 1..key_at + 1 + block_len];
    let block_indent = block
        .iter()
        .find(|l| !l.trim().is_empty())
        .map(|l| indent(l))
        .ok_or_else(|| anyhow!("the flannel manifest's net-conf.json is empty"))?;
    let mut conf: Value =
        serde_json::from_str(&block.join("\n")).context("reading flannel's net-conf.json")?;
    let object = conf
        .as_object_mut()
        .ok_or_else(|| anyhow!("flannel's net-conf.json is not a JSON object"))?;
    let v4 = plan.pod_cidrs.iter().find(|n| matches!(n, IpNet::V4(_)));
    let v6 = plan.pod_cidrs.iter().find(|n| matches!(n, IpNet::V6(_)));
    match v4 {
        Some(range) => {
            object.insert("Network".into(), range.to_string().into());
        }
        None => {
            object.remove("Network");
            object.insert("EnableIPv4".into(), false.into());
        }
    }
    if let Some(range) = v6 {
        object.insert("EnableIPv6".into(), true.into());
        object.insert("IPv6Network".into(), range.to_string().into());
    }
    let pad = " ".repeat(block_indent);
    let rendered = serde_json::to_string_pretty(&conf).context("writing net-conf.json")?;
    let block = rendered.lines().map(|l| format!("{pad}{l}")).collect();
    Ok(splice(&lines, key_at + 1, key_at + 1 + block_len, block))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;

    /// The ConfigMap of flannel v0.27.x's kube-flannel.yml, trimmed to what matters here
    /// (https://github.com/flannel-io/flannel/releases/download/v0.27.4/kube-flannel.yml).
    const UPSTREAM: &str = r#"---
kind: ConfigMap
apiVersion: v1
metadata:
  name: kube-flannel-cfg
  namespace: kube-flannel
data:
  cni-conf.json: |
    {
      "name": "cbr0",
      "cniVersion": "0.3.1",
      "plugins": [
        { "type": "flannel", "delegate": { "hairpinMode": true, "isDefaultGateway": true } },
        { "type": "portmap", "capabilities": { "portMappings": true } }
      ]
    }
  net-conf.json: |
    {
      "Network": "10.244.0.0/16",
      "EnableNFTables": false,
      "Backend": {
        "Type": "vxlan"
      }
    }
---
apiVersion: apps/v1
kind: DaemonSet
"#;

    fn net_conf(pairs: &[(&str, &str)]) -> Value {
        let plan = ClusterPlan::new(&Settings::from_env_pairs(pairs).unwrap()).unwrap();
        let text = patch(UPSTREAM, &plan).unwrap();
        let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&text)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect();
        assert_eq!(docs.len(), 2, "{text}");
        assert_eq!(docs[1]["kind"], "DaemonSet");
        let cni: Value =
            serde_json::from_str(docs[0]["data"]["cni-conf.json"].as_str().unwrap()).unwrap();
        assert_eq!(cni["name"], "cbr0", "cni-conf.json is untouched");
        serde_json::from_str(docs[0]["data"]["net-conf.json"].as_str().unwrap()).unwrap()
    }

    #[test]
    fn net_conf_carries_the_cluster_pod_range() {
        // (settings, Network, IPv6Network, EnableIPv4)
        type Row = (
            &'static [(&'static str, &'static str)],
            Option<&'static str>,
            Option<&'static str>,
            Option<bool>,
        );
        let table: [Row; 4] = [
            (&[], Some("10.244.0.0/16"), None, None),
            (
                &[("POD_NETWORK_CIDR", "10.50.0.0/16")],
                Some("10.50.0.0/16"),
                None,
                None,
            ),
            (
                &[
                    ("IP_MODE", "dual-stack"),
                    ("POD_NETWORK_CIDR", "10.60.0.0/16,fd00:60::/64"),
                ],
                Some("10.60.0.0/16"),
                Some("fd00:60::/64"),
                None,
            ),
            (
                &[("IP_MODE", "ipv6")],
                None,
                Some("fd00:40::/72"),
                Some(false),
            ),
        ];
        for (pairs, network, v6, enable_v4) in table {
            let conf = net_conf(pairs);
            assert_eq!(conf["Network"].as_str(), network, "{pairs:?}");
            assert_eq!(conf["IPv6Network"].as_str(), v6, "{pairs:?}");
            assert_eq!(conf["EnableIPv6"].as_bool(), v6.map(|_| true), "{pairs:?}");
            assert_eq!(conf["EnableIPv4"].as_bool(), enable_v4, "{pairs:?}");
            assert_eq!(conf["Backend"]["Type"], "vxlan", "the rest is kept");
            assert_eq!(conf["EnableNFTables"], false);
        }
    }

    #[test]
    fn a_manifest_without_net_conf_is_an_error() {
        let plan = ClusterPlan::new(&Settings::from_env_pairs(&[]).unwrap()).unwrap();
        let err = patch("kind: DaemonSet\n", &plan).unwrap_err();
        assert!(err.to_string().contains("net-conf.json"), "{err}");
    }
}
