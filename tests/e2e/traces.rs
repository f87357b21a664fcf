//! OpenTelemetry traces: one trace follows a TAF lot from the HTTP request,
//! through the outbox publish, to the worker and the publication of its
//! results, across both processes.

use std::collections::HashSet;

use fila_tests::Setup;
use fila_tests::collector::Collector;
use fila_tests::fila::send;
use fila_tests::taf::{items, lot};
use reqwest::{Method, StatusCode};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

#[tokio::test]
async fn one_trace_follows_a_lot_from_the_request_to_its_results() {
    let collector = Collector::start().await;
    let mut fila = Setup::new()
        .env("OTLP_ENDPOINT", &collector.url)
        .start()
        .await;
    let (status, _) = send(
        fila.request(Method::POST, "/rest/wstafst2")
            .header("traceparent", format!("00-{TRACE_ID}-00f067aa0ba902b7-01"))
            .json(&lot("T-TRACE", items("TR", 2))),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(fila.wait_finished("T-TRACE", 2, 30).await);
    // Results are published right after the commit; give the relay a moment.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    // Spans still buffered are exported at exit.
    fila.worker(0).terminate();
    fila.api().terminate();
    assert!(
        fila.worker(0)
            .wait_exit(30)
            .await
            .is_some_and(|s| s.success())
    );
    assert!(fila.api().wait_exit(30).await.is_some_and(|s| s.success()));

    let spans: Vec<_> = collector
        .spans()
        .into_iter()
        .filter(|s| s.trace_id == TRACE_ID)
        .collect();
    let named = |service: &str, name: &str| {
        spans
            .iter()
            .filter(|s| s.service == service && s.name == name)
            .cloned()
            .collect::<Vec<_>>()
    };
    let request = named("fila-api", "http.request");
    assert_eq!(request.len(), 1, "{spans:#?}");
    assert_eq!(
        request[0].parent_span_id, "00f067aa0ba902b7",
        "the caller's traceparent is continued"
    );
    let published = named("fila-api", "fila.publish");
    assert!(!published.is_empty(), "the work's publish: {spans:#?}");
    let handled = named("fila-worker", "fila.message");
    assert!(!handled.is_empty(), "the worker's processing: {spans:#?}");
    let publish_ids: HashSet<&str> = published.iter().map(|s| s.span_id.as_str()).collect();
    assert!(
        handled
            .iter()
            .all(|s| publish_ids.contains(s.parent_span_id.as_str())),
        "the worker continues the trace the message carried: {spans:#?}"
    );
    let results = named("fila-worker", "fila.publish");
    let handled_ids: HashSet<&str> = handled.iter().map(|s| s.span_id.as_str()).collect();
    assert!(
        results
            .iter()
            .any(|s| handled_ids.contains(s.parent_span_id.as_str())),
        "the results' publication is in the trace: {spans:#?}"
    );
    assert!(
        fila.api_log().contains(TRACE_ID),
        "the API's log lines of the request carry the trace id"
    );
}
