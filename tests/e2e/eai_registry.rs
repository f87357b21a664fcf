//! EAI Transactions registered at runtime: the file named by
//! `eai_transactions_file` is read again by the API and the workers while
//! they run, and a worker that does not know a Transaction yet retries its
//! messages rather than failing them, until its last attempt.

use std::time::Duration;

use fila_tests::eai::message;
use fila_tests::fila::send;
use fila_tests::results::Results;
use fila_tests::{Fila, Setup, eventually};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const TRANSACTIONS: &str = "/totvseai/standardmessage/v1/transactions";
const ORDERS: &str = "[[eai_transactions]]\ntransaction = \"SALESORDER\"\n";

async fn post(fila: &Fila, body: &Value) -> (StatusCode, Value) {
    send(fila.request(Method::POST, TRANSACTIONS).json(body)).await
}

/// The status and Details of `uuid` once processed; `None` while pending.
async fn state(fila: &Fila, uuid: &str) -> Option<(String, Value)> {
    fila.db()
        .await
        .query_opt(
            "SELECT status, details FROM eai_message WHERE uuid = $1 AND status <> 'pending'",
            &[&uuid],
        )
        .await
        .expect("message")
        .map(|row| (row.get("status"), row.get("details")))
}

async fn processed(fila: &Fila, uuid: &str, seconds: u64) -> (String, Value) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(state) = state(fila, uuid).await {
            return state;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{uuid} was not processed in {seconds} s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Distinct response messages published per answered UUID (by the
/// response's own UUID), and raw deliveries.
fn responses_to(results: &Results, uuid: &str) -> (usize, usize) {
    let answering: Vec<&Value> = results
        .received
        .iter()
        .map(|r| &r.body)
        .filter(|body| body["Content"]["ReceivedMessage"]["UUID"] == uuid)
        .collect();
    let distinct: std::collections::HashSet<&str> = answering
        .iter()
        .filter_map(|body| body["Header"]["UUID"].as_str())
        .collect();
    (distinct.len(), answering.len())
}

#[tokio::test]
async fn a_transaction_registered_while_fila_runs_is_accepted_and_processed() {
    let mut fila = Setup::new().eai_transactions(ORDERS).start().await;
    let invoice = message("INV-1", "INVOICE", "NF-1");
    let (status, refused) = post(&fila, &invoice).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["code"], "EAI-104");

    fila.rewrite_eai_transactions(&format!(
        "{ORDERS}\n[[eai_transactions]]\ntransaction = \"INVOICE\"\n"
    ));
    let (status, receipt) = post(&fila, &invoice).await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "the API looks at the file again for a Transaction it does not know: {receipt}"
    );
    let (status, details) = processed(&fila, "INV-1", 30).await;
    assert_eq!((status.as_str(), details), ("ok", json!([])));
    let (status, stored) = send(fila.request(
        Method::GET,
        "/totvseai/standardmessage/v1/contents/INVOICE/NF-1",
    ))
    .await;
    assert_eq!(
        (status, stored["Name"].as_str()),
        (StatusCode::OK, Some("Customer NF-1"))
    );
    let (status, _) = post(&fila, &message("SO-1", "SALESORDER", "S-1")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(processed(&fila, "SO-1", 30).await.0, "ok");

    fila.rewrite_eai_transactions("[[eai_transactions]]\ntransaction = \"CUSTOMERVENDOR\"\n");
    let log = fila
        .api()
        .wait_for_line("EAI Transactions not reloaded", 10)
        .await;
    assert!(
        log.is_some_and(|line| line.contains("also given inline")),
        "a Transaction both inline and in the file is refused"
    );
    let (status, _) = post(&fila, &message("INV-2", "INVOICE", "NF-2")).await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "a file that does not read keeps the Transactions in force"
    );
    assert_eq!(processed(&fila, "INV-2", 30).await.0, "ok");
}

#[tokio::test]
async fn a_worker_that_does_not_know_a_transaction_yet_retries_then_processes_it() {
    let both = format!("{ORDERS}\n[[eai_transactions]]\ntransaction = \"INVOICE\"\n");
    let mut fila = Setup::new()
        .eai_transactions(&both)
        .workers(0)
        .start()
        .await;
    let mut results = Results::observe(&fila).await;
    let worker_file = fila.log_path("worker-eai-transactions.toml");
    std::fs::write(&worker_file, ORDERS).expect("worker's Transactions");
    let file = worker_file.display().to_string();
    let worker = fila
        .start_worker_with(&[
            ("EAI_TRANSACTIONS_FILE", file.as_str()),
            ("WORKER_MAX_ATTEMPTS", "5"),
        ])
        .await;

    // One simpleBatch lot (one queue message): an INVOICE the worker does
    // not know and a SALESORDER it knows.
    let lot = json!([
        message("INV-1", "INVOICE", "NF-1"),
        message("SO-1", "SALESORDER", "S-1"),
    ]);
    let (status, receipt) = send(
        fila.request(
            Method::POST,
            &format!("{TRANSACTIONS}?batchType=simpleBatch"),
        )
        .json(&lot),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{receipt}");
    let retried = fila
        .worker(worker)
        .wait_for_line("message failed; retrying later", 30)
        .await
        .expect("the message is retried");
    assert!(
        retried.contains("EAI Transaction INVOICE is not known to this worker"),
        "{retried}"
    );
    assert_eq!(
        processed(&fila, "SO-1", 30).await.0,
        "ok",
        "the known Transaction's message did not wait"
    );
    assert_eq!(state(&fila, "INV-1").await, None, "INV-1 waits, pending");

    std::fs::write(&worker_file, &both).expect("worker's Transactions");
    let (status, details) = processed(&fila, "INV-1", 90).await;
    assert_eq!((status.as_str(), details), ("ok", json!([])));
    assert_eq!(results.collect_eai(2, 30).await, 2);
    tokio::time::sleep(Duration::from_secs(1)).await;
    results.collect_eai(3, 1).await;
    for uuid in ["INV-1", "SO-1"] {
        let (distinct, raw) = responses_to(&results, uuid);
        assert_eq!(distinct, 1, "{uuid} was processed once ({raw} deliveries)");
    }
    let dead: i64 = fila
        .db()
        .await
        .query_one("SELECT count(*) FROM dead_letter", &[])
        .await
        .expect("dead letters")
        .get(0);
    assert_eq!(dead, 0, "nothing was dead-lettered");
    let retries = fila
        .worker(worker)
        .log_text()
        .matches("message failed; retrying later")
        .count();
    println!("INV-1: {retries} retries before the worker knew INVOICE, then OK");
    results.close().await;
}

#[tokio::test]
async fn a_transaction_still_unknown_at_the_last_attempt_is_an_error() {
    let both = format!("{ORDERS}\n[[eai_transactions]]\ntransaction = \"INVOICE\"\n");
    let mut fila = Setup::new()
        .eai_transactions(&both)
        .workers(0)
        .start()
        .await;
    let mut results = Results::observe(&fila).await;
    let worker_file = fila.log_path("worker-eai-transactions.toml");
    std::fs::write(&worker_file, ORDERS).expect("worker's Transactions");
    let file = worker_file.display().to_string();
    let worker = fila
        .start_worker_with(&[
            ("EAI_TRANSACTIONS_FILE", file.as_str()),
            ("WORKER_MAX_ATTEMPTS", "2"),
        ])
        .await;
    let (status, _) = post(&fila, &message("INV-9", "INVOICE", "NF-9")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, details) = processed(&fila, "INV-9", 30).await;
    assert_eq!(status, "error");
    assert_eq!(details[0]["code"], "EAI-104", "{details}");
    let log = fila.worker(worker).log_text();
    assert_eq!(
        log.matches("message failed; retrying later").count(),
        1,
        "one retry before the last attempt"
    );
    assert_eq!(results.collect_eai(1, 30).await, 1);
    let published = results
        .received
        .iter()
        .find(|r| r.routing_key == "eai.INVOICE.error")
        .expect("the error is published");
    assert_eq!(
        published.body["Content"]["ReceivedMessage"]["UUID"],
        "INV-9"
    );
    assert!(
        eventually(5, || async { responses_to(&results, "INV-9").0 == 1 }).await,
        "one response"
    );
    results.close().await;
}
