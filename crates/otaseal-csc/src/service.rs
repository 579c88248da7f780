//! The CSC methods, independent of HTTP: [`Service::handle`] takes the
//! method name, the `Authorization` header and the body, and returns the
//! JSON answer or a [`CscError`].
//!
//! Rules (see README "Cloud signing (CSC API v2)"):
//! - Bearer tokens and SADs are 256-bit random values; only their SHA-256
//!   is stored. Tokens live `token_lifetime_secs`, SADs `sad_lifetime_secs`.
//! - A client uses only the credentials it is granted; an unknown credential
//!   and one not granted get the same `access_denied`.
//! - A SAD is bound to client, credential and count, and (SCAL 2, or
//!   whenever hashes were sent to `authorize`) to the exact hashes; each hash
//!   signs once.
//! - `max_pin_attempts` wrong PINs / OTPs in a row lock the credential.
//! - Every bearer request counts against the client's rate limit (429).
//! - `signHash` signs with the newest key whose certificate is valid now,
//!   and commits its audit record before answering.

use std::sync::Arc;

use otaseal_manifest::Suite;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::audit::{self, Event};
use crate::auth::{self, Clock, RateLimiter};
use crate::ca::{self, Ca, CaError, RenewalReport};
use crate::keystore::{self, KeyStore, MasterKey, SoftKey, TokenKeys};
use crate::protocol::*;
use crate::store::{CredentialRow, SadRejection, SadRow, Store, StoreError};
use otaseal_keys::KeySigner;

/// Most hashes in one `authorize` or `signHash`.
pub const MAX_HASHES: usize = 1000;

/// Service settings.
#[derive(Clone, Debug)]
pub struct Policy {
    /// `info.name`.
    pub name: String,
    /// Bearer token lifetime.
    pub token_lifetime_secs: u64,
    /// SAD lifetime.
    pub sad_lifetime_secs: u64,
    /// Wrong PINs / OTPs in a row before the credential locks.
    pub max_pin_attempts: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            name: "otaseal CSC service".into(),
            token_lifetime_secs: 3600,
            sad_lifetime_secs: 300,
            max_pin_attempts: 3,
        }
    }
}

/// One request as the HTTP layer hands it over.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// 1 or 2 (from the path).
    pub version: u8,
    /// `credentials/info` etc.
    pub method: &'a str,
    /// The `Authorization` header.
    pub authorization: Option<&'a str>,
    /// The body is `application/x-www-form-urlencoded` (oauth2/token).
    pub form: bool,
    /// Body.
    pub body: &'a [u8],
}

/// The service state.
pub struct Service {
    store: Store,
    keys: KeyStore,
    clock: Arc<dyn Clock>,
    policy: Policy,
    limiter: RateLimiter,
    timestamps: Option<otaseal_tsa::authority::Authority>,
    external_ca: Option<crate::external_ca::ExternalCa>,
    /// Tests only: answer signHash with signatures that do not verify, so
    /// tests can show that clients check what they get.
    corrupt_signatures: std::sync::atomic::AtomicBool,
}

/// Methods served (`info.methods`).
pub const METHODS: &[&str] = &[
    "auth/login",
    "auth/revoke",
    "oauth2/token",
    "credentials/list",
    "credentials/info",
    "credentials/authorize",
    "credentials/extendTransaction",
    "signatures/signHash",
    "signatures/timestamp",
];

/// The signature algorithm OID of a suite.
pub fn sign_algo_oid(suite: Suite) -> Option<&'static str> {
    Some(match suite {
        Suite::EcdsaP256 => oids::ECDSA_SHA256,
        Suite::EcdsaP384 => oids::ECDSA_SHA384,
        Suite::RsaPss3072 => oids::RSASSA_PSS,
        Suite::Sm2 => oids::SM2_SM3,
        Suite::MlDsa44 => oids::ML_DSA_44,
        Suite::MlDsa65 => oids::ML_DSA_65,
        Suite::MlDsa87 => oids::ML_DSA_87,
        Suite::Ed25519 => return None,
    })
}

/// The hash algorithm OID of a suite's prehash.
pub fn hash_algo_oid(suite: Suite) -> Option<&'static str> {
    Some(match suite {
        Suite::EcdsaP256 | Suite::RsaPss3072 => oids::SHA256,
        Suite::EcdsaP384 => oids::SHA384,
        Suite::Sm2 => oids::SM3,
        Suite::MlDsa44 | Suite::MlDsa65 | Suite::MlDsa87 => oids::SHAKE256,
        Suite::Ed25519 => return None,
    })
}

fn internal(what: &str, e: impl std::fmt::Display) -> CscError {
    log("error", json!({ "what": what, "detail": e.to_string() }));
    CscError::server_error()
}

fn store_err(e: StoreError) -> CscError {
    internal("store", e)
}

/// One structured log line (JSON) on stderr. Never called with secrets.
pub fn log(level: &str, fields: Value) {
    let mut line = json!({ "level": level, "time": auth::SystemClock.now() });
    if let (Some(obj), Value::Object(extra)) = (line.as_object_mut(), fields) {
        obj.extend(extra);
    }
    eprintln!("{line}");
}

fn parse<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, CscError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return serde_json::from_str("{}")
            .map_err(|_| CscError::invalid_request("a request body is required"));
    }
    // The message names the position and kind of error, never the values
    // (a misplaced PIN must not be echoed).
    serde_json::from_slice(body).map_err(|e| {
        let kind = match e.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                "malformed JSON"
            }
            serde_json::error::Category::Data => "a field is missing or has the wrong type",
            serde_json::error::Category::Io => "unreadable body",
        };
        CscError::invalid_request(format!("{kind} (line {}, column {})", e.line(), e.column()))
    })
}

fn canonical_hashes(hashes: &[String], suite: Suite) -> Result<Vec<String>, CscError> {
    let len = keystore::prehash_len(suite)
        .ok_or_else(|| CscError::invalid_request("this credential cannot sign hashes"))?;
    if hashes.is_empty() || hashes.len() > MAX_HASHES {
        return Err(CscError::invalid_request(format!(
            "between 1 and {MAX_HASHES} hashes per request"
        )));
    }
    hashes
        .iter()
        .map(|h| {
            let raw = b64_decode(h.trim())?;
            if raw.len() != len {
                return Err(CscError::invalid_request(format!(
                    "{} needs {len}-byte hashes, got {} bytes",
                    suite.name(),
                    raw.len()
                )));
            }
            Ok(b64_encode(&raw))
        })
        .collect()
}

fn check_hash_algo(oid: Option<&str>, suite: Suite) -> Result<(), CscError> {
    match oid {
        None => Ok(()),
        Some(o) if Some(o) == hash_algo_oid(suite) => Ok(()),
        Some(o) => Err(CscError::invalid_request(format!(
            "hash algorithm {o} does not fit this credential ({} expects {})",
            suite.name(),
            hash_algo_oid(suite).unwrap_or("none")
        ))),
    }
}

fn time_string(t: u64) -> String {
    let dt = time::OffsetDateTime::from_unix_timestamp(i64::try_from(t).unwrap_or(0))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}Z",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

impl Service {
    /// A service over an opened store and master key.
    pub fn new(store: Store, master: MasterKey, clock: Arc<dyn Clock>, policy: Policy) -> Service {
        Service {
            store,
            keys: KeyStore::software(master),
            clock,
            policy,
            limiter: RateLimiter::default(),
            timestamps: None,
            external_ca: None,
            corrupt_signatures: Default::default(),
        }
    }

    /// Tests only (`otaseal csc serve --test-corrupt-signatures`): from now
    /// on every signHash answer carries a wrong signature (one bit of `s`
    /// or of the ML-DSA signature flipped), as a faulty or hostile service
    /// would. Clients must refuse them.
    pub fn corrupt_signatures_for_tests(&self) {
        self.corrupt_signatures
            .store(true, std::sync::atomic::Ordering::Relaxed);
        log(
            "warn",
            json!({ "what": "test hook: signHash answers are corrupted" }),
        );
    }

    /// Serves `signatures/timestamp` with the store's time-stamping key
    /// (made by `otaseal csc init`) through otaseal-tsa's [`Authority`],
    /// its serial numbers in `serial_store`.
    ///
    /// [`Authority`]: otaseal_tsa::authority::Authority
    pub fn enable_timestamps(&mut self, serial_store: &std::path::Path) -> Result<(), String> {
        let tsa = self
            .store
            .tsa()
            .map_err(|e| e.to_string())?
            .ok_or("the store has no time-stamping key")?;
        let ca = self.ca().certificate().map_err(|e| e.to_string())?;
        let key = SoftKey::open(self.keys.master(), &tsa.label, &tsa.wrapped, &tsa.spki)
            .and_then(|k| k.signing_key())
            .map_err(|e| e.to_string())?;
        let serials = otaseal_tsa::serial::SerialStore::open(serial_store)
            .map_err(|e| format!("{}: {e}", serial_store.display()))?;
        let authority = otaseal_tsa::authority::Authority::new(
            key,
            vec![tsa.cert, ca],
            otaseal_tsa::protocol::oid::EXAMPLE_POLICY,
            serials,
        )
        .map_err(|e| e.to_string())?;
        self.timestamps = Some(authority);
        Ok(())
    }

    /// Generates the keys of the suites `token` offers inside it, and opens
    /// the token keys the store names (without a token the service refuses
    /// to sign with them).
    pub fn set_token_keys(&mut self, token: TokenKeys) {
        self.keys.set_token(token);
    }

    /// The key store.
    pub fn keys(&self) -> &KeyStore {
        &self.keys
    }

    /// Takes credential certificates from an external CA (see
    /// [`crate::external_ca`]).
    pub fn set_external_ca(&mut self, external: crate::external_ca::ExternalCa) {
        self.external_ca = Some(external);
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The CA view.
    pub fn ca(&self) -> Ca<'_> {
        Ca {
            store: &self.store,
            keys: &self.keys,
            external: self.external_ca.as_ref(),
        }
    }

    /// The service clock.
    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// One renewal pass (the background task calls it periodically).
    pub fn renew_due(&self) -> Result<RenewalReport, CaError> {
        let now = self.now();
        let _ = self.store.purge(now);
        self.ca().renew_due(now)
    }

    /// Answers one request.
    pub fn handle(&self, req: &Request<'_>) -> Result<Value, CscError> {
        match req.method {
            "info" => Ok(to_value(&self.info())),
            "auth/login" => Ok(to_value(&self.login(req)?)),
            "oauth2/token" => Ok(to_value(&self.oauth2_token(req)?)),
            "auth/revoke" => self.revoke(req),
            "credentials/list" => Ok(to_value(&self.list(req)?)),
            "credentials/info" => Ok(to_value(&self.credential_info(req)?)),
            "credentials/authorize" => Ok(to_value(&self.authorize(req)?)),
            "credentials/extendTransaction" => Ok(to_value(&self.extend(req)?)),
            "signatures/signHash" => Ok(to_value(&self.sign_hash(req)?)),
            "signatures/timestamp" => Ok(to_value(&self.timestamp(req)?)),
            m => Err(CscError::unknown_method(m)),
        }
    }

    fn info(&self) -> InfoResponse {
        InfoResponse {
            specs: "2.0.0.2".into(),
            name: self.policy.name.clone(),
            logo: String::new(),
            region: String::new(),
            lang: "en-US".into(),
            description: "otaseal hash-signing service (spec/csc-profile.md)".into(),
            auth_type: vec!["basic".into(), "oauth2client".into()],
            oauth2: None,
            methods: METHODS.iter().map(|m| m.to_string()).collect(),
            sign_algorithms: Some(SignAlgorithms {
                algos: Suite::ALL
                    .iter()
                    .filter_map(|s| sign_algo_oid(*s))
                    .map(String::from)
                    .collect(),
            }),
        }
    }

    fn audit(&self, e: &Event<'_>) -> Result<(), CscError> {
        audit::append(&self.store, self.now(), e)
            .map(|_| ())
            .map_err(store_err)
    }

    /// Checks a client secret; unknown clients cost the same Argon2 work.
    fn check_client(&self, id: &str, secret: &str) -> Result<(), CscError> {
        // Throttle guessing before the expensive hash.
        let rate = self
            .store
            .client(id)
            .map_err(store_err)?
            .map(|c| c.rate_per_minute)
            .unwrap_or(60);
        if !self.limiter.allow(&format!("login:{id}"), rate) {
            return Err(CscError::too_many_requests());
        }
        let row = self.store.client(id).map_err(store_err)?;
        let phc = row
            .as_ref()
            .map(|c| c.secret_hash.as_str())
            .unwrap_or(auth::dummy_hash());
        let ok = auth::verify_secret(secret, phc) && row.is_some();
        self.audit(&Event {
            event: "login",
            client: id,
            result: if ok { "ok" } else { "invalid_client" },
            ..Event::default()
        })?;
        if ok {
            Ok(())
        } else {
            Err(CscError::invalid_client("wrong client id or secret"))
        }
    }

    fn issue_token(&self, client: &str) -> Result<TokenResponse, CscError> {
        let token = auth::random_token().map_err(|e| internal("rng", e))?;
        let life = self.policy.token_lifetime_secs;
        self.store
            .put_token(
                &auth::token_hash(&token),
                client,
                self.now().saturating_add(life),
            )
            .map_err(store_err)?;
        Ok(TokenResponse {
            access_token: token.to_string(),
            token_type: "Bearer".into(),
            expires_in: life,
        })
    }

    fn login(&self, req: &Request<'_>) -> Result<TokenResponse, CscError> {
        let _: LoginRequest = parse(req.body)?;
        let (id, secret) = basic_credentials(req.authorization)
            .ok_or_else(|| CscError::invalid_client("HTTP Basic authentication required"))?;
        self.check_client(&id, &secret)?;
        self.issue_token(&id)
    }

    fn oauth2_token(&self, req: &Request<'_>) -> Result<TokenResponse, CscError> {
        let body: TokenRequest = if req.form {
            parse_form(req.body)?
        } else {
            parse(req.body)?
        };
        if body.grant_type != "client_credentials" {
            return Err(CscError {
                status: 400,
                error: "unsupported_grant_type".into(),
                description: "only grant_type=client_credentials is served".into(),
            });
        }
        let (id, secret) = match (body.client_id, body.client_secret) {
            (Some(id), Some(secret)) => (id, zeroize::Zeroizing::new(secret)),
            _ => basic_credentials(req.authorization)
                .ok_or_else(|| CscError::invalid_client("client_id and client_secret required"))?,
        };
        self.check_client(&id, &secret)?;
        self.issue_token(&id)
    }

    /// The client of the bearer token, after the rate limit.
    fn bearer(&self, req: &Request<'_>) -> Result<String, CscError> {
        let token = req
            .authorization
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| CscError::invalid_token("a Bearer token is required"))?;
        let client = self
            .store
            .token_client(&auth::token_hash(token), self.now())
            .map_err(store_err)?
            .ok_or_else(|| CscError::invalid_token("unknown, revoked or expired token"))?;
        let rate = self
            .store
            .client(&client)
            .map_err(store_err)?
            .ok_or_else(|| CscError::invalid_token("the token's client no longer exists"))?
            .rate_per_minute;
        if !self.limiter.allow(&client, rate) {
            return Err(CscError::too_many_requests());
        }
        Ok(client)
    }

    fn revoke(&self, req: &Request<'_>) -> Result<Value, CscError> {
        let client = self.bearer(req)?;
        let body: RevokeRequest = parse(req.body)?;
        let token = match &body.token {
            Some(t) => t.as_str(),
            None => req
                .authorization
                .and_then(|h| h.strip_prefix("Bearer "))
                .map(str::trim)
                .unwrap_or_default(),
        };
        self.store
            .delete_token(&auth::token_hash(token), &client)
            .map_err(store_err)?;
        Ok(json!({}))
    }

    /// The credential, if `client` is granted it (else `access_denied`).
    fn granted(&self, client: &str, credential: &str) -> Result<(CredentialRow, Suite), CscError> {
        let denied = || {
            CscError::access_denied(format!(
                "credential {credential:?} does not exist or is not granted to this client"
            ))
        };
        if !self
            .store
            .is_granted(client, credential)
            .map_err(store_err)?
        {
            return Err(denied());
        }
        let row = self
            .store
            .credential(credential)
            .map_err(store_err)?
            .ok_or_else(denied)?;
        let suite = ca::suite_of(&row.suite).map_err(|e| internal("credential suite", e))?;
        Ok((row, suite))
    }

    fn list(&self, req: &Request<'_>) -> Result<ListResponse, CscError> {
        let client = self.bearer(req)?;
        let body: ListRequest = parse(req.body)?;
        let ids = self.store.granted(&client).map_err(store_err)?;
        let infos = if body.credential_info {
            let mut v = Vec::new();
            for id in &ids {
                let (row, suite) = self.granted(&client, id)?;
                let mut info = self.describe(&row, suite, "chain", true, true)?;
                info.credential_id = Some(id.clone());
                v.push(info);
            }
            Some(v)
        } else {
            None
        };
        Ok(ListResponse {
            credential_ids: ids,
            credential_infos: infos,
        })
    }

    fn credential_info(&self, req: &Request<'_>) -> Result<CredentialInfo, CscError> {
        let client = self.bearer(req)?;
        let body: CredentialInfoRequest = parse(req.body)?;
        let (row, suite) = self.granted(&client, &body.credential_id)?;
        let mode = body.certificates.as_deref().unwrap_or("single");
        if !matches!(mode, "none" | "single" | "chain") {
            return Err(CscError::invalid_request(
                "certificates must be none, single or chain",
            ));
        }
        self.describe(&row, suite, mode, body.cert_info, body.auth_info)
    }

    fn describe(
        &self,
        row: &CredentialRow,
        suite: Suite,
        mode: &str,
        cert_info: bool,
        auth_info: bool,
    ) -> Result<CredentialInfo, CscError> {
        let now = self.now();
        let ca = self.ca();
        let gens = self.store.generations(&row.id).map_err(store_err)?;
        // The current chain: the generation signing uses now, else the newest.
        let current = ca
            .signing_generation(&row.id, now)
            .ok()
            .or_else(|| gens.last().cloned())
            .ok_or_else(|| internal("credential without certificate", &row.id))?;
        let status = if now < current.not_before {
            "not_yet_valid"
        } else if now >= current.not_after {
            "expired"
        } else {
            "valid"
        };
        let mut certificates = Vec::new();
        if mode != "none" {
            certificates.push(b64_encode(&current.cert));
        }
        if mode == "chain" {
            match &current.issuers {
                // Issued by the external CA: its chain.
                Some(pem) => {
                    let text = std::str::from_utf8(pem).map_err(|e| internal("issuers", e))?;
                    for der in otaseal_sign::pki::certs_from_pem(text)
                        .map_err(|e| internal("issuers", e))?
                    {
                        certificates.push(b64_encode(&der));
                    }
                }
                None => {
                    let ca_cert = ca.certificate().map_err(|e| internal("CA", e))?;
                    certificates.push(b64_encode(&ca_cert));
                }
            }
        }
        let (issuer_dn, subject_dn) = if cert_info {
            use der::Decode;
            let c = x509_cert::Certificate::from_der(&current.cert)
                .map_err(|e| internal("certificate", e))?;
            (
                Some(c.tbs_certificate().issuer().to_string()),
                Some(c.tbs_certificate().subject().to_string()),
            )
        } else {
            (None, None)
        };
        let (len, curve) = match suite {
            Suite::EcdsaP256 => (256, Some("1.2.840.10045.3.1.7")),
            Suite::EcdsaP384 => (384, Some("1.3.132.0.34")),
            Suite::Sm2 => (256, Some("1.2.156.10197.1.301")),
            Suite::RsaPss3072 => (3072, None),
            Suite::MlDsa44 => (1312 * 8, None),
            Suite::MlDsa65 => (1952 * 8, None),
            Suite::MlDsa87 => (2592 * 8, None),
            Suite::Ed25519 => (256, None),
        };
        let mut objects = Vec::new();
        if row.pin_hash.is_some() {
            objects.push(AuthObject {
                kind: "Password".into(),
                id: "PIN".into(),
                format: "A".into(),
            });
        }
        if row.totp_wrapped.is_some() {
            objects.push(AuthObject {
                kind: "OTP".into(),
                id: "OTP".into(),
                format: "N".into(),
            });
        }
        Ok(CredentialInfo {
            credential_id: None,
            key: KeyInfo {
                status: if row.locked { "disabled" } else { "enabled" }.into(),
                algo: sign_algo_oid(suite).into_iter().map(String::from).collect(),
                len,
                curve: curve.map(String::from),
            },
            cert: CertInfo {
                status: status.into(),
                certificates,
                issuer_dn,
                serial_number: cert_info.then(|| current.serial.clone()),
                subject_dn,
                valid_from: cert_info.then(|| time_string(current.not_before)),
                valid_to: cert_info.then(|| time_string(current.not_after)),
            },
            auth: auth_info.then(|| AuthInfo {
                mode: if objects.is_empty() {
                    "implicit"
                } else {
                    "explicit"
                }
                .into(),
                objects,
            }),
            scal: row.scal.to_string(),
            multisign: row.multisign,
        })
    }

    fn check_auth_data(
        &self,
        client: &str,
        row: &CredentialRow,
        body: &AuthorizeRequest,
    ) -> Result<(), CscError> {
        let find = |id: &str, v1: &Option<String>| -> Option<zeroize::Zeroizing<String>> {
            body.auth_data
                .iter()
                .flatten()
                .find(|a| a.id.eq_ignore_ascii_case(id))
                .map(|a| a.value.clone())
                .or_else(|| v1.clone())
                .map(zeroize::Zeroizing::new)
        };
        let mut failure: Option<&str> = None;
        if let Some(phc) = &row.pin_hash {
            match find("PIN", &body.pin) {
                None => {
                    return Err(CscError::invalid_authentication_data(
                        "this credential requires a PIN (authData id PIN)",
                    ));
                }
                Some(pin) if !auth::verify_secret(&pin, phc) => failure = Some("wrong PIN"),
                Some(_) => {}
            }
        }
        if failure.is_none()
            && let Some(wrapped) = &row.totp_wrapped
        {
            let secret = self
                .keys
                .master()
                .unwrap_key(&format!("totp:{}", row.id), wrapped)
                .map_err(|e| internal("TOTP secret", e))?;
            match find("OTP", &body.otp) {
                None => {
                    return Err(CscError::invalid_authentication_data(
                        "this credential requires an OTP (authData id OTP)",
                    ));
                }
                Some(otp) if !auth::totp_matches(&secret, &otp, self.now()) => {
                    failure = Some("wrong OTP")
                }
                Some(_) => {}
            }
        }
        match failure {
            None => {
                self.store.reset_auth_failures(&row.id).map_err(store_err)?;
                Ok(())
            }
            Some(what) => {
                let locked = self
                    .store
                    .record_auth_failure(&row.id, self.policy.max_pin_attempts)
                    .map_err(store_err)?;
                self.audit(&Event {
                    event: "authorize",
                    client,
                    credential: &row.id,
                    result: if locked {
                        "locked"
                    } else {
                        "invalid_authentication_data"
                    },
                    ..Event::default()
                })?;
                Err(CscError::invalid_authentication_data(if locked {
                    format!("{what}; the credential is now locked")
                } else {
                    what.to_string()
                }))
            }
        }
    }

    fn authorize(&self, req: &Request<'_>) -> Result<AuthorizeResponse, CscError> {
        let client = self.bearer(req)?;
        let body: AuthorizeRequest = parse(req.body)?;
        let (row, suite) = self.granted(&client, &body.credential_id)?;
        if row.locked {
            return Err(CscError::access_denied(
                "the credential is locked after too many wrong PINs",
            ));
        }
        let n = body.num_signatures;
        if n == 0 || n > row.multisign.max(1) || n as usize > MAX_HASHES {
            return Err(CscError::invalid_request(format!(
                "numSignatures must be between 1 and {}",
                row.multisign.max(1)
            )));
        }
        check_hash_algo(body.hash_algorithm_oid.as_deref(), suite)?;
        let hashes = match &body.hashes {
            Some(h) => {
                let h = canonical_hashes(h, suite)?;
                if h.len() != n as usize {
                    return Err(CscError::invalid_request(
                        "the number of hashes must equal numSignatures",
                    ));
                }
                Some(h)
            }
            None if row.scal >= 2 => {
                return Err(CscError::invalid_request(
                    "SCAL 2: the hashes to sign are required",
                ));
            }
            None => None,
        };
        self.check_auth_data(&client, &row, &body)?;
        let sad = auth::random_token().map_err(|e| internal("rng", e))?;
        let life = self.policy.sad_lifetime_secs;
        self.store
            .put_sad(
                &auth::token_hash(&sad),
                &SadRow {
                    client_id: client.clone(),
                    credential_id: row.id.clone(),
                    remaining: n,
                    hashes: hashes.clone(),
                    expires: self.now().saturating_add(life),
                },
            )
            .map_err(store_err)?;
        self.audit(&Event {
            event: "authorize",
            client: &client,
            credential: &row.id,
            hash_algo: hash_algo_oid(suite).unwrap_or("-"),
            hashes: hashes.as_deref().unwrap_or(&[]),
            result: "ok",
            ..Event::default()
        })?;
        Ok(AuthorizeResponse {
            sad: sad.to_string(),
            expires_in: life,
        })
    }

    fn extend(&self, req: &Request<'_>) -> Result<AuthorizeResponse, CscError> {
        let client = self.bearer(req)?;
        let body: ExtendRequest = parse(req.body)?;
        let (row, _) = self.granted(&client, &body.credential_id)?;
        let new = auth::random_token().map_err(|e| internal("rng", e))?;
        let life = self.policy.sad_lifetime_secs;
        let now = self.now();
        self.store
            .extend_sad(
                &auth::token_hash(&body.sad),
                &auth::token_hash(&new),
                &client,
                &row.id,
                now,
                now.saturating_add(life),
            )
            .map_err(store_err)?
            .map_err(sad_error)?;
        Ok(AuthorizeResponse {
            sad: new.to_string(),
            expires_in: life,
        })
    }

    fn sign_hash(&self, req: &Request<'_>) -> Result<SignHashResponse, CscError> {
        let client = self.bearer(req)?;
        let body: SignHashRequest = parse(req.body)?;
        let (row, suite) = self.granted(&client, &body.credential_id)?;
        if body.operation_mode.as_deref().is_some_and(|m| m != "S") {
            return Err(CscError::invalid_request(
                "only synchronous operation (operationMode S) is served",
            ));
        }
        let algo_ok = Some(body.sign_algo.as_str()) == sign_algo_oid(suite)
            || (body.sign_algo == oids::EC_PUBLIC_KEY
                && matches!(suite, Suite::EcdsaP256 | Suite::EcdsaP384));
        if !algo_ok {
            return Err(CscError::invalid_request(format!(
                "signAlgo {} does not fit this credential ({} expects {})",
                body.sign_algo,
                suite.name(),
                sign_algo_oid(suite).unwrap_or("none")
            )));
        }
        if suite == Suite::RsaPss3072 {
            let params = body
                .sign_algo_params
                .as_deref()
                .map(b64_decode)
                .transpose()?
                .ok_or_else(|| CscError::invalid_request("RSASSA-PSS needs signAlgoParams"))?;
            if params != keystore::rsa_pss_params_der() {
                return Err(CscError::invalid_request(
                    "signAlgoParams: only SHA-256, MGF1-SHA-256, salt 32 is served",
                ));
            }
        }
        check_hash_algo(body.hash_algorithm_oid.as_deref(), suite)?;
        let hashes = canonical_hashes(&body.hashes, suite)?;
        let now = self.now();
        let generation = self.ca().signing_generation(&row.id, now).map_err(|e| {
            log(
                "warn",
                json!({ "what": "signHash refused", "detail": e.to_string() }),
            );
            CscError::unavailable("the credential has no valid certificate at the moment")
        })?;
        let hash_algo = hash_algo_oid(suite).unwrap_or("-");
        // The key is opened (and, in a token, checked against the stored
        // public key) before the SAD is spent: a key the service refuses
        // to use does not cost the client its authorization.
        let key = self
            .keys
            .open(
                &generation.label,
                generation.wrapped.as_deref(),
                generation.key_ref.as_deref(),
                &generation.spki,
            )
            .map_err(|e| internal("key store", e))?;
        let consumed = self
            .store
            .consume_sad(&auth::token_hash(&body.sad), &client, &row.id, &hashes, now)
            .map_err(store_err)?;
        if let Err(why) = consumed {
            let e = sad_error(why);
            self.audit(&Event {
                event: "signHash",
                client: &client,
                credential: &row.id,
                serial: &generation.serial,
                hash_algo,
                hashes: &hashes,
                result: &e.error,
            })?;
            return Err(e);
        }
        let mut signatures = Vec::with_capacity(hashes.len());
        for h in &hashes {
            let prehash = b64_decode(h)?;
            let mut raw = key
                .sign_prehash(&prehash)
                .map_err(|e| internal("sign", e))?;
            if self
                .corrupt_signatures
                .load(std::sync::atomic::Ordering::Relaxed)
                && let Some(last) = raw.last_mut()
            {
                *last ^= 1;
            }
            // ECDSA and SM2 answers in DER, as X.509/CMS-minded CSC clients
            // expect; otaseal's client accepts DER and raw r || s.
            let sig = keystore::raw_to_der(suite, &raw).map_err(|e| internal("sign", e))?;
            signatures.push(b64_encode(&sig));
        }
        drop(key);
        // Committed (fsync'ed) before the signatures leave the service.
        self.audit(&Event {
            event: "signHash",
            client: &client,
            credential: &row.id,
            serial: &generation.serial,
            hash_algo,
            hashes: &hashes,
            result: "ok",
        })?;
        Ok(SignHashResponse { signatures })
    }
}

impl Service {
    fn timestamp(&self, req: &Request<'_>) -> Result<TimestampResponse, CscError> {
        use der::Encode;
        let client = self.bearer(req)?;
        let body: TimestampRequest = parse(req.body)?;
        let authority = self
            .timestamps
            .as_ref()
            .ok_or_else(|| CscError::invalid_request("this service has no time-stamping key"))?;
        let oid = der::asn1::ObjectIdentifier::new(&body.hash_algo)
            .map_err(|_| CscError::invalid_request("hashAlgo is not an OID"))?;
        let alg = otaseal_tsa::protocol::digest_from_oid(&oid)
            .ok_or_else(|| CscError::invalid_request("hashAlgo: SHA-256/384/512 or SM3"))?;
        let hash = b64_decode(&body.hash)?;
        if hash.len() != otaseal_tsa::protocol::digest_len(alg) {
            return Err(CscError::invalid_request("the hash has the wrong length"));
        }
        let nonce = match &body.nonce {
            Some(h) => keystore::hex_decode(h)
                .map_err(|_| CscError::invalid_request("nonce must be hex"))?,
            None => {
                let mut n = vec![0u8; 8];
                getrandom::fill(&mut n).map_err(|e| internal("rng", e))?;
                n
            }
        };
        let nonce = der::asn1::Uint::new(&nonce)
            .map(der::asn1::Int::from)
            .map_err(|_| CscError::invalid_request("nonce"))?;
        let imprint = otaseal_tsa::protocol::MessageImprint::new(alg, &hash)
            .map_err(|e| internal("imprint", e))?;
        let tsr = otaseal_tsa::protocol::TimeStampReq {
            version: 1,
            message_imprint: imprint,
            req_policy: None,
            nonce: Some(nonce),
            cert_req: true,
            extensions: None,
        };
        let token = authority
            .issue(&tsr)
            .map_err(|r| CscError::invalid_request(format!("time-stamp refused: {}", r.text)))?
            .to_der()
            .map_err(|e| internal("token", e))?;
        self.audit(&Event {
            event: "timestamp",
            client: &client,
            hash_algo: &body.hash_algo,
            hashes: &[b64_encode(&hash)],
            result: "ok",
            ..Event::default()
        })?;
        Ok(TimestampResponse {
            timestamp: b64_encode(&token),
        })
    }
}

fn sad_error(why: SadRejection) -> CscError {
    CscError::access_denied(match why {
        SadRejection::Unknown => "unknown or used-up SAD",
        SadRejection::WrongBinding => "the SAD was issued for another client or credential",
        SadRejection::Expired => "the SAD has expired",
        SadRejection::UsedUp => "the SAD does not authorize that many signatures",
        SadRejection::HashNotAuthorized => "a hash was not authorized by this SAD",
    })
}

/// `(id, secret)` from `Authorization: Basic ...`.
fn basic_credentials(header: Option<&str>) -> Option<(String, zeroize::Zeroizing<String>)> {
    use base64ct::Encoding;
    let b64 = header?.strip_prefix("Basic ")?.trim();
    let raw = zeroize::Zeroizing::new(base64ct::Base64::decode_vec(b64).ok()?);
    let text = std::str::from_utf8(&raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_string(), zeroize::Zeroizing::new(secret.to_string())))
}

/// `application/x-www-form-urlencoded` body of `oauth2/token`.
fn parse_form(body: &[u8]) -> Result<TokenRequest, CscError> {
    let mut out = TokenRequest::default();
    for (k, v) in form_urlencoded::parse(body) {
        match k.as_ref() {
            "grant_type" => out.grant_type = v.into_owned(),
            "client_id" => out.client_id = Some(v.into_owned()),
            "client_secret" => out.client_secret = Some(v.into_owned()),
            "scope" => out.scope = Some(v.into_owned()),
            _ => {}
        }
    }
    Ok(out)
}

fn to_value<T: serde::Serialize>(x: &T) -> Value {
    serde_json::to_value(x).unwrap_or(Value::Null)
}
