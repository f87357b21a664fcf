//! Why the API did not handle a request: it already handles as many as it
//! may, or the request was not answered in time (see `bounds`). A leaf:
//! each protocol's error type carries an [`Overload`] and writes it in its
//! own format, then [`Overload::mark`]s the answer.

use axum::http::HeaderValue;
use axum::http::header::RETRY_AFTER;
use axum::response::Response;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Overload {
    /// `http_max_concurrent_requests` are being handled: shed at once.
    #[error(
        "fila is handling as many requests as it may at once: this one was not taken; send it again shortly"
    )]
    Saturated,
    /// Not answered within `http_request_timeout_secs`.
    #[error(
        "the request was not answered within {secs} s; it may still have taken effect: look before sending it again"
    )]
    TimedOut { secs: u64 },
}

/// The code under which an answer of [`Overload`] counts as a refused
/// submission (`fila_intake_items_total`), put in the answer's extensions:
/// the handler, which counts the others, never ran to its end.
#[derive(Debug, Clone, Copy)]
pub struct Unhandled(pub u16);

impl Overload {
    /// What `Retry-After` says of a shed request, in seconds.
    pub const RETRY_AFTER_SECS: u64 = 1;

    /// Adds `Retry-After` to a shed request's answer, and the code it
    /// counts under.
    pub fn mark(self, mut response: Response, code: u16) -> Response {
        if self == Overload::Saturated {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(Self::RETRY_AFTER_SECS));
        }
        response.extensions_mut().insert(Unhandled(code));
        response
    }
}
