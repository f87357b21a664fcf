//! `fila-bench`: measures fila against the floor of the machine it runs on.
//! Starts release builds of `fila-api` and `fila-worker` (build them first:
//! `cargo build --release --bins`) against the real PostgreSQL and RabbitMQ,
//! runs the scenarios, prints a Markdown table and writes the same figures as
//! JSON. See BENCHMARKS.md.

mod cpu;
mod eai;
mod load;
mod payload;
mod process;
mod raw;
mod reconcile;
mod report;
mod taf;

use std::path::PathBuf;

use clap::Parser;

use report::Figures;

#[derive(Parser)]
#[command(name = "fila-bench", about = "fila's benchmark")]
struct Cli {
    /// Records of the raw and end-to-end scenarios.
    #[arg(long, default_value_t = 50_000)]
    records: usize,
    /// Records of the status paging scenario (one ticket).
    #[arg(long, default_value_t = 20_000)]
    status_records: usize,
    /// Records of the smaller memory run (the larger has ten times more).
    #[arg(long, default_value_t = 10_000)]
    memory_records: usize,
    /// Messages of each EAI scenario (lots of 1,000).
    #[arg(long, default_value_t = 20_000)]
    eai_messages: usize,
    /// Runs of the process-async scenario.
    #[arg(long, default_value_t = 5_000)]
    process_jobs: usize,
    /// Calls of the process-sync scenario.
    #[arg(long, default_value_t = 1_000)]
    process_calls: usize,
    /// Open TAF records of the reconcile scenarios.
    #[arg(long, default_value_t = 1_000_000)]
    reconcile_records: usize,
    /// Concurrent producers.
    #[arg(long, default_value_t = 4)]
    producers: usize,
    /// Concurrent callers of `process-async`, each making its next call once
    /// the last is answered (an ERP's sessions starting processes).
    #[arg(long, default_value_t = 32)]
    process_producers: usize,
    /// Also runs `taf-e2e-2w` on the local three-node cluster
    /// (`deploy/local/cluster.sh up`) with quorum queues, as
    /// `taf-e2e-2w-cluster`.
    #[arg(long)]
    cluster: bool,
    /// A few seconds in all: a check that the benchmark still runs.
    #[arg(long)]
    smoke: bool,
    /// Only the scenarios whose name starts with one of these (comma-separated).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Log filter of the fila processes (e.g. `info,fila_worker=debug` to see
    /// each message's timing); their logs are removed with each deployment.
    #[arg(long, default_value = "info")]
    log: String,
    /// A fila setting for every deployment, as `key=value` (e.g.
    /// `worker_concurrency=8`); repeatable.
    #[arg(long = "set", value_parser = parse_setting)]
    settings: Vec<(String, String)>,
    /// Where the JSON figures go.
    #[arg(long, default_value = "target/bench/results.json")]
    json: PathBuf,
}

impl Cli {
    fn wants(&self, scenario: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|p| scenario.starts_with(p.as_str()))
    }
}

#[tokio::main]
async fn main() {
    let mut cli = Cli::parse();
    if cli.smoke {
        cli.records = 1_000;
        cli.status_records = 1_000;
        cli.memory_records = 200;
        cli.eai_messages = 1_000;
        cli.process_jobs = 100;
        cli.process_calls = 20;
        cli.reconcile_records = 10_000;
    }
    // (lot size, lots) of the intake scenarios.
    let intake = if cli.smoke {
        [(1, 50), (100, 5), (1_000, 2)]
    } else {
        [(1, 2_000), (100, 100), (1_000, 20)]
    };
    println!("{}", machine());
    let deploy = load::Deploy {
        log: cli.log.clone(),
        settings: cli.settings.clone(),
        broker: None,
    };
    let mut all: Vec<Figures> = Vec::new();
    let mut record = |figures: Figures| {
        eprintln!(
            "{}: {:.0} records/s, p99 {:.1} ms",
            figures.name, figures.records_per_s, figures.p99_ms
        );
        all.push(figures);
    };
    if cli.wants("raw") {
        record(raw::run(cli.records).await);
    }
    for (size, lots) in intake {
        if cli.wants(&format!("taf-intake-{size}")) {
            record(taf::intake(&deploy, size, lots, cli.producers).await);
        }
    }
    for workers in [1, 2] {
        let name = format!("taf-e2e-{workers}w");
        if cli.wants(&name) {
            record(taf::end_to_end(&deploy, &name, workers, cli.records, cli.producers).await);
        }
    }
    if cli.cluster && cli.wants("taf-e2e-2w-cluster") {
        let cluster = fila_tests::cluster::Cluster::running();
        let name = "taf-e2e-2w-cluster";
        let on_cluster = deploy.on_cluster(&cluster);
        record(taf::end_to_end(&on_cluster, name, 2, cli.records, cli.producers).await);
    }
    if cli.wants("taf-status") {
        record(taf::status(&deploy, cli.status_records, cli.producers).await);
    }
    for records in [cli.memory_records, cli.memory_records * 10] {
        let name = format!("taf-memory-{records}");
        if cli.wants("taf-memory") {
            record(taf::end_to_end(&deploy, &name, 1, records, cli.producers).await);
        }
    }
    for business in [false, true] {
        let name = if business {
            "eai-e2e-business"
        } else {
            "eai-e2e-simple"
        };
        if cli.wants(name) {
            record(eai::end_to_end(&deploy, business, cli.eai_messages, cli.producers).await);
        }
    }
    if cli.wants("process-async") {
        record(process::asynchronous(&deploy, cli.process_jobs, cli.process_producers).await);
    }
    if cli.wants("process-sync") {
        record(process::synchronous(&deploy, cli.process_calls, cli.producers).await);
    }
    if cli.wants("reconcile") {
        for figures in reconcile::run(&deploy, cli.reconcile_records).await {
            record(figures);
        }
    }
    report::compare_with_raw(&mut all);
    println!("{}", report::markdown(&all));
    if let Some(dir) = cli.json.parent() {
        std::fs::create_dir_all(dir).expect("json directory");
    }
    std::fs::write(
        &cli.json,
        serde_json::to_vec_pretty(&all).expect("figures as json"),
    )
    .expect("json file");
    println!("figures written to {}", cli.json.display());
}

fn parse_setting(s: &str) -> Result<(String, String), String> {
    let (key, value) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not key=value"))?;
    Ok((key.trim().to_uppercase(), value.trim().to_string()))
}

/// A line describing the machine, for BENCHMARKS.md.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kib| kib / 1024 / 1024);
    format!("machine: {cpu}, {cores} cores, {memory} GiB")
}
