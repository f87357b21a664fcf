//! Prometheus metrics of `fila-api` (on its HTTP port, `GET /metrics`) and
//! `fila-worker` (on `worker_metrics_addr`). Events are counted where they
//! happen; the state of the outbox, the queues and the database pool is
//! read when Prometheus scrapes ([`Metrics::render`]). Every name is
//! documented in the README (Operations: metrics).

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use deadpool_postgres::Pool;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::amqp::{Broker, WorkQueue};
use crate::process::store;
use crate::queue_pause;
use crate::tally::Tally;

pub use prometheus_client::metrics::gauge::Gauge;

/// The `protocol` label values.
pub const TAF: &str = "taf";
pub const EAI: &str = "eai";
pub const PROCESS: &str = "process";
/// EAI response messages delivered back to their origin.
pub const EAI_CALLBACK: &str = "eai_callback";

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How long a scrape waits for PostgreSQL or RabbitMQ before it answers
/// with what it has.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// The route's pattern (`/admin/dead-letters/{id}`), never the raw path.
    pub route: String,
    pub method: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IntakeLabels {
    /// `taf`, `eai` or `process`.
    pub protocol: &'static str,
    /// `accepted` or `refused`.
    pub outcome: &'static str,
    /// The protocol's code: TAF 8xx / 70x, otherwise the HTTP status;
    /// empty when accepted.
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FinishedLabels {
    pub protocol: &'static str,
    /// TAF `processed` / `error`, EAI `ok` / `error`, process `succeeded`
    /// / `failed`.
    pub status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProtocolLabels {
    pub protocol: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabels {
    pub queue: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MessageLabels {
    pub queue: String,
    /// `done`, `retried`, `dead_lettered`, `busy` or `returned`.
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    /// `in_use` or `idle`.
    pub state: &'static str,
}

fn latency_histogram() -> Histogram {
    // 1 ms to about 2 minutes.
    Histogram::new(exponential_buckets(0.001, 2.0, 18))
}

fn backlog_histogram() -> Histogram {
    // 10 ms to about 12 hours: work may wait in a backlog.
    Histogram::new(exponential_buckets(0.01, 2.0, 23))
}

/// The metrics of one process.
pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    pub intake: Family<IntakeLabels, Counter>,
    pub finished: Family<FinishedLabels, Counter>,
    pub reconciled: Family<ProtocolLabels, Counter>,
    pub messages: Family<MessageLabels, Counter>,
    pub processing: Family<QueueLabels, Histogram, fn() -> Histogram>,
    pub work_latency: Family<QueueLabels, Histogram, fn() -> Histogram>,
    pub in_flight: Family<QueueLabels, Gauge>,
    /// Outbox rows the broker refused or did not confirm in time.
    pub outbox_refused: Counter,
    outbox_rows: Gauge,
    outbox_held: Gauge,
    outbox_oldest: Gauge<f64, AtomicU64>,
    queue_messages: Family<QueueLabels, Gauge>,
    queue_consumers: Family<QueueLabels, Gauge>,
    queue_paused: Family<QueueLabels, Gauge>,
    schedules_due: Gauge,
    pool_connections: Family<PoolLabels, Gauge>,
    pool_max: Gauge,
    broker_channels: Gauge,
    broker_channel_max: Gauge,
    /// Finished items not yet added to the database's tally.
    pub tally: Tally,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let http_requests = Family::default();
        registry.register(
            "fila_http_requests",
            "HTTP requests answered, by route pattern, method and status",
            http_requests.clone(),
        );
        let http_duration = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "fila_http_request_duration_seconds",
            "Time to answer an HTTP request, by route pattern",
            http_duration.clone(),
        );
        let intake = Family::default();
        registry.register(
            "fila_intake_items",
            "Items (TAF records, EAI messages, process runs) accepted or refused at intake, by protocol and code",
            intake.clone(),
        );
        let finished = Family::default();
        registry.register(
            "fila_items_finished",
            "Items finished by the workers, by protocol and final status",
            finished.clone(),
        );
        let reconciled = Family::default();
        registry.register(
            "fila_reconciled_items",
            "Open items whose work message was gone, queued again by the reconciler, by protocol",
            reconciled.clone(),
        );
        let messages = Family::default();
        registry.register(
            "fila_queue_messages_handled",
            "Work queue messages handled by this worker, by queue and outcome",
            messages.clone(),
        );
        let processing = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "fila_message_processing_seconds",
            "Time to process one work queue message, by queue",
            processing.clone(),
        );
        let work_latency = Family::new_with_constructor(backlog_histogram as fn() -> Histogram);
        registry.register(
            "fila_work_latency_seconds",
            "End to end: from the commit that accepted a work message's work to the end of its processing, by queue",
            work_latency.clone(),
        );
        let in_flight = Family::default();
        registry.register(
            "fila_messages_in_flight",
            "Work queue messages being processed by this worker, by queue",
            in_flight.clone(),
        );
        let outbox_refused = Counter::default();
        registry.register(
            "fila_outbox_refused",
            "Outbox rows the broker refused (nack, no queue bound) or did not confirm in time, each try counted",
            outbox_refused.clone(),
        );
        let outbox_rows = Gauge::default();
        registry.register(
            "fila_outbox_rows",
            "Messages committed and not yet published (the outbox backlog)",
            outbox_rows.clone(),
        );
        let outbox_held = Gauge::default();
        registry.register(
            "fila_outbox_held_rows",
            "Outbox rows the broker refused or did not confirm, waiting for their next attempt",
            outbox_held.clone(),
        );
        let outbox_oldest = Gauge::default();
        registry.register(
            "fila_outbox_oldest_age_seconds",
            "Age of the oldest unpublished outbox row (0 when none)",
            outbox_oldest.clone(),
        );
        let queue_messages = Family::default();
        registry.register(
            "fila_queue_depth",
            "Messages ready in a work queue, as RabbitMQ reports them",
            queue_messages.clone(),
        );
        let queue_consumers = Family::default();
        registry.register(
            "fila_queue_consumers",
            "Consumers of a work queue, as RabbitMQ reports them",
            queue_consumers.clone(),
        );
        let queue_paused = Family::default();
        registry.register(
            "fila_queue_paused",
            "1 while an operator has paused the consumption of a work queue",
            queue_paused.clone(),
        );
        let schedules_due = Gauge::default();
        registry.register(
            "fila_schedules_due",
            "Active process schedules whose fire is due and not made yet",
            schedules_due.clone(),
        );
        let pool_connections = Family::default();
        registry.register(
            "fila_db_pool_connections",
            "PostgreSQL connections of this process's pool, by state",
            pool_connections.clone(),
        );
        let pool_max = Gauge::default();
        registry.register(
            "fila_db_pool_max_connections",
            "Size limit of this process's PostgreSQL pool",
            pool_max.clone(),
        );
        let broker_channels = Gauge::default();
        registry.register(
            "fila_broker_channels",
            "AMQP channels this process has open (publishing, consumers, queue readings)",
            broker_channels.clone(),
        );
        let broker_channel_max = Gauge::default();
        registry.register(
            "fila_broker_channel_max",
            "Most AMQP channels the broker lets one of this process's connections open",
            broker_channel_max.clone(),
        );
        Self {
            registry,
            http_requests,
            http_duration,
            intake,
            finished,
            reconciled,
            messages,
            processing,
            work_latency,
            in_flight,
            outbox_refused,
            outbox_rows,
            outbox_held,
            outbox_oldest,
            queue_messages,
            queue_consumers,
            queue_paused,
            schedules_due,
            pool_connections,
            pool_max,
            broker_channels,
            broker_channel_max,
            tally: Tally::default(),
        }
    }

    /// Counts `count` items of `protocol` accepted or refused with `code`.
    pub fn count_intake(&self, protocol: &'static str, code: Option<String>, count: u64) {
        let labels = IntakeLabels {
            protocol,
            outcome: if code.is_some() {
                "refused"
            } else {
                "accepted"
            },
            code: code.unwrap_or_default(),
        };
        self.intake.get_or_create(&labels).inc_by(count);
    }

    /// Counts `count` items of `protocol` finished with `status`, here
    /// and in the tally (see `crate::tally`).
    pub fn count_finished(&self, protocol: &'static str, status: &'static str, count: u64) {
        if count > 0 {
            self.finished
                .get_or_create(&FinishedLabels { protocol, status })
                .inc_by(count);
            self.tally.add(protocol, status, count);
        }
    }

    /// Reads the state of the outbox, of `queues` and of the pool, then
    /// renders every metric. A dependency that does not answer within
    /// [`SCRAPE_TIMEOUT`] leaves its metrics as the last scrape saw them.
    pub async fn render(&self, pool: &Pool, broker: &Broker, queues: &[WorkQueue]) -> String {
        let status = pool.status();
        self.pool_max.set(status.max_size as i64);
        let in_use = status.size.saturating_sub(status.available);
        self.pool_connections
            .get_or_create(&PoolLabels { state: "in_use" })
            .set(in_use as i64);
        self.pool_connections
            .get_or_create(&PoolLabels { state: "idle" })
            .set(status.available as i64);
        match tokio::time::timeout(SCRAPE_TIMEOUT, queue_pause::paused(pool)).await {
            Ok(Ok(paused)) => {
                for queue in queues {
                    let key = queue.key();
                    let flag = i64::from(paused.contains_key(&key));
                    self.queue_paused
                        .get_or_create(&QueueLabels { queue: key })
                        .set(flag);
                }
            }
            Ok(Err(e)) => tracing::debug!(error = %e, "metrics: paused queues not read"),
            Err(_) => tracing::debug!("metrics: paused queues not read in time"),
        }
        match tokio::time::timeout(SCRAPE_TIMEOUT, store::schedules_due(pool)).await {
            Ok(Ok(due)) => {
                self.schedules_due.set(due);
            }
            Ok(Err(e)) => tracing::debug!(error = %e, "metrics: schedules not read"),
            Err(_) => tracing::debug!("metrics: schedules not read in time"),
        }
        match tokio::time::timeout(SCRAPE_TIMEOUT, crate::outbox::backlog(pool)).await {
            Ok(Ok(backlog)) => {
                self.outbox_rows.set(backlog.rows);
                self.outbox_held.set(backlog.held);
                self.outbox_oldest.set(backlog.oldest_age_secs);
            }
            Ok(Err(e)) => tracing::debug!(error = %e, "metrics: outbox not read"),
            Err(_) => tracing::debug!("metrics: outbox not read in time"),
        }
        if tokio::time::timeout(SCRAPE_TIMEOUT, self.read_queues(broker, queues))
            .await
            .is_err()
        {
            tracing::debug!("metrics: queues not read in time");
        }
        // After the queue readings, which close their channels (unless one
        // timed out: its channel is closed when the reading is dropped).
        match tokio::time::timeout(SCRAPE_TIMEOUT, broker.channel_use()).await {
            Ok(channels) => {
                self.broker_channels.set(channels.open as i64);
                self.broker_channel_max.set(i64::from(channels.max));
            }
            Err(_) => tracing::debug!("metrics: broker channels not read in time"),
        }
        let mut text = String::new();
        if let Err(e) = encode(&mut text, &self.registry) {
            tracing::warn!(error = %e, "metrics could not be encoded");
        }
        text
    }

    async fn read_queues(&self, broker: &Broker, queues: &[WorkQueue]) {
        for queue in queues {
            match broker.queue_counts(queue).await {
                Ok(counts) => {
                    let labels = QueueLabels { queue: queue.key() };
                    self.queue_messages
                        .get_or_create(&labels)
                        .set(i64::from(counts.ready));
                    self.queue_consumers
                        .get_or_create(&labels)
                        .set(i64::from(counts.consumers));
                }
                Err(e) => {
                    tracing::debug!(queue = %queue.key(), error = %e, "metrics: queue not read")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The series names fila exports: each family's name with the
    /// suffixes of its type (a family shows once it has a series).
    fn exported() -> Vec<String> {
        let metrics = Metrics::new();
        let queue = QueueLabels {
            queue: "taf".into(),
        };
        let route = RouteLabels { route: "/".into() };
        metrics
            .http_requests
            .get_or_create(&HttpLabels {
                route: "/".into(),
                method: "GET".into(),
                status: 200,
            })
            .inc();
        metrics.http_duration.get_or_create(&route).observe(0.1);
        metrics.count_intake(TAF, None, 1);
        metrics.count_finished(TAF, "processed", 1);
        metrics
            .messages
            .get_or_create(&MessageLabels {
                queue: "taf".into(),
                outcome: "done",
            })
            .inc();
        metrics.processing.get_or_create(&queue).observe(0.1);
        metrics.work_latency.get_or_create(&queue).observe(0.1);
        for gauges in [
            &metrics.in_flight,
            &metrics.queue_messages,
            &metrics.queue_consumers,
            &metrics.queue_paused,
        ] {
            gauges.get_or_create(&queue).set(1);
        }
        metrics
            .pool_connections
            .get_or_create(&PoolLabels { state: "idle" })
            .set(1);
        let mut text = String::new();
        encode(&mut text, &metrics.registry).expect("encodes");
        text.lines()
            .filter_map(|line| line.strip_prefix("# TYPE "))
            .flat_map(|line| {
                let (name, kind) = line.split_once(' ').unwrap_or((line, ""));
                let suffixes: &[&str] = match kind {
                    "counter" => &["_total"],
                    "histogram" => &["_bucket", "_count", "_sum"],
                    _ => &[""],
                };
                suffixes.iter().map(move |s| format!("{name}{s}"))
            })
            .collect()
    }

    /// Every `fila_…` name a text uses.
    fn used(text: &str) -> Vec<String> {
        text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|word| word.starts_with("fila_"))
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn the_dashboard_and_the_alerts_use_only_exported_metrics() {
        let exported = exported();
        for (file, text) in [
            (
                "deploy/grafana/fila.json",
                include_str!("../../deploy/grafana/fila.json"),
            ),
            (
                "deploy/prometheus/alerts.yml",
                include_str!("../../deploy/prometheus/alerts.yml"),
            ),
        ] {
            let names = used(text);
            assert!(!names.is_empty(), "{file} uses no metric");
            for name in names {
                assert!(exported.contains(&name), "{file}: {name} is not exported");
            }
        }
    }

    #[test]
    fn intake_is_counted_by_outcome() {
        let metrics = Metrics::new();
        metrics.count_intake(TAF, None, 2);
        metrics.count_intake(TAF, Some("805".into()), 1);
        metrics.count_finished(EAI, "ok", 0);
        let mut text = String::new();
        encode(&mut text, &metrics.registry).expect("encodes");
        assert!(text.contains(
            "fila_intake_items_total{protocol=\"taf\",outcome=\"accepted\",code=\"\"} 2"
        ));
        assert!(text.contains(
            "fila_intake_items_total{protocol=\"taf\",outcome=\"refused\",code=\"805\"} 1"
        ));
        assert!(
            !text.contains("protocol=\"eai\""),
            "nothing finished, nothing shown"
        );
    }
}
