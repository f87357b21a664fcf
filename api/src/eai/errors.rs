//! The one place where EAI errors become the wire format of the TOTVS API
//! guide: `{"code", "message", "detailedMessage", "helpUrl", "details"}`
//! with a fitting HTTP status. Server-side failures say only that the
//! service is unavailable; the detail goes to the log. A request the API
//! sheds or does not answer in time is EAI-503 too.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fila_shared::db::StoreError;
use fila_shared::eai::listing::ListingError;
use fila_shared::eai::problem::Problem;
use serde_json::{Value, json};

use crate::errors::ApiError;
use crate::overload::Overload;

#[derive(Debug)]
pub enum EaiError {
    /// A request refused, with the details of the messages at fault.
    Refused {
        status: StatusCode,
        problem: Problem,
        details: Vec<Value>,
    },
    /// Bad list parameters.
    Listing(ListingError),
    NotFound(String),
    Store(StoreError),
    Api(ApiError),
    Overloaded(Overload),
}

impl EaiError {
    pub fn bad(problem: Problem) -> Self {
        EaiError::Refused {
            status: StatusCode::BAD_REQUEST,
            problem,
            details: Vec::new(),
        }
    }
}

impl From<StoreError> for EaiError {
    fn from(e: StoreError) -> Self {
        EaiError::Store(e)
    }
}

impl From<ApiError> for EaiError {
    fn from(e: ApiError) -> Self {
        EaiError::Api(e)
    }
}

impl From<ListingError> for EaiError {
    fn from(e: ListingError) -> Self {
        EaiError::Listing(e)
    }
}

fn body(code: &str, message: &str, details: Vec<Value>) -> Value {
    json!({
        "code": code,
        "message": message,
        "detailedMessage": "",
        "helpUrl": "",
        "details": details,
    })
}

impl IntoResponse for EaiError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            EaiError::Refused {
                status,
                problem,
                details,
            } => (status, body(problem.code(), &problem.message(), details)),
            EaiError::Listing(e) => (
                StatusCode::BAD_REQUEST,
                body("EAI-020", &e.to_string(), Vec::new()),
            ),
            EaiError::NotFound(what) => (StatusCode::NOT_FOUND, body("EAI-404", &what, Vec::new())),
            EaiError::Store(e) => {
                tracing::error!(error = %e, "EAI store failure");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    body(
                        "EAI-503",
                        "The service is unavailable; try again later.",
                        Vec::new(),
                    ),
                )
            }
            EaiError::Api(e) => return e.into_response(),
            EaiError::Overloaded(overload) => {
                let status = StatusCode::SERVICE_UNAVAILABLE;
                let body = body("EAI-503", &overload.to_string(), Vec::new());
                let response = (status, Json(body)).into_response();
                return overload.mark(response, status.as_u16());
            }
        };
        (status, Json(body)).into_response()
    }
}
