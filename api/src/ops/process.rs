//! `GET /ops/process/jobs[?process=NAME&status=failed&before=<JobID>&limit=20]`:
//! the recent jobs, newest first, each with its latest execution,
//! `{"jobs": [{jobId, uid, process, parameters, cron, scheduleState,
//! nextFire, executions, lastExecution: {execId, status, progress, message,
//! startedAt, finishedAt, elementUId} | null, createdAt}], "next"}` (see
//! `fila_shared::process::jobs`). `status` is the latest execution's
//! (`waiting`, `running`, `succeeded`, `failed` or `cancelled`); `next` is
//! passed as `before` for older jobs.

use axum::Json;
use axum::extract::State;
use fila_shared::process::jobs::{self, ExecutionStatus, Filter};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::errors::ApiError;
use crate::params::{self, Params};
use crate::state::SharedState;

const DEFAULT: i64 = 20;
const MAX: i64 = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobPage {
    process: Option<String>,
    status: Option<ExecutionStatus>,
    before: Option<i64>,
    limit: Option<i64>,
}

pub async fn jobs(
    State(state): State<SharedState>,
    Params(page): Params<JobPage>,
) -> Result<Json<Value>, ApiError> {
    let limit = params::limit(page.limit, DEFAULT, MAX)?;
    let before = params::id("before", page.before, 1)?;
    let filter = Filter {
        process: params::text("process", page.process.as_deref())?,
        status: page.status,
    };
    let listed = jobs::recent(&state.pool, before, &filter, limit).await?;
    Ok(Json(json!({ "jobs": listed.jobs, "next": listed.next })))
}
