//! fila's admin API (role `admin`), under `/admin`.

mod branches;
mod schedules;

use axum::Router;
use axum::routing::{delete, get, post, put};

use crate::state::SharedState;

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/admin/taf/branches", get(branches::list))
        .route(
            "/admin/taf/branches/{source_branch}",
            put(branches::put).delete(branches::remove),
        )
        .route("/admin/schedules", get(schedules::list))
        .route("/admin/schedules/{uid}", delete(schedules::remove))
        .route("/admin/schedules/{uid}/pause", post(schedules::pause))
        .route("/admin/schedules/{uid}/resume", post(schedules::resume))
}
