//! kube-proxy's mode (`--kube-proxy-mode`, kind's `kubeProxyMode`): which proxier the
//! `KubeProxyConfiguration` asks for, or `none` for no kube-proxy at all (a CNI that
//! replaces it). The names are kube-proxy's `ProxyMode` values
//! (pkg/proxy/apis/config/types.go: iptables, ipvs, nftables).

use crate::error::usage;
use crate::version::KubeVersion;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KubeProxyMode {
    #[default]
    Iptables,
    Nftables,
    Ipvs,
    /// No kube-proxy: kubeadm skips its addon phase.
    None,
}

impl KubeProxyMode {
    pub const ALL: [KubeProxyMode; 4] = [
        KubeProxyMode::Iptables,
        KubeProxyMode::Nftables,
        KubeProxyMode::Ipvs,
        KubeProxyMode::None,
    ];

    pub fn is_default(&self) -> bool {
        *self == KubeProxyMode::Iptables
    }

    /// Refuses a mode the release's kube-proxy cannot run: nftables is GA from 1.33
    /// (KEP-3866; beta and on by default from 1.31); ipvs is deprecated from 1.35 and
    /// behind the `KubeProxyIPVS` gate, off by default from 1.40 (KEP-5495,
    /// kubernetes/enhancements#6120).
    pub fn require_supported(self, version: &KubeVersion) -> anyhow::Result<()> {
        let refused = match self {
            KubeProxyMode::Nftables if !version.at_least(1, 33) => {
                "the nftables proxier is GA from 1.33"
            }
            KubeProxyMode::Ipvs if version.at_least(1, 40) => {
                "the ipvs proxier is off from 1.40 (KEP-5495): use nftables"
            }
            _ => return Ok(()),
        };
        Err(usage(format!(
            "--kube-proxy-mode {self} (DIND_KUBE_PROXY_MODE) cannot run on Kubernetes {version}: {refused}"
        )))
    }
}

impl FromStr for KubeProxyMode {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        KubeProxyMode::ALL
            .into_iter()
            .find(|m| m.to_string() == s)
            .ok_or_else(|| {
                usage(format!(
                    "unknown kube-proxy mode {s:?} (DIND_KUBE_PROXY_MODE, --kube-proxy-mode): use iptables, nftables, ipvs or none"
                ))
            })
    }
}

impl fmt::Display for KubeProxyMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KubeProxyMode::Iptables => "iptables",
            KubeProxyMode::Nftables => "nftables",
            KubeProxyMode::Ipvs => "ipvs",
            KubeProxyMode::None => "none",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_follow_the_release() {
        // (mode, version, supported)
        let table = [
            ("iptables", "v1.33.0", true),
            ("nftables", "v1.33.0", true),
            ("nftables", "v1.32.0", false),
            ("ipvs", "v1.37.0", true),
            ("ipvs", "v1.39.2", true),
            ("ipvs", "v1.40.0", false),
            ("none", "v1.40.0", true),
        ];
        for (mode, version, supported) in table {
            let parsed: KubeProxyMode = mode.parse().unwrap();
            assert_eq!(parsed.to_string(), mode);
            let result = parsed.require_supported(&KubeVersion::parse(version).unwrap());
            assert_eq!(result.is_ok(), supported, "{mode} {version}");
            if let Err(e) = result {
                assert_eq!(crate::error::exit_code(&e), 2);
            }
        }
        let error = "userspace".parse::<KubeProxyMode>().unwrap_err();
        assert!(error.to_string().contains("--kube-proxy-mode"), "{error}");
    }
}
