//! What both binaries do first and last: load the configuration, install
//! logging, apply migrations on demand, and turn the outcome into an exit
//! code with one clear line on failure (exit 2 for configuration).

use std::process::ExitCode;

use crate::config::Config;
use crate::db::{self, migrations};
use crate::telemetry;

/// The configuration, with logging installed; or the exit code after one
/// line on stderr.
pub fn init(binary: &str) -> Result<Config, ExitCode> {
    let config = Config::load().map_err(|e| {
        eprintln!("{binary}: configuration error: {e}");
        ExitCode::from(2)
    })?;
    telemetry::init(&config.log, config.log_format).map_err(|e| {
        eprintln!("{binary}: configuration error: {e}");
        ExitCode::from(2)
    })?;
    Ok(config)
}

/// Applies the migrations (the `migrate` subcommand).
pub async fn migrate(config: &Config, binary: &str) -> Result<(), String> {
    let pool = db::pool(config, binary).map_err(|e| e.to_string())?;
    let version = migrations::apply(&pool, &config.database_schema)
        .await
        .map_err(|e| format!("migrations: {e}"))?;
    tracing::info!(version, schema = %config.database_schema, "schema is up to date");
    Ok(())
}

/// The exit code of a run; a failure is logged and printed on one line.
pub fn finish(binary: &str, outcome: Result<(), String>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "{binary} failed");
            eprintln!("{binary}: {e}");
            ExitCode::FAILURE
        }
    }
}
