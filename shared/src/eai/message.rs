//! One EAI message, `{Header, Content}`, read once into typed fields. The
//! Header's mandatory fields are UUID, Transaction (or the path's
//! `{transactionID}`), Version and SourceApplication; Type must be
//! BusinessMessage, SubType `event` or `request`, DeliveryType `sync` or
//! `async` (defaults: BusinessMessage, event, async). A message is a delete
//! when it comes with the HTTP method DELETE (the seed) or its Header's
//! Event says `delete` (the newer TDN Header, which a client may send with
//! POST); otherwise it is an upsert. GeneratedOn, when
//! it reads as a date-time, places the message in its producer's order
//! (see `eai::order`); one that does not is not a refusal, as it was not
//! before fila read it.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::keys::{KeyStyle, field};
use super::order;
use super::problem::Problem;
use crate::db;

/// Longest UUID, Transaction or Version fila accepts.
const MAX_ID: usize = 100;

/// Upsert (POST) or delete (DELETE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Upsert,
    Delete,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Upsert => "upsert",
            Event::Delete => "delete",
        }
    }

    pub fn from_db(value: &str) -> Self {
        if value == "delete" {
            Event::Delete
        } else {
            Event::Upsert
        }
    }
}

/// An event changes an entity; a request asks for one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubType {
    Event,
    Request,
}

impl SubType {
    pub fn as_str(self) -> &'static str {
        match self {
            SubType::Event => "event",
            SubType::Request => "request",
        }
    }

    pub fn from_db(value: &str) -> Self {
        if value == "request" {
            SubType::Request
        } else {
            SubType::Event
        }
    }
}

/// The Header fields fila uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub uuid: String,
    pub sub_type: SubType,
    pub transaction: String,
    pub version: String,
    pub source_application: String,
    pub company_id: Option<String>,
    pub branch_id: Option<String>,
    pub sync: bool,
    /// The Header's Event (`upsert` or `delete`), when it has one.
    pub event: Option<Event>,
    /// GeneratedOn, when it reads as a date-time.
    pub generated_on: Option<DateTime<Utc>>,
}

/// A checked message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub header: Header,
    /// The Header as sent.
    pub raw_header: Value,
    pub content: Value,
    pub style: KeyStyle,
}

/// A message that could not be read: the UUID when it had one, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub uuid: Option<String>,
    pub problem: Problem,
}

impl Message {
    /// The message's Event, sent with the HTTP method `method`: a delete
    /// when either says so.
    pub fn event(&self, method: Event) -> Event {
        if method == Event::Delete || self.header.event == Some(Event::Delete) {
            Event::Delete
        } else {
            Event::Upsert
        }
    }

    /// Reads a message; `path_transaction` is the `{transactionID}` of the
    /// URL, if any.
    pub fn parse(value: &Value, path_transaction: Option<&str>) -> Result<Self, Refused> {
        let refused = |uuid: Option<&str>, problem| Refused {
            uuid: uuid.map(str::to_string),
            problem,
        };
        let Some(message) = value.as_object() else {
            return Err(refused(None, Problem::NotMessages));
        };
        let style = KeyStyle::of(message);
        let Some(raw_header) = field(message, "Header").and_then(Value::as_object) else {
            return Err(refused(None, Problem::MissingHeader));
        };
        let uuid = text(raw_header, "UUID").map_err(|p| refused(None, p))?;
        let uuid = uuid.ok_or_else(|| refused(None, Problem::MissingField("UUID")))?;
        let header = read_header(raw_header, &uuid, path_transaction)
            .map_err(|p| refused(Some(&uuid), p))?;
        let content = field(message, "Content")
            .filter(|c| c.is_object())
            .ok_or_else(|| refused(Some(&uuid), Problem::MissingContent))?;
        if db::holds_nul(value) {
            return Err(refused(Some(&uuid), Problem::NulCharacter));
        }
        Ok(Message {
            header,
            raw_header: Value::Object(raw_header.clone()),
            content: content.clone(),
            style,
        })
    }
}

fn read_header(
    raw: &Map<String, Value>,
    uuid: &str,
    path_transaction: Option<&str>,
) -> Result<Header, Problem> {
    let required = |name: &'static str| -> Result<String, Problem> {
        text(raw, name)?.ok_or(Problem::MissingField(name))
    };
    if let Some(kind) = text(raw, "Type")?
        && !kind.eq_ignore_ascii_case("BusinessMessage")
    {
        return Err(Problem::InvalidField {
            field: "Type",
            reason: format!("'{kind}' is not BusinessMessage"),
        });
    }
    let sub_type = match text(raw, "SubType")?.as_deref() {
        None => SubType::Event,
        Some(s) if s.eq_ignore_ascii_case("event") => SubType::Event,
        Some(s) if s.eq_ignore_ascii_case("request") => SubType::Request,
        Some(other) => {
            return Err(Problem::InvalidField {
                field: "SubType",
                reason: format!("'{other}' is neither event nor request"),
            });
        }
    };
    let sync = match text(raw, "DeliveryType")?.as_deref() {
        None => false,
        Some(d) if d.eq_ignore_ascii_case("async") => false,
        Some(d) if d.eq_ignore_ascii_case("sync") => true,
        Some(other) => {
            return Err(Problem::InvalidField {
                field: "DeliveryType",
                reason: format!("'{other}' is neither sync nor async"),
            });
        }
    };
    let event = match text(raw, "Event")?.as_deref() {
        None => None,
        Some(e) if e.eq_ignore_ascii_case("upsert") => Some(Event::Upsert),
        Some(e) if e.eq_ignore_ascii_case("delete") => Some(Event::Delete),
        Some(other) => {
            return Err(Problem::InvalidField {
                field: "Event",
                reason: format!("'{other}' is neither upsert nor delete"),
            });
        }
    };
    let transaction = match (text(raw, "Transaction")?, path_transaction) {
        (Some(header), Some(path)) if !header.eq_ignore_ascii_case(path) => {
            return Err(Problem::TransactionMismatch {
                path: path.to_string(),
                header,
            });
        }
        (Some(header), _) => header,
        (None, Some(path)) => path.to_string(),
        (None, None) => return Err(Problem::MissingField("Transaction")),
    };
    Ok(Header {
        uuid: uuid.to_string(),
        sub_type,
        transaction: transaction.to_ascii_uppercase(),
        version: required("Version")?,
        source_application: required("SourceApplication")?,
        company_id: text(raw, "CompanyId")?,
        branch_id: text(raw, "BranchId")?,
        sync,
        event,
        generated_on: field(raw, "GeneratedOn")
            .and_then(Value::as_str)
            .and_then(order::generated_on),
    })
}

/// A Header field as text: `None` when absent, null or empty; numbers as
/// their JSON text; other types, overlong values and NUL characters refused.
fn text(raw: &Map<String, Value>, name: &'static str) -> Result<Option<String>, Problem> {
    let value = match field(raw, name) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => {
            return Err(Problem::InvalidField {
                field: name,
                reason: "expected text".into(),
            });
        }
    };
    if value.chars().count() > MAX_ID || value.contains('\0') {
        return Err(Problem::InvalidField {
            field: name,
            reason: format!("at most {MAX_ID} printable characters"),
        });
    }
    Ok(Some(value).filter(|v| !v.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn message(header: Value) -> Value {
        json!({ "Header": header, "Content": { "InternalId": "1" } })
    }

    #[test]
    fn reads_upper_and_lower_camel_case() {
        let upper = Message::parse(
            &message(
                json!({ "UUID": "u1", "Transaction": "customerVendor", "Version": "2.000",
                             "SourceApplication": "RM", "DeliveryType": "sync" }),
            ),
            None,
        )
        .expect("valid");
        assert_eq!(upper.header.transaction, "CUSTOMERVENDOR");
        assert!(upper.header.sync);
        assert_eq!(upper.style, KeyStyle::Upper);
        assert_eq!(upper.header.generated_on, None);
        let lower = Message::parse(
            &json!({ "header": { "uuid": "u2", "transaction": "X", "version": 2,
                                 "sourceApplication": "RM", "subType": "request" },
                     "content": {} }),
            None,
        )
        .expect("valid");
        assert_eq!(lower.header.version, "2");
        assert_eq!(lower.header.sub_type, SubType::Request);
        assert_eq!(lower.style, KeyStyle::Lower);
    }

    #[test]
    fn generated_on_is_read_when_it_is_a_date_time_and_never_refused() {
        let header = |generated: Value| {
            message(json!({ "UUID": "u", "Transaction": "X", "Version": "1",
                            "SourceApplication": "RM", "GeneratedOn": generated }))
        };
        let read = |generated| {
            Message::parse(&header(generated), None)
                .expect("valid")
                .header
                .generated_on
                .map(|t| t.to_rfc3339())
        };
        assert_eq!(
            read(json!("2026-11-21T10:00:00-03:00")).as_deref(),
            Some("2026-11-21T13:00:00+00:00")
        );
        assert_eq!(read(json!("not a date")), None);
        assert_eq!(read(json!(20261121)), None);
        assert_eq!(read(json!({ "at": "noon" })), None);
    }

    #[test]
    fn the_header_event_or_the_method_makes_a_delete() {
        let with_event = |event: &str| {
            message(json!({ "UUID": "u", "Transaction": "X", "Version": "1",
                            "SourceApplication": "RM", "Event": event }))
        };
        let read = |value: &Value| Message::parse(value, None).expect("valid");
        let delete = read(&with_event("DELETE"));
        assert_eq!(delete.event(Event::Upsert), Event::Delete);
        let upsert = read(&with_event("upsert"));
        assert_eq!(upsert.event(Event::Upsert), Event::Upsert);
        assert_eq!(upsert.event(Event::Delete), Event::Delete);
        let refused = Message::parse(&with_event("merge"), None).expect_err("refused");
        assert_eq!(refused.problem.code(), "EAI-103");
    }

    #[test]
    fn the_path_gives_or_checks_the_transaction() {
        let header = json!({ "UUID": "u", "Version": "1", "SourceApplication": "RM" });
        let parsed = Message::parse(&message(header.clone()), Some("ITEM")).expect("valid");
        assert_eq!(parsed.header.transaction, "ITEM");
        let mut other = header;
        other["Transaction"] = json!("ORDER");
        let refused = Message::parse(&message(other), Some("ITEM")).expect_err("mismatch");
        assert_eq!(refused.problem.code(), "EAI-105");
        assert_eq!(refused.uuid.as_deref(), Some("u"));
    }

    #[test]
    fn refusals_name_their_cause() {
        let cases = [
            (json!([]), "EAI-002"),
            (json!({ "Content": {} }), "EAI-101"),
            (message(json!({ "Transaction": "X" })), "EAI-102"),
            (
                message(json!({ "UUID": "u", "Transaction": "X", "SourceApplication": "RM" })),
                "EAI-102",
            ),
            (
                message(
                    json!({ "UUID": "u", "Transaction": "X", "Version": "1", "SourceApplication": "RM", "Type": "Response" }),
                ),
                "EAI-103",
            ),
            (
                message(
                    json!({ "UUID": "u", "Transaction": "X", "Version": "1", "SourceApplication": "RM", "DeliveryType": "later" }),
                ),
                "EAI-103",
            ),
            (message(json!({ "UUID": ["u"] })), "EAI-103"),
            (
                json!({ "Header": { "UUID": "u", "Transaction": "X", "Version": "1", "SourceApplication": "RM" }, "Content": 3 }),
                "EAI-106",
            ),
            (
                json!({ "Header": { "UUID": "u", "Transaction": "X", "Version": "1", "SourceApplication": "RM" }, "Content": { "InternalId": "1", "Name": "a\u{0}" } }),
                "EAI-108",
            ),
            (
                message(
                    json!({ "UUID": "u", "Transaction": "X", "Version": "1", "SourceApplication": "RM", "Note\u{0}": "x" }),
                ),
                "EAI-108",
            ),
        ];
        for (value, code) in cases {
            let refused = Message::parse(&value, None).expect_err("refused");
            assert_eq!(refused.problem.code(), code, "{value}");
        }
    }
}
