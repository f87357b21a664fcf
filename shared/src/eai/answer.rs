//! Response messages received on `/transactions` (Header Type `Response`):
//! what an application answering asynchronously sends back, as a
//! destination does once it processed a message fila forwarded to it. Each
//! is matched to the message it answers by its `ReceivedMessage` UUID and
//! recorded with it, once (a repeated response UUID is a duplicate).

use deadpool_postgres::Pool;
use serde_json::{Map, Value};

use super::keys::field;
use super::problem::Problem;
use crate::db::{self, StoreError};

/// A response message, read.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The response's own UUID (its Header's).
    pub uuid: String,
    /// The UUID of the message it answers (`Content.ReceivedMessage.UUID`).
    pub received: String,
    pub source_application: Option<String>,
    /// `ProcessingInformation.Status` (`OK`, `ERROR`), as sent.
    pub status: Option<String>,
    pub body: Value,
}

/// What recording a response did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    Accepted,
    /// Its UUID was received before.
    Duplicate,
    /// No message has its ReceivedMessage UUID.
    UnknownMessage,
}

/// The body's response message, when the body is one message whose
/// Header's Type is `Response`; `None` for anything else (business
/// messages and lots are read by `eai::lot`).
pub fn read(body: &[u8]) -> Option<Result<Answer, Problem>> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let message = value.as_object()?;
    let header = field(message, "Header")?.as_object()?;
    let kind = field(header, "Type")?.as_str()?;
    kind.trim()
        .eq_ignore_ascii_case("Response")
        .then(|| parse(&value, message, header))
}

fn parse(
    value: &Value,
    message: &Map<String, Value>,
    header: &Map<String, Value>,
) -> Result<Answer, Problem> {
    if db::holds_nul(value) {
        return Err(Problem::NulCharacter);
    }
    let uuid = text(header, "UUID").ok_or(Problem::MissingField("UUID"))?;
    let content = field(message, "Content")
        .and_then(Value::as_object)
        .ok_or(Problem::MissingContent)?;
    let received = field(content, "ReceivedMessage")
        .and_then(Value::as_object)
        .and_then(|r| text(r, "UUID"))
        .ok_or(Problem::MissingReceivedMessage)?;
    let status = field(content, "ProcessingInformation")
        .and_then(Value::as_object)
        .and_then(|p| text(p, "Status"));
    Ok(Answer {
        uuid,
        received,
        source_application: text(header, "SourceApplication"),
        status,
        body: value.clone(),
    })
}

fn text(map: &Map<String, Value>, name: &str) -> Option<String> {
    let value = match field(map, name)? {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    Some(value).filter(|v| !v.is_empty() && v.chars().count() <= 100)
}

/// Records `answer` with the message it answers.
pub async fn record(pool: &Pool, answer: &Answer) -> Result<Recorded, StoreError> {
    let client = pool.get().await?;
    let known = client
        .query_opt(
            "SELECT 1 FROM eai_message WHERE uuid = $1",
            &[&answer.received],
        )
        .await?
        .is_some();
    if !known {
        return Ok(Recorded::UnknownMessage);
    }
    let inserted = client
        .execute(
            "INSERT INTO eai_answer (uuid, message_uuid, source_application, status, body)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (uuid) DO NOTHING",
            &[
                &answer.uuid,
                &answer.received,
                &answer.source_application,
                &answer.status,
                &answer.body,
            ],
        )
        .await?;
    Ok(if inserted == 1 {
        Recorded::Accepted
    } else {
        Recorded::Duplicate
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn response(received: Value) -> Vec<u8> {
        json!({
            "header": { "UUID": "r1", "type": "Response", "sourceApplication": "ERP" },
            "content": {
                "receivedMessage": received,
                "processingInformation": { "status": "OK" },
                "returnContent": { "listOfInternalId": [] }
            }
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn a_response_is_read_in_either_style() {
        let answer = read(&response(json!({ "UUID": "m1", "sentBy": "RM" })))
            .expect("a response")
            .expect("valid");
        assert_eq!(answer.uuid, "r1");
        assert_eq!(answer.received, "m1");
        assert_eq!(answer.status.as_deref(), Some("OK"));
        assert_eq!(answer.source_application.as_deref(), Some("ERP"));
    }

    #[test]
    fn a_response_names_the_message_it_answers() {
        let refused = read(&response(json!({ "sentBy": "RM" })))
            .expect("a response")
            .expect_err("refused");
        assert_eq!(refused.code(), "EAI-109");
    }

    #[test]
    fn business_messages_and_lots_are_not_responses() {
        let business =
            json!({ "Header": { "UUID": "u", "Type": "BusinessMessage" }, "Content": {} });
        assert!(read(business.to_string().as_bytes()).is_none());
        assert!(read(b"[]").is_none());
        assert!(read(b"not json").is_none());
    }
}
