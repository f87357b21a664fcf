//! `DELETE /rest/wstafst2`: withdrawing tickets, their whole chain, as the
//! real WSTAFST2 server does.

use fila_tests::fila::send;
use fila_tests::taf::{admissao_xml, b64, codes, item, item_with, items, lot, page_keys};
use fila_tests::{Fila, Setup};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn delete(fila: &Fila, body: impl Into<reqwest::Body>) -> (StatusCode, Value) {
    send(fila.request(Method::DELETE, "/rest/wstafst2").body(body)).await
}

#[tokio::test]
async fn deleting_a_ticket_removes_its_pending_records() {
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
async fn the_whole_chain_goes_processed_and_inconsistent_records_included() {
    let fila = Fila::start().await;
    let broken = item_with(
        "P-BROKEN",
        json!({ "integrationMessage": b64(&admissao_xml()) }),
    );
    fila.post_lot(&lot(
        "T-DONE",
        vec![item("P-1"), item("P-2"), broken.clone()],
    ))
    .await;
    assert!(fila.wait_finished("T-DONE", 3, 30).await);
    let counts = fila.taf_counts("T-DONE").await;
    assert_eq!(
        (counts.get("processed"), counts.get("error")),
        (Some(&2), Some(&1))
    );
    let (_, answer) = delete(&fila, r#"{"deleteTicket":[{"ticketCode":"T-DONE"},]}"#).await;
    assert_eq!(answer, json!({ "success": true }));
    assert!(fila.taf_counts("T-DONE").await.is_empty());
    let (_, page) = fila.get_status("ticketCode=T-DONE&startRecNo=0").await;
    assert_eq!(page["items"][0]["success"], false, "{page}");
    let (_, again) = fila
        .post_lot(&lot("T-DONE", vec![item("P-1"), item("P-2"), broken]))
        .await;
    assert!(
        codes(&again).iter().all(|(_, c)| c.is_empty()),
        "the producer sends the same keys again: {again}"
    );
}

#[tokio::test]
async fn any_well_formed_request_answers_true() {
    let fila = Setup::new().workers(0).start().await;
    fila.post_lot(&lot("T-ONE", items("O", 1))).await;
    let (_, answer) = delete(
        &fila,
        r#"{"deleteTicket":[{"ticketCode":"T-ONE"},{"ticketCode":"T-NONE"}]}"#,
    )
    .await;
    assert_eq!(
        answer,
        json!({ "success": true }),
        "unknown tickets included"
    );
    assert!(fila.taf_counts("T-ONE").await.is_empty());
    let (status, answer) = delete(&fila, r#"{"deleteTicket":[]}"#).await;
    assert_eq!(
        (status, answer),
        (StatusCode::OK, json!({ "success": true }))
    );
}

#[tokio::test]
async fn a_missing_delete_ticket_or_ticket_code_is_restfault_704() {
    let fila = Setup::new().workers(0).start().await;
    fila.post_lot(&lot("T-KEPT", items("K", 1))).await;
    for body in [
        "",
        "{deleteTicket",
        r#"{"tickets":["T-KEPT"]}"#,
        r#"{"deleteTicket":"T-KEPT"}"#,
        r#"{"deleteTicket":[{"ticketCode":"T-KEPT"},{"code":"T-KEPT"}]}"#,
    ] {
        let (status, answer) = delete(&fila, body).await;
        assert_eq!(
            (status, answer["code"].as_u64()),
            (StatusCode::INTERNAL_SERVER_ERROR, Some(704)),
            "{body}: {answer}"
        );
    }
    assert_eq!(fila.taf_counts("T-KEPT").await.get("pending"), Some(&1));
}

#[tokio::test]
async fn a_source_branch_limits_the_deletion_to_its_company_group() {
    let fila = Setup::new().workers(0).start().await;
    // A lot belongs to one company group: one lot per group, one ticket.
    fila.post_lot(&lot("T-GROUPS", vec![item("G-01")])).await;
    fila.post_lot(&lot(
        "T-GROUPS",
        vec![item_with("G-02", json!({ "sourceBranch": "0300" }))],
    ))
    .await;
    let body = r#"{"deleteTicket":[{"ticketCode":"T-GROUPS"}]}"#;
    let (status, answer) = send(
        fila.request(Method::DELETE, "/rest/wstafst2?sourceBranch=9999")
            .body(body),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["coderr"], 803, "{answer}");
    assert!(answer["description"].is_string());
    assert_eq!(fila.taf_counts("T-GROUPS").await.get("pending"), Some(&2));
    let (_, answer) = send(
        fila.request(Method::DELETE, "/rest/wstafst2?sourceBranch=0200")
            .body(body),
    )
    .await;
    assert_eq!(answer, json!({ "success": true }));
    let (_, page) = fila.get_status("ticketCode=T-GROUPS&startRecNo=0").await;
    let keys = page_keys(&page);
    assert_eq!(
        keys,
        ["G-02"],
        "0200 is in group 01: group 02's record stays"
    );
}
