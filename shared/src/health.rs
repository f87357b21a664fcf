//! Readiness, as `GET /readyz` reports it for the API and the workers:
//! whether PostgreSQL answers a query and RabbitMQ a connection, each within
//! [`CHECK_TIMEOUT`]. Both are reported; what a process needs decides
//! whether it is ready ([`Needs`]): a worker needs both, the API only
//! PostgreSQL, since its intake keeps accepting work into the outbox while
//! the broker is away. Asking for the broker's connection also reopens it
//! when it dropped, so a probe drives the reconnection of an idle process.
//! Liveness (`GET /healthz`) asks nothing of either: a dependency that is
//! away makes a process unready, never restarted.

use std::time::Duration;

use deadpool_postgres::Pool;
use serde::Serialize;

use crate::amqp::Broker;
use crate::db;

/// How long each dependency has to answer.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

const OK: &str = "ok";

/// What a process needs to be ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// PostgreSQL: the API, whose intake writes to the outbox.
    Database,
    /// PostgreSQL and RabbitMQ: a worker, which consumes.
    DatabaseAndBroker,
}

/// What `/readyz` answers: `status` is `ready` or `not ready`; `postgres`
/// and `rabbitmq` are `ok` or why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Readiness {
    pub status: &'static str,
    pub postgres: String,
    pub rabbitmq: String,
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        self.status == READY
    }
}

const READY: &str = "ready";

/// Asks both dependencies at once; ready when what `needs` names answers.
pub async fn check(pool: &Pool, broker: &Broker, needs: Needs) -> Readiness {
    let (postgres, rabbitmq) = tokio::join!(postgres(pool), rabbitmq(broker));
    let ready = postgres == OK && (needs == Needs::Database || rabbitmq == OK);
    Readiness {
        status: if ready { READY } else { "not ready" },
        postgres,
        rabbitmq,
    }
}

async fn postgres(pool: &Pool) -> String {
    match tokio::time::timeout(CHECK_TIMEOUT, db::ping(pool)).await {
        Ok(Ok(())) => OK.into(),
        Ok(Err(e)) => format!("unavailable: {e}"),
        Err(_) => "unavailable: timed out".into(),
    }
}

async fn rabbitmq(broker: &Broker) -> String {
    match tokio::time::timeout(CHECK_TIMEOUT, broker.publisher()).await {
        Ok(Ok(_)) => OK.into(),
        Ok(Err(e)) => e.to_string(),
        Err(_) => "broker unavailable: timed out".into(),
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;
    use crate::amqp::Topology;
    use crate::config::Config;

    #[tokio::test]
    async fn unreachable_dependencies_are_not_ready_within_the_timeout() {
        let config = Config {
            database_url: SecretString::from("postgres://fila@127.0.0.1:1/fila"),
            ..Config::default()
        };
        let pool = db::pool(&config, "health-test").expect("pool");
        let config = Config {
            amqp_url: SecretString::from("amqp://guest:guest@127.0.0.1:1/%2f"),
            ..config
        };
        let broker =
            Broker::new(&config, Topology::new("health-test"), "health-test").expect("broker");
        let started = std::time::Instant::now();
        let readiness = check(&pool, &broker, Needs::Database).await;
        assert!(started.elapsed() <= CHECK_TIMEOUT + Duration::from_millis(500));
        assert!(!readiness.is_ready());
        assert_eq!(readiness.status, "not ready");
        assert!(
            readiness.postgres.starts_with("unavailable"),
            "{readiness:?}"
        );
        assert_ne!(readiness.rabbitmq, OK, "{readiness:?}");
    }
}
