//! Users limited to TAF branches or company groups: what they may submit,
//! read and withdraw.

use fila_tests::fila::send;
use fila_tests::taf::{codes, item_with, lot, page_keys};
use fila_tests::{Fila, Setup};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Branches 0100 and 0200 are in group 01, 0300 in group 02.
async fn deployment() -> Fila {
    Setup::new()
        .workers(0)
        .scoped_producer("branch-0100", &["0100"], &[])
        .scoped_producer("group-02", &[], &["02"])
        .start()
        .await
}

fn record(key: &str, branch: &str) -> Value {
    item_with(key, json!({ "sourceBranch": branch }))
}

async fn keys_seen(fila: &Fila, user: &str, query: &str) -> (Vec<String>, i64) {
    let (status, page) = send(fila.as_user(
        user,
        Method::GET,
        &format!("/rest/wstafst2?{query}&startRecNo=0"),
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    (
        page_keys(&page),
        page["maxRecNo"].as_i64().expect("maxRecNo"),
    )
}

#[tokio::test]
async fn a_scoped_producer_submits_only_for_its_branches() {
    let fila = deployment().await;
    let (status, answer) = send(
        fila.as_user("branch-0100", Method::POST, "/rest/wstafst2")
            .json(&lot(
                "T-MINE",
                vec![record("M1", "0100"), record("M2", "0200")],
            )),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        codes(&answer),
        vec![("M1".to_string(), vec![]), ("M2".to_string(), vec![802])]
    );
    let refusal = &answer["registryKey"][1]["error"][0]["description"];
    assert!(
        refusal
            .as_str()
            .is_some_and(|d| d.contains("0200") && d.contains("escopo")),
        "{refusal}"
    );
    assert_eq!(fila.taf_counts("T-MINE").await.get("pending"), Some(&1));

    let (_, answer) = send(
        fila.as_user("group-02", Method::POST, "/rest/wstafst2")
            .json(&lot(
                "T-G2",
                vec![record("G1", "0300"), record("G2", "0100")],
            )),
    )
    .await;
    assert_eq!(
        codes(&answer),
        vec![
            ("G1".to_string(), vec![]),
            ("G2".to_string(), vec![802, 812])
        ],
        "by company group; the other branch is refused for scope as well as group"
    );
}

#[tokio::test]
async fn a_scoped_user_reads_only_records_in_scope() {
    let fila = deployment().await;
    let (status, _) = fila
        .post_lot(&lot(
            "T-ALL",
            vec![record("K1", "0100"), record("K2", "0200")],
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    fila.post_lot(&lot("T-G2", vec![record("K3", "0300")]))
        .await;

    let (all, _) = keys_seen(&fila, "erp", "ticketCode=T-ALL").await;
    assert_eq!(
        all,
        ["K1", "K2"],
        "an unrestricted producer sees everything"
    );
    let (mine, max_rec_no) = keys_seen(&fila, "branch-0100", "ticketCode=T-ALL").await;
    assert_eq!(mine, ["K1"]);
    let (_, max_all) = keys_seen(&fila, "erp", "registryKey=K1").await;
    assert_eq!(max_rec_no, max_all, "maxRecNo counts only records in scope");
    for (user, query) in [
        ("branch-0100", "registryKey=K2"),
        ("branch-0100", "ticketCode=T-G2"),
        ("group-02", "ticketCode=T-ALL"),
        ("group-02", "ticketCode=T-ALL&searchMode=1"),
    ] {
        let (keys, max_rec_no) = keys_seen(&fila, user, query).await;
        assert!(keys.is_empty(), "{user} {query}: {keys:?}");
        assert_eq!(max_rec_no, 0, "{user} {query}");
    }
    let (theirs, _) = keys_seen(&fila, "group-02", "ticketCode=T-G2&searchMode=1").await;
    assert_eq!(theirs, ["K3"]);
}

#[tokio::test]
async fn a_scoped_user_withdraws_only_records_in_scope() {
    let fila = deployment().await;
    fila.post_lot(&lot(
        "T-MIXED",
        vec![record("K1", "0100"), record("K2", "0200")],
    ))
    .await;
    fila.post_lot(&lot("T-OTHER", vec![record("K3", "0200")]))
        .await;
    let delete = |ticket: &str| {
        send(
            fila.as_user("branch-0100", Method::DELETE, "/rest/wstafst2")
                .json(&json!({ "deleteTicket": [{ "ticketCode": ticket }] })),
        )
    };
    let (status, answer) = delete("T-MIXED").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer, json!({ "success": true }));
    let (left, _) = keys_seen(&fila, "erp", "ticketCode=T-MIXED").await;
    assert_eq!(left, ["K2"], "the other branch's record stays");
    let (_, answer) = delete("T-OTHER").await;
    assert_eq!(
        answer,
        json!({ "success": true }),
        "well formed, as the real server answers; nothing in scope is removed"
    );
    assert_eq!(fila.taf_counts("T-OTHER").await.get("pending"), Some(&1));
}

#[tokio::test]
async fn a_scoped_user_may_call_only_the_taf_endpoint() {
    let fila = deployment().await;
    for path in [
        "/totvseai/standardmessage/v1/transactions/x",
        "/0/ServiceModel/ProcessEngineService.svc/P/Execute",
        "/scheduler/connector-api/process/status/x",
    ] {
        let (status, _) = send(fila.as_user("branch-0100", Method::GET, path)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
    let (status, _) =
        send(fila.request(Method::GET, "/totvseai/standardmessage/v1/transactions/x")).await;
    assert_ne!(
        status,
        StatusCode::FORBIDDEN,
        "an unrestricted producer may"
    );
}
