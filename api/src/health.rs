//! `/healthz` (the process answers) and `/readyz` (PostgreSQL answers; how
//! RabbitMQ answers is reported but does not make the API unready, since
//! intake keeps accepting work into the outbox while the broker is away,
//! see `fila_shared::health`); both open, for Kubernetes probes. Readiness
//! also drives the broker's reconnection while no request needs it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use fila_shared::health::{self, Needs, Readiness};
use serde_json::{Value, json};

use crate::state::SharedState;

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn readyz(State(state): State<SharedState>) -> (StatusCode, Json<Readiness>) {
    let readiness = health::check(&state.pool, &state.broker, Needs::Database).await;
    let status = if readiness.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(readiness))
}
