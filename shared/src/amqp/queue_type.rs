//! The RabbitMQ queue type of fila's queues (`amqp_queue_type`).

use serde::Deserialize;

/// Which queue type fila declares its queues with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum QueueType {
    /// One replica, on the node that declared the queue; per-message
    /// priorities. For one-node setups.
    #[default]
    Classic,
    /// Replicated on a majority of the cluster's nodes (Raft); what a
    /// RabbitMQ cluster needs, so that a node lost with its disk loses no
    /// message.
    Quorum,
}

impl QueueType {
    /// The value of `x-queue-type`.
    pub fn name(self) -> &'static str {
        match self {
            QueueType::Classic => "classic",
            QueueType::Quorum => "quorum",
        }
    }
}
