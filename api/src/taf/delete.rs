//! `DELETE /rest/wstafst2` with `{"deleteTicket":[{"ticketCode":…}]}`:
//! removes the tickets' records that are not yet processed. Answers
//! `{"success": true}` when every ticket named exists (records already
//! processed stay), `{"success": false}` when one does not or the body does
//! not name tickets. A scoped user's tickets are its records in scope: a
//! ticket with none is unknown to it.

use axum::body::Body;
use axum::extract::State;
use axum::{Extension, Json};
use fila_shared::taf::intake;
use fila_shared::taf::lenient_json::without_trailing_commas;
use serde::Deserialize;
use serde_json::{Value, json};

use super::errors::TafError;
use crate::auth::Caller;
use crate::body::read_limited;
use crate::state::SharedState;

#[derive(Deserialize)]
struct DeleteBody {
    #[serde(rename = "deleteTicket")]
    delete_ticket: Vec<TicketRef>,
}

#[derive(Deserialize)]
struct TicketRef {
    #[serde(rename = "ticketCode")]
    ticket_code: String,
}

pub async fn tickets(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    body: Body,
) -> Result<Json<Value>, TafError> {
    let body = read_limited(body, state.config.max_body_bytes).await?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(TafError::EmptyBody);
    }
    let value: Value = serde_json::from_slice(&without_trailing_commas(&body))
        .map_err(|e| TafError::Malformed(e.to_string()))?;
    let named: Vec<String> = match serde_json::from_value::<DeleteBody>(value) {
        Ok(parsed) => parsed
            .delete_ticket
            .into_iter()
            .map(|t| t.ticket_code.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect(),
        Err(e) => {
            tracing::info!(error = %e, "DELETE without a deleteTicket list");
            Vec::new()
        }
    };
    // A code with a NUL character names no ticket (and PostgreSQL refuses it).
    let (tickets, unusable): (Vec<String>, Vec<String>) =
        named.into_iter().partition(|t| !t.contains('\0'));
    if tickets.is_empty() {
        return Ok(Json(json!({ "success": false })));
    }
    let deletion = intake::delete_tickets(&state.pool, &tickets, &caller.scope).await?;
    tracing::info!(
        tickets = tickets.len(),
        removed = deletion.removed,
        unknown = deletion.unknown.len(),
        "TAF tickets deleted"
    );
    Ok(Json(
        json!({ "success": deletion.unknown.is_empty() && unusable.is_empty() }),
    ))
}
