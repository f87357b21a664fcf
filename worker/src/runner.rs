//! Running a process: fila's builtins, an HTTP endpoint, or a command.
//!
//! - `http`: the parameters are POSTed as JSON; a 2xx answer with a JSON
//!   object is the outputs; anything else is a failure, whose message shows
//!   the URL without its password (see [`crate::egress`]).
//! - `command`: the executable runs (with its configured arguments, never
//!   through a shell) in a process group of its own, with only the variables
//!   of the worker's environment that `process_command_env` names (the
//!   worker's own settings hold the database and broker passwords), the
//!   parameters as JSON on stdin; a JSON object on stdout is the outputs;
//!   stderr lines `progress N` report progress; a non-zero exit is a failure
//!   whose message is the tail of stderr. When the run is abandoned
//!   (timeout, worker stopping), the group gets SIGTERM, then SIGKILL if it
//!   is still there two seconds later; its output pipes stay open until
//!   then, so that a command reporting its own shutdown is not ended by
//!   SIGPIPE instead.
//! - builtins: `FullName`, `Echo`, `Sleep` and `Fail`, for demos and tests.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::os::fd::{AsFd, OwnedFd};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fila_shared::process::definition::{Builtin, Runner};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::{Map, Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::watch;

use crate::egress::{self, Answer, Call, Endpoint};

/// Lines of stderr kept for a failure's message.
const STDERR_TAIL: usize = 20;
/// Largest stdout read from a command.
const MAX_STDOUT: u64 = 16 * 1024 * 1024;
const KILL_AFTER: Duration = Duration::from_secs(2);
/// How often a terminated group is looked for.
const POLL: Duration = Duration::from_millis(50);

/// Abandoned commands not yet ended.
static TERMINATING: AtomicUsize = AtomicUsize::new(0);

/// Where a run reports its progress (0-100).
pub type Progress = watch::Sender<i32>;

/// The environment a command gets: the variables of the worker's own that
/// the allow-list names, read once when the worker starts.
#[derive(Debug, Clone, Default)]
pub struct CommandEnv(Vec<(OsString, OsString)>);

impl CommandEnv {
    /// The worker's variables named in `allowed` (absent ones are left out).
    pub fn of_worker(allowed: &[String]) -> Self {
        Self(
            allowed
                .iter()
                .filter_map(|name| Some((OsString::from(name), std::env::var_os(name)?)))
                .collect(),
        )
    }
}

/// What a run may use of its worker.
pub struct Tools<'a> {
    /// The client of `http` runners.
    pub http: &'a reqwest::Client,
    /// The environment of `command` runners.
    pub env: &'a CommandEnv,
}

/// Runs a process to its outputs, or to the message of its failure.
pub async fn run(
    runner: &Runner,
    tools: &Tools<'_>,
    timeout: Duration,
    parameters: &Map<String, Value>,
    progress: &Progress,
) -> Result<Map<String, Value>, String> {
    match runner {
        Runner::Builtin(builtin) => run_builtin(*builtin, parameters, progress).await,
        Runner::Http { url } => run_http(tools.http, url, timeout, parameters).await,
        Runner::Command { program, args } => {
            run_command(program, args, tools.env, parameters, progress).await
        }
    }
}

async fn run_builtin(
    builtin: Builtin,
    parameters: &Map<String, Value>,
    progress: &Progress,
) -> Result<Map<String, Value>, String> {
    let text = |name: &str| -> String {
        match parameters.get(name) {
            Some(Value::String(s)) => s.trim().to_string(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        }
    };
    match builtin {
        Builtin::FullName => {
            let first = Some(text("name"))
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| text("username"));
            let full: Vec<String> = [first, text("surname")]
                .into_iter()
                .filter(|p| !p.is_empty())
                .collect();
            Ok(object(json!({ "fullName": full.join(" ") })))
        }
        Builtin::Echo => Ok(parameters.clone()),
        Builtin::Sleep => {
            let seconds = parameters
                .get("seconds")
                .and_then(|v| v.as_f64().or_else(|| v.as_str()?.trim().parse().ok()))
                .unwrap_or(1.0)
                .clamp(0.0, 86_400.0);
            for step in 1..=10 {
                tokio::time::sleep(Duration::from_secs_f64(seconds / 10.0)).await;
                let _ = progress.send(step * 10);
            }
            Ok(object(json!({ "slept": seconds })))
        }
        Builtin::Fail => {
            let message = Some(text("message"))
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| "the process failed on purpose".into());
            Err(message)
        }
    }
}

fn object(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

async fn run_http(
    http: &reqwest::Client,
    url: &str,
    timeout: Duration,
    parameters: &Map<String, Value>,
) -> Result<Map<String, Value>, String> {
    let endpoint = Endpoint::new(url);
    let answer = egress::send(http, &endpoint, &Call::post(timeout), parameters)
        .await
        .map_err(|reason| format!("{endpoint} did not answer: {reason}"))?;
    let body = match answer {
        Answer::Redirect { status, why } => {
            return Err(format!("{endpoint} answered HTTP {status}: {why}"));
        }
        Answer::Final { status, body } if !status.is_success() => {
            let excerpt: String = body.chars().take(500).collect();
            return Err(format!("{endpoint} answered HTTP {status}: {excerpt}"));
        }
        Answer::Final { body, .. } => body,
    };
    match serde_json::from_str::<Value>(&body) {
        Ok(Value::Object(outputs)) => Ok(outputs),
        _ => Err(format!("{endpoint} did not answer a JSON object")),
    }
}

/// Waits, at most the kill delay, for abandoned commands to end: a stopping
/// worker gives them that long before it exits.
pub async fn terminations_ended() {
    let deadline = Instant::now() + KILL_AFTER + POLL;
    while TERMINATING.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        tokio::time::sleep(POLL).await;
    }
}

/// Ends a command's process group when the run is abandoned, holding
/// copies of its output pipes open meanwhile.
struct GroupGuard {
    pid: Option<Pid>,
    pipes: Vec<OwnedFd>,
}

impl GroupGuard {
    fn disarm(&mut self) {
        self.pid = None;
        self.pipes.clear();
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        let Some(pid) = self.pid.take() else { return };
        if killpg(pid, Signal::SIGTERM).is_err() {
            return;
        }
        let pipes = std::mem::take(&mut self.pipes);
        TERMINATING.fetch_add(1, Ordering::SeqCst);
        std::thread::spawn(move || {
            let deadline = Instant::now() + KILL_AFTER;
            while Instant::now() < deadline && killpg(pid, None).is_ok() {
                std::thread::sleep(POLL);
            }
            let _ = killpg(pid, Signal::SIGKILL);
            drop(pipes);
            TERMINATING.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

async fn run_command(
    program: &std::path::Path,
    args: &[String],
    env: &CommandEnv,
    parameters: &Map<String, Value>,
    progress: &Progress,
) -> Result<Map<String, Value>, String> {
    let name = program.display().to_string();
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .env_clear()
        .envs(env.0.iter().map(|(key, value)| (key, value)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("{name} could not start: {e}"))?;
    let pipes = [
        child
            .stdout
            .as_ref()
            .map(|p| p.as_fd().try_clone_to_owned()),
        child
            .stderr
            .as_ref()
            .map(|p| p.as_fd().try_clone_to_owned()),
    ];
    let mut guard = GroupGuard {
        pid: child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw),
        pipes: pipes.into_iter().flatten().flatten().collect(),
    };
    let input = serde_json::to_vec(parameters).unwrap_or_default();
    let mut stdin = child.stdin.take();
    let mut stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let feed = async {
        if let Some(mut stdin) = stdin.take() {
            let _ = stdin.write_all(&input).await;
        }
    };
    let collect_stdout = async {
        let mut bytes = Vec::new();
        if let Some(stdout) = stdout.take() {
            let _ = stdout.take(MAX_STDOUT).read_to_end(&mut bytes).await;
        }
        bytes
    };
    let watch_stderr = async {
        let mut tail = VecDeque::with_capacity(STDERR_TAIL);
        if let Some(stderr) = stderr {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let reported = line
                    .trim()
                    .strip_prefix("progress ")
                    .and_then(|n| n.trim().parse::<i32>().ok());
                match reported {
                    Some(n) => {
                        let _ = progress.send(n);
                    }
                    None => {
                        if tail.len() == STDERR_TAIL {
                            tail.pop_front();
                        }
                        tail.push_back(line);
                    }
                }
            }
        }
        tail
    };
    let ((), out, tail) = tokio::join!(feed, collect_stdout, watch_stderr);
    let status = child
        .wait()
        .await
        .map_err(|e| format!("{name} could not be waited for: {e}"))?;
    guard.disarm();
    if !status.success() {
        let tail: Vec<String> = tail.into_iter().collect();
        return Err(format!("{name} exited with {status}: {}", tail.join("\n")));
    }
    match serde_json::from_slice::<Value>(&out) {
        Ok(Value::Object(outputs)) => Ok(outputs),
        _ => Err(format!("{name} did not write a JSON object on stdout")),
    }
}
