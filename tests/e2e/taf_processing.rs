//! The workers' side of TAF: Job2's checks, predecessors, priorities,
//! several workers, a worker killed mid-lot, results, and the sweeper.

use std::collections::HashMap;
use std::time::Duration;

use fila_tests::results::Results;
use fila_tests::taf::{admissao_xml, b64, item, item_with, items, lot};
use fila_tests::{Fila, Setup, eventually};
use lapin::{Connection, ConnectionProperties};
use serde_json::{Value, json};

#[tokio::test]
async fn a_message_that_does_not_match_its_registry_type_is_inconsistent() {
    let fila = Fila::start().await;
    let mut results = Results::observe(&fila).await;
    fila.post_lot(&lot(
        "T-BAD",
        vec![
            item_with(
                "MISMATCH",
                json!({ "registryType": "S-1010", "integrationMessage": b64(&admissao_xml()), "integrationQueue": "1" }),
            ),
            item_with(
                "BROKEN",
                json!({ "integrationMessage": b64("<eSocial><evtTabRubrica></eSocial>") }),
            ),
            item("GOOD"),
        ],
    ))
    .await;
    assert!(fila.wait_finished("T-BAD", 3, 30).await);
    let (_, page) = fila.get_status("ticketCode=T-BAD&startRecNo=0").await;
    let mismatch = &page["items"][0];
    assert_eq!(mismatch["success"], true);
    assert_eq!(mismatch["proccessed"], false);
    assert_eq!(mismatch["description"], "Registro Inconsistente.");
    assert_eq!(mismatch["errorCode"], "000002");
    assert_eq!(
        mismatch["errorDescription"],
        "Evento do XML difere do registryType"
    );
    assert_eq!(
        mismatch["errorDetail"],
        "O registryType S-1010 espera o evento evtTabRubrica; o XML contem evtAdmissao."
    );
    assert_eq!(
        mismatch["integrationQueue"], "",
        "a rejected record is no longer queued: the real server answers \"\", not \"R\""
    );
    assert!(mismatch.get("statusCode").is_none());
    assert_eq!(page["items"][1]["errorCode"], "000001");
    assert_eq!(page["items"][1]["integrationQueue"], "");
    assert_eq!(page["items"][2]["proccessed"], true);

    assert_eq!(results.collect_taf(3, 30).await, 3);
    let mut by_status: HashMap<String, Vec<String>> = HashMap::new();
    for message in &results.received {
        for record in message.body["records"].as_array().expect("records") {
            by_status
                .entry(message.routing_key.clone())
                .or_default()
                .push(record["registryKey"].as_str().expect("key").to_string());
        }
    }
    by_status.values_mut().for_each(|keys| keys.sort());
    assert_eq!(by_status["taf.error"], vec!["BROKEN", "MISMATCH"]);
    assert_eq!(by_status["taf.processed"], vec!["GOOD"]);
    let error = results
        .received
        .iter()
        .find(|m| m.routing_key == "taf.error")
        .expect("error result");
    assert_eq!(error.body["type"], "taf.results.v1");
    assert!(error.body["records"][0]["errorCode"].is_string());
    results.close().await;
}

#[tokio::test]
async fn a_successor_sent_first_waits_for_its_predecessor() {
    let fila = Fila::start().await;
    fila.post_lot(&lot(
        "T-SUCC",
        vec![item_with("SUCC", json!({ "registryPredecessor": "PRED" }))],
    ))
    .await;
    let waiting = eventually(30, || async {
        let (_, page) = fila.get_status("ticketCode=T-SUCC&startRecNo=0").await;
        page["items"][0]["description"] == "Aguardando Processamento do Predecessor."
    })
    .await;
    assert!(waiting, "the successor must wait");
    assert_eq!(fila.taf_counts("T-SUCC").await.get("waiting"), Some(&1));

    fila.post_lot(&lot("T-PRED", vec![item("PRED")])).await;
    assert!(fila.wait_finished("T-SUCC", 1, 30).await);
    let rows = fila
        .db()
        .await
        .query(
            "SELECT registry_key, status FROM taf_record ORDER BY finished_at, id",
            &[],
        )
        .await
        .expect("rows");
    let order: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        order,
        vec![
            ("PRED".to_string(), "processed".to_string()),
            ("SUCC".to_string(), "processed".to_string())
        ]
    );
}

#[tokio::test]
async fn a_successor_waits_while_its_predecessor_is_inconsistent() {
    let fila = Fila::start().await;
    fila.post_lot(&lot(
        "T-CHAIN",
        vec![
            item_with("P", json!({ "integrationMessage": b64(&admissao_xml()) })),
            item_with("S", json!({ "registryPredecessor": "P" })),
        ],
    ))
    .await;
    assert!(fila.wait_finished("T-CHAIN", 1, 30).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let counts = fila.taf_counts("T-CHAIN").await;
    assert_eq!(
        (counts.get("error"), counts.get("waiting")),
        (Some(&1), Some(&1))
    );
    fila.post_lot(&lot("T-FIX", vec![item("P")])).await;
    assert!(fila.wait_finished("T-CHAIN", 2, 30).await);
}

#[tokio::test]
async fn urgent_records_overtake_a_backlog_of_low_priority_ones() {
    urgent_records_overtake("classic").await;
}

#[tokio::test]
async fn urgent_records_overtake_a_backlog_on_quorum_queues_too() {
    urgent_records_overtake("quorum").await;
}

/// 2,000 records of the lowest priority queued before 50 urgent ones: the
/// urgent ones are done after at most two messages of the others (the one
/// the worker held, and one let through against starvation).
async fn urgent_records_overtake(queue_type: &str) {
    let mut fila = Setup::new()
        .workers(0)
        .env("AMQP_QUEUE_TYPE", queue_type)
        .start()
        .await;
    for batch in 0..10 {
        let (status, _) = fila
            .post_lot(&lot("T-LOW", items(&format!("LOW{batch}"), 200)))
            .await;
        assert!(status.is_success());
    }
    let urgent: Vec<Value> = (0..50)
        .map(|i| item_with(&format!("URGENT-{i}"), json!({ "registryPriority": "0" })))
        .collect();
    fila.post_lot(&lot("T-URGENT", urgent)).await;
    fila.start_worker_with(&[("WORKER_CONCURRENCY", "1"), ("WORKER_PREFETCH", "1")])
        .await;
    assert!(fila.wait_finished("T-LOW", 2000, 120).await);
    let low_before_last_urgent: i64 = fila
        .db()
        .await
        .query_one(
            "SELECT count(*) FROM taf_record
             WHERE ticket_code = 'T-LOW' AND finished_at <
                   (SELECT max(finished_at) FROM taf_record WHERE ticket_code = 'T-URGENT')",
            &[],
        )
        .await
        .expect("count")
        .get(0);
    assert!(
        low_before_last_urgent <= 200,
        "{low_before_last_urgent} low-priority records finished before the urgent ones"
    );
}

#[tokio::test]
async fn two_workers_share_the_queue_without_doing_a_record_twice() {
    let fila = Setup::new().workers(2).start().await;
    let mut results = Results::observe(&fila).await;
    for batch in 0..3 {
        fila.post_lot(&lot("T-TWO", items(&format!("B{batch}"), 1000)))
            .await;
    }
    assert!(fila.wait_finished("T-TWO", 3000, 120).await);
    assert_eq!(results.collect_taf(3000, 60).await, 3000);
    let counts = results.taf_records();
    assert!(
        counts.values().all(|r| r.once()),
        "a record was reported twice"
    );
    let workers: i64 = fila
        .db()
        .await
        .query_one(
            "SELECT count(DISTINCT worker) FROM taf_record WHERE ticket_code = 'T-TWO'",
            &[],
        )
        .await
        .expect("workers")
        .get(0);
    assert_eq!(workers, 2, "both workers took part");
    results.close().await;
}

#[tokio::test]
async fn a_worker_killed_mid_lot_loses_and_repeats_nothing() {
    let mut fila = Setup::new()
        .workers(0)
        .env("TAF_CHUNK_SIZE", 10)
        .start()
        .await;
    let mut results = Results::observe(&fila).await;
    for batch in 0..5 {
        fila.post_lot(&lot("T-KILL", items(&format!("K{batch}"), 1000)))
            .await;
    }
    let first = fila
        .start_worker_with(&[("WORKER_CONCURRENCY", "1"), ("WORKER_PREFETCH", "2")])
        .await;
    let started = eventually(60, || async { fila.processed().await >= 500 }).await;
    assert!(started);
    fila.kill_worker(first);
    let at_kill = fila.processed().await;
    assert!(at_kill < 5000, "the worker finished before it was killed");
    fila.start_worker().await;
    assert!(fila.wait_finished("T-KILL", 5000, 120).await);
    assert_eq!(results.collect_taf(5000, 60).await, 5000);
    assert!(results.taf_records().values().all(|r| r.once()));
    assert_eq!(
        fila.taf_counts("T-KILL").await.get("processed"),
        Some(&5000)
    );
    results.close().await;
}

#[tokio::test]
async fn committed_work_that_was_never_published_is_published_by_the_sweeper() {
    let mut fila = Setup::new().workers(0).start().await;
    fila.post_lot(&lot("T-SWEEP", items("S", 20))).await;
    let client = fila.db().await;
    let connection = Connection::connect(&fila_tests::amqp_url(), ConnectionProperties::default())
        .await
        .expect("amqp");
    let channel = connection.create_channel().await.expect("channel");
    channel
        .queue_purge(
            format!("{}.taf", fila.prefix).into(),
            lapin::options::QueuePurgeOptions::default(),
        )
        .await
        .expect("purge: the publish is lost");
    client
        .execute(
            "INSERT INTO outbox (target, routing_key, priority, kind, body, created_at)
             VALUES ('work', 'taf', 0, 'taf.records.v1',
                     convert_to(json_build_object('type', 'taf.records.v1',
                         'ids', (SELECT json_agg(id) FROM taf_record))::text, 'UTF8'),
                     now() - interval '1 minute')",
            &[],
        )
        .await
        .expect("an outbox row left by a crashed API");
    fila.start_worker().await;
    assert!(fila.wait_finished("T-SWEEP", 20, 30).await);
    let emptied = eventually(30, || async {
        client
            .query_one("SELECT count(*) FROM outbox", &[])
            .await
            .is_ok_and(|row| row.get::<_, i64>(0) == 0)
    })
    .await;
    assert!(emptied, "the outbox is left empty");
    let _ = connection.close(200, "done".into()).await;
}

#[tokio::test]
async fn a_successor_waits_for_the_latest_occurrence_of_its_predecessor() {
    let mut fila = Fila::start().await;
    fila.post_lot(&lot("T-OLD", vec![item("A")])).await;
    assert!(fila.wait_finished("T-OLD", 1, 30).await);
    fila.kill_worker(0);
    fila.post_lot(&lot("T-RESENT", vec![item("A")])).await;
    fila.post_lot(&lot(
        "T-NEXT",
        vec![item_with(
            "B",
            json!({ "registryPredecessor": "A", "registryPriority": "0" }),
        )],
    ))
    .await;
    fila.start_worker_with(&[("WORKER_CONCURRENCY", "1"), ("WORKER_PREFETCH", "1")])
        .await;
    assert!(fila.wait_finished("T-NEXT", 1, 30).await);
    let rows = fila
        .db()
        .await
        .query(
            "SELECT ticket_code FROM taf_record WHERE ticket_code <> 'T-OLD'
             ORDER BY finished_at, id",
            &[],
        )
        .await
        .expect("rows");
    let order: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(order, vec!["T-RESENT", "T-NEXT"]);
}

#[tokio::test]
async fn records_held_by_another_transaction_are_retried_not_dropped() {
    let fila = Setup::new().workers(0).start().await;
    fila.post_lot(&lot("T-HELD", items("H", 3))).await;
    let mut holder = fila.db().await;
    let tx = holder.transaction().await.expect("transaction");
    tx.execute(
        "SELECT id FROM taf_record WHERE ticket_code = 'T-HELD' FOR UPDATE",
        &[],
    )
    .await
    .expect("lock");
    let mut fila = fila;
    let worker = fila.start_worker().await;
    let busy = fila
        .worker(worker)
        .wait_for_line("message busy; retrying later", 30)
        .await;
    assert!(busy.is_some(), "the held records are reported busy");
    tx.rollback().await.expect("release");
    assert!(
        fila.wait_finished("T-HELD", 3, 60).await,
        "retried once free"
    );
}
