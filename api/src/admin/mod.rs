//! fila's admin API (role `admin`), under `/admin`.

mod branches;

use axum::Router;
use axum::routing::{get, put};

use crate::state::SharedState;

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/admin/taf/branches", get(branches::list))
        .route(
            "/admin/taf/branches/{source_branch}",
            put(branches::put).delete(branches::remove),
        )
}
