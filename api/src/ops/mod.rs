//! The operations API for dashboards (role `reader`; `admin` and
//! `producer` include it). `GET /ops/overview` answers, in one call, every
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
//! The lists, each paged and filtered by checked query parameters
//! ([`params`]): TAF tickets and records in error ([`taf`]), EAI lots
//! ([`eai`]) and process jobs ([`process`]).

mod eai;
mod process;
mod taf;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use fila_shared::overview::{self, Overview};
use serde::Serialize;
use serde_json::Value;

use crate::admin::queues;
use crate::bounds::Dialect;
use crate::errors::ApiError;
use crate::policy::{Guards, Policy};
use crate::state::SharedState;

/// Every route needs `reader`.
pub fn routes(g: &Guards) -> Router<SharedState> {
    let routes = Router::new()
        .route("/ops/overview", get(show))
        .route("/ops/taf/tickets", get(taf::tickets))
        .route("/ops/taf/tickets/{ticket}/errors", get(taf::ticket_errors))
        .route("/ops/taf/errors", get(taf::recent_errors))
        .route("/ops/eai/batches", get(eai::batches))
        .route("/ops/process/jobs", get(process::jobs));
    g.all(Policy::reads(Dialect::Fila), routes)
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
