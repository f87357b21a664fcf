//! Schema migrations, embedded in the binaries and applied in order under an
//! advisory lock, so that an API and several workers starting together
//! migrate once. The applied versions are kept in `schema_migrations`.

use tokio_postgres::Client;

use super::Use;
use crate::config::Config;

use super::StoreError;

/// `(version, SQL)`, in order; a released migration is never edited.
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("../../migrations/0001_outbox.sql")),
    (2, include_str!("../../migrations/0002_taf.sql")),
    (3, include_str!("../../migrations/0003_taf_lz4.sql")),
    (4, include_str!("../../migrations/0004_eai.sql")),
    (5, include_str!("../../migrations/0005_process.sql")),
    (6, include_str!("../../migrations/0006_session.sql")),
    (7, include_str!("../../migrations/0007_dead_letter.sql")),
    (8, include_str!("../../migrations/0008_process_due.sql")),
    (9, include_str!("../../migrations/0009_outbox_trace.sql")),
    (10, include_str!("../../migrations/0010_queue_pause.sql")),
    (11, include_str!("../../migrations/0011_overview.sql")),
    (12, include_str!("../../migrations/0012_finished_tally.sql")),
    (13, include_str!("../../migrations/0013_ops_lists.sql")),
    (14, include_str!("../../migrations/0014_outbox_retries.sql")),
    (15, include_str!("../../migrations/0015_reconcile.sql")),
    (16, include_str!("../../migrations/0016_eai_order.sql")),
    (17, include_str!("../../migrations/0017_deliveries.sql")),
    (18, include_str!("../../migrations/0018_eai_callbacks.sql")),
    (
        19,
        include_str!("../../migrations/0019_process_zone_elements.sql"),
    ),
    (20, include_str!("../../migrations/0020_taf_fidelity.sql")),
];

/// The schema version this build expects.
pub const LATEST: i32 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// Creates the schema if needed and applies the missing migrations, on a
/// connection of its own whose statements may run as long as they take.
pub async fn apply(config: &Config, application: &str) -> Result<i32, MigrationError> {
    let connector = super::connector(config, application, Use::Migrations)?;
    let (mut client, driver) = connector.open().await.map_err(StoreError::from)?;
    let driving = tokio::spawn(async move {
        if let Err(e) = driver.await {
            tracing::debug!(error = %e, "migration connection ended");
        }
    });
    let schema = &config.database_schema;
    let applied = apply_on(&mut client, schema).await;
    drop(client);
    let _ = driving.await;
    Ok(applied?)
}

/// Why migrations could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error(transparent)]
    Setup(#[from] super::PoolSetupError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

async fn apply_on(client: &mut Client, schema: &str) -> Result<i32, StoreError> {
    client
        .execute(
            "SELECT pg_advisory_lock(hashtext('fila.migrations.' || $1))",
            &[&schema],
        )
        .await?;
    let outcome = apply_locked(client, schema).await;
    let unlocked = client
        .execute(
            "SELECT pg_advisory_unlock(hashtext('fila.migrations.' || $1))",
            &[&schema],
        )
        .await;
    let version = outcome?;
    unlocked?;
    Ok(version)
}

async fn apply_locked(client: &mut Client, schema: &str) -> Result<i32, StoreError> {
    client
        .batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS \"{schema}\";
             CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    integer PRIMARY KEY,
                 applied_at timestamptz NOT NULL DEFAULT now()
             );"
        ))
        .await?;
    let current = current_version(client).await?;
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        let tx = client.transaction().await?;
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[version],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(version, "applied migration");
    }
    Ok(LATEST.max(current))
}

/// The highest applied version; 0 when nothing was ever applied.
pub async fn current_version(client: &Client) -> Result<i32, StoreError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
        .await?
        .get(0);
    if !exists {
        return Ok(0);
    }
    Ok(client
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            &[],
        )
        .await?
        .get(0))
}
