//! How each CNI plugin is set up: one row a plugin in [`MANIFESTS`], either configured by
//! dind itself or an upstream manifest pinned to one release.

use crate::settings::Cni;

/// An upstream CNI manifest, pinned to one release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Manifest {
    pub name: &'static str,
    pub version: &'static str,
    pub url: &'static str,
}

/// How one plugin comes to a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    /// dind writes the node's config list ([`super::config`]), routes and masquerade.
    Dind,
    /// An upstream manifest applied after `kubeadm init`; the plugin routes by itself.
    Upstream(Manifest),
    /// Nothing: the user applies a plugin, and until then the nodes stay NotReady (kind's
    /// `networking.disableDefaultCNI`, which leaves out kindnetd's manifest:
    /// pkg/cluster/internal/create/actions/installcni/cni.go).
    User,
}

/// How every plugin is set up, one row a [`Cni`] variant (a unit test holds every variant
/// to a row). To move a plugin to another release, change its row here and nowhere else.
///
/// `calico-kdd` uses the same manifest as `calico`: the Kubernetes API datastore (KDD),
/// once a separate manifest, has long been calico.yaml's default.
pub const MANIFESTS: &[(Cni, Setup)] = &[
    (Cni::Bridge, Setup::Dind),
    (Cni::Ptp, Setup::Dind),
    (Cni::None, Setup::User),
    (
        Cni::Flannel,
        Setup::Upstream(Manifest {
            name: "flannel",
            version: "v0.27.4",
            url: "https://github.com/flannel-io/flannel/releases/download/v0.27.4/kube-flannel.yml",
        }),
    ),
    (
        Cni::Calico,
        Setup::Upstream(Manifest {
            name: "calico",
            version: "v3.29.1",
            url: "https://raw.githubusercontent.com/projectcalico/calico/v3.29.1/manifests/calico.yaml",
        }),
    ),
    (
        Cni::CalicoKdd,
        Setup::Upstream(Manifest {
            name: "calico",
            version: "v3.29.1",
            url: "https://raw.githubusercontent.com/projectcalico/calico/v3.29.1/manifests/calico.yaml",
        }),
    ),
    (
        Cni::Weave,
        Setup::Upstream(Manifest {
            name: "weave",
            version: "v2.8.1",
            url: "https://github.com/weaveworks/weave/releases/download/v2.8.1/weave-daemonset-k8s-1.11.yaml",
        }),
    ),
    (
        Cni::KubeRouter,
        Setup::Upstream(Manifest {
            name: "kube-router",
            version: "v2.4.0",
            url: "https://raw.githubusercontent.com/cloudnativelabs/kube-router/v2.4.0/daemonset/kubeadm-kuberouter.yaml",
        }),
    ),
];

/// How `cni` comes to a cluster: its row of [`MANIFESTS`].
pub fn setup(cni: Cni) -> Setup {
    MANIFESTS
        .iter()
        .find(|(plugin, _)| *plugin == cni)
        .map_or(Setup::User, |(_, setup)| *setup)
}

/// Whether dind writes `cni`'s config list, routes and masquerade itself.
pub fn configured_by_dind(cni: Cni) -> bool {
    setup(cni) == Setup::Dind
}

/// The upstream manifest of a plugin; `None` for the plugins dind configures itself and
/// for `none`.
pub fn manifest(cni: Cni) -> Option<&'static Manifest> {
    MANIFESTS.iter().find_map(|(plugin, setup)| match setup {
        Setup::Upstream(manifest) if *plugin == cni => Some(manifest),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_manifest_plugin_is_pinned() {
        for (cni, setup) in MANIFESTS {
            let Setup::Upstream(m) = setup else { continue };
            let semver = m.version.strip_prefix('v').unwrap_or_default();
            assert_eq!(semver.split('.').count(), 3, "{cni}: {}", m.version);
            assert!(
                semver.split('.').all(|n| n.parse::<u32>().is_ok()),
                "{cni}: {}",
                m.version
            );
            assert!(m.url.starts_with("https://"), "{cni}");
            assert!(
                m.url.contains(&format!("/{}/", m.version)),
                "{cni}: {}",
                m.url
            );
        }
        assert_eq!(manifest(Cni::CalicoKdd), manifest(Cni::Calico));
        assert!(manifest(Cni::Bridge).is_none());
        assert!(manifest(Cni::Ptp).is_none());
        assert!(manifest(Cni::None).is_none());
    }

    #[test]
    fn only_bridge_and_ptp_are_configured_by_dind() {
        // (plugin, configured by dind)
        let table = [
            (Cni::Bridge, true),
            (Cni::Ptp, true),
            (Cni::Flannel, false),
            (Cni::None, false),
        ];
        for (cni, dind) in table {
            assert_eq!(configured_by_dind(cni), dind, "{cni}");
        }
        assert_eq!(setup(Cni::None), Setup::User);
    }
}
