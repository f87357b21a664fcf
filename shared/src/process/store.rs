//! Jobs and their executions in PostgreSQL.
//!
//! A job is a process with parameters, run once or on a schedule; each run,
//! retry or scheduled fire is an execution (ExecID). An execution moves
//! `waiting → running → succeeded | failed`, or `cancelled` (its schedule
//! deleted, or its producer cancelled it: see [`super::control`]). A
//! worker claims a waiting execution for its process's timeout plus a
//! margin (its lease, in `claimed_until`); an
//! execution whose lease ran out (its worker died or stopped) is enqueued
//! again by the sweeper ([`enqueue_due`]) and claimed anew. A failed
//! execution with retries left makes the next one (same fire, next
//! attempt), waiting until it is due (`claimed_until` again), when the
//! sweeper enqueues it; only final outcomes are published, as
//! `process.<name>.<succeeded|failed>`, and announced to a producer waiting
//! for a synchronous run.
//!
//! Schedules fire in the workers: every worker looks for due jobs with
//! `FOR UPDATE SKIP LOCKED`, so each fire is made once, whatever the number
//! of workers. A fire late by less than [`MISFIRE_TOLERANCE`] is made (all
//! of them, in order); beyond that — fila was down — the missed fires
//! become one fire now, and the schedule goes on from there.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Pool, Transaction};
use serde_json::{Map, Value};
use tokio_postgres::types::ToSql;

use super::definition::Definition;
use super::schedule::{QuartzCron, Zone};
use crate::amqp::topology::RETRY_DELAYS;
use crate::db::{GENERIC_PLAN, StoreError};
use crate::envelope::{ResultMessage, WorkMessage};
use crate::outbox::{self, OutboxMessage, Stored};

/// How late a fire may be made as scheduled; later ones collapse into one.
pub const MISFIRE_TOLERANCE: Duration = Duration::from_secs(60);
/// Most fires one job makes in one sweep.
const MAX_FIRES_PER_SWEEP: usize = 100;
/// Most jobs fired in one sweep transaction.
const DUE_BATCH: i64 = 50;

/// When and how often a job runs.
#[derive(Debug, Clone)]
pub struct ScheduleSpec {
    pub cron: QuartzCron,
    /// Where the cron's fields are wall-clock times.
    pub zone: Zone,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    /// Only the first fire (or only the immediate run) happens.
    pub run_once: bool,
    /// A run now, besides the schedule's fires.
    pub run_immediately: bool,
}

/// A job to create.
#[derive(Debug, Clone)]
pub struct Submission {
    pub definition: std::sync::Arc<Definition>,
    pub parameters: Map<String, Value>,
    pub group: String,
    pub retry_count: u32,
    /// Whether a producer waits for the outcome (NOTIFY at the end).
    pub sync: bool,
    pub schedule: Option<ScheduleSpec>,
}

/// A created job.
#[derive(Debug)]
pub struct Submitted {
    pub job_id: i64,
    pub uid: String,
    /// The execution made now, if any.
    pub exec_id: Option<i32>,
    pub stored: Vec<Stored>,
}

/// Stores the jobs of `submissions` with their first runs, all in one
/// transaction (one statement per table, whatever their number); returns
/// them in order. Callers submitting one job at a time are gathered into
/// such calls by the API (see its process module). `wanted` is asked
/// right before the commit: when it says no (a caller left), nothing is
/// committed and `None` is returned.
pub async fn submit_all(
    pool: &Pool,
    submissions: &[&Submission],
    wanted: impl Fn() -> bool,
) -> Result<Option<Vec<Submitted>>, StoreError> {
    let now = Utc::now();
    let jobs: Vec<NewJob> = submissions.iter().map(|s| NewJob::of(s, now)).collect();
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let insert_jobs = tx
        .prepare_cached(
            "INSERT INTO process_job (uid, process, parameters, worker_group, retry_count, cron,
                 starts_at, ends_at, run_once, schedule_state, next_fire, executions, fires,
                 time_zone)
             SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::text[], $5::int4[],
                 $6::text[], $7::timestamptz[], $8::timestamptz[], $9::bool[], $10::text[],
                 $11::timestamptz[], $12::int4[], $13::int4[], $14::text[])
             RETURNING id, uid",
        )
        .await?;
    let uids: Vec<&str> = jobs.iter().map(|j| j.uid.as_str()).collect();
    let processes: Vec<&str> = submissions
        .iter()
        .map(|s| s.definition.name.as_str())
        .collect();
    let parameters: Vec<&Value> = jobs.iter().map(|j| &j.parameters).collect();
    let groups: Vec<&str> = submissions.iter().map(|s| s.group.as_str()).collect();
    let retry_counts: Vec<i32> = submissions
        .iter()
        .map(|s| i32::try_from(s.retry_count).unwrap_or(i32::MAX))
        .collect();
    let schedules: Vec<Option<&ScheduleSpec>> =
        submissions.iter().map(|s| s.schedule.as_ref()).collect();
    let crons: Vec<Option<&str>> = schedules
        .iter()
        .map(|s| s.map(|s| s.cron.as_str()))
        .collect();
    let starts: Vec<Option<DateTime<Utc>>> = schedules
        .iter()
        .map(|s| s.and_then(|s| s.starts_at))
        .collect();
    let ends: Vec<Option<DateTime<Utc>>> = schedules
        .iter()
        .map(|s| s.and_then(|s| s.ends_at))
        .collect();
    let run_once: Vec<bool> = schedules
        .iter()
        .map(|s| s.is_some_and(|s| s.run_once))
        .collect();
    let states: Vec<Option<&str>> = jobs.iter().map(|j| j.state).collect();
    let next_fires: Vec<Option<DateTime<Utc>>> = jobs
        .iter()
        .map(|j| j.next_fire.filter(|_| j.state == Some("active")))
        .collect();
    let executions: Vec<i32> = jobs.iter().map(|j| i32::from(j.run_now)).collect();
    let fires: Vec<i32> = jobs.iter().map(|j| j.fire).collect();
    let zones: Vec<&str> = schedules
        .iter()
        .map(|s| s.map_or(Zone::UTC, |s| s.zone).name())
        .collect();
    let ids: HashMap<String, i64> = tx
        .query(
            &insert_jobs,
            &[
                &uids,
                &processes,
                &parameters,
                &groups,
                &retry_counts,
                &crons,
                &starts,
                &ends,
                &run_once,
                &states,
                &next_fires,
                &executions,
                &fires,
                &zones,
            ],
        )
        .await?
        .iter()
        .map(|row| (row.get("uid"), row.get("id")))
        .collect();
    let job_ids: Vec<i64> = uids
        .iter()
        .map(|uid| ids.get(*uid).copied().unwrap_or(0))
        .collect();
    let running: Vec<usize> = (0..jobs.len()).filter(|i| jobs[*i].run_now).collect();
    if !running.is_empty() {
        let insert_executions = tx
            .prepare_cached(
                "INSERT INTO process_execution (job_id, exec_id, fire, attempt, sync)
                 SELECT job_id, 1, fire, 1, sync FROM unnest($1::int8[], $2::int4[], $3::bool[])
                     AS n(job_id, fire, sync)",
            )
            .await?;
        let run_ids: Vec<i64> = running.iter().map(|i| job_ids[*i]).collect();
        let run_fires: Vec<i32> = running.iter().map(|i| jobs[*i].fire).collect();
        let run_sync: Vec<bool> = running.iter().map(|i| submissions[*i].sync).collect();
        tx.execute(&insert_executions, &[&run_ids, &run_fires, &run_sync])
            .await?;
    }
    let work = running
        .iter()
        .map(|i| run_message(job_ids[*i], processes[*i], groups[*i]))
        .collect();
    let mut stored = outbox::insert(&tx, work).await?.into_iter();
    if !wanted() {
        return Ok(None);
    }
    tx.commit().await?;
    Ok(Some(
        jobs.into_iter()
            .zip(job_ids)
            .map(|(job, job_id)| Submitted {
                job_id,
                exec_id: job.run_now.then_some(1),
                stored: if job.run_now {
                    stored.next().into_iter().collect()
                } else {
                    Vec::new()
                },
                uid: job.uid,
            })
            .collect(),
    ))
}

/// What a submission stores besides what it was given.
struct NewJob {
    uid: String,
    parameters: Value,
    /// The schedule's state, for a scheduled job.
    state: Option<&'static str>,
    next_fire: Option<DateTime<Utc>>,
    run_now: bool,
    /// The fire its first run makes (0 for an unscheduled job's run).
    fire: i32,
}

impl NewJob {
    fn of(submission: &Submission, now: DateTime<Utc>) -> Self {
        let schedule = submission.schedule.as_ref();
        let next_fire = schedule.and_then(|s| s.first_fire(now));
        let run_now = schedule.is_none_or(|s| s.run_immediately);
        let state = schedule.map(|s| {
            let ends_now = s.run_once && s.run_immediately;
            if next_fire.is_some() && !ends_now {
                "active"
            } else {
                "ended"
            }
        });
        Self {
            uid: uuid::Uuid::new_v4().to_string(),
            parameters: Value::Object(submission.parameters.clone()),
            state,
            next_fire,
            run_now,
            fire: i32::from(run_now && schedule.is_some()),
        }
    }
}

impl ScheduleSpec {
    /// The first fire from `now` (or from the start), within the end.
    pub fn first_fire(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let from = self.starts_at.map_or(now, |s| s.max(now));
        self.cron
            .first_from(from, self.zone)
            .filter(|fire| self.ends_at.is_none_or(|end| *fire <= end))
    }
}

/// The work message of a job's next run, on its worker group's queue.
pub(crate) fn run_message(job_id: i64, process: &str, group: &str) -> OutboxMessage {
    OutboxMessage::work(
        &WorkMessage::ProcessRun {
            job: job_id,
            process: process.to_string(),
            group: group.to_string(),
        },
        0,
    )
}

/// Makes the job's next execution; returns its ExecID. Without `due_in`,
/// the caller enqueues its run message; with it, the execution is due then
/// and the sweeper enqueues it ([`enqueue_due`]).
async fn new_execution(
    tx: &Transaction<'_>,
    job_id: i64,
    fire: i32,
    attempt: i32,
    sync: bool,
    due_in: Option<Duration>,
) -> Result<i32, StoreError> {
    let statement = tx
        .prepare_cached(
            "WITH job AS (
                 UPDATE process_job SET executions = executions + 1 WHERE id = $1
                 RETURNING executions)
             INSERT INTO process_execution (job_id, exec_id, fire, attempt, sync, claimed_until)
             SELECT $1, executions, $2, $3, $4, now() + make_interval(secs => $5) FROM job
             RETURNING exec_id",
        )
        .await?;
    let due_in = due_in.map(|d| d.as_secs_f64());
    Ok(tx
        .query_one(&statement, &[&job_id, &fire, &attempt, &sync, &due_in])
        .await?
        .get(0))
}

/// How long a failed run waits before its retry: 1 s, 10 s, then 60 s.
pub fn retry_delay(attempt: i32) -> Duration {
    let index = usize::try_from(attempt.max(1) - 1).unwrap_or(0);
    RETRY_DELAYS[index.min(RETRY_DELAYS.len() - 1)]
}

/// An execution a worker holds.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub job_id: i64,
    pub exec_id: i32,
    pub fire: i32,
    pub attempt: i32,
    pub sync: bool,
    pub uid: String,
    pub process: String,
    pub parameters: Map<String, Value>,
    pub retry_count: i32,
    /// How many times its workers stopped while running it, when that is
    /// too many: it is not run again (and its parameters were not read).
    pub abandoned: Option<i32>,
}

#[derive(Debug)]
pub enum Claim {
    Claimed(Claimed),
    /// Another worker runs the job's open execution.
    Busy,
    /// Nothing to run.
    Nothing,
}

/// A worker's claim on a job's next run, for its process's lease.
#[derive(Debug, Clone, Copy)]
pub struct Ask {
    pub job_id: i64,
    pub lease: Duration,
}

/// Claims, for each of `asks` in order, its job's oldest waiting execution
/// that is due (or one whose worker's lease ran out) for the ask's lease,
/// all in one statement; a job asked twice is claimed for the first ask.
/// An execution whose workers stopped `max_stops` times while running it
/// (each claim but this one ended without an outcome) is claimed
/// abandoned, without its parameters: they may be what kills its workers.
pub async fn claim_all(
    pool: &Pool,
    asks: &[Ask],
    worker: &str,
    max_stops: u32,
) -> Result<Vec<Claim>, StoreError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let statement = tx
        .prepare_cached(
            "WITH asked AS (
                 SELECT * FROM unnest($1::int8[]) WITH ORDINALITY AS a(job_id, n)),
             picked AS (
                 SELECT DISTINCT ON (o.job_id) o.job_id, o.exec_id
                 FROM asked a CROSS JOIN LATERAL (
                     SELECT job_id, exec_id FROM process_execution
                     WHERE job_id = a.job_id
                       AND status IN ('waiting', 'running')
                       AND (claimed_until IS NULL OR claimed_until < now())
                     ORDER BY exec_id
                     LIMIT 1
                     FOR UPDATE SKIP LOCKED) o
                 ORDER BY o.job_id, a.n)
             UPDATE process_execution e
             SET status = 'running', worker = $3, started_at = now(),
                 claimed_until = now() + make_interval(
                     secs => ($2::float8[])[array_position($1::int8[], e.job_id)]),
                 claims = e.claims + 1
             FROM process_job j
             WHERE e.job_id = ANY($1::int8[]) AND j.id = ANY($1::int8[]) AND j.id = e.job_id
               AND (e.job_id, e.exec_id) IN (SELECT job_id, exec_id FROM picked)
             RETURNING e.job_id, e.exec_id, e.fire, e.attempt, e.sync, j.uid, j.process,
                       CASE WHEN e.claims - 1 < $4 THEN j.parameters END AS parameters,
                       j.retry_count, e.claims - 1 AS stops",
        )
        .await?;
    let max_stops = i32::try_from(max_stops).unwrap_or(i32::MAX);
    let job_ids: Vec<i64> = asks.iter().map(|a| a.job_id).collect();
    let leases: Vec<f64> = asks.iter().map(|a| a.lease.as_secs_f64()).collect();
    // Planning it took 0.6 ms, running it 0.2 ms (see `GENERIC_PLAN`).
    let parameters: [&(dyn ToSql + Sync); 4] = [&job_ids, &leases, &worker, &max_stops];
    let (_, rows) = tokio::try_join!(
        tx.batch_execute(GENERIC_PLAN),
        tx.query(&statement, &parameters),
    )?;
    // Committed before the parameters are read: a run whose parameters
    // kill the worker that reads them still counts this claim.
    tx.commit().await?;
    let mut claimed: HashMap<i64, Claimed> = rows
        .iter()
        .map(|row| {
            let parameters: Option<Value> = row.get("parameters");
            let stops: i32 = row.get("stops");
            let job_id: i64 = row.get("job_id");
            let claim = Claimed {
                job_id,
                exec_id: row.get("exec_id"),
                fire: row.get("fire"),
                attempt: row.get("attempt"),
                sync: row.get("sync"),
                uid: row.get("uid"),
                process: row.get("process"),
                parameters: parameters
                    .as_ref()
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default(),
                retry_count: row.get("retry_count"),
                abandoned: (stops >= max_stops).then_some(stops),
            };
            (job_id, claim)
        })
        .collect();
    let mut claims = Vec::with_capacity(asks.len());
    for ask in asks {
        claims.push(match claimed.remove(&ask.job_id) {
            Some(claim) => Claim::Claimed(claim),
            None => unclaimed(&client, ask.job_id).await?,
        });
    }
    Ok(claims)
}

/// Why a job asked for was not claimed: another worker runs its open
/// execution, or it has nothing to run. The job's run message lives on
/// while another worker runs it: its waiting executions count as queued
/// now (see the reconciler).
async fn unclaimed(client: &impl GenericClient, job_id: i64) -> Result<Claim, StoreError> {
    let open: bool = client
        .query_one(
            "WITH alive AS (
                 UPDATE process_execution SET queued_at = now()
                 WHERE job_id = $1 AND status = 'waiting' AND claimed_until IS NULL)
             SELECT EXISTS (SELECT 1 FROM process_execution
                            WHERE job_id = $1 AND status IN ('waiting', 'running'))",
            &[&job_id],
        )
        .await?
        .get(0);
    Ok(if open { Claim::Busy } else { Claim::Nothing })
}

/// Hands a claimed execution back, waiting, for another run.
pub async fn release(pool: &Pool, claimed: &Claimed, worker: &str) -> Result<(), StoreError> {
    pool.get()
        .await?
        .execute(
            "UPDATE process_execution
             SET status = 'waiting', worker = NULL, started_at = NULL, claimed_until = NULL,
                 queued_at = now()
             WHERE job_id = $1 AND exec_id = $2 AND status = 'running' AND worker = $3",
            &[&claimed.job_id, &claimed.exec_id, &worker],
        )
        .await?;
    Ok(())
}

/// Records a running execution's progress (0-100).
pub async fn progress(pool: &Pool, claimed: &Claimed, progress: i32) -> Result<(), StoreError> {
    pool.get()
        .await?
        .execute(
            "UPDATE process_execution SET progress = $3
             WHERE job_id = $1 AND exec_id = $2 AND status = 'running'",
            &[&claimed.job_id, &claimed.exec_id, &progress.clamp(0, 100)],
        )
        .await?;
    Ok(())
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum RunOutcome {
    Succeeded(Map<String, Value>),
    Failed(String),
    /// Failed, and not to be retried: the run kept stopping its workers.
    Abandoned(String),
}

/// A claimed execution's end, to record.
#[derive(Debug, Clone)]
pub struct Finish {
    pub claimed: Claimed,
    pub outcome: RunOutcome,
}

impl Finish {
    /// The status, outputs and message it is recorded with.
    fn recorded(&self) -> (&'static str, Option<Value>, &str) {
        match &self.outcome {
            RunOutcome::Succeeded(outputs) => {
                ("succeeded", Some(Value::Object(outputs.clone())), "")
            }
            RunOutcome::Failed(message) | RunOutcome::Abandoned(message) => {
                ("failed", None, message.as_str())
            }
        }
    }

    fn retried(&self) -> bool {
        matches!(self.outcome, RunOutcome::Failed(_))
            && self.claimed.attempt <= self.claimed.retry_count
    }
}

/// Records the ends of claimed executions that this worker still holds, in
/// one transaction (one statement for all of them, and one for their
/// results). A failure with retries left makes the next execution, due
/// after the backoff of [`retry_delay`]; the sweeper enqueues it then
/// ([`enqueue_due`]). A final outcome is published, and announced on
/// `channel` to a producer waiting for it. Returns the outbox rows to
/// publish.
pub async fn finish_all(
    pool: &Pool,
    finishes: &[Finish],
    worker: &str,
    channel: &str,
) -> Result<Vec<Stored>, StoreError> {
    let recorded: Vec<_> = finishes.iter().map(Finish::recorded).collect();
    let job_ids: Vec<i64> = finishes.iter().map(|f| f.claimed.job_id).collect();
    let keys: Vec<String> = finishes
        .iter()
        .map(|f| format!("{}:{}", f.claimed.job_id, f.claimed.exec_id))
        .collect();
    let statuses: Vec<&str> = recorded.iter().map(|r| r.0).collect();
    let outputs: Vec<Option<&Value>> = recorded.iter().map(|r| r.1.as_ref()).collect();
    let messages: Vec<&str> = recorded.iter().map(|r| r.2).collect();
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let record = tx
        .prepare_cached(
            "UPDATE process_execution e
             SET (status, outputs, message) =
                     (SELECT ($3::text[])[i], ($4::jsonb[])[i], ($5::text[])[i]
                      FROM (SELECT array_position($2::text[], e.job_id || ':' || e.exec_id) AS i) p),
                 finished_at = now(), claimed_until = NULL
             WHERE e.job_id = ANY($1::int8[]) AND e.job_id || ':' || e.exec_id = ANY($2::text[])
               AND e.status = 'running' AND e.worker = $6
             RETURNING e.job_id, e.exec_id",
        )
        .await?;
    let held: std::collections::HashSet<(i64, i32)> = tx
        .query(
            &record,
            &[&job_ids, &keys, &statuses, &outputs, &messages, &worker],
        )
        .await?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let mut results = Vec::new();
    let mut announced = Vec::new();
    for (finish, (status, outputs, message)) in finishes.iter().zip(recorded) {
        let claimed = &finish.claimed;
        if !held.contains(&(claimed.job_id, claimed.exec_id)) {
            continue;
        }
        if finish.retried() {
            let next = new_execution(
                &tx,
                claimed.job_id,
                claimed.fire,
                claimed.attempt + 1,
                claimed.sync,
                Some(retry_delay(claimed.attempt)),
            )
            .await?;
            tx.execute(
                "UPDATE process_execution SET message = $3 WHERE job_id = $1 AND exec_id = $2",
                &[
                    &claimed.job_id,
                    &claimed.exec_id,
                    &format!("{message} (retried as ExecID {next})"),
                ],
            )
            .await?;
            continue;
        }
        results.push(OutboxMessage::result(
            &ResultMessage::ProcessResult {
                job_id: claimed.job_id,
                exec_id: claimed.exec_id,
                uid: claimed.uid.clone(),
                process: claimed.process.clone(),
                status: status.to_string(),
                message: message.to_string(),
                outputs: outputs.unwrap_or(Value::Null),
            },
            format!("process.{}.{status}", claimed.process),
        ));
        if claimed.sync {
            announced.push(format!("job:{}", claimed.job_id));
        }
    }
    if !announced.is_empty() {
        tx.execute(
            "SELECT pg_notify($1, key) FROM unnest($2::text[]) AS key",
            &[&channel, &announced],
        )
        .await?;
    }
    let stored = outbox::insert(&tx, results).await?;
    tx.commit().await?;
    Ok(stored)
}

/// Fails the executions of job `job_id` held by dead letter `dead_letter`
/// (waiting for the run message an operator discarded) with `message`;
/// returns the job's final result for the outbox of the same transaction
/// and announces it to a producer waiting for it.
pub async fn close_discarded(
    tx: &Transaction<'_>,
    job_id: i64,
    dead_letter: i64,
    message: &str,
    channel: &str,
) -> Result<Vec<OutboxMessage>, StoreError> {
    let rows = tx
        .query(
            "UPDATE process_execution e
             SET status = 'failed', message = $3, finished_at = now(), dead_letter_id = NULL
             FROM process_job j
             WHERE e.job_id = $1 AND e.dead_letter_id = $2 AND e.status = 'waiting'
               AND j.id = e.job_id
             RETURNING e.exec_id, e.sync, j.uid, j.process",
            &[&job_id, &dead_letter, &message],
        )
        .await?;
    let Some(last) = rows.iter().max_by_key(|row| row.get::<_, i32>("exec_id")) else {
        return Ok(Vec::new());
    };
    let process: String = last.get("process");
    if rows.iter().any(|row| row.get::<_, bool>("sync")) {
        tx.execute(
            "SELECT pg_notify($1, $2)",
            &[&channel, &format!("job:{job_id}")],
        )
        .await?;
    }
    Ok(vec![OutboxMessage::result(
        &ResultMessage::ProcessResult {
            job_id,
            exec_id: last.get("exec_id"),
            uid: last.get("uid"),
            process: process.clone(),
            status: "failed".into(),
            message: message.to_string(),
            outputs: Value::Null,
        },
        format!("process.{process}.failed"),
    )])
}

/// An execution as producers see it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionView {
    pub job_id: i64,
    pub exec_id: i32,
    pub uid: String,
    pub process: String,
    pub status: String,
    pub progress: i32,
    pub message: String,
    pub outputs: Option<Value>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The UId of the run's element (Creatio's ExecProcElByUId).
    pub element_uid: String,
}

const VIEW: &str = "SELECT e.job_id, e.exec_id, j.uid, j.process, e.status, e.progress, e.message,
        e.outputs, e.started_at, e.finished_at, e.element_uid
 FROM process_execution e JOIN process_job j ON j.id = e.job_id";

fn view(row: &tokio_postgres::Row) -> ExecutionView {
    ExecutionView {
        job_id: row.get(0),
        exec_id: row.get(1),
        uid: row.get(2),
        process: row.get(3),
        status: row.get(4),
        progress: row.get(5),
        message: row.get(6),
        outputs: row.get(7),
        started_at: row.get(8),
        finished_at: row.get(9),
        element_uid: row.get("element_uid"),
    }
}

/// One execution of a job.
pub async fn execution(
    pool: &Pool,
    job_id: i64,
    exec_id: i32,
) -> Result<Option<ExecutionView>, StoreError> {
    let client = pool.get().await?;
    let sql = client
        .prepare_cached(&format!("{VIEW} WHERE e.job_id = $1 AND e.exec_id = $2"))
        .await?;
    Ok(client
        .query_opt(&sql, &[&job_id, &exec_id])
        .await?
        .as_ref()
        .map(view))
}

/// A job as its producer follows it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobView {
    /// `active`, `paused` or `ended` for a scheduled job.
    pub schedule_state: Option<String>,
    pub next_fire: Option<DateTime<Utc>>,
    /// The time zone of its schedule (UTC when it has none).
    pub zone: Zone,
    /// Its latest execution, if it ran.
    pub latest: Option<ExecutionView>,
}

/// A job by its uid.
pub async fn job_by_uid(pool: &Pool, uid: &str) -> Result<Option<JobView>, StoreError> {
    if uid.contains('\0') {
        return Ok(None);
    }
    let client = pool.get().await?;
    let Some(job) = client
        .query_opt(
            "SELECT id, schedule_state, next_fire, time_zone FROM process_job WHERE uid = $1",
            &[&uid],
        )
        .await?
    else {
        return Ok(None);
    };
    let job_id: i64 = job.get("id");
    Ok(Some(JobView {
        schedule_state: job.get("schedule_state"),
        next_fire: job.get("next_fire"),
        zone: Zone::parse(job.get("time_zone")).unwrap_or(Zone::UTC),
        latest: latest_executions(&client, &[job_id]).await?.remove(&job_id),
    }))
}

/// The latest execution (the last ExecID) of each of `job_ids` that ran.
pub async fn latest_executions(
    client: &impl GenericClient,
    job_ids: &[i64],
) -> Result<HashMap<i64, ExecutionView>, StoreError> {
    let sql = format!("{VIEW} WHERE e.job_id = ANY($1) AND e.exec_id = j.executions");
    Ok(client
        .query(&sql, &[&job_ids])
        .await?
        .iter()
        .map(|row| (row.get(0), view(row)))
        .collect())
}

/// The job's outcome once final: its latest execution, when it succeeded,
/// or failed with no retry to come.
pub async fn final_outcome(pool: &Pool, job_id: i64) -> Result<Option<ExecutionView>, StoreError> {
    let client = pool.get().await?;
    let sql = client
        .prepare_cached(&format!(
            "{VIEW} WHERE e.job_id = $1 AND e.status IN ('succeeded', 'failed', 'cancelled')
               AND NOT EXISTS (SELECT 1 FROM process_execution o
                               WHERE o.job_id = e.job_id AND o.exec_id > e.exec_id)
             ORDER BY e.exec_id DESC LIMIT 1"
        ))
        .await?;
    Ok(client.query_opt(&sql, &[&job_id]).await?.as_ref().map(view))
}

/// Enqueues the executions that are due: retries whose backoff is over,
/// and runs whose lease ran out (their worker died, or stopped before the
/// run ended), which are waiting again. Returns the outbox rows of their
/// run messages.
pub async fn enqueue_due(pool: &Pool) -> Result<Vec<Stored>, StoreError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let statement = tx
        .prepare_cached(
            "WITH due AS (
                 SELECT job_id, exec_id FROM process_execution
                 WHERE status IN ('waiting', 'running') AND claimed_until < now()
                 ORDER BY claimed_until
                 LIMIT $1
                 FOR UPDATE SKIP LOCKED)
             UPDATE process_execution e
             SET status = 'waiting', worker = NULL, started_at = NULL, claimed_until = NULL,
                 queued_at = now()
             FROM due, process_job j
             WHERE e.job_id = due.job_id AND e.exec_id = due.exec_id AND j.id = e.job_id
             RETURNING e.job_id, j.process, j.worker_group",
        )
        .await?;
    let rows = tx.query(&statement, &[&DUE_BATCH]).await?;
    let work = rows
        .iter()
        .map(|row| run_message(row.get(0), row.get(1), row.get(2)))
        .collect();
    let stored = outbox::insert(&tx, work).await?;
    tx.commit().await?;
    Ok(stored)
}

/// Makes the fires that are due; returns the outbox rows of their runs.
pub async fn fire_due(pool: &Pool) -> Result<Vec<Stored>, StoreError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let due = tx
        .query(
            "SELECT id, cron, ends_at, run_once, next_fire, fires, worker_group, now(), process,
                    time_zone
             FROM process_job
             WHERE schedule_state = 'active' AND next_fire <= now()
             ORDER BY next_fire
             LIMIT $1
             FOR UPDATE SKIP LOCKED",
            &[&DUE_BATCH],
        )
        .await?;
    let mut work = Vec::new();
    for job in &due {
        let job_id: i64 = job.get(0);
        let cron_text: String = job.get(1);
        let ends_at: Option<DateTime<Utc>> = job.get(2);
        let run_once: bool = job.get(3);
        let mut next: DateTime<Utc> = job.get(4);
        let mut fires: i32 = job.get(5);
        let group: String = job.get(6);
        let now: DateTime<Utc> = job.get(7);
        let process: String = job.get(8);
        let zone: String = job.get("time_zone");
        let (Ok(cron), Ok(zone)) = (QuartzCron::parse(&cron_text), Zone::parse(&zone)) else {
            tx.execute(
                "UPDATE process_job SET schedule_state = 'ended', next_fire = NULL WHERE id = $1",
                &[&job_id],
            )
            .await?;
            continue;
        };
        let mut following = None;
        for _ in 0..MAX_FIRES_PER_SWEEP {
            fires += 1;
            new_execution(&tx, job_id, fires, 1, false, None).await?;
            work.push(run_message(job_id, &process, &group));
            let late = (now - next).to_std().unwrap_or_default();
            let after = if late > MISFIRE_TOLERANCE { now } else { next };
            following = cron.next_after(after, zone);
            match following {
                Some(f) if f <= now && !run_once => next = f,
                _ => break,
            }
        }
        let following = following.filter(|f| !run_once && ends_at.is_none_or(|end| *f <= end));
        tx.execute(
            "UPDATE process_job
             SET fires = $2, next_fire = $3,
                 schedule_state = CASE WHEN $3::timestamptz IS NULL THEN 'ended' ELSE 'active' END
             WHERE id = $1",
            &[&job_id, &fires, &following],
        )
        .await?;
    }
    let stored = outbox::insert(&tx, work).await?;
    tx.commit().await?;
    Ok(stored)
}

/// A scheduled job, for the admin API.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleView {
    pub uid: String,
    pub job_id: i64,
    pub process: String,
    pub quartz_def: Option<String>,
    pub state: String,
    pub next_fire: Option<DateTime<Utc>>,
    pub fires: i32,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub run_once: bool,
    pub worker_group: String,
    /// The IANA time zone the schedule runs in.
    pub time_zone: String,
    /// The coming fires (at most [`NEXT_FIRES`]) as wall-clock times of
    /// the schedule's zone, with their offsets.
    pub next_fires: Vec<DateTime<chrono::FixedOffset>>,
}

/// How many coming fires a schedule's view lists.
pub const NEXT_FIRES: usize = 5;

const SCHEDULE_VIEW: &str = "SELECT uid, id, process, cron, schedule_state, next_fire, fires,
        starts_at, ends_at, run_once, worker_group, time_zone
 FROM process_job";

fn schedule_view(row: &tokio_postgres::Row) -> ScheduleView {
    let next_fire: Option<DateTime<Utc>> = row.get("next_fire");
    let ends_at: Option<DateTime<Utc>> = row.get("ends_at");
    let run_once: bool = row.get("run_once");
    let time_zone: String = row.get("time_zone");
    let zone = Zone::parse(&time_zone).ok();
    let cron = row
        .get::<_, Option<&str>>("cron")
        .and_then(|text| QuartzCron::parse(text).ok());
    let mut next_fires = Vec::new();
    if let (Some(first), Some(zone), Some(cron)) = (next_fire, zone, cron) {
        let mut fire = Some(first);
        while let Some(at) = fire.filter(|at| ends_at.is_none_or(|end| *at <= end)) {
            next_fires.push(zone.local(at));
            if run_once || next_fires.len() == NEXT_FIRES {
                break;
            }
            fire = cron.next_after(at, zone);
        }
    }
    ScheduleView {
        uid: row.get("uid"),
        job_id: row.get("id"),
        process: row.get("process"),
        quartz_def: row.get("cron"),
        state: row.get("schedule_state"),
        next_fire,
        fires: row.get("fires"),
        starts_at: row.get("starts_at"),
        ends_at,
        run_once,
        worker_group: row.get("worker_group"),
        time_zone,
        next_fires,
    }
}

/// Scheduled jobs, newest first (`state` filters: active, paused, ended).
pub async fn schedules(pool: &Pool, state: Option<&str>) -> Result<Vec<ScheduleView>, StoreError> {
    let client = pool.get().await?;
    let sql = format!(
        "{SCHEDULE_VIEW} WHERE schedule_state IS NOT NULL
           AND ($1::text IS NULL OR schedule_state = $1)
         ORDER BY id DESC"
    );
    Ok(client
        .query(&sql, &[&state])
        .await?
        .iter()
        .map(schedule_view)
        .collect())
}

/// Pauses (`pause`) or resumes a schedule; resuming fires from now on.
/// `None` when there is no such schedule, or it has ended.
pub async fn set_paused(
    pool: &Pool,
    uid: &str,
    pause: bool,
) -> Result<Option<ScheduleView>, StoreError> {
    if uid.contains('\0') {
        return Ok(None);
    }
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let Some(row) = tx
        .query_opt(
            "SELECT cron, starts_at, ends_at, run_once, time_zone FROM process_job
             WHERE uid = $1 AND schedule_state IN ('active', 'paused') FOR UPDATE",
            &[&uid],
        )
        .await?
    else {
        return Ok(None);
    };
    if pause {
        tx.execute(
            "UPDATE process_job SET schedule_state = 'paused' WHERE uid = $1",
            &[&uid],
        )
        .await?;
    } else {
        let cron = QuartzCron::parse(row.get(0)).ok();
        let zone = Zone::parse(row.get(4)).ok();
        let spec = cron.zip(zone).map(|(cron, zone)| ScheduleSpec {
            cron,
            zone,
            starts_at: row.get(1),
            ends_at: row.get(2),
            run_once: row.get(3),
            run_immediately: false,
        });
        let next = spec.as_ref().and_then(|s| s.first_fire(Utc::now()));
        tx.execute(
            "UPDATE process_job
             SET next_fire = $2,
                 schedule_state = CASE WHEN $2::timestamptz IS NULL THEN 'ended' ELSE 'active' END
             WHERE uid = $1",
            &[&uid, &next],
        )
        .await?;
    }
    let sql = format!("{SCHEDULE_VIEW} WHERE uid = $1");
    let view = tx
        .query_one(&sql, &[&uid])
        .await
        .map(|r| schedule_view(&r))?;
    tx.commit().await?;
    Ok(Some(view))
}

/// Active schedules whose next fire is due and not made yet (normally 0:
/// the workers fire them within a second).
pub async fn schedules_due(pool: &Pool) -> Result<i64, StoreError> {
    let client = pool.get().await?;
    let row = client
        .query_one(
            "SELECT count(*) FROM process_job
             WHERE schedule_state = 'active' AND next_fire <= now()",
            &[],
        )
        .await?;
    Ok(row.get(0))
}
