//! The pre-flight check of a cluster spread over several engines: every engine must be
//! an active member of one swarm with a manager among them, because the cluster network
//! is a swarm overlay. dind neither creates nor dissolves swarms; it names the command
//! that joins an engine.

use crate::engine::SwarmMembership;
use crate::error::usage;

/// Checks the engines' memberships (`--docker-hosts` entry, membership); returns the
/// position of the first manager, where the overlay network is created. With fewer than
/// two engines there is nothing to check.
pub fn check_swarm(members: &[(String, SwarmMembership)]) -> anyhow::Result<Option<usize>> {
    if members.len() < 2 {
        return Ok(None);
    }
    let Some(manager) = members
        .iter()
        .position(|(_, m)| m.state == "active" && m.manager)
    else {
        return Err(usage(format!(
            "--docker-hosts: none of {} is a swarm manager; the cluster network is a swarm \
             overlay: run `docker swarm init` on one of them, then join the others",
            list(members)
        )));
    };
    let (_, lead) = &members[manager];
    for (host, member) in members {
        let problem = if member.state != "active" {
            format!("is not in a swarm (state {})", member.state)
        } else if !lead.member_ids.contains(&member.node_id) {
            "is in another swarm; leave it first (`docker swarm leave`)".to_string()
        } else {
            continue;
        };
        return Err(usage(format!(
            "--docker-hosts entry {host:?} {problem}: the cluster network is a swarm overlay. \
             Join it with: {}",
            join_command(host, lead)
        )));
    }
    Ok(Some(manager))
}

/// The `docker swarm join` a user runs against `host` to make it a worker of `lead`'s swarm.
fn join_command(host: &str, lead: &SwarmMembership) -> String {
    let target = if host.contains("://") {
        format!("-H {host}")
    } else {
        format!("--context {host}")
    };
    format!(
        "docker {target} swarm join --token {} {}",
        lead.worker_token.as_deref().unwrap_or("<worker token>"),
        lead.manager_addr
            .as_deref()
            .unwrap_or("<manager address>:2377")
    )
}

fn list(members: &[(String, SwarmMembership)]) -> String {
    members
        .iter()
        .map(|(host, _)| host.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(state: &str, id: &str, manager: bool, members: &[&str]) -> SwarmMembership {
        SwarmMembership {
            state: state.into(),
            node_id: id.into(),
            manager,
            manager_addr: manager.then(|| "172.17.0.1:2377".to_string()),
            worker_token: manager.then(|| "SWMTKN-1-abc".to_string()),
            member_ids: members.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn members_of_one_swarm_with_a_manager() {
        let lead = member("active", "m", true, &["m", "w"]);
        type Case = (Vec<SwarmMembership>, Result<Option<usize>, &'static str>);
        let table: Vec<Case> = vec![
            (vec![], Ok(None)),
            (vec![member("inactive", "", false, &[])], Ok(None)),
            (
                vec![lead.clone(), member("active", "w", false, &[])],
                Ok(Some(0)),
            ),
            (
                vec![member("active", "w", false, &[]), lead.clone()],
                Ok(Some(1)),
            ),
            (
                vec![lead.clone(), member("inactive", "", false, &[])],
                Err("\"b\" is not in a swarm (state inactive): the cluster network is a swarm overlay. Join it with: docker --context b swarm join --token SWMTKN-1-abc 172.17.0.1:2377"),
            ),
            (
                vec![lead.clone(), member("active", "x", false, &[])],
                Err("\"b\" is in another swarm"),
            ),
            (
                vec![
                    member("inactive", "", false, &[]),
                    member("active", "w", false, &[]),
                ],
                Err("none of a://, b is a swarm manager"),
            ),
        ];
        for (memberships, want) in table {
            let hosts = ["a://", "b"];
            let members: Vec<(String, SwarmMembership)> = hosts
                .iter()
                .map(|h| h.to_string())
                .zip(memberships)
                .collect();
            match (check_swarm(&members), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want),
                (Err(e), Err(needle)) => {
                    assert_eq!(crate::error::exit_code(&e), 2);
                    assert!(e.to_string().contains(needle), "{e}");
                }
                (got, want) => panic!("{members:?}: got {got:?}, want {want:?}"),
            }
        }
    }
}
