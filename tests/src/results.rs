//! Watches `<prefix>.results` through a queue of the test's own.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties, Consumer};
use serde_json::Value;

use crate::Fila;

/// One result message as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub routing_key: String,
    pub message_id: String,
    pub body: Value,
}

/// How the results reported one item. Results are delivered at least
/// once: a message may come twice with the same `message_id`, which a
/// consumer that deduplicates on it sees once. Two distinct messages about
/// one item mean fila finished it twice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reports {
    /// Deliveries that reported the item, as they came.
    pub deliveries: usize,
    /// The distinct result messages (by `message_id`) among them.
    pub messages: HashSet<String>,
}

impl Reports {
    /// Reported by exactly one result message (delivered once or more).
    pub fn once(&self) -> bool {
        self.messages.len() == 1
    }

    fn add(&mut self, message_id: &str) {
        self.deliveries += 1;
        self.messages.insert(message_id.to_string());
    }
}

pub struct Results {
    connection: Connection,
    consumer: Consumer,
    /// Every delivery, as it came.
    pub received: Vec<Received>,
    /// Distinct message ids received.
    message_ids: HashSet<String>,
    /// How each RecNo was reported.
    records: HashMap<i64, Reports>,
    /// How each EAI message (by UUID) was answered by response messages.
    responses: HashMap<String, Reports>,
    /// How each process job (by uid) had its final result reported.
    runs: HashMap<String, Reports>,
}

impl Results {
    /// Starts collecting every result of `fila` (exclusive, auto-deleted queue).
    pub async fn observe(fila: &Fila) -> Self {
        Self::observe_on(fila, fila.broker_url()).await
    }

    /// [`Results::observe`] on the RabbitMQ of `amqp_url` (a node of the
    /// test's own).
    pub async fn observe_on(fila: &Fila, amqp_url: &str) -> Self {
        let connection = Connection::connect(amqp_url, ConnectionProperties::default())
            .await
            .expect("amqp");
        let channel = connection.create_channel().await.expect("channel");
        let queue = channel
            .queue_declare(
                "".into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("queue");
        channel
            .queue_bind(
                queue.name().clone(),
                format!("{}.results", fila.prefix).into(),
                "#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("bind");
        let consumer = channel
            .basic_consume(
                queue.name().clone(),
                "results".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("consume");
        Self {
            connection,
            consumer,
            received: Vec::new(),
            message_ids: HashSet::new(),
            records: HashMap::new(),
            responses: HashMap::new(),
            runs: HashMap::new(),
        }
    }

    /// Waits for the next result until `deadline`; records it. `false` when
    /// none came.
    async fn receive(&mut self, deadline: tokio::time::Instant) -> bool {
        let next = tokio::time::timeout_at(deadline, self.consumer.next()).await;
        let Ok(Some(Ok(delivery))) = next else {
            return false;
        };
        delivery.ack(BasicAckOptions::default()).await.expect("ack");
        let received = Received {
            routing_key: delivery.routing_key.to_string(),
            message_id: delivery
                .properties
                .message_id()
                .as_ref()
                .map(|m| m.to_string())
                .unwrap_or_default(),
            body: serde_json::from_slice(&delivery.data).unwrap_or(Value::Null),
        };
        self.message_ids.insert(received.message_id.clone());
        let id = received.message_id.as_str();
        for record in received.body["records"].as_array().into_iter().flatten() {
            if let Some(rec_no) = record["recNo"].as_i64() {
                self.records.entry(rec_no).or_default().add(id);
            }
        }
        if let Some(uuid) = answered_uuid(&received.body) {
            self.responses.entry(uuid).or_default().add(id);
        }
        if received.routing_key.starts_with("process.")
            && let Some(uid) = received.body["uid"].as_str()
        {
            self.runs.entry(uid.to_string()).or_default().add(id);
        }
        self.received.push(received);
        true
    }

    /// Collects until `done` holds of what came, or `seconds` pass; whether
    /// it holds.
    pub async fn collect_until(&mut self, seconds: u64, done: impl Fn(&Self) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
        while !done(self) {
            if !self.receive(deadline).await {
                return done(self);
            }
        }
        true
    }

    /// Collects until `records` distinct TAF records were reported or
    /// `seconds` pass; returns how many were.
    pub async fn collect_taf(&mut self, records: usize, seconds: u64) -> usize {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
        while self.records.len() < records && self.receive(deadline).await {}
        self.records.len()
    }

    /// Collects until EAI response messages answered `messages` distinct
    /// UUIDs or `seconds` pass; returns how many did.
    pub async fn collect_eai(&mut self, messages: usize, seconds: u64) -> usize {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
        while self.responses.len() < messages && self.receive(deadline).await {}
        self.responses.len()
    }

    /// Collects until `jobs` distinct process jobs had their final result
    /// or `seconds` pass; returns how many did.
    pub async fn collect_runs(&mut self, jobs: usize, seconds: u64) -> usize {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
        while self.runs.len() < jobs && self.receive(deadline).await {}
        self.runs.len()
    }

    /// Collects until `count` results with a routing key starting with
    /// `prefix` came or `seconds` pass; returns those that came.
    pub async fn collect_routed(
        &mut self,
        prefix: &str,
        count: usize,
        seconds: u64,
    ) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
        let routed = |r: &Received| r.routing_key.starts_with(prefix);
        let mut matched = self.received.iter().filter(|r| routed(r)).count();
        while matched < count && self.receive(deadline).await {
            if self.received.last().is_some_and(routed) {
                matched += 1;
            }
        }
        self.received
            .iter()
            .filter(|r| routed(r))
            .cloned()
            .collect()
    }

    /// How each RecNo was reported.
    pub fn taf_records(&self) -> &HashMap<i64, Reports> {
        &self.records
    }

    /// How each EAI message (by UUID) was answered.
    pub fn eai_responses(&self) -> &HashMap<String, Reports> {
        &self.responses
    }

    /// How each process job (by uid) had its final result reported.
    pub fn process_runs(&self) -> &HashMap<String, Reports> {
        &self.runs
    }

    /// Deliveries of a message already delivered (same `message_id`): the
    /// "at least once" of result delivery.
    pub fn redeliveries(&self) -> usize {
        self.received.len() - self.message_ids.len()
    }

    pub async fn close(self) {
        let _ = self.connection.close(200, "done".into()).await;
    }
}

/// The UUID an EAI response message answers (`Content.ReceivedMessage.UUID`,
/// in either key style).
fn answered_uuid(body: &Value) -> Option<String> {
    let pick = |v: &Value, upper: &str, lower: &str| v.get(upper).or_else(|| v.get(lower)).cloned();
    let content = pick(body, "Content", "content")?;
    let received = pick(&content, "ReceivedMessage", "receivedMessage")?;
    pick(&received, "UUID", "uuid")?
        .as_str()
        .map(str::to_string)
}
