//! dind's local registry (`docker dind registry`), as pure data: its container, its
//! configuration file, its fixed address on each cluster network, and the `hosts.toml`
//! that makes every node's containerd resolve `localhost:PORT/...` to it.
//!
//! The same image name then works on the host (`docker push localhost:5001/app`, through
//! the published port) and in the nodes (containerd follows `hosts.toml` to the
//! registry's address on the cluster network), as in kind's local-registry recipe. The
//! I/O that applies all this is [`super::registry_ops`].

use super::registries::{registry_host, CERTS_DIR};
use crate::engine::{ContainerSpec, PortPublication};
use crate::error::usage;
use crate::node::NodeFile;
use ipnet::IpNet;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The label every registry container and volume carries: the registry's name.
pub const REGISTRY_LABEL: &str = "dind.registry";
/// The label that says which upstream a pull-through registry mirrors (no credentials).
pub const PROXY_LABEL: &str = "dind.registry-proxy";
/// The label that holds a pull-through registry's slot: which fixed address it takes on
/// every cluster network (the local registry has slot 0 and no label).
pub const SLOT_LABEL: &str = "dind.registry-slot";
/// How many pull-through registries can share the cluster networks at once.
pub const MAX_MIRRORS: u8 = 8;

/// The default container name (kind's recipe calls it `kind-registry`).
pub const DEFAULT_NAME: &str = "dind-registry";
/// The default host port: kind's recipe's, so tools and docs written for it work.
pub const DEFAULT_PORT: u16 = 5001;
/// The port the registry listens on inside its container and on the cluster networks.
pub const REGISTRY_PORT: u16 = 5000;
/// Where dind writes the registry's configuration inside its container.
pub const CONFIG_PATH: &str = "/etc/dind/registry.yml";
/// Where the named volume holds the images.
pub const STORAGE_DIR: &str = "/var/lib/registry";

/// The host part of the registry's IPv6 address on every cluster network: far from the
/// nodes (`::2` upwards) and the DNS64/NAT64 servers (`::100`, `::200`).
const V6_HOST: u128 = 0x5001;

/// What `registry up` was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryOptions {
    pub name: String,
    pub address: IpAddr,
    pub port: u16,
    /// Pull-through mode: the upstream it mirrors.
    pub proxy: Option<Upstream>,
}

/// A pull-through registry's upstream, with credentials read from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub url: String,
    pub username: Option<String>,
    pub password: Option<String>,
}

impl RegistryOptions {
    /// Checks the name and the upstream URL; `source` words the flags in errors.
    pub fn check(&self) -> anyhow::Result<()> {
        let valid_name = !self.name.is_empty()
            && self
                .name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric())
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !valid_name {
            return Err(usage(format!(
                "invalid --name {:?}: a Docker container name is letters, digits, '_', '.' and '-'",
                self.name
            )));
        }
        if self.port == 0 {
            return Err(usage(
                "invalid --port 0: the registry needs a fixed host port",
            ));
        }
        if let Some(upstream) = &self.proxy {
            check_upstream_url(&upstream.url)?;
        }
        Ok(())
    }

    /// The named volume that keeps the images across `down`/`up` and daemon restarts.
    pub fn volume(&self) -> String {
        format!("{}-data", self.name)
    }
}

/// An upstream must be an `http://` or `https://` URL with a host.
pub fn check_upstream_url(url: &str) -> anyhow::Result<()> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') && !rest.contains(char::is_whitespace) => {
            Ok(())
        }
        _ => Err(usage(format!(
            "invalid --proxy {url:?}: the upstream must be an https:// or http:// URL, like https://registry-1.docker.io"
        ))),
    }
}

/// Reads a credentials file: `username=...` and `password=...` lines (`#` comments).
pub fn parse_credentials(source: &str, text: &str) -> anyhow::Result<(String, String)> {
    let mut username = None;
    let mut password = None;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once('=').map(|(k, v)| (k.trim(), v.trim())) {
            Some(("username", v)) => username = Some(v.to_string()),
            Some(("password", v)) => password = Some(v.to_string()),
            _ => {
                return Err(usage(format!(
                    "invalid line in --proxy-credentials {source}: expected username=... or password=..."
                )))
            }
        }
    }
    match (username, password) {
        (Some(u), Some(p)) if !u.is_empty() && !p.is_empty() => Ok((u, p)),
        _ => Err(usage(format!(
            "--proxy-credentials {source} needs both a username= and a password= line"
        ))),
    }
}

/// A YAML double-quoted scalar.
fn yaml_string(value: &str) -> String {
    serde_json::Value::String(value.to_string()).to_string()
}

/// The distribution registry's configuration: filesystem storage on the volume, plain
/// HTTP on every address of the container, and in proxy mode `proxy.remoteurl` (the
/// distribution registry's pull-through cache) with the upstream's credentials.
pub fn registry_config(proxy: Option<&Upstream>) -> String {
    let mut text = format!(
        "# Written by dind (docker dind registry).\n\
         version: 0.1\n\
         log:\n  fields:\n    service: registry\n\
         storage:\n  filesystem:\n    rootdirectory: {STORAGE_DIR}\n  delete:\n    enabled: true\n\
         http:\n  addr: \":{REGISTRY_PORT}\"\n"
    );
    if let Some(upstream) = proxy {
        text.push_str(&format!(
            "proxy:\n  remoteurl: {}\n",
            yaml_string(&upstream.url)
        ));
        if let (Some(u), Some(p)) = (&upstream.username, &upstream.password) {
            text.push_str(&format!(
                "  username: {}\n  password: {}\n",
                yaml_string(u),
                yaml_string(p)
            ));
        }
    }
    text
}

/// The registry's container: published on the host, storage on its volume, restarted
/// with the daemon like the nodes, and IPv6 enabled so IPv6 clusters reach it. `slot`
/// places a pull-through registry on the cluster networks ([`addresses_on`]).
pub fn registry_container(
    options: &RegistryOptions,
    image: &str,
    slot: u8,
) -> (ContainerSpec, NodeFile) {
    let mut labels = BTreeMap::from([(REGISTRY_LABEL.to_string(), options.name.clone())]);
    if let Some(upstream) = &options.proxy {
        labels.insert(PROXY_LABEL.to_string(), upstream.url.clone());
        labels.insert(SLOT_LABEL.to_string(), slot.to_string());
    }
    let spec = ContainerSpec {
        name: options.name.clone(),
        image: image.to_string(),
        hostname: Some(options.name.clone()),
        labels,
        binds: vec![format!("{}:{STORAGE_DIR}", options.volume())],
        sysctls: BTreeMap::from([("net.ipv6.conf.all.disable_ipv6".into(), "0".into())]),
        ports: vec![PortPublication {
            container_port: REGISTRY_PORT,
            protocol: "tcp".into(),
            host_ip: options.address,
            host_port: options.port,
        }],
        restart: Some("unless-stopped".into()),
        ..ContainerSpec::default()
    };
    let mut config = NodeFile::new(CONFIG_PATH, registry_config(options.proxy.as_ref()));
    // It may hold the upstream's password.
    config.mode = 0o600;
    (spec, config)
}

/// The smallest free slot for a new pull-through registry, given the slots taken.
pub fn free_slot(taken: &[u8]) -> Option<u8> {
    (1..=MAX_MIRRORS).find(|slot| !taken.contains(slot))
}

/// A registry container's slot, from its labels: 0 for the local registry.
pub fn slot_of(labels: &HashMap<String, String>) -> u8 {
    labels
        .get(SLOT_LABEL)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// A registry's fixed addresses on a cluster network: counting down from below the hosts
/// several masters take at the top of its IPv4 subnet (.247 of a /24) and up from `::5001` in its IPv6 subnet, by `slot` (0: the local
/// registry, 1 and up: pull-through registries).
pub fn addresses_on(subnets: &[IpNet], slot: u8) -> (Option<Ipv4Addr>, Option<Ipv6Addr>) {
    let v4 = subnets.iter().find_map(|n| match n {
        IpNet::V4(n) if n.prefix_len() <= 28 => Some(Ipv4Addr::from(
            u32::from(n.broadcast()) - 1 - crate::plan::TOP_HOSTS_FOR_MASTERS - u32::from(slot),
        )),
        _ => None,
    });
    let v6 = subnets.iter().find_map(|n| match n {
        IpNet::V6(n) if n.prefix_len() <= 112 => Some(Ipv6Addr::from(
            u128::from(n.network()) | (V6_HOST + u128::from(slot)),
        )),
        _ => None,
    });
    (v4, v6)
}

/// The address nodes use: IPv6 whenever the network has it, so IPv6-only and
/// dual-stack clusters reach the registry over IPv6.
pub fn node_facing_address(subnets: &[IpNet], slot: u8) -> Option<IpAddr> {
    match addresses_on(subnets, slot) {
        (_, Some(v6)) => Some(IpAddr::V6(v6)),
        (Some(v4), None) => Some(IpAddr::V4(v4)),
        (None, None) => None,
    }
}

/// The `hosts.toml` for `localhost:PORT` (containerd's `docs/hosts.md`): pulls and
/// pushes go to the registry's address on the cluster network over plain HTTP.
pub fn hosts_toml(host_port: u16, registry: IpAddr) -> NodeFile {
    let endpoint = endpoint(registry);
    NodeFile::new(
        hosts_toml_path(host_port),
        format!(
            "# Written by dind: localhost:{host_port} is dind's local registry (docker dind registry).\n\
             server = \"{endpoint}\"\n\n\
             [host.\"{endpoint}\"]\n  capabilities = [\"pull\", \"resolve\", \"push\"]\n"
        ),
    )
}

/// A registry's plain-HTTP endpoint on a cluster network.
fn endpoint(registry: IpAddr) -> String {
    match registry {
        IpAddr::V4(a) => format!("http://{a}:{REGISTRY_PORT}"),
        IpAddr::V6(a) => format!("http://[{a}]:{REGISTRY_PORT}"),
    }
}

/// The containerd host directory of an upstream URL: its `HOST[:PORT]`, with Docker
/// Hub's API host as `docker.io`, the name its images are pulled by.
pub fn upstream_host(url: &str) -> anyhow::Result<String> {
    let host = registry_host(url)?;
    Ok(match host.as_str() {
        "registry-1.docker.io" | "index.docker.io" => "docker.io".to_string(),
        _ => host,
    })
}

/// The `hosts.toml` of `--registry-mirror NAME`: pulls of the upstream's images try the
/// dind pull-through registry at `mirror` on the cluster network first; containerd falls
/// back to the upstream itself (`server`) when the mirror fails.
pub fn mirror_hosts_toml(upstream: &str, mirror: IpAddr) -> anyhow::Result<NodeFile> {
    let host = upstream_host(upstream)?;
    let endpoint = endpoint(mirror);
    Ok(NodeFile::new(
        format!("{CERTS_DIR}/{host}/hosts.toml"),
        format!(
            "# Written by dind: --registry-mirror names a dind pull-through registry of {upstream}.\n\
             server = \"{}\"\n\n\
             [host.\"{endpoint}\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
            upstream.trim_end_matches('/')
        ),
    ))
}

/// Where [`hosts_toml`] goes in a node.
pub fn hosts_toml_path(host_port: u16) -> String {
    format!("{CERTS_DIR}/localhost:{host_port}/hosts.toml")
}

/// The host port a registry container publishes, from Docker's `ports` list
/// (`127.0.0.1:5001->5000/tcp`).
pub fn published_port(ports: &[String]) -> Option<u16> {
    ports.iter().find_map(|p| {
        let (host, container) = p.split_once("->")?;
        if container != format!("{REGISTRY_PORT}/tcp") {
            return None;
        }
        host.rsplit_once(':')?.1.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(proxy: Option<&str>) -> RegistryOptions {
        RegistryOptions {
            name: DEFAULT_NAME.into(),
            address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: DEFAULT_PORT,
            proxy: proxy.map(|url| Upstream {
                url: url.into(),
                username: None,
                password: None,
            }),
        }
    }

    #[test]
    fn fixed_addresses_follow_each_network() {
        let nets =
            |list: &[&str]| -> Vec<IpNet> { list.iter().map(|n| n.parse().unwrap()).collect() };
        // (subnets, IPv4, IPv6, what nodes use)
        let table = [
            (
                nets(&["10.192.5.0/24"]),
                Some("10.192.5.247"),
                None,
                "10.192.5.247",
            ),
            (
                nets(&["10.193.5.0/24", "fd00:20:5::/64"]),
                Some("10.193.5.247"),
                Some("fd00:20:5::5001"),
                "fd00:20:5::5001",
            ),
            (
                nets(&["fd00:20:10::/64"]),
                None,
                Some("fd00:20:10::5001"),
                "fd00:20:10::5001",
            ),
        ];
        for (subnets, v4, v6, node) in table {
            let (a4, a6) = addresses_on(&subnets, 0);
            assert_eq!(a4, v4.map(|a| a.parse().unwrap()), "{subnets:?}");
            assert_eq!(a6, v6.map(|a| a.parse().unwrap()), "{subnets:?}");
            assert_eq!(
                node_facing_address(&subnets, 0),
                Some(node.parse().unwrap())
            );
        }
        assert_eq!(node_facing_address(&[], 0), None);
        // Pull-through registries take the next addresses, one slot each.
        let dual = nets(&["10.193.5.0/24", "fd00:20:5::/64"]);
        // (slot, IPv4, IPv6)
        let slots = [
            (1, "10.193.5.246", "fd00:20:5::5002"),
            (8, "10.193.5.239", "fd00:20:5::5009"),
        ];
        for (slot, v4, v6) in slots {
            assert_eq!(
                addresses_on(&dual, slot),
                (Some(v4.parse().unwrap()), Some(v6.parse().unwrap())),
                "{slot}"
            );
        }
    }

    #[test]
    fn slots_are_taken_lowest_first() {
        // (taken, free)
        let table: [(&[u8], Option<u8>); 4] = [
            (&[], Some(1)),
            (&[1, 2], Some(3)),
            (&[2], Some(1)),
            (&[1, 2, 3, 4, 5, 6, 7, 8], None),
        ];
        for (taken, free) in table {
            assert_eq!(free_slot(taken), free, "{taken:?}");
        }
        let labels = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(slot_of(&labels(&[(SLOT_LABEL, "3")])), 3);
        assert_eq!(slot_of(&labels(&[(REGISTRY_LABEL, "dind-registry")])), 0);
        assert_eq!(slot_of(&labels(&[(SLOT_LABEL, "x")])), 0);
    }

    #[test]
    fn a_named_mirror_is_wired_for_its_upstream() {
        // (upstream, mirror address, hosts.toml path, server, host)
        let table = [
            (
                "https://registry-1.docker.io",
                "10.192.5.253",
                "/etc/containerd/certs.d/docker.io/hosts.toml",
                "server = \"https://registry-1.docker.io\"",
                "[host.\"http://10.192.5.253:5000\"]",
            ),
            (
                "http://172.17.0.3:5000/",
                "fd00:20:5::5002",
                "/etc/containerd/certs.d/172.17.0.3:5000/hosts.toml",
                "server = \"http://172.17.0.3:5000\"",
                "[host.\"http://[fd00:20:5::5002]:5000\"]",
            ),
            (
                "https://Quay.io",
                "10.192.5.252",
                "/etc/containerd/certs.d/quay.io/hosts.toml",
                "server = \"https://Quay.io\"",
                "capabilities = [\"pull\", \"resolve\"]",
            ),
        ];
        for (upstream, mirror, path, server, host) in table {
            let file = mirror_hosts_toml(upstream, mirror.parse().unwrap()).unwrap();
            assert_eq!(file.path, path, "{upstream}");
            let text = String::from_utf8(file.contents).unwrap();
            assert!(text.contains(server), "{text}");
            assert!(text.contains(host), "{text}");
        }
    }

    #[test]
    fn hosts_toml_points_localhost_at_the_cluster_address() {
        let v6 = hosts_toml(5001, "fd00:20:5::5001".parse().unwrap());
        assert_eq!(v6.path, "/etc/containerd/certs.d/localhost:5001/hosts.toml");
        let text = String::from_utf8(v6.contents).unwrap();
        assert!(
            text.contains("server = \"http://[fd00:20:5::5001]:5000\"\n"),
            "{text}"
        );
        assert!(
            text.contains("[host.\"http://[fd00:20:5::5001]:5000\"]\n"),
            "{text}"
        );
        let v4 = hosts_toml(5999, "10.192.5.254".parse().unwrap());
        assert_eq!(v4.path, "/etc/containerd/certs.d/localhost:5999/hosts.toml");
        assert!(String::from_utf8(v4.contents)
            .unwrap()
            .contains("[host.\"http://10.192.5.254:5000\"]"));
    }

    #[test]
    fn the_container_keeps_its_images_on_a_volume_and_its_secrets_in_a_file() {
        let mut o = options(Some("https://registry-1.docker.io"));
        o.name = "hub-mirror".into();
        o.proxy.as_mut().unwrap().username = Some("me".into());
        o.proxy.as_mut().unwrap().password = Some("s3\"cret".into());
        let (spec, config) = registry_container(&o, "dind-registry:x", 2);
        assert_eq!(
            spec.binds,
            vec!["hub-mirror-data:/var/lib/registry".to_string()]
        );
        assert_eq!(spec.restart.as_deref(), Some("unless-stopped"));
        assert_eq!(spec.ports[0].host_port, 5001);
        assert_eq!(spec.ports[0].container_port, 5000);
        assert_eq!(spec.labels[REGISTRY_LABEL], "hub-mirror");
        assert_eq!(spec.labels[PROXY_LABEL], "https://registry-1.docker.io");
        assert_eq!(spec.labels[SLOT_LABEL], "2");
        let debug = format!("{spec:?}");
        assert!(
            !debug.contains("s3"),
            "no credentials in labels, env or argv"
        );
        assert_eq!(config.mode, 0o600);
        let text = String::from_utf8(config.contents).unwrap();
        assert!(
            text.contains("  remoteurl: \"https://registry-1.docker.io\"\n"),
            "{text}"
        );
        assert!(text.contains("  password: \"s3\\\"cret\"\n"), "{text}");
        assert!(text.contains("  addr: \":5000\"\n"));
        let plain = registry_config(None);
        assert!(!plain.contains("proxy:"));
        assert!(plain.contains("rootdirectory: /var/lib/registry"));
    }

    #[test]
    fn bad_input_is_a_usage_error() {
        for url in [
            "ftp://x",
            "registry-1.docker.io",
            "https://",
            "http:///x",
            "https://a b",
        ] {
            let err = options(Some(url)).check().unwrap_err();
            assert_eq!(crate::error::exit_code(&err), 2, "{url}");
            assert!(err.to_string().contains("--proxy"), "{err}");
        }
        for url in ["https://registry-1.docker.io", "http://10.0.0.1:5000"] {
            assert!(options(Some(url)).check().is_ok(), "{url}");
        }
        for name in ["", "-x", "a/b", "a b"] {
            let mut o = options(None);
            o.name = name.into();
            assert_eq!(
                crate::error::exit_code(&o.check().unwrap_err()),
                2,
                "{name:?}"
            );
        }
        let mut o = options(None);
        o.port = 0;
        assert!(o.check().is_err());
    }

    #[test]
    fn credentials_need_both_lines() {
        assert_eq!(
            parse_credentials("f", "# upstream\nusername=me\npassword = pw\n").unwrap(),
            ("me".to_string(), "pw".to_string())
        );
        for text in ["username=me\n", "user=me\npassword=x\n", ""] {
            let err = parse_credentials("f", text).unwrap_err();
            assert_eq!(crate::error::exit_code(&err), 2, "{text:?}");
        }
    }

    #[test]
    fn the_published_port_is_read_from_dockers_list() {
        let ports = ["127.0.0.1:5001->5000/tcp".to_string()];
        assert_eq!(published_port(&ports), Some(5001));
        assert_eq!(
            published_port(&["[::1]:6000->5000/tcp".to_string()]),
            Some(6000)
        );
        assert_eq!(published_port(&["127.0.0.1:80->80/tcp".to_string()]), None);
    }
}
