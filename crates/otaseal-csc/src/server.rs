//! HTTP(S) front end of the [`Service`]: `POST /csc/v2/<method>` and
//! `POST /csc/v1/<method>` (v1 spellings accepted), `GET /health`.
//!
//! Same stack and limits as otaseal-tsa's server (hyper 1 on tokio,
//! tokio-rustls on the ring provider; body size, header/body/handshake
//! timeouts, connection lifetime, connection caps), plus:
//! - plain HTTP only on a loopback address;
//! - `Content-Type: application/json` for a non-empty body
//!   (`oauth2/token` also takes `application/x-www-form-urlencoded`), else
//!   415 `invalid_request`; bad JSON 400 `invalid_request`; a larger body 413;
//!   an unknown path or method 404; another HTTP method 405 (`info` and
//!   `/health` also answer GET);
//! - every answer is JSON with `Cache-Control: no-store`;
//! - a background task runs certificate renewal every `renew_interval`;
//! - one JSON log line per request on stderr (method, status, duration;
//!   never bodies or headers).

use std::convert::Infallible;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{
    ALLOW, AUTHORIZATION, CACHE_CONTROL, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue,
};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use otaseal_tsa::server::{PeerCounts, PeerSlot};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Semaphore, oneshot};
use tokio_rustls::TlsAcceptor;

use crate::protocol::CscError;
use crate::service::{self, Service};

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
    /// How often the renewal task runs.
    pub renew_interval: Duration,
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
            renew_interval: Duration::from_secs(60),
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
    service: Arc<Service>,
    tls: Option<TlsAcceptor>,
    config: ServerConfig,
}

impl Server {
    /// Starts serving `listener` on a background runtime and returns at
    /// once. With `tls`, connections are HTTPS.
    pub fn start(
        listener: std::net::TcpListener,
        service: Arc<Service>,
        tls: Option<&TlsFiles>,
        config: ServerConfig,
    ) -> Result<Server, ServerError> {
        let tls = tls.map(load_tls).transpose()?;
        let addr = listener.local_addr()?;
        if tls.is_none() && !addr.ip().is_loopback() {
            return Err(ServerError::Tls(format!(
                "plain HTTP is served on loopback only; {addr} needs a TLS certificate and key"
            )));
        }
        listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.worker_threads.max(1))
            .thread_name("otaseal-csc")
            .enable_all()
            .build()?;
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let ctx = Arc::new(Ctx {
            service,
            tls,
            config,
        });
        let (tx, rx) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("otaseal-csc-accept".into())
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
    let renewing = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut renew = tokio::time::interval(ctx.config.renew_interval.max(Duration::from_secs(1)));
    renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = renew.tick() => {
                // Renewal makes keys and certificates (an RSA key takes
                // seconds): on the blocking pool, without holding up accepts,
                // and never two passes at once.
                if !renewing.swap(true, std::sync::atomic::Ordering::AcqRel) {
                    let service = Arc::clone(&ctx.service);
                    let flag = Arc::clone(&renewing);
                    tokio::task::spawn_blocking(move || {
                        renew_pass(&service);
                        flag.store(false, std::sync::atomic::Ordering::Release);
                    });
                }
            }
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

fn renew_pass(service: &Service) {
    match service.renew_due() {
        Ok(r) => {
            for (cred, serial) in &r.renewed {
                service::log(
                    "info",
                    json!({ "what": "renewed", "credential": cred, "serial": serial }),
                );
            }
            for (cred, serial) in &r.retired {
                service::log(
                    "info",
                    json!({ "what": "key retired", "credential": cred, "serial": serial }),
                );
            }
            for (cred, error) in &r.failed {
                service::log(
                    "error",
                    json!({ "what": "renewal failed; the current certificate stays", "credential": cred, "error": error }),
                );
            }
        }
        Err(e) => service::log(
            "error",
            json!({ "what": "renewal failed", "detail": e.to_string() }),
        ),
    }
}

fn json_response(status: u16, body: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn error_response(e: &CscError) -> Response<Full<Bytes>> {
    let mut resp = json_response(
        e.status,
        &serde_json::to_value(e.body()).unwrap_or_default(),
    );
    if e.status == 405 {
        resp.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("POST"));
    }
    if e.status == 401 {
        resp.headers_mut().insert(
            hyper::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer"),
        );
    }
    if e.status >= 400 && e.status != 401 && e.status != 403 {
        // The body may not have been read: do not reuse the connection.
        resp.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

fn media_type(value: Option<&HeaderValue>) -> Option<String> {
    value
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase())
}

/// `(version, method)` of a CSC path.
fn route(path: &str) -> Option<(u8, &str)> {
    let rest = path.strip_prefix("/csc/")?;
    let (v, method) = rest.split_once('/')?;
    let version = match v {
        "v1" => 1,
        "v2" => 2,
        _ => return None,
    };
    Some((version, method))
}

async fn handle(
    req: Request<Incoming>,
    ctx: Arc<Ctx>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let started = Instant::now();
    let path = req.uri().path().to_string();
    let resp = match answer(req, &ctx).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    };
    service::log(
        "info",
        json!({
            "what": "request",
            "path": path.chars().take(80).collect::<String>(),
            "status": resp.status().as_u16(),
            "micros": started.elapsed().as_micros() as u64,
        }),
    );
    Ok(resp)
}

async fn answer(req: Request<Incoming>, ctx: &Arc<Ctx>) -> Result<Response<Full<Bytes>>, CscError> {
    let path = req.uri().path().to_string();
    if path == "/health" {
        if req.method() != Method::GET && req.method() != Method::POST {
            return Err(CscError::method_not_allowed());
        }
        let service = Arc::clone(&ctx.service);
        let ok = tokio::task::spawn_blocking(move || service.store().ca().is_ok())
            .await
            .unwrap_or(false);
        return Ok(if ok {
            json_response(200, &json!({ "status": "ok" }))
        } else {
            json_response(503, &json!({ "status": "unavailable" }))
        });
    }
    let Some((version, method)) = route(&path) else {
        return Err(CscError::unknown_method(
            &path.chars().take(80).collect::<String>(),
        ));
    };
    let method = method.to_string();
    let get_ok = method == "info" && req.method() == Method::GET;
    if req.method() != Method::POST && !get_ok {
        return Err(CscError::method_not_allowed());
    }
    let form = method == "oauth2/token"
        && media_type(req.headers().get(CONTENT_TYPE)).as_deref()
            == Some("application/x-www-form-urlencoded");
    let content_type = media_type(req.headers().get(CONTENT_TYPE));
    let authorization = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let max = ctx.config.max_body;
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(CscError::too_large(max));
    }
    let body = Limited::new(req.into_body(), max);
    let body = match tokio::time::timeout(ctx.config.body_timeout, body.collect()).await {
        Err(_) => {
            return Err(CscError {
                status: 408,
                error: "invalid_request".into(),
                description: "request body too slow".into(),
            });
        }
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return Err(CscError::too_large(max));
        }
        Ok(Err(_)) => return Err(CscError::invalid_request("unreadable request body")),
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    if !body.is_empty() && !form && content_type.as_deref() != Some("application/json") {
        return Err(CscError::wrong_content_type());
    }
    let service = Arc::clone(&ctx.service);
    let result = tokio::task::spawn_blocking(move || {
        service.handle(&service::Request {
            version,
            method: &method,
            authorization: authorization.as_deref(),
            form,
            body: &body,
        })
    })
    .await
    .unwrap_or_else(|_| Err(CscError::server_error()))?;
    Ok(json_response(200, &result))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            route("/csc/v2/signatures/signHash"),
            Some((2, "signatures/signHash"))
        );
        assert_eq!(route("/csc/v1/info"), Some((1, "info")));
        assert_eq!(route("/csc/v3/info"), None);
        assert_eq!(route("/other"), None);
    }
}
