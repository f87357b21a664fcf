//! What the worker's tasks share, and the stop signal they watch.

use std::collections::BTreeSet;
use std::sync::Arc;

use deadpool_postgres::Pool;
use fila_shared::amqp::Broker;
use fila_shared::config::Config;
use fila_shared::eai::registry::Registry;
use fila_shared::metrics::Metrics;
use fila_shared::outbox::Relay;
use fila_shared::process::definition::Catalog;
use tokio::sync::watch;

use crate::gathered::Gathered;
use crate::runner::CommandEnv;

pub struct Context {
    pub config: Config,
    pub pool: Pool,
    pub broker: Arc<Broker>,
    pub relay: Relay,
    /// The EAI Transactions in force, with their compiled schemas.
    pub eai: Arc<Registry>,
    /// The HTTP client of EAI destinations and http process runners.
    pub http: reqwest::Client,
    /// The environment `command` process runners get.
    pub command_env: CommandEnv,
    /// The process definitions in force.
    pub processes: Arc<Catalog>,
    /// Claims and ends of process runs, written together.
    pub runs: Gathered,
    /// This worker's name, recorded on what it processes.
    pub name: String,
    /// Whether the database was found unreachable.
    pub database: Outage,
    /// The queues an operator paused.
    pub pauses: Pauses,
    pub metrics: Metrics,
}

/// Set when a message could not be handled because the database was
/// unreachable: the consumers stop taking messages until it answers again.
pub struct Outage(watch::Sender<bool>);

impl Default for Outage {
    fn default() -> Self {
        Self(watch::Sender::new(false))
    }
}

impl Outage {
    pub fn report(&self) {
        self.0.send_replace(true);
    }

    pub fn clear(&self) {
        self.0.send_replace(false);
    }

    /// Completes once an outage is reported.
    pub async fn reported(&self) {
        let _ = self.0.subscribe().wait_for(|down| *down).await;
    }
}

/// The queues an operator paused, as last read from the store (see
/// `fila_shared::queue_pause`).
pub struct Pauses(watch::Sender<BTreeSet<String>>);

impl Default for Pauses {
    fn default() -> Self {
        Self(watch::Sender::new(BTreeSet::new()))
    }
}

impl Pauses {
    pub fn set(&self, queues: BTreeSet<String>) {
        self.0.send_if_modified(|current| {
            let changed = *current != queues;
            *current = queues;
            changed
        });
    }

    pub fn is_paused(&self, queue: &str) -> bool {
        self.0.borrow().contains(queue)
    }

    /// Completes once `queue` is paused.
    pub async fn paused(&self, queue: &str) {
        let _ = self.0.subscribe().wait_for(|q| q.contains(queue)).await;
    }

    /// Completes once `queue` is not paused.
    pub async fn resumed(&self, queue: &str) {
        let _ = self.0.subscribe().wait_for(|q| !q.contains(queue)).await;
    }
}

/// A cloneable view of the stop request.
#[derive(Clone)]
pub struct Stop(watch::Receiver<bool>);

impl Stop {
    pub fn new() -> (watch::Sender<bool>, Self) {
        let (tx, rx) = watch::channel(false);
        (tx, Self(rx))
    }

    pub fn requested(&self) -> bool {
        *self.0.borrow()
    }

    /// Completes once a stop is requested.
    pub async fn wait(&mut self) {
        // An error means the sender is gone, which also means stop.
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}
