//! Jobs as operators list them: the recent jobs, newest first, each with
//! its latest execution (read as producers read it, see
//! [`store::latest_executions`]). Jobs are paged by id, a range of the
//! primary key; a filter on the process or on the latest execution's
//! status looks through at most [`RECENT_JOBS`] ids per call, so that a
//! rare status never makes a call read the whole table.

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_postgres::IsolationLevel;

use super::store::{self, ExecutionView};
use crate::db::StoreError;

/// How many job ids one call looks through, at most.
pub const RECENT_JOBS: i64 = 100_000;

/// The status of an execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionStatus {
    Waiting,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl ExecutionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }
}

/// Which jobs to list.
#[derive(Debug, Default)]
pub struct Filter<'a> {
    pub process: Option<&'a str>,
    /// Of the job's latest execution: a job that never ran has none.
    pub status: Option<ExecutionStatus>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub job_id: i64,
    pub uid: String,
    pub process: String,
    pub parameters: Value,
    pub cron: Option<String>,
    pub schedule_state: Option<String>,
    pub next_fire: Option<DateTime<Utc>>,
    pub executions: i32,
    pub last_execution: Option<LastExecution>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LastExecution {
    pub exec_id: i32,
    pub status: String,
    /// 0 to 100; -1 while unknown.
    pub progress: i32,
    pub message: String,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// What Creatio's ExecProcElByUId names to run it now.
    #[serde(rename = "elementUId")]
    pub element_uid: String,
}

impl From<ExecutionView> for LastExecution {
    fn from(view: ExecutionView) -> Self {
        Self {
            exec_id: view.exec_id,
            status: view.status,
            progress: view.progress,
            message: view.message,
            started_at: view.started_at,
            finished_at: view.finished_at,
            element_uid: view.element_uid,
        }
    }
}

/// One page of jobs, and the `before` of the next one (`None`: the last).
/// A filtered page may hold fewer than asked, or none, while `next` is
/// not `None`: older jobs were not looked through yet.
#[derive(Debug)]
pub struct Page {
    pub jobs: Vec<Job>,
    pub next: Option<i64>,
}

/// The `limit` latest jobs before id `before` (none: from the newest) that
/// match `filter`, among the [`RECENT_JOBS`] ids before it.
pub async fn recent(
    pool: &Pool,
    before: Option<i64>,
    filter: &Filter<'_>,
    limit: i64,
) -> Result<Page, StoreError> {
    let mut client = pool.get().await?;
    // One snapshot: the filter on the latest execution and the execution
    // shown agree.
    let client = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let top: i64 = match before {
        Some(before) => before,
        None => client
            .query_one("SELECT coalesce(max(id) + 1, 1) FROM process_job", &[])
            .await?
            .get(0),
    };
    let searched_from = top.saturating_sub(RECENT_JOBS);
    let rows = client
        .query(
            "SELECT j.id, j.uid, j.process, j.parameters, j.cron, j.schedule_state, j.next_fire,
                    j.executions, j.created_at
             FROM process_job j
             LEFT JOIN process_execution e ON e.job_id = j.id AND e.exec_id = j.executions
             WHERE j.id < $1 AND j.id >= $2
               AND ($3::text IS NULL OR j.process = $3)
               AND ($4::text IS NULL OR e.status = $4)
             ORDER BY j.id DESC LIMIT $5",
            &[
                &top,
                &searched_from,
                &filter.process,
                &filter.status.map(ExecutionStatus::as_str),
                &limit,
            ],
        )
        .await?;
    let ids: Vec<i64> = rows.iter().map(|row| row.get(0)).collect();
    let mut latest = store::latest_executions(&client, &ids).await?;
    let jobs: Vec<Job> = rows
        .iter()
        .map(|row| {
            let job_id: i64 = row.get(0);
            Job {
                job_id,
                uid: row.get(1),
                process: row.get(2),
                parameters: row.get(3),
                cron: row.get(4),
                schedule_state: row.get(5),
                next_fire: row.get(6),
                executions: row.get(7),
                last_execution: latest.remove(&job_id).map(LastExecution::from),
                created_at: row.get(8),
            }
        })
        .collect();
    let next = if i64::try_from(jobs.len()).is_ok_and(|n| n == limit) {
        jobs.last().map(|j| j.job_id)
    } else {
        // Fewer than asked: the window is through; older jobs, if any, are
        // for the next call.
        let older: bool = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM process_job WHERE id < $1)",
                &[&searched_from],
            )
            .await?
            .get(0);
        older.then_some(searched_from)
    };
    client.commit().await?;
    Ok(Page { jobs, next })
}
