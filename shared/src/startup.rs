//! What both binaries do first and last: load the configuration, install
//! logging and tracing, apply migrations on demand, and turn the outcome
//! into an exit code with one clear line on failure (exit 2 for
//! configuration), once the last spans are exported.

use std::process::ExitCode;

use crate::config::Config;
use crate::db::migrations;
use crate::telemetry::{self, Telemetry};

/// The configuration, with logging and tracing installed; or the exit code
/// after one line on stderr.
pub fn init(binary: &str) -> Result<(Config, Telemetry), ExitCode> {
    let config = Config::load().map_err(|e| {
        eprintln!("{binary}: configuration error: {e}");
        ExitCode::from(2)
    })?;
    let telemetry = telemetry::init(
        &config.log,
        config.log_format,
        config.otlp_endpoint.as_deref(),
        binary,
    )
    .map_err(|e| {
        eprintln!("{binary}: configuration error: {e}");
        ExitCode::from(2)
    })?;
    Ok((config, telemetry))
}

/// Applies the migrations (the `migrate` subcommand).
pub async fn migrate(config: &Config, binary: &str) -> Result<(), String> {
    let version = migrations::apply(config, binary)
        .await
        .map_err(|e| format!("migrations: {e}"))?;
    tracing::info!(version, schema = %config.database_schema, "schema is up to date");
    Ok(())
}

/// The exit code of a run; a failure is logged and printed on one line.
pub async fn finish(binary: &str, outcome: Result<(), String>, telemetry: Telemetry) -> ExitCode {
    let code = match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "{binary} failed");
            eprintln!("{binary}: {e}");
            ExitCode::FAILURE
        }
    };
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    code
}
