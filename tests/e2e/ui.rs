//! The web dashboard at `/ui`: served to readers only, and driven in a
//! real headless Chromium by `tests/ui/dashboard.mjs` (an admin sees a
//! lot reach 100%, EAI lots and process jobs, replays a dead letter,
//! pauses the EAI queue while work flows in, lists the errors of one code
//! of the last hour and retries one, and a reader sees it read-only; the
//! screenshot is kept at `target/ui/dashboard.png`). `deploy/local/test-browser.sh` installs
//! Chromium and the script's dependencies; `deploy/local/test.sh` runs it
//! and sets `E2E_BROWSER=1`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use fila_tests::eai::{message, message_with};
use fila_tests::fila::{ADMIN, READER, send};
use fila_tests::runs::DEFINITIONS;
use fila_tests::taf::{POISON, admissao_xml, b64, item_with, items, lot};
use fila_tests::{Fila, Setup, eventually};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Every step of the script waits a minute at most.
const BROWSER_RUN: Duration = Duration::from_secs(240);
/// Lots and EAI messages sent while the browser watches, one of each
/// every [`LOAD_EVERY`]: the charts have something to draw.
const LOAD_ROUNDS: usize = 12;
const LOAD_EVERY: Duration = Duration::from_millis(1500);
const CHROMIUM: &str = "/usr/bin/chromium";

fn header<'r>(response: &'r reqwest::Response, name: &str) -> Option<&'r str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn the_dashboard_is_served_to_readers_with_its_files_only() {
    let fila = Setup::new().workers(0).start().await;
    let page = fila
        .reader(Method::GET, "/ui")
        .send()
        .await
        .expect("request");
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(
        header(&page, "content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(header(&page, "cache-control"), Some("no-cache"));
    assert!(page.text().await.expect("body").contains("/ui/app.js"));
    for (asset, content_type) in [
        ("app.js", "text/javascript; charset=utf-8"),
        ("app.css", "text/css; charset=utf-8"),
    ] {
        let response = fila
            .reader(Method::GET, &format!("/ui/{asset}"))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::OK, "{asset}");
        assert_eq!(header(&response, "content-type"), Some(content_type));
    }
    let (status, _) = send(fila.reader(Method::GET, "/ui/config.toml")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let anonymous = fila
        .anonymous(Method::GET, "/ui")
        .send()
        .await
        .expect("request");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert!(
        header(&anonymous, "www-authenticate").is_some_and(|v| v.starts_with("Basic")),
        "the browser asks for a login"
    );
    let (status, _) = send(fila.reader(Method::POST, "/admin/dead-letters/1/replay")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the page's admin actions");
}

/// Chromium and the script's `node_modules`, or a failure that says how
/// to get them: the test never passes by skipping.
fn browser_ready(ui: &Path) {
    let installed =
        Path::new(CHROMIUM).exists() && ui.join("node_modules/playwright-core").is_dir();
    assert!(
        std::env::var("E2E_BROWSER").is_ok_and(|v| v == "1") || installed,
        "the dashboard's browser test needs {CHROMIUM}, Node.js and tests/ui/node_modules: \
         run deploy/local/test-browser.sh, then the tests with E2E_BROWSER=1 \
         (deploy/local/test.sh does both)"
    );
}

/// An EAI lot of `size` messages; with `failing`, its last one has no
/// InternalId and ends in error.
fn eai_lot(name: &str, size: usize, failing: bool) -> Value {
    let messages: Vec<Value> = (0..size)
        .map(|n| {
            let uuid = format!("{name}-{n}");
            let id = format!("{name}-C{n}");
            if failing && n + 1 == size {
                message_with(&uuid, "CUSTOMERVENDOR", &id, |m| {
                    m["Content"]
                        .as_object_mut()
                        .expect("content")
                        .remove("InternalId");
                })
            } else {
                message(&uuid, "CUSTOMERVENDOR", &id)
            }
        })
        .collect();
    Value::Array(messages)
}

/// Sends [`LOAD_ROUNDS`] TAF lots and EAI lots, then idles.
async fn load(fila: &Fila) {
    for round in 0..LOAD_ROUNDS {
        fila.post_lot(&lot(&format!("T-LOAD-{round:02}"), items("LOAD", 200)))
            .await;
        let eai = eai_lot(&format!("LOAD-{round:02}"), 1 + round % 4, round % 3 == 0);
        let (status, body) = fila.post_eai(&eai).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        tokio::time::sleep(LOAD_EVERY).await;
    }
    std::future::pending().await
}

/// Starts a process through the scheduler API.
async fn start_process(fila: &Fila, body: Value) {
    let (status, answer) = fila.start_robusta(&body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

async fn dead_letters(fila: &Fila) -> Vec<Value> {
    let (status, body) = send(fila.admin(Method::GET, "/admin/dead-letters")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["deadLetters"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn an_admin_follows_a_lot_to_100_percent_and_replays_a_dead_letter_in_a_browser() {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ui = tests.join("ui");
    browser_ready(&ui);
    let screenshot: PathBuf = tests
        .parent()
        .expect("the workspace")
        .join("target/ui/dashboard.png");
    let _ = std::fs::remove_file(&screenshot);

    let fila = Setup::new()
        .env("WORKER_MAX_ATTEMPTS", 1)
        .env("AMQP_MANAGEMENT_URL", "http://127.0.0.1:15672")
        .processes(DEFINITIONS)
        .start()
        .await;
    let db = fila.db().await;
    db.batch_execute(POISON).await.expect("trigger");
    // Two dead letters, oldest first: the browser replays T-POISON's, and
    // T-STUCK's stays in the screenshot.
    fila.post_lot(&lot("T-POISON", items("POISON", 2))).await;
    assert!(eventually(60, || async { dead_letters(&fila).await.len() == 1 }).await);
    fila.post_lot(&lot("T-STUCK", items("POISON-STUCK", 1)))
        .await;
    assert!(eventually(60, || async { dead_letters(&fila).await.len() == 2 }).await);
    db.batch_execute("DROP TRIGGER poison ON taf_record")
        .await
        .expect("cure");
    let mut lot_items = items("UI", 57);
    for key in ["UI-WRONG-1", "UI-WRONG-2", "UI-WRONG-3"] {
        lot_items.push(item_with(
            key,
            json!({ "integrationMessage": b64(&admissao_xml()) }),
        ));
    }
    fila.post_lot(&lot("T-UI", lot_items)).await;
    let (status, body) = fila.post_eai(&eai_lot("UI-LOT", 5, true)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let name = json!({ "name": "Ana", "surname": "Lima" });
    start_process(&fila, json!({ "name": "FullName", "values": name })).await;
    start_process(
        &fila,
        json!({ "name": "Fail", "values": { "message": "ledger closed" }, "retryCount": 0 }),
    )
    .await;
    start_process(
        &fila,
        json!({ "name": "FullName", "values": name, "quartzDef": "0 0 6 ? * MON", "runImmediately": "N" }),
    )
    .await;
    start_process(
        &fila,
        json!({ "name": "Sleep", "values": { "seconds": 25 } }),
    )
    .await;

    let run = tokio::process::Command::new("node")
        .arg(ui.join("dashboard.mjs"))
        .arg(&fila.base_url)
        .arg("T-UI")
        .arg(&screenshot)
        .env("FILA_UI_ADMIN", format!("{}:{}", ADMIN.0, ADMIN.1))
        .env("FILA_UI_READER", format!("{}:{}", READER.0, READER.1))
        .kill_on_drop(true)
        .output();
    let output = tokio::select! {
        output = tokio::time::timeout(BROWSER_RUN, run) => output,
        () = load(&fila) => unreachable!("the load idles once sent"),
    }
    .expect("the browser run ends in time")
    .expect("node runs: is Node.js installed?");
    assert!(
        output.status.success(),
        "dashboard.mjs failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        std::fs::metadata(&screenshot).is_ok_and(|m| m.len() > 10_000),
        "a screenshot at {}",
        screenshot.display()
    );
    // The replay the browser asked for went through: the cured records
    // are processed.
    assert!(fila.wait_finished("T-POISON", 2, 30).await);
    assert_eq!(fila.taf_counts("T-POISON").await.get("processed"), Some(&2));
    let left = dead_letters(&fila).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(fila.taf_counts("T-STUCK").await.get("pending"), Some(&1));
    // The record the browser retried ends in error again (its XML is
    // still wrong).
    assert!(
        eventually(30, || async {
            fila.taf_counts("T-UI").await.get("error") == Some(&3)
        })
        .await
    );
    let (status, queues) = send(fila.admin(Method::GET, "/admin/queues")).await;
    assert_eq!(status, StatusCode::OK, "{queues}");
    let eai = queues["queues"]
        .as_array()
        .and_then(|q| q.iter().find(|q| q["queue"] == "eai"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (&eai["paused"], &eai["pausedBy"]),
        (&json!(true), &json!(ADMIN.0)),
        "the browser paused it: {queues}"
    );
}
