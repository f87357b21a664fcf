//! The EAI scenarios (`eai-e2e-simple`, `eai-e2e-business`), on a fresh
//! deployment with 2 workers: producers POST lots of 1,000 CUSTOMERVENDOR
//! messages (entity store) as simpleBatch or businessTransaction; the time
//! runs from the first POST until every message's response message is
//! received from `fila.results`; latency is each message's accept →
//! processed.

use std::time::Instant;

use fila_tests::eai::message;
use fila_tests::results::Results;
use serde_json::json;

use crate::cpu::{self, Meter};
use crate::load::{
    Deploy, Endpoint, JSON, PATIENCE_SECS, api_rss, deployment, durations, post_all, worker_rss,
};
use crate::report::Figures;

const LOT: usize = 1_000;

pub async fn end_to_end(
    deploy: &Deploy,
    business: bool,
    messages: usize,
    producers: usize,
) -> Figures {
    let fila = deployment(deploy, 2).await;
    let mut results = Results::observe(&fila).await;
    let path = if business {
        "/totvseai/standardmessage/v1/transactions?batchType=businessTransaction"
    } else {
        "/totvseai/standardmessage/v1/transactions?batchType=simpleBatch"
    };
    let lots = messages.div_ceil(LOT);
    let bodies: Vec<Vec<u8>> = (0..lots)
        .map(|l| {
            let items: Vec<_> = (0..LOT)
                .map(|i| message(&format!("B{l}-{i}"), "CUSTOMERVENDOR", &format!("E{l}-{i}")))
                .collect();
            serde_json::to_vec(&json!({ "Items": items })).expect("json")
        })
        .collect();
    let total = lots * LOT;
    let meter = Meter::start(cpu::processes(&fila));
    let start = Instant::now();
    let endpoint = Endpoint {
        path,
        headers: JSON,
        refused: b"\"refused\"",
    };
    post_all(&fila, &endpoint, bodies, producers).await;
    let answered = results.collect_eai(total, PATIENCE_SECS).await;
    assert_eq!(answered, total, "every response arrives");
    let elapsed = start.elapsed();
    let spent = meter.spent();
    results.close().await;
    let mut latencies = durations(&fila, "eai_message", "accepted_at", "processed_on").await;
    let name = if business {
        "eai-e2e-business"
    } else {
        "eai-e2e-simple"
    };
    Figures::new(name, total as u64, elapsed, &mut latencies)
        .with_rss(api_rss(&fila), worker_rss(&fila))
        .with_cpu(spent)
}
