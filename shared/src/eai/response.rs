//! What fila answers about EAI messages: the receipt of each message of a
//! POST or DELETE, and the response message of a processed one (Header Type
//! Response; Content with ReceivedMessage, ProcessingInformation and
//! ReturnContent), in the key style the message was sent in.

use serde_json::{Value, json};

use super::keys::KeyStyle;
use super::problem::Problem;

/// OK or ERROR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Error,
}

impl Status {
    /// The wire value (`OK`, `ERROR`).
    pub fn wire(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Error => "ERROR",
        }
    }

    /// The stored value and routing-key part (`ok`, `error`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Error => "error",
        }
    }
}

/// How processing a message ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub status: Status,
    /// TOTVS API guide details (`code`, `message`, `detailedMessage`).
    pub details: Vec<Value>,
    /// The ReturnContent, already in the message's key style.
    pub return_content: Option<Value>,
}

impl Outcome {
    pub fn ok(return_content: Value) -> Self {
        Self {
            status: Status::Ok,
            details: Vec::new(),
            return_content: Some(return_content),
        }
    }

    pub fn error(problem: &Problem) -> Self {
        Self {
            status: Status::Error,
            details: vec![problem.detail()],
            return_content: None,
        }
    }
}

/// `ListOfInternalId` with one entry, in `style`.
pub fn internal_ids(style: KeyStyle, name: &str, origin: &str, destination: &str) -> Value {
    json!([style.object([
        ("Name", json!(name)),
        ("Origin", json!(origin)),
        ("Destination", json!(destination)),
    ])])
}

/// What a response message says about the message it answers.
pub struct Answered<'a> {
    pub uuid: &'a str,
    pub transaction: &'a str,
    pub version: &'a str,
    pub source_application: &'a str,
    pub event: &'a str,
    pub company_id: Option<&'a str>,
    pub branch_id: Option<&'a str>,
    pub style: KeyStyle,
}

/// The response message of a processed message.
pub fn response_message(
    answered: &Answered<'_>,
    response_uuid: &str,
    processed_on: &str,
    outcome: &Outcome,
) -> Value {
    let s = answered.style;
    let header = s.object([
        ("UUID", json!(response_uuid)),
        ("Type", json!("Response")),
        ("Transaction", json!(answered.transaction)),
        ("Version", json!(answered.version)),
        ("StandardVersion", json!("1.000")),
        ("SourceApplication", json!("fila")),
        ("ProductName", json!("fila")),
        ("ProductVersion", json!(env!("CARGO_PKG_VERSION"))),
        ("CompanyId", json!(answered.company_id)),
        ("BranchId", json!(answered.branch_id)),
        ("GeneratedOn", json!(processed_on)),
        ("DeliveryType", json!("async")),
    ]);
    let content = s.object([
        (
            "ReceivedMessage",
            s.object([
                ("UUID", json!(answered.uuid)),
                ("SentBy", json!(answered.source_application)),
                ("Event", json!(answered.event)),
            ]),
        ),
        (
            "ProcessingInformation",
            s.object([
                ("Status", json!(outcome.status.wire())),
                ("ProcessedOn", json!(processed_on)),
                ("Details", Value::Array(outcome.details.clone())),
            ]),
        ),
        (
            "ReturnContent",
            outcome.return_content.clone().unwrap_or(Value::Null),
        ),
    ]);
    s.object([("Header", header), ("Content", content)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_follow_the_message_style() {
        let answered = |style| Answered {
            uuid: "u1",
            transaction: "ITEM",
            version: "1.000",
            source_application: "RM",
            event: "upsert",
            company_id: Some("1"),
            branch_id: None,
            style,
        };
        let outcome = Outcome::ok(json!({ "ListOfInternalId": [] }));
        let upper = response_message(
            &answered(KeyStyle::Upper),
            "r1",
            "2026-01-01T00:00:00Z",
            &outcome,
        );
        assert_eq!(upper["Header"]["Type"], "Response");
        assert_eq!(upper["Content"]["ReceivedMessage"]["UUID"], "u1");
        assert_eq!(upper["Content"]["ProcessingInformation"]["Status"], "OK");
        let lower = response_message(
            &answered(KeyStyle::Lower),
            "r1",
            "2026-01-01T00:00:00Z",
            &outcome,
        );
        assert_eq!(lower["content"]["receivedMessage"]["sentBy"], "RM");
        assert_eq!(lower["header"]["UUID"], "r1");
        assert_eq!(lower["content"]["receivedMessage"]["UUID"], "u1");
    }
}
