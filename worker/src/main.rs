//! `fila-worker`: work (the default) or apply migrations.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fila_shared::{shutdown, startup};

const BINARY: &str = "fila-worker";

#[derive(Parser)]
#[command(name = "fila-worker", version, about = "fila's worker")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Consume and process work (the default).
    Run,
    /// Apply the database migrations and exit.
    Migrate,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let (config, telemetry) = match startup::init(BINARY) {
        Ok(initialized) => initialized,
        Err(code) => return code,
    };
    let outcome = match cli.command {
        Some(Command::Migrate) => startup::migrate(&config, BINARY).await,
        _ => fila_worker::run(config, shutdown::signal())
            .await
            .map_err(|e| e.to_string()),
    };
    startup::finish(BINARY, outcome, telemetry).await
}
