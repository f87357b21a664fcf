//! Delivering a response message back to the application that sent the
//! message (see `fila_shared::eai::callback`): a POST to the application's
//! `/transactions` endpoint from `eai_sources`. A 2xx delivers it; a 4xx or
//! a redirect fila does not follow refuses it (recorded, not retried);
//! a 5xx, a timeout or a connection failure is tried again with the
//! queue's backoff, and after the last attempt the work message is
//! dead-lettered, to be replayed or discarded like any other.

use std::time::Duration;

use fila_shared::eai::callback::{self, Settled};
use fila_shared::metrics::EAI_CALLBACK;

use crate::context::Context;
use crate::egress::Call;
use crate::handling::HandleError;
use crate::http_destination::{self, DeliveryError};

pub async fn handle(ctx: &Context, uuid: &str) -> Result<(), HandleError> {
    let Some(due) = callback::due(&ctx.pool, uuid).await? else {
        return Ok(());
    };
    let Some(source) = ctx.config.eai_source(&due.source_application) else {
        let detail = format!(
            "no callback is configured for {} any more",
            due.source_application
        );
        return settle(ctx, uuid, Settled::Refused, &detail).await;
    };
    let call = Call::post(Duration::from_secs(source.timeout_secs));
    match http_destination::deliver(&ctx.http, &source.url, &call, &due.response).await {
        Ok(_) => settle(ctx, uuid, Settled::Delivered, "").await,
        Err(DeliveryError::Refused { status, body }) => {
            let detail = format!("HTTP {status}: {body}");
            tracing::warn!(%uuid, source = %due.source_application, %detail, "EAI response refused by its origin");
            settle(ctx, uuid, Settled::Refused, &detail).await
        }
        Err(DeliveryError::Unavailable(reason)) => Err(HandleError::Destination(reason)),
    }
}

async fn settle(
    ctx: &Context,
    uuid: &str,
    settled: Settled,
    detail: &str,
) -> Result<(), HandleError> {
    callback::settle(&ctx.pool, uuid, settled, detail).await?;
    let status = match settled {
        Settled::Delivered => "delivered",
        Settled::Refused => "refused",
    };
    ctx.metrics.count_finished(EAI_CALLBACK, status, 1);
    Ok(())
}
