//! The local cluster of `deploy/local/cluster.sh`: three RabbitMQ nodes
//! and a PostgreSQL primary with a streaming standby, started by
//! `deploy/local/test-cluster.sh` before the cluster tests. This reads the
//! environment file the script writes (`$FILA_CLUSTER_DIR/env`, by default
//! `target/cluster/env` of the workspace) and breaks or mends the nodes
//! through the script's subcommands, so that the script stays the one place
//! that knows how the nodes run.

use std::collections::HashMap;
use std::path::PathBuf;

/// The cluster the script started.
pub struct Cluster {
    script: PathBuf,
    dir: PathBuf,
    env: HashMap<String, String>,
}

impl Cluster {
    /// The cluster that runs; panics when there is none (the environment
    /// file is missing).
    pub fn running() -> Self {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the workspace")
            .to_path_buf();
        let dir = std::env::var_os("FILA_CLUSTER_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target/cluster"));
        let file = dir.join("env");
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| {
            panic!(
                "no cluster runs ({}: {e}): start it with deploy/local/cluster.sh up",
                file.display()
            )
        });
        let env = text
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(key, value)| (key.to_string(), value.trim_matches('"').to_string()))
            .collect();
        Self {
            script: root.join("deploy/local/cluster.sh"),
            dir,
            env,
        }
    }

    fn var(&self, key: &str) -> &str {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("{key} is missing from the cluster's environment file"))
    }

    /// The three RabbitMQ nodes, in one AMQP URL.
    pub fn amqp_url(&self) -> String {
        self.var("CLUSTER_AMQP_URL").to_string()
    }

    /// The RabbitMQ nodes' AMQP ports, node 1 first.
    pub fn rabbit_ports(&self) -> Vec<u16> {
        self.var("CLUSTER_AMQP_PORTS")
            .split_whitespace()
            .map(|port| port.parse().expect("a port"))
            .collect()
    }

    /// The AMQP URL of RabbitMQ node `node` alone (1, 2 or 3).
    pub fn rabbit_url(&self, node: u8) -> String {
        let port = self.rabbit_ports()[usize::from(node.clamp(1, 3)) - 1];
        format!("amqp://guest:guest@127.0.0.1:{port}/%2f")
    }

    /// Both PostgreSQL nodes, with `target_session_attrs=read-write`.
    pub fn database_url(&self) -> String {
        self.var("CLUSTER_DATABASE_URL").to_string()
    }

    /// The PostgreSQL nodes' ports, node 1 first (which is the primary
    /// changes with each promotion).
    pub fn pg_ports(&self) -> Vec<u16> {
        self.var("CLUSTER_PG_PORTS")
            .split_whitespace()
            .map(|port| port.parse().expect("a port"))
            .collect()
    }

    /// Runs `cluster.sh <args>`; panics with its output when it fails.
    pub async fn run(&self, args: &[&str]) -> String {
        let output = tokio::process::Command::new(&self.script)
            .args(args)
            .env("FILA_CLUSTER_DIR", &self.dir)
            .output()
            .await
            .expect("cluster.sh runs");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "cluster.sh {args:?} failed:\n{text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        println!("{}", text.trim_end());
        text
    }

    /// Runs `cluster.sh <args>` without a runtime (from `Drop`, to mend
    /// what a failed test left broken); whether it succeeded.
    pub fn run_blocking(&self, args: &[&str]) -> bool {
        std::process::Command::new(&self.script)
            .args(args)
            .env("FILA_CLUSTER_DIR", &self.dir)
            .status()
            .is_ok_and(|status| status.success())
    }

    /// Runs `cluster.sh rabbit <action> <node>` (node 1, 2 or 3).
    pub async fn rabbit(&self, action: &str, node: u8) -> String {
        self.run(&["rabbit", action, &node.to_string()]).await
    }

    /// The members of each queue whose name starts with `prefix`, as node
    /// 1 lists them.
    pub async fn queue_members(&self, prefix: &str) -> HashMap<String, Vec<String>> {
        let output = tokio::process::Command::new("rabbitmqctl")
            .args(["-n", "fila1@localhost", "list_queues", "name", "members"])
            .args(["--formatter", "json"])
            .output()
            .await
            .expect("rabbitmqctl runs");
        assert!(output.status.success(), "rabbitmqctl list_queues failed");
        let queues: Vec<serde_json::Value> =
            serde_json::from_slice(&output.stdout).expect("JSON from rabbitmqctl");
        queues
            .iter()
            .filter_map(|queue| {
                let name = queue["name"].as_str()?;
                let members = queue["members"].as_array()?;
                name.starts_with(prefix).then(|| {
                    let members = members
                        .iter()
                        .filter_map(|m| m.as_str().map(String::from))
                        .collect();
                    (name.to_string(), members)
                })
            })
            .collect()
    }

    /// `cluster.sh rabbit status`.
    pub async fn rabbit_status(&self) -> String {
        self.run(&["rabbit", "status"]).await
    }

    /// SIGKILLs the PostgreSQL primary and its children.
    pub async fn kill_primary(&self) {
        self.run(&["pg", "kill-primary"]).await;
    }

    /// Promotes the standby; returns once it takes writes.
    pub async fn promote(&self) {
        self.run(&["pg", "promote"]).await;
    }

    /// Makes the node that stopped a standby of the primary again
    /// (asynchronous).
    pub async fn rebuild_standby(&self) {
        self.run(&["pg", "rebuild-standby"]).await;
    }

    /// Stops the primary's WAL sender (SIGSTOP): the standby falls behind,
    /// and with asynchronous replication what the primary commits
    /// meanwhile is on the primary alone.
    pub async fn pause_replication(&self) {
        self.run(&["pg", "pause-replication"]).await;
    }

    /// Lets the primary's WAL sender go on (SIGCONT).
    pub async fn resume_replication(&self) {
        self.run(&["pg", "resume-replication"]).await;
    }

    /// Makes the standby synchronous (`true`) or asynchronous.
    pub async fn synchronous(&self, on: bool) {
        self.run(&["pg", "sync", if on { "on" } else { "off" }])
            .await;
    }

    /// `cluster.sh pg status`.
    pub async fn pg_status(&self) -> String {
        self.run(&["pg", "status"]).await
    }
}
