//! `/rest/wstafst2`: TAF lots in (POST), their status out (GET), and tickets
//! withdrawn (DELETE), as seed 001 describes.

mod delete;
mod errors;
mod get;
mod post;
mod query;

pub use errors::TafError;

use axum::Router;
use axum::routing::{delete, get, post};
use fila_shared::metrics::TAF;

use crate::bounds::Dialect;
use crate::policy::{Guards, Policy};
use crate::state::SharedState;

pub fn routes(g: &Guards) -> Router<SharedState> {
    Router::new().route(
        "/rest/wstafst2",
        g.on(Policy::reads(Dialect::Taf).scoped(), get(get::status))
            .merge(g.on(Policy::submits(TAF, Dialect::Taf).scoped(), post(post::lot)))
            .merge(g.on(
                Policy::changes(Dialect::Taf).scoped(),
                delete(delete::tickets),
            )),
    )
}
