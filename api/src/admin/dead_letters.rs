//! Dead letters (queue messages that failed every attempt):
//!
//! - `GET /admin/dead-letters[?queue=taf&after=<id>&limit=100]` lists
//!   `{"deadLetters": [{id, deadAt, queue, kind, messageId, reason,
//!   attempts, history, message}], "next": <id to pass as after, or null>}`,
//!   oldest first (`limit` up to 1000);
//! - `GET /admin/dead-letters/{id}` answers one (404 when unknown);
//! - `POST /admin/dead-letters/{id}/replay` sends one back to its queue as
//!   a first attempt (`{"replayed": 1}`; 404 when unknown);
//! - `POST /admin/dead-letters/replay` with `{"ids": [1, 2]}`,
//!   `{"queue": "taf"}` or `{"all": true}` replays a selection (`{"replayed":
//!   n}`; ids not found are skipped): exactly one of the three, so that an
//!   empty body never replays everything;
//! - `DELETE /admin/dead-letters/{id}` discards one (204; 404 when unknown)
//!   and closes the items it held, each in its protocol's terms, with
//!   their results published (see `fila_shared::dead_letter::items`).

use axum::Extension;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fila_shared::amqp::WorkQueue;
use fila_shared::dead_letter::{self, Closer, Selection};
use serde::Deserialize;
use serde_json::json;

use crate::auth::Caller;
use crate::body::read_limited;
use crate::errors::ApiError;
use crate::params;
use crate::state::SharedState;

const LIST_DEFAULT: i64 = 100;
const LIST_MAX: i64 = 1000;
/// Dead letters replayed per transaction.
const REPLAY_BATCH: i64 = 1000;
/// Ids one replay request may name.
const IDS_MAX: usize = 10_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    queue: Option<String>,
    after: Option<i64>,
    limit: Option<i64>,
}

fn known_queue(queue: &str) -> Result<(), ApiError> {
    WorkQueue::from_key(queue).map(|_| ()).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "queue must be taf, eai or process.<group>, not {queue:?}"
        ))
    })
}

pub async fn list(
    State(state): State<SharedState>,
    Query(filter): Query<Filter>,
) -> Result<Response, ApiError> {
    if let Some(queue) = &filter.queue {
        known_queue(queue)?;
    }
    let limit = params::limit(filter.limit, LIST_DEFAULT, LIST_MAX)?;
    let letters = dead_letter::list(
        &state.pool,
        filter.queue.as_deref(),
        filter.after.unwrap_or(0),
        limit,
    )
    .await?;
    let next = (letters.len() as i64 == limit)
        .then(|| letters.last().map(|l| l.id))
        .flatten();
    Ok(Json(json!({ "deadLetters": letters, "next": next })).into_response())
}

fn parse_id(id: &str) -> Result<i64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::BadRequest(format!("a dead letter id is a number, not {id:?}")))
}

fn unknown(id: i64) -> ApiError {
    ApiError::NotFound(format!("no dead letter has id {id}"))
}

pub async fn get(
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let letter = dead_letter::get(&state.pool, id)
        .await?
        .ok_or_else(|| unknown(id))?;
    Ok(Json(letter).into_response())
}

pub async fn remove(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let who = format!("admin:{}", caller.name);
    let closer = Closer {
        who: &who,
        channel: &state.config.database_schema,
        registry: &state.eai,
    };
    let stored = dead_letter::discard(&state.pool, id, &closer)
        .await?
        .ok_or_else(|| unknown(id))?;
    tracing::info!(id, by = %caller.name, "dead letter discarded; the items it held are closed");
    state.relay.publish(stored).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn replay_one(
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    match replay(&state, &Selection::Ids(vec![id])).await? {
        0 => Err(unknown(id)),
        replayed => Ok(Json(json!({ "replayed": replayed })).into_response()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayBody {
    ids: Option<Vec<i64>>,
    queue: Option<String>,
    #[serde(default)]
    all: bool,
}

pub async fn replay_many(
    State(state): State<SharedState>,
    body: Body,
) -> Result<Response, ApiError> {
    let body = read_limited(body, state.config.max_body_bytes).await?;
    let request: ReplayBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("invalid replay request: {e}")))?;
    let selection = match (request.ids, request.queue, request.all) {
        (Some(ids), None, false) if ids.len() <= IDS_MAX => Selection::Ids(ids),
        (Some(_), None, false) => {
            return Err(ApiError::BadRequest(format!(
                "at most {IDS_MAX} ids per request"
            )));
        }
        (None, Some(queue), false) => {
            known_queue(&queue)?;
            Selection::Queue(queue)
        }
        (None, None, true) => Selection::All,
        _ => {
            return Err(ApiError::BadRequest(
                "give exactly one of ids, queue or \"all\": true".into(),
            ));
        }
    };
    let replayed = replay(&state, &selection).await?;
    Ok(Json(json!({ "replayed": replayed })).into_response())
}

/// Replays the selection in batches; how many were replayed. Only dead
/// letters that existed when the request came are replayed, so a message
/// that dies again at once is not replayed twice by one request.
async fn replay(state: &SharedState, selection: &Selection) -> Result<usize, ApiError> {
    let through = dead_letter::newest(&state.pool).await?;
    let mut replayed = 0;
    loop {
        let stored = dead_letter::replay(&state.pool, selection, through, REPLAY_BATCH).await?;
        let count = stored.len();
        replayed += count;
        state.relay.publish(stored).await;
        if (count as i64) < REPLAY_BATCH {
            break;
        }
    }
    tracing::info!(replayed, ?selection, "dead letters replayed");
    Ok(replayed)
}
