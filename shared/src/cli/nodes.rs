//! `nodes` and `support`: one line per node or DNS64/NAT64 container.

use super::flags::ListArgs;
use super::{print, render_table, CommandContext};
use crate::cluster::inventory;

/// `nodes` (and `support`): one line per container.
pub async fn list(args: &ListArgs, ctx: &CommandContext, support: bool) -> anyhow::Result<()> {
    let selector = if args.all {
        inventory::Selector::All
    } else {
        inventory::Selector::Cluster(args.select.cluster.cluster_key()?)
    };
    let rows = if support {
        inventory::support(&ctx.engine, &selector).await?
    } else {
        inventory::nodes(&ctx.engine, &selector).await?
    };
    print(&rows, args.select.output, || {
        let mut table = vec![[
            "CLUSTER", "NAME", "ROLE", "STATE", "IPV4", "IPV6", "IMAGE", "PORTS",
        ]
        .map(String::from)
        .to_vec()];
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
        }
        render_table(&table)
    })
}
