//! `POST /rest/wstafst2`: check the lot, store what is accepted in one
//! transaction, hand its queue messages to the outbox relay, answer per
//! registryKey.

use axum::body::Body;
use axum::extract::State;
use axum::{Extension, Json};
use fila_shared::metrics::TAF;
use fila_shared::taf::codes::Refusal;
use fila_shared::taf::lot::{LotRefusal, LotRequest, LotResponse, LotSyntaxError};
use fila_shared::taf::txt_layout::TxtLayouts;
use fila_shared::taf::{branch, intake};

use super::errors::TafError;
use crate::auth::Caller;
use crate::body::read_limited;
use crate::errors::ApiError;
use crate::state::SharedState;

/// Counts what the answer says: items one by one, a lot refused whole
/// once, under its code.
pub async fn lot(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    body: Body,
) -> Result<Json<LotResponse>, TafError> {
    let answer = receive(&state, &caller, body).await;
    let metrics = &state.metrics;
    match &answer {
        Ok(Json(response)) => {
            for key in &response.registry_key {
                let code = key.error.first().map(|e| e.coderr.to_string());
                metrics.count_intake(TAF, code, 1);
            }
        }
        Err(e) => metrics.count_intake(TAF, Some(e.code().to_string()), 1),
    }
    answer
}

async fn receive(
    state: &SharedState,
    caller: &Caller,
    body: Body,
) -> Result<Json<LotResponse>, TafError> {
    let config = &state.config;
    let body = read_limited(body, config.max_body_bytes).await?;
    let txt_layouts = TxtLayouts::new(&config.taf_txt_layouts);
    let mut lot = match LotRequest::parse(&body, config.taf_max_lot_items, &txt_layouts) {
        Err(LotSyntaxError::Empty) => return Err(TafError::EmptyBody),
        Err(LotSyntaxError::Malformed(reason)) => return Err(TafError::Malformed(reason)),
        Ok(Err(LotRefusal::Coded(refusal))) => return Err(TafError::Refused(refusal)),
        Ok(Err(LotRefusal::TooManyItems { items, max })) => {
            return Err(ApiError::TooLarge(format!(
                "the lot has {items} items; at most {max} are accepted in one lot"
            ))
            .into());
        }
        Ok(Ok(lot)) => lot,
    };
    if !state.schema_current().await? {
        return Err(TafError::Refused(Refusal::SchemaOutdated));
    }
    let lookup = {
        let client = state
            .pool
            .get()
            .await
            .map_err(fila_shared::db::StoreError::from)?;
        branch::lookup(&client, &lot.branch_codes()).await?
    };
    let group = lot.apply_branches(&lookup).map_err(TafError::Refused)?;
    lot.apply_scope(&caller.scope, &lookup);
    let stored = intake::store_lot(&state.pool, &mut lot, &group, config.taf_chunk_size).await?;
    state.relay.publish(stored).await;
    let response = lot.response();
    tracing::info!(
        ticket = %response.ticket_code,
        items = response.key_amount,
        accepted = response.registry_key.iter().filter(|k| k.success).count(),
        "TAF lot received"
    );
    Ok(Json(response))
}
