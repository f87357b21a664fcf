//! What every handler is given and returns: which attempt of its queue
//! message it is on, the message's acknowledgement, and why it failed. A
//! leaf: it knows nothing of the handlers or of the consumer that calls
//! them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fila_shared::db::StoreError;
use lapin::Acker;
use lapin::options::BasicAckOptions;

#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// The store failed: the message is retried later.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A destination did not answer: the message is retried later.
    #[error("destination unavailable: {0}")]
    Destination(String),
    /// Another transaction or worker holds some of the message's work: the
    /// message is retried later without counting an attempt, since nothing
    /// failed.
    #[error("{0}")]
    Busy(String),
    /// The run's process is not defined on this worker (definitions reach
    /// replicas at different times): the message is retried later, and the
    /// run fails on its last attempt.
    #[error("process {0} is not defined on this worker")]
    UndefinedProcess(String),
    /// Messages of an EAI Transaction this worker does not know (the
    /// Transactions file reaches replicas at different times) were left
    /// pending: the message is retried later, and on its last attempt they
    /// end in ERROR.
    #[error("EAI Transaction {0} is not known to this worker")]
    UnknownTransaction(String),
}

/// Which attempt of the queue message this is.
#[derive(Debug, Clone, Copy)]
pub struct Attempt {
    /// No retry follows a failure of this one.
    pub last: bool,
}

/// The queue message's acknowledgement. A handler whose work becomes
/// durable elsewhere before it is done sends it early: a process run, once
/// its claim is recorded (the run's lease then stands for the message), so
/// that a run longer than RabbitMQ's delivery acknowledgement timeout holds
/// no delivery.
pub struct Ack {
    acker: Acker,
    sent: AtomicBool,
    /// The longest an acknowledgement may wait to be sent.
    timeout: Duration,
}

impl Ack {
    pub fn new(acker: Acker, timeout: Duration) -> Self {
        Self {
            acker,
            sent: AtomicBool::new(false),
            timeout,
        }
    }

    /// Acknowledges the message (once; later calls do nothing). One that
    /// cannot be sent within its timeout (a broker that stopped answering)
    /// is given up: the broker delivers the message again, which every
    /// handler tolerates.
    pub async fn send(&self) {
        if self.sent.swap(true, Ordering::AcqRel) {
            return;
        }
        let sending = self.acker.ack(BasicAckOptions::default());
        match tokio::time::timeout(self.timeout, sending).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "acknowledgement lost; the message will be redelivered");
            }
            Err(_) => {
                tracing::warn!("acknowledgement not sent in time; the message will be redelivered");
            }
        }
    }

    pub fn sent(&self) -> bool {
        self.sent.load(Ordering::Acquire)
    }
}
