//! A TCP proxy in front of a service, to make it unreachable on demand and
//! reachable again on the same port: cut (every connection closed, the
//! port closed), or black-holed (connections stay open and new ones are
//! taken, but nothing goes through either way, as when a node is lost
//! behind a partition), then healed.

use std::net::SocketAddr;
use std::sync::Mutex;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

pub struct Proxy {
    pub port: u16,
    target: SocketAddr,
    task: Mutex<Option<JoinHandle<()>>>,
    /// Whether traffic is black-holed.
    holed: watch::Sender<bool>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let holed = watch::Sender::new(false);
        Self {
            port,
            target,
            task: Mutex::new(Some(tokio::spawn(serve(
                listener,
                target,
                holed.subscribe(),
            )))),
            holed,
        }
    }

    /// Closes every connection and stops listening.
    pub fn cut(&self) {
        if let Some(task) = self.task.lock().expect("lock").take() {
            task.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn restore(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("rebind");
        *self.task.lock().expect("lock") = Some(tokio::spawn(serve(
            listener,
            self.target,
            self.holed.subscribe(),
        )));
    }

    /// Stops forwarding anything, without closing a connection: bytes sent
    /// either way wait (the proxy reads nothing more), and new connections
    /// are taken but go nowhere.
    pub fn black_hole(&self) {
        self.holed.send_replace(true);
    }

    /// Forwards again, on the connections that are still open too.
    pub fn heal(&self) {
        self.holed.send_replace(false);
    }
}

async fn serve(listener: TcpListener, target: SocketAddr, holed: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    while let Ok((inbound, _)) = listener.accept().await {
        let mut holed = holed.clone();
        connections.spawn(async move {
            // A connection taken while black-holed waits before it goes on.
            if holed.wait_for(|h| !*h).await.is_err() {
                return;
            }
            if let Ok(outbound) = TcpStream::connect(target).await {
                let (from_client, to_client) = inbound.into_split();
                let (from_service, to_service) = outbound.into_split();
                tokio::join!(
                    forward(from_client, to_service, holed.clone()),
                    forward(from_service, to_client, holed),
                );
            }
        });
    }
}

/// Copies one direction of a connection, pausing while black-holed.
async fn forward(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut holed: watch::Receiver<bool>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        if holed.wait_for(|h| !*h).await.is_err() {
            return;
        }
        let read = tokio::select! {
            read = from.read(&mut buffer) => read,
            _ = holed.wait_for(|h| *h) => continue,
        };
        let n = match read {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if holed.wait_for(|h| !*h).await.is_err() || to.write_all(&buffer[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
    }
}
