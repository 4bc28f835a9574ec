//! `e2e [focus] [skip]` and `e2e-serial [focus]`.

use super::{print, ClusterFlags, CommandContext, Output};
use crate::e2e::{self, spec::Suite, NodeResults};
use anyhow::anyhow;
use clap::Args;
use std::path::PathBuf;

/// `e2e`: the parallel conformance tests.
#[derive(Debug, Clone, Args)]
pub struct E2eArgs {
    /// Run only the conformance tests whose name contains this text (plain text, not a regex).
    pub focus: Option<String>,
    /// Also skip the tests whose name contains this text (plain text, not a regex).
    pub skip: Option<String>,
    #[command(flatten)]
    pub common: E2eCommon,
}

/// `e2e-serial`: the serial conformance tests.
#[derive(Debug, Clone, Args)]
pub struct E2eSerialArgs {
    /// Run only the serial conformance tests whose name contains this text (plain text).
    pub focus: Option<String>,
    #[command(flatten)]
    pub common: E2eCommon,
}

/// What both e2e commands take.
#[derive(Debug, Clone, Args)]
pub struct E2eCommon {
    /// Copy the JUnit files (and e2e.log) here; overrides E2E_REPORT_DIR.
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Output format of the result on stdout.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    #[command(flatten)]
    pub cluster: ClusterFlags,
}

/// `e2e`.
pub async fn e2e(args: &E2eArgs, ctx: &CommandContext) -> anyhow::Result<()> {
    let (focus, skip) = (args.focus.as_deref(), args.skip.as_deref());
    run(Suite::Parallel, focus, skip, &args.common, ctx).await
}

/// `e2e-serial`.
pub async fn e2e_serial(args: &E2eSerialArgs, ctx: &CommandContext) -> anyhow::Result<()> {
    run(
        Suite::Serial,
        args.focus.as_deref(),
        None,
        &args.common,
        ctx,
    )
    .await
}

/// Runs the suite; fails (exit code 1) when the tests did not pass.
async fn run(
    suite: Suite,
    focus: Option<&str>,
    skip: Option<&str>,
    common: &E2eCommon,
    ctx: &CommandContext,
) -> anyhow::Result<()> {
    let settings = common.cluster.running(ctx).await?;
    let report_dir = common.report_dir.clone().or(settings.e2e_report_dir);
    let client = crate::contexts::client_for(&settings.identity, ctx.kubeconfig.as_deref()).await?;
    let outcome = e2e::run(
        &client,
        suite,
        focus,
        skip,
        &NodeResults(ctx.engine.clone()),
        report_dir.as_deref(),
        &ctx.progress,
    )
    .await?;
    print(&outcome, common.output, || {
        format!(
            "{} (exit code {}); namespace {} removed\n",
            if outcome.passed() { "PASSED" } else { "FAILED" },
            outcome.exit_code,
            outcome.namespace
        )
    })?;
    if outcome.passed() {
        Ok(())
    } else {
        Err(anyhow!(
            "the e2e tests failed (the conformance runner exited with {})",
            outcome.exit_code
        ))
    }
}
