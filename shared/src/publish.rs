//! Host port publications (`EXTRA_PORTS`, `--publish [ADDR:]HOST:CONTAINER[/tcp|udp]`):
//! the pure parser. Which node gets them and the check that the host ports are free are
//! in [`crate::cluster::ports`] and [`crate::cluster::preflight`].
//!
//! The form is Docker's own `-p` form minus its ranges and random host ports: a port
//! users publish for NodePort, hostPort or ingress services must be one they can name.

use crate::error::usage;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

/// One `[ADDR:]HOST:CONTAINER[/PROTO]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortSpec {
    /// The host address; 127.0.0.1 unless one is given, so nothing is exposed by accident.
    pub address: IpAddr,
    pub host_port: u16,
    pub container_port: u16,
    pub udp: bool,
}

impl PortSpec {
    pub fn protocol(&self) -> &'static str {
        if self.udp {
            "udp"
        } else {
            "tcp"
        }
    }
}

impl fmt::Display for PortSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let address = match self.address {
            IpAddr::V6(a) => format!("[{a}]"),
            IpAddr::V4(a) => a.to_string(),
        };
        write!(
            f,
            "{address}:{}:{}/{}",
            self.host_port,
            self.container_port,
            self.protocol()
        )
    }
}

/// Parses one publication.
pub fn parse(text: &str) -> anyhow::Result<PortSpec> {
    let bad = |why: &str| {
        usage(format!(
            "invalid port publication {text:?}: {why}; expected [ADDR:]HOST:CONTAINER[/tcp|udp], e.g. 127.0.0.1:8080:80"
        ))
    };
    let (ports, udp) = match text.rsplit_once('/') {
        Some((ports, "tcp")) => (ports, false),
        Some((ports, "udp")) => (ports, true),
        Some(_) => return Err(bad("the protocol must be tcp or udp")),
        None => (text, false),
    };
    let (address, rest) = if let Some(after) = ports.strip_prefix('[') {
        let (v6, rest) = after
            .split_once("]:")
            .ok_or_else(|| bad("an IPv6 address needs brackets, [::1]:8080:80"))?;
        let address: IpAddr = v6.parse().map_err(|_| bad("not an IPv6 address"))?;
        (Some(address), rest)
    } else {
        match ports.matches(':').count() {
            1 => (None, ports),
            2 => {
                let (address, rest) = ports.split_once(':').unwrap_or_default();
                let address: IpAddr = address.parse().map_err(|_| bad("not an IP address"))?;
                (Some(address), rest)
            }
            0 => return Err(bad("the host port is missing")),
            _ => return Err(bad("an IPv6 address needs brackets, [::1]:8080:80")),
        }
    };
    let (host, container) = rest
        .split_once(':')
        .ok_or_else(|| bad("the host port is missing"))?;
    let port = |p: &str| {
        p.parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| bad(&format!("{p:?} is not a port from 1 to 65535")))
    };
    Ok(PortSpec {
        address: address.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        host_port: port(host)?,
        container_port: port(container)?,
        udp,
    })
}

/// Parses every publication and refuses the same host socket twice.
pub fn parse_all(texts: &[String]) -> anyhow::Result<Vec<PortSpec>> {
    let specs = texts
        .iter()
        .map(|t| parse(t))
        .collect::<anyhow::Result<Vec<_>>>()?;
    for (i, a) in specs.iter().enumerate() {
        if let Some(b) = specs[..i].iter().find(|b| {
            b.udp == a.udp
                && b.host_port == a.host_port
                && (b.address == a.address
                    || b.address.is_unspecified()
                    || a.address.is_unspecified())
        }) {
            return Err(usage(format!(
                "port publications {b} and {a} use the same host port"
            )));
        }
    }
    Ok(specs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publications_parse() {
        // (text, Some((address, host, container, udp)) or None for an error)
        type Expected<'a> = Option<(&'a str, u16, u16, bool)>;
        let table: &[(&str, Expected)] = &[
            ("8080:80", Some(("127.0.0.1", 8080, 80, false))),
            ("127.0.0.1:18080:80", Some(("127.0.0.1", 18080, 80, false))),
            (
                "0.0.0.0:30080:30080/tcp",
                Some(("0.0.0.0", 30080, 30080, false)),
            ),
            ("5353:53/udp", Some(("127.0.0.1", 5353, 53, true))),
            ("[::1]:8443:443", Some(("::1", 8443, 443, false))),
            ("[::]:8443:443/udp", Some(("::", 8443, 443, true))),
            ("80", None),
            ("8080:80/sctp", None),
            ("8080:0", None),
            ("70000:80", None),
            ("localhost:8080:80", None),
            ("::1:8080:80", None),
            ("[::1:8080:80", None),
            ("a:b", None),
        ];
        for (text, expected) in table {
            let parsed = parse(text);
            match expected {
                Some((address, host, container, udp)) => {
                    let spec = parsed.unwrap_or_else(|e| panic!("{text}: {e}"));
                    assert_eq!(spec.address, address.parse::<IpAddr>().unwrap(), "{text}");
                    assert_eq!(
                        (spec.host_port, spec.container_port, spec.udp),
                        (*host, *container, *udp),
                        "{text}"
                    );
                }
                None => {
                    let err = parsed.expect_err(text);
                    assert_eq!(crate::error::exit_code(&err), 2, "{text}");
                    assert!(err.to_string().contains("[ADDR:]HOST:CONTAINER"), "{err}");
                }
            }
        }
    }

    #[test]
    fn the_same_host_socket_twice_is_refused() {
        let list = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(parse_all(&list(&["8080:80", "8081:80"])).unwrap().len(), 2);
        assert!(parse_all(&list(&["8080:80", "8080:80/udp"])).is_ok());
        assert!(parse_all(&list(&["8080:80", "8080:81"])).is_err());
        assert!(parse_all(&list(&["0.0.0.0:8080:80", "127.0.0.1:8080:81"])).is_err());
        assert!(parse_all(&list(&["10.0.0.1:8080:80", "127.0.0.1:8080:81"])).is_ok());
    }

    #[test]
    fn display_round_trips() {
        for text in ["127.0.0.1:8080:80/tcp", "[::1]:53:53/udp"] {
            assert_eq!(parse(text).unwrap().to_string(), text);
        }
    }
}
