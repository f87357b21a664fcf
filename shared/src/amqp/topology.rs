//! fila's RabbitMQ topology, declared idempotently by every process that
//! connects. All names start with the configured prefix `<p>`:
//!
//! | name | kind | role |
//! |---|---|---|
//! | `<p>.work` | direct exchange | intake and releases publish work here |
//! | `<p>.taf` | queue | TAF records, bound with key `taf` |
//! | `<p>.eai` | queue | EAI messages and business-transaction lots, key `eai` |
//! | `<p>.process.<group>` | queue | the process runs of a worker group |
//! | `<lane>.retry.<delay>` | queue with TTL | a failed message waits here, then returns to its queue |
//! | `<p>.<queue>.given-up` | queue (quorum only) | what RabbitMQ's delivery limit took from `<p>.<queue>` |
//! | `<p>.results` | topic exchange | `taf.processed`, `eai.<transaction>.ok`, ... for consumers of results |
//!
//! Messages that failed every attempt are dead letters in PostgreSQL, not
//! in a queue (see [`crate::dead_letter`]).
//!
//! **Queue types** (`amqp_queue_type`). *Classic* queues have one replica:
//! a node that loses its disk loses their messages. `<p>.taf` then honors
//! per-message priority (`x-max-priority` 5, TAF `registryPriority`).
//! *Quorum* queues are replicated on a majority of the cluster's nodes, and
//! every queue is one:
//!
//! - Quorum queues have no priorities on RabbitMQ 3.10-3.13, two levels on
//!   4.0-4.2 and strict levels that starve the lower ones on 4.3. So TAF
//!   gets one queue, a *lane*, per `registryPriority`: `<p>.taf.p0`
//!   (urgent) to `<p>.taf.p5`, bound with keys `taf.p0` .. `taf.p5`; a
//!   message published with key `taf` goes to the lane of its priority
//!   ([`Topology::route`]). Workers drain the lanes most urgent first, with
//!   a guard against starvation (see the worker's `lanes` module).
//! - Each lane has its retry queues; they return a message to its lane by
//!   dead-lettering with RabbitMQ's *at-least-once* strategy
//!   (`x-dead-letter-strategy`, with `x-overflow: reject-publish`): a
//!   message leaves a retry queue only once its lane confirmed it.
//! - RabbitMQ gives up on a message delivered `amqp_delivery_limit` times
//!   (`x-delivery-limit`; RabbitMQ 4.0 would otherwise drop it after 20):
//!   the message is dead-lettered, at least once, to `<p>.<queue>.given-up`,
//!   which the workers consume and record as a dead letter in PostgreSQL
//!   with its history. The limit exceeds `worker_max_attempts`: fila's own
//!   count of a message's handling gives up first (see the worker's
//!   `redelivery` module), RabbitMQ's is the last resort.
//!
//! Queue arguments cannot change once a queue exists: switching a
//! deployment's queue type, or its `amqp_delivery_limit`, takes a new
//! `amqp_prefix` (or the queues deleted once drained). A queue that exists
//! with other arguments, or cannot be declared at all (its node down), is
//! reported by name and left out; the others are declared and used
//! ([`DeclareError`]).

use std::time::Duration;

use lapin::options::{
    ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, ExchangeKind};

use super::queue_type::QueueType;
use crate::config::Config;

/// A queue of work served by workers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WorkQueue {
    Taf,
    Eai,
    /// The process runs of one worker group.
    Process(String),
}

/// The worker group of processes not pinned to another.
pub const DEFAULT_GROUP: &str = "default";

/// TAF's `registryPriority` levels, 0 (urgent) to 5: the lanes of TAF on
/// quorum queues.
pub const TAF_BANDS: u8 = 6;

impl WorkQueue {
    /// The queues every deployment has.
    pub fn fixed() -> [WorkQueue; 3] {
        [
            WorkQueue::Taf,
            WorkQueue::Eai,
            WorkQueue::Process(DEFAULT_GROUP.to_string()),
        ]
    }

    /// The TAF and EAI queues and those of the process `groups`.
    pub fn with_groups(groups: &[String]) -> Vec<WorkQueue> {
        [WorkQueue::Taf, WorkQueue::Eai]
            .into_iter()
            .chain(groups.iter().map(|g| WorkQueue::Process(g.clone())))
            .collect()
    }

    /// Routing key on the work exchange, and the queue's name after the
    /// prefix.
    pub fn key(&self) -> String {
        match self {
            WorkQueue::Taf => "taf".into(),
            WorkQueue::Eai => "eai".into(),
            WorkQueue::Process(group) => format!("process.{group}"),
        }
    }

    /// The queue a routing key names.
    pub fn from_key(key: &str) -> Option<WorkQueue> {
        match key {
            "taf" => Some(WorkQueue::Taf),
            "eai" => Some(WorkQueue::Eai),
            _ => key
                .strip_prefix("process.")
                .filter(|group| valid_group(group))
                .map(|group| WorkQueue::Process(group.to_string())),
        }
    }
}

/// A queue travels as its key (`taf`, `eai`, `process.<group>`).
impl serde::Serialize for WorkQueue {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.key())
    }
}

impl<'de> serde::Deserialize<'de> for WorkQueue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let key = String::deserialize(deserializer)?;
        WorkQueue::from_key(&key)
            .ok_or_else(|| serde::de::Error::custom(format!("no work queue is named {key:?}")))
    }
}

/// One RabbitMQ queue of a work queue: the queue itself, or, for TAF on
/// quorum queues, the lane of one `registryPriority` (`band`, 0 urgent).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Lane {
    pub queue: WorkQueue,
    pub band: Option<u8>,
}

impl Lane {
    /// The lane that is the whole queue.
    pub fn whole(queue: WorkQueue) -> Self {
        Self { queue, band: None }
    }

    /// Its routing key and name after the prefix: the queue's key, with
    /// `.p<band>` for a band.
    pub fn key(&self) -> String {
        match self.band {
            None => self.queue.key(),
            Some(band) => format!("{}.p{band}", self.queue.key()),
        }
    }

    /// The lane a key names.
    pub fn from_key(key: &str) -> Option<Lane> {
        if let Some(queue) = WorkQueue::from_key(key) {
            return Some(Lane::whole(queue));
        }
        let (queue, band) = key.rsplit_once(".p")?;
        let band = band.parse::<u8>().ok().filter(|b| *b < TAF_BANDS)?;
        (queue == "taf").then_some(Lane {
            queue: WorkQueue::Taf,
            band: Some(band),
        })
    }
}

/// A lane travels as its key (`taf`, `taf.p0`, `eai`, ...).
impl serde::Serialize for Lane {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.key())
    }
}

impl<'de> serde::Deserialize<'de> for Lane {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let key = String::deserialize(deserializer)?;
        Lane::from_key(&key)
            .ok_or_else(|| serde::de::Error::custom(format!("no work queue is named {key:?}")))
    }
}

/// Whether a worker group name is usable in queue names.
pub fn valid_group(group: &str) -> bool {
    !group.is_empty()
        && group.len() <= 64
        && group
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
}

/// How long a failed message waits before its next attempt: the n-th retry
/// waits `RETRY_DELAYS[min(n - 1, last)]`.
pub const RETRY_DELAYS: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(10),
    Duration::from_secs(60),
];

/// The delivery limit of a `given-up` queue: never reached in practice
/// (RabbitMQ 4.0 would otherwise drop a message after 20 deliveries).
const GIVEN_UP_DELIVERY_LIMIT: i64 = 1_000_000;

/// Why a queue could not be declared.
#[derive(Debug, thiserror::Error)]
pub enum DeclareError {
    /// It exists with other arguments than fila declares.
    #[error(
        "queue {queue} exists with a different {argument} than fila declares ({detail}); \
         fila goes on without it: delete it once drained, or use another amqp_prefix"
    )]
    Mismatch {
        queue: String,
        argument: String,
        detail: String,
    },
    #[error("queue {queue} cannot be declared: {source}")]
    Failed {
        queue: String,
        #[source]
        source: lapin::Error,
    },
}

impl DeclareError {
    fn of(queue: &str, source: lapin::Error) -> Self {
        let detail = source.to_string();
        match inequivalent_argument(&detail) {
            Some(argument) => DeclareError::Mismatch {
                queue: queue.to_string(),
                argument: argument.to_string(),
                detail,
            },
            None => DeclareError::Failed {
                queue: queue.to_string(),
                source,
            },
        }
    }
}

/// The argument RabbitMQ names in a PRECONDITION_FAILED refusal
/// (`inequivalent arg 'x-queue-type' for queue ...`).
fn inequivalent_argument(text: &str) -> Option<&str> {
    let rest = &text[text.find("inequivalent arg '")? + "inequivalent arg '".len()..];
    rest.split('\'').next().filter(|a| !a.is_empty())
}

/// The names of one deployment's exchanges and queues, and how its queues
/// are declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    prefix: String,
    queue_type: QueueType,
    delivery_limit: u32,
}

impl Topology {
    /// Classic queues under `prefix`.
    pub fn new(prefix: impl Into<String>) -> Self {
        let defaults = Config::default();
        Self {
            prefix: prefix.into(),
            queue_type: defaults.amqp_queue_type,
            delivery_limit: defaults.amqp_delivery_limit,
        }
    }

    /// The topology `config` describes.
    pub fn of(config: &Config) -> Self {
        Self {
            prefix: config.amqp_prefix.clone(),
            queue_type: config.amqp_queue_type,
            delivery_limit: config.amqp_delivery_limit,
        }
    }

    /// The same names with queues of `queue_type`.
    pub fn with_queue_type(mut self, queue_type: QueueType) -> Self {
        self.queue_type = queue_type;
        self
    }

    pub fn queue_type(&self) -> QueueType {
        self.queue_type
    }

    pub fn work_exchange(&self) -> String {
        format!("{}.work", self.prefix)
    }

    pub fn results_exchange(&self) -> String {
        format!("{}.results", self.prefix)
    }

    /// The lanes of `queue`, most urgent first.
    pub fn lanes(&self, queue: &WorkQueue) -> Vec<Lane> {
        if self.banded(queue) {
            (0..TAF_BANDS)
                .map(|band| Lane {
                    queue: WorkQueue::Taf,
                    band: Some(band),
                })
                .collect()
        } else {
            vec![Lane::whole(queue.clone())]
        }
    }

    /// The lane a message of `queue` with AMQP `priority` (5 urgent) goes to.
    pub fn lane(&self, queue: &WorkQueue, priority: u8) -> Lane {
        Lane {
            queue: queue.clone(),
            band: self
                .banded(queue)
                .then(|| TAF_BANDS - 1 - priority.min(TAF_BANDS - 1)),
        }
    }

    /// Whether `queue` has a lane per priority: TAF on quorum queues.
    fn banded(&self, queue: &WorkQueue) -> bool {
        self.queue_type == QueueType::Quorum && *queue == WorkQueue::Taf
    }

    /// The routing key a message published with `routing_key` and AMQP
    /// `priority` goes out with: its lane's, for a work queue.
    pub fn route(&self, routing_key: &str, priority: u8) -> String {
        match WorkQueue::from_key(routing_key) {
            Some(queue) => self.lane(&queue, priority).key(),
            None => routing_key.to_string(),
        }
    }

    /// The RabbitMQ queue of `lane`.
    pub fn lane_queue(&self, lane: &Lane) -> String {
        format!("{}.{}", self.prefix, lane.key())
    }

    /// The retry queue of `lane` for the n-th retry (n from 1).
    pub fn retry_queue(&self, lane: &Lane, retry: u32) -> String {
        let index = (retry.max(1) as usize - 1).min(RETRY_DELAYS.len() - 1);
        format!(
            "{}.retry.{}s",
            self.lane_queue(lane),
            RETRY_DELAYS[index].as_secs()
        )
    }

    /// The queue RabbitMQ's delivery limit sends `queue`'s messages to; none
    /// on classic queues, which have no delivery limit.
    pub fn given_up_queue(&self, queue: &WorkQueue) -> Option<String> {
        (self.queue_type == QueueType::Quorum)
            .then(|| format!("{}.{}.given-up", self.prefix, queue.key()))
    }

    fn exchanges(&self) -> [(String, ExchangeKind); 2] {
        [
            (self.work_exchange(), ExchangeKind::Direct),
            (self.results_exchange(), ExchangeKind::Topic),
        ]
    }

    /// Declares the exchanges; safe to repeat.
    pub async fn declare_exchanges(&self, channel: &Channel) -> Result<(), lapin::Error> {
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        };
        for (name, kind) in self.exchanges() {
            channel
                .exchange_declare(name.into(), kind, durable, FieldTable::default())
                .await?;
        }
        Ok(())
    }

    /// Declares one work queue: its lanes, their bindings and retry queues,
    /// and its `given-up` queue; safe to repeat. A refusal closes
    /// `channel`.
    pub async fn declare_queue(
        &self,
        channel: &Channel,
        queue: &WorkQueue,
    ) -> Result<(), DeclareError> {
        let durable = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        let declare = |name: String, args: FieldTable| async move {
            channel
                .queue_declare(name.clone().into(), durable, args)
                .await
                .map(drop)
                .map_err(|e| DeclareError::of(&name, e))
        };
        let given_up = self.given_up_queue(queue);
        if let Some(name) = &given_up {
            let mut args = self.args();
            args.insert(
                "x-delivery-limit".into(),
                AMQPValue::LongLongInt(GIVEN_UP_DELIVERY_LIMIT),
            );
            declare(name.clone(), args).await?;
        }
        for lane in self.lanes(queue) {
            let name = self.lane_queue(&lane);
            let mut args = self.args();
            match &given_up {
                Some(given_up) => {
                    args.insert(
                        "x-delivery-limit".into(),
                        AMQPValue::LongLongInt(i64::from(self.delivery_limit)),
                    );
                    self.dead_letter_to(&mut args, given_up);
                }
                None if lane.queue == WorkQueue::Taf => {
                    args.insert("x-max-priority".into(), AMQPValue::ShortShortUInt(5));
                }
                None => {}
            }
            declare(name.clone(), args).await?;
            channel
                .queue_bind(
                    name.clone().into(),
                    self.work_exchange().into(),
                    lane.key().into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(|e| DeclareError::of(&name, e))?;
            for retry in 1..=RETRY_DELAYS.len() as u32 {
                let mut args = self.args();
                let ttl = RETRY_DELAYS[retry as usize - 1].as_millis();
                args.insert(
                    "x-message-ttl".into(),
                    AMQPValue::LongLongInt(i64::try_from(ttl).unwrap_or(i64::MAX)),
                );
                self.dead_letter_to(&mut args, &name);
                declare(self.retry_queue(&lane, retry), args).await?;
            }
        }
        Ok(())
    }

    /// The arguments every queue of this topology has.
    fn args(&self) -> FieldTable {
        let mut args = FieldTable::default();
        if self.queue_type == QueueType::Quorum {
            args.insert("x-queue-type".into(), long(self.queue_type.name()));
        }
        args
    }

    /// Dead-letters to the queue `target` (through the default exchange);
    /// on quorum queues at least once: a message leaves only once `target`
    /// took it.
    fn dead_letter_to(&self, args: &mut FieldTable, target: &str) {
        args.insert("x-dead-letter-exchange".into(), long(""));
        args.insert("x-dead-letter-routing-key".into(), long(target));
        if self.queue_type == QueueType::Quorum {
            args.insert("x-dead-letter-strategy".into(), long("at-least-once"));
            args.insert("x-overflow".into(), long("reject-publish"));
        }
    }

    /// Deletes what `declare` made for either queue type, and the queues of
    /// `groups` (used to clean up test deployments).
    pub async fn delete(&self, channel: &Channel, groups: &[&str]) -> Result<(), lapin::Error> {
        let queues = WorkQueue::fixed()
            .into_iter()
            .chain(groups.iter().map(|g| WorkQueue::Process(g.to_string())));
        let quorum = self.clone().with_queue_type(QueueType::Quorum);
        for queue in queues {
            let mut names = Vec::new();
            for topology in [self, &quorum] {
                for lane in topology.lanes(&queue) {
                    names.push(topology.lane_queue(&lane));
                    names.extend(
                        (1..=RETRY_DELAYS.len() as u32).map(|r| topology.retry_queue(&lane, r)),
                    );
                }
                names.extend(topology.given_up_queue(&queue));
            }
            names.sort();
            names.dedup();
            for name in names {
                channel
                    .queue_delete(name.into(), QueueDeleteOptions::default())
                    .await?;
            }
        }
        for (name, _) in self.exchanges() {
            channel
                .exchange_delete(name.into(), ExchangeDeleteOptions::default())
                .await?;
        }
        Ok(())
    }
}

fn long(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_prefix() {
        let t = Topology::new("fila");
        let taf = Lane::whole(WorkQueue::Taf);
        assert_eq!(t.results_exchange(), "fila.results");
        assert_eq!(t.lane_queue(&taf), "fila.taf");
        assert_eq!(t.retry_queue(&taf, 1), "fila.taf.retry.1s");
        assert_eq!(t.retry_queue(&taf, 9), "fila.taf.retry.60s");
        assert_eq!(
            t.lane_queue(&Lane::whole(WorkQueue::Process("nfe".into()))),
            "fila.process.nfe"
        );
        assert_eq!(t.given_up_queue(&WorkQueue::Taf), None);
        for queue in [
            WorkQueue::Taf,
            WorkQueue::Eai,
            WorkQueue::Process("nfe".into()),
        ] {
            assert_eq!(WorkQueue::from_key(&queue.key()), Some(queue));
        }
        assert_eq!(WorkQueue::from_key("process.a b"), None);
    }

    #[test]
    fn on_quorum_queues_taf_has_a_lane_per_priority() {
        let classic = Topology::new("fila");
        let quorum = Topology::new("fila").with_queue_type(QueueType::Quorum);
        assert_eq!(classic.lanes(&WorkQueue::Taf).len(), 1);
        assert_eq!(classic.route("taf", 5), "taf");
        let lanes = quorum.lanes(&WorkQueue::Taf);
        assert_eq!(lanes.len(), 6);
        assert_eq!(quorum.lane_queue(&lanes[0]), "fila.taf.p0");
        assert_eq!(quorum.retry_queue(&lanes[5], 2), "fila.taf.p5.retry.10s");
        assert_eq!(
            quorum.route("taf", 5),
            "taf.p0",
            "AMQP 5 is registryPriority 0"
        );
        assert_eq!(quorum.route("taf", 0), "taf.p5");
        assert_eq!(quorum.route("taf", 9), "taf.p0");
        assert_eq!(quorum.route("taf.p3", 0), "taf.p3", "a lane's key stays");
        assert_eq!(quorum.route("eai", 0), "eai");
        assert_eq!(quorum.route("taf.processed", 0), "taf.processed");
        assert_eq!(
            quorum.given_up_queue(&WorkQueue::Eai).as_deref(),
            Some("fila.eai.given-up")
        );
        for lane in lanes {
            assert_eq!(Lane::from_key(&lane.key()), Some(lane));
        }
        assert_eq!(Lane::from_key("taf.p6"), None);
        assert_eq!(Lane::from_key("eai.p1"), None);
        assert_eq!(
            Lane::from_key("process.p1"),
            Some(Lane::whole(WorkQueue::Process("p1".into())))
        );
    }

    #[test]
    fn a_mismatch_names_the_argument() {
        let text = "PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'fila.eai' \
                    in vhost '/': received the value 'quorum' of type 'longstr' but current is none";
        assert_eq!(inequivalent_argument(text), Some("x-queue-type"));
        assert_eq!(inequivalent_argument("NOT_FOUND - home node down"), None);
    }
}
