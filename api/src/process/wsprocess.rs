//! RM wsProcess over SOAP 1.1, as seed 000 describes and RM serves it,
//! port by port (see `wsoperations`):
//!
//! - `ExecuteWithXmlParams(ProcessServerName, strXmlParams)` (and
//!   `ExecuteWithParams`, the same) runs the process and waits as long as it
//!   runs, or up to the definition's `sync_wait_secs`: `1` when it
//!   succeeded; when it failed, a `Server` fault with its message, or that
//!   message as the result (HTTP 200) when the definition's
//!   `failure_answer` is `result`; past `sync_wait_secs`, a `Server` fault
//!   naming the run, which goes on;
//! - `ExecuteWithXmlParamsAsync` starts it and answers, in CDATA, the
//!   `<ProcessID><JobID/><ExecID/></ProcessID>` document;
//! - `GetProcessStatus(jobId, execId)` answers `<ProcessInfo>` with the
//!   execution's Status (`Waiting`, `Executing`, `Finished`, `Failed`,
//!   `Cancelled`), Progress (-1 until the process reports one) and Message;
//! - `GetSchema(ProcessServerName)` answers the process's parameters as an
//!   XML Schema (see `wsschema`);
//! - `AutenticaAcesso` (`IwsBase`) answers `1` when the call's HTTP Basic
//!   credentials are a user's, `0` otherwise; `CheckServiceActivity`
//!   (`IRMSServer`) answers `true`.
//!
//! `strXmlParams` (escaped or in CDATA) holds the parameters as RM writes
//! them; `ProcessServerName` is the process's name. The body is UTF-8 (or
//! UTF-16 with a byte order mark); a SOAPAction header, when sent, must name
//! the body's operation. Bad requests get `Client` faults, failures `Server`
//! faults, both with HTTP 500 as SOAP 1.1 has it; a `reader` calling an
//! Execute operation gets a `Client` fault with HTTP 403. A call the API
//! sheds (too many at once) is a `Server` fault with HTTP 503 and
//! `Retry-After`; one not answered in time a `Server` fault (HTTP 500).

use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use fila_shared::config::Role;
use fila_shared::db::StoreError;
use fila_shared::process::definition::FailureAnswer;
use fila_shared::process::rm_params::{self, ParamsError};
use fila_shared::process::soap::{self, Call, EnvelopeError, FaultCode};
use fila_shared::process::store::{self, ExecutionView};
use quick_xml::escape::escape;
use serde_json::Map;

use super::wsoperations::{self, Port};
use super::{Start, StartError, start, wait_run, wsschema};
use crate::auth::{Caller, client_address};
use crate::backpressure::Busy;
use crate::body::read_limited;
use crate::overload::Overload;
use crate::policy::ReadBy;
use crate::state::SharedState;

/// Why a call is answered with a fault.
#[derive(Debug, thiserror::Error)]
pub enum WsError {
    #[error("{0}")]
    TooLarge(String),
    #[error("the request is neither UTF-8 nor UTF-16 with a byte order mark")]
    Encoding,
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error("SOAPAction {action} does not name the operation in the body, {operation}")]
    Action { action: String, operation: String },
    #[error("{} has no operation {operation}; it offers {}", port.name(), port.offered())]
    UnknownOperation { port: Port, operation: String },
    #[error("this user may read statuses but not start processes")]
    Forbidden,
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("{name} must be a whole number, not {value:?}")]
    NotANumber { name: &'static str, value: String },
    #[error(transparent)]
    Params(#[from] ParamsError),
    #[error("no process has JobID {job} and ExecID {exec}")]
    UnknownExecution { job: i64, exec: i32 },
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("{0}")]
    Failed(String),
    #[error(
        "the process did not finish within {secs} s; it goes on as JobID {job}, ExecID {exec} (see GetProcessStatus)"
    )]
    Timeout { secs: u64, job: i64, exec: i32 },
    #[error("the request was not read within {secs} s")]
    SlowRequest { secs: u64 },
    #[error("database unavailable")]
    Store(#[from] StoreError),
    #[error("{}", Busy::MESSAGE)]
    Busy,
    #[error(transparent)]
    Overloaded(Overload),
}

impl WsError {
    fn code(&self) -> FaultCode {
        match self {
            WsError::Failed(_)
            | WsError::Timeout { .. }
            | WsError::SlowRequest { .. }
            | WsError::Store(_)
            | WsError::Busy
            | WsError::Overloaded(_)
            | WsError::Start(StartError::Store(_)) => FaultCode::Server,
            _ => FaultCode::Client,
        }
    }
}

impl IntoResponse for WsError {
    fn into_response(self) -> Response {
        let status = match &self {
            WsError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            WsError::Forbidden => StatusCode::FORBIDDEN,
            WsError::Busy => StatusCode::TOO_MANY_REQUESTS,
            WsError::Overloaded(Overload::Saturated) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if let WsError::Store(e) | WsError::Start(StartError::Store(e)) = &self {
            tracing::error!(error = %e, "store failure");
        }
        let mut response = xml(status, soap::fault(self.code(), &self.to_string()));
        match self {
            WsError::Busy => Busy::retry_after(&mut response),
            WsError::Overloaded(overload) => return overload.mark(response, status.as_u16()),
            _ => {}
        }
        response
    }
}

fn xml(status: StatusCode, body: String) -> Response {
    (status, [(CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response()
}

/// `POST /wsProcess/IwsProcess`.
pub async fn process(State(state): State<SharedState>, request: Request) -> Response {
    call(&state, Port::Process, request).await
}

/// `POST /wsProcess/IwsBase`.
pub async fn base(State(state): State<SharedState>, request: Request) -> Response {
    call(&state, Port::Base, request).await
}

/// `POST /wsProcess/IRMSServer`.
pub async fn rms_server(State(state): State<SharedState>, request: Request) -> Response {
    call(&state, Port::RmsServer, request).await
}

async fn call(state: &SharedState, port: Port, request: Request) -> Response {
    match answer(state, port, request).await {
        Ok(envelope) => xml(StatusCode::OK, envelope),
        Err(e) => e.into_response(),
    }
}

async fn answer(state: &SharedState, port: Port, request: Request) -> Result<String, WsError> {
    let client = client_address(&request);
    let caller = request.extensions().get::<Caller>().cloned();
    let read_by = request.extensions().get::<ReadBy>().copied();
    let (parts, body) = request.into_parts();
    let reading = read_limited(body, state.config.max_body_bytes);
    let bytes = match read_by {
        Some(ReadBy(deadline)) => {
            tokio::time::timeout_at(deadline, reading)
                .await
                .map_err(|_| WsError::SlowRequest {
                    secs: state.config.http_request_timeout().as_secs(),
                })?
        }
        None => reading.await,
    }
    .map_err(|e| WsError::TooLarge(e.to_string()))?;
    let text = decode(&bytes).ok_or(WsError::Encoding)?;
    let call = soap::read_call(&text)?;
    check_action(&parts.headers, &call.operation)?;
    let unknown = || WsError::UnknownOperation {
        port,
        operation: call.operation.clone(),
    };
    let operation = wsoperations::operation(&call.operation)
        .filter(|op| port.serves(op))
        .ok_or_else(unknown)?;
    let may_execute = caller.as_ref().is_some_and(|c| c.may(Role::Producer));
    if operation.name.starts_with("Execute") && !may_execute {
        return Err(WsError::Forbidden);
    }
    match operation.name {
        "AutenticaAcesso" => {
            let valid = state
                .users
                .authenticate(&parts.headers, client)
                .await
                .is_ok();
            let result = if valid { "1" } else { "0" };
            Ok(soap::response(operation.name, result, false))
        }
        "CheckServiceActivity" => Ok(soap::response(operation.name, "true", false)),
        "ExecuteWithXmlParams" | "ExecuteWithParams" => execute(state, &call).await,
        "ExecuteWithXmlParamsAsync" => execute_async(state, &call).await,
        "GetProcessStatus" => process_status(state, &call).await,
        "GetSchema" => process_schema(state, &call),
        _ => Err(unknown()),
    }
}

/// The body's text: UTF-8, or UTF-16 when it starts with a byte order mark.
fn decode(bytes: &[u8]) -> Option<String> {
    let utf16 = |units: Vec<u16>| String::from_utf16(&units).ok();
    let pairs = |rest: &[u8], little: bool| -> Option<Vec<u16>> {
        if !rest.len().is_multiple_of(2) {
            return None;
        }
        Some(
            rest.chunks_exact(2)
                .map(|p| {
                    if little {
                        u16::from_le_bytes([p[0], p[1]])
                    } else {
                        u16::from_be_bytes([p[0], p[1]])
                    }
                })
                .collect(),
        )
    };
    match bytes {
        [0xFF, 0xFE, rest @ ..] => utf16(pairs(rest, true)?),
        [0xFE, 0xFF, rest @ ..] => utf16(pairs(rest, false)?),
        _ => std::str::from_utf8(bytes).ok().map(str::to_string),
    }
}

/// A SOAPAction (`"http://www.totvs.com/<Port>/<Operation>"`), when not
/// empty, must end with the body's operation.
fn check_action(headers: &HeaderMap, operation: &str) -> Result<(), WsError> {
    let Some(action) = headers.get("soapaction") else {
        return Ok(());
    };
    let action = String::from_utf8_lossy(action.as_bytes());
    let trimmed = action.trim().trim_matches('"');
    let named = trimmed.rsplit('/').next().unwrap_or_default();
    if trimmed.is_empty() || named == operation {
        return Ok(());
    }
    Err(WsError::Action {
        action: trimmed.to_string(),
        operation: operation.to_string(),
    })
}

/// The job a call asks for.
fn start_request(call: &Call, sync: bool) -> Result<Start<'_>, WsError> {
    let process = call
        .parameter("ProcessServerName")
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .ok_or(WsError::Missing("ProcessServerName"))?;
    let parameters = match call.parameter("strXmlParams").map(str::trim) {
        None | Some("") => Map::new(),
        Some(xml) => rm_params::parse(xml)?,
    };
    Ok(Start {
        process,
        parameters,
        group: None,
        retry_count: None,
        sync,
        schedule: None,
    })
}

async fn execute(state: &SharedState, call: &Call) -> Result<String, WsError> {
    let started = start(state, start_request(call, true)?).await?;
    let exec = started.exec_id.unwrap_or(1);
    let limit = started.definition.sync_wait;
    let operation = call.operation.as_str();
    match wait_run(state, started.job_id, limit).await? {
        Some(outcome) if outcome.status == "succeeded" => Ok(soap::response(operation, "1", false)),
        Some(outcome) => match started.definition.failure_answer {
            FailureAnswer::Fault => Err(WsError::Failed(failure_message(&outcome))),
            FailureAnswer::Result => {
                Ok(soap::response(operation, &failure_message(&outcome), false))
            }
        },
        None => Err(WsError::Timeout {
            secs: limit.map_or(0, |limit| limit.as_secs()),
            job: started.job_id,
            exec,
        }),
    }
}

fn failure_message(outcome: &ExecutionView) -> String {
    if outcome.message.is_empty() {
        format!("the process {} ended {}", outcome.process, outcome.status)
    } else {
        outcome.message.clone()
    }
}

async fn execute_async(state: &SharedState, call: &Call) -> Result<String, WsError> {
    let started = start(state, start_request(call, false)?).await?;
    let document = format!(
        "<?xml version=\"1.0\" encoding=\"utf-16\"?>\n<ProcessID>\n  <JobID>{}</JobID>\n  <ExecID>{}</ExecID>\n</ProcessID>",
        started.job_id,
        started.exec_id.unwrap_or(1)
    );
    Ok(soap::response("ExecuteWithXmlParamsAsync", &document, true))
}

fn number<T: std::str::FromStr>(call: &Call, name: &'static str) -> Result<T, WsError> {
    let value = call
        .parameter(name)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(WsError::Missing(name))?;
    value.parse().map_err(|_| WsError::NotANumber {
        name,
        value: value.to_string(),
    })
}

async fn process_status(state: &SharedState, call: &Call) -> Result<String, WsError> {
    let job: i64 = number(call, "jobId")?;
    let exec: i32 = number(call, "execId")?;
    let execution = store::execution(&state.pool, job, exec)
        .await?
        .ok_or(WsError::UnknownExecution { job, exec })?;
    let status = match execution.status.as_str() {
        "waiting" => "Waiting",
        "running" => "Executing",
        "succeeded" => "Finished",
        "cancelled" => "Cancelled",
        _ => "Failed",
    };
    let message = if execution.message.is_empty() {
        "<Message />".to_string()
    } else {
        format!("<Message>{}</Message>", escape(&execution.message))
    };
    let document = format!(
        "<?xml version=\"1.0\" encoding=\"utf-16\"?>\n<ProcessInfo>\n  <ProcessID>\n    <JobID>{job}</JobID>\n    <ExecID>{exec}</ExecID>\n  </ProcessID>\n  {message}\n  <Progress>{}</Progress>\n  <Status>{status}</Status>\n</ProcessInfo>",
        execution.progress
    );
    Ok(soap::response("GetProcessStatus", &document, true))
}

fn process_schema(state: &SharedState, call: &Call) -> Result<String, WsError> {
    let name = call
        .parameter("ProcessServerName")
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .ok_or(WsError::Missing("ProcessServerName"))?;
    let definition = state
        .processes
        .lookup(name)
        .ok_or_else(|| StartError::UnknownProcess(name.to_string()))?;
    Ok(soap::response(
        "GetSchema",
        &wsschema::schema(&definition),
        true,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn decodes_utf8_and_utf16_with_a_bom() {
        assert_eq!(decode("<a>é</a>".as_bytes()).as_deref(), Some("<a>é</a>"));
        let le: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("<a/>".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(decode(&le).as_deref(), Some("<a/>"));
        assert_eq!(decode(&[0xC3, 0x28]), None);
        assert_eq!(decode(&[0xFF, 0xFE, 0x41]), None);
    }

    #[test]
    fn soap_action_must_name_the_operation() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("soapaction", HeaderValue::from_str(value).expect("header"));
            headers
        };
        let op = "GetProcessStatus";
        assert!(check_action(&HeaderMap::new(), op).is_ok());
        assert!(check_action(&with("\"\""), op).is_ok());
        assert!(
            check_action(
                &with("\"http://www.totvs.com/IwsProcess/GetProcessStatus\""),
                op
            )
            .is_ok()
        );
        assert!(matches!(
            check_action(
                &with("\"http://www.totvs.com/IwsProcess/ExecuteWithXmlParams\""),
                op
            ),
            Err(WsError::Action { .. })
        ));
    }
}
