//! What every request handler shares.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use deadpool_postgres::Pool;
use fila_shared::amqp::Broker;
use fila_shared::config::Config;
use fila_shared::db::{StoreError, migrations};
use fila_shared::outbox::Relay;

use crate::auth::Users;

pub type SharedState = Arc<AppState>;

pub struct AppState {
    pub config: Config,
    pub pool: Pool,
    pub broker: Arc<Broker>,
    pub relay: Relay,
    pub users: Users,
    schema_current: AtomicBool,
}

impl AppState {
    pub fn new(config: Config, pool: Pool, broker: Arc<Broker>, relay: Relay) -> Self {
        let users = Users::new(&config.users);
        Self {
            config,
            pool,
            broker,
            relay,
            users,
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
