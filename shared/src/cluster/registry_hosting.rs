//! The `local-registry-hosting` ConfigMap of KEP-1755 ("Standard for communicating a
//! local registry"), which tools such as Tilt and Skaffold read to learn where to push:
//! namespace `kube-public`, data key `localRegistryHosting.v1`, a YAML document with
//! `host`, `hostFromContainerRuntime`, `hostFromClusterNetwork` and `help`
//! (kubernetes/enhancements `keps/sig-cluster-lifecycle/generic/1755-communicating-a-local-registry`).

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ObjectMeta, Patch, PatchParams};
use std::collections::BTreeMap;
use std::net::IpAddr;

pub const NAMESPACE: &str = "kube-public";
pub const NAME: &str = "local-registry-hosting";
pub const DATA_KEY: &str = "localRegistryHosting.v1";
/// Where users read how dind's local registry works.
pub const HELP: &str = "https://github.com/dind-dev/dind#a-local-registry";
/// Server-side apply's field manager: dind owns the fields it writes.
const FIELD_MANAGER: &str = "dind";

/// The ConfigMap for a registry published on `localhost:host_port` that the cluster's
/// pods and nodes reach at `cluster_address:registry_port`.
pub fn hosting_configmap(host_port: u16, cluster_address: IpAddr, registry_port: u16) -> ConfigMap {
    let in_cluster = match cluster_address {
        IpAddr::V4(a) => format!("{a}:{registry_port}"),
        IpAddr::V6(a) => format!("[{a}]:{registry_port}"),
    };
    let document = format!(
        "host: \"localhost:{host_port}\"\n\
         hostFromContainerRuntime: \"localhost:{host_port}\"\n\
         hostFromClusterNetwork: \"{in_cluster}\"\n\
         help: \"{HELP}\"\n"
    );
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(NAME.to_string()),
            namespace: Some(NAMESPACE.to_string()),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([(DATA_KEY.to_string(), document)])),
        ..ConfigMap::default()
    }
}

/// Writes the ConfigMap with server-side apply, creating or updating it.
pub async fn apply(client: kube::Client, config_map: &ConfigMap) -> anyhow::Result<()> {
    let api: Api<ConfigMap> = Api::namespaced(client, NAMESPACE);
    // Server-side apply wants apiVersion and kind in the body.
    let body = serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": NAME, "namespace": NAMESPACE},
        "data": config_map.data,
    });
    api.patch(
        NAME,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
    .map(drop)
    .map_err(|e| anyhow::anyhow!("writing ConfigMap {NAMESPACE}/{NAME}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_follows_the_kep() {
        // (host port, cluster address, hostFromClusterNetwork)
        let table = [
            (5001, "10.192.5.254", "10.192.5.254:5000"),
            (5999, "fd00:20:5::5001", "[fd00:20:5::5001]:5000"),
        ];
        for (port, address, in_cluster) in table {
            let cm = hosting_configmap(port, address.parse().unwrap(), 5000);
            assert_eq!(cm.metadata.name.as_deref(), Some("local-registry-hosting"));
            assert_eq!(cm.metadata.namespace.as_deref(), Some("kube-public"));
            let doc: serde_yaml::Value = serde_yaml::from_str(&cm.data.unwrap()[DATA_KEY]).unwrap();
            assert_eq!(
                doc["host"].as_str(),
                Some(format!("localhost:{port}").as_str())
            );
            assert_eq!(
                doc["hostFromContainerRuntime"].as_str(),
                Some(format!("localhost:{port}").as_str())
            );
            assert_eq!(doc["hostFromClusterNetwork"].as_str(), Some(in_cluster));
            assert_eq!(doc["help"].as_str(), Some(HELP));
        }
    }
}
