//! The operations API dashboards read: the overview, and the lists of TAF
//! tickets and errors, EAI lots and process jobs, with their filters,
//! paging and refusals.

use fila_tests::eai::{message, message_with};
use fila_tests::fila::send;
use fila_tests::runs::DEFINITIONS;
use fila_tests::taf::{admissao_xml, b64, item, item_with, lot};
use fila_tests::{Fila, Setup};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn the_overview_shows_open_work_errors_and_queues() {
    let fila = Setup::new().start().await;
    let wrong = item_with("E1", json!({ "integrationMessage": b64(&admissao_xml()) }));
    fila.post_lot(&lot("T-OPS", vec![wrong, item("OK1")])).await;
    assert!(fila.wait_finished("T-OPS", 2, 30).await);
    let (status, _) = send(fila.admin(Method::POST, "/admin/queues/eai/pause")).await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let (status, _) = fila
        .post_eai(&message(
            "d6e4b0c2-0000-4000-8000-0000000000a1",
            "CUSTOMERVENDOR",
            "C1",
        ))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);

    let (status, overview) = send(fila.reader(Method::GET, "/ops/overview")).await;
    assert_eq!(status, StatusCode::OK, "{overview}");
    assert_eq!(overview["taf"]["pending"], 0, "{overview}");
    assert_eq!(overview["taf"]["oldestOpenSeconds"], json!(null));
    assert_eq!(overview["taf"]["errorsLastHour"], json!({ "000002": 1 }));
    assert_eq!(overview["eai"]["pending"], 1, "{overview}");
    assert!(
        overview["eai"]["oldestPendingSeconds"]
            .as_f64()
            .is_some_and(|s| s >= 0.0)
    );
    assert_eq!(overview["process"]["running"], 0);
    assert_eq!(overview["deadLetters"], json!({}));
    assert!(overview["outbox"]["rows"].is_i64(), "{overview}");
    let eai = overview["queues"]
        .as_array()
        .and_then(|q| q.iter().find(|q| q["queue"] == "eai"))
        .expect("the eai queue");
    assert_eq!(eai["paused"], true, "{overview}");

    let (status, _) = send(fila.anonymous(Method::GET, "/ops/overview")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn tickets_show_their_progress_and_their_errors() {
    let fila = Setup::new().start().await;
    let wrong = item_with("A3", json!({ "integrationMessage": b64(&admissao_xml()) }));
    fila.post_lot(&lot("T-A", vec![item("A1"), item("A2"), wrong]))
        .await;
    fila.post_lot(&lot("T-B", vec![item("B1"), item("B2")]))
        .await;
    fila.post_lot(&lot("T-C", vec![item("C1")])).await;
    for (ticket, records) in [("T-A", 3), ("T-B", 2), ("T-C", 1)] {
        assert!(fila.wait_finished(ticket, records, 30).await, "{ticket}");
    }

    let (status, page) = send(fila.reader(Method::GET, "/ops/taf/tickets")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let codes: Vec<&str> = page["tickets"]
        .as_array()
        .expect("tickets")
        .iter()
        .filter_map(|t| t["ticketCode"].as_str())
        .collect();
    assert_eq!(codes, ["T-C", "T-B", "T-A"], "newest first");
    let a = &page["tickets"][2];
    assert_eq!(
        (&a["records"], &a["processed"], &a["error"], &a["pending"]),
        (&json!(3), &json!(2), &json!(1), &json!(0)),
        "{a}"
    );
    assert_eq!(page["next"], json!(null));

    let (_, first) = send(fila.reader(Method::GET, "/ops/taf/tickets?limit=2")).await;
    assert_eq!(first["tickets"].as_array().map(Vec::len), Some(2));
    let next = first["next"].as_i64().expect("a next page");
    let (_, second) = send(fila.reader(
        Method::GET,
        &format!("/ops/taf/tickets?limit=2&before={next}"),
    ))
    .await;
    assert!(
        second["tickets"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["ticketCode"] == "T-A")),
        "older tickets on the next page (a ticket met on both sides may repeat): {second}"
    );

    let (status, errors) = send(fila.reader(Method::GET, "/ops/taf/tickets/T-A/errors")).await;
    assert_eq!(status, StatusCode::OK);
    let records = errors["records"].as_array().expect("records");
    assert_eq!(records.len(), 1, "{errors}");
    assert_eq!(records[0]["registryKey"], "A3");
    assert_eq!(records[0]["errorCode"], "000002");
    assert_eq!(errors["next"], json!(null));
    for path in [
        "/ops/taf/tickets/T-A/errors?code=000001",
        "/ops/taf/tickets/T-NONE/errors",
    ] {
        let (status, answer) = send(fila.reader(Method::GET, path)).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(answer["records"], json!([]), "{path}");
    }
    refused(
        &fila,
        &[
            "/ops/taf/tickets?limit=0",
            "/ops/taf/tickets?limit=101",
            "/ops/taf/tickets?limit=x",
            "/ops/taf/tickets?before=-9223372036854775808",
            "/ops/taf/tickets?before=0",
            "/ops/taf/tickets?page=2",
            "/ops/taf/tickets/T-A/errors?after=-1",
            "/ops/taf/tickets/T-A/errors?code=",
            "/ops/taf/tickets/T-A/errors?code=%00",
            "/ops/taf/tickets/T-A/errors?limit=5",
        ],
    )
    .await;
}

#[tokio::test]
async fn paging_tickets_one_at_a_time_moves_on_past_interleaved_tickets() {
    let fila = Setup::new().start().await;
    for (ticket, key) in [("T-X", "X1"), ("T-Y", "Y1"), ("T-X", "X2")] {
        let (status, _) = fila.post_lot(&lot(ticket, vec![item(key)])).await;
        assert_eq!(status, StatusCode::OK);
    }
    let mut seen = Vec::new();
    let mut path = "/ops/taf/tickets?limit=1".to_string();
    while seen.len() < 10 {
        let page = read(&fila, &path).await;
        seen.extend(
            page["tickets"]
                .as_array()
                .expect("tickets")
                .iter()
                .filter_map(|t| t["ticketCode"].as_str().map(str::to_string)),
        );
        match page["next"].as_i64() {
            Some(next) => path = format!("/ops/taf/tickets?limit=1&before={next}"),
            None => break,
        }
    }
    assert_eq!(seen, ["T-X", "T-Y", "T-X"]);
}

/// Each path answers 400 with fila's JSON error body.
async fn refused(fila: &Fila, paths: &[&str]) {
    for path in paths {
        let (status, body) = send(fila.reader(Method::GET, path)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["code"], 400, "{path}: {body}");
        assert!(body["message"].is_string(), "{path}: {body}");
    }
}

/// GETs an `/ops` path as a reader; the answer of a 200.
async fn read(fila: &Fila, path: &str) -> Value {
    let (status, body) = send(fila.reader(Method::GET, path)).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

/// The values of `field` in the items of `list`.
fn column<'v>(answer: &'v Value, list: &str, field: &str) -> Vec<&'v Value> {
    answer[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list} in {answer}"))
        .iter()
        .map(|item| &item[field])
        .collect()
}

#[tokio::test]
async fn the_records_in_error_of_the_last_hour_are_listed_across_tickets() {
    let fila = Setup::new().start().await;
    let mismatch =
        |key: &str| item_with(key, json!({ "integrationMessage": b64(&admissao_xml()) }));
    let broken = item_with(
        "E-BROKEN",
        json!({ "integrationMessage": b64("<eSocial><evtTabRubrica></eSocial>") }),
    );
    fila.post_lot(&lot(
        "T-E1",
        vec![mismatch("E-1"), broken, item("E-OK"), mismatch("E-2")],
    ))
    .await;
    assert!(fila.wait_finished("T-E1", 4, 30).await);
    let many: Vec<Value> = (0..100).map(|i| mismatch(&format!("M-{i:03}"))).collect();
    fila.post_lot(&lot("T-E2", many)).await;
    assert!(fila.wait_finished("T-E2", 100, 60).await);

    // Every code, 100 at a time in RecNo order: 103 records on two pages.
    let first = read(&fila, "/ops/taf/errors").await;
    let records = first["records"].as_array().expect("records");
    assert_eq!(records.len(), 100, "{first}");
    assert_eq!(
        (&records[0]["ticketCode"], &records[0]["registryKey"]),
        (&json!("T-E1"), &json!("E-1"))
    );
    assert_eq!(records[0]["errorCode"], "000002");
    assert_eq!(
        records[0]["errorDescription"],
        "Evento do XML difere do registryType"
    );
    for field in ["recNo", "sourceBranch", "registryType", "errorDetail"] {
        assert!(!records[0][field].is_null(), "{field}: {first}");
    }
    let rec_nos: Vec<i64> = records.iter().filter_map(|r| r["recNo"].as_i64()).collect();
    assert!(rec_nos.windows(2).all(|w| w[0] < w[1]), "RecNo order");
    let next = first["next"].as_i64().expect("a next page");
    assert_eq!(Some(next), rec_nos.last().copied());
    let second = read(&fila, &format!("/ops/taf/errors?after={next}")).await;
    assert_eq!(
        second["records"].as_array().map(Vec::len),
        Some(3),
        "{second}"
    );
    assert_eq!(second["next"], json!(null));
    assert!(
        column(&second, "records", "recNo")
            .iter()
            .all(|r| r.as_i64() > Some(next))
    );

    // One code: those of both tickets, and the other codes' left out.
    let broken = read(&fila, "/ops/taf/errors?code=000001").await;
    assert_eq!(
        column(&broken, "records", "registryKey"),
        [&json!("E-BROKEN")]
    );
    assert_eq!(column(&broken, "records", "ticketCode"), [&json!("T-E1")]);
    let mismatched = read(&fila, "/ops/taf/errors?code=000002").await;
    let keys = column(&mismatched, "records", "registryKey");
    assert_eq!(keys.len(), 100);
    assert_eq!(keys[..3], [&json!("E-1"), &json!("E-2"), &json!("M-000")]);
    let next = mismatched["next"].as_i64().expect("a next page");
    let rest = read(&fila, &format!("/ops/taf/errors?code=000002&after={next}")).await;
    assert_eq!(
        column(&rest, "records", "registryKey"),
        [&json!("M-098"), &json!("M-099")]
    );
    let none = read(&fila, "/ops/taf/errors?code=000003").await;
    assert_eq!(none, json!({ "records": [], "next": null }));

    // An error older than an hour is no longer listed.
    fila.db()
        .await
        .execute(
            "UPDATE taf_record SET finished_at = now() - interval '2 hours'
             WHERE registry_key = 'E-BROKEN'",
            &[],
        )
        .await
        .expect("age the record");
    let broken = read(&fila, "/ops/taf/errors?code=000001").await;
    assert_eq!(broken["records"], json!([]));

    refused(
        &fila,
        &[
            "/ops/taf/errors?after=-1",
            "/ops/taf/errors?after=x",
            "/ops/taf/errors?after=1.5",
            "/ops/taf/errors?after=99999999999999999999",
            "/ops/taf/errors?code=",
            "/ops/taf/errors?code=00%002",
            "/ops/taf/errors?limit=10",
            "/ops/taf/errors?code=000001&code=000002",
        ],
    )
    .await;
    let (status, _) = send(fila.anonymous(Method::GET, "/ops/taf/errors")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

const TRANSACTIONS: &str = "/totvseai/standardmessage/v1/transactions";

/// POSTs EAI messages as a lot named `batch`.
async fn post_lot(fila: &Fila, batch: &str, messages: Vec<Value>) {
    let (status, body) = send(
        fila.request(Method::POST, &format!("{TRANSACTIONS}?batchUUID={batch}"))
            .json(&messages),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
}

/// The item of `list` whose `field` is `value` in the answer of `path`,
/// once `done` holds for it (a minute at most).
async fn item_when(
    fila: &Fila,
    path: &str,
    (list, field, value): (&str, &str, &str),
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let page = read(fila, path).await;
        let item = page[list]
            .as_array()
            .and_then(|items| items.iter().find(|i| i[field] == value))
            .cloned()
            .unwrap_or_default();
        if done(&item) {
            return item;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{value} never got there: {page}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// The entry of `batch` in the first page of lots, once none of its
/// messages is pending.
async fn finished_lot(fila: &Fila, batch: &str) -> Value {
    item_when(
        fila,
        "/ops/eai/batches",
        ("batches", "batch", batch),
        |lot| lot["pending"] == 0,
    )
    .await
}

#[tokio::test]
async fn eai_lots_show_the_progress_of_their_messages() {
    let fila = Setup::new().start().await;
    let failing = message_with("L-2", "CUSTOMERVENDOR", "K2", |m| {
        m["Content"]
            .as_object_mut()
            .expect("content")
            .remove("InternalId");
    });
    post_lot(
        &fila,
        "LOT-A",
        vec![
            message("L-1", "CUSTOMERVENDOR", "K1"),
            failing,
            message("L-3", "CUSTOMERVENDOR", "K3"),
        ],
    )
    .await;
    let a = finished_lot(&fila, "LOT-A").await;
    assert_eq!(a["batchType"], "simpleBatch");
    assert_eq!(a["event"], "upsert");
    assert_eq!(
        (&a["messages"], &a["ok"], &a["error"]),
        (&json!(3), &json!(2), &json!(1)),
        "{a}"
    );
    assert!(a["createdAt"].is_string(), "{a}");
    post_lot(&fila, "LOT-B", vec![message("L-4", "CUSTOMERVENDOR", "K4")]).await;
    finished_lot(&fila, "LOT-B").await;

    // While the queue is paused, a third lot stays open.
    let (status, _) = send(fila.admin(Method::POST, "/admin/queues/eai/pause")).await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    post_lot(
        &fila,
        "LOT-C",
        vec![
            message("L-5", "CUSTOMERVENDOR", "K5"),
            message("L-6", "CUSTOMERVENDOR", "K6"),
        ],
    )
    .await;
    let all = read(&fila, "/ops/eai/batches").await;
    assert_eq!(
        column(&all, "batches", "batch"),
        [&json!("LOT-C"), &json!("LOT-B"), &json!("LOT-A")],
        "newest first"
    );
    assert_eq!(all["next"], json!(null));
    let c = &all["batches"][0];
    assert_eq!(
        (&c["messages"], &c["pending"], &c["ok"]),
        (&json!(2), &json!(2), &json!(0)),
        "{c}"
    );
    let open = read(&fila, "/ops/eai/batches?status=open").await;
    assert_eq!(column(&open, "batches", "batch"), [&json!("LOT-C")]);

    // One lot a page, from the newest to the oldest.
    let mut seen = Vec::new();
    let mut path = "/ops/eai/batches?limit=1".to_string();
    loop {
        let page = read(&fila, &path).await;
        let batches = column(&page, "batches", "batch");
        assert!(batches.len() <= 1, "{page}");
        seen.extend(
            batches
                .into_iter()
                .filter_map(|b| b.as_str().map(str::to_string)),
        );
        let Some(next) = page["next"].as_str() else {
            break;
        };
        assert!(seen.len() < 4, "paging ends: {page}");
        path = format!("/ops/eai/batches?limit=1&before={}", urlencode(next));
    }
    assert_eq!(seen, ["LOT-C", "LOT-B", "LOT-A"]);

    refused(
        &fila,
        &[
            "/ops/eai/batches?limit=0",
            "/ops/eai/batches?limit=101",
            "/ops/eai/batches?limit=-1",
            "/ops/eai/batches?limit=many",
            "/ops/eai/batches?status=closed",
            "/ops/eai/batches?status=",
            "/ops/eai/batches?before=",
            "/ops/eai/batches?before=LOT-A",
            "/ops/eai/batches?before=-5:LOT-A",
            "/ops/eai/batches?before=99999999999999999999:LOT-A",
            "/ops/eai/batches?before=1767261600000000:",
            "/ops/eai/batches?before=1767261600000000:LOT%00",
            "/ops/eai/batches?transaction=CUSTOMERVENDOR",
        ],
    )
    .await;
    let (status, _) = send(fila.anonymous(Method::GET, "/ops/eai/batches")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// A query parameter's value, percent-encoded.
fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Starts a process through the scheduler API; its robustaSpid.
async fn start(fila: &Fila, body: Value) -> String {
    let (status, answer) = fila.start_robusta(&body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer["robustaSpid"]
        .as_str()
        .expect("robustaSpid")
        .to_string()
}

/// The job of `uid` in the first page of jobs, once its latest execution
/// is `status`.
async fn job_when(fila: &Fila, uid: &str, status: &str) -> Value {
    item_when(fila, "/ops/process/jobs", ("jobs", "uid", uid), |job| {
        job["lastExecution"]["status"] == status
    })
    .await
}

#[tokio::test]
async fn process_jobs_show_their_latest_execution() {
    let fila = Setup::new().processes(DEFINITIONS).start().await;
    let full_name = start(
        &fila,
        json!({ "name": "FullName", "values": { "name": "Ana", "surname": "Lima" } }),
    )
    .await;
    let succeeded = job_when(&fila, &full_name, "succeeded").await;
    let failing = start(
        &fila,
        json!({ "name": "Fail", "values": { "message": "no ledger" }, "retryCount": 0 }),
    )
    .await;
    let failed = job_when(&fila, &failing, "failed").await;
    let scheduled = start(
        &fila,
        json!({ "name": "FullName", "quartzDef": "0 0 6 ? * MON", "runImmediately": "N" }),
    )
    .await;

    let execution = &succeeded["lastExecution"];
    assert_eq!(succeeded["process"], "FullName");
    assert_eq!(
        succeeded["parameters"],
        json!({ "name": "Ana", "surname": "Lima" })
    );
    assert_eq!(
        (
            &succeeded["executions"],
            &succeeded["cron"],
            &succeeded["scheduleState"]
        ),
        (&json!(1), &json!(null), &json!(null)),
        "{succeeded}"
    );
    assert_eq!(execution["execId"], 1);
    assert!(execution["startedAt"].is_string(), "{succeeded}");
    assert!(execution["finishedAt"].is_string(), "{succeeded}");
    assert!(succeeded["jobId"].is_i64() && succeeded["createdAt"].is_string());
    assert_eq!(failed["lastExecution"]["message"], "no ledger", "{failed}");

    let all = read(&fila, "/ops/process/jobs").await;
    assert_eq!(
        column(&all, "jobs", "uid"),
        [&json!(scheduled), &json!(failing), &json!(full_name)],
        "newest first"
    );
    assert_eq!(all["next"], json!(null));
    let schedule = &all["jobs"][0];
    assert_eq!(
        (&schedule["lastExecution"], &schedule["executions"]),
        (&json!(null), &json!(0)),
        "it never ran: {schedule}"
    );
    assert_eq!(schedule["cron"], "0 0 6 ? * MON");
    assert_eq!(schedule["scheduleState"], "active");
    assert!(schedule["nextFire"].is_string(), "{schedule}");

    for (query, uids) in [
        ("status=failed", vec![&failing]),
        ("status=succeeded", vec![&full_name]),
        ("status=running", vec![]),
        ("process=FullName", vec![&scheduled, &full_name]),
        ("process=FullName&status=succeeded", vec![&full_name]),
        ("process=Fail&status=succeeded", vec![]),
        ("process=Unknown", vec![]),
    ] {
        let page = read(&fila, &format!("/ops/process/jobs?{query}")).await;
        let wanted: Vec<Value> = uids.into_iter().map(|u| json!(u)).collect();
        let listed: Vec<Value> = column(&page, "jobs", "uid").into_iter().cloned().collect();
        assert_eq!(listed, wanted, "{query}");
        assert_eq!(page["next"], json!(null), "{query}");
    }

    let first = read(&fila, "/ops/process/jobs?limit=2").await;
    assert_eq!(
        column(&first, "jobs", "uid"),
        [&json!(scheduled), &json!(failing)]
    );
    let next = first["next"].as_i64().expect("a next page");
    assert_eq!(Some(next), first["jobs"][1]["jobId"].as_i64());
    let second = read(&fila, &format!("/ops/process/jobs?limit=2&before={next}")).await;
    assert_eq!(column(&second, "jobs", "uid"), [&json!(full_name)]);
    assert_eq!(second["next"], json!(null));

    refused(
        &fila,
        &[
            "/ops/process/jobs?limit=0",
            "/ops/process/jobs?limit=101",
            "/ops/process/jobs?limit=2.5",
            "/ops/process/jobs?before=0",
            "/ops/process/jobs?before=-3",
            "/ops/process/jobs?before=x",
            "/ops/process/jobs?status=done",
            "/ops/process/jobs?status=FAILED",
            "/ops/process/jobs?status=",
            "/ops/process/jobs?process=",
            "/ops/process/jobs?process=Full%00Name",
            "/ops/process/jobs?uid=x",
        ],
    )
    .await;
    let (status, _) = send(fila.anonymous(Method::GET, "/ops/process/jobs")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
