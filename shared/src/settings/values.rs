//! The types setting values become, and the parsers that check the raw text of one
//! value. Pure: each error names the setting it is about.

use crate::error::usage;
use crate::image::recipe::DEFAULT_KUBE_DOWNLOAD_URL;
use clap::ValueEnum;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// `FromStr` and `Display` of a [`ValueEnum`] from its values: parsing accepts the names
/// and aliases, and the error lists the names ("unknown WHAT ...: use a, b or c").
macro_rules! value_enum_text {
    ($type:ty, $what:literal) => {
        impl FromStr for $type {
            type Err = anyhow::Error;
            fn from_str(s: &str) -> anyhow::Result<Self> {
                parse_value(s, $what)
            }
        }

        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_value(self, f)
            }
        }
    };
}

/// IP family layout of a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum IpMode {
    Ipv4,
    Ipv6,
    /// `dual` is kubeadm-dind-cluster's spelling.
    #[value(alias = "dual")]
    DualStack,
}

impl IpMode {
    pub fn has_ipv4(self) -> bool {
        self != IpMode::Ipv6
    }
    pub fn has_ipv6(self) -> bool {
        self != IpMode::Ipv4
    }
}

value_enum_text!(IpMode, "IP mode");

/// Whether the nodes of an IPv6 cluster get an IPv4 address too (`DIND_NODE_IPV4`).
/// `auto` drops it where the engine can create a network without IPv4 (API 1.48,
/// Docker 28); the decision is [`crate::cluster::node_ipv4`]'s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum NodeIpv4 {
    #[default]
    Auto,
    On,
    Off,
}

value_enum_text!(NodeIpv4, "node IPv4 setting");

/// The pod network plugin.
///
/// A new plugin is a variant here and a row in [`crate::cni::MANIFESTS`]: its parsing,
/// its error text, its help and its completion come from this enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Cni {
    Bridge,
    Ptp,
    Flannel,
    Calico,
    CalicoKdd,
    Weave,
    KubeRouter,
    /// No plugin: the user applies one (kind's `disableDefaultCNI`).
    None,
}

impl Cni {
    /// Only the plugins dind configures itself give pods IPv6 addresses; with `none` the
    /// user's plugin decides.
    pub fn supports_ipv6(self) -> bool {
        matches!(self, Cni::Bridge | Cni::Ptp | Cni::None)
    }
}

value_enum_text!(Cni, "CNI plugin");

/// The names of an enum's values, as `--help`, completion and parse errors list them.
pub fn value_names<E: ValueEnum>() -> Vec<String> {
    E::value_variants()
        .iter()
        .filter_map(ValueEnum::to_possible_value)
        .filter(|v| !v.is_hide_set())
        .map(|v| v.get_name().to_string())
        .collect()
}

/// `a, b or c`.
pub fn one_of(names: &[String]) -> String {
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.concat(),
    }
}

/// Parses one of an enum's values (or an alias of one); the error lists them all.
fn parse_value<E: ValueEnum>(text: &str, what: &str) -> anyhow::Result<E> {
    E::from_str(text, false).map_err(|_| {
        usage(format!(
            "unknown {what} {text:?}: use {}",
            one_of(&value_names::<E>())
        ))
    })
}

fn write_value<E: ValueEnum>(value: &E, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let name = value.to_possible_value().ok_or(fmt::Error)?;
    f.write_str(name.get_name())
}

/// Parses a cluster ID: a decimal number from 0 to 254.
pub fn parse_cluster_id(text: &str) -> anyhow::Result<u8> {
    let range = format!("0 to {}", crate::names::MAX_CLUSTER_ID);
    let n: u32 = text.trim().parse().map_err(|_| {
        usage(format!(
            "invalid cluster ID {text:?}: it must be a number from {range}"
        ))
    })?;
    u8::try_from(n)
        .ok()
        .filter(|id| *id <= crate::names::MAX_CLUSTER_ID)
        .ok_or_else(|| {
            usage(format!(
                "invalid cluster ID {n}: it must be a number from {range}"
            ))
        })
}

pub fn parse_switch(value: Option<&str>) -> bool {
    !matches!(
        value.map(|v| v.trim().to_ascii_lowercase()).as_deref(),
        None | Some("" | "false" | "0" | "no" | "n")
    )
}

/// A list given as a JSON list (`["a:5000","b"]`, the shell tool's form) or a comma list.
pub fn split_json_or_list(name: &str, value: Option<&str>) -> anyhow::Result<Vec<String>> {
    match value.map(str::trim) {
        Some(text) if text.starts_with('[') => {
            let items: Vec<String> = serde_json::from_str(text).map_err(|e| {
                usage(format!(
                    "invalid {name} {text:?}: a JSON list of strings or a comma list ({e})"
                ))
            })?;
            Ok(items
                .into_iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect())
        }
        other => Ok(split_list(other)),
    }
}

/// A comma list (flags, the environment and the config file all join items with commas).
/// Spaces belong to the items: a manifest path such as `/tmp/My Dir/x.yaml` is one item.
pub fn split_list(value: Option<&str>) -> Vec<String> {
    split_on(value, &[','])
}

/// A list whose items can never hold a space (port specs, Docker network names), so it
/// also takes the space-separated form kubeadm-dind-cluster's shell word-split.
pub fn split_words_or_list(value: Option<&str>) -> Vec<String> {
    split_on(value, &[',', ' ', '\t', '\n'])
}

fn split_on(value: Option<&str>, separators: &[char]) -> Vec<String> {
    value
        .unwrap_or_default()
        .split(separators)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

pub fn parse_dns64_prefix(text: &str) -> anyhow::Result<Ipv6Net> {
    let text = text.trim();
    let net = if text.contains('/') {
        Ipv6Net::from_str(text).ok()
    } else {
        text.parse().ok().and_then(|a| Ipv6Net::new(a, 96).ok())
    };
    match net {
        Some(net) if net.prefix_len() == 96 && net.trunc() == net => Ok(net),
        _ => Err(usage(format!(
            "invalid DNS64_PREFIX {text:?}: expected an IPv6 /96 prefix like fd00:10:64:ff9b::"
        ))),
    }
}

/// Converts a mgmt IPv4 net for error messages etc.
pub fn first_v4(nets: &[IpNet]) -> Option<Ipv4Net> {
    nets.iter().find_map(|n| match n {
        IpNet::V4(v4) => Some(*v4),
        IpNet::V6(_) => None,
    })
}

/// The IPv6 member of a CIDR list, if any.
pub fn first_v6(nets: &[IpNet]) -> Option<Ipv6Net> {
    nets.iter().find_map(|n| match n {
        IpNet::V6(v6) => Some(*v6),
        IpNet::V4(_) => None,
    })
}

/// `DIND_KUBE_DOWNLOAD_URL`, checked: curl in the image build must be able to use it.
pub fn kube_download_url(value: Option<&str>) -> anyhow::Result<String> {
    let url = value
        .filter(|v| !v.is_empty())
        .unwrap_or(DEFAULT_KUBE_DOWNLOAD_URL);
    let host = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .and_then(|rest| rest.split('/').next())
        .filter(|host| !host.is_empty());
    if host.is_none()
        || url
            .chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '\\')
    {
        return Err(usage(format!(
            "invalid DIND_KUBE_DOWNLOAD_URL {url:?}: expected an http:// or https:// URL, e.g. https://dl.k8s.io/release"
        )));
    }
    Ok(url.trim_end_matches('/').to_string())
}
