//! Every request but the probes and `/metrics` is bounded: at most
//! `http_max_concurrent_requests` are handled at once, and one more is
//! answered at once with 503 and `Retry-After` (load shed, never queued);
//! each is answered within `http_request_timeout_secs`, from its head
//! read to its answer (authentication and reading the body included). A
//! request past its time is dropped where it stands: a transaction not yet
//! committed is rolled back; one whose commit was under way may have taken
//! effect, which the answer says. A request that waits for a process run
//! (wsProcess `ExecuteWithXmlParams`, see `policy::Intake::waits_for_run`)
//! is bounded until it is admitted and its body read, then waits as long
//! as the run takes.
//!
//! Either refusal is written in the format of the protocol a route belongs
//! to, its [`Dialect`], declared with the route in its policy (see
//! `policy`, which applies the bounds).

use std::sync::Arc;
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use fila_shared::config::Config;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::eai::EaiError;
use crate::errors::ApiError;
use crate::overload::Overload;
use crate::process::{CreatioOperation, RobustaError, WsError, creatio_refusal};
use crate::taf::TafError;

/// Who writes a route's refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// RESTFAULT 702 when not answered in time, `{"code": 503}` when shed.
    Taf,
    /// EAI-503.
    Eai,
    /// A SOAP `Server` fault.
    WsProcess,
    /// Creatio's Execute (`{"code", "message"}`), RunProcess (`errorInfo`)
    /// or login (`{"Code": 1, "Message"}`).
    Creatio(CreatioOperation),
    /// The scheduler connector API's `{"message"}`.
    Scheduler,
    /// fila's own endpoints: `{"code", "message"}`.
    Fila,
}

impl Dialect {
    /// A submission refused under backpressure (see `backpressure`): a
    /// SOAP fault for wsProcess, `{"code": 429, "message"}` otherwise.
    pub fn busy(self) -> Response {
        match self {
            Dialect::WsProcess => WsError::Busy.into_response(),
            _ => ApiError::Busy.into_response(),
        }
    }

    pub fn refuse(self, overload: Overload) -> Response {
        match self {
            Dialect::Taf => TafError::Overloaded(overload).into_response(),
            Dialect::Eai => EaiError::Overloaded(overload).into_response(),
            Dialect::WsProcess => WsError::Overloaded(overload).into_response(),
            Dialect::Creatio(operation) => creatio_refusal(operation, overload),
            Dialect::Scheduler => RobustaError::Overloaded(overload).into_response(),
            Dialect::Fila => ApiError::Overloaded(overload).into_response(),
        }
    }
}

/// The bounds every bounded route shares.
pub struct Bounds {
    permits: Arc<Semaphore>,
    timeout: Duration,
}

impl Bounds {
    pub fn new(config: &Config) -> Arc<Self> {
        Arc::new(Self {
            permits: Arc::new(Semaphore::new(config.http_max_concurrent_requests)),
            timeout: config.http_request_timeout(),
        })
    }

    /// A place among the requests handled at once; `None` when every one
    /// is taken.
    pub fn permit(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.permits).try_acquire_owned().ok()
    }

    /// How long a request may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}
