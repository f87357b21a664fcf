//! Figures of a scenario, and how they are printed (Markdown) and saved
//! (JSON). Every throughput is also given as a ratio to the `raw` floor of
//! the same run, since absolute figures drift on a shared machine.

use std::time::Duration;

use serde::Serialize;

use crate::cpu::Spent;

#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    pub name: String,
    pub records: u64,
    pub seconds: f64,
    pub records_per_s: f64,
    /// Latency of the scenario's unit (a POST, a page, accept → processed).
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Pages per second (status paging only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pages_per_s: Option<f64>,
    pub api_peak_rss_mib: Option<f64>,
    pub worker_peak_rss_mib: Option<f64>,
    /// records_per_s divided by raw's records_per_s.
    pub vs_raw: Option<f64>,
    /// CPU seconds per 10,000 records of fila's processes, PostgreSQL and
    /// RabbitMQ during the scenario.
    pub cpu_per_10k: Option<Spent>,
}

impl Figures {
    pub fn new(
        name: impl Into<String>,
        records: u64,
        elapsed: Duration,
        latencies: &mut [Duration],
    ) -> Self {
        let seconds = elapsed.as_secs_f64();
        Self {
            name: name.into(),
            records,
            seconds,
            records_per_s: records as f64 / seconds.max(f64::EPSILON),
            p50_ms: percentile_ms(latencies, 0.50),
            p99_ms: percentile_ms(latencies, 0.99),
            pages_per_s: None,
            api_peak_rss_mib: None,
            worker_peak_rss_mib: None,
            vs_raw: None,
            cpu_per_10k: None,
        }
    }

    pub fn with_rss(mut self, api_kib: Option<u64>, worker_kib: Option<u64>) -> Self {
        self.api_peak_rss_mib = api_kib.map(mib);
        self.worker_peak_rss_mib = worker_kib.map(mib);
        self
    }

    /// The CPU time `spent` during the scenario, per 10,000 of its records.
    pub fn with_cpu(mut self, spent: Spent) -> Self {
        self.cpu_per_10k = Some(spent.per_10k(self.records));
        self
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The `q` quantile of `latencies` in milliseconds (nearest rank); sorts them.
pub fn percentile_ms(latencies: &mut [Duration], q: f64) -> f64 {
    if latencies.is_empty() {
        return 0.0;
    }
    latencies.sort_unstable();
    let rank = ((q * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len());
    latencies[rank - 1].as_secs_f64() * 1000.0
}

/// Sets `vs_raw` on every scenario from the `raw` one.
pub fn compare_with_raw(all: &mut [Figures]) {
    let Some(raw) = all
        .iter()
        .find(|f| f.name == "raw")
        .map(|f| f.records_per_s)
    else {
        return;
    };
    for figures in all.iter_mut() {
        figures.vs_raw = Some(figures.records_per_s / raw);
    }
}

pub fn markdown(all: &[Figures]) -> String {
    let mut out = String::from(
        "| scenario | records | seconds | records/s | vs raw | p50 ms | p99 ms | pages/s | api peak RSS MiB | worker peak RSS MiB | CPU s/10k fila | CPU s/10k PostgreSQL | CPU s/10k RabbitMQ |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let opt =
        |v: Option<f64>, digits: usize| v.map_or("-".to_string(), |v| format!("{v:.digits$}"));
    for f in all {
        let cpu = |by: fn(&Spent) -> f64| opt(f.cpu_per_10k.as_ref().map(by), 2);
        out.push_str(&format!(
            "| {} | {} | {:.2} | {:.0} | {} | {:.1} | {:.1} | {} | {} | {} | {} | {} | {} |\n",
            f.name,
            f.records,
            f.seconds,
            f.records_per_s,
            opt(f.vs_raw, 2),
            f.p50_ms,
            f.p99_ms,
            opt(f.pages_per_s, 0),
            opt(f.api_peak_rss_mib, 1),
            opt(f.worker_peak_rss_mib, 1),
            cpu(|s| s.fila),
            cpu(|s| s.postgres),
            cpu(|s| s.rabbitmq),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile_ms(&mut v, 0.5), 50.0);
        assert_eq!(percentile_ms(&mut v, 0.99), 99.0);
        assert_eq!(percentile_ms(&mut [], 0.99), 0.0);
    }
}
