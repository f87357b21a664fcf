//! EAI messages processed each on its own go to the queue in chunks: up to
//! `eai_chunk_size` messages of entity-store Transactions per queue message
//! (each still its own unit of work), and one per message for HTTP
//! destinations, so that a slow destination holds up no other message.

use super::registry::{Destination, Registry};
use crate::envelope::WorkMessage;

/// Work messages for `(UUID, Transaction)` pairs, in their order.
pub fn work_messages<'a>(
    messages: impl IntoIterator<Item = (&'a str, &'a str)>,
    registry: &Registry,
    chunk_size: usize,
) -> Vec<WorkMessage> {
    let (stored, delivered): (Vec<_>, Vec<_>) =
        messages.into_iter().partition(|(_, transaction)| {
            registry
                .get(transaction)
                .is_some_and(|t| t.destination == Destination::Store)
        });
    let uuids = |chunk: &[(&str, &str)]| WorkMessage::EaiMessages {
        uuids: chunk.iter().map(|(uuid, _)| uuid.to_string()).collect(),
    };
    stored
        .chunks(chunk_size.max(1))
        .chain(delivered.chunks(1))
        .map(uuids)
        .collect()
}
