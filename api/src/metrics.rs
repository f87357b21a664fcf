//! `GET /metrics` (open, like the health checks: it holds counts, never
//! data) and the middleware that measures and traces every routed request
//! (see `fila_shared::telemetry`). TAF counts
//! its items in its own handler; EAI and process submissions are counted
//! here, one per request, by their answer's status, and so are submissions
//! refused for backpressure, shed, or not answered in time.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use fila_shared::amqp::WorkQueue;
use fila_shared::metrics::{self, HttpLabels, RouteLabels, TAF};
use fila_shared::telemetry;
use tracing::Instrument;

use crate::overload::Unhandled;
use crate::policy::Submitted;
use crate::state::SharedState;

pub async fn render(State(state): State<SharedState>) -> impl IntoResponse {
    let queues = WorkQueue::with_groups(&state.config.worker_groups);
    let text = state
        .metrics
        .render(&state.pool, &state.broker, &queues)
        .await;
    ([(CONTENT_TYPE, metrics::CONTENT_TYPE)], text)
}

/// Counts and times the request under its route's pattern, in an
/// `http.request` span that continues the caller's `traceparent`, if any.
pub async fn track(State(state): State<SharedState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(String::new, |p| p.as_str().to_string());
    let method = request.method().clone();
    let span = tracing::info_span!(
        "http.request",
        http.method = %method,
        http.route = %route,
        trace_id = tracing::field::Empty,
    );
    let traceparent = request
        .headers()
        .get(telemetry::TRACEPARENT)
        .and_then(|v| v.to_str().ok());
    telemetry::continue_trace(&span, traceparent);
    let started = Instant::now();
    let response = next.run(request).instrument(span).await;
    let status = response.status();
    let metrics = &state.metrics;
    metrics
        .http_duration
        .get_or_create(&RouteLabels {
            route: route.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    metrics
        .http_requests
        .get_or_create(&HttpLabels {
            route,
            method: method.to_string(),
            status: status.as_u16(),
        })
        .inc();
    // TAF counts its items in its handler, which a lot refused for
    // backpressure, shed or not answered in time never reaches.
    let unhandled = response.extensions().get::<Unhandled>().map(|u| u.0);
    let intake = response.extensions().get::<Submitted>().map(|s| s.0);
    let counted_here = |protocol: &&str| {
        *protocol != TAF || status == StatusCode::TOO_MANY_REQUESTS || unhandled.is_some()
    };
    if let Some(protocol) = intake.filter(counted_here) {
        let code = unhandled.or_else(|| (!status.is_success()).then(|| status.as_u16()));
        metrics.count_intake(protocol, code.map(|c| c.to_string()), 1);
    }
    response
}
