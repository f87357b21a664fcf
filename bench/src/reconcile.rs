//! `reconcile-*`: the reconciler's cost on a large backlog of open TAF
//! records, measured on the store alone (no broker: the probes' outcome is
//! written into `queue_drain` as a worker would record it).
//!
//! - `reconcile-queued-N`: N open records all queued after the last probe
//!   came through (a backlog waiting its turn): a pass must find nothing,
//!   and its time must not grow with N. p50/p99 are a pass's time.
//! - `reconcile-lost-N`: N open records all queued before the probe (every
//!   message gone): passes until every record is queued again; records/s
//!   is the rate at which they are, p50/p99 a pass's time (at most
//!   `PASS_MAX` records each). The outbox rows a pass writes are deleted
//!   after it, as a relay would publish them.

use std::time::{Duration, Instant};

use fila_shared::amqp::Topology;
use fila_shared::config::Config;
use fila_shared::eai::registry::Registry;
use fila_shared::reconcile::{self, Chunks, Scope, Settings};
use secrecy::SecretString;

use crate::cpu::Meter;
use crate::load::{self, Deploy};
use crate::report::Figures;

/// Passes timed over the queued backlog.
const QUEUED_PASSES: usize = 20;

pub async fn run(deploy: &Deploy, records: usize) -> Vec<Figures> {
    let fila = load::deployment(deploy, 0).await;
    let db = fila.db().await;
    let started = Instant::now();
    db.execute(
        "INSERT INTO taf_record (ticket_code, registry_key, company_group, source_branch,
             message_type, message_sequential, registry_type, message, integration_date,
             integration_time, priority, integration_queue, erp_owner, queued_at)
         SELECT 'T-RECONCILE', 'K' || g, '01', '0100', 2, '001', 'S-1010', '\\x3c613e'::bytea,
                '20261201', '00:00:00', 5, '1', 'BENCH',
                now() - interval '10 minutes' + g * interval '1 microsecond'
         FROM generate_series(1, $1::int8) g",
        &[&(records as i64)],
    )
    .await
    .expect("open records");
    db.batch_execute("VACUUM ANALYZE taf_record")
        .await
        .expect("vacuum");
    eprintln!(
        "reconcile: {records} open records written in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let config = Config {
        database_url: SecretString::from(fila_tests::database_url()),
        database_schema: fila.schema.clone(),
        ..Config::default()
    };
    let pool = fila_shared::db::pool(&config, "fila-bench").expect("pool");
    let registry = Registry::load(&[], None).expect("registry");
    let topology = Topology::of(&config);
    let settings = Settings {
        topology: &topology,
        settle: Duration::from_secs(1),
        chunks: Chunks {
            taf: config.taf_chunk_size,
            eai: config.eai_chunk_size,
            registry: &registry,
        },
        dry_run: false,
    };

    // The probe came through an hour ago: every record was queued after it.
    drained(&db, "now() - interval '1 hour'").await;
    let mut passes = Vec::with_capacity(QUEUED_PASSES);
    // The reconciler runs in this process.
    let meter = Meter::start(vec![std::process::id()]);
    let queued_started = Instant::now();
    for _ in 0..QUEUED_PASSES {
        let pass_started = Instant::now();
        let pass = reconcile::pass(&pool, None, Scope::Lost, &settings)
            .await
            .expect("pass")
            .expect("no other reconciler");
        assert_eq!(
            pass.counts.total(),
            0,
            "a backlog waiting its turn is not lost"
        );
        passes.push(pass_started.elapsed());
    }
    let mut queued = Figures::new(
        format!("reconcile-queued-{records}"),
        records as u64,
        queued_started.elapsed() / QUEUED_PASSES as u32,
        &mut passes,
    );
    // Per pass, as the seconds.
    queued.cpu_per_10k = Some(meter.spent().per_10k((records * QUEUED_PASSES) as u64));

    // The probe came through after every record was queued: all are lost.
    drained(&db, "now()").await;
    let mut passes = Vec::new();
    let mut requeued = 0;
    let meter = Meter::start(vec![std::process::id()]);
    let lost_started = Instant::now();
    while requeued < records as i64 {
        let pass_started = Instant::now();
        let pass = reconcile::pass(&pool, None, Scope::Lost, &settings)
            .await
            .expect("pass")
            .expect("no other reconciler");
        passes.push(pass_started.elapsed());
        assert!(pass.counts.taf > 0, "lost records are queued again");
        requeued += pass.counts.taf;
        db.execute("DELETE FROM outbox", &[])
            .await
            .expect("outbox published");
    }
    let lost = Figures::new(
        format!("reconcile-lost-{records}"),
        requeued as u64,
        lost_started.elapsed(),
        &mut passes,
    )
    .with_cpu(meter.spent());
    vec![queued, lost]
}

/// Records that the probe sent at `at` (SQL) came through the TAF queue,
/// an hour ago (it settled).
async fn drained(db: &tokio_postgres::Client, at: &str) {
    db.batch_execute(&format!(
        "INSERT INTO queue_drain (queue, probe_sent_at, drained_through, drained_at)
         VALUES ('taf', {at}, {at}, now() - interval '1 hour')
         ON CONFLICT (queue) DO UPDATE
         SET probe_sent_at = excluded.probe_sent_at,
             drained_through = excluded.drained_through, drained_at = excluded.drained_at"
    ))
    .await
    .expect("drain");
}
