//! `/contents/{transactionID}`: the entity store, synchronously.
//!
//! - `GET /contents/{transactionID}` lists the Transaction's entities
//!   (`{"hasNext", "items"}`, with `page`, `pageSize`, `order` by
//!   `internalId`, `version`, `updatedAt` or the Content's top-level
//!   attributes, filters on those, `fields` and `expand`: see `listing`);
//! - `GET /contents/{transactionID}/{internalId}` returns one Content (its
//!   `fields` only, when asked);
//! - `POST` upserts and `DELETE` deletes (the Content, bare or in a message,
//!   in the body; or `DELETE …/{internalId}`), with the same validation as
//!   the workers, answering the response message: 200 when OK, 400 when
//!   ERROR.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use fila_shared::eai::entity::{self, ENTITY_FIELDS};
use fila_shared::eai::keys::{KeyStyle, field};
use fila_shared::eai::listing::{Listing, field_names, only_fields};
use fila_shared::eai::message::{Event, Message, SubType};
use fila_shared::eai::problem::Problem;
use fila_shared::eai::registry::{Destination, Transaction};
use fila_shared::eai::response::{Answered, Status, response_message};
use fila_shared::eai::store_destination::{self, Apply};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

use super::errors::EaiError;
use super::{query_pairs, query_value};
use crate::body::read_limited;
use crate::state::SharedState;

/// The Transaction, if fila keeps its contents.
fn stored_transaction(state: &SharedState, name: &str) -> Result<Arc<Transaction>, EaiError> {
    let transaction = state
        .eai
        .get(name)
        .ok_or_else(|| EaiError::bad(Problem::UnknownTransaction(name.to_ascii_uppercase())))?;
    match transaction.destination {
        Destination::Store => Ok(transaction),
        Destination::Http { .. } => {
            Err(EaiError::bad(Problem::NotInStore(transaction.name.clone())))
        }
    }
}

pub async fn list(
    State(state): State<SharedState>,
    Path(transaction): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, EaiError> {
    let transaction = stored_transaction(&state, &transaction)?;
    let listing = Listing::parse(&query_pairs(query.as_deref()), ENTITY_FIELDS, &[], true)?;
    let client = state
        .pool
        .get()
        .await
        .map_err(fila_shared::db::StoreError::from)?;
    let (entities, has_next) = entity::list(&client, &transaction.name, &listing).await?;
    let items: Vec<Value> = entities
        .into_iter()
        .map(|e| only_fields(e.content, &listing.fields))
        .collect();
    Ok(Json(json!({ "hasNext": has_next, "items": items })))
}

pub async fn show(
    State(state): State<SharedState>,
    Path((transaction, internal_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, EaiError> {
    let transaction = stored_transaction(&state, &transaction)?;
    let fields: Vec<String> = query_value(&query_pairs(query.as_deref()), "fields")
        .map(|f| field_names(f).collect())
        .unwrap_or_default();
    let client = state
        .pool
        .get()
        .await
        .map_err(fila_shared::db::StoreError::from)?;
    entity::get(&client, &transaction.name, &internal_id)
        .await?
        .map(|e| Json(only_fields(e.content, &fields)))
        .ok_or_else(|| EaiError::NotFound(format!("No entity has InternalId {internal_id}.")))
}

pub async fn upsert(
    State(state): State<SharedState>,
    Path(transaction): Path<String>,
    RawQuery(query): RawQuery,
    body: Body,
) -> Result<Response, EaiError> {
    let body = read_limited(body, state.config.max_body_bytes).await?;
    change(&state, &transaction, query, Event::Upsert, &body).await
}

pub async fn delete_in_body(
    State(state): State<SharedState>,
    Path(transaction): Path<String>,
    RawQuery(query): RawQuery,
    body: Body,
) -> Result<Response, EaiError> {
    let body = read_limited(body, state.config.max_body_bytes).await?;
    change(&state, &transaction, query, Event::Delete, &body).await
}

pub async fn delete_one(
    State(state): State<SharedState>,
    Path((transaction, internal_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, EaiError> {
    let body = json!({ "InternalId": internal_id }).to_string();
    change(&state, &transaction, query, Event::Delete, body.as_bytes()).await
}

/// What a `/contents` body says: a message, or a bare Content.
struct Change {
    uuid: String,
    version: String,
    source_application: String,
    content: Value,
    style: KeyStyle,
    /// A message's GeneratedOn.
    generated_on: Option<DateTime<Utc>>,
}

fn read_change(body: &[u8], transaction: &str, version: Option<&str>) -> Result<Change, EaiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| EaiError::bad(Problem::Malformed(e.to_string())))?;
    let Some(map) = value.as_object() else {
        return Err(EaiError::bad(Problem::MissingContent));
    };
    if field(map, "Header").is_some() {
        let message =
            Message::parse(&value, Some(transaction)).map_err(|r| EaiError::bad(r.problem))?;
        return Ok(Change {
            uuid: message.header.uuid,
            version: message.header.version,
            source_application: message.header.source_application,
            content: message.content,
            style: message.style,
            generated_on: message.header.generated_on,
        });
    }
    if fila_shared::db::holds_nul(&value) || version.is_some_and(|v| v.contains('\0')) {
        return Err(EaiError::bad(Problem::NulCharacter));
    }
    Ok(Change {
        uuid: uuid::Uuid::new_v4().to_string(),
        version: version.unwrap_or_default().to_string(),
        source_application: String::new(),
        style: KeyStyle::of(map),
        content: value,
        generated_on: None,
    })
}

async fn change(
    state: &SharedState,
    transaction: &str,
    query: Option<String>,
    event: Event,
    body: &[u8],
) -> Result<Response, EaiError> {
    let transaction = stored_transaction(state, transaction)?;
    let params = query_pairs(query.as_deref());
    let change = read_change(body, &transaction.name, query_value(&params, "version"))?;
    let client = state
        .pool
        .get()
        .await
        .map_err(fila_shared::db::StoreError::from)?;
    let apply = Apply {
        transaction: &transaction,
        version: &change.version,
        event,
        sub_type: SubType::Event,
        content: &change.content,
        style: change.style,
        message_uuid: None,
        order: entity::place_now(&client, change.generated_on).await?,
    };
    let outcome = store_destination::apply(&client, &apply).await?;
    let processed_on = time::OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default();
    let answered = Answered {
        uuid: &change.uuid,
        transaction: &transaction.name,
        version: &change.version,
        source_application: &change.source_application,
        event: event.as_str(),
        company_id: None,
        branch_id: None,
        style: change.style,
    };
    let response = response_message(
        &answered,
        &uuid::Uuid::new_v4().to_string(),
        &processed_on,
        &outcome,
    );
    let status = match outcome.status {
        Status::Ok => StatusCode::OK,
        Status::Error => StatusCode::BAD_REQUEST,
    };
    Ok((status, Json(response)).into_response())
}
