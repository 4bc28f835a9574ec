//! Pre-flight checks: what the Docker host must offer before `up` creates anything.
//!
//! Pure: each check reads the [`HostFacts`] the probe gathered and either passes, adds a
//! note for the user, or fails with the exact fix in its message. Nothing is created
//! before these pass (the probe container itself is removed again).

use super::host_probe::HostFacts;
use crate::plan::ClusterPlan;
use crate::publish::PortSpec;
use anyhow::bail;

/// What the checks need beyond the host's facts.
#[derive(Debug, Clone, Copy)]
pub struct Intent<'a> {
    pub plan: &'a ClusterPlan,
    /// `up --nodes-only`: no Kubernetes, so Kubernetes-only requirements become notes.
    pub nodes_only: bool,
}

/// Runs every check; returns the notes to show, or the first failure.
pub fn check(facts: &HostFacts, intent: Intent<'_>) -> anyhow::Result<Vec<String>> {
    let mut notes = Vec::new();
    br_netfilter(facts, intent, &mut notes)?;
    Ok(notes)
}

/// The bridge CNI needs `net.bridge.bridge-nf-call-iptables`: without it, a pod calling a
/// Service whose backend is on the same node never sees the reply (DNS fails about half
/// the time). kubeadm checks this too, in its `FileContent--proc-sys-net-bridge-bridge-nf-call-iptables`
/// preflight check.
fn br_netfilter(
    facts: &HostFacts,
    intent: Intent<'_>,
    notes: &mut Vec<String>,
) -> anyhow::Result<()> {
    if facts.br_netfilter {
        return Ok(());
    }
    const FIX: &str = "load it on the Docker host with `sudo modprobe br_netfilter` \
                       (and keep it with `echo br_netfilter | sudo tee /etc/modules-load.d/br_netfilter.conf`)";
    if intent.nodes_only {
        notes.push(format!(
            "The Docker host has no br_netfilter module loaded; Kubernetes on these nodes will need it: {FIX}"
        ));
        return Ok(());
    }
    bail!(
        "the Docker host has no br_netfilter module loaded and dind could not load it; \
         Kubernetes pods would lose Service replies. Fix: {FIX}"
    )
}

/// Every `--publish` host port must be free on the Docker host; Docker would otherwise
/// fail only when it starts the node, after the cluster's objects exist.
pub fn published_ports_free(facts: &HostFacts, specs: &[PortSpec]) -> anyhow::Result<()> {
    let taken: Vec<String> = specs
        .iter()
        .filter(|s| facts.port_taken(s.udp, s.address, s.host_port))
        .map(ToString::to_string)
        .collect();
    if !taken.is_empty() {
        bail!(
            "host port(s) already in use on the Docker host: {}; free them or choose other host ports for --publish (EXTRA_PORTS)",
            taken.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;

    #[test]
    fn br_netfilter_is_required_for_kubernetes_only() {
        let plan = ClusterPlan::new(&Settings::from_env_pairs(&[]).unwrap()).unwrap();
        let missing = HostFacts::default();
        let present = HostFacts {
            br_netfilter: true,
            ..HostFacts::default()
        };
        // (facts, nodes_only, passes, notes)
        let table = [
            (&present, false, true, 0),
            (&present, true, true, 0),
            (&missing, true, true, 1),
            (&missing, false, false, 0),
        ];
        for (facts, nodes_only, passes, notes) in table {
            let result = check(
                facts,
                Intent {
                    plan: &plan,
                    nodes_only,
                },
            );
            assert_eq!(result.is_ok(), passes, "nodes_only={nodes_only}");
            match result {
                Ok(n) => assert_eq!(n.len(), notes),
                Err(e) => assert!(e.to_string().contains("sudo modprobe br_netfilter"), "{e}"),
            }
        }
    }

    #[test]
    fn taken_host_ports_are_refused() {
        let facts = super::super::host_probe::parse(
            "listen_tcp=127.0.0.1:18080\nlisten_tcp=*:9000\nlisten_udp=0.0.0.0:5353\nprobe=done\n",
        )
        .unwrap();
        let specs = |items: &[&str]| {
            crate::publish::parse_all(&items.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap()
        };
        // (publications, error needle or None)
        let table: &[(&[&str], Option<&str>)] = &[
            (&["127.0.0.1:18081:80"], None),
            (&["18080:80"], Some("127.0.0.1:18080:80/tcp")),
            (&["10.1.2.3:18080:80"], None),
            (&["0.0.0.0:18080:80"], Some("0.0.0.0:18080")),
            (&["9000:80"], Some("127.0.0.1:9000")),
            (&["18080:80/udp"], None),
            (&["5353:53/udp"], Some("5353:53/udp")),
        ];
        for (items, needle) in table {
            let result = published_ports_free(&facts, &specs(items));
            match needle {
                None => assert!(result.is_ok(), "{items:?}: {result:?}"),
                Some(needle) => {
                    let err = result.unwrap_err().to_string();
                    assert!(
                        err.contains(needle) && err.contains("already in use"),
                        "{err}"
                    );
                }
            }
        }
    }
}
