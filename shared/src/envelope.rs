//! What travels on RabbitMQ, as tagged and versioned JSON: the `type` field
//! (repeated in the AMQP `type` property) says what a message is, so a
//! consumer never guesses, and a new version is a new tag.

use serde::{Deserialize, Serialize};

use crate::amqp::WorkQueue;
use crate::taf::result::RecordResult;

/// A unit of work for the workers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum WorkMessage {
    /// TAF records of one priority, by RecNo.
    #[serde(rename = "taf.records.v1")]
    TafRecords { ids: Vec<i64> },
}

impl WorkMessage {
    pub fn kind(&self) -> &'static str {
        match self {
            WorkMessage::TafRecords { .. } => "taf.records.v1",
        }
    }

    pub fn queue(&self) -> WorkQueue {
        match self {
            WorkMessage::TafRecords { .. } => WorkQueue::Taf,
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
}

impl ResultMessage {
    pub fn kind(&self) -> &'static str {
        match self {
            ResultMessage::TafResults { .. } => "taf.results.v1",
        }
    }
}

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
