//! What every scenario does: start a fila deployment, and load it with
//! concurrent producers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fila_tests::{Fila, Setup};
use reqwest::Method;

/// How long a scenario may take before the benchmark gives up.
pub const PATIENCE_SECS: u64 = 600;

/// How the scenarios' deployments are set up.
#[derive(Clone)]
pub struct Deploy {
    /// Log filter of the fila processes.
    pub log: String,
    /// Extra `FILA_<KEY>` settings.
    pub settings: Vec<(String, String)>,
    /// Another RabbitMQ than the local node: the URL the processes use,
    /// and one node's for the harness.
    pub broker: Option<(String, String)>,
}

impl Deploy {
    /// The same deployments on the local cluster's RabbitMQ
    /// (`deploy/local/cluster.sh`), with quorum queues.
    pub fn on_cluster(&self, cluster: &fila_tests::cluster::Cluster) -> Self {
        let mut deploy = self.clone();
        deploy.broker = Some((cluster.amqp_url(), cluster.rabbit_url(1)));
        deploy
            .settings
            .push(("AMQP_QUEUE_TYPE".into(), "quorum".into()));
        deploy
    }
}

pub async fn deployment(deploy: &Deploy, workers: usize) -> Fila {
    let mut setup = Setup::new()
        .processes(fila_tests::runs::DEFINITIONS)
        .workers(workers)
        .env("LOG", &deploy.log)
        .env("SWEEP_INTERVAL_MS", 1000);
    if let Some((url, node)) = &deploy.broker {
        setup = setup.broker_server(url.clone(), node.clone());
    }
    for (key, value) in &deploy.settings {
        setup = setup.env(key, value);
    }
    setup.start().await
}

/// Where producers POST.
pub struct Endpoint {
    pub path: &'static str,
    pub headers: &'static [(&'static str, &'static str)],
    /// The protocol's mark of a refused item in a 2xx answer: it stops the
    /// benchmark.
    pub refused: &'static [u8],
}

pub const JSON: &[(&str, &str)] = &[("Content-Type", "application/json")];

/// POSTs every body to the endpoint with `producers` concurrent producers;
/// the latency of each POST. An answer that is not 2xx, or that holds the
/// endpoint's mark of a refused item, stops the benchmark.
pub async fn post_all(
    fila: &Fila,
    endpoint: &Endpoint,
    bodies: Vec<Vec<u8>>,
    producers: usize,
) -> Vec<Duration> {
    let refused = endpoint.refused;
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..producers {
        let bodies = bodies.clone();
        let next = next.clone();
        let request = {
            let mut fila_request = fila.request(Method::POST, endpoint.path);
            for (name, value) in endpoint.headers {
                fila_request = fila_request.header(*name, *value);
            }
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
                let response = request().body(body.clone()).send().await.expect("post");
                assert!(response.status().is_success(), "{}", response.status());
                let answer = response.bytes().await.expect("answer");
                latencies.push(started.elapsed());
                assert!(
                    !answer.windows(refused.len()).any(|w| w == refused),
                    "an item was refused"
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

pub fn api_rss(fila: &Fila) -> Option<u64> {
    fila.api_process().and_then(|api| api.peak_rss_kib())
}

/// The largest peak RSS of the running workers.
pub fn worker_rss(fila: &Fila) -> Option<u64> {
    fila.running_workers()
        .filter_map(|w| w.peak_rss_kib())
        .max()
}

/// Every row's time from column `from` to column `to` of `table`.
pub async fn durations(fila: &Fila, table: &str, from: &str, to: &str) -> Vec<Duration> {
    let sql = format!("SELECT (extract(epoch FROM {to} - {from}) * 1000000)::int8 FROM {table}");
    fila.db()
        .await
        .query(&sql, &[])
        .await
        .expect("latencies")
        .iter()
        .map(|row| Duration::from_micros(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0)))
        .collect()
}
