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
    let (status, _) = fila
        .post_eai(&message(
            "d6e4b0c2-0000-4000-8000-0000000000a1",
            "CUSTOMERVENDOR",
            "C1",
        ))
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

#[tokio::test]
async fn tickets_show_their_progress_and_their_errors() {
    let fila = Setup::new().start().await;
    let wrong = item_with("A3", json!({ "integrationMessage": b64(&admissao_xml()) }));
    fila.post_lot(&lot("T-A", vec![item("A1"), item("A2"), wrong]))
        .await;
    fila.post_lot(&lot("T-B", vec![item("B1"), item("B2")]))
        .await;
    fila.post_lot(&lot("T-C", vec![item("C1")])).await;
    for (ticket, records) in [("T-A", 3), ("T-B", 2), ("T-C", 1)] {
        assert!(fila.wait_finished(ticket, records, 30).await, "{ticket}");
    }

    let (status, page) = send(fila.reader(Method::GET, "/ops/taf/tickets")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let codes: Vec<&str> = page["tickets"]
        .as_array()
        .expect("tickets")
        .iter()
        .filter_map(|t| t["ticketCode"].as_str())
        .collect();
    assert_eq!(codes, ["T-C", "T-B", "T-A"], "newest first");
    let a = &page["tickets"][2];
    assert_eq!(
        (&a["records"], &a["processed"], &a["error"], &a["pending"]),
        (&json!(3), &json!(2), &json!(1), &json!(0)),
        "{a}"
    );
    assert_eq!(page["next"], json!(null));

    let (_, first) = send(fila.reader(Method::GET, "/ops/taf/tickets?limit=2")).await;
    assert_eq!(first["tickets"].as_array().map(Vec::len), Some(2));
    let next = first["next"].as_i64().expect("a next page");
    let (_, second) = send(fila.reader(
        Method::GET,
        &format!("/ops/taf/tickets?limit=2&before={next}"),
    ))
    .await;
    assert!(
        second["tickets"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["ticketCode"] == "T-A")),
        "older tickets on the next page (a ticket met on both sides may repeat): {second}"
    );

    let (status, errors) = send(fila.reader(Method::GET, "/ops/taf/tickets/T-A/errors")).await;
    assert_eq!(status, StatusCode::OK);
    let records = errors["records"].as_array().expect("records");
    assert_eq!(records.len(), 1, "{errors}");
    assert_eq!(records[0]["registryKey"], "A3");
    assert_eq!(records[0]["errorCode"], "000002");
    assert_eq!(errors["next"], json!(null));
    for path in [
        "/ops/taf/tickets/T-A/errors?code=000001",
        "/ops/taf/tickets/T-NONE/errors",
    ] {
        let (status, answer) = send(fila.reader(Method::GET, path)).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(answer["records"], json!([]), "{path}");
    }
    for path in [
        "/ops/taf/tickets?limit=0",
        "/ops/taf/tickets?limit=x",
        "/ops/taf/tickets?before=-9223372036854775808",
    ] {
        let (status, _) = send(fila.reader(Method::GET, path)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
    }
}
