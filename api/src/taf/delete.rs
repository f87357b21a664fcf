//! `DELETE /rest/wstafst2?sourceBranch=…` with
//! `{"deleteTicket":[{"ticketCode":…}]}`: removes the whole chain of each
//! ticket (pending, processed and inconsistent records alike), so that a
//! producer may send the same keys again. As on the real server, a request
//! naming its tickets answers `{"success": true}`, whether or not they
//! exist; a body without `deleteTicket`, or an entry without `ticketCode`,
//! is RESTFAULT 704 (an unreadable body too: the real server reads it as
//! one without `deleteTicket`). A sourceBranch limits the deletion to its
//! company group (803 when it is not registered); a scoped user's tickets
//! are its records in scope.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::{Extension, Json};
use fila_shared::taf::intake;
use fila_shared::taf::lenient_json::without_trailing_commas;
use serde_json::{Value, json};

use super::errors::TafError;
use super::query::QueryParams;
use super::source_branch;
use crate::auth::Caller;
use crate::body::read_limited;
use crate::state::SharedState;

pub async fn tickets(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    RawQuery(raw): RawQuery,
    body: Body,
) -> Result<Json<Value>, TafError> {
    let body = read_limited(body, state.config.max_body_bytes).await?;
    let tickets = named_tickets(&body)?;
    let params = QueryParams::parse(raw.as_deref());
    let company_group = source_branch::company_group(&state, params.get("sourceBranch")).await?;
    // A code with a NUL character names no ticket (and PostgreSQL refuses it).
    let tickets: Vec<String> = tickets.into_iter().filter(|t| !t.contains('\0')).collect();
    let removed = if tickets.is_empty() {
        0
    } else {
        intake::delete_tickets(
            &state.pool,
            &tickets,
            company_group.as_deref(),
            &caller.scope,
        )
        .await?
    };
    tracing::info!(tickets = tickets.len(), removed, "TAF tickets deleted");
    Ok(Json(json!({ "success": true })))
}

/// The ticket codes of `{"deleteTicket":[{"ticketCode":…}, …]}`, or the
/// RESTFAULT 704 the real server answers.
fn named_tickets(body: &[u8]) -> Result<Vec<String>, TafError> {
    let value: Value = serde_json::from_slice(&without_trailing_commas(body)).unwrap_or_default();
    let Some(entries) = value.get("deleteTicket").and_then(Value::as_array) else {
        return Err(TafError::NoTickets(
            "Campo deleteTicket nao declarado na raiz do arquivo.".into(),
        ));
    };
    entries
        .iter()
        .enumerate()
        .map(|(i, entry)| match entry.get("ticketCode") {
            Some(Value::String(code)) => Ok(code.trim().to_string()),
            Some(Value::Number(code)) => Ok(code.to_string()),
            _ => Err(TafError::NoTickets(format!(
                "Campo ticketCode nao informado ou incorreto na posicao {} do arquivo.",
                i + 1
            ))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(body: &str) -> Result<Vec<String>, u16> {
        named_tickets(body.as_bytes()).map_err(|e| e.code())
    }

    #[test]
    fn tickets_are_named_or_704() {
        assert_eq!(
            code(r#"{"deleteTicket":[{"ticketCode":"A"},{"ticketCode":" B "},]}"#),
            Ok(vec!["A".into(), "B".into()])
        );
        assert_eq!(code(r#"{"deleteTicket":[]}"#), Ok(vec![]));
        for bad in [
            "",
            "{deleteTicket",
            r#"{"tickets":["T"]}"#,
            r#"{"deleteTicket":"T"}"#,
            r#"{"deleteTicket":[{"ticketCode":"A"},{"code":"B"}]}"#,
        ] {
            assert_eq!(code(bad), Err(704), "{bad}");
        }
    }
}
