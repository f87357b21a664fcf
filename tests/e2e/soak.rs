//! The soak run: TAF lots, EAI messages and process runs posted without a
//! pause while one fault of each kind is injected in turn (a worker killed
//! with SIGKILL, the broker cut, the database cut, the API killed with
//! SIGKILL, the work queues purged, the database black-holed, the broker's
//! memory alarm raised); then the counts: every accepted item finished,
//! none lost, none left open, none done twice, and results delivered at
//! least once. Run by `deploy/local/soak.sh [ROUNDS]`, which prints the
//! counts (one round in CI; more repeat the faults). The run has a
//! RabbitMQ node of its own, so that its alarm blocks no one else.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fila_tests::broker_node::BrokerNode;
use fila_tests::eai::message;
use fila_tests::fila::{PRODUCER, send};
use fila_tests::proxy::Proxy;
use fila_tests::rabbitmq::purge;
use fila_tests::results::{Reports, Results};
use fila_tests::taf::{item, lot};
use fila_tests::{Fila, Setup};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use tokio::time::sleep;

/// The phases of a round, in order.
const PHASES: [&str; 8] = [
    "calm",
    "a worker killed",
    "the broker cut",
    "the database cut",
    "the API killed",
    "the work queues purged",
    "the database black-holed",
    "the broker's memory alarm",
];
/// How long each phase of a round lasts.
const PHASE: Duration = Duration::from_secs(10);
/// How long the broker or the database stays cut.
const OUTAGE: Duration = Duration::from_secs(4);
/// How long the database stays black-holed: longer than the watchdog's
/// bound (the statement timeout of 2 s, plus 5 s), so that it acts.
const BLACK_HOLE: Duration = Duration::from_secs(10);
/// Records in each TAF lot.
const LOT: usize = 20;
/// The pause between two turns of the producer (a lot, an EAI message and
/// a process run each turn).
const PACE: Duration = Duration::from_millis(200);

/// What became of the requests of one protocol.
#[derive(Default)]
struct Sent {
    /// Ids of the items answered as accepted.
    accepted: HashSet<String>,
    /// Items answered with a refusal (the database was away).
    refused: usize,
    /// Items whose answer never came (the API was killed): fila may or may
    /// not have stored them.
    unanswered: usize,
}

#[derive(Default)]
struct Tally {
    taf: Sent,
    eai: Sent,
    runs: Sent,
}

/// A request's fate: answered, or not (`None`).
async fn answer(request: RequestBuilder) -> Answer {
    let response = request.send().await.ok()?;
    let status = response.status();
    let body = response.bytes().await.ok()?;
    Some((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
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

/// A free loopback port, so that a restarted API listens where the
/// producer sends.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn rounds() -> usize {
    std::env::var("FILA_SOAK_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .filter(|r| *r > 0)
        .unwrap_or(1)
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
struct Stored {
    /// How many times each stored item finished.
    finished: HashMap<String, i64>,
    /// The items still open.
    open: HashSet<String>,
}

/// The result messages of one protocol: every delivery, and the distinct
/// messages (by `message_id`) among them.
struct Delivered {
    deliveries: usize,
    distinct: usize,
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
struct Counts {
    accepted: usize,
    refused: usize,
    unanswered: usize,
    /// Items stored although their request went unanswered.
    stored_unanswered: usize,
    finished: usize,
    /// Accepted items that neither finished nor stayed open: gone.
    lost: usize,
    /// Items still open after the run.
    stranded: usize,
    /// Items finished more than once in the store, or reported by more
    /// than one distinct result message.
    duplicated: usize,
    /// The result messages, when the run observed them.
    delivered: Option<Delivered>,
}

impl Counts {
    /// `reported`: how each item was reported, when the run observed the
    /// results.
    fn of(sent: &Sent, stored: &Stored, reported: Option<&Reporting>) -> Self {
        let done = |id: &String| stored.finished.get(id).is_some_and(|n| *n > 0);
        let unreported = |id: &String| reported.is_some_and(|r| !r.by_id.contains_key(id));
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
                + reported.map_or(0, |r| {
                    r.by_id.values().filter(|r| r.messages.len() > 1).count()
                }),
            delivered: reported.map(|r| Delivered {
                deliveries: r.delivered.deliveries,
                distinct: r.delivered.distinct,
            }),
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

/// The process the producer starts. A run whose end cannot be recorded
/// (the database is cut just then) is taken over when its lease ends, its
/// timeout plus 10 s: a short timeout keeps that within the settling time.
const PROCESSES: &str = r#"
[[process]]
name = "FullName"
runner = "builtin"
timeout_secs = 10
"#;

#[tokio::test]
#[ignore = "the soak run: deploy/local/soak.sh"]
async fn soak_with_every_fault_in_turn_loses_and_repeats_nothing() {
    let rounds = rounds();
    // A broker of the run's own: its memory alarm blocks only this run.
    let node = BrokerNode::start().await;
    let broker = Proxy::start(SocketAddr::from(([127, 0, 0, 1], node.port))).await;
    let database = Proxy::start("127.0.0.1:5432".parse().expect("addr")).await;
    let port = free_port();
    let mut fila = Setup::new()
        .workers(2)
        .processes(PROCESSES)
        .database_url(format!(
            "postgres://postgres@127.0.0.1:{}/postgres",
            database.port
        ))
        .env(
            "AMQP_URL",
            format!("amqp://guest:guest@127.0.0.1:{}/%2f", broker.port),
        )
        .env("HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("RECONCILE_INTERVAL_SECS", 1)
        .env("RECONCILE_SETTLE_SECS", 3)
        .env("DATABASE_STATEMENT_TIMEOUT_SECS", 2)
        .start()
        .await;
    let results = Results::observe_on(&fila, &node.url()).await;
    let production = Production::start(&fila);

    let mut workers = vec![0, 1];
    for round in 1..=rounds {
        let phase = |name: &str| println!("soak round {round}/{rounds}: {name}");
        phase(PHASES[0]);
        sleep(PHASE).await;

        phase(PHASES[1]);
        fila.kill_worker(workers.remove(0));
        sleep(Duration::from_secs(1)).await;
        workers.push(fila.start_worker().await);
        sleep(PHASE).await;

        phase(PHASES[2]);
        broker.cut();
        sleep(OUTAGE).await;
        broker.restore().await;
        sleep(PHASE).await;

        phase(PHASES[3]);
        database.cut();
        sleep(OUTAGE).await;
        database.restore().await;
        sleep(PHASE).await;

        phase(PHASES[4]);
        fila.kill_api();
        sleep(Duration::from_secs(1)).await;
        fila.start_api().await;
        sleep(PHASE).await;

        phase(PHASES[5]);
        // Held back a moment, so that the purge drops work.
        let queues = ["taf", "eai", "process.default"];
        for queue in queues {
            let pause = fila.admin(Method::POST, &format!("/admin/queues/{queue}/pause"));
            assert_eq!(send(pause).await.0, StatusCode::OK);
        }
        sleep(OUTAGE).await;
        let mut purged = 0;
        for queue in queues {
            purged += purge(&node.url(), &format!("{}.{queue}", fila.prefix)).await;
            let resume = fila.admin(Method::POST, &format!("/admin/queues/{queue}/resume"));
            assert_eq!(send(resume).await.0, StatusCode::OK);
        }
        println!("soak round {round}/{rounds}: {purged} work messages purged");
        sleep(PHASE).await;

        phase(PHASES[6]);
        database.black_hole();
        sleep(BLACK_HOLE).await;
        database.heal();
        sleep(PHASE).await;

        phase(PHASES[7]);
        node.set_memory_watermark(0.0001).await;
        sleep(OUTAGE).await;
        node.set_memory_watermark(0.4).await;
        sleep(PHASE).await;
    }
    let title = format!(
        "{rounds} round(s) of {} ({} s phases)",
        PHASES.join(", "),
        PHASE.as_secs()
    );
    conclude(&fila, Some(results), production, &title).await;
}

/// The producer of a run, posting until stopped.
struct Production {
    tally: Arc<Mutex<Tally>>,
    stop: Arc<AtomicBool>,
    producer: tokio::task::JoinHandle<()>,
}

impl Production {
    fn start(fila: &Fila) -> Self {
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
}

/// Stops the producer, waits for the work to settle, prints the counts
/// under `title` and checks them: every accepted item finished once, and,
/// with `results`, was reported.
async fn conclude(fila: &Fila, results: Option<Results>, production: Production, title: &str) {
    let Production {
        tally,
        stop,
        producer,
    } = production;
    stop.store(true, Ordering::SeqCst);
    producer.await.expect("producer");

    let db = fila.db().await;
    let settled = fila_tests::eventually(300, || async {
        opened(&db, OPEN_TAF).await.is_empty()
            && opened(&db, OPEN_EAI).await.is_empty()
            && opened(&db, OPEN_RUNS).await.is_empty()
    })
    .await;
    let taf = Stored {
        finished: counted(
            &db,
            "SELECT registry_key, count(*) FILTER (WHERE status = 'processed') FROM taf_record GROUP BY registry_key",
        )
        .await,
        open: opened(&db, OPEN_TAF).await,
    };
    let eai = Stored {
        finished: counted(
            &db,
            "SELECT uuid, count(*) FILTER (WHERE status = 'ok') FROM eai_message GROUP BY uuid",
        )
        .await,
        open: opened(&db, OPEN_EAI).await,
    };
    let runs = Stored {
        finished: counted(
            &db,
            "SELECT j.uid, count(e.*) FILTER (WHERE e.status = 'succeeded')
             FROM process_job j LEFT JOIN process_execution e ON e.job_id = j.id GROUP BY j.uid",
        )
        .await,
        open: opened(&db, OPEN_RUNS).await,
    };
    let reported = match results {
        Some(mut results) => {
            results.collect_taf(taf.finished.len(), 120).await;
            results.collect_eai(eai.finished.len(), 60).await;
            results.collect_runs(runs.finished.len(), 60).await;
            let reported = Reported::of(&results, &db).await;
            results.close().await;
            Some(reported)
        }
        None => None,
    };
    let tally = std::mem::take(&mut *tally.lock().expect("tally"));
    let counts = [
        (
            "TAF records",
            Counts::of(&tally.taf, &taf, reported.as_ref().map(|r| &r.taf)),
        ),
        (
            "EAI messages",
            Counts::of(&tally.eai, &eai, reported.as_ref().map(|r| &r.eai)),
        ),
        (
            "process runs",
            Counts::of(&tally.runs, &runs, reported.as_ref().map(|r| &r.runs)),
        ),
    ];
    let header: Vec<String> = Counts::HEADER.iter().map(|h| h.to_string()).collect();
    println!("\nsoak: {title}\n{}", row("", &header));
    for (name, count) in &counts {
        println!("{}", row(name, &count.cells()));
    }
    assert!(settled, "work still open after the run");
    for (name, count) in &counts {
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

/// How one protocol's items were reported by result messages, by id.
struct Reporting {
    by_id: HashMap<String, Reports>,
    delivered: Delivered,
}

/// The result messages of a run, by protocol.
struct Reported {
    taf: Reporting,
    eai: Reporting,
    runs: Reporting,
}

impl Reported {
    async fn of(results: &Results, db: &tokio_postgres::Client) -> Self {
        // TAF results name RecNos: count them by registryKey.
        let keys: HashMap<i64, String> = db
            .query("SELECT id, registry_key FROM taf_record", &[])
            .await
            .expect("records")
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        let mut taf: HashMap<String, Reports> = HashMap::new();
        for (rec_no, reports) in results.taf_records() {
            let key = keys
                .get(rec_no)
                .cloned()
                .unwrap_or_else(|| format!("RecNo {rec_no}"));
            let merged = taf.entry(key).or_default();
            merged.deliveries += reports.deliveries;
            merged.messages.extend(reports.messages.iter().cloned());
        }
        Self {
            taf: Reporting {
                by_id: taf,
                delivered: Delivered::of(results, "taf."),
            },
            eai: Reporting {
                by_id: results.eai_responses().clone(),
                delivered: Delivered::of(results, "eai."),
            },
            runs: Reporting {
                by_id: results.process_runs().clone(),
                delivered: Delivered::of(results, "process."),
            },
        }
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
