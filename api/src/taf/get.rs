//! `GET /rest/wstafst2`: one page of record statuses. Its sourceBranch is
//! looked up (803) before the query is checked (701, 703), as on the real
//! server.

use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use fila_shared::taf::scope::Scope;
use fila_shared::taf::status::{self, SearchMode, StatusQuery};

use super::errors::TafError;
use super::query::QueryParams;
use super::source_branch;
use crate::auth::Caller;
use crate::state::SharedState;

pub async fn status(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    RawQuery(raw): RawQuery,
) -> Result<Response, TafError> {
    let params = QueryParams::parse(raw.as_deref());
    let company_group = source_branch::company_group(&state, params.get("sourceBranch")).await?;
    let mut query = read_query(&params, &state.config, caller.scope)?;
    query.company_group = company_group;
    let body = status::page(&state.pool, &query).await?;
    Ok(([(CONTENT_TYPE, "application/json")], body).into_response())
}

fn read_query(
    params: &QueryParams,
    config: &fila_shared::config::Config,
    scope: Scope,
) -> Result<StatusQuery, TafError> {
    let ticket_code = params.get("ticketCode").map(str::to_string);
    let registry_key = params.get("registryKey").map(str::to_string);
    if ticket_code.is_none() && registry_key.is_none() {
        return Err(TafError::MissingKey(
            "Informe ticketCode ou registryKey.".into(),
        ));
    }
    let start_rec_no = params
        .get("startRecNo")
        .ok_or_else(|| TafError::MissingKey("Informe startRecNo.".into()))?
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| {
            TafError::MissingKey("startRecNo deve ser um inteiro nao negativo.".into())
        })?;
    let search_mode = match params.get("searchMode") {
        None => SearchMode::All,
        Some("1") => SearchMode::Last,
        Some("2") => SearchMode::LastValid,
        Some(_) => return Err(TafError::SearchMode),
    };
    let max_items = match params.get("lotQuantity") {
        None => config.taf_page_max_items,
        Some(q) => q
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                TafError::MissingKey("lotQuantity deve ser um inteiro positivo.".into())
            })?
            .min(config.taf_page_max_items),
    };
    Ok(StatusQuery {
        ticket_code,
        registry_key,
        source_branch: params.get("sourceBranch").map(str::to_string),
        company_group: None,
        start_rec_no,
        search_mode,
        max_items,
        max_bytes: config.taf_page_max_bytes,
        scope,
    })
}
