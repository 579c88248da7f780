//! Downloads as a [`Read`]: HTTPS by default (the device's CA file only),
//! resumed with `Range` + `If-Range` after a dropped connection, bounded
//! retries with exponential backoff. The verifier downstream sees one
//! continuous byte stream and never a byte twice.
//!
//! When the server ignores ranges (200 instead of 206) the download starts
//! over on the wire and the bytes already verified are skipped, as long as
//! the server's validator (ETag) has not changed; a changed ETag, or a
//! Content-Range that does not continue where we stopped, is
//! [`FetchError::Changed`].

use std::io::{self, Read};
use std::path::Path;
use std::time::Duration;

use reqwest::blocking::{Client, Response};
use reqwest::header::{CONTENT_RANGE, ETAG, IF_RANGE, RANGE};

use crate::error::{AgentError, FetchError};

/// How to download.
#[derive(Clone, Debug)]
pub struct FetchOptions {
    /// PEM CA bundle the server's certificate must chain to.
    pub ca_file: Option<std::path::PathBuf>,
    /// Accept `http://` URLs.
    pub allow_http: bool,
    /// Attempts per download (first included).
    pub retries: u32,
    /// Seconds without progress before an attempt is abandoned.
    pub read_timeout: Duration,
    /// First backoff delay (doubles per retry, capped at 8 s).
    pub backoff: Duration,
}

/// Installs rustls' ring provider as the process default unless one is.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// A client for `url` under `opts` (scheme checked here).
pub fn client(url: &str, opts: &FetchOptions) -> Result<Client, AgentError> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| AgentError::Config(format!("URL {url:?}: {e}")))?;
    match parsed.scheme() {
        "https" => {}
        "http" if opts.allow_http => {}
        _ => return Err(FetchError::InsecureUrl(url.to_owned()).into()),
    }
    install_crypto_provider();
    let mut b = Client::builder()
        .connect_timeout(opts.read_timeout)
        .timeout(opts.read_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("otaseal-agent/", env!("CARGO_PKG_VERSION")));
    // Only the device's CA file, never the system's roots.
    let certs = match &opts.ca_file {
        Some(p) => load_ca(p)?,
        None => Vec::new(),
    };
    b = b.tls_certs_only(certs);
    b.build()
        .map_err(|e| AgentError::Config(format!("HTTP client: {e}")))
}

fn load_ca(p: &Path) -> Result<Vec<reqwest::Certificate>, AgentError> {
    let pem = std::fs::read(p).map_err(|e| AgentError::io(p, e))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| AgentError::Config(format!("{}: {e}", p.display())))?;
    if certs.is_empty() {
        return Err(AgentError::Config(format!(
            "{}: no CERTIFICATE",
            p.display()
        )));
    }
    Ok(certs)
}

/// Classifies a reqwest error.
fn classify(e: &reqwest::Error) -> FetchError {
    let mut chain = String::new();
    let mut src: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = src {
        chain.push_str(&s.to_string());
        chain.push_str("; ");
        src = s.source();
    }
    let lower = chain.to_lowercase();
    if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake") {
        FetchError::Tls(chain)
    } else if e.is_timeout() || lower.contains("timed out") {
        FetchError::Stalled(chain)
    } else {
        FetchError::Connection(chain)
    }
}

/// Progress callback: bytes delivered so far, total if known.
pub type Progress = Box<dyn FnMut(u64, Option<u64>)>;

/// A download as a byte stream, optionally of the range `start..=end`.
pub struct HttpSource {
    client: Client,
    url: String,
    opts: FetchOptions,
    /// Next byte wanted (absolute offset).
    pos: u64,
    /// Last byte wanted (inclusive), if a range.
    end: Option<u64>,
    /// The full file size, once known.
    total: Option<u64>,
    etag: Option<String>,
    body: Option<Response>,
    /// Bytes of a restarted (200) body still to skip.
    skip: u64,
    failures: u32,
    /// Attempts made (for reports and tests).
    pub attempts: u32,
    /// Progress callback: bytes delivered so far, total if known.
    pub progress: Option<Progress>,
}

impl HttpSource {
    /// A download of `url` from byte `start` to `end` (inclusive) or the end.
    pub fn new(
        url: &str,
        opts: &FetchOptions,
        start: u64,
        end: Option<u64>,
    ) -> Result<HttpSource, AgentError> {
        Ok(HttpSource {
            client: client(url, opts)?,
            url: url.to_owned(),
            opts: opts.clone(),
            pos: start,
            end,
            total: None,
            etag: None,
            body: None,
            skip: 0,
            failures: 0,
            attempts: 0,
            progress: None,
        })
    }

    fn done(&self) -> bool {
        match (self.end, self.total) {
            (Some(e), _) if self.pos > e => true,
            (_, Some(t)) => self.pos >= t,
            _ => false,
        }
    }

    /// One request from `pos`.
    fn open(&mut self) -> Result<(), FetchError> {
        self.attempts = self.attempts.saturating_add(1);
        let mut req = self.client.get(&self.url);
        if self.pos > 0 || self.end.is_some() {
            let range = match self.end {
                Some(e) => format!("bytes={}-{e}", self.pos),
                None => format!("bytes={}-", self.pos),
            };
            req = req.header(RANGE, range);
            if let Some(tag) = &self.etag {
                req = req.header(IF_RANGE, tag.clone());
            }
        }
        let resp = req.send().map_err(|e| classify(&e))?;
        let status = resp.status().as_u16();
        let etag = resp
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if let (Some(old), Some(new)) = (&self.etag, &etag)
            && old != new
        {
            return Err(FetchError::Changed(format!("ETag {old} became {new}")));
        }
        if self.etag.is_none() && self.pos > 0 && etag.is_some() && self.total.is_some() {
            // The first reply had no validator and this one has: cannot tell.
            return Err(FetchError::Changed("validator appeared".into()));
        }
        match status {
            206 => {
                let cr = resp
                    .headers()
                    .get(CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| FetchError::Range("206 without Content-Range".into()))?;
                let (start, total) = parse_content_range(cr)
                    .ok_or_else(|| FetchError::Range(format!("Content-Range {cr:?}")))?;
                if start != self.pos {
                    return Err(FetchError::Range(format!(
                        "asked for byte {}, got {cr:?}",
                        self.pos
                    )));
                }
                if let (Some(old), Some(new)) = (self.total, total)
                    && old != new
                {
                    return Err(FetchError::Changed(format!("size {old} became {new}")));
                }
                self.total = self.total.or(total);
                self.skip = 0;
            }
            200 => {
                let len = resp.content_length();
                if let (Some(old), Some(new)) = (self.total, len)
                    && old != new
                {
                    return Err(FetchError::Changed(format!("size {old} became {new}")));
                }
                self.total = self.total.or(len);
                // No ranges: start over on the wire, skip what was delivered.
                self.skip = self.pos;
            }
            s => return Err(FetchError::Status(s)),
        }
        self.etag = self.etag.take().or(etag);
        self.body = Some(resp);
        Ok(())
    }

    /// Sleeps before the next attempt, or gives up with `e`.
    fn retry(&mut self, e: FetchError) -> Result<(), FetchError> {
        self.body = None;
        self.failures = self.failures.saturating_add(1);
        // Certificate and status errors do not heal by retrying.
        let fatal = matches!(
            e,
            FetchError::Tls(_)
                | FetchError::Status(_)
                | FetchError::Changed(_)
                | FetchError::InsecureUrl(_)
                | FetchError::Range(_)
        );
        if fatal || self.failures >= self.opts.retries {
            return Err(e);
        }
        let shift = self.failures.saturating_sub(1).min(6);
        let delay = self
            .opts
            .backoff
            .saturating_mul(1 << shift)
            .min(Duration::from_secs(8));
        std::thread::sleep(delay);
        Ok(())
    }

    fn read_inner(&mut self, buf: &mut [u8]) -> Result<usize, FetchError> {
        loop {
            if self.done() || buf.is_empty() {
                return Ok(0);
            }
            if self.body.is_none()
                && let Err(e) = self.open()
            {
                self.retry(e)?;
                continue;
            }
            let want = match self.end {
                Some(e) => {
                    let left = e.saturating_add(1).saturating_sub(self.pos);
                    usize::try_from(left).unwrap_or(usize::MAX).min(buf.len())
                }
                None => buf.len(),
            };
            let Some(body) = self.body.as_mut() else {
                continue;
            };
            match body.read(&mut buf[..want]) {
                Ok(0) => {
                    self.body = None;
                    match self.total {
                        Some(t) if self.pos < t && self.skip == 0 => {
                            let e = FetchError::Length(format!(
                                "connection ended at byte {} of {t}",
                                self.pos
                            ));
                            self.retry(e)?;
                        }
                        None if self.skip == 0 => return Ok(0),
                        _ => {
                            let e = FetchError::Length("body ended early".into());
                            self.retry(e)?;
                        }
                    }
                }
                Ok(n) => {
                    if self.skip > 0 {
                        let s = self.skip.min(n as u64);
                        self.skip -= s;
                        let s = s as usize;
                        if s == n {
                            continue;
                        }
                        buf.copy_within(s..n, 0);
                        return Ok(self.deliver(n - s));
                    }
                    return Ok(self.deliver(n));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let fe = match e.get_ref().and_then(|i| i.downcast_ref::<reqwest::Error>()) {
                        Some(re) => classify(re),
                        None if e.kind() == io::ErrorKind::TimedOut => {
                            FetchError::Stalled(e.to_string())
                        }
                        None => FetchError::Connection(e.to_string()),
                    };
                    self.retry(fe)?;
                }
            }
        }
    }

    fn deliver(&mut self, n: usize) -> usize {
        self.pos = self.pos.saturating_add(n as u64);
        self.failures = 0;
        if let Some(p) = self.progress.as_mut() {
            p(self.pos, self.total);
        }
        n
    }
}

impl Read for HttpSource {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_inner(buf).map_err(io::Error::other)
    }
}

/// `bytes START-END/TOTAL` → (START, TOTAL if not `*`).
fn parse_content_range(v: &str) -> Option<(u64, Option<u64>)> {
    let rest = v.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (start, end) = range.split_once('-')?;
    let start: u64 = start.trim().parse().ok()?;
    let end: u64 = end.trim().parse().ok()?;
    if end < start {
        return None;
    }
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    if total.is_some_and(|t| end >= t) {
        return None;
    }
    Some((start, total))
}

impl std::error::Error for FetchError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range() {
        assert_eq!(parse_content_range("bytes 0-9/100"), Some((0, Some(100))));
        assert_eq!(parse_content_range("bytes 5-9/*"), Some((5, None)));
        assert_eq!(parse_content_range("bytes 9-5/100"), None);
        assert_eq!(parse_content_range("bytes 0-100/100"), None);
    }

    #[test]
    fn plain_http_needs_the_option() {
        let opts = FetchOptions {
            ca_file: None,
            allow_http: false,
            retries: 1,
            read_timeout: Duration::from_secs(1),
            backoff: Duration::from_millis(1),
        };
        let e = client("http://127.0.0.1:1/x", &opts).unwrap_err();
        assert_eq!(e.code(), "fetch-insecure-url");
    }
}
