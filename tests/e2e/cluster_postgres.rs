//! PostgreSQL failover on the local cluster (`deploy/local/cluster.sh`):
//! fila (the API and two workers) runs on the cluster's primary and
//! streaming standby, through a URL naming both with
//! `target_session_attrs=read-write`, while a producer posts TAF lots, EAI
//! messages and process runs without a pause. The work queues are paused
//! for a few seconds, so that a backlog waits in them, then resumed, and
//! the backlog is worked off on the primary; then the primary is killed
//! with SIGKILL and the standby promoted. fila follows it without a
//! restart.
//!
//! - With synchronous replication, every item answered as accepted is in
//!   the new primary and finishes exactly once.
//! - With asynchronous replication, the standby is held behind from the
//!   resumption of the queues to the kill (the primary's WAL sender
//!   stopped, as a slow link would), so that the primary dies with commits
//!   the standby never got: items accepted meanwhile, and the backlog's
//!   processing, whose queue messages were acknowledged. The items answered
//!   but absent from the new primary (the loss window) are counted and
//!   printed; every item the new primary holds finishes, the reconciler
//!   queueing the backlog again, and none finishes twice in the store.
//!
//! Before those, fila's own connector is checked against the nodes alone:
//! the killed primary's port refuses, the standby's answers read-only until
//! it is promoted, and the URL naming both reaches the promoted standby.
//!
//! Each test ends by rebuilding the old primary as the standby of the new
//! one (`pg rebuild-standby`), also when it fails, so that the next test
//! finds a primary and a standby. Run by `deploy/local/test-cluster.sh`.

use std::time::Duration;

use fila_shared::config::Config;
use fila_shared::db::{StoreError, Use, connector};
use fila_tests::cluster::Cluster;
use fila_tests::results::Results;
use fila_tests::traffic::{Counts, PROCESSES, Run, Store, Stored, Traffic};
use fila_tests::{Fila, Setup};
use reqwest::{Method, StatusCode};
use tokio::time::sleep;

/// Traffic before the primary is killed.
const BEFORE: Duration = Duration::from_secs(10);
/// How long the work queues stay paused, so that a backlog waits in them.
const HOLD: Duration = Duration::from_secs(3);
/// How long the standby is held behind before the kill, with asynchronous
/// replication: what the primary commits meanwhile is lost with it.
const LAG: Duration = Duration::from_secs(3);
/// How long the standby stays unpromoted after the kill (a failover's
/// detection time): fila finds no primary meanwhile.
const NO_PRIMARY: Duration = Duration::from_secs(3);
/// Traffic after the promotion.
const AFTER: Duration = Duration::from_secs(15);

/// The work queues the producer's traffic goes through.
const QUEUES: [&str; 3] = ["taf", "eai", "process.default"];

/// Pauses or resumes (`action`) every work queue through the admin API,
/// trying for a while (the API may be reconnecting after a failover).
async fn queues(fila: &Fila, action: &str) {
    for queue in QUEUES {
        let path = format!("/admin/queues/{queue}/{action}");
        let done = fila_tests::eventually(60, || async {
            let answer = fila.admin(Method::POST, &path).send().await;
            answer.is_ok_and(|a| a.status() == StatusCode::OK)
        })
        .await;
        assert!(done, "POST {path} was not answered 200");
    }
}

/// The items the workers' reconciler queued again, by protocol (TAF
/// records, EAI messages, process runs), as their logs say.
fn reconciled(fila: &Fila) -> [i64; 3] {
    let mut total = [0; 3];
    for worker in fila.running_workers() {
        for line in worker.log_text().lines() {
            let Ok(entry) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            if entry["message"] == "open work whose queue message was gone queued again" {
                for (count, key) in total.iter_mut().zip(["taf", "eai", "process"]) {
                    *count += entry[key].as_i64().unwrap_or_default();
                }
            }
        }
    }
    total
}

/// Brings the cluster back to a primary and a streaming standby if the test
/// fails before it does so itself.
struct Mend<'a>(&'a Cluster);

impl Drop for Mend<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Each step fails harmlessly where it does not apply: there is
            // no paused WAL sender, or the primary still runs (no
            // promotion then).
            self.0.run_blocking(&["pg", "resume-replication"]);
            self.0.run_blocking(&["pg", "promote"]);
            self.0.run_blocking(&["pg", "rebuild-standby"]);
        }
    }
}

/// What fila's connector finds at `url`: the server's port and whether it
/// is read-only, or the error it gives.
async fn reach(url: &str) -> Result<(u16, bool), StoreError> {
    let config = Config {
        database_url: secrecy::SecretString::from(url.to_string()),
        ..Config::default()
    };
    let connector = connector(&config, "cluster-test", Use::Work).expect("a connector");
    let (client, driver) = connector.open().await.map_err(StoreError::Db)?;
    let driving = tokio::spawn(driver);
    let row = client
        .query_one(
            "SELECT inet_server_port(), current_setting('transaction_read_only')",
            &[],
        )
        .await?;
    let port: i32 = row.get(0);
    let read_only: String = row.get(1);
    drop(client);
    let _ = driving.await;
    Ok((u16::try_from(port).expect("a port"), read_only == "on"))
}

/// `postgres://postgres@127.0.0.1:<port>/postgres`: one node alone.
fn node_url(port: u16) -> String {
    format!("postgres://postgres@127.0.0.1:{port}/postgres")
}

#[tokio::test]
#[ignore = "needs the cluster: deploy/local/test-cluster.sh"]
async fn cluster_postgres_connections_follow_the_promoted_standby() {
    let cluster = Cluster::running();
    let _mend = Mend(&cluster);
    let url = cluster.database_url();
    let (primary, read_only) = reach(&url).await.expect("the primary");
    assert!(!read_only, "the URL reaches the primary");
    let standby = *cluster
        .pg_ports()
        .iter()
        .find(|port| **port != primary)
        .expect("a standby port");
    let (_, read_only) = reach(&node_url(standby)).await.expect("the standby");
    assert!(read_only, "the standby answers read-only");

    cluster.kill_primary().await;
    let refused = reach(&node_url(primary))
        .await
        .expect_err("the primary is dead");
    assert!(
        refused.is_unavailable() && refused.to_string().contains("refused"),
        "the old primary's port refuses: {refused}"
    );
    let (_, read_only) = reach(&node_url(standby)).await.expect("the standby");
    assert!(read_only, "the standby is read-only until promoted");
    let no_primary = reach(&url).await.expect_err("no host takes writes");
    assert!(
        no_primary.is_unavailable(),
        "no primary is the database being away: {no_primary}"
    );

    cluster.promote().await;
    assert_eq!(
        reach(&url).await.expect("the new primary"),
        (standby, false),
        "the URL reaches the promoted standby, which takes writes"
    );
    cluster.rebuild_standby().await;
    let (port, read_only) = reach(&node_url(primary)).await.expect("the new standby");
    assert!(
        port == primary && read_only,
        "the old primary is the new one's standby"
    );
}

/// One protocol's outcome: the counts, and what they leave out.
struct Outcome<'a> {
    name: &'a str,
    counts: &'a Counts,
    /// Accepted items the new primary does not hold.
    absent: usize,
    /// Stored items finished more than once in the store.
    stored_twice: usize,
    /// Stored items that never finished.
    unfinished: usize,
    /// Accepted after the promotion.
    accepted_after: usize,
}

impl<'a> Outcome<'a> {
    fn of(
        name: &'a str,
        counts: &'a Counts,
        accepted: &std::collections::HashSet<String>,
        stored: &Stored,
        accepted_before: usize,
    ) -> Self {
        Self {
            name,
            counts,
            absent: accepted
                .iter()
                .filter(|id| !stored.finished.contains_key(*id))
                .count(),
            stored_twice: stored.finished.values().filter(|n| **n > 1).count(),
            unfinished: stored.finished.values().filter(|n| **n == 0).count(),
            accepted_after: accepted.len().saturating_sub(accepted_before),
        }
    }
}

/// Runs the traffic through a failover with the standby synchronous or
/// not, prints the counts and judges them.
async fn failover(synchronous: bool) {
    let cluster = Cluster::running();
    let _mend = Mend(&cluster);
    cluster.synchronous(synchronous).await;
    let fila = Setup::new()
        .workers(2)
        .processes(PROCESSES)
        .database_server(cluster.database_url())
        .env("RECONCILE_INTERVAL_SECS", 1)
        .env("RECONCILE_SETTLE_SECS", 3)
        .env("DATABASE_STATEMENT_TIMEOUT_SECS", 2)
        .start()
        .await;
    let mut results = Results::observe(&fila).await;
    let traffic = Traffic::start(&fila);

    sleep(BEFORE).await;
    // A backlog: work accepted (and replicated) while the queues are
    // paused, taken once they resume.
    queues(&fila, "pause").await;
    sleep(HOLD).await;
    let backlog = {
        let db = fila.db().await;
        Store::read(&db).await
    };
    let held = std::time::Instant::now();
    if !synchronous {
        cluster.pause_replication().await;
    }
    queues(&fila, "resume").await;
    // The backlog is worked off on the primary (alone, without
    // replication): its queue messages are acknowledged.
    let worked_off = {
        let db = fila.db().await;
        fila_tests::eventually(60, || async {
            let now = Store::read(&db).await;
            now.taf.open.is_disjoint(&backlog.taf.open)
                && now.eai.open.is_disjoint(&backlog.eai.open)
                && now.runs.open.is_disjoint(&backlog.runs.open)
        })
        .await
    };
    assert!(worked_off, "the backlog was not worked off before the kill");
    if !synchronous {
        sleep(LAG).await;
        println!(
            "the standby was held behind for {:.1} s before the kill",
            held.elapsed().as_secs_f64()
        );
    }
    cluster.kill_primary().await;
    sleep(NO_PRIMARY).await;
    cluster.promote().await;
    // With asynchronous replication the resumption was lost with the
    // primary: the queues are paused again on the new one.
    queues(&fila, "resume").await;
    let before = traffic.accepted();
    sleep(AFTER).await;
    let mode = if synchronous {
        "synchronous"
    } else {
        "asynchronous"
    };
    let title = format!("PostgreSQL primary killed, standby promoted ({mode} replication)");
    let run = traffic.conclude(&fila, Some(&mut results), &title).await;
    let Run {
        settled,
        tally,
        store,
        counts,
    } = &run;
    let sent = [&tally.taf, &tally.eai, &tally.runs];
    let stored = [&store.taf, &store.eai, &store.runs];
    let outcomes: Vec<Outcome> = counts
        .iter()
        .zip(sent)
        .zip(stored)
        .zip(before)
        .map(|((((name, counts), sent), stored), before)| {
            Outcome::of(name, counts, &sent.accepted, stored, before)
        })
        .collect();
    let reconciled = reconciled(&fila);
    println!(
        "queued again by the reconciler: {} TAF records, {} EAI messages, {} process runs",
        reconciled[0], reconciled[1], reconciled[2]
    );
    for outcome in &outcomes {
        println!(
            "{}: {} accepted, {} of them absent after the promotion (the loss window); \
             {} accepted after the promotion",
            outcome.name, outcome.counts.accepted, outcome.absent, outcome.accepted_after
        );
    }

    assert!(*settled, "work still open after the failover");
    for outcome in &outcomes {
        let Outcome { name, counts, .. } = outcome;
        assert!(counts.accepted > 0, "{name}: nothing accepted");
        assert!(
            outcome.accepted_after > 0,
            "{name}: nothing accepted after the promotion"
        );
        assert_eq!(counts.stranded, 0, "{name} stranded");
        assert_eq!(outcome.unfinished, 0, "{name}: stored but not finished");
        assert_eq!(
            outcome.stored_twice, 0,
            "{name}: finished twice in the store"
        );
        if synchronous {
            assert_eq!(outcome.absent, 0, "{name}: accepted, then lost");
        } else {
            assert_eq!(
                counts.lost, outcome.absent,
                "{name}: an item the new primary holds did not finish, or was not reported"
            );
        }
    }
    if synchronous {
        run.assert_each_finished_once();
    } else {
        assert!(
            reconciled.iter().sum::<i64>() > 0,
            "the backlog worked off against the lost state was not queued again"
        );
    }
    results.close().await;
    drop(fila);
    cluster.rebuild_standby().await;
}

#[tokio::test]
#[ignore = "needs the cluster: deploy/local/test-cluster.sh"]
async fn cluster_postgres_failover_with_a_synchronous_standby_loses_nothing_answered() {
    failover(true).await;
}

#[tokio::test]
#[ignore = "needs the cluster: deploy/local/test-cluster.sh"]
async fn cluster_postgres_failover_with_an_asynchronous_standby_finishes_what_survived() {
    failover(false).await;
}
