//! `nodes` and `support`: one line per node or DNS64/NAT64 container.

use super::flags::ListArgs;
use super::{print, render_table, CommandContext};
use crate::cluster::inventory;
use crate::names::ClusterIdentity;

/// `nodes` (and `support`): one line per container.
pub async fn list(args: &ListArgs, ctx: &CommandContext, support: bool) -> anyhow::Result<()> {
    let identity = (!args.all)
        .then(|| args.select.cluster.settings().map(|s| s.identity))
        .transpose()?;
    let selector = match &identity {
        None => inventory::Selector::All,
        Some(identity) => inventory::Selector::Cluster(identity.key()),
    };
    let hosts = args.select.cluster.settings()?.docker_hosts;
    let engines = crate::cluster::engines::Engines::connect(&hosts, &ctx.engine).await?;
    let rows = if support {
        inventory::support(engines.master(), &selector).await?
    } else {
        inventory::nodes_on(&engines.all().collect::<Vec<_>>(), &selector).await?
    };
    if rows.is_empty() {
        eprintln!("{}", empty_hint(identity.as_ref(), support));
    }
    print(&rows, args.select.output, || {
        let mut table = vec![[
            "CLUSTER", "NAME", "ROLE", "STATE", "IPV4", "IPV6", "IMAGE", "PORTS",
        ]
        .map(String::from)
        .to_vec()];
        let spread = rows.iter().any(|r| r.engine.is_some());
        if spread {
            table[0].push("ENGINE".into());
        }
        for r in &rows {
            table.push(vec![
                r.cluster.clone(),
                r.name.clone(),
                r.role.clone(),
                r.state.clone(),
                r.ipv4.clone().unwrap_or_else(|| "-".into()),
                r.ipv6.clone().unwrap_or_else(|| "-".into()),
                r.image.clone(),
                if r.ports.is_empty() {
                    "-".into()
                } else {
                    r.ports.join(",")
                },
            ]);
            if spread {
                if let Some(row) = table.last_mut() {
                    row.push(r.engine.clone().unwrap_or_default());
                }
            }
        }
        render_table(&table)
    })
}

/// What an empty list means, and what to do about it.
fn empty_hint(identity: Option<&ClusterIdentity>, support: bool) -> String {
    match (identity, support) {
        (Some(identity), false) => inventory::not_up(identity).to_string(),
        (None, false) => {
            "no dind cluster has node containers: `kubectl dind up` creates one".into()
        }
        (Some(identity), true) => format!(
            "cluster {} has no DNS64/NAT64 containers: only IPv6 mode (--ip-mode ipv6) runs them",
            identity.key()
        ),
        (None, true) => {
            "no dind cluster has DNS64/NAT64 containers: only IPv6 mode (--ip-mode ipv6) runs them"
                .into()
        }
    }
}
