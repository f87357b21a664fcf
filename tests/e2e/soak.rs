//! The soak run: TAF lots, EAI messages and process runs posted without a
//! pause while one fault of each kind is injected in turn (a worker killed
//! with SIGKILL, the broker cut, the database cut, the API killed with
//! SIGKILL, the work queues purged, the database black-holed, the broker's
//! memory alarm raised); then the counts: every accepted item finished,
//! none lost, none left open, none done twice, and results delivered at
//! least once. Run by `deploy/local/soak.sh [ROUNDS]`, which prints the
//! counts (one round in CI; more repeat the faults). The run has a
//! RabbitMQ node of its own, so that its alarm blocks no one else.

use std::net::SocketAddr;
use std::time::Duration;

use fila_tests::Setup;
use fila_tests::broker_node::BrokerNode;
use fila_tests::fila::send;
use fila_tests::proxy::Proxy;
use fila_tests::rabbitmq::purge;
use fila_tests::results::Results;
use fila_tests::traffic::{PROCESSES, Traffic};
use reqwest::{Method, StatusCode};
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
    let mut results = Results::observe_on(&fila, &node.url()).await;
    let traffic = Traffic::start(&fila);

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
        "soak: {rounds} round(s) of {} ({} s phases)",
        PHASES.join(", "),
        PHASE.as_secs()
    );
    let run = traffic.conclude(&fila, Some(&mut results), &title).await;
    run.assert_each_finished_once();
    results.close().await;
}
