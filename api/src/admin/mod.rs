//! fila's admin API (role `admin`), under `/admin`.

mod branches;
mod dead_letters;
pub mod queues;
mod reconcile;
mod retries;
mod schedules;

use axum::Router;
use axum::routing::{delete, get, post, put};

use crate::policy::{Guards, Policy};
use crate::state::SharedState;

/// Every route needs `admin`.
pub fn routes(g: &Guards) -> Router<SharedState> {
    let routes = Router::new()
        .route("/admin/taf/branches", get(branches::list))
        .route(
            "/admin/taf/branches/{source_branch}",
            put(branches::put).delete(branches::remove),
        )
        .route("/admin/taf/tickets/{ticket}/retry", post(retries::ticket))
        .route("/admin/taf/records/{rec_no}/retry", post(retries::record))
        .route("/admin/schedules", get(schedules::list))
        .route("/admin/schedules/{uid}", delete(schedules::remove))
        .route("/admin/schedules/{uid}/pause", post(schedules::pause))
        .route("/admin/schedules/{uid}/resume", post(schedules::resume))
        .route("/admin/queues", get(queues::list))
        .route("/admin/queues/{queue}/pause", post(queues::pause))
        .route("/admin/queues/{queue}/resume", post(queues::resume))
        .route("/admin/reconcile", post(reconcile::run))
        .route("/admin/dead-letters", get(dead_letters::list))
        .route(
            "/admin/dead-letters/replay",
            post(dead_letters::replay_many),
        )
        .route(
            "/admin/dead-letters/{id}",
            get(dead_letters::get).delete(dead_letters::remove),
        )
        .route(
            "/admin/dead-letters/{id}/replay",
            post(dead_letters::replay_one),
        );
    g.all(Policy::admin(), routes)
}
