//! Who may call what: every endpoint tried with no credentials, a wrong
//! password, a role too low and the right role; failed logins limited per
//! client address.

use fila_tests::Setup;
use fila_tests::fila::{PRODUCER, send};
use fila_tests::runs::{envelope, soap};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Needs {
    Reader,
    Producer,
    Admin,
}

const EAI: &str = "/totvseai/standardmessage/v1";
const CREATIO: &str = "/0/ServiceModel/ProcessEngineService.svc";
const ROBUSTA: &str = "/scheduler/connector-api/process";

/// Every authenticated endpoint, with the role it needs.
fn endpoints() -> Vec<(Method, String, Needs)> {
    let get = Method::GET;
    let post = Method::POST;
    let put = Method::PUT;
    let delete = Method::DELETE;
    vec![
        (
            get.clone(),
            "/rest/wstafst2?ticketCode=T1&startRecNo=0".into(),
            Needs::Reader,
        ),
        (post.clone(), "/rest/wstafst2".into(), Needs::Producer),
        (delete.clone(), "/rest/wstafst2".into(), Needs::Producer),
        (post.clone(), format!("{EAI}/transactions"), Needs::Producer),
        (
            delete.clone(),
            format!("{EAI}/transactions"),
            Needs::Producer,
        ),
        (get.clone(), format!("{EAI}/transactions/x"), Needs::Reader),
        (
            post.clone(),
            format!("{EAI}/transactions/x"),
            Needs::Producer,
        ),
        (
            delete.clone(),
            format!("{EAI}/transactions/x"),
            Needs::Producer,
        ),
        (get.clone(), format!("{EAI}/batches/x"), Needs::Reader),
        (
            get.clone(),
            format!("{EAI}/contents/CUSTOMER"),
            Needs::Reader,
        ),
        (
            post.clone(),
            format!("{EAI}/contents/CUSTOMER"),
            Needs::Producer,
        ),
        (
            delete.clone(),
            format!("{EAI}/contents/CUSTOMER"),
            Needs::Producer,
        ),
        (
            get.clone(),
            format!("{EAI}/contents/CUSTOMER/1"),
            Needs::Reader,
        ),
        (
            delete.clone(),
            format!("{EAI}/contents/CUSTOMER/1"),
            Needs::Producer,
        ),
        (
            get.clone(),
            format!("{CREATIO}/GlbProcCopyConsSQL/Execute"),
            Needs::Producer,
        ),
        (
            post.clone(),
            format!("{CREATIO}/GlbProcCopyConsSQL/Execute"),
            Needs::Producer,
        ),
        (
            post.clone(),
            format!("{CREATIO}/RunProcess"),
            Needs::Producer,
        ),
        (post.clone(), format!("{ROBUSTA}/start"), Needs::Producer),
        (get.clone(), format!("{ROBUSTA}/status/x"), Needs::Reader),
        (get.clone(), "/admin/taf/branches".into(), Needs::Admin),
        (put.clone(), "/admin/taf/branches/X".into(), Needs::Admin),
        (delete.clone(), "/admin/taf/branches/X".into(), Needs::Admin),
        (get.clone(), "/admin/schedules".into(), Needs::Admin),
        (get.clone(), "/admin/queues".into(), Needs::Admin),
        (get.clone(), "/ops/overview".into(), Needs::Reader),
        (get.clone(), "/ops/taf/tickets".into(), Needs::Reader),
        (
            get.clone(),
            "/ops/taf/tickets/T1/errors".into(),
            Needs::Reader,
        ),
        (get.clone(), "/ops/taf/errors".into(), Needs::Reader),
        (get.clone(), "/ops/eai/batches".into(), Needs::Reader),
        (get.clone(), "/ops/process/jobs".into(), Needs::Reader),
        (
            post.clone(),
            "/admin/taf/tickets/T1/retry".into(),
            Needs::Admin,
        ),
        (
            post.clone(),
            "/admin/taf/records/1/retry".into(),
            Needs::Admin,
        ),
        (post.clone(), "/admin/queues/taf/pause".into(), Needs::Admin),
        (
            post.clone(),
            "/admin/queues/taf/resume".into(),
            Needs::Admin,
        ),
        (delete.clone(), "/admin/schedules/x".into(), Needs::Admin),
        (
            post.clone(),
            "/admin/schedules/x/pause".into(),
            Needs::Admin,
        ),
        (
            post.clone(),
            "/admin/schedules/x/resume".into(),
            Needs::Admin,
        ),
        (get.clone(), "/admin/dead-letters".into(), Needs::Admin),
        (get.clone(), "/admin/dead-letters/1".into(), Needs::Admin),
        (delete.clone(), "/admin/dead-letters/1".into(), Needs::Admin),
        (
            post.clone(),
            "/admin/dead-letters/1/replay".into(),
            Needs::Admin,
        ),
        (
            post.clone(),
            "/admin/dead-letters/replay".into(),
            Needs::Admin,
        ),
        (post, "/admin/reconcile".into(), Needs::Admin),
    ]
}

fn denied(status: StatusCode) -> bool {
    matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
}

#[tokio::test]
async fn every_endpoint_checks_credentials_and_role() {
    let fila = Setup::new()
        .processes(fila_tests::runs::DEFINITIONS)
        .env("LOGIN_MAX_FAILURES", 1000)
        .start()
        .await;
    for (method, path, needs) in endpoints() {
        let body = json!({});
        let (status, _) = send(fila.anonymous(method.clone(), &path).json(&body)).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {path}, anonymous"
        );
        let (status, _) = send(fila.impostor(method.clone(), &path).json(&body)).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {path}, wrong password"
        );

        let too_low = match needs {
            Needs::Reader => None,
            Needs::Producer => Some(fila.reader(method.clone(), &path)),
            Needs::Admin => Some(fila.request(method.clone(), &path)),
        };
        if let Some(request) = too_low {
            let (status, body) = send(request.json(&body)).await;
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{method} {path}, role too low: {body}"
            );
        }
        if needs == Needs::Admin {
            let (status, _) = send(fila.reader(method.clone(), &path).json(&body)).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}, reader");
        }
        let allowed = match needs {
            Needs::Reader => vec![
                fila.reader(method.clone(), &path),
                fila.request(method.clone(), &path),
            ],
            Needs::Producer => vec![fila.request(method.clone(), &path)],
            Needs::Admin => vec![fila.admin(method.clone(), &path)],
        };
        for request in allowed {
            let (status, body) = send(request.json(&body)).await;
            assert!(
                !denied(status),
                "{method} {path}, allowed role: {status} {body}"
            );
        }
    }
}

#[tokio::test]
async fn a_reader_may_follow_a_process_but_not_start_one() {
    let fila = Setup::new()
        .processes(fila_tests::runs::DEFINITIONS)
        .start()
        .await;
    let execute = envelope(
        "ExecuteWithXmlParamsAsync",
        &[
            ("ProcessServerName", "GlbProcCopyConsSQL"),
            ("strXmlParams", ""),
        ],
    );
    let as_reader = |body: String, action: &str| {
        fila.reader(Method::POST, "/wsProcess/IwsProcess")
            .header("Content-Type", "text/xml; charset=utf-8")
            .header(
                "SOAPAction",
                format!("\"http://www.totvs.com/IwsProcess/{action}\""),
            )
            .body(body)
    };
    let response = as_reader(execute.clone(), "ExecuteWithXmlParamsAsync")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let fault = response.text().await.expect("body");
    assert!(
        fault.contains("faultcode>soap:Client<") || fault.contains("Client"),
        "{fault}"
    );
    assert!(
        fault.contains("may read statuses but not start processes"),
        "{fault}"
    );

    let (status, answer) = soap(&fila, "ExecuteWithXmlParamsAsync", execute).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (job, exec) = fila_tests::runs::process_id(&answer);
    let status_call = envelope(
        "GetProcessStatus",
        &[("jobId", &job.to_string()), ("execId", &exec.to_string())],
    );
    let response = as_reader(status_call, "GetProcessStatus")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn failed_logins_are_limited_per_client_address() {
    let fila = Setup::new().env("LOGIN_MAX_FAILURES", 3).start().await;
    for _ in 0..3 {
        let (status, _) = send(fila.impostor(Method::GET, "/rest/wstafst2?ticketCode=T")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let response = fila
        .request(Method::GET, "/rest/wstafst2?ticketCode=T")
        .send()
        .await
        .expect("request");
    assert_eq!(
        response.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password, until the window ends"
    );
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let (status, body) = send(
        fila.anonymous(Method::POST, "/ServiceModel/AuthService.svc/Login")
            .json(&json!({ "UserName": PRODUCER.0, "UserPassword": PRODUCER.1 })),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["Code"], 1);
    let (status, _) = send(fila.anonymous(Method::GET, "/healthz")).await;
    assert_eq!(status, StatusCode::OK, "open endpoints stay open");
    let log = fila.api_log();
    assert!(!log.contains("not-the-password"), "no password in the log");
}

/// What goes through fila stays out of its logs at the default level, and
/// a `command` process gets its parameters as data, never through a shell.
#[tokio::test]
async fn logs_hold_no_bodies_or_passwords_and_commands_see_no_shell() {
    const MARK: &str = "BODYMARK-7f3a";
    let dir = std::env::temp_dir().join(format!("fila-shell-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let pwned = dir.join("pwned");
    let definitions = format!(
        "[[process]]\nname = \"EchoCommand\"\nrunner = \"command\"\ncommand = \"{}\"\nargs = [\"echo\"]\n",
        fila_tests::runs::runner_script()
    );
    let fila = Setup::new().processes(&definitions).start().await;

    let xml = fila_tests::taf::rubrica_xml("LOGGED", 0)
        .replace("<eSocial>", &format!("<eSocial><!--{MARK}-->"));
    fila.post_lot(&fila_tests::taf::lot(
        "T-LOGS",
        vec![fila_tests::taf::item_with(
            "LOGGED",
            json!({ "integrationMessage": fila_tests::taf::b64(&xml) }),
        )],
    ))
    .await;
    let mut eai = fila_tests::eai::message(
        "9d6a1f3e-1111-4c2b-9d3e-000000000001",
        "CUSTOMERVENDOR",
        "L1",
    );
    eai["Content"]["Name"] = json!(MARK);
    let (status, _) = fila.post_eai(&eai).await;
    assert!(status.is_success());
    let hostile = format!(
        "$(touch {}) `touch {}`; touch {} {MARK}",
        pwned.display(),
        pwned.display(),
        pwned.display()
    );
    let (status, answer) = send(
        fila.request(
            Method::POST,
            "/0/ServiceModel/ProcessEngineService.svc/RunProcess",
        )
        .json(&json!({
            "schemaName": "EchoCommand",
            "parameterValues": [{ "name": "text", "value": hostile }],
            "resultParameterNames": ["input"],
        })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer["resultParameterValues"]["input"],
        json!({ "text": hostile }),
        "{answer}"
    );
    assert!(!pwned.exists(), "no shell ran the parameter");
    let _ = send(fila.reader(Method::GET, "/rest/wstafst2?ticketCode=T-LOGS&startRecNo=0")).await;
    assert!(fila.wait_finished("T-LOGS", 1, 30).await);

    let logs = [
        fila.api_log(),
        std::fs::read_to_string(fila.log_path("worker-0.log")).unwrap_or_default(),
    ];
    assert!(logs[0].contains("TAF lot received") && logs[1].contains("consuming"));
    for log in &logs {
        for secret in [MARK, "reader-secret", "ZXJwOnNlY3JldA==", "argon2id"] {
            assert!(!log.contains(secret), "{secret} in a log");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_browser_request_from_another_site_changes_nothing() {
    let fila = Setup::new().workers(0).start().await;
    let pause = |site: &'static str| {
        send(
            fila.admin(Method::POST, "/admin/queues/taf/pause")
                .header("Sec-Fetch-Site", site),
        )
    };
    let (status, _) = pause("cross-site").await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "cached credentials are not enough"
    );
    let (_, queues) = send(fila.admin(Method::GET, "/admin/queues")).await;
    assert_eq!(queues["queues"][0]["paused"], false, "{queues}");
    let (status, _) = pause("same-origin").await;
    assert_eq!(status, StatusCode::OK, "the dashboard's own requests");
}
