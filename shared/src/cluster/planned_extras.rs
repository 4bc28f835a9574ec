//! What `up --dry-run` shows beyond the address plan: the CNI, the published ports and
//! the node that carries them, the registries, the proxies (passwords hidden), the CA,
//! the extra networks, the default StorageClass and the addons. Pure: it reads the same
//! functions `up` takes these from, so the plan says what `up` will do.

use super::registries;
use crate::manifests::{self, Addon};
use crate::plan::ClusterPlan;
use crate::settings::{Cni, Settings};
use serde::Serialize;

/// Everything a node or the cluster gets from the everyday settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedExtras {
    /// `None` with `--nodes-only`: no Kubernetes, no CNI.
    pub cni: Option<Cni>,
    pub published_ports: Vec<PlannedPort>,
    pub registries: PlannedRegistries,
    /// `None` when no proxy is set.
    pub proxy: Option<PlannedProxy>,
    pub ca_cert: Option<String>,
    pub custom_networks: Vec<String>,
    /// The default StorageClass's provisioner and release; `None` with `--no-storage`
    /// or `--nodes-only`.
    pub storage: Option<String>,
    /// Applied in this order once the cluster is ready; none with `--nodes-only`.
    pub addons: Vec<String>,
}

/// One `--publish`, on the node that carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedPort {
    pub node: String,
    /// `ADDR:HOST:CONTAINER/PROTO`.
    pub publish: String,
}

/// Where containerd in every node pulls from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedRegistries {
    /// The docker.io mirror, as a URL.
    pub mirror: Option<String>,
    /// Registry hosts reached over plain HTTP or unverified TLS.
    pub insecure: Vec<String>,
}

/// The proxy variables containerd and kubelet get.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedProxy {
    pub http: Option<String>,
    pub https: Option<String>,
    pub no_proxy: Vec<String>,
}

/// The extras of `settings` and `plan`; `host_env` reads this machine's variables (for
/// `DIND_PROPAGATE_HTTP_PROXY`). Fails as `up` would on bad input.
pub fn planned_extras(
    settings: &Settings,
    plan: &ClusterPlan,
    nodes_only: bool,
    host_env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<PlannedExtras> {
    let specs = crate::publish::parse_all(&settings.extra_ports)?;
    let carrier = super::ports::publishing_node(plan).to_string();
    let published_ports = specs
        .iter()
        .map(|spec| PlannedPort {
            node: carrier.clone(),
            publish: spec.to_string(),
        })
        .collect();
    let mirror = settings
        .registry_mirror
        .as_deref()
        .map(registries::mirror_url)
        .transpose()?
        .map(|url| registries::without_password(&url));
    let insecure = settings
        .insecure_registries
        .iter()
        .map(|r| registries::registry_host(r))
        .collect::<anyhow::Result<_>>()?;
    let proxy = registries::proxy(settings, plan, host_env)?.map(|p| PlannedProxy {
        http: p.http.as_deref().map(registries::without_password),
        https: p.https.as_deref().map(registries::without_password),
        no_proxy: p.no_proxy,
    });
    let addons = manifests::parse_addons(&settings.addons, settings.skip_dashboard)?;
    let kubernetes = !nodes_only;
    Ok(PlannedExtras {
        cni: kubernetes.then_some(settings.cni),
        published_ports,
        registries: PlannedRegistries { mirror, insecure },
        proxy,
        ca_cert: settings.ca_cert.clone(),
        custom_networks: settings.custom_networks.clone(),
        storage: (kubernetes && !settings.no_storage)
            .then(|| format!("{} {}", manifests::STORAGE.name, manifests::STORAGE.version)),
        addons: if kubernetes {
            addons.iter().map(addon_name).collect()
        } else {
            Vec::new()
        },
    })
}

fn addon_name(addon: &Addon) -> String {
    match addon {
        Addon::Predefined(pinned) => format!("{} {}", pinned.name, pinned.version),
        Addon::File(path) => path.display().to_string(),
        Addon::Url(url) => url.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extras(pairs: &[(&str, &str)], nodes_only: bool) -> PlannedExtras {
        let settings = Settings::from_env_pairs(pairs).unwrap();
        let plan = ClusterPlan::new(&settings).unwrap();
        planned_extras(&settings, &plan, nodes_only, &|_| None).unwrap()
    }

    #[test]
    fn the_plan_shows_what_up_will_add() {
        let default = extras(&[], false);
        assert_eq!(default.cni, Some(Cni::Bridge));
        assert!(default.published_ports.is_empty() && default.proxy.is_none());
        assert!(default
            .storage
            .as_deref()
            .unwrap()
            .starts_with(manifests::STORAGE.name));
        assert!(default.addons.is_empty());

        let everyday = extras(
            &[
                ("CNI_PLUGIN", "flannel"),
                ("EXTRA_PORTS", "18080:80,127.0.0.1:8443:443/tcp"),
                ("DIND_REGISTRY_MIRROR", "mirror.example:5000"),
                ("DIND_INSECURE_REGISTRIES", "reg.local:5001"),
                ("DIND_HTTP_PROXY", "http://user:secret@proxy.example:3128"),
                ("DIND_ADDONS", "dashboard"),
                ("DIND_NO_STORAGE", "true"),
            ],
            false,
        );
        assert_eq!(everyday.cni, Some(Cni::Flannel));
        let ports: Vec<(&str, &str)> = everyday
            .published_ports
            .iter()
            .map(|p| (p.node.as_str(), p.publish.as_str()))
            .collect();
        assert_eq!(
            ports,
            [
                ("kube-node-1", "127.0.0.1:18080:80/tcp"),
                ("kube-node-1", "127.0.0.1:8443:443/tcp")
            ]
        );
        assert_eq!(
            everyday.registries.mirror.as_deref(),
            Some("https://mirror.example:5000")
        );
        assert_eq!(everyday.registries.insecure, ["reg.local:5001"]);
        let proxy = everyday.proxy.unwrap();
        assert_eq!(
            proxy.http.as_deref(),
            Some("http://user:***@proxy.example:3128")
        );
        assert!(
            proxy.no_proxy.iter().any(|n| n == "10.96.0.0/12"),
            "{:?}",
            proxy.no_proxy
        );
        assert_eq!(everyday.storage, None);
        assert_eq!(everyday.addons.len(), 1);
        assert!(everyday.addons[0].starts_with("dashboard "));

        let no_workers = extras(&[("NUM_NODES", "0"), ("EXTRA_PORTS", "80:80")], true);
        assert_eq!(no_workers.published_ports[0].node, "kube-master");
        assert_eq!((no_workers.cni, no_workers.storage), (None, None));
    }
}
