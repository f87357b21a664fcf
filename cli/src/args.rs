//! The command line: global connection options and one subcommand per
//! task. clap answers a malformed command line itself, with exit code 2.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use clap_complete::Shell;
use serde_json::Value;

use crate::progress::ProgressMode;

/// Printed after `fila --help`: where settings come from and what the exit
/// codes mean (see `error::Exit`).
const AFTER_HELP: &str = "\
Server and credentials, first found wins: --url/--user/--password; FILACLI_URL,
FILACLI_USER, FILACLI_PASSWORD; the config file (--config, FILACLI_CONFIG, or
$XDG_CONFIG_HOME/fila/cli.toml, else ~/.config/fila/cli.toml) with keys url,
user, password; then http://127.0.0.1:8080. With a user and no password on a
terminal, fila asks for it.

Exit codes:
  0  done (with --wait: everything finished without error)
  1  work failed: items refused, records or messages in error, a process failed,
     dead letter ids not found (the others are replayed)
  2  bad command line or config file
  3  bad input: a file missing or unreadable, not JSON, an empty password
     (or output that cannot be written)
  4  fila unreachable (connection refused, no answer)
  5  credentials refused (HTTP 401 or 403)
  6  request refused (another HTTP 4xx: 400, 404, 413, 429...; or a TAF lot
     refused whole)
  7  server failure (HTTP 5xx, a TAF RESTFAULT, an answer that makes no sense)
  8  --timeout passed before the work finished";

#[derive(Parser)]
#[command(
    name = "fila",
    version,
    about = "Send work to fila and operate it: TAF lots, EAI messages, processes, schedules, dead letters",
    after_help = AFTER_HELP
)]
pub struct Cli {
    #[command(flatten, next_help_heading = "Connection")]
    pub connection: ConnectionArgs,
    /// How to show the progress of --wait on stderr: a bar on a terminal,
    /// plain lines otherwise (auto), or nothing.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto, global = true, help_heading = "Output")]
    pub progress: ProgressMode,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args)]
pub struct ConnectionArgs {
    /// fila's base URL [default: http://127.0.0.1:8080]
    #[arg(long, env = "FILACLI_URL", global = true)]
    pub url: Option<String>,
    /// User for HTTP Basic authentication.
    #[arg(long, env = "FILACLI_USER", global = true)]
    pub user: Option<String>,
    /// Password of the user (prefer the environment or the config file: a
    /// command line is visible to other users of the machine).
    #[arg(long, env = "FILACLI_PASSWORD", hide_env_values = true, global = true)]
    pub password: Option<String>,
    /// Config file (TOML: url, user, password).
    #[arg(long, env = "FILACLI_CONFIG", global = true)]
    pub config: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum Command {
    /// TAF lots of eSocial / EFD-REINF events (/rest/wstafst2).
    #[command(subcommand)]
    Taf(TafCommand),
    /// EAI business messages (/totvseai/standardmessage/v1).
    #[command(subcommand)]
    Eai(EaiCommand),
    /// Named processes, through the scheduler connector API.
    #[command(subcommand)]
    Process(ProcessCommand),
    /// Process schedules (role admin).
    #[command(subcommand)]
    Schedule(ScheduleCommand),
    /// Dead letters: work that failed every attempt (role admin).
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Queue again open work whose queue message is gone (role admin):
    /// what the workers' reconciler finds lost now, or with
    /// --queued-before every open item queued before a time (after a
    /// database restore: the time the backup was taken).
    Reconcile {
        /// Count only, by protocol; queue nothing.
        #[arg(long)]
        dry_run: bool,
        /// An RFC 3339 time, e.g. 2026-12-01T03:00:00Z.
        #[arg(long, value_name = "TIME")]
        queued_before: Option<String>,
    },
    /// Users of fila's configuration.
    #[command(subcommand)]
    User(UserCommand),
    /// Print a shell completion script, e.g. `fila completions bash > /etc/bash_completion.d/fila`.
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },
}

#[derive(Args, Clone, Copy)]
pub struct WaitArgs {
    /// Follow the work until it finished, showing its progress.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this many seconds (exit code 8).
    #[arg(long, value_name = "SECS", requires = "wait")]
    pub timeout: Option<u64>,
}

#[derive(Subcommand)]
pub enum TafCommand {
    /// POST lots (JSON files as the TAF documentation prints them, trailing
    /// commas accepted); print each ticket and the items refused.
    Send {
        /// Lot files, sent in order (each is checked before any is sent).
        #[arg(required = true, value_name = "LOT.json")]
        files: Vec<PathBuf>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Every record of a ticket or registryKey, through all the pages.
    #[command(group(ArgGroup::new("what").required(true).multiple(true).args(["ticket", "key"])))]
    Status {
        /// The ticketCode.
        #[arg(long)]
        ticket: Option<String>,
        /// The registryKey (alone: its records across tickets).
        #[arg(long)]
        key: Option<String>,
        /// 1: the last occurrence of each key; 2: its last processed one.
        #[arg(long, value_parser = ["1", "2"])]
        search_mode: Option<String>,
        /// Print one JSON document (the protocol's page, holding every item).
        #[arg(long)]
        json: bool,
    },
}

/// `batchType`, as the EAI seed names them.
#[derive(ValueEnum, Clone, Copy)]
pub enum BatchType {
    /// Each message is its own unit of work.
    #[value(name = "simpleBatch")]
    SimpleBatch,
    /// The lot is one unit: all its messages take effect, or none.
    #[value(name = "businessTransaction")]
    BusinessTransaction,
}

impl BatchType {
    pub fn as_str(self) -> &'static str {
        match self {
            BatchType::SimpleBatch => "simpleBatch",
            BatchType::BusinessTransaction => "businessTransaction",
        }
    }
}

#[derive(Subcommand)]
pub enum EaiCommand {
    /// POST (or DELETE) a message, a JSON array of messages or {"Items": [...]}.
    Send {
        /// The JSON file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// How fila treats a lot [server default: simpleBatch].
        #[arg(long, value_enum)]
        batch_type: Option<BatchType>,
        /// The lot's id (fila makes one when absent).
        #[arg(long, value_name = "ID")]
        batch_uuid: Option<String>,
        /// Send to /transactions/<TRANSACTION>.
        #[arg(long)]
        transaction: Option<String>,
        /// Send with DELETE: the messages are delete events.
        #[arg(long)]
        delete: bool,
        #[command(flatten)]
        wait: WaitArgs,
    },
}

#[derive(Subcommand)]
pub enum ProcessCommand {
    /// Start a process now (or on a schedule with --cron); print its job id.
    Run {
        /// The process's name.
        name: String,
        /// Parameters: name=text, or name:=JSON for numbers, booleans, lists, objects.
        #[arg(value_name = "NAME=VALUE", value_parser = parse_parameter)]
        parameters: Vec<(String, Value)>,
        /// The worker group to run on.
        #[arg(long)]
        worker: Option<String>,
        /// Retries of each failed run [default: the process's].
        #[arg(long)]
        retry_count: Option<u32>,
        /// Run on this Quartz schedule (UTC) instead of now, e.g. "0 0 6 ? * MON-FRI".
        #[arg(long, value_name = "QUARTZ", conflicts_with = "wait")]
        cron: Option<String>,
        /// With --cron: first date, yyyy-MM-dd HH:mm:ss (UTC).
        #[arg(long, value_name = "DATE", requires = "cron")]
        start_date: Option<String>,
        /// With --cron: last date, yyyy-MM-dd HH:mm:ss (UTC).
        #[arg(long, value_name = "DATE", requires = "cron")]
        end_date: Option<String>,
        /// With --cron: keep only the first run.
        #[arg(long, requires = "cron")]
        run_once: bool,
        /// With --cron: also run now.
        #[arg(long, requires = "cron")]
        run_immediately: bool,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// The job's latest run: status, message and outputs.
    Status {
        /// The job id `process run` printed (robustaSpid).
        job: String,
        /// Print the answer as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `name=text` or `name:=JSON`.
fn parse_parameter(text: &str) -> Result<(String, Value), String> {
    let (name, value) = match text.split_once('=') {
        Some((name, json)) if name.ends_with(':') => {
            let value = serde_json::from_str(json)
                .map_err(|e| format!("the value after := must be JSON: {e}"))?;
            (name.trim_end_matches(':'), value)
        }
        Some((name, value)) => (name, Value::from(value)),
        None => return Err(format!("expected NAME=VALUE, not {text:?}")),
    };
    if name.is_empty() {
        return Err(format!("a parameter needs a name: {text:?}"));
    }
    Ok((name.to_string(), value))
}

#[derive(ValueEnum, Clone, Copy)]
pub enum ScheduleState {
    Active,
    Paused,
    Ended,
}

impl ScheduleState {
    pub fn as_str(self) -> &'static str {
        match self {
            ScheduleState::Active => "active",
            ScheduleState::Paused => "paused",
            ScheduleState::Ended => "ended",
        }
    }
}

#[derive(Subcommand)]
pub enum ScheduleCommand {
    /// List schedules, newest first.
    List {
        #[arg(long, value_enum)]
        state: Option<ScheduleState>,
        /// Print the answer as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Pause a schedule.
    Pause { uid: String },
    /// Resume a schedule from now on (fires missed while paused are not made).
    Resume { uid: String },
    /// End a schedule and cancel its runs not started yet.
    Delete { uid: String },
}

#[derive(Subcommand)]
pub enum DlqCommand {
    /// List dead letters, oldest first (every page).
    List {
        /// Only this queue's: taf, eai or process.<group>.
        #[arg(long)]
        queue: Option<String>,
        /// Print one JSON document {"deadLetters": [...]}.
        #[arg(long)]
        json: bool,
    },
    /// Send dead letters back to their queue as first attempts.
    #[command(group(ArgGroup::new("which").required(true).args(["ids", "queue", "all"])))]
    Replay {
        /// Dead letter ids, each replayed once; ids not found are named and
        /// give exit code 1 (the others are still replayed).
        #[arg(value_name = "ID")]
        ids: Vec<i64>,
        /// Every dead letter of this queue.
        #[arg(long)]
        queue: Option<String>,
        /// Every dead letter.
        #[arg(long)]
        all: bool,
    },
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Print the argon2 hash of a password for `password_hash` in [[users]]:
    /// read from stdin, or asked for (twice, without echo) on a terminal.
    HashPassword,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;
    use serde_json::json;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parameters_are_text_or_json() {
        assert_eq!(
            parse_parameter("name=John=Paul"),
            Ok(("name".into(), json!("John=Paul")))
        );
        assert_eq!(parse_parameter("age:=42"), Ok(("age".into(), json!(42))));
        assert_eq!(parse_parameter("empty="), Ok(("empty".into(), json!(""))));
        assert!(parse_parameter("age:=forty").is_err());
        assert!(parse_parameter("alone").is_err());
        assert!(parse_parameter("=value").is_err());
    }
}
