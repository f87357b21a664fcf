//! `fila taf send`: each lot file is checked, then POSTed as it is; the
//! answer's ticket and refused items are printed. With `--wait`, the
//! tickets are followed until none of their records is pending or
//! waiting, and the records in error are summed up by errorCode.

use std::path::PathBuf;

use reqwest::Method;
use serde::Deserialize;

use super::pages::{Listing, Query, fetch_all};
use super::records::{Tally, errors_by_code};
use crate::args::WaitArgs;
use crate::context::Context;
use crate::error::CliError;
use crate::input::{Dialect, read_json};
use crate::poll;
use crate::progress::{Counts, Task};
use crate::table::Table;

/// The answer to a POST: a ticket with a receipt per item, or a lot refused
/// whole (`coderr`, `description`).
#[derive(Deserialize)]
struct Posted {
    #[serde(rename = "ticketCode")]
    ticket_code: Option<String>,
    #[serde(rename = "registryKey", default)]
    keys: Vec<KeyReceipt>,
    coderr: Option<i64>,
    description: Option<String>,
}

#[derive(Deserialize)]
struct KeyReceipt {
    key: String,
    success: bool,
    #[serde(default)]
    error: Vec<Refusal>,
}

#[derive(Deserialize)]
struct Refusal {
    coderr: i64,
    description: String,
}

pub fn send(ctx: &mut Context, files: &[PathBuf], wait: WaitArgs) -> Result<(), CliError> {
    let lots = files
        .iter()
        .map(|path| Ok((path, read_json(path, Dialect::TrailingCommas)?)))
        .collect::<Result<Vec<_>, CliError>>()?;
    let mut tickets: Vec<String> = Vec::new();
    let mut refused = 0;
    for (path, bytes) in lots {
        let url = ctx.client.url(&["rest", "wstafst2"], &[]);
        let answer = ctx.client.send(Method::POST, url, Some(bytes))?.ok()?;
        let posted: Posted = serde_json::from_value(answer.body.clone())
            .map_err(|e| answer.unexpected(format!("not a TAF lot answer: {e}")))?;
        if let Some(code) = posted.coderr {
            return Err(CliError::LotRefused {
                path: path.display().to_string(),
                code,
                description: posted.description.unwrap_or_default(),
            });
        }
        let ticket = posted
            .ticket_code
            .ok_or_else(|| answer.unexpected("the answer has no ticketCode".into()))?;
        let refusals: Vec<&KeyReceipt> = posted.keys.iter().filter(|k| !k.success).collect();
        refused += refusals.len();
        writeln!(
            ctx.out,
            "{}: ticket {ticket}: {} accepted, {} refused",
            path.display(),
            posted.keys.len() - refusals.len(),
            refusals.len()
        )?;
        if !refusals.is_empty() {
            refusal_table(&refusals).print(ctx.out)?;
        }
        if !tickets.contains(&ticket) {
            tickets.push(ticket);
        }
    }
    let mut failures = Vec::new();
    if refused > 0 {
        failures.push(format!("{refused} items refused"));
    }
    if wait.wait {
        let listings = watch(ctx, &tickets, wait.timeout)?;
        for (ticket, listing) in tickets.iter().zip(&listings) {
            let tally = Tally::of(&listing.items);
            writeln!(ctx.out, "ticket {ticket}: {}", tally.summary())?;
            let codes = errors_by_code(&listing.items);
            if !codes.is_empty() {
                let mut table = Table::new(&["CODE", "COUNT", "FIRST MESSAGE"]);
                for (code, (count, message)) in codes {
                    table.row(vec![code, count.to_string(), message]);
                }
                table.print(ctx.out)?;
                failures.push(format!(
                    "{} records of ticket {ticket} in error",
                    tally.error
                ));
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(CliError::WorkFailed(failures.join("; ")))
    }
}

/// A row per reason an item was refused; an item refused without a reason
/// still has its row.
fn refusal_table(refusals: &[&KeyReceipt]) -> Table {
    let mut table = Table::new(&["REGISTRYKEY", "CODE", "DESCRIPTION"]);
    for receipt in refusals {
        if receipt.error.is_empty() {
            table.row(vec![receipt.key.clone(), "-".into(), "-".into()]);
        }
        for refusal in &receipt.error {
            table.row(vec![
                receipt.key.clone(),
                refusal.coderr.to_string(),
                refusal.description.clone(),
            ]);
        }
    }
    table
}

/// Follows the tickets until every record is processed or in error; their
/// final listings.
fn watch(
    ctx: &mut Context,
    tickets: &[String],
    timeout: Option<u64>,
) -> Result<Vec<Listing>, CliError> {
    let mut tasks: Vec<Task> = tickets
        .iter()
        .map(|t| ctx.progress.counted(&format!("ticket {t}")))
        .collect();
    let mut finished: Vec<Option<Listing>> = tickets.iter().map(|_| None).collect();
    let what = format!(
        "records of ticket {} are still pending or waiting",
        tickets.join(", ")
    );
    let client = &ctx.client;
    poll::until(timeout, &what, || {
        for ((ticket, task), done) in tickets.iter().zip(&mut tasks).zip(&mut finished) {
            if done.is_some() {
                continue;
            }
            let query = Query {
                ticket: Some(ticket),
                key: None,
                search_mode: None,
            };
            let listing = fetch_all(client, &query)?;
            let tally = Tally::of(&listing.items);
            let note = if tally.waiting > 0 {
                format!(", {} waiting for a predecessor", tally.waiting)
            } else {
                String::new()
            };
            task.counts(&Counts {
                finished: tally.finished(),
                total: tally.total(),
                errors: tally.error,
                note,
            });
            if tally.finished() == tally.total() {
                task.finish();
                *done = Some(listing);
            }
        }
        Ok(finished
            .iter()
            .all(Option::is_some)
            .then(|| finished.iter_mut().filter_map(Option::take).collect()))
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_item_refused_without_a_reason_keeps_its_row() {
        let posted: Posted = serde_json::from_value(json!({
            "ticketCode": "T",
            "registryKey": [
                {"key": "K1", "success": false, "error": [{"coderr": 3, "description": "bad"}]},
                {"key": "K2", "success": false, "error": []},
                {"key": "K3", "success": false}
            ]
        }))
        .expect("answer");
        let refusals: Vec<&KeyReceipt> = posted.keys.iter().collect();
        let mut out = Vec::new();
        refusal_table(&refusals).print(&mut out).expect("printed");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "REGISTRYKEY  CODE  DESCRIPTION\nK1           3     bad\nK2           -     -\nK3           -     -\n"
        );
    }
}
