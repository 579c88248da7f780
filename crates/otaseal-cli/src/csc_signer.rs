//! `otaseal sign --signer csc=...`: a key in a Cloud Signature Consortium
//! API v2 service (otaseal's own `otaseal csc serve` or any service that
//! follows `spec/csc-profile.md`).
//!
//! A CSC credential becomes an [`otaseal_keys::KeySigner`]
//! ([`otaseal_csc::client::CscSigner`]), so the package pipeline, its local
//! verification of every signature before anything is written and its
//! timestamp checks apply unchanged. Credentials of the same service, client
//! and authentication share one connection and one token; the token is
//! revoked at the end of the run. A package needs one signature per signer,
//! so a run makes one `credentials/authorize` and one `signatures/signHash`
//! per credential.
//!
//! `tsa=service` asks the same service's `signatures/timestamp` for that
//! signer's RFC 3161 token instead of a separate TSA.

use std::path::PathBuf;
use std::sync::Arc;

use otaseal_csc::client::{ClientOptions, CscClient, CscSigner, ServiceAuth, read_secret};
use otaseal_manifest::Suite;
use otaseal_sign::keys::KeySigner;
use otaseal_sign::package::{SignError, Timestamper};
use otaseal_sign::pki;

use crate::{CliError, read_file};

/// Where the client secret comes from when `secret=` is not given.
pub const DEFAULT_SECRET_SOURCE: &str = "env:OTASEAL_CSC_SECRET";

/// The `--signer csc=` syntax, for messages and `--help`.
pub const SYNTAX: &str = "csc=https://HOST/csc/v2,credential=ID[,cert=CHAIN.pem][,client=ID][,secret=file:PATH|env:VAR][,auth=oauth2|basic][,pin=file:PATH|env:VAR][,ca=CA.pem][,tsa=service|URL]";

/// A credential ready to sign.
pub struct CscLoaded {
    /// The credential as a key backend.
    pub key: Arc<dyn KeySigner>,
    /// Certificate chain, leaf first (the service's, or `cert=`).
    pub chain: Vec<Vec<u8>>,
    /// TSA URLs given as `tsa=URL`.
    pub tsa_urls: Vec<String>,
    /// `tsa=service`: timestamps from this connection.
    pub service_tsa: Option<Arc<CscClient>>,
}

/// Who a connection authenticates as; credentials with the same key share it.
#[derive(PartialEq, Eq)]
struct ConnectionKey {
    url: String,
    client: String,
    secret: String,
    auth: &'static str,
    pin: Option<String>,
    ca: Option<PathBuf>,
}

/// The connections of one run.
#[derive(Default)]
pub struct CscSession {
    connections: Vec<(ConnectionKey, Arc<CscClient>)>,
}

fn bad(spec: &str, why: impl std::fmt::Display) -> CliError {
    CliError(format!("--signer {:?}: {why}", redacted(spec)))
}

/// The spec for messages, with any `secret=` / `pin=` that is not a
/// `file:` / `env:` reference (a mistake we refuse) blanked out.
fn redacted(spec: &str) -> String {
    spec.split(',')
        .map(|part| match part.split_once('=') {
            Some((k @ ("secret" | "pin"), v))
                if !(v.starts_with("file:") || v.starts_with("env:")) =>
            {
                format!("{k}=(redacted)")
            }
            _ => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

impl CscSession {
    /// Parses `csc=URL,credential=ID,...`, connects (or reuses a
    /// connection) and fetches the credential.
    pub fn load(&mut self, spec: &str) -> Result<CscLoaded, CliError> {
        let mut url = None;
        let mut credential = None;
        let mut cert = None;
        let mut client = None;
        let mut secret = None;
        let mut auth = None;
        let mut pin = None;
        let mut ca = None;
        let mut tsa_urls = Vec::new();
        let mut service_tsa = false;
        for part in spec.split(',') {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| bad(spec, format!("expected {SYNTAX}")))?;
            let slot = match k {
                "csc" => &mut url,
                "credential" => &mut credential,
                "cert" => &mut cert,
                "client" => &mut client,
                "secret" => &mut secret,
                "auth" => &mut auth,
                "pin" => &mut pin,
                "ca" => &mut ca,
                "tsa" if v == "service" => {
                    service_tsa = true;
                    continue;
                }
                "tsa" => {
                    tsa_urls.push(v.to_string());
                    continue;
                }
                _ => return Err(bad(spec, format!("unknown field {k:?}; expected {SYNTAX}"))),
            };
            if slot.replace(v.to_string()).is_some() {
                return Err(bad(spec, format!("{k}= is given twice")));
            }
        }
        let url = url.ok_or_else(|| bad(spec, "csc= is missing"))?;
        let credential = credential
            .filter(|c| !c.is_empty())
            .ok_or_else(|| bad(spec, "credential= is missing"))?;
        if service_tsa && !tsa_urls.is_empty() {
            return Err(bad(spec, "tsa=service and tsa=URL exclude each other"));
        }
        // Secrets and PINs only by reference: argv is visible to every
        // user of the machine and lands in shell histories.
        for (name, v) in [("secret", &secret), ("pin", &pin)] {
            if let Some(v) = v
                && !(v.starts_with("file:") || v.starts_with("env:"))
            {
                return Err(bad(
                    spec,
                    format!(
                        "{name}= takes file:PATH or env:VAR, never the {name} itself on the command line"
                    ),
                ));
            }
        }
        let auth = match auth.as_deref() {
            None | Some("oauth2") => "oauth2",
            Some("basic") => "basic",
            Some(other) => {
                return Err(bad(
                    spec,
                    format!("auth={other:?}: expected oauth2 or basic"),
                ));
            }
        };
        let key = ConnectionKey {
            url: url.trim_end_matches('/').to_string(),
            client: client.unwrap_or_else(|| "build".into()),
            secret: secret.unwrap_or_else(|| DEFAULT_SECRET_SOURCE.into()),
            auth,
            pin,
            ca: ca.map(PathBuf::from),
        };
        let conn = match self.connections.iter().find(|(k, _)| *k == key) {
            Some((_, c)) => Arc::clone(c),
            None => {
                let c = Arc::new(connect(&key).map_err(|e| bad(spec, e))?);
                self.connections.push((key, Arc::clone(&c)));
                c
            }
        };
        let cred = conn.credential(&credential).map_err(|e| bad(spec, e))?;
        let chain = match cert {
            Some(p) => {
                let p = PathBuf::from(p);
                let pem = String::from_utf8(read_file(&p)?)
                    .map_err(|_| CliError(format!("{}: not a PEM file", p.display())))?;
                let chain = pki::certs_from_pem(&pem)
                    .map_err(|e| CliError(format!("{}: {e}", p.display())))?;
                check_leaf(&chain, &cred.spki)
                    .map_err(|e| CliError(format!("{}: {e}", p.display())))?;
                chain
            }
            None => cred.chain.clone(),
        };
        let signer = CscSigner::new(Arc::clone(&conn), cred);
        Ok(CscLoaded {
            key: Arc::new(signer),
            chain,
            tsa_urls,
            service_tsa: service_tsa.then_some(conn),
        })
    }

    /// Ends the run: revokes every token (best effort; they expire anyway).
    pub fn finish(&self) {
        for (_, c) in &self.connections {
            let _ = c.revoke();
        }
    }
}

fn connect(key: &ConnectionKey) -> Result<CscClient, String> {
    let secret = read_secret(&key.secret).map_err(|e| format!("client secret: {e}"))?;
    let mut opts = ClientOptions::new(&key.url, &key.client, secret);
    opts.auth = match key.auth {
        "basic" => ServiceAuth::Basic,
        _ => ServiceAuth::OAuth2ClientCredentials,
    };
    opts.pin = key
        .pin
        .as_deref()
        .map(read_secret)
        .transpose()
        .map_err(|e| format!("PIN: {e}"))?;
    opts.extra_roots_pem = key.ca.clone();
    CscClient::connect(opts).map_err(|e| e.to_string())
}

/// A `cert=` chain must belong to the credential's key.
fn check_leaf(chain: &[Vec<u8>], spki: &[u8]) -> Result<(), String> {
    let leaf = chain.first().ok_or("no CERTIFICATE found")?;
    let info = otaseal_verify::cert::parse_certificate(leaf).map_err(|e| format!("{e:?}"))?;
    if info.spki != spki {
        return Err("the leaf certificate is not the credential's key".into());
    }
    Ok(())
}

/// Timestamps for signers with `tsa=service` from their CSC service, the
/// others from the HTTP time-stamp client.
pub struct CscTimestamper<T> {
    /// Everyone else's timestamps.
    pub http: T,
    /// Per signer: the CSC connection that timestamps it.
    pub service: Vec<Option<Arc<CscClient>>>,
}

impl<T: Timestamper> Timestamper for CscTimestamper<T> {
    fn token(
        &self,
        signer: usize,
        suite: Suite,
        signature_field: &[u8],
    ) -> Result<Option<Vec<u8>>, SignError> {
        let Some(Some(client)) = self.service.get(signer) else {
            return self.http.token(signer, suite, signature_field);
        };
        let alg = suite.timestamp_digest();
        let hash = otaseal_verify::digest::hash(alg, signature_field);
        client
            .timestamp(alg, hash.as_bytes())
            .map(Some)
            .map_err(|e| {
                SignError::Signer(format!(
                    "CSC timestamp for the {} signature: {e}",
                    suite.name()
                ))
            })
    }

    fn expected_len(&self, signer: usize, suite: Suite) -> Result<usize, SignError> {
        match self.service.get(signer) {
            Some(Some(_)) => Ok(0),
            _ => self.http.expected_len(signer, suite),
        }
    }

    fn stamps(&self, signer: usize) -> bool {
        match self.service.get(signer) {
            Some(Some(_)) => true,
            _ => self.http.stamps(signer),
        }
    }

    fn tsa_roots(&self) -> Vec<Vec<u8>> {
        self.http.tsa_roots()
    }
}
