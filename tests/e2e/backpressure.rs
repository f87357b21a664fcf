//! Backpressure: past `intake_max_queue_depth` ready messages, intake of
//! the protocol feeding that queue answers 429 with Retry-After; reading
//! goes on, other protocols go on, and intake resumes once the queue
//! drains.

use fila_tests::runs::{DEFINITIONS, envelope, fault};
use fila_tests::taf::{items, lot};
use fila_tests::{Fila, Setup};
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn post_lot_until(fila: &Fila, ticket: &str, wanted: StatusCode) -> bool {
    fila_tests::eventually(30, || async {
        fila.post_lot(&lot(ticket, items(ticket, 1))).await.0 == wanted
    })
    .await
}

#[tokio::test]
async fn a_full_queue_refuses_its_intake_until_it_drains() {
    let mut fila = Setup::new()
        .workers(0)
        .processes(DEFINITIONS)
        .env("INTAKE_MAX_QUEUE_DEPTH", 5)
        .env("TAF_CHUNK_SIZE", 1)
        .start()
        .await;
    let (status, _) = fila.post_lot(&lot("T-FILL", items("F", 10))).await;
    assert_eq!(status, StatusCode::OK, "under the bound when sent");
    assert!(
        post_lot_until(&fila, "T-PROBE", StatusCode::TOO_MANY_REQUESTS).await,
        "ten messages wait in the taf queue"
    );
    let response = fila
        .request(Method::POST, "/rest/wstafst2")
        .json(&lot("T-REFUSED", items("R", 1)))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "10");
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["code"], 429, "{body}");
    assert!(
        fila.taf_counts("T-REFUSED").await.is_empty(),
        "nothing stored"
    );
    let metrics = fila.metrics_text().await;
    assert!(
        metrics.contains(r#"fila_intake_items_total{protocol="taf",outcome="refused",code="429"}"#),
        "{metrics}"
    );

    let (status, _) = fila.get_status("ticketCode=T-FILL&startRecNo=0").await;
    assert_eq!(status, StatusCode::OK, "reading is never refused");
    let (status, answer) = fila
        .start_robusta(
            &json!({ "name": "FullName", "values": { "name": "Ana", "surname": "Lima" } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "other protocols go on: {answer}");

    fila.start_worker().await;
    assert!(
        post_lot_until(&fila, "T-AFTER", StatusCode::OK).await,
        "intake resumes once the queue drains"
    );
}

#[tokio::test]
async fn a_full_process_queue_answers_wsprocess_with_a_fault() {
    let fila = Setup::new()
        .workers(0)
        .processes(DEFINITIONS)
        .env("INTAKE_MAX_QUEUE_DEPTH", 2)
        .start()
        .await;
    for _ in 0..3 {
        let (status, _) = fila
            .start_robusta(
                &json!({ "name": "FullName", "values": { "name": "A", "surname": "B" } }),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let call = envelope(
        "ExecuteWithXmlParamsAsync",
        &[
            ("ProcessServerName", "FullName"),
            ("strXmlParams", "<Params><name>Ana</name></Params>"),
        ],
    );
    let refused = fila_tests::eventually(30, || async {
        fila_tests::runs::soap(&fila, "ExecuteWithXmlParamsAsync", call.clone())
            .await
            .0
            == StatusCode::TOO_MANY_REQUESTS
    })
    .await;
    assert!(refused, "three runs wait in the process queue");
    let (status, body) =
        fila_tests::runs::soap(&fila, "ExecuteWithXmlParamsAsync", call.clone()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let (code, _) = fault(&body).expect("a SOAP fault");
    assert!(code.ends_with("Server"), "{body}");
    let (status, _) = fila.post_lot(&lot("T-OK", items("K", 1))).await;
    assert_eq!(status, StatusCode::OK, "TAF goes on");
}
