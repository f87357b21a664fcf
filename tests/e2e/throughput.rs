//! The overview's figures of throughput: the queues' publish and deliver
//! rates from RabbitMQ's management API, and the items finished in the
//! last hour from the workers' tally.

use fila_tests::eai::message;
use fila_tests::fila::send;
use fila_tests::runs::DEFINITIONS;
use fila_tests::taf::{admissao_xml, b64, item, item_with, lot};
use fila_tests::{Fila, Setup};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const MANAGEMENT: &str = "http://127.0.0.1:15672";

async fn overview(fila: &Fila) -> Value {
    let (status, overview) = send(fila.reader(Method::GET, "/ops/overview")).await;
    assert_eq!(status, StatusCode::OK, "{overview}");
    overview
}

fn queue<'a>(overview: &'a Value, name: &str) -> &'a Value {
    overview["queues"]
        .as_array()
        .and_then(|queues| queues.iter().find(|q| q["queue"] == name))
        .unwrap_or_else(|| panic!("queue {name} in {overview}"))
}

#[tokio::test]
async fn the_overview_counts_finished_items_and_reads_the_queue_rates() {
    let fila = Setup::new()
        .processes(DEFINITIONS)
        .env("AMQP_MANAGEMENT_URL", MANAGEMENT)
        .start()
        .await;
    let wrong = item_with("E1", json!({ "integrationMessage": b64(&admissao_xml()) }));
    let (status, _) = fila
        .post_lot(&lot("T-RATES", vec![item("OK1"), item("OK2"), wrong]))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = fila
        .post_eai(&message(
            "d6e4b0c2-0000-4000-8000-0000000000b1",
            "CUSTOMERVENDOR",
            "C1",
        ))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, started) = fila
        .start_robusta(&json!({ "name": "OneStepNotepadRunner",
                                "values": { "username": "Ana", "surname": "Lima" } }))
        .await;
    assert_eq!(status, StatusCode::OK, "{started}");

    let fila = &fila;
    // Each worker adds what it finished every 5 s.
    let tallied = fila_tests::eventually(30, || async move {
        let seen = overview(fila).await;
        seen["taf"]["processedLastHour"] == 2
            && seen["eai"]["okLastHour"] == 1
            && seen["process"]["succeededLastHour"] == 1
    })
    .await;
    let seen = overview(fila).await;
    assert!(tallied, "{seen}");
    assert_eq!(seen["taf"]["errorsLastHour"], json!({ "000002": 1 }));
    assert!(queue(&seen, "eai")["deliverRate"].is_f64(), "{seen}");

    // RabbitMQ compares samples taken every 5 s: a steady flow of lots
    // shows as rates above 0.
    let mut lots = 0;
    let flowing = fila_tests::eventually(40, || {
        lots += 1;
        let ticket = format!("T-FLOW-{lots}");
        async move {
            let (status, _) = fila.post_lot(&lot(&ticket, vec![item("F1")])).await;
            assert_eq!(status, StatusCode::OK);
            let taf = queue(&overview(fila).await, "taf").clone();
            taf["publishRate"].as_f64().is_some_and(|rate| rate > 0.0)
                && taf["deliverRate"].as_f64().is_some_and(|rate| rate > 0.0)
        }
    })
    .await;
    let seen = overview(fila).await;
    assert!(flowing, "after {lots} lots: {seen}");
}

#[tokio::test]
async fn without_the_management_api_the_rates_are_null() {
    for management in [None, Some("http://127.0.0.1:1")] {
        let mut setup = Setup::new();
        if let Some(url) = management {
            setup = setup.env("AMQP_MANAGEMENT_URL", url);
        }
        let fila = setup.start().await;
        let seen = overview(&fila).await;
        let taf = queue(&seen, "taf");
        assert_eq!(taf["publishRate"], Value::Null, "{management:?}: {seen}");
        assert_eq!(taf["deliverRate"], Value::Null, "{management:?}: {seen}");
        assert_eq!(taf["consumers"], 1, "{seen}");
        assert_eq!(seen["taf"]["processedLastHour"], 0, "{seen}");
    }
}
