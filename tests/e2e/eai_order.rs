//! The entity store applies upserts and deletes in their producer's order
//! (the Header's GeneratedOn, then acceptance), whatever order the workers
//! process them in: an older message changes nothing and is OK with the
//! notice EAI-301, a delete leaves a tombstone that an older upsert does not
//! bring back, a newer upsert does.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use fila_tests::eai::message_with;
use fila_tests::fila::send;
use fila_tests::results::Results;
use fila_tests::{Fila, Setup, eventually};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const TRANSACTIONS: &str = "/totvseai/standardmessage/v1/transactions";
const SUPERSEDED: &str = "EAI-301";

/// GeneratedOn `minute` minutes after 10:00 in São Paulo.
fn at(minute: u32) -> String {
    format!(
        "2026-11-21T{:02}:{:02}:00-03:00",
        10 + minute / 60,
        minute % 60
    )
}

/// A CUSTOMERVENDOR message for entity `id`, named `name`, generated at
/// `generated` (none: the field is left out).
fn version(uuid: &str, id: &str, name: &str, generated: Option<&str>) -> Value {
    message_with(uuid, "CUSTOMERVENDOR", id, |m| {
        m["Content"]["Name"] = json!(name);
        match generated {
            Some(generated) => m["Header"]["GeneratedOn"] = json!(generated),
            None => {
                if let Some(header) = m["Header"].as_object_mut() {
                    header.remove("GeneratedOn");
                }
            }
        }
    })
}

/// Sends a single message, a simpleBatch or a businessTransaction lot; the
/// receipt must accept it.
async fn submit(fila: &Fila, method: Method, query: &str, body: &Value) {
    let (status, receipt) = send(
        fila.request(method, &format!("{TRANSACTIONS}{query}"))
            .json(body),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{receipt}");
}

/// Waits until no message is pending.
async fn all_finished(fila: &Fila, seconds: u64) {
    let db = fila.db().await;
    let finished = eventually(seconds, || async {
        db.query_one(
            "SELECT count(*) FROM eai_message WHERE status = 'pending'",
            &[],
        )
        .await
        .map(|row| row.get::<_, i64>(0) == 0)
        .unwrap_or(false)
    })
    .await;
    assert!(finished, "messages still pending after {seconds} s");
}

/// One message as stored once processed.
struct Finished {
    status: String,
    notices: Vec<String>,
    worker: String,
    destination: String,
}

async fn finished(fila: &Fila) -> HashMap<String, Finished> {
    fila.db()
        .await
        .query(
            "SELECT uuid, status, details, worker, return_content FROM eai_message",
            &[],
        )
        .await
        .expect("messages")
        .iter()
        .map(|row| {
            let details: Option<Value> = row.get("details");
            let returned: Option<Value> = row.get("return_content");
            let notices = details
                .iter()
                .flat_map(|d| d.as_array().cloned().unwrap_or_default())
                .filter_map(|d| d["code"].as_str().map(str::to_string))
                .collect();
            (
                row.get("uuid"),
                Finished {
                    status: row.get("status"),
                    notices,
                    worker: row.get::<_, Option<String>>("worker").unwrap_or_default(),
                    destination: returned
                        .map(|r| r["ListOfInternalId"][0]["Destination"].clone())
                        .and_then(|d| d.as_str().map(str::to_string))
                        .unwrap_or_default(),
                },
            )
        })
        .collect()
}

async fn entity(fila: &Fila, id: &str) -> (StatusCode, Value) {
    send(fila.request(
        Method::GET,
        &format!("/totvseai/standardmessage/v1/contents/CUSTOMERVENDOR/{id}"),
    ))
    .await
}

/// Response messages published per answered UUID: raw deliveries, and
/// distinct responses (a message processed twice would have two, with
/// different response UUIDs).
fn responses(results: &Results) -> (HashMap<String, usize>, HashMap<String, HashSet<String>>) {
    let mut raw: HashMap<String, usize> = HashMap::new();
    let mut distinct: HashMap<String, HashSet<String>> = HashMap::new();
    for received in results
        .received
        .iter()
        .filter(|r| r.routing_key.starts_with("eai.CUSTOMERVENDOR."))
    {
        let answered = received.body["Content"]["ReceivedMessage"]["UUID"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let response = received.body["Header"]["UUID"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        *raw.entry(answered.clone()).or_insert(0) += 1;
        distinct.entry(answered).or_default().insert(response);
    }
    (raw, distinct)
}

#[tokio::test]
async fn two_workers_racing_on_one_entity_leave_the_newest_version() {
    const VERSIONS: u32 = 50;
    let mut fila = Setup::new().workers(0).start().await;
    let mut results = Results::observe(&fila).await;
    // Every entity write waits 20 ms before it takes its row: the workers'
    // transactions overlap, and both workers get their share of the work.
    fila.db()
        .await
        .batch_execute(
            "CREATE FUNCTION slow_entity() RETURNS trigger LANGUAGE plpgsql AS
                 $$ BEGIN PERFORM pg_sleep(0.02); RETURN NEW; END $$;
             CREATE TRIGGER slow BEFORE INSERT ON eai_entity
                 FOR EACH ROW EXECUTE FUNCTION slow_entity();",
        )
        .await
        .expect("trigger");
    let (status, _) = send(fila.admin(Method::POST, "/admin/queues/eai/pause")).await;
    assert_eq!(status, StatusCode::OK);
    fila.start_worker().await;
    fila.start_worker().await;

    // Three entities, 50 versions each, generated a minute apart and posted
    // in a shuffled order (the newest fifteenth), each in a request of its own:
    // UPSERTS only upserts; DELETED deletes every third minute, the newest
    // (minute 49) too; BACK deletes every third minute but is upserted at
    // the newest.
    let shuffled: Vec<u32> = (0..VERSIONS).map(|i| (i * 17 + 11) % VERSIONS).collect();
    assert_eq!(shuffled.iter().collect::<HashSet<_>>().len(), 50);
    let newest = VERSIONS - 1;
    assert_eq!(
        shuffled.iter().position(|m| *m == newest),
        Some(14),
        "the newest is posted fifteenth"
    );
    let mut posted = 0;
    for minute in &shuffled {
        for id in ["UPSERTS", "DELETED", "BACK"] {
            let delete = match id {
                "UPSERTS" => false,
                "DELETED" => minute % 3 == 1 || *minute == newest,
                _ => minute % 3 == 1 && *minute != newest,
            };
            let uuid = format!("{id}-{minute}");
            let body = version(&uuid, id, &format!("{id} v{minute}"), Some(&at(*minute)));
            let method = if delete { Method::DELETE } else { Method::POST };
            submit(&fila, method, "", &body).await;
            posted += 1;
        }
    }
    let (status, _) = send(fila.admin(Method::POST, "/admin/queues/eai/resume")).await;
    assert_eq!(status, StatusCode::OK);
    all_finished(&fila, 120).await;

    let messages = finished(&fila).await;
    assert_eq!(messages.len(), posted);
    let by_worker: BTreeMap<&str, usize> =
        messages.values().fold(BTreeMap::new(), |mut counts, m| {
            *counts.entry(m.worker.as_str()).or_insert(0) += 1;
            counts
        });
    assert_eq!(
        by_worker.len(),
        2,
        "both workers processed messages: {by_worker:?}"
    );
    assert!(
        messages.values().all(|m| m.status == "ok"),
        "every message is OK, overtaken or not"
    );
    let superseded = messages
        .values()
        .filter(|m| m.notices.iter().any(|c| c == SUPERSEDED))
        .count();
    assert!(
        superseded > 0,
        "some messages were processed after a newer one"
    );
    for id in ["UPSERTS", "DELETED", "BACK"] {
        let newest_message = &messages[&format!("{id}-{newest}")];
        assert!(
            newest_message.notices.is_empty(),
            "the newest message of {id} was applied: {:?}",
            newest_message.notices
        );
        let destinations: HashSet<&str> = messages
            .iter()
            .filter(|(uuid, _)| uuid.starts_with(&format!("{id}-")))
            .map(|(_, m)| m.destination.as_str())
            .collect();
        assert_eq!(
            destinations.len(),
            1,
            "one fila id for {id} through upserts and deletes: {destinations:?}"
        );
    }
    let (status, upserts) = entity(&fila, "UPSERTS").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(upserts["Name"], format!("UPSERTS v{newest}"));
    assert_eq!(entity(&fila, "DELETED").await.0, StatusCode::NOT_FOUND);
    let (status, back) = entity(&fila, "BACK").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(back["Name"], format!("BACK v{newest}"));
    let stored: Vec<String> = fila
        .db()
        .await
        .query(
            "SELECT message_uuid FROM eai_entity ORDER BY internal_id",
            &[],
        )
        .await
        .expect("entities")
        .iter()
        .map(|row| row.get("message_uuid"))
        .collect();
    assert_eq!(
        stored,
        vec![
            format!("BACK-{newest}"),
            format!("DELETED-{newest}"),
            format!("UPSERTS-{newest}")
        ]
    );

    assert_eq!(results.collect_eai(posted, 60).await, posted);
    tokio::time::sleep(Duration::from_secs(1)).await;
    results.collect_eai(posted + 1, 1).await;
    let (raw, distinct) = responses(&results);
    assert_eq!(distinct.len(), posted);
    assert!(
        distinct.values().all(|responses| responses.len() == 1),
        "every message was processed once"
    );
    let deliveries: usize = raw.values().sum();
    println!(
        "{posted} messages, by worker {by_worker:?}: all OK, {superseded} superseded; \
         {deliveries} response deliveries, {} distinct",
        distinct.len()
    );
    results.close().await;
}

/// The status, Details and ReturnContent of `uuid`, once processed.
async fn processed(fila: &Fila, uuid: &str) -> (String, Value, Value) {
    let db = fila.db().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let row = db
            .query_opt(
                "SELECT status, details, return_content FROM eai_message
                 WHERE uuid = $1 AND status <> 'pending'",
                &[&uuid],
            )
            .await
            .expect("message");
        if let Some(row) = row {
            let returned: Option<Value> = row.get("return_content");
            return (
                row.get("status"),
                row.get("details"),
                returned.unwrap_or_default(),
            );
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{uuid} was not processed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_late_older_upsert_does_not_bring_back_a_deleted_entity() {
    let fila = Setup::new().start().await;
    submit(
        &fila,
        Method::POST,
        "",
        &version("U1", "C1", "first", Some(&at(0))),
    )
    .await;
    let (_, _, first) = processed(&fila, "U1").await;
    submit(
        &fila,
        Method::DELETE,
        "",
        &version("D1", "C1", "gone", Some(&at(2))),
    )
    .await;
    let (status, details, _) = processed(&fila, "D1").await;
    assert_eq!((status.as_str(), details), ("ok", json!([])));
    assert_eq!(entity(&fila, "C1").await.0, StatusCode::NOT_FOUND);

    submit(
        &fila,
        Method::POST,
        "",
        &version("U2", "C1", "late", Some(&at(1))),
    )
    .await;
    let (status, details, late) = processed(&fila, "U2").await;
    assert_eq!(status, "ok", "a superseded message is OK");
    assert_eq!(details[0]["code"], SUPERSEDED, "{details}");
    let notice = details[0]["message"].as_str().unwrap_or_default();
    assert!(
        notice.contains("deleted") && notice.contains("D1"),
        "{notice}"
    );
    assert_eq!(
        entity(&fila, "C1").await.0,
        StatusCode::NOT_FOUND,
        "the older upsert did not bring the entity back"
    );
    let (_, listed) = send(fila.request(
        Method::GET,
        "/totvseai/standardmessage/v1/contents/CUSTOMERVENDOR",
    ))
    .await;
    assert_eq!(listed["items"], json!([]), "a tombstone is never listed");
    assert_eq!(
        late["ListOfInternalId"][0]["Destination"], first["ListOfInternalId"][0]["Destination"],
        "the entity keeps its fila id"
    );

    submit(
        &fila,
        Method::POST,
        "",
        &version("U3", "C1", "back", Some(&at(3))),
    )
    .await;
    let (status, details, _) = processed(&fila, "U3").await;
    assert_eq!((status.as_str(), details), ("ok", json!([])));
    let (code, back) = entity(&fila, "C1").await;
    assert_eq!(
        (code, back["Name"].as_str()),
        (StatusCode::OK, Some("back"))
    );

    // A delete of an entity fila never had, then an older upsert of it.
    submit(
        &fila,
        Method::DELETE,
        "",
        &version("D2", "C2", "never", Some(&at(5))),
    )
    .await;
    processed(&fila, "D2").await;
    submit(
        &fila,
        Method::POST,
        "",
        &version("U4", "C2", "older", Some(&at(4))),
    )
    .await;
    let (_, details, _) = processed(&fila, "U4").await;
    assert_eq!(details[0]["code"], SUPERSEDED, "{details}");
    assert_eq!(entity(&fila, "C2").await.0, StatusCode::NOT_FOUND);

    // A request (SubType request) does not see a tombstone.
    let request = message_with("R1", "CUSTOMERVENDOR", "C2", |m| {
        m["Header"]["SubType"] = json!("request")
    });
    submit(&fila, Method::POST, "", &request).await;
    let (status, details, _) = processed(&fila, "R1").await;
    assert_eq!(
        (status.as_str(), &details[0]["code"]),
        ("error", &json!("EAI-203"))
    );
}

#[tokio::test]
async fn lots_and_messages_without_generated_on_keep_the_order() {
    let fila = Setup::new().start().await;
    // A simpleBatch lot with three versions of one entity, newest first.
    let lot = json!([
        version("S3", "LOT", "v3", Some(&at(3))),
        version("S1", "LOT", "v1", Some(&at(1))),
        version("S2", "LOT", "v2", Some(&at(2))),
    ]);
    submit(&fila, Method::POST, "?batchType=simpleBatch", &lot).await;
    // Without GeneratedOn: acceptance order, so the second wins.
    submit(&fila, Method::POST, "", &version("N1", "NONE", "n1", None)).await;
    submit(&fila, Method::POST, "", &version("N2", "NONE", "n2", None)).await;
    all_finished(&fila, 30).await;
    // A message generated before fila accepted N2 is older than it.
    let long_ago = "2001-01-01T00:00:00Z";
    submit(
        &fila,
        Method::POST,
        "",
        &version("N0", "NONE", "n0", Some(long_ago)),
    )
    .await;
    // A businessTransaction lot with an older version of LOT and a new
    // entity: the lot is OK, the older version changes nothing.
    let business = json!([
        version("B1", "LOT", "stale", Some(&at(2))),
        version("B2", "FRESH", "fresh", Some(&at(2))),
    ]);
    let query = "?batchType=businessTransaction&batchUUID=BT-ORDER";
    submit(&fila, Method::POST, query, &business).await;
    all_finished(&fila, 30).await;

    let messages = finished(&fila).await;
    let notices = |uuid: &str| messages[uuid].notices.clone();
    assert!(messages.values().all(|m| m.status == "ok"));
    assert_eq!(notices("S3"), Vec::<String>::new());
    assert_eq!(notices("S1"), vec![SUPERSEDED]);
    assert_eq!(notices("S2"), vec![SUPERSEDED]);
    assert_eq!(notices("N2"), Vec::<String>::new());
    assert_eq!(notices("N0"), vec![SUPERSEDED]);
    assert_eq!(notices("B1"), vec![SUPERSEDED]);
    assert_eq!(notices("B2"), Vec::<String>::new());
    for (id, name) in [("LOT", "v3"), ("NONE", "n2"), ("FRESH", "fresh")] {
        let (status, stored) = entity(&fila, id).await;
        assert_eq!(
            (status, stored["Name"].as_str()),
            (StatusCode::OK, Some(name))
        );
    }
    let (status, lot) =
        send(fila.request(Method::GET, "/totvseai/standardmessage/v1/batches/BT-ORDER")).await;
    assert_eq!(
        (status, lot["status"].as_str()),
        (StatusCode::OK, Some("processed")),
        "{lot}"
    );
}

#[tokio::test]
async fn contents_writes_take_their_place_in_the_order() {
    let fila = Setup::new().workers(0).start().await;
    let contents = |method: Method, body: Value| {
        let request = fila
            .request(
                method,
                "/totvseai/standardmessage/v1/contents/CUSTOMERVENDOR",
            )
            .json(&body);
        send(request)
    };
    let (status, answer) = contents(Method::POST, version("C-2", "K1", "two", Some(&at(2)))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, answer) = contents(Method::POST, version("C-1", "K1", "one", Some(&at(1)))).await;
    assert_eq!(status, StatusCode::OK, "an older write is OK: {answer}");
    assert_eq!(
        answer["Content"]["ProcessingInformation"]["Details"][0]["code"],
        SUPERSEDED
    );
    let (_, stored) = entity(&fila, "K1").await;
    assert_eq!(stored["Name"], "two");
    // A bare Content is placed at the time fila receives it: after a
    // version generated long ago.
    let (status, answer) = contents(
        Method::POST,
        version("C-0", "K2", "old", Some("2001-01-01T00:00:00Z")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, answer) =
        contents(Method::POST, json!({ "InternalId": "K2", "Name": "now" })).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer["Content"]["ProcessingInformation"]["Details"],
        json!([])
    );
    let (_, stored) = entity(&fila, "K2").await;
    assert_eq!(stored["Name"], "now");
}
