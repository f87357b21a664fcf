//! A worker's probes, on its metrics port: `/healthz` answers while the
//! worker runs, `/readyz` only while PostgreSQL and RabbitMQ answer it, and
//! again by itself once they are back.

use std::time::{Duration, Instant};

use fila_tests::proxy::Proxy;
use fila_tests::{Fila, Setup};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The base URL of a worker's HTTP server.
async fn worker_url(fila: &mut Fila, index: usize) -> String {
    let metrics = fila.worker_metrics_url(index).await;
    metrics
        .strip_suffix("/metrics")
        .expect("a metrics URL")
        .to_string()
}

async fn get(fila: &Fila, url: &str) -> (StatusCode, Value) {
    let response = fila.http().get(url).send().await.expect("probe");
    let status = response.status();
    (status, response.json().await.expect("JSON"))
}

/// Waits until `/readyz` answers `status`; its body then.
async fn readiness_becomes(fila: &Fila, base: &str, status: StatusCode, seconds: u64) -> Value {
    let url = format!("{base}/readyz");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut last = Value::Null;
    loop {
        if let Ok(response) = fila.http().get(&url).send().await {
            let answered = response.status();
            last = response.json().await.unwrap_or(Value::Null);
            if answered == status {
                return last;
            }
        }
        assert!(
            Instant::now() < deadline,
            "readyz never answered {status}; last: {last}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn assert_live(fila: &Fila, base: &str) {
    let (status, body) = get(fila, &format!("{base}/healthz")).await;
    assert_eq!((status, body), (StatusCode::OK, json!({ "status": "ok" })));
}

#[tokio::test]
async fn a_worker_is_unready_while_the_database_is_away_and_alive_throughout() {
    let proxy = Proxy::start("127.0.0.1:5432".parse().expect("addr")).await;
    let mut fila = Setup::new().workers(0).start().await;
    let proxied = format!("postgres://postgres@127.0.0.1:{}/postgres", proxy.port);
    let worker = fila
        .start_worker_with(&[("DATABASE_URL", proxied.as_str())])
        .await;
    let base = worker_url(&mut fila, worker).await;

    assert_live(&fila, &base).await;
    let ready = readiness_becomes(&fila, &base, StatusCode::OK, 10).await;
    assert_eq!(
        ready,
        json!({ "status": "ready", "postgres": "ok", "rabbitmq": "ok" })
    );

    proxy.cut();
    let unready = readiness_becomes(&fila, &base, StatusCode::SERVICE_UNAVAILABLE, 15).await;
    assert_eq!(unready["status"], "not ready");
    assert_eq!(unready["rabbitmq"], "ok");
    let postgres = unready["postgres"].as_str().unwrap_or_default();
    assert!(postgres.starts_with("unavailable"), "{unready}");
    assert_live(&fila, &base).await;

    proxy.restore().await;
    readiness_becomes(&fila, &base, StatusCode::OK, 30).await;
}

#[tokio::test]
async fn a_worker_is_unready_while_the_broker_is_away_and_ready_again_by_itself() {
    let proxy = Proxy::start("127.0.0.1:5672".parse().expect("addr")).await;
    let mut fila = Setup::new().workers(0).start().await;
    let proxied = format!("amqp://guest:guest@127.0.0.1:{}/%2f", proxy.port);
    let worker = fila
        .start_worker_with(&[("AMQP_URL", proxied.as_str())])
        .await;
    let base = worker_url(&mut fila, worker).await;
    readiness_becomes(&fila, &base, StatusCode::OK, 10).await;

    proxy.cut();
    let unready = readiness_becomes(&fila, &base, StatusCode::SERVICE_UNAVAILABLE, 15).await;
    assert_eq!(unready["status"], "not ready");
    assert_eq!(unready["postgres"], "ok");
    assert_ne!(unready["rabbitmq"], "ok");
    assert_live(&fila, &base).await;

    proxy.restore().await;
    readiness_becomes(&fila, &base, StatusCode::OK, 30).await;
}
