//! What the items of a TAF status page say about their records: pending,
//! waiting for a predecessor, processed, or inconsistent (in error, with an
//! `errorCode` of Job2), and the tallies `--wait` and `status` print.

use std::collections::BTreeMap;

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Pending,
    Waiting,
    Processed,
    Error,
}

const WAITING: &str = "Aguardando Processamento do Predecessor.";
const INCONSISTENT: &str = "Registro Inconsistente.";

pub fn state(item: &Value) -> State {
    if item["proccessed"] == Value::Bool(true) {
        State::Processed
    } else if item["description"] == INCONSISTENT || !text(item, "errorCode").trim().is_empty() {
        State::Error
    } else if item["description"] == WAITING {
        State::Waiting
    } else {
        State::Pending
    }
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Waiting => "waiting",
            State::Processed => "processed",
            State::Error => "error",
        }
    }
}

/// An item's text field, empty when absent.
pub fn text<'a>(item: &'a Value, field: &str) -> &'a str {
    item[field].as_str().unwrap_or_default()
}

/// Records by state.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub pending: u64,
    pub waiting: u64,
    pub processed: u64,
    pub error: u64,
}

impl Tally {
    pub fn of(items: &[Value]) -> Self {
        let mut tally = Self::default();
        for item in items {
            match state(item) {
                State::Pending => tally.pending += 1,
                State::Waiting => tally.waiting += 1,
                State::Processed => tally.processed += 1,
                State::Error => tally.error += 1,
            }
        }
        tally
    }

    pub fn total(&self) -> u64 {
        self.pending + self.waiting + self.processed + self.error
    }

    pub fn finished(&self) -> u64 {
        self.processed + self.error
    }

    /// "60 records: 57 processed, 3 in error" (pending and waiting when any).
    pub fn summary(&self) -> String {
        let mut parts = vec![
            format!("{} processed", self.processed),
            format!("{} in error", self.error),
        ];
        if self.pending > 0 {
            parts.push(format!("{} pending", self.pending));
        }
        if self.waiting > 0 {
            parts.push(format!("{} waiting for a predecessor", self.waiting));
        }
        format!("{} records: {}", self.total(), parts.join(", "))
    }
}

/// Records in error by errorCode: how many, and the first one's message.
pub fn errors_by_code(items: &[Value]) -> BTreeMap<String, (u64, String)> {
    let mut codes: BTreeMap<String, (u64, String)> = BTreeMap::new();
    for item in items.iter().filter(|i| state(i) == State::Error) {
        let entry = codes
            .entry(text(item, "errorCode").to_string())
            .or_insert_with(|| (0, message(item)));
        entry.0 += 1;
    }
    codes
}

/// `errorDescription: errorDetail` (or either alone).
pub fn message(item: &Value) -> String {
    let description = text(item, "errorDescription").trim();
    let detail = text(item, "errorDetail").trim();
    match (description.is_empty(), detail.is_empty()) {
        (_, true) => description.to_string(),
        (true, false) => detail.to_string(),
        (false, false) => format!("{description}: {detail}"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn items() -> Vec<Value> {
        vec![
            json!({"proccessed": true, "description": "Registro Processado.", "statusCode": " "}),
            json!({"proccessed": false, "description": "Aguardando Processamento.", "errorCode": ""}),
            json!({"proccessed": false, "description": WAITING, "errorCode": ""}),
            json!({"proccessed": false, "description": INCONSISTENT, "errorCode": "000002",
                   "errorDescription": "Evento do XML difere do registryType", "errorDetail": "S-1010"}),
            json!({"proccessed": false, "description": INCONSISTENT, "errorCode": "000002",
                   "errorDescription": "Evento do XML difere do registryType", "errorDetail": "S-2200"}),
            json!({"proccessed": false, "description": INCONSISTENT, "errorCode": "000001",
                   "errorDescription": "XML invalido", "errorDetail": ""}),
        ]
    }

    #[test]
    fn items_are_tallied_by_state() {
        let tally = Tally::of(&items());
        assert_eq!(
            tally,
            Tally {
                pending: 1,
                waiting: 1,
                processed: 1,
                error: 3
            }
        );
        assert_eq!(tally.finished(), 4);
        assert_eq!(
            tally.summary(),
            "6 records: 1 processed, 3 in error, 1 pending, 1 waiting for a predecessor"
        );
    }

    #[test]
    fn errors_are_grouped_by_code_with_the_first_message() {
        let codes = errors_by_code(&items());
        assert_eq!(
            codes.into_iter().collect::<Vec<_>>(),
            vec![
                ("000001".to_string(), (1, "XML invalido".to_string())),
                (
                    "000002".to_string(),
                    (
                        2,
                        "Evento do XML difere do registryType: S-1010".to_string()
                    )
                ),
            ]
        );
    }
}
