//! `fila taf status`: every record of a ticket (or registryKey) as a table
//! and a tally, or as one JSON document for scripts.

use serde_json::Value;

use super::pages::{Query, fetch_all};
use super::records::{State, Tally, message, state, text};
use crate::context::Context;
use crate::error::CliError;
use crate::table::Table;

pub fn status(ctx: &mut Context, query: &Query, json: bool) -> Result<(), CliError> {
    let listing = fetch_all(&ctx.client, query)?;
    if json {
        writeln!(ctx.out, "{}", listing.to_json())?;
        return Ok(());
    }
    let by_key = listing.kind == "registryKey";
    let mut table = Table::new(&[
        if by_key { "TICKETCODE" } else { "REGISTRYKEY" },
        "STATE",
        "CODE",
        "DESCRIPTION",
    ]);
    for item in &listing.items {
        let id = text(item, if by_key { "ticketCode" } else { "registryKey" });
        let (code, description) = describe(item);
        table.row(vec![
            id.to_string(),
            state(item).name().to_string(),
            code,
            description,
        ]);
    }
    if !table.is_empty() {
        table.print(ctx.out)?;
    }
    writeln!(
        ctx.out,
        "{} {}: {}",
        listing.kind,
        listing.code,
        Tally::of(&listing.items).summary()
    )?;
    Ok(())
}

/// The code and text an item's state calls for.
fn describe(item: &Value) -> (String, String) {
    match state(item) {
        State::Error => (text(item, "errorCode").to_string(), message(item)),
        State::Processed => (
            text(item, "statusCode").trim().to_string(),
            text(item, "statusDescription").to_string(),
        ),
        State::Pending | State::Waiting => (String::new(), text(item, "description").to_string()),
    }
}
