//! Work that kills the worker handling it: an EAI message, or a process
//! run's parameters, too large for the memory a worker is given (an
//! allocation fails, the process aborts). Each crash leaves the message
//! redelivered (or the run's lease to run out); its handling starts (the
//! run's claims) are counted, and after `worker_max_attempts` of them it is
//! dead-lettered (the run failed) instead of killing one more worker, while
//! the rest of the work flows.

use fila_tests::eai::{message, message_with};
use fila_tests::results::Results;
use fila_tests::taf::{items, lot};
use fila_tests::{Fila, Setup, eventually};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Memory a worker may take beyond what it holds when idle.
const HEADROOM: u64 = 96 * 1024 * 1024;

/// 6 million array elements: 12 MB of JSON, several hundred MB once read
/// into memory.
fn too_large() -> Value {
    json!(vec![0; 6_000_000])
}

/// Starts a first worker, then limits its memory; the limit for the
/// workers that replace it.
async fn limited_worker(fila: &mut Fila) -> (usize, u64) {
    let first = fila.start_worker().await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let limit = fila.worker(first).data_kib() * 1024 + HEADROOM;
    fila.worker(first).limit_memory(limit);
    (first, limit)
}

/// Replaces the workers that died, until `done` completes; the workers
/// that died, each checked to have run out of memory.
async fn replace_dead_workers(
    fila: &mut Fila,
    first: usize,
    limit: u64,
    done: impl std::future::Future<Output = bool>,
) -> usize {
    tokio::pin!(done);
    let mut running = vec![first];
    let mut crashed = Vec::new();
    let finished = loop {
        tokio::select! {
            finished = &mut done => break finished,
            _ = tokio::time::sleep(std::time::Duration::from_millis(200)) => {}
        }
        for index in running.clone() {
            if let Some(status) = fila.worker(index).exited() {
                assert!(!status.success(), "worker {index} died: {status}");
                crashed.push(index);
                running.retain(|i| *i != index);
                running.push(fila.start_worker_limited(&[], Some(limit)).await);
            }
        }
    };
    assert!(finished, "the work ended");
    for index in &crashed {
        let log = fila.worker(*index).log_text();
        assert!(
            log.contains("memory allocation of"),
            "worker {index} ran out of memory:\n{log}"
        );
    }
    crashed.len()
}

#[tokio::test]
async fn a_message_that_kills_its_worker_is_dead_lettered_after_max_attempts_starts() {
    let mut fila = Setup::new()
        .workers(0)
        .env("WORKER_MAX_ATTEMPTS", 2)
        .start()
        .await;
    let mut results = Results::observe(&fila).await;
    let (first, limit) = limited_worker(&mut fila).await;
    let huge = "d6e4b0c2-0000-4000-8000-00000000dead";
    let big = message_with(huge, "CUSTOMERVENDOR", "HUGE", |m| {
        m["Content"]["Values"] = too_large();
    });
    let (status, answer) = fila.post_eai(&big).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    for n in 0..10 {
        let uuid = format!("d6e4b0c2-0000-4000-8000-{n:012}");
        let (status, answer) = fila
            .post_eai(&message(&uuid, "CUSTOMERVENDOR", &format!("C{n}")))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    }
    fila.post_lot(&lot("T-CRASH", items("C", 200))).await;

    let db = fila.db().await;
    let buried = eventually(180, || {
        let buried = db.query_one("SELECT count(*) FROM dead_letter", &[]);
        async { buried.await.is_ok_and(|row| row.get::<_, i64>(0) == 1) }
    });
    let crashes = replace_dead_workers(&mut fila, first, limit, buried).await;
    assert!(
        (2..=3).contains(&crashes),
        "the first delivery and two counted starts at most: {crashes}"
    );

    let row = db
        .query_one(
            "SELECT reason, attempts, history, body FROM dead_letter",
            &[],
        )
        .await
        .expect("dead letter");
    let reason: String = row.get("reason");
    assert!(
        reason.contains("started 2 times without ending"),
        "{reason}"
    );
    let history: Value = row.get("history");
    let stops: Vec<&Value> = history
        .as_array()
        .expect("history")
        .iter()
        .filter(|entry| {
            entry["reason"]
                .as_str()
                .is_some_and(|r| r.contains("stopped before the handling ended"))
        })
        .collect();
    assert_eq!(stops.len(), 2, "{history}");
    assert!(
        stops
            .iter()
            .all(|s| s["worker"].is_string() && s["at"].is_string())
    );
    let body: Vec<u8> = row.get("body");
    assert!(String::from_utf8_lossy(&body).contains(huge));
    let held: (String, Option<i64>) = db
        .query_one(
            "SELECT status, dead_letter_id FROM eai_message WHERE uuid = $1",
            &[&huge],
        )
        .await
        .map(|row| (row.get(0), row.get(1)))
        .expect("the message");
    assert_eq!(held.0, "pending");
    assert!(held.1.is_some(), "held by its dead letter");

    // The rest of the work was not held up.
    assert!(fila.wait_finished("T-CRASH", 200, 60).await);
    assert_eq!(results.collect_taf(200, 60).await, 200);
    assert_eq!(results.collect_eai(10, 60).await, 10);
    assert!(results.taf_records().values().all(|r| r.once()));
    assert!(results.eai_responses().values().all(|r| r.once()));
    let counted: i64 = db
        .query_one("SELECT count(*) FROM delivery", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(counted, 0, "no delivery count is left behind");
    results.close().await;
}

const SHORT: &str = r#"
[[process]]
name = "Short"
runner = "builtin"
builtin = "Echo"
timeout_secs = 1
"#;

#[tokio::test]
async fn a_run_that_kills_its_worker_fails_after_max_attempts_stops() {
    let mut fila = Setup::new()
        .workers(0)
        .processes(SHORT)
        .env("WORKER_MAX_ATTEMPTS", 2)
        .start()
        .await;
    let mut results = Results::observe(&fila).await;
    let (first, limit) = limited_worker(&mut fila).await;
    let (status, answer) = fila
        .start_robusta(&json!({ "name": "Short", "values": { "big": too_large() } }))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let spid = answer["robustaSpid"].as_str().expect("spid").to_string();
    let (status, answer) = fila
        .start_robusta(&json!({ "name": "Short", "values": { "n": 1 } }))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    let db = fila.db().await;
    let failed = eventually(180, || async {
        db.query_one(
            "SELECT count(*) FROM process_execution e JOIN process_job j ON j.id = e.job_id
             WHERE j.uid = $1 AND e.status = 'failed'",
            &[&spid],
        )
        .await
        .is_ok_and(|row| row.get::<_, i64>(0) == 1)
    });
    let crashes = replace_dead_workers(&mut fila, first, limit, failed).await;
    assert_eq!(crashes, 2, "two claims ended with their worker");
    let (executions, message): (i64, String) = db
        .query_one(
            "SELECT count(*) OVER (), e.message FROM process_execution e
             JOIN process_job j ON j.id = e.job_id WHERE j.uid = $1",
            &[&spid],
        )
        .await
        .map(|row| (row.get(0), row.get(1)))
        .expect("execution");
    assert_eq!(executions, 1, "not retried");
    assert!(
        message.contains("its worker stopped 2 times while running it"),
        "{message}"
    );
    assert_eq!(results.collect_runs(2, 60).await, 2);
    assert!(results.process_runs().values().all(|r| r.once()));
    let succeeded: i64 = db
        .query_one(
            "SELECT count(*) FROM process_execution WHERE status = 'succeeded'",
            &[],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(succeeded, 1, "the other run was not held up");
    results.close().await;
}
