//! The entity store as a destination: what an EAI message does to it.
//!
//! - an event with the upsert Event (POST) inserts or replaces the entity
//!   whose InternalId the Content carries;
//! - an event with the delete Event (DELETE) removes it (a delete of an
//!   entity fila does not have succeeds: the message's intent holds);
//! - a request (SubType request) answers the stored entity.
//!
//! The ReturnContent lists the entity's ids: `ListOfInternalId` with Name
//! (the Transaction), Origin (the InternalId) and Destination (fila's id).

use deadpool_postgres::GenericClient;
use serde_json::Value;

use super::entity;
use super::keys::KeyStyle;
use super::message::{Event, SubType};
use super::problem::Problem;
use super::registry::Transaction;
use super::response::internal_ids;
use crate::db::StoreError;

/// A message to apply, as stored or as received.
pub struct Apply<'a> {
    pub transaction: &'a Transaction,
    pub version: &'a str,
    pub event: Event,
    pub sub_type: SubType,
    pub content: &'a Value,
    pub style: KeyStyle,
    pub message_uuid: Option<&'a str>,
}

/// What can be known of a message without the store: its Content satisfies
/// its schema and carries an InternalId, which this returns.
pub fn check(message: &Apply<'_>) -> Result<String, Problem> {
    message
        .transaction
        .validate(message.version, message.content)
        .map_err(Problem::Schema)?;
    entity::internal_id(message.content).ok_or(Problem::MissingInternalId)
}

/// Applies a checked message in the caller's transaction: the
/// ReturnContent, or the problem that makes it an ERROR.
pub async fn write(
    client: &impl GenericClient,
    message: &Apply<'_>,
    internal_id: &str,
) -> Result<Result<Value, Problem>, StoreError> {
    let transaction = &message.transaction.name;
    let ids = |destination: Option<i64>| {
        let destination = destination.map(|d| d.to_string()).unwrap_or_default();
        internal_ids(message.style, transaction, internal_id, &destination)
    };
    let list_key = message.style.key("ListOfInternalId");
    let return_content = match (message.sub_type, message.event) {
        (SubType::Request, _) => {
            let Some(found) = entity::get(client, transaction, internal_id).await? else {
                return Ok(Err(Problem::EntityNotFound(internal_id.to_string())));
            };
            let mut content = found.content;
            if let Some(map) = content.as_object_mut() {
                map.insert(list_key, ids(Some(found.destination_id)));
            }
            content
        }
        (SubType::Event, Event::Upsert) => {
            let destination = entity::upsert(
                client,
                transaction,
                internal_id,
                message.version,
                message.content,
                message.message_uuid,
            )
            .await?;
            Value::Object([(list_key, ids(Some(destination)))].into_iter().collect())
        }
        (SubType::Event, Event::Delete) => {
            let destination = entity::delete(client, transaction, internal_id).await?;
            Value::Object([(list_key, ids(destination))].into_iter().collect())
        }
    };
    Ok(Ok(return_content))
}

/// Checks and applies a message (`/contents`).
pub async fn apply(
    client: &impl GenericClient,
    message: &Apply<'_>,
) -> Result<Result<Value, Problem>, StoreError> {
    match check(message) {
        Ok(internal_id) => write(client, message, &internal_id).await,
        Err(problem) => Ok(Err(problem)),
    }
}
