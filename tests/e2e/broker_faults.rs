//! RabbitMQ faults that need a node of the test's own (they change
//! node-wide settings, or count every connection of the node): a broker
//! that stops answering without closing its connections, a memory alarm
//! that blocks publishers, and TLS. Each test counts what really happened
//! and prints its figures.

use std::time::{Duration, Instant};

use fila_tests::broker_node::{BrokerNode, NodeSetup, ServerTls};
use fila_tests::certs::Authority;
use fila_tests::eai::message;
use fila_tests::fila::{PRODUCER, send};
use fila_tests::process::Process;
use fila_tests::proxy::Proxy;
use fila_tests::results::Results;
use fila_tests::taf::{items, lot};
use fila_tests::{Fila, Setup};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Generous bound on an answer of the API while the broker is away: what
/// is promised is far below it (a handover waits at most 500 ms, a
/// readiness check 2 s, a queue's figures 2 s).
const ANSWER_BOUND: Duration = Duration::from_secs(10);

/// Sends a request; its status, its body as JSON and how long it took.
async fn timed(request: reqwest::RequestBuilder) -> (StatusCode, Value, Duration) {
    let started = Instant::now();
    let (status, body) = send(request).await;
    (status, body, started.elapsed())
}

/// The names of the node's connections, sorted (the results observer's
/// connection, and one not opened yet, have none).
async fn connection_names(node: &BrokerNode) -> Vec<String> {
    let mut names: Vec<String> = node
        .connections()
        .await
        .into_iter()
        .map(|c| c.name)
        .collect();
    names.sort();
    names
}

/// The connections to a node: the results observer's, and the API's and
/// one worker's, each publishing and consuming.
fn expected_connections() -> Vec<String> {
    let mut names: Vec<String> = [
        "",
        "fila-api",
        "fila-api (consuming)",
        "fila-worker worker-0",
        "fila-worker worker-0 (consuming)",
    ]
    .map(String::from)
    .to_vec();
    names.sort();
    names
}

#[tokio::test]
async fn a_black_holed_broker_bounds_every_wait_and_work_resumes_once_healed() {
    let node = BrokerNode::start().await;
    let proxy = Proxy::start(format!("127.0.0.1:{}", node.port).parse().expect("addr")).await;
    let proxied = format!("amqp://guest:guest@127.0.0.1:{}/%2f", proxy.port);
    let mut fila = Setup::new()
        .env("AMQP_URL", &proxied)
        .env("AMQP_HEARTBEAT_SECS", 2)
        .start()
        .await;
    let mut results = Results::observe_on(&fila, &node.url()).await;
    let (status, answer) = fila.post_lot(&lot("T-HOLE", items("A", 100))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(fila.wait_finished("T-HOLE", 100, 60).await);
    let opened = fila_tests::eventually(30, || async {
        connection_names(&node).await == expected_connections()
    })
    .await;
    assert!(opened, "{:?}", connection_names(&node).await);
    let negotiated: Vec<u64> = node
        .connections()
        .await
        .iter()
        .filter(|c| c.name.starts_with("fila-"))
        .map(|c| c.heartbeat_secs)
        .collect();
    assert_eq!(negotiated, vec![2; 4], "amqp_heartbeat_secs is proposed");

    proxy.black_hole();
    let holed = Instant::now();
    let mut slowest = Duration::ZERO;
    for batch in 0..10 {
        let request = fila
            .request(Method::POST, "/rest/wstafst2")
            .json(&lot("T-HOLE", items(&format!("B{batch}"), 100)));
        let (status, answer, took) = timed(request).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "the outbox takes the work: {answer}"
        );
        assert!(took < ANSWER_BOUND, "a lot answered in {took:?}");
        slowest = slowest.max(took);
    }
    let eai = message(
        "d6e4b0c2-0000-4000-8000-0000000b1ac0",
        "CUSTOMERVENDOR",
        "HOLE1",
    );
    let request = fila
        .request(Method::POST, "/totvseai/standardmessage/v1/transactions")
        .json(&eai);
    let (status, answer, took) = timed(request).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    slowest = slowest.max(took);

    let worker_noticed = fila
        .worker(0)
        .wait_for_line("consumer interrupted", 60)
        .await
        .expect("the worker notices the silent broker");
    let noticed_after = holed.elapsed();
    let readiness = fila_tests::eventually(60, || async {
        let (status, body, took) = timed(fila.anonymous(Method::GET, "/readyz")).await;
        assert!(took < ANSWER_BOUND, "/readyz answered in {took:?}");
        status == StatusCode::OK && body["status"] == "ready" && body["rabbitmq"] != "ok"
    })
    .await;
    assert!(
        readiness,
        "the API reports RabbitMQ away and stays ready: its intake fills the outbox"
    );
    let (_, readyz, _) = timed(fila.anonymous(Method::GET, "/readyz")).await;
    let mut reads = Vec::new();
    for path in ["/metrics", "/admin/queues", "/ops/overview"] {
        let started = Instant::now();
        let status = fila
            .admin(Method::GET, path)
            .send()
            .await
            .expect("answered")
            .status();
        let took = started.elapsed();
        assert!(
            status.is_success() && took < ANSWER_BOUND,
            "{path}: {status} in {took:?}"
        );
        reads.push(format!("{path} {took:?}"));
    }
    // Long enough for the processes to try reconnecting into the hole.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let held_for = holed.elapsed();
    proxy.heal();

    assert!(fila.wait_finished("T-HOLE", 1_100, 120).await);
    let (status, answer) = fila.post_lot(&lot("T-HOLE", items("C", 100))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(fila.wait_finished("T-HOLE", 1_200, 60).await);
    assert_eq!(results.collect_taf(1_200, 120).await, 1_200);
    assert_eq!(results.collect_eai(1, 60).await, 1);
    let reported = results.taf_records();
    assert!(
        reported.values().all(|r| r.once()),
        "each record reported by one result"
    );
    assert_eq!(
        fila.taf_counts("T-HOLE").await.get("processed"),
        Some(&1_200),
        "each record processed once in the store"
    );
    let settled = fila_tests::eventually(60, || async {
        connection_names(&node).await == expected_connections()
    })
    .await;
    assert!(
        settled,
        "fila holds its four connections, none left behind: {:?}",
        connection_names(&node).await
    );
    let deliveries: usize = reported.values().map(|r| r.deliveries).sum();
    let worker_log = fila.worker(0).log_text();
    println!(
        "black hole held {held_for:?}: slowest intake answer {slowest:?}; {reads:?}; readyz {readyz}; \
         worker noticed after {noticed_after:?}: {worker_noticed}; \
         1,200 records processed, {} reported ({deliveries} deliveries), 1 EAI message; \
         reconnections logged: {}",
        reported.len(),
        worker_log
            .matches("consuming connection to RabbitMQ reopened")
            .count()
            + worker_log.matches("reconnected to RabbitMQ").count()
    );
    results.close().await;
}

/// A queue's ready messages and consumers, as the node lists them.
async fn ready(node: &BrokerNode, queue: &str) -> Option<(u64, u64)> {
    node.ctl(&[
        "list_queues",
        "-q",
        "--no-table-headers",
        "name",
        "messages_ready",
        "consumers",
    ])
    .await
    .lines()
    .find_map(|line| {
        let mut fields = line.split_whitespace();
        (fields.next()? == queue).then_some(())?;
        Some((fields.next()?.parse().ok()?, fields.next()?.parse().ok()?))
    })
}

/// Posts lots of 10 records until `refused` requests were refused with
/// 429; each answered within [`ANSWER_BOUND`]. The accepted tickets, and
/// the slowest answer.
async fn post_until_refused(fila: &Fila, refused: usize) -> (Vec<String>, Duration) {
    let mut accepted = Vec::new();
    let mut refusals = 0;
    let mut slowest = Duration::ZERO;
    for n in 0..500 {
        let ticket = format!("T-ALARM-{n:03}");
        let request = fila
            .request(Method::POST, "/rest/wstafst2")
            .json(&lot(&ticket, items(&ticket, 10)));
        let started = Instant::now();
        let response = request.send().await.expect("answered");
        let took = started.elapsed();
        assert!(took < ANSWER_BOUND, "a lot answered in {took:?}");
        slowest = slowest.max(took);
        match response.status() {
            StatusCode::OK => accepted.push(ticket),
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(response.headers()["retry-after"], "10");
                refusals += 1;
                if refusals == refused {
                    return (accepted, slowest);
                }
            }
            other => panic!("lot {ticket}: {other}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("intake never refused past its bound");
}

#[tokio::test]
async fn a_memory_alarm_blocks_publishing_but_not_intake_or_consuming() {
    let node = BrokerNode::start().await;
    let mut fila = Setup::new()
        .env("AMQP_URL", node.url())
        .env("INTAKE_MAX_QUEUE_DEPTH", 50)
        .env("TAF_CHUNK_SIZE", 10)
        .start()
        .await;
    let mut results = Results::observe_on(&fila, &node.url()).await;
    // Work waits in its queue when the alarm begins: 30 messages.
    let (status, _) = send(fila.admin(Method::POST, "/admin/queues/taf/pause")).await;
    assert_eq!(status, StatusCode::OK);
    let paused = fila
        .worker(0)
        .wait_for_line("consumption stopped", 10)
        .await;
    assert!(paused.is_some(), "the worker stops consuming taf");
    let (status, answer) = fila.post_lot(&lot("T-QUEUED", items("Q", 300))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let queue = format!("{}.taf", fila.prefix);
    // The 30 work messages (and perhaps a reconciliation probe).
    let queued = fila_tests::eventually(30, || async {
        ready(&node, &queue)
            .await
            .is_some_and(|(ready, _)| ready >= 30)
    })
    .await;
    assert!(queued, "30 messages wait in the paused queue");

    node.set_memory_watermark(0.0001).await;
    let alarmed = fila_tests::eventually(30, || async {
        node.alarms().await.contains("Memory alarm")
    })
    .await;
    assert!(alarmed, "the memory alarm is in effect");
    let alarm_began = Instant::now();
    let (status, _) = send(fila.admin(Method::POST, "/admin/queues/taf/resume")).await;
    assert_eq!(status, StatusCode::OK);
    let consumed = fila.wait_finished("T-QUEUED", 300, 60).await;
    assert!(
        consumed,
        "the worker consumes and acknowledges during the alarm"
    );
    let (accepted, slowest) = post_until_refused(&fila, 3).await;
    let states = node.connections().await;
    assert!(
        node.alarms().await.contains("Memory alarm"),
        "all of it happened during the alarm"
    );
    let figures = ready(&node, &queue).await;
    assert_eq!(
        figures,
        Some((0, 1)),
        "the worker kept its consumer and emptied the queue"
    );
    let db = fila.db().await;
    let outbox: i64 = db
        .query_one("SELECT count(*) FROM outbox", &[])
        .await
        .expect("outbox")
        .get(0);
    let alarm_lasted = alarm_began.elapsed();

    node.set_memory_watermark(0.4).await;
    let total = 300 + 10 * accepted.len();
    let finished = fila_tests::eventually(120, || async {
        db.query_one(
            "SELECT count(*) FROM taf_record WHERE status = 'processed'",
            &[],
        )
        .await
        .is_ok_and(|row| row.get::<_, i64>(0) == total as i64)
    })
    .await;
    assert!(finished, "everything accepted is processed after the alarm");
    assert_eq!(results.collect_taf(total, 120).await, total);
    let reported = results.taf_records();
    assert!(
        reported.values().all(|r| r.once()),
        "each record reported by one result"
    );
    let total_records: i64 = db
        .query_one("SELECT count(*) FROM taf_record", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(total_records, total as i64, "nothing refused was stored");
    let log = fila.worker(0).log_text();
    assert!(
        !log.contains("consumer interrupted"),
        "the worker kept its consumers"
    );
    let deliveries: usize = reported.values().map(|r| r.deliveries).sum();
    let states: Vec<String> = states
        .iter()
        .filter(|c| c.name.starts_with("fila-"))
        .map(|c| format!("{} {}", c.name, c.state))
        .collect();
    println!(
        "memory alarm for {alarm_lasted:?}: 300 queued records processed during it; \
         {} lots of 10 accepted into the outbox ({outbox} rows at the end of the alarm), \
         then 429; slowest answer {slowest:?}; connections {states:?}; after it: \
         {total} records processed, {} reported ({deliveries} deliveries)",
        accepted.len(),
        reported.len()
    );
    results.close().await;
}

/// Starts `binary` by hand with `fila`'s environment changed by
/// `settings` (`FILA_<key>`, a value of `None` removing the setting); its
/// log is `<log>.log` in the deployment's folder.
fn spawn_with(fila: &Fila, binary: &str, settings: &[(&str, Option<&str>)], log: &str) -> Process {
    let mut env = fila.env().to_vec();
    for (key, value) in settings {
        let key = format!("FILA_{key}");
        env.retain(|(k, _)| *k != key);
        if let Some(value) = value {
            env.push((key, value.to_string()));
        }
    }
    Process::spawn(binary, &[], &env, fila.log_path(&format!("{log}.log")))
}

/// A folder of the test's own, removed when dropped.
struct Scratch(std::path::PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn fila_works_over_amqps_and_refuses_a_server_it_cannot_verify() {
    let scratch = Scratch(std::env::temp_dir().join(format!("fila-amqps-{}", std::process::id())));
    let dir = scratch.0.clone();
    std::fs::create_dir_all(&dir).expect("dir");
    let authority = Authority::new("fila test CA");
    let ca = dir.join("ca.pem");
    authority.write_certificate(&ca);
    let server = authority.server(&["localhost"], &dir, "server");
    let client = authority.client("fila", &dir, "client");
    let stranger = Authority::new("another CA");
    let wrong_ca = dir.join("wrong-ca.pem");
    stranger.write_certificate(&wrong_ca);
    let node = NodeSetup::default()
        .tls(ServerTls {
            ca: ca.clone(),
            server,
            require_client_cert: true,
        })
        .start()
        .await;
    let url = node.tls_url("localhost");
    let (ca, wrong_ca) = (ca.display().to_string(), wrong_ca.display().to_string());
    let (cert, key) = (
        client.cert.display().to_string(),
        client.key.display().to_string(),
    );
    let fila = Setup::new()
        .env("AMQP_URL", &url)
        .env("AMQP_TLS_CA_FILE", &ca)
        .env("AMQP_TLS_CLIENT_CERT_FILE", &cert)
        .env("AMQP_TLS_CLIENT_KEY_FILE", &key)
        .start()
        .await;
    let mut results = Results::observe_on(&fila, &node.url()).await;
    let (status, answer) = fila.post_lot(&lot("T-TLS", items("S", 200))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(fila.wait_finished("T-TLS", 200, 60).await);
    assert_eq!(results.collect_taf(200, 60).await, 200);
    assert!(results.taf_records().values().all(|r| r.once()));
    let opened = fila_tests::eventually(30, || async {
        connection_names(&node).await == expected_connections()
    })
    .await;
    assert!(opened, "{:?}", connection_names(&node).await);
    let over_tls: Vec<String> = node
        .connections()
        .await
        .into_iter()
        .filter(|c| c.name.starts_with("fila-"))
        .map(|c| format!("{} tls={}", c.name, c.tls))
        .collect();
    assert!(
        over_tls.iter().all(|c| c.ends_with("tls=true")),
        "fila's connections came through the TLS listener: {over_tls:?}"
    );

    // A server fila cannot verify: signed by a CA it does not trust, or
    // not named by its certificate; and a client without a certificate.
    let mut refused = Vec::new();
    let cases = [
        (
            "wrong-ca",
            url.clone(),
            wrong_ca.clone(),
            Some((&cert, &key)),
        ),
        (
            "wrong-name",
            node.tls_url("127.0.0.1"),
            ca.clone(),
            Some((&cert, &key)),
        ),
        ("no-client-cert", url.clone(), ca.clone(), None),
    ];
    for (case, url, trusted, identity) in cases {
        let settings = [
            ("AMQP_URL", Some(url.as_str())),
            ("AMQP_TLS_CA_FILE", Some(trusted.as_str())),
            ("WORKER_ID", Some(case)),
            (
                "AMQP_TLS_CLIENT_CERT_FILE",
                identity.map(|(cert, _)| cert.as_str()),
            ),
            (
                "AMQP_TLS_CLIENT_KEY_FILE",
                identity.map(|(_, key)| key.as_str()),
            ),
        ];
        let mut worker = spawn_with(&fila, "fila-worker", &settings, case);
        let line = worker
            .wait_for_line("RabbitMQ unavailable", 30)
            .await
            .unwrap_or_else(|| panic!("{case}: no reason logged:\n{}", worker.log_text()));
        let reason: Value = serde_json::from_str(&line).expect("json log");
        refused.push((
            case,
            reason["error"].as_str().unwrap_or_default().to_string(),
        ));
        assert!(worker.exited().is_none(), "{case}: the worker keeps trying");
    }
    assert!(refused[0].1.contains("UnknownIssuer"), "{refused:?}");
    assert!(refused[1].1.contains("not valid for name"), "{refused:?}");
    // RabbitMQ's alert, unless it closed the connection before the alert
    // was read (TLS 1.3 tells the client after its side of the handshake).
    assert!(
        refused[2].1.contains("CertificateRequired") || refused[2].1.contains("reset by peer"),
        "{refused:?}"
    );

    // An API that does not trust the server still answers, and the work it
    // takes waits in the outbox for a worker that reaches RabbitMQ.
    let settings = [("AMQP_TLS_CA_FILE", Some(wrong_ca.as_str()))];
    let mut api = spawn_with(&fila, "fila-api", &settings, "api-wrong-ca");
    let listening = api
        .wait_for_line("fila-api listening", 30)
        .await
        .unwrap_or_else(|| panic!("the API starts:\n{}", api.log_text()));
    let addr = serde_json::from_str::<Value>(&listening).expect("json log")["addr"]
        .as_str()
        .expect("addr")
        .to_string();
    let http = fila.http();
    let (status, readyz) = send(http.get(format!("http://{addr}/readyz"))).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "intake takes work all the same: {readyz}"
    );
    assert!(
        readyz["rabbitmq"]
            .as_str()
            .is_some_and(|r| r.contains("UnknownIssuer")),
        "{readyz}"
    );
    let (status, answer) = send(
        http.post(format!("http://{addr}/rest/wstafst2"))
            .basic_auth(PRODUCER.0, Some(PRODUCER.1))
            .json(&lot("T-TLS-OUTBOX", items("O", 10))),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(
        fila.wait_finished("T-TLS-OUTBOX", 10, 60).await,
        "the trusted worker's sweeper publishes the outbox row"
    );
    println!(
        "amqps: 200 records processed and reported once; fila's connections {over_tls:?}; \
         refused: {refused:?}; the API with the wrong CA answered /readyz {readyz} and took a \
         lot of 10, processed through the outbox"
    );
    results.close().await;
}
