//! How fila opens a connection to RabbitMQ. `amqp_url` is read once, at
//! start. Unless it names `heartbeat`, fila proposes `amqp_heartbeat_secs`:
//! both ends then close a connection on which nothing was heard for two
//! intervals, so that a broker lost without a word (a node gone, a
//! partition) is noticed in seconds, not when the kernel gives up.
//!
//! An `amqps://` URL is served by rustls (see [`super::tls`]). Opening a
//! connection — name resolution, TCP, TLS, the AMQP handshake — is bounded
//! by `amqp_connect_timeout_secs`, and so is every other call that waits
//! for the broker ([`Connector::bounded`]).

use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use lapin::tcp::RustlsConnector;
use lapin::uri::{AMQPScheme, AMQPUri};
use lapin::{AsyncTcpStream, Connection, ConnectionProperties};
use secrecy::{ExposeSecret, SecretString};

use super::broker::BrokerError;
use super::tls::{self, TlsError};
use crate::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error("amqp_url cannot be read: {0}")]
    Url(String),
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// Opens connections to one RabbitMQ, as configured.
pub struct Connector {
    /// The URL, with its heartbeat (it holds the password: never logged).
    uri: AMQPUri,
    /// For an `amqps://` URL.
    tls: Option<RustlsConnector>,
    timeout: Duration,
}

impl Connector {
    /// Reads `amqp_url` and, for `amqps://`, the TLS files.
    pub fn new(config: &Config) -> Result<Self, ConnectorError> {
        let mut uri = parse_url(&config.amqp_url).map_err(ConnectorError::Url)?;
        if uri.query.heartbeat.is_none() {
            uri.query.heartbeat = Some(config.amqp_heartbeat_secs);
        }
        let tls = match uri.scheme {
            AMQPScheme::AMQPS => Some(tls::connector(config)?),
            AMQPScheme::AMQP => None,
        };
        Ok(Self {
            uri,
            tls,
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
        let runtime = lapin::runtime::default_runtime()?;
        let tls = self.tls.clone();
        let limit = self.timeout;
        // lapin opens the socket on a thread of its own: the bound applies
        // there too, so that a stalled TLS handshake does not hold it.
        let opening = Connection::connector(
            self.uri.clone(),
            runtime,
            async move |uri: AMQPUri, runtime| {
                let host = uri.authority.host.clone();
                let open = async {
                    let addresses: Vec<std::net::SocketAddr> =
                        tokio::net::lookup_host((host.as_str(), uri.authority.port))
                            .await?
                            .collect();
                    let stream = AsyncTcpStream::connect(&runtime, addresses).await?;
                    match (&uri.scheme, &tls) {
                        (AMQPScheme::AMQP, _) => Ok(stream),
                        (AMQPScheme::AMQPS, Some(tls)) => stream.into_rustls(tls, &host).await,
                        (AMQPScheme::AMQPS, None) => {
                            Err(std::io::Error::other("amqps:// without TLS settings"))
                        }
                    }
                };
                match tokio::time::timeout(limit, open).await {
                    Ok(opened) => Ok(opened?),
                    Err(_) => Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("no connection to {host} within {} s", limit.as_secs()),
                    )
                    .into()),
                }
            },
            properties,
        );
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
