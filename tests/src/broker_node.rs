//! A RabbitMQ node of a test's own, for the faults that change node-wide
//! settings (a memory alarm, listeners, TLS), which must not reach the
//! shared node the other tests use. It is the machine's `rabbitmq-server`
//! with its own node name, AMQP and distribution ports, data and log
//! directories, configuration file and plugins file (none), started as the
//! `rabbitmq` user like the shared node, so that it has the same Erlang
//! cookie and `rabbitmqctl -n <node>` reaches it ([`BrokerNode::ctl`]).
//! Dropping it stops the node and removes its directory (kept with
//! `E2E_KEEP_LOGS`). Several may run at once, and may be joined into a
//! cluster with `ctl`.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::certs::Pem;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// How long a node has to boot.
const BOOT_SECS: u64 = 90;

/// A TLS listener's files, copied into the node's directory.
#[derive(Debug, Clone)]
pub struct ServerTls {
    /// The CA the node trusts for client certificates (PEM).
    pub ca: PathBuf,
    /// The node's certificate and key.
    pub server: Pem,
    /// Whether a client must present a certificate signed by `ca`.
    pub require_client_cert: bool,
}

/// How to start a node.
#[derive(Debug, Clone, Default)]
pub struct NodeSetup {
    tls: Option<ServerTls>,
    config: Vec<String>,
}

impl NodeSetup {
    /// Adds a TLS listener on a port of its own ([`BrokerNode::tls_port`]).
    pub fn tls(mut self, tls: ServerTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Adds a line to the node's `rabbitmq.conf`.
    pub fn config(mut self, line: &str) -> Self {
        self.config.push(line.to_string());
        self
    }

    pub async fn start(self) -> BrokerNode {
        let mut failures = Vec::new();
        // A port picked free may be taken before the node binds it: try
        // again with others.
        for _ in 0..3 {
            match BrokerNode::boot(&self).await {
                Ok(node) => return node,
                Err(failure) => failures.push(failure),
            }
        }
        panic!("no RabbitMQ node of the test's own started:\n{failures:#?}");
    }
}

/// A client connection, as the node lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConnection {
    /// The name the client gave it.
    pub name: String,
    /// `running`, `blocking` (publishing would block it), `blocked`, …
    pub state: String,
    /// The heartbeat interval negotiated, in seconds (0: none).
    pub heartbeat_secs: u64,
    /// Whether it came through the TLS listener.
    pub tls: bool,
}

pub struct BrokerNode {
    /// `rabbitmqctl -n` takes it: `fila-e2e-…@localhost`.
    pub name: String,
    /// The AMQP port, on 127.0.0.1.
    pub port: u16,
    /// The TLS listener's port, with [`NodeSetup::tls`].
    pub tls_port: Option<u16>,
    dir: PathBuf,
    server: tokio::process::Child,
}

impl BrokerNode {
    /// A node with a plain AMQP listener.
    pub async fn start() -> Self {
        NodeSetup::default().start().await
    }

    /// `amqp://guest:guest@127.0.0.1:<port>/%2f`.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// The TLS listener's URL, naming the server `host`.
    pub fn tls_url(&self, host: &str) -> String {
        let port = self.tls_port.expect("the node has a TLS listener");
        format!("amqps://guest:guest@{host}:{port}/%2f")
    }

    /// The node's directory (its files, logs and data).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs `rabbitmqctl -n <node>` with `args`; panics with its output on
    /// failure.
    pub async fn ctl(&self, args: &[&str]) -> String {
        let output = ctl_output(&self.name, args).await;
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "rabbitmqctl -n {} {args:?}: {text}{}",
            self.name,
            String::from_utf8_lossy(&output.stderr)
        );
        text
    }

    /// Sets the memory high watermark (a fraction of the machine's memory):
    /// a tiny one raises the memory alarm, which blocks publishers.
    pub async fn set_memory_watermark(&self, fraction: f64) {
        self.ctl(&["set_vm_memory_high_watermark", &fraction.to_string()])
            .await;
    }

    /// The node's alarms in effect, as `rabbitmq-diagnostics` lists them
    /// (empty without any).
    pub async fn alarms(&self) -> String {
        let output = as_root("rabbitmq-diagnostics", &[])
            .args(["-n", &self.name, "-q", "alarms"])
            .output()
            .await
            .expect("rabbitmq-diagnostics runs");
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    /// The node's client connections.
    pub async fn connections(&self) -> Vec<ClientConnection> {
        let listed = self
            .ctl(&[
                "list_connections",
                "-q",
                "--formatter",
                "json",
                "client_properties",
                "state",
                "timeout",
                "ssl",
            ])
            .await;
        let listed: Vec<serde_json::Value> = serde_json::from_str(&listed).unwrap_or_default();
        listed
            .iter()
            .map(|connection| ClientConnection {
                name: connection["client_properties"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|p| p[0] == "connection_name")
                    .and_then(|p| p[2].as_str())
                    .unwrap_or_default()
                    .to_string(),
                state: connection["state"].as_str().unwrap_or_default().to_string(),
                heartbeat_secs: connection["timeout"].as_u64().unwrap_or_default(),
                tls: connection["ssl"].as_bool().unwrap_or_default(),
            })
            .collect()
    }

    async fn boot(setup: &NodeSetup) -> Result<Self, String> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let id = format!(
            "{}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            nanos % 1_000_000
        );
        let name = format!("fila-e2e-{id}@localhost");
        let dir = std::env::temp_dir().join(format!("fila-rabbit-{id}"));
        std::fs::create_dir_all(dir.join("mnesia")).expect("node directory");
        std::fs::create_dir_all(dir.join("log")).expect("node log directory");
        let mut ports = free_ports(if setup.tls.is_some() { 3 } else { 2 }, nanos);
        let port = ports.remove(0);
        let dist_port = ports.remove(0);
        let tls_port = ports.pop();
        let mut config = vec!["log.console = false".to_string()];
        if let (Some(tls), Some(tls_port)) = (&setup.tls, tls_port) {
            let files = dir.join("tls");
            std::fs::create_dir_all(&files).expect("TLS directory");
            for (from, to) in [
                (&tls.ca, "ca.pem"),
                (&tls.server.cert, "server.pem"),
                (&tls.server.key, "server.key"),
            ] {
                std::fs::copy(from, files.join(to)).expect("TLS file");
            }
            config.extend([
                format!("listeners.ssl.1 = 127.0.0.1:{tls_port}"),
                format!(
                    "ssl_options.cacertfile = {}",
                    files.join("ca.pem").display()
                ),
                format!(
                    "ssl_options.certfile = {}",
                    files.join("server.pem").display()
                ),
                format!(
                    "ssl_options.keyfile = {}",
                    files.join("server.key").display()
                ),
                "ssl_options.verify = verify_peer".to_string(),
                format!(
                    "ssl_options.fail_if_no_peer_cert = {}",
                    tls.require_client_cert
                ),
            ]);
        }
        config.extend(setup.config.iter().cloned());
        std::fs::write(dir.join("rabbitmq.conf"), config.join("\n") + "\n").expect("config");
        std::fs::write(dir.join("enabled_plugins"), "[].\n").expect("plugins file");
        std::fs::write(dir.join("rabbitmq-env.conf"), "").expect("env file");
        let owned = as_root("chown", &[])
            .args(["-R", "rabbitmq:rabbitmq"])
            .arg(&dir)
            .status()
            .await
            .expect("chown runs");
        assert!(
            owned.success(),
            "the node's directory cannot be given to rabbitmq"
        );

        let path = |name: &str| dir.join(name).display().to_string();
        let env = [
            ("RABBITMQ_NODENAME", name.clone()),
            ("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1".to_string()),
            ("RABBITMQ_NODE_PORT", port.to_string()),
            ("RABBITMQ_DIST_PORT", dist_port.to_string()),
            ("RABBITMQ_MNESIA_BASE", path("mnesia")),
            ("RABBITMQ_LOG_BASE", path("log")),
            ("RABBITMQ_CONFIG_FILE", path("rabbitmq.conf")),
            ("RABBITMQ_ENABLED_PLUGINS_FILE", path("enabled_plugins")),
            ("RABBITMQ_CONF_ENV_FILE", path("rabbitmq-env.conf")),
            ("RABBITMQ_PID_FILE", path("pid")),
            ("ERL_EPMD_ADDRESS", "127.0.0.1".to_string()),
        ];
        let output = std::fs::File::create(dir.join("server.out")).expect("server output");
        let errors = output.try_clone().expect("server output");
        let env: Vec<(&str, String)> = env.into_iter().collect();
        let server = as_root("rabbitmq-server", &env)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(output)
            .stderr(errors)
            .process_group(0)
            .spawn()
            .expect("rabbitmq-server runs");
        let mut node = Self {
            name,
            port,
            tls_port,
            dir,
            server,
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(BOOT_SECS);
        loop {
            if let Ok(Some(status)) = node.server.try_wait() {
                return Err(format!(
                    "{} exited ({status}):\n{}",
                    node.name,
                    node.output_tail()
                ));
            }
            let started = ctl_output(&node.name, &["-q", "await_startup", "--timeout", "10"]).await;
            if started.status.success() {
                return Ok(node);
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!(
                    "{} did not boot in {BOOT_SECS} s:\n{}",
                    node.name,
                    node.output_tail()
                ));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    fn output_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("server.out")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().rev().take(30).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for BrokerNode {
    fn drop(&mut self) {
        let _ = root_std("rabbitmqctl")
            .args(["-n", &self.name, "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        for _ in 0..200 {
            if matches!(self.server.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if !matches!(self.server.try_wait(), Ok(Some(_))) {
            // Still up: the node's processes, started by root as the
            // rabbitmq user, are in the server's process group.
            if let Some(pid) = self.server.id() {
                let _ = root_std("kill")
                    .args(["-KILL", &format!("-{pid}")])
                    .status();
            }
        }
        if std::env::var_os("E2E_KEEP_LOGS").is_some() {
            eprintln!("RabbitMQ node {} kept in {}", self.name, self.dir.display());
        } else {
            let _ = root_std("rm").arg("-rf").arg(&self.dir).status();
        }
    }
}

/// Whether this process runs as root (then the `rabbitmq-*` wrappers run
/// the tools as the `rabbitmq` user by themselves); otherwise commands go
/// through `sudo`.
fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// `program` as root, with `env` set.
fn as_root(program: &str, env: &[(&str, String)]) -> tokio::process::Command {
    if is_root() {
        let mut command = tokio::process::Command::new(program);
        command.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        command
    } else {
        let mut command = tokio::process::Command::new("sudo");
        command
            .arg("env")
            .args(env.iter().map(|(k, v)| format!("{k}={v}")))
            .arg(program);
        command
    }
}

/// `program` as root, waited for without a runtime (in `Drop`).
fn root_std(program: &str) -> Command {
    if is_root() {
        Command::new(program)
    } else {
        let mut command = Command::new("sudo");
        command.arg(program);
        command
    }
}

async fn ctl_output(node: &str, args: &[&str]) -> std::process::Output {
    as_root("rabbitmqctl", &[])
        .args(["-n", node])
        .args(args)
        .output()
        .await
        .expect("rabbitmqctl runs")
}

/// `count` ports free on 127.0.0.1 now, below the range the kernel hands
/// out for outgoing connections (and away from 25672 and the 35672-35682
/// that RabbitMQ's command-line tools take).
fn free_ports(count: usize, seed: u32) -> Vec<u16> {
    let mut ports = Vec::with_capacity(count);
    let mut candidate = 20_000 + (seed.wrapping_mul(2_654_435_761) % 5_000) as u16;
    while ports.len() < count {
        candidate = if candidate >= 25_000 {
            20_000
        } else {
            candidate + 1
        };
        if std::net::TcpListener::bind(("127.0.0.1", candidate)).is_ok() {
            ports.push(candidate);
        }
    }
    ports
}
