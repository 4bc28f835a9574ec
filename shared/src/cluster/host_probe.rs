//! Facts about the Docker host, asked of the daemon's own machine.
//!
//! The CLI may talk to a remote daemon (`ssh://`, `tcp://`, Docker Desktop's VM), so
//! looking at the CLI's own `/lib/modules` or `/proc` would answer for the wrong machine.
//! Instead `up` runs one short-lived container from the node image, on the host's network
//! with the host's root mounted read-only at `/host`, that prints what `up` must know
//! before it creates anything: kernel modules, `br_netfilter`, inotify limits,
//! `/dev/net/tun`, IPv6 on loopback, free space under the daemon's data root, and the
//! ports already taken. [`parse`] turns that output into [`HostFacts`] (pure,
//! table-tested); [`probe_host`] is the I/O.

use super::ledger::Ledger;
use super::node_spec::cluster_labels;
use crate::engine::{ContainerSpec, Engine, HostInfo};
use crate::plan::ClusterPlan;
use anyhow::{anyhow, Context};
use std::net::IpAddr;

/// Where the probe sees the host's root filesystem.
const HOST_ROOT: &str = "/host";

/// The probe, in POSIX sh with the tools every node image has (iproute2, kmod, coreutils).
/// One `key=value` per line; keys may repeat (`listen_*`).
///
/// `br_netfilter` is loaded here when the host has it as a module and it is not loaded
/// yet: Docker 27.3 and later stopped loading it, and the bridge CNI needs
/// `bridge-nf-call-iptables` or replies from a Service backend on the same node are lost.
/// The node loads it again at every boot (`dind-node-setup`), for after a host reboot.
const PROBE_SCRIPT: &str = r#"
root=/host
kernel="$(uname -r)"
if [ -d "$root/lib/modules/$kernel" ]; then echo lib_modules=yes; else echo lib_modules=no; fi
if [ ! -e /proc/sys/net/bridge/bridge-nf-call-iptables ] && [ -d "$root/lib/modules/$kernel" ]; then
  modprobe -d "$root" br_netfilter >/dev/null 2>&1 || true
fi
if [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]; then echo br_netfilter=yes; else echo br_netfilter=no; fi
echo "inotify_max_user_instances=$(cat /proc/sys/fs/inotify/max_user_instances 2>/dev/null)"
echo "inotify_max_user_watches=$(cat /proc/sys/fs/inotify/max_user_watches 2>/dev/null)"
if [ -c "$root/dev/net/tun" ]; then echo dev_net_tun=yes; else echo dev_net_tun=no; fi
if [ "$(cat /proc/sys/net/ipv6/conf/lo/disable_ipv6 2>/dev/null)" = 0 ] \
   && ip -6 addr show dev lo 2>/dev/null | grep -q '::1/128'; then
  echo ipv6_loopback=yes
else
  echo ipv6_loopback=no
fi
if [ -n "${DATA_ROOT:-}" ] && [ -d "$root$DATA_ROOT" ]; then
  df -Pk "$root$DATA_ROOT" | awk 'NR == 2 { print "data_root_free_kb=" $4 }'
fi
ss -Hltn 2>/dev/null | awk '{ print "listen_tcp=" $4 }'
ss -Hlun 2>/dev/null | awk '{ print "listen_udp=" $4 }'
echo probe=done
"#;

/// What `up` knows about the daemon's machine before it creates anything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostFacts {
    /// `/lib/modules/<running kernel>` exists, so nodes can share it read-only.
    pub lib_modules: bool,
    /// `net.bridge.bridge-nf-call-iptables` exists (the module is loaded or built in).
    pub br_netfilter: bool,
    pub inotify_max_user_instances: Option<u64>,
    pub inotify_max_user_watches: Option<u64>,
    /// `/dev/net/tun` exists (tayga needs it in IPv6 mode).
    pub dev_net_tun: bool,
    /// The host's loopback has `::1`, so a port can be published on `[::1]`.
    pub ipv6_loopback: bool,
    /// Free space under the daemon's data root, when it could be read.
    pub data_root_free_bytes: Option<u64>,
    /// Addresses with a listening socket on the host.
    pub listening: Vec<Listener>,
}

/// A listening socket on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listener {
    pub udp: bool,
    /// `None` for a wildcard address (`0.0.0.0`, `[::]`, `*`).
    pub address: Option<IpAddr>,
    pub port: u16,
}

impl HostFacts {
    /// Whether binding `address:port` would clash with a socket already listening.
    /// A wildcard on either side clashes with everything of the same protocol.
    pub fn port_taken(&self, udp: bool, address: IpAddr, port: u16) -> bool {
        self.listening.iter().any(|l| {
            l.udp == udp
                && l.port == port
                && (address.is_unspecified() || l.address.is_none_or(|a| a == address))
        })
    }
}

/// Reads the probe's output. Unknown keys are ignored, so a newer probe can add facts.
pub fn parse(output: &str) -> anyhow::Result<HostFacts> {
    let mut facts = HostFacts::default();
    let mut complete = false;
    for line in output.lines() {
        let Some((key, value)) = line.trim().split_once('=') else {
            continue;
        };
        let yes = value == "yes";
        match key {
            "lib_modules" => facts.lib_modules = yes,
            "br_netfilter" => facts.br_netfilter = yes,
            "inotify_max_user_instances" => facts.inotify_max_user_instances = value.parse().ok(),
            "inotify_max_user_watches" => facts.inotify_max_user_watches = value.parse().ok(),
            "dev_net_tun" => facts.dev_net_tun = yes,
            "ipv6_loopback" => facts.ipv6_loopback = yes,
            "data_root_free_kb" => {
                facts.data_root_free_bytes = value.parse::<u64>().ok().map(|kb| kb * 1024)
            }
            "listen_tcp" | "listen_udp" => {
                if let Some((address, port)) = parse_socket(value) {
                    facts.listening.push(Listener {
                        udp: key == "listen_udp",
                        address,
                        port,
                    });
                }
            }
            "probe" => complete = value == "done",
            _ => {}
        }
    }
    if !complete {
        return Err(anyhow!(
            "the host probe did not finish; its output was:\n{}",
            output.trim()
        ));
    }
    Ok(facts)
}

/// `ss`'s local address column: `127.0.0.1:80`, `[::1]:80`, `*:80`, `0.0.0.0:80`,
/// `[::]:80`, `[::ffff:127.0.0.1]:80`, `127.0.0.53%lo:53`.
fn parse_socket(text: &str) -> Option<(Option<IpAddr>, u16)> {
    let (host, port) = text.rsplit_once(':')?;
    let port = port.parse().ok()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = host.split('%').next().unwrap_or(host);
    if host == "*" {
        return Some((None, port));
    }
    let address: IpAddr = host.parse().ok()?;
    let address = match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(address),
        v4 => v4,
    };
    Some(((!address.is_unspecified()).then_some(address), port))
}

/// Runs the probe on the daemon's machine and reads its facts. The probe container is
/// recorded in `ledger` and labelled with the cluster, so an interrupted run removes it.
pub async fn probe_host(
    engine: &Engine,
    plan: &ClusterPlan,
    host: &HostInfo,
    ledger: &Ledger,
) -> anyhow::Result<HostFacts> {
    let name = format!(
        "dind-host-probe-{}-{}",
        plan.cluster_key,
        std::process::id()
    );
    let spec = probe_container(&name, &plan.image, plan, &host.docker_root_dir);
    ledger.create_container(engine, &spec).await?;
    let outcome = async {
        engine.start_container(&name).await?;
        let code = engine.wait_container(&name).await?;
        let output = engine.logs_tail(&name, 10_000).await?;
        if code != 0 {
            return Err(anyhow!(
                "the host probe exited with code {code}:\n{}",
                output.trim()
            ));
        }
        parse(&output)
    }
    .await;
    engine.remove_container(&name).await?;
    outcome.context("asking the Docker host about its kernel, limits and ports")
}

/// The probe's container: the node image on the host's network, with the host's root
/// read-only and the capabilities `modprobe` needs (granted by every daemon that can run
/// nodes at all).
fn probe_container(name: &str, image: &str, plan: &ClusterPlan, data_root: &str) -> ContainerSpec {
    ContainerSpec {
        name: name.to_string(),
        image: image.to_string(),
        labels: cluster_labels(plan),
        env: vec![format!("DATA_ROOT={data_root}")],
        entrypoint: Some(vec!["/bin/sh".into(), "-c".into(), PROBE_SCRIPT.into()]),
        cap_add: vec!["SYS_MODULE".into(), "NET_ADMIN".into()],
        security_opt: vec!["seccomp=unconfined".into(), "apparmor=unconfined".into()],
        binds: vec![format!("/:{HOST_ROOT}:ro")],
        network: Some("host".into()),
        ..ContainerSpec::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "lib_modules=yes\nbr_netfilter=no\n\
        inotify_max_user_instances=128\ninotify_max_user_watches=8192\n\
        dev_net_tun=yes\nipv6_loopback=no\ndata_root_free_kb=1048576\n\
        listen_tcp=127.0.0.1:6443\nlisten_tcp=[::]:22\nlisten_tcp=*:8080\n\
        listen_tcp=[::ffff:127.0.0.1]:9000\nlisten_udp=127.0.0.53%lo:53\nprobe=done\n";

    #[test]
    fn probe_output_is_read() {
        let facts = parse(SAMPLE).unwrap();
        assert!(facts.lib_modules && !facts.br_netfilter);
        assert_eq!(facts.inotify_max_user_instances, Some(128));
        assert_eq!(facts.inotify_max_user_watches, Some(8192));
        assert!(facts.dev_net_tun && !facts.ipv6_loopback);
        assert_eq!(facts.data_root_free_bytes, Some(1 << 30));
        assert_eq!(facts.listening.len(), 5);
    }

    #[test]
    fn an_unfinished_probe_is_an_error() {
        let err = parse("lib_modules=yes\n").unwrap_err();
        assert!(err.to_string().contains("did not finish"), "{err}");
    }

    #[test]
    fn sockets_are_read() {
        let table = [
            ("127.0.0.1:80", Some((Some("127.0.0.1"), 80))),
            ("[::1]:80", Some((Some("::1"), 80))),
            ("*:80", Some((None, 80))),
            ("0.0.0.0:80", Some((None, 80))),
            ("[::]:80", Some((None, 80))),
            ("[::ffff:127.0.0.1]:80", Some((Some("127.0.0.1"), 80))),
            ("127.0.0.53%lo:53", Some((Some("127.0.0.53"), 53))),
            ("[fe80::1%eth0]:546", Some((Some("fe80::1"), 546))),
            ("garbage", None),
        ];
        for (text, expected) in table {
            let expected = expected
                .map(|(a, p): (Option<&str>, u16)| (a.map(|a| a.parse::<IpAddr>().unwrap()), p));
            assert_eq!(parse_socket(text), expected, "{text}");
        }
    }

    #[test]
    fn taken_ports() {
        let facts = parse(SAMPLE).unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // (udp, address, port, taken)
        let table = [
            (false, "127.0.0.1", 6443, true),
            (false, "0.0.0.0", 6443, true),
            (false, "192.168.1.2", 6443, false),
            (false, "127.0.0.1", 22, true),
            (false, "10.0.0.1", 8080, true),
            (false, "127.0.0.1", 9000, true),
            (true, "127.0.0.1", 6443, false),
            (true, "127.0.0.53", 53, true),
            (false, "127.0.0.1", 1234, false),
        ];
        for (udp, address, port, taken) in table {
            assert_eq!(
                facts.port_taken(udp, ip(address), port),
                taken,
                "{address}:{port} udp={udp}"
            );
        }
    }
}
