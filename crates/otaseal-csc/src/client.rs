//! CSC API v2 client: signs otaseal prehashes through any service that
//! follows `spec/csc-profile.md`.
//!
//! Flow: `info`, a token (`oauth2/token` client credentials or `auth/login`
//! HTTP Basic), `credentials/info` (chain, key algorithm, SCAL, auth mode),
//! then per batch one `credentials/authorize` for all its signatures (with
//! the hashes, which SCAL 2 requires and SCAL 1 accepts) and one
//! `signatures/signHash`. Answers are accepted in DER or raw `r || s` for
//! ECDSA and SM2 and returned in the COSE encoding; [`CscClient::sign_messages`]
//! verifies every signature locally against the credential's certificate
//! before returning it.
//!
//! Transport as otaseal-tsa's client: blocking reqwest on rustls with the
//! ring provider, an optional extra CA file, a request timeout, and retries
//! with exponential backoff on 429, 503 and connection errors.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use der::{Decode, Encode};
use otaseal_manifest::Suite;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use otaseal_keys::{KeyError, KeySigner};

use crate::keystore;
use crate::protocol::*;
use crate::service::{hash_algo_oid, sign_algo_oid};

/// How the client authenticates to the service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceAuth {
    /// `oauth2/token`, client credentials grant.
    OAuth2ClientCredentials,
    /// `auth/login` with HTTP Basic.
    Basic,
}

/// Client settings.
#[derive(Clone)]
pub struct ClientOptions {
    /// Base URL ending in `/csc/v2` (or `/csc/v1`).
    pub base_url: String,
    /// Client id.
    pub client_id: String,
    /// Client secret (see [`read_secret`]).
    pub secret: Zeroizing<String>,
    /// Authentication method.
    pub auth: ServiceAuth,
    /// PIN sent as `authData` when the credential asks for one.
    pub pin: Option<Zeroizing<String>>,
    /// Extra CA certificates (PEM) trusted for HTTPS.
    pub extra_roots_pem: Option<PathBuf>,
    /// Time allowed per HTTP request.
    pub timeout: Duration,
    /// Extra attempts after 429 / 503 / connection errors.
    pub retries: u32,
    /// First backoff, doubled per retry (at most 8 s).
    pub backoff_initial: Duration,
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("base_url", &self.base_url)
            .field("client_id", &self.client_id)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl ClientOptions {
    /// Defaults: OAuth2, 30 s timeout, 4 retries from 250 ms.
    pub fn new(base_url: &str, client_id: &str, secret: Zeroizing<String>) -> ClientOptions {
        ClientOptions {
            base_url: base_url.trim_end_matches('/').to_string(),
            client_id: client_id.into(),
            secret,
            auth: ServiceAuth::OAuth2ClientCredentials,
            pin: None,
            extra_roots_pem: None,
            timeout: Duration::from_secs(30),
            retries: 4,
            backoff_initial: Duration::from_millis(250),
        }
    }
}

/// Errors of the client.
#[derive(Debug)]
pub enum ClientError {
    /// Bad options or secret source.
    Config(String),
    /// Connection failure or timeout after the retries.
    Transport(String),
    /// The service answered with a CSC error.
    Service(CscError),
    /// The answer does not follow the protocol.
    Protocol(String),
    /// The credential cannot be used (Ed25519, unknown algorithm).
    Unsupported(String),
    /// A returned signature does not verify.
    Verify(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Config(m) => write!(f, "CSC client: {m}"),
            ClientError::Transport(m) => write!(f, "CSC service unreachable: {m}"),
            ClientError::Service(e) => write!(f, "CSC service: {e}"),
            ClientError::Protocol(m) => write!(f, "CSC service answer: {m}"),
            ClientError::Unsupported(m) => write!(f, "CSC: {m}"),
            ClientError::Verify(m) => write!(f, "CSC signature check: {m}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// Reads a secret from `file:PATH` or `env:NAME` (never from the command
/// line itself); surrounding whitespace is removed.
pub fn read_secret(source: &str) -> Result<Zeroizing<String>, ClientError> {
    let text =
        if let Some(path) = source.strip_prefix("file:") {
            Zeroizing::new(
                std::fs::read_to_string(path)
                    .map_err(|e| ClientError::Config(format!("secret file {path}: {e}")))?,
            )
        } else if let Some(name) = source.strip_prefix("env:") {
            Zeroizing::new(std::env::var(name).map_err(|_| {
                ClientError::Config(format!("environment variable {name} is not set"))
            })?)
        } else {
            return Err(ClientError::Config(
                "a secret source is file:PATH or env:NAME".into(),
            ));
        };
    Ok(Zeroizing::new(text.trim().to_string()))
}

/// A credential as the service describes it.
#[derive(Clone, Debug)]
pub struct RemoteCredential {
    /// Credential id.
    pub id: String,
    /// Suite of its key.
    pub suite: Suite,
    /// SubjectPublicKeyInfo DER of the leaf certificate.
    pub spki: Vec<u8>,
    /// Certificates, leaf first (DER).
    pub chain: Vec<Vec<u8>>,
    /// 1 or 2.
    pub scal: u8,
    /// The credential wants a PIN.
    pub needs_pin: bool,
}

/// A connected client (token obtained).
pub struct CscClient {
    http: reqwest::blocking::Client,
    opts: ClientOptions,
    token: Zeroizing<String>,
    /// The service's `info`.
    pub info: InfoResponse,
}

impl fmt::Debug for CscClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CscClient")
            .field("base_url", &self.opts.base_url)
            .finish_non_exhaustive()
    }
}

enum Auth<'a> {
    None,
    Basic,
    Bearer(&'a str),
}

impl CscClient {
    /// Builds the HTTP client, calls `info` and obtains a token. Must not be
    /// called from within a tokio runtime (reqwest's blocking client).
    pub fn connect(opts: ClientOptions) -> Result<CscClient, ClientError> {
        let parsed = reqwest::Url::parse(&opts.base_url)
            .map_err(|e| ClientError::Config(format!("URL {:?}: {e}", opts.base_url)))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(ClientError::Config(format!(
                "URL {:?}: expected https://HOST/csc/v2",
                opts.base_url
            )));
        }
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let mut builder = reqwest::blocking::Client::builder()
            .timeout(opts.timeout)
            .connect_timeout(opts.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("otaseal-csc/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &opts.extra_roots_pem {
            let pem = std::fs::read(path)
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
        let mut client = CscClient {
            http,
            opts,
            token: Zeroizing::new(String::new()),
            info: InfoResponse {
                specs: String::new(),
                name: String::new(),
                logo: String::new(),
                region: String::new(),
                lang: String::new(),
                description: String::new(),
                auth_type: Vec::new(),
                oauth2: None,
                methods: Vec::new(),
                sign_algorithms: None,
            },
        };
        client.info = client.call("info", &json!({}), Auth::None)?;
        let token: TokenResponse = match client.opts.auth {
            ServiceAuth::OAuth2ClientCredentials => client.call(
                "oauth2/token",
                &json!({
                    "grant_type": "client_credentials",
                    "client_id": client.opts.client_id,
                    "client_secret": &*client.opts.secret,
                    "scope": "service",
                }),
                Auth::None,
            )?,
            ServiceAuth::Basic => client.call("auth/login", &json!({}), Auth::Basic)?,
        };
        client.token = Zeroizing::new(token.access_token);
        Ok(client)
    }

    fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        body: &Value,
        auth: Auth<'_>,
    ) -> Result<T, ClientError> {
        let url = format!("{}/{method}", self.opts.base_url);
        let body = Zeroizing::new(body.to_string());
        let mut delay = self.opts.backoff_initial;
        let mut attempt = 0;
        loop {
            let mut req = self
                .http
                .post(&url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.as_bytes().to_vec());
            match auth {
                Auth::None => {}
                Auth::Basic => {
                    req = req.basic_auth(&self.opts.client_id, Some(&*self.opts.secret));
                }
                Auth::Bearer(t) => req = req.bearer_auth(t),
            }
            let (retryable, err) = match req.send() {
                Err(e) => (true, ClientError::Transport(format!("{method}: {e}"))),
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let bytes = resp
                        .bytes()
                        .map_err(|e| ClientError::Transport(format!("{method}: {e}")))?;
                    if status == 200 {
                        return serde_json::from_slice(&bytes).map_err(|e| {
                            ClientError::Protocol(format!("{method}: not the expected JSON: {e}"))
                        });
                    }
                    let err = serde_json::from_slice::<ErrorBody>(&bytes)
                        .map(|b| CscError {
                            status,
                            error: b.error,
                            description: b.error_description,
                        })
                        .unwrap_or(CscError {
                            status,
                            error: "http_error".into(),
                            description: format!("{method}: HTTP {status}"),
                        });
                    (status == 429 || status == 503, ClientError::Service(err))
                }
            };
            if !retryable || attempt >= self.opts.retries {
                return Err(err);
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_secs(8));
            attempt += 1;
        }
    }

    /// `credentials/info` with the chain; the suite comes from the leaf.
    pub fn credential(&self, id: &str) -> Result<RemoteCredential, ClientError> {
        let info: CredentialInfo = self.call(
            "credentials/info",
            &json!({ "credentialID": id, "certificates": "chain", "certInfo": true, "authInfo": true }),
            Auth::Bearer(&self.token),
        )?;
        let chain = info
            .cert
            .certificates
            .iter()
            .map(|c| b64_decode(c).map_err(ClientError::Service))
            .collect::<Result<Vec<_>, _>>()?;
        let leaf = chain
            .first()
            .ok_or_else(|| ClientError::Protocol("credentials/info: no certificate".into()))?;
        let cert = x509_cert::Certificate::from_der(leaf)
            .map_err(|e| ClientError::Protocol(format!("leaf certificate: {e}")))?;
        let spki = cert
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(|e| ClientError::Protocol(format!("leaf certificate: {e}")))?;
        let suite = otaseal_sign::keys::suite_of_spki(&spki)
            .map_err(|e| ClientError::Unsupported(format!("credential {id}: {e}")))?;
        if keystore::prehash_len(suite).is_none() {
            return Err(ClientError::Unsupported(format!(
                "credential {id} is an Ed25519 key: Ed25519 signs the whole message and cannot be signed from a hash, so a CSC service (hash only) cannot sign with it; use an ECDSA, RSA-PSS, SM2 or ML-DSA credential"
            )));
        }
        let needs_pin = info
            .auth
            .as_ref()
            .is_some_and(|a| a.objects.iter().any(|o| o.id == "PIN"));
        Ok(RemoteCredential {
            id: id.into(),
            suite,
            spki,
            chain,
            scal: info.scal.parse().unwrap_or(2),
            needs_pin,
        })
    }

    /// Authorizes `prehashes.len()` signatures once and signs them in one
    /// `signHash` call; returns COSE-encoded signatures in order.
    pub fn sign_prehashes(
        &self,
        cred: &RemoteCredential,
        prehashes: &[Vec<u8>],
    ) -> Result<Vec<Vec<u8>>, ClientError> {
        let suite = cred.suite;
        let unsupported =
            || ClientError::Unsupported(format!("{} cannot be signed from a hash", suite.name()));
        let sign_algo = sign_algo_oid(suite).ok_or_else(unsupported)?;
        let hash_algo = hash_algo_oid(suite).ok_or_else(unsupported)?;
        let hashes: Vec<String> = prehashes.iter().map(|h| b64_encode(h)).collect();
        let mut authorize = json!({
            "credentialID": cred.id,
            "numSignatures": hashes.len(),
            "hashes": hashes,
            "hashAlgorithmOID": hash_algo,
        });
        if cred.needs_pin {
            let pin = self.opts.pin.as_ref().ok_or_else(|| {
                ClientError::Config(format!("credential {} needs a PIN", cred.id))
            })?;
            authorize["authData"] = json!([{ "id": "PIN", "value": &**pin }]);
        }
        let sad: AuthorizeResponse = self.call(
            "credentials/authorize",
            &authorize,
            Auth::Bearer(&self.token),
        )?;
        let mut sign = json!({
            "credentialID": cred.id,
            "SAD": sad.sad,
            "hashes": hashes,
            "hashAlgorithmOID": hash_algo,
            "signAlgo": sign_algo,
            "operationMode": "S",
        });
        if suite == Suite::RsaPss3072 {
            sign["signAlgoParams"] = json!(b64_encode(keystore::rsa_pss_params_der()));
        }
        let answer: SignHashResponse =
            self.call("signatures/signHash", &sign, Auth::Bearer(&self.token))?;
        if answer.signatures.len() != prehashes.len() {
            return Err(ClientError::Protocol(format!(
                "signHash returned {} signatures for {} hashes",
                answer.signatures.len(),
                prehashes.len()
            )));
        }
        answer
            .signatures
            .iter()
            .map(|s| {
                let raw = b64_decode(s).map_err(ClientError::Service)?;
                keystore::normalize_signature(suite, &raw)
                    .map_err(|e| ClientError::Protocol(e.to_string()))
            })
            .collect()
    }

    /// Signs whole messages (e.g. COSE `Sig_structure`s): computes otaseal's
    /// prehash locally, signs in one batch, and verifies every signature
    /// against the credential's key before returning.
    pub fn sign_messages(
        &self,
        cred: &RemoteCredential,
        messages: &[&[u8]],
    ) -> Result<Vec<Vec<u8>>, ClientError> {
        let prehashes = messages
            .iter()
            .map(|m| otaseal_keys::prehash(cred.suite, &cred.spki, m))
            .collect::<Result<Vec<_>, KeyError>>()
            .map_err(|e| ClientError::Unsupported(e.to_string()))?;
        let sigs = self.sign_prehashes(cred, &prehashes)?;
        for (m, s) in messages.iter().zip(&sigs) {
            otaseal_verify::crypto::verify_signature(cred.suite, &cred.spki, m, s)
                .map_err(|e| ClientError::Verify(format!("credential {}: {e:?}", cred.id)))?;
        }
        Ok(sigs)
    }

    /// `signatures/timestamp`: an RFC 3161 token (DER) over `hash`
    /// (instead of a separate `--tsa`).
    pub fn timestamp(
        &self,
        alg: otaseal_manifest::DigestAlg,
        hash: &[u8],
    ) -> Result<Vec<u8>, ClientError> {
        let answer: TimestampResponse = self.call(
            "signatures/timestamp",
            &json!({
                "hash": b64_encode(hash),
                "hashAlgo": otaseal_tsa::protocol::digest_oid(alg).to_string(),
            }),
            Auth::Bearer(&self.token),
        )?;
        b64_decode(&answer.timestamp).map_err(ClientError::Service)
    }

    /// Revokes the token (end of run).
    pub fn revoke(&self) -> Result<(), ClientError> {
        let _: Value = self.call("auth/revoke", &json!({}), Auth::Bearer(&self.token))?;
        Ok(())
    }
}

/// A remote credential as an [`otaseal_keys::KeySigner`], so `otaseal sign`
/// and everything else that takes a key backend signs through the service.
///
/// Each [`KeySigner::sign_prehash`] call is one `credentials/authorize` and
/// one `signatures/signHash`; a package needs one signature per signer, so
/// that is one of each per credential and run. Several hashes at once go
/// through [`CscSigner::sign_prehash_batch`] (still one of each).
pub struct CscSigner {
    client: std::sync::Arc<CscClient>,
    cred: RemoteCredential,
}

impl fmt::Debug for CscSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CscSigner")
            .field("credential", &self.cred.id)
            .field("suite", &self.cred.suite.name())
            .finish_non_exhaustive()
    }
}

impl CscSigner {
    /// Wraps a credential of a connected client.
    pub fn new(client: std::sync::Arc<CscClient>, cred: RemoteCredential) -> CscSigner {
        CscSigner { client, cred }
    }

    /// The certificate chain, leaf first.
    pub fn chain(&self) -> &[Vec<u8>] {
        &self.cred.chain
    }

    /// The credential.
    pub fn credential(&self) -> &RemoteCredential {
        &self.cred
    }

    /// The connected client (for `signatures/timestamp`).
    pub fn client(&self) -> &std::sync::Arc<CscClient> {
        &self.client
    }

    /// Signs several prehashes with one authorization.
    pub fn sign_prehash_batch(&self, prehashes: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, ClientError> {
        self.client.sign_prehashes(&self.cred, prehashes)
    }
}

impl KeySigner for CscSigner {
    fn suite(&self) -> Suite {
        self.cred.suite
    }

    fn public_spki_der(&self) -> Vec<u8> {
        self.cred.spki.clone()
    }

    fn sign_prehash(&self, prehash: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.client
            .sign_prehashes(&self.cred, &[prehash.to_vec()])
            .map_err(|e| KeyError::Crypto(e.to_string()))?
            .pop()
            .ok_or_else(|| KeyError::Crypto("CSC signHash returned no signature".into()))
    }

    fn describe(&self) -> String {
        format!(
            "CSC credential {} ({}) at {}",
            self.cred.id,
            self.cred.suite.name(),
            self.client.opts.base_url
        )
    }
}
