//! The one place where TAF errors become TAF's wire format:
//!
//! - RESTFAULT 701-705: HTTP 500 (as the seed insists) with
//!   `{"code": 70x, "message": "..."}`, the JSON form of Protheus'
//!   `SetRestFault`;
//! - a lot refused whole (800-809, 812-813 at lot level): HTTP 200 with the
//!   seed's `{"coderr": 8xx, "description": "..."}`;
//! - limits: HTTP 413 with `{"code": 413, "message": "..."}`;
//! - a request the API did not handle: RESTFAULT 702 when it was not
//!   answered in time (as when the store fails), HTTP 503 with
//!   `{"code": 503, "message": "..."}` and `Retry-After` when it was shed.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fila_shared::db::StoreError;
use fila_shared::taf::codes::Refusal;

use crate::errors::{ApiError, error_body};
use crate::overload::Overload;

#[derive(Debug, thiserror::Error)]
pub enum TafError {
    /// 701.
    #[error("Os parametros ticketCode ou registryKey e startRecNo sao obrigatorios. {0}")]
    MissingKey(String),
    /// 702: the detail is logged, not answered.
    #[error("Erro na criacao/abertura da tabela TAFST2 ou TAFXERP.")]
    Store(#[from] StoreError),
    /// 703.
    #[error("O parametro searchMode deve ser preenchido com 1 ou 2.")]
    SearchMode,
    /// 704.
    #[error("Arquivo vazio: nao foi enviada uma mensagem no body da requisicao.")]
    EmptyBody,
    /// 704 on a DELETE: `deleteTicket` or a `ticketCode` is missing.
    #[error("{0}")]
    NoTickets(String),
    /// 705.
    #[error("Erro ao realizar parser da mensagem: {0}")]
    Malformed(String),
    /// The whole lot refused with one code.
    #[error("{}", .0.description())]
    Refused(Refusal),
    /// Errors of the HTTP layer (size limits).
    #[error(transparent)]
    Api(#[from] ApiError),
    /// Not answered in time (702), or shed (503).
    #[error("{}", overload_message(.0))]
    Overloaded(Overload),
}

fn overload_message(overload: &Overload) -> String {
    match overload {
        Overload::TimedOut { secs } => format!(
            "Tempo esgotado: a requisicao nao foi respondida em {secs} s e pode ter sido \
             aplicada; consulte antes de reenviar."
        ),
        Overload::Saturated => overload.to_string(),
    }
}

impl TafError {
    /// The code the answer carries: RESTFAULT 70x, a lot's 8xx, or the
    /// HTTP status.
    pub fn code(&self) -> u16 {
        match self {
            TafError::Refused(refusal) => refusal.code(),
            TafError::Api(e) => e.status().as_u16(),
            TafError::Overloaded(Overload::Saturated) => 503,
            _ => self.fault_code().unwrap_or(500),
        }
    }

    fn fault_code(&self) -> Option<u16> {
        match self {
            TafError::MissingKey(_) => Some(701),
            TafError::Store(_) | TafError::Overloaded(Overload::TimedOut { .. }) => Some(702),
            TafError::SearchMode => Some(703),
            TafError::EmptyBody | TafError::NoTickets(_) => Some(704),
            TafError::Malformed(_) => Some(705),
            TafError::Refused(_) | TafError::Api(_) | TafError::Overloaded(Overload::Saturated) => {
                None
            }
        }
    }
}

impl IntoResponse for TafError {
    fn into_response(self) -> Response {
        if let TafError::Store(e) = &self {
            tracing::error!(error = %e, "TAF store failure (RESTFAULT 702)");
        }
        let code = self.code();
        if let Some(fault) = self.fault_code() {
            let response = error_body(StatusCode::INTERNAL_SERVER_ERROR, fault, &self.to_string());
            return match self {
                TafError::Overloaded(overload) => overload.mark(response, code),
                _ => response,
            };
        }
        match self {
            TafError::Refused(refusal) => (StatusCode::OK, Json(refusal.to_wire())).into_response(),
            TafError::Api(e) => e.into_response(),
            TafError::Overloaded(overload) => overload.mark(
                error_body(StatusCode::SERVICE_UNAVAILABLE, code, &overload.to_string()),
                code,
            ),
            _ => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        }
    }
}
