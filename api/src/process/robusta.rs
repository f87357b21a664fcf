//! The Robusta scheduler connector API (seed 004), under
//! `/scheduler/connector-api` (or `connector-API`).
//!
//! `POST …/process/start` takes `{values, name, worker, quartzDef,
//! startDate, endDate, runOnce, runImmediately, retryCount}` and answers
//! `{"robustaSpid": <id>, "message": "Process saved"}`:
//!
//! - without `quartzDef` the process runs now, once;
//! - with it, it runs on that Quartz schedule from `startDate` until
//!   `endDate` (`yyyy-MM-dd HH:mm:ss`); `runImmediately` adds a run now,
//!   `runOnce` keeps only the first run. The schedule and both dates are
//!   wall-clock times of the time zone `timeZone` names (an IANA name, as
//!   a Quartz trigger takes one; fila's addition: Robusta's document names
//!   no zone), else of `process_time_zone`; daylight saving neither skips
//!   nor doubles a fire (see [`fila_shared::process::schedule`]);
//! - `retryCount` (text or number) retries each failed run that many times;
//! - `worker`, a Robusta worker id, pins the runs to the worker group of
//!   that name when one exists; otherwise it is ignored (the process's own
//!   group runs them), as a Robusta worker id means nothing to fila.
//!
//! Field names are read leniently, as clients write them ("run
//! immediately", `run_immediately`, any case); flags read `Y`/`N` (also
//! yes/no, true/false, 1/0, and a stray trailing comma, as the seed's
//! example has `"N,"`). A schedule with no time left between its dates is
//! saved all the same (the seed's example is one); its status says it
//! never ran.
//!
//! `GET …/process/status/{robustaSpid}` answers the latest run: `status`
//! WAITING, RUNNING, SUCCEEDED or FAILED, a `message`, and each output as
//! `__out_<name>`.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use fila_shared::db::StoreError;
use fila_shared::process::schedule::{CronError, QuartzCron, Zone, ZoneError, parse_date};
use fila_shared::process::store::{self, JobView, ScheduleSpec};
use serde_json::{Map, Value, json};

use super::{Start, StartError, start};
use crate::body::read_limited;
use crate::overload::Overload;
use crate::state::SharedState;

#[derive(Debug, thiserror::Error)]
pub enum RobustaError {
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Cron(#[from] CronError),
    #[error("timeZone {0}")]
    Zone(#[from] ZoneError),
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("No process has robustaSpid {0}.")]
    NotFound(String),
    #[error("database unavailable")]
    Store(#[from] StoreError),
    /// Shed, or not answered in time (HTTP 503).
    #[error(transparent)]
    Overloaded(Overload),
}

impl IntoResponse for RobustaError {
    fn into_response(self) -> Response {
        let status = match &self {
            RobustaError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            RobustaError::BadRequest(_)
            | RobustaError::Cron(_)
            | RobustaError::Zone(_)
            | RobustaError::Start(StartError::Parameters(_) | StartError::UnknownGroup(_)) => {
                StatusCode::BAD_REQUEST
            }
            RobustaError::Start(StartError::UnknownProcess(_)) | RobustaError::NotFound(_) => {
                StatusCode::NOT_FOUND
            }
            RobustaError::Store(e) | RobustaError::Start(StartError::Store(e)) => {
                tracing::error!(error = %e, "store failure");
                StatusCode::SERVICE_UNAVAILABLE
            }
            RobustaError::Overloaded(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        let response = (status, Json(json!({ "message": self.to_string() }))).into_response();
        match self {
            RobustaError::Overloaded(overload) => overload.mark(response, status.as_u16()),
            _ => response,
        }
    }
}

fn bad(message: impl Into<String>) -> RobustaError {
    RobustaError::BadRequest(message.into())
}

/// The body as a JSON object.
fn read_object(bytes: &[u8]) -> Result<Map<String, Value>, RobustaError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(bad("the body must be a JSON object")),
        Err(e) => Err(bad(format!("the body is not JSON: {e}"))),
    }
}

/// The fields of a start request, by their names without case, spaces,
/// `_` or `-`.
struct Fields(Map<String, Value>);

impl Fields {
    fn new(object: Map<String, Value>) -> Self {
        Self(
            object
                .into_iter()
                .map(|(key, value)| {
                    let key: String = key
                        .chars()
                        .filter(char::is_ascii_alphanumeric)
                        .map(|c| c.to_ascii_lowercase())
                        .collect();
                    (key, value)
                })
                .collect(),
        )
    }

    /// A field as text (numbers too); `None` when absent, null or blank.
    fn text(&self, key: &str, name: &str) -> Result<Option<String>, RobustaError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(bad(format!("{name} must be text"))),
        }
    }

    /// A Y/N flag (absent: no).
    fn flag(&self, key: &str, name: &str) -> Result<bool, RobustaError> {
        if let Some(Value::Bool(b)) = self.0.get(key) {
            return Ok(*b);
        }
        let Some(text) = self.text(key, name)? else {
            return Ok(false);
        };
        let word = text
            .trim_end_matches([',', ';', '.'])
            .trim()
            .to_ascii_lowercase();
        match word.as_str() {
            "y" | "yes" | "true" | "1" => Ok(true),
            "n" | "no" | "false" | "0" | "" => Ok(false),
            _ => Err(bad(format!("{name} must be Y or N, not {text:?}"))),
        }
    }

    fn date(
        &self,
        key: &str,
        name: &str,
        zone: Zone,
    ) -> Result<Option<chrono::DateTime<Utc>>, RobustaError> {
        self.text(key, name)?
            .map(|text| {
                parse_date(&text, zone)
                    .ok_or_else(|| bad(format!("{name} must be yyyy-MM-dd HH:mm:ss, not {text:?}")))
            })
            .transpose()
    }
}

pub async fn start_process(
    State(state): State<SharedState>,
    body: Body,
) -> Result<Json<Value>, RobustaError> {
    let bytes = read_limited(body, state.config.max_body_bytes)
        .await
        .map_err(|e| RobustaError::TooLarge(e.to_string()))?;
    let fields = Fields::new(read_object(&bytes)?);
    let name = fields
        .text("name", "name")?
        .ok_or_else(|| bad("name (the process to run) is required"))?;
    let parameters = match fields.0.get("values") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(values)) => values.clone(),
        Some(_) => return Err(bad("values must be an object of the process's parameters")),
    };
    let group = fields
        .text("worker", "worker")?
        .filter(|worker| state.processes.current().knows_group(worker));
    let retry_count = fields
        .text("retrycount", "retryCount")?
        .map(|text| {
            text.parse::<u32>()
                .map_err(|_| bad(format!("retryCount must be a whole number, not {text:?}")))
        })
        .transpose()?;
    let schedule = schedule(&fields, state.config.process_time_zone())?;
    let request = Start {
        process: &name,
        parameters,
        group: group.as_deref(),
        retry_count,
        sync: false,
        schedule,
    };
    let started = start(&state, request).await?;
    Ok(Json(
        json!({ "robustaSpid": started.uid, "message": "Process saved" }),
    ))
}

/// The schedule of a request with a `quartzDef`, in its `timeZone` (else
/// in `default_zone`).
fn schedule(fields: &Fields, default_zone: Zone) -> Result<Option<ScheduleSpec>, RobustaError> {
    let Some(cron) = fields.text("quartzdef", "quartzDef")? else {
        return Ok(None);
    };
    let zone = match fields.text("timezone", "timeZone")? {
        Some(name) => Zone::parse(&name)?,
        None => default_zone,
    };
    let spec = ScheduleSpec {
        cron: QuartzCron::parse(&cron)?,
        zone,
        starts_at: fields.date("startdate", "startDate", zone)?,
        ends_at: fields.date("enddate", "endDate", zone)?,
        run_once: fields.flag("runonce", "runOnce")?,
        run_immediately: fields.flag("runimmediately", "runImmediately")?,
    };
    if let (Some(start), Some(end)) = (spec.starts_at, spec.ends_at)
        && end < start
    {
        return Err(bad("endDate is before startDate"));
    }
    Ok(Some(spec))
}

pub async fn status(
    State(state): State<SharedState>,
    Path(spid): Path<String>,
) -> Result<Json<Value>, RobustaError> {
    let job = store::job_by_uid(&state.pool, &spid)
        .await?
        .ok_or(RobustaError::NotFound(spid))?;
    Ok(Json(status_body(&job)))
}

/// `{status, message, __out_<name>...}` of a job: its latest run's, or
/// its schedule's before the first run.
fn status_body(job: &JobView) -> Value {
    let latest = job.latest.as_ref();
    let (status, message) = match latest {
        None => match (job.schedule_state.as_deref(), job.next_fire) {
            (Some("paused"), _) => ("WAITING", "Your transaction waits: its schedule is paused.".to_string()),
            (_, Some(next)) => (
                "WAITING",
                format!(
                    "Your transaction is scheduled for {} ({}).",
                    job.zone.format(next),
                    job.zone.name()
                ),
            ),
            (Some("ended"), None) => (
                "FAILED",
                "Your transaction never ran: its schedule has no time between startDate and endDate."
                    .to_string(),
            ),
            _ => ("WAITING", "Your transaction is waiting to run.".to_string()),
        },
        Some(run) => match run.status.as_str() {
            "waiting" => ("WAITING", "Your transaction is waiting to run.".to_string()),
            "running" => ("RUNNING", "Your transaction is running.".to_string()),
            "succeeded" => ("SUCCEEDED", "Your transaction has ended.".to_string()),
            "cancelled" => ("FAILED", format!("Your transaction was cancelled ({}).", run.message)),
            _ if run.message.is_empty() => ("FAILED", "Your transaction failed.".to_string()),
            _ => ("FAILED", run.message.clone()),
        },
    };
    let mut body = Map::new();
    body.insert("status".into(), Value::from(status));
    body.insert("message".into(), Value::from(message));
    if let Some(Value::Object(outputs)) = latest.and_then(|run| run.outputs.as_ref()) {
        for (name, value) in outputs {
            body.insert(format!("__out_{name}"), value.clone());
        }
    }
    Value::Object(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_seed_body_as_written() {
        let seed = r#"{"values": {"username": "Username", "username": "User Surname"},
            "quartzDef":"0 6 6 ? * FR", "startDate":"2020-11-16 16:56:00",
            "endDate":"2020-11-18 16:55:00", "runOnce": "N", "run immediately": "N,",
            "retryCount": "1", "name": "OneStepNotepadRunner"}"#;
        let fields = Fields::new(read_object(seed.as_bytes()).expect("reads"));
        assert_eq!(
            fields.text("name", "name").expect("text").as_deref(),
            Some("OneStepNotepadRunner")
        );
        assert!(
            !fields
                .flag("runimmediately", "runImmediately")
                .expect("flag")
        );
        assert!(!fields.flag("runonce", "runOnce").expect("flag"));
        assert_eq!(
            fields
                .text("retrycount", "retryCount")
                .expect("text")
                .as_deref(),
            Some("1")
        );
        assert_eq!(fields.0["values"]["username"], "User Surname");
    }

    #[test]
    fn refuses_bad_flags_and_dates() {
        let fields = Fields::new(
            json!({ "runOnce": "maybe", "startDate": "16/11/2020", "retryCount": [1] })
                .as_object()
                .cloned()
                .expect("object"),
        );
        assert!(fields.flag("runonce", "runOnce").is_err());
        assert!(fields.date("startdate", "startDate", Zone::UTC).is_err());
        assert!(fields.text("retrycount", "retryCount").is_err());
        assert!(read_object(b"[1]").is_err());
        assert!(read_object(b"{").is_err());
    }
}
