//! docker's daemon host syntax: docker/cli `opts/hosts.go` (`ParseHost`,
//! `parseDockerDaemonHost`, `ParseTCPAddr`), redone line for line so `-H` and
//! `DOCKER_HOST` mean the same daemon to `docker dind` as to `docker`.

use super::endpoint::DEFAULT_LOCAL_HOST;

/// `defaultTLSHost`: used only when TLS is on and no host is given at all.
pub(super) const DEFAULT_TLS_HOST: &str = "tcp://localhost:2376";
/// `defaultTCPHost`'s parts: a `tcp://` host without a host name or port gets these,
/// with or without TLS.
const DEFAULT_TCP_HOSTNAME: &str = "localhost";
const DEFAULT_TCP_PORT: u16 = 2375;
const DEFAULT_NAMED_PIPE: &str = "//./pipe/docker_engine";

/// docker's `ParseHost(defaultToTLS, val)`: empty means the default host (the TLS one when
/// TLS is on); no scheme means tcp; tcp gets `localhost` and port 2375 where missing;
/// `ssh://` and `fd://` pass unchanged; any other scheme is "invalid bind address format".
pub(super) fn normalize_host(raw: &str, tls: bool) -> Result<String, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(if tls {
            DEFAULT_TLS_HOST
        } else {
            DEFAULT_LOCAL_HOST
        }
        .to_string());
    }
    let (scheme, rest) = raw.split_once("://").unwrap_or(("tcp", raw));
    match scheme {
        "tcp" => parse_tcp_addr(rest, raw),
        "unix" => simple_proto("unix", rest, "/var/run/docker.sock"),
        "npipe" => simple_proto("npipe", rest, DEFAULT_NAMED_PIPE),
        "ssh" | "fd" => Ok(raw.to_string()),
        _ => Err(format!("invalid bind address format: {raw}")),
    }
}

/// `parseSimpleProtoAddr`.
fn simple_proto(scheme: &str, rest: &str, default: &str) -> Result<String, String> {
    if rest.contains("://") {
        return Err(format!("invalid proto, expected {scheme}: {rest}"));
    }
    let path = if rest.is_empty() { default } else { rest };
    Ok(format!("{scheme}://{path}"))
}

/// `ParseTCPAddr(addr, defaultTCPHost)`: the port defaults to 2375 even with TLS.
fn parse_tcp_addr(rest: &str, raw: &str) -> Result<String, String> {
    if rest.is_empty() {
        return Ok(format!("tcp://{DEFAULT_TCP_HOSTNAME}:{DEFAULT_TCP_PORT}"));
    }
    if rest.contains("://") {
        return Err(format!("invalid proto, expected tcp: {raw}"));
    }
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, ""),
    };
    let (hostname, port) =
        split_port(authority).map_err(|_| format!("invalid bind address format: {raw}"))?;
    let hostname = if hostname.is_empty() {
        DEFAULT_TCP_HOSTNAME
    } else {
        hostname
    };
    let port = port.unwrap_or(DEFAULT_TCP_PORT);
    Ok(format!("tcp://{hostname}:{port}{path}"))
}

/// Splits `host:port`, `[v6]:port`, `[v6]`, `host`; an empty port (`h:`) means the default.
fn split_port(authority: &str) -> Result<(&str, Option<u16>), ()> {
    // A bracketed IPv6 address has colons of its own.
    let port_colon = match authority.rfind(']') {
        Some(bracket) => authority[bracket..]
            .find(':')
            .map(|offset| bracket + offset),
        None => authority.rfind(':'),
    };
    match port_colon {
        None => Ok((authority, None)),
        Some(colon) if colon + 1 == authority.len() => Ok((&authority[..colon], None)),
        Some(colon) => {
            let port = authority[colon + 1..].parse::<u16>().map_err(|_| ())?;
            Ok((&authority[..colon], Some(port)))
        }
    }
}

/// The host name part of a `tcp://` or `ssh://` host, without user, port or brackets.
pub fn host_name(host: &str) -> Option<&str> {
    let (_, rest) = host.split_once("://")?;
    let authority = rest.split('/').next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (name, _) = split_port(authority).ok()?;
    Some(name.trim_start_matches('[').trim_end_matches(']'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each row is what docker/cli's `opts/hosts.go` `ParseHost` returns (see
    /// `opts/hosts_test.go`'s `TestParseHost` and `TestParseDockerDaemonHost`).
    #[test]
    fn hosts_are_normalized_like_docker() {
        let cases = [
            ("", false, Ok(DEFAULT_LOCAL_HOST)),
            // Empty with TLS: `defaultTLSHost`.
            ("", true, Ok("tcp://localhost:2376")),
            ("unix://", false, Ok(DEFAULT_LOCAL_HOST)),
            (
                "unix:///run/user/1000/docker.sock",
                false,
                Ok("unix:///run/user/1000/docker.sock"),
            ),
            ("tcp://h", false, Ok("tcp://h:2375")),
            // `ParseTCPAddr(host, defaultTCPHost)`: 2375 even with TLS on.
            ("tcp://h", true, Ok("tcp://h:2375")),
            ("h", true, Ok("tcp://h:2375")),
            ("tcp://", true, Ok("tcp://localhost:2375")),
            ("tcp://h:", false, Ok("tcp://h:2375")),
            ("tcp://:4243", false, Ok("tcp://localhost:4243")),
            ("h:4243", false, Ok("tcp://h:4243")),
            ("tcp://[::1]", false, Ok("tcp://[::1]:2375")),
            ("tcp://[::1]:99/base", false, Ok("tcp://[::1]:99/base")),
            ("ssh://me@h", false, Ok("ssh://me@h")),
            (
                "ssh://me@h:2222/run/docker.sock",
                true,
                Ok("ssh://me@h:2222/run/docker.sock"),
            ),
            ("fd://", false, Ok("fd://")),
            ("npipe://", false, Ok("npipe:////./pipe/docker_engine")),
            ("tcp://h:port", false, Err(())),
            ("tcp://unix://x", false, Err(())),
            // "invalid bind address format": docker has no http:// hosts.
            ("http://h", false, Err(())),
            ("https://h:2376", true, Err(())),
            ("ftp://h", false, Err(())),
        ];
        for (raw, tls, want) in cases {
            let got = normalize_host(raw, tls);
            assert_eq!(got.as_deref().map_err(|_| ()), want, "{raw:?} tls={tls}");
        }
    }

    #[test]
    fn host_names() {
        let cases = [
            ("ssh://me@h.example:2222/x", Some("h.example")),
            ("ssh://h", Some("h")),
            ("tcp://[fd00::1]:2376", Some("fd00::1")),
            ("tcp://10.0.0.5:2375", Some("10.0.0.5")),
            ("unix:///var/run/docker.sock", Some("")),
            ("nothing", None),
        ];
        for (host, want) in cases {
            assert_eq!(host_name(host), want, "{host}");
        }
    }
}
