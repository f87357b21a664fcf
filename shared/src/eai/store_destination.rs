//! The entity store as a destination: what an EAI message does to it.
//!
//! - an event with the upsert Event (POST) inserts or replaces the entity
//!   whose InternalId the Content carries;
//! - an event with the delete Event (DELETE) removes it (a delete of an
//!   entity fila does not have succeeds: the message's intent holds);
//! - a request (SubType request) answers the stored entity.
//!
//! Events apply in their producer's order (`eai::order`): one older than
//! what the store holds changes nothing and is OK with a notice (EAI-301).
//! The ReturnContent lists the entity's ids: `ListOfInternalId` with Name
//! (the Transaction), Origin (the InternalId) and Destination (fila's id).

use deadpool_postgres::GenericClient;
use serde_json::Value;

use super::entity::{self, Written};
use super::keys::KeyStyle;
use super::message::{Event, SubType};
use super::order::OrderKey;
use super::problem::Problem;
use super::registry::Transaction;
use super::response::{Outcome, internal_ids};
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
    /// Its place in the producer's order.
    pub order: OrderKey,
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

/// Applies a checked message in the caller's transaction: its outcome (OK
/// with the ReturnContent, or the problem that makes it an ERROR).
pub async fn write(
    client: &impl GenericClient,
    message: &Apply<'_>,
    internal_id: &str,
) -> Result<Outcome, StoreError> {
    let transaction = &message.transaction.name;
    let list_key = message.style.key("ListOfInternalId");
    let ids = |destination: i64| {
        let ids = internal_ids(
            message.style,
            transaction,
            internal_id,
            &destination.to_string(),
        );
        Value::Object([(list_key.clone(), ids)].into_iter().collect())
    };
    let delete = match (message.sub_type, message.event) {
        (SubType::Request, _) => {
            let Some(found) = entity::get(client, transaction, internal_id).await? else {
                return Ok(Outcome::error(&Problem::EntityNotFound(
                    internal_id.to_string(),
                )));
            };
            let mut content = found.content;
            if let (Some(map), Value::Object(ids)) =
                (content.as_object_mut(), ids(found.destination_id))
            {
                map.extend(ids);
            }
            return Ok(Outcome::ok(content));
        }
        (SubType::Event, event) => event == Event::Delete,
    };
    let change = entity::Change {
        transaction,
        internal_id,
        version: message.version,
        content: message.content,
        message_uuid: message.message_uuid,
        order: message.order,
        delete,
    };
    Ok(match entity::write(client, &change).await? {
        Written::Applied { destination_id } => Outcome::ok(ids(destination_id)),
        Written::Superseded { destination_id, by } => {
            let mut outcome = Outcome::ok(ids(destination_id));
            outcome.details.push(by.detail());
            outcome
        }
    })
}

/// Checks and applies a message (`/contents`).
pub async fn apply(
    client: &impl GenericClient,
    message: &Apply<'_>,
) -> Result<Outcome, StoreError> {
    match check(message) {
        Ok(internal_id) => write(client, message, &internal_id).await,
        Err(problem) => Ok(Outcome::error(&problem)),
    }
}
