//! The process scenarios, on a fresh deployment with 2 workers; the process
//! is GlbCopyPermisUsrProc (it answers its parameters), called with seed
//! 000's ExecuteWithXmlParamsAsync envelope and its 14 parameters:
//!
//! - `process-async`: producers call ExecuteWithXmlParamsAsync; the time
//!   runs from the first call until every run's result is received from
//!   `fila.results`; jobs/s, latency of each run from accepted to finished;
//! - `process-sync`: producers call ExecuteWithXmlParams, which answers once
//!   the run finished; calls/s, latency per call.

use std::time::Instant;

use fila_tests::results::Results;
use fila_tests::runs::fixture;

use crate::cpu::{self, Meter};
use crate::load::{
    Deploy, Endpoint, PATIENCE_SECS, api_rss, deployment, durations, post_all, worker_rss,
};
use crate::report::Figures;

const ASYNC: Endpoint = Endpoint {
    path: "/wsProcess/IwsProcess",
    headers: &[
        ("Content-Type", "text/xml; charset=utf-8"),
        (
            "SOAPAction",
            "\"http://www.totvs.com/IwsProcess/ExecuteWithXmlParamsAsync\"",
        ),
    ],
    refused: b"<s:Fault>",
};

const SYNC: Endpoint = Endpoint {
    path: "/wsProcess/IwsProcess",
    headers: &[
        ("Content-Type", "text/xml; charset=utf-8"),
        (
            "SOAPAction",
            "\"http://www.totvs.com/IwsProcess/ExecuteWithXmlParams\"",
        ),
    ],
    refused: b"<s:Fault>",
};

/// The seed's asynchronous envelope; the same as a synchronous call.
fn envelope(sync: bool) -> Vec<u8> {
    let asynchronous = fixture("wsprocess_execute_async.xml");
    let text = if sync {
        asynchronous.replace("ExecuteWithXmlParamsAsync", "ExecuteWithXmlParams")
    } else {
        asynchronous
    };
    text.into_bytes()
}

pub async fn asynchronous(deploy: &Deploy, jobs: usize, producers: usize) -> Figures {
    let fila = deployment(deploy, 2).await;
    let mut results = Results::observe(&fila).await;
    let bodies = vec![envelope(false); jobs];
    let meter = Meter::start(cpu::processes(&fila));
    let start = Instant::now();
    post_all(&fila, &ASYNC, bodies, producers).await;
    let received = results
        .collect_routed("process.", jobs, PATIENCE_SECS)
        .await;
    assert_eq!(received.len(), jobs, "every result arrives");
    let elapsed = start.elapsed();
    let spent = meter.spent();
    results.close().await;
    let mut latencies = durations(&fila, "process_execution", "created_at", "finished_at").await;
    Figures::new("process-async", jobs as u64, elapsed, &mut latencies)
        .with_rss(api_rss(&fila), worker_rss(&fila))
        .with_cpu(spent)
}

pub async fn synchronous(deploy: &Deploy, calls: usize, producers: usize) -> Figures {
    let fila = deployment(deploy, 2).await;
    let bodies = vec![envelope(true); calls];
    let meter = Meter::start(cpu::processes(&fila));
    let start = Instant::now();
    let mut latencies = post_all(&fila, &SYNC, bodies, producers).await;
    let elapsed = start.elapsed();
    let spent = meter.spent();
    Figures::new("process-sync", calls as u64, elapsed, &mut latencies)
        .with_rss(api_rss(&fila), worker_rss(&fila))
        .with_cpu(spent)
}
