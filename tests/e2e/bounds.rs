//! Requests are bounded: in time (each protocol answers its "unavailable"
//! error when a request is not answered within `http_request_timeout_secs`),
//! in number (past `http_max_concurrent_requests`, 503 and `Retry-After` at
//! once, the probes still answering), and the open login in size. Requests
//! are held for real: the test locks the tables intake writes.

use fila_tests::fila::send;
use fila_tests::runs::{DEFINITIONS, envelope, fault};
use fila_tests::taf::{item, lot};
use fila_tests::{Fila, Setup};
use reqwest::header::RETRY_AFTER;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};

const CREATIO: &str = "/0/ServiceModel/ProcessEngineService.svc";
const LOGIN: &str = "/ServiceModel/AuthService.svc/Login";
const SCHEDULER: &str = "/scheduler/connector-api/process";

/// An ACCESS EXCLUSIVE lock on tables of the deployment, held in an open
/// transaction until released (or the test ends).
struct Lock(tokio_postgres::Client);

impl Lock {
    async fn take(fila: &Fila, tables: &str) -> Self {
        let client = fila.db().await;
        client
            .batch_execute(&format!(
                "BEGIN; LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE"
            ))
            .await
            .expect("lock");
        Self(client)
    }

    /// Sessions waiting for the lock on `table`.
    async fn waiting(&self, table: &str) -> i64 {
        self.0
            .query_one(
                "SELECT count(DISTINCT pid) FROM pg_locks
                 WHERE relation = to_regclass($1) AND NOT granted",
                &[&table],
            )
            .await
            .expect("pg_locks")
            .get(0)
    }

    async fn release(self) {
        self.0.batch_execute("COMMIT").await.expect("unlock");
    }
}

/// A request's status, `Retry-After` and body.
async fn answer(request: RequestBuilder) -> (StatusCode, Option<String>, String) {
    let response = request.send().await.expect("an answer");
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let status = response.status();
    (status, retry_after, response.text().await.expect("body"))
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"))
}

fn taf_lot(fila: &Fila, ticket: &str) -> RequestBuilder {
    fila.request(Method::POST, "/rest/wstafst2")
        .json(&lot(ticket, vec![item(&format!("{ticket}-K1"))]))
}

fn eai_post(fila: &Fila, uuid: &str) -> RequestBuilder {
    fila.request(Method::POST, "/totvseai/standardmessage/v1/transactions")
        .json(&fila_tests::eai::message(uuid, "CUSTOMERVENDOR", uuid))
}

fn wsprocess(fila: &Fila, operation: &str, parameters: &[(&str, &str)]) -> RequestBuilder {
    fila.request(Method::POST, "/wsProcess/IwsProcess")
        .header("Content-Type", "text/xml; charset=utf-8")
        .header(
            "SOAPAction",
            format!("\"http://www.totvs.com/IwsProcess/{operation}\""),
        )
        .body(envelope(operation, parameters))
}

fn run_process(fila: &Fila) -> RequestBuilder {
    fila.request(Method::POST, &format!("{CREATIO}/RunProcess"))
        .json(&json!({ "schemaName": "FullName", "parameterValues": [{ "name": "name", "value": "A" }] }))
}

fn login(fila: &Fila) -> RequestBuilder {
    fila.anonymous(Method::POST, LOGIN)
        .json(&json!({ "UserName": "erp", "UserPassword": "secret" }))
}

async fn count(fila: &Fila, table: &str) -> i64 {
    fila.db()
        .await
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .expect("count")
        .get(0)
}

#[tokio::test]
async fn a_request_not_answered_in_time_gets_its_protocols_unavailable_error() {
    let fila = Setup::new()
        .workers(0)
        .processes(DEFINITIONS)
        .env("HTTP_REQUEST_TIMEOUT_SECS", 6)
        .env("EAI_SYNC_TIMEOUT_SECS", 1)
        .env("PROCESS_SYNC_TIMEOUT_SECS", 1)
        .start()
        .await;
    let lock = Lock::take(
        &fila,
        "taf_record, eai_message, process_job, taf_branch, api_session",
    )
    .await;
    let (taf, eai, soap, run, execute, scheduler, admin, session) = tokio::join!(
        answer(taf_lot(&fila, "T-HELD")),
        answer(eai_post(&fila, "U-HELD")),
        answer(wsprocess(
            &fila,
            "ExecuteWithXmlParamsAsync",
            &[("ProcessServerName", "FullName"), ("strXmlParams", "")]
        )),
        answer(run_process(&fila)),
        answer(fila.request(
            Method::GET,
            &format!("{CREATIO}/FullName/Execute?name=A&ResultParameterName=fullName")
        )),
        answer(
            fila.request(Method::POST, &format!("{SCHEDULER}/start"))
                .json(&json!({ "name": "FullName", "values": {} }))
        ),
        answer(fila.admin(Method::GET, "/admin/taf/branches")),
        answer(login(&fila)),
    );
    // Every one was answered while the lock still held its work.
    let timed_out = |message: &str| message.contains("not answered within 6 s");
    assert_eq!(taf.0, StatusCode::INTERNAL_SERVER_ERROR, "{}", taf.2);
    let body = json_of(&taf.2);
    assert_eq!(body["code"], 702, "RESTFAULT 702: {body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("nao foi respondida em 6 s")),
        "{body}"
    );
    assert_eq!(eai.0, StatusCode::SERVICE_UNAVAILABLE, "{}", eai.2);
    let body = json_of(&eai.2);
    assert_eq!(body["code"], "EAI-503", "{body}");
    assert!(body["message"].as_str().is_some_and(timed_out), "{body}");
    assert_eq!(soap.0, StatusCode::INTERNAL_SERVER_ERROR, "{}", soap.2);
    let (code, message) = fault(&soap.2).expect("a SOAP fault");
    assert!(
        code.ends_with("Server") && timed_out(&message),
        "{}",
        soap.2
    );
    assert_eq!(run.0, StatusCode::SERVICE_UNAVAILABLE, "{}", run.2);
    let body = json_of(&run.2);
    assert_eq!(
        (&body["success"], &body["errorInfo"]["errorCode"]),
        (&json!(false), &json!("Unavailable")),
        "{body}"
    );
    assert!(
        body["errorInfo"]["message"].as_str().is_some_and(timed_out),
        "{body}"
    );
    assert_eq!(execute.0, StatusCode::SERVICE_UNAVAILABLE, "{}", execute.2);
    let body = json_of(&execute.2);
    assert_eq!(body["code"], 503, "{body}");
    assert!(body["message"].as_str().is_some_and(timed_out), "{body}");
    assert_eq!(
        scheduler.0,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        scheduler.2
    );
    assert!(
        json_of(&scheduler.2)["message"]
            .as_str()
            .is_some_and(timed_out),
        "{}",
        scheduler.2
    );
    assert_eq!(admin.0, StatusCode::SERVICE_UNAVAILABLE, "{}", admin.2);
    assert_eq!(json_of(&admin.2)["code"], 503, "{}", admin.2);
    assert_eq!(session.0, StatusCode::SERVICE_UNAVAILABLE, "{}", session.2);
    let body = json_of(&session.2);
    assert_eq!(body["Code"], 1, "{body}");
    assert!(body["Message"].as_str().is_some_and(timed_out), "{body}");
    let log = fila.api_log();
    assert_eq!(
        log.matches("request not answered in time").count(),
        8,
        "each logged"
    );

    lock.release().await;
    // Intake's transactions were dropped before their commit.
    for table in ["taf_record", "eai_message", "process_job"] {
        assert_eq!(count(&fila, table).await, 0, "nothing of {table} stayed");
    }
    let (status, body) = send(taf_lot(&fila, "T-AFTER")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["registryKey"][0]["success"], true, "{body}");
    let (status, body) = send(eai_post(&fila, "U-AFTER")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (status, body) = send(login(&fila)).await;
    assert_eq!(
        (status, &body["Code"]),
        (StatusCode::OK, &json!(0)),
        "{body}"
    );
}

#[tokio::test]
async fn past_the_concurrency_limit_requests_are_shed_at_once_and_the_probes_answer() {
    const LIMIT: usize = 3;
    let fila = Setup::new()
        .workers(0)
        .processes(DEFINITIONS)
        .env("HTTP_MAX_CONCURRENT_REQUESTS", LIMIT)
        .start()
        .await;
    let lock = Lock::take(&fila, "taf_record").await;
    let held: Vec<_> = (0..LIMIT)
        .map(|i| tokio::spawn(send(taf_lot(&fila, &format!("T-HELD-{i}")))))
        .collect();
    let locked = &lock;
    let all_held = fila_tests::eventually(30, || async move {
        locked.waiting("taf_record").await == LIMIT as i64
    })
    .await;
    assert!(all_held, "{LIMIT} requests wait for the lock");

    let shed = |(status, retry_after, body): &(StatusCode, Option<String>, String)| {
        assert_eq!(*status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(retry_after.as_deref(), Some("1"), "{body}");
    };
    let taf = answer(taf_lot(&fila, "T-SHED")).await;
    shed(&taf);
    assert_eq!(json_of(&taf.2)["code"], 503);
    let eai = answer(eai_post(&fila, "U-SHED")).await;
    shed(&eai);
    assert_eq!(json_of(&eai.2)["code"], "EAI-503");
    let soap = answer(wsprocess(
        &fila,
        "GetProcessStatus",
        &[("jobId", "1"), ("execId", "1")],
    ))
    .await;
    shed(&soap);
    assert!(
        fault(&soap.2).is_some_and(|(code, _)| code.ends_with("Server")),
        "{}",
        soap.2
    );
    let run = answer(run_process(&fila)).await;
    shed(&run);
    assert_eq!(json_of(&run.2)["errorInfo"]["errorCode"], "Unavailable");
    let execute = answer(fila.request(Method::GET, &format!("{CREATIO}/FullName/Execute"))).await;
    shed(&execute);
    assert_eq!(json_of(&execute.2)["code"], 503);
    let status = answer(fila.request(Method::GET, &format!("{SCHEDULER}/status/none"))).await;
    shed(&status);
    assert!(json_of(&status.2)["message"].is_string());
    let session = answer(login(&fila)).await;
    shed(&session);
    assert_eq!(json_of(&session.2)["Code"], 1);
    let ops = answer(fila.reader(Method::GET, "/ops/overview")).await;
    shed(&ops);
    assert_eq!(json_of(&ops.2)["code"], 503);
    for probe in ["/healthz", "/readyz", "/metrics"] {
        let (status, _, body) = answer(fila.anonymous(Method::GET, probe)).await;
        assert_eq!(status, StatusCode::OK, "{probe}: {body}");
    }
    assert!(
        held.iter().all(|h| !h.is_finished()),
        "the held requests still wait"
    );

    lock.release().await;
    for request in held {
        let (status, body) = request.await.expect("held request");
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["registryKey"][0]["success"], true, "{body}");
    }
    assert_eq!(
        count(&fila, "taf_record").await,
        LIMIT as i64,
        "the shed lot was not taken"
    );
    assert_eq!(count(&fila, "eai_message").await, 0);
    let (status, body) = send(taf_lot(&fila, "T-AFTER")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn an_oversized_login_is_refused_unread() {
    let fila = Setup::new().workers(0).start().await;
    let padding = "x".repeat(17 * 1024);
    let (status, body) = send(fila.anonymous(Method::POST, LOGIN).json(&json!({
        "UserName": "erp", "UserPassword": "secret", "Padding": padding
    })))
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["Code"], 1, "{body}");
    assert_eq!(count(&fila, "api_session").await, 0);
    let (status, body) = send(fila.anonymous(Method::POST, LOGIN).json(&json!({
        "UserName": "erp", "UserPassword": "secret", "Padding": "x".repeat(15 * 1024)
    })))
    .await;
    assert_eq!(
        (status, &body["Code"]),
        (StatusCode::OK, &json!(0)),
        "{body}"
    );
}
