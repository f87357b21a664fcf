//! `GET /batches/{batchUUID}`: a lot's status (processing, processed, or
//! error for a failed business transaction), its counts, and one page of its
//! messages, with `page`, `pageSize`, `order` and field filters (`uuid`,
//! `transaction`, `version`, `event`, `status`, `processedOn`, `seq`).

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use fila_shared::eai::listing::Listing;
use fila_shared::eai::status::{self, MESSAGE_FIELDS};
use serde_json::Value;

use super::errors::EaiError;
use super::query_pairs;
use crate::state::SharedState;

pub async fn show(
    State(state): State<SharedState>,
    Path(batch): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, EaiError> {
    let listing = Listing::parse(&query_pairs(query.as_deref()), MESSAGE_FIELDS, &[], false)?;
    status::batch(&state.pool, &batch, &listing)
        .await?
        .map(Json)
        .ok_or_else(|| EaiError::NotFound(format!("No lot has batchUUID {batch}.")))
}
