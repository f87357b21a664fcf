//! The outbox against a broker that refuses some messages: the refused row
//! waits with a backoff while the rows around it are published once, and
//! is published once the broker takes it again. Result messages carry
//! UUIDs as their `message_id`.

use fila_tests::Setup;
use fila_tests::eai::message;
use fila_tests::prometheus::sample;
use fila_tests::rabbitmq::Policy;
use fila_tests::results::Results;
use fila_tests::taf::{items, lot};
use reqwest::{Method, StatusCode};

#[tokio::test]
async fn a_row_the_broker_refuses_waits_while_the_rows_around_it_go() {
    let mut fila = Setup::new().start().await;
    let mut results = Results::observe(&fila).await;
    let metrics = fila.worker_metrics_url(0).await;
    // The EAI queue refuses every message (nack), as a full queue with
    // `reject-publish` does.
    let full = Policy::on_queue(
        &format!("{}.eai", fila.prefix),
        r#"{"max-length":0,"overflow":"reject-publish"}"#,
    )
    .await;
    let uuid = "d6e4b0c2-0000-4000-8000-00000000b0c5";
    let (status, answer) = fila
        .post_eai(&message(uuid, "CUSTOMERVENDOR", "REFUSED1"))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    for batch in 0..3 {
        let (status, answer) = fila
            .post_lot(&lot("T-AROUND", items(&format!("A{batch}"), 100)))
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    assert!(fila.wait_finished("T-AROUND", 300, 60).await);
    assert_eq!(results.collect_taf(300, 60).await, 300);

    let db = fila.db().await;
    let held = fila_tests::eventually(30, || async {
        let rows = db
            .query(
                "SELECT routing_key, attempts, last_error FROM outbox WHERE target = 'work'",
                &[],
            )
            .await
            .expect("outbox");
        rows.len() == 1
            && rows[0].get::<_, String>("routing_key") == "eai"
            && rows[0].get::<_, i32>("attempts") >= 2
            && rows[0]
                .get::<_, Option<String>>("last_error")
                .is_some_and(|e| e.contains("nack"))
    })
    .await;
    assert!(
        held,
        "only the refused row is left, tried again with its error"
    );
    let text = fila.http().get(&metrics).send().await.expect("scrape");
    let text = text.text().await.expect("text");
    assert_eq!(
        sample(
            &text,
            "fila_queue_messages_handled_total{queue=\"taf\",outcome=\"done\"}"
        ),
        Some(3.0),
        "each TAF work message was published once:\n{text}"
    );
    assert!(sample(&text, "fila_outbox_held_rows").is_some_and(|n| n >= 1.0));
    let api_text = fila.metrics_text().await;
    assert!(
        sample(&api_text, "fila_outbox_refused_total").is_some_and(|n| n >= 1.0),
        "{api_text}"
    );
    let (_, overview) = fila_tests::fila::send(fila.reader(Method::GET, "/ops/overview")).await;
    assert_eq!(overview["outbox"]["held"], 1, "{overview}");

    // The broker takes the message again: it goes, within its backoff.
    drop(full);
    assert_eq!(results.collect_eai(1, 60).await, 1);
    let drained = fila_tests::eventually(30, || async {
        db.query_one("SELECT count(*) FROM outbox", &[])
            .await
            .is_ok_and(|row| row.get::<_, i64>(0) == 0)
    })
    .await;
    assert!(drained, "the outbox empties");
    let status: String = db
        .query_one("SELECT status FROM eai_message WHERE uuid = $1", &[&uuid])
        .await
        .expect("message")
        .get(0);
    assert_eq!(status, "ok");
    assert!(results.taf_records().values().all(|r| r.once()));
    assert!(results.eai_responses().values().all(|r| r.once()));
    for received in &results.received {
        assert!(
            uuid_shaped(&received.message_id),
            "message_id {} is a UUID",
            received.message_id
        );
    }
    results.close().await;
}

fn uuid_shaped(id: &str) -> bool {
    id.len() == 36
        && id.chars().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}
