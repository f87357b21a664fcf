//! A stand-in HTTP destination for EAI and process runners: answers the
//! n-th request as its script says (then always as its last step), counts
//! the requests and keeps the bodies it got, with their method and target.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// How to answer one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// This status and JSON body.
    Json(u16, String),
    /// Wait this long first (longer than the destination's timeout).
    Slow(Duration, u16, String),
    /// This redirect status, to this `Location`.
    Redirect(u16, String),
}

/// A request's method and target (path and query), with its JSON body.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub target: String,
    pub body: Value,
}

type Kept = Arc<Mutex<Vec<Seen>>>;

pub struct Destination {
    pub url: String,
    received: Kept,
    count: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Destination {
    pub async fn start(script: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/eai", listener.local_addr().expect("addr"));
        let received = Arc::new(Mutex::new(Vec::new()));
        let count = Arc::new(AtomicUsize::new(0));
        let script = Arc::new(script);
        let kept = received.clone();
        let counted = count.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (kept, count, script) = (kept.clone(), counted.clone(), script.clone());
                tokio::spawn(async move {
                    let n = count.fetch_add(1, Ordering::SeqCst);
                    let reply = script[n.min(script.len() - 1)].clone();
                    serve(stream, reply, kept).await;
                });
            }
        });
        Self {
            url,
            received,
            count,
            task,
        }
    }

    /// The address, `http://host:port`, without the path.
    pub fn origin(&self) -> String {
        self.url.trim_end_matches("/eai").to_string()
    }

    /// The requests accepted so far (connections, each with one request).
    pub fn requests(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// The bodies received so far.
    pub fn received(&self) -> Vec<Value> {
        self.seen().into_iter().map(|s| s.body).collect()
    }

    /// The requests received so far, with a JSON body.
    pub fn seen(&self) -> Vec<Seen> {
        self.received.lock().expect("lock").clone()
    }
}

impl Drop for Destination {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(mut stream: TcpStream, reply: Reply, kept: Kept) {
    let mut request = Vec::new();
    let mut chunk = [0u8; 8192];
    let (head_end, length) = loop {
        let Ok(n) = stream.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        request.extend_from_slice(&chunk[..n]);
        if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break (end + 4, length);
        }
    };
    while request.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&chunk[..n]),
        }
    }
    let line = String::from_utf8_lossy(&request[..head_end]);
    let mut words = line.split_whitespace();
    let (method, target) = (
        words.next().unwrap_or_default(),
        words.next().unwrap_or_default(),
    );
    if let Ok(body) = serde_json::from_slice(&request[head_end..head_end + length]) {
        kept.lock().expect("lock").push(Seen {
            method: method.to_string(),
            target: target.to_string(),
            body,
        });
    }
    let (status, body, location) = match reply {
        Reply::Json(status, body) => (status, body, String::new()),
        Reply::Slow(delay, status, body) => {
            tokio::time::sleep(delay).await;
            (status, body, String::new())
        }
        Reply::Redirect(status, to) => (status, String::new(), format!("Location: {to}\r\n")),
    };
    let response = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         {location}Connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
}
