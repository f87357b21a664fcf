//! How fila opens a connection to RabbitMQ. `amqp_url` is read once, at
//! start. Unless it names `heartbeat`, fila proposes `amqp_heartbeat_secs`:
//! both ends then close a connection on which nothing was heard for two
//! intervals, so that a broker lost without a word (a node gone, a
//! partition) is noticed in seconds, not when the kernel gives up.
//!
//! Opening a connection — TCP, the AMQP handshake — is bounded by
//! `amqp_connect_timeout_secs`, and so is every other call that waits for
//! the broker ([`Connector::bounded`]).

use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use lapin::uri::AMQPUri;
use lapin::{Connection, ConnectionProperties};
use secrecy::{ExposeSecret, SecretString};

use super::broker::BrokerError;
use crate::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error("amqp_url cannot be read: {0}")]
    Url(String),
}

/// Opens connections to one RabbitMQ, as configured.
pub struct Connector {
    /// The URL, with its heartbeat (it holds the password: never logged).
    uri: AMQPUri,
    timeout: Duration,
}

impl Connector {
    /// Reads `amqp_url`.
    pub fn new(config: &Config) -> Result<Self, ConnectorError> {
        let mut uri = parse_url(&config.amqp_url).map_err(ConnectorError::Url)?;
        if uri.query.heartbeat.is_none() {
            uri.query.heartbeat = Some(config.amqp_heartbeat_secs);
        }
        Ok(Self {
            uri,
            timeout: config.amqp_connect_timeout(),
        })
    }

    /// The heartbeat interval proposed to the broker, in seconds.
    pub fn heartbeat_secs(&self) -> u16 {
        self.uri.query.heartbeat.unwrap_or_default()
    }

    /// The bound of opening a connection and of every call to the broker.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Opens a connection named `name` (RabbitMQ shows it in its list).
    pub async fn connect(&self, name: &str) -> Result<Connection, BrokerError> {
        let properties = ConnectionProperties::default().with_connection_name(name.into());
        let opening = Connection::connect_uri(self.uri.clone(), properties);
        self.bounded(opening).await
    }

    /// Waits for a call to the broker at most [`Connector::timeout`]: a
    /// broker that stopped answering without closing the connection then
    /// counts as unavailable.
    pub async fn bounded<T, E: Into<BrokerError>>(
        &self,
        call: impl Future<Output = Result<T, E>>,
    ) -> Result<T, BrokerError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(done) => done.map_err(Into::into),
            Err(_) => Err(BrokerError::Unavailable(format!(
                "RabbitMQ did not answer within {} s",
                self.timeout.as_secs()
            ))),
        }
    }
}

/// Reads an AMQP URL; the error never repeats the URL, which holds a
/// password.
pub fn parse_url(url: &SecretString) -> Result<AMQPUri, String> {
    let url = url.expose_secret();
    AMQPUri::from_str(url).map_err(|e| e.replace(url, "<amqp_url>"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> Config {
        Config {
            amqp_url: SecretString::from(url),
            ..Config::default()
        }
    }

    #[test]
    fn the_heartbeat_is_proposed_unless_the_url_names_one() {
        let connector = Connector::new(&config("amqp://fila:pw@mq:5672/%2f")).expect("reads");
        assert_eq!(connector.heartbeat_secs(), 10);
        let connector =
            Connector::new(&config("amqp://fila:pw@mq:5672/%2f?heartbeat=30")).expect("reads");
        assert_eq!(connector.heartbeat_secs(), 30);
    }

    #[test]
    fn a_wrong_url_is_refused_without_its_password() {
        let error = Connector::new(&config("amqp:fila:s3cret@mq/%2f"))
            .err()
            .expect("refused");
        assert!(error.to_string().starts_with("amqp_url"), "{error}");
        assert!(!error.to_string().contains("s3cret"), "{error}");
    }
}
