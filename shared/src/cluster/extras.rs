//! What a node container gets beyond its plan, from the everyday settings: the registry,
//! CA and proxy files ([`super::registries`]), the `--publish` ports ([`super::ports`]),
//! the extra Docker networks (`DIND_CUSTOM_NETWORKS`) and the config file's
//! `containerd-config-patches`.
//!
//! [`NodeExtras::prepare`] runs before `up` creates anything, so bad input (a missing
//! CA file, a malformed registry, a network that does not exist) creates nothing;
//! [`NodeExtras::before_start`] applies them to a created node before it starts, so
//! containerd and kubelet see them on their first start.

use super::registries;
use crate::engine::{Engine, NetworkInfo};
use crate::error::usage;
use crate::node::{Node, NodeFile};
use crate::plan::ClusterPlan;
use crate::publish::PortSpec;
use crate::settings::{containerd_patches, Settings};
use anyhow::Context;

/// containerd's configuration in a node.
pub const CONTAINERD_CONFIG: &str = "/etc/containerd/config.toml";

/// The extras every node of one `up` gets.
#[derive(Debug, Clone, Default)]
pub struct NodeExtras {
    /// Placed in every node before it starts.
    pub files: Vec<NodeFile>,
    /// Existing Docker networks every node joins as well.
    pub networks: Vec<String>,
    /// Published on [`super::ports::publishing_node`].
    pub ports: Vec<PortSpec>,
    /// Merged into the node image's containerd configuration.
    pub containerd_patches: Vec<String>,
}

impl NodeExtras {
    /// Renders the extras and reads the CA certificate, before anything is created.
    /// `named_mirror`: [`super::registry_mirror::resolve`]'s file, when the mirror
    /// setting names a dind pull-through registry.
    pub fn prepare(
        settings: &Settings,
        plan: &ClusterPlan,
        named_mirror: Option<NodeFile>,
    ) -> anyhow::Result<NodeExtras> {
        let ca = match &settings.ca_cert {
            Some(source) => Some(read_ca(source)?),
            None => None,
        };
        let host_env = |name: &str| std::env::var(name).ok();
        Ok(NodeExtras {
            files: registries::node_files(settings, plan, ca.as_deref(), &host_env, named_mirror)?,
            networks: settings.custom_networks.clone(),
            ports: crate::publish::parse_all(&settings.extra_ports)?,
            containerd_patches: settings.containerd_patches.clone(),
        })
    }

    /// The checks of [`NodeExtras::prepare`] that need neither Docker nor the network, for
    /// `settings` and `up --dry-run`: a CA file that is readable and PEM (a URL only
    /// needs https), proxies, registries and published ports.
    pub fn check(settings: &Settings, plan: &ClusterPlan) -> anyhow::Result<()> {
        if let Some(source) = &settings.ca_cert {
            if ca_url(source)?.is_none() {
                read_ca(source)?;
            }
        }
        let host_env = |name: &str| std::env::var(name).ok();
        registries::node_files(settings, plan, None, &host_env, None)?;
        crate::publish::parse_all(&settings.extra_ports)?;
        containerd_patches::check(&settings.containerd_patches)?;
        Ok(())
    }

    /// Every custom network must exist already; dind does not create or remove them.
    pub fn check_networks(
        &self,
        plan: &ClusterPlan,
        existing: &[NetworkInfo],
    ) -> anyhow::Result<()> {
        let missing: Vec<&str> = self
            .networks
            .iter()
            .filter(|n| !existing.iter().any(|e| &e.name == *n))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(usage(format!(
                "DIND_CUSTOM_NETWORKS names Docker network(s) that do not exist: {}; create them first (docker network create NAME)",
                missing.join(", ")
            )));
        }
        if self.networks.contains(&plan.network.name) {
            return Err(usage(format!(
                "DIND_CUSTOM_NETWORKS names {}, the cluster's own network",
                plan.network.name
            )));
        }
        Ok(())
    }

    /// Writes the files into a created node, merges the containerd patches into the
    /// configuration its image has (the image's build set its sandbox image), and
    /// connects it to the custom networks.
    pub async fn before_start(&self, engine: &Engine, name: &str) -> anyhow::Result<()> {
        let node = Node::new(engine, name);
        if !self.files.is_empty() {
            node.write_files(&self.files).await?;
        }
        if !self.containerd_patches.is_empty() {
            let config = node.read_bytes(CONTAINERD_CONFIG).await?;
            let config = String::from_utf8(config)
                .with_context(|| format!("{CONTAINERD_CONFIG} of {name} is not UTF-8"))?;
            let patched = containerd_patches::apply(&config, &self.containerd_patches)?;
            node.write_files(&[NodeFile::new(CONTAINERD_CONFIG, patched)])
                .await?;
        }
        for network in &self.networks {
            engine.connect_network(network, name).await?;
        }
        Ok(())
    }
}

/// The CA certificate: a file, a `file://` URL, or an http(s) URL fetched with curl on
/// this machine (where the user's own proxy and trust settings apply).
fn read_ca(source: &str) -> anyhow::Result<String> {
    let pem = if let Some(url) = ca_url(source)? {
        // --globoff: brackets and braces in the URL are not curl's ranges.
        let output = std::process::Command::new("curl")
            .args(["-fsSL", "--globoff", "--max-time", "60", "--", url])
            .output()
            .with_context(|| {
                format!("running curl to download the CA certificate {source} (is curl installed?)")
            })?;
        if !output.status.success() {
            return Err(usage(format!(
                "cannot download the CA certificate {source}: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        String::from_utf8_lossy(&output.stdout).into_owned()
    } else {
        let path = source.strip_prefix("file://").unwrap_or(source);
        std::fs::read_to_string(path)
            .map_err(|e| usage(format!("cannot read the CA certificate {path}: {e}")))?
    };
    registries::check_ca(source, &pem)?;
    Ok(pem)
}

/// Every check of a cluster's settings that needs no Docker, in the order `up` runs them:
/// the plan (addresses, sizes, overlaps), the node extras, then kube-proxy's mode and
/// the kubeadm patches. `settings`, `up
/// --dry-run` and `up` all pass here, so none accepts what another refuses.
pub fn check_offline(settings: &Settings) -> anyhow::Result<ClusterPlan> {
    let plan = ClusterPlan::new(settings)?;
    NodeExtras::check(settings, &plan)?;
    crate::kubeadm::check_settings(settings, &plan)?;
    Ok(plan)
}

/// The URL of a CA certificate given as one; a trust anchor fetched in plain text could
/// be anyone's, so only https.
fn ca_url(source: &str) -> anyhow::Result<Option<&str>> {
    if source.starts_with("https://") {
        return Ok(Some(source));
    }
    if source.contains("://") && !source.starts_with("file://") {
        return Err(usage(format!(
            "invalid CA certificate {source:?} (DIND_CA_CERT_URL / --ca-cert): use a file, \
             a file:// URL or an https:// URL; a CA fetched over plain HTTP could be anyone's"
        )));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_custom_networks_are_named() {
        let settings =
            Settings::from_env_pairs(&[("DIND_CUSTOM_NETWORKS", "i11-a,i11-b")]).unwrap();
        let plan = ClusterPlan::new(&settings).unwrap();
        let extras = NodeExtras::prepare(&settings, &plan, None).unwrap();
        let net = |name: &str| NetworkInfo {
            name: name.into(),
            subnets: Vec::new(),
            labels: Default::default(),
        };
        assert!(extras
            .check_networks(&plan, &[net("i11-a"), net("i11-b")])
            .is_ok());
        let err = extras.check_networks(&plan, &[net("i11-a")]).unwrap_err();
        assert_eq!(crate::error::exit_code(&err), 2);
        assert!(err.to_string().contains("do not exist: i11-b"), "{err}");
    }

    #[test]
    fn the_ca_is_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("ca.pem");
        std::fs::write(
            &good,
            "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let bad = dir.path().join("bad.pem");
        std::fs::write(&bad, "nope").unwrap();
        let good = good.to_str().unwrap();
        assert!(read_ca(good).is_ok());
        assert!(read_ca(&format!("file://{good}")).is_ok());
        for source in [
            bad.to_str().unwrap(),
            "/no/such/ca.pem",
            "/",
            "http://ca.example/ca.pem",
            "ftp://ca.example/ca.pem",
        ] {
            assert_eq!(
                crate::error::exit_code(&read_ca(source).unwrap_err()),
                2,
                "{source}"
            );
        }
    }
}
