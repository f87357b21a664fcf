//! `/totvseai/standardmessage/v1/transactions` and `/batches`: single
//! messages, both batch types, duplicates, deletes, HTTP destinations,
//! schemas, and every refusal.

use std::time::Duration;

use fila_tests::destination::{Destination, Reply};
use fila_tests::eai::{message, message_with};
use fila_tests::fila::send;
use fila_tests::results::Results;
use fila_tests::{Fila, Setup};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const TRANSACTIONS: &str = "/totvseai/standardmessage/v1/transactions";

async fn post(fila: &Fila, query: &str, body: &Value) -> (StatusCode, Value) {
    send(
        fila.request(Method::POST, &format!("{TRANSACTIONS}{query}"))
            .json(body),
    )
    .await
}

async fn delete(fila: &Fila, query: &str, body: &Value) -> (StatusCode, Value) {
    send(
        fila.request(Method::DELETE, &format!("{TRANSACTIONS}{query}"))
            .json(body),
    )
    .await
}

/// The response message of `uuid`, once processed.
async fn response(fila: &Fila, uuid: &str) -> Value {
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
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn messages_stored(fila: &Fila) -> i64 {
    fila.db()
        .await
        .query_one("SELECT count(*) FROM eai_message", &[])
        .await
        .expect("count")
        .get(0)
}

async fn entity(fila: &Fila, transaction: &str, id: &str) -> (StatusCode, Value) {
    send(fila.request(
        Method::GET,
        &format!("/totvseai/standardmessage/v1/contents/{transaction}/{id}"),
    ))
    .await
}

fn receipt_statuses(answer: &Value) -> Vec<String> {
    answer["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| i["status"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn a_message_is_received_processed_and_answered() {
    let fila = Fila::start().await;
    let mut results = Results::observe(&fila).await;
    let (status, receipt) = post(&fila, "", &message("M-1", "CUSTOMERVENDOR", "C1")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{receipt}");
    assert_eq!(
        receipt["items"],
        json!([{ "uuid": "M-1", "status": "accepted" }])
    );
    assert_eq!(receipt["batchType"], "simpleBatch");
    assert!(receipt["batchUUID"].as_str().is_some_and(|b| !b.is_empty()));

    let answer = response(&fila, "M-1").await;
    assert_eq!(answer["Header"]["Type"], "Response");
    assert_eq!(answer["Header"]["Transaction"], "CUSTOMERVENDOR");
    let content = &answer["Content"];
    assert_eq!(
        content["ReceivedMessage"],
        json!({ "UUID": "M-1", "SentBy": "RM", "Event": "upsert" })
    );
    assert_eq!(content["ProcessingInformation"]["Status"], "OK");
    assert!(content["ProcessingInformation"]["ProcessedOn"].is_string());
    let ids = &content["ReturnContent"]["ListOfInternalId"][0];
    assert_eq!(
        (ids["Name"].as_str(), ids["Origin"].as_str()),
        (Some("CUSTOMERVENDOR"), Some("C1"))
    );
    assert!(ids["Destination"].as_str().is_some_and(|d| !d.is_empty()));

    let (status, stored) = entity(&fila, "CUSTOMERVENDOR", "C1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored["Name"], "Customer C1");
    assert_eq!(results.collect_eai(1, 30).await, 1);
    let published = results
        .received
        .iter()
        .find(|m| m.routing_key == "eai.CUSTOMERVENDOR.ok")
        .expect("response published");
    assert_eq!(published.body["Content"]["ReceivedMessage"]["UUID"], "M-1");
    results.close().await;
}

#[tokio::test]
async fn lower_camel_case_messages_get_lower_camel_case_answers() {
    let fila = Fila::start().await;
    let lower = json!({
        "header": { "uuid": "L-1", "transaction": "ITEM", "version": "1.000",
                    "sourceApplication": "PROTHEUS", "subType": "event" },
        "content": { "internalId": "I1", "description": "Bolt" }
    });
    let (status, _) = post(&fila, "", &lower).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let answer = response(&fila, "L-1").await;
    assert_eq!(answer["header"]["type"], "Response");
    assert!(
        answer["header"]["UUID"].is_string(),
        "UUID keeps its capitals"
    );
    assert_eq!(answer["content"]["receivedMessage"]["UUID"], "L-1");
    assert_eq!(answer["content"]["receivedMessage"]["sentBy"], "PROTHEUS");
    assert_eq!(answer["content"]["processingInformation"]["status"], "OK");
    assert_eq!(
        answer["content"]["returnContent"]["listOfInternalId"][0]["origin"],
        "I1"
    );
}

#[tokio::test]
async fn a_sync_message_is_answered_with_its_response() {
    let fila = Fila::start().await;
    let sync = message_with("S-1", "CUSTOMERVENDOR", "C9", |m| {
        m["Header"]["DeliveryType"] = json!("sync")
    });
    let (status, answer) = post(&fila, "", &sync).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["Content"]["ProcessingInformation"]["Status"], "OK");
    assert_eq!(answer["Content"]["ReceivedMessage"]["UUID"], "S-1");
}

fn lot_of_three() -> Value {
    json!([
        message("B-1", "CUSTOMERVENDOR", "K1"),
        message_with("B-2", "CUSTOMERVENDOR", "K2", |m| {
            m["Content"]
                .as_object_mut()
                .expect("content")
                .remove("InternalId");
        }),
        message("B-3", "CUSTOMERVENDOR", "K3"),
    ])
}

#[tokio::test]
async fn a_business_transaction_with_a_failing_message_changes_nothing() {
    let fila = Fila::start().await;
    let (status, receipt) = post(
        &fila,
        "?batchType=businessTransaction&batchUUID=LOT-BT",
        &lot_of_three(),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{receipt}");
    assert_eq!(receipt["batchUUID"], "LOT-BT");
    for uuid in ["B-1", "B-2", "B-3"] {
        let answer = response(&fila, uuid).await;
        let info = &answer["Content"]["ProcessingInformation"];
        assert_eq!(info["Status"], "ERROR", "{uuid}: {answer}");
        assert_eq!(info["Details"][0]["code"], "EAI-206");
        assert!(
            info["Details"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("B-2"))
        );
    }
    let failing = response(&fila, "B-2").await;
    assert_eq!(
        failing["Content"]["ProcessingInformation"]["Details"][1]["code"],
        "EAI-202"
    );
    for id in ["K1", "K3"] {
        assert_eq!(
            entity(&fila, "CUSTOMERVENDOR", id).await.0,
            StatusCode::NOT_FOUND
        );
    }
    let (_, lot) =
        send(fila.request(Method::GET, "/totvseai/standardmessage/v1/batches/LOT-BT")).await;
    assert_eq!(lot["status"], "error");
    assert_eq!(
        (lot["total"].as_i64(), lot["error"].as_i64()),
        (Some(3), Some(3))
    );
}

#[tokio::test]
async fn a_simple_batch_with_a_failing_message_keeps_the_others() {
    let fila = Fila::start().await;
    let (status, _) = post(
        &fila,
        "?batchType=simpleBatch&batchUUID=LOT-SB",
        &lot_of_three(),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let statuses: Vec<Value> = {
        let mut v = Vec::new();
        for uuid in ["B-1", "B-2", "B-3"] {
            v.push(
                response(&fila, uuid).await["Content"]["ProcessingInformation"]["Status"].clone(),
            );
        }
        v
    };
    assert_eq!(statuses, vec![json!("OK"), json!("ERROR"), json!("OK")]);
    for id in ["K1", "K3"] {
        assert_eq!(entity(&fila, "CUSTOMERVENDOR", id).await.0, StatusCode::OK);
    }
    let (_, lot) = send(fila.request(
        Method::GET,
        "/totvseai/standardmessage/v1/batches/LOT-SB?status=ERROR&order=-seq",
    ))
    .await;
    assert_eq!(lot["status"], "processed");
    assert_eq!(
        (lot["ok"].as_i64(), lot["error"].as_i64()),
        (Some(2), Some(1))
    );
    assert_eq!(lot["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(lot["items"][0]["uuid"], "B-2");
    let (_, page) = send(fila.request(
        Method::GET,
        "/totvseai/standardmessage/v1/batches/LOT-SB?pageSize=2&order=-uuid",
    ))
    .await;
    assert_eq!(page["hasNext"], true);
    assert_eq!(page["items"][0]["uuid"], "B-3");
    let (status, _) = send(fila.request(
        Method::GET,
        "/totvseai/standardmessage/v1/batches/LOT-SB?order=secret",
    ))
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn ten_thousand_simple_batch_messages_are_shared_by_two_workers() {
    let fila = Setup::new().workers(2).start().await;
    let mut results = Results::observe(&fila).await;
    let lot: Vec<Value> = (0..10_000)
        .map(|i| message(&format!("BIG-{i}"), "CUSTOMERVENDOR", &format!("E{i}")))
        .collect();
    let (status, receipt) = post(&fila, "?batchUUID=LOT-BIG", &json!({ "Items": lot })).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(receipt_statuses(&receipt).iter().all(|s| s == "accepted"));
    assert_eq!(results.collect_eai(10_000, 180).await, 10_000);
    assert!(
        results.eai_responses().values().all(|r| r.once()),
        "a message was answered twice"
    );
    let client = fila.db().await;
    let row = client
        .query_one(
            "SELECT count(*) FILTER (WHERE status = 'ok'), count(DISTINCT worker) FROM eai_message",
            &[],
        )
        .await
        .expect("counts");
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1)), (10_000, 2));
    results.close().await;
}

#[tokio::test]
async fn the_same_uuid_is_processed_once() {
    let fila = Fila::start().await;
    let (_, first) = post(
        &fila,
        "?batchUUID=FIRST",
        &json!([message("D-1", "CUSTOMERVENDOR", "C1")]),
    )
    .await;
    assert_eq!(receipt_statuses(&first), vec!["accepted"]);
    let (status, second) = post(
        &fila,
        "?batchUUID=SECOND",
        &json!([message("D-1", "CUSTOMERVENDOR", "C1")]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(second["items"][0]["status"], "duplicate");
    assert_eq!(second["items"][0]["batchUUID"], "FIRST");
    response(&fila, "D-1").await;
    assert_eq!(messages_stored(&fila).await, 1);
    let (status, _) =
        send(fila.request(Method::GET, "/totvseai/standardmessage/v1/batches/SECOND")).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a lot of duplicates only is not kept"
    );
}

#[tokio::test]
async fn delete_removes_the_entity() {
    let fila = Fila::start().await;
    post(&fila, "", &message("U-1", "CUSTOMERVENDOR", "C5")).await;
    response(&fila, "U-1").await;
    assert_eq!(
        entity(&fila, "CUSTOMERVENDOR", "C5").await.0,
        StatusCode::OK
    );
    let (status, _) = delete(&fila, "", &message("X-1", "CUSTOMERVENDOR", "C5")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let answer = response(&fila, "X-1").await;
    assert_eq!(answer["Content"]["ReceivedMessage"]["Event"], "delete");
    assert_eq!(answer["Content"]["ProcessingInformation"]["Status"], "OK");
    assert_eq!(
        entity(&fila, "CUSTOMERVENDOR", "C5").await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_request_answers_the_stored_entity() {
    let fila = Fila::start().await;
    post(&fila, "", &message("R-0", "CUSTOMERVENDOR", "C7")).await;
    response(&fila, "R-0").await;
    let request = message_with("R-1", "CUSTOMERVENDOR", "C7", |m| {
        m["Header"]["SubType"] = json!("request")
    });
    post(&fila, "", &request).await;
    let answer = response(&fila, "R-1").await;
    assert_eq!(answer["Content"]["ReturnContent"]["Name"], "Customer C7");
    let missing = message_with("R-2", "CUSTOMERVENDOR", "NOPE", |m| {
        m["Header"]["SubType"] = json!("request")
    });
    post(&fila, "", &missing).await;
    let answer = response(&fila, "R-2").await;
    assert_eq!(
        answer["Content"]["ProcessingInformation"]["Details"][0]["code"],
        "EAI-203"
    );
}

#[tokio::test]
async fn contents_that_fail_their_schema_are_errors() {
    let setup = Setup::new();
    let schema = std::env::temp_dir().join(format!("fila-schema-{}.json", std::process::id()));
    std::fs::write(
        &schema,
        r#"{"type":"object","required":["InternalId","Name"],
            "properties":{"Name":{"type":"string","minLength":3}}}"#,
    )
    .expect("schema");
    let fila = setup
        .toml(&format!(
            "[[eai_transactions]]\ntransaction = \"PRODUCT\"\n[eai_transactions.schemas]\n\"2.000\" = \"{}\"\n",
            schema.display()
        ))
        .start()
        .await;
    post(&fila, "", &message("P-OK", "PRODUCT", "P1")).await;
    let bad = message_with("P-BAD", "PRODUCT", "P2", |m| {
        m["Content"]["Name"] = json!("")
    });
    post(&fila, "", &bad).await;
    let ok = response(&fila, "P-OK").await;
    assert_eq!(ok["Content"]["ProcessingInformation"]["Status"], "OK");
    let refused = response(&fila, "P-BAD").await;
    let detail = &refused["Content"]["ProcessingInformation"]["Details"][0];
    assert_eq!(detail["code"], "EAI-201");
    assert!(
        detail["message"]
            .as_str()
            .is_some_and(|m| m.contains("/Name")),
        "{detail}"
    );
    let _ = std::fs::remove_file(schema);
}

#[tokio::test]
async fn an_http_destination_that_times_out_is_tried_again() {
    let destination = Destination::start(vec![
        Reply::Slow(Duration::from_secs(3), 200, "{}".into()),
        Reply::Json(
            200,
            r#"{"Content":{"ReturnContent":{"OrderNumber":"42"}}}"#.into(),
        ),
    ])
    .await;
    let fila = Setup::new()
        .toml(&format!(
            "[[eai_transactions]]\ntransaction = \"ORDER\"\ndestination = \"http\"\nurl = \"{}\"\ntimeout_secs = 1\n",
            destination.url
        ))
        .start()
        .await;
    let (status, _) = post(&fila, "", &message("H-1", "ORDER", "O1")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let answer = response(&fila, "H-1").await;
    assert_eq!(answer["Content"]["ProcessingInformation"]["Status"], "OK");
    assert_eq!(
        answer["Content"]["ReturnContent"],
        json!({ "OrderNumber": "42" })
    );
    let received = destination.received();
    assert_eq!(received.len(), 2, "one timeout, one success");
    assert_eq!(received[1]["Header"]["UUID"], "H-1");
}

#[tokio::test]
async fn an_http_destination_refusal_is_an_error_and_a_business_lot_is_one_request() {
    let destination = Destination::start(vec![
        Reply::Json(422, r#"{"error":"unknown customer"}"#.into()),
        Reply::Json(200, r#"[{"n":1},{"n":2}]"#.into()),
    ])
    .await;
    let fila = Setup::new()
        .toml(&format!(
            "[[eai_transactions]]\ntransaction = \"ORDER\"\ndestination = \"http\"\nurl = \"{}\"\n",
            destination.url
        ))
        .start()
        .await;
    post(&fila, "", &message("H-4", "ORDER", "O4")).await;
    let refused = response(&fila, "H-4").await;
    let detail = &refused["Content"]["ProcessingInformation"]["Details"][0];
    assert_eq!(detail["code"], "EAI-204");
    assert!(
        detail["detailedMessage"]
            .as_str()
            .is_some_and(|d| d.contains("unknown customer"))
    );

    let lot = json!([message("H-5", "ORDER", "O5"), message("H-6", "ORDER", "O6")]);
    post(&fila, "?batchType=businessTransaction", &lot).await;
    assert_eq!(
        response(&fila, "H-5").await["Content"]["ReturnContent"],
        json!({ "n": 1 })
    );
    assert_eq!(
        response(&fila, "H-6").await["Content"]["ReturnContent"],
        json!({ "n": 2 })
    );
    let received = destination.received();
    assert_eq!(received.len(), 2);
    assert_eq!(
        received[1].as_array().map(Vec::len),
        Some(2),
        "the lot went as one request"
    );
}

#[tokio::test]
async fn refusals_are_clear_and_store_nothing() {
    let fila = Setup::new().workers(0).start().await;
    let sync_lot = json!([
        message("Z-1", "CUSTOMERVENDOR", "1"),
        message_with(
            "Z-2",
            "CUSTOMERVENDOR",
            "2",
            |m| m["Header"]["DeliveryType"] = json!("sync")
        ),
    ]);
    let no_version = message_with("Z-4", "CUSTOMERVENDOR", "4", |m| {
        m["Header"]
            .as_object_mut()
            .expect("header")
            .remove("Version");
    });
    let cases: Vec<(&str, reqwest::Body, &str)> = vec![
        ("", "{\"Header\": ".into(), "EAI-001"),
        ("", "".into(), "EAI-001"),
        ("", "42".into(), "EAI-002"),
        ("", sync_lot.to_string().into(), "EAI-011"),
        (
            "",
            message("Z-3", "UNKNOWN", "3").to_string().into(),
            "EAI-104",
        ),
        ("", no_version.to_string().into(), "EAI-102"),
        ("", json!({ "Content": {} }).to_string().into(), "EAI-101"),
        (
            "?batchType=everything",
            json!([message("Z-5", "ITEM", "5")]).to_string().into(),
            "EAI-010",
        ),
        (
            "?batchType=businessTransaction",
            json!([message("Z-8", "ITEM", "8"), message("Z-9", "NOPE", "9")])
                .to_string()
                .into(),
            "EAI-016",
        ),
        (
            "/ITEM",
            message("Z-10", "CUSTOMERVENDOR", "10").to_string().into(),
            "EAI-105",
        ),
    ];
    for (query, body, code) in cases {
        let request = fila
            .request(Method::POST, &format!("{TRANSACTIONS}{query}"))
            .header("Content-Type", "application/json")
            .body(body);
        let (status, answer) = send(request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{code}: {answer}");
        assert_eq!(answer["code"], code, "{answer}");
        assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(messages_stored(&fila).await, 0);
    let simple = json!([message("Y-1", "ITEM", "1"), message("Y-2", "NOPE", "2")]);
    let (status, receipt) = post(&fila, "", &simple).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(receipt_statuses(&receipt), vec!["accepted", "refused"]);
    assert_eq!(receipt["items"][1]["details"][0]["code"], "EAI-104");
    assert_eq!(messages_stored(&fila).await, 1);
}

#[tokio::test]
async fn responses_of_unknown_and_pending_messages() {
    let fila = Setup::new().workers(0).start().await;
    let (status, body) = send(fila.request(Method::GET, &format!("{TRANSACTIONS}/NOPE"))).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("EAI-404"))
    );
    post(
        &fila,
        "?batchUUID=WAIT",
        &json!([message("W-1", "ITEM", "1")]),
    )
    .await;
    let (status, body) = send(fila.request(Method::GET, &format!("{TRANSACTIONS}/W-1"))).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        body,
        json!({ "uuid": "W-1", "status": "pending", "batchUUID": "WAIT" })
    );
}

/// The TDN: `batchType` and `batchUUID` describe lots; a single message
/// ignores them. A client that reuses its batchUUID for every single
/// message (or sends an unknown batchType with one) is accepted, here on
/// the `/rest` root where Protheus serves EAI.
#[tokio::test]
async fn a_single_message_ignores_batch_type_and_batch_uuid() {
    let fila = Fila::start().await;
    let rest = "/rest/totvseai/standardmessage/v1/transactions";
    for (uuid, query) in [
        ("S-1", "?batchUUID=REUSED&batchType=businessTransaction"),
        ("S-2", "?batchUUID=REUSED&batchType=whatever"),
    ] {
        let request = fila
            .request(Method::POST, &format!("{rest}{query}"))
            .json(&message(uuid, "CUSTOMERVENDOR", uuid));
        let (status, receipt) = send(request).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{receipt}");
        assert_eq!(receipt_statuses(&receipt), vec!["accepted"]);
        assert_ne!(receipt["batchUUID"], "REUSED");
        assert_eq!(receipt["batchType"], "simpleBatch");
    }
    for uuid in ["S-1", "S-2"] {
        response(&fila, uuid).await;
        let (status, answer) = send(fila.request(Method::GET, &format!("{rest}/{uuid}"))).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["Content"]["ProcessingInformation"]["Status"], "OK");
    }
}

/// The TDN allows a businessTransaction lot to mix Transactions and
/// Versions: an order with its items is one unit.
#[tokio::test]
async fn a_business_transaction_may_mix_transactions_and_versions() {
    let fila = Fila::start().await;
    let item = message_with("MX-2", "ITEM", "IT-1", |m| {
        m["Header"]["Version"] = json!("1.000")
    });
    let lot = json!([message("MX-1", "CUSTOMERVENDOR", "CV-1"), item]);
    let (status, receipt) = post(&fila, "?batchType=businessTransaction", &lot).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{receipt}");
    for uuid in ["MX-1", "MX-2"] {
        let answer = response(&fila, uuid).await;
        assert_eq!(
            answer["Content"]["ProcessingInformation"]["Status"], "OK",
            "{answer}"
        );
    }
    assert_eq!(entity(&fila, "ITEM", "IT-1").await.0, StatusCode::OK);
    assert_eq!(
        entity(&fila, "CUSTOMERVENDOR", "CV-1").await.0,
        StatusCode::OK
    );
}

/// The newer TDN Header carries the Event: a POST whose Header says
/// `delete` deletes.
#[tokio::test]
async fn a_header_event_delete_deletes() {
    let fila = Fila::start().await;
    post(&fila, "", &message("E-1", "CUSTOMERVENDOR", "C9")).await;
    response(&fila, "E-1").await;
    let delete = message_with("E-2", "CUSTOMERVENDOR", "C9", |m| {
        m["Header"]["Event"] = json!("delete")
    });
    let (status, _) = post(&fila, "", &delete).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let answer = response(&fila, "E-2").await;
    assert_eq!(answer["Content"]["ReceivedMessage"]["Event"], "delete");
    assert_eq!(
        entity(&fila, "CUSTOMERVENDOR", "C9").await.0,
        StatusCode::NOT_FOUND
    );
}

/// A destination gets the event: deletes with DELETE (and `Event: delete`
/// in the Header), a businessTransaction lot with its batchType and
/// batchUUID, so that it keeps the lot one unit.
#[tokio::test]
async fn an_http_destination_receives_the_event_and_the_lot() {
    let destination = Destination::start(vec![Reply::Json(200, "{}".into())]).await;
    let fila = Setup::new()
        .toml(&format!(
            "[[eai_transactions]]\ntransaction = \"ORDER\"\ndestination = \"http\"\nurl = \"{}\"\n",
            destination.url
        ))
        .start()
        .await;
    post(&fila, "", &message("EV-1", "ORDER", "O1")).await;
    response(&fila, "EV-1").await;
    delete(&fila, "", &message("EV-2", "ORDER", "O1")).await;
    response(&fila, "EV-2").await;
    let lot = json!([
        message("EV-3", "ORDER", "O3"),
        message("EV-4", "ORDER", "O4")
    ]);
    post(
        &fila,
        "?batchType=businessTransaction&batchUUID=LOT-EV",
        &lot,
    )
    .await;
    response(&fila, "EV-4").await;
    let seen = destination.seen();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].target, "/eai");
    assert_eq!(seen[0].body["Header"]["Event"], "upsert");
    assert_eq!(seen[1].method, "DELETE", "a delete is never an upsert");
    assert_eq!(seen[1].body["Header"]["Event"], "delete");
    assert_eq!(seen[1].body["Header"]["UUID"], "EV-2");
    assert_eq!(seen[2].method, "POST");
    assert_eq!(
        seen[2].target,
        "/eai?batchType=businessTransaction&batchUUID=LOT-EV"
    );
    assert_eq!(seen[2].body.as_array().map(Vec::len), Some(2));
}
