//! `/rest/wstafst2`: TAF lots in (POST), their status out (GET), and tickets
//! withdrawn (DELETE), as seed 001 describes and the real WSTAFST2 server
//! behaves (see the README's TAF section for where they differ). Other
//! spellings of the route reach it through [`canonical_path`].

mod delete;
mod errors;
mod get;
mod path;
mod post;
mod query;
mod source_branch;

pub use errors::TafError;
pub use path::canonical_path;

use axum::Router;
use axum::routing::{delete, get, post};
use fila_shared::metrics::TAF;

use crate::bounds::Dialect;
use crate::policy::{Guards, Policy};
use crate::state::SharedState;

pub fn routes(g: &Guards) -> Router<SharedState> {
    Router::new().route(
        path::PATH,
        g.on(Policy::reads(Dialect::Taf).scoped(), get(get::status))
            .merge(g.on(Policy::submits(TAF, Dialect::Taf).scoped(), post(post::lot)))
            .merge(g.on(
                Policy::changes(Dialect::Taf).scoped(),
                delete(delete::tickets),
            )),
    )
}
