//! The worker's Prometheus metrics, served on `worker_metrics_addr` at
//! `GET /metrics` (see [`fila_shared::metrics`]).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use fila_shared::amqp::WorkQueue;
use fila_shared::metrics::CONTENT_TYPE as METRICS;
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
