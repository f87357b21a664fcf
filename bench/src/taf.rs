//! The TAF scenarios, each on a fresh fila deployment of release binaries:
//!
//! - `taf-intake-<size>`: concurrent producers POST lots of `size` records
//!   (no worker runs); records/s accepted, latency per POST.
//! - `taf-e2e-<n>w`: with `n` workers running, producers POST lots of 1,000
//!   records; the time runs from the first POST until every record is
//!   processed and its result received from `fila.results`; latency is each
//!   record's accept → processed.
//! - `taf-status`: GET pages through one ticket; pages/s, latency per page.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fila_tests::results::Results;
use fila_tests::{Fila, Setup};
use reqwest::{Method, StatusCode};

use crate::payload::taf_lot;
use crate::report::Figures;

/// How long a scenario may take before the benchmark gives up.
const PATIENCE_SECS: u64 = 600;

/// How the scenarios' deployments are set up.
pub struct Deploy {
    /// Log filter of the fila processes.
    pub log: String,
    /// Extra `FILA_<KEY>` settings.
    pub settings: Vec<(String, String)>,
}

async fn deployment(deploy: &Deploy, workers: usize) -> Fila {
    let mut setup = Setup::new()
        .workers(workers)
        .env("LOG", &deploy.log)
        .env("SWEEP_INTERVAL_MS", 1000);
    for (key, value) in &deploy.settings {
        setup = setup.env(key, value);
    }
    setup.start().await
}

/// Serialized lots of `size` records for `ticket`, keys unique per lot.
fn bodies(ticket: &str, lots: usize, size: usize) -> Vec<Vec<u8>> {
    (0..lots)
        .map(|l| serde_json::to_vec(&taf_lot(ticket, &format!("L{l}"), size)).expect("json"))
        .collect()
}

/// POSTs every body with `producers` concurrent producers; the latency of
/// each POST.
async fn post_all(fila: &Fila, bodies: Vec<Vec<u8>>, producers: usize) -> Vec<Duration> {
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..producers {
        let bodies = bodies.clone();
        let next = next.clone();
        let request = {
            let fila_request = fila.request(Method::POST, "/rest/wstafst2");
            move || fila_request.try_clone().expect("cloneable request")
        };
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else {
                    return latencies;
                };
                let started = Instant::now();
                let response = request()
                    .header("Content-Type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .expect("post");
                assert_eq!(response.status(), StatusCode::OK);
                let answer = response.bytes().await.expect("answer");
                latencies.push(started.elapsed());
                assert!(
                    !answer.windows(15).any(|w| w == b"\"success\":false"),
                    "a record was refused"
                );
            }
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("producer"));
    }
    latencies
}

pub async fn intake(deploy: &Deploy, size: usize, lots: usize, producers: usize) -> Figures {
    let fila = deployment(deploy, 0).await;
    let bodies = bodies("BENCH-INTAKE", lots, size);
    let start = Instant::now();
    let mut latencies = post_all(&fila, bodies, producers).await;
    let elapsed = start.elapsed();
    Figures::new(
        format!("taf-intake-{size}"),
        (lots * size) as u64,
        elapsed,
        &mut latencies,
    )
    .with_rss(api_rss(&fila), None)
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
    let start = Instant::now();
    post_all(&fila, bodies, producers).await;
    let received = results.collect_taf(total, PATIENCE_SECS).await;
    assert_eq!(received, total, "every result arrives");
    assert!(
        fila.wait_finished("BENCH-E2E", total as i64, PATIENCE_SECS)
            .await
    );
    let elapsed = start.elapsed();
    results.close().await;
    let mut latencies = accept_to_processed(&fila).await;
    let worker_rss = fila
        .running_workers()
        .filter_map(|w| w.peak_rss_kib())
        .max();
    Figures::new(name, total as u64, elapsed, &mut latencies).with_rss(api_rss(&fila), worker_rss)
}

pub async fn status(deploy: &Deploy, records: usize, producers: usize) -> Figures {
    let fila = deployment(deploy, 0).await;
    let lot_size = 1_000.min(records);
    post_all(
        &fila,
        bodies("BENCH-STATUS", records.div_ceil(lot_size), lot_size),
        producers,
    )
    .await;
    let mut latencies = Vec::new();
    let mut start_rec_no = 0;
    let mut seen = 0;
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
    let pages = latencies.len();
    let mut figures = Figures::new("taf-status", seen as u64, elapsed, &mut latencies)
        .with_rss(api_rss(&fila), None);
    figures.pages_per_s = Some(pages as f64 / elapsed.as_secs_f64());
    figures
}

fn api_rss(fila: &Fila) -> Option<u64> {
    fila.api_process().and_then(|api| api.peak_rss_kib())
}

/// Every record's time from accepted to processed.
async fn accept_to_processed(fila: &Fila) -> Vec<Duration> {
    fila.db()
        .await
        .query(
            "SELECT (extract(epoch FROM finished_at - accepted_at) * 1000000)::int8
             FROM taf_record",
            &[],
        )
        .await
        .expect("latencies")
        .iter()
        .map(|row| Duration::from_micros(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0)))
        .collect()
}
