//! fila-worker: consumes fila's work queues, processes each unit of work in
//! one database transaction, and publishes results through the outbox. Run
//! as many as needed; they share the queues.

mod attempts;
mod consumer;
mod context;
mod disposition;
mod eai;
mod eai_callback;
mod egress;
mod gathered;
mod handler;
mod handling;
mod http_destination;
mod lanes;
mod metrics;
mod pauses;
mod process;
mod reconciler;
mod redelivery;
mod runner;
mod scheduler;
mod sweeper;
mod tally;

use std::future::Future;
use std::sync::Arc;

use fila_shared::amqp::{Broker, ConnectorError, Topology, WorkQueue};
use fila_shared::config::Config;
use fila_shared::db::migrations::{self, MigrationError};
use fila_shared::db::{self, PoolSetupError};
use fila_shared::eai::registry::{Registry, RegistryError};
use fila_shared::metrics::Metrics;
use fila_shared::outbox::Relay;
use fila_shared::process::definition::{Catalog, DefinitionError};

use context::{Context, Outage, Pauses, Stop};
use gathered::{Gathered, Writer};

#[derive(Debug, thiserror::Error)]
pub enum WorkerStartError {
    #[error(transparent)]
    Pool(#[from] PoolSetupError),
    #[error("migrations: {0}")]
    Migrate(MigrationError),
    #[error(transparent)]
    Eai(#[from] RegistryError),
    #[error(transparent)]
    Processes(#[from] DefinitionError),
    #[error(transparent)]
    Broker(#[from] ConnectorError),
    #[error("HTTP client of destinations and runners: {0}")]
    Http(#[from] reqwest::Error),
    #[error("worker_metrics_addr {addr}: {error}")]
    Metrics {
        addr: std::net::SocketAddr,
        error: std::io::Error,
    },
}

/// How long a stopping worker waits for its relay to publish what it holds.
const RELAY_DRAIN: std::time::Duration = std::time::Duration::from_secs(10);

/// Works until `shutdown` completes, then drains in-flight messages.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WorkerStartError> {
    let name = config.worker_name();
    let eai = Registry::load(
        &config.eai_transactions,
        config.eai_transactions_file.as_deref(),
    )?;
    eai.watch();
    let processes = Catalog::load(config.processes_file.as_deref())?;
    processes.watch();
    let metrics_addr = config.worker_metrics_addr;
    let metrics_listener = tokio::net::TcpListener::bind(metrics_addr)
        .await
        .map_err(|error| WorkerStartError::Metrics {
            addr: metrics_addr,
            error,
        })?;
    let pool = db::pool(&config, "fila-worker")?;
    if config.migrate_on_start {
        migrations::apply(&config, "fila-worker")
            .await
            .map_err(WorkerStartError::Migrate)?;
    }
    let broker = Arc::new(Broker::new(
        &config,
        Topology::of(&config),
        format!("fila-worker {name}"),
    )?);
    let metrics = Metrics::new();
    let (relay, relayed) =
        Relay::spawn(pool.clone(), broker.clone(), metrics.outbox_refused.clone());
    let command_env = runner::CommandEnv::of_worker(&config.process_command_env);
    let runs = Gathered::spawn(Writer {
        pool: pool.clone(),
        relay: relay.clone(),
        worker: name.clone(),
        channel: config.database_schema.clone(),
        max_stops: config.worker_max_attempts,
    });
    let ctx = Arc::new(Context {
        config,
        pool,
        broker: broker.clone(),
        relay,
        eai,
        http: egress::client()?,
        command_env,
        processes,
        runs,
        name,
        database: Outage::default(),
        pauses: Pauses::default(),
        metrics,
    });
    tracing::info!(worker = %ctx.name, concurrency = ctx.config.worker_concurrency, prefetch = ctx.config.worker_prefetch, "fila-worker starting");

    let (stop_tx, stop) = Stop::new();
    let mut tasks = tokio::task::JoinSet::new();
    let queues = WorkQueue::with_groups(&ctx.config.worker_groups);
    for queue in &queues {
        tasks.spawn(consumer::run(ctx.clone(), queue.clone(), stop.clone()));
    }
    if let Ok(addr) = metrics_listener.local_addr() {
        tracing::info!(%addr, "metrics listening");
    }
    tasks.spawn(reconciler::run(ctx.clone(), queues.clone(), stop.clone()));
    tasks.spawn(metrics::serve(
        metrics_listener,
        ctx.clone(),
        queues,
        stop.clone(),
    ));
    tasks.spawn(sweeper::run(ctx.clone(), stop.clone()));
    tasks.spawn(pauses::run(ctx.clone(), stop.clone()));
    tasks.spawn(tally::run(ctx.clone(), stop.clone()));
    tasks.spawn(scheduler::run(ctx.clone(), stop));
    shutdown.await;
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    runner::terminations_ended().await;
    tally::flush(&ctx).await;
    let name = ctx.name.clone();
    // The last relay handle goes with the context: what the relay still
    // holds is published before the connection closes.
    drop(ctx);
    if tokio::time::timeout(RELAY_DRAIN, relayed).await.is_err() {
        tracing::warn!("outbox relay still busy at exit; the sweeper will publish the rest");
    }
    broker.close().await;
    tracing::info!(worker = %name, "fila-worker stopped");
    Ok(())
}
