//! Creatio's ProcessEngineService calls on runs already started (see
//! [`fila_shared::process::control`] for what they do to them):
//!
//! - `GET|POST [/0]/ServiceModel/ProcessEngineService.svc/ExecProcElByUId/{processElementUID}`
//!   (or `…/ExecProcElByUId?ProcessElementUID=…`) runs an element of a run
//!   now. A fila run's one element is its execution; its UId is the
//!   `lastExecution.elementUId` of the jobs `/ops/process/jobs` lists. A retry waiting for
//!   its backoff runs at once; an element already queued, running or
//!   finished is not run again (200 all the same, as Creatio answers). An
//!   unknown UId answers 404 `{"code", "message"}`, a missing one 400.
//! - `POST [/0]/ServiceModel/ProcessEngineService.svc/CancelExecution`
//!   with `{"processDataIds": "id1;id2"}` (what Creatio's own pages send:
//!   process ids, the `processId` of RunProcess, separated by `;`) cancels
//!   those runs: schedules end, executions waiting or running are
//!   cancelled (a running one is stopped), and a producer waiting for one
//!   gets processStatus 3. It answers 200 with an empty body, unknown ids
//!   included, as Creatio's void method does.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fila_shared::process::control::{self, ElementRun};
use serde::Deserialize;

use super::creatio::CreatioError;
use crate::body::read_limited;
use crate::state::SharedState;

pub async fn exec_element_in_path(
    State(state): State<SharedState>,
    Path(element): Path<String>,
) -> Result<Response, CreatioError> {
    exec_element(&state, &element).await
}

pub async fn exec_element_in_query(
    State(state): State<SharedState>,
    RawQuery(query): RawQuery,
) -> Result<Response, CreatioError> {
    let element = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(key, _)| key.eq_ignore_ascii_case("ProcessElementUID"))
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    exec_element(&state, &element).await
}

async fn exec_element(state: &SharedState, element: &str) -> Result<Response, CreatioError> {
    let element = element.trim();
    if element.is_empty() {
        return Err(CreatioError::BadRequest(
            "ExecProcElByUId needs the processElementUID of an element".into(),
        ));
    }
    match control::run_element(&state.pool, element).await? {
        ElementRun::Unknown => Err(CreatioError::UnknownElement(element.to_string())),
        ElementRun::Queued(stored) => {
            state.relay.publish(stored).await;
            Ok(StatusCode::OK.into_response())
        }
        ElementRun::AlreadyDone(status) => {
            tracing::debug!(element, status, "element not run again");
            Ok(StatusCode::OK.into_response())
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Cancellation {
    process_data_ids: String,
}

pub async fn cancel_execution(
    State(state): State<SharedState>,
    body: Body,
) -> Result<Response, CreatioError> {
    let bytes = read_limited(body, state.config.max_body_bytes)
        .await
        .map_err(|e| CreatioError::TooLarge(e.to_string()))?;
    let request: Cancellation = serde_json::from_slice(&bytes).map_err(|_| {
        CreatioError::BadRequest(
            "the body must be {\"processDataIds\": \"<processId>[;<processId>...]\"}".into(),
        )
    })?;
    let ids: Vec<String> = request
        .process_data_ids
        .split([';', ','])
        .map(str::trim)
        .filter(|id| !id.is_empty() && !id.contains('\0'))
        .map(str::to_string)
        .collect();
    if ids.is_empty() {
        return Err(CreatioError::BadRequest(
            "processDataIds names no process".into(),
        ));
    }
    let channel = &state.config.database_schema;
    let stored = control::cancel_jobs(&state.pool, &ids, channel).await?;
    state.relay.publish(stored).await;
    Ok(StatusCode::OK.into_response())
}
