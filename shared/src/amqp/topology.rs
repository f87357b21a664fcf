//! fila's RabbitMQ topology, declared idempotently by every process that
//! connects. All names start with the configured prefix `<p>`:
//!
//! | name | kind | role |
//! |---|---|---|
//! | `<p>.work` | direct exchange | intake and releases publish work here |
//! | `<p>.taf` | queue, priorities 0-5 | TAF records, bound with key `taf` |
//! | `<p>.eai` | queue | EAI messages and business-transaction lots, key `eai` |
//! | `<p>.<queue>.retry.<delay>` | queue with TTL | a failed message waits here, then returns to its queue |
//! | `<p>.results` | topic exchange | `taf.processed`, `eai.<transaction>.ok`, ... for consumers of results |
//!
//! Queues are durable classic queues: classic queues honor per-message
//! priority (TAF `registryPriority`) on every RabbitMQ version. Messages
//! that failed every attempt are dead letters in PostgreSQL, not in a queue
//! (see [`crate::dead_letter`]).

use std::time::Duration;

use lapin::options::{
    ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, ExchangeKind};

/// A queue of work served by workers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkQueue {
    Taf,
    Eai,
    /// The process runs of one worker group.
    Process(String),
}

/// The worker group of processes not pinned to another.
pub const DEFAULT_GROUP: &str = "default";

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

    /// Routing key on the work and dead-letter exchanges, and the queue's
    /// name after the prefix.
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

    /// Highest AMQP priority the queue honors, if it has priorities.
    fn max_priority(&self) -> Option<u8> {
        match self {
            WorkQueue::Taf => Some(5),
            WorkQueue::Eai | WorkQueue::Process(_) => None,
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

/// The names of one deployment's exchanges and queues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    prefix: String,
}

impl Topology {
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    pub fn work_exchange(&self) -> String {
        format!("{}.work", self.prefix)
    }

    pub fn results_exchange(&self) -> String {
        format!("{}.results", self.prefix)
    }

    pub fn queue(&self, queue: &WorkQueue) -> String {
        format!("{}.{}", self.prefix, queue.key())
    }

    /// The retry queue for the n-th retry (n from 1).
    pub fn retry_queue(&self, queue: &WorkQueue, retry: u32) -> String {
        let index = (retry.max(1) as usize - 1).min(RETRY_DELAYS.len() - 1);
        format!(
            "{}.{}.retry.{}s",
            self.prefix,
            queue.key(),
            RETRY_DELAYS[index].as_secs()
        )
    }

    fn exchanges(&self) -> [(String, ExchangeKind); 2] {
        [
            (self.work_exchange(), ExchangeKind::Direct),
            (self.results_exchange(), ExchangeKind::Topic),
        ]
    }

    /// Declares everything; safe to repeat.
    pub async fn declare(&self, channel: &Channel) -> Result<(), lapin::Error> {
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        };
        for (name, kind) in self.exchanges() {
            channel
                .exchange_declare(name.into(), kind, durable, FieldTable::default())
                .await?;
        }
        for queue in WorkQueue::fixed() {
            self.declare_queue(channel, &queue).await?;
        }
        Ok(())
    }

    /// Declares one work queue with its retry queues (a
    /// worker group's, when a process names it).
    pub async fn declare_queue(
        &self,
        channel: &Channel,
        queue: &WorkQueue,
    ) -> Result<(), lapin::Error> {
        let durable = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        let mut work_args = FieldTable::default();
        if let Some(max) = queue.max_priority() {
            work_args.insert("x-max-priority".into(), AMQPValue::ShortShortUInt(max));
        }
        let name = self.queue(queue);
        channel
            .queue_declare(name.clone().into(), durable, work_args)
            .await?;
        channel
            .queue_bind(
                name.clone().into(),
                self.work_exchange().into(),
                queue.key().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        for retry in 1..=RETRY_DELAYS.len() as u32 {
            let mut args = FieldTable::default();
            let ttl = RETRY_DELAYS[retry as usize - 1].as_millis();
            args.insert(
                "x-message-ttl".into(),
                AMQPValue::LongLongInt(i64::try_from(ttl).unwrap_or(i64::MAX)),
            );
            args.insert("x-dead-letter-exchange".into(), long(String::new()));
            args.insert("x-dead-letter-routing-key".into(), long(name.clone()));
            channel
                .queue_declare(self.retry_queue(queue, retry).into(), durable, args)
                .await?;
        }
        Ok(())
    }

    /// Deletes what `declare` made, and the queues of `groups` (used to
    /// clean up test deployments).
    pub async fn delete(&self, channel: &Channel, groups: &[&str]) -> Result<(), lapin::Error> {
        let queues = WorkQueue::fixed()
            .into_iter()
            .chain(groups.iter().map(|g| WorkQueue::Process(g.to_string())));
        for queue in queues {
            let mut names = vec![self.queue(&queue)];
            names.extend((1..=RETRY_DELAYS.len() as u32).map(|r| self.retry_queue(&queue, r)));
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

fn long(value: String) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_prefix() {
        let t = Topology::new("fila");
        assert_eq!(t.results_exchange(), "fila.results");
        assert_eq!(t.queue(&WorkQueue::Taf), "fila.taf");
        assert_eq!(t.retry_queue(&WorkQueue::Taf, 1), "fila.taf.retry.1s");
        assert_eq!(t.retry_queue(&WorkQueue::Taf, 9), "fila.taf.retry.60s");
        assert_eq!(
            t.queue(&WorkQueue::Process("nfe".into())),
            "fila.process.nfe"
        );
        for queue in [
            WorkQueue::Taf,
            WorkQueue::Eai,
            WorkQueue::Process("nfe".into()),
        ] {
            assert_eq!(WorkQueue::from_key(&queue.key()), Some(queue));
        }
        assert_eq!(WorkQueue::from_key("process.a b"), None);
    }
}
