//! Query parameters of the lists (all of the `/ops` lists' through
//! [`Params`]; the `limit` of `/admin/dead-letters`), checked before any of
//! them reaches the store: a parameter that is unknown, repeated, not a number
//! where one is expected, out of range or holding a NUL character answers
//! 400 with fila's JSON error body (axum's own `Query` would answer plain
//! text).

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::errors::ApiError;

/// The query string deserialized into `T` (which denies unknown fields).
pub struct Params<T>(pub T);

impl<T, S> FromRequestParts<S> for Params<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Query::try_from_uri(&parts.uri)
            .map(|Query(params)| Params(params))
            .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))
    }
}

/// Items on one page: `default` when absent, 1 to `max` otherwise.
pub fn limit(value: Option<i64>, default: i64, max: i64) -> Result<i64, ApiError> {
    let limit = value.unwrap_or(default);
    if (1..=max).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {max}"
        )))
    }
}

/// An id (a RecNo, a JobID) of a cursor, at least `min`.
pub fn id(name: &str, value: Option<i64>, min: i64) -> Result<Option<i64>, ApiError> {
    match value {
        Some(id) if id < min => Err(ApiError::BadRequest(format!(
            "{name} must be an integer of {min} or more"
        ))),
        _ => Ok(value),
    }
}

/// A text filter: not empty, without NUL characters.
pub fn text<'v>(name: &str, value: Option<&'v str>) -> Result<Option<&'v str>, ApiError> {
    match value {
        Some("") => Err(ApiError::BadRequest(format!("{name} must not be empty"))),
        Some(text) if text.contains('\0') => Err(ApiError::BadRequest(format!(
            "{name} cannot hold a NUL character"
        ))),
        _ => Ok(value),
    }
}
