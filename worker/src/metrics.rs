//! The worker's own HTTP server, on `worker_metrics_addr`: `GET /metrics`,
//! its Prometheus metrics (see [`fila_shared::metrics`]), and the probes
//! `GET /healthz` (the worker answers) and `GET /readyz` (PostgreSQL and
//! RabbitMQ answer too; 503 otherwise, see [`fila_shared::health`]). It
//! stops with the worker, so a stopping worker stops answering its probes.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use fila_shared::amqp::WorkQueue;
use fila_shared::health::{self, Readiness};
use fila_shared::metrics::CONTENT_TYPE as METRICS;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::context::{Context, Stop};

struct Scrape {
    ctx: Arc<Context>,
    queues: Vec<WorkQueue>,
}

/// Serves until a stop is requested.
pub async fn serve(
    listener: TcpListener,
    ctx: Arc<Context>,
    queues: Vec<WorkQueue>,
    mut stop: Stop,
) {
    let app = Router::new()
        .route("/metrics", get(render))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(Arc::new(Scrape { ctx, queues }));
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move { stop.wait().await })
        .await;
    if let Err(e) = served {
        tracing::warn!(error = %e, "metrics server stopped");
    }
}

async fn render(State(scrape): State<Arc<Scrape>>) -> impl IntoResponse {
    let ctx = &scrape.ctx;
    let text = ctx
        .metrics
        .render(&ctx.pool, &ctx.broker, &scrape.queues)
        .await;
    ([(CONTENT_TYPE, METRICS)], text)
}

async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(scrape): State<Arc<Scrape>>) -> (StatusCode, Json<Readiness>) {
    let readiness = health::check(
        &scrape.ctx.pool,
        &scrape.ctx.broker,
        health::Needs::DatabaseAndBroker,
    )
    .await;
    let status = if readiness.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(readiness))
}
