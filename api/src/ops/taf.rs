//! TAF tickets and their records in error (see
//! `fila_shared::taf::tickets`):
//!
//! - `GET /ops/taf/tickets[?before=<RecNo>&limit=20]`: the recent tickets
//!   with their progress, `{"tickets": [{ticketCode, records, pending,
//!   waiting, processed, error, firstRecNo, lastRecNo, acceptedAt}],
//!   "next"}`, newest first;
//! - `GET /ops/taf/tickets/{ticketCode}/errors[?code=000002&after=<RecNo>]`:
//!   its records in error, 100 at a time, `{"records": [{recNo,
//!   registryKey, sourceBranch, registryType, errorCode, errorDescription,
//!   errorDetail}], "next"}`;
//! - `GET /ops/taf/errors[?code=000002&after=<RecNo>]`: the records of
//!   every ticket that ended in error in the last hour, 100 at a time, as
//!   above with their `ticketCode`: the drill-down of the overview's
//!   `errorsLastHour`.

use axum::Json;
use axum::extract::{Path, State};
use fila_shared::taf::tickets;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::errors::ApiError;
use crate::params::{self, Params};
use crate::state::SharedState;

const TICKETS_DEFAULT: i64 = 20;
const TICKETS_MAX: i64 = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketPage {
    before: Option<i64>,
    limit: Option<i64>,
}

pub async fn tickets(
    State(state): State<SharedState>,
    Params(page): Params<TicketPage>,
) -> Result<Json<Value>, ApiError> {
    let limit = params::limit(page.limit, TICKETS_DEFAULT, TICKETS_MAX)?;
    let before = params::id("before", page.before, 1)?;
    let (listed, next) = tickets::recent(&state.pool, before, limit).await?;
    Ok(Json(json!({ "tickets": listed, "next": next })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorPage {
    code: Option<String>,
    after: Option<i64>,
}

impl ErrorPage {
    /// `(code, after)`, checked.
    fn checked(&self) -> Result<(Option<&str>, i64), ApiError> {
        let code = params::text("code", self.code.as_deref())?;
        let after = params::id("after", self.after, 0)?.unwrap_or(0);
        Ok((code, after))
    }
}

pub async fn ticket_errors(
    State(state): State<SharedState>,
    Path(ticket): Path<String>,
    Params(page): Params<ErrorPage>,
) -> Result<Json<Value>, ApiError> {
    let (code, after) = page.checked()?;
    let records = tickets::errors(&state.pool, &ticket, code, after).await?;
    let next = (records.len() as i64 == tickets::ERRORS_LISTED)
        .then(|| records.last().map(|r| r.rec_no))
        .flatten();
    Ok(Json(json!({ "records": records, "next": next })))
}

pub async fn recent_errors(
    State(state): State<SharedState>,
    Params(page): Params<ErrorPage>,
) -> Result<Json<Value>, ApiError> {
    let (code, after) = page.checked()?;
    let records = tickets::recent_errors(&state.pool, code, after).await?;
    let next = (records.len() as i64 == tickets::ERRORS_LISTED)
        .then(|| records.last().map(|r| r.record.rec_no))
        .flatten();
    Ok(Json(json!({ "records": records, "next": next })))
}
