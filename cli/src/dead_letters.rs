//! `fila dlq`: dead letters of the admin API (`/admin/dead-letters`): every
//! page of the list, and replays of one, several, a queue's or all.

use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::args::DlqCommand;
use crate::client::ClientError;
use crate::context::Context;
use crate::error::CliError;
use crate::table::{Table, value_text};

/// The largest page the API gives.
const PAGE: &str = "1000";

#[derive(Deserialize)]
struct Page {
    #[serde(rename = "deadLetters")]
    dead_letters: Vec<Value>,
    next: Option<i64>,
}

#[derive(Deserialize)]
struct Replayed {
    replayed: u64,
}

pub fn run(ctx: &mut Context, command: DlqCommand) -> Result<(), CliError> {
    match command {
        DlqCommand::List { queue, json } => list(ctx, queue.as_deref(), json),
        DlqCommand::Replay { ids, .. } if !ids.is_empty() => replay_ids(ctx, ids),
        DlqCommand::Replay { queue, all, .. } => {
            let body = match queue {
                Some(queue) => json!({ "queue": queue }),
                None => json!({ "all": all }),
            };
            let url = ctx.client.url(&["admin", "dead-letters", "replay"], &[]);
            let replayed: Replayed = ctx.client.post_json(url, &body)?.json()?;
            writeln!(ctx.out, "replayed {}", replayed.replayed)?;
            Ok(())
        }
    }
}

/// Replays each id once, in the order given, one request per id so that
/// the ids not found are known: they do not stop the others, and make the
/// command fail (exit 1) once the others are replayed. Any other refusal
/// stops it; the count of those replayed until then is printed either way.
fn replay_ids(ctx: &mut Context, mut ids: Vec<i64>) -> Result<(), CliError> {
    let mut seen = HashSet::new();
    ids.retain(|id| seen.insert(*id));
    let mut replayed = 0;
    let mut missing = Vec::new();
    let client = &ctx.client;
    let done = ids.iter().try_for_each(|id| {
        let id = id.to_string();
        let url = client.url(&["admin", "dead-letters", &id, "replay"], &[]);
        let answer = client.send(Method::POST, url, None)?;
        if answer.status == StatusCode::NOT_FOUND {
            missing.push(id);
        } else {
            replayed += answer.json::<Replayed>()?.replayed;
        }
        Ok::<(), ClientError>(())
    });
    writeln!(ctx.out, "replayed {replayed}")?;
    done?;
    match missing.as_slice() {
        [] => Ok(()),
        [id] => Err(CliError::WorkFailed(format!("no dead letter has id {id}"))),
        ids => Err(CliError::WorkFailed(format!(
            "no dead letter has ids {}",
            ids.join(", ")
        ))),
    }
}

fn list(ctx: &mut Context, queue: Option<&str>, json: bool) -> Result<(), CliError> {
    let mut letters = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut query = vec![("limit", PAGE)];
        query.extend(queue.map(|q| ("queue", q)));
        query.extend(after.as_deref().map(|a| ("after", a)));
        let url = ctx.client.url(&["admin", "dead-letters"], &query);
        let page: Page = ctx.client.get(url)?.json()?;
        letters.extend(page.dead_letters);
        match page.next {
            Some(next) => after = Some(next.to_string()),
            None => break,
        }
    }
    if json {
        writeln!(ctx.out, "{}", json!({ "deadLetters": letters }))?;
        return Ok(());
    }
    let mut table = Table::new(&["ID", "DEAD AT", "QUEUE", "KIND", "ATTEMPTS", "REASON"]);
    for letter in &letters {
        table.row(
            ["id", "deadAt", "queue", "kind", "attempts", "reason"]
                .iter()
                .map(|field| value_text(&letter[field]))
                .collect(),
        );
    }
    table.print(ctx.out)?;
    writeln!(ctx.out, "{} dead letters", letters.len())?;
    Ok(())
}
