//! Pausing and resuming the consumption of a work queue.

use fila_tests::Setup;
use fila_tests::fila::send;
use fila_tests::taf::{items, lot};
use reqwest::{Method, StatusCode};
use serde_json::Value;

#[tokio::test]
async fn a_paused_queue_keeps_its_work_until_it_is_resumed() {
    let mut fila = Setup::new().start().await;
    let (status, paused) = send(fila.admin(Method::POST, "/admin/queues/taf/pause")).await;
    assert_eq!(status, StatusCode::OK, "{paused}");
    assert_eq!(paused["paused"], true);
    assert_eq!(paused["pausedBy"], "admin");
    let stopped = fila
        .worker(0)
        .wait_for_line("consumption stopped", 10)
        .await;
    assert!(stopped.is_some(), "the worker stops consuming taf");

    let (status, _) = fila.post_lot(&lot("T-PAUSED", items("P", 20))).await;
    assert_eq!(status, StatusCode::OK, "intake goes on");
    assert!(
        !fila.wait_finished("T-PAUSED", 1, 3).await,
        "nothing is processed while paused"
    );
    let (status, listed) = send(fila.admin(Method::GET, "/admin/queues")).await;
    assert_eq!(status, StatusCode::OK);
    let taf: &Value = listed["queues"]
        .as_array()
        .and_then(|q| q.iter().find(|q| q["queue"] == "taf"))
        .expect("the taf queue");
    assert_eq!(taf["paused"], true, "{listed}");
    assert_eq!(taf["consumers"], 0, "{listed}");
    assert!(taf["ready"].as_u64().is_some_and(|n| n > 0), "{listed}");
    let metrics = fila.metrics_text().await;
    assert!(
        metrics.contains("fila_queue_paused{queue=\"taf\"} 1"),
        "{metrics}"
    );
    let eai = listed["queues"]
        .as_array()
        .and_then(|q| q.iter().find(|q| q["queue"] == "eai"))
        .expect("the eai queue");
    assert_eq!(eai["paused"], false);
    assert_eq!(eai["consumers"], 1, "other queues are consumed: {listed}");

    let (status, resumed) = send(fila.admin(Method::POST, "/admin/queues/taf/resume")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(resumed["paused"], false);
    assert!(
        fila.wait_finished("T-PAUSED", 20, 30).await,
        "processed once resumed"
    );
}

#[tokio::test]
async fn only_work_queues_can_be_paused() {
    let fila = Setup::new().workers(0).start().await;
    for name in ["results", "taf.retry.1", "process.", "nothing"] {
        let (status, answer) =
            send(fila.admin(Method::POST, &format!("/admin/queues/{name}/pause"))).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{name}: {answer}");
    }
    let (status, _) = send(fila.admin(Method::POST, "/admin/queues/process.spare/pause")).await;
    assert_eq!(status, StatusCode::OK, "a process group's queue");
    let (_, listed) = send(fila.admin(Method::GET, "/admin/queues")).await;
    assert!(
        listed["queues"].as_array().is_some_and(|q| q
            .iter()
            .any(|q| q["queue"] == "process.spare" && q["paused"] == true)),
        "a paused queue is listed even outside the configured groups: {listed}"
    );
}
