//! Waiting for work the workers finish, without polling: workers `NOTIFY`
//! on the deployment's channel (its schema's name) in the transaction that
//! finishes a unit of work whose producer waits (an EAI message sent with
//! DeliveryType sync, ...); the API keeps one connection `LISTEN`ing and
//! wakes the waiters of each payload. A notification can be missed (sent
//! before the waiter registered, or while the connection was being
//! reopened), so a waiter also looks at the store when it starts, every
//! second, and after each reconnection. The listening connection asks the
//! server something every [`HEARTBEAT`], so that its watchdog finds out
//! when the server stopped answering (an idle connection has nothing due)
//! and the connection is opened anew.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_postgres::AsyncMessage;

use super::connect::Connector;
use super::{PoolSetupError, Use};
use crate::config::Config;

/// How often a waiter looks at the store without being woken.
const FALLBACK_CHECK: Duration = Duration::from_secs(1);
const RECONNECT_DELAY: Duration = Duration::from_secs(1);
/// How often the listening connection checks that the server answers.
const HEARTBEAT: Duration = Duration::from_secs(15);

type Registry = HashMap<String, Vec<(u64, mpsc::UnboundedSender<()>)>>;

/// The waiters of this process, woken by the listening connection.
#[derive(Clone)]
pub struct Waiters {
    registry: Arc<Mutex<Registry>>,
    next_id: Arc<AtomicU64>,
}

/// A waiter's place; leaves the registry when dropped.
struct Registration {
    waiters: Waiters,
    key: String,
    id: u64,
    woken: mpsc::UnboundedReceiver<()>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut registry = self.waiters.lock();
        if let Some(list) = registry.get_mut(&self.key) {
            list.retain(|(id, _)| *id != self.id);
            if list.is_empty() {
                registry.remove(&self.key);
            }
        }
    }
}

impl Waiters {
    /// Starts listening on the deployment's channel; the task lives as long
    /// as the process and reconnects by itself.
    pub fn spawn(config: &Config) -> Result<Self, PoolSetupError> {
        let waiters = Waiters {
            registry: Arc::new(Mutex::new(HashMap::new())),
            next_id: Arc::new(AtomicU64::new(0)),
        };
        let connector = super::connector(config, "fila-listen", Use::Work)?;
        let channel = config.database_schema.clone();
        tokio::spawn(listen(connector, channel, waiters.clone()));
        Ok(waiters)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn register(&self, key: &str) -> Registration {
        let (tx, woken) = mpsc::unbounded_channel();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock()
            .entry(key.to_string())
            .or_default()
            .push((id, tx));
        Registration {
            waiters: self.clone(),
            key: key.to_string(),
            id,
            woken,
        }
    }

    fn wake(&self, key: &str) {
        if let Some(list) = self.lock().get(key) {
            for (_, tx) in list {
                let _ = tx.send(());
            }
        }
    }

    fn wake_all(&self) {
        for list in self.lock().values() {
            for (_, tx) in list {
                let _ = tx.send(());
            }
        }
    }

    /// Calls `check` until it finds what it looks for or `timeout` passes;
    /// `key` is the NOTIFY payload that announces it.
    pub async fn wait_for<T, E, F, Fut>(
        &self,
        key: &str,
        timeout: Duration,
        mut check: F,
    ) -> Result<Option<T>, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<T>, E>>,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut registration = self.register(key);
        loop {
            if let Some(found) = check().await? {
                return Ok(Some(found));
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let pause = (deadline - now).min(FALLBACK_CHECK);
            tokio::select! {
                _ = registration.woken.recv() => {}
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }
}

async fn listen(connector: Connector, channel: String, waiters: Waiters) {
    loop {
        match connect_and_listen(&connector, &channel, &waiters).await {
            Ok(()) => tracing::warn!("notification connection closed; reopening"),
            Err(e) => tracing::warn!(error = %e, "notification connection failed; retrying"),
        }
        waiters.wake_all();
        tokio::time::sleep(RECONNECT_DELAY).await;
    }
}

async fn connect_and_listen(
    connector: &Connector,
    channel: &str,
    waiters: &Waiters,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = connector.open().await?;
    let (payloads, mut received) = mpsc::unbounded_channel::<String>();
    let driver = tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if payloads.send(n.payload().to_string()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "notification connection error");
                    break;
                }
            }
        }
    });
    client
        .batch_execute(&format!("LISTEN \"{channel}\""))
        .await?;
    // Anything finished while the connection was down is found by a check.
    waiters.wake_all();
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ended = loop {
        tokio::select! {
            payload = received.recv() => match payload {
                Some(payload) => waiters.wake(&payload),
                None => break Ok(()),
            },
            _ = heartbeat.tick() => {
                if let Err(e) = client.simple_query("SELECT 1").await {
                    break Err(e);
                }
            }
        }
    };
    driver.abort();
    ended
}
