//! A TCP proxy in front of a service, to make it unreachable on demand and
//! reachable again on the same port.

use std::net::SocketAddr;
use std::sync::Mutex;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

pub struct Proxy {
    pub port: u16,
    target: SocketAddr,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        Self {
            port,
            target,
            task: Mutex::new(Some(tokio::spawn(serve(listener, target)))),
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
        *self.task.lock().expect("lock") = Some(tokio::spawn(serve(listener, self.target)));
    }
}

async fn serve(listener: TcpListener, target: SocketAddr) {
    let mut connections = JoinSet::new();
    while let Ok((mut inbound, _)) = listener.accept().await {
        connections.spawn(async move {
            if let Ok(mut outbound) = TcpStream::connect(target).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
    }
}
