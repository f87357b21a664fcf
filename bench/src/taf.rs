//! The TAF scenarios, each on a fresh fila deployment of release binaries:
//!
//! - `taf-intake-<size>`: concurrent producers POST lots of `size` records
//!   (no worker runs); records/s accepted, latency per POST.
//! - `taf-e2e-<n>w`: with `n` workers running, producers POST lots of 1,000
//!   records; the time runs from the first POST until every record is
//!   processed and its result received from `fila.results`; latency is each
//!   record's accept → processed.
//! - `taf-status`: GET pages through one ticket; pages/s, latency per page.

use std::time::Instant;

use fila_tests::results::Results;
use reqwest::StatusCode;

use crate::cpu::{self, Meter};
use crate::load::{
    Deploy, Endpoint, JSON, PATIENCE_SECS, api_rss, deployment, durations, post_all, worker_rss,
};
use crate::payload::taf_lot;
use crate::report::Figures;

/// The TAF endpoint, and what marks a refused record in its answer.
const TAF: Endpoint = Endpoint {
    path: "/rest/wstafst2",
    headers: JSON,
    refused: b"\"success\":false",
};

/// Serialized lots of `size` records for `ticket`, keys unique per lot.
fn bodies(ticket: &str, lots: usize, size: usize) -> Vec<Vec<u8>> {
    (0..lots)
        .map(|l| serde_json::to_vec(&taf_lot(ticket, &format!("L{l}"), size)).expect("json"))
        .collect()
}

pub async fn intake(deploy: &Deploy, size: usize, lots: usize, producers: usize) -> Figures {
    let fila = deployment(deploy, 0).await;
    let bodies = bodies("BENCH-INTAKE", lots, size);
    let meter = Meter::start(cpu::processes(&fila));
    let start = Instant::now();
    let mut latencies = post_all(&fila, &TAF, bodies, producers).await;
    let elapsed = start.elapsed();
    let spent = meter.spent();
    Figures::new(
        format!("taf-intake-{size}"),
        (lots * size) as u64,
        elapsed,
        &mut latencies,
    )
    .with_rss(api_rss(&fila), None)
    .with_cpu(spent)
}

pub async fn end_to_end(
    deploy: &Deploy,
    name: &str,
    workers: usize,
    records: usize,
    producers: usize,
) -> Figures {
    let fila = deployment(deploy, workers).await;
    let mut results = Results::observe(&fila).await;
    let lot_size = 1_000.min(records);
    let bodies = bodies("BENCH-E2E", records.div_ceil(lot_size), lot_size);
    let total = bodies.len() * lot_size;
    let meter = Meter::start(cpu::processes(&fila));
    let start = Instant::now();
    post_all(&fila, &TAF, bodies, producers).await;
    let received = results.collect_taf(total, PATIENCE_SECS).await;
    assert_eq!(received, total, "every result arrives");
    assert!(
        fila.wait_finished("BENCH-E2E", total as i64, PATIENCE_SECS)
            .await
    );
    let elapsed = start.elapsed();
    let spent = meter.spent();
    results.close().await;
    let mut latencies = durations(&fila, "taf_record", "accepted_at", "finished_at").await;
    Figures::new(name, total as u64, elapsed, &mut latencies)
        .with_rss(api_rss(&fila), worker_rss(&fila))
        .with_cpu(spent)
}

pub async fn status(deploy: &Deploy, records: usize, producers: usize) -> Figures {
    let fila = deployment(deploy, 0).await;
    let lot_size = 1_000.min(records);
    post_all(
        &fila,
        &TAF,
        bodies("BENCH-STATUS", records.div_ceil(lot_size), lot_size),
        producers,
    )
    .await;
    let mut latencies = Vec::new();
    let mut start_rec_no = 0;
    let mut seen = 0;
    let meter = Meter::start(cpu::processes(&fila));
    let start = Instant::now();
    loop {
        let started = Instant::now();
        let (status, page) = fila
            .get_status(&format!(
                "ticketCode=BENCH-STATUS&startRecNo={start_rec_no}"
            ))
            .await;
        latencies.push(started.elapsed());
        assert_eq!(status, StatusCode::OK);
        seen += page["items"].as_array().map_or(0, Vec::len);
        if page["lastRecNo"] == page["maxRecNo"] {
            break;
        }
        start_rec_no = page["lastRecNo"].as_i64().expect("lastRecNo") + 1;
    }
    let elapsed = start.elapsed();
    let spent = meter.spent();
    let pages = latencies.len();
    let mut figures = Figures::new("taf-status", seen as u64, elapsed, &mut latencies)
        .with_rss(api_rss(&fila), None)
        .with_cpu(spent);
    figures.pages_per_s = Some(pages as f64 / elapsed.as_secs_f64());
    figures
}
