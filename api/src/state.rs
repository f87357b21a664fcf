//! What every request handler shares.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use deadpool_postgres::Pool;
use fila_shared::amqp::Broker;
use fila_shared::amqp::management::Management;
use fila_shared::config::Config;
use fila_shared::db::listen::Waiters;
use fila_shared::db::{StoreError, migrations};
use fila_shared::eai::registry::Registry;
use fila_shared::metrics::Metrics;
use fila_shared::outbox::Relay;
use fila_shared::process::definition::Catalog;

use crate::auth::Users;
use crate::backpressure::Backpressure;
use crate::process::Submitter;

pub type SharedState = Arc<AppState>;

pub struct AppState {
    pub config: Config,
    pub pool: Pool,
    pub broker: Arc<Broker>,
    pub relay: Relay,
    pub users: Users,
    /// The EAI Transactions in force, with their compiled schemas.
    pub eai: Arc<Registry>,
    /// The process definitions in force.
    pub processes: Arc<Catalog>,
    /// Stores the jobs of concurrent calls together.
    pub submitter: Submitter,
    /// Producers waiting for synchronous work.
    pub waiters: Waiters,
    pub metrics: Metrics,
    pub backpressure: Arc<Backpressure>,
    /// RabbitMQ's management API, when configured.
    pub management: Option<Management>,
    schema_current: AtomicBool,
}

/// What the state is made of, besides the configuration.
pub struct Parts {
    pub pool: Pool,
    pub broker: Arc<Broker>,
    pub relay: Relay,
    pub eai: Arc<Registry>,
    pub processes: Arc<Catalog>,
    pub waiters: Waiters,
    pub backpressure: Arc<Backpressure>,
    pub management: Option<Management>,
    pub metrics: Metrics,
}

impl AppState {
    pub fn new(config: Config, parts: Parts) -> Self {
        let users = Users::new(
            &config.users,
            config.login_max_failures,
            std::time::Duration::from_secs(config.login_failure_window_secs),
        );
        let submitter = Submitter::spawn(parts.pool.clone(), parts.relay.clone());
        Self {
            config,
            pool: parts.pool,
            broker: parts.broker,
            relay: parts.relay,
            users,
            eai: parts.eai,
            submitter,
            processes: parts.processes,
            waiters: parts.waiters,
            metrics: parts.metrics,
            backpressure: parts.backpressure,
            management: parts.management,
            schema_current: AtomicBool::new(false),
        }
    }

    /// Whether the database schema is at least this build's. Checked until
    /// it is, then trusted (migrations only move forward).
    pub async fn schema_current(&self) -> Result<bool, StoreError> {
        if self.schema_current.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let client = self.pool.get().await?;
        let current = migrations::current_version(&client).await? >= migrations::LATEST;
        self.schema_current.store(current, Ordering::Relaxed);
        Ok(current)
    }
}
