//! Faults of the services fila depends on: RabbitMQ unreachable, PostgreSQL
//! unreachable for the workers or for the API, and fila carrying on by
//! itself once they are back, with every accepted item processed exactly
//! once.

use fila_tests::eai::message;
use fila_tests::fila::send;
use fila_tests::proxy::Proxy;
use fila_tests::results::Results;
use fila_tests::runs::{DEFINITIONS, envelope, fault, soap};
use fila_tests::taf::{items, lot};
use fila_tests::{Fila, Setup, database_url};
use reqwest::{Method, StatusCode};
use serde_json::json;

fn postgres_proxy_url(proxy: &Proxy) -> String {
    format!("postgres://postgres@127.0.0.1:{}/postgres", proxy.port)
}

async fn postgres_proxy() -> Proxy {
    Proxy::start("127.0.0.1:5432".parse().expect("addr")).await
}

#[tokio::test]
async fn a_worker_stops_taking_messages_while_the_database_is_unreachable() {
    let proxy = postgres_proxy().await;
    let mut fila = Setup::new().workers(0).start().await;
    let mut results = Results::observe(&fila).await;
    let proxied = postgres_proxy_url(&proxy);
    let worker = fila
        .start_worker_with(&[("DATABASE_URL", proxied.as_str())])
        .await;
    fila.post_lot(&lot("T-OUTAGE", items("A", 100))).await;
    assert!(fila.wait_finished("T-OUTAGE", 100, 60).await);

    proxy.cut();
    let (status, _) = fila.post_lot(&lot("T-OUTAGE", items("B", 300))).await;
    assert_eq!(status, StatusCode::OK, "the API has its own connection");
    let paused = fila
        .worker(worker)
        .wait_for_line("consumption paused", 30)
        .await;
    assert!(paused.is_some(), "the worker pauses");
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    proxy.restore().await;
    let resumed = fila
        .worker(worker)
        .wait_for_line("consumption resumes", 60)
        .await;
    assert!(resumed.is_some(), "the worker resumes by itself");

    assert!(fila.wait_finished("T-OUTAGE", 400, 120).await);
    assert_eq!(results.collect_taf(400, 60).await, 400);
    assert!(results.taf_records().values().all(|r| r.once()));
    let log = fila.worker(worker).log_text();
    assert!(
        !log.contains("message failed; retrying later") && !log.contains("dead-lettered"),
        "an outage costs no attempt"
    );
    assert_eq!(
        fila.taf_counts("T-OUTAGE").await.get("processed"),
        Some(&400)
    );
    results.close().await;
}

#[tokio::test]
async fn intake_answers_each_protocols_error_while_the_database_is_unreachable() {
    let proxy = postgres_proxy().await;
    let mut fila = Setup::new()
        .workers(0)
        .processes(DEFINITIONS)
        .database_url(postgres_proxy_url(&proxy))
        .start()
        .await;
    let direct = database_url();
    fila.start_worker_with(&[("DATABASE_URL", direct.as_str())])
        .await;
    let eai = message(
        "d6e4b0c2-0000-4000-8000-000000000001",
        "CUSTOMERVENDOR",
        "C1",
    );
    let robusta = json!({ "name": "FullName", "values": { "name": "Ana", "surname": "Lima" } });
    let run = envelope(
        "ExecuteWithXmlParamsAsync",
        &[
            ("ProcessServerName", "FullName"),
            ("strXmlParams", "<Params><name>Ana</name></Params>"),
        ],
    );

    proxy.cut();
    let (status, answer) = fila.post_lot(&lot("T-DOWN", items("D", 2))).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(answer["code"], 702, "TAF's RESTFAULT: {answer}");
    let (status, answer) = fila.post_eai(&eai).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "EAI: {answer}");
    let (status, answer) = fila.start_robusta(&robusta).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "Robusta: {answer}");
    let (status, answer) = send(
        fila.request(
            Method::POST,
            "/0/ServiceModel/ProcessEngineService.svc/RunProcess",
        )
        .json(&json!({ "schemaName": "FullName", "parameterValues": [] })),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "Creatio: {answer}");
    let (status, body) = soap(&fila, "ExecuteWithXmlParamsAsync", run.clone()).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let (code, _) = fault(&body).expect("a SOAP fault");
    assert!(code.ends_with("Server"), "{body}");

    proxy.restore().await;
    let accepted = fila_tests::eventually(60, || async {
        fila.post_lot(&lot("T-DOWN", items("D", 2))).await.0 == StatusCode::OK
    })
    .await;
    assert!(accepted, "the API recovers by itself");
    let (status, answer) = fila.post_eai(&eai).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let (status, answer) = fila.start_robusta(&robusta).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, body) = soap(&fila, "ExecuteWithXmlParamsAsync", run).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(fila.wait_finished("T-DOWN", 2, 60).await);

    let client = fila.db().await;
    let stored: i64 = client
        .query_one(
            "SELECT (SELECT count(*) FROM taf_record) + (SELECT count(*) FROM eai_message)",
            &[],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(stored, 3, "nothing of the refused requests was stored");
}

#[tokio::test]
async fn work_accepted_while_the_broker_is_unreachable_is_processed_once_it_is_back() {
    let proxy = Proxy::start("127.0.0.1:5672".parse().expect("addr")).await;
    let proxied = format!("amqp://guest:guest@127.0.0.1:{}/%2f", proxy.port);
    let mut fila = Setup::new().env("AMQP_URL", &proxied).start().await;
    let mut results = Results::observe(&fila).await;
    fila.post_lot(&lot("T-BROKER", items("A", 200))).await;
    assert!(fila.wait_finished("T-BROKER", 200, 60).await);

    proxy.cut();
    for batch in 0..3 {
        let (status, answer) = fila
            .post_lot(&lot("T-BROKER", items(&format!("B{batch}"), 200)))
            .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "PostgreSQL holds the work: {answer}"
        );
    }
    let eai = message(
        "d6e4b0c2-0000-4000-8000-000000000002",
        "CUSTOMERVENDOR",
        "C2",
    );
    let (status, answer) = fila.post_eai(&eai).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    proxy.restore().await;

    assert!(fila.wait_finished("T-BROKER", 800, 120).await);
    assert_eq!(results.collect_taf(800, 120).await, 800);
    assert!(results.taf_records().values().all(|r| r.once()));
    assert_eq!(results.collect_eai(1, 60).await, 1);
    assert!(
        fila.worker(0)
            .wait_for_line("reconnected to RabbitMQ", 1)
            .await
            .is_some(),
        "the worker reconnected by itself"
    );
    results.close().await;
}

/// Changes `role` as a failover changes what a node's clients meet: the
/// setting applies to new sessions, and the role's open sessions are ended
/// (their clients see SQLSTATE 57P01, as when a primary shuts down).
async fn fail_over(admin: &tokio_postgres::Client, role: &str, change: &str) {
    admin
        .batch_execute(&format!("ALTER ROLE {role} {change}"))
        .await
        .expect("alter role");
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1",
            &[&role],
        )
        .await
        .expect("terminate");
}

#[tokio::test]
async fn a_database_failover_costs_no_attempt_and_work_resumes_by_itself() {
    let mut fila = Setup::new().workers(0).own_database_role().start().await;
    let mut results = Results::observe(&fila).await;
    let admin = fila.db().await;
    let role = fila.database_role().to_string();
    let (status, answer) = fila.post_lot(&lot("T-FAILOVER", items("A", 2000))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    // The primary is demoted: what fila reaches is read-only (25006).
    fail_over(&admin, &role, "SET default_transaction_read_only = on").await;
    let worker = fila
        .start_worker_with(&[("MIGRATE_ON_START", "false")])
        .await;
    let paused = fila
        .worker(worker)
        .wait_for_line("consumption paused", 30)
        .await;
    assert!(
        paused.is_some(),
        "the worker pauses on a read-only database"
    );
    let (status, answer) = fila.post_lot(&lot("T-FAILOVER-RO", items("R", 2))).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{answer}");
    assert_eq!(answer["code"], 702, "TAF's RESTFAULT: {answer}");
    let eai = message(
        "d6e4b0c2-0000-4000-8000-0000000000f1",
        "CUSTOMERVENDOR",
        "F1",
    );
    let (status, answer) = fila.post_eai(&eai).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "EAI: {answer}");

    // Clients reconnect in a storm: no connection slot is left (53300).
    fail_over(&admin, &role, "CONNECTION LIMIT 0").await;
    let (status, answer) = fila.post_lot(&lot("T-FAILOVER-RO", items("S", 2))).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{answer}");
    assert_eq!(answer["code"], 702, "TAF's RESTFAULT: {answer}");
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;

    // The new primary takes writes.
    admin
        .batch_execute(&format!(
            "ALTER ROLE {role} CONNECTION LIMIT -1;
             ALTER ROLE {role} RESET default_transaction_read_only"
        ))
        .await
        .expect("heal");
    resumes_without_cost(&mut fila, worker, &mut results, "T-FAILOVER", 2000).await;
    let log = fila.worker(worker).log_text();
    assert!(
        log.contains("database unreachable; the message returns to the queue"),
        "the failover met work in flight"
    );
    let dead: i64 = admin
        .query_one("SELECT count(*) FROM dead_letter", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(dead, 0);
    let stored: i64 = admin
        .query_one(
            "SELECT count(*) FROM taf_record WHERE ticket_code = 'T-FAILOVER-RO'",
            &[],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(stored, 0, "nothing refused was stored");
    results.close().await;
}

#[tokio::test]
async fn a_database_that_stops_answering_is_given_up_within_the_bounds() {
    let proxy = postgres_proxy().await;
    let mut fila = Setup::new()
        .workers(0)
        .database_url(postgres_proxy_url(&proxy))
        .env("DATABASE_STATEMENT_TIMEOUT_SECS", 2)
        .env("DATABASE_CONNECT_TIMEOUT_SECS", 2)
        .env("WORKER_CONCURRENCY", 1)
        .env("WORKER_PREFETCH", 1)
        .env("TAF_CHUNK_SIZE", 1)
        .start()
        .await;
    let worker = fila.start_worker().await;
    let mut results = Results::observe(&fila).await;
    let (status, answer) = fila.post_lot(&lot("T-HOLE", items("A", 3000))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(
        fila.wait_finished("T-HOLE", 1, 30).await,
        "the worker is processing the lot"
    );

    // The database stops answering; no connection is closed.
    proxy.black_hole();
    let pending: i64 = fila
        .db()
        .await
        .query_one(
            "SELECT count(*) FROM taf_record WHERE status = 'pending'",
            &[],
        )
        .await
        .expect("count")
        .get(0);
    assert!(pending > 0, "work is left for the worker");
    let started = std::time::Instant::now();
    let (status, answer) = fila.post_lot(&lot("T-HOLE-X", items("X", 2))).await;
    let waited = started.elapsed();
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{answer}");
    assert_eq!(answer["code"], 702, "TAF's RESTFAULT: {answer}");
    assert!(
        waited < std::time::Duration::from_secs(30),
        "answered within the bounds (statement 2 s + 5 s, connect 2 s), not the kernel's: {waited:?}"
    );
    let eai = message(
        "d6e4b0c2-0000-4000-8000-0000000000b1",
        "CUSTOMERVENDOR",
        "B1",
    );
    let (status, answer) = fila.post_eai(&eai).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "EAI: {answer}");
    let paused = fila
        .worker(worker)
        .wait_for_line("consumption paused", 60)
        .await;
    assert!(paused.is_some(), "the worker gave up the silent database");
    let log = fila.worker(worker).log_text();
    assert!(
        log.contains("PostgreSQL sent nothing for 7 s while an answer was due"),
        "the watchdog ended the wait of the statement in flight"
    );

    proxy.heal();
    resumes_without_cost(&mut fila, worker, &mut results, "T-HOLE", 3000).await;
    results.close().await;
}

/// Once the database is back: the worker resumes and the API takes work
/// again by themselves, and the `accepted` records of `ticket`, with 10
/// sent now, are processed and reported once each, at no attempt's cost.
async fn resumes_without_cost(
    fila: &mut Fila,
    worker: usize,
    results: &mut Results,
    ticket: &str,
    accepted: usize,
) {
    let resumed = fila
        .worker(worker)
        .wait_for_line("consumption resumes", 60)
        .await;
    assert!(resumed.is_some(), "the worker resumes by itself");
    let taken = fila_tests::eventually(60, || async {
        fila.post_lot(&lot(ticket, items("B", 10))).await.0 == StatusCode::OK
    })
    .await;
    assert!(taken, "the API takes work again by itself");
    let all = accepted + 10;
    assert!(fila.wait_finished(ticket, all as i64, 180).await);
    assert_eq!(results.collect_taf(all, 60).await, all);
    assert!(results.taf_records().values().all(|r| r.once()));
    let log = fila.worker(worker).log_text();
    assert!(
        !log.contains("message failed; retrying later") && !log.contains("dead-lettered"),
        "the outage cost no attempt"
    );
}
