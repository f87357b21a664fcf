//! Process runs as the tests drive them: the definitions they use, SOAP
//! envelopes, and the store's view of jobs and executions.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::Fila;

/// The command process of the tests (see the script for its modes).
pub fn runner_script() -> String {
    format!("{}/fixtures/runner.sh", env!("CARGO_MANIFEST_DIR"))
}

/// A fixture file's text.
pub fn fixture(name: &str) -> String {
    let path = format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The definitions most tests use: the seeds' processes (echoing their
/// parameters, or joining a full name), and the builtins.
pub const DEFINITIONS: &str = r#"
groups = ["spare"]

[[process]]
name = "GlbProcCopyConsSQL"
runner = "builtin"
builtin = "Echo"

[[process]]
name = "GlbCopyPermisUsrProc"
runner = "builtin"
builtin = "Echo"

[[process]]
name = "OneStepNotepadRunner"
runner = "builtin"
builtin = "FullName"

[[process]]
name = "FullName"
runner = "builtin"

[[process]]
name = "UsrAddNewExternalContact"
runner = "builtin"
builtin = "Echo"
required = ["ContactName"]
[process.parameters]
ContactName = "string"
ContactPhone = "string"
Age = "int"

[[process]]
name = "Sleep"
runner = "builtin"
timeout_secs = 30

[[process]]
name = "Fail"
runner = "builtin"
"#;

/// A SOAP 1.1 envelope calling `operation` of IwsProcess with text
/// parameters (escaped).
pub fn envelope(operation: &str, parameters: &[(&str, &str)]) -> String {
    let parameters: String = parameters
        .iter()
        .map(|(name, value)| format!("<tot:{name}>{}</tot:{name}>", escape(value)))
        .collect();
    format!(
        "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         xmlns:tot=\"http://www.totvs.com/\"><soapenv:Header/><soapenv:Body>\
         <tot:{operation}>{parameters}</tot:{operation}></soapenv:Body></soapenv:Envelope>"
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// POSTs an envelope to `/wsProcess/IwsProcess` with the SOAPAction of
/// `action`; the status and the body.
pub async fn soap(
    fila: &Fila,
    action: &str,
    body: impl Into<reqwest::Body>,
) -> (StatusCode, String) {
    let response = fila
        .request(Method::POST, "/wsProcess/IwsProcess")
        .header("Content-Type", "text/xml; charset=utf-8")
        .header(
            "SOAPAction",
            format!("\"http://www.totvs.com/IwsProcess/{action}\""),
        )
        .body(body)
        .send()
        .await
        .expect("request");
    let status = response.status();
    (status, response.text().await.expect("body"))
}

/// The text of the first `<name>` element (CDATA markers kept).
pub fn element(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{name}>"))?;
    Some(xml[start..end].trim().to_string())
}

/// The faultcode and faultstring of a SOAP fault.
pub fn fault(xml: &str) -> Option<(String, String)> {
    Some((element(xml, "faultcode")?, {
        let start = xml.find("<faultstring")?;
        let open_end = start + xml[start..].find('>')? + 1;
        let end = open_end + xml[open_end..].find("</faultstring>")?;
        xml[open_end..end].to_string()
    }))
}

/// JobID and ExecID of an ExecuteWithXmlParamsAsync answer.
pub fn process_id(xml: &str) -> (i64, i32) {
    let job = element(xml, "JobID").and_then(|j| j.parse().ok());
    let exec = element(xml, "ExecID").and_then(|e| e.parse().ok());
    match (job, exec) {
        (Some(job), Some(exec)) => (job, exec),
        _ => panic!("no ProcessID in {xml}"),
    }
}

/// A job as stored: `{process, parameters, group, retryCount, uid}`.
pub async fn job(fila: &Fila, job_id: i64) -> Value {
    let row = fila
        .db()
        .await
        .query_one(
            "SELECT json_build_object('process', process, 'parameters', parameters,
                    'group', worker_group, 'retryCount', retry_count, 'uid', uid)
             FROM process_job WHERE id = $1",
            &[&job_id],
        )
        .await
        .expect("job");
    row.get(0)
}

/// The id of the deployment's one job.
pub async fn only_job(fila: &Fila) -> i64 {
    fila.db()
        .await
        .query_one("SELECT id FROM process_job", &[])
        .await
        .expect("one job")
        .get(0)
}

/// How many jobs the deployment holds.
pub async fn job_count(fila: &Fila) -> i64 {
    fila.db()
        .await
        .query_one("SELECT count(*) FROM process_job", &[])
        .await
        .expect("count")
        .get(0)
}

/// A job's id by its uid.
pub async fn job_id(fila: &Fila, uid: &str) -> i64 {
    fila.db()
        .await
        .query_one("SELECT id FROM process_job WHERE uid = $1", &[&uid])
        .await
        .expect("job")
        .get(0)
}

/// One execution as stored.
#[derive(Debug, Clone)]
pub struct Execution {
    pub exec_id: i32,
    pub fire: i32,
    pub attempt: i32,
    pub status: String,
    pub progress: i32,
    pub message: String,
    pub outputs: Option<Value>,
    pub worker: Option<String>,
}

/// A job's executions, in order.
pub async fn executions(fila: &Fila, job_id: i64) -> Vec<Execution> {
    fila.db()
        .await
        .query(
            "SELECT exec_id, fire, attempt, status, progress, message, outputs, worker
             FROM process_execution WHERE job_id = $1 ORDER BY exec_id",
            &[&job_id],
        )
        .await
        .expect("executions")
        .iter()
        .map(|row| Execution {
            exec_id: row.get(0),
            fire: row.get(1),
            attempt: row.get(2),
            status: row.get(3),
            progress: row.get(4),
            message: row.get(5),
            outputs: row.get(6),
            worker: row.get(7),
        })
        .collect()
}

/// Waits until the job has `count` executions that ended, for up to
/// `seconds`; returns its executions.
pub async fn wait_ended(fila: &Fila, job_id: i64, count: usize, seconds: u64) -> Vec<Execution> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        let all = executions(fila, job_id).await;
        let ended = all
            .iter()
            .filter(|e| matches!(e.status.as_str(), "succeeded" | "failed" | "cancelled"))
            .count();
        if ended >= count || tokio::time::Instant::now() > deadline {
            return all;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
