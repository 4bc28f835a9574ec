//! `contexts`: the dind contexts in the kubeconfig.

use super::{print, render_table, CommandContext, Output};
use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct ContextsArgs {
    /// Output format of the list on stdout.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

pub async fn contexts(args: &ContextsArgs, ctx: &CommandContext) -> anyhow::Result<()> {
    let rows = crate::contexts::list(&ctx.engine, ctx.kubeconfig.as_deref()).await?;
    if rows.is_empty() {
        eprintln!("no dind contexts in the kubeconfig: `kubectl dind up` writes one");
    }
    print(&rows, args.output, || {
        let mut table = vec![
            ["CURRENT", "CONTEXT", "CLUSTER", "SERVER", "MASTER", "STATE"]
                .map(String::from)
                .to_vec(),
        ];
        for r in &rows {
            table.push(vec![
                if r.current { "*" } else { "" }.to_string(),
                r.context.clone(),
                r.cluster.clone(),
                r.server.clone().unwrap_or_else(|| "-".into()),
                r.master.clone(),
                r.master_state.clone(),
            ]);
        }
        render_table(&table)
    })
}
