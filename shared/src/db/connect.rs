//! Opening a connection to PostgreSQL, for the pool and for the API's
//! listening connection. fila does it itself rather than through
//! tokio-postgres's own `connect`, so that every connection:
//!
//! - is bounded: `database_connect_timeout_secs` for the whole opening
//!   (TCP, TLS, authentication), TCP keepalives and a TCP user timeout of
//!   `database_tcp_timeout_secs` (the kernel gives up on a peer that stops
//!   acknowledging), and the watchdog (see [`super::watchdog`]) above TLS;
//! - speaks TLS as `sslmode` says (see [`super::tls`]);
//! - goes to the first of the URL's hosts that answers, and with
//!   `target_session_attrs=read-write` to the first that takes writes (the
//!   primary, after a failover).
//!
//! Unix sockets are used without TLS, as libpq does.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use deadpool_postgres::Connect;
use futures::future::BoxFuture;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio::task::JoinHandle;
use tokio_postgres::config::{Host, TargetSessionAttrs};
use tokio_postgres::tls::NoTlsStream;
use tokio_postgres::{Client, Connection, NoTls};

use super::tls::Tls;
use super::watchdog::Watched;

/// The bounds of a connection.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub connect: Duration,
    /// The TCP keepalive and user timeout.
    pub tcp: Duration,
    /// The watchdog's bound; `None`: no watchdog (migrations, whose
    /// statements may run for long).
    pub answer: Option<Duration>,
}

/// Opens connections to one database.
#[derive(Clone)]
pub struct Connector {
    /// The connection string's settings, TLS apart (done here).
    pg: tokio_postgres::Config,
    tls: Option<Tls>,
    bounds: Bounds,
}

/// A connection's stream: TCP, TLS over TCP, or a Unix socket.
pub enum Transport {
    Tcp(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    Unix(UnixStream),
}

/// The connection's driver, to poll (or spawn).
pub type Driver = Connection<Watched<Transport>, NoTlsStream>;

/// The SSLRequest of PostgreSQL's protocol: length 8, code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

impl Connector {
    pub fn new(mut pg: tokio_postgres::Config, tls: Option<Tls>, bounds: Bounds) -> Self {
        pg.ssl_mode(tokio_postgres::config::SslMode::Disable);
        Self { pg, tls, bounds }
    }

    /// Opens a connection: the first host that answers (and takes writes,
    /// when the URL asks for it).
    pub async fn open(&self) -> Result<(Client, Driver), tokio_postgres::Error> {
        let ports = self.pg.get_ports();
        let mut last = None;
        for (i, host) in self.pg.get_hosts().iter().enumerate() {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            let opened =
                match tokio::time::timeout(self.bounds.connect, self.open_host(host, port)).await {
                    Ok(opened) => opened,
                    Err(_) => Err(self
                        .failure(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!("no connection within {} s", self.bounds.connect.as_secs()),
                        ))
                        .await),
                };
            match opened {
                Ok(connection) => return Ok(connection),
                Err(e) => last = Some(e),
            }
        }
        Err(match last {
            Some(e) => e,
            None => {
                self.failure(io::Error::other("no host to connect to"))
                    .await
            }
        })
    }

    async fn open_host(
        &self,
        host: &Host,
        port: u16,
    ) -> Result<(Client, Driver), tokio_postgres::Error> {
        let transport = match host {
            Host::Unix(dir) => self.unix(dir, port).await,
            Host::Tcp(name) => self.tcp(name, port).await,
        };
        let transport = match transport {
            Ok(transport) => transport,
            Err(e) => return Err(self.failure(e).await),
        };
        let stream = Watched::new(transport, self.bounds.answer);
        let (client, mut driver) = self.pg.connect_raw(stream, NoTls).await?;
        if self.pg.get_target_session_attrs() != TargetSessionAttrs::ReadWrite {
            return Ok((client, driver));
        }
        // The driver must run for the client's query to be answered.
        let (ready, stopped) = tokio::sync::oneshot::channel();
        let check = async {
            let row = client.query_one("SHOW transaction_read_only", &[]).await;
            let _ = ready.send(());
            row
        };
        let drive = async {
            tokio::select! {
                ended = &mut driver => ended,
                _ = stopped => Ok(()),
            }
        };
        let (row, driven) = tokio::join!(check, drive);
        driven?;
        let read_only: String = row?.get(0);
        if read_only == "on" {
            return Err(self
                .failure(io::Error::other(
                    "the server is read-only (target_session_attrs=read-write)",
                ))
                .await);
        }
        Ok((client, driver))
    }

    async fn unix(&self, dir: &Path, port: u16) -> io::Result<Transport> {
        let path = dir.join(format!(".s.PGSQL.{port}"));
        Ok(Transport::Unix(UnixStream::connect(path).await?))
    }

    async fn tcp(&self, name: &str, port: u16) -> io::Result<Transport> {
        let addresses: Vec<SocketAddr> = tokio::net::lookup_host((name, port)).await?.collect();
        let mut last = io::Error::other(format!("{name} has no address"));
        for address in addresses {
            match TcpStream::connect(address).await {
                Ok(stream) => return self.secure(stream, name).await,
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Sets the TCP bounds, and negotiates TLS if it is wanted.
    async fn secure(&self, mut stream: TcpStream, name: &str) -> io::Result<Transport> {
        stream.set_nodelay(true)?;
        let socket = socket2::SockRef::from(&stream);
        let probe = self.bounds.tcp / 3;
        socket.set_tcp_keepalive(
            &socket2::TcpKeepalive::new()
                .with_time(probe)
                .with_interval(probe / 2)
                .with_retries(4),
        )?;
        socket.set_tcp_user_timeout(Some(self.bounds.tcp))?;
        let Some(tls) = &self.tls else {
            return Ok(Transport::Tcp(stream));
        };
        stream.write_all(&SSL_REQUEST).await?;
        let mut answer = [0u8; 1];
        stream.read_exact(&mut answer).await?;
        match answer[0] {
            b'S' => {
                let server = ServerName::try_from(name.to_string())
                    .map_err(|e| io::Error::other(format!("{name}: {e}")))?;
                let secured = tls.connector().connect(server, stream).await?;
                Ok(Transport::Tls(Box::new(secured)))
            }
            _ if tls.required() => Err(io::Error::other(
                "the server does not offer TLS, which sslmode requires",
            )),
            _ => Ok(Transport::Tcp(stream)),
        }
    }

    /// `e` as tokio-postgres's error, which only tokio-postgres makes: it
    /// is what it answers when the stream it is given fails.
    async fn failure(&self, e: io::Error) -> tokio_postgres::Error {
        match self.pg.connect_raw(Failed(Some(e)), NoTls).await {
            Err(e) => e,
            Ok(_) => unreachable!("a stream that fails at once opens no connection"),
        }
    }
}

impl Connect for Connector {
    fn connect(
        &self,
        _: &tokio_postgres::Config,
    ) -> BoxFuture<'_, Result<(Client, JoinHandle<()>), tokio_postgres::Error>> {
        Box::pin(async move {
            let (client, driver) = self.open().await?;
            let task = tokio::spawn(async move {
                if let Err(e) = driver.await {
                    let error =
                        std::error::Error::source(&e).map_or(e.to_string(), |s| s.to_string());
                    tracing::warn!(%error, "database connection lost");
                }
            });
            Ok((client, task))
        })
    }
}

/// A stream that fails with its error (see [`Connector::failure`]).
struct Failed(Option<io::Error>);

impl Failed {
    fn error(&mut self) -> io::Error {
        self.0
            .take()
            .unwrap_or_else(|| io::Error::other("connection failed"))
    }
}

impl AsyncRead for Failed {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Ready(Err(self.get_mut().error()))
    }
}

impl AsyncWrite for Failed {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, _: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(self.get_mut().error()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Err(self.get_mut().error()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Transport::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Transport::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_flush(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Transport::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Transport::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
