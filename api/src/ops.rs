//! The operations API for dashboards (role `reader`; `admin` and
//! `producer` include it): `GET /ops/overview` answers, in one call, every
//! work queue's entry (as `GET /admin/queues`) and the store's figures
//! (see `fila_shared::overview`):
//!
//! ```json
//! {"queues": [...],
//!  "taf": {"pending", "waiting", "oldestOpenSeconds", "errorsLastHour": {"000002": 3}},
//!  "eai": {"pending", "oldestPendingSeconds", "errorsLastHour"},
//!  "process": {"waiting", "running", "oldestWaitingSeconds", "failedLastHour"},
//!  "deadLetters": {"taf": 1}, "outbox": {"rows", "oldestAgeSeconds"}}
//! ```
//!
//! `GET /ops/taf/tickets[?before=<RecNo>&limit=20]` lists the recent
//! tickets with their progress, `{"tickets": [{ticketCode, records,
//! pending, waiting, processed, error, firstRecNo, lastRecNo, acceptedAt}],
//! "next"}`, newest first (see `fila_shared::taf::tickets`); `GET
//! /ops/taf/tickets/{ticketCode}/errors[?code=000002&after=<RecNo>]` its
//! records in error, 100 at a time, `{"records": [{recNo, registryKey,
//! sourceBranch, registryType, errorCode, errorDescription, errorDetail}],
//! "next"}`.

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use fila_shared::overview::{self, Overview};
use fila_shared::taf::tickets;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::admin::queues;
use crate::errors::ApiError;
use crate::state::SharedState;

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/ops/overview", get(show))
        .route("/ops/taf/tickets", get(ticket_list))
        .route("/ops/taf/tickets/{ticket}/errors", get(ticket_errors))
}

const TICKETS_DEFAULT: i64 = 20;
const TICKETS_MAX: i64 = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TicketPage {
    before: Option<i64>,
    limit: Option<i64>,
}

async fn ticket_list(
    State(state): State<SharedState>,
    Query(page): Query<TicketPage>,
) -> Result<Json<Value>, ApiError> {
    let limit = page.limit.unwrap_or(TICKETS_DEFAULT);
    if !(1..=TICKETS_MAX).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {TICKETS_MAX}"
        )));
    }
    if page.before.is_some_and(|before| before < 1) {
        return Err(ApiError::BadRequest(
            "before must be a RecNo (1 or more)".into(),
        ));
    }
    let listed = tickets::recent(&state.pool, page.before, limit).await?;
    // A ticket whose records interleave with older ones may show again.
    let next = (listed.len() as i64 == limit)
        .then(|| listed.iter().map(|t| t.last_rec_no).min())
        .flatten();
    Ok(Json(json!({ "tickets": listed, "next": next })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ErrorPage {
    code: Option<String>,
    after: Option<i64>,
}

async fn ticket_errors(
    State(state): State<SharedState>,
    Path(ticket): Path<String>,
    Query(page): Query<ErrorPage>,
) -> Result<Json<Value>, ApiError> {
    let records = tickets::errors(
        &state.pool,
        &ticket,
        page.code.as_deref(),
        page.after.unwrap_or(0),
    )
    .await?;
    let next = (records.len() as i64 == tickets::ERRORS_LISTED)
        .then(|| records.last().map(|r| r.rec_no))
        .flatten();
    Ok(Json(json!({ "records": records, "next": next })))
}

#[derive(Serialize)]
struct Answer {
    queues: Vec<Value>,
    #[serde(flatten)]
    store: Overview,
}

async fn show(State(state): State<SharedState>) -> Result<Json<Answer>, ApiError> {
    Ok(Json(Answer {
        queues: queues::entries(&state).await?,
        store: overview::read(&state.pool).await?,
    }))
}
