//! fila-worker: consumes fila's work queues, processes each unit of work in
//! one database transaction, and publishes results through the outbox. Run
//! as many as needed; they share the queues.

mod consumer;
mod context;
mod handler;
mod sweeper;

use std::future::Future;
use std::sync::Arc;

use fila_shared::amqp::{Broker, Topology, WorkQueue};
use fila_shared::config::Config;
use fila_shared::db::{self, PoolSetupError, StoreError, migrations};

use context::{Context, Stop};

#[derive(Debug, thiserror::Error)]
pub enum WorkerStartError {
    #[error(transparent)]
    Pool(#[from] PoolSetupError),
    #[error("migrations: {0}")]
    Migrate(StoreError),
}

/// Works until `shutdown` completes, then drains in-flight messages.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WorkerStartError> {
    let name = config.worker_name();
    let pool = db::pool(&config, "fila-worker")?;
    if config.migrate_on_start {
        migrations::apply(&pool, &config.database_schema)
            .await
            .map_err(WorkerStartError::Migrate)?;
    }
    let broker = Broker::new(
        config.amqp_url.clone(),
        Topology::new(&config.amqp_prefix),
        format!("fila-worker {name}"),
    );
    let ctx = Arc::new(Context {
        config,
        pool,
        broker,
        name,
    });
    tracing::info!(worker = %ctx.name, concurrency = ctx.config.worker_concurrency, prefetch = ctx.config.worker_prefetch, "fila-worker starting");

    let (stop_tx, stop) = Stop::new();
    let mut tasks = tokio::task::JoinSet::new();
    for queue in WorkQueue::ALL {
        tasks.spawn(consumer::run(ctx.clone(), queue, stop.clone()));
    }
    tasks.spawn(sweeper::run(ctx.clone(), stop));
    shutdown.await;
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    ctx.broker.close().await;
    tracing::info!(worker = %ctx.name, "fila-worker stopped");
    Ok(())
}
