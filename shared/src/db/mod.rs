//! The PostgreSQL side: a pool whose connections use fila's schema (so that
//! several deployments, or tests, share one database without meeting), the
//! migrations, and the store's error type.
//!
//! PostgreSQL text and jsonb cannot hold the NUL character: input that
//! does is refused before it reaches a statement ([`holds_nul`]), and a key
//! holding one names nothing stored.

pub mod connect;
mod failover;
pub mod listen;
pub mod migrations;
pub mod tls;
mod watchdog;

use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use secrecy::ExposeSecret;
use serde_json::Value;
use tokio_postgres::error::SqlState;

use crate::config::Config;

/// How much longer than `statement_timeout` a server may stay silent
/// while an answer is due before the connection's watchdog fails it.
const ANSWER_MARGIN: Duration = Duration::from_secs(5);

/// fila never leaves a transaction open while it waits on something else
/// for long (the longest is a sweep waiting for broker confirms), so a
/// session idle in a transaction for this long belongs to a process that
/// died: the server ends it and releases its locks.
const IDLE_IN_TRANSACTION_TIMEOUT: &str = "30s";

/// Sent with a set-based statement in its transaction, pipelined (no
/// round trip of its own): the statement runs with the plan made once per
/// connection. PostgreSQL otherwise plans such a statement anew at each
/// execution when a plan made with its arrays' real length looks cheaper,
/// and for the statements that use it that planning took longer than the
/// execution (`pg_stat_statements` with `track_planning`, BENCHMARKS.md).
/// Only for statements whose plan is the same whatever the arrays' length.
pub const GENERIC_PLAN: &str = "SET LOCAL plan_cache_mode = force_generic_plan";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no database connection: {}", pool_detail(.0))]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("database: {}", detail(.0))]
    Db(tokio_postgres::Error),
    /// The server reached accepts no writes (a standby, or a primary being
    /// demoted): found by [`ping`].
    #[error("the database is read-only (a standby, or a failover under way)")]
    ReadOnly,
    /// The task gathering concurrent calls into one transaction stopped
    /// before answering (see [`crate::coalesce`]).
    #[error(transparent)]
    Gathering(#[from] crate::coalesce::Stopped),
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        if e.code() == Some(&SqlState::READ_ONLY_SQL_TRANSACTION) {
            failover::read_only_seen();
        }
        StoreError::Db(e)
    }
}

/// Why the pool gave no connection, with the cause of a failed opening.
fn pool_detail(e: &deadpool_postgres::PoolError) -> String {
    match e {
        deadpool_postgres::PoolError::Backend(e) => detail(e),
        other => other.to_string(),
    }
}

/// What went wrong, with the server's message: `tokio_postgres::Error`
/// alone displays only "db error" for every statement the server refused.
fn detail(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => match std::error::Error::source(e) {
            Some(source) => format!("{e}: {source}"),
            None => e.to_string(),
        },
    }
}

impl StoreError {
    /// Whether PostgreSQL aborted the transaction to break a deadlock (it
    /// succeeds when tried again).
    pub fn is_deadlock(&self) -> bool {
        matches!(self, StoreError::Db(e)
            if e.code() == Some(&tokio_postgres::error::SqlState::T_R_DEADLOCK_DETECTED))
    }

    /// Whether the database could not be reached or cannot take work now
    /// (no connection within the timeout, the connection lost, the server
    /// shutting down, starting up, out of connection slots, or read-only
    /// during a failover), rather than a statement failing: the work is
    /// fine and is tried again once the database answers.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Pool(deadpool_postgres::PoolError::Backend(e)) | StoreError::Db(e) => {
                unreachable(e)
            }
            StoreError::Pool(_) | StoreError::ReadOnly => true,
            StoreError::Gathering(_) => false,
        }
    }
}

/// Whether a JSON value holds the NUL character, in a string or a key: the
/// store cannot take it.
pub fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map
            .iter()
            .any(|(key, value)| key.contains('\0') || holds_nul(value)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// SQLSTATEs that say the server cannot take work now, as a failover or a
/// restart produces them, besides class 08 (connection exceptions).
const UNAVAILABLE_STATES: [&str; 6] = [
    // A write reached a standby, or a primary being demoted.
    "25006", // read_only_sql_transaction
    // The server is out of connection slots (a failover's reconnection storm).
    "53300", // too_many_connections
    // The server is going away or not back yet.
    "57P01", // admin_shutdown
    "57P02", // crash_shutdown
    "57P03", // cannot_connect_now
    "57P04", // database_dropped
];

fn unreachable(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(code) => code.code().starts_with("08") || UNAVAILABLE_STATES.contains(&code.code()),
        None => std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PoolSetupError {
    #[error("database_url: {0}")]
    Url(tokio_postgres::Error),
    #[error("database_url: {0}")]
    Tls(#[from] tls::TlsOptionError),
    #[error("database pool: {0}")]
    Build(#[from] deadpool_postgres::BuildError),
}

/// What the connections of a process are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// The pool and the listening connection: statements bounded by
    /// `database_statement_timeout_secs`, connections under the watchdog.
    Work,
    /// Migrations: statements as long as they take, no watchdog.
    Migrations,
}

/// The connector of `config`'s database, whose sessions use its schema.
pub fn connector(
    config: &Config,
    application: &str,
    usage: Use,
) -> Result<connect::Connector, PoolSetupError> {
    let (url, tls_options) = tls::split(config.database_url.expose_secret())?;
    let mut pg = tokio_postgres::Config::from_str(&url).map_err(PoolSetupError::Url)?;
    let statement_timeout = match usage {
        Use::Work => config.database_statement_timeout(),
        Use::Migrations => Duration::ZERO,
    };
    pg.application_name(application).options(format!(
        "-c search_path={} -c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_TIMEOUT} \
         -c statement_timeout={}",
        config.database_schema,
        statement_timeout.as_millis()
    ));
    let bounds = connect::Bounds {
        connect: config.database_connect_timeout(),
        tcp: config.database_tcp_timeout(),
        answer: (usage == Use::Work).then(|| statement_timeout + ANSWER_MARGIN),
    };
    Ok(connect::Connector::new(
        pg,
        tls::Tls::new(&tls_options)?,
        bounds,
    ))
}

/// A pool of connections whose `search_path` is the configured schema.
pub fn pool(config: &Config, application: &str) -> Result<Pool, PoolSetupError> {
    let connector = connector(config, application, Use::Work)?;
    let manager = Manager::from_connect(
        tokio_postgres::Config::new(),
        connector,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let wait = Some(config.database_connect_timeout());
    Ok(Pool::builder(manager)
        .pre_recycle(failover::discard_read_only())
        .max_size(config.database_pool_size)
        .runtime(deadpool::Runtime::Tokio1)
        .wait_timeout(wait)
        .create_timeout(wait)
        .recycle_timeout(wait)
        .build()?)
}

/// Whether the database answers and takes writes.
pub async fn ping(pool: &Pool) -> Result<(), StoreError> {
    let client = pool.get().await?;
    let read_only: String = client
        .query_one("SHOW transaction_read_only", &[])
        .await?
        .get(0);
    if read_only == "on" {
        return Err(StoreError::ReadOnly);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> Config {
        Config {
            database_url: secrecy::SecretString::from(url.to_string()),
            ..Config::default()
        }
    }

    #[tokio::test]
    async fn a_refused_connection_is_unavailable() {
        let connector = connector(&config("postgres://fila@127.0.0.1:1/fila"), "t", Use::Work)
            .expect("a connector");
        let refused = connector
            .open()
            .await
            .err()
            .map(StoreError::Db)
            .expect("nothing listens on port 1");
        assert!(refused.is_unavailable(), "{refused}");
        assert!(refused.to_string().contains("refused"), "{refused}");
    }

    #[tokio::test]
    async fn a_server_that_does_not_answer_is_given_up_within_the_connect_timeout() {
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = silent.local_addr().expect("addr").port();
        let mut config = config(&format!("postgres://fila@127.0.0.1:{port}/fila"));
        config.database_connect_timeout_secs = 1;
        let connector = connector(&config, "t", Use::Work).expect("a connector");
        let opened = tokio::time::timeout(Duration::from_secs(5), connector.open()).await;
        let refused = opened
            .expect("bounded")
            .err()
            .map(StoreError::Db)
            .expect("no answer");
        assert!(refused.is_unavailable(), "{refused}");
        drop(silent);
    }

    #[test]
    fn tls_options_are_checked_with_the_url() {
        let refused = connector(
            &config("postgres://db/fila?sslmode=sometimes"),
            "t",
            Use::Work,
        );
        assert!(matches!(refused, Err(PoolSetupError::Tls(_))));
    }

    #[test]
    fn nul_characters_are_found_in_strings_and_keys_at_any_depth() {
        use serde_json::json;
        assert!(!holds_nul(&json!({ "a": ["b", 1, null, { "c": true }] })));
        assert!(holds_nul(&json!("a\u{0}")));
        assert!(holds_nul(&json!({ "a": [{ "b": "x\u{0}y" }] })));
        assert!(holds_nul(&json!({ "a": { "k\u{0}": 1 } })));
    }
}
