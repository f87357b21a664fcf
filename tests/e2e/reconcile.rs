//! Reconciliation: open work whose queue message is gone (purged queues, a
//! release message dropped by a purge) is queued again by the workers and
//! finishes exactly once; work that merely waits in a paused or long queue
//! is left alone; discarding a dead letter closes the items it held.

use fila_tests::eai::message;
use fila_tests::fila::send;
use fila_tests::prometheus::sample;
use fila_tests::rabbitmq::{purge, queue_counts};
use fila_tests::results::Results;
use fila_tests::runs::DEFINITIONS;
use fila_tests::taf::{POISON, item, item_with, items, lot};
use fila_tests::{Fila, Setup, amqp_url, eventually};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const TRANSACTIONS: &str = "/totvseai/standardmessage/v1/transactions";

/// A deployment whose reconciler runs every second and lets the messages
/// delivered before a probe settle for two.
fn fast(setup: Setup) -> Setup {
    setup
        .env("RECONCILE_INTERVAL_SECS", 1)
        .env("RECONCILE_SETTLE_SECS", 2)
}

async fn reconcile(fila: &Fila, body: Value) -> Value {
    let (status, answer) = send(fila.admin(Method::POST, "/admin/reconcile").json(&body)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

/// Items of `protocol` the worker's reconciler queued again.
async fn reconciled(fila: &mut Fila, worker: usize, protocol: &str) -> f64 {
    let url = fila.worker_metrics_url(worker).await;
    let text = fila.http().get(url).send().await.expect("scrape");
    let text = text.text().await.expect("metrics");
    sample(
        &text,
        &format!("fila_reconciled_items_total{{protocol=\"{protocol}\"}}"),
    )
    .unwrap_or(0.0)
}

async fn count(fila: &Fila, sql: &str) -> i64 {
    fila.db()
        .await
        .query_one(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .get(0)
}

fn uuid(n: usize) -> String {
    format!("d6e4b0c2-0000-4000-8000-{n:012}")
}

async fn post_eai(fila: &Fila, query: &str, body: &Value) {
    let (status, answer) = send(
        fila.request(Method::POST, &format!("{TRANSACTIONS}{query}"))
            .json(body),
    )
    .await;
    assert!(status.is_success(), "{status}: {answer}");
}

#[tokio::test]
async fn work_whose_queues_were_purged_is_queued_again_and_finishes_once() {
    purged_work_is_queued_again("classic", "taf").await;
}

/// On quorum queues, a probe goes through each of TAF's lanes.
#[tokio::test]
async fn work_whose_quorum_queues_were_purged_is_queued_again_and_finishes_once() {
    purged_work_is_queued_again("quorum", "taf.p5").await;
}

/// `taf`: the queue that holds the TAF records (of the lowest priority).
async fn purged_work_is_queued_again(queue_type: &str, taf: &str) {
    let setup = Setup::new()
        .workers(0)
        .processes(DEFINITIONS)
        .env("AMQP_QUEUE_TYPE", queue_type);
    let mut fila = fast(setup).start().await;
    let mut results = Results::observe(&fila).await;
    let (status, answer) = fila.post_lot(&lot("T-PURGED", items("P", 250))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    for n in 0..2 {
        post_eai(
            &fila,
            "",
            &message(&uuid(n), "CUSTOMERVENDOR", &format!("S{n}")),
        )
        .await;
    }
    let simple: Vec<Value> = (10..40)
        .map(|n| message(&uuid(n), "CUSTOMERVENDOR", &format!("B{n}")))
        .collect();
    post_eai(&fila, "?batchType=simpleBatch", &json!(simple)).await;
    let business: Vec<Value> = (50..53)
        .map(|n| message(&uuid(n), "CUSTOMERVENDOR", &format!("T{n}")))
        .collect();
    post_eai(&fila, "?batchType=businessTransaction", &json!(business)).await;
    for n in 0..4 {
        let run =
            json!({ "name": "FullName", "values": { "name": format!("N{n}"), "surname": "Lima" } });
        let (status, answer) = fila.start_robusta(&run).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let published = eventually(30, || async {
        count(&fila, "SELECT count(*) FROM outbox").await == 0
    })
    .await;
    assert!(published, "the work reached its queues");
    for queue in [taf, "eai", "process.default"] {
        let purged = purge(&amqp_url(), &format!("{}.{queue}", fila.prefix)).await;
        assert!(purged > 0, "{queue} held the work");
    }

    let lost = reconcile(&fila, json!({ "dryRun": true })).await;
    assert_eq!(
        lost,
        json!({ "dryRun": true, "taf": 0, "eai": 0, "process": 0 }),
        "no probe came through a queue yet: nothing is known lost"
    );
    let now = chrono::Utc::now().to_rfc3339();
    let open = reconcile(&fila, json!({ "dryRun": true, "queuedBefore": now })).await;
    assert_eq!(
        open,
        json!({ "dryRun": true, "taf": 250, "eai": 35, "process": 4 }),
        "every open item"
    );

    let worker = fila.start_worker().await;
    assert!(fila.wait_finished("T-PURGED", 250, 60).await);
    assert_eq!(results.collect_taf(250, 60).await, 250);
    assert_eq!(results.collect_eai(35, 60).await, 35);
    assert_eq!(results.collect_runs(4, 60).await, 4);
    assert!(results.taf_records().values().all(|r| r.once()));
    assert!(results.eai_responses().values().all(|r| r.once()));
    assert!(results.process_runs().values().all(|r| r.once()));
    assert_eq!(
        count(
            &fila,
            "SELECT count(DISTINCT registry_key) FROM taf_record WHERE status = 'processed'"
        )
        .await,
        250
    );
    assert_eq!(
        count(
            &fila,
            "SELECT count(*) FROM eai_message WHERE status = 'ok'"
        )
        .await,
        35
    );
    assert_eq!(
        count(
            &fila,
            "SELECT count(*) FROM process_execution WHERE status = 'succeeded'"
        )
        .await,
        4,
        "one execution per run, none repeated"
    );
    assert_eq!(
        count(&fila, "SELECT count(*) FROM process_execution").await,
        4
    );
    assert!(reconciled(&mut fila, worker, "taf").await >= 250.0);
    assert!(reconciled(&mut fila, worker, "eai").await >= 35.0);
    assert!(reconciled(&mut fila, worker, "process").await >= 4.0);
    results.close().await;
}

#[tokio::test]
async fn work_waiting_in_a_paused_or_long_queue_is_not_taken_for_lost() {
    let mut fila = fast(Setup::new())
        .env("WORKER_CONCURRENCY", 1)
        .env("WORKER_PREFETCH", 1)
        .env("TAF_CHUNK_SIZE", 5)
        .start()
        .await;
    let mut results = Results::observe(&fila).await;
    let queue = format!("{}.taf", fila.prefix);
    let (status, _) = send(fila.admin(Method::POST, "/admin/queues/taf/pause")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        fila.worker(0)
            .wait_for_line("consumption stopped", 10)
            .await
            .is_some()
    );
    fila.post_lot(&lot("T-WAITING", items("W", 50))).await;
    // Several passes, each with work older than the settling time.
    tokio::time::sleep(std::time::Duration::from_secs(8)).await;
    let (ready, _) = queue_counts(&queue).await;
    assert_eq!(
        ready,
        10 + 1,
        "the 10 work messages, and one probe behind them"
    );
    assert_eq!(reconciled(&mut fila, 0, "taf").await, 0.0);
    let (status, _) = send(fila.admin(Method::POST, "/admin/queues/taf/resume")).await;
    assert_eq!(status, StatusCode::OK);

    // A backlog of 600 messages, taken one at a time.
    for part in 0..3 {
        let (status, answer) = fila
            .post_lot(&lot("T-LONG", items(&format!("L{part}"), 1000)))
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    assert!(fila.wait_finished("T-WAITING", 50, 60).await);
    assert!(fila.wait_finished("T-LONG", 3000, 180).await);
    assert_eq!(results.collect_taf(3050, 60).await, 3050);
    assert!(results.taf_records().values().all(|r| r.once()));
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    assert_eq!(
        reconciled(&mut fila, 0, "taf").await,
        0.0,
        "nothing that waited its turn was queued again"
    );
    let log = fila.worker(0).log_text();
    assert!(
        !log.contains("queue message was gone"),
        "nothing was taken for lost"
    );
    results.close().await;
}

#[tokio::test]
async fn a_release_message_the_broker_dropped_is_queued_again() {
    let mut fila = fast(Setup::new()).start().await;
    let mut results = Results::observe(&fila).await;
    let queue = format!("{}.taf", fila.prefix);
    let successor = item_with("SUCC1", json!({ "registryPredecessor": "PRED1" }));
    fila.post_lot(&lot("T-RELEASE", vec![successor])).await;
    let db = fila.db().await;
    let waiting = eventually(30, || async {
        db.query_one(
            "SELECT status FROM taf_record WHERE registry_key = 'SUCC1'",
            &[],
        )
        .await
        .is_ok_and(|row| row.get::<_, String>(0) == "waiting")
    })
    .await;
    assert!(waiting, "the successor waits for its predecessor");

    // The test holds the successor's row: the predecessor's worker will
    // wait for it to release the successor.
    let mut holder = fila.db().await;
    let hold = holder.transaction().await.expect("transaction");
    hold.execute(
        "SELECT 1 FROM taf_record WHERE registry_key = 'SUCC1' FOR UPDATE",
        &[],
    )
    .await
    .expect("lock");
    fila.post_lot(&lot("T-RELEASE", vec![item("PRED1")])).await;
    let (status, _) = send(fila.admin(Method::POST, "/admin/queues/taf/pause")).await;
    assert_eq!(status, StatusCode::OK);
    let cancelled = eventually(30, || async { queue_counts(&queue).await.1 == 0 }).await;
    assert!(
        cancelled,
        "the worker stopped consuming, its message in flight"
    );
    hold.commit().await.expect("let go");

    // The release message reaches the paused queue; the broker drops it.
    let queued = eventually(30, || async { queue_counts(&queue).await.0 == 1 }).await;
    assert!(queued, "the successor's release message is in the queue");
    assert_eq!(purge(&amqp_url(), &queue).await, 1);
    let (status, _) = send(fila.admin(Method::POST, "/admin/queues/taf/resume")).await;
    assert_eq!(status, StatusCode::OK);

    assert!(fila.wait_finished("T-RELEASE", 2, 60).await);
    assert_eq!(
        fila.taf_counts("T-RELEASE").await.get("processed"),
        Some(&2)
    );
    assert_eq!(results.collect_taf(2, 60).await, 2);
    assert!(results.taf_records().values().all(|r| r.once()));
    assert!(reconciled(&mut fila, 0, "taf").await >= 1.0);
    results.close().await;
}

/// Fails every write of the entities whose InternalId holds `POISONED`.
const EAI_POISON: &str = "
    CREATE FUNCTION eai_poison() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.internal_id LIKE '%POISONED%' THEN
            RAISE EXCEPTION 'poisoned entity %', NEW.internal_id;
        END IF;
        RETURN NEW;
    END $$;
    CREATE TRIGGER eai_poison BEFORE INSERT OR UPDATE ON eai_entity
        FOR EACH ROW EXECUTE FUNCTION eai_poison();";

/// Fails every claim of a process execution.
const RUN_POISON: &str = "
    CREATE FUNCTION run_poison() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.status = 'running' THEN
            RAISE EXCEPTION 'poisoned run of job %', NEW.job_id;
        END IF;
        RETURN NEW;
    END $$;
    CREATE TRIGGER run_poison BEFORE UPDATE ON process_execution
        FOR EACH ROW EXECUTE FUNCTION run_poison();";

#[tokio::test]
async fn discarding_a_dead_letter_closes_the_items_it_held() {
    let mut fila = fast(Setup::new().processes(DEFINITIONS))
        .env("WORKER_MAX_ATTEMPTS", 1)
        .start()
        .await;
    let mut results = Results::observe(&fila).await;
    let db = fila.db().await;
    db.batch_execute(POISON).await.expect("taf poison");
    db.batch_execute(EAI_POISON).await.expect("eai poison");
    db.batch_execute(RUN_POISON).await.expect("run poison");
    fila.post_lot(&lot("T-DISCARD", items("POISON", 3))).await;
    let poisoned = uuid(900);
    post_eai(&fila, "", &message(&poisoned, "CUSTOMERVENDOR", "POISONED")).await;
    let run = json!({ "name": "FullName", "values": { "name": "Ana" } });
    let (status, started) = fila.start_robusta(&run).await;
    assert_eq!(status, StatusCode::OK, "{started}");
    let spid = started["robustaSpid"].as_str().expect("spid").to_string();

    let buried = eventually(60, || async {
        count(&fila, "SELECT count(*) FROM dead_letter").await == 3
    })
    .await;
    assert!(buried, "one dead letter per protocol");
    // While the dead letters stand, the reconciler leaves their items.
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    for protocol in ["taf", "eai", "process"] {
        assert_eq!(reconciled(&mut fila, 0, protocol).await, 0.0, "{protocol}");
    }
    assert_eq!(fila.taf_counts("T-DISCARD").await.get("pending"), Some(&3));
    db.batch_execute(
        "DROP TRIGGER poison ON taf_record; DROP TRIGGER eai_poison ON eai_entity;
         DROP TRIGGER run_poison ON process_execution",
    )
    .await
    .expect("cure");

    let ids: Vec<i64> = db
        .query("SELECT id FROM dead_letter ORDER BY id", &[])
        .await
        .expect("ids")
        .iter()
        .map(|row| row.get(0))
        .collect();
    for id in ids {
        let (status, body) =
            send(fila.admin(Method::DELETE, &format!("/admin/dead-letters/{id}"))).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }

    let (status, page) = fila.get_status("ticketCode=T-DISCARD&startRecNo=0").await;
    assert_eq!(status, StatusCode::OK);
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 3);
    for item in items {
        assert_eq!(item["proccessed"], false, "{item}");
        assert_eq!(item["errorCode"], "000004", "{item}");
        assert!(
            item["errorDetail"]
                .as_str()
                .is_some_and(|d| d.contains("discarded by admin:admin")),
            "{item}"
        );
    }
    let (status, answer) =
        send(fila.request(Method::GET, &format!("{TRANSACTIONS}/{poisoned}"))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(answer.to_string().contains("EAI-210"), "{answer}");
    let (status, state) = send(fila.request(
        Method::GET,
        &format!("/scheduler/connector-api/process/status/{spid}"),
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(state["status"], "FAILED", "{state}");

    assert_eq!(results.collect_taf(3, 30).await, 3);
    assert_eq!(results.collect_eai(1, 30).await, 1);
    assert_eq!(results.collect_runs(1, 30).await, 1);
    let routed: Vec<&str> = results
        .received
        .iter()
        .map(|r| r.routing_key.as_str())
        .collect();
    assert!(routed.contains(&"taf.error"), "{routed:?}");
    assert!(routed.contains(&"eai.CUSTOMERVENDOR.error"), "{routed:?}");
    assert!(routed.contains(&"process.FullName.failed"), "{routed:?}");
    let open = count(
        &fila,
        "SELECT (SELECT count(*) FROM taf_record WHERE status = 'pending')
              + (SELECT count(*) FROM eai_message WHERE status = 'pending')
              + (SELECT count(*) FROM process_execution WHERE status = 'waiting')",
    )
    .await;
    assert_eq!(open, 0, "nothing is left open");
    results.close().await;
}
