//! The `http` and `command` runners: outputs, progress, failures, retries,
//! timeouts, and a command stopped cleanly with its worker; a command's
//! environment; a run whose worker died is taken over; a run outliving its
//! broker channel.

use std::path::Path;
use std::time::Duration;

use fila_tests::destination::{Destination, Reply};
use fila_tests::fila::send;
use fila_tests::proxy::Proxy;
use fila_tests::runs::{executions, job_id, runner_script, wait_ended};
use fila_tests::{Fila, Setup};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Starts `name` through RunProcess without waiting; its job id.
async fn run(fila: &Fila, name: &str, parameters: Value) -> i64 {
    let values: Vec<Value> = parameters
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, value)| json!({ "name": name, "value": value }))
        .collect();
    let (status, body) = send(
        fila.request(
            Method::POST,
            "/0/ServiceModel/ProcessEngineService.svc/RunProcess",
        )
        .json(&json!({ "schemaName": name, "parameterValues": values })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    job_id(fila, body["processId"].as_str().expect("processId")).await
}

fn command(name: &str, args: &[&str], extra: &str) -> String {
    let args: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
    format!(
        "[[process]]\nname = \"{name}\"\nrunner = \"command\"\ncommand = \"{}\"\nargs = [{}]\n{extra}\n",
        runner_script(),
        args.join(", ")
    )
}

fn http(name: &str, url: &str, extra: &str) -> String {
    format!("[[process]]\nname = \"{name}\"\nrunner = \"http\"\nurl = \"{url}\"\n{extra}\n")
}

#[tokio::test]
async fn http_runner_posts_the_parameters_and_answers_the_outputs() {
    let destination =
        Destination::start(vec![Reply::Json(200, r#"{"total": 3, "ok": true}"#.into())]).await;
    let fila = Setup::new()
        .processes(&http("Totals", &destination.url, ""))
        .start()
        .await;
    let id = run(&fila, "Totals", json!({ "company": "01", "items": [1, 2] })).await;
    let runs = wait_ended(&fila, id, 1, 30).await;
    assert_eq!(runs[0].status, "succeeded", "{runs:?}");
    assert_eq!(runs[0].outputs, Some(json!({ "total": 3, "ok": true })));
    assert_eq!(
        destination.received(),
        vec![json!({ "company": "01", "items": [1, 2] })]
    );
}

#[tokio::test]
async fn http_runner_failures_are_retried_then_succeed() {
    let destination = Destination::start(vec![
        Reply::Json(503, r#"{"error": "busy"}"#.into()),
        Reply::Json(200, "[1]".into()),
        Reply::Json(200, r#"{"done": true}"#.into()),
    ])
    .await;
    let fila = Setup::new()
        .processes(&http("Flaky", &destination.url, "retry_count = 2"))
        .start()
        .await;
    let id = run(&fila, "Flaky", json!({})).await;
    let runs = wait_ended(&fila, id, 3, 60).await;
    let statuses: Vec<&str> = runs.iter().map(|r| r.status.as_str()).collect();
    assert_eq!(statuses, vec!["failed", "failed", "succeeded"], "{runs:?}");
    assert!(runs[0].message.contains("HTTP 503"), "{}", runs[0].message);
    assert!(
        runs[1].message.contains("did not answer a JSON object"),
        "{}",
        runs[1].message
    );
    assert_eq!(runs[2].outputs, Some(json!({ "done": true })));
}

#[tokio::test]
async fn http_runner_timeout_fails_the_run() {
    let destination =
        Destination::start(vec![Reply::Slow(Duration::from_secs(10), 200, "{}".into())]).await;
    let fila = Setup::new()
        .processes(&http("Slow", &destination.url, "timeout_secs = 1"))
        .start()
        .await;
    let id = run(&fila, "Slow", json!({})).await;
    let runs = wait_ended(&fila, id, 1, 30).await;
    assert_eq!(runs[0].status, "failed");
    assert!(
        runs[0].message.contains("timed out") || runs[0].message.contains("did not answer"),
        "{}",
        runs[0].message
    );
}

#[tokio::test]
async fn command_runner_outputs_progress_and_failures() {
    let definitions = [
        command("Echo", &["echo"], ""),
        command("Failing", &["fail"], ""),
        command("Garbage", &["garbage"], ""),
        "[[process]]\nname = \"Missing\"\nrunner = \"command\"\ncommand = \"/nonexistent/fila-runner\"\n".to_string(),
    ]
    .join("\n");
    let fila = Setup::new().processes(&definitions).start().await;
    let id = run(&fila, "Echo", json!({ "ledger": "main", "count": 2 })).await;
    let runs = wait_ended(&fila, id, 1, 30).await;
    assert_eq!(runs[0].status, "succeeded", "{runs:?}");
    assert_eq!(
        runs[0].outputs,
        Some(json!({ "input": { "ledger": "main", "count": 2 } }))
    );
    assert_eq!(runs[0].progress, 50);

    let id = run(&fila, "Failing", json!({})).await;
    let runs = wait_ended(&fila, id, 1, 30).await;
    assert_eq!(runs[0].status, "failed");
    assert!(
        runs[0].message.contains("exit status: 3"),
        "{}",
        runs[0].message
    );
    assert!(
        runs[0]
            .message
            .ends_with("first line of the failure\nthe ledger is locked"),
        "{}",
        runs[0].message
    );

    let id = run(&fila, "Garbage", json!({})).await;
    let runs = wait_ended(&fila, id, 1, 30).await;
    assert!(
        runs[0].message.contains("did not write a JSON object"),
        "{}",
        runs[0].message
    );

    let id = run(&fila, "Missing", json!({})).await;
    let runs = wait_ended(&fila, id, 1, 30).await;
    assert!(
        runs[0].message.contains("could not start"),
        "{}",
        runs[0].message
    );
}

/// The names and values of an `env` listing.
fn variables(listing: &str) -> std::collections::HashMap<&str, &str> {
    listing
        .lines()
        .filter_map(|line| line.split_once('='))
        .collect()
}

#[tokio::test]
async fn a_command_gets_only_the_variables_the_allow_list_names() {
    let dir = std::env::temp_dir().join(format!("fila-env-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let definitions = command("Env", &["env", &dir.display().to_string()], "");
    let fila = Setup::new()
        .processes(&definitions)
        .env("PROCESS_COMMAND_ENV", r#"["PATH", "LEDGER_REGION"]"#)
        .environment("LEDGER_REGION", "south")
        .environment("LEDGER_TOKEN", "not-for-commands")
        .start()
        .await;
    let worker = fila.running_workers().next().expect("a worker").pid();
    let worker_env = std::fs::read(format!("/proc/{worker}/environ")).expect("worker environ");
    let worker_env = String::from_utf8_lossy(&worker_env).replace('\0', "\n");
    let worker_env = variables(&worker_env);
    for held in ["FILA_DATABASE_URL", "FILA_AMQP_URL", "LEDGER_TOKEN", "PATH"] {
        assert!(worker_env.contains_key(held), "the worker has {held}");
    }

    let id = run(&fila, "Env", json!({})).await;
    let runs = wait_ended(&fila, id, 1, 30).await;
    assert_eq!(runs[0].status, "succeeded", "{runs:?}");
    let listing = std::fs::read_to_string(dir.join("env")).expect("the command's environment");
    let seen = variables(&listing);
    assert_eq!(seen.get("PATH"), worker_env.get("PATH"), "{listing}");
    assert_eq!(seen.get("LEDGER_REGION"), Some(&"south"), "{listing}");
    for name in seen.keys() {
        assert!(!name.starts_with("FILA_"), "{name} reached the command");
    }
    assert!(!seen.contains_key("LEDGER_TOKEN"), "{listing}");
    assert!(!listing.contains(worker_env["FILA_AMQP_URL"]), "{listing}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Whether a process runs (not a zombie).
fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).is_ok_and(|stat| {
        stat.split_whitespace()
            .nth(2)
            .is_none_or(|state| state != "Z")
    })
}

async fn wait_for_file(path: &Path, seconds: u64) -> bool {
    fila_tests::eventually(seconds, || async { path.exists() }).await
}

#[tokio::test]
async fn a_command_that_outlives_its_timeout_is_terminated_with_its_children() {
    let dir = std::env::temp_dir().join(format!("fila-hang-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let definitions = command(
        "Hang",
        &["hang", &dir.display().to_string()],
        "timeout_secs = 1",
    );
    let fila = Setup::new().processes(&definitions).start().await;
    let id = run(&fila, "Hang", json!({})).await;
    let runs = wait_ended(&fila, id, 1, 30).await;
    assert_eq!(runs[0].status, "failed");
    assert_eq!(runs[0].message, "timed out after 1 s");
    assert!(
        wait_for_file(&dir.join("terminated"), 10).await,
        "the command got SIGTERM"
    );
    let child = std::fs::read_to_string(dir.join("child")).expect("child pid");
    assert!(
        fila_tests::eventually(10, || async { !alive(&child) }).await,
        "its child is gone"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_stopping_worker_terminates_its_commands() {
    let dir = std::env::temp_dir().join(format!("fila-stop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let definitions = command(
        "Hang",
        &["hang", &dir.display().to_string()],
        "timeout_secs = 120",
    );
    let mut fila = Setup::new()
        .processes(&definitions)
        .env("WORKER_SHUTDOWN_GRACE_SECS", 1)
        .start()
        .await;
    run(&fila, "Hang", json!({})).await;
    assert!(
        wait_for_file(&dir.join("child"), 30).await,
        "the command started"
    );
    let pid = std::fs::read_to_string(dir.join("pid")).expect("pid");
    fila.worker(0).terminate();
    assert!(
        fila.worker(0).wait_exit(20).await.is_some(),
        "the worker stopped"
    );
    assert!(
        wait_for_file(&dir.join("terminated"), 10).await,
        "the command got SIGTERM"
    );
    assert!(fila_tests::eventually(10, || async { !alive(&pid) }).await);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_run_whose_worker_died_is_taken_over() {
    let fila_definitions =
        "[[process]]\nname = \"Sleep\"\nrunner = \"builtin\"\ntimeout_secs = 2\n";
    let mut fila = Setup::new().processes(fila_definitions).start().await;
    let id = run(&fila, "Sleep", json!({ "seconds": 1.5 })).await;
    let started = fila_tests::eventually(30, || async {
        executions(&fila, id)
            .await
            .first()
            .is_some_and(|e| e.status == "running")
    })
    .await;
    assert!(started);
    fila.kill_worker(0);
    fila.start_worker().await;
    let runs = wait_ended(&fila, id, 1, 60).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].status, "succeeded");
    assert_eq!(runs[0].worker.as_deref(), Some("worker-1"));
}

/// RabbitMQ closes a channel that holds a delivery unacknowledged for longer
/// than its `consumer_timeout` (30 min by default, checked once a minute),
/// returning every delivery of the channel to the queue. A run acknowledges
/// its message once claimed, so losing the channel (here, the whole broker
/// connection, cut mid-run) neither stops it nor runs it again.
#[tokio::test]
async fn a_run_outliving_its_broker_channel_completes_once() {
    let proxy = Proxy::start("127.0.0.1:5672".parse().expect("addr")).await;
    let dir = std::env::temp_dir().join(format!("fila-long-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let definitions = command(
        "Long",
        &["long", &dir.display().to_string(), "6"],
        "timeout_secs = 120",
    );
    let proxied = format!("amqp://guest:guest@127.0.0.1:{}/%2f", proxy.port);
    let mut fila = Setup::new()
        .processes(&definitions)
        .env("AMQP_URL", &proxied)
        .start()
        .await;
    let id = run(&fila, "Long", json!({})).await;
    assert!(
        wait_for_file(&dir.join("starts"), 30).await,
        "the run started"
    );
    proxy.cut();
    let reconnecting = fila
        .worker(0)
        .wait_for_line("consumer interrupted", 30)
        .await;
    assert!(reconnecting.is_some(), "the worker lost its channel");
    proxy.restore().await;

    let runs = wait_ended(&fila, id, 1, 60).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].status, "succeeded", "{runs:?}");
    assert_eq!(runs[0].outputs, Some(json!({ "slept": 6 })));
    let starts = std::fs::read_to_string(dir.join("starts")).expect("starts");
    assert_eq!(starts.lines().count(), 1, "the command ran once");
    let log = fila.worker(0).log_text();
    assert!(!log.contains("runs on another worker"), "no redelivery");
    let _ = std::fs::remove_dir_all(&dir);
}
