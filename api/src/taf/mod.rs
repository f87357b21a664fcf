//! `/rest/wstafst2`: TAF lots in (POST), their status out (GET), and tickets
//! withdrawn (DELETE), as seed 001 describes.

mod delete;
mod errors;
mod get;
mod post;
mod query;

pub use errors::TafError;

use axum::Router;
use axum::routing::get;

use crate::state::SharedState;

pub fn routes() -> Router<SharedState> {
    Router::new().route(
        "/rest/wstafst2",
        get(get::status).post(post::lot).delete(delete::tickets),
    )
}
