//! Errors of the HTTP layer and of fila's own endpoints (authentication,
//! limits, admin), answered as `{"code": <HTTP status>, "message": "..."}`.
//! Protocol endpoints map their own errors to their wire format (see
//! `taf::errors`); details of server-side failures go to the log only.

use axum::Json;
use axum::http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use fila_shared::db::StoreError;
use serde_json::json;

use crate::backpressure::Busy;
use crate::overload::Overload;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("authentication required")]
    Unauthenticated,
    #[error("this user may not call this endpoint")]
    Forbidden,
    #[error("too many failed logins from this address; retry in {retry_after} s")]
    TooManyFailedLogins { retry_after: u64 },
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("database unavailable")]
    Store(#[from] StoreError),
    #[error("{}", Busy::MESSAGE)]
    Busy,
    /// Shed, or not answered in time (HTTP 503).
    #[error(transparent)]
    Overloaded(Overload),
}

/// The JSON error body fila answers with outside the protocols.
pub fn error_body(status: StatusCode, code: u16, message: &str) -> Response {
    (status, Json(json!({ "code": code, "message": message }))).into_response()
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::TooManyFailedLogins { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Busy => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Overloaded(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Store(e) = &self {
            tracing::error!(error = %e, "store failure");
        }
        let status = self.status();
        let mut response = error_body(status, status.as_u16(), &self.to_string());
        match self {
            ApiError::Unauthenticated => {
                response.headers_mut().insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"fila\", charset=\"UTF-8\""),
                );
            }
            ApiError::TooManyFailedLogins { retry_after } => {
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from(retry_after));
            }
            ApiError::Busy => Busy::retry_after(&mut response),
            ApiError::Overloaded(overload) => return overload.mark(response, status.as_u16()),
            _ => {}
        }
        response
    }
}
