//! Records go to the queue in chunks: one queue message carries up to
//! `taf_chunk_size` records of one priority, so a lot of thousands of records
//! costs a handful of messages while each record keeps its own status, and an
//! urgent record never waits behind a chunk of low-priority ones.

use std::collections::BTreeMap;

use super::record::Priority;
use crate::envelope::WorkMessage;
use crate::outbox::OutboxMessage;

/// Work messages for `(RecNo, priority)` pairs, most urgent first.
pub fn work_messages(
    records: impl IntoIterator<Item = (i64, Priority)>,
    chunk_size: usize,
) -> Vec<OutboxMessage> {
    let mut by_priority: BTreeMap<Priority, Vec<i64>> = BTreeMap::new();
    for (id, priority) in records {
        by_priority.entry(priority).or_default().push(id);
    }
    by_priority
        .into_iter()
        .flat_map(|(priority, ids)| {
            ids.chunks(chunk_size.max(1))
                .map(|chunk| {
                    let message = WorkMessage::TafRecords {
                        ids: chunk.to_vec(),
                    };
                    OutboxMessage::work(&message, priority.amqp())
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_by_priority_and_size() {
        let p = |s| Priority::parse(s).expect("valid");
        let records = (1..=5).map(|id| (id, p("5"))).chain([(6, p("0"))]);
        let messages = work_messages(records, 2);
        let priorities: Vec<u8> = messages.iter().map(|m| m.priority).collect();
        assert_eq!(priorities, vec![5, 0, 0, 0]);
        let first: WorkMessage = serde_json::from_slice(&messages[0].body).expect("json");
        assert_eq!(first, WorkMessage::TafRecords { ids: vec![6] });
    }
}
