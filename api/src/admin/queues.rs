//! Work queues, and pausing their consumption (see
//! `fila_shared::queue_pause`):
//!
//! - `GET /admin/queues` answers `{"queues": [{queue, ready, consumers,
//!   paused, pausedAt, pausedBy, publishRate, deliverRate}]}` for `taf`,
//!   `eai` and the process queues of the configured worker groups (`ready`
//!   and `consumers` as RabbitMQ reports them, `null` when it does not
//!   answer; the rates, messages per second, from its management API when
//!   `amqp_management_url` is set, otherwise `null`);
//! - `POST /admin/queues/{queue}/pause` and `…/resume` answer the queue's
//!   entry; the workers stop or start consuming within about a second.
//!   404 for a name that is no work queue.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::{Extension, Json};
use fila_shared::amqp::WorkQueue;
use fila_shared::amqp::management::Rates;
use fila_shared::queue_pause::{self, Pause};
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::errors::ApiError;
use crate::state::SharedState;

/// How long the broker is given for each queue's figures.
const BROKER_TIMEOUT: Duration = Duration::from_secs(2);

async fn entry(
    state: &SharedState,
    queue: &WorkQueue,
    pause: Option<&Pause>,
    rates: Option<&HashMap<String, Rates>>,
) -> Value {
    let topology = state.broker.topology();
    let rates = rates.and_then(|r| {
        Rates::sum(
            topology
                .lanes(queue)
                .iter()
                .filter_map(|lane| r.get(&topology.lane_queue(lane))),
        )
    });
    let counts = tokio::time::timeout(BROKER_TIMEOUT, state.broker.queue_counts(queue))
        .await
        .ok()
        .and_then(Result::ok);
    json!({
        "queue": queue.key(),
        "ready": counts.map(|c| c.ready),
        "consumers": counts.map(|c| c.consumers),
        "paused": pause.is_some(),
        "pausedAt": pause.map(|p| p.at),
        "pausedBy": pause.map(|p| p.by.clone()),
        "publishRate": rates.map(|r| r.publish),
        "deliverRate": rates.map(|r| r.deliver),
    })
}

pub async fn list(State(state): State<SharedState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "queues": entries(&state).await? })))
}

/// Every work queue's entry (see the module's documentation).
pub async fn entries(state: &SharedState) -> Result<Vec<Value>, ApiError> {
    let paused = queue_pause::paused(&state.pool).await?;
    let mut queues = WorkQueue::with_groups(&state.config.worker_groups);
    for queue in paused.keys().filter_map(|key| WorkQueue::from_key(key)) {
        if !queues.contains(&queue) {
            queues.push(queue);
        }
    }
    let rates = rates(state).await;
    let mut entries = Vec::with_capacity(queues.len());
    for queue in &queues {
        entries.push(entry(state, queue, paused.get(&queue.key()), rates.as_ref()).await);
    }
    Ok(entries)
}

/// One queue's entry.
async fn single(state: &SharedState, queue: &WorkQueue, pause: Option<&Pause>) -> Value {
    let rates = rates(state).await;
    entry(state, queue, pause, rates.as_ref()).await
}

/// The queues' rates, when the management API is configured and answers.
async fn rates(state: &SharedState) -> Option<HashMap<String, Rates>> {
    match state.management.as_ref()?.rates().await {
        Ok(rates) => Some(rates),
        Err(e) => {
            tracing::warn!(error = %e, "queue rates unavailable");
            None
        }
    }
}

fn work_queue(name: &str) -> Result<WorkQueue, ApiError> {
    WorkQueue::from_key(name).ok_or_else(|| {
        ApiError::NotFound(format!(
            "{name} is no work queue: give taf, eai or process.<group>"
        ))
    })
}

pub async fn pause(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let queue = work_queue(&name)?;
    if queue_pause::pause(&state.pool, &queue.key(), &caller.name).await? {
        tracing::warn!(queue = %queue.key(), by = %caller.name, "queue paused");
    }
    let paused = queue_pause::paused(&state.pool).await?;
    Ok(Json(single(&state, &queue, paused.get(&queue.key())).await))
}

pub async fn resume(
    State(state): State<SharedState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let queue = work_queue(&name)?;
    if queue_pause::resume(&state.pool, &queue.key()).await? {
        tracing::info!(queue = %queue.key(), "queue resumed");
    }
    Ok(Json(single(&state, &queue, None).await))
}
