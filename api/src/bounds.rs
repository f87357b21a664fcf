//! Every request but the probes and `/metrics` is bounded: at most
//! `http_max_concurrent_requests` are handled at once, and one more is
//! answered at once with 503 and `Retry-After` (load shed, never queued);
//! each is answered within `http_request_timeout_secs`, from its head
//! read to its answer (authentication and reading the body included). A
//! request past its time is dropped where it stands: a transaction not yet
//! committed is rolled back; one whose commit was under way may have taken
//! effect, which the answer says.
//!
//! Either refusal is written in the format of the protocol a route belongs
//! to, its [`Dialect`], declared with the routes (see `router` in
//! `lib.rs`).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use fila_shared::config::Config;
use tokio::sync::Semaphore;

use crate::eai::EaiError;
use crate::errors::ApiError;
use crate::overload::Overload;
use crate::process::{CreatioOperation, RobustaError, WsError, creatio_refusal};
use crate::taf::TafError;

/// Who writes a route's refusals.
#[derive(Debug, Clone, Copy)]
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

    /// The middleware state of routes answering in `dialect`.
    pub fn guard(self: &Arc<Self>, dialect: Dialect) -> Guard {
        Guard {
            bounds: Arc::clone(self),
            dialect,
        }
    }
}

/// A route's bounds, and who answers their refusals.
#[derive(Clone)]
pub struct Guard {
    bounds: Arc<Bounds>,
    dialect: Dialect,
}

/// Middleware: sheds the request when every permit is taken, else handles
/// it within the timeout.
pub async fn enforce(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let Ok(permit) = Arc::clone(&guard.bounds.permits).try_acquire_owned() else {
        tracing::debug!("request shed: as many requests as allowed are being handled");
        return guard.dialect.refuse(Overload::Saturated);
    };
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(String::new, |p| p.as_str().to_string());
    let answered = tokio::time::timeout(guard.bounds.timeout, next.run(request)).await;
    drop(permit);
    answered.unwrap_or_else(|_| {
        let secs = guard.bounds.timeout.as_secs();
        tracing::warn!(%route, secs, "request not answered in time");
        guard.dialect.refuse(Overload::TimedOut { secs })
    })
}
