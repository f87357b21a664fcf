//! `/healthz` (the process answers) and `/readyz` (PostgreSQL and RabbitMQ
//! answer too, see `fila_shared::health`); both open, for Kubernetes
//! probes. Readiness also drives the broker's reconnection while no request
//! needs it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use fila_shared::health::{self, Readiness};
use serde_json::{Value, json};

use crate::state::SharedState;

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn readyz(State(state): State<SharedState>) -> (StatusCode, Json<Readiness>) {
    let readiness = health::check(&state.pool, &state.broker).await;
    let status = if readiness.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(readiness))
}
