//! weave's manifest, patched to the cluster's pod range.
//!
//! weave hands out pod addresses from `IPALLOC_RANGE`, `10.32.0.0/12` when unset
//! (`prog/weave-kube/launch.sh` at v2.8.1), whatever kubeadm's `podSubnet` and so
//! kube-proxy's `clusterCIDR` say: kube-proxy would then take pod traffic for outside
//! traffic. weave's own guide sets the range by adding the variable to the `weave`
//! container's `env` of the release manifest (`site/kubernetes/kube-addon.md`, "Manually
//! editing the YAML file"), and asks that kube-proxy's cluster CIDR match it. [`patch`]
//! does that with the plan's IPv4 pod range (weave has no IPv6; the settings refuse IPv6
//! pods with manifest plugins). Downloaded in the master and patched here, as flannel's
//! ([`super::flannel`]).

use super::manifest_text::{indent, splice};
use crate::plan::ClusterPlan;
use anyhow::{anyhow, bail};
use ipnet::IpNet;

/// The variable weave reads its address range from.
const RANGE_VARIABLE: &str = "IPALLOC_RANGE";

/// Adds `IPALLOC_RANGE` = the plan's IPv4 pod range to the `env` of the `weave` container
/// (not `weave-init` or `weave-npc`); every other line is kept as it is.
pub fn patch(manifest: &str, plan: &ClusterPlan) -> anyhow::Result<String> {
    let range = plan
        .pod_cidrs
        .iter()
        .find(|n| matches!(n, IpNet::V4(_)))
        .ok_or_else(|| anyhow!("weave needs an IPv4 pod range and the plan has none"))?;
    if manifest.contains(RANGE_VARIABLE) {
        bail!("the weave manifest already sets {RANGE_VARIABLE}");
    }
    let lines: Vec<&str> = manifest.lines().collect();
    let container_at = lines
        .iter()
        .position(|l| l.trim() == "- name: weave")
        .ok_or_else(|| anyhow!("the weave manifest has no container named weave"))?;
    let key_indent = indent(lines[container_at]) + 2;
    let env_at = lines[container_at + 1..]
        .iter()
        .take_while(|l| l.trim().is_empty() || indent(l) >= key_indent)
        .position(|l| indent(l) == key_indent && l.trim() == "env:")
        .map(|offset| container_at + 1 + offset)
        .ok_or_else(|| anyhow!("the weave container of the manifest has no env list"))?;
    let entry_indent = lines
        .get(env_at + 1)
        .filter(|l| l.trim_start().starts_with("- ") && indent(l) >= key_indent)
        .map(|l| indent(l))
        .unwrap_or(key_indent + 2);
    let pad = " ".repeat(entry_indent);
    let entry = vec![
        format!("{pad}- name: {RANGE_VARIABLE}"),
        format!("{pad}  value: {range}"),
    ];
    Ok(splice(&lines, env_at + 1, env_at + 1, entry))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;
    use serde_yaml::Value;

    /// The DaemonSet of weave v2.8.1's weave-daemonset-k8s-1.11.yaml, trimmed to the
    /// containers (https://github.com/weaveworks/weave/releases/download/v2.8.1/,
    /// `prog/weave-kube/weave-daemonset-k8s-1.11.yaml` with the release's image tags).
    const UPSTREAM: &str = r#"apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: ServiceAccount
    metadata:
      name: weave-net
      namespace: kube-system
  - apiVersion: apps/v1
    kind: DaemonSet
    metadata:
      name: weave-net
      namespace: kube-system
    spec:
      template:
        spec:
          initContainers:
            - name: weave-init
              image: 'weaveworks/weave-kube:2.8.1'
              command:
                - /home/weave/init.sh
              env:
              securityContext:
                privileged: true
          containers:
            - name: weave
              command:
                - /home/weave/launch.sh
              env:
                - name: INIT_CONTAINER
                  value: "true"
                - name: HOSTNAME
                  valueFrom:
                    fieldRef:
                      apiVersion: v1
                      fieldPath: spec.nodeName
              image: 'weaveworks/weave-kube:2.8.1'
            - name: weave-npc
              env:
                - name: HOSTNAME
                  valueFrom:
                    fieldRef:
                      apiVersion: v1
                      fieldPath: spec.nodeName
              image: 'weaveworks/weave-npc:2.8.1'
#npc-args
          hostNetwork: true
"#;

    fn plan(pairs: &[(&str, &str)]) -> ClusterPlan {
        ClusterPlan::new(&Settings::from_env_pairs(pairs).unwrap()).unwrap()
    }

    /// The `env` of every container of the patched DaemonSet, by container name.
    fn envs(text: &str) -> Vec<(String, Value)> {
        let doc: Value = serde_yaml::from_str(text).unwrap();
        let items = doc["items"].as_sequence().unwrap();
        assert_eq!(items.len(), 2, "{text}");
        let spec = &items[1]["spec"]["template"]["spec"];
        ["initContainers", "containers"]
            .iter()
            .flat_map(|key| spec[*key].as_sequence().unwrap())
            .map(|c| (c["name"].as_str().unwrap().to_string(), c["env"].clone()))
            .collect()
    }

    #[test]
    fn the_weave_container_gets_the_cluster_pod_range() {
        // (settings, IPALLOC_RANGE)
        type Pairs = &'static [(&'static str, &'static str)];
        let table: [(Pairs, &str); 3] = [
            (&[("CNI_PLUGIN", "weave")], "10.244.0.0/16"),
            (
                &[
                    ("CNI_PLUGIN", "weave"),
                    ("POD_NETWORK_CIDR", "10.50.0.0/16"),
                ],
                "10.50.0.0/16",
            ),
            (
                &[
                    ("CNI_PLUGIN", "weave"),
                    ("POD_NETWORK_CIDR", "172.30.0.0/16"),
                ],
                "172.30.0.0/16",
            ),
        ];
        let before = envs(UPSTREAM);
        for (pairs, range) in table {
            let p = plan(pairs);
            let text = patch(UPSTREAM, &p).unwrap();
            let after = envs(&text);
            assert_eq!(after.len(), 3, "{text}");
            for ((name, env), (_, old)) in after.iter().zip(&before) {
                if name != "weave" {
                    assert_eq!(env, old, "{pairs:?}: {name} is untouched");
                    continue;
                }
                let entries = env.as_sequence().unwrap();
                let ranges: Vec<&Value> = entries
                    .iter()
                    .filter(|e| e["name"] == RANGE_VARIABLE)
                    .map(|e| &e["value"])
                    .collect();
                assert_eq!(ranges, [&Value::from(range)], "{pairs:?}");
                // kube-proxy's clusterCIDR (kubeadm's podSubnet) is the same range.
                assert_eq!(p.pod_cidrs[0].to_string(), range);
                let kept: Vec<&Value> = entries
                    .iter()
                    .filter(|e| e["name"] != RANGE_VARIABLE)
                    .collect();
                assert_eq!(kept, old.as_sequence().unwrap().iter().collect::<Vec<_>>());
            }
            // Only the two lines are added; the rest, comments too, stays as it was.
            let removed: Vec<&str> = text
                .lines()
                .filter(|l| !l.contains(RANGE_VARIABLE) && !l.contains(range))
                .collect();
            assert_eq!(removed, UPSTREAM.lines().collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_manifest_weave_cannot_take_is_an_error() {
        let p = plan(&[("CNI_PLUGIN", "weave")]);
        // (manifest, what the error names)
        let table = [
            ("kind: DaemonSet\n", "no container named weave"),
            (
                "containers:\n  - name: weave\n    image: x\n",
                "has no env list",
            ),
            (
                "containers:\n  - name: weave\n    env:\n      - name: IPALLOC_RANGE\n",
                "already sets IPALLOC_RANGE",
            ),
        ];
        for (manifest, expected) in table {
            let err = patch(manifest, &p).unwrap_err().to_string();
            assert!(err.contains(expected), "{manifest:?}: {err}");
        }
    }
}
