//! The OpenAPI description of the JSON endpoints, served at
//! `/openapi.json`, and schemathesis driving a deployment from it: no 5xx
//! but TAF's RESTFAULTs, and every answer as described (status, content
//! type, headers, body).

use std::time::Duration;

use fila_tests::fila::{ADMIN, send};
use fila_tests::{Fila, Setup};
use reqwest::{Method, StatusCode};

/// The processes the fuzzer may start: ones that finish at once and never
/// fail, so that a synchronous call answers well within its timeout.
const PROCESSES: &str = r#"
[[process]]
name = "FullName"
runner = "builtin"

[[process]]
name = "Echo"
runner = "builtin"
builtin = "Echo"
"#;

/// The whole run, examples to shrinking; it takes about a minute.
const RUN_LIMIT: Duration = Duration::from_secs(300);

fn fixture(name: &str) -> String {
    format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test]
async fn the_description_is_served_without_credentials() {
    let fila = Setup::new().workers(0).start().await;
    let response = fila
        .anonymous(Method::GET, "/openapi.json")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let (_, document) = send(fila.anonymous(Method::GET, "/openapi.json")).await;
    assert_eq!(document["openapi"], "3.0.3");
    assert!(document["paths"]["/rest/wstafst2"]["post"].is_object());
    assert!(document["paths"].get("/wsProcess/IwsProcess").is_none());
}

/// Rows stored by the run (in tables the run cannot empty): positive cases
/// got through authentication and validation, so the run tested more than
/// the refusals.
async fn stored(fila: &Fila, table: &str) -> i64 {
    fila.db()
        .await
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .expect("count")
        .get(0)
}

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_undescribed_answer() {
    let fila = Setup::new()
        .processes(PROCESSES)
        // The fuzzer logs in with made-up passwords: it must not lock
        // itself out.
        .env("LOGIN_MAX_FAILURES", 1_000_000)
        .start()
        .await;
    let python = std::env::var("E2E_PYTHON").unwrap_or_else(|_| "python3".into());
    let run = tokio::process::Command::new(&python)
        .args(["-m", "schemathesis.cli", "--config-file"])
        .arg(fixture("schemathesis.toml"))
        .arg("run")
        .arg(fila.url("/openapi.json"))
        .arg("--auth")
        .arg(format!("{}:{}", ADMIN.0, ADMIN.1))
        .arg("--no-color")
        .env("SCHEMATHESIS_HOOKS", fixture("schemathesis_hooks.py"))
        .current_dir(std::env::temp_dir())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(RUN_LIMIT, run)
        .await
        .unwrap_or_else(|_| panic!("schemathesis ran longer than {RUN_LIMIT:?}"))
        .unwrap_or_else(|e| panic!("{python}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "schemathesis found failures (run the tests through deploy/local/test.sh, which \
         installs it, or set E2E_PYTHON to a Python that has it):\n{stdout}\n{stderr}\n\
         API log:\n{}",
        fila.api_log()
    );
    println!("{stdout}");
    for table in ["taf_record", "eai_message", "process_job"] {
        assert!(
            stored(&fila, table).await > 0,
            "nothing in {table}:\n{stdout}"
        );
    }
    let (status, _) = send(fila.anonymous(Method::GET, "/readyz")).await;
    assert_eq!(status, StatusCode::OK, "fila is still ready");
}
