//! fila's one configuration: defaults for a local machine, then an optional
//! TOML file named by `FILA_CONFIG`, then `FILA_<FIELD>` environment
//! variables (e.g. `FILA_DATABASE_URL`). Every field is documented here and in
//! the README; a wrong value stops the process at start with one line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

pub use crate::amqp::queue_type::QueueType;

use crate::process::schedule::Zone;
use crate::taf::scope::Scope;

/// A configuration that could not be loaded or is inconsistent.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Load(Box<figment::Error>),
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// JSON when stdout is not a terminal, human-readable text otherwise.
    #[default]
    Auto,
    Json,
    Text,
}

/// A user allowed through HTTP Basic authentication.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub name: String,
    /// PHC string of an argon2 hash (`fila-api hash-password` prints one).
    pub password_hash: String,
    /// `producer` (submit, and read statuses), `reader` (read statuses
    /// only) and/or `admin` (everything).
    #[serde(default = "default_roles")]
    pub roles: Vec<Role>,
    /// The TAF branches the user may work with (`sourceBranch` codes);
    /// with `company_groups`, none: all.
    #[serde(default)]
    pub source_branches: Vec<String>,
    /// The TAF company groups the user may work with; with
    /// `source_branches`, none: all.
    #[serde(default)]
    pub company_groups: Vec<String>,
}

impl UserConfig {
    pub fn scope(&self) -> Scope {
        Scope {
            source_branches: self.source_branches.clone(),
            company_groups: self.company_groups.clone(),
        }
    }
}

fn default_roles() -> Vec<Role> {
    vec![Role::Producer]
}

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// May submit work through the protocol endpoints and read its status
    /// (the protocols expect a producer to follow what it sent).
    Producer,
    /// May only read statuses (GET endpoints, wsProcess GetProcessStatus).
    Reader,
    /// May call everything, including `/admin`.
    Admin,
}

/// A TAF branch ("complemento de empresas") seeded at start.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BranchConfig {
    pub source_branch: String,
    pub company_group: String,
    /// Employer registration (CNPJ, its 8-digit root, or CPF) expected in the
    /// events of this branch; when set, intake checks it (code 811).
    #[serde(default)]
    pub registration: Option<String>,
}

/// Where the messages of an EAI Transaction go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum EaiDestination {
    /// fila's entity store: the current version of each entity by
    /// Transaction and InternalId, answered by `/contents`.
    #[default]
    Store,
    /// POSTed to `url`; the answer becomes the ReturnContent.
    Http,
}

/// An EAI Transaction fila accepts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EaiTransactionConfig {
    /// The Transaction's name, e.g. `CUSTOMERVENDOR` (compared ignoring case).
    pub transaction: String,
    #[serde(default)]
    pub destination: EaiDestination,
    /// The HTTP destination's URL.
    #[serde(default)]
    pub url: Option<String>,
    /// Seconds an HTTP destination has to answer.
    #[serde(default = "default_eai_timeout")]
    pub timeout_secs: u64,
    /// JSON Schema file of the Content, by Version (`"2.000" = "path.json"`).
    #[serde(default)]
    pub schemas: std::collections::BTreeMap<String, PathBuf>,
}

fn default_eai_timeout() -> u64 {
    30
}

impl EaiTransactionConfig {
    /// What serde cannot check of one Transaction: its name, the URL of an
    /// HTTP destination, the timeout.
    pub fn check(&self) -> Result<(), String> {
        let name = self.transaction.trim();
        if name.is_empty() || name.chars().any(char::is_control) {
            return Err("each transaction needs a name".into());
        }
        if self.destination == EaiDestination::Http
            && !self
                .url
                .as_deref()
                .is_some_and(|u| u.starts_with("http://") || u.starts_with("https://"))
        {
            return Err(format!(
                "{name}: an http destination needs an http:// or https:// url"
            ));
        }
        if self.timeout_secs == 0 {
            return Err(format!("{name}: timeout_secs must be at least 1"));
        }
        Ok(())
    }
}

/// Every setting of fila-api and fila-worker.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// PostgreSQL connection URL.
    pub database_url: SecretString,
    /// Schema holding fila's tables; created if absent.
    pub database_schema: String,
    /// Connections per process.
    pub database_pool_size: usize,
    /// Seconds to open a connection (TCP, TLS, authentication), and that a
    /// request waits for a free one, before the database counts as
    /// unreachable.
    pub database_connect_timeout_secs: u64,
    /// Seconds a statement may run before PostgreSQL cancels it
    /// (`statement_timeout` of fila's sessions; migrations have none).
    /// A server that sends nothing for 5 s more while an answer is due is
    /// taken for gone: the connection is failed and the statement with it.
    pub database_statement_timeout_secs: u64,
    /// Seconds after which the kernel gives up on a connection whose peer
    /// stopped acknowledging (TCP user timeout), and probes an idle one
    /// (TCP keepalives every third of it).
    pub database_tcp_timeout_secs: u64,
    /// RabbitMQ connection URL.
    pub amqp_url: SecretString,
    /// Base URL of RabbitMQ's management API (`http://rabbitmq:15672`),
    /// for the queues' publish and deliver rates in `/ops/overview`; it
    /// logs in as the user of `amqp_url`. None: no rates.
    pub amqp_management_url: Option<String>,
    /// Prefix of every exchange and queue name (`<prefix>.results`, ...).
    pub amqp_prefix: String,
    /// The type of fila's queues: `quorum` (replicated: what a RabbitMQ
    /// cluster needs) or `classic` (one replica: one-node setups). See
    /// [`crate::amqp::topology`].
    pub amqp_queue_type: QueueType,
    /// On quorum queues, the deliveries of one message after which
    /// RabbitMQ gives up on it (`x-delivery-limit`); fila records what it
    /// gives up as a dead letter in PostgreSQL. Must exceed
    /// `worker_max_attempts`, so that fila's own count gives up first.
    pub amqp_delivery_limit: u32,
    /// Address the API listens on.
    pub http_addr: SocketAddr,
    /// Apply schema migrations when a process starts.
    pub migrate_on_start: bool,
    /// Log filter, in `tracing` EnvFilter syntax.
    pub log: String,
    /// `auto`, `json` or `text`.
    pub log_format: LogFormat,
    /// Largest request body accepted, in bytes (larger: HTTP 413).
    pub max_body_bytes: usize,
    /// Most items accepted in one TAF lot (more: HTTP 413).
    pub taf_max_lot_items: usize,
    /// Records carried by one queue message (records of one priority).
    pub taf_chunk_size: usize,
    /// Most items in one page of `GET /rest/wstafst2` (the seed says 500).
    pub taf_page_max_items: usize,
    /// Largest body of one page of `GET /rest/wstafst2` (the seed says 850 KB).
    pub taf_page_max_bytes: usize,
    /// Name of this worker in logs and in the records it processes;
    /// `<hostname>-<pid>` when absent.
    pub worker_id: Option<String>,
    /// Queue messages a worker processes at once, per work queue.
    pub worker_concurrency: usize,
    /// Unacknowledged messages a worker holds per work queue (bounded so
    /// that priorities are honored under backlog).
    pub worker_prefetch: u16,
    /// Process runs a worker runs at once, per worker group it serves (in
    /// place of `worker_concurrency` on the groups' queues): a run mostly
    /// waits, on its command, its HTTP call or the database, so many share
    /// a worker; twice as many are delivered ahead.
    pub process_concurrency: usize,
    /// Attempts of a failing queue message before it is dead-lettered;
    /// also the starts of a redelivered message's handling that may end
    /// without an outcome (its worker died) before it is, and the claims of
    /// a process execution whose worker stopped while running it before it
    /// fails.
    pub worker_max_attempts: u32,
    /// Seconds a stopping worker waits for its in-flight messages.
    pub worker_shutdown_grace_secs: u64,
    /// Base URL of an OpenTelemetry collector's OTLP/HTTP receiver
    /// (`http://collector:4318`); spans go to `<url>/v1/traces` as JSON.
    /// None: no traces are exported.
    pub otlp_endpoint: Option<String>,
    /// Ready messages in a work queue (or rows in the outbox) past which
    /// intake answers 429; 0: no bound.
    pub intake_max_queue_depth: u32,
    /// Address a worker serves its Prometheus metrics (`GET /metrics`) and
    /// its probes (`/healthz`, `/readyz`) on.
    pub worker_metrics_addr: SocketAddr,
    /// Age after which an unpublished outbox row is published by the sweeper.
    pub outbox_grace_secs: u64,
    /// Period of the worker's sweeps (outbox, released predecessors), in ms.
    pub sweep_interval_ms: u64,
    /// Users allowed in (HTTP Basic).
    pub users: Vec<UserConfig>,
    /// TAF branches seeded (inserted or updated) at start.
    pub taf_branches: Vec<BranchConfig>,
    /// The EAI Transactions fila accepts, with their destination and schemas.
    pub eai_transactions: Vec<EaiTransactionConfig>,
    /// Most messages in one EAI lot (more: HTTP 413).
    pub eai_max_lot_messages: usize,
    /// simpleBatch messages of an entity-store Transaction carried by one
    /// queue message (each still processed on its own).
    pub eai_chunk_size: usize,
    /// Seconds a synchronous EAI message (`DeliveryType` sync) is waited for
    /// before the API answers with its receipt instead.
    pub eai_sync_timeout_secs: u64,
    /// The process definitions (TOML, `[[process]]`), read again whenever the
    /// file changes.
    pub processes_file: Option<PathBuf>,
    /// Seconds a synchronous Creatio call (Execute with a result,
    /// RunProcess) waits for its run; wsProcess ExecuteWithXmlParams waits
    /// as long as the run takes (or its definition's `sync_wait_secs`).
    pub process_sync_timeout_secs: u64,
    /// The worker groups whose process runs this worker takes.
    pub worker_groups: Vec<String>,
    /// Seconds a Creatio login session lasts without use.
    pub session_ttl_secs: u64,
    /// Failed logins from one client address within
    /// `login_failure_window_secs` after which its logins are refused (429)
    /// until the window ends.
    pub login_max_failures: u32,
    pub login_failure_window_secs: u64,
    /// Seconds between the reconciler's passes (one worker at a time
    /// reconciles: open work whose queue message is gone is queued again).
    pub reconcile_interval_secs: u64,
    /// Seconds the messages delivered before a reconciliation probe have to
    /// finish (in flight, or waiting in a retry queue) before the open work
    /// queued before the probe counts as lost. Above the retry ladder (1 s,
    /// 10 s, 60 s, 60 s) plus a message's processing time.
    pub reconcile_settle_secs: u64,
    /// The variables of the worker's environment a `command` process gets
    /// (by name; those the worker does not have are left out). Nothing
    /// else is passed on: the worker's `FILA_*` settings hold the database
    /// and broker passwords.
    pub process_command_env: Vec<String>,
    /// Seconds the API gives a request, from its head read to its answer
    /// (reading the body included); past them it answers its protocol's
    /// "unavailable" error. At least 5 s above `eai_sync_timeout_secs` and
    /// `process_sync_timeout_secs`, so that a synchronous call that waited
    /// its whole time still gets its own answer.
    pub http_request_timeout_secs: u64,
    /// Requests the API handles at once (the probes and `/metrics` aside);
    /// one more is answered at once with 503 and `Retry-After`, in its
    /// protocol's format, rather than queued.
    pub http_max_concurrent_requests: usize,
    /// Whether clients reach the API over HTTPS (a TLS-terminating proxy or
    /// Ingress in front of it: fila itself serves plain HTTP). When true,
    /// the login session cookies are `Secure`, so browsers never send them
    /// over plain HTTP.
    pub served_over_https: bool,
    /// A TOML file of further EAI Transactions (`[[eai_transactions]]`, as
    /// inline), read again whenever it changes, so that Transactions are
    /// registered without a restart; a Transaction is given either inline
    /// or in the file, not in both. None: the inline ones only.
    pub eai_transactions_file: Option<PathBuf>,
    /// Seconds between the AMQP heartbeats fila proposes to RabbitMQ, unless
    /// `amqp_url` names `heartbeat`. A connection on which nothing was heard
    /// for two intervals is closed and opened again, by fila and by
    /// RabbitMQ alike: a broker lost behind a partition is noticed within
    /// about two intervals, rather than the two minutes of RabbitMQ's
    /// default of 60 s.
    pub amqp_heartbeat_secs: u16,
    /// Seconds opening a connection to RabbitMQ may take (TCP, TLS, the
    /// AMQP handshake, declaring the topology); also the most any other
    /// call that waits for the broker may take: opening a channel, reading
    /// a queue's figures, starting a consumer, acknowledging a message.
    pub amqp_connect_timeout_secs: u64,
    /// Seconds a batch of published messages waits for RabbitMQ's
    /// confirms; an outbox row not confirmed by then is kept and tried
    /// again later.
    pub amqp_confirm_timeout_secs: u64,
    /// A PEM file of the CA certificates that RabbitMQ's certificate must
    /// chain to, for an `amqps://` URL; only these are trusted. None: the
    /// system's roots.
    pub amqp_tls_ca_file: Option<PathBuf>,
    /// A PEM file of the client certificate (and its chain) fila presents
    /// to RabbitMQ over `amqps://`, with `amqp_tls_client_key_file`. None:
    /// no client certificate.
    pub amqp_tls_client_cert_file: Option<PathBuf>,
    /// The PEM private key of `amqp_tls_client_cert_file` (PKCS#8, PKCS#1
    /// or SEC1).
    pub amqp_tls_client_key_file: Option<PathBuf>,
    /// The TAF TXT layouts a `registryType` may name besides the eSocial
    /// and Reinf events: exact layouts (`T001AB`) or patterns in which `#`
    /// is a digit and `@` a letter. By default every layout of TAF's
    /// naming, `T###` and `T###@@` (`T001`, `T001AB`, …, `T999`).
    pub taf_txt_layouts: Vec<String>,
    /// EAI source applications that get the response message of each of
    /// their messages back (`[[eai_sources]]`: SourceApplication and the
    /// URL of its own `/transactions` endpoint), as the asynchronous EAI
    /// flow does. None: responses are only read and published.
    pub eai_sources: Vec<EaiSourceConfig>,
    /// The IANA time zone (`America/Sao_Paulo`, `Europe/Berlin`, `UTC`)
    /// process schedules run in unless a request names its own: their
    /// `quartzDef`, `startDate` and `endDate` are wall-clock times there.
    pub process_time_zone: String,
}

/// Where an EAI source application receives its response messages.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EaiSourceConfig {
    /// The Header's SourceApplication (compared ignoring case).
    pub source_application: String,
    /// The application's `/transactions` endpoint, e.g.
    /// `https://protheus.example.com/rest/totvseai/standardmessage/v1/transactions`.
    pub url: String,
    /// Seconds the application has to answer.
    #[serde(default = "default_eai_timeout")]
    pub timeout_secs: u64,
}

impl EaiSourceConfig {
    /// What serde cannot check: the name, the URL, the timeout.
    pub fn check(&self) -> Result<(), String> {
        let name = self.source_application.trim();
        if name.is_empty() || name.chars().any(char::is_control) {
            return Err("each source needs a source_application".into());
        }
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(format!("{name}: url must be http:// or https://"));
        }
        if self.timeout_secs == 0 {
            return Err(format!("{name}: timeout_secs must be at least 1"));
        }
        Ok(())
    }
}

impl Config {
    /// Where `source_application` gets its response messages, if anywhere.
    pub fn eai_source(&self, source_application: &str) -> Option<&EaiSourceConfig> {
        self.eai_sources.iter().find(|s| {
            s.source_application
                .trim()
                .eq_ignore_ascii_case(source_application)
        })
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: SecretString::from("postgres://postgres@127.0.0.1:5432/postgres"),
            database_schema: "fila".into(),
            database_pool_size: 16,
            database_connect_timeout_secs: 5,
            database_statement_timeout_secs: 60,
            database_tcp_timeout_secs: 30,
            amqp_url: SecretString::from("amqp://guest:guest@127.0.0.1:5672/%2f"),
            amqp_management_url: None,
            amqp_prefix: "fila".into(),
            amqp_queue_type: QueueType::Classic,
            amqp_delivery_limit: 50,
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            migrate_on_start: true,
            log: "info,tokio_postgres=warn,lapin=warn".into(),
            log_format: LogFormat::Auto,
            max_body_bytes: 16 * 1024 * 1024,
            taf_max_lot_items: 5_000,
            taf_chunk_size: 100,
            taf_page_max_items: 500,
            taf_page_max_bytes: 850 * 1024,
            worker_id: None,
            worker_concurrency: 4,
            worker_prefetch: 8,
            process_concurrency: 32,
            worker_max_attempts: 5,
            worker_shutdown_grace_secs: 30,
            worker_metrics_addr: SocketAddr::from(([127, 0, 0, 1], 9464)),
            intake_max_queue_depth: 100_000,
            otlp_endpoint: None,
            outbox_grace_secs: 5,
            sweep_interval_ms: 1_000,
            users: Vec::new(),
            taf_branches: Vec::new(),
            eai_transactions: Vec::new(),
            eai_max_lot_messages: 10_000,
            eai_chunk_size: 100,
            eai_sync_timeout_secs: 30,
            processes_file: None,
            process_sync_timeout_secs: 60,
            worker_groups: vec![crate::amqp::topology::DEFAULT_GROUP.to_string()],
            session_ttl_secs: 3_600,
            login_max_failures: 10,
            login_failure_window_secs: 60,
            reconcile_interval_secs: 30,
            reconcile_settle_secs: 180,
            process_command_env: ["PATH", "LANG", "LC_ALL", "TZ", "HOME"]
                .map(String::from)
                .to_vec(),
            http_request_timeout_secs: 90,
            http_max_concurrent_requests: 256,
            served_over_https: false,
            eai_transactions_file: None,
            amqp_heartbeat_secs: 10,
            amqp_connect_timeout_secs: 5,
            amqp_confirm_timeout_secs: 10,
            amqp_tls_ca_file: None,
            amqp_tls_client_cert_file: None,
            amqp_tls_client_key_file: None,
            taf_txt_layouts: crate::taf::txt_layout::DEFAULT.map(String::from).to_vec(),
            eai_sources: Vec::new(),
            process_time_zone: "UTC".into(),
        }
    }
}

/// Environment variables read beside the `FILA_<FIELD>` ones.
const CONFIG_FILE_VAR: &str = "FILA_CONFIG";

impl Config {
    /// Loads defaults, then `$FILA_CONFIG` (TOML) if set, then `FILA_*`.
    pub fn load() -> Result<Self, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = std::env::var_os(CONFIG_FILE_VAR).map(PathBuf::from) {
            if !path.is_file() {
                return Err(ConfigError::MissingFile(path));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        let figment = figment.merge(Env::prefixed("FILA_").ignore(&["config"]));
        let config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Load(Box::new(e)))?;
        config.validate()?;
        Ok(config)
    }

    /// Cross-field checks that serde cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, reason: &str| {
            Err(ConfigError::Invalid {
                field,
                reason: reason.into(),
            })
        };
        if !is_identifier(&self.database_schema) {
            return invalid(
                "database_schema",
                "must be a lower-case SQL identifier ([a-z_][a-z0-9_]*)",
            );
        }
        if self.amqp_prefix.is_empty()
            || !self
                .amqp_prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return invalid("amqp_prefix", "must be letters, digits, '_', '-' or '.'");
        }
        if self.database_connect_timeout_secs == 0
            || self.database_statement_timeout_secs == 0
            || self.database_tcp_timeout_secs < 3
        {
            return invalid(
                "database_statement_timeout_secs",
                "database_connect_timeout_secs and database_statement_timeout_secs must be at \
                 least 1, database_tcp_timeout_secs at least 3",
            );
        }
        if self.database_pool_size < 2 {
            return invalid("database_pool_size", "must be at least 2");
        }
        if self.worker_concurrency == 0 {
            return invalid("worker_concurrency", "must be at least 1");
        }
        if usize::from(self.worker_prefetch) < self.worker_concurrency {
            return invalid("worker_prefetch", "must be at least worker_concurrency");
        }
        if !(1..=PROCESS_CONCURRENCY_MAX).contains(&self.process_concurrency) {
            return invalid(
                "process_concurrency",
                &format!("must be between 1 and {PROCESS_CONCURRENCY_MAX}"),
            );
        }
        if self.reconcile_interval_secs == 0 || self.reconcile_settle_secs == 0 {
            return invalid(
                "reconcile_interval_secs",
                "reconcile_interval_secs and reconcile_settle_secs must be at least 1",
            );
        }
        if self.worker_max_attempts == 0 {
            return invalid("worker_max_attempts", "must be at least 1");
        }
        if self.amqp_delivery_limit <= self.worker_max_attempts {
            return invalid(
                "amqp_delivery_limit",
                "must exceed worker_max_attempts (RabbitMQ's delivery limit is the last resort \
                 behind fila's own count of attempts)",
            );
        }
        if self.taf_chunk_size == 0 || self.taf_max_lot_items == 0 {
            return invalid(
                "taf_chunk_size",
                "chunk size and lot size must be at least 1",
            );
        }
        if let Some(reason) = self
            .taf_txt_layouts
            .iter()
            .find_map(|entry| crate::taf::txt_layout::TxtLayouts::check(entry).err())
        {
            return invalid("taf_txt_layouts", &reason);
        }
        if self.taf_page_max_items == 0 || self.taf_page_max_bytes < 1024 {
            return invalid(
                "taf_page_max_items",
                "pages need at least 1 item and 1024 bytes",
            );
        }
        let mut transactions = std::collections::HashSet::new();
        for eai in &self.eai_transactions {
            if let Err(reason) = eai.check() {
                return invalid("eai_transactions", &reason);
            }
            if !transactions.insert(eai.transaction.trim().to_ascii_uppercase()) {
                return invalid(
                    "eai_transactions",
                    &format!("{} is given twice", eai.transaction.trim()),
                );
            }
        }
        let mut sources = std::collections::HashSet::new();
        for source in &self.eai_sources {
            if let Err(reason) = source.check() {
                return invalid("eai_sources", &reason);
            }
            if !sources.insert(source.source_application.trim().to_ascii_uppercase()) {
                return invalid(
                    "eai_sources",
                    &format!("{} is given twice", source.source_application.trim()),
                );
            }
        }
        if self.eai_max_lot_messages == 0 || self.eai_chunk_size == 0 {
            return invalid(
                "eai_max_lot_messages",
                "lot size and eai_chunk_size must be at least 1",
            );
        }
        if self.worker_groups.is_empty()
            || !self
                .worker_groups
                .iter()
                .all(|g| crate::amqp::topology::valid_group(g))
        {
            return invalid(
                "worker_groups",
                "give at least one group, each of letters, digits, '_' or '-'",
            );
        }
        if self
            .amqp_management_url
            .as_ref()
            .is_some_and(|url| !url.starts_with("http://") && !url.starts_with("https://"))
        {
            return invalid(
                "amqp_management_url",
                "give the management API's base URL, as http://rabbitmq:15672",
            );
        }
        if let Some(bad) = self
            .process_command_env
            .iter()
            .find(|name| !is_variable_name(name) || name.starts_with("FILA_"))
        {
            return Err(ConfigError::Invalid {
                field: "process_command_env",
                reason: format!(
                    "{bad:?}: give variable names (letters, digits, '_'); FILA_ variables, \
                     fila's own settings, are never passed on"
                ),
            });
        }
        let longest_wait = self
            .eai_sync_timeout_secs
            .max(self.process_sync_timeout_secs);
        if self.http_request_timeout_secs < longest_wait.saturating_add(REQUEST_TIMEOUT_MARGIN_SECS)
        {
            return Err(ConfigError::Invalid {
                field: "http_request_timeout_secs",
                reason: format!(
                    "must be at least {REQUEST_TIMEOUT_MARGIN_SECS} s above eai_sync_timeout_secs \
                     and process_sync_timeout_secs (at least {} here)",
                    longest_wait.saturating_add(REQUEST_TIMEOUT_MARGIN_SECS)
                ),
            });
        }
        if self.http_max_concurrent_requests == 0 {
            return invalid("http_max_concurrent_requests", "must be at least 1");
        }
        if self.amqp_heartbeat_secs == 0 {
            return invalid(
                "amqp_heartbeat_secs",
                "must be at least 1 (a connection without heartbeats never notices a silent broker)",
            );
        }
        if self.amqp_connect_timeout_secs == 0 || self.amqp_confirm_timeout_secs == 0 {
            return invalid(
                "amqp_connect_timeout_secs",
                "amqp_connect_timeout_secs and amqp_confirm_timeout_secs must be at least 1",
            );
        }
        if self.amqp_tls_client_cert_file.is_some() != self.amqp_tls_client_key_file.is_some() {
            return invalid(
                "amqp_tls_client_cert_file",
                "give amqp_tls_client_cert_file and amqp_tls_client_key_file together",
            );
        }
        let tls_files = self.amqp_tls_ca_file.is_some() || self.amqp_tls_client_cert_file.is_some();
        if tls_files && !self.amqp_url.expose_secret().starts_with("amqps://") {
            return invalid(
                "amqp_tls_ca_file",
                "the amqp_tls_* files are for TLS: amqp_url must be an amqps:// URL",
            );
        }
        if let Err(e) = Zone::parse(&self.process_time_zone) {
            return invalid("process_time_zone", &e.to_string());
        }
        for user in &self.users {
            if user.name.is_empty() || user.name.contains(':') {
                return invalid("users", "a user name must be non-empty and without ':'");
            }
            if !user.password_hash.starts_with("$argon2") {
                return invalid(
                    "users",
                    "password_hash must be an argon2 PHC string (fila-api hash-password)",
                );
            }
        }
        Ok(())
    }

    /// The time zone of schedules that name none (validated at load).
    pub fn process_time_zone(&self) -> Zone {
        Zone::parse(&self.process_time_zone).unwrap_or(Zone::UTC)
    }

    pub fn sweep_interval(&self) -> Duration {
        Duration::from_millis(self.sweep_interval_ms)
    }

    pub fn database_connect_timeout(&self) -> Duration {
        Duration::from_secs(self.database_connect_timeout_secs)
    }

    pub fn database_statement_timeout(&self) -> Duration {
        Duration::from_secs(self.database_statement_timeout_secs)
    }

    pub fn database_tcp_timeout(&self) -> Duration {
        Duration::from_secs(self.database_tcp_timeout_secs)
    }

    pub fn outbox_grace(&self) -> Duration {
        Duration::from_secs(self.outbox_grace_secs)
    }

    pub fn reconcile_interval(&self) -> Duration {
        Duration::from_secs(self.reconcile_interval_secs)
    }

    pub fn reconcile_settle(&self) -> Duration {
        Duration::from_secs(self.reconcile_settle_secs)
    }

    pub fn http_request_timeout(&self) -> Duration {
        Duration::from_secs(self.http_request_timeout_secs)
    }

    pub fn amqp_connect_timeout(&self) -> Duration {
        Duration::from_secs(self.amqp_connect_timeout_secs)
    }

    pub fn amqp_confirm_timeout(&self) -> Duration {
        Duration::from_secs(self.amqp_confirm_timeout_secs)
    }

    /// This worker's name: configured, or `<hostname>-<pid>`.
    pub fn worker_name(&self) -> String {
        self.worker_id.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_else(|_| "worker".into());
            format!("{host}-{}", std::process::id())
        })
    }
}

/// How far the request timeout must stay above the synchronous waits.
const REQUEST_TIMEOUT_MARGIN_SECS: u64 = 5;

/// Most `process_concurrency`: twice as many are delivered ahead, and a
/// queue's prefetch is a 16-bit count.
pub const PROCESS_CONCURRENCY_MAX: usize = 16_384;

/// A name a variable of the environment may have.
fn is_variable_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && s.len() <= 63
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().expect("defaults validate");
    }

    #[test]
    fn rejects_unsafe_schema_names() {
        let config = Config {
            database_schema: "fila; drop".into(),
            ..Config::default()
        };
        assert!(config.validate().is_err());
    }

    #[test]
    fn the_delivery_limit_stays_behind_the_attempts() {
        let config = Config {
            worker_max_attempts: 5,
            amqp_delivery_limit: 5,
            ..Config::default()
        };
        let err = config.validate().expect_err("invalid");
        assert!(err.to_string().starts_with("amqp_delivery_limit"), "{err}");
    }

    #[test]
    fn rejects_prefetch_below_concurrency() {
        let config = Config {
            worker_concurrency: 8,
            worker_prefetch: 2,
            ..Config::default()
        };
        let err = config.validate().expect_err("invalid");
        assert!(err.to_string().starts_with("worker_prefetch"));
    }

    #[test]
    fn process_concurrency_is_bounded() {
        for bad in [0, PROCESS_CONCURRENCY_MAX + 1] {
            let config = Config {
                process_concurrency: bad,
                ..Config::default()
            };
            let err = config.validate().expect_err("invalid");
            assert!(err.to_string().starts_with("process_concurrency"), "{err}");
        }
        let most = Config {
            process_concurrency: PROCESS_CONCURRENCY_MAX,
            ..Config::default()
        };
        assert!(most.validate().is_ok());
    }

    #[test]
    fn command_env_names_plain_variables_but_no_fila_setting() {
        for names in [vec!["FILA_DATABASE_URL"], vec!["PATH", "A=B"], vec![""]] {
            let config = Config {
                process_command_env: names.iter().map(|n| n.to_string()).collect(),
                ..Config::default()
            };
            let err = config.validate().expect_err("invalid");
            assert!(err.to_string().starts_with("process_command_env"), "{err}");
        }
        let config = Config {
            process_command_env: vec!["PATH".into(), "ERP_HOME".into(), "_X1".into()],
            ..Config::default()
        };
        config.validate().expect("valid");
    }

    #[test]
    fn amqp_bounds_and_tls_files_are_checked() {
        for (config, field) in [
            (
                Config {
                    amqp_heartbeat_secs: 0,
                    ..Config::default()
                },
                "amqp_heartbeat_secs",
            ),
            (
                Config {
                    amqp_confirm_timeout_secs: 0,
                    ..Config::default()
                },
                "amqp_connect_timeout_secs",
            ),
            (
                Config {
                    amqp_url: SecretString::from("amqps://fila:pw@mq:5671/%2f"),
                    amqp_tls_client_cert_file: Some("client.pem".into()),
                    ..Config::default()
                },
                "amqp_tls_client_cert_file",
            ),
            (
                Config {
                    amqp_tls_ca_file: Some("ca.pem".into()),
                    ..Config::default()
                },
                "amqp_tls_ca_file",
            ),
        ] {
            let err = config.validate().expect_err("invalid");
            assert!(err.to_string().starts_with(field), "{err}");
        }
        let config = Config {
            amqp_url: SecretString::from("amqps://fila:pw@mq:5671/%2f"),
            amqp_tls_ca_file: Some("ca.pem".into()),
            amqp_tls_client_cert_file: Some("client.pem".into()),
            amqp_tls_client_key_file: Some("client.key".into()),
            ..Config::default()
        };
        config.validate().expect("valid");
    }

    #[test]
    fn the_request_timeout_stays_above_the_synchronous_waits() {
        let config = Config {
            process_sync_timeout_secs: 120,
            ..Config::default()
        };
        let err = config.validate().expect_err("invalid");
        assert!(
            err.to_string().starts_with("http_request_timeout_secs"),
            "{err}"
        );
        let config = Config {
            eai_sync_timeout_secs: 1,
            process_sync_timeout_secs: 1,
            http_request_timeout_secs: 6,
            ..Config::default()
        };
        config.validate().expect("valid");
        let config = Config {
            http_max_concurrent_requests: 0,
            ..Config::default()
        };
        assert!(config.validate().is_err());
    }
}
