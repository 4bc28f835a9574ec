//! `--registry-mirror NAME` (`DIND_REGISTRY_MIRROR`) naming one of dind's pull-through
//! registries (`registry up --proxy URL --name NAME`): the nodes' containerd then sends
//! pulls of that upstream's images to the mirror first, at the mirror's fixed address on
//! the cluster network ([`super::local_registry::mirror_hosts_toml`]). The mirror joins
//! the new cluster's network at the end of `up`; until then containerd falls back to the
//! upstream itself. A value that is no such name stays a URL or host, as before.

use super::local_registry::{
    mirror_hosts_toml, node_facing_address, slot_of, PROXY_LABEL, REGISTRY_LABEL,
};
use crate::engine::Engine;
use crate::error::usage;
use crate::node::NodeFile;
use crate::plan::ClusterPlan;
use crate::settings::Settings;

/// Whether a `--registry-mirror` value can name a container rather than a host: no
/// scheme, port or dot.
pub fn could_be_name(value: &str) -> bool {
    !value.is_empty() && !value.contains(':') && !value.contains('.') && !value.contains('/')
}

/// The `hosts.toml` of a mirror named by `--registry-mirror`, or `None` when the setting
/// names none (unset, a URL, or a host that is no dind registry). Naming the local
/// registry, which is no mirror, is bad input.
pub async fn resolve(
    engine: &Engine,
    settings: &Settings,
    plan: &ClusterPlan,
) -> anyhow::Result<Option<NodeFile>> {
    let Some(value) = settings.registry_mirror.as_deref().map(str::trim) else {
        return Ok(None);
    };
    if !could_be_name(value) {
        return Ok(None);
    }
    let Some(registry) = engine
        .containers(&[(REGISTRY_LABEL, value)])
        .await?
        .into_iter()
        .find(|c| c.name == value)
    else {
        return Ok(None);
    };
    let Some(upstream) = registry.labels.get(PROXY_LABEL) else {
        return Err(usage(format!(
            "--registry-mirror {value} (DIND_REGISTRY_MIRROR): {value} is dind's local registry, not a pull-through mirror; nodes reach it as localhost:PORT without this flag. Start a mirror with `docker dind registry up --proxy URL --name NAME`"
        )));
    };
    let address = node_facing_address(&plan.network.subnets, slot_of(&registry.labels))
        .ok_or_else(|| {
            usage(format!(
                "--registry-mirror {value} (DIND_REGISTRY_MIRROR): the cluster network has no room for the mirror's address"
            ))
        })?;
    Ok(Some(mirror_hosts_toml(upstream, address)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_hosts() {
        let table = [
            ("hub-mirror", true),
            ("i22_mirror", true),
            ("mirror.local", false),
            ("mirror:5000", false),
            ("https://mirror", false),
            ("", false),
        ];
        for (value, name) in table {
            assert_eq!(could_be_name(value), name, "{value:?}");
        }
    }
}
