//! Backpressure: while a work queue holds more ready messages than
//! `intake_max_queue_depth`, intake of the protocol feeding it answers 429
//! with `Retry-After` instead of letting the backlog grow without bound;
//! while the outbox holds more unpublished rows than that (RabbitMQ away),
//! every protocol's intake does. The figures are read every second in the
//! background, so that no request waits for them; a figure that cannot be
//! read keeps its last value. Reading statuses is never refused.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::http::HeaderValue;
use axum::http::header::RETRY_AFTER;
use axum::response::Response;
use deadpool_postgres::Pool;
use fila_shared::amqp::{Broker, WorkQueue};
use fila_shared::metrics::{EAI, PROCESS, TAF};
use fila_shared::outbox;

const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The refusal, whatever the protocol's format.
pub struct Busy;

impl Busy {
    pub const MESSAGE: &'static str =
        "fila's backlog is over its bound: the work was not taken; send it again later";
    /// What `Retry-After` says, in seconds.
    pub const RETRY_AFTER_SECS: u64 = 10;

    pub fn retry_after(response: &mut Response) {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(Self::RETRY_AFTER_SECS));
    }
}

/// Which protocols' intake is refused now.
#[derive(Default)]
pub struct Backpressure {
    taf: AtomicBool,
    eai: AtomicBool,
    process: AtomicBool,
}

impl Backpressure {
    /// Watches `queues` and the outbox against `bound` (0: no bound, and
    /// nothing is watched).
    pub fn spawn(pool: Pool, broker: Arc<Broker>, queues: Vec<WorkQueue>, bound: u32) -> Arc<Self> {
        let this = Arc::new(Self::default());
        if bound > 0 {
            tokio::spawn(watch(Arc::downgrade(&this), pool, broker, queues, bound));
        }
        this
    }

    fn flag(&self, protocol: &str) -> Option<&AtomicBool> {
        match protocol {
            TAF => Some(&self.taf),
            EAI => Some(&self.eai),
            PROCESS => Some(&self.process),
            _ => None,
        }
    }

    pub fn refuses(&self, protocol: &str) -> bool {
        self.flag(protocol)
            .is_some_and(|over| over.load(Ordering::Relaxed))
    }
}

fn protocol_of(queue: &WorkQueue) -> &'static str {
    match queue {
        WorkQueue::Taf => TAF,
        WorkQueue::Eai => EAI,
        WorkQueue::Process(_) => PROCESS,
    }
}

async fn watch(
    this: Weak<Backpressure>,
    pool: Pool,
    broker: Arc<Broker>,
    queues: Vec<WorkQueue>,
    bound: u32,
) {
    // Last known state: the outbox, and each queue.
    let mut outbox_over = false;
    let mut queue_over = vec![false; queues.len()];
    loop {
        tokio::time::sleep(CHECK_EVERY).await;
        let Some(backpressure) = this.upgrade() else {
            return;
        };
        let reading = tokio::time::timeout(CHECK_EVERY, outbox::backlog(&pool)).await;
        if let Ok(Ok(backlog)) = reading {
            outbox_over = backlog.rows > i64::from(bound);
        }
        for (queue, over) in queues.iter().zip(queue_over.iter_mut()) {
            let reading = tokio::time::timeout(CHECK_EVERY, broker.queue_counts(queue)).await;
            if let Ok(Ok(counts)) = reading {
                *over = counts.ready > bound;
            }
        }
        for protocol in [TAF, EAI, PROCESS] {
            let refused = outbox_over
                || queues
                    .iter()
                    .zip(&queue_over)
                    .any(|(queue, over)| *over && protocol_of(queue) == protocol);
            if let Some(flag) = backpressure.flag(protocol)
                && flag.swap(refused, Ordering::Relaxed) != refused
            {
                if refused {
                    tracing::warn!(
                        protocol,
                        bound,
                        "backlog over its bound: intake answers 429"
                    );
                } else {
                    tracing::info!(protocol, "backlog under its bound: intake resumes");
                }
            }
        }
    }
}
