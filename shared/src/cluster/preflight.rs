//! Pre-flight checks: what the Docker host must offer before `up` creates anything.
//!
//! Pure: each check reads the [`HostFacts`] the probe gathered and either passes, adds a
//! note for the user, or fails with the exact fix in its message. Nothing is created
//! before these pass (the probe container itself is removed again).

use super::host_probe::HostFacts;
use crate::plan::ClusterPlan;
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
}
