//! Why fila refuses an EAI message or lot, or why processing a message ended
//! in ERROR. Each problem has a stable code (`EAI-nnn`) and an English
//! message; on the wire they are TOTVS API guide details:
//! `{"code", "message", "detailedMessage"}`.

use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// EAI-001: the body is not JSON.
    Malformed(String),
    /// EAI-002: the body is neither a message, a list, nor `{"Items": [...]}`.
    NotMessages,
    /// EAI-003: a lot without messages.
    EmptyLot,
    /// EAI-010: `batchType` is neither businessTransaction nor simpleBatch.
    BatchType(String),
    /// EAI-011: a message of a lot asks to be delivered synchronously.
    SyncInLot(String),
    /// EAI-012: a businessTransaction lot mixes Transactions whose messages
    /// go to different destinations (one unit needs one destination).
    MixedDestinations,
    /// EAI-013: `batchUUID` is not usable.
    BatchUuid,
    /// EAI-014: a businessTransaction lot repeats messages already received.
    RepeatedInBusinessLot(Vec<String>),
    /// EAI-015: `batchUUID` names another lot.
    BatchTaken(String),
    /// EAI-016: a businessTransaction lot has invalid messages.
    InvalidInBusinessLot,
    /// EAI-101: the message has no Header object.
    MissingHeader,
    /// EAI-102: a mandatory Header field is absent or empty.
    MissingField(&'static str),
    /// EAI-103: a Header field has a value fila does not accept.
    InvalidField { field: &'static str, reason: String },
    /// EAI-104: the Transaction is not configured in fila.
    UnknownTransaction(String),
    /// EAI-105: the Transaction differs from the one in the path.
    TransactionMismatch { path: String, header: String },
    /// EAI-106: the Content is absent or not an object.
    MissingContent,
    /// EAI-107: the UUID appears twice in the lot.
    RepeatedUuid(String),
    /// EAI-108: the message holds a NUL character, which cannot be stored.
    NulCharacter,
    /// EAI-109: a response message names no message it answers.
    MissingReceivedMessage,
    /// EAI-201: the Content does not satisfy the Transaction's JSON Schema.
    Schema(String),
    /// EAI-202: the Content has no InternalId.
    MissingInternalId,
    /// EAI-203: a request names an entity fila does not have.
    EntityNotFound(String),
    /// EAI-204: the HTTP destination refused the message (4xx).
    DestinationRefused { status: u16, body: String },
    /// EAI-205: the HTTP destination did not answer, attempt after attempt.
    DestinationUnavailable(String),
    /// EAI-206: another message of the business transaction failed.
    BusinessTransactionFailed { uuid: String, reason: String },
    /// EAI-207: the Transaction's contents are not kept by fila.
    NotInStore(String),
    /// EAI-210: the message's work was dead-lettered, and an operator
    /// discarded the dead letter.
    Discarded { dead_letter: i64, reason: String },
}

impl Problem {
    pub fn code(&self) -> &'static str {
        match self {
            Problem::Malformed(_) => "EAI-001",
            Problem::NotMessages => "EAI-002",
            Problem::EmptyLot => "EAI-003",
            Problem::BatchType(_) => "EAI-010",
            Problem::SyncInLot(_) => "EAI-011",
            Problem::MixedDestinations => "EAI-012",
            Problem::BatchUuid => "EAI-013",
            Problem::RepeatedInBusinessLot(_) => "EAI-014",
            Problem::BatchTaken(_) => "EAI-015",
            Problem::InvalidInBusinessLot => "EAI-016",
            Problem::MissingHeader => "EAI-101",
            Problem::MissingField(_) => "EAI-102",
            Problem::InvalidField { .. } => "EAI-103",
            Problem::UnknownTransaction(_) => "EAI-104",
            Problem::TransactionMismatch { .. } => "EAI-105",
            Problem::MissingContent => "EAI-106",
            Problem::RepeatedUuid(_) => "EAI-107",
            Problem::NulCharacter => "EAI-108",
            Problem::MissingReceivedMessage => "EAI-109",
            Problem::Schema(_) => "EAI-201",
            Problem::MissingInternalId => "EAI-202",
            Problem::EntityNotFound(_) => "EAI-203",
            Problem::DestinationRefused { .. } => "EAI-204",
            Problem::DestinationUnavailable(_) => "EAI-205",
            Problem::BusinessTransactionFailed { .. } => "EAI-206",
            Problem::NotInStore(_) => "EAI-207",
            Problem::Discarded { .. } => "EAI-210",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Problem::Malformed(e) => format!("The body is not valid JSON: {e}."),
            Problem::NotMessages => {
                "The body must be a message, a JSON array of messages, or {\"Items\": [...]}."
                    .into()
            }
            Problem::EmptyLot => "The lot has no messages.".into(),
            Problem::BatchType(sent) => format!(
                "batchType '{sent}' is not accepted: use businessTransaction or simpleBatch."
            ),
            Problem::SyncInLot(uuid) => format!(
                "Message {uuid} asks for DeliveryType sync, but lots are processed asynchronously: \
                 send it alone, or as async."
            ),
            Problem::MixedDestinations => "The messages of a businessTransaction lot must go to \
                 one destination: its Transactions are delivered to different places."
                .into(),
            Problem::BatchUuid => "batchUUID must have 1 to 100 printable characters.".into(),
            Problem::RepeatedInBusinessLot(uuids) => format!(
                "The businessTransaction lot repeats messages already received ({}); a business \
                 transaction is processed whole or not at all.",
                uuids.join(", ")
            ),
            Problem::BatchTaken(id) => {
                format!("batchUUID {id} names a lot already received with other messages.")
            }
            Problem::InvalidInBusinessLot => "The businessTransaction lot has invalid messages: \
                 none is accepted (see details)."
                .into(),
            Problem::MissingHeader => "The message has no Header object.".into(),
            Problem::MissingField(field) => format!("Header field {field} is missing or empty."),
            Problem::InvalidField { field, reason } => {
                format!("Header field {field} is not valid: {reason}.")
            }
            Problem::UnknownTransaction(t) => {
                format!("Transaction {t} is not configured in fila.")
            }
            Problem::TransactionMismatch { path, header } => {
                format!("The path names Transaction {path}, the Header {header}.")
            }
            Problem::MissingContent => "The message has no Content object.".into(),
            Problem::RepeatedUuid(uuid) => format!("UUID {uuid} appears twice in the lot."),
            Problem::NulCharacter => {
                "The message holds a NUL character (\\u0000), which fila cannot store.".into()
            }
            Problem::MissingReceivedMessage => {
                "The response message has no Content.ReceivedMessage.UUID naming the message it \
                 answers."
                    .into()
            }
            Problem::Schema(e) => {
                format!("The Content does not satisfy the Transaction's schema: {e}")
            }
            Problem::MissingInternalId => "The Content has no InternalId.".into(),
            Problem::EntityNotFound(id) => format!("No entity has InternalId {id}."),
            Problem::DestinationRefused { status, .. } => {
                format!("The destination refused the message (HTTP {status}).")
            }
            Problem::DestinationUnavailable(e) => {
                format!("The destination did not accept the message after every attempt: {e}.")
            }
            Problem::BusinessTransactionFailed { uuid, .. } => format!(
                "Message {uuid} of the business transaction failed: no message took effect."
            ),
            Problem::NotInStore(t) => format!(
                "Transaction {t} is delivered to an HTTP destination: fila keeps no contents for it."
            ),
            Problem::Discarded { dead_letter, .. } => format!(
                "The message failed every attempt and was discarded by an operator \
                 (dead letter {dead_letter}): it took no effect."
            ),
        }
    }

    fn detailed(&self) -> String {
        match self {
            Problem::DestinationRefused { body, .. } => body.clone(),
            Problem::BusinessTransactionFailed { reason, .. } => reason.clone(),
            Problem::Discarded { reason, .. } => reason.clone(),
            _ => String::new(),
        }
    }

    /// The problem as a TOTVS API guide detail.
    pub fn detail(&self) -> Value {
        json!({
            "code": self.code(),
            "message": self.message(),
            "detailedMessage": self.detailed(),
        })
    }
}
