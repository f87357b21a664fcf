//! Retrying TAF records that ended in error (see
//! `fila_shared::taf::retry`):
//!
//! - `POST /admin/taf/tickets/{ticketCode}/retry` queues again every record
//!   of the ticket in error (the newest of its registryKey):
//!   `{"retried": [RecNo, ...]}`, empty when there is none;
//! - `POST /admin/taf/records/{recNo}/retry` queues one again; 404 when it
//!   is not in error or a newer record of its registryKey exists.

use axum::Json;
use axum::extract::{Path, State};
use fila_shared::taf::retry::{self, Retried, Target};
use serde_json::{Value, json};

use crate::errors::ApiError;
use crate::state::SharedState;

/// The RecNos queued again.
async fn run(state: &SharedState, target: Target<'_>) -> Result<Vec<i64>, ApiError> {
    let Retried { records, stored } =
        retry::retry(&state.pool, target, state.config.taf_chunk_size).await?;
    if !records.is_empty() {
        tracing::info!(records = records.len(), "TAF records in error queued again");
    }
    state.relay.publish(stored).await;
    Ok(records)
}

pub async fn ticket(
    State(state): State<SharedState>,
    Path(ticket): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let retried = run(&state, Target::Ticket(&ticket)).await?;
    Ok(Json(json!({ "retried": retried })))
}

pub async fn record(
    State(state): State<SharedState>,
    Path(rec_no): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let not_found = || {
        ApiError::NotFound(format!(
            "no record in error has RecNo {rec_no}, or a newer record of its registryKey exists"
        ))
    };
    let id: i64 = rec_no.parse().map_err(|_| not_found())?;
    let retried = run(&state, Target::Record(id)).await?;
    if retried.is_empty() {
        return Err(not_found());
    }
    Ok(Json(json!({ "retried": retried })))
}
