//! fila's connections to RabbitMQ, opened lazily, each reopened after a
//! failure with capped exponential backoff; meanwhile callers get
//! [`BrokerError::Unavailable`] at once instead of piling up behind a dead
//! socket (PostgreSQL holds what was accepted; the outbox sweeper publishes
//! it later).
//!
//! A process has two connections, as RabbitMQ advises: one publishes (a
//! confirm-mode channel, fila's topology declared through it), the other
//! holds the consumers and reads the queues' figures, and never publishes.
//! During a memory or disk alarm RabbitMQ blocks the connections that
//! publish (it stops reading from them): acknowledgements, on the other
//! connection, still flow, and the publishing side refuses at once while
//! it is blocked.
//!
//! Nothing waits for the broker without a bound: connections carry
//! heartbeats, opening one and every call are bounded by
//! `amqp_connect_timeout_secs` (see [`Connector`]), and a batch of
//! publishes waits for its confirms at most `amqp_confirm_timeout_secs`. A
//! connection on which a channel does not open in time is dropped and
//! opened again after the backoff.
//!
//! Publishing is pipelined: every message of a batch is sent before the first
//! confirm is awaited, so a batch costs one round trip, not one per message.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::time::{Duration, Instant};

use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, ChannelStatus, Connection, Consumer, PublisherConfirm};
use tokio::sync::Mutex;

use super::connector::{Connector, ConnectorError};
use super::topology::{DeclareError, Lane, Topology, WorkQueue};
use crate::config::Config;

const BACKOFF_FIRST: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// How long a queue RabbitMQ refused to declare is left alone before fila
/// tries again.
const REFUSED_QUEUE_RETRY: Duration = Duration::from_secs(30);

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
    #[error(transparent)]
    Declare(#[from] DeclareError),
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

/// The consumers of one work queue, on one channel (see [`Broker::consume`]).
pub struct Feeds {
    pub channel: Channel,
    /// One per lane, most urgent first.
    pub lanes: Vec<(Lane, Consumer)>,
    /// What RabbitMQ's delivery limit took from the queue (quorum queues).
    pub given_up: Option<Consumer>,
}

pub struct Broker {
    connector: Connector,
    confirm_timeout: Duration,
    name: String,
    topology: Topology,
    publishing: Mutex<Publishing>,
    consuming: Mutex<Consuming>,
}

/// The publishing connection.
#[derive(Default)]
struct Publishing {
    link: Option<Link>,
    backoff: Backoff,
    queues: Declared,
}

/// What became of the work queues declared on the publishing connection.
#[derive(Default)]
struct Declared {
    /// Declared.
    done: HashSet<WorkQueue>,
    /// Refused by RabbitMQ, and when to try again.
    refused: HashMap<WorkQueue, Instant>,
}

/// The connection of the consumers and of the queue readings.
#[derive(Default)]
struct Consuming {
    connection: Option<Connection>,
    backoff: Backoff,
    /// The status of each channel handed out by [`Broker::channel`], until
    /// seen closed (a status, not a clone of the channel: the last clone's
    /// drop closes a channel).
    lent: Vec<ChannelStatus>,
}

/// When a connection that failed to open may be tried again. An attempt
/// counts as failed until it succeeds: one its caller gave up on (the
/// caller's own timeout) holds the next callers off all the same.
#[derive(Default)]
struct Backoff {
    failures: u32,
    next_attempt: Option<Instant>,
    /// Why the last attempt failed, told to the callers held off.
    reason: Option<String>,
}

impl Backoff {
    /// Starts an attempt, or refuses while the next one is not due.
    fn attempt(&mut self) -> Result<(), BrokerError> {
        if let Some(at) = self.next_attempt.filter(|at| *at > Instant::now()) {
            return Err(BrokerError::Unavailable(format!(
                "{}; trying again in {} ms",
                self.reason
                    .as_deref()
                    .unwrap_or("the last attempt did not finish"),
                at.saturating_duration_since(Instant::now()).as_millis()
            )));
        }
        self.failures = self.failures.saturating_add(1);
        let delay = BACKOFF_FIRST
            .saturating_mul(1 << self.failures.min(16))
            .min(BACKOFF_MAX);
        self.next_attempt = Some(Instant::now() + delay);
        self.reason = None;
        Ok(())
    }

    /// The attempt failed with `error`; how long until the next one.
    fn failed(&mut self, error: &BrokerError) -> Duration {
        self.reason = Some(error.to_string());
        self.next_attempt.map_or(Duration::ZERO, |at| {
            at.saturating_duration_since(Instant::now())
        })
    }

    /// The attempt succeeded; whether attempts had failed before it.
    fn succeeded(&mut self) -> bool {
        let recovered = self.failures > 1;
        *self = Self::default();
        recovered
    }
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
    /// The broker of `config`'s `amqp_url`, read with its TLS files now;
    /// `name` shows in RabbitMQ's connection list (the consuming
    /// connection's with ` (consuming)` after it). Nothing is opened yet.
    pub fn new(
        config: &Config,
        topology: Topology,
        name: impl Into<String>,
    ) -> Result<Self, ConnectorError> {
        Ok(Self {
            connector: Connector::new(config)?,
            confirm_timeout: config.amqp_confirm_timeout(),
            name: name.into(),
            topology,
            publishing: Mutex::new(Publishing::default()),
            consuming: Mutex::new(Consuming::default()),
        })
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// How long a call to the broker may take (`amqp_connect_timeout_secs`).
    pub fn call_timeout(&self) -> Duration {
        self.connector.timeout()
    }

    /// Waits for a call to the broker at most [`Broker::call_timeout`].
    pub async fn bounded<T, E: Into<BrokerError>>(
        &self,
        call: impl Future<Output = Result<T, E>>,
    ) -> Result<T, BrokerError> {
        self.connector.bounded(call).await
    }

    /// The confirm-mode channel for publishing, reconnecting if needed.
    pub async fn publisher(&self) -> Result<Channel, BrokerError> {
        let mut state = self.publishing.lock().await;
        self.ensure_link(&mut state)
            .await
            .map(|link| link.publisher.clone())
    }

    /// What RabbitMQ reports of a work queue (all its lanes). A queue
    /// that does not exist (yet) is an error.
    pub async fn queue_counts(&self, queue: &WorkQueue) -> Result<QueueCounts, BrokerError> {
        // A passive declare of a missing queue closes its channel: a
        // channel of its own.
        let channel = self.channel().await?;
        let lanes = self.topology.lanes(queue);
        let declared = self
            .bounded(async {
                let mut counts = QueueCounts {
                    ready: 0,
                    consumers: u32::MAX,
                };
                for lane in &lanes {
                    let declared = channel
                        .queue_declare(
                            self.topology.lane_queue(lane).into(),
                            QueueDeclareOptions {
                                passive: true,
                                ..QueueDeclareOptions::default()
                            },
                            FieldTable::default(),
                        )
                        .await?;
                    counts.ready = counts.ready.saturating_add(declared.message_count());
                    counts.consumers = counts.consumers.min(declared.consumer_count());
                }
                Ok::<_, lapin::Error>(counts)
            })
            .await;
        let _ = self.bounded(channel.close(200, "queue read".into())).await;
        declared
    }

    /// The consumers of `queue` (declared first) on a channel of their
    /// own: one per lane, most urgent first, each with at most `prefetch`
    /// deliveries unacknowledged, and the consumer of its `given-up` queue
    /// (quorum queues). They are named `tag`, `tag.p<band>`, `tag.given-up`.
    pub async fn consume(
        &self,
        queue: &WorkQueue,
        prefetch: u16,
        tag: &str,
    ) -> Result<Feeds, BrokerError> {
        let channel = self.channel().await?;
        let feeds = self
            .bounded(async {
                self.topology.declare_queue(&channel, queue).await?;
                channel
                    .basic_qos(prefetch, BasicQosOptions::default())
                    .await?;
                let mut lanes = Vec::new();
                for lane in self.topology.lanes(queue) {
                    let tag = match lane.band {
                        Some(band) => format!("{tag}.p{band}"),
                        None => tag.to_string(),
                    };
                    let consumer = self
                        .consume_queue(&channel, &self.topology.lane_queue(&lane), &tag)
                        .await?;
                    lanes.push((lane, consumer));
                }
                let given_up = match self.topology.given_up_queue(queue) {
                    Some(name) => Some(
                        self.consume_queue(&channel, &name, &format!("{tag}.given-up"))
                            .await?,
                    ),
                    None => None,
                };
                Ok::<_, BrokerError>(Feeds {
                    channel: channel.clone(),
                    lanes,
                    given_up,
                })
            })
            .await;
        if feeds.is_err() {
            let _ = self
                .bounded(channel.close(200, "consumer not started".into()))
                .await;
        }
        feeds
    }

    async fn consume_queue(
        &self,
        channel: &Channel,
        queue: &str,
        tag: &str,
    ) -> Result<Consumer, lapin::Error> {
        channel
            .basic_consume(
                queue.into(),
                tag.into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
    }

    /// A new channel on the consuming connection, reconnecting if needed.
    pub async fn channel(&self) -> Result<Channel, BrokerError> {
        let mut state = self.consuming.lock().await;
        let opened = {
            let connection = self.ensure_consuming(&mut state).await?;
            self.bounded(connection.create_channel()).await
        };
        match opened {
            Ok(channel) => {
                state.lent.retain(ChannelStatus::connected);
                state.lent.push(channel.status().clone());
                Ok(channel)
            }
            Err(e) => {
                // A connection that does not open a channel in time is
                // taken for lost: the next callers are told at once.
                if matches!(e, BrokerError::Unavailable(_)) {
                    state.connection = None;
                    if state.backoff.attempt().is_ok() {
                        state.backoff.failed(&e);
                    }
                }
                Err(e)
            }
        }
    }

    /// The AMQP channels this process has open (its publishing channel and
    /// the channels handed out that are still open), and the most one of
    /// its connections may open; both 0 while disconnected.
    pub async fn channel_use(&self) -> ChannelUse {
        let publishing = {
            let state = self.publishing.lock().await;
            state
                .link
                .as_ref()
                .filter(|l| l.connection.status().connected())
                .map(|link| ChannelUse {
                    open: usize::from(link.publisher.status().connected()),
                    max: link.connection.configuration().channel_max(),
                })
                .unwrap_or_default()
        };
        let mut state = self.consuming.lock().await;
        state.lent.retain(ChannelStatus::connected);
        let consuming = state
            .connection
            .as_ref()
            .filter(|c| c.status().connected())
            .map(|connection| ChannelUse {
                open: state.lent.len(),
                max: connection.configuration().channel_max(),
            })
            .unwrap_or_default();
        ChannelUse {
            open: publishing.open + consuming.open,
            max: publishing.max.max(consuming.max),
        }
    }

    async fn ensure_link<'s>(&self, state: &'s mut Publishing) -> Result<&'s Link, BrokerError> {
        let connected = state
            .link
            .as_ref()
            .is_some_and(|l| l.connection.status().connected());
        let healthy = state.link.as_ref().is_some_and(Link::healthy);
        if connected && !healthy {
            // The broker closed the publishing channel (a refused publish,
            // say): replace the channel, keep the connection.
            if let Some(link) = state.link.as_mut() {
                match self.publisher_channel(&link.connection).await {
                    Ok(channel) => link.publisher = channel,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot reopen the publishing channel");
                        state.link = None;
                    }
                }
            }
        }
        if !state.link.as_ref().is_some_and(Link::healthy) {
            state.backoff.attempt()?;
            let replacing = state.link.take();
            if let Some(old) = &replacing {
                let _ = self
                    .bounded(old.connection.close(200, "reconnecting".into()))
                    .await;
            }
            match self.open_link().await {
                Ok(link) => {
                    if state.backoff.succeeded() || replacing.is_some() {
                        tracing::info!(broker = %self.name, "reconnected to RabbitMQ");
                    }
                    state.queues = Declared::default();
                    self.declare_queues(&link.connection, &WorkQueue::fixed(), &mut state.queues)
                        .await;
                    state.link = Some(link);
                }
                Err(e) => {
                    let delay = state.backoff.failed(&e);
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

    /// Opens the publishing connection, within one [`Broker::call_timeout`].
    async fn open_link(&self) -> Result<Link, BrokerError> {
        self.bounded(async {
            let connection = self.connector.connect(&self.name).await?;
            let publisher = self.publisher_channel(&connection).await?;
            Ok::<_, BrokerError>(Link {
                connection,
                publisher,
            })
        })
        .await
    }

    /// A confirm-mode channel, with the exchanges declared through it.
    async fn publisher_channel(&self, connection: &Connection) -> Result<Channel, BrokerError> {
        self.bounded(async {
            let channel = connection.create_channel().await?;
            self.topology.declare_exchanges(&channel).await?;
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await?;
            Ok::<_, lapin::Error>(channel)
        })
        .await
    }

    async fn ensure_consuming<'s>(
        &self,
        state: &'s mut Consuming,
    ) -> Result<&'s Connection, BrokerError> {
        if !state
            .connection
            .as_ref()
            .is_some_and(|c| c.status().connected())
        {
            state.backoff.attempt()?;
            let replacing = state.connection.take();
            if let Some(old) = &replacing {
                let _ = self.bounded(old.close(200, "reconnecting".into())).await;
            }
            match self.open_consuming().await {
                Ok(connection) => {
                    if state.backoff.succeeded() || replacing.is_some() {
                        tracing::info!(broker = %self.name, "consuming connection to RabbitMQ reopened");
                    }
                    state.connection = Some(connection);
                }
                Err(e) => {
                    let delay = state.backoff.failed(&e);
                    tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "RabbitMQ unavailable to consumers");
                    return Err(e);
                }
            }
        }
        state
            .connection
            .as_ref()
            .ok_or_else(|| BrokerError::Unavailable("no connection".into()))
    }

    /// The consuming connection. The work queues bind to the work
    /// exchange: it is declared here too, so that consumers do not depend
    /// on the publishing connection (each consumer declares its queue).
    async fn open_consuming(&self) -> Result<Connection, BrokerError> {
        self.bounded(async {
            let connection = self
                .connector
                .connect(&format!("{} (consuming)", self.name))
                .await?;
            let channel = connection.create_channel().await?;
            self.topology.declare_exchanges(&channel).await?;
            channel.close(200, "exchanges declared".into()).await?;
            Ok::<_, BrokerError>(connection)
        })
        .await
    }

    /// Declares `queues`, each on a channel of its own, so that one that
    /// RabbitMQ refuses (it exists with other arguments, its node is down)
    /// stops neither the others nor publishing: it is logged by name and
    /// tried again after [`REFUSED_QUEUE_RETRY`].
    async fn declare_queues(
        &self,
        connection: &Connection,
        queues: &[WorkQueue],
        declared: &mut Declared,
    ) {
        for queue in queues {
            if declared.done.contains(queue)
                || declared
                    .refused
                    .get(queue)
                    .is_some_and(|at| *at > Instant::now())
            {
                continue;
            }
            let outcome = self
                .bounded(async {
                    let channel = connection.create_channel().await?;
                    self.topology.declare_queue(&channel, queue).await?;
                    let _ = channel.close(200, "queue declared".into()).await;
                    Ok::<_, BrokerError>(())
                })
                .await;
            match outcome {
                Ok(()) => {
                    declared.refused.remove(queue);
                    declared.done.insert(queue.clone());
                }
                Err(e) => {
                    tracing::error!(queue = %queue.key(), error = %e, "a work queue cannot be declared; publishing goes on for the others");
                    declared
                        .refused
                        .insert(queue.clone(), Instant::now() + REFUSED_QUEUE_RETRY);
                }
            }
        }
    }

    /// Publishes a batch; succeeds when the broker confirmed every message.
    pub async fn publish(&self, messages: &[Outgoing<'_>]) -> Result<(), BrokerError> {
        self.publish_each(messages).await?.into_iter().collect()
    }

    /// Publishes a batch and tells, message by message, what the broker
    /// said: confirmed, refused (nack), unroutable, or not confirmed within
    /// `amqp_confirm_timeout_secs`. The error is for the whole batch: no
    /// connection, or a broker that blocks publishers (a memory or disk
    /// alarm), in which case nothing is sent.
    pub async fn publish_each(
        &self,
        messages: &[Outgoing<'_>],
    ) -> Result<Vec<Confirm>, BrokerError> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let channel = self.publisher_for(messages).await?;
        let work = self.topology.work_exchange();
        let keys: Vec<String> = messages
            .iter()
            .map(|m| match m.exchange == work {
                true => self.topology.route(m.routing_key, m.priority),
                false => m.routing_key.to_string(),
            })
            .collect();
        let deadline = tokio::time::Instant::now() + self.confirm_timeout;
        publish_on(&channel, messages, &keys, deadline).await
    }

    /// The publishing channel, with a queue declared for every work routing
    /// key of `messages`: a worker group's queue is made when its first run
    /// is published, and the runs wait in it until a worker of the group
    /// consumes them (a work message no queue takes would be refused).
    async fn publisher_for(&self, messages: &[Outgoing<'_>]) -> Result<Channel, BrokerError> {
        let mut state = self.publishing.lock().await;
        self.ensure_link(&mut state).await?;
        let Publishing { link, queues, .. } = &mut *state;
        let link = link
            .as_ref()
            .ok_or_else(|| BrokerError::Unavailable("no connection".into()))?;
        if link.connection.status().blocked() {
            return Err(BrokerError::Unavailable(
                "RabbitMQ blocks publishers (a memory or disk alarm)".into(),
            ));
        }
        let mut missing: Vec<WorkQueue> = messages
            .iter()
            .filter(|m| m.mandatory)
            .filter_map(|m| Lane::from_key(m.routing_key))
            .map(|lane| lane.queue)
            .filter(|queue| !queues.done.contains(queue))
            .collect();
        missing.dedup();
        if !missing.is_empty() {
            self.declare_queues(&link.connection, &missing, queues)
                .await;
        }
        Ok(link.publisher.clone())
    }

    /// Closes the connections (at shutdown), each waiting at most
    /// [`Broker::call_timeout`].
    pub async fn close(&self) {
        if let Some(link) = self.publishing.lock().await.link.take() {
            let _ = self
                .bounded(link.connection.close(200, "shutting down".into()))
                .await;
        }
        if let Some(connection) = self.consuming.lock().await.connection.take() {
            let _ = self
                .bounded(connection.close(200, "shutting down".into()))
                .await;
        }
    }
}

/// Publishes `messages`, each with the routing key of the same index in
/// `keys`.
async fn publish_on(
    channel: &Channel,
    messages: &[Outgoing<'_>],
    keys: &[String],
    deadline: tokio::time::Instant,
) -> Result<Vec<Confirm>, BrokerError> {
    let mut confirms = Vec::with_capacity(messages.len());
    for (m, key) in messages.iter().zip(keys) {
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
        // Sending waits while the connection is blocked (an alarm that
        // began after the check): the deadline bounds it too.
        let sending = channel.basic_publish(
            m.exchange.into(),
            key.as_str().into(),
            options,
            m.body,
            properties,
        );
        let sent = match tokio::time::timeout_at(deadline, sending).await {
            Ok(sent) => sent.map_err(BrokerError::from),
            Err(_) => Err(BrokerError::Unavailable(
                "RabbitMQ did not take the message in time".into(),
            )),
        };
        match sent {
            Ok(confirm) => confirms.push(confirm),
            // Nothing was sent: the batch fails as a whole.
            Err(e) if confirms.is_empty() => return Err(e),
            Err(e) => {
                let reason = format!("publishing stopped: {e}");
                let mut outcomes = settle(confirms, keys, deadline).await;
                outcomes.resize_with(messages.len(), || {
                    Err(BrokerError::Unavailable(reason.clone()))
                });
                return Ok(outcomes);
            }
        }
    }
    Ok(settle(confirms, keys, deadline).await)
}

/// Waits for the confirms until `deadline`; those still missing then are
/// [`BrokerError::Unconfirmed`].
async fn settle(
    confirms: Vec<PublisherConfirm>,
    keys: &[String],
    deadline: tokio::time::Instant,
) -> Vec<Confirm> {
    let mut outcomes = Vec::with_capacity(confirms.len());
    for (confirm, key) in confirms.into_iter().zip(keys) {
        let outcome = match tokio::time::timeout_at(deadline, confirm).await {
            Err(_) => Err(BrokerError::Unconfirmed),
            Ok(Err(e)) => Err(e.into()),
            Ok(Ok(confirmation)) => {
                if confirmation.is_nack() {
                    Err(BrokerError::Nacked)
                } else if confirmation.take_message().is_some() {
                    Err(BrokerError::Unroutable(key.clone()))
                } else {
                    Ok(())
                }
            }
        };
        outcomes.push(outcome);
    }
    outcomes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attempt_holds_the_next_callers_off_with_its_reason() {
        let mut backoff = Backoff::default();
        backoff.attempt().expect("the first attempt goes");
        let held = backoff
            .attempt()
            .expect_err("an unfinished attempt holds off");
        assert!(held.to_string().contains("did not finish"), "{held}");
        backoff.failed(&BrokerError::Unavailable("certificate refused".into()));
        let held = backoff.attempt().expect_err("a failed attempt holds off");
        assert!(held.to_string().contains("certificate refused"), "{held}");
        backoff.next_attempt = Some(Instant::now());
        backoff.attempt().expect("due again");
        assert_eq!(backoff.failures, 2);
        assert!(backoff.succeeded(), "it follows a failure");
        backoff.attempt().expect("after a success, at once");
        assert!(!backoff.succeeded(), "no failure before it");
    }
}
