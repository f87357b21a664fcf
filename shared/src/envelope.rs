//! What travels on RabbitMQ, as tagged and versioned JSON: the `type` field
//! (repeated in the AMQP `type` property) says what a message is, so a
//! consumer never guesses, and a new version is a new tag.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::amqp::{Lane, WorkQueue};
use crate::taf::result::RecordResult;

/// A unit of work for the workers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum WorkMessage {
    /// TAF records of one priority, by RecNo.
    #[serde(rename = "taf.records.v1")]
    TafRecords { ids: Vec<i64> },
    /// EAI messages processed each on its own: a single message, or some of
    /// a simpleBatch lot (up to `eai_chunk_size` for the entity store, one
    /// for an HTTP destination).
    #[serde(rename = "eai.messages.v1")]
    EaiMessages { uuids: Vec<String> },
    /// A businessTransaction lot, processed whole.
    #[serde(rename = "eai.batch.v1")]
    EaiBatch { batch: String },
    /// The response message of a processed EAI message, to deliver back to
    /// the application that sent it (see `eai::callback`).
    #[serde(rename = "eai.callback.v1")]
    EaiCallback { uuid: String },
    /// The next waiting execution of a process job, on its worker group.
    #[serde(rename = "process.run.v1")]
    ProcessRun {
        job: i64,
        process: String,
        group: String,
    },
    /// A probe of the reconciler through `queue`: the worker that takes it
    /// records that every message queued before `sent_at` has been
    /// delivered (see `crate::reconcile`).
    #[serde(rename = "probe.v1")]
    Probe {
        /// The lane it was sent through (a work queue, or one of TAF's
        /// priority lanes on quorum queues).
        queue: Lane,
        #[serde(rename = "sentAt")]
        sent_at: DateTime<Utc>,
    },
}

impl WorkMessage {
    pub fn kind(&self) -> &'static str {
        match self {
            WorkMessage::TafRecords { .. } => "taf.records.v1",
            WorkMessage::EaiMessages { .. } => "eai.messages.v1",
            WorkMessage::EaiBatch { .. } => "eai.batch.v1",
            WorkMessage::EaiCallback { .. } => "eai.callback.v1",
            WorkMessage::ProcessRun { .. } => "process.run.v1",
            WorkMessage::Probe { .. } => "probe.v1",
        }
    }

    pub fn queue(&self) -> WorkQueue {
        match self {
            WorkMessage::TafRecords { .. } => WorkQueue::Taf,
            WorkMessage::EaiMessages { .. }
            | WorkMessage::EaiBatch { .. }
            | WorkMessage::EaiCallback { .. } => WorkQueue::Eai,
            WorkMessage::ProcessRun { group, .. } => WorkQueue::Process(group.clone()),
            WorkMessage::Probe { queue, .. } => queue.queue.clone(),
        }
    }
}

/// A result published to `<prefix>.results`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ResultMessage {
    /// Records of one worker transaction that ended in the same status;
    /// routing key `taf.<status>` (`taf.processed`, `taf.error`).
    #[serde(rename = "taf.results.v1")]
    TafResults { records: Vec<RecordResult> },
    /// The outcome of a businessTransaction lot; routing key
    /// `eai.batch.<ok|error>`. Each message's response message is published
    /// too, on its own.
    #[serde(rename = "eai.batch.v1")]
    EaiBatch {
        #[serde(rename = "batchUUID")]
        batch_uuid: String,
        status: String,
        messages: Vec<String>,
    },
    /// The final outcome of a process run; routing key
    /// `process.<name>.<succeeded|failed>`.
    #[serde(rename = "process.result.v1")]
    ProcessResult {
        #[serde(rename = "jobId")]
        job_id: i64,
        #[serde(rename = "execId")]
        exec_id: i32,
        uid: String,
        process: String,
        status: String,
        message: String,
        outputs: serde_json::Value,
    },
}

impl ResultMessage {
    pub fn kind(&self) -> &'static str {
        match self {
            ResultMessage::TafResults { .. } => "taf.results.v1",
            ResultMessage::EaiBatch { .. } => "eai.batch.v1",
            ResultMessage::ProcessResult { .. } => "process.result.v1",
        }
    }
}

/// The AMQP `type` of an EAI response message, which is published as the
/// EAI message itself (`{Header, Content}`), without a `type` field.
pub const EAI_RESPONSE_KIND: &str = "eai.response.v1";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_messages_say_what_they_are() {
        let message = WorkMessage::TafRecords { ids: vec![1, 2] };
        let json = serde_json::to_value(&message).expect("serializes");
        assert_eq!(json["type"], message.kind());
        assert_eq!(
            serde_json::from_value::<WorkMessage>(json).ok(),
            Some(message)
        );
    }
}
