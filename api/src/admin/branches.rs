//! The TAF branch registry ("complemento de empresas"):
//!
//! - `GET /admin/taf/branches` lists `{"branches": [{sourceBranch, companyGroup, registration}]}`;
//! - `PUT /admin/taf/branches/{sourceBranch}` with `{"companyGroup": "01",
//!   "registration": "53113791"}` adds (201) or replaces (200) one;
//! - `DELETE /admin/taf/branches/{sourceBranch}` removes one (204, 404 when unknown).

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fila_shared::taf::branch::{self, Branch};
use serde::Deserialize;
use serde_json::json;

use crate::body::read_limited;
use crate::errors::ApiError;
use crate::state::SharedState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BranchBody {
    #[serde(rename = "companyGroup")]
    company_group: String,
    #[serde(default)]
    registration: Option<String>,
}

pub async fn list(State(state): State<SharedState>) -> Result<Response, ApiError> {
    let branches = branch::list(&state.pool).await?;
    Ok(Json(json!({ "branches": branches })).into_response())
}

pub async fn put(
    State(state): State<SharedState>,
    Path(source_branch): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let body = read_limited(body, state.config.max_body_bytes).await?;
    let request: BranchBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("invalid branch: {e}")))?;
    let branch = Branch::new(
        &source_branch,
        &request.company_group,
        request.registration.as_deref(),
    )
    .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let created = branch::upsert(&state.pool, &branch).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    tracing::info!(branch = %branch.source_branch, group = %branch.company_group, created, "TAF branch saved");
    Ok((status, Json(branch)).into_response())
}

pub async fn remove(
    State(state): State<SharedState>,
    Path(source_branch): Path<String>,
) -> Result<StatusCode, ApiError> {
    if branch::remove(&state.pool, &source_branch).await? {
        tracing::info!(branch = %source_branch, "TAF branch removed");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!(
            "branch {source_branch} is not registered"
        )))
    }
}
