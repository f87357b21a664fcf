//! What surrounds the protocols: health, authentication, the branch admin
//! API, configuration errors, migrations and stopping.

use fila_tests::fila::{ADMIN, PRODUCER, send};
use fila_tests::process::Process;
use fila_tests::taf::{codes, item_with, lot};
use fila_tests::{Fila, Setup};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn health_and_readiness_are_open() {
    let fila = Setup::new().workers(0).start().await;
    let (status, body) = send(fila.anonymous(Method::GET, "/healthz")).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let (status, body) = send(fila.anonymous(Method::GET, "/readyz")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({ "status": "ready", "postgres": "ok", "rabbitmq": "ok" })
    );
}

#[tokio::test]
async fn protocol_and_admin_endpoints_need_the_right_user() {
    let fila = Setup::new().workers(0).start().await;
    let path = "/rest/wstafst2?ticketCode=T&startRecNo=0";
    let response = fila
        .anonymous(Method::GET, path)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response
            .headers()
            .get("www-authenticate")
            .is_some_and(|v| v.to_str().is_ok_and(|v| v.starts_with("Basic")))
    );
    let (status, _) = send(
        fila.anonymous(Method::GET, path)
            .basic_auth(PRODUCER.0, Some("wrong")),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = send(
        fila.anonymous(Method::GET, path)
            .basic_auth("nobody", Some("x")),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = send(fila.request(Method::GET, "/admin/taf/branches")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = send(fila.admin(Method::GET, path)).await;
    assert_eq!(status, StatusCode::OK, "an admin may also produce");
    let (status, _) = send(
        fila.anonymous(Method::GET, "/admin/taf/branches")
            .basic_auth(ADMIN.0, Some(ADMIN.1)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn branches_are_listed_added_and_removed() {
    let fila = Setup::new().workers(0).start().await;
    let (_, list) = send(fila.admin(Method::GET, "/admin/taf/branches")).await;
    assert_eq!(
        list["branches"][0],
        json!({ "sourceBranch": "0100", "companyGroup": "01", "registration": null })
    );
    assert_eq!(list["branches"].as_array().map(Vec::len), Some(3));

    let put = |body: serde_json::Value| {
        fila.admin(Method::PUT, "/admin/taf/branches/0500")
            .json(&body)
    };
    let (status, saved) = send(put(
        json!({ "companyGroup": "01", "registration": "53113791" }),
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(saved["sourceBranch"], "0500");
    let (status, _) = send(put(json!({ "companyGroup": "01" }))).await;
    assert_eq!(status, StatusCode::OK);
    for bad in [
        json!({ "companyGroup": "" }),
        json!({ "companyGroup": "01", "registration": "12" }),
        json!({ "group": "01" }),
    ] {
        let (status, body) = send(put(bad.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(body["code"], 400);
    }
    let (_, answer) = fila
        .post_lot(&lot(
            "T-NEW",
            vec![item_with("N", json!({ "sourceBranch": "0500" }))],
        ))
        .await;
    assert_eq!(codes(&answer), vec![("N".to_string(), vec![])]);

    let (status, _) = send(fila.admin(Method::DELETE, "/admin/taf/branches/0500")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = send(fila.admin(Method::DELETE, "/admin/taf/branches/0500")).await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (StatusCode::NOT_FOUND, Some(404))
    );
    let (_, answer) = fila
        .post_lot(&lot(
            "T-GONE",
            vec![item_with("G", json!({ "sourceBranch": "0500" }))],
        ))
        .await;
    assert_eq!(answer["coderr"], 803);
}

/// Runs a binary with the deployment's environment changed by `changes`
/// (a `None` value removes the variable); returns its exit code and output.
async fn run_with(
    fila: &Fila,
    binary: &str,
    args: &[&str],
    changes: &[(&str, Option<&str>)],
) -> (i32, String) {
    let mut env = fila.env().to_vec();
    for (key, value) in changes {
        env.retain(|(k, _)| k != key);
        if let Some(value) = value {
            env.push((key.to_string(), value.to_string()));
        }
    }
    let log = fila.log_path(&format!("{binary}-run.log"));
    let mut process = Process::spawn(binary, args, &env, log);
    let status = process.wait_exit(30).await.expect("exits");
    (status.code().unwrap_or(-1), process.log_text())
}

#[tokio::test]
async fn wrong_configuration_stops_at_start_with_one_line() {
    let fila = Setup::new().workers(0).start().await;
    for (binary, changes, expected) in [
        (
            "fila-api",
            vec![("FILA_HTTP_ADDR", Some("nowhere"))],
            "http_addr",
        ),
        (
            "fila-worker",
            vec![("FILA_WORKER_CONCURRENCY", Some("many"))],
            "worker_concurrency",
        ),
        (
            "fila-worker",
            vec![("FILA_DATABSE_URL", Some("x"))],
            "databse_url",
        ),
        (
            "fila-api",
            vec![("FILA_AMQP_MANAGEMENT_URL", Some("rabbit:15672"))],
            "amqp_management_url",
        ),
        (
            "fila-api",
            vec![("FILA_DATABASE_SCHEMA", Some("bad name"))],
            "database_schema",
        ),
        (
            "fila-api",
            vec![("FILA_CONFIG", Some("/nonexistent/fila.toml"))],
            "/nonexistent/fila.toml",
        ),
    ] {
        let (code, output) = run_with(&fila, binary, &[], &changes).await;
        assert_eq!(code, 2, "{binary} {changes:?}: {output}");
        assert_eq!(output.trim().lines().count(), 1, "{output}");
        assert!(output.contains("configuration error"), "{output}");
        assert!(output.to_lowercase().contains(expected), "{output}");
    }
}

#[tokio::test]
async fn an_api_without_users_refuses_to_start() {
    let fila = Setup::new().workers(0).start().await;
    let config = fila.log_path("no-users.toml");
    std::fs::write(&config, "").expect("config");
    let path = config.display().to_string();
    let (code, output) = run_with(&fila, "fila-api", &[], &[("FILA_CONFIG", Some(&path))]).await;
    assert_eq!(code, 1);
    assert!(output.contains("no users are configured"), "{output}");
}

#[tokio::test]
async fn migrate_subcommand_prepares_a_new_schema() {
    let fila = Setup::new().workers(0).start().await;
    let schema = format!("{}_m", fila.schema);
    let (code, output) = run_with(
        &fila,
        "fila-worker",
        &["migrate"],
        &[("FILA_DATABASE_SCHEMA", Some(&schema))],
    )
    .await;
    assert_eq!(code, 0, "{output}");
    let client = fila.db().await;
    let version: i32 = client
        .query_one(
            &format!("SELECT max(version) FROM {schema}.schema_migrations"),
            &[],
        )
        .await
        .expect("migrated")
        .get(0);
    assert!(version >= 2);
    let (code, _) = run_with(
        &fila,
        "fila-api",
        &["migrate"],
        &[("FILA_DATABASE_SCHEMA", Some(&schema))],
    )
    .await;
    assert_eq!(code, 0, "migrating twice is harmless");
    client
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .expect("drop");
}

#[tokio::test]
async fn sigterm_stops_api_and_worker_cleanly() {
    let mut fila = Fila::start().await;
    fila.worker(0).terminate();
    let status = fila.worker(0).wait_exit(20).await.expect("worker exits");
    assert!(status.success(), "worker: {status:?}");
    fila.api().terminate();
    let status = fila.api().wait_exit(20).await.expect("api exits");
    assert!(status.success(), "api: {status:?}");
}
