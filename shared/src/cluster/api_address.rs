//! Where the master publishes the API server on the Docker host, and the server address
//! the kubeconfig gets: pure decisions, made before anything is created.
//!
//! - A host without IPv6 on its loopback cannot publish on `[::1]` (Docker fails starting
//!   the master: "cannot assign requested address"), so IPv6 mode's default moves to
//!   127.0.0.1, which still reaches the IPv6-only master through Docker's userland proxy.
//!   An explicit `--apiserver-address ::1` there is refused.
//! - With a remote daemon, the published loopback is the daemon host's: the kubeconfig's
//!   `https://127.0.0.1:<port>` works only through a tunnel, whose `ssh -L` command `up`
//!   prints; `--apiserver-address ADDR` publishes on ADDR of the daemon host instead, and
//!   the kubeconfig uses it, with a warning that the network of ADDR can reach the API.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::host_probe::Listener;
use crate::docker_cli::{host_name, DockerEndpoint};
use crate::error::usage;
use crate::plan::ClusterPlan;

/// Whether the Docker daemon runs on this machine, as far as its endpoint tells.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum DaemonLocation {
    /// A local socket, named pipe, or a tcp/ssh endpoint on a loopback name.
    #[default]
    Local,
    /// Another machine: `host` is its name in the endpoint, for messages and URLs.
    Remote {
        host: String,
        /// For the `ssh -L` command: the endpoint's ssh user and port, when it has them.
        ssh_user: Option<String>,
        ssh_port: Option<u16>,
    },
}

impl DaemonLocation {
    pub fn of(endpoint: &DockerEndpoint) -> DaemonLocation {
        let host = endpoint.host.as_str();
        let scheme = host.split_once("://").map_or("", |(scheme, _)| scheme);
        if !matches!(scheme, "tcp" | "ssh") {
            return DaemonLocation::Local;
        }
        let name = host_name(host).unwrap_or("");
        let loopback = name.eq_ignore_ascii_case("localhost")
            || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        if loopback {
            return DaemonLocation::Local;
        }
        let (ssh_user, ssh_port) = match crate::docker_cli::SshTarget::parse(host) {
            Ok(target) if scheme == "ssh" => (target.user, target.port),
            _ => (None, None),
        };
        DaemonLocation::Remote {
            host: name.to_string(),
            ssh_user,
            ssh_port,
        }
    }
}

/// The address to publish on, and what to tell the user about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Publish {
    pub address: IpAddr,
    pub notes: Vec<String>,
}

/// Decides the publish address. `explicit` is `--apiserver-address`/`DIND_APISERVER_ADDRESS`;
/// `planned` is the plan's address (the explicit one, or the mode's loopback);
/// `host_ipv6_loopback` is the host probe's finding.
pub fn publish_address(
    explicit: Option<IpAddr>,
    planned: IpAddr,
    daemon: &DaemonLocation,
    host_ipv6_loopback: bool,
) -> anyhow::Result<Publish> {
    let mut notes = Vec::new();
    let needs_ipv6_loopback = matches!(planned, IpAddr::V6(a) if a.is_loopback());
    let address = if needs_ipv6_loopback && !host_ipv6_loopback {
        if explicit.is_some() {
            return Err(usage(format!(
                "--apiserver-address {planned}: the Docker host has IPv6 disabled (no ::1 on \
                 its loopback), so nothing can be published there; use 127.0.0.1, which \
                 reaches an IPv6 master through Docker's proxy"
            )));
        }
        notes.push(
            "The Docker host has IPv6 disabled (no ::1 on its loopback): the API server is \
             published on 127.0.0.1, which reaches the IPv6 master through Docker's proxy"
                .to_string(),
        );
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        planned
    };
    notes.extend(address_warning(address, daemon));
    Ok(Publish { address, notes })
}

/// The one line said whenever the API server is published on an address other than
/// loopback: whoever reaches that address reaches the API server, and with it the
/// bootstrap token's door to a node certificate.
fn address_warning(address: IpAddr, daemon: &DaemonLocation) -> Option<String> {
    if address.is_loopback() {
        return None;
    }
    let host = match daemon {
        DaemonLocation::Remote { host, .. } => format!("the Docker host {host}"),
        DaemonLocation::Local => "the Docker host".to_string(),
    };
    Some(format!(
        "Warning: the API server is published on {address} of {host}, not on loopback, so \
         anyone who can reach that address on its network can reach it"
    ))
}

/// One line for each `MASTER_EXTRA_OPTS` publication of the API server's port on an
/// address other than loopback.
pub fn extra_exposures(plan: &ClusterPlan) -> Vec<String> {
    plan.master_extra_opts
        .ports
        .iter()
        .filter(|p| {
            p.container_port == crate::kubeadm::API_SERVER_PORT
                && p.protocol == "tcp"
                && !p.host_ip.is_loopback()
        })
        .map(|p| {
            format!(
                "Warning: MASTER_EXTRA_OPTS publishes the API server's port {} on {}, not on \
                 loopback, so anyone who can reach that address of the Docker host can reach it",
                p.container_port, p.host_ip
            )
        })
        .collect()
}

/// Every warning about where the API server is published that the settings alone tell,
/// for `settings` and `up --dry-run` (`up` says the same once it has decided).
pub fn exposure_warnings(plan: &ClusterPlan) -> Vec<String> {
    address_warning(plan.apiserver_address, &DaemonLocation::Local)
        .into_iter()
        .chain(extra_exposures(plan))
        .collect()
}

/// The kubeconfig's server for a master published on `published:port`, and for a remote
/// daemon's loopback, the one line that says which tunnel the context needs.
pub fn kubeconfig_server(
    published: IpAddr,
    port: u16,
    daemon: &DaemonLocation,
) -> (String, Option<String>) {
    let DaemonLocation::Remote {
        host,
        ssh_user,
        ssh_port,
    } = daemon
    else {
        return (server_url(published, port), None);
    };
    if published.is_unspecified() {
        // Every address of the daemon host: the name the endpoint reaches it by.
        let name = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        return (format!("https://{name}:{port}"), None);
    }
    let server = server_url(published, port);
    if !published.is_loopback() {
        return (server, None);
    }
    let bracketed = match published {
        IpAddr::V6(a) => format!("[{a}]"),
        IpAddr::V4(a) => a.to_string(),
    };
    let mut ssh = format!("ssh -N -L {bracketed}:{port}:{bracketed}:{port}");
    if let Some(ssh_port) = ssh_port {
        ssh.push_str(&format!(" -p {ssh_port}"));
    }
    match ssh_user {
        Some(user) => ssh.push_str(&format!(" {user}@{host}")),
        None => ssh.push_str(&format!(" {host}")),
    }
    let tunnel = format!(
        "The Docker daemon is on {host}, so this context reaches its API server only through a \
         tunnel: run `{ssh}` (or publish it with --apiserver-address ADDR)"
    );
    (server, Some(tunnel))
}

/// The host the kubeconfig's server URL names, without brackets: a name the API server's
/// certificate must hold, or kubectl and the wait for Ready fail on x509. kind puts the
/// address it publishes on into certSANs for the same reason
/// (kind pkg/cluster/internal/kubeadm/config.go: `certSANs: [localhost, "{{.APIServerAddress}}"]`).
pub fn kubeconfig_host(published: IpAddr, daemon: &DaemonLocation) -> String {
    let (server, _) = kubeconfig_server(published, 1, daemon);
    let authority = server.trim_start_matches("https://");
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host);
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_string()
}

/// `plan` with the API server published on `address:port` and its certificate naming
/// the host the kubeconfig reaches it by ([`kubeconfig_host`]).
pub fn with_endpoint(
    plan: &ClusterPlan,
    address: IpAddr,
    port: u16,
    daemon: &DaemonLocation,
) -> ClusterPlan {
    ClusterPlan {
        apiserver_address: address,
        apiserver_port: Some(port),
        apiserver_names: vec![kubeconfig_host(address, daemon)],
        ..plan.clone()
    }
}

/// Where a free host port for the API server is looked for: Linux's default ephemeral
/// range (`net.ipv4.ip_local_port_range`), where Docker's own pick would land too.
const FREE_PORTS: std::ops::RangeInclusive<u16> = 32768..=60999;

/// A host port for the API server that nothing listens on, on the daemon's machine (the
/// host probe's listeners), starting at a place of the range that depends on the cluster,
/// so that clusters coming up together look at different ports first. The port is then
/// pinned in the master's publication: a port 0 publication gets a new port at every
/// start of the container (moby#31926), which breaks the kubeconfig after a restart.
/// kind does the same: `common.PortOrGetFreePort` picks a free port at create time
/// (kind pkg/cluster/internal/providers/docker/provision.go).
pub fn free_port(
    cluster_key: &str,
    address: IpAddr,
    listening: &[Listener],
) -> anyhow::Result<u16> {
    let (first, last) = (*FREE_PORTS.start(), *FREE_PORTS.end());
    let size = u32::from(last - first) + 1;
    // FNV-1a: stable across runs and platforms, unlike the std hasher.
    let hash = cluster_key.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    let taken = |port: u16| {
        listening.iter().any(|l| {
            !l.udp
                && l.port == port
                && (address.is_unspecified() || l.address.is_none_or(|a| a == address))
        })
    };
    (0..size)
        .map(|step| first + ((hash + step) % size) as u16)
        .find(|port| !taken(*port))
        .ok_or_else(|| {
            anyhow::anyhow!("no free port for the API server on {address} in {first}-{last}")
        })
}

/// The URL kubectl uses: the published address, or loopback when the API server is
/// published on every address.
pub fn server_url(published_on: IpAddr, port: u16) -> String {
    let host = match published_on {
        IpAddr::V4(a) if a.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(a) if a.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        other => other,
    };
    format!("https://{}", SocketAddr::new(host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls() {
        let table = [
            ("127.0.0.1", 6443, "https://127.0.0.1:6443"),
            ("::1", 40000, "https://[::1]:40000"),
            ("0.0.0.0", 1234, "https://127.0.0.1:1234"),
            ("::", 1234, "https://[::1]:1234"),
            ("192.168.1.5", 80, "https://192.168.1.5:80"),
        ];
        for (address, port, url) in table {
            assert_eq!(server_url(address.parse().unwrap(), port), url);
        }
    }
    use crate::docker_cli::EndpointSource;
    use crate::error::exit_code;

    fn remote() -> DaemonLocation {
        DaemonLocation::Remote {
            host: "docker.example".into(),
            ssh_user: Some("me".into()),
            ssh_port: Some(2222),
        }
    }

    #[test]
    fn daemon_locations() {
        let cases = [
            ("unix:///var/run/docker.sock", DaemonLocation::Local),
            ("tcp://localhost:2375", DaemonLocation::Local),
            ("tcp://127.0.0.1:2375", DaemonLocation::Local),
            ("ssh://root@127.0.0.1:2222", DaemonLocation::Local),
            ("tcp://[::1]:2376", DaemonLocation::Local),
            ("npipe:////./pipe/docker_engine", DaemonLocation::Local),
            (
                "tcp://10.1.2.3:2376",
                DaemonLocation::Remote {
                    host: "10.1.2.3".into(),
                    ssh_user: None,
                    ssh_port: None,
                },
            ),
            ("ssh://me@docker.example:2222", remote()),
        ];
        for (host, want) in cases {
            let endpoint = DockerEndpoint {
                host: host.into(),
                source: EndpointSource::HostFlag,
                tls: None,
            };
            assert_eq!(DaemonLocation::of(&endpoint), want, "{host}");
        }
    }

    #[test]
    fn publish_addresses() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // (explicit, planned, remote, host has ::1) -> (address or exit 2, notes containing)
        type Row<'a> = (
            Option<&'a str>,
            &'a str,
            bool,
            bool,
            Result<&'a str, ()>,
            &'a [&'a str],
        );
        let rows: [Row; 11] = [
            (None, "127.0.0.1", false, true, Ok("127.0.0.1"), &[]),
            (None, "::1", false, true, Ok("::1"), &[]),
            // Item 8: IPv6 mode on a host without IPv6: 127.0.0.1, said in one note.
            (
                None,
                "::1",
                false,
                false,
                Ok("127.0.0.1"),
                &["IPv6 disabled", "127.0.0.1"],
            ),
            (
                None,
                "::1",
                true,
                false,
                Ok("127.0.0.1"),
                &["IPv6 disabled"],
            ),
            // An explicit ::1 there cannot work: refused before anything is created.
            (Some("::1"), "::1", false, false, Err(()), &[]),
            (None, "127.0.0.1", false, false, Ok("127.0.0.1"), &[]),
            // Item 7: an explicit address of a remote daemon's host, with the warning.
            (
                Some("192.168.7.5"),
                "192.168.7.5",
                true,
                true,
                Ok("192.168.7.5"),
                &["Warning", "192.168.7.5", "docker.example"],
            ),
            (
                Some("0.0.0.0"),
                "0.0.0.0",
                true,
                true,
                Ok("0.0.0.0"),
                &["Warning"],
            ),
            // Locally too: whoever reaches that address reaches the API server.
            (
                Some("192.168.7.5"),
                "192.168.7.5",
                false,
                true,
                Ok("192.168.7.5"),
                &["Warning", "192.168.7.5", "not on loopback"],
            ),
            (
                Some("::"),
                "::",
                false,
                true,
                Ok("::"),
                &["Warning", "published on ::"],
            ),
            (Some("::1"), "::1", false, true, Ok("::1"), &[]),
        ];
        for (explicit, planned, is_remote, v6, want, needles) in rows {
            let daemon = if is_remote {
                remote()
            } else {
                DaemonLocation::Local
            };
            let got = publish_address(explicit.map(ip), ip(planned), &daemon, v6);
            let row = format!("{explicit:?} {planned} remote={is_remote} ipv6={v6}");
            match (got, want) {
                (Ok(publish), Ok(address)) => {
                    assert_eq!(publish.address, ip(address), "{row}");
                    if needles.is_empty() {
                        assert!(publish.notes.is_empty(), "{row}: {:?}", publish.notes);
                    }
                    for needle in needles {
                        assert_eq!(publish.notes.len(), 1, "{row}");
                        assert!(
                            publish.notes[0].contains(needle),
                            "{row}: {:?}",
                            publish.notes
                        );
                    }
                }
                (Err(error), Err(())) => {
                    assert_eq!(exit_code(&error), 2, "{row}");
                    assert!(error.to_string().contains("IPv6"), "{row}: {error}");
                }
                (got, _) => panic!("{row}: {got:?}"),
            }
        }
    }

    #[test]
    fn kubeconfig_servers_and_tunnels() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let rows: [(&str, DaemonLocation, &str, Option<&str>); 6] = [
            (
                "127.0.0.1",
                DaemonLocation::Local,
                "https://127.0.0.1:40123",
                None,
            ),
            ("::1", DaemonLocation::Local, "https://[::1]:40123", None),
            (
                "127.0.0.1",
                remote(),
                "https://127.0.0.1:40123",
                Some("ssh -N -L 127.0.0.1:40123:127.0.0.1:40123 -p 2222 me@docker.example"),
            ),
            (
                "::1",
                DaemonLocation::Remote {
                    host: "10.1.2.3".into(),
                    ssh_user: None,
                    ssh_port: None,
                },
                "https://[::1]:40123",
                Some("ssh -N -L [::1]:40123:[::1]:40123 10.1.2.3"),
            ),
            ("192.168.7.5", remote(), "https://192.168.7.5:40123", None),
            ("0.0.0.0", remote(), "https://docker.example:40123", None),
        ];
        for (published, daemon, want_server, want_ssh) in rows {
            let (server, tunnel) = kubeconfig_server(ip(published), 40123, &daemon);
            assert_eq!(server, want_server, "{published} {daemon:?}");
            match (tunnel, want_ssh) {
                (None, None) => {}
                (Some(line), Some(ssh)) => {
                    assert!(line.contains(&format!("`{ssh}`")), "{line}");
                    assert!(!line.contains('\n'), "one line: {line}");
                }
                (got, want) => panic!("{published}: {got:?} vs {want:?}"),
            }
        }
    }

    /// The master's port binding follows the decision: the rendered container spec
    /// publishes on the decided address.
    #[test]
    fn the_master_publishes_on_the_decided_address() {
        use crate::cluster::node_spec::{node_container, NodeHost, Privileges};
        use crate::engine::CgroupVersion;
        use crate::plan::ClusterPlan;
        use crate::settings::Settings;
        let settings = Settings::from_env_pairs(&[("IP_MODE", "ipv6")]).unwrap();
        let plan = ClusterPlan::new(&settings).unwrap();
        assert_eq!(plan.apiserver_address, "::1".parse::<IpAddr>().unwrap());
        let publish = publish_address(None, plan.apiserver_address, &remote(), false).unwrap();
        let decided = ClusterPlan {
            apiserver_address: publish.address,
            ..plan.clone()
        };
        let host = NodeHost {
            privileges: Privileges::Privileged,
            cgroup: CgroupVersion::V2,
            has_lib_modules: true,
        };
        let master = node_container(&decided, decided.master(), &host, "{}");
        assert_eq!(master.ports.len(), 1);
        assert_eq!(
            master.ports[0].host_ip,
            "127.0.0.1".parse::<IpAddr>().unwrap()
        );
        let (server, tunnel) = kubeconfig_server(master.ports[0].host_ip, 40123, &remote());
        assert_eq!(server, "https://127.0.0.1:40123");
        assert!(tunnel
            .unwrap()
            .contains("ssh -N -L 127.0.0.1:40123:127.0.0.1:40123"));
    }

    #[test]
    fn cert_sans_hold_the_kubeconfig_host_for_every_daemon_and_address() {
        let plan =
            ClusterPlan::new(&crate::settings::Settings::from_env_pairs(&[]).unwrap()).unwrap();
        let daemons = [
            DaemonLocation::Local,
            remote(),
            DaemonLocation::Remote {
                host: "192.0.2.7".into(),
                ssh_user: None,
                ssh_port: None,
            },
            DaemonLocation::Remote {
                host: "2001:db8::7".into(),
                ssh_user: None,
                ssh_port: None,
            },
        ];
        let addresses = ["127.0.0.1", "::1", "0.0.0.0", "::", "192.0.2.9"];
        for daemon in &daemons {
            for address in addresses {
                let address: IpAddr = address.parse().unwrap();
                let decided = with_endpoint(&plan, address, 40123, daemon);
                let (server, _) = kubeconfig_server(address, 40123, daemon);
                let host = server
                    .trim_start_matches("https://")
                    .trim_end_matches(":40123")
                    .trim_start_matches('[')
                    .trim_end_matches(']');
                let sans = crate::kubeadm::cert_sans(&decided);
                assert!(
                    sans.iter().any(|san| san == host),
                    "{daemon:?} {address}: {server} not in {sans:?}"
                );
                assert_eq!(decided.apiserver_port, Some(40123));
            }
        }
    }

    #[test]
    fn free_ports_skip_listeners_on_the_same_address() {
        let listener = |address: Option<&str>, port: u16, udp: bool| Listener {
            udp,
            address: address.map(|a| a.parse().unwrap()),
            port,
        };
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        let first = free_port("cluster-191", loopback, &[]).unwrap();
        assert!(FREE_PORTS.contains(&first));
        assert_eq!(
            free_port("cluster-191", loopback, &[]).unwrap(),
            first,
            "stable"
        );
        assert_ne!(free_port("cluster-192", loopback, &[]).unwrap(), first);
        // (listener on the first candidate, address asked for, the first candidate stays free)
        let table = [
            (
                listener(Some("127.0.0.1"), first, false),
                "127.0.0.1",
                false,
            ),
            (listener(None, first, false), "127.0.0.1", false),
            (listener(Some("10.0.0.1"), first, false), "127.0.0.1", true),
            (listener(Some("10.0.0.1"), first, false), "0.0.0.0", false),
            (listener(Some("127.0.0.1"), first, true), "127.0.0.1", true),
        ];
        for (taken, address, stays) in table {
            let port = free_port("cluster-191", address.parse().unwrap(), &[taken]).unwrap();
            assert_eq!(port == first, stays, "{taken:?} {address}");
        }
        let everything: Vec<Listener> = FREE_PORTS.map(|p| listener(None, p, false)).collect();
        assert!(free_port("cluster-191", loopback, &everything).is_err());
    }

    #[test]
    fn every_publication_of_the_api_port_off_loopback_is_warned_once() {
        use crate::plan::ClusterPlan;
        use crate::settings::Settings;
        // (settings, warnings that must show, each in one line)
        type Row<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);
        let table: &[Row] = &[
            (&[], &[]),
            (&[("IP_MODE", "ipv6")], &[]),
            (&[("DIND_APISERVER_ADDRESS", "127.0.0.1")], &[]),
            (
                &[("DIND_APISERVER_ADDRESS", "0.0.0.0")],
                &["published on 0.0.0.0"],
            ),
            (
                &[("DIND_APISERVER_ADDRESS", "10.9.8.7")],
                &["published on 10.9.8.7"],
            ),
            // Without an address, -p binds loopback: nothing to warn about.
            (&[("MASTER_EXTRA_OPTS", "-p 16443:6443")], &[]),
            (&[("MASTER_EXTRA_OPTS", "-p 127.0.0.1:16443:6443")], &[]),
            (&[("MASTER_EXTRA_OPTS", "-p 0.0.0.0:8080:80")], &[]),
            (
                &[("MASTER_EXTRA_OPTS", "-p 0.0.0.0:16443:6443")],
                &["MASTER_EXTRA_OPTS publishes the API server's port 6443 on 0.0.0.0"],
            ),
            (
                &[
                    ("DIND_APISERVER_ADDRESS", "0.0.0.0"),
                    ("MASTER_EXTRA_OPTS", "-p [::]:16443:6443"),
                ],
                &["published on 0.0.0.0", "port 6443 on ::"],
            ),
        ];
        for (pairs, want) in table {
            let plan = ClusterPlan::new(&Settings::from_env_pairs(pairs).unwrap()).unwrap();
            let got = exposure_warnings(&plan);
            assert_eq!(got.len(), want.len(), "{pairs:?}: {got:?}");
            for (line, needle) in got.iter().zip(*want) {
                assert!(line.starts_with("Warning: "), "{line}");
                assert!(line.contains(needle), "{needle}: {line}");
                assert!(!line.contains('\n'), "{line}");
            }
        }
        // The master's spec carries the loopback binding the warning relies on.
        let settings = Settings::from_env_pairs(&[("MASTER_EXTRA_OPTS", "-p 16443:6443")]).unwrap();
        let plan = ClusterPlan::new(&settings).unwrap();
        let host = crate::cluster::node_spec::NodeHost {
            privileges: crate::cluster::node_spec::Privileges::Privileged,
            cgroup: crate::engine::CgroupVersion::V2,
            has_lib_modules: false,
        };
        let master = crate::cluster::node_spec::node_container(&plan, plan.master(), &host, "{}");
        let extra = master.ports.iter().find(|p| p.host_port == 16443).unwrap();
        assert_eq!(extra.host_ip, "127.0.0.1".parse::<IpAddr>().unwrap());
    }
}
