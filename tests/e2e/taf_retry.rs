//! Operators retrying TAF records in error.

use fila_tests::fila::send;
use fila_tests::taf::{admissao_xml, b64, item, item_with, lot};
use fila_tests::{Fila, Setup};
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn statuses(fila: &Fila, ticket: &str) -> Vec<(String, String)> {
    fila.db()
        .await
        .query(
            "SELECT registry_key, status FROM taf_record WHERE ticket_code = $1 ORDER BY id",
            &[&ticket],
        )
        .await
        .expect("records")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

#[tokio::test]
async fn a_tickets_records_in_error_are_queued_again() {
    let fila = Setup::new().start().await;
    let wrong = |key: &str| item_with(key, json!({ "integrationMessage": b64(&admissao_xml()) }));
    fila.post_lot(&lot("T-RETRY", vec![wrong("E1"), wrong("E2"), item("OK1")]))
        .await;
    assert!(fila.wait_finished("T-RETRY", 3, 30).await);
    fila.post_lot(&lot("T-NEWER", vec![wrong("E2")])).await;
    assert!(fila.wait_finished("T-NEWER", 1, 30).await);
    // The cause is repaired: the records' layout now matches their event.
    fila.db()
        .await
        .execute(
            "UPDATE taf_record SET registry_type = 'S-2200' WHERE status = 'error'",
            &[],
        )
        .await
        .expect("repair");

    let (status, answer) = send(fila.admin(Method::POST, "/admin/taf/tickets/T-RETRY/retry")).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer["retried"].as_array().map(Vec::len),
        Some(1),
        "E1 only: E2 has a newer record in T-NEWER; OK1 is not in error: {answer}"
    );
    let processed = fila_tests::eventually(30, || async {
        statuses(&fila, "T-RETRY").await
            == [
                ("E1".to_string(), "processed".to_string()),
                ("E2".to_string(), "error".to_string()),
                ("OK1".to_string(), "processed".to_string()),
            ]
    })
    .await;
    assert!(processed, "{:?}", statuses(&fila, "T-RETRY").await);

    let (status, answer) = send(fila.admin(Method::POST, "/admin/taf/tickets/T-RETRY/retry")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["retried"], json!([]), "nothing left to retry");

    let newer: i64 = fila
        .db()
        .await
        .query_one(
            "SELECT id FROM taf_record WHERE ticket_code = 'T-NEWER'",
            &[],
        )
        .await
        .expect("record")
        .get(0);
    let (status, answer) =
        send(fila.admin(Method::POST, &format!("/admin/taf/records/{newer}/retry"))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["retried"], json!([newer]));
    assert!(
        fila_tests::eventually(30, || async {
            statuses(&fila, "T-NEWER").await == [("E2".to_string(), "processed".to_string())]
        })
        .await
    );
    for rec_no in ["999999", "x", &newer.to_string()] {
        let (status, _) =
            send(fila.admin(Method::POST, &format!("/admin/taf/records/{rec_no}/retry"))).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{rec_no}");
    }
}
