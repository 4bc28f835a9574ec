//! `MASTER_EXTRA_OPTS`: the docker-run options of kubeadm-dind-cluster's master that map
//! to the container API, parsed so an unknown option is refused by name.

use crate::error::usage;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// A port publication from `-p`: host address and port (0: any), container port, protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraPort {
    pub host_ip: IpAddr,
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: String,
}

/// The docker-run options of `MASTER_EXTRA_OPTS` that map to the container API.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ExtraOpts {
    pub binds: Vec<String>,
    pub env: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub ports: Vec<ExtraPort>,
    pub tmpfs: Vec<String>,
    pub sysctls: BTreeMap<String, String>,
    pub devices: Vec<String>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub security_opt: Vec<String>,
    pub extra_hosts: Vec<String>,
    /// Bytes.
    pub memory: Option<i64>,
    /// CPUs × 10⁹.
    pub nano_cpus: Option<i64>,
}

/// The options [`ExtraOpts::parse`] understands, long form first.
const EXTRA_OPTIONS: &[(&str, Option<char>)] = &[
    ("volume", Some('v')),
    ("env", Some('e')),
    ("label", Some('l')),
    ("publish", Some('p')),
    ("tmpfs", None),
    ("sysctl", None),
    ("device", None),
    ("cap-add", None),
    ("cap-drop", None),
    ("security-opt", None),
    ("add-host", None),
    ("memory", Some('m')),
    ("cpus", None),
];

impl ExtraOpts {
    pub fn is_empty(&self) -> bool {
        self == &ExtraOpts::default()
    }

    /// Parses options split on whitespace, as the shell tool's unquoted
    /// `${MASTER_EXTRA_OPTS}` was: `-v a:b`, `--volume=a:b`, `-va:b` all work.
    pub fn parse(text: &str) -> anyhow::Result<ExtraOpts> {
        let supported = || {
            EXTRA_OPTIONS
                .iter()
                .map(|(long, short)| match short {
                    Some(s) => format!("-{s}/--{long}"),
                    None => format!("--{long}"),
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut opts = ExtraOpts::default();
        let mut words = text.split_whitespace();
        while let Some(word) = words.next() {
            let (long, inline) = if let Some(rest) = word.strip_prefix("--") {
                let (name, value) = match rest.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (rest, None),
                };
                let known = EXTRA_OPTIONS.iter().find(|(l, _)| *l == name);
                (known.map(|(l, _)| *l), value)
            } else if let Some(rest) = word.strip_prefix('-') {
                let mut chars = rest.chars();
                let short = chars.next();
                let value = chars.as_str();
                let known = EXTRA_OPTIONS
                    .iter()
                    .find(|(_, s)| s.is_some() && *s == short);
                (
                    known.map(|(l, _)| *l),
                    (!value.is_empty()).then(|| value.trim_start_matches('=').to_string()),
                )
            } else {
                return Err(usage(format!(
                    "MASTER_EXTRA_OPTS: {word:?} is not an option; MASTER_EXTRA_OPTS holds docker-run options such as -v SRC:DST"
                )));
            };
            let Some(long) = long else {
                return Err(usage(format!(
                    "MASTER_EXTRA_OPTS: docker-run option {word:?} is not supported by dind (it does not map to a node it can keep working); supported: {}",
                    supported()
                )));
            };
            let value = match inline {
                Some(v) => v,
                None => words
                    .next()
                    .ok_or_else(|| usage(format!("MASTER_EXTRA_OPTS: --{long} needs a value")))?
                    .to_string(),
            };
            opts.add(long, &value)?;
        }
        Ok(opts)
    }

    /// The checks of [`ExtraOpts::parse`] on options read back from a settings label:
    /// they must be what parsing their own docker-run words gives.
    pub fn check(&self) -> anyhow::Result<()> {
        let reparsed = ExtraOpts::parse(&self.words().join(" "))?;
        // CPUs go through a decimal text and back: allow the last nano-CPU of rounding.
        let cpus_agree = match (self.nano_cpus, reparsed.nano_cpus) {
            (Some(a), Some(b)) => a.abs_diff(b) <= 1,
            (a, b) => a == b,
        };
        let rest_agrees = ExtraOpts {
            nano_cpus: self.nano_cpus,
            ..reparsed
        } == *self;
        if !(cpus_agree && rest_agrees) {
            return Err(usage(
                "MASTER_EXTRA_OPTS: the stored options are not ones MASTER_EXTRA_OPTS can give",
            ));
        }
        Ok(())
    }

    /// These options as docker-run words, `--NAME=VALUE` each.
    fn words(&self) -> Vec<String> {
        let mut words = Vec::new();
        let mut add = |long: &str, values: &mut dyn Iterator<Item = String>| {
            words.extend(values.map(|v| format!("--{long}={v}")));
        };
        add("volume", &mut self.binds.iter().cloned());
        add("env", &mut self.env.iter().cloned());
        add(
            "label",
            &mut self.labels.iter().map(|(k, v)| format!("{k}={v}")),
        );
        add(
            "publish",
            &mut self.ports.iter().map(|p| {
                let ip = match p.host_ip {
                    IpAddr::V6(ip) => format!("[{ip}]"),
                    IpAddr::V4(ip) => ip.to_string(),
                };
                format!("{ip}:{}:{}/{}", p.host_port, p.container_port, p.protocol)
            }),
        );
        add("tmpfs", &mut self.tmpfs.iter().cloned());
        add(
            "sysctl",
            &mut self.sysctls.iter().map(|(k, v)| format!("{k}={v}")),
        );
        add("device", &mut self.devices.iter().cloned());
        add("cap-add", &mut self.cap_add.iter().cloned());
        add("cap-drop", &mut self.cap_drop.iter().cloned());
        add("security-opt", &mut self.security_opt.iter().cloned());
        add("add-host", &mut self.extra_hosts.iter().cloned());
        add("memory", &mut self.memory.iter().map(ToString::to_string));
        add(
            "cpus",
            &mut self.nano_cpus.iter().map(|n| (*n as f64 / 1e9).to_string()),
        );
        words
    }

    fn add(&mut self, long: &str, value: &str) -> anyhow::Result<()> {
        let bad = |what: &str| {
            usage(format!(
                "MASTER_EXTRA_OPTS: invalid --{long} {value:?}: expected {what}"
            ))
        };
        match long {
            "volume" => {
                if !value.contains(':') {
                    return Err(bad("SOURCE:TARGET[:OPTIONS]"));
                }
                self.binds.push(value.to_string());
            }
            "env" => self.env.push(value.to_string()),
            "label" => {
                let (k, v) = value.split_once('=').unwrap_or((value, ""));
                if k.starts_with("dind.") {
                    return Err(usage(format!(
                        "MASTER_EXTRA_OPTS: label {k:?} is dind's own; choose another key"
                    )));
                }
                self.labels.insert(k.to_string(), v.to_string());
            }
            "publish" => self
                .ports
                .push(parse_publish(value).ok_or_else(|| bad("[IP:][HOST_PORT:]PORT[/PROTO]"))?),
            "tmpfs" => self.tmpfs.push(value.to_string()),
            "sysctl" => {
                let (k, v) = value.split_once('=').ok_or_else(|| bad("NAME=VALUE"))?;
                self.sysctls.insert(k.to_string(), v.to_string());
            }
            "device" => self.devices.push(value.to_string()),
            "cap-add" => self.cap_add.push(value.to_string()),
            "cap-drop" => self.cap_drop.push(value.to_string()),
            "security-opt" => self.security_opt.push(value.to_string()),
            "add-host" => {
                if !value.contains(':') {
                    return Err(bad("HOST:IP"));
                }
                self.extra_hosts.push(value.to_string());
            }
            "memory" => {
                self.memory = Some(parse_bytes(value).ok_or_else(|| bad("e.g. 512m or 2g"))?)
            }
            "cpus" => {
                let cpus: f64 = value
                    .parse()
                    .ok()
                    // `inf` and `NaN` parse as floats; the host's CPU count bounds any
                    // real limit well below 2^20.
                    .filter(|c: &f64| c.is_finite() && *c > 0.0 && *c < f64::from(1 << 20))
                    .ok_or_else(|| bad("a positive number, e.g. 1.5"))?;
                self.nano_cpus = Some((cpus * 1e9) as i64);
            }
            _ => unreachable!("every EXTRA_OPTIONS name is handled"),
        }
        Ok(())
    }
}

/// `[IP:][HOST_PORT:]PORT[/PROTO]`, as `docker run -p` takes it (IPv6 in brackets), except
/// that a port without an address binds 127.0.0.1, as `--publish` does: Docker's default,
/// every address, would open the master's ports (the API server's among them) to the
/// network. `0.0.0.0:` asks for that explicitly.
fn parse_publish(value: &str) -> Option<ExtraPort> {
    const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    let (spec, protocol) = match value.rsplit_once('/') {
        Some((s, p)) if matches!(p, "tcp" | "udp" | "sctp") => (s, p.to_string()),
        Some(_) => return None,
        None => (value, "tcp".to_string()),
    };
    let (host, container) = match spec.rsplit_once(':') {
        Some((h, c)) => (Some(h), c),
        None => (None, spec),
    };
    let container_port: u16 = container.parse().ok().filter(|p| *p > 0)?;
    let (host_ip, host_port) = match host {
        None => (LOOPBACK, 0),
        Some(h) => match h.rsplit_once(':') {
            Some((ip, port)) => (
                ip.trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse()
                    .ok()?,
                if port.is_empty() {
                    0
                } else {
                    port.parse().ok()?
                },
            ),
            None => (LOOPBACK, h.parse().ok()?),
        },
    };
    Some(ExtraPort {
        host_ip,
        host_port,
        container_port,
        protocol,
    })
}

/// `512m`, `2g`, `1024k`, `1048576` (bytes).
fn parse_bytes(value: &str) -> Option<i64> {
    let value = value.trim().to_ascii_lowercase();
    let value = value.strip_suffix('b').unwrap_or(&value);
    let (number, unit) = value.split_at(
        value
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(value.len()),
    );
    let n: i64 = number.parse().ok()?;
    let factor: i64 = match unit {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(factor).filter(|b| *b > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_extra_opts() {
        let opts = ExtraOpts::parse(
            "-v /src:/src:ro --volume=/a:/b -e FOO=1 -l team=x -p 127.0.0.1:8080:80 -p 9000:90/udp \
             -p 7000 --tmpfs /scratch --sysctl net.core.somaxconn=1024 --add-host db:10.0.0.5 \
             -m 2g --cpus 1.5 --cap-add NET_ADMIN",
        )
        .unwrap();
        assert_eq!(opts.binds, ["/src:/src:ro", "/a:/b"]);
        assert_eq!(opts.env, ["FOO=1"]);
        assert_eq!(opts.labels["team"], "x");
        assert_eq!(
            opts.ports,
            [
                ExtraPort {
                    host_ip: "127.0.0.1".parse().unwrap(),
                    host_port: 8080,
                    container_port: 80,
                    protocol: "tcp".into()
                },
                ExtraPort {
                    host_ip: "127.0.0.1".parse().unwrap(),
                    host_port: 9000,
                    container_port: 90,
                    protocol: "udp".into()
                },
                ExtraPort {
                    host_ip: "127.0.0.1".parse().unwrap(),
                    host_port: 0,
                    container_port: 7000,
                    protocol: "tcp".into()
                },
            ]
        );
        assert_eq!(opts.tmpfs, ["/scratch"]);
        assert_eq!(opts.sysctls["net.core.somaxconn"], "1024");
        assert_eq!(opts.extra_hosts, ["db:10.0.0.5"]);
        assert_eq!(opts.memory, Some(2 << 30));
        assert_eq!(opts.nano_cpus, Some(1_500_000_000));
        assert_eq!(opts.cap_add, ["NET_ADMIN"]);
        assert!(ExtraOpts::parse("").unwrap().is_empty());
        for bad in [
            "--privileged",
            "--network host",
            "-v",
            "-v nocolon",
            "-p 1:2:x",
            "-l dind.cluster=x",
            "extra",
            "-m lots",
        ] {
            let err = ExtraOpts::parse(bad).unwrap_err();
            assert_eq!(crate::error::exit_code(&err), 2, "{bad}");
            assert!(
                err.to_string().contains("MASTER_EXTRA_OPTS"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn a_published_port_without_an_address_binds_loopback() {
        // (-p value, host address, host port, container port, protocol); None: refused
        type Row<'a> = (&'a str, Option<(&'a str, u16, u16, &'a str)>);
        let table: &[Row] = &[
            ("6443", Some(("127.0.0.1", 0, 6443, "tcp"))),
            ("8443:6443", Some(("127.0.0.1", 8443, 6443, "tcp"))),
            ("53:53/udp", Some(("127.0.0.1", 53, 53, "udp"))),
            ("0.0.0.0:8443:6443", Some(("0.0.0.0", 8443, 6443, "tcp"))),
            ("10.1.2.3::80", Some(("10.1.2.3", 0, 80, "tcp"))),
            ("[::]:80:80", Some(("::", 80, 80, "tcp"))),
            ("[::1]:80:80/sctp", Some(("::1", 80, 80, "sctp"))),
            (":80", None),
            ("80:0", None),
            ("x:80", None),
        ];
        for (value, want) in table {
            let got = parse_publish(value)
                .map(|p| (p.host_ip, p.host_port, p.container_port, p.protocol.clone()));
            let want = want.map(|(ip, hp, cp, proto)| {
                (ip.parse::<IpAddr>().unwrap(), hp, cp, proto.to_string())
            });
            assert_eq!(got, want, "{value}");
        }
    }

    #[test]
    fn stored_options_are_checked_by_parsing_them_again() {
        let opts = ExtraOpts::parse(
            "-v /a:/b -e X=1 -l team=x -p 0.0.0.0:8080:80 -p [::1]:9:9/udp --tmpfs /t \
             --sysctl a.b=1 --cap-add NET_ADMIN --add-host db:10.0.0.5 -m 2g --cpus 0.333333333",
        )
        .unwrap();
        assert!(
            opts.check().is_ok(),
            "{:?} {:?}",
            opts.words(),
            opts.check()
        );
        // Plain bytes, as the doc of `-m` says.
        assert_eq!(
            ExtraOpts::parse("-m 1048576").unwrap().memory,
            Some(1 << 20)
        );
        let tampered = [
            ExtraOpts {
                binds: vec!["/etc".into()],
                ..opts.clone()
            },
            ExtraOpts {
                labels: [("dind.cluster".to_string(), "default".to_string())].into(),
                ..opts.clone()
            },
            ExtraOpts {
                env: vec!["A=1 --privileged".into()],
                ..opts.clone()
            },
            ExtraOpts {
                nano_cpus: Some(-1),
                ..opts.clone()
            },
            ExtraOpts {
                memory: Some(0),
                ..opts.clone()
            },
        ];
        for bad in tampered {
            let err = bad.check().unwrap_err();
            assert!(err.to_string().contains("MASTER_EXTRA_OPTS"), "{err}");
        }
    }
}
