//! A connection's watchdog. A PostgreSQL server that stops answering
//! without closing the connection (a node lost behind a partition, a
//! frozen server, a middlebox that drops packets) would hold a statement,
//! and the request or message waiting for it, until the kernel gives up on
//! the socket, a quarter of an hour later. The watchdog reads the protocol
//! on its way (above TLS): it counts the answers due (one per `Query`,
//! `Sync` and the startup message) and the answers come (`ReadyForQuery`),
//! and while one is due and nothing at all arrives — nor leaves — for its
//! bound, it fails the connection with `TimedOut`: every statement on it
//! fails as an unreachable database, and the pool opens a new connection.
//! The bound is above the server's `statement_timeout`, so a statement the
//! server still runs is never taken for a lost one. An idle connection (a
//! `LISTEN`ing one included) has nothing due and is never failed.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// The messages of one direction of the protocol, told apart by their
/// headers: a type byte (none for the startup message) and a length that
/// counts itself.
#[derive(Debug)]
struct Framing {
    /// The next message is the startup message.
    startup: bool,
    header: [u8; 5],
    have: usize,
    /// Bytes of the current message's body still to pass.
    skip: usize,
}

impl Framing {
    fn new(startup: bool) -> Self {
        Self {
            startup,
            header: [0; 5],
            have: 0,
            skip: 0,
        }
    }

    /// Reads `bytes`; calls `on_message` with the type of each message
    /// whose header is complete (0 for the startup message).
    fn feed(&mut self, mut bytes: &[u8], mut on_message: impl FnMut(u8)) {
        while !bytes.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(bytes.len());
                self.skip -= n;
                bytes = &bytes[n..];
                continue;
            }
            let need = if self.startup { 4 } else { 5 };
            let take = (need - self.have).min(bytes.len());
            self.header[self.have..self.have + take].copy_from_slice(&bytes[..take]);
            self.have += take;
            bytes = &bytes[take..];
            if self.have == need {
                let (kind, length) = if self.startup {
                    (0, &self.header[0..4])
                } else {
                    (self.header[0], &self.header[1..5])
                };
                let length = u32::from_be_bytes([length[0], length[1], length[2], length[3]]);
                self.skip = (length as usize).saturating_sub(4);
                self.startup = false;
                self.have = 0;
                on_message(kind);
            }
        }
    }
}

/// A stream to PostgreSQL under a watchdog (see the module's
/// documentation); without a bound it only passes bytes on.
pub struct Watched<S> {
    inner: S,
    bound: Option<Duration>,
    sent: Framing,
    received: Framing,
    /// Answers due.
    due: u64,
    timer: Pin<Box<Sleep>>,
}

impl<S> Watched<S> {
    pub fn new(inner: S, bound: Option<Duration>) -> Self {
        Self {
            inner,
            bound,
            sent: Framing::new(true),
            received: Framing::new(false),
            due: 0,
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
        }
    }

    /// Something went through: the bound starts again, if an answer is due,
    /// and the timer wakes the task polling now. The task that opened the
    /// connection is not the one that drives it afterwards, and a driver
    /// that writes a query after finding nothing to read would otherwise
    /// never be woken by the bound.
    fn progress(&mut self, cx: &mut Context<'_>) {
        if let (Some(bound), true) = (self.bound, self.due > 0) {
            self.timer.as_mut().reset(Instant::now() + bound);
            let _ = self.timer.as_mut().poll(cx);
        }
    }

    /// Waiting: the connection fails if an answer is due and the bound
    /// passed.
    fn stalled(&mut self, cx: &mut Context<'_>) -> Option<io::Error> {
        let bound = self.bound?;
        if self.due == 0 || self.timer.as_mut().poll(cx).is_pending() {
            return None;
        }
        Some(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "PostgreSQL sent nothing for {} s while an answer was due",
                bound.as_secs()
            ),
        ))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let due = &mut this.due;
                this.received.feed(&buf.filled()[before..], |kind| {
                    if kind == b'Z' {
                        *due = due.saturating_sub(1);
                    }
                });
                this.progress(cx);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match this.stalled(cx) {
                Some(e) => Poll::Ready(Err(e)),
                None => Poll::Pending,
            },
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                let due = &mut this.due;
                this.sent.feed(&buf[..n], |kind| {
                    if matches!(kind, 0 | b'Q' | b'S') {
                        *due += 1;
                    }
                });
                this.progress(cx);
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match this.stalled(cx) {
                Some(e) => Poll::Ready(Err(e)),
                None => Poll::Pending,
            },
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Pending => match this.stalled(cx) {
                Some(e) => Poll::Ready(Err(e)),
                None => Poll::Pending,
            },
            ready => ready,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message: type, then a length counting itself.
    fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut bytes = vec![kind];
        bytes.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        bytes.extend_from_slice(body);
        bytes
    }

    /// The startup message: a length counting itself, no type.
    fn startup() -> Vec<u8> {
        let body = b"\x00\x03\x00\x00user\x00fila\x00\x00";
        let mut bytes = (body.len() as u32 + 4).to_be_bytes().to_vec();
        bytes.extend_from_slice(body);
        bytes
    }

    #[test]
    fn messages_are_told_apart_however_the_bytes_come() {
        let mut stream = startup();
        stream.extend(message(b'P', b"\x00SELECT 1\x00\x00\x00"));
        stream.extend(message(b'B', &[0; 12]));
        stream.extend(message(b'E', b"\x00\x00\x00\x00\x00"));
        stream.extend(message(b'S', b""));
        stream.extend(message(b'Q', b"SELECT 1\x00"));
        for chunk in [1, 2, 3, 7, stream.len()] {
            let mut framing = Framing::new(true);
            let mut kinds = Vec::new();
            for piece in stream.chunks(chunk) {
                framing.feed(piece, |k| kinds.push(k));
            }
            assert_eq!(
                kinds,
                vec![0, b'P', b'B', b'E', b'S', b'Q'],
                "chunks of {chunk}"
            );
        }
    }

    /// The driver's order: a read finds nothing (nothing due), then a
    /// query is written, then the task waits to be woken.
    #[tokio::test]
    async fn a_query_written_after_an_empty_read_is_bounded_too() {
        let (client, server) = tokio::io::duplex(1024);
        let mut watched = Watched::new(client, Some(Duration::from_millis(200)));
        let query = message(b'Q', b"SELECT 1\x00");
        let mut written = false;
        // A task of its own: only the watchdog's timer can wake it.
        let failed = tokio::spawn(std::future::poll_fn(move |cx| {
            let mut space = [0u8; 16];
            let mut buf = ReadBuf::new(&mut space);
            match Pin::new(&mut watched).poll_read(cx, &mut buf) {
                Poll::Ready(Err(e)) => return Poll::Ready(e),
                Poll::Ready(Ok(())) => panic!("the server sent nothing"),
                Poll::Pending => {}
            }
            if !written {
                match Pin::new(&mut watched).poll_write(cx, &query) {
                    Poll::Ready(Ok(n)) => assert_eq!(n, query.len()),
                    other => panic!("the query is written at once: {other:?}"),
                }
                written = true;
            }
            Poll::Pending
        }));
        let error = tokio::time::timeout(Duration::from_secs(2), failed)
            .await
            .expect("woken by the bound")
            .expect("the task ends");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        drop(server);
    }

    #[tokio::test]
    async fn a_silent_server_fails_the_connection_once_an_answer_is_due() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (client, mut server) = tokio::io::duplex(1024);
        let mut watched = Watched::new(client, Some(Duration::from_millis(200)));
        // Nothing due: silence is fine.
        let mut byte = [0u8; 1];
        let idle = tokio::time::timeout(Duration::from_millis(400), watched.read(&mut byte)).await;
        assert!(idle.is_err(), "an idle connection waits");
        // The startup, answered when the server is ready.
        let hello = startup();
        watched.write_all(&hello).await.expect("startup");
        let mut sent = vec![0u8; hello.len()];
        server.read_exact(&mut sent).await.expect("startup");
        server
            .write_all(&message(b'R', &[0; 4]))
            .await
            .expect("auth");
        server.write_all(&message(b'Z', b"I")).await.expect("ready");
        let mut answer = [0u8; 15];
        watched.read_exact(&mut answer).await.expect("ready");
        // A query is sent and answered: nothing is due again.
        watched
            .write_all(&message(b'Q', b"SELECT 1\x00"))
            .await
            .expect("write");
        let mut sent = vec![0u8; 14];
        server.read_exact(&mut sent).await.expect("query");
        server
            .write_all(&message(b'Z', b"I"))
            .await
            .expect("answer");
        let mut answer = [0u8; 6];
        watched.read_exact(&mut answer).await.expect("answered");
        let idle = tokio::time::timeout(Duration::from_millis(400), watched.read(&mut byte)).await;
        assert!(idle.is_err(), "answered: the connection waits again");
        // A query the server never answers.
        watched
            .write_all(&message(b'Q', b"SELECT 2\x00"))
            .await
            .expect("write");
        let failed = tokio::time::timeout(Duration::from_secs(2), watched.read(&mut byte))
            .await
            .expect("failed within the bound");
        let error = failed.expect_err("timed out");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    }
}
