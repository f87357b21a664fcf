//! How fila opens a connection to RabbitMQ. `amqp_url` is read once, at
//! start. Unless it names `heartbeat`, fila proposes `amqp_heartbeat_secs`:
//! both ends then close a connection on which nothing was heard for two
//! intervals, so that a broker lost without a word (a node gone, a
//! partition) is noticed in seconds, not when the kernel gives up.
//!
//! `amqp_url` may name several nodes of a cluster, comma-separated
//! (`amqp://fila:pw@mq1:5672,mq2:5672,mq3/%2f`): a connection goes to the
//! first that takes it, starting with the one that served last, and one
//! that fails to open moves the next attempt on to the following node.
//!
//! An `amqps://` URL is served by rustls (see [`super::tls`]). Opening a
//! connection — name resolution, TCP, TLS, the AMQP handshake — is bounded
//! by `amqp_connect_timeout_secs`, and so is every other call that waits
//! for the broker ([`Connector::bounded`]).

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
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

/// Opens connections to one RabbitMQ (a node, or a cluster's nodes), as
/// configured.
pub struct Connector {
    /// The URL, with its heartbeat and first node (it holds the password:
    /// never logged).
    uri: AMQPUri,
    /// Every node's host and port.
    nodes: Arc<Vec<(String, u16)>>,
    /// The node tried first.
    next: Arc<AtomicUsize>,
    /// For an `amqps://` URL.
    tls: Option<RustlsConnector>,
    timeout: Duration,
}

impl Connector {
    /// Reads `amqp_url` and, for `amqps://`, the TLS files.
    pub fn new(config: &Config) -> Result<Self, ConnectorError> {
        let mut uri = parse_url(&config.amqp_url).map_err(ConnectorError::Url)?;
        let nodes = nodes(config.amqp_url.expose_secret(), &uri);
        if uri.query.heartbeat.is_none() {
            uri.query.heartbeat = Some(config.amqp_heartbeat_secs);
        }
        let tls = match uri.scheme {
            AMQPScheme::AMQPS => Some(tls::connector(config)?),
            AMQPScheme::AMQP => None,
        };
        Ok(Self {
            uri,
            nodes: Arc::new(nodes),
            next: Arc::new(AtomicUsize::new(0)),
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
        let nodes = self.nodes.clone();
        let first = self.next.load(Ordering::Relaxed);
        let chosen = Arc::new(AtomicUsize::new(first));
        let reached = chosen.clone();
        // lapin opens the socket on a thread of its own: the bound applies
        // there too, so that a stalled TLS handshake does not hold it.
        let opening = Connection::connector(
            self.uri.clone(),
            runtime,
            async move |uri: AMQPUri, runtime| {
                let mut failures = Vec::new();
                for offset in 0..nodes.len() {
                    let index = (first + offset) % nodes.len();
                    let (host, port) = &nodes[index];
                    let open = async {
                        let addresses: Vec<std::net::SocketAddr> =
                            tokio::net::lookup_host((host.as_str(), *port))
                                .await?
                                .collect();
                        let stream = AsyncTcpStream::connect(&runtime, addresses).await?;
                        match (&uri.scheme, &tls) {
                            (AMQPScheme::AMQP, _) => Ok(stream),
                            (AMQPScheme::AMQPS, Some(tls)) => stream.into_rustls(tls, host).await,
                            (AMQPScheme::AMQPS, None) => {
                                Err(std::io::Error::other("amqps:// without TLS settings"))
                            }
                        }
                    };
                    match tokio::time::timeout(limit, open).await {
                        Ok(Ok(stream)) => {
                            reached.store(index, Ordering::Relaxed);
                            return Ok(stream);
                        }
                        Ok(Err(e)) => failures.push(format!("{host}:{port}: {e}")),
                        Err(_) => failures.push(format!(
                            "{host}:{port}: no connection within {} s",
                            limit.as_secs()
                        )),
                    }
                }
                Err(
                    std::io::Error::new(std::io::ErrorKind::ConnectionRefused, failures.join("; "))
                        .into(),
                )
            },
            properties,
        );
        let opened = self.bounded(opening).await;
        let served = chosen.load(Ordering::Relaxed);
        let next = match opened {
            Ok(_) => served,
            Err(_) => (served + 1) % self.nodes.len(),
        };
        self.next.store(next, Ordering::Relaxed);
        opened
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

/// Reads an AMQP URL, with its first node if it names several; the error
/// never repeats the URL, which holds a password.
pub fn parse_url(url: &SecretString) -> Result<AMQPUri, String> {
    let url = url.expose_secret();
    let (before, hosts, after) = split_hosts(url);
    let first = hosts.split(',').next().unwrap_or_default();
    let single = format!("{before}{first}{after}");
    AMQPUri::from_str(&single).map_err(|e| e.replace(&single, "<amqp_url>"))
}

/// A URL cut around its host list: what precedes it (scheme and user),
/// the list, and what follows (virtual host and query).
fn split_hosts(url: &str) -> (&str, &str, &str) {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..]
        .find(['/', '?'])
        .map_or(url.len(), |i| start + i);
    let hosts_start = url[start..end].rfind('@').map_or(start, |i| start + i + 1);
    (&url[..hosts_start], &url[hosts_start..end], &url[end..])
}

/// Every node `url` names, as host and port (the scheme's port when none
/// is given); `uri` is the URL read with its first node.
fn nodes(url: &str, uri: &AMQPUri) -> Vec<(String, u16)> {
    let default_port = uri.scheme.default_port();
    let (_, hosts, _) = split_hosts(url);
    let mut nodes: Vec<(String, u16)> = hosts
        .split(',')
        .skip(1)
        .filter(|h| !h.is_empty())
        .map(|node| {
            let (host, port) = match node.strip_prefix('[') {
                Some(bracketed) => bracketed.split_once(']').unwrap_or((bracketed, "")),
                None => node.rsplit_once(':').map_or((node, ""), |(h, p)| (h, p)),
            };
            let port = port.trim_start_matches(':').parse().unwrap_or(default_port);
            (host.to_string(), port)
        })
        .collect();
    nodes.insert(0, (uri.authority.host.clone(), uri.authority.port));
    nodes
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
    fn a_url_may_name_several_nodes() {
        let connector = Connector::new(&config(
            "amqp://fila:pw@mq1:5701,mq2,[::1]:5703/vhost?heartbeat=30",
        ))
        .expect("reads");
        assert_eq!(
            *connector.nodes,
            vec![
                ("mq1".to_string(), 5701),
                ("mq2".to_string(), 5672),
                ("::1".to_string(), 5703)
            ]
        );
        assert_eq!(connector.uri.vhost, "vhost");
        assert_eq!(connector.uri.authority.userinfo.username, "fila");
        assert_eq!(connector.heartbeat_secs(), 30);
        let single = Connector::new(&config("amqp://fila:pw@mq:5672/%2f")).expect("reads");
        assert_eq!(*single.nodes, vec![("mq".to_string(), 5672)]);
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
