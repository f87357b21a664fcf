//! A POST or DELETE on `/transactions`: one message, or a lot (a JSON array
//! of messages, or `{"Items": [...]}`), with the lot's `batchType`:
//!
//! - `simpleBatch` (the default): the lot only groups messages; an invalid
//!   message is refused alone and the others are accepted.
//! - `businessTransaction`: the lot is one unit; it is refused whole if any
//!   message is invalid. It may mix Transactions and Versions (the TDN
//!   allows it: an order with its items), as long as they go to one
//!   destination, which the unit needs.
//!
//! For a single message `batchType` (and the API's `batchUUID`) are
//! ignored, as the TDN says: they describe lots.
//!
//! Lots are processed asynchronously: a lot in which a message asks for
//! DeliveryType sync is refused whole.

use std::collections::HashSet;

use serde_json::Value;

use super::keys::field;
use super::message::{Event, Message, Refused};
use super::problem::Problem;
use super::registry::Registry;

/// How the messages of a lot are processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchType {
    Simple,
    Business,
}

impl BatchType {
    /// `None` (absent) is simpleBatch.
    pub fn parse(value: Option<&str>) -> Result<Self, Problem> {
        match value {
            None => Ok(Self::Simple),
            Some(v) if v.eq_ignore_ascii_case("simpleBatch") => Ok(Self::Simple),
            Some(v) if v.eq_ignore_ascii_case("businessTransaction") => Ok(Self::Business),
            Some(other) => Err(Problem::BatchType(other.to_string())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Simple => "simpleBatch",
            Self::Business => "businessTransaction",
        }
    }

    pub fn from_db(value: &str) -> Self {
        if value == "businessTransaction" {
            Self::Business
        } else {
            Self::Simple
        }
    }
}

/// A request refused whole.
#[derive(Debug, Clone, PartialEq)]
pub enum LotRefusal {
    /// 400, with the details of the messages at fault.
    Refused {
        problem: Problem,
        details: Vec<Value>,
    },
    /// 413: more messages than `eai_max_lot_messages`.
    TooMany { messages: usize, max: usize },
}

impl From<Problem> for LotRefusal {
    fn from(problem: Problem) -> Self {
        LotRefusal::Refused {
            problem,
            details: Vec::new(),
        }
    }
}

/// A checked request: each message read, or refused with its reason.
#[derive(Debug)]
pub struct TransactionRequest {
    pub batch_type: BatchType,
    pub event: Event,
    /// Whether the body was a lot (an array or `Items`), even of one.
    pub is_lot: bool,
    pub items: Vec<Result<Message, Refused>>,
}

/// What the request needs besides its body.
pub struct RequestContext<'a> {
    /// The `batchType` parameter as sent: read only for a lot.
    pub batch_type: Option<&'a str>,
    pub event: Event,
    pub path_transaction: Option<&'a str>,
    pub registry: &'a Registry,
    pub max_messages: usize,
}

impl TransactionRequest {
    /// Whether the lot is processed as one unit: a businessTransaction lot
    /// sent as a list (a single message is processed on its own).
    pub fn processed_whole(&self) -> bool {
        self.is_lot && self.batch_type == BatchType::Business
    }

    pub fn parse(body: &[u8], ctx: &RequestContext<'_>) -> Result<Self, LotRefusal> {
        let (values, is_lot) = split_body(body)?;
        let batch_type = if is_lot {
            BatchType::parse(ctx.batch_type)?
        } else {
            BatchType::Simple
        };
        if values.is_empty() {
            return Err(Problem::EmptyLot.into());
        }
        if values.len() > ctx.max_messages {
            return Err(LotRefusal::TooMany {
                messages: values.len(),
                max: ctx.max_messages,
            });
        }
        let mut seen = HashSet::new();
        let items: Vec<Result<Message, Refused>> = values
            .iter()
            .map(|value| {
                let message = Message::parse(value, ctx.path_transaction)?;
                let refuse = |problem| Refused {
                    uuid: Some(message.header.uuid.clone()),
                    problem,
                };
                if ctx.registry.get(&message.header.transaction).is_none() {
                    return Err(refuse(Problem::UnknownTransaction(
                        message.header.transaction.clone(),
                    )));
                }
                if !seen.insert(message.header.uuid.clone()) {
                    return Err(refuse(Problem::RepeatedUuid(message.header.uuid.clone())));
                }
                Ok(message)
            })
            .collect();
        let request = Self {
            batch_type,
            event: ctx.event,
            is_lot,
            items,
        };
        request.check_lot(ctx.registry)?;
        Ok(request)
    }

    /// The lot-level rules; a single message is never refused whole here.
    fn check_lot(&self, registry: &Registry) -> Result<(), LotRefusal> {
        if !self.is_lot {
            return Ok(());
        }
        if let Some(sync) = self.messages().find(|m| m.header.sync) {
            return Err(Problem::SyncInLot(sync.header.uuid.clone()).into());
        }
        if self.batch_type == BatchType::Business {
            let refused: Vec<Value> = self
                .items
                .iter()
                .filter_map(|i| i.as_ref().err())
                .map(refused_detail)
                .collect();
            if !refused.is_empty() {
                return Err(LotRefusal::Refused {
                    problem: Problem::InvalidInBusinessLot,
                    details: refused,
                });
            }
            let mut destinations = self
                .messages()
                .filter_map(|m| registry.get(&m.header.transaction))
                .map(|t| t.destination.clone());
            if let Some(first) = destinations.next()
                && destinations.any(|d| d != first)
            {
                return Err(Problem::MixedDestinations.into());
            }
        }
        Ok(())
    }

    pub fn messages(&self) -> impl Iterator<Item = &Message> {
        self.items.iter().filter_map(|i| i.as_ref().ok())
    }
}

/// A refused message as a detail naming it.
pub fn refused_detail(refused: &Refused) -> Value {
    let mut detail = refused.problem.detail();
    if let Some(uuid) = &refused.uuid {
        detail["uuid"] = Value::String(uuid.clone());
    }
    detail
}

/// The messages of a body, and whether it was a lot.
fn split_body(body: &[u8]) -> Result<(Vec<Value>, bool), Problem> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Problem::Malformed("the body is empty".into()));
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| Problem::Malformed(e.to_string()))?;
    match value {
        Value::Array(items) => Ok((items, true)),
        Value::Object(map) if field(&map, "Header").is_none() => match field(&map, "Items") {
            Some(Value::Array(items)) => Ok((items.clone(), true)),
            _ => Ok((vec![Value::Object(map)], false)),
        },
        message @ Value::Object(_) => Ok((vec![message], false)),
        _ => Err(Problem::NotMessages),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EaiTransactionConfig;
    use proptest::prelude::*;
    use serde_json::json;

    fn registry() -> std::sync::Arc<Registry> {
        let config = |name: &str| EaiTransactionConfig {
            transaction: name.into(),
            destination: Default::default(),
            url: None,
            timeout_secs: 30,
            schemas: Default::default(),
        };
        let http = EaiTransactionConfig {
            destination: crate::config::EaiDestination::Http,
            url: Some("http://erp.example.com/eai".into()),
            ..config("INVOICE")
        };
        Registry::load(&[config("ITEM"), config("ORDER"), http], None).expect("registry")
    }

    fn message(uuid: &str, transaction: &str, version: &str) -> Value {
        json!({ "Header": { "UUID": uuid, "Transaction": transaction, "Version": version,
                            "SourceApplication": "RM" },
                "Content": { "InternalId": uuid } })
    }

    fn parse(body: &Value, batch_type: BatchType) -> Result<TransactionRequest, LotRefusal> {
        parse_bytes(body.to_string().as_bytes(), batch_type)
    }

    fn parse_bytes(body: &[u8], batch_type: BatchType) -> Result<TransactionRequest, LotRefusal> {
        let registry = registry();
        let ctx = RequestContext {
            batch_type: Some(batch_type.as_str()),
            event: Event::Upsert,
            path_transaction: None,
            registry: &registry,
            max_messages: 10,
        };
        TransactionRequest::parse(body, &ctx)
    }

    fn code(refusal: LotRefusal) -> &'static str {
        match refusal {
            LotRefusal::Refused { problem, .. } => problem.code(),
            LotRefusal::TooMany { .. } => "413",
        }
    }

    #[test]
    fn bodies_may_be_one_message_an_array_or_items() {
        let one = parse(&message("a", "ITEM", "1"), BatchType::Simple).expect("one");
        assert!(!one.is_lot);
        let array = json!([message("a", "ITEM", "1"), message("b", "ITEM", "1")]);
        assert_eq!(
            parse(&array, BatchType::Simple).expect("array").items.len(),
            2
        );
        let items = json!({ "Items": [message("a", "ITEM", "1")] });
        assert!(parse(&items, BatchType::Simple).expect("items").is_lot);
    }

    #[test]
    fn simple_batches_refuse_only_the_bad_messages() {
        let lot = json!([
            message("a", "ITEM", "1"),
            message("b", "NOPE", "1"),
            message("a", "ITEM", "1")
        ]);
        let request = parse(&lot, BatchType::Simple).expect("accepted");
        let codes: Vec<Option<&str>> = request
            .items
            .iter()
            .map(|i| i.as_ref().err().map(|r| r.problem.code()))
            .collect();
        assert_eq!(codes, vec![None, Some("EAI-104"), Some("EAI-107")]);
    }

    #[test]
    fn business_transactions_are_refused_whole() {
        let invalid = json!([message("a", "ITEM", "1"), message("b", "NOPE", "1")]);
        assert_eq!(
            code(parse(&invalid, BatchType::Business).expect_err("refused")),
            "EAI-016"
        );
        let elsewhere = json!([message("a", "ITEM", "1"), message("b", "INVOICE", "1")]);
        assert_eq!(
            code(parse(&elsewhere, BatchType::Business).expect_err("refused")),
            "EAI-012"
        );
    }

    #[test]
    fn business_transactions_may_mix_transactions_and_versions() {
        let mixed = json!([message("a", "ORDER", "2"), message("b", "ITEM", "1")]);
        let request = parse(&mixed, BatchType::Business).expect("accepted");
        assert!(request.processed_whole());
    }

    #[test]
    fn a_single_message_ignores_the_batch_type() {
        let registry = registry();
        let ctx = RequestContext {
            batch_type: Some("everything"),
            event: Event::Upsert,
            path_transaction: None,
            registry: &registry,
            max_messages: 10,
        };
        let one = message("a", "ITEM", "1").to_string();
        let request = TransactionRequest::parse(one.as_bytes(), &ctx).expect("accepted");
        assert_eq!(request.batch_type, BatchType::Simple);
        let lot = json!([message("a", "ITEM", "1")]).to_string();
        let refused = TransactionRequest::parse(lot.as_bytes(), &ctx).expect_err("refused");
        assert_eq!(code(refused), "EAI-010");
    }

    #[test]
    fn lots_refuse_sync_messages_and_limits_hold() {
        let mut sync = message("a", "ITEM", "1");
        sync["Header"]["DeliveryType"] = json!("sync");
        assert_eq!(
            code(parse(&json!([sync.clone()]), BatchType::Simple).expect_err("refused")),
            "EAI-011"
        );
        assert!(
            parse(&sync, BatchType::Simple).is_ok(),
            "a single sync message is fine"
        );
        let many: Vec<Value> = (0..11)
            .map(|i| message(&i.to_string(), "ITEM", "1"))
            .collect();
        assert_eq!(
            code(parse(&json!(many), BatchType::Simple).expect_err("too many")),
            "413"
        );
        assert_eq!(
            code(parse(&json!([]), BatchType::Simple).expect_err("empty")),
            "EAI-003"
        );
        assert_eq!(
            code(parse(&json!(42), BatchType::Simple).expect_err("not")),
            "EAI-002"
        );
    }

    const HEADER_FIELDS: &[&str] = &[
        "UUID",
        "Transaction",
        "Version",
        "SourceApplication",
        "ProductName",
        "ProductVersion",
        "CompanyId",
        "BranchId",
        "GeneratedOn",
        "DeliveryType",
        "Event",
        "BatchUUID",
    ];

    fn plausible() -> impl Strategy<Value = String> + Clone {
        prop_oneof![
            "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            prop::sample::select(vec!["ITEM", "ORDER", "item", "NOPE"]).prop_map(String::from),
            "[0-9]\\.[0-9]{3}",
            prop::sample::select(vec!["sync", "async", "upsert", "delete"]).prop_map(String::from),
            ".{0,12}",
        ]
    }

    fn message_value() -> impl Strategy<Value = Value> {
        (
            crate::testing::object_with(HEADER_FIELDS, plausible()),
            crate::testing::json_value(),
            any::<bool>(),
        )
            .prop_map(|(header, content, whole)| {
                if whole {
                    json!({ "Header": header, "Content": content })
                } else {
                    header
                }
            })
    }

    proptest! {
        #[test]
        fn any_body_is_answered_without_panic(bytes in any::<Vec<u8>>()) {
            let _ = parse_bytes(&bytes, BatchType::Simple);
            let _ = parse_bytes(&bytes, BatchType::Business);
        }

        #[test]
        fn any_message_or_lot_is_answered_without_panic(
            messages in prop::collection::vec(message_value(), 0..5),
            single in any::<bool>(),
        ) {
            let body = match (single, messages.first()) {
                (true, Some(first)) => first.clone(),
                _ => Value::Array(messages),
            };
            let _ = parse(&body, BatchType::Simple);
            let _ = parse(&body, BatchType::Business);
        }
    }
}
