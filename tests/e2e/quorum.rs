//! fila on quorum queues (`amqp_queue_type = "quorum"`) on the local node:
//! every queue declared as a quorum queue, TAF in its priority lanes, every
//! kind of work done; RabbitMQ's delivery limit ending in fila's dead
//! letters rather than dropping the message; a queue that exists with
//! other arguments named at start while the others keep working.

use std::collections::HashMap;

use fila_tests::eai::message;
use fila_tests::fila::send;
use fila_tests::rabbitmq::{channel, queue_counts, rabbitmqctl, replace_with_classic};
use fila_tests::results::Results;
use fila_tests::runs::DEFINITIONS;
use fila_tests::taf::{item_with, items, lot};
use fila_tests::{Setup, amqp_url, eventually};
use lapin::options::{BasicGetOptions, BasicRejectOptions};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The type of each queue of `prefix`, as RabbitMQ lists them.
fn queue_types(prefix: &str) -> HashMap<String, String> {
    rabbitmqctl(&["list_queues", "-q", "--no-table-headers", "name", "type"])
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            Some((fields.next()?.to_string(), fields.next()?.to_string()))
        })
        .filter(|(name, _)| name.starts_with(&format!("{prefix}.")))
        .collect()
}

#[tokio::test]
async fn every_kind_of_work_goes_through_quorum_queues() {
    let fila = Setup::new()
        .env("AMQP_QUEUE_TYPE", "quorum")
        .processes(DEFINITIONS)
        .workers(2)
        .start()
        .await;
    let mut results = Results::observe(&fila).await;
    let types = queue_types(&fila.prefix);
    let p = &fila.prefix;
    for band in 0..6 {
        assert_eq!(
            types.get(&format!("{p}.taf.p{band}")).map(String::as_str),
            Some("quorum"),
            "{types:?}"
        );
        assert!(types.contains_key(&format!("{p}.taf.p{band}.retry.60s")));
    }
    for name in ["eai", "process.default", "taf.given-up", "eai.given-up"] {
        assert_eq!(
            types.get(&format!("{p}.{name}")).map(String::as_str),
            Some("quorum"),
            "{name}: {types:?}"
        );
    }
    assert!(
        !types.contains_key(&format!("{p}.taf")),
        "no classic TAF queue"
    );
    assert!(types.values().all(|t| t == "quorum"), "{types:?}");

    let mut keys = items("LOW", 50);
    keys.extend((0..6).map(|p| {
        item_with(
            &format!("P{p}"),
            json!({ "registryPriority": p.to_string() }),
        )
    }));
    let (status, _) = fila.post_lot(&lot("T-QUORUM", keys)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, answer) = fila
        .post_eai(&message(
            "d6e4b0c2-0000-4000-8000-00000000a001",
            "CUSTOMERVENDOR",
            "Q1",
        ))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let (status, answer) = fila
        .start_robusta(
            &json!({ "name": "FullName", "values": { "name": "Ana", "surname": "Lima" } }),
        )
        .await;
    assert!(status.is_success(), "{answer}");

    assert!(fila.wait_finished("T-QUORUM", 56, 60).await);
    assert_eq!(results.collect_taf(56, 60).await, 56);
    assert!(results.taf_records().values().all(|r| r.once()));
    assert_eq!(results.collect_eai(1, 60).await, 1);
    assert_eq!(results.collect_runs(1, 60).await, 1);
    results.close().await;
}

/// Returns every message of `queue` to it, `times` times over, as a
/// consumer that keeps failing would (each return counts a delivery).
async fn return_every_message(queue: &str, times: usize) -> usize {
    let (connection, channel) = channel(&amqp_url()).await;
    let mut returned = 0;
    for _ in 0..times {
        let Some(message) = channel
            .basic_get(queue.into(), BasicGetOptions::default())
            .await
            .expect("get")
        else {
            break;
        };
        message
            .delivery
            .acker
            .reject(BasicRejectOptions { requeue: true })
            .await
            .expect("reject");
        returned += 1;
    }
    let _ = connection.close(200, "returned".into()).await;
    returned
}

#[tokio::test]
async fn a_message_past_the_delivery_limit_becomes_a_dead_letter_not_a_loss() {
    let mut fila = Setup::new()
        .env("AMQP_QUEUE_TYPE", "quorum")
        .env("AMQP_DELIVERY_LIMIT", 3)
        .env("WORKER_MAX_ATTEMPTS", 2)
        .workers(0)
        .start()
        .await;
    fila.post_lot(&lot("T-LIMIT", items("L", 5))).await;
    let lane = format!("{}.taf.p5", fila.prefix);
    let given_up = format!("{}.taf.given-up", fila.prefix);
    let queued = eventually(30, || async { queue_counts(&lane).await.0 == 1 }).await;
    assert!(queued, "the lot's message waits in its lane");
    let returned = return_every_message(&lane, 20).await;
    assert!(returned >= 3, "returned {returned} times");
    let moved = eventually(30, || async {
        queue_counts(&lane).await.0 == 0 && queue_counts(&given_up).await.0 == 1
    })
    .await;
    assert!(moved, "RabbitMQ moved the message to {given_up}");

    fila.start_worker().await;
    let buried = eventually(60, || async {
        let (_, listed) = send(fila.admin(Method::GET, "/admin/dead-letters?queue=taf")).await;
        listed["deadLetters"]
            .as_array()
            .is_some_and(|d| d.len() == 1)
    })
    .await;
    assert!(buried, "the worker recorded it as a dead letter");
    let (_, listed) = send(fila.admin(Method::GET, "/admin/dead-letters?queue=taf")).await;
    let dead: &Value = &listed["deadLetters"][0];
    assert!(
        dead["reason"]
            .as_str()
            .is_some_and(|r| r.contains("RabbitMQ gave up on it") && r.contains("(3)")),
        "{dead}"
    );
    assert_eq!(dead["message"]["ids"].as_array().map(Vec::len), Some(5));
    assert_eq!(
        queue_counts(&given_up).await.0,
        0,
        "acknowledged once recorded"
    );
    assert_eq!(fila.taf_counts("T-LIMIT").await.get("pending"), Some(&5));

    let id = dead["id"].as_i64().expect("id");
    let (status, body) =
        send(fila.admin(Method::POST, &format!("/admin/dead-letters/{id}/replay"))).await;
    assert_eq!((status, body), (StatusCode::OK, json!({ "replayed": 1 })));
    assert!(fila.wait_finished("T-LIMIT", 5, 30).await);
    assert_eq!(fila.taf_counts("T-LIMIT").await.get("processed"), Some(&5));
}

#[tokio::test]
async fn a_queue_declared_with_other_arguments_is_named_and_the_others_work() {
    let mut fila = Setup::new()
        .env("AMQP_QUEUE_TYPE", "quorum")
        .processes(DEFINITIONS)
        .workers(0)
        .start()
        .await;
    let eai = format!("{}.eai", fila.prefix);
    replace_with_classic(&amqp_url(), &eai, None).await;

    fila.kill_api();
    fila.start_api().await;
    let named = fila
        .api()
        .wait_for_line("a work queue cannot be declared", 30)
        .await;
    let line = named.expect("the API names the queue it cannot declare");
    assert!(
        line.contains(&format!("queue {eai} exists with a different x-")),
        "{line}"
    );
    let worker = fila.start_worker().await;
    let consumer = fila
        .worker(worker)
        .wait_for_line(&format!("queue {eai} exists with a different x-"), 30)
        .await;
    assert!(consumer.is_some(), "the worker names it too");

    let mut results = Results::observe(&fila).await;
    fila.post_lot(&lot("T-MISMATCH", items("M", 20))).await;
    let (status, _) = fila
        .start_robusta(
            &json!({ "name": "FullName", "values": { "name": "Ana", "surname": "Lima" } }),
        )
        .await;
    assert!(status.is_success());
    assert!(fila.wait_finished("T-MISMATCH", 20, 60).await);
    assert_eq!(results.collect_runs(1, 60).await, 1);
    let (status, _) = fila
        .post_eai(&message(
            "d6e4b0c2-0000-4000-8000-00000000a002",
            "CUSTOMERVENDOR",
            "Q2",
        ))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "accepted into the outbox");
    results.close().await;
}
