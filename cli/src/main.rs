//! `fila`: the command line of fila's producers and operators. It sends
//! TAF lots, EAI messages and process runs and follows them to the end,
//! and operates schedules and dead letters, over fila's HTTP API; it also
//! hashes passwords for the configuration and prints shell completions.
//! Every failure ends in `error.rs`, which gives it its exit code.

mod args;
mod client;
mod context;
mod dead_letters;
mod eai;
mod error;
mod input;
mod password;
mod poll;
mod process;
mod progress;
mod reconcile;
mod schedules;
mod settings;
mod table;
mod taf;

use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use args::{Cli, Command, UserCommand};
use client::Client;
use context::Context;
use error::CliError;
use progress::Progress;
use settings::Connection;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fila: {e}");
            e.exit().into()
        }
    }
}

fn run(cli: Cli) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    let done = match cli.command {
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "fila", &mut out);
            Ok(())
        }
        Command::User(UserCommand::HashPassword) => password::hash(&mut out),
        command => {
            let client = Client::new(Connection::resolve(&cli.connection)?)?;
            let mut ctx = Context {
                client,
                progress: Progress::new(cli.progress),
                out: &mut out,
            };
            match command {
                Command::Taf(command) => taf::run(&mut ctx, command),
                Command::Eai(command) => eai::run(&mut ctx, command),
                Command::Process(command) => process::run(&mut ctx, command),
                Command::Schedule(command) => schedules::run(&mut ctx, command),
                Command::Dlq(command) => dead_letters::run(&mut ctx, command),
                Command::Reconcile {
                    dry_run,
                    queued_before,
                } => reconcile::run(&mut ctx, dry_run, queued_before),
                Command::User(_) | Command::Completions { .. } => Ok(()),
            }
        }
    };
    // The command's own failure comes first: a stdout that cannot be
    // written (a closed pipe) does not hide it.
    let flushed = out.flush();
    done?;
    Ok(flushed?)
}
