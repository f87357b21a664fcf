//! TLS to PostgreSQL, against a server of the test's own that takes TLS
//! connections with a certificate of the test's making: fila works over
//! `sslmode=verify-full`, refuses a server its authority did not sign, and
//! refuses a server without TLS when `sslmode=require`.

use std::time::Duration;

use fila_tests::postgres_node::{PostgresNode, certificate_authority};
use fila_tests::process::Process;
use fila_tests::taf::{items, lot};
use fila_tests::{Fila, Setup};
use reqwest::StatusCode;

/// Starts `fila-api` with `url`; how it ended, and its log.
async fn api_with(fila: &Fila, url: &str) -> (Option<std::process::ExitStatus>, String) {
    let mut env: Vec<(String, String)> = fila.env().to_vec();
    env.retain(|(k, _)| k != "FILA_DATABASE_URL");
    env.push(("FILA_DATABASE_URL".into(), url.to_string()));
    let mut api = Process::spawn("fila-api", &[], &env, fila.log_path("api-tls.log"));
    let status = api.wait_exit(30).await;
    (status, api.log_text())
}

#[tokio::test]
async fn fila_works_over_verified_tls_and_refuses_what_it_cannot_trust() {
    let node = PostgresNode::start(true).await;
    let ca = node.ca().display().to_string();
    let url = node.url(
        "localhost",
        &format!("?sslmode=verify-full&sslrootcert={ca}"),
    );
    let fila = Setup::new().database_url(url.clone()).start().await;
    let (status, answer) = fila.post_lot(&lot("T-TLS", items("T", 20))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    let (client, connection) =
        tokio_postgres::connect(&node.url("127.0.0.1", ""), tokio_postgres::NoTls)
            .await
            .expect("the node");
    tokio::spawn(connection);
    let schema = &fila.schema;
    let processed = fila_tests::eventually(60, || async {
        client
            .query_one(
                &format!("SELECT count(*) FROM {schema}.taf_record WHERE status = 'processed'"),
                &[],
            )
            .await
            .is_ok_and(|row| row.get::<_, i64>(0) == 20)
    })
    .await;
    assert!(processed, "the lot was processed over TLS");
    let plain: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
             WHERE a.application_name LIKE 'fila-%' AND NOT s.ssl",
            &[],
        )
        .await
        .expect("connections")
        .get(0);
    let secured: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
             WHERE a.application_name LIKE 'fila-%' AND s.ssl",
            &[],
        )
        .await
        .expect("connections")
        .get(0);
    assert!(secured > 0, "fila's connections use TLS");
    assert_eq!(plain, 0, "and none goes without");

    // An authority that did not sign the server's certificate.
    certificate_authority(node.dir(), "other");
    let other = node.dir().join("other.pem").display().to_string();
    let untrusted = node.url(
        "localhost",
        &format!("?sslmode=verify-full&sslrootcert={other}"),
    );
    let (status, log) = api_with(&fila, &untrusted).await;
    assert!(
        status.is_some_and(|s| !s.success()),
        "the API stops:\n{log}"
    );
    assert!(log.contains("certificate"), "and says why:\n{log}");

    // A server without TLS, when TLS is required.
    let plain = PostgresNode::start(false).await;
    let required = plain.url("127.0.0.1", "?sslmode=require");
    let (status, log) = api_with(&fila, &required).await;
    assert!(
        status.is_some_and(|s| !s.success()),
        "the API stops:\n{log}"
    );
    assert!(log.contains("does not offer TLS"), "and says why:\n{log}");
    tokio::time::sleep(Duration::from_millis(100)).await;
}
