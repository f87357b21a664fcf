//! What the workers send out over HTTP: redirects to another origin are
//! not followed (the 3xx is the answer), and a password in a destination's
//! or a runner's URL reaches nothing fila writes or answers.

use std::time::Duration;

use fila_tests::destination::{Destination, Reply};
use fila_tests::eai::message;
use fila_tests::fila::send;
use fila_tests::results::Results;
use fila_tests::runs::{envelope, process_id, soap, wait_ended};
use fila_tests::{Fila, Setup};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const TRANSACTIONS: &str = "/totvseai/standardmessage/v1/transactions";
const RUN_PROCESS: &str = "/0/ServiceModel/ProcessEngineService.svc/RunProcess";

fn http_process(name: &str, url: &str) -> String {
    format!(
        "[[process]]\nname = \"{name}\"\nrunner = \"http\"\nurl = \"{url}\"\ntimeout_secs = 5\n"
    )
}

fn http_transaction(transaction: &str, url: &str) -> String {
    format!(
        "[[eai_transactions]]\ntransaction = \"{transaction}\"\ndestination = \"http\"\n\
         url = \"{url}\"\ntimeout_secs = 2\n"
    )
}

/// Starts `name` through RunProcess; the answer (waited for when
/// `result` names an output).
async fn run_process(fila: &Fila, name: &str, result: Option<&str>) -> Value {
    let (status, body) = send(fila.request(Method::POST, RUN_PROCESS).json(&json!({
        "schemaName": name,
        "parameterValues": [{ "name": "order", "value": 7 }],
        "resultParameterNames": result.into_iter().collect::<Vec<_>>(),
    })))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn job_of(fila: &Fila, answer: &Value) -> i64 {
    let uid = answer["processId"].as_str().expect("processId");
    fila_tests::runs::job_id(fila, uid).await
}

/// The response message of `uuid`, once processed.
async fn eai_response(fila: &Fila, uuid: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) =
            send(fila.request(Method::GET, &format!("{TRANSACTIONS}/{uuid}"))).await;
        if status == StatusCode::OK {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{uuid} was not processed: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_redirect_to_another_origin_is_the_answer_and_nothing_reaches_it() {
    let elsewhere = Destination::start(vec![Reply::Json(200, r#"{"taken": true}"#.into())]).await;
    let eai = Destination::start(vec![Reply::Redirect(307, elsewhere.url.clone())]).await;
    let away = Destination::start(vec![Reply::Redirect(308, elsewhere.url.clone())]).await;
    let see_other = Destination::start(vec![Reply::Redirect(303, "/eai/elsewhere".into())]).await;
    let moved = Destination::start(vec![
        Reply::Redirect(307, "/eai/v2".into()),
        Reply::Json(200, r#"{"moved": true}"#.into()),
    ])
    .await;
    let definitions = [
        http_process("Away", &away.url),
        http_process("SeeOther", &see_other.url),
        http_process("Moved", &moved.url),
    ]
    .join("\n");
    let fila = Setup::new()
        .toml(&http_transaction("ORDER", &eai.url))
        .processes(&definitions)
        .start()
        .await;

    let (status, body) = fila.post_eai(&message("R-1", "ORDER", "O1")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let runs = [
        job_of(&fila, &run_process(&fila, "Away", None).await).await,
        job_of(&fila, &run_process(&fila, "SeeOther", None).await).await,
        job_of(&fila, &run_process(&fila, "Moved", None).await).await,
    ];

    let answer = eai_response(&fila, "R-1").await;
    let information = &answer["Content"]["ProcessingInformation"];
    assert_eq!(information["Status"], "ERROR", "{answer}");
    assert_eq!(information["Details"][0]["code"], "EAI-204", "{answer}");
    let detail = information["Details"][0]["detailedMessage"]
        .as_str()
        .unwrap_or_default();
    assert!(
        detail.contains("another origin") && detail.contains(&elsewhere.origin()),
        "{answer}"
    );

    let away_run = &wait_ended(&fila, runs[0], 1, 30).await[0];
    assert_eq!(away_run.status, "failed", "{away_run:?}");
    assert!(
        away_run.message.contains("HTTP 308") && away_run.message.contains("another origin"),
        "{}",
        away_run.message
    );
    let see_other_run = &wait_ended(&fila, runs[1], 1, 30).await[0];
    assert_eq!(see_other_run.status, "failed", "{see_other_run:?}");
    assert!(
        see_other_run.message.contains("HTTP 303")
            && see_other_run.message.contains("GET without its body"),
        "{}",
        see_other_run.message
    );
    let moved_run = &wait_ended(&fila, runs[2], 1, 30).await[0];
    assert_eq!(moved_run.status, "succeeded", "{moved_run:?}");
    assert_eq!(moved_run.outputs, Some(json!({ "moved": true })));
    assert_eq!(
        moved.received(),
        vec![json!({ "order": 7 }), json!({ "order": 7 })],
        "the same-origin 307 was followed with the body"
    );

    assert_eq!(eai.requests(), 1, "refused, not retried");
    assert_eq!(away.requests(), 1);
    assert_eq!(see_other.requests(), 1);
    assert_eq!(elsewhere.requests(), 0, "nothing reached the other origin");
}

/// A password that must show nowhere.
const MARK: &str = "pw-5c1e-MARK";

/// `url` (`http://host:port/path`) with the user `erp` and [`MARK`].
fn with_password(url: &str) -> String {
    url.replacen("http://", &format!("http://erp:{MARK}@"), 1)
}

/// A local URL where nothing listens.
async fn closed_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}/eai")
}

/// Every text of `column` in `table` (rows as text), `|`-joined.
async fn column_text(fila: &Fila, table: &str, column: &str) -> (i64, String) {
    let row = fila
        .db()
        .await
        .query_one(
            &format!("SELECT count(*), coalesce(string_agg({column}::text, '|'), '') FROM {table}"),
            &[],
        )
        .await
        .expect("rows");
    (row.get(0), row.get(1))
}

#[tokio::test]
async fn a_password_in_a_url_reaches_no_log_store_result_or_answer() {
    // The failing destination even quotes the password in its answer.
    let failing = Destination::start(vec![Reply::Json(
        500,
        format!(r#"{{"error": "no session for erp:{MARK}"}}"#),
    )])
    .await;
    let failing_url = with_password(&failing.url);
    let closed = with_password(&closed_url().await);
    let definitions = [
        http_process("Down", &failing_url),
        http_process("Gone", &closed),
    ]
    .join("\n");
    let fila = Setup::new()
        .toml(&http_transaction("DOWN", &failing_url))
        .toml(&http_transaction("GONE", &closed))
        .processes(&definitions)
        .env("WORKER_MAX_ATTEMPTS", 2)
        .start()
        .await;
    let mut results = Results::observe(&fila).await;

    for (uuid, transaction) in [("S-1", "DOWN"), ("S-2", "GONE")] {
        let (status, body) = fila.post_eai(&message(uuid, transaction, "O1")).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    let mut answers = Vec::new();
    // Creatio: RunProcess waiting for a result, and Execute with one.
    let waited = run_process(&fila, "Down", Some("total")).await;
    assert_eq!(waited["success"], false, "{waited}");
    answers.push(waited.to_string());
    let execute = "/0/ServiceModel/ProcessEngineService.svc/Gone/Execute?ResultParameterName=total";
    let response = fila
        .request(Method::GET, execute)
        .send()
        .await
        .expect("execute");
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    answers.push(response.text().await.expect("body"));
    // The scheduler API, and wsProcess.
    let (status, started) = fila
        .start_robusta(&json!({ "name": "Gone", "values": {} }))
        .await;
    assert_eq!(status, StatusCode::OK, "{started}");
    let spid = started["robustaSpid"].as_str().expect("robustaSpid");
    let (status, body) = soap(
        &fila,
        "ExecuteWithXmlParamsAsync",
        envelope(
            "ExecuteWithXmlParamsAsync",
            &[("ProcessServerName", "Down"), ("strXmlParams", "")],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (job, exec) = process_id(&body);
    let robusta_job = fila_tests::runs::job_id(&fila, spid).await;
    assert_eq!(
        wait_ended(&fila, robusta_job, 1, 30).await[0].status,
        "failed"
    );
    assert_eq!(wait_ended(&fila, job, 1, 30).await[0].status, "failed");
    let (status, scheduler) = send(fila.request(
        Method::GET,
        &format!("/scheduler/connector-api/process/status/{spid}"),
    ))
    .await;
    assert_eq!(
        (status, &scheduler["status"]),
        (StatusCode::OK, &json!("FAILED"))
    );
    answers.push(scheduler.to_string());
    let (status, ws_status) = soap(
        &fila,
        "GetProcessStatus",
        envelope(
            "GetProcessStatus",
            &[("jobId", &job.to_string()), ("execId", &exec.to_string())],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{ws_status}");
    answers.push(ws_status);
    // EAI: the response messages, once every attempt failed.
    for uuid in ["S-1", "S-2"] {
        let answer = eai_response(&fila, uuid).await;
        assert_eq!(
            answer["Content"]["ProcessingInformation"]["Details"][0]["code"], "EAI-205",
            "{answer}"
        );
        answers.push(answer.to_string());
    }

    assert_eq!(results.collect_eai(2, 30).await, 2, "two EAI results");
    assert_eq!(results.collect_runs(4, 30).await, 4, "four process results");
    let published: Vec<String> = results
        .received
        .iter()
        .map(|r| r.body.to_string())
        .collect();
    let (executions, messages) = column_text(&fila, "process_execution", "message").await;
    let (eai_rows, details) = column_text(&fila, "eai_message", "details").await;
    let (_, dead_letters) = column_text(&fila, "dead_letter", "reason || history::text").await;
    assert_eq!((executions, eai_rows), (4, 2));
    let logs = [
        std::fs::read_to_string(fila.log_path("worker-0.log")).unwrap_or_default(),
        fila.api_log(),
    ];
    assert!(
        logs[0].contains("message failed; retrying later"),
        "the destinations' failures were logged"
    );

    // What was said names the URLs without their password.
    for text in [&messages, &answers[0], &answers[1], &answers[2]] {
        assert!(text.contains("erp:***@127.0.0.1"), "{text}");
    }
    assert!(messages.contains("no session for erp:***"), "{messages}");
    let everything =
        answers
            .iter()
            .chain(&published)
            .chain(&logs)
            .chain([&messages, &details, &dead_letters]);
    for text in everything {
        assert!(!text.contains(MARK), "the password in: {text}");
    }
}
