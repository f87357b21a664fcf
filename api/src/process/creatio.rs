//! Creatio's ProcessEngineService.svc (seed 003) and AuthService.svc login.
//!
//! - `GET|POST [/0]/ServiceModel/ProcessEngineService.svc/{schema}/Execute?name=value…`
//!   starts process `{schema}` with the query parameters as its inputs
//!   (text, converted to the definition's declared types). With
//!   `ResultParameterName=X` it waits for the process and answers output X
//!   as WCF serializes a string:
//!   `<string xmlns="http://schemas.microsoft.com/2003/10/Serialization/">…</string>`
//!   (a non-text output as its JSON text; a missing one as the nil string).
//!   Without it, it answers at once, 200 with an empty body. A process
//!   that fails answers 500, one still running after
//!   `process_sync_timeout_secs` 504, with `{"code", "message"}`.
//! - `POST …/ProcessEngineService.svc/RunProcess` with `{schemaName,
//!   parameterValues: [{name, value}], resultParameterNames: [...]}`
//!   answers `{processId, processStatus, resultParameterValues, success,
//!   errorInfo}`, waiting for the process when results are asked for.
//!   processStatus is Creatio's: 0 not started yet, 1 running, 2 done,
//!   3 cancelled, 4 error.
//! - `POST /ServiceModel/AuthService.svc/Login` with `{UserName,
//!   UserPassword}` answers `{"Code": 0, ...}` and the session cookies
//!   `.ASPXAUTH`, `BPMCSRF` and `UserName`; wrong credentials answer
//!   `{"Code": 1, "Message": ...}`. The body holds two short strings: one
//!   over [`LOGIN_MAX_BODY`] is refused with 413 unread, since anyone may
//!   call the login. The cookies are `SameSite=Strict` (a link from another
//!   site does not carry the session), the session's `HttpOnly` (scripts
//!   need only `BPMCSRF`, to echo it), and all `Secure` when
//!   `served_over_https` says clients reach fila over HTTPS.
//!
//! Requests the API sheds or does not answer in time are refused in each
//! call's own format (see [`refusal`]): 503 with `{"code", "message"}` for
//! Execute, RunProcess's envelope with `errorInfo`, the login's answer.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER, SET_COOKIE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use fila_shared::db::StoreError;
use fila_shared::process::store::ExecutionView;
use fila_shared::session;
use quick_xml::escape::escape;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Start, StartError, start, wait_final};
use crate::auth::{self, CSRF, SESSION_COOKIE};
use crate::body::read_limited;
use crate::errors::{ApiError, error_body};
use crate::overload::Overload;
use crate::state::SharedState;

const SERIALIZATION_NS: &str = "http://schemas.microsoft.com/2003/10/Serialization/";

/// Why a call fails, in Creatio's terms.
#[derive(Debug, thiserror::Error)]
pub enum CreatioError {
    #[error("{0}")]
    BadRequest(String),
    #[error("no element of a process run has UId {0}")]
    UnknownElement(String),
    #[error("{0}")]
    TooLarge(String),
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("{0}")]
    Failed(String),
    #[error("the process was cancelled: {0}")]
    Cancelled(String),
    #[error("the process did not finish within {secs} s; it goes on as process {uid}")]
    Timeout { secs: u64, uid: String },
    #[error("database unavailable")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Overloaded(Overload),
}

/// Which of Creatio's calls answers a refusal, each in its own format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Execute,
    RunProcess,
    Login,
}

/// The answer of `operation` to a request the API did not handle.
pub fn refusal(operation: Operation, overload: Overload) -> Response {
    let status = StatusCode::SERVICE_UNAVAILABLE;
    match operation {
        Operation::Execute => CreatioError::Overloaded(overload).into_response(),
        Operation::RunProcess => {
            CreatioError::Overloaded(overload).run_process_answer(None, NOT_STARTED)
        }
        Operation::Login => overload.mark(
            login_answer(status, 1, &overload.to_string()),
            status.as_u16(),
        ),
    }
}

impl CreatioError {
    fn status(&self) -> StatusCode {
        match self {
            CreatioError::BadRequest(_)
            | CreatioError::Start(StartError::Parameters(_) | StartError::UnknownGroup(_)) => {
                StatusCode::BAD_REQUEST
            }
            CreatioError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            CreatioError::Start(StartError::UnknownProcess(_))
            | CreatioError::UnknownElement(_) => StatusCode::NOT_FOUND,
            CreatioError::Failed(_) | CreatioError::Cancelled(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            CreatioError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            CreatioError::Store(e) | CreatioError::Start(StartError::Store(e)) => {
                tracing::error!(error = %e, "store failure");
                StatusCode::SERVICE_UNAVAILABLE
            }
            CreatioError::Overloaded(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_code(&self) -> &'static str {
        match self {
            CreatioError::BadRequest(_) | CreatioError::Start(StartError::Parameters(_)) => {
                "InvalidParameters"
            }
            CreatioError::TooLarge(_) => "RequestTooLarge",
            CreatioError::Start(StartError::UnknownProcess(_)) => "ProcessSchemaNotFound",
            CreatioError::UnknownElement(_) => "ProcessElementNotFound",
            CreatioError::Start(StartError::UnknownGroup(_)) => "UnknownWorkerGroup",
            CreatioError::Failed(_) => "ProcessFailed",
            CreatioError::Cancelled(_) => "ProcessCancelled",
            CreatioError::Timeout { .. } => "Timeout",
            CreatioError::Store(_)
            | CreatioError::Start(StartError::Store(_))
            | CreatioError::Overloaded(_) => "Unavailable",
        }
    }

    fn overload(&self) -> Option<Overload> {
        match self {
            CreatioError::Overloaded(overload) => Some(*overload),
            _ => None,
        }
    }

    /// The answer of RunProcess: its own envelope, `success: false`.
    fn run_process_answer(self, process_id: Option<&str>, process_status: i32) -> Response {
        let status = match self {
            CreatioError::Failed(_) | CreatioError::Cancelled(_) | CreatioError::Timeout { .. } => {
                StatusCode::OK
            }
            _ => self.status(),
        };
        let overload = self.overload();
        let body = json!({
            "processId": process_id,
            "processStatus": process_status,
            "resultParameterValues": null,
            "success": false,
            "errorInfo": {
                "errorCode": self.error_code(),
                "message": self.to_string(),
                "stackTrace": null,
            },
        });
        let response = (status, Json(body)).into_response();
        match overload {
            Some(overload) => overload.mark(response, status.as_u16()),
            None => response,
        }
    }
}

impl IntoResponse for CreatioError {
    fn into_response(self) -> Response {
        let status = self.status();
        let response = error_body(status, status.as_u16(), &self.to_string());
        match self.overload() {
            Some(overload) => overload.mark(response, status.as_u16()),
            None => response,
        }
    }
}

pub async fn execute(
    State(state): State<SharedState>,
    Path(schema): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, CreatioError> {
    let mut result_name = None;
    let mut parameters = Map::new();
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if key.eq_ignore_ascii_case("ResultParameterName") {
            result_name = Some(value.into_owned()).filter(|v| !v.trim().is_empty());
        } else {
            parameters.insert(key.into_owned(), Value::String(value.into_owned()));
        }
    }
    let request = Start {
        process: &schema,
        parameters,
        group: None,
        retry_count: None,
        sync: result_name.is_some(),
        schedule: None,
    };
    let started = start(&state, request).await?;
    let Some(result_name) = result_name else {
        return Ok(StatusCode::OK.into_response());
    };
    let outcome = final_outcome(&state, started.job_id, &started.uid).await?;
    let output = outcome
        .outputs
        .as_ref()
        .and_then(|outputs| outputs.get(&result_name))
        .filter(|value| !value.is_null());
    let body = match output {
        Some(Value::String(text)) => serialized_string(text),
        Some(other) => serialized_string(&other.to_string()),
        None => format!(
            "<string i:nil=\"true\" xmlns=\"{SERIALIZATION_NS}\" xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\"/>"
        ),
    };
    Ok(([(CONTENT_TYPE, "application/xml; charset=utf-8")], body).into_response())
}

fn serialized_string(text: &str) -> String {
    format!(
        "<string xmlns=\"{SERIALIZATION_NS}\">{}</string>",
        escape(text)
    )
}

/// The job's outcome when it succeeded; its failure or the timeout else.
async fn final_outcome(
    state: &SharedState,
    job_id: i64,
    uid: &str,
) -> Result<ExecutionView, CreatioError> {
    match wait_final(state, job_id).await? {
        Some(outcome) if outcome.status == "succeeded" => Ok(outcome),
        Some(outcome) if outcome.status == "cancelled" => {
            Err(CreatioError::Cancelled(outcome.message))
        }
        Some(outcome) if outcome.message.is_empty() => Err(CreatioError::Failed(format!(
            "the process {} ended {}",
            outcome.process, outcome.status
        ))),
        Some(outcome) => Err(CreatioError::Failed(outcome.message)),
        None => Err(CreatioError::Timeout {
            secs: state.config.process_sync_timeout_secs,
            uid: uid.to_string(),
        }),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RunProcessRequest {
    schema_name: String,
    #[serde(default)]
    parameter_values: Vec<ParameterValue>,
    #[serde(default)]
    result_parameter_names: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct ParameterValue {
    name: String,
    #[serde(default)]
    value: Value,
}

/// Creatio's processStatus.
const NOT_STARTED: i32 = 0;
const RUNNING: i32 = 1;
const DONE: i32 = 2;
const CANCELLED: i32 = 3;
const ERROR: i32 = 4;

pub async fn run_process(State(state): State<SharedState>, body: Body) -> Response {
    let request = match read_run_process(&state, body).await {
        Ok(request) => request,
        Err(e) => return e.run_process_answer(None, NOT_STARTED),
    };
    let parameters: Map<String, Value> = request
        .parameter_values
        .into_iter()
        .map(|p| (p.name, p.value))
        .collect();
    let wait = !request.result_parameter_names.is_empty();
    let start_request = Start {
        process: &request.schema_name,
        parameters,
        group: None,
        retry_count: None,
        sync: wait,
        schedule: None,
    };
    let started = match start(&state, start_request).await {
        Ok(started) => started,
        Err(e) => return CreatioError::from(e).run_process_answer(None, NOT_STARTED),
    };
    let uid = started.uid.as_str();
    if !wait {
        let body = json!({
            "processId": uid,
            "processStatus": NOT_STARTED,
            "resultParameterValues": {},
            "success": true,
            "errorInfo": null,
        });
        return Json(body).into_response();
    }
    match final_outcome(&state, started.job_id, uid).await {
        Ok(outcome) => {
            let outputs = outcome.outputs.unwrap_or(Value::Null);
            let values: Map<String, Value> = request
                .result_parameter_names
                .into_iter()
                .map(|name| {
                    let value = outputs.get(&name).cloned().unwrap_or(Value::Null);
                    (name, value)
                })
                .collect();
            Json(json!({
                "processId": uid,
                "processStatus": DONE,
                "resultParameterValues": values,
                "success": true,
                "errorInfo": null,
            }))
            .into_response()
        }
        Err(e @ CreatioError::Timeout { .. }) => e.run_process_answer(Some(uid), RUNNING),
        Err(e @ CreatioError::Cancelled(_)) => e.run_process_answer(Some(uid), CANCELLED),
        Err(e) => e.run_process_answer(Some(uid), ERROR),
    }
}

async fn read_run_process(
    state: &SharedState,
    body: Body,
) -> Result<RunProcessRequest, CreatioError> {
    let bytes = read_limited(body, state.config.max_body_bytes)
        .await
        .map_err(|e| CreatioError::TooLarge(e.to_string()))?;
    let request: RunProcessRequest = serde_json::from_slice(&bytes).map_err(|e| {
        CreatioError::BadRequest(format!("the body is not a RunProcess request: {e}"))
    })?;
    if request.schema_name.trim().is_empty() {
        return Err(CreatioError::BadRequest("schemaName is required".into()));
    }
    Ok(request)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Credentials {
    user_name: String,
    user_password: String,
}

/// The answer of a login.
fn login_answer(status: StatusCode, code: i32, message: &str) -> Response {
    let body = json!({
        "Code": code,
        "Message": message,
        "Exception": null,
        "PasswordChangeUrl": null,
        "RedirectUrl": null,
    });
    (status, Json(body)).into_response()
}

/// The largest login body read: `UserName` and `UserPassword` fit many
/// times over.
const LOGIN_MAX_BODY: usize = 16 * 1024;

pub async fn login(State(state): State<SharedState>, request: Request) -> Response {
    let client = auth::client_address(&request);
    let bytes = match read_limited(request.into_body(), LOGIN_MAX_BODY).await {
        Ok(bytes) => bytes,
        Err(e) => return login_answer(StatusCode::PAYLOAD_TOO_LARGE, 1, &e.to_string()),
    };
    let Ok(credentials) = serde_json::from_slice::<Credentials>(&bytes) else {
        return login_answer(
            StatusCode::BAD_REQUEST,
            1,
            "the body must be {\"UserName\": ..., \"UserPassword\": ...}",
        );
    };
    let caller = match state
        .users
        .verify(credentials.user_name, credentials.user_password, client)
        .await
    {
        Ok(caller) => caller,
        Err(e @ ApiError::TooManyFailedLogins { retry_after }) => {
            let mut answer = login_answer(StatusCode::TOO_MANY_REQUESTS, 1, &e.to_string());
            answer
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(retry_after));
            return answer;
        }
        Err(_) => {
            return login_answer(StatusCode::OK, 1, "Invalid username or password specified.");
        }
    };
    let ttl = std::time::Duration::from_secs(state.config.session_ttl_secs);
    let created = match session::create(&state.pool, &caller.name, ttl).await {
        Ok(created) => created,
        Err(e) => {
            tracing::error!(error = %e, "store failure");
            return login_answer(StatusCode::SERVICE_UNAVAILABLE, 1, "database unavailable");
        }
    };
    let user: String = form_urlencoded::byte_serialize(caller.name.as_bytes()).collect();
    let secure = if state.config.served_over_https {
        "; Secure"
    } else {
        ""
    };
    let mut response = login_answer(StatusCode::OK, 0, "");
    for cookie in [
        format!(
            "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict{secure}",
            created.token
        ),
        format!("{CSRF}={}; Path=/; SameSite=Strict{secure}", created.csrf),
        format!("UserName={user}; Path=/; SameSite=Strict{secure}"),
    ] {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
    response
}
