//! `/totvseai/standardmessage/v1`: EAI business messages in (`/transactions`,
//! POST for upserts and requests, DELETE for deletes), their response
//! messages and lots out (`/transactions/{uuid}`, `/batches/{batchUUID}`),
//! and entity contents served synchronously (`/contents`).
//!
//! The routes are built once and served under two prefixes: the seed's
//! `/totvseai/standardmessage/v1` and `/rest/totvseai/standardmessage/v1`,
//! where the Protheus REST server serves them (its clients are configured
//! with its `/rest` root).

mod batches;
mod contents;
mod errors;
mod transactions;

pub use errors::EaiError;

use axum::Router;
use axum::routing::{delete, get, post};
use fila_shared::metrics::EAI;

use crate::bounds::Dialect;
use crate::policy::{Guards, Policy};
use crate::state::SharedState;

/// Every EAI route with its policy, under the seed's root and under the
/// Protheus REST server's.
pub fn routes(g: &Guards) -> Router<SharedState> {
    let reads = Policy::reads(Dialect::Eai);
    let submits = Policy::submits(EAI, Dialect::Eai);
    let changes = Policy::changes(Dialect::Eai);
    let mut router = Router::new();
    for root in [
        "/totvseai/standardmessage/v1",
        "/rest/totvseai/standardmessage/v1",
    ] {
        router = router
            .route(
                &format!("{root}/transactions"),
                g.on(submits, post(transactions::post))
                    .merge(g.on(changes, delete(transactions::delete))),
            )
            .route(
                &format!("{root}/transactions/{{id}}"),
                g.on(reads, get(transactions::show))
                    .merge(g.on(submits, post(transactions::post_to)))
                    .merge(g.on(changes, delete(transactions::delete_to))),
            )
            .route(
                &format!("{root}/batches/{{batch}}"),
                g.on(reads, get(batches::show)),
            )
            .route(
                &format!("{root}/contents/{{transaction}}"),
                g.on(reads, get(contents::list))
                    .merge(g.on(submits, post(contents::upsert)))
                    .merge(g.on(changes, delete(contents::delete_in_body))),
            )
            .route(
                &format!("{root}/contents/{{transaction}}/{{internal_id}}"),
                g.on(reads, get(contents::show))
                    .merge(g.on(changes, delete(contents::delete_one))),
            );
    }
    router
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
