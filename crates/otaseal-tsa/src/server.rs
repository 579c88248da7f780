//! HTTP(S) front end of the [`Authority`] (RFC 3161 section 3.4).
//!
//! # Stack
//!
//! hyper 1 (HTTP/1.1 server) on a tokio runtime, TLS with tokio-rustls on
//! rustls' ring provider. The client side (reqwest) already brings hyper,
//! hyper-util, tokio, tokio-rustls and rustls into the tree, so the server
//! adds only their server features and no second HTTP or TLS stack. A
//! hand-written HTTP/1.1 parser on `std::net` was the alternative; hyper was
//! preferred because request parsing (chunked bodies, pipelining, header
//! limits, keep-alive) is where a small parser goes wrong, and hyper already
//! has the per-connection header timeout this server needs.
//!
//! # Behaviour
//!
//! - `POST` only (otherwise 405 with `Allow: POST`), any path.
//! - `Content-Type: application/timestamp-query` (parameters ignored),
//!   otherwise 415.
//! - Body at most [`ServerConfig::max_body`] (64 KiB): a larger declared
//!   `Content-Length` or body is answered with 413.
//! - Slow clients: request headers must arrive within
//!   [`ServerConfig::header_timeout`], the body within
//!   [`ServerConfig::body_timeout`] (408), a TLS handshake within
//!   [`ServerConfig::tls_handshake_timeout`], and no connection lives longer
//!   than [`ServerConfig::connection_lifetime`]. At most
//!   [`ServerConfig::max_connections`] connections are served at once; more
//!   are closed at accept.
//! - A body that is not a valid request still gets HTTP 200 with a
//!   `TimeStampResp` of status rejection and the matching failInfo
//!   (`application/timestamp-reply`); signing runs on tokio's blocking pool.

use std::convert::Infallible;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{ALLOW, CACHE_CONTROL, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Semaphore, oneshot};
use tokio_rustls::TlsAcceptor;

use crate::authority::{Authority, rejection_response};
use crate::protocol::FailureInfo;

/// Media type of a request.
pub const QUERY_MEDIA_TYPE: &str = "application/timestamp-query";
/// Media type of a response.
pub const REPLY_MEDIA_TYPE: &str = "application/timestamp-reply";

/// PEM files for HTTPS.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// `CERTIFICATE` blocks, server certificate first.
    pub cert_chain_pem: PathBuf,
    /// The server's private key (PKCS#8, SEC1 or PKCS#1 PEM).
    pub key_pem: PathBuf,
}

/// Limits and timeouts of the server.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Largest request body in bytes (413 above).
    pub max_body: usize,
    /// Time allowed for the request line and headers.
    pub header_timeout: Duration,
    /// Time allowed for the request body.
    pub body_timeout: Duration,
    /// Time allowed for the TLS handshake.
    pub tls_handshake_timeout: Duration,
    /// Longest life of one connection (keep-alive included).
    pub connection_lifetime: Duration,
    /// Connections served at once; more are closed at accept.
    pub max_connections: usize,
    /// Connections one peer address may hold at once; more from it are
    /// closed at accept, so one client cannot take every slot.
    pub max_connections_per_peer: usize,
    /// Time a connection may stay silent: before its first byte, and
    /// between requests (idle connections give their slot back).
    pub idle_timeout: Duration,
    /// tokio worker threads.
    pub worker_threads: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_body: 64 * 1024,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            tls_handshake_timeout: Duration::from_secs(10),
            connection_lifetime: Duration::from_secs(120),
            max_connections: 512,
            max_connections_per_peer: 64,
            idle_timeout: Duration::from_secs(5),
            worker_threads: 2,
        }
    }
}

/// Errors when starting the server.
#[derive(Debug)]
pub enum ServerError {
    /// Socket or runtime set-up failed.
    Io(io::Error),
    /// The TLS certificate or key could not be used.
    Tls(String),
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::Io(e) => write!(f, "server: {e}"),
            ServerError::Tls(m) => write!(f, "server TLS: {m}"),
        }
    }
}

impl std::error::Error for ServerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServerError::Io(e) => Some(e),
            ServerError::Tls(_) => None,
        }
    }
}

impl From<io::Error> for ServerError {
    fn from(e: io::Error) -> Self {
        ServerError::Io(e)
    }
}

/// A running server. It stops on [`Server::shutdown`], on
/// [`ShutdownHandle::shutdown`], or when dropped.
pub struct Server {
    addr: SocketAddr,
    shutdown: ShutdownHandle,
    thread: Option<JoinHandle<()>>,
}

/// Stops a [`Server`] from another thread (e.g. a signal handler thread
/// while the main thread is in [`Server::wait`]).
#[derive(Clone, Debug)]
pub struct ShutdownHandle(Arc<std::sync::Mutex<Option<oneshot::Sender<()>>>>);

impl ShutdownHandle {
    /// Asks the server to stop; returns at once. Idempotent.
    pub fn shutdown(&self) {
        let sender = self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(tx) = sender {
            let _ = tx.send(());
        }
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server").field("addr", &self.addr).finish()
    }
}

struct Ctx {
    authority: Arc<Authority>,
    tls: Option<TlsAcceptor>,
    config: ServerConfig,
}

impl Server {
    /// Starts serving `listener` on a background runtime and returns at
    /// once. With `tls`, connections are HTTPS.
    pub fn start(
        listener: std::net::TcpListener,
        authority: Arc<Authority>,
        tls: Option<&TlsFiles>,
        config: ServerConfig,
    ) -> Result<Server, ServerError> {
        let tls = tls.map(load_tls).transpose()?;
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.worker_threads.max(1))
            .thread_name("otaseal-tsa")
            .enable_all()
            .build()?;
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let ctx = Arc::new(Ctx {
            authority,
            tls,
            config,
        });
        let (tx, rx) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("otaseal-tsa-accept".into())
            .spawn(move || {
                runtime.block_on(accept_loop(listener, ctx, rx));
                runtime.shutdown_timeout(Duration::from_secs(2));
            })?;
        Ok(Server {
            addr,
            shutdown: ShutdownHandle(Arc::new(std::sync::Mutex::new(Some(tx)))),
            thread: Some(thread),
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR/` or `https://ADDR/`-style base URL for `scheme`.
    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}/", self.addr)
    }

    /// Stops accepting, ends open connections and waits for the runtime.
    pub fn shutdown(mut self) {
        self.stop();
    }

    /// A handle that stops the server from another thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// Blocks until the server is stopped through a [`ShutdownHandle`].
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    fn stop(&mut self) {
        self.shutdown.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn load_tls(files: &TlsFiles) -> Result<TlsAcceptor, ServerError> {
    let tls_err = |what: &str, path: &PathBuf, e: &dyn fmt::Display| {
        ServerError::Tls(format!("{what} {}: {e}", path.display()))
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert_chain_pem)
        .map_err(|e| tls_err("certificates", &files.cert_chain_pem, &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| tls_err("certificates", &files.cert_chain_pem, &e))?;
    if certs.is_empty() {
        return Err(ServerError::Tls(format!(
            "no CERTIFICATE in {}",
            files.cert_chain_pem.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key_pem)
        .map_err(|e| tls_err("private key", &files.key_pem, &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ServerError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    ctx: Arc<Ctx>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let slots = Arc::new(Semaphore::new(ctx.config.max_connections.max(1)));
    let per_peer: PeerCounts = Arc::default();
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Some(peer_slot) = PeerSlot::take(&per_peer, peer.ip(), ctx.config.max_connections_per_peer.max(1)) else {
                        // This peer holds its share already.
                        drop(stream);
                        continue;
                    };
                    let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
                        // Over capacity: close at once rather than queue.
                        drop(stream);
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let ctx = Arc::clone(&ctx);
                    tokio::spawn(async move {
                        let lifetime = ctx.config.connection_lifetime;
                        let _ = tokio::time::timeout(lifetime, connection(stream, ctx)).await;
                        drop(permit);
                        drop(peer_slot);
                    });
                }
                // E.g. out of file descriptors: pause instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
        }
    }
}

/// Open connections per peer address, shared by an accept loop and the
/// [`PeerSlot`]s it hands out (the CSC service's server uses it too).
pub type PeerCounts = Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>;

/// One connection counted against its peer address; given back on drop.
pub struct PeerSlot {
    map: PeerCounts,
    ip: std::net::IpAddr,
}

impl PeerSlot {
    /// Counts one more connection from `ip`, or `None` when that peer already
    /// holds `max`.
    pub fn take(map: &PeerCounts, ip: std::net::IpAddr, max: usize) -> Option<PeerSlot> {
        let mut m = map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = m.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(PeerSlot {
            map: Arc::clone(map),
            ip,
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut m = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = m.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

async fn connection(stream: tokio::net::TcpStream, ctx: Arc<Ctx>) {
    // A connection that sends nothing gives its slot back: hyper's header
    // timeout starts only with the first byte of a request.
    let mut first = [0u8; 1];
    match tokio::time::timeout(ctx.config.idle_timeout, stream.peek(&mut first)).await {
        Ok(Ok(n)) if n > 0 => {}
        _ => return,
    }
    match &ctx.tls {
        Some(acceptor) => {
            let handshake = acceptor.accept(stream);
            // A failed or slow handshake just ends the connection.
            let limit = ctx.config.tls_handshake_timeout;
            if let Ok(Ok(tls)) = tokio::time::timeout(limit, handshake).await {
                serve_http(tls, ctx).await;
            }
        }
        None => serve_http(stream, ctx).await,
    }
}

async fn serve_http<I>(io: I, ctx: Arc<Ctx>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = {
        let ctx = Arc::clone(&ctx);
        service_fn(move |req| handle(req, Arc::clone(&ctx)))
    };
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(ctx.config.header_timeout)
        .max_buf_size(16 * 1024)
        // One request per connection: a kept-alive idle connection would
        // hold its slot until the connection lifetime ends.
        .keep_alive(false);
    let _ = builder.serve_connection(TokioIo::new(io), service).await;
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    // The body may not have been read: do not reuse the connection.
    h.insert(CONNECTION, HeaderValue::from_static("close"));
    resp
}

fn is_query_type(value: Option<&HeaderValue>) -> bool {
    value
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(QUERY_MEDIA_TYPE))
}

async fn handle(
    req: Request<Incoming>,
    ctx: Arc<Ctx>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.method() != Method::POST {
        let mut resp = plain(StatusCode::METHOD_NOT_ALLOWED, "use POST\n");
        resp.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("POST"));
        return Ok(resp);
    }
    if !is_query_type(req.headers().get(CONTENT_TYPE)) {
        return Ok(plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/timestamp-query\n",
        ));
    }
    let max = ctx.config.max_body;
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Ok(plain(StatusCode::PAYLOAD_TOO_LARGE, "request too large\n"));
    }
    let body = Limited::new(req.into_body(), max);
    let body = match tokio::time::timeout(ctx.config.body_timeout, body.collect()).await {
        Err(_) => {
            return Ok(plain(
                StatusCode::REQUEST_TIMEOUT,
                "request body too slow\n",
            ));
        }
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return Ok(plain(StatusCode::PAYLOAD_TOO_LARGE, "request too large\n"));
        }
        Ok(Err(_)) => return Ok(plain(StatusCode::BAD_REQUEST, "bad request body\n")),
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    let authority = Arc::clone(&ctx.authority);
    let answer = tokio::task::spawn_blocking(move || authority.respond(&body))
        .await
        .unwrap_or_else(|_| rejection_response(FailureInfo::SYSTEM_FAILURE, "internal error"));
    let mut resp = Response::new(Full::new(Bytes::from(answer)));
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(REPLY_MEDIA_TYPE));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}
