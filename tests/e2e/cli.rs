//! The `fila` command line against a deployment: TAF lots followed to the
//! end with their progress and errors by code, status paging, EAI lots,
//! process runs, schedules, dead letters, password hashes, settings from
//! flags, environment and config file, and its errors and exit codes.

use fila_tests::cli::{FilaCli, Output};
use fila_tests::eai::{message, message_with};
use fila_tests::fila::READER;
use fila_tests::runs::DEFINITIONS;
use fila_tests::taf::{POISON, SEED_LOT, admissao_xml, b64, item, item_with, items, lot};
use fila_tests::{Fila, Setup, eventually};
use reqwest::Method;
use serde_json::{Value, json};

/// Writes a file in the deployment's directory; its path.
fn file(fila: &Fila, name: &str, content: &str) -> String {
    let path = fila.log_path(name);
    std::fs::write(&path, content).expect("file");
    path.display().to_string()
}

fn assert_exit(output: &Output, code: i32) {
    assert_eq!(
        output.code, code,
        "exit code\nstdout:\n{}\nstderr:\n{}",
        output.stdout, output.stderr
    );
}

/// The lines of `text` whose cells (split on blanks) start with `cells`.
fn rows_starting(text: &str, cells: &[&str]) -> usize {
    text.lines()
        .filter(|line| {
            let found: Vec<&str> = line.split_whitespace().collect();
            found.len() >= cells.len() && found[..cells.len()] == *cells
        })
        .count()
}

#[tokio::test]
async fn the_seed_lot_is_sent_and_followed_to_the_end() {
    let fila = Fila::start().await;
    let path = file(&fila, "seed.json", SEED_LOT);
    let output = FilaCli::producer(&fila)
        .args(&["taf", "send", &path, "--wait"])
        .run()
        .await;
    assert_exit(&output, 0);
    let ticket = "WIO9753123654789789363655241452363";
    assert!(
        output.stdout.contains(&format!(
            "seed.json: ticket {ticket}: 2 accepted, 0 refused"
        )),
        "{}",
        output.stdout
    );
    assert!(
        output.stdout.contains(&format!(
            "ticket {ticket}: 2 records: 2 processed, 0 in error"
        )),
        "{}",
        output.stdout
    );
    // stderr is not a terminal: plain progress lines, ending with the end.
    assert!(
        output
            .stderr
            .trim_end()
            .ends_with(&format!("ticket {ticket}: 2/2 finished, 0 errors")),
        "{}",
        output.stderr
    );
    assert_eq!(fila.taf_counts(ticket).await.get("processed"), Some(&2));
}

/// A file of `docs/examples/`.
fn example(name: &str) -> String {
    format!("{}/../docs/examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test]
async fn the_examples_of_the_docs_work_as_described() {
    let fila = Fila::start().await;
    let output = FilaCli::producer(&fila)
        .args(&[
            "taf",
            "send",
            &example("taf-lot-with-an-error.json"),
            "--wait",
        ])
        .run()
        .await;
    assert_exit(&output, 1);
    assert!(
        output
            .stdout
            .contains("ticket EXAMPLE-LOT-0001: 4 records: 3 processed, 1 in error"),
        "{}",
        output.stdout
    );
    assert_eq!(
        rows_starting(&output.stdout, &["000002", "1", "Evento"]),
        1,
        "{}",
        output.stdout
    );
    let output = FilaCli::producer(&fila)
        .args(&[
            "eai",
            "send",
            &example("eai-customers.json"),
            "--batch-type",
            "businessTransaction",
            "--wait",
        ])
        .run()
        .await;
    assert_exit(&output, 0);
    assert!(
        output
            .stdout
            .contains(": processed: 2 messages, 2 OK, 0 ERROR"),
        "{}",
        output.stdout
    );
}

/// Parses a plain progress line `ticket <t>: <n>/<total> finished, <e> errors`.
fn progress_line(line: &str, ticket: &str) -> Option<(u64, u64, u64)> {
    let rest = line.strip_prefix(&format!("ticket {ticket}: "))?;
    let (done, rest) = rest.split_once('/')?;
    let (total, rest) = rest.split_once(" finished, ")?;
    let errors = rest.strip_suffix(" errors")?;
    Some((
        done.parse().ok()?,
        total.parse().ok()?,
        errors.parse().ok()?,
    ))
}

#[tokio::test]
async fn send_wait_shows_progress_then_the_errors_by_code() {
    let mut fila = Setup::new().workers(0).start().await;
    let mut lot_items = items("CLI", 56);
    lot_items.push(item_with(
        "MISMATCH-1",
        json!({ "integrationMessage": b64(&admissao_xml()) }),
    ));
    lot_items.push(item_with(
        "MISMATCH-2",
        json!({ "integrationMessage": b64(&admissao_xml()) }),
    ));
    lot_items.push(item_with(
        "BROKEN",
        json!({ "integrationMessage": b64("<eSocial><evtTabRubrica></eSocial>") }),
    ));
    lot_items.push(item_with("BADTYPE", json!({ "registryType": "S-9999" })));
    let path = file(&fila, "lot.json", &lot("T-CLI-WAIT", lot_items).to_string());

    // Without a worker nothing finishes: --timeout gives up.
    let late = file(
        &fila,
        "late.json",
        &lot("T-LATE", vec![item("LATE")]).to_string(),
    );
    let output = FilaCli::producer(&fila)
        .args(&[
            "taf",
            "send",
            &late,
            "--wait",
            "--timeout",
            "2",
            "--progress",
            "plain",
        ])
        .run()
        .await;
    assert_exit(&output, 8);
    assert!(
        output
            .stderr
            .contains("fila: gave up after 2 s: records of ticket T-LATE"),
        "{}",
        output.stderr
    );
    assert!(
        output
            .stderr
            .contains("ticket T-LATE: 0/1 finished, 0 errors")
    );

    let running = FilaCli::producer(&fila)
        .args(&["taf", "send", &path, "--wait", "--progress", "plain"])
        .spawn();
    assert!(
        running
            .wait_for_stderr("ticket T-CLI-WAIT: 0/59 finished, 0 errors", 30)
            .await,
        "{}",
        running.stderr()
    );
    fila.start_worker().await;
    let output = running.finish(90).await;
    assert_exit(&output, 1);

    let lines: Vec<&str> = output.stderr.lines().collect();
    let (last, progress) = lines.split_last().expect("lines");
    assert_eq!(
        *last,
        "fila: 1 items refused; 3 records of ticket T-CLI-WAIT in error"
    );
    let figures: Vec<(u64, u64, u64)> = progress
        .iter()
        .map(|line| progress_line(line, "T-CLI-WAIT").unwrap_or_else(|| panic!("{line}")))
        .collect();
    assert_eq!(figures.first(), Some(&(0, 59, 0)));
    assert_eq!(figures.last(), Some(&(59, 59, 3)));
    assert!(
        figures.windows(2).all(|w| w[0].0 <= w[1].0),
        "progress never goes back: {figures:?}"
    );

    let out = &output.stdout;
    assert!(
        out.contains("lot.json: ticket T-CLI-WAIT: 59 accepted, 1 refused"),
        "{out}"
    );
    assert_eq!(rows_starting(out, &["BADTYPE", "804"]), 1, "{out}");
    assert!(
        out.contains("ticket T-CLI-WAIT: 59 records: 56 processed, 3 in error"),
        "{out}"
    );
    assert_eq!(
        rows_starting(out, &["CODE", "COUNT", "FIRST", "MESSAGE"]),
        1
    );
    assert_eq!(
        rows_starting(out, &["000001", "1", "XML", "invalido:"]),
        1,
        "{out}"
    );
    assert_eq!(
        rows_starting(out, &["000002", "2", "Evento", "do", "XML", "difere"]),
        1,
        "{out}"
    );
    assert!(out.contains("O registryType S-1010 espera o evento evtTabRubrica"));
}

#[tokio::test]
async fn status_pages_through_the_whole_ticket() {
    let fila = Setup::new().env("TAF_PAGE_MAX_ITEMS", 7).start().await;
    // RecNos of another ticket in between: pages skip them.
    fila.post_lot(&lot("T-PAGES", items("PAGE-A", 15))).await;
    fila.post_lot(&lot("T-OTHER", items("OTHER", 5))).await;
    fila.post_lot(&lot("T-PAGES", items("PAGE-B", 15))).await;
    assert!(fila.wait_finished("T-PAGES", 30, 60).await);

    let gets = || async {
        let metrics = fila.metrics_text().await;
        metrics
            .lines()
            .find(|l| {
                l.starts_with(
                    r#"fila_http_requests_total{route="/rest/wstafst2",method="GET",status="200"}"#,
                )
            })
            .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let before = gets().await;
    let output = FilaCli::as_user(&fila, READER.0, READER.1)
        .args(&["taf", "status", "--ticket", "T-PAGES", "--json"])
        .run()
        .await;
    assert_exit(&output, 0);
    assert_eq!(gets().await - before, 5, "30 items in pages of 7");
    let document: Value = serde_json::from_str(&output.stdout).expect("one JSON document");
    assert_eq!(document["type"], "ticketCode");
    assert_eq!(document["code"], "T-PAGES");
    assert_eq!(document["lastRecNo"], document["maxRecNo"]);
    let keys: Vec<&str> = document["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["registryKey"].as_str().expect("registryKey"))
        .collect();
    let expected: Vec<String> = (0..15)
        .map(|i| format!("PAGE-A-{i:05}"))
        .chain((0..15).map(|i| format!("PAGE-B-{i:05}")))
        .collect();
    assert_eq!(keys, expected);
    assert!(
        document["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|i| i["proccessed"] == true)
    );

    let output = FilaCli::producer(&fila)
        .args(&["taf", "status", "--ticket", "T-PAGES"])
        .run()
        .await;
    assert_exit(&output, 0);
    assert_eq!(
        rows_starting(&output.stdout, &["PAGE-B-00014", "processed"]),
        1,
        "{}",
        output.stdout
    );
    assert_eq!(output.stdout.lines().count(), 1 + 30 + 1);
    assert!(
        output
            .stdout
            .ends_with("ticketCode T-PAGES: 30 records: 30 processed, 0 in error\n")
    );
}

#[tokio::test]
async fn eai_lots_are_sent_and_followed() {
    let fila = Fila::start().await;
    let simple = json!([
        message("B-1", "CUSTOMERVENDOR", "K1"),
        message_with("B-2", "CUSTOMERVENDOR", "K2", |m| {
            m["Content"]
                .as_object_mut()
                .expect("content")
                .remove("InternalId");
        }),
        message("B-3", "CUSTOMERVENDOR", "K3"),
    ]);
    let path = file(&fila, "simple.json", &simple.to_string());
    let output = FilaCli::producer(&fila)
        .args(&[
            "eai",
            "send",
            &path,
            "--batch-type",
            "simpleBatch",
            "--batch-uuid",
            "LOT-CLI",
            "--wait",
            "--progress",
            "plain",
        ])
        .run()
        .await;
    assert_exit(&output, 1);
    let out = &output.stdout;
    assert!(
        out.contains("lot LOT-CLI (simpleBatch): 3 accepted, 0 refused, 0 duplicates"),
        "{out}"
    );
    assert!(
        out.contains("lot LOT-CLI: processed: 3 messages, 2 OK, 1 ERROR"),
        "{out}"
    );
    assert_eq!(rows_starting(out, &["B-2", "EAI-202"]), 1, "{out}");
    assert!(
        output
            .stderr
            .contains("lot LOT-CLI: 3/3 finished, 1 errors"),
        "{}",
        output.stderr
    );
    assert!(
        output
            .stderr
            .ends_with("fila: 1 messages of lot LOT-CLI in ERROR\n")
    );

    let business = json!({ "Items": [
        message("C-1", "CUSTOMERVENDOR", "K4"),
        message("C-2", "CUSTOMERVENDOR", "K5"),
        message("B-1", "CUSTOMERVENDOR", "K1"),
    ]});
    let path = file(&fila, "business.json", &business.to_string());
    let output = FilaCli::producer(&fila)
        .args(&[
            "eai",
            "send",
            &path,
            "--batch-type",
            "businessTransaction",
            "--wait",
        ])
        .run()
        .await;
    // B-1 was received before: a business lot that repeats messages is refused whole.
    assert_exit(&output, 6);
    assert!(
        output.stderr.contains("HTTP 400 Bad Request: EAI-014"),
        "{}",
        output.stderr
    );

    let business = json!([
        message("C-1", "CUSTOMERVENDOR", "K4"),
        message("C-2", "CUSTOMERVENDOR", "K5"),
    ]);
    let path = file(&fila, "business.json", &business.to_string());
    let output = FilaCli::producer(&fila)
        .args(&[
            "eai",
            "send",
            &path,
            "--batch-type",
            "businessTransaction",
            "--batch-uuid",
            "LOT-BT-CLI",
            "--wait",
        ])
        .run()
        .await;
    assert_exit(&output, 0);
    assert!(
        output
            .stdout
            .contains("lot LOT-BT-CLI: processed: 2 messages, 2 OK, 0 ERROR"),
        "{}",
        output.stdout
    );
    let (status, _) = fila_tests::fila::send(fila.request(
        Method::GET,
        "/totvseai/standardmessage/v1/contents/CUSTOMERVENDOR/K5",
    ))
    .await;
    assert_eq!(status, reqwest::StatusCode::OK);
}

/// The job id of `job <id>: Process saved`.
fn job_id(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("job ")?.strip_suffix(": Process saved"))
        .unwrap_or_else(|| panic!("no job id in {stdout}"))
        .to_string()
}

#[tokio::test]
async fn processes_run_to_their_end_and_report_it() {
    let fila = Setup::new().processes(DEFINITIONS).start().await;
    let output = FilaCli::producer(&fila)
        .args(&[
            "process",
            "run",
            "FullName",
            "name=John",
            "surname=Johanson",
            "--wait",
        ])
        .run()
        .await;
    assert_exit(&output, 0);
    let job = job_id(&output.stdout);
    assert!(
        output.stdout.contains(&format!(
            "job {job}: SUCCEEDED: Your transaction has ended."
        )),
        "{}",
        output.stdout
    );
    assert_eq!(
        rows_starting(&output.stdout, &["fullName", "John", "Johanson"]),
        1
    );
    assert!(
        output.stderr.contains(&format!("job {job}: SUCCEEDED")),
        "{}",
        output.stderr
    );

    let output = FilaCli::as_user(&fila, READER.0, READER.1)
        .args(&["process", "status", &job])
        .run()
        .await;
    assert_exit(&output, 0);
    assert!(output.stdout.starts_with(&format!("job {job}: SUCCEEDED")));
    let output = FilaCli::producer(&fila)
        .args(&["process", "status", &job, "--json"])
        .run()
        .await;
    let answer: Value = serde_json::from_str(&output.stdout).expect("JSON");
    assert_eq!(answer["__out_fullName"], "John Johanson");

    let output = FilaCli::producer(&fila)
        .args(&[
            "process",
            "run",
            "UsrAddNewExternalContact",
            "ContactName=Ann",
            "Age:=42",
            "--wait",
        ])
        .run()
        .await;
    assert_exit(&output, 0);
    assert_eq!(
        rows_starting(&output.stdout, &["Age", "42"]),
        1,
        "{}",
        output.stdout
    );

    let output = FilaCli::producer(&fila)
        .args(&["process", "run", "Fail", "message=disk full", "--wait"])
        .run()
        .await;
    assert_exit(&output, 1);
    assert!(
        output.stdout.contains(": FAILED: disk full"),
        "{}",
        output.stdout
    );
    assert!(
        output.stderr.ends_with(" failed: disk full\n"),
        "{:?}",
        output.stderr
    );

    let output = FilaCli::producer(&fila)
        .args(&["process", "run", "NoSuchProcess", "x=1"])
        .run()
        .await;
    assert_exit(&output, 6);
    assert!(
        output
            .stderr
            .contains("/scheduler/connector-api/process/start: HTTP 404 Not Found: "),
        "{}",
        output.stderr
    );
    assert!(output.stderr.contains("NoSuchProcess"), "{}", output.stderr);

    let output = FilaCli::producer(&fila)
        .args(&["process", "status", "no-such-job"])
        .run()
        .await;
    assert_exit(&output, 6);
    assert!(
        output
            .stderr
            .contains("No process has robustaSpid no-such-job")
    );
}

#[tokio::test]
async fn schedules_are_listed_paused_resumed_and_deleted() {
    let fila = Setup::new().processes(DEFINITIONS).start().await;
    let output = FilaCli::producer(&fila)
        .args(&[
            "process",
            "run",
            "FullName",
            "name=A",
            "surname=B",
            "--cron",
            "0 0 6 ? * MON",
        ])
        .run()
        .await;
    assert_exit(&output, 0);
    let uid = job_id(&output.stdout);

    let list = |state: Option<&'static str>| {
        let mut args = vec!["schedule", "list"];
        args.extend(state.map(|s| ["--state", s]).into_iter().flatten());
        FilaCli::admin(&fila).args(&args).run()
    };
    let output = list(None).await;
    assert_exit(&output, 0);
    assert_eq!(
        rows_starting(
            &output.stdout,
            &[&uid, "FullName", "0", "0", "6", "?", "*", "MON", "active"]
        ),
        1,
        "{}",
        output.stdout
    );

    let output = FilaCli::admin(&fila)
        .args(&["schedule", "pause", &uid])
        .run()
        .await;
    assert_exit(&output, 0);
    assert!(
        output
            .stdout
            .starts_with(&format!("schedule {uid}: paused"))
    );
    assert!(list(Some("paused")).await.stdout.contains(&uid));
    assert!(!list(Some("active")).await.stdout.contains(&uid));

    let output = FilaCli::admin(&fila)
        .args(&["schedule", "resume", &uid])
        .run()
        .await;
    assert_exit(&output, 0);
    assert!(
        output
            .stdout
            .starts_with(&format!("schedule {uid}: active, next fire 20"))
    );

    let output = FilaCli::admin(&fila)
        .args(&["schedule", "delete", &uid])
        .run()
        .await;
    assert_exit(&output, 0);
    assert_eq!(output.stdout, format!("schedule {uid}: deleted\n"));
    assert!(list(Some("ended")).await.stdout.contains(&uid));
    assert!(!list(Some("active")).await.stdout.contains(&uid));

    let output = FilaCli::admin(&fila)
        .args(&["schedule", "pause", &uid])
        .run()
        .await;
    assert_exit(&output, 6);
    assert!(
        output
            .stderr
            .contains("HTTP 404 Not Found: no active or paused schedule has uid")
    );

    // A producer may not call /admin.
    let output = FilaCli::producer(&fila)
        .args(&["schedule", "list"])
        .run()
        .await;
    assert_exit(&output, 5);
    assert!(
        output.stderr.contains("HTTP 403 Forbidden"),
        "{}",
        output.stderr
    );
}

#[tokio::test]
async fn dead_letters_are_listed_and_replayed() {
    let fila = Setup::new().env("WORKER_MAX_ATTEMPTS", 1).start().await;
    let db = fila.db().await;
    db.batch_execute(POISON).await.expect("trigger");
    for ticket in ["T-DL-1", "T-DL-2", "T-DL-3"] {
        fila.post_lot(&lot(ticket, items(&format!("POISON-{ticket}"), 2)))
            .await;
    }
    let count = || async {
        let output = FilaCli::admin(&fila)
            .args(&["dlq", "list", "--json"])
            .run()
            .await;
        serde_json::from_str::<Value>(&output.stdout)
            .map_or(0, |v| v["deadLetters"].as_array().map_or(0, Vec::len))
    };
    assert!(eventually(60, || async { count().await == 3 }).await);

    let output = FilaCli::admin(&fila)
        .args(&["dlq", "list", "--queue", "taf"])
        .run()
        .await;
    assert_exit(&output, 0);
    let ids: Vec<String> = output
        .stdout
        .lines()
        .skip(1)
        .filter(|l| l.contains("taf.records.v1"))
        .map(|l| l.split_whitespace().next().expect("id").to_string())
        .collect();
    assert_eq!(ids.len(), 3, "{}", output.stdout);
    assert!(output.stdout.contains("poisoned record POISON-T-DL-"));
    assert!(output.stdout.ends_with("3 dead letters\n"));
    assert!(
        FilaCli::admin(&fila)
            .args(&["dlq", "list", "--queue", "eai"])
            .run()
            .await
            .stdout
            .ends_with("0 dead letters\n")
    );

    db.batch_execute("DROP TRIGGER poison ON taf_record")
        .await
        .expect("cure");
    let output = FilaCli::admin(&fila)
        .args(&["dlq", "replay", &ids[0]])
        .run()
        .await;
    assert_exit(&output, 0);
    assert_eq!(output.stdout, "replayed 1\n");
    // An id given twice is replayed once; one not found does not stop the
    // others, and fails the command once they are replayed.
    let output = FilaCli::admin(&fila)
        .args(&["dlq", "replay", &ids[1], "999999", &ids[1]])
        .run()
        .await;
    assert_exit(&output, 1);
    assert_eq!(output.stdout, "replayed 1\n");
    assert_eq!(output.stderr, "fila: no dead letter has id 999999\n");
    let output = FilaCli::admin(&fila)
        .args(&["dlq", "replay", "--all"])
        .run()
        .await;
    assert_exit(&output, 0);
    assert_eq!(output.stdout, "replayed 1\n");
    for ticket in ["T-DL-1", "T-DL-2", "T-DL-3"] {
        assert!(fila.wait_finished(ticket, 2, 30).await, "{ticket}");
    }
    assert_eq!(count().await, 0);

    // One id or several, those not found give the same exit code.
    let output = FilaCli::admin(&fila)
        .args(&["dlq", "replay", &ids[0]])
        .run()
        .await;
    assert_exit(&output, 1);
    assert_eq!(output.stdout, "replayed 0\n");
    assert_eq!(
        output.stderr,
        format!("fila: no dead letter has id {}\n", ids[0])
    );
    let output = FilaCli::admin(&fila)
        .args(&["dlq", "replay", &ids[0], &ids[2], &ids[0]])
        .run()
        .await;
    assert_exit(&output, 1);
    assert_eq!(output.stdout, "replayed 0\n");
    assert_eq!(
        output.stderr,
        format!("fila: no dead letter has ids {}, {}\n", ids[0], ids[2])
    );
    let output = FilaCli::admin(&fila).args(&["dlq", "replay"]).run().await;
    assert_exit(&output, 2);
}

#[tokio::test]
async fn a_hashed_password_logs_in() {
    let output = FilaCli::bare()
        .args(&["user", "hash-password"])
        .stdin(b"correct horse\n")
        .run()
        .await;
    assert_exit(&output, 0);
    let hash = output.stdout.trim().to_string();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    let output = FilaCli::bare()
        .args(&["user", "hash-password"])
        .stdin(b"")
        .run()
        .await;
    assert_exit(&output, 3);
    assert!(output.stderr.contains("the password is empty"));

    let fila = Setup::new()
        .toml(&format!(
            "[[users]]\nname = \"ops\"\npassword_hash = \"{hash}\"\nroles = [\"reader\"]\n"
        ))
        .start()
        .await;
    let output = FilaCli::as_user(&fila, "ops", "correct horse")
        .args(&["taf", "status", "--ticket", "NONE"])
        .run()
        .await;
    assert_exit(&output, 0);
    assert_eq!(
        output.stdout,
        "ticketCode NONE: 0 records: 0 processed, 0 in error\n"
    );
    let output = FilaCli::as_user(&fila, "ops", "correct horse\n")
        .args(&["taf", "status", "--ticket", "NONE"])
        .run()
        .await;
    assert_exit(&output, 5);
}

#[tokio::test]
async fn settings_come_from_flags_then_environment_then_the_config_file() {
    let fila = Fila::start().await;
    let config = file(
        &fila,
        "cli.toml",
        &format!(
            "url = \"{}\"\nuser = \"{}\"\npassword = \"{}\"\n",
            fila.base_url, READER.0, READER.1
        ),
    );
    let status = ["taf", "status", "--ticket", "NONE"];
    let output = FilaCli::bare()
        .args(&["--config", &config])
        .args(&status)
        .run()
        .await;
    assert_exit(&output, 0);

    // The default place: $XDG_CONFIG_HOME/fila/cli.toml.
    let home = fila.log_path("xdg");
    std::fs::create_dir_all(home.join("fila")).expect("dir");
    std::fs::copy(&config, home.join("fila").join("cli.toml")).expect("copy");
    let output = FilaCli::bare()
        .env("XDG_CONFIG_HOME", &home.display().to_string())
        .args(&status)
        .run()
        .await;
    assert_exit(&output, 0);

    // The environment beats the file…
    let output = FilaCli::bare()
        .env("FILACLI_CONFIG", &config)
        .env("FILACLI_PASSWORD", "wrong")
        .args(&status)
        .run()
        .await;
    assert_exit(&output, 5);
    assert!(
        output.stderr.contains(
            "HTTP 401 Unauthorized: authentication required (check the user and password"
        ),
        "{}",
        output.stderr
    );
    // …and flags beat the environment.
    let output = FilaCli::bare()
        .env("FILACLI_CONFIG", &config)
        .env("FILACLI_PASSWORD", "wrong")
        .args(&["--password", READER.1])
        .args(&status)
        .run()
        .await;
    assert_exit(&output, 0);
    let output = FilaCli::bare()
        .env("FILACLI_URL", "http://127.0.0.1:1")
        .args(&["--config", &config])
        .args(&status)
        .run()
        .await;
    assert_exit(&output, 4);

    let broken = file(&fila, "broken.toml", "url = \"http://x\"\nserver = 1\n");
    let output = FilaCli::bare()
        .args(&["--config", &broken])
        .args(&status)
        .run()
        .await;
    assert_exit(&output, 2);
    assert!(
        output
            .stderr
            .contains(&format!("fila: config file {broken}: "))
            && output.stderr.contains("unknown field `server`"),
        "{}",
        output.stderr
    );
    let output = FilaCli::bare()
        .args(&[
            "--config",
            &fila.log_path("missing.toml").display().to_string(),
        ])
        .args(&status)
        .run()
        .await;
    assert_exit(&output, 2);
}

#[tokio::test]
async fn bad_input_and_unreachable_servers_are_named() {
    let fila = Fila::start().await;
    let missing = fila.log_path("missing.json").display().to_string();
    let output = FilaCli::producer(&fila)
        .args(&["taf", "send", &missing])
        .run()
        .await;
    assert_exit(&output, 3);
    assert_eq!(
        output.stderr,
        format!("fila: {missing}: No such file or directory (os error 2)\n")
    );

    let malformed = file(
        &fila,
        "malformed.json",
        "{\"ticketCode\": \"T-BAD\",\n \"lote\": [\n  {\"sourceBranch\": \"0100\" \"messageType\": \"2\"}]}",
    );
    let valid = file(
        &fila,
        "valid.json",
        &lot("T-NOT-SENT", vec![item("NOT-SENT")]).to_string(),
    );
    let output = FilaCli::producer(&fila)
        .args(&["taf", "send", &valid, &malformed])
        .run()
        .await;
    assert_exit(&output, 3);
    assert_eq!(
        output.stderr,
        format!("fila: {malformed}: not JSON: expected `,` or `}}` at line 3, column 27\n")
    );
    assert!(
        fila.taf_counts("T-NOT-SENT").await.is_empty(),
        "nothing is sent when a file is bad"
    );
    let output = FilaCli::producer(&fila)
        .args(&["eai", "send", &malformed])
        .run()
        .await;
    assert_exit(&output, 3);

    let output = FilaCli::as_user(&fila, "erp", "not-the-password")
        .args(&["taf", "send", &valid])
        .run()
        .await;
    assert_exit(&output, 5);
    assert!(
        output.stderr.starts_with(&format!(
            "fila: POST {}/rest/wstafst2: HTTP 401 Unauthorized: authentication required",
            fila.base_url
        )),
        "{}",
        output.stderr
    );

    // A lot refused whole (its first branch is unknown) and a RESTFAULT.
    let unknown_branch = file(
        &fila,
        "unknown-branch.json",
        &lot(
            "T-803",
            vec![item_with("K", json!({ "sourceBranch": "9999" }))],
        )
        .to_string(),
    );
    let output = FilaCli::producer(&fila)
        .args(&["taf", "send", &unknown_branch])
        .run()
        .await;
    assert_exit(&output, 6);
    assert!(
        output
            .stderr
            .starts_with(&format!("fila: {unknown_branch}: lot refused: 803 ")),
        "{}",
        output.stderr
    );
    let empty_lot = file(&fila, "empty.json", "{}");
    let output = FilaCli::producer(&fila)
        .args(&["taf", "send", &empty_lot])
        .run()
        .await;
    assert_exit(&output, 6);
    assert!(
        output.stderr.contains("lot refused: 800 "),
        "{}",
        output.stderr
    );

    // Nothing listens on a port just released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let output = FilaCli::bare()
        .args(&["--url", &format!("http://127.0.0.1:{port}")])
        .args(&["taf", "status", "--ticket", "T"])
        .run()
        .await;
    assert_exit(&output, 4);
    assert_eq!(
        output.stderr,
        format!(
            "fila: cannot reach fila at http://127.0.0.1:{port}/: Connection refused (os error 111)\n"
        )
    );
    let output = FilaCli::bare()
        .args(&["--url", "127.0.0.1:8080", "taf", "status", "--ticket", "T"])
        .run()
        .await;
    assert_exit(&output, 2);
}

#[tokio::test]
async fn completions_are_printed_for_each_shell() {
    for (shell, marker) in [
        ("bash", "complete -F _fila"),
        ("zsh", "#compdef fila"),
        ("fish", "complete -c fila"),
    ] {
        let output = FilaCli::bare().args(&["completions", shell]).run().await;
        assert_exit(&output, 0);
        assert!(output.stdout.contains(marker), "{shell}: {}", output.stdout);
        assert!(output.stdout.contains("hash-password"), "{shell}");
    }
    let output = FilaCli::bare().args(&["completions", "tcsh"]).run().await;
    assert_exit(&output, 2);
    let output = FilaCli::bare().args(&["--help"]).run().await;
    assert_exit(&output, 0);
    assert!(output.stdout.contains("Exit codes:"));
    assert!(output.stdout.contains("FILACLI_URL"));
}

#[tokio::test]
async fn reconcile_counts_then_queues_open_work_again() {
    let fila = Setup::new().workers(0).start().await;
    fila.post_lot(&lot("T-CLI-RECONCILE", items("R", 3))).await;
    let output = FilaCli::admin(&fila)
        .args(&["reconcile", "--dry-run"])
        .run()
        .await;
    assert_exit(&output, 0);
    assert_eq!(
        output.stdout, "would queue again: 0 TAF records, 0 EAI messages, 0 process executions\n",
        "no probe came through a queue yet: nothing is known lost"
    );
    let now = chrono::Utc::now().to_rfc3339();
    let output = FilaCli::admin(&fila)
        .args(&["reconcile", "--dry-run", "--queued-before", &now])
        .run()
        .await;
    assert_exit(&output, 0);
    assert_eq!(
        output.stdout,
        "would queue again: 3 TAF records, 0 EAI messages, 0 process executions\n"
    );
    let output = FilaCli::admin(&fila)
        .args(&["reconcile", "--queued-before", &now])
        .run()
        .await;
    assert_exit(&output, 0);
    assert_eq!(
        output.stdout,
        "queued again: 3 TAF records, 0 EAI messages, 0 process executions\n"
    );
    let output = FilaCli::admin(&fila)
        .args(&["reconcile", "--queued-before", "yesterday"])
        .run()
        .await;
    assert_exit(&output, 6);
    assert!(output.stderr.contains("HTTP 400"), "{}", output.stderr);
    let output = FilaCli::producer(&fila)
        .args(&["reconcile", "--dry-run"])
        .run()
        .await;
    assert_exit(&output, 5);
}
