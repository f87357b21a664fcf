//! Reconciling now (see `fila_shared::reconcile`), for operators:
//!
//! - `POST /admin/reconcile` with `{"dryRun": true}` counts the open items
//!   the reconciler finds lost now (queued before the last probe through
//!   their queue), by protocol: `{"dryRun": true, "taf": n, "eai": n,
//!   "process": n}`; with `"dryRun": false` it queues them again;
//! - with `"queuedBefore": "<RFC 3339 time>"`, every open item queued
//!   before that time is counted or queued again, whatever the queues hold:
//!   after a database restore, give the time the backup was taken (items
//!   whose message is still queued are then delivered twice, which the
//!   workers tolerate).
//!
//! Items of a dead letter are never taken (replay or discard it). While a
//! worker's reconciler runs, the request waits for it a little, then
//! answers 409.

use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use chrono::{DateTime, Utc};
use fila_shared::reconcile::{self, Chunks, Scope, Settings};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::body::read_limited;
use crate::errors::ApiError;
use crate::state::SharedState;

/// How long a request waits for a reconciliation under way.
const LOCK_WAIT: Duration = Duration::from_secs(10);
const LOCK_RETRY: Duration = Duration::from_millis(250);

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Request {
    dry_run: bool,
    queued_before: Option<DateTime<Utc>>,
}

pub async fn run(State(state): State<SharedState>, body: Body) -> Result<Json<Value>, ApiError> {
    let body = read_limited(body, state.config.max_body_bytes).await?;
    let request: Request = serde_json::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(format!(
            "give {{\"dryRun\": true|false}} and, to take every open item queued before a \
             time, \"queuedBefore\": \"<RFC 3339 time>\": {e}"
        ))
    })?;
    let scope = request
        .queued_before
        .map_or(Scope::Lost, Scope::QueuedBefore);
    let settings = Settings {
        topology: state.broker.topology(),
        settle: state.config.reconcile_settle(),
        chunks: Chunks {
            taf: state.config.taf_chunk_size,
            eai: state.config.eai_chunk_size,
            registry: &state.eai,
        },
        dry_run: request.dry_run,
    };
    let deadline = tokio::time::Instant::now() + LOCK_WAIT;
    let pass = loop {
        if let Some(pass) = reconcile::pass(&state.pool, None, scope, &settings).await? {
            break pass;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ApiError::Conflict(
                "a reconciliation is under way; try again in a moment".into(),
            ));
        }
        tokio::time::sleep(LOCK_RETRY).await;
    };
    let counts = pass.counts;
    if !request.dry_run {
        tracing::warn!(
            taf = counts.taf,
            eai = counts.eai,
            process = counts.process,
            ?scope,
            "open work queued again by an operator's reconciliation"
        );
    }
    state.relay.publish(pass.stored).await;
    Ok(Json(json!({
        "dryRun": request.dry_run,
        "taf": counts.taf,
        "eai": counts.eai,
        "process": counts.process,
    })))
}
