//! The EAI scenarios (`eai-e2e-simple`, `eai-e2e-business`), on a fresh
//! deployment with 2 workers: producers POST lots of 1,000 CUSTOMERVENDOR
//! messages (entity store) as simpleBatch or businessTransaction; the time
//! runs from the first POST until every message's response message is
//! received from `fila.results`; latency is each message's accept →
//! processed.

use std::time::{Duration, Instant};

use fila_tests::Fila;
use fila_tests::eai::message;
use fila_tests::results::Results;
use serde_json::json;

use crate::load::{Deploy, PATIENCE_SECS, api_rss, deployment, post_all};
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
    let batch_type = if business {
        "businessTransaction"
    } else {
        "simpleBatch"
    };
    let path = format!("/totvseai/standardmessage/v1/transactions?batchType={batch_type}");
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
    let start = Instant::now();
    post_all(&fila, (&path, b"\"refused\""), bodies, producers).await;
    let answered = results.collect_eai(total, PATIENCE_SECS).await;
    assert_eq!(answered, total, "every response arrives");
    let elapsed = start.elapsed();
    results.close().await;
    let mut latencies = accept_to_processed(&fila).await;
    let worker_rss = fila
        .running_workers()
        .filter_map(|w| w.peak_rss_kib())
        .max();
    let name = if business {
        "eai-e2e-business"
    } else {
        "eai-e2e-simple"
    };
    Figures::new(name, total as u64, elapsed, &mut latencies).with_rss(api_rss(&fila), worker_rss)
}

/// Every message's time from accepted to processed.
async fn accept_to_processed(fila: &Fila) -> Vec<Duration> {
    fila.db()
        .await
        .query(
            "SELECT (extract(epoch FROM processed_on - accepted_at) * 1000000)::int8
             FROM eai_message",
            &[],
        )
        .await
        .expect("latencies")
        .iter()
        .map(|row| Duration::from_micros(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0)))
        .collect()
}
