//! One fila deployment per test: its own schema, queue prefix, config file,
//! API process and worker processes. Dropping it stops the processes and
//! removes the schema, exchanges and queues.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fila_shared::amqp::Topology;
use lapin::{Connection, ConnectionProperties};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::Value;

use crate::process::Process;
use crate::{amqp_url, database_url};

/// The producer of the tests: erp / secret.
pub const PRODUCER: (&str, &str) = ("erp", "secret");
/// The admin of the tests: admin / admin-secret.
pub const ADMIN: (&str, &str) = ("admin", "admin-secret");
/// The reader of the tests: viewer / reader-secret.
pub const READER: (&str, &str) = ("viewer", "reader-secret");
const READER_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$R/P5HOlLsMAWdWivzY4APw$1Ma/x12OAVtW5iObGoecSKz6WX9RywQOv095JZ7s6Cg";
const PRODUCER_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$J42FwElh6JOAChXGnVm52w$p5A2U4cktC2DTWx8j5Pw3zSR9hPcmN51HGBaddQ0Vdo";
const ADMIN_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$5WwezsJZrMOt3NkeBp3/bA$A17FLKqk/KcSFTf01jROUOY9QnEJKGptDeFJBjxAKlo";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The name of a deployment's EAI Transactions file, in its folder.
const EAI_TRANSACTIONS_FILE: &str = "eai_transactions.toml";

/// How to start a deployment.
pub struct Setup {
    workers: usize,
    env: Vec<(String, String)>,
    branches: Vec<(String, String, Option<String>)>,
    database_url: Option<String>,
    /// The server of the deployment's schema, when not the shared one.
    server: Option<String>,
    /// The RabbitMQ the harness reaches the deployment's queues on, when
    /// not the shared one.
    broker: Option<String>,
    own_role: bool,
    toml: String,
    processes: Option<String>,
    eai_transactions: Option<String>,
}

impl Default for Setup {
    fn default() -> Self {
        Self::new()
    }
}

impl Setup {
    /// One worker; branches 0100 and 0200 in group 01, 0300 in group 02;
    /// EAI Transactions CUSTOMERVENDOR and ITEM in the entity store.
    pub fn new() -> Self {
        Self {
            workers: 1,
            env: Vec::new(),
            branches: vec![
                ("0100".into(), "01".into(), None),
                ("0200".into(), "01".into(), None),
                ("0300".into(), "02".into(), None),
            ],
            database_url: None,
            server: None,
            broker: None,
            own_role: false,
            processes: None,
            eai_transactions: None,
            toml: "\n[[eai_transactions]]\ntransaction = \"CUSTOMERVENDOR\"\n\
                   \n[[eai_transactions]]\ntransaction = \"ITEM\"\n"
                .into(),
        }
    }

    /// Appends TOML to the deployment's configuration file.
    pub fn toml(mut self, toml: &str) -> Self {
        self.toml.push('\n');
        self.toml.push_str(toml);
        self
    }

    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// Sets `FILA_<key>` for the processes.
    pub fn env(mut self, key: &str, value: impl ToString) -> Self {
        self.env.push((format!("FILA_{key}"), value.to_string()));
        self
    }

    /// Sets a variable of the processes' environment that is not a fila
    /// setting (the processes inherit the tests' others but `FILA_*`).
    pub fn environment(mut self, key: &str, value: impl ToString) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    pub fn branches(mut self, branches: &[(&str, &str, Option<&str>)]) -> Self {
        self.branches = branches
            .iter()
            .map(|(b, g, r)| (b.to_string(), g.to_string(), r.map(str::to_string)))
            .collect();
        self
    }

    /// Adds a producer `name`, password [`PRODUCER`]'s, limited to a TAF
    /// scope.
    pub fn scoped_producer(
        self,
        name: &str,
        source_branches: &[&str],
        company_groups: &[&str],
    ) -> Self {
        self.toml(&format!(
            "[[users]]\nname = \"{name}\"\npassword_hash = \"{PRODUCER_HASH}\"\n\
             source_branches = {source_branches:?}\ncompany_groups = {company_groups:?}\n"
        ))
    }

    /// The process definitions file (TOML, `[[process]]`).
    pub fn processes(mut self, toml: &str) -> Self {
        self.processes = Some(toml.to_string());
        self
    }

    /// The EAI Transactions file (TOML, `[[eai_transactions]]`), besides the
    /// inline CUSTOMERVENDOR and ITEM.
    pub fn eai_transactions(mut self, toml: &str) -> Self {
        self.eai_transactions = Some(toml.to_string());
        self
    }

    /// Points the processes at another PostgreSQL URL (e.g. a proxy).
    pub fn database_url(mut self, url: String) -> Self {
        self.database_url = Some(url);
        self
    }

    /// Puts the deployment on another PostgreSQL server (a cluster's):
    /// the processes, [`Fila::db`] and the removal of the schema all use
    /// `url`, where [`Setup::database_url`] only changes the processes' way
    /// to the shared server.
    pub fn database_server(mut self, url: String) -> Self {
        self.database_url = Some(url.clone());
        self.server = Some(url);
        self
    }

    /// Puts the deployment on another RabbitMQ (a cluster's): the
    /// processes use `url` (which may name several nodes), the harness
    /// (results, the removal of the queues) `node`, one of its nodes.
    pub fn broker_server(mut self, url: String, node: String) -> Self {
        self.env.push(("FILA_AMQP_URL".into(), url));
        self.broker = Some(node);
        self
    }

    /// Has the processes log in as a PostgreSQL role of the deployment's
    /// own (not a superuser, allowed to create its schema), which a test
    /// may make read-only or refuse connections to, as a failover does,
    /// without touching other tests ([`Fila::database_role`]).
    pub fn own_database_role(mut self) -> Self {
        self.own_role = true;
        self
    }

    pub async fn start(self) -> Fila {
        let mut fila = Fila::prepare(self);
        if let Some(role) = fila.role.clone() {
            create_role(&role).await;
        }
        fila.start_api().await;
        for _ in 0..fila.initial_workers {
            fila.start_worker().await;
        }
        fila
    }
}

pub struct Fila {
    pub id: String,
    pub schema: String,
    pub prefix: String,
    dir: PathBuf,
    env: Vec<(String, String)>,
    initial_workers: usize,
    api_starts: usize,
    api: Option<Process>,
    workers: Vec<Option<Process>>,
    /// Worker groups whose queues the deployment may have made.
    groups: Vec<String>,
    /// The deployment's own PostgreSQL role, if it has one.
    role: Option<String>,
    /// The server of the deployment's schema, as the harness reaches it.
    server: String,
    /// The RabbitMQ node the harness reaches the deployment's queues on.
    broker: String,
    pub base_url: String,
    http: reqwest::Client,
}

impl Fila {
    /// A deployment with the default setup.
    pub async fn start() -> Self {
        Setup::new().start().await
    }

    fn prepare(setup: Setup) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let id = format!(
            "t{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            nanos % 1_000_000
        );
        let dir = std::env::temp_dir().join(format!("fila-e2e-{id}"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut toml = format!(
            "[[users]]\nname = \"{}\"\npassword_hash = \"{PRODUCER_HASH}\"\nroles = [\"producer\"]\n\n\
             [[users]]\nname = \"{}\"\npassword_hash = \"{ADMIN_HASH}\"\nroles = [\"admin\"]\n\n\
             [[users]]\nname = \"{}\"\npassword_hash = \"{READER_HASH}\"\nroles = [\"reader\"]\n",
            PRODUCER.0, ADMIN.0, READER.0
        );
        for (branch, group, registration) in &setup.branches {
            toml.push_str(&format!(
                "\n[[taf_branches]]\nsource_branch = \"{branch}\"\ncompany_group = \"{group}\"\n"
            ));
            if let Some(r) = registration {
                toml.push_str(&format!("registration = \"{r}\"\n"));
            }
        }
        toml.push_str(&setup.toml);
        let config = dir.join("fila.toml");
        std::fs::write(&config, toml).expect("config file");
        let role = setup.own_role.then(|| id.clone());
        let database_url = match (&role, setup.database_url) {
            (_, Some(url)) => url,
            (Some(role), None) => role_url(role),
            (None, None) => database_url(),
        };
        let mut env: Vec<(String, String)> = vec![
            ("FILA_CONFIG".into(), config.display().to_string()),
            ("FILA_DATABASE_URL".into(), database_url),
            ("FILA_DATABASE_SCHEMA".into(), id.clone()),
            ("FILA_AMQP_URL".into(), amqp_url()),
            ("FILA_AMQP_PREFIX".into(), id.clone()),
            ("FILA_HTTP_ADDR".into(), "127.0.0.1:0".into()),
            ("FILA_WORKER_METRICS_ADDR".into(), "127.0.0.1:0".into()),
            ("FILA_LOG_FORMAT".into(), "json".into()),
            ("FILA_SWEEP_INTERVAL_MS".into(), "200".into()),
            ("FILA_OUTBOX_GRACE_SECS".into(), "2".into()),
            ("FILA_WORKER_SHUTDOWN_GRACE_SECS".into(), "5".into()),
        ];
        let mut groups = Vec::new();
        if let Some(processes) = &setup.processes {
            let file = dir.join("processes.toml");
            groups = write_processes(&file, processes);
            env.push(("FILA_PROCESSES_FILE".into(), file.display().to_string()));
        }
        if let Some(transactions) = &setup.eai_transactions {
            let file = dir.join(EAI_TRANSACTIONS_FILE);
            std::fs::write(&file, transactions).expect("EAI Transactions file");
            env.push((
                "FILA_EAI_TRANSACTIONS_FILE".into(),
                file.display().to_string(),
            ));
        }
        for (key, value) in setup.env {
            env.retain(|(k, _)| *k != key);
            env.push((key, value));
        }
        Self {
            schema: id.clone(),
            prefix: id.clone(),
            id,
            dir,
            env,
            initial_workers: setup.workers,
            api_starts: 0,
            api: None,
            workers: Vec::new(),
            groups,
            role,
            server: setup.server.unwrap_or_else(crate::database_url),
            broker: setup.broker.unwrap_or_else(amqp_url),
            base_url: String::new(),
            http: http_client(),
        }
    }

    /// Rewrites the process definitions file (the processes read it again
    /// within seconds).
    pub fn rewrite_processes(&mut self, toml: &str) {
        let groups = write_processes(&self.dir.join("processes.toml"), toml);
        self.groups.extend(groups);
    }

    /// Rewrites the EAI Transactions file (the processes read it again
    /// within seconds, or at once for a Transaction they do not know).
    pub fn rewrite_eai_transactions(&self, toml: &str) {
        std::fs::write(self.dir.join(EAI_TRANSACTIONS_FILE), toml).expect("EAI Transactions file");
    }

    /// Starts (or restarts) the API and waits until it is ready.
    pub async fn start_api(&mut self) {
        self.api_starts += 1;
        let log = self.dir.join(format!("api-{}.log", self.api_starts));
        let mut api = Process::spawn("fila-api", &[], &self.env, log);
        let line = api
            .wait_for_line("fila-api listening", 30)
            .await
            .unwrap_or_else(|| panic!("fila-api did not start:\n{}", api.log_text()));
        let addr = serde_json::from_str::<Value>(&line).expect("json log")["addr"]
            .as_str()
            .expect("addr")
            .to_string();
        self.base_url = format!("http://{addr}");
        self.api = Some(api);
        let url = self.url("/readyz");
        let http = self.http.clone();
        let ready = crate::eventually(30, || {
            let request = http.get(&url).send();
            async move { request.await.is_ok_and(|r| r.status() == StatusCode::OK) }
        })
        .await;
        assert!(ready, "fila-api is not ready:\n{}", self.api_log());
    }

    /// Starts a worker, waits until it consumes; returns its index.
    pub async fn start_worker(&mut self) -> usize {
        self.start_worker_with(&[]).await
    }

    /// Starts a worker with extra `FILA_<key>` settings.
    pub async fn start_worker_with(&mut self, settings: &[(&str, &str)]) -> usize {
        self.start_worker_limited(settings, None).await
    }

    /// Starts a worker whose memory is limited to `limit` bytes (see
    /// [`Process::limit_memory`]) from before it consumes.
    pub async fn start_worker_limited(
        &mut self,
        settings: &[(&str, &str)],
        limit: Option<u64>,
    ) -> usize {
        let index = self.workers.len();
        let mut env = self.env.clone();
        for (key, value) in settings {
            env.push((format!("FILA_{key}"), value.to_string()));
        }
        env.push(("FILA_WORKER_ID".into(), format!("worker-{index}")));
        let log = self.dir.join(format!("worker-{index}.log"));
        let mut worker = Process::spawn("fila-worker", &[], &env, log);
        if let Some(limit) = limit {
            worker.limit_memory(limit);
        }
        if worker.wait_for_line("\"consuming\"", 30).await.is_none() {
            panic!("fila-worker did not start:\n{}", worker.log_text());
        }
        self.workers.push(Some(worker));
        index
    }

    /// The URL of a worker's metrics.
    pub async fn worker_metrics_url(&mut self, index: usize) -> String {
        let line = self
            .worker(index)
            .wait_for_line("metrics listening", 10)
            .await
            .expect("the worker serves metrics");
        let addr = serde_json::from_str::<Value>(&line).expect("json log")["addr"]
            .as_str()
            .expect("addr")
            .to_string();
        format!("http://{addr}/metrics")
    }

    pub fn worker(&mut self, index: usize) -> &mut Process {
        self.workers[index].as_mut().expect("worker running")
    }

    /// Kills a worker with SIGKILL.
    pub fn kill_worker(&mut self, index: usize) {
        if let Some(mut worker) = self.workers[index].take() {
            worker.kill();
        }
    }

    /// Kills the API with SIGKILL.
    pub fn kill_api(&mut self) {
        if let Some(mut api) = self.api.take() {
            api.kill();
        }
    }

    /// The workers still running.
    pub fn running_workers(&self) -> impl Iterator<Item = &Process> {
        self.workers.iter().flatten()
    }

    pub fn api_process(&self) -> Option<&Process> {
        self.api.as_ref()
    }

    pub fn api(&mut self) -> &mut Process {
        self.api.as_mut().expect("api running")
    }

    pub fn api_log(&self) -> String {
        self.api.as_ref().map(Process::log_text).unwrap_or_default()
    }

    /// The environment the processes get (to start one by hand).
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    pub fn log_path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The tests' HTTP client (for requests built away from `self`).
    pub fn http(&self) -> reqwest::Client {
        self.http.clone()
    }

    /// The API's `GET /metrics` text.
    pub async fn metrics_text(&self) -> String {
        self.http
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text")
    }

    /// A request as the producer.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, self.url(path))
            .basic_auth(PRODUCER.0, Some(PRODUCER.1))
    }

    /// A request as the admin.
    pub fn admin(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, self.url(path))
            .basic_auth(ADMIN.0, Some(ADMIN.1))
    }

    /// A request as the reader.
    pub fn reader(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, self.url(path))
            .basic_auth(READER.0, Some(READER.1))
    }

    /// A request as `user`, whose password is [`PRODUCER`]'s.
    pub fn as_user(&self, user: &str, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, self.url(path))
            .basic_auth(user, Some(PRODUCER.1))
    }

    /// A request with a wrong password.
    pub fn impostor(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, self.url(path))
            .basic_auth(PRODUCER.0, Some("not-the-password"))
    }

    /// A request without credentials.
    pub fn anonymous(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, self.url(path))
    }

    /// POSTs a TAF lot; returns the status and the JSON answer.
    pub async fn post_lot(&self, lot: &Value) -> (StatusCode, Value) {
        send(self.request(Method::POST, "/rest/wstafst2").json(lot)).await
    }

    /// POSTs an EAI message (or lot) to `/transactions`.
    pub async fn post_eai(&self, message: &Value) -> (StatusCode, Value) {
        send(
            self.request(Method::POST, "/totvseai/standardmessage/v1/transactions")
                .json(message),
        )
        .await
    }

    /// Starts a process through the scheduler connector API.
    pub async fn start_robusta(&self, body: &Value) -> (StatusCode, Value) {
        send(
            self.request(Method::POST, "/scheduler/connector-api/process/start")
                .json(body),
        )
        .await
    }

    /// POSTs raw bytes to the TAF endpoint.
    pub async fn post_raw(&self, body: impl Into<reqwest::Body>) -> (StatusCode, Value) {
        send(
            self.request(Method::POST, "/rest/wstafst2")
                .header("Content-Type", "application/json;charset=UTF-8")
                .body(body),
        )
        .await
    }

    /// GETs TAF statuses with a query string.
    pub async fn get_status(&self, query: &str) -> (StatusCode, Value) {
        send(self.request(Method::GET, &format!("/rest/wstafst2?{query}"))).await
    }

    /// The deployment's own PostgreSQL role (see
    /// [`Setup::own_database_role`]).
    pub fn database_role(&self) -> &str {
        self.role
            .as_deref()
            .expect("the deployment has its own role")
    }

    /// The RabbitMQ node the harness reaches the deployment's queues on.
    pub fn broker_url(&self) -> &str {
        &self.broker
    }

    /// Publishes `bodies` to the deployment's work exchange with
    /// `routing_key`, as if fila had (each confirmed by the broker).
    pub async fn publish_work(&self, routing_key: &str, bodies: &[&[u8]]) {
        let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
            .await
            .expect("amqp");
        let channel = connection.create_channel().await.expect("channel");
        for body in bodies {
            channel
                .basic_publish(
                    format!("{}.work", self.prefix).into(),
                    routing_key.into(),
                    lapin::options::BasicPublishOptions::default(),
                    body,
                    lapin::BasicProperties::default(),
                )
                .await
                .expect("publish")
                .await
                .expect("confirm");
        }
        let _ = connection.close(200, "done".into()).await;
    }

    /// A database client on this deployment's schema.
    pub async fn db(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.server, tokio_postgres::NoTls)
            .await
            .expect("database");
        tokio::spawn(connection);
        client
            .batch_execute(&format!("SET search_path TO {}", self.schema))
            .await
            .expect("search_path");
        client
    }

    /// Number of TAF records of `ticket` in each status.
    pub async fn taf_counts(&self, ticket: &str) -> std::collections::HashMap<String, i64> {
        self.db()
            .await
            .query(
                "SELECT status, count(*) FROM taf_record WHERE ticket_code = $1 GROUP BY status",
                &[&ticket],
            )
            .await
            .expect("counts")
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect()
    }

    /// Number of TAF records processed, of every ticket.
    pub async fn processed(&self) -> i64 {
        self.db()
            .await
            .query_one(
                "SELECT count(*) FROM taf_record WHERE status = 'processed'",
                &[],
            )
            .await
            .expect("count")
            .get(0)
    }

    /// Waits until `count` records of `ticket` are processed or in error.
    pub async fn wait_finished(&self, ticket: &str, count: i64, seconds: u64) -> bool {
        let client = &self.db().await;
        crate::eventually(seconds, || async move {
            client
                .query_one(
                    "SELECT count(*) FROM taf_record
                     WHERE ticket_code = $1 AND status IN ('processed', 'error')",
                    &[&ticket],
                )
                .await
                .is_ok_and(|row| row.get::<_, i64>(0) >= count)
        })
        .await
    }
}

/// Writes a definitions file; returns the worker groups it names.
fn write_processes(file: &std::path::Path, toml: &str) -> Vec<String> {
    std::fs::write(file, toml).expect("processes file");
    let Ok(parsed) = toml.parse::<toml::Table>() else {
        return Vec::new();
    };
    let listed = parsed
        .get("groups")
        .and_then(|g| g.as_array())
        .into_iter()
        .flatten();
    let defined = parsed
        .get("process")
        .and_then(|p| p.as_array())
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("group"));
    listed
        .chain(defined)
        .filter_map(|g| g.as_str().map(str::to_string))
        .collect()
}

/// The tests' HTTP client. When the workspace is built together, reqwest
/// has TLS through rustls (for the worker's destinations) and needs its
/// crypto provider.
fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("http client")
}

/// Sends a request; the status and the body as JSON (`Null` when empty or
/// not JSON).
pub async fn send(request: RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.expect("request");
    let status = response.status();
    let bytes = response.bytes().await.expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

impl Drop for Fila {
    fn drop(&mut self) {
        let logs: Vec<(String, String)> = std::iter::once(self.api.as_ref())
            .chain(self.workers.iter().map(Option::as_ref))
            .flatten()
            .map(|p| (p.name.clone(), p.log_text()))
            .collect();
        self.api = None;
        self.workers.clear();
        if std::thread::panicking() {
            for (name, log) in logs {
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                eprintln!("--- last lines of {name} ---");
                for line in tail.into_iter().rev() {
                    eprintln!("{line}");
                }
            }
        }
        let schema = self.schema.clone();
        let prefix = self.prefix.clone();
        let groups = std::mem::take(&mut self.groups);
        let role = self.role.take();
        let server = self.server.clone();
        let broker = self.broker.clone();
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(remove(server, broker, schema, prefix, groups, role));
        });
        let _ = cleanup.join();
        if std::env::var_os("E2E_KEEP_LOGS").is_some() {
            eprintln!("logs kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// [`database_url`] as `role`.
fn role_url(role: &str) -> String {
    let url = database_url();
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{role}@{host}")
}

/// Creates a role that may log in and create its schema in the database.
async fn create_role(role: &str) {
    let (client, connection) = tokio_postgres::connect(&database_url(), tokio_postgres::NoTls)
        .await
        .expect("database");
    tokio::spawn(connection);
    client
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN;
             DO $$ BEGIN
                 EXECUTE format('GRANT CREATE ON DATABASE %I TO {role}', current_database());
             END $$;"
        ))
        .await
        .expect("role");
}

/// Removes a deployment's schema (on `server`), exchanges, queues and role. Sessions
/// still holding locks in the schema (a killed process whose connection
/// went through a proxy, say) are terminated rather than waited for.
async fn remove(
    server: String,
    broker: String,
    schema: String,
    prefix: String,
    groups: Vec<String>,
    role: Option<String>,
) {
    if let Ok((client, connection)) = tokio_postgres::connect(&server, tokio_postgres::NoTls).await
    {
        tokio::spawn(connection);
        if let Some(role) = &role {
            let _ = client
                .execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1",
                    &[role],
                )
                .await;
        }
        let drop = format!("SET lock_timeout = '3s'; DROP SCHEMA IF EXISTS {schema} CASCADE");
        for _ in 0..3 {
            if client.batch_execute(&drop).await.is_ok() {
                break;
            }
            let _ = client
                .execute(
                    "SELECT pg_terminate_backend(l.pid) FROM pg_locks l
                     JOIN pg_class c ON c.oid = l.relation
                     JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE n.nspname = $1 AND l.pid <> pg_backend_pid()",
                    &[&schema],
                )
                .await;
        }
        if let Some(role) = role {
            let _ = client
                .batch_execute(&format!(
                    "DO $$ BEGIN
                         EXECUTE format('REVOKE ALL ON DATABASE %I FROM {role}', current_database());
                     END $$;
                     DROP ROLE IF EXISTS {role};"
                ))
                .await;
        }
    }
    if let Ok(connection) = Connection::connect(&broker, ConnectionProperties::default()).await {
        if let Ok(channel) = connection.create_channel().await {
            let groups: Vec<&str> = groups.iter().map(String::as_str).collect();
            let _ = Topology::new(prefix).delete(&channel, &groups).await;
        }
        let _ = connection.close(200, "test over".into()).await;
    }
}
