//! The `fila` command line run as a child process, against a deployment
//! or not: its exit code, stdout and stderr, and its stderr while it runs
//! (to watch `--wait`'s progress).

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use crate::Fila;
use crate::fila::{ADMIN, PRODUCER};
use crate::process::bin_dir;

/// How a `fila` command ended.
#[derive(Debug)]
pub struct Output {
    /// The exit code (-1 when killed by a signal).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// A `fila` command line to run.
pub struct FilaCli {
    args: Vec<String>,
    env: Vec<(String, String)>,
    stdin: Option<Vec<u8>>,
}

impl FilaCli {
    /// `fila` without URL or credentials.
    pub fn bare() -> Self {
        Self {
            args: Vec::new(),
            env: Vec::new(),
            stdin: None,
        }
    }

    /// `fila --url <the deployment> --user erp --password secret`.
    pub fn producer(fila: &Fila) -> Self {
        Self::as_user(fila, PRODUCER.0, PRODUCER.1)
    }

    /// `fila` as the admin of the deployment.
    pub fn admin(fila: &Fila) -> Self {
        Self::as_user(fila, ADMIN.0, ADMIN.1)
    }

    pub fn as_user(fila: &Fila, user: &str, password: &str) -> Self {
        Self::bare().args(&[
            "--url",
            &fila.base_url,
            "--user",
            user,
            "--password",
            password,
        ])
    }

    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn stdin(mut self, bytes: &[u8]) -> Self {
        self.stdin = Some(bytes.to_vec());
        self
    }

    /// Runs the command to its end (at most two minutes).
    pub async fn run(self) -> Output {
        self.spawn().finish(120).await
    }

    /// Starts the command; its output is collected while it runs. Its
    /// environment holds no `FILA*` variable of the tests' own, and
    /// `XDG_CONFIG_HOME` is a directory that does not exist, so that no config file of
    /// the machine is read.
    pub fn spawn(self) -> Running {
        let path = bin_dir().join("fila");
        assert!(
            path.exists(),
            "{} is missing: build the binaries first (cargo build --bins)",
            path.display()
        );
        let mut command = Command::new(&path);
        command
            .args(&self.args)
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (key, _) in std::env::vars().filter(|(k, _)| k.to_ascii_uppercase().starts_with("FILA"))
        {
            command.env_remove(key);
        }
        command.env("XDG_CONFIG_HOME", empty_config_home());
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        let mut child = command.spawn().expect("spawn fila");
        if let (Some(bytes), Some(mut stdin)) = (self.stdin, child.stdin.take()) {
            tokio::spawn(async move {
                let _ = stdin.write_all(&bytes).await;
            });
        }
        let stdout = Collector::start(child.stdout.take());
        let stderr = Collector::start(child.stderr.take());
        Running {
            child,
            stdout,
            stderr,
        }
    }
}

/// A directory without `fila/cli.toml` (it is never made).
fn empty_config_home() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("fila-e2e-cli-config-{}", std::process::id()))
}

type Collected = Arc<Mutex<Vec<u8>>>;

/// A pipe read to its end in the background: what it gave so far, and the
/// reader, which ends with the pipe.
struct Collector {
    collected: Collected,
    reader: Option<JoinHandle<()>>,
}

impl Collector {
    fn start(pipe: Option<impl AsyncRead + Unpin + Send + 'static>) -> Self {
        let collected: Collected = Arc::default();
        let reader = pipe.map(|mut pipe| {
            let sink = collected.clone();
            tokio::spawn(async move {
                let mut chunk = [0u8; 8192];
                while let Ok(n) = pipe.read(&mut chunk).await {
                    if n == 0 {
                        break;
                    }
                    sink.lock().expect("output").extend_from_slice(&chunk[..n]);
                }
            })
        });
        Self { collected, reader }
    }

    /// Everything the pipe gave, once it closed.
    async fn drained(self) -> String {
        if let Some(reader) = self.reader {
            reader.await.expect("pipe reader");
        }
        text(&self.collected)
    }
}

fn text(collected: &Collected) -> String {
    String::from_utf8_lossy(&collected.lock().expect("output")).into_owned()
}

/// A `fila` command running.
pub struct Running {
    child: Child,
    stdout: Collector,
    stderr: Collector,
}

impl Running {
    /// The stderr written so far.
    pub fn stderr(&self) -> String {
        text(&self.stderr.collected)
    }

    /// Waits until stderr holds `needle`.
    pub async fn wait_for_stderr(&self, needle: &str, seconds: u64) -> bool {
        crate::eventually(seconds, || {
            let found = self.stderr().contains(needle);
            async move { found }
        })
        .await
    }

    /// Waits for the end (killing the command after `seconds`).
    pub async fn finish(mut self, seconds: u64) -> Output {
        let status = tokio::time::timeout(Duration::from_secs(seconds), self.child.wait()).await;
        let code = match status {
            Ok(Ok(status)) => status.code().unwrap_or(-1),
            _ => {
                let _ = self.child.kill().await;
                panic!(
                    "fila did not end within {seconds} s\nstdout:\n{}\nstderr:\n{}",
                    text(&self.stdout.collected),
                    text(&self.stderr.collected)
                );
            }
        };
        // The pipes close with the process: the readers end once they have
        // read everything.
        Output {
            code,
            stdout: self.stdout.drained().await,
            stderr: self.stderr.drained().await,
        }
    }
}
