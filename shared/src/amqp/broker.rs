//! One RabbitMQ connection per process, opened lazily, with fila's topology
//! declared on every (re)connection. After a failure the next attempt waits
//! with capped exponential backoff; meanwhile callers get
//! [`BrokerError::Unavailable`] at once instead of piling up behind a dead
//! socket (PostgreSQL holds what was accepted; the outbox sweeper publishes
//! it later).
//!
//! Publishing is pipelined: every message of a batch is sent before the first
//! confirm is awaited, so a batch costs one round trip, not one per message.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{
    BasicProperties, Channel, ChannelStatus, Connection, ConnectionProperties, PublisherConfirm,
};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;

use super::topology::{Topology, WorkQueue};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A broker that takes longer than this to confirm a batch (memory alarm,
/// disk alarm) counts as unavailable for it.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);
const BACKOFF_FIRST: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    #[error("amqp: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("the broker refused the message (nack)")]
    Nacked,
    #[error("no queue is bound for routing key {0}")]
    Unroutable(String),
    #[error("the broker did not confirm the message in time")]
    Unconfirmed,
}

/// What the broker said of one message of a batch.
pub type Confirm = Result<(), BrokerError>;

/// A work queue's figures, as RabbitMQ reports them.
#[derive(Debug, Clone, Copy)]
pub struct QueueCounts {
    /// Messages ready for delivery (not those delivered and unacknowledged).
    pub ready: u32,
    pub consumers: u32,
}

/// See [`Broker::channel_use`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChannelUse {
    pub open: usize,
    pub max: u16,
}

/// A message to publish, persistent and in JSON.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    pub exchange: &'a str,
    pub routing_key: &'a str,
    pub body: &'a [u8],
    pub priority: u8,
    /// The AMQP `type` property: what the body is.
    pub kind: &'a str,
    /// A stable id for consumers that deduplicate.
    pub message_id: Option<String>,
    pub headers: Option<FieldTable>,
    /// Whether a message no queue takes is an error (work) or fine (results).
    pub mandatory: bool,
}

pub struct Broker {
    url: SecretString,
    name: String,
    topology: Topology,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    link: Option<Link>,
    failures: u32,
    next_attempt: Option<Instant>,
    /// Work routing keys whose queue was declared on this connection.
    declared: HashSet<String>,
    /// The status of each channel handed out by [`Broker::channel`], until
    /// seen closed (a status, not a clone of the channel: the last clone's
    /// drop closes a channel).
    lent: Vec<ChannelStatus>,
}

struct Link {
    connection: Connection,
    publisher: Channel,
}

impl Link {
    fn healthy(&self) -> bool {
        self.connection.status().connected() && self.publisher.status().connected()
    }
}

impl Broker {
    /// `name` shows in RabbitMQ's connection list.
    pub fn new(url: SecretString, topology: Topology, name: impl Into<String>) -> Self {
        Self {
            url,
            name: name.into(),
            topology,
            state: Mutex::new(State::default()),
        }
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Whether a healthy connection is open now.
    pub async fn connected(&self) -> bool {
        self.state
            .lock()
            .await
            .link
            .as_ref()
            .is_some_and(Link::healthy)
    }

    /// The confirm-mode channel for publishing, reconnecting if needed.
    pub async fn publisher(&self) -> Result<Channel, BrokerError> {
        let mut state = self.state.lock().await;
        self.ensure_link(&mut state)
            .await
            .map(|link| link.publisher.clone())
    }

    /// What RabbitMQ reports of a work queue. A queue that does not exist
    /// (yet) is an error.
    pub async fn queue_counts(&self, queue: &WorkQueue) -> Result<QueueCounts, BrokerError> {
        // A passive declare of a missing queue closes its channel: a
        // channel of its own.
        let channel = self.channel().await?;
        let declared = channel
            .queue_declare(
                self.topology.queue(queue).into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await;
        let _ = channel.close(200, "queue read".into()).await;
        let declared = declared?;
        Ok(QueueCounts {
            ready: declared.message_count(),
            consumers: declared.consumer_count(),
        })
    }

    /// A new channel on the connection (for a consumer).
    pub async fn channel(&self) -> Result<Channel, BrokerError> {
        let mut state = self.state.lock().await;
        let channel = self
            .ensure_link(&mut state)
            .await?
            .connection
            .create_channel()
            .await?;
        state.lent.retain(ChannelStatus::connected);
        state.lent.push(channel.status().clone());
        Ok(channel)
    }

    /// The AMQP channels this process has open (its publishing channel and
    /// the channels handed out that are still open), and the most its
    /// connection may open; both 0 while disconnected.
    pub async fn channel_use(&self) -> ChannelUse {
        let mut state = self.state.lock().await;
        state.lent.retain(ChannelStatus::connected);
        match state
            .link
            .as_ref()
            .filter(|l| l.connection.status().connected())
        {
            Some(link) => ChannelUse {
                open: state.lent.len() + usize::from(link.publisher.status().connected()),
                max: link.connection.configuration().channel_max(),
            },
            None => ChannelUse::default(),
        }
    }

    async fn ensure_link<'s>(&self, state: &'s mut State) -> Result<&'s Link, BrokerError> {
        let connected = state
            .link
            .as_ref()
            .is_some_and(|l| l.connection.status().connected());
        let healthy = state.link.as_ref().is_some_and(Link::healthy);
        if connected && !healthy {
            // The broker closed the publishing channel (a refused publish,
            // say): replace the channel, keep the connection and its
            // consumers.
            if let Some(link) = state.link.as_mut() {
                match timeout(self.publisher_channel(&link.connection)).await {
                    Ok(channel) => link.publisher = channel,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot reopen the publishing channel");
                        state.link = None;
                    }
                }
            }
        }
        if !state.link.as_ref().is_some_and(Link::healthy) {
            if let Some(at) = state.next_attempt.filter(|at| *at > Instant::now()) {
                return Err(BrokerError::Unavailable(format!(
                    "reconnecting in {} ms",
                    at.saturating_duration_since(Instant::now()).as_millis()
                )));
            }
            if let Some(old) = state.link.take() {
                let _ = old.connection.close(200, "reconnecting".into()).await;
            }
            match timeout(self.open()).await {
                Ok(link) => {
                    if state.failures > 0 {
                        tracing::info!(broker = %self.name, "reconnected to RabbitMQ");
                    }
                    state.link = Some(link);
                    state.declared = WorkQueue::fixed().iter().map(WorkQueue::key).collect();
                    state.failures = 0;
                    state.next_attempt = None;
                }
                Err(e) => {
                    state.failures = state.failures.saturating_add(1);
                    let delay = BACKOFF_FIRST
                        .saturating_mul(1 << state.failures.min(16))
                        .min(BACKOFF_MAX);
                    state.next_attempt = Some(Instant::now() + delay);
                    tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "RabbitMQ unavailable");
                    return Err(e);
                }
            }
        }
        state
            .link
            .as_ref()
            .ok_or_else(|| BrokerError::Unavailable("no connection".into()))
    }

    async fn open(&self) -> Result<Link, BrokerError> {
        let properties =
            ConnectionProperties::default().with_connection_name(self.name.clone().into());
        let connection = Connection::connect(self.url.expose_secret(), properties).await?;
        let publisher = self.publisher_channel(&connection).await?;
        Ok(Link {
            connection,
            publisher,
        })
    }

    /// A confirm-mode channel, with the topology declared through it.
    async fn publisher_channel(&self, connection: &Connection) -> Result<Channel, BrokerError> {
        let channel = connection.create_channel().await?;
        self.topology.declare(&channel).await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok(channel)
    }

    /// Publishes a batch; succeeds when the broker confirmed every message.
    pub async fn publish(&self, messages: &[Outgoing<'_>]) -> Result<(), BrokerError> {
        self.publish_each(messages).await?.into_iter().collect()
    }

    /// Publishes a batch and tells, message by message, what the broker
    /// said: confirmed, refused (nack), unroutable, or not confirmed within
    /// [`CONFIRM_TIMEOUT`]. The error is for the whole batch: no connection,
    /// or a broker that blocks publishers (a memory or disk alarm), in which
    /// case nothing is sent.
    pub async fn publish_each(
        &self,
        messages: &[Outgoing<'_>],
    ) -> Result<Vec<Confirm>, BrokerError> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let channel = self.publisher_for(messages).await?;
        let deadline = tokio::time::Instant::now() + CONFIRM_TIMEOUT;
        publish_on(&channel, messages, deadline).await
    }

    /// The publishing channel, with a queue declared for every work routing
    /// key of `messages`: a worker group's queue is made when its first run
    /// is published, and the runs wait in it until a worker of the group
    /// consumes them (a work message no queue takes would be refused).
    async fn publisher_for(&self, messages: &[Outgoing<'_>]) -> Result<Channel, BrokerError> {
        let mut state = self.state.lock().await;
        let link = self.ensure_link(&mut state).await?;
        if link.connection.status().blocked() {
            return Err(BrokerError::Unavailable(
                "RabbitMQ blocks publishers (a memory or disk alarm)".into(),
            ));
        }
        let channel = link.publisher.clone();
        for m in messages.iter().filter(|m| m.mandatory) {
            if state.declared.contains(m.routing_key) {
                continue;
            }
            if let Some(queue) = WorkQueue::from_key(m.routing_key) {
                timeout(async { Ok(self.topology.declare_queue(&channel, &queue).await?) }).await?;
                state.declared.insert(m.routing_key.to_string());
            }
        }
        Ok(channel)
    }

    /// Closes the connection (at shutdown).
    pub async fn close(&self) {
        if let Some(link) = self.state.lock().await.link.take() {
            let _ = link.connection.close(200, "shutting down".into()).await;
        }
    }
}

/// Bounds a step of connecting: a broker that accepts the TCP connection
/// and then stalls must not hold every publisher behind the lock.
async fn timeout<T>(
    step: impl std::future::Future<Output = Result<T, BrokerError>>,
) -> Result<T, BrokerError> {
    tokio::time::timeout(CONNECT_TIMEOUT, step)
        .await
        .map_err(|_| BrokerError::Unavailable("the broker did not answer in time".into()))?
}

async fn publish_on(
    channel: &Channel,
    messages: &[Outgoing<'_>],
    deadline: tokio::time::Instant,
) -> Result<Vec<Confirm>, BrokerError> {
    let mut confirms = Vec::with_capacity(messages.len());
    for m in messages {
        let mut properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into())
            .with_priority(m.priority)
            .with_type(m.kind.into());
        if let Some(id) = &m.message_id {
            properties = properties.with_message_id(id.as_str().into());
        }
        if let Some(headers) = &m.headers {
            properties = properties.with_headers(headers.clone());
        }
        let options = BasicPublishOptions {
            mandatory: m.mandatory,
            ..Default::default()
        };
        let sent = channel
            .basic_publish(
                m.exchange.into(),
                m.routing_key.into(),
                options,
                m.body,
                properties,
            )
            .await;
        match sent {
            Ok(confirm) => confirms.push(confirm),
            // Nothing was sent: the batch fails as a whole.
            Err(e) if confirms.is_empty() => return Err(e.into()),
            Err(e) => {
                let reason = format!("publishing stopped: {e}");
                let mut outcomes = settle(confirms, messages, deadline).await;
                outcomes.resize_with(messages.len(), || {
                    Err(BrokerError::Unavailable(reason.clone()))
                });
                return Ok(outcomes);
            }
        }
    }
    Ok(settle(confirms, messages, deadline).await)
}

/// Waits for the confirms until `deadline`; those still missing then are
/// [`BrokerError::Unconfirmed`].
async fn settle(
    confirms: Vec<PublisherConfirm>,
    messages: &[Outgoing<'_>],
    deadline: tokio::time::Instant,
) -> Vec<Confirm> {
    let mut outcomes = Vec::with_capacity(confirms.len());
    for (confirm, message) in confirms.into_iter().zip(messages) {
        let outcome = match tokio::time::timeout_at(deadline, confirm).await {
            Err(_) => Err(BrokerError::Unconfirmed),
            Ok(Err(e)) => Err(e.into()),
            Ok(Ok(confirmation)) => {
                if confirmation.is_nack() {
                    Err(BrokerError::Nacked)
                } else if confirmation.take_message().is_some() {
                    Err(BrokerError::Unroutable(message.routing_key.to_string()))
                } else {
                    Ok(())
                }
            }
        };
        outcomes.push(outcome);
    }
    outcomes
}
