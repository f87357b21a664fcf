//! The end-to-end harness: starts the real `fila-api` and `fila-worker`
//! binaries against the real PostgreSQL and RabbitMQ, each test in its own
//! schema and queue prefix, and removes both when the test ends.

pub mod broker_node;
pub mod certs;
pub mod cli;
pub mod cluster;
pub mod collector;
pub mod destination;
pub mod eai;
pub mod fila;
pub mod postgres_node;
pub mod process;
pub mod prometheus;
pub mod proxy;
pub mod rabbitmq;
pub mod results;
pub mod runs;
pub mod taf;
pub mod traffic;

pub use fila::{Fila, Setup};

/// PostgreSQL the tests use (a schema per test is created in it).
pub fn database_url() -> String {
    std::env::var("E2E_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// RabbitMQ the tests use (a name prefix per test).
pub fn amqp_url() -> String {
    std::env::var("E2E_AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// Polls `check` every 50 ms until it is true or `seconds` pass.
pub async fn eventually<F, Fut>(seconds: u64, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(seconds);
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
