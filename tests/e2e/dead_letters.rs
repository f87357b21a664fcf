//! Poison work: retried with backoff up to `worker_max_attempts`, then a
//! dead letter with its reason and attempt history, while the rest of the
//! queue flows; and the admin API that lists, replays and discards dead
//! letters.

use fila_tests::taf::{POISON, items, lot};
use fila_tests::{Fila, Setup, eventually};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn dead_letters(fila: &Fila, query: &str) -> Value {
    let (status, body) =
        fila_tests::fila::send(fila.admin(Method::GET, &format!("/admin/dead-letters{query}")))
            .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn count(fila: &Fila) -> usize {
    dead_letters(fila, "?limit=1000").await["deadLetters"]
        .as_array()
        .map_or(0, Vec::len)
}

#[tokio::test]
async fn poison_work_is_retried_then_dead_lettered_with_its_history_and_can_be_replayed() {
    poison_is_retried_then_dead_lettered("classic").await;
}

/// The retry queues return a message to its lane by at-least-once
/// dead-lettering on quorum queues: the same history.
#[tokio::test]
async fn poison_work_goes_through_the_retry_tiers_of_quorum_queues_too() {
    poison_is_retried_then_dead_lettered("quorum").await;
}

async fn poison_is_retried_then_dead_lettered(queue_type: &str) {
    let fila = Setup::new()
        .env("WORKER_MAX_ATTEMPTS", 3)
        .env("AMQP_QUEUE_TYPE", queue_type)
        .start()
        .await;
    let db = fila.db().await;
    db.batch_execute(POISON).await.expect("trigger");
    fila.post_lot(&lot("T-POISON", items("POISON", 3))).await;
    fila.post_lot(&lot("T-FLOW", items("FLOW", 300))).await;

    assert!(
        fila.wait_finished("T-FLOW", 300, 60).await,
        "the rest of the queue keeps flowing"
    );
    assert!(eventually(60, || async { count(&fila).await == 1 }).await);
    let listed = dead_letters(&fila, "?queue=taf").await;
    assert_eq!(listed["next"], Value::Null);
    let dead = &listed["deadLetters"][0];
    assert_eq!(dead["queue"], "taf");
    assert_eq!(dead["kind"], "taf.records.v1");
    assert_eq!(dead["attempts"], 3);
    assert_eq!(dead["message"]["ids"].as_array().map(Vec::len), Some(3));
    assert!(
        dead["reason"]
            .as_str()
            .is_some_and(|r| r.contains("poisoned record POISON")),
        "{dead}"
    );
    let history = dead["history"].as_array().expect("history");
    assert_eq!(
        history
            .iter()
            .map(|h| h["attempt"].clone())
            .collect::<Vec<_>>(),
        vec![json!(1), json!(2), json!(3)]
    );
    for entry in history {
        assert_eq!(entry["worker"], "worker-0");
        assert!(
            entry["reason"]
                .as_str()
                .is_some_and(|r| r.contains("poisoned record"))
        );
    }
    let first: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(history[0]["at"].clone()).expect("a time");
    let last: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(history[2]["at"].clone()).expect("a time");
    assert!(
        (last - first).num_milliseconds() >= 10_000,
        "backoff of 1 s then 10 s between attempts: {history:?}"
    );
    assert_eq!(fila.taf_counts("T-POISON").await.get("pending"), Some(&3));
    let log = std::fs::read_to_string(fila.log_path("worker-0.log")).unwrap_or_default();
    assert_eq!(log.matches("message dead-lettered").count(), 1);
    let buried = log
        .lines()
        .find(|l| l.contains("message dead-lettered"))
        .and_then(|l| serde_json::from_str::<Value>(l).ok())
        .expect("a JSON line");
    let rec_nos: Vec<i64> = buried["span"]["rec_nos"]
        .as_str()
        .unwrap_or_default()
        .split(',')
        .filter_map(|n| n.parse().ok())
        .collect();
    assert_eq!(rec_nos.len(), 3, "the line names the records: {buried}");
    assert_eq!(buried["span"]["queue"], "taf", "{buried}");

    db.batch_execute("DROP TRIGGER poison ON taf_record")
        .await
        .expect("cure");
    let id = dead["id"].as_i64().expect("id");
    let (status, body) = fila_tests::fila::send(
        fila.admin(Method::POST, &format!("/admin/dead-letters/{id}/replay")),
    )
    .await;
    assert_eq!((status, body), (StatusCode::OK, json!({ "replayed": 1 })));
    assert!(fila.wait_finished("T-POISON", 3, 30).await);
    assert_eq!(fila.taf_counts("T-POISON").await.get("processed"), Some(&3));
    assert_eq!(count(&fila).await, 0);
    let (status, _) =
        fila_tests::fila::send(fila.admin(Method::GET, &format!("/admin/dead-letters/{id}"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Publishes bodies no handler can decode straight to the TAF queue.
async fn publish_undecodable(fila: &Fila, bodies: &[&[u8]]) {
    fila.publish_work("taf", bodies).await;
}

async fn replay(fila: &Fila, request: Value) -> (StatusCode, Value) {
    fila_tests::fila::send(
        fila.admin(Method::POST, "/admin/dead-letters/replay")
            .json(&request),
    )
    .await
}

#[tokio::test]
async fn dead_letters_are_paged_replayed_by_selection_and_discarded() {
    let fila = Fila::start().await;
    publish_undecodable(
        &fila,
        &[
            b"{\"type\":\"taf.unknown\"}",
            b"{\"type\":\"taf.unknown\"}",
            b"{\"type\":\"taf.unknown\"}",
            b"{\"type\":\"taf.unknown\"}",
            b"\xff not json",
        ],
    )
    .await;
    assert!(eventually(30, || async { count(&fila).await == 5 }).await);

    let all = dead_letters(&fila, "").await["deadLetters"].clone();
    let all = all.as_array().expect("letters");
    let mut paged = Vec::new();
    let mut after = json!(0);
    while after != Value::Null {
        let page = dead_letters(&fila, &format!("?limit=2&after={after}")).await;
        paged.extend(page["deadLetters"].as_array().expect("letters").clone());
        after = page["next"].clone();
    }
    assert_eq!(&paged, all, "three pages of 2, 2 and 1");
    let garbage = all
        .iter()
        .find(|l| l.get("bodyBase64").is_some())
        .expect("the one that is not JSON");
    let ids: Vec<i64> = all
        .iter()
        .filter(|l| l.get("message").is_some())
        .filter_map(|l| l["id"].as_i64())
        .collect();
    assert_eq!(ids.len(), 4);
    assert_eq!(garbage["attempts"], 1, "undecodable: dead at once");
    assert!(
        garbage["reason"]
            .as_str()
            .is_some_and(|r| r.contains("undecodable"))
    );
    assert_eq!(garbage["history"].as_array().map(Vec::len), Some(1));
    assert_eq!(garbage.get("message"), None);
    assert_eq!(garbage["bodyBase64"], "/yBub3QganNvbg==");
    assert_eq!(
        dead_letters(&fila, "?queue=eai").await["deadLetters"],
        json!([])
    );

    // A selection goes back to its queue (and, still undecodable, dies again).
    assert_eq!(
        replay(&fila, json!({ "ids": [ids[0], ids[1], 999_999] })).await,
        (StatusCode::OK, json!({ "replayed": 2 }))
    );
    assert!(eventually(30, || async { count(&fila).await == 5 }).await);
    let now = dead_letters(&fila, "").await;
    assert!(
        now["deadLetters"]
            .as_array()
            .expect("letters")
            .iter()
            .all(|l| l["id"] != ids[0] && l["id"] != ids[1]),
        "replayed dead letters came back with new ids: {now}"
    );
    assert_eq!(
        replay(&fila, json!({ "queue": "eai" })).await,
        (StatusCode::OK, json!({ "replayed": 0 }))
    );

    let gone = garbage["id"].as_i64().expect("id");
    let path = format!("/admin/dead-letters/{gone}");
    let (status, _) = fila_tests::fila::send(fila.admin(Method::DELETE, &path)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = fila_tests::fila::send(fila.admin(Method::DELETE, &path)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) =
        fila_tests::fila::send(fila.admin(Method::POST, &format!("{path}/replay"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    assert_eq!(
        replay(&fila, json!({ "all": true })).await,
        (StatusCode::OK, json!({ "replayed": 4 }))
    );
    assert!(eventually(30, || async { count(&fila).await == 4 }).await);
}

#[tokio::test]
async fn dead_letter_requests_are_checked() {
    let fila = Fila::start().await;
    for request in [
        json!({}),
        json!({ "all": false }),
        json!({ "ids": [1], "all": true }),
        json!({ "ids": [1], "queue": "taf" }),
        json!({ "queue": "nope" }),
        json!({ "ids": "1" }),
        json!({ "everything": true }),
    ] {
        let (status, body) = replay(&fila, request.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{request}: {body}");
        assert_eq!(body["code"], 400, "{request}: {body}");
    }
    let (status, _) = fila_tests::fila::send(
        fila.admin(Method::POST, "/admin/dead-letters/replay")
            .body("{not json"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    for path in [
        "/admin/dead-letters/abc",
        "/admin/dead-letters?limit=0",
        "/admin/dead-letters?limit=1001",
        "/admin/dead-letters?queue=process.a%20b",
    ] {
        let (status, body) = fila_tests::fila::send(fila.admin(Method::GET, path)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
    }
    let (status, _) =
        fila_tests::fila::send(fila.admin(Method::GET, "/admin/dead-letters/12345")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) =
        fila_tests::fila::send(fila.request(Method::GET, "/admin/dead-letters")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) =
        fila_tests::fila::send(fila.anonymous(Method::POST, "/admin/dead-letters/replay")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
