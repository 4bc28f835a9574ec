//! Kubernetes release versions, as far as dind needs to compare them.

use crate::error::usage;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A Kubernetes release, `vMAJOR.MINOR.PATCH` with an optional pre-release suffix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubeVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
    /// `-alpha.1`, `-rc.0` and the like, kept as written.
    pub pre: String,
}

impl KubeVersion {
    /// Parses `v1.31.2`, `1.31.2` or `v1.32.0-rc.1`.
    pub fn parse(text: &str) -> anyhow::Result<KubeVersion> {
        let bad = || {
            usage(format!(
                "invalid Kubernetes version {text:?}: expected vMAJOR.MINOR.PATCH, e.g. v1.33.1"
            ))
        };
        let rest = text.trim().strip_prefix('v').unwrap_or(text.trim());
        let (core, pre) = match rest.split_once('-') {
            Some((core, pre)) => (core, format!("-{pre}")),
            None => (rest, String::new()),
        };
        let parts: Vec<u32> = core
            .split('.')
            .map(|p| p.parse::<u32>().map_err(|_| bad()))
            .collect::<anyhow::Result<_>>()?;
        match parts.as_slice() {
            [major, minor, patch] => Ok(KubeVersion {
                major: *major,
                minor: *minor,
                patch: *patch,
                pre,
            }),
            // A minor alone: which patch is the latest needs the release list, which
            // settings are read without; say what to write instead.
            [major, minor] => Err(usage(format!(
                "Kubernetes version {text:?} names a minor release: give its patch release \
                 too, e.g. v{major}.{minor}.0 (dind does not look up the latest patch)"
            ))),
            _ => Err(bad()),
        }
    }

    /// Whether this release is at least `major.minor`.
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }

    /// Fails, as a usage error, for releases older than [`OLDEST_SUPPORTED`].
    pub fn require_supported(&self) -> anyhow::Result<()> {
        let (major, minor) = OLDEST_SUPPORTED;
        if self.at_least(major, minor) {
            return Ok(());
        }
        Err(crate::error::usage(format!(
            "Kubernetes {self} is not supported: dind runs v{major}.{minor} and newer, the releases \
             its Kubernetes API client (k8s-openapi) covers; older releases are out of upstream support"
        )))
    }
}

/// The oldest Kubernetes release dind sets up: the oldest one the pinned k8s-openapi
/// covers. (kubeadm 1.30 and older also need crictl for their preflight.)
pub const OLDEST_SUPPORTED: (u32, u32) = (1, 33);

impl fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "v{}.{}.{}{}",
            self.major, self.minor, self.patch, self.pre
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_compares() {
        let table = [
            ("v1.31.2", "v1.31.2", true),
            ("1.30.0", "v1.30.0", false),
            ("v1.37.0-rc.1", "v1.37.0-rc.1", true),
        ];
        for (text, shown, at_least_131) in table {
            let v = KubeVersion::parse(text).unwrap();
            assert_eq!(v.to_string(), shown);
            assert_eq!(v.at_least(1, 31), at_least_131, "{text}");
        }
        for bad in ["latest", "v1.31", "v1.x.0", ""] {
            assert_eq!(
                crate::error::exit_code(&KubeVersion::parse(bad).unwrap_err()),
                2,
                "{bad}"
            );
        }
        let minor = KubeVersion::parse("1.35").unwrap_err().to_string();
        assert!(
            minor.contains("give its patch release too, e.g. v1.35.0"),
            "{minor}"
        );
    }

    #[test]
    fn releases_before_1_33_are_refused_as_usage_errors() {
        for (version, supported) in [
            ("v1.33.0", true),
            ("v1.37.0", true),
            ("v1.32.9", false),
            ("v1.30.0", false),
        ] {
            let parsed = KubeVersion::parse(version).unwrap();
            assert_eq!(parsed.require_supported().is_ok(), supported, "{version}");
            let settings = crate::Settings::from_env_pairs(&[("DIND_KUBERNETES_VERSION", version)]);
            match settings {
                Ok(_) => assert!(supported, "{version}"),
                Err(e) => {
                    assert!(!supported, "{version}");
                    assert_eq!(crate::exit_code(&e), 2);
                    assert!(e.to_string().contains("v1.33 and newer"), "{e}");
                }
            }
        }
    }

    #[test]
    fn the_download_url_is_a_setting_and_must_be_http() {
        let default = crate::Settings::from_env_pairs(&[]).unwrap();
        assert_eq!(default.kube_download_url, "https://dl.k8s.io/release");
        let mirror = crate::Settings::from_env_pairs(&[(
            "DIND_KUBE_DOWNLOAD_URL",
            "http://mirror.example:8080/k8s/",
        )])
        .unwrap();
        assert_eq!(mirror.kube_download_url, "http://mirror.example:8080/k8s");
        for bad in ["dl.k8s.io/release", "ftp://x/y", "https://", "https://a b"] {
            let err =
                crate::Settings::from_env_pairs(&[("DIND_KUBE_DOWNLOAD_URL", bad)]).unwrap_err();
            assert_eq!(crate::exit_code(&err), 2, "{bad}");
        }
    }
}
