//! Process runs written together: jobs of concurrent calls are stored in
//! shared transactions, and a worker's concurrent runs are claimed and
//! finished with shared statements, while each run is still claimed once,
//! retried on its own and reported once. A transaction stamps `now()` on
//! every row it writes, so rows sharing a timestamp were written together.

use std::collections::HashSet;

use fila_tests::results::Results;
use fila_tests::runs::{executions, fixture, process_id, soap};
use fila_tests::{Fila, Setup};
use reqwest::StatusCode;
use serde_json::json;

const DEFINITIONS: &str = r#"
[[process]]
name = "GlbCopyPermisUsrProc"
runner = "builtin"
builtin = "Echo"

[[process]]
name = "FailsOnceMore"
runner = "builtin"
builtin = "Fail"
retry_count = 1

[[process]]
name = "Sleep"
runner = "builtin"
timeout_secs = 30
"#;

/// Starts a run of `process` with the seed's asynchronous envelope; its
/// JobID.
async fn start_run(fila: &Fila, process: &str) -> i64 {
    let envelope = fixture("wsprocess_execute_async.xml").replace("GlbCopyPermisUsrProc", process);
    let (status, body) = soap(fila, "ExecuteWithXmlParamsAsync", envelope).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    process_id(&body).0
}

/// How many distinct values `column` of `table` holds, and how many rows.
async fn distinct(fila: &Fila, table: &str, column: &str) -> (i64, i64) {
    let row = fila
        .db()
        .await
        .query_one(
            &format!("SELECT count(DISTINCT {column}), count(*) FROM {table}"),
            &[],
        )
        .await
        .expect("count");
    (row.get(0), row.get(1))
}

#[tokio::test]
async fn concurrent_runs_are_written_together_and_each_runs_and_is_reported_once() {
    let fila = Setup::new().processes(DEFINITIONS).workers(2).start().await;
    let mut results = Results::observe(&fila).await;
    let echoes = 200;
    let failing = 40;
    let calls: Vec<_> = (0..echoes + failing)
        .map(|i| {
            let process = if i < echoes {
                "GlbCopyPermisUsrProc"
            } else {
                "FailsOnceMore"
            };
            let fila = &fila;
            async move { (process, start_run(fila, process).await) }
        })
        .collect();
    let started = futures::future::join_all(calls).await;
    let job_ids: HashSet<i64> = started.iter().map(|(_, job)| *job).collect();
    assert_eq!(job_ids.len(), echoes + failing, "each call has its own job");

    let reported = results.collect_runs(echoes + failing, 90).await;
    assert_eq!(
        reported,
        echoes + failing,
        "every job's outcome is published"
    );
    assert!(
        results.process_runs().values().all(|r| r.once()),
        "each outcome is published by one result message"
    );
    for (process, job_id) in &started {
        let runs = executions(&fila, *job_id).await;
        let statuses: Vec<(i32, &str)> = runs
            .iter()
            .map(|e| (e.attempt, e.status.as_str()))
            .collect();
        if *process == "GlbCopyPermisUsrProc" {
            assert_eq!(statuses, vec![(1, "succeeded")], "job {job_id}");
        } else {
            assert_eq!(statuses, vec![(1, "failed"), (2, "failed")], "job {job_id}");
            assert!(
                runs[0].message.ends_with("(retried as ExecID 2)"),
                "{:?}",
                runs[0]
            );
        }
    }
    let claims: i64 = fila
        .db()
        .await
        .query_one(
            "SELECT count(*) FROM process_execution WHERE claims <> 1",
            &[],
        )
        .await
        .expect("claims")
        .get(0);
    assert_eq!(claims, 0, "every execution was claimed once");

    let (job_writes, jobs) = distinct(&fila, "process_job", "created_at").await;
    let (claim_writes, runs) = distinct(&fila, "process_execution", "started_at").await;
    let (finish_writes, _) = distinct(&fila, "process_execution", "finished_at").await;
    assert_eq!(jobs, (echoes + failing) as i64);
    assert_eq!(runs, (echoes + 2 * failing) as i64);
    assert!(
        job_writes < jobs,
        "jobs stored together: {job_writes} transactions for {jobs}"
    );
    assert!(
        claim_writes < runs,
        "runs claimed together: {claim_writes} claims for {runs}"
    );
    assert!(
        finish_writes < runs,
        "runs finished together: {finish_writes} for {runs}"
    );
    results.close().await;
}

#[tokio::test]
async fn copies_of_a_run_message_taken_at_once_claim_the_run_once() {
    let fila = Setup::new().processes(DEFINITIONS).start().await;
    let mut results = Results::observe(&fila).await;
    let job_id = start_run(&fila, "Sleep").await;

    // Copies of its run message, delivered together to the same worker:
    // their claims are gathered into one statement with the original's.
    let body = json!({ "type": "process.run.v1", "job": job_id,
                       "process": "Sleep", "group": "default" })
    .to_string();
    fila.publish_work("process.default", &[body.as_bytes(); 6])
        .await;

    assert_eq!(results.collect_runs(1, 60).await, 1);
    let runs = executions(&fila, job_id).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].status, "succeeded", "{runs:?}");
    let claims: i32 = fila
        .db()
        .await
        .query_one(
            "SELECT claims FROM process_execution WHERE job_id = $1",
            &[&job_id],
        )
        .await
        .expect("claims")
        .get(0);
    assert_eq!(claims, 1, "the copies found the run claimed");
    // The copies that found it running wait 10 s and then find nothing.
    tokio::time::sleep(std::time::Duration::from_secs(12)).await;
    assert_eq!(executions(&fila, job_id).await.len(), 1);
    assert_eq!(results.collect_routed("process.", 2, 2).await.len(), 1);
    results.close().await;
}
