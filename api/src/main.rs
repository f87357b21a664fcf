//! `fila-api`: serve (the default), apply migrations, or hash a password.

use std::io::Read;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fila_shared::config::Config;
use fila_shared::{shutdown, startup};
use tokio::net::TcpListener;

const BINARY: &str = "fila-api";

#[derive(Parser)]
#[command(name = "fila-api", version, about = "fila's HTTP API")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply the database migrations and exit.
    Migrate,
    /// Read a password on stdin and print its argon2 hash for `[[users]]`.
    HashPassword,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::HashPassword) = cli.command {
        return hash_password();
    }
    let (config, telemetry) = match startup::init(BINARY) {
        Ok(initialized) => initialized,
        Err(code) => return code,
    };
    let outcome = match cli.command {
        Some(Command::Migrate) => startup::migrate(&config, BINARY).await,
        _ => serve(config).await,
    };
    startup::finish(BINARY, outcome, telemetry).await
}

async fn serve(config: Config) -> Result<(), String> {
    let addr = config.http_addr;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(addr = %local, "fila-api listening");
    fila_api::run(config, listener, shutdown::signal())
        .await
        .map_err(|e| e.to_string())
}

fn hash_password() -> ExitCode {
    let mut input = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut input) {
        eprintln!("fila-api: cannot read the password: {e}");
        return ExitCode::FAILURE;
    }
    let password = input.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        eprintln!(
            "fila-api: give the password on stdin, e.g. `printf %s secret | fila-api hash-password`"
        );
        return ExitCode::from(2);
    }
    match fila_shared::password::hash_password(password) {
        Ok(hash) => {
            println!("{hash}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("fila-api: {e}");
            ExitCode::FAILURE
        }
    }
}
