//! The operations overview dashboards read.

use fila_tests::Setup;
use fila_tests::eai::message;
use fila_tests::fila::send;
use fila_tests::taf::{admissao_xml, b64, item, item_with, lot};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn the_overview_shows_open_work_errors_and_queues() {
    let fila = Setup::new().start().await;
    let wrong = item_with("E1", json!({ "integrationMessage": b64(&admissao_xml()) }));
    fila.post_lot(&lot("T-OPS", vec![wrong, item("OK1")])).await;
    assert!(fila.wait_finished("T-OPS", 2, 30).await);
    let (status, _) = send(fila.admin(Method::POST, "/admin/queues/eai/pause")).await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let (status, _) = send(
        fila.request(Method::POST, "/totvseai/standardmessage/v1/transactions")
            .json(&message(
                "d6e4b0c2-0000-4000-8000-0000000000a1",
                "CUSTOMERVENDOR",
                "C1",
            )),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);

    let (status, overview) = send(fila.reader(Method::GET, "/ops/overview")).await;
    assert_eq!(status, StatusCode::OK, "{overview}");
    assert_eq!(overview["taf"]["pending"], 0, "{overview}");
    assert_eq!(overview["taf"]["oldestOpenSeconds"], json!(null));
    assert_eq!(overview["taf"]["errorsLastHour"], json!({ "000002": 1 }));
    assert_eq!(overview["eai"]["pending"], 1, "{overview}");
    assert!(
        overview["eai"]["oldestPendingSeconds"]
            .as_f64()
            .is_some_and(|s| s >= 0.0)
    );
    assert_eq!(overview["process"]["running"], 0);
    assert_eq!(overview["deadLetters"], json!({}));
    assert!(overview["outbox"]["rows"].is_i64(), "{overview}");
    let eai = overview["queues"]
        .as_array()
        .and_then(|q| q.iter().find(|q| q["queue"] == "eai"))
        .expect("the eai queue");
    assert_eq!(eai["paused"], true, "{overview}");

    let (status, _) = send(fila.anonymous(Method::GET, "/ops/overview")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
