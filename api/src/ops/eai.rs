//! `GET /ops/eai/batches[?status=open&before=<cursor>&limit=20]`: the recent
//! EAI lots, newest first, with the progress of their messages,
//! `{"batches": [{batch, batchType, event, messages, pending, ok, error,
//! createdAt}], "next"}` (see `fila_shared::eai::batches`). `status=open`
//! keeps the lots with messages pending; `next` is passed as `before` for
//! older lots.

use axum::Json;
use axum::extract::State;
use fila_shared::eai::batches::{self, Cursor};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::errors::ApiError;
use crate::params::{self, Params};
use crate::state::SharedState;

const DEFAULT: i64 = 20;
const MAX: i64 = 100;

/// The lots a list may be narrowed to.
#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LotStatus {
    /// With messages pending.
    Open,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LotPage {
    status: Option<LotStatus>,
    before: Option<String>,
    limit: Option<i64>,
}

pub async fn batches(
    State(state): State<SharedState>,
    Params(page): Params<LotPage>,
) -> Result<Json<Value>, ApiError> {
    let limit = params::limit(page.limit, DEFAULT, MAX)?;
    let before = page
        .before
        .as_deref()
        .map(Cursor::parse)
        .transpose()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let open = matches!(page.status, Some(LotStatus::Open));
    let listed = batches::recent(&state.pool, before.as_ref(), open, limit).await?;
    let next = listed.next.map(|c| c.to_string());
    Ok(Json(json!({ "batches": listed.lots, "next": next })))
}
