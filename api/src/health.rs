//! `/healthz` (the process answers) and `/readyz` (PostgreSQL and RabbitMQ
//! answer too); both open, for Kubernetes probes. Readiness also drives the
//! broker's reconnection while no request needs it.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::state::SharedState;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn readyz(State(state): State<SharedState>) -> (StatusCode, Json<Value>) {
    let postgres =
        match tokio::time::timeout(CHECK_TIMEOUT, fila_shared::db::ping(&state.pool)).await {
            Ok(Ok(())) => "ok".to_string(),
            Ok(Err(e)) => format!("unavailable: {e}"),
            Err(_) => "unavailable: timed out".to_string(),
        };
    let rabbitmq = match state.broker.publisher().await {
        Ok(_) => "ok".to_string(),
        Err(e) => e.to_string(),
    };
    let ready = postgres == "ok" && rabbitmq == "ok";
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if ready { "ready" } else { "not ready" },
            "postgres": postgres,
            "rabbitmq": rabbitmq,
        })),
    )
}
