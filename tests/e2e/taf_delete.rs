//! `DELETE /rest/wstafst2`: withdrawing tickets.

use fila_tests::fila::send;
use fila_tests::taf::{codes, item, items, lot};
use fila_tests::{Fila, Setup};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn delete(fila: &Fila, body: impl Into<reqwest::Body>) -> (StatusCode, Value) {
    send(fila.request(Method::DELETE, "/rest/wstafst2").body(body)).await
}

#[tokio::test]
async fn deleting_a_ticket_removes_its_pending_records_only() {
    let fila = Setup::new().workers(0).start().await;
    fila.post_lot(&lot("T-DEL", items("D", 3))).await;
    fila.post_lot(&lot("T-KEEP", items("K", 2))).await;
    let (status, answer) = delete(&fila, r#"{"deleteTicket":[{"ticketCode":"T-DEL"}]}"#).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer, json!({ "success": true }));
    assert!(fila.taf_counts("T-DEL").await.is_empty());
    assert_eq!(fila.taf_counts("T-KEEP").await.get("pending"), Some(&2));
    let (_, again) = fila.post_lot(&lot("T-AGAIN", vec![item("D-00000")])).await;
    assert_eq!(codes(&again), vec![("D-00000".to_string(), vec![])]);
}

#[tokio::test]
async fn processed_records_are_kept() {
    let fila = Fila::start().await;
    fila.post_lot(&lot("T-DONE", items("P", 2))).await;
    assert!(fila.wait_finished("T-DONE", 2, 30).await);
    let (_, answer) = delete(&fila, r#"{"deleteTicket":[{"ticketCode":"T-DONE"},]}"#).await;
    assert_eq!(answer, json!({ "success": true }));
    assert_eq!(fila.taf_counts("T-DONE").await.get("processed"), Some(&2));
}

#[tokio::test]
async fn unknown_tickets_and_bodies_without_tickets_answer_false() {
    let fila = Setup::new().workers(0).start().await;
    fila.post_lot(&lot("T-ONE", items("O", 1))).await;
    let (_, answer) = delete(
        &fila,
        r#"{"deleteTicket":[{"ticketCode":"T-ONE"},{"ticketCode":"T-NONE"}]}"#,
    )
    .await;
    assert_eq!(answer, json!({ "success": false }));
    assert!(
        fila.taf_counts("T-ONE").await.is_empty(),
        "known tickets are still deleted"
    );
    for body in [
        r#"{"deleteTicket":[]}"#,
        r#"{"tickets":["T"]}"#,
        r#"{"deleteTicket":"T"}"#,
    ] {
        let (status, answer) = delete(&fila, body).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(answer, json!({ "success": false }), "{body}");
    }
}

#[tokio::test]
async fn empty_and_malformed_bodies_are_restfaults() {
    let fila = Setup::new().workers(0).start().await;
    let (status, answer) = delete(&fila, "").await;
    assert_eq!(
        (status, answer["code"].as_u64()),
        (StatusCode::INTERNAL_SERVER_ERROR, Some(704))
    );
    let (status, answer) = delete(&fila, "{deleteTicket").await;
    assert_eq!(
        (status, answer["code"].as_u64()),
        (StatusCode::INTERNAL_SERVER_ERROR, Some(705))
    );
}
