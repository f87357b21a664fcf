//! The Robusta scheduler connector API (seed 004): start and status,
//! schedules across worker replicas, their dates, missed fires, retries,
//! worker groups, and the schedules admin API.

use std::time::Duration;

use chrono::{DurationRound, TimeDelta, Utc};
use fila_tests::fila::send;
use fila_tests::results::Results;
use fila_tests::runs::{DEFINITIONS, executions, job_count, job_id, wait_ended};
use fila_tests::{Fila, Setup};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const START: &str = "/scheduler/connector-api/process/start";

async fn start_process(fila: &Fila, body: &Value) -> (StatusCode, Value) {
    send(fila.request(Method::POST, START).json(body)).await
}

async fn status(fila: &Fila, spid: &str) -> (StatusCode, Value) {
    send(fila.request(
        Method::GET,
        &format!("/scheduler/connector-api/process/status/{spid}"),
    ))
    .await
}

/// Starts a process; its robustaSpid.
async fn started(fila: &Fila, body: &Value) -> String {
    let (code, answer) = start_process(fila, body).await;
    assert_eq!(code, StatusCode::OK, "{answer}");
    assert_eq!(answer["message"], "Process saved");
    answer["robustaSpid"]
        .as_str()
        .expect("robustaSpid")
        .to_string()
}

/// The status until it is `wanted`.
async fn status_until(fila: &Fila, spid: &str, wanted: &str, seconds: u64) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        let (code, body) = status(fila, spid).await;
        assert_eq!(code, StatusCode::OK, "{body}");
        if body["status"] == wanted {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never {wanted}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn date(at: chrono::DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

#[tokio::test]
async fn the_seed_start_body_is_saved() {
    let fila = Setup::new().processes(DEFINITIONS).start().await;
    // The seed's body, with its duplicated key, "run immediately" and "N,":
    // its dates are past and hold no Friday, so it never runs.
    let body = r#"{"values": {"username": "Username", "username": "User Surname"},
"quartzDef":"0 6 6 ? * FR",
"startDate":"2020-11-16 16:56:00",
"endDate":"2020-11-18 16:55:00",
"runOnce": "N",
"run immediately": "N,",
"retryCount": "1",
"name": "OneStepNotepadRunner"}"#;
    let (code, answer) = send(
        fila.request(Method::POST, "/scheduler/connector-API/process/start")
            .header("Content-Type", "application/json")
            .body(body),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{answer}");
    assert_eq!(answer["message"], "Process saved");
    let spid = answer["robustaSpid"].as_str().expect("spid");
    let stored = fila_tests::runs::job(&fila, job_id(&fila, spid).await).await;
    assert_eq!(stored["parameters"], json!({ "username": "User Surname" }));
    assert_eq!(stored["retryCount"], 1);
    let (code, answer) = status(&fila, spid).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(answer["status"], "FAILED");
    assert!(
        answer["message"]
            .as_str()
            .is_some_and(|m| m.contains("never ran")),
        "{answer}"
    );
}

#[tokio::test]
async fn a_run_now_reports_its_outputs() {
    let fila = Setup::new().processes(DEFINITIONS).start().await;
    let spid = started(
        &fila,
        &json!({ "values": { "username": "Username", "surname": "Surname" }, "name": "FullName" }),
    )
    .await;
    let body = status_until(&fila, &spid, "SUCCEEDED", 30).await;
    assert_eq!(
        body,
        json!({ "status": "SUCCEEDED", "message": "Your transaction has ended.", "__out_fullName": "Username Surname" })
    );
    let (code, body) = status(&fila, "no-such-spid").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("no-such-spid"))
    );
}

#[tokio::test]
async fn a_per_second_cron_fires_once_per_second_across_two_workers() {
    let fila = Setup::new().processes(DEFINITIONS).workers(2).start().await;
    let first = Utc::now()
        .duration_trunc(TimeDelta::seconds(1))
        .expect("trunc")
        + TimeDelta::seconds(3);
    let last = first + TimeDelta::seconds(4);
    let spid = started(
        &fila,
        &json!({
            "values": { "name": "Tick" },
            "name": "FullName",
            "quartzDef": "* * * * * ?",
            "startDate": date(first),
            "endDate": date(last),
            "runOnce": "N",
            "runImmediately": "N",
            "retryCount": 0,
        }),
    )
    .await;
    let (_, waiting) = status(&fila, &spid).await;
    assert_eq!(waiting["status"], "WAITING", "{waiting}");
    let id = job_id(&fila, &spid).await;
    let runs = wait_ended(&fila, id, 5, 30).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let runs_after = executions(&fila, id).await;
    assert_eq!(
        runs_after.len(),
        5,
        "one run per second from startDate to endDate: {runs:?}"
    );
    let fires: Vec<i32> = runs_after.iter().map(|r| r.fire).collect();
    assert_eq!(fires, vec![1, 2, 3, 4, 5]);
    assert!(runs_after.iter().all(|r| r.status == "succeeded"));
    let (_, schedules) = send(fila.admin(Method::GET, "/admin/schedules?state=ended")).await;
    assert_eq!(schedules["schedules"][0]["uid"], spid.as_str());
    assert_eq!(schedules["schedules"][0]["fires"], 5);
}

#[tokio::test]
async fn run_immediately_and_run_once() {
    let fila = Setup::new().processes(DEFINITIONS).start().await;
    let hourly = json!({
        "values": { "name": "Once" },
        "name": "FullName",
        "quartzDef": "0 0 * * * ?",
        "runImmediately": "Y",
        "runOnce": "Y",
    });
    let spid = started(&fila, &hourly).await;
    status_until(&fila, &spid, "SUCCEEDED", 30).await;
    let (_, list) = send(fila.admin(Method::GET, "/admin/schedules")).await;
    assert_eq!(list["schedules"][0]["state"], "ended", "{list}");
    assert_eq!(executions(&fila, job_id(&fila, &spid).await).await.len(), 1);

    let mut every_second = hourly.clone();
    every_second["quartzDef"] = json!("* * * * * ?");
    every_second["runImmediately"] = json!("N");
    let spid = started(&fila, &every_second).await;
    let id = job_id(&fila, &spid).await;
    wait_ended(&fila, id, 1, 30).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        executions(&fila, id).await.len(),
        1,
        "runOnce keeps the first fire only"
    );

    let mut now_and_scheduled = every_second.clone();
    now_and_scheduled["quartzDef"] = json!("0 0 0 1 1 ? 2099");
    now_and_scheduled["runImmediately"] = json!("yes");
    now_and_scheduled["runOnce"] = json!(false);
    let spid = started(&fila, &now_and_scheduled).await;
    status_until(&fila, &spid, "SUCCEEDED", 30).await;
    let (_, list) = send(fila.admin(Method::GET, "/admin/schedules?state=active")).await;
    assert_eq!(
        list["schedules"][0]["uid"],
        spid.as_str(),
        "it stays scheduled: {list}"
    );
    assert_eq!(list["schedules"][0]["nextFire"], "2099-01-01T00:00:00Z");
}

#[tokio::test]
async fn a_failing_process_is_retried_retry_count_times() {
    let fila = Setup::new().processes(DEFINITIONS).start().await;
    let mut results = Results::observe(&fila).await;
    let spid = started(
        &fila,
        &json!({ "values": { "message": "ledger locked" }, "name": "Fail", "retryCount": "2" }),
    )
    .await;
    let id = job_id(&fila, &spid).await;
    let runs = wait_ended(&fila, id, 3, 60).await;
    let attempts: Vec<(i32, i32, &str)> = runs
        .iter()
        .map(|r| (r.exec_id, r.attempt, r.status.as_str()))
        .collect();
    assert_eq!(
        attempts,
        vec![(1, 1, "failed"), (2, 2, "failed"), (3, 3, "failed")]
    );
    assert_eq!(runs[0].message, "ledger locked (retried as ExecID 2)");
    let body = status_until(&fila, &spid, "FAILED", 10).await;
    assert_eq!(body["message"], "ledger locked");
    let published = results.collect_routed("process.", 1, 10).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let published_after = results.collect_routed("process.", 2, 1).await;
    assert_eq!(published.len(), 1);
    assert_eq!(
        published_after.len(),
        1,
        "only the final outcome is published"
    );
    assert_eq!(published[0].routing_key, "process.Fail.failed");
    assert_eq!(published[0].body["execId"], 3);
    results.close().await;
}

#[tokio::test]
async fn a_fire_missed_during_downtime_runs_once_on_recovery() {
    let mut fila = Setup::new().processes(DEFINITIONS).workers(0).start().await;
    let spid = started(
        &fila,
        &json!({ "values": { "name": "Late" }, "name": "FullName", "quartzDef": "0 0 * * * ?" }),
    )
    .await;
    let id = job_id(&fila, &spid).await;
    // As if fila had been down for ten minutes past the fire: it is made
    // once, at recovery, and the schedule goes on from then.
    fila.db()
        .await
        .execute(
            "UPDATE process_job SET next_fire = now() - interval '10 minutes' WHERE id = $1",
            &[&id],
        )
        .await
        .expect("backdate");
    fila.start_worker().await;
    let runs = wait_ended(&fila, id, 1, 30).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(executions(&fila, id).await.len(), 1);
    let next: chrono::DateTime<Utc> = fila
        .db()
        .await
        .query_one("SELECT next_fire FROM process_job WHERE id = $1", &[&id])
        .await
        .expect("job")
        .get(0);
    assert!(next > Utc::now(), "the next fire is the next hour: {next}");
}

#[tokio::test]
async fn runs_are_pinned_to_worker_groups() {
    let definitions = format!(
        "{DEFINITIONS}\n[[process]]\nname = \"NfeName\"\nrunner = \"builtin\"\nbuiltin = \"FullName\"\ngroup = \"nfe\"\n"
    );
    let mut fila = Setup::new().processes(&definitions).start().await;
    let pinned = started(
        &fila,
        &json!({ "values": { "name": "N" }, "name": "NfeName" }),
    )
    .await;
    let spare = started(
        &fila,
        &json!({ "values": { "name": "S" }, "name": "FullName", "worker": "spare" }),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        status(&fila, &pinned).await.1["status"],
        "WAITING",
        "no worker serves nfe yet"
    );
    assert_eq!(
        status(&fila, &spare).await.1["status"],
        "WAITING",
        "no worker serves spare yet"
    );
    fila.start_worker_with(&[("WORKER_GROUPS", "[\"nfe\", \"spare\"]")])
        .await;
    for spid in [&pinned, &spare] {
        status_until(&fila, spid, "SUCCEEDED", 30).await;
        let runs = executions(&fila, job_id(&fila, spid).await).await;
        assert_eq!(runs[0].worker.as_deref(), Some("worker-1"));
    }
    // A Robusta worker id that names no group of fila's is ignored: the
    // process's own group runs it.
    let ignored = started(
        &fila,
        &json!({ "values": { "name": "U" }, "name": "FullName", "worker": "17" }),
    )
    .await;
    let job = job_id(&fila, &ignored).await;
    assert_eq!(fila_tests::runs::job(&fila, job).await["group"], "default");
    let body = status_until(&fila, &ignored, "SUCCEEDED", 30).await;
    assert_eq!(body["__out_fullName"], "U");
    let runs = executions(&fila, job).await;
    assert_ne!(
        runs[0].worker.as_deref(),
        Some("worker-1"),
        "a worker of the default group ran it"
    );
    assert_eq!(
        fila_tests::runs::job(&fila, job_id(&fila, &spare).await).await["group"],
        "spare"
    );
}

#[tokio::test]
async fn bad_start_requests_are_refused() {
    let fila = Setup::new()
        .processes(DEFINITIONS)
        .workers(0)
        .env("MAX_BODY_BYTES", 4096)
        .start()
        .await;
    for (body, code, message) in [
        ("{", StatusCode::BAD_REQUEST, "not JSON"),
        ("[1]", StatusCode::BAD_REQUEST, "must be a JSON object"),
        (
            "{\"values\": {}}",
            StatusCode::BAD_REQUEST,
            "name (the process to run) is required",
        ),
        (
            "{\"name\": \"Nope\"}",
            StatusCode::NOT_FOUND,
            "process Nope is not defined",
        ),
        (
            "{\"name\": \"FullName\", \"values\": [1]}",
            StatusCode::BAD_REQUEST,
            "values must be an object",
        ),
        (
            "{\"name\": \"FullName\", \"quartzDef\": \"* * * * *\"}",
            StatusCode::BAD_REQUEST,
            "is not a Quartz cron expression",
        ),
        (
            "{\"name\": \"FullName\", \"quartzDef\": \"0 0 * * * ?\", \"startDate\": \"16/11/2020\"}",
            StatusCode::BAD_REQUEST,
            "startDate must be yyyy-MM-dd HH:mm:ss",
        ),
        (
            "{\"name\": \"FullName\", \"quartzDef\": \"0 0 * * * ?\", \"startDate\": \"2030-01-02 00:00:00\", \"endDate\": \"2030-01-01 00:00:00\"}",
            StatusCode::BAD_REQUEST,
            "endDate is before startDate",
        ),
        (
            "{\"name\": \"FullName\", \"retryCount\": \"many\"}",
            StatusCode::BAD_REQUEST,
            "retryCount must be a whole number",
        ),
        (
            "{\"name\": \"FullName\", \"retryCount\": -1}",
            StatusCode::BAD_REQUEST,
            "retryCount must be a whole number",
        ),
        (
            "{\"name\": \"FullName\", \"quartzDef\": \"0 0 * * * ?\", \"runOnce\": \"maybe\"}",
            StatusCode::BAD_REQUEST,
            "runOnce must be Y or N",
        ),
        (
            "{\"name\": {\"x\": 1}}",
            StatusCode::BAD_REQUEST,
            "name must be text",
        ),
        (
            "{\"name\": \"UsrAddNewExternalContact\", \"values\": {\"ContactName\": \"A\", \"Age\": \"x\"}}",
            StatusCode::BAD_REQUEST,
            "parameter Age must be an integer",
        ),
    ] {
        let (got, answer) = send(
            fila.request(Method::POST, START)
                .header("Content-Type", "application/json")
                .body(body),
        )
        .await;
        assert_eq!(got, code, "{body}: {answer}");
        let text = answer["message"].as_str().unwrap_or_default();
        assert!(text.contains(message), "{body}: {answer}");
    }
    let (got, _) = send(fila.request(Method::POST, START).body("x".repeat(5000))).await;
    assert_eq!(got, StatusCode::PAYLOAD_TOO_LARGE);
    let (got, _) = send(
        fila.anonymous(Method::POST, START)
            .json(&json!({ "name": "FullName" })),
    )
    .await;
    assert_eq!(got, StatusCode::UNAUTHORIZED);
    let count = job_count(&fila).await;
    assert_eq!(count, 0);
}

#[tokio::test]
async fn schedules_are_listed_paused_resumed_and_deleted() {
    let fila = Setup::new().processes(DEFINITIONS).workers(0).start().await;
    let spid = started(
        &fila,
        &json!({ "values": { "name": "H" }, "name": "FullName", "quartzDef": "0 0 * * * ?", "runImmediately": "Y" }),
    )
    .await;
    let (code, list) = send(fila.admin(Method::GET, "/admin/schedules")).await;
    assert_eq!(code, StatusCode::OK);
    let listed = &list["schedules"][0];
    assert_eq!(
        (
            listed["uid"].as_str(),
            listed["process"].as_str(),
            listed["quartzDef"].as_str(),
            listed["state"].as_str()
        ),
        (
            Some(spid.as_str()),
            Some("FullName"),
            Some("0 0 * * * ?"),
            Some("active")
        )
    );
    let (code, paused) =
        send(fila.admin(Method::POST, &format!("/admin/schedules/{spid}/pause"))).await;
    assert_eq!(
        (code, paused["state"].as_str()),
        (StatusCode::OK, Some("paused"))
    );
    let (_, list) = send(fila.admin(Method::GET, "/admin/schedules?state=paused")).await;
    assert_eq!(list["schedules"].as_array().map(Vec::len), Some(1));
    let (code, resumed) =
        send(fila.admin(Method::POST, &format!("/admin/schedules/{spid}/resume"))).await;
    assert_eq!(
        (code, resumed["state"].as_str()),
        (StatusCode::OK, Some("active"))
    );
    assert!(resumed["nextFire"].is_string());

    let (code, _) = send(fila.admin(Method::DELETE, &format!("/admin/schedules/{spid}"))).await;
    assert_eq!(code, StatusCode::NO_CONTENT);
    let runs = executions(&fila, job_id(&fila, &spid).await).await;
    assert_eq!(
        runs[0].status, "cancelled",
        "the immediate run had not started (no worker)"
    );
    let (_, answer) = status(&fila, &spid).await;
    assert_eq!(answer["status"], "FAILED");
    assert!(
        answer["message"]
            .as_str()
            .is_some_and(|m| m.contains("cancelled"))
    );

    for (method, path, code) in [
        (
            Method::POST,
            format!("/admin/schedules/{spid}/pause"),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::DELETE,
            "/admin/schedules/nope".to_string(),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::GET,
            "/admin/schedules?state=sleeping".to_string(),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (got, _) = send(fila.admin(method, &path)).await;
        assert_eq!(got, code, "{path}");
    }
    let (got, _) = send(fila.request(Method::GET, "/admin/schedules")).await;
    assert_eq!(got, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn definitions_are_read_again_without_a_restart() {
    let mut fila = Setup::new().processes(DEFINITIONS).start().await;
    let body = json!({ "values": { "name": "New" }, "name": "LateComer" });
    let (code, _) = start_process(&fila, &body).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    fila.rewrite_processes(&format!(
        "{DEFINITIONS}\n[[process]]\nname = \"LateComer\"\nrunner = \"builtin\"\nbuiltin = \"FullName\"\n"
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let spid = loop {
        let (code, answer) = start_process(&fila, &body).await;
        if code == StatusCode::OK {
            break answer["robustaSpid"].as_str().expect("spid").to_string();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never defined: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    status_until(&fila, &spid, "SUCCEEDED", 30).await;
    fila.rewrite_processes("this is not TOML [");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (code, _) = start_process(&fila, &body).await;
    assert_eq!(
        code,
        StatusCode::OK,
        "a broken file keeps the definitions in force"
    );
}

#[tokio::test]
async fn a_worker_that_does_not_know_a_process_yet_hands_its_runs_back() {
    let mut fila = Setup::new().processes(DEFINITIONS).workers(0).start().await;
    let worker_file = fila.log_path("worker-processes.toml");
    let other = "[[process]]\nname = \"Other\"\nrunner = \"builtin\"\nbuiltin = \"Echo\"\n";
    std::fs::write(&worker_file, other).expect("worker definitions");
    let file = worker_file.display().to_string();
    fila.start_worker_with(&[
        ("PROCESSES_FILE", file.as_str()),
        ("WORKER_MAX_ATTEMPTS", "3"),
    ])
    .await;
    let spid = started(
        &fila,
        &json!({ "values": { "name": "Eve" }, "name": "FullName" }),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let runs = executions(&fila, job_id(&fila, &spid).await).await;
    assert_eq!(
        runs[0].status, "waiting",
        "the run was handed back: {runs:?}"
    );
    std::fs::write(&worker_file, DEFINITIONS).expect("worker definitions");
    let body = status_until(&fila, &spid, "SUCCEEDED", 30).await;
    assert_eq!(body["__out_fullName"], "Eve");

    std::fs::write(&worker_file, other).expect("worker definitions");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let spid = started(
        &fila,
        &json!({ "values": { "name": "Mallory" }, "name": "FullName" }),
    )
    .await;
    let body = status_until(&fila, &spid, "FAILED", 40).await;
    assert_eq!(
        body["message"], "process FullName is not defined",
        "the last attempt fails it"
    );
}

/// The listed schedule of `spid`.
async fn listed(fila: &Fila, spid: &str) -> Value {
    let (code, list) = send(fila.admin(Method::GET, "/admin/schedules")).await;
    assert_eq!(code, StatusCode::OK, "{list}");
    list["schedules"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s["uid"] == spid))
        .cloned()
        .expect("the schedule is listed")
}

fn first_fires(schedule: &Value, count: usize) -> Vec<&str> {
    schedule["nextFires"]
        .as_array()
        .expect("nextFires")
        .iter()
        .take(count)
        .filter_map(Value::as_str)
        .collect()
}

#[tokio::test]
async fn schedules_run_in_their_time_zone_across_daylight_saving() {
    let fila = Setup::new()
        .processes(DEFINITIONS)
        .workers(0)
        .env("PROCESS_TIME_ZONE", "America/Sao_Paulo")
        .start()
        .await;
    // Berlin springs forward on 2027-03-28 (02:00 becomes 03:00): the
    // daily 02:30 fire of that day is made at 03:00, once.
    let spring = started(
        &fila,
        &json!({ "values": { "name": "B" }, "name": "FullName", "quartzDef": "0 30 2 * * ?",
                 "timeZone": "Europe/Berlin", "startDate": "2027-03-26 12:00:00",
                 "endDate": "2027-11-30 00:00:00" }),
    )
    .await;
    let schedule = listed(&fila, &spring).await;
    assert_eq!(schedule["timeZone"], "Europe/Berlin");
    assert_eq!(schedule["nextFire"], "2027-03-27T01:30:00Z");
    assert_eq!(
        first_fires(&schedule, 3),
        [
            "2027-03-27T02:30:00+01:00",
            "2027-03-28T03:00:00+02:00",
            "2027-03-29T02:30:00+02:00",
        ]
    );
    let (_, answer) = status(&fila, &spring).await;
    assert_eq!(answer["status"], "WAITING");
    assert_eq!(
        answer["message"],
        "Your transaction is scheduled for 2027-03-27 02:30:00 (Europe/Berlin)."
    );
    // It falls back on 2027-10-31 (03:00 becomes 02:00): 02:30 happens
    // twice and fires once.
    let autumn = started(
        &fila,
        &json!({ "values": { "name": "B" }, "name": "FullName", "quartzDef": "0 30 2 * * ?",
                 "time zone": "Europe/Berlin", "startDate": "2027-10-30 12:00:00" }),
    )
    .await;
    assert_eq!(
        first_fires(&listed(&fila, &autumn).await, 3),
        [
            "2027-10-31T02:30:00+02:00",
            "2027-11-01T02:30:00+01:00",
            "2027-11-02T02:30:00+01:00",
        ]
    );
    // Without timeZone, the setting's zone: the dates are São Paulo's too.
    let default_zone = started(
        &fila,
        &json!({ "values": { "name": "S" }, "name": "FullName", "quartzDef": "0 0 9 * * ?",
                 "startDate": "2027-01-10 00:00:00", "endDate": "2027-01-11 09:00:00" }),
    )
    .await;
    let schedule = listed(&fila, &default_zone).await;
    assert_eq!(schedule["timeZone"], "America/Sao_Paulo");
    assert_eq!(schedule["nextFire"], "2027-01-10T12:00:00Z");
    assert_eq!(schedule["endsAt"], "2027-01-11T12:00:00Z");
    assert_eq!(
        first_fires(&schedule, 5),
        ["2027-01-10T09:00:00-03:00", "2027-01-11T09:00:00-03:00"],
        "the fires end with endDate"
    );
    let (code, body) = start_process(
        &fila,
        &json!({ "name": "FullName", "quartzDef": "0 0 9 * * ?", "timeZone": "Mars/Olympus" }),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("Mars/Olympus")),
        "{body}"
    );
}
