//! Processes through three wire protocols, one implementation: every
//! protocol starts jobs with [`start`] and follows them in the store; the
//! workers run them.
//!
//! - RM wsProcess, SOAP 1.1 (`/wsProcess/IwsProcess`, `/wsProcess/IwsBase`,
//!   `/wsProcess/IRMSServer`, WSDL on GET);
//! - Creatio ProcessEngineService (`[/0]/ServiceModel/ProcessEngineService.svc`:
//!   Execute and RunProcess, ExecProcElByUId and CancelExecution on runs
//!   started) and its login (`/ServiceModel/AuthService.svc/Login`);
//! - the Robusta scheduler connector API (`/scheduler/connector-api/process`).

mod creatio;
mod creatio_runs;
mod robusta;
mod submitter;
mod wsdl;
mod wsoperations;
mod wsprocess;
mod wsschema;

pub use creatio::{Operation as CreatioOperation, refusal as creatio_refusal};
pub use robusta::RobustaError;
pub use submitter::Submitter;
pub use wsprocess::WsError;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use fila_shared::db::StoreError;
use fila_shared::metrics::PROCESS;
use fila_shared::process::definition::{Definition, ParameterError};
use fila_shared::process::store::{self, ExecutionView, ScheduleSpec, Submission};
use serde_json::{Map, Value};

use crate::bounds::Dialect;
use crate::policy::{Guards, Policy};
use crate::state::SharedState;

/// Every process protocol's routes, each with its policy: who may call
/// it, whether it starts processes, and the format of its refusals.
pub fn routes(g: &Guards) -> Router<SharedState> {
    let wsprocess = Dialect::WsProcess;
    // IwsProcess's POST carries its operations: reading a status needs
    // `reader`, and the handler checks `producer` for the Execute ones.
    // IwsBase and IRMSServer carry the handshake, open: AutenticaAcesso
    // checks the credentials itself, to answer 0 when they are wrong.
    let mut router = Router::new()
        .route(
            "/wsProcess/IwsProcess",
            g.on(Policy::reads(wsprocess).soap(), post(wsprocess::process))
                .merge(g.on(Policy::open(wsprocess), get(wsdl::document))),
        )
        .route(
            "/wsProcess/IwsBase",
            g.on(Policy::open(wsprocess), post(wsprocess::base))
                .merge(g.on(Policy::open(wsprocess), get(wsdl::document))),
        )
        .route(
            "/wsProcess/IRMSServer",
            g.on(Policy::open(wsprocess), post(wsprocess::rms_server))
                .merge(g.on(Policy::open(wsprocess), get(wsdl::document))),
        )
        .route(
            "/wsProcess/MEX",
            g.on(Policy::open(wsprocess), get(wsdl::document)),
        )
        .route(
            "/ServiceModel/AuthService.svc/Login",
            g.on(
                Policy::open(Dialect::Creatio(CreatioOperation::Login)),
                post(creatio::login),
            ),
        );
    for base in ["/0/ServiceModel", "/ServiceModel"] {
        // Execute runs a process, even as a GET.
        let execute = Policy::submits(PROCESS, Dialect::Creatio(CreatioOperation::Execute));
        let run = Policy::submits(PROCESS, Dialect::Creatio(CreatioOperation::RunProcess));
        // On runs already started: their refusals are Execute's.
        let control = Policy::changes(Dialect::Creatio(CreatioOperation::Execute));
        router = router
            .route(
                &format!("{base}/ProcessEngineService.svc/{{schema}}/Execute"),
                g.on(execute, get(creatio::execute).post(creatio::execute)),
            )
            .route(
                &format!("{base}/ProcessEngineService.svc/RunProcess"),
                g.on(run, post(creatio::run_process)),
            )
            .route(
                &format!("{base}/ProcessEngineService.svc/ExecProcElByUId/{{element}}"),
                g.on(
                    control,
                    get(creatio_runs::exec_element_in_path)
                        .post(creatio_runs::exec_element_in_path),
                ),
            )
            .route(
                &format!("{base}/ProcessEngineService.svc/ExecProcElByUId"),
                g.on(
                    control,
                    get(creatio_runs::exec_element_in_query)
                        .post(creatio_runs::exec_element_in_query),
                ),
            )
            .route(
                &format!("{base}/ProcessEngineService.svc/CancelExecution"),
                g.on(control, post(creatio_runs::cancel_execution)),
            );
    }
    for base in ["/scheduler/connector-api", "/scheduler/connector-API"] {
        router = router
            .route(
                &format!("{base}/process/start"),
                g.on(
                    Policy::submits(PROCESS, Dialect::Scheduler),
                    post(robusta::start_process),
                ),
            )
            .route(
                &format!("{base}/process/status/{{spid}}"),
                g.on(Policy::reads(Dialect::Scheduler), get(robusta::status)),
            );
    }
    router
}

/// A job a protocol asks for.
pub struct Start<'a> {
    pub process: &'a str,
    pub parameters: Map<String, Value>,
    /// The worker group asked for (else the definition's).
    pub group: Option<&'a str>,
    /// Retries of a failed run (else the definition's).
    pub retry_count: Option<u32>,
    /// Whether the caller waits for the outcome.
    pub sync: bool,
    pub schedule: Option<ScheduleSpec>,
}

/// Why a job is not started: every protocol maps these to its wire format.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("process {0} is not defined")]
    UnknownProcess(String),
    #[error("{0}")]
    Parameters(#[from] ParameterError),
    #[error("worker group {0} is not defined")]
    UnknownGroup(String),
    #[error("database unavailable")]
    Store(#[from] StoreError),
}

/// A started job.
pub struct Started {
    pub job_id: i64,
    pub uid: String,
    /// The execution started now (none when only scheduled).
    pub exec_id: Option<i32>,
    /// The definition it was started under.
    pub definition: Arc<Definition>,
}

/// Checks a job against its process's definition, stores it with its first
/// run (if any) and hands the run to the relay.
pub async fn start(state: &SharedState, request: Start<'_>) -> Result<Started, StartError> {
    let definition = state
        .processes
        .lookup(request.process)
        .ok_or_else(|| StartError::UnknownProcess(request.process.trim().to_string()))?;
    let group = request.group.unwrap_or(&definition.group).to_string();
    if !state.processes.current().knows_group(&group) {
        return Err(StartError::UnknownGroup(group));
    }
    let parameters = definition.prepare(request.parameters)?;
    let submission = Submission {
        retry_count: request.retry_count.unwrap_or(definition.retry_count),
        definition: Arc::clone(&definition),
        parameters,
        group,
        sync: request.sync,
        schedule: request.schedule,
    };
    let submitted = state.submitter.submit(submission).await?;
    Ok(Started {
        job_id: submitted.job_id,
        uid: submitted.uid,
        exec_id: submitted.exec_id,
        definition,
    })
}

/// The job's final outcome, waited for up to `process_sync_timeout_secs`;
/// `None` when it is not final by then.
pub async fn wait_final(
    state: &SharedState,
    job_id: i64,
) -> Result<Option<ExecutionView>, StoreError> {
    let timeout = Duration::from_secs(state.config.process_sync_timeout_secs);
    wait_final_within(state, job_id, timeout).await
}

/// The job's final outcome, waited for up to `limit`, or as long as it
/// takes without one; `None` when it is not final by the limit.
pub async fn wait_run(
    state: &SharedState,
    job_id: i64,
    limit: Option<Duration>,
) -> Result<Option<ExecutionView>, StoreError> {
    if let Some(limit) = limit {
        return wait_final_within(state, job_id, limit).await;
    }
    loop {
        if let Some(outcome) = wait_final_within(state, job_id, UNBOUNDED_WAIT_ROUND).await? {
            return Ok(Some(outcome));
        }
    }
}

/// One round of a wait without a limit (any length would do: the wait
/// goes on with the next).
const UNBOUNDED_WAIT_ROUND: Duration = Duration::from_secs(3600);

async fn wait_final_within(
    state: &SharedState,
    job_id: i64,
    timeout: Duration,
) -> Result<Option<ExecutionView>, StoreError> {
    state
        .waiters
        .wait_for(&format!("job:{job_id}"), timeout, || {
            store::final_outcome(&state.pool, job_id)
        })
        .await
}
