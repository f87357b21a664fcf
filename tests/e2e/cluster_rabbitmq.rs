//! RabbitMQ node faults on the local three-node cluster
//! (`deploy/local/cluster.sh`), with quorum queues: fila (the API and two
//! workers) reaches the nodes through an `amqp_url` naming all three,
//! while a producer posts TAF lots, EAI messages and process runs without a
//! pause.
//!
//! - One node is killed with SIGKILL and its data directory deleted; the
//!   work goes on with two nodes; then an empty node of the same name joins
//!   in its place and becomes a member of every quorum queue again.
//! - A rolling restart: each node in turn is stopped and started again.
//! - With classic queues, the node of one queue stopped: fila declares and
//!   uses the others, and that queue's work finishes once its node is back.
//!
//! Every accepted item finishes, none twice in the store; where results
//! are observed (through node 1, which the first fault spares), each item
//! is reported. Run by `deploy/local/test-cluster.sh`.

use std::time::Duration;

use fila_tests::cluster::Cluster;
use fila_tests::eai::message;
use fila_tests::rabbitmq::replace_with_classic;
use fila_tests::results::Results;
use fila_tests::taf::{items, lot};
use fila_tests::traffic::{PROCESSES, Traffic};
use fila_tests::{Fila, Setup};
use reqwest::StatusCode;
use serde_json::json;
use tokio::time::sleep;

/// Traffic between two faults.
const PHASE: Duration = Duration::from_secs(10);

/// Puts every node back in the cluster if the test fails half-way.
struct Mend<'a>(&'a Cluster);

impl Drop for Mend<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for node in ["1", "2", "3"] {
                self.0.run_blocking(&["rabbit", "start", node]);
            }
        }
    }
}

/// A deployment on the cluster's RabbitMQ, with quorum queues.
async fn deployment(cluster: &Cluster) -> Fila {
    Setup::new()
        .workers(2)
        .processes(PROCESSES)
        .broker_server(cluster.amqp_url(), cluster.rabbit_url(1))
        .env("AMQP_QUEUE_TYPE", "quorum")
        .env("RECONCILE_INTERVAL_SECS", 1)
        .env("RECONCILE_SETTLE_SECS", 3)
        .start()
        .await
}

/// Stops the traffic and fails unless every accepted item finished once.
async fn judge(traffic: Traffic, fila: &Fila, results: Option<&mut Results>, title: &str) {
    traffic
        .conclude(fila, results, title)
        .await
        .assert_each_finished_once();
}

#[tokio::test]
#[ignore = "needs the cluster: deploy/local/test-cluster.sh"]
async fn cluster_rabbitmq_a_node_lost_with_its_disk_loses_no_work() {
    let cluster = Cluster::running();
    let _mend = Mend(&cluster);
    let fila = deployment(&cluster).await;
    let mut results = Results::observe(&fila).await;
    let traffic = Traffic::start(&fila);
    sleep(PHASE).await;
    cluster.rabbit("kill", 2).await;
    cluster.rabbit("wipe", 2).await;
    sleep(PHASE).await;
    cluster.rabbit("replace", 2).await;
    let members = cluster.queue_members(&format!("{}.", fila.prefix)).await;
    assert!(members.len() >= 30, "fila's quorum queues: {members:?}");
    for (queue, members) in &members {
        assert!(
            members.iter().any(|m| m == "fila2@localhost") && members.len() == 3,
            "{queue} has the new node among its three members: {members:?}"
        );
    }
    sleep(PHASE).await;
    judge(
        traffic,
        &fila,
        Some(&mut results),
        "RabbitMQ node killed, its disk deleted, an empty node joined (quorum queues)",
    )
    .await;
    results.close().await;
}

#[tokio::test]
#[ignore = "needs the cluster: deploy/local/test-cluster.sh"]
async fn cluster_rabbitmq_a_rolling_restart_loses_no_work() {
    let cluster = Cluster::running();
    let _mend = Mend(&cluster);
    let fila = deployment(&cluster).await;
    let traffic = Traffic::start(&fila);
    sleep(PHASE).await;
    for node in [1, 2, 3] {
        cluster.rabbit("stop", node).await;
        sleep(PHASE / 2).await;
        cluster.rabbit("start", node).await;
        sleep(PHASE / 2).await;
    }
    judge(
        traffic,
        &fila,
        None,
        "RabbitMQ rolling restart: each node stopped and started in turn (quorum queues)",
    )
    .await;
}

#[tokio::test]
#[ignore = "needs the cluster: deploy/local/test-cluster.sh"]
async fn cluster_rabbitmq_a_queue_whose_node_is_down_does_not_stop_the_others() {
    let cluster = Cluster::running();
    let _mend = Mend(&cluster);
    // Classic queues live on the node that declared them: fila's on
    // node 1 (the first of its URL), the EAI queue moved to node 3.
    let mut fila = Setup::new()
        .workers(0)
        .processes(PROCESSES)
        .broker_server(cluster.amqp_url(), cluster.rabbit_url(1))
        .env("RECONCILE_INTERVAL_SECS", 1)
        .env("RECONCILE_SETTLE_SECS", 3)
        .start()
        .await;
    let eai = format!("{}.eai", fila.prefix);
    let work = format!("{}.work", fila.prefix);
    replace_with_classic(&cluster.rabbit_url(3), &eai, Some((&work, "eai"))).await;

    cluster.rabbit("stop", 3).await;
    fila.kill_api();
    fila.start_api().await;
    let line = fila
        .api()
        .wait_for_line("a work queue cannot be declared", 30)
        .await
        .expect("the API names the queue it cannot declare");
    assert!(
        line.contains(&format!("queue {eai} cannot be declared")),
        "{line}"
    );
    fila.start_worker().await;
    let mut results = Results::observe(&fila).await;
    fila.post_lot(&lot("T-HOME", items("H", 40))).await;
    let (status, _) = fila
        .post_eai(&message(
            "d6e4b0c2-0000-4000-8000-00000000b001",
            "CUSTOMERVENDOR",
            "H1",
        ))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, _) = fila
        .start_robusta(
            &json!({ "name": "FullName", "values": { "name": "Ana", "surname": "Lima" } }),
        )
        .await;
    assert!(status.is_success());
    assert!(fila.wait_finished("T-HOME", 40, 60).await, "TAF goes on");
    assert_eq!(results.collect_runs(1, 60).await, 1, "processes go on");

    cluster.rabbit("start", 3).await;
    assert_eq!(
        results.collect_eai(1, 120).await,
        1,
        "the EAI message finishes once its queue's node is back"
    );
    results.close().await;
}
