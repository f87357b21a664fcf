//! Creatio's ProcessEngineService.svc (seed 003): Execute with and without
//! ResultParameterName, RunProcess, ExecProcElByUId and CancelExecution on
//! runs started, the login cookie flow and the cookies' attributes.

use fila_tests::fila::{PRODUCER, send};
use fila_tests::runs::{DEFINITIONS, executions, job_id, only_job, wait_ended};
use fila_tests::{Fila, Setup};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const SERVICE: &str = "/0/ServiceModel/ProcessEngineService.svc";
const STRING_NS: &str = "http://schemas.microsoft.com/2003/10/Serialization/";

async fn start() -> Fila {
    Setup::new().processes(DEFINITIONS).start().await
}

async fn text(request: reqwest::RequestBuilder) -> (StatusCode, String) {
    let response = request.send().await.expect("request");
    (response.status(), response.text().await.expect("body"))
}

#[tokio::test]
async fn execute_with_a_result_waits_and_answers_the_output() {
    let fila = start().await;
    let path = format!(
        "{SERVICE}/FullName/Execute?name=John&surname=Johanson%20%26%20Sons&ResultParameterName=fullName"
    );
    let (status, body) = text(fila.request(Method::GET, &path)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        format!("<string xmlns=\"{STRING_NS}\">John Johanson &amp; Sons</string>")
    );

    let path = "/ServiceModel/ProcessEngineService.svc/FullName/Execute?name=Ann&resultParameterName=fullName";
    let (status, body) = text(fila.request(Method::POST, path)).await;
    assert_eq!(
        (status, body.contains(">Ann</string>")),
        (StatusCode::OK, true),
        "{body}"
    );

    let path = format!("{SERVICE}/GlbProcCopyConsSQL/Execute?list=a&ResultParameterName=missing");
    let (status, body) = text(fila.request(Method::GET, &path)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.starts_with("<string i:nil=\"true\""),
        "a missing output is null: {body}"
    );
}

#[tokio::test]
async fn execute_without_a_result_answers_at_once() {
    let fila = start().await;
    let path = format!(
        "{SERVICE}/UsrAddNewExternalContact/Execute?ContactName=John%20Johanson&ContactPhone=%2B1%20111%20111%201111&Age=41"
    );
    let response = fila
        .request(Method::GET, &path)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.content_length(), Some(0));
    let id = only_job(&fila).await;
    let runs = wait_ended(&fila, id, 1, 30).await;
    assert_eq!(
        runs[0].outputs,
        Some(
            json!({ "ContactName": "John Johanson", "ContactPhone": "+1 111 111 1111", "Age": 41 })
        ),
        "query text is converted to the declared types"
    );
}

#[tokio::test]
async fn execute_reports_unknown_processes_bad_parameters_failures_and_timeouts() {
    let fila = Setup::new()
        .processes(DEFINITIONS)
        .env("PROCESS_SYNC_TIMEOUT_SECS", 1)
        .start()
        .await;
    for (path, status, message) in [
        (
            "NoSuchProcess/Execute",
            StatusCode::NOT_FOUND,
            "process NoSuchProcess is not defined",
        ),
        (
            "UsrAddNewExternalContact/Execute?ContactPhone=1",
            StatusCode::BAD_REQUEST,
            "parameter ContactName is required",
        ),
        (
            "UsrAddNewExternalContact/Execute?ContactName=A&Age=x",
            StatusCode::BAD_REQUEST,
            "parameter Age must be an integer",
        ),
        (
            "UsrAddNewExternalContact/Execute?ContactName=A&Other=1",
            StatusCode::BAD_REQUEST,
            "parameter Other is unknown",
        ),
        (
            "Fail/Execute?message=boom&ResultParameterName=x",
            StatusCode::INTERNAL_SERVER_ERROR,
            "boom",
        ),
        (
            "Sleep/Execute?seconds=3&ResultParameterName=x",
            StatusCode::GATEWAY_TIMEOUT,
            "did not finish within 1 s",
        ),
    ] {
        let (got, body) = send(fila.request(Method::GET, &format!("{SERVICE}/{path}"))).await;
        assert_eq!(got, status, "{path}: {body}");
        let text = body["message"].as_str().unwrap_or_default();
        assert!(text.contains(message), "{path}: {body}");
    }
}

async fn run_process(fila: &Fila, body: Value) -> (StatusCode, Value) {
    send(
        fila.request(Method::POST, &format!("{SERVICE}/RunProcess"))
            .json(&body),
    )
    .await
}

#[tokio::test]
async fn run_process_answers_results_and_errors() {
    let fila = start().await;
    let (status, body) = run_process(
        &fila,
        json!({
            "schemaName": "FullName",
            "parameterValues": [{ "name": "name", "value": "Grace" }, { "name": "surname", "value": "Hopper" }],
            "resultParameterNames": ["fullName", "absent"],
        }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let process_id = body["processId"].as_str().expect("processId").to_string();
    assert_eq!(
        body,
        json!({
            "processId": process_id,
            "processStatus": 2,
            "resultParameterValues": { "fullName": "Grace Hopper", "absent": null },
            "success": true,
            "errorInfo": null,
        })
    );
    assert_eq!(
        executions(&fila, job_id(&fila, &process_id).await)
            .await
            .len(),
        1
    );

    let (status, body) = run_process(&fila, json!({ "schemaName": "GlbProcCopyConsSQL" })).await;
    assert_eq!(
        (
            status,
            body["processStatus"].clone(),
            body["success"].clone()
        ),
        (StatusCode::OK, json!(0), json!(true))
    );

    let (status, body) = run_process(
        &fila,
        json!({ "schemaName": "Fail", "parameterValues": [{ "name": "message", "value": "no stock" }], "resultParameterNames": ["x"] }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (body["processStatus"].clone(), body["success"].clone()),
        (json!(4), json!(false))
    );
    assert_eq!(body["errorInfo"]["message"], "no stock");
    assert_eq!(body["errorInfo"]["errorCode"], "ProcessFailed");

    for (request, status, code) in [
        (
            json!({ "schemaName": "Nope" }),
            StatusCode::NOT_FOUND,
            "ProcessSchemaNotFound",
        ),
        (
            json!({ "schemaName": " " }),
            StatusCode::BAD_REQUEST,
            "InvalidParameters",
        ),
        (
            json!({ "parameterValues": [] }),
            StatusCode::BAD_REQUEST,
            "InvalidParameters",
        ),
        (
            json!({ "schemaName": "FullName", "parameterValues": {} }),
            StatusCode::BAD_REQUEST,
            "InvalidParameters",
        ),
        (
            json!({ "schemaName": "UsrAddNewExternalContact", "parameterValues": [{ "name": "ContactName", "value": "A" }, { "name": "Age", "value": [1] }] }),
            StatusCode::BAD_REQUEST,
            "InvalidParameters",
        ),
    ] {
        let (got, body) = run_process(&fila, request.clone()).await;
        assert_eq!(
            (got, body["success"].clone()),
            (status, json!(false)),
            "{request}: {body}"
        );
        assert_eq!(body["errorInfo"]["errorCode"], code, "{request}: {body}");
    }
    let (status, body) = send(
        fila.request(Method::POST, &format!("{SERVICE}/RunProcess"))
            .header("Content-Type", "application/json")
            .body("{\"schemaName\": "),
    )
    .await;
    assert_eq!(
        (status, body["success"].clone()),
        (StatusCode::BAD_REQUEST, json!(false))
    );
}

/// The `name=value` of a Set-Cookie header named `name`.
fn cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .map(str::to_string)
}

#[tokio::test]
async fn login_then_cookie_and_csrf_header() {
    let fila = start().await;
    let login = "/ServiceModel/AuthService.svc/Login";
    let (status, body) = send(
        fila.anonymous(Method::POST, login)
            .json(&json!({ "UserName": PRODUCER.0, "UserPassword": "wrong" })),
    )
    .await;
    assert_eq!((status, body["Code"].clone()), (StatusCode::OK, json!(1)));
    let (status, body) = send(fila.anonymous(Method::POST, login).body("{")).await;
    assert_eq!(
        (status, body["Code"].clone()),
        (StatusCode::BAD_REQUEST, json!(1))
    );

    let response = fila
        .anonymous(Method::POST, login)
        .json(&json!({ "UserName": PRODUCER.0, "UserPassword": PRODUCER.1 }))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), StatusCode::OK);
    let session = cookie(&response, ".ASPXAUTH").expect("session cookie");
    let csrf = cookie(&response, "BPMCSRF").expect("csrf cookie");
    assert!(cookie(&response, "UserName").is_some());
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["Code"], 0);
    let csrf_value = csrf
        .split_once('=')
        .map(|(_, v)| v.to_string())
        .expect("value");
    let cookies = format!("{session}; {csrf}");

    let execute = format!("{SERVICE}/FullName/Execute?name=Linus&ResultParameterName=fullName");
    let (status, body) = text(
        fila.anonymous(Method::GET, &execute)
            .header("Cookie", &cookies),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a GET needs the cookie only: {body}"
    );
    assert!(body.contains(">Linus</string>"));

    let run = format!("{SERVICE}/RunProcess");
    let request = json!({ "schemaName": "FullName", "parameterValues": [{ "name": "name", "value": "Ken" }], "resultParameterNames": ["fullName"] });
    let (status, _) = send(
        fila.anonymous(Method::POST, &run)
            .header("Cookie", &cookies)
            .json(&request),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a POST needs the BPMCSRF header"
    );
    let (status, _) = send(
        fila.anonymous(Method::POST, &run)
            .header("Cookie", &cookies)
            .header("BPMCSRF", "forged")
            .json(&request),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = send(
        fila.anonymous(Method::POST, &run)
            .header("Cookie", &cookies)
            .header("BPMCSRF", &csrf_value)
            .json(&request),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["resultParameterValues"]["fullName"], "Ken");

    let (status, _) = send(
        fila.anonymous(Method::GET, &execute)
            .header("Cookie", ".ASPXAUTH=not-a-session"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = send(fila.anonymous(Method::GET, &execute)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// The attributes of the Set-Cookie header named `name`, lower-cased.
fn cookie_attributes(response: &reqwest::Response, name: &str) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| {
            v.split(';')
                .skip(1)
                .map(|a| a.trim().to_ascii_lowercase())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn login_cookies_are_strict_and_secure_when_served_over_https() {
    for served_over_https in [false, true] {
        let fila = Setup::new()
            .workers(0)
            .env("SERVED_OVER_HTTPS", served_over_https)
            .start()
            .await;
        let response = fila
            .anonymous(Method::POST, "/ServiceModel/AuthService.svc/Login")
            .json(&json!({ "UserName": PRODUCER.0, "UserPassword": PRODUCER.1 }))
            .send()
            .await
            .expect("login");
        assert_eq!(response.status(), StatusCode::OK);
        for name in [".ASPXAUTH", "BPMCSRF", "UserName"] {
            let attributes = cookie_attributes(&response, name);
            let has = |attribute: &str| attributes.iter().any(|a| a == attribute);
            assert!(has("path=/"), "{name}: {attributes:?}");
            assert!(has("samesite=strict"), "{name}: {attributes:?}");
            assert_eq!(
                has("secure"),
                served_over_https,
                "{name} with served_over_https = {served_over_https}: {attributes:?}"
            );
            assert_eq!(
                has("httponly"),
                name == ".ASPXAUTH",
                "{name}: {attributes:?}"
            );
        }
    }
}

/// Waits until the job's execution `exec_id` is in `status`.
async fn execution_in(fila: &Fila, job: i64, exec_id: i32, status: &str, seconds: u64) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(seconds);
    loop {
        let runs = executions(fila, job).await;
        if runs
            .iter()
            .any(|run| run.exec_id == exec_id && run.status == status)
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "ExecID {exec_id} never {status}: {:?}",
            runs.iter()
                .map(|r| (r.exec_id, r.status.clone()))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn cancel_execution_cancels_running_and_waited_for_runs() {
    let fila = start().await;
    let (_, started) = run_process(
        &fila,
        json!({ "schemaName": "Sleep", "parameterValues": [{ "name": "seconds", "value": 20 }] }),
    )
    .await;
    let running = started["processId"]
        .as_str()
        .expect("processId")
        .to_string();
    let running_job = job_id(&fila, &running).await;
    execution_in(&fila, running_job, 1, "running", 30).await;
    // A caller waiting for a run's results is answered when it is cancelled.
    let waiting = {
        let request = fila.request(Method::POST, &format!("{SERVICE}/RunProcess"));
        tokio::spawn(send(request.json(&json!({
            "schemaName": "Sleep",
            "parameterValues": [{ "name": "seconds", "value": 20 }],
            "resultParameterNames": ["slept"],
        }))))
    };
    let waited = loop {
        let ids: Vec<String> = fila
            .db()
            .await
            .query("SELECT uid FROM process_job WHERE uid <> $1", &[&running])
            .await
            .expect("jobs")
            .iter()
            .map(|row| row.get(0))
            .collect();
        if let Some(id) = ids.into_iter().next() {
            break id;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    // What Creatio's process log page sends: the ids, separated by ';'.
    let response = fila
        .request(Method::POST, &format!("{SERVICE}/CancelExecution"))
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
        .body(
            json!({ "processDataIds": format!("{running};{waited};no-such-process") }).to_string(),
        )
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.expect("body"), "");
    let (status, answer) = tokio::time::timeout(std::time::Duration::from_secs(10), waiting)
        .await
        .expect("the waiting caller is answered before the run would end")
        .expect("task");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            answer["processStatus"].as_i64(),
            answer["success"].as_bool()
        ),
        (Some(3), Some(false)),
        "{answer}"
    );
    assert_eq!(answer["errorInfo"]["errorCode"], "ProcessCancelled");
    for job in [running_job, job_id(&fila, &waited).await] {
        let runs = executions(&fila, job).await;
        assert_eq!(runs[0].status, "cancelled", "{job}");
        assert_eq!(runs[0].message, "cancelled by its producer");
    }
    // The running one was stopped, and its worker did not record an
    // outcome over the cancellation.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let runs = executions(&fila, running_job).await;
    assert_eq!((runs.len(), runs[0].status.as_str()), (1, "cancelled"));
    let (status, body) = send(
        fila.request(Method::POST, &format!("{SERVICE}/CancelExecution"))
            .json(&json!({ "ids": [running] })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("processDataIds")),
        "{body}"
    );
}

/// The element UId of the job's execution `exec_id`.
async fn element_uid(fila: &Fila, job: i64, exec_id: i32) -> String {
    fila.db()
        .await
        .query_one(
            "SELECT element_uid FROM process_execution WHERE job_id = $1 AND exec_id = $2",
            &[&job, &exec_id],
        )
        .await
        .expect("execution")
        .get(0)
}

#[tokio::test]
async fn exec_proc_el_by_uid_runs_a_waiting_element_now() {
    let definitions = format!(
        "{DEFINITIONS}\n[[process]]\nname = \"Flaky\"\nrunner = \"builtin\"\nbuiltin = \"Fail\"\nretry_count = 3\n"
    );
    let fila = Setup::new().processes(&definitions).start().await;
    let (_, started) = run_process(&fila, json!({ "schemaName": "Flaky" })).await;
    let process_id = started["processId"]
        .as_str()
        .expect("processId")
        .to_string();
    let job = job_id(&fila, &process_id).await;
    // The second retry waits 10 s for its backoff.
    execution_in(&fila, job, 2, "failed", 30).await;
    execution_in(&fila, job, 3, "waiting", 10).await;
    let (code, jobs) = send(fila.admin(Method::GET, "/ops/process/jobs")).await;
    assert_eq!(code, StatusCode::OK, "{jobs}");
    let listed = jobs["jobs"][0]["lastExecution"]["elementUId"]
        .as_str()
        .expect("elementUId")
        .to_string();
    assert_eq!(listed, element_uid(&fila, job, 3).await);
    let asked = tokio::time::Instant::now();
    let (code, body) =
        text(fila.request(Method::GET, &format!("{SERVICE}/ExecProcElByUId/{listed}"))).await;
    assert_eq!((code, body.as_str()), (StatusCode::OK, ""));
    execution_in(&fila, job, 3, "failed", 5).await;
    assert!(
        asked.elapsed() < std::time::Duration::from_secs(5),
        "it ran at once, not after its 10 s backoff"
    );
    // The next retry waits 60 s: the query form runs it now too.
    execution_in(&fila, job, 4, "waiting", 10).await;
    let fourth = element_uid(&fila, job, 4).await;
    let (code, _) = text(fila.request(
        Method::GET,
        &format!(
            "/ServiceModel/ProcessEngineService.svc/ExecProcElByUId?ProcessElementUID={fourth}"
        ),
    ))
    .await;
    assert_eq!(code, StatusCode::OK);
    execution_in(&fila, job, 4, "failed", 5).await;
    // An element already executed is not executed again.
    let first = element_uid(&fila, job, 1).await;
    let (code, _) =
        text(fila.request(Method::GET, &format!("{SERVICE}/ExecProcElByUId/{first}"))).await;
    assert_eq!(code, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(executions(&fila, job).await.len(), 4, "no run was added");
    // An unknown element, or none, is a clear error in Creatio's format.
    let (code, body) = send(fila.request(
        Method::GET,
        &format!("{SERVICE}/ExecProcElByUId/3fa85f64-5717-4562-b3fc-2c963f66afa6"),
    ))
    .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], 404);
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("3fa85f64-5717-4562-b3fc-2c963f66afa6")),
        "{body}"
    );
    let (code, body) = send(fila.request(Method::GET, &format!("{SERVICE}/ExecProcElByUId"))).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("processElementUID")),
        "{body}"
    );
    let (code, _) =
        send(fila.reader(Method::GET, &format!("{SERVICE}/ExecProcElByUId/{first}"))).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "a reader may not run elements");
}
