//! Time-stamp client: sends a `TimeStampReq` over HTTP(S) and checks the
//! answer, with retries and fail-over across several TSAs.
//!
//! - Each request carries a random 64-bit nonce and `certReq = TRUE`.
//! - URLs are tried in order. A URL gets `1 + retries` attempts with
//!   exponential backoff (`backoff_initial`, doubled, at most 8 s) when the
//!   failure is transient: timeout, connection error, HTTP 5xx. HTTP 4xx, a
//!   rejection status, an answer that is not a `TimeStampResp`, or a token
//!   that does not match the request end that URL and the next one is tried.
//! - The answer must be status granted / grantedWithMods with a token that
//!   has one SignerInfo, the certificates (certReq was set), and a TSTInfo
//!   with version 1, the same messageImprint (algorithm and hash), the same
//!   nonce and, if one was requested, the same policy.
//!
//! The token's signature and certificates are *not* verified here: that is
//! the verifier's job (`otaseal_verify::timestamp`), against the TSA roots the
//! device trusts.
//!
//! HTTPS uses reqwest on rustls with the ring provider, installed as the
//! process default the first time a client is built (if the application has
//! installed a provider already, that one is used). Server certificates are
//! checked by rustls-platform-verifier (the system's roots) plus, optionally,
//! the CA certificates of [`ClientOptions::extra_roots_pem`].

use std::fmt;
use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use der::asn1::{Int, ObjectIdentifier, Uint};
use der::{Decode, Encode};
use otaseal_manifest::DigestAlg;

use crate::protocol::{self, FailureInfo, MessageImprint, TimeStampReq, TimeStampResp, status};
use crate::server::{QUERY_MEDIA_TYPE, REPLY_MEDIA_TYPE};

const MAX_BACKOFF: Duration = Duration::from_secs(8);

/// Client settings.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// TSA URLs in fail-over order.
    pub urls: Vec<String>,
    /// Time allowed for one attempt (connect, send, and read the answer).
    pub timeout: Duration,
    /// Extra attempts per URL after a transient failure.
    pub retries: u32,
    /// Delay before the first retry; doubled for each further retry.
    pub backoff_initial: Duration,
    /// PEM file of extra CA certificates trusted for HTTPS (added to the
    /// platform's roots).
    pub extra_roots_pem: Option<PathBuf>,
    /// `reqPolicy` to ask for; the token's policy must then equal it.
    pub policy: Option<ObjectIdentifier>,
    /// Whether to honour `HTTP_PROXY` / `HTTPS_PROXY` / `NO_PROXY`.
    pub use_env_proxy: bool,
    /// Largest answer accepted, in bytes.
    pub max_response_bytes: usize,
}

impl ClientOptions {
    /// Options for `urls` with defaults: 10 s per attempt, 2 retries,
    /// 500 ms initial backoff, no extra roots, no policy, proxies from the
    /// environment, answers up to 1 MiB.
    pub fn new<I, S>(urls: I) -> ClientOptions
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ClientOptions {
            urls: urls.into_iter().map(Into::into).collect(),
            timeout: Duration::from_secs(10),
            retries: 2,
            backoff_initial: Duration::from_millis(500),
            extra_roots_pem: None,
            policy: None,
            use_env_proxy: true,
            max_response_bytes: 1 << 20,
        }
    }
}

/// A token that matched the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimestampToken {
    /// DER `TimeStampToken` (CMS ContentInfo), as stored in `3161-ctt`.
    pub der: Vec<u8>,
    /// TSTInfo genTime.
    pub gen_time: SystemTime,
    /// TSTInfo serialNumber (big-endian two's complement content octets).
    pub serial: Vec<u8>,
    /// TSTInfo policy.
    pub policy: ObjectIdentifier,
    /// The URL that answered.
    pub tsa_url: String,
}

/// Why a time-stamp request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    /// The options or arguments are unusable (no URL, bad CA file, wrong
    /// hash length).
    Config(String),
    /// No complete answer within the timeout.
    Timeout {
        /// The URL.
        url: String,
    },
    /// Connecting or transferring failed (refused, reset, TLS error).
    Connect {
        /// The URL.
        url: String,
        /// The cause.
        reason: String,
    },
    /// The server answered with an HTTP status other than 200.
    Http {
        /// The URL.
        url: String,
        /// The HTTP status code.
        status: u16,
    },
    /// The TSA answered with a status other than granted.
    Rejected {
        /// The URL.
        url: String,
        /// PKIStatus.
        status: u8,
        /// failInfo bits.
        fail_info: FailureInfo,
        /// statusString text.
        text: String,
    },
    /// The token's nonce is not the request's.
    NonceMismatch {
        /// The URL.
        url: String,
    },
    /// The token's messageImprint is not the request's.
    ImprintMismatch {
        /// The URL.
        url: String,
    },
    /// The token's policy is not the requested one.
    PolicyMismatch {
        /// The URL.
        url: String,
        /// The token's policy.
        got: ObjectIdentifier,
    },
    /// The answer is not a DER `TimeStampResp`.
    Garbage {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// A granted answer whose token is missing or malformed.
    BadToken {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// Every URL failed; the last failure of each, in order.
    AllFailed(Vec<ClientError>),
}

impl ClientError {
    /// The URL the failure is about (`None` for `Config` and `AllFailed`).
    pub fn url(&self) -> Option<&str> {
        match self {
            ClientError::Timeout { url }
            | ClientError::Connect { url, .. }
            | ClientError::Http { url, .. }
            | ClientError::Rejected { url, .. }
            | ClientError::NonceMismatch { url }
            | ClientError::ImprintMismatch { url }
            | ClientError::PolicyMismatch { url, .. }
            | ClientError::Garbage { url, .. }
            | ClientError::BadToken { url, .. } => Some(url),
            ClientError::Config(_) | ClientError::AllFailed(_) => None,
        }
    }

    /// Whether the same URL may be tried again.
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Timeout { .. } | ClientError::Connect { .. } => true,
            ClientError::Http { status, .. } => (500..600).contains(status),
            _ => false,
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Config(m) => write!(f, "time-stamp client: {m}"),
            ClientError::Timeout { url } => write!(f, "{url}: timed out"),
            ClientError::Connect { url, reason } => write!(f, "{url}: {reason}"),
            ClientError::Http { url, status } => write!(f, "{url}: HTTP status {status}"),
            ClientError::Rejected {
                url,
                status,
                fail_info,
                text,
            } => write!(
                f,
                "{url}: request rejected (status {status}, failInfo {fail_info}){}{text}",
                if text.is_empty() { "" } else { ": " }
            ),
            ClientError::NonceMismatch { url } => {
                write!(f, "{url}: the token's nonce is not the request's")
            }
            ClientError::ImprintMismatch { url } => {
                write!(f, "{url}: the token's message imprint is not the request's")
            }
            ClientError::PolicyMismatch { url, got } => {
                write!(
                    f,
                    "{url}: the token has policy {got}, not the requested one"
                )
            }
            ClientError::Garbage { url, reason } => {
                write!(
                    f,
                    "{url}: the answer is not a time-stamp response: {reason}"
                )
            }
            ClientError::BadToken { url, reason } => write!(f, "{url}: bad token: {reason}"),
            ClientError::AllFailed(errs) => {
                write!(f, "every time-stamp authority failed")?;
                for e in errs {
                    write!(f, "; {e}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ClientError {}

/// A reusable time-stamp client (one HTTP connection pool).
pub struct TsaClient {
    http: reqwest::blocking::Client,
    opts: ClientOptions,
}

impl fmt::Debug for TsaClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TsaClient")
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

/// Installs rustls' ring provider as the process default unless one is
/// installed already. [`TsaClient::new`] calls it; call it yourself before
/// building other reqwest clients in a process without a default provider.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err means another thread installed one first: fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

impl TsaClient {
    /// Builds a client. Must not be called from within a tokio runtime
    /// (reqwest's blocking client runs its own).
    pub fn new(opts: ClientOptions) -> Result<TsaClient, ClientError> {
        if opts.urls.is_empty() {
            return Err(ClientError::Config("no TSA URL given".into()));
        }
        // Checked now, before the caller hashes gigabytes of payloads.
        for url in &opts.urls {
            let parsed = reqwest::Url::parse(url)
                .map_err(|e| ClientError::Config(format!("TSA URL {url:?}: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                return Err(ClientError::Config(format!(
                    "TSA URL {url:?}: expected http://HOST[:PORT]/PATH or https://..."
                )));
            }
        }
        install_crypto_provider();
        let mut builder = reqwest::blocking::Client::builder()
            .timeout(opts.timeout)
            .connect_timeout(opts.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("otaseal-tsa/", env!("CARGO_PKG_VERSION")));
        if !opts.use_env_proxy {
            builder = builder.no_proxy();
        }
        if let Some(path) = &opts.extra_roots_pem {
            let pem = otaseal_sign::package::read_small_file(path)
                .map_err(|e| ClientError::Config(format!("{}: {e}", path.display())))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| ClientError::Config(format!("{}: {e}", path.display())))?;
            if certs.is_empty() {
                return Err(ClientError::Config(format!(
                    "{}: no CERTIFICATE found",
                    path.display()
                )));
            }
            builder = builder.tls_certs_merge(certs);
        }
        let http = builder
            .build()
            .map_err(|e| ClientError::Config(format!("HTTP client: {e}")))?;
        Ok(TsaClient { http, opts })
    }

    /// The options.
    pub fn options(&self) -> &ClientOptions {
        &self.opts
    }

    /// Requests a token over `message_hash`, computed with `imprint_alg`.
    /// With one URL the error is that URL's; with several,
    /// [`ClientError::AllFailed`] lists the last failure of each.
    pub fn request(
        &self,
        imprint_alg: DigestAlg,
        message_hash: &[u8],
    ) -> Result<TimestampToken, ClientError> {
        let req = self.build_request(imprint_alg, message_hash)?;
        self.send(&req)
    }

    /// The request [`TsaClient::request`] sends: version 1, the imprint, the
    /// configured policy, a fresh random 64-bit nonce, certReq TRUE.
    pub fn build_request(
        &self,
        imprint_alg: DigestAlg,
        message_hash: &[u8],
    ) -> Result<TimeStampReq, ClientError> {
        if message_hash.len() != protocol::digest_len(imprint_alg) {
            return Err(ClientError::Config(format!(
                "a {} hash is {} bytes, got {}",
                imprint_alg.name(),
                protocol::digest_len(imprint_alg),
                message_hash.len()
            )));
        }
        let imprint = MessageImprint::new(imprint_alg, message_hash)
            .map_err(|e| ClientError::Config(e.to_string()))?;
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).map_err(|e| ClientError::Config(format!("rng: {e}")))?;
        let nonce = Uint::new(&nonce)
            .map(Int::from)
            .map_err(|e| ClientError::Config(e.to_string()))?;
        Ok(TimeStampReq {
            version: 1,
            message_imprint: imprint,
            req_policy: self.opts.policy,
            nonce: Some(nonce),
            cert_req: true,
            extensions: None,
        })
    }

    /// Sends `req` to the URLs in order (retries, backoff and fail-over as
    /// in the module docs) and checks the answer against it.
    pub fn send(&self, req: &TimeStampReq) -> Result<TimestampToken, ClientError> {
        let req_der = req
            .to_der()
            .map_err(|e| ClientError::Config(e.to_string()))?;
        let mut failures = Vec::with_capacity(self.opts.urls.len());
        for url in &self.opts.urls {
            let mut delay = self.opts.backoff_initial;
            let mut attempt = 0;
            let failure = loop {
                match self.attempt(url, &req_der, req) {
                    Ok(token) => return Ok(token),
                    Err(e) if e.is_retryable() && attempt < self.opts.retries => {
                        attempt += 1;
                        std::thread::sleep(delay);
                        delay = (delay * 2).min(MAX_BACKOFF);
                    }
                    Err(e) => break e,
                }
            };
            failures.push(failure);
        }
        if failures.len() == 1 {
            Err(failures.remove(0))
        } else {
            Err(ClientError::AllFailed(failures))
        }
    }

    fn attempt(
        &self,
        url: &str,
        req_der: &[u8],
        req: &TimeStampReq,
    ) -> Result<TimestampToken, ClientError> {
        let transport = |e: reqwest::Error| {
            if e.is_timeout() {
                ClientError::Timeout { url: url.into() }
            } else {
                ClientError::Connect {
                    url: url.into(),
                    reason: error_chain(&e),
                }
            }
        };
        let resp = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, QUERY_MEDIA_TYPE)
            .header(reqwest::header::ACCEPT, REPLY_MEDIA_TYPE)
            .body(req_der.to_vec())
            .send()
            .map_err(transport)?;
        let status = resp.status();
        if status != reqwest::StatusCode::OK {
            return Err(ClientError::Http {
                url: url.into(),
                status: status.as_u16(),
            });
        }
        let max = self.opts.max_response_bytes;
        let garbage = |reason: String| ClientError::Garbage {
            url: url.into(),
            reason,
        };
        if resp.content_length().is_some_and(|n| n > max as u64) {
            return Err(garbage(format!("answer larger than {max} bytes")));
        }
        let mut body = Vec::new();
        resp.take(max as u64 + 1)
            .read_to_end(&mut body)
            .map_err(
                |e| match e.get_ref().and_then(|i| i.downcast_ref::<reqwest::Error>()) {
                    Some(re) if re.is_timeout() => ClientError::Timeout { url: url.into() },
                    _ => ClientError::Connect {
                        url: url.into(),
                        reason: format!("reading the answer: {e}"),
                    },
                },
            )?;
        if body.len() > max {
            return Err(garbage(format!("answer larger than {max} bytes")));
        }
        check_response(url, &body, req)
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        cur = inner.source();
    }
    s
}

/// Checks a DER `TimeStampResp` against the request it answers and returns
/// the token (see the module docs for what is checked).
pub fn check_response(
    url: &str,
    resp_der: &[u8],
    req: &TimeStampReq,
) -> Result<TimestampToken, ClientError> {
    let resp = TimeStampResp::from_der(resp_der).map_err(|e| ClientError::Garbage {
        url: url.into(),
        reason: e.to_string(),
    })?;
    let st = &resp.status;
    if st.status != status::GRANTED && st.status != status::GRANTED_WITH_MODS {
        return Err(ClientError::Rejected {
            url: url.into(),
            status: st.status,
            fail_info: st.failure_info(),
            text: st.text(),
        });
    }
    let bad = |reason: &str| ClientError::BadToken {
        url: url.into(),
        reason: reason.into(),
    };
    let token = resp
        .time_stamp_token
        .as_ref()
        .ok_or_else(|| bad("status granted but no token"))?;
    let parsed = protocol::parse_token(token).map_err(|e| bad(&e.0))?;
    if parsed.signer_info().is_none() {
        return Err(bad("the token must have exactly one SignerInfo"));
    }
    // RFC 3161 2.4.1: with certReq TRUE the TSA certificate MUST be present.
    if req.cert_req
        && parsed
            .signed_data
            .certificates
            .as_ref()
            .is_none_or(|c| c.0.is_empty())
    {
        return Err(bad("certReq was set but the token has no certificates"));
    }
    let tst = &parsed.tst_info;
    if tst.version != 1 {
        return Err(bad(&format!("TSTInfo version {}", tst.version)));
    }
    let sent = &req.message_imprint;
    let got = &tst.message_imprint;
    if got.hash_algorithm.oid != sent.hash_algorithm.oid
        || got.hashed_message.as_bytes() != sent.hashed_message.as_bytes()
    {
        return Err(ClientError::ImprintMismatch { url: url.into() });
    }
    if tst.nonce != req.nonce {
        return Err(ClientError::NonceMismatch { url: url.into() });
    }
    if let Some(p) = req.req_policy
        && tst.policy != p
    {
        return Err(ClientError::PolicyMismatch {
            url: url.into(),
            got: tst.policy,
        });
    }
    let der = token
        .to_der()
        .map_err(|e| bad(&format!("re-encoding: {e}")))?;
    Ok(TimestampToken {
        der,
        gen_time: tst.gen_time.to_system_time(),
        serial: tst.serial_number.as_bytes().to_vec(),
        policy: tst.policy,
        tsa_url: url.into(),
    })
}

/// Requests a token with a one-off [`TsaClient`].
pub fn request_token(
    opts: &ClientOptions,
    imprint_alg: DigestAlg,
    message_hash: &[u8],
) -> Result<TimestampToken, ClientError> {
    TsaClient::new(opts.clone())?.request(imprint_alg, message_hash)
}
