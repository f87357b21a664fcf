//! Messages the broker delivered again: their worker may have died while
//! handling them, so each is handled alone (no other message of the
//! worker's queue starts meanwhile) and each start of its handling is
//! counted durably before it begins (see `fila_shared::deliveries`); a
//! message whose handling started `worker_max_attempts` times without
//! ending is dead-lettered instead of killing one more worker. The count
//! goes once the handling ends, whatever its outcome.
//!
//! A first delivery is not counted: a worker that dies while handling it
//! leaves it redelivered, and counted from then on. A redelivery that is
//! not a crash (the connection to the broker dropped, a worker stopped
//! past its grace period) counts too, which at worst dead-letters a message
//! that met `worker_max_attempts` such events in a row.

use fila_shared::deliveries::{self, Starts};
use lapin::message::Delivery;
use serde_json::{Value, json};

use crate::context::Context;

/// What counting a delivery came to.
pub enum Counted {
    /// A first delivery, or one without a `message_id`: not counted.
    First,
    Redelivered(Starts),
    /// The count could not be recorded: the database is unreachable.
    DatabaseUnavailable(String),
}

impl Counted {
    /// Counts `delivery` of queue `queue` if it is a redelivery.
    pub async fn of(ctx: &Context, queue: &str, delivery: &Delivery) -> Self {
        let Some(message_id) = delivery.properties.message_id().as_ref() else {
            return Counted::First;
        };
        if !delivery.redelivered {
            return Counted::First;
        }
        match deliveries::start(&ctx.pool, message_id.as_str(), queue, &ctx.name).await {
            Ok(starts) => Counted::Redelivered(starts),
            Err(e) if e.is_unavailable() => Counted::DatabaseUnavailable(e.to_string()),
            Err(e) => {
                tracing::warn!(error = %e, "redelivery not counted");
                Counted::First
            }
        }
    }

    pub fn starts(&self) -> Option<&Starts> {
        match self {
            Counted::Redelivered(starts) => Some(starts),
            Counted::First | Counted::DatabaseUnavailable(_) => None,
        }
    }
}

/// Records that the handling of a counted delivery ended.
pub async fn ended(ctx: &Context, delivery: &Delivery) {
    if let Some(message_id) = delivery.properties.message_id().as_ref()
        && let Err(e) = deliveries::end(&ctx.pool, message_id.as_str()).await
    {
        tracing::warn!(error = %e, "the end of a redelivered message's handling not recorded");
    }
}

/// The starts before this one, as entries of a dead letter's history.
pub fn stopped_starts(starts: &Starts, attempt: u32) -> Vec<Value> {
    let entries = starts
        .history
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    entries
        .iter()
        .take(entries.len().saturating_sub(1))
        .map(|start| {
            json!({
                "attempt": attempt,
                "at": start["at"],
                "worker": start["worker"],
                "reason": "the worker handling it stopped before the handling ended \
                           (killed, out of memory or aborted)",
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_start_but_the_current_one_is_a_stop() {
        let starts = Starts {
            count: 3,
            history: json!([
                { "at": "t1", "worker": "w1" },
                { "at": "t2", "worker": "w2" },
                { "at": "t3", "worker": "w3" },
            ]),
        };
        let stops = stopped_starts(&starts, 2);
        assert_eq!(stops.len(), 2);
        assert_eq!(stops[0]["worker"], "w1");
        assert_eq!(stops[1]["at"], "t2");
        assert_eq!(stops[1]["attempt"], 2);
    }
}
