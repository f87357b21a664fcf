//! The asynchronous EAI flow's way back: each message's response message is
//! delivered to its SourceApplication's own `/transactions` endpoint
//! (`eai_sources`), retried like any delivery; and a response message sent
//! to fila's `/transactions` (a destination answering asynchronously) is
//! matched to the message it answers and recorded.

use std::time::Duration;

use fila_tests::destination::{Destination, Reply};
use fila_tests::eai::message;
use fila_tests::fila::send;
use fila_tests::{Fila, Setup};
use reqwest::{Method, StatusCode};
use serde_json::json;

const TRANSACTIONS: &str = "/totvseai/standardmessage/v1/transactions";

async fn callback_of(fila: &Fila, uuid: &str) -> Option<String> {
    fila.db()
        .await
        .query_one("SELECT callback FROM eai_message WHERE uuid = $1", &[&uuid])
        .await
        .expect("message")
        .get("callback")
}

#[tokio::test]
async fn the_response_goes_back_to_its_source_application() {
    let origin = Destination::start(vec![
        Reply::Json(503, "{}".into()),
        Reply::Json(202, "{}".into()),
    ])
    .await;
    let mut fila = Setup::new()
        .toml(&format!(
            "[[eai_sources]]\nsource_application = \"rm\"\nurl = \"{}\"\ntimeout_secs = 5\n",
            origin.url
        ))
        .start()
        .await;
    let (status, _) = send(fila.request(Method::POST, TRANSACTIONS).json(&message(
        "CB-1",
        "CUSTOMERVENDOR",
        "C1",
    )))
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while callback_of(&fila, "CB-1").await.as_deref() != Some("delivered") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not delivered: {:?}",
            origin.seen()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seen = origin.seen();
    assert_eq!(seen.len(), 2, "one 503, tried again: {seen:?}");
    let response = &seen[1].body;
    assert_eq!(seen[1].method, "POST");
    assert_eq!(response["Header"]["Type"], "Response");
    assert!(
        response["Header"]["ProductName"].is_string(),
        "Protheus adapters need ProductName"
    );
    let content = &response["Content"];
    assert_eq!(content["ReceivedMessage"]["UUID"], "CB-1");
    assert_eq!(content["ReceivedMessage"]["SentBy"], "RM");
    assert_eq!(content["ProcessingInformation"]["Status"], "OK");
    assert_eq!(
        content["ReturnContent"]["ListOfInternalId"][0]["Origin"],
        "C1"
    );
    let metrics = reqwest::get(fila.worker_metrics_url(0).await)
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics
            .lines()
            .any(|l| l.contains("eai_callback") && l.contains("delivered")),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_source_without_a_callback_gets_none() {
    let fila = Fila::start().await;
    send(
        fila.request(Method::POST, TRANSACTIONS)
            .json(&message("CB-2", "CUSTOMERVENDOR", "C2")),
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (status, _) = send(fila.request(Method::GET, &format!("{TRANSACTIONS}/CB-2"))).await;
        if status == StatusCode::OK {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(callback_of(&fila, "CB-2").await, None);
}

/// What a destination answering asynchronously sends back: a response
/// message in lowerCamelCase, its receivedMessage naming fila's message.
#[tokio::test]
async fn a_response_message_sent_back_is_matched_and_recorded() {
    let fila = Setup::new().workers(0).start().await;
    send(
        fila.request(Method::POST, TRANSACTIONS)
            .json(&message("OR-1", "CUSTOMERVENDOR", "C3")),
    )
    .await;
    let answer = |uuid: &str, received: &str| {
        json!({
            "header": { "UUID": uuid, "type": "Response", "transaction": "CUSTOMERVENDOR",
                        "version": "2.000", "sourceApplication": "ERP", "productName": "PROTHEUS" },
            "content": {
                "receivedMessage": { "UUID": received, "sentBy": "RM", "event": "upsert" },
                "processingInformation": { "status": "OK", "details": [] },
                "returnContent": { "listOfInternalId": [
                    { "name": "CUSTOMERVENDOR", "origin": "C3", "destination": "01|000123" }
                ] }
            }
        })
    };
    let (status, receipt) = send(
        fila.request(Method::POST, TRANSACTIONS)
            .json(&answer("RS-1", "OR-1")),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{receipt}");
    assert_eq!(receipt["items"][0]["status"], "accepted");
    assert_eq!(receipt["items"][0]["receivedMessage"], "OR-1");
    let (status, receipt) = send(
        fila.request(Method::POST, TRANSACTIONS)
            .json(&answer("RS-1", "OR-1")),
    )
    .await;
    assert_eq!(
        (status, receipt["items"][0]["status"].as_str()),
        (StatusCode::OK, Some("duplicate"))
    );
    let row = fila
        .db()
        .await
        .query_one(
            "SELECT message_uuid, status, body FROM eai_answer WHERE uuid = 'RS-1'",
            &[],
        )
        .await
        .expect("recorded");
    assert_eq!(row.get::<_, String>("message_uuid"), "OR-1");
    assert_eq!(
        row.get::<_, Option<String>>("status").as_deref(),
        Some("OK")
    );
    let body: serde_json::Value = row.get("body");
    assert_eq!(
        body["content"]["returnContent"]["listOfInternalId"][0]["destination"],
        "01|000123"
    );
    let (status, refused) = send(
        fila.request(Method::POST, TRANSACTIONS)
            .json(&answer("RS-2", "NOBODY")),
    )
    .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("EAI-404"))
    );
}
