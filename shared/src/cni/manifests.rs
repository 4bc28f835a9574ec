//! How each CNI plugin is set up: one row a plugin in [`MANIFESTS`], either configured by
//! dind itself or an upstream manifest pinned to releases, each with the Kubernetes
//! minors its project's support matrix lists.

use crate::settings::Cni;
use crate::version::KubeVersion;

/// An upstream CNI manifest, pinned to one release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Manifest {
    pub name: &'static str,
    pub version: &'static str,
    pub url: &'static str,
    /// The first and last `1.MINOR` the project's support matrix lists for this release;
    /// `None` when the project publishes no matrix.
    pub tested_minors: Option<(u32, u32)>,
}

/// How one plugin comes to a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    /// dind writes the node's config list ([`super::config`]), routes and masquerade.
    Dind,
    /// An upstream manifest applied after `kubeadm init`; the plugin routes by itself.
    /// Its releases, oldest first: a cluster gets the newest one whose matrix lists its
    /// Kubernetes minor ([`release_for`]).
    Upstream(&'static [Manifest]),
    /// Nothing: the user applies a plugin, and until then the nodes stay NotReady (kind's
    /// `networking.disableDefaultCNI`, which leaves out kindnetd's manifest:
    /// pkg/cluster/internal/create/actions/installcni/cni.go).
    User,
}

/// Calico's releases and the Kubernetes minors their "Supported versions" list names
/// (tigera/docs at f2a2762, `calico_versioned_docs/version-3.31/` and `version-3.32/`
/// `_includes/partials/_system-requirements.mdx`: 3.31 is tested on 1.32 to 1.35, 3.32 on
/// 1.34 to 1.36). No release there lists 1.37, so a 1.37 cluster gets 3.32 with a note.
/// v3.29.1, pinned before, was tested on 1.29 to 1.32 only, older than any release dind
/// runs. `calico-kdd` uses the same manifest: the Kubernetes API datastore (KDD), once a
/// separate manifest, has long been calico.yaml's default.
const CALICO: &[Manifest] = &[
    Manifest {
        name: "calico",
        version: "v3.31.7",
        url: "https://raw.githubusercontent.com/projectcalico/calico/v3.31.7/manifests/calico.yaml",
        tested_minors: Some((32, 35)),
    },
    Manifest {
        name: "calico",
        version: "v3.32.1",
        url: "https://raw.githubusercontent.com/projectcalico/calico/v3.32.1/manifests/calico.yaml",
        tested_minors: Some((34, 36)),
    },
];

/// How every plugin is set up, one row a [`Cni`] variant (a unit test holds every variant
/// to a row). To move a plugin to another release, change its row here and nowhere else.
///
/// weave: v2.8.1 is the last release of an archived project (weaveworks/weave); it picks
/// the node's iptables backend itself (`prog/weave-kube/launch.sh`, legacy or nft, as
/// kube-proxy does) and gets the cluster's pod range through `IPALLOC_RANGE`
/// ([`super::weave`]).
pub const MANIFESTS: &[(Cni, Setup)] = &[
    (Cni::Bridge, Setup::Dind),
    (Cni::Ptp, Setup::Dind),
    (Cni::None, Setup::User),
    (
        Cni::Flannel,
        Setup::Upstream(&[Manifest {
            name: "flannel",
            version: "v0.27.4",
            url: "https://github.com/flannel-io/flannel/releases/download/v0.27.4/kube-flannel.yml",
            tested_minors: None,
        }]),
    ),
    (Cni::Calico, Setup::Upstream(CALICO)),
    (Cni::CalicoKdd, Setup::Upstream(CALICO)),
    (
        Cni::Weave,
        Setup::Upstream(&[Manifest {
            name: "weave",
            version: "v2.8.1",
            url: "https://github.com/weaveworks/weave/releases/download/v2.8.1/weave-daemonset-k8s-1.11.yaml",
            tested_minors: None,
        }]),
    ),
    (
        Cni::KubeRouter,
        Setup::Upstream(&[Manifest {
            name: "kube-router",
            version: "v2.4.0",
            url: "https://raw.githubusercontent.com/cloudnativelabs/kube-router/v2.4.0/daemonset/kubeadm-kuberouter.yaml",
            tested_minors: None,
        }]),
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

/// The newest upstream release of a plugin; `None` for the plugins dind configures itself
/// and for `none`.
pub fn manifest(cni: Cni) -> Option<&'static Manifest> {
    releases(cni)?.last()
}

fn releases(cni: Cni) -> Option<&'static [Manifest]> {
    MANIFESTS.iter().find_map(|(plugin, setup)| match setup {
        Setup::Upstream(releases) if *plugin == cni => Some(*releases),
        _ => None,
    })
}

/// The release a cluster of Kubernetes `version` gets: the newest whose support matrix
/// lists its minor, else the newest with a note that says the matrix does not list it.
/// `None` for the plugins dind configures itself.
pub fn release_for(cni: Cni, version: &KubeVersion) -> Option<(&'static Manifest, Option<String>)> {
    let releases = releases(cni)?;
    let listed = |m: &&Manifest| match m.tested_minors {
        Some((first, last)) => version.major == 1 && (first..=last).contains(&version.minor),
        None => true,
    };
    if let Some(release) = releases.iter().rev().find(listed) {
        return Some((release, None));
    }
    let newest = releases.last()?;
    let (first, last) = newest.tested_minors?;
    let note = format!(
        "{} {} is tested on Kubernetes 1.{first} to 1.{last} (its support matrix), not on \
         {version}; it is the newest release dind pins",
        newest.name, newest.version
    );
    Some((newest, Some(note)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_manifest_plugin_is_pinned() {
        for (cni, setup) in MANIFESTS {
            let Setup::Upstream(releases) = setup else {
                continue;
            };
            assert!(!releases.is_empty(), "{cni}");
            for m in *releases {
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
                assert_eq!(m.name, releases[0].name, "{cni}");
            }
            // Oldest first, so the newest listed release wins.
            let minors: Vec<_> = releases.iter().map(|m| m.tested_minors).collect();
            let mut sorted = minors.clone();
            sorted.sort();
            assert_eq!(minors, sorted, "{cni}");
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

    #[test]
    fn each_kubernetes_release_gets_a_calico_its_matrix_lists() {
        // (Kubernetes, calico release, a note that the matrix does not list it)
        let table = [
            ("v1.33.1", "v3.31.7", false),
            ("v1.34.0", "v3.32.1", false),
            ("v1.35.2", "v3.32.1", false),
            ("v1.36.0", "v3.32.1", false),
            ("v1.37.0", "v3.32.1", true),
        ];
        for (kubernetes, expected, noted) in table {
            let version = KubeVersion::parse(kubernetes).unwrap();
            for cni in [Cni::Calico, Cni::CalicoKdd] {
                let (release, note) = release_for(cni, &version).unwrap();
                assert_eq!(release.version, expected, "{kubernetes} {cni}");
                assert_eq!(note.is_some(), noted, "{kubernetes} {cni}: {note:?}");
                if let Some(note) = note {
                    assert!(note.contains("1.34 to 1.36"), "{note}");
                    assert!(note.contains(kubernetes), "{note}");
                }
            }
        }
        // Every release dind runs gets a calico, listed or noted.
        let (oldest, newest) = (
            crate::version::OLDEST_SUPPORTED.1,
            KubeVersion::parse(crate::settings::DEFAULT_KUBERNETES_VERSION)
                .unwrap()
                .minor,
        );
        for minor in oldest..=newest {
            let version = KubeVersion::parse(&format!("v1.{minor}.0")).unwrap();
            assert!(release_for(Cni::Calico, &version).is_some(), "1.{minor}");
        }
    }

    #[test]
    fn plugins_without_a_matrix_get_their_one_release_without_a_note() {
        let version = KubeVersion::parse("v1.37.0").unwrap();
        for (cni, release) in [
            (Cni::Flannel, "v0.27.4"),
            (Cni::Weave, "v2.8.1"),
            (Cni::KubeRouter, "v2.4.0"),
        ] {
            let (m, note) = release_for(cni, &version).unwrap();
            assert_eq!((m.version, note), (release, None), "{cni}");
        }
        assert!(release_for(Cni::Bridge, &version).is_none());
        assert!(release_for(Cni::Ptp, &version).is_none());
    }
}
