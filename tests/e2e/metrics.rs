//! Prometheus metrics of the API and of a worker, read as Prometheus reads
//! them.

use fila_tests::eai::message;
use fila_tests::prometheus::sample;
use fila_tests::taf::{item, item_with, lot};
use fila_tests::{Fila, Setup};
use reqwest::StatusCode;
use serde_json::json;

async fn scrape(fila: &Fila, url: &str) -> String {
    let response = fila.http().get(url).send().await.expect("scrape");
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("content type")
        .to_string();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    response.text().await.expect("text")
}

#[tokio::test]
async fn api_and_worker_count_what_they_take_and_finish() {
    let mut fila = Setup::new().start().await;
    let lot = lot(
        "T-METRICS",
        vec![
            item("M1"),
            item("M2"),
            item_with("M3", json!({ "registryPriority": "9" })),
        ],
    );
    let (status, _) = fila.post_lot(&lot).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = fila
        .post_eai(&message(
            "d6e4b0c2-0000-4000-8000-00000000e001",
            "CUSTOMERVENDOR",
            "C1",
        ))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, _) = fila.start_robusta(&json!({ "name": "NotDefined" })).await;
    assert!(status.is_client_error(), "{status}");
    assert!(fila.wait_finished("T-METRICS", 2, 30).await);

    let api = scrape(&fila, &fila.url("/metrics")).await;
    for (series, value) in [
        (
            r#"fila_intake_items_total{protocol="taf",outcome="accepted",code=""}"#,
            2.0,
        ),
        (
            r#"fila_intake_items_total{protocol="taf",outcome="refused",code="805"}"#,
            1.0,
        ),
        (
            r#"fila_intake_items_total{protocol="eai",outcome="accepted",code=""}"#,
            1.0,
        ),
        (
            r#"fila_http_requests_total{route="/rest/wstafst2",method="POST",status="200"}"#,
            1.0,
        ),
        (
            r#"fila_http_request_duration_seconds_count{route="/rest/wstafst2"}"#,
            1.0,
        ),
    ] {
        assert_eq!(sample(&api, series), Some(value), "{series} in\n{api}");
    }
    assert!(
        api.contains(r#"fila_intake_items_total{protocol="process",outcome="refused",code="4"#),
        "{api}"
    );
    for series in [
        "fila_outbox_rows",
        "fila_outbox_oldest_age_seconds",
        r#"fila_queue_depth{queue="taf"}"#,
        r#"fila_db_pool_connections{state="in_use"}"#,
        "fila_db_pool_max_connections",
        "fila_schedules_due",
    ] {
        assert!(sample(&api, series).is_some(), "{series} in\n{api}");
    }
    assert_eq!(
        sample(&api, r#"fila_queue_consumers{queue="taf"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(&api, "fila_broker_channels"),
        Some(1.0),
        "the publishing channel; the queue readings' channels are closed: {api}"
    );
    assert!(sample(&api, "fila_broker_channel_max").is_some_and(|max| max > 0.0));

    let url = fila.worker_metrics_url(0).await;
    let finished = fila_tests::eventually(30, || {
        let scraped = scrape(&fila, &url);
        async move {
            let worker = scraped.await;
            sample(
                &worker,
                r#"fila_items_finished_total{protocol="eai",status="ok"}"#,
            ) == Some(1.0)
        }
    })
    .await;
    let worker = scrape(&fila, &url).await;
    assert!(finished, "{worker}");
    assert_eq!(
        sample(
            &worker,
            r#"fila_items_finished_total{protocol="taf",status="processed"}"#
        ),
        Some(2.0),
        "{worker}"
    );
    assert!(
        sample(
            &worker,
            r#"fila_queue_messages_handled_total{queue="taf",outcome="done"}"#
        )
        .is_some_and(|n| n >= 1.0),
        "{worker}"
    );
    assert!(
        sample(
            &worker,
            r#"fila_message_processing_seconds_count{queue="taf"}"#
        )
        .is_some_and(|n| n >= 1.0),
        "{worker}"
    );
    assert_eq!(
        sample(&worker, r#"fila_messages_in_flight{queue="taf"}"#),
        Some(0.0)
    );
    assert_eq!(
        sample(&worker, "fila_broker_channels"),
        Some(4.0),
        "publishing + a consumer of taf, eai and process.default: {worker}"
    );
    assert!(
        sample(&worker, r#"fila_work_latency_seconds_count{queue="taf"}"#)
            .is_some_and(|n| n >= 1.0),
        "end-to-end latency, from the accepting commit: {worker}"
    );
}
