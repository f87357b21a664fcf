//! `fila eai send`: a message, a JSON array of messages or `{"Items": [...]}`
//! POSTed (or DELETEd: delete events) to `/transactions[/{transaction}]`
//! with `batchType` and `batchUUID`, as the EAI REST seed defines them. The
//! answer is a receipt per message (accepted, refused, duplicate), or, for
//! one message asking DeliveryType sync, its response message. With
//! `--wait`, the lot is followed through `GET /batches/{batchUUID}` until
//! it is no longer processing, and its messages in ERROR are listed.

use std::path::Path;

use fila_shared::eai::keys::field;
use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;

use crate::args::{BatchType, EaiCommand, WaitArgs};
use crate::client::{Answer, Client, ClientError};
use crate::context::Context;
use crate::error::CliError;
use crate::input::{Dialect, read_json};
use crate::poll;
use crate::progress::Counts;
use crate::table::Table;

const BASE: [&str; 3] = ["totvseai", "standardmessage", "v1"];
/// Messages in ERROR listed per request (the API's largest page).
const ERROR_PAGE: usize = 1000;

#[derive(Deserialize)]
struct Receipt {
    #[serde(rename = "batchUUID")]
    batch: String,
    #[serde(rename = "batchType")]
    batch_type: String,
    items: Vec<Value>,
}

/// `GET /batches/{batchUUID}`: the lot's status and counts, and a page of
/// its messages.
#[derive(Deserialize)]
struct Batch {
    status: String,
    total: u64,
    ok: u64,
    error: u64,
    #[serde(rename = "hasNext")]
    has_next: bool,
    items: Vec<Value>,
}

/// What `fila eai send` was asked.
struct Outgoing<'a> {
    file: &'a Path,
    batch_type: Option<BatchType>,
    batch_uuid: Option<&'a str>,
    transaction: Option<&'a str>,
    delete: bool,
    wait: WaitArgs,
}

pub fn run(ctx: &mut Context, command: EaiCommand) -> Result<(), CliError> {
    match command {
        EaiCommand::Send {
            file,
            batch_type,
            batch_uuid,
            transaction,
            delete,
            wait,
        } => send(
            ctx,
            &Outgoing {
                file: &file,
                batch_type,
                batch_uuid: batch_uuid.as_deref(),
                transaction: transaction.as_deref(),
                delete,
                wait,
            },
        ),
    }
}

fn send(ctx: &mut Context, request: &Outgoing) -> Result<(), CliError> {
    let bytes = read_json(request.file, Dialect::Strict)?;
    let mut segments = BASE.to_vec();
    segments.push("transactions");
    segments.extend(request.transaction);
    let mut query = Vec::new();
    query.extend(request.batch_type.map(|t| ("batchType", t.as_str())));
    query.extend(request.batch_uuid.map(|id| ("batchUUID", id)));
    let method = if request.delete {
        Method::DELETE
    } else {
        Method::POST
    };
    let url = ctx.client.url(&segments, &query);
    let answer = ctx.client.send(method, url, Some(bytes))?;
    if answer.body["items"].is_array() && answer.body["batchUUID"].is_string() {
        let receipt: Receipt = serde_json::from_value(answer.body.clone())
            .map_err(|e| answer.unexpected(format!("not an EAI receipt: {e}")))?;
        received(ctx, &receipt, request.wait)
    } else {
        responded(ctx, answer.ok()?)
    }
}

/// The answer to a message sent with DeliveryType sync: its response
/// message, printed as it is.
fn responded(ctx: &mut Context, answer: Answer) -> Result<(), CliError> {
    let status = answer
        .body
        .as_object()
        .and_then(|m| field(m, "Content"))
        .and_then(Value::as_object)
        .and_then(|c| field(c, "ProcessingInformation"))
        .and_then(Value::as_object)
        .and_then(|p| field(p, "Status"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| answer.unexpected("neither a receipt nor a response message".into()))?;
    let pretty = serde_json::to_string_pretty(&answer.body).unwrap_or_default();
    writeln!(ctx.out, "{pretty}")?;
    if status.eq_ignore_ascii_case("ERROR") {
        return Err(CliError::WorkFailed("the message ended in ERROR".into()));
    }
    Ok(())
}

fn received(ctx: &mut Context, receipt: &Receipt, wait: WaitArgs) -> Result<(), CliError> {
    let count = |status: &str| {
        receipt
            .items
            .iter()
            .filter(|i| i["status"] == status)
            .count()
    };
    let (accepted, refused, duplicates) = (count("accepted"), count("refused"), count("duplicate"));
    writeln!(
        ctx.out,
        "lot {} ({}): {accepted} accepted, {refused} refused, {duplicates} duplicates",
        receipt.batch, receipt.batch_type
    )?;
    let mut table = Table::new(&["UUID", "STATUS", "DETAILS"]);
    for item in receipt.items.iter().filter(|i| i["status"] != "accepted") {
        let details = match item["details"].as_array() {
            Some(details) => details.iter().map(detail).collect::<Vec<_>>().join("; "),
            None => item["message"].as_str().unwrap_or_default().to_string(),
        };
        table.row(vec![
            item["uuid"].as_str().unwrap_or_default().to_string(),
            item["status"].as_str().unwrap_or_default().to_string(),
            details,
        ]);
    }
    if !table.is_empty() {
        table.print(ctx.out)?;
    }
    let mut failures = Vec::new();
    if refused > 0 {
        failures.push(format!("{refused} messages refused"));
    }
    if wait.wait && accepted > 0 {
        let batch = watch(ctx, &receipt.batch, wait.timeout)?;
        writeln!(
            ctx.out,
            "lot {}: {}: {} messages, {} OK, {} ERROR",
            receipt.batch, batch.status, batch.total, batch.ok, batch.error
        )?;
        if batch.error > 0 {
            let mut table = Table::new(&["UUID", "DETAILS"]);
            for item in errors(&ctx.client, &receipt.batch)? {
                let details = item["details"]
                    .as_array()
                    .map(|d| d.iter().map(detail).collect::<Vec<_>>().join("; "));
                table.row(vec![
                    item["uuid"].as_str().unwrap_or_default().to_string(),
                    details.unwrap_or_default(),
                ]);
            }
            table.print(ctx.out)?;
            failures.push(format!(
                "{} messages of lot {} in ERROR",
                batch.error, receipt.batch
            ));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(CliError::WorkFailed(failures.join("; ")))
    }
}

/// `code message` of one detail of the TOTVS API guide.
fn detail(detail: &Value) -> String {
    let code = detail["code"].as_str().unwrap_or_default();
    let message = detail["message"].as_str().unwrap_or_default();
    format!("{code} {message}").trim().to_string()
}

fn batch_url(client: &Client, batch: &str, query: &[(&str, &str)]) -> reqwest::Url {
    let mut segments = BASE.to_vec();
    segments.extend(["batches", batch]);
    client.url(&segments, query)
}

/// Follows the lot until it is no longer processing.
fn watch(ctx: &mut Context, batch: &str, timeout: Option<u64>) -> Result<Batch, CliError> {
    let mut task = ctx.progress.counted(&format!("lot {batch}"));
    let client = &ctx.client;
    let what = format!("lot {batch} is still processing");
    let done = poll::until(timeout, &what, || {
        let url = batch_url(client, batch, &[("pageSize", "1")]);
        let lot: Batch = client.get(url)?.json()?;
        task.counts(&Counts {
            finished: lot.ok + lot.error,
            total: lot.total,
            errors: lot.error,
            note: String::new(),
        });
        Ok((lot.status != "processing").then_some(lot))
    })?;
    task.finish();
    Ok(done)
}

/// The lot's messages in ERROR, every page.
fn errors(client: &Client, batch: &str) -> Result<Vec<Value>, ClientError> {
    let mut found = Vec::new();
    let size = ERROR_PAGE.to_string();
    for page in 1.. {
        let number = page.to_string();
        let query = [
            ("status", "ERROR"),
            ("order", "seq"),
            ("pageSize", size.as_str()),
            ("page", number.as_str()),
        ];
        let lot: Batch = client.get(batch_url(client, batch, &query))?.json()?;
        found.extend(lot.items);
        if !lot.has_next {
            break;
        }
    }
    Ok(found)
}
