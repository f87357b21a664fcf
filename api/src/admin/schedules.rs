//! Process schedules (jobs started with a `quartzDef`):
//!
//! - `GET /admin/schedules[?state=active|paused|ended]` lists
//!   `{"schedules": [{uid, jobId, process, quartzDef, state, nextFire, fires,
//!   startsAt, endsAt, runOnce, workerGroup, timeZone, nextFires}]}`,
//!   newest first; `nextFires` lists the coming fires as wall-clock times
//!   of the schedule's `timeZone`, with their offsets;
//! - `POST /admin/schedules/{uid}/pause` and `…/resume` answer the schedule
//!   (resuming fires from now on: the fires missed while paused are not
//!   made); 404 for an unknown or ended one;
//! - `DELETE /admin/schedules/{uid}` ends it and cancels its runs not
//!   started yet (204; 404 when unknown).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fila_shared::process::control;
use fila_shared::process::store::{self, ScheduleView};
use serde::Deserialize;
use serde_json::json;

use crate::errors::ApiError;
use crate::state::SharedState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    state: Option<String>,
}

pub async fn list(
    State(state): State<SharedState>,
    Query(filter): Query<Filter>,
) -> Result<Response, ApiError> {
    let wanted = filter.state.as_deref().map(str::trim);
    if let Some(wanted) = wanted
        && !["active", "paused", "ended"].contains(&wanted)
    {
        return Err(ApiError::BadRequest(format!(
            "state must be active, paused or ended, not {wanted:?}"
        )));
    }
    let schedules = store::schedules(&state.pool, wanted).await?;
    Ok(Json(json!({ "schedules": schedules })).into_response())
}

fn found(uid: &str, view: Option<ScheduleView>) -> Result<Response, ApiError> {
    view.map(|v| Json(v).into_response())
        .ok_or_else(|| ApiError::NotFound(format!("no active or paused schedule has uid {uid}")))
}

pub async fn pause(
    State(state): State<SharedState>,
    Path(uid): Path<String>,
) -> Result<Response, ApiError> {
    found(&uid, store::set_paused(&state.pool, &uid, true).await?)
}

pub async fn resume(
    State(state): State<SharedState>,
    Path(uid): Path<String>,
) -> Result<Response, ApiError> {
    found(&uid, store::set_paused(&state.pool, &uid, false).await?)
}

pub async fn remove(
    State(state): State<SharedState>,
    Path(uid): Path<String>,
) -> Result<Response, ApiError> {
    if control::end_schedule(&state.pool, &uid).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::NotFound(format!("no schedule has uid {uid}")))
    }
}
