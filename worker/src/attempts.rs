//! What a queue message carries about its earlier attempts, in AMQP
//! headers: `x-fila-attempt`, the number of the attempt it is on (from 1);
//! `x-fila-reason`, why the last one failed; and `x-fila-history`, one
//! table per failed attempt (`attempt`, `at`, `worker`, `reason`), the last
//! [`HISTORY_MAX`] of them, which a dead letter keeps.

use chrono::{SecondsFormat, Utc};
use lapin::types::{AMQPValue, FieldArray, FieldTable, LongString};
use serde_json::{Value, json};

const ATTEMPT_HEADER: &str = "x-fila-attempt";
const REASON_HEADER: &str = "x-fila-reason";
const HISTORY_HEADER: &str = "x-fila-history";
/// Failed attempts kept in a message's history.
pub const HISTORY_MAX: usize = 20;
/// Characters of a reason kept.
const REASON_MAX: usize = 1000;

/// The attempt number in `headers`, from 1.
pub fn attempt_of(headers: Option<&FieldTable>) -> u32 {
    headers
        .and_then(|h| h.inner().get(ATTEMPT_HEADER))
        .and_then(|v| match v {
            AMQPValue::LongUInt(n) => Some(*n),
            AMQPValue::LongLongInt(n) => u32::try_from(*n).ok(),
            AMQPValue::LongInt(n) => u32::try_from(*n).ok(),
            _ => None,
        })
        .unwrap_or(1)
        .max(1)
}

/// A failed attempt (its reason is the trip's).
#[derive(Debug, Clone, Copy)]
pub struct Failed<'a> {
    pub attempt: u32,
    pub worker: &'a str,
}

/// `headers` for the message's next trip: on attempt `next`, with `reason`;
/// `failed` (when something failed, rather than waited) joins the history.
pub fn next_trip(
    headers: Option<&FieldTable>,
    next: u32,
    reason: &str,
    failed: Option<Failed<'_>>,
) -> FieldTable {
    let mut headers = headers.cloned().unwrap_or_default();
    let reason: String = reason.chars().take(REASON_MAX).collect();
    if let Some(failed) = failed {
        let mut history = match headers.inner().get(HISTORY_HEADER) {
            Some(AMQPValue::FieldArray(entries)) => entries.as_slice().to_vec(),
            _ => Vec::new(),
        };
        let mut entry = FieldTable::default();
        entry.insert("attempt".into(), AMQPValue::LongUInt(failed.attempt));
        entry.insert(
            "at".into(),
            long(Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)),
        );
        entry.insert("worker".into(), long(failed.worker.to_string()));
        entry.insert("reason".into(), long(reason.clone()));
        history.push(AMQPValue::FieldTable(entry));
        let excess = history.len().saturating_sub(HISTORY_MAX);
        history.drain(..excess);
        headers.insert(
            HISTORY_HEADER.into(),
            AMQPValue::FieldArray(FieldArray::from(history)),
        );
    }
    headers.insert(ATTEMPT_HEADER.into(), AMQPValue::LongUInt(next));
    headers.insert(REASON_HEADER.into(), long(reason));
    headers
}

/// The history in `headers`, as JSON: `[{attempt, at, worker, reason}]`.
pub fn history(headers: &FieldTable) -> Value {
    let Some(AMQPValue::FieldArray(entries)) = headers.inner().get(HISTORY_HEADER) else {
        return json!([]);
    };
    entries
        .as_slice()
        .iter()
        .filter_map(|entry| match entry {
            AMQPValue::FieldTable(table) => Some(
                table
                    .inner()
                    .iter()
                    .map(|(key, value)| (key.to_string(), plain(value)))
                    .collect::<serde_json::Map<_, _>>(),
            ),
            _ => None,
        })
        .map(Value::Object)
        .collect()
}

fn plain(value: &AMQPValue) -> Value {
    match value {
        AMQPValue::LongUInt(n) => json!(n),
        AMQPValue::LongString(s) => json!(s.to_string()),
        other => json!(format!("{other:?}")),
    }
}

fn long(value: String) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_build_a_bounded_history() {
        assert_eq!(attempt_of(None), 1);
        let mut headers = next_trip(None, 2, "busy", None);
        assert_eq!(attempt_of(Some(&headers)), 2);
        assert_eq!(history(&headers), json!([]));
        for attempt in 2..30 {
            let failed = Failed {
                attempt,
                worker: "w1",
            };
            headers = next_trip(Some(&headers), attempt + 1, "boom", Some(failed));
        }
        assert_eq!(attempt_of(Some(&headers)), 30);
        let history = history(&headers);
        let entries = history.as_array().expect("an array");
        assert_eq!(entries.len(), HISTORY_MAX);
        assert_eq!(entries[0]["attempt"], 10);
        assert_eq!(entries[HISTORY_MAX - 1]["attempt"], 29);
        assert_eq!(entries[0]["worker"], "w1");
        assert_eq!(entries[0]["reason"], "boom");
        assert!(
            entries[0]["at"]
                .as_str()
                .is_some_and(|at| at.ends_with('Z'))
        );
    }

    #[test]
    fn reasons_are_cut_to_size() {
        let headers = next_trip(None, 2, &"x".repeat(5000), None);
        let Some(AMQPValue::LongString(reason)) = headers.inner().get(REASON_HEADER) else {
            panic!("no reason");
        };
        assert_eq!(reason.to_string().len(), REASON_MAX);
    }
}
