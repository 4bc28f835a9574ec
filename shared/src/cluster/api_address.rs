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

use crate::docker_cli::{host_name, DockerEndpoint};
use crate::error::usage;

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
    if let (Some(_), DaemonLocation::Remote { host, .. }) = (explicit, daemon) {
        if !address.is_loopback() {
            notes.push(format!(
                "Warning: the API server is published on {address} of the Docker host {host}, \
                 so anyone who can reach that address on its network can reach it"
            ));
        }
    }
    Ok(Publish { address, notes })
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
        let rows: [Row; 9] = [
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
            // Locally an explicit address needs no warning.
            (
                Some("192.168.7.5"),
                "192.168.7.5",
                false,
                true,
                Ok("192.168.7.5"),
                &[],
            ),
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
}
