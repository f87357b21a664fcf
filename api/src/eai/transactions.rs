//! `/transactions`: receiving EAI messages and answering their receipts, and
//! `GET /transactions/{uuid}`: a processed message's response message.
//!
//! The answer to a POST or DELETE is `{"batchUUID", "batchType", "items"}`
//! with a receipt per message (`accepted`, `refused` with details, or
//! `duplicate` naming the lot that brought it first): HTTP 202 when
//! something was accepted, 200 when everything had been received before,
//! 400 when nothing was accepted. A single message sent with DeliveryType
//! sync is answered with its response message once processed (200), or with
//! its receipt (202) after `eai_sync_timeout_secs`. A response message
//! (Header Type Response, from an application answering asynchronously)
//! is recorded with the message it answers (see `eai::answer`).

use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fila_shared::eai::answer::{self, Answer, Recorded};
use fila_shared::eai::intake::{self, Receipt};
use fila_shared::eai::lot::{LotRefusal, RequestContext, TransactionRequest, refused_detail};
use fila_shared::eai::message::Event;
use fila_shared::eai::problem::Problem;
use fila_shared::eai::status::{self, MessageState};
use serde_json::{Value, json};

use super::errors::EaiError;
use super::{query_pairs, query_value};
use crate::body::read_limited;
use crate::errors::ApiError;
use crate::state::SharedState;

pub async fn post(
    State(state): State<SharedState>,
    RawQuery(query): RawQuery,
    body: Body,
) -> Result<Response, EaiError> {
    receive(&state, Event::Upsert, None, query, body).await
}

pub async fn delete(
    State(state): State<SharedState>,
    RawQuery(query): RawQuery,
    body: Body,
) -> Result<Response, EaiError> {
    receive(&state, Event::Delete, None, query, body).await
}

pub async fn post_to(
    State(state): State<SharedState>,
    Path(transaction): Path<String>,
    RawQuery(query): RawQuery,
    body: Body,
) -> Result<Response, EaiError> {
    receive(&state, Event::Upsert, Some(transaction), query, body).await
}

pub async fn delete_to(
    State(state): State<SharedState>,
    Path(transaction): Path<String>,
    RawQuery(query): RawQuery,
    body: Body,
) -> Result<Response, EaiError> {
    receive(&state, Event::Delete, Some(transaction), query, body).await
}

/// `GET /transactions/{uuid}`: 200 with the response message, 202 while the
/// message is pending, 404 when unknown.
pub async fn show(
    State(state): State<SharedState>,
    Path(uuid): Path<String>,
) -> Result<Response, EaiError> {
    match status::message(&state.pool, &uuid).await? {
        MessageState::Unknown => Err(EaiError::NotFound(format!("No message has UUID {uuid}."))),
        MessageState::Pending { batch } => Ok((
            StatusCode::ACCEPTED,
            Json(json!({ "uuid": uuid, "status": "pending", "batchUUID": batch })),
        )
            .into_response()),
        MessageState::Processed(response) => Ok(Json(response).into_response()),
    }
}

async fn receive(
    state: &SharedState,
    event: Event,
    path_transaction: Option<String>,
    query: Option<String>,
    body: Body,
) -> Result<Response, EaiError> {
    let params = query_pairs(query.as_deref());
    let body = read_limited(body, state.config.max_body_bytes).await?;
    if let Some(answer) = answer::read(&body) {
        return record_answer(state, answer.map_err(EaiError::bad)?).await;
    }
    let ctx = RequestContext {
        batch_type: query_value(&params, "batchType"),
        event,
        path_transaction: path_transaction.as_deref(),
        registry: &state.eai,
        max_messages: state.config.eai_max_lot_messages,
    };
    let request = match TransactionRequest::parse(&body, &ctx) {
        Ok(request) => request,
        Err(LotRefusal::Refused { problem, details }) => {
            return Err(EaiError::Refused {
                status: StatusCode::BAD_REQUEST,
                problem,
                details,
            });
        }
        Err(LotRefusal::TooMany { messages, max }) => {
            return Err(ApiError::TooLarge(format!(
                "the lot has {messages} messages; at most {max} are accepted in one lot"
            ))
            .into());
        }
    };
    let batch_type = request.batch_type;
    let batch = batch_uuid(request.is_lot, query_value(&params, "batchUUID"))?;
    if !request.is_lot
        && let Some(Err(refused)) = request.items.first()
    {
        return Err(EaiError::Refused {
            status: StatusCode::BAD_REQUEST,
            problem: refused.problem.clone(),
            details: vec![refused_detail(refused)],
        });
    }
    let stored = intake::store(&state.pool, &request, &batch, &state.eai, &state.config).await?;
    let intake = match stored {
        Ok(intake) => intake,
        Err(problem @ Problem::BatchTaken(_)) => {
            return Err(EaiError::Refused {
                status: StatusCode::CONFLICT,
                problem,
                details: Vec::new(),
            });
        }
        Err(problem) => return Err(EaiError::bad(problem)),
    };
    let accepted = intake.accepted();
    state.relay.publish(intake.stored).await;
    tracing::info!(
        batch = %batch,
        batch_type = batch_type.as_str(),
        messages = request.items.len(),
        accepted,
        "EAI messages received"
    );
    let sync = request
        .messages()
        .find(|m| m.header.sync && !request.is_lot);
    if let (Some(message), 1) = (sync, accepted) {
        let uuid = message.header.uuid.clone();
        if let Some(response) = wait_for_response(state, &uuid).await? {
            return Ok(Json(response).into_response());
        }
    }
    let status = if accepted > 0 {
        StatusCode::ACCEPTED
    } else if intake
        .receipts
        .iter()
        .any(|r| matches!(r, Receipt::Duplicate { .. }))
    {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let receipts: Vec<Value> = intake.receipts.iter().map(Receipt::to_json).collect();
    Ok((
        status,
        Json(json!({
            "batchUUID": batch,
            "batchType": batch_type.as_str(),
            "items": receipts,
        })),
    )
        .into_response())
}

/// A response message sent back to fila: 202 when recorded, 200 when it
/// had been, 404 (EAI-404) when it answers no message fila has.
async fn record_answer(state: &SharedState, answer: Answer) -> Result<Response, EaiError> {
    let (status, receipt) = match answer::record(&state.pool, &answer).await? {
        Recorded::Accepted => (StatusCode::ACCEPTED, "accepted"),
        Recorded::Duplicate => (StatusCode::OK, "duplicate"),
        Recorded::UnknownMessage => {
            return Err(EaiError::NotFound(format!(
                "No message has UUID {}: response {} answers none.",
                answer.received, answer.uuid
            )));
        }
    };
    tracing::info!(uuid = %answer.uuid, received = %answer.received, receipt, "EAI response received");
    Ok((
        status,
        Json(json!({
            "items": [{ "uuid": answer.uuid, "status": receipt, "receivedMessage": answer.received }],
        })),
    )
        .into_response())
}

/// The lot's id: the `batchUUID` sent with a lot, or a new one (a single
/// message's `batchUUID` is ignored, as the TDN says).
fn batch_uuid(is_lot: bool, sent: Option<&str>) -> Result<String, EaiError> {
    match sent.filter(|_| is_lot) {
        Some(id) if id.chars().count() <= 100 && !id.chars().any(char::is_control) => {
            Ok(id.to_string())
        }
        Some(_) => Err(EaiError::bad(Problem::BatchUuid)),
        None => Ok(uuid::Uuid::new_v4().to_string()),
    }
}

/// The response message of a synchronous message, once a worker processed it.
async fn wait_for_response(state: &SharedState, uuid: &str) -> Result<Option<Value>, EaiError> {
    let timeout = Duration::from_secs(state.config.eai_sync_timeout_secs);
    let key = format!("eai:{uuid}");
    let response = state
        .waiters
        .wait_for(&key, timeout, || async {
            match status::message(&state.pool, uuid).await? {
                MessageState::Processed(response) => Ok::<_, EaiError>(Some(response)),
                _ => Ok(None),
            }
        })
        .await?;
    Ok(response)
}
