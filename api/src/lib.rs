//! fila-api: the thin HTTP front of fila. It authenticates, validates,
//! stores accepted work in PostgreSQL and enqueues it in RabbitMQ; the
//! workers do the processing.

mod admin;
mod auth;
mod backpressure;
mod body;
mod bounds;
mod eai;
mod errors;
mod health;
mod metrics;
mod openapi;
mod ops;
mod overload;
mod params;
mod policy;
mod process;
mod state;
mod taf;
mod ui;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::middleware::{from_fn_with_state, map_request};
use axum::routing::get;
use fila_shared::amqp::management::{Management, ManagementError};
use fila_shared::amqp::{Broker, ConnectorError, Topology, WorkQueue};
use fila_shared::config::Config;
use fila_shared::db::listen::Waiters;
use fila_shared::db::migrations::{self, MigrationError};
use fila_shared::db::{self, PoolSetupError};
use fila_shared::eai::registry::{Registry, RegistryError};
use fila_shared::metrics::Metrics;
use fila_shared::outbox::Relay;
use fila_shared::process::definition::{Catalog, DefinitionError};
use fila_shared::taf::branch::{self, SeedError};
use tokio::net::TcpListener;

use backpressure::Backpressure;
use bounds::Dialect;
use policy::{Guards, Policy};
use state::{AppState, Parts, SharedState};

#[derive(Debug, thiserror::Error)]
pub enum ApiStartError {
    #[error(transparent)]
    Pool(#[from] PoolSetupError),
    #[error("migrations: {0}")]
    Migrate(MigrationError),
    #[error(transparent)]
    Seed(#[from] SeedError),
    #[error("no users are configured: add [[users]] with an argon2 password_hash")]
    NoUsers,
    #[error(transparent)]
    Eai(#[from] RegistryError),
    #[error(transparent)]
    Processes(#[from] DefinitionError),
    #[error(transparent)]
    Management(#[from] ManagementError),
    #[error(transparent)]
    Broker(#[from] ConnectorError),
    #[error("http server: {0}")]
    Serve(#[from] std::io::Error),
}

/// Serves until `shutdown` completes, then drains in-flight requests.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ApiStartError> {
    if config.users.is_empty() {
        return Err(ApiStartError::NoUsers);
    }
    let eai = Registry::load(
        &config.eai_transactions,
        config.eai_transactions_file.as_deref(),
    )?;
    eai.watch();
    let processes = Catalog::load(config.processes_file.as_deref())?;
    processes.watch();
    let pool = db::pool(&config, "fila-api")?;
    if config.migrate_on_start {
        migrations::apply(&config, "fila-api")
            .await
            .map_err(ApiStartError::Migrate)?;
    }
    let seeded = branch::seed(&pool, &config.taf_branches).await?;
    if seeded > 0 {
        tracing::info!(branches = seeded, "TAF branches seeded from configuration");
    }
    let broker = Arc::new(Broker::new(&config, Topology::of(&config), "fila-api")?);
    if let Err(e) = broker.publisher().await {
        tracing::warn!(error = %e, "RabbitMQ unavailable at start: accepted work waits in the outbox");
    }
    let management = config
        .amqp_management_url
        .as_deref()
        .map(|url| Management::new(url, &config.amqp_url))
        .transpose()?;
    let metrics = Metrics::new();
    let (relay, relayed) =
        Relay::spawn(pool.clone(), broker.clone(), metrics.outbox_refused.clone());
    let waiters = Waiters::spawn(&config)?;
    let backpressure = Backpressure::spawn(
        pool.clone(),
        broker.clone(),
        WorkQueue::with_groups(&config.worker_groups),
        config.intake_max_queue_depth,
    );
    let parts = Parts {
        pool,
        broker: broker.clone(),
        relay,
        eai,
        processes,
        waiters,
        backpressure,
        management,
        metrics,
    };
    let state: SharedState = Arc::new(AppState::new(config, parts));
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    // The router, and with it the last relay handle, is gone: what the relay
    // still holds is published before the connection closes.
    if tokio::time::timeout(RELAY_DRAIN, relayed).await.is_err() {
        tracing::warn!("outbox relay still busy at exit; the sweeper will publish the rest");
    }
    broker.close().await;
    tracing::info!("fila-api stopped");
    Ok(())
}

/// How long a stopping API waits for its relay to publish what it holds.
const RELAY_DRAIN: std::time::Duration = std::time::Duration::from_secs(10);

fn router(state: SharedState) -> Router {
    // Each route's policy (who may call it, whether it submits work, the
    // format of its refusals) is declared with the route, in its module.
    let g = Guards::new(state.clone());
    let openapi = Router::new().route(
        "/openapi.json",
        g.on(Policy::open(Dialect::Fila), get(openapi::document)),
    );
    let routes = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::render))
        .merge(taf::routes(&g))
        .merge(eai::routes(&g))
        .merge(process::routes(&g))
        .merge(admin::routes(&g))
        .merge(ops::routes(&g))
        .merge(ui::routes(&g))
        .merge(openapi)
        .route_layer(from_fn_with_state(state.clone(), metrics::track))
        .with_state(state);
    // Paths are made canonical before routing (a layer on the routes would
    // run after it).
    Router::new()
        .fallback_service(routes)
        .layer(map_request(taf::canonical_path))
}
