//! fila's shared library: configuration, telemetry, the PostgreSQL store, the
//! RabbitMQ topology and broker, the transactional outbox, dead letters, the
//! queue envelope, and the protocols' domain and wire codecs.

pub mod amqp;
pub mod coalesce;
pub mod config;
pub mod db;
pub mod dead_letter;
pub mod deliveries;
pub mod eai;
pub mod envelope;
pub mod health;
pub mod metrics;
pub mod outbox;
pub mod overview;
pub mod password;
pub mod process;
pub mod queue_pause;
pub mod reconcile;
pub mod session;
pub mod shutdown;
pub mod startup;
pub mod taf;
pub mod tally;
pub mod telemetry;
pub mod tls;
pub mod watched_file;
pub mod xml;

#[cfg(test)]
pub(crate) mod testing;
