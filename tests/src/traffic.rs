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

/// A producer posting work until stopped (see [`produce`]).
pub struct Traffic {
    tally: Arc<Mutex<Tally>>,
    stop: Arc<AtomicBool>,
    producer: tokio::task::JoinHandle<()>,
}

impl Traffic {
    /// Starts posting to `fila`.
    pub fn start(fila: &crate::Fila) -> Self {
        let tally = Arc::new(Mutex::new(Tally::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let producer = tokio::spawn(produce(
            fila.http(),
            fila.base_url.clone(),
            tally.clone(),
            stop.clone(),
        ));
        Self {
            tally,
            stop,
            producer,
        }
    }

    /// How many items of each protocol were accepted so far: TAF records,
    /// EAI messages, process runs.
    pub fn accepted(&self) -> [usize; 3] {
        let tally = self.tally.lock().expect("tally");
        [
            tally.taf.accepted.len(),
            tally.eai.accepted.len(),
            tally.runs.accepted.len(),
        ]
    }

    /// Stops posting, waits until nothing is open in `fila`'s store (at
    /// most 300 s), counts each protocol (with how `results` reported the
    /// items, when the run observed them) and prints the table under
    /// `title`.
    pub async fn conclude(
        self,
        fila: &crate::Fila,
        results: Option<&mut Results>,
        title: &str,
    ) -> Run {
        self.stop.store(true, Ordering::SeqCst);
        self.producer.await.expect("producer");
        let tally = std::mem::take(&mut *self.tally.lock().expect("tally"));
        let db = fila.db().await;
        let settled = Store::settle(&db, 300).await;
        let store = Store::read(&db).await;
        let counts = store.count(&db, results, &tally).await;
        print_table(title, &counts);
        Run {
            settled,
            tally,
            store,
            counts,
        }
    }
}

/// What a run of traffic came to.
pub struct Run {
    /// Whether nothing was left open.
    pub settled: bool,
    pub tally: Tally,
    pub store: Store,
    /// TAF records, EAI messages, process runs.
    pub counts: [(&'static str, Counts); 3],
}

impl Run {
    /// Fails unless the work settled and every accepted item finished
    /// once: none lost, left open or done twice, and results (when
    /// observed) delivered at least once.
    pub fn assert_each_finished_once(&self) {
        assert!(self.settled, "work still open after the run");
        for (name, count) in &self.counts {
            assert!(count.accepted > 0, "{name}: nothing accepted");
            assert_eq!(count.lost, 0, "{name} lost");
            assert_eq!(count.stranded, 0, "{name} stranded");
            assert_eq!(count.duplicated, 0, "{name} duplicated");
            assert_eq!(
                count.finished,
                count.accepted + count.stored_unanswered,
                "{name}: accepted = finished"
            );
            if let Some(delivered) = &count.delivered {
                assert!(delivered.deliveries >= delivered.distinct);
            }
        }
    }
}

/// Posts work until `stop`, recording every answer in `tally`.
async fn produce(
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
    /// The result messages, when the run observed them.
    pub delivered: Option<Delivered>,
}

impl Counts {
    /// `reported`: how each item was reported, and the deliveries, when
    /// the run observed the results.
    fn of(
        sent: &Sent,
        stored: &Stored,
        reported: Option<(&HashMap<String, Reports>, Delivered)>,
    ) -> Self {
        let done = |id: &String| stored.finished.get(id).is_some_and(|n| *n > 0);
        let results = reported.as_ref().map(|(results, _)| *results);
        let unreported = |id: &String| results.is_some_and(|r| !r.contains_key(id));
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
                .filter(|id| !done(id) || unreported(id))
                .count(),
            stranded: stored.open.len(),
            duplicated: stored.finished.values().filter(|n| **n > 1).count()
                + results.map_or(0, |r| r.values().filter(|r| r.messages.len() > 1).count()),
            delivered: reported.map(|(_, delivered)| delivered),
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

    /// The row's cells; `-` where the run did not observe results.
    fn cells(&self) -> Vec<String> {
        let mut cells: Vec<String> = [
            self.accepted,
            self.refused,
            self.unanswered,
            self.stored_unanswered,
            self.finished,
            self.lost,
            self.stranded,
            self.duplicated,
        ]
        .iter()
        .map(usize::to_string)
        .collect();
        match &self.delivered {
            Some(d) => cells.extend([d.deliveries.to_string(), d.distinct.to_string()]),
            None => cells.extend(["-".to_string(), "-".to_string()]),
        }
        cells
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
        results: Option<&mut Results>,
        tally: &Tally,
    ) -> [(&'static str, Counts); 3] {
        let Some(results) = results else {
            return [
                ("TAF records", Counts::of(&tally.taf, &self.taf, None)),
                ("EAI messages", Counts::of(&tally.eai, &self.eai, None)),
                ("process runs", Counts::of(&tally.runs, &self.runs, None)),
            ];
        };
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
            Some((&taf_results, Delivered::of(results, "taf."))),
        );
        let eai = Counts::of(
            &tally.eai,
            &self.eai,
            Some((results.eai_responses(), Delivered::of(results, "eai."))),
        );
        let runs = Counts::of(
            &tally.runs,
            &self.runs,
            Some((results.process_runs(), Delivered::of(results, "process."))),
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
        println!("{}", row(name, &count.cells()));
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
