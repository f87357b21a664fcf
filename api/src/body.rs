//! Request bodies are read whole up to `max_body_bytes`; a larger body is
//! refused with 413 as soon as the limit is crossed, without reading on.

use axum::body::{Body, Bytes};

use crate::errors::ApiError;

pub async fn read_limited(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::TooLarge(format!(
            "the request body is larger than the limit of {limit} bytes"
        ))
    })
}
