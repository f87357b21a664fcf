//! Traffic of every kind for the fault runs (the soak run, the cluster
//! tests): a producer that posts TAF lots, EAI messages and process runs
//! without a pause and records how each was answered, and the counts that
//! judge a run afterwards, from the store and from the result messages:
//! accepted, finished, lost, left open, done twice.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{RequestBuilder, StatusCode};
use serde_json::{Value, json};
use tokio::time::sleep;

use crate::eai::message;
use crate::fila::PRODUCER;
use crate::results::{Reports, Results};
use crate::taf::{item, lot};

/// Records in each TAF lot.
pub const LOT: usize = 20;
/// The pause between two turns of the producer (a lot, an EAI message and
/// a process run each turn).
pub const PACE: Duration = Duration::from_millis(200);

/// The process the producer starts, `FullName`, for a deployment's process
/// definitions file. A run whose end cannot be recorded (the database is
/// away just then) is taken over when its lease ends, its timeout plus
/// 10 s: a short timeout keeps that within the settling time.
pub const PROCESSES: &str = r#"
[[process]]
name = "FullName"
runner = "builtin"
timeout_secs = 10
"#;

/// What became of the requests of one protocol.
#[derive(Default)]
pub struct Sent {
    /// Ids of the items answered as accepted.
    pub accepted: HashSet<String>,
    /// Items answered with a refusal (the database was away).
    pub refused: usize,
    /// Items whose answer never came (the API was killed): fila may or may
    /// not have stored them.
    pub unanswered: usize,
}

#[derive(Default)]
pub struct Tally {
    pub taf: Sent,
    pub eai: Sent,
    pub runs: Sent,
}

/// A request's fate: answered, or not (`None`).
async fn answer(request: RequestBuilder) -> Answer {
    let response = request.send().await.ok()?;
    let status = response.status();
    let body = response.bytes().await.ok()?;
    Some((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

/// Posts work until `stop`, recording every answer in `tally`.
pub async fn produce(
    http: reqwest::Client,
    base: String,
    tally: Arc<Mutex<Tally>>,
    stop: Arc<AtomicBool>,
) {
    let post = |path: &str| {
        http.post(format!("{base}{path}"))
            .basic_auth(PRODUCER.0, Some(PRODUCER.1))
    };
    let mut turn = 0u64;
    while !stop.load(Ordering::SeqCst) {
        turn += 1;
        let keys: Vec<String> = (0..LOT).map(|i| format!("S{turn:06}-{i:02}")).collect();
        let body = lot(
            &format!("T-SOAK-{turn:06}"),
            keys.iter().map(|k| item(k)).collect(),
        );
        let taf = answer(post("/rest/wstafst2").json(&body)).await;
        let uuid = format!("d6e4b0c2-0000-4000-8000-{turn:012}");
        let eai = answer(
            post("/totvseai/standardmessage/v1/transactions").json(&message(
                &uuid,
                "CUSTOMERVENDOR",
                &format!("C{turn}"),
            )),
        )
        .await;
        let run = answer(post("/scheduler/connector-api/process/start").json(
            &json!({ "name": "FullName", "values": { "name": "Ana", "surname": format!("Lima {turn}") } }),
        ))
        .await;

        record(&mut tally.lock().expect("tally"), taf, eai, uuid, run);
        sleep(PACE).await;
    }
}

type Answer = Option<(StatusCode, Value)>;

/// Records the answers of one turn.
fn record(tally: &mut Tally, taf: Answer, eai: Answer, uuid: String, run: Answer) {
    match taf {
        Some((StatusCode::OK, answer)) if answer["registryKey"].is_array() => {
            for key in answer["registryKey"].as_array().into_iter().flatten() {
                match (key["success"].as_bool(), key["key"].as_str()) {
                    (Some(true), Some(key)) => {
                        tally.taf.accepted.insert(key.to_string());
                    }
                    _ => tally.taf.refused += 1,
                }
            }
        }
        Some(_) => tally.taf.refused += LOT,
        None => tally.taf.unanswered += LOT,
    }
    match eai {
        Some((StatusCode::ACCEPTED, _)) => {
            tally.eai.accepted.insert(uuid);
        }
        Some(_) => tally.eai.refused += 1,
        None => tally.eai.unanswered += 1,
    }
    match run {
        Some((StatusCode::OK, answer)) if answer["robustaSpid"].is_string() => {
            let uid = answer["robustaSpid"].as_str().unwrap_or_default();
            tally.runs.accepted.insert(uid.to_string());
        }
        Some(_) => tally.runs.refused += 1,
        None => tally.runs.unanswered += 1,
    }
}

/// Rows of a query of two columns: an id and a count.
async fn counted(db: &tokio_postgres::Client, sql: &str) -> HashMap<String, i64> {
    db.query(sql, &[])
        .await
        .expect(sql)
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

/// What the store holds of one protocol's items, by id.
pub struct Stored {
    /// How many times each stored item finished.
    pub finished: HashMap<String, i64>,
    /// The items still open.
    pub open: HashSet<String>,
}

/// The result messages of one protocol: every delivery, and the distinct
/// messages (by `message_id`) among them.
pub struct Delivered {
    pub deliveries: usize,
    pub distinct: usize,
}

impl Delivered {
    fn of(results: &Results, routing: &str) -> Self {
        let received: Vec<&str> = results
            .received
            .iter()
            .filter(|r| r.routing_key.starts_with(routing))
            .map(|r| r.message_id.as_str())
            .collect();
        Self {
            deliveries: received.len(),
            distinct: received.iter().collect::<HashSet<_>>().len(),
        }
    }
}

/// The counts of one protocol, printed as a line of the table.
pub struct Counts {
    pub accepted: usize,
    pub refused: usize,
    pub unanswered: usize,
    /// Items stored although their request went unanswered.
    pub stored_unanswered: usize,
    pub finished: usize,
    /// Accepted items that neither finished nor stayed open: gone.
    pub lost: usize,
    /// Items still open after the run.
    pub stranded: usize,
    /// Items finished more than once in the store, or reported by more
    /// than one distinct result message.
    pub duplicated: usize,
    pub delivered: Delivered,
}

impl Counts {
    /// `results`: how each item was reported.
    fn of(
        sent: &Sent,
        stored: &Stored,
        results: &HashMap<String, Reports>,
        delivered: Delivered,
    ) -> Self {
        let done = |id: &String| stored.finished.get(id).is_some_and(|n| *n > 0);
        Self {
            accepted: sent.accepted.len(),
            refused: sent.refused,
            unanswered: sent.unanswered,
            stored_unanswered: stored
                .finished
                .keys()
                .filter(|id| !sent.accepted.contains(*id))
                .count(),
            finished: stored.finished.values().filter(|n| **n > 0).count(),
            lost: sent
                .accepted
                .iter()
                .filter(|id| !stored.open.contains(*id))
                .filter(|id| !done(id) || !results.contains_key(*id))
                .count(),
            stranded: stored.open.len(),
            duplicated: stored.finished.values().filter(|n| **n > 1).count()
                + results.values().filter(|r| r.messages.len() > 1).count(),
            delivered,
        }
    }

    const HEADER: [&'static str; 10] = [
        "accepted",
        "refused",
        "unanswered",
        "stored-unanswered",
        "finished",
        "lost",
        "stranded",
        "duplicated",
        "result deliveries",
        "distinct results",
    ];

    fn cells(&self) -> [usize; 10] {
        [
            self.accepted,
            self.refused,
            self.unanswered,
            self.stored_unanswered,
            self.finished,
            self.lost,
            self.stranded,
            self.duplicated,
            self.delivered.deliveries,
            self.delivered.distinct,
        ]
    }
}

/// A table row: a name, then right-aligned cells as wide as their header.
fn row(name: &str, cells: &[String]) -> String {
    let mut line = format!("{name:<14}");
    for (cell, header) in cells.iter().zip(Counts::HEADER) {
        line.push_str(&format!("{cell:>width$}", width = header.len() + 2));
    }
    line
}

/// What the store holds of the three protocols.
pub struct Store {
    pub taf: Stored,
    pub eai: Stored,
    pub runs: Stored,
}

impl Store {
    /// Reads the deployment's store (`db` on its schema).
    pub async fn read(db: &tokio_postgres::Client) -> Self {
        Self {
            taf: Stored {
                finished: counted(
                    db,
                    "SELECT registry_key, count(*) FILTER (WHERE status = 'processed') FROM taf_record GROUP BY registry_key",
                )
                .await,
                open: opened(db, OPEN_TAF).await,
            },
            eai: Stored {
                finished: counted(
                    db,
                    "SELECT uuid, count(*) FILTER (WHERE status = 'ok') FROM eai_message GROUP BY uuid",
                )
                .await,
                open: opened(db, OPEN_EAI).await,
            },
            runs: Stored {
                finished: counted(
                    db,
                    "SELECT j.uid, count(e.*) FILTER (WHERE e.status = 'succeeded')
                     FROM process_job j LEFT JOIN process_execution e ON e.job_id = j.id GROUP BY j.uid",
                )
                .await,
                open: opened(db, OPEN_RUNS).await,
            },
        }
    }

    /// Waits until nothing is open in the store, or `seconds` pass;
    /// whether nothing is.
    pub async fn settle(db: &tokio_postgres::Client, seconds: u64) -> bool {
        crate::eventually(seconds, || async {
            opened(db, OPEN_TAF).await.is_empty()
                && opened(db, OPEN_EAI).await.is_empty()
                && opened(db, OPEN_RUNS).await.is_empty()
        })
        .await
    }

    /// Collects the result of every item the store holds as finished (for
    /// two minutes at most), then counts each protocol: TAF records, EAI
    /// messages, process runs.
    pub async fn count(
        &self,
        db: &tokio_postgres::Client,
        results: &mut Results,
        tally: &Tally,
    ) -> [(&'static str, Counts); 3] {
        // Every finished item's result, by what the store holds: results
        // of items the store lost (a failover) may come besides.
        let records: Vec<i64> = db
            .query("SELECT id FROM taf_record WHERE status = 'processed'", &[])
            .await
            .expect("processed records")
            .iter()
            .map(|row| row.get(0))
            .collect();
        let finished = |stored: &Stored| -> Vec<String> {
            stored
                .finished
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(id, _)| id.clone())
                .collect()
        };
        let (messages, runs) = (finished(&self.eai), finished(&self.runs));
        results
            .collect_until(120, |r| {
                records.iter().all(|id| r.taf_records().contains_key(id))
                    && messages.iter().all(|id| r.eai_responses().contains_key(id))
                    && runs.iter().all(|id| r.process_runs().contains_key(id))
            })
            .await;
        let taf_results = taf_reports(db, results).await;
        let taf = Counts::of(
            &tally.taf,
            &self.taf,
            &taf_results,
            Delivered::of(results, "taf."),
        );
        let eai = Counts::of(
            &tally.eai,
            &self.eai,
            results.eai_responses(),
            Delivered::of(results, "eai."),
        );
        let runs = Counts::of(
            &tally.runs,
            &self.runs,
            results.process_runs(),
            Delivered::of(results, "process."),
        );
        [
            ("TAF records", taf),
            ("EAI messages", eai),
            ("process runs", runs),
        ]
    }
}

/// How each TAF record was reported, by registryKey (TAF results name
/// RecNos).
async fn taf_reports(db: &tokio_postgres::Client, results: &Results) -> HashMap<String, Reports> {
    let keys: HashMap<i64, String> = db
        .query("SELECT id, registry_key FROM taf_record", &[])
        .await
        .expect("records")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let mut reports: HashMap<String, Reports> = HashMap::new();
    for (rec_no, reported) in results.taf_records() {
        let key = keys
            .get(rec_no)
            .cloned()
            .unwrap_or_else(|| format!("RecNo {rec_no}"));
        let merged = reports.entry(key).or_default();
        merged.deliveries += reported.deliveries;
        merged.messages.extend(reported.messages.iter().cloned());
    }
    reports
}

/// Prints the counts as a table under `title`.
pub fn print_table(title: &str, counts: &[(&str, Counts)]) {
    let header: Vec<String> = Counts::HEADER.iter().map(|h| h.to_string()).collect();
    println!("\n{title}\n{}", row("", &header));
    for (name, count) in counts {
        let cells: Vec<String> = count.cells().iter().map(|c| c.to_string()).collect();
        println!("{}", row(name, &cells));
    }
}

/// The open TAF records, EAI messages and process runs (jobs without a
/// final execution), by id.
const OPEN_TAF: &str =
    "SELECT registry_key FROM taf_record WHERE status NOT IN ('processed', 'error')";
const OPEN_EAI: &str = "SELECT uuid FROM eai_message WHERE status = 'pending'";
const OPEN_RUNS: &str = "SELECT j.uid FROM process_job j WHERE NOT EXISTS (
     SELECT 1 FROM process_execution e
     WHERE e.job_id = j.id AND e.status IN ('succeeded', 'failed'))";

async fn opened(db: &tokio_postgres::Client, sql: &str) -> HashSet<String> {
    db.query(sql, &[])
        .await
        .expect(sql)
        .iter()
        .map(|row| row.get(0))
        .collect()
}
