//! `fila reconcile`: the admin API's reconciliation (`POST
//! /admin/reconcile`), printed by protocol.

use serde::Deserialize;
use serde_json::json;

use crate::context::Context;
use crate::error::CliError;

#[derive(Deserialize)]
struct Reconciled {
    taf: i64,
    eai: i64,
    process: i64,
}

pub fn run(
    ctx: &mut Context,
    dry_run: bool,
    queued_before: Option<String>,
) -> Result<(), CliError> {
    let mut body = json!({ "dryRun": dry_run });
    if let Some(time) = queued_before {
        body["queuedBefore"] = json!(time);
    }
    let url = ctx.client.url(&["admin", "reconcile"], &[]);
    let counts: Reconciled = ctx.client.post_json(url, &body)?.json()?;
    let verb = if dry_run {
        "would queue again"
    } else {
        "queued again"
    };
    writeln!(
        ctx.out,
        "{verb}: {} TAF records, {} EAI messages, {} process executions",
        counts.taf, counts.eai, counts.process
    )?;
    Ok(())
}
