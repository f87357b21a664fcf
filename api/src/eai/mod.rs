//! `/totvseai/standardmessage/v1`: EAI business messages in (`/transactions`,
//! POST for upserts and requests, DELETE for deletes), their response
//! messages and lots out (`/transactions/{uuid}`, `/batches/{batchUUID}`),
//! and entity contents served synchronously (`/contents`).

mod batches;
mod contents;
mod errors;
mod transactions;

pub use errors::EaiError;

use axum::Router;
use axum::routing::{get, post};

use crate::state::SharedState;

const BASE: &str = "/totvseai/standardmessage/v1";

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route(
            &format!("{BASE}/transactions"),
            post(transactions::post).delete(transactions::delete),
        )
        .route(
            &format!("{BASE}/transactions/{{id}}"),
            get(transactions::show)
                .post(transactions::post_to)
                .delete(transactions::delete_to),
        )
        .route(&format!("{BASE}/batches/{{batch}}"), get(batches::show))
        .route(
            &format!("{BASE}/contents/{{transaction}}"),
            get(contents::list)
                .post(contents::upsert)
                .delete(contents::delete_in_body),
        )
        .route(
            &format!("{BASE}/contents/{{transaction}}/{{internal_id}}"),
            get(contents::show).delete(contents::delete_one),
        )
}

/// The query string as `(name, value)` pairs.
fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.trim().to_string()))
        .collect()
}

/// The first value of a query parameter, ignoring the name's case.
fn query_value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}
