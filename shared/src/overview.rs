//! The operations overview's figures from PostgreSQL: the open work of
//! each protocol with the age of its oldest item, the errors of the last
//! hour, dead letters and the outbox. Each figure reads a partial index
//! (migration 0011), never a whole table; the items finished in the last
//! hour come from the workers' tally (`crate::tally`).

use std::collections::BTreeMap;

use deadpool_postgres::Pool;
use serde::Serialize;

use crate::db::StoreError;
use crate::metrics::{EAI, PROCESS, TAF};
use crate::{outbox, tally};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Overview {
    pub taf: Taf,
    pub eai: Eai,
    pub process: Process,
    /// Dead letters by queue (queues without any are left out).
    pub dead_letters: BTreeMap<String, i64>,
    pub outbox: Outbox,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Taf {
    pub pending: i64,
    /// Waiting for their predecessor.
    pub waiting: i64,
    /// Age of the oldest pending or waiting record.
    pub oldest_open_seconds: Option<f64>,
    /// Records that ended in error in the last hour, by errorCode.
    pub errors_last_hour: BTreeMap<String, i64>,
    pub processed_last_hour: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Eai {
    pub pending: i64,
    pub oldest_pending_seconds: Option<f64>,
    pub errors_last_hour: i64,
    pub ok_last_hour: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Process {
    /// Executions waiting for a worker (or for their retry).
    pub waiting: i64,
    pub running: i64,
    pub oldest_waiting_seconds: Option<f64>,
    pub failed_last_hour: i64,
    pub succeeded_last_hour: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outbox {
    pub rows: i64,
    /// Rows the broker refused or did not confirm, waiting for their next
    /// attempt.
    pub held: i64,
    pub oldest_age_seconds: f64,
}

const AGE: &str = "extract(epoch FROM now() - min";

pub async fn read(pool: &Pool) -> Result<Overview, StoreError> {
    let client = pool.get().await?;
    let taf = client
        .query_one(
            &format!(
                "SELECT count(*) FILTER (WHERE status = 'pending'),
                        count(*) FILTER (WHERE status = 'waiting'),
                        {AGE}(accepted_at))::float8
                 FROM taf_record WHERE status IN ('pending', 'waiting')"
            ),
            &[],
        )
        .await?;
    let taf_errors = client
        .query(
            "SELECT coalesce(error_code, ''), count(*) FROM taf_record
             WHERE status = 'error' AND finished_at > now() - interval '1 hour'
             GROUP BY 1",
            &[],
        )
        .await?;
    let eai = client
        .query_one(
            &format!(
                "SELECT (SELECT count(*) FROM eai_message WHERE status = 'pending'),
                        (SELECT {AGE}(accepted_at))::float8 FROM eai_message WHERE status = 'pending'),
                        (SELECT count(*) FROM eai_message
                         WHERE status = 'error' AND processed_on > now() - interval '1 hour')"
            ),
            &[],
        )
        .await?;
    let process = client
        .query_one(
            &format!(
                "SELECT count(*) FILTER (WHERE status = 'waiting'),
                        count(*) FILTER (WHERE status = 'running'),
                        {AGE}(created_at) FILTER (WHERE status = 'waiting'))::float8,
                        (SELECT count(*) FROM process_execution
                         WHERE status = 'failed' AND finished_at > now() - interval '1 hour')
                 FROM process_execution WHERE status IN ('waiting', 'running')"
            ),
            &[],
        )
        .await?;
    let dead_letters = client
        .query(
            "SELECT queue, count(*) FROM dead_letter GROUP BY queue",
            &[],
        )
        .await?;
    drop(client);
    let backlog = outbox::backlog(pool).await?;
    let finished = tally::last_hour(pool).await?;
    let finished = |protocol: &str, status: &str| {
        finished
            .get(&(protocol.to_string(), status.to_string()))
            .copied()
            .unwrap_or(0)
    };
    Ok(Overview {
        taf: Taf {
            pending: taf.get(0),
            waiting: taf.get(1),
            oldest_open_seconds: taf.get(2),
            errors_last_hour: taf_errors.iter().map(|r| (r.get(0), r.get(1))).collect(),
            processed_last_hour: finished(TAF, "processed"),
        },
        eai: Eai {
            pending: eai.get(0),
            oldest_pending_seconds: eai.get(1),
            errors_last_hour: eai.get(2),
            ok_last_hour: finished(EAI, "ok"),
        },
        process: Process {
            waiting: process.get(0),
            running: process.get(1),
            oldest_waiting_seconds: process.get(2),
            failed_last_hour: process.get(3),
            succeeded_last_hour: finished(PROCESS, "succeeded"),
        },
        dead_letters: dead_letters.iter().map(|r| (r.get(0), r.get(1))).collect(),
        outbox: Outbox {
            rows: backlog.rows,
            held: backlog.held,
            oldest_age_seconds: backlog.oldest_age_secs,
        },
    })
}
