//! The issuing CA of the service and the self-renewing credential
//! certificates.
//!
//! The CA key lives in the key store like every other key (in the PKCS#11
//! token when one is configured and offers its suite). Each credential
//! has a profile (subject, validity, renew-before); [`Ca::renew_due`] gives a
//! credential a fresh key pair and certificate once `now` is within
//! renew-before of the current certificate's notAfter, and destroys a
//! generation's private key once its certificate has expired (the wrapped
//! key is cleared, a token key's objects are destroyed in the token; the
//! certificate itself stays, for `credentials/info` history and the audit).
//! [`Ca::signing_generation`] picks the newest generation whose certificate
//! is valid at `now`; when there is none the service refuses to sign.

use std::fmt;

use der::{Decode, Encode};
use otaseal_manifest::Suite;
use otaseal_sign::pki::{self, CertProfile, CertRequest};
use x509_cert::Certificate;

use crate::audit::{self, Event};
use crate::external_ca::ExternalCa;
use crate::keystore::{KeyStore, KeyStoreError, hex};
use crate::store::{CaRow, CredentialRow, GenerationRow, Store, StoreError};

/// Errors of the CA.
#[derive(Debug)]
pub enum CaError {
    /// Store failure.
    Store(StoreError),
    /// Key store failure.
    Key(KeyStoreError),
    /// Certificate issuance failed.
    Pki(String),
    /// No CA in the store.
    NoCa,
    /// Unknown credential.
    UnknownCredential(String),
    /// The credential has no certificate valid now.
    NoValidCertificate(String),
    /// The external CA gave no usable certificate.
    External(crate::external_ca::ExternalCaError),
}

impl fmt::Display for CaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaError::Store(e) => write!(f, "{e}"),
            CaError::Key(e) => write!(f, "{e}"),
            CaError::Pki(m) => write!(f, "certificate: {m}"),
            CaError::NoCa => write!(f, "the store has no issuing CA (run `otaseal csc init`)"),
            CaError::UnknownCredential(c) => write!(f, "unknown credential {c:?}"),
            CaError::NoValidCertificate(c) => write!(
                f,
                "credential {c:?} has no certificate valid now (expired or not yet valid)"
            ),
            CaError::External(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for CaError {}

impl From<StoreError> for CaError {
    fn from(e: StoreError) -> Self {
        CaError::Store(e)
    }
}

impl From<KeyStoreError> for CaError {
    fn from(e: KeyStoreError) -> Self {
        CaError::Key(e)
    }
}

fn pki_err(e: impl fmt::Display) -> CaError {
    CaError::Pki(e.to_string())
}

/// A new credential's profile.
#[derive(Clone, Debug)]
pub struct CredentialSpec {
    /// Credential id.
    pub id: String,
    /// Suite.
    pub suite: Suite,
    /// 1 or 2.
    pub scal: u8,
    /// Argon2id hash of the PIN, if one is required.
    pub pin_hash: Option<String>,
    /// TOTP secret (wrapped by the master key before storing).
    pub totp_secret: Option<Vec<u8>>,
    /// Certificate subject CN.
    pub subject_cn: String,
    /// Certificate validity.
    pub validity_secs: u64,
    /// Renew this long before notAfter.
    pub renew_before_secs: u64,
    /// Signatures per authorization.
    pub multisign: u32,
}

/// What a renewal pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RenewalReport {
    /// `(credential, new serial)`.
    pub renewed: Vec<(String, String)>,
    /// `(credential, serial)` whose keys were destroyed.
    pub retired: Vec<(String, String)>,
    /// `(credential, error)` that could not be renewed this pass; each
    /// keeps its current certificate and is tried again next pass.
    pub failed: Vec<(String, String)>,
}

/// The issuing CA over a store and key store.
pub struct Ca<'a> {
    /// Store.
    pub store: &'a Store,
    /// Key store (master key, and the token when configured).
    pub keys: &'a KeyStore,
    /// An external CA for some or all credentials (else this CA issues).
    pub external: Option<&'a ExternalCa>,
}

/// Serial of a certificate, hex.
pub fn serial_hex(cert_der: &[u8]) -> Result<String, CaError> {
    let c = Certificate::from_der(cert_der).map_err(pki_err)?;
    Ok(hex(c.tbs_certificate().serial_number().as_bytes()))
}

impl Ca<'_> {
    /// Creates the CA key and its self-signed certificate.
    pub fn init(
        &self,
        suite: Suite,
        subject_cn: &str,
        now: u64,
        validity_secs: u64,
    ) -> Result<Vec<u8>, CaError> {
        let label = "ca";
        let key = self.keys.generate(label, suite)?;
        let cert = pki::issue_certificate(&CertRequest {
            subject_cn,
            profile: CertProfile::Root,
            // An hour of slack for clocks that are a little behind.
            not_before: now.saturating_sub(3600),
            not_after: now.saturating_add(validity_secs),
            subject_key: &*key.signer,
            issuer: None,
            serial: None,
        })
        .map_err(pki_err)?;
        self.store.put_ca(&CaRow {
            label: label.into(),
            wrapped: key.wrapped.unwrap_or_default(),
            spki: key.spki,
            cert: cert.clone(),
            key_ref: key.key_ref,
        })?;
        Ok(cert)
    }

    /// Creates the time-stamping key and its certificate (EKU exactly
    /// id-kp-timeStamping, critical), issued by the CA.
    pub fn init_tsa(&self, suite: Suite, now: u64, validity_secs: u64) -> Result<(), CaError> {
        let ca = self.store.ca()?.ok_or(CaError::NoCa)?;
        let ca_key = self.open_ca_key(&ca)?;
        let label = "tsa";
        // In software even with a token: otaseal-tsa's authority signs
        // with a software key.
        let (wrapped, spki, key) = self.keys.master().generate_wrapped(label, suite)?;
        let cert = pki::issue_certificate(&CertRequest {
            subject_cn: "otaseal CSC time-stamping",
            profile: CertProfile::TimeStampingLeaf,
            not_before: now.saturating_sub(3600),
            not_after: now.saturating_add(validity_secs),
            subject_key: &key,
            issuer: Some((&*ca_key, &ca.cert)),
            serial: None,
        })
        .map_err(pki_err)?;
        self.store.put_tsa(&CaRow {
            label: label.into(),
            wrapped,
            spki,
            cert,
            key_ref: None,
        })?;
        Ok(())
    }

    /// The CA key, from the token or the software store, checked against
    /// the stored public key.
    fn open_ca_key(
        &self,
        ca: &CaRow,
    ) -> Result<std::sync::Arc<dyn otaseal_keys::KeySigner>, CaError> {
        let wrapped = ca.key_ref.is_none().then_some(ca.wrapped.as_slice());
        Ok(self
            .keys
            .open(&ca.label, wrapped, ca.key_ref.as_deref(), &ca.spki)?)
    }

    /// The CA certificate.
    pub fn certificate(&self) -> Result<Vec<u8>, CaError> {
        Ok(self.store.ca()?.ok_or(CaError::NoCa)?.cert)
    }

    /// Adds a credential and issues its first certificate.
    pub fn create_credential(&self, spec: &CredentialSpec, now: u64) -> Result<(), CaError> {
        let totp_wrapped = match &spec.totp_secret {
            Some(s) => Some(self.keys.master().wrap(&format!("totp:{}", spec.id), s)?),
            None => None,
        };
        self.store.insert_credential(&CredentialRow {
            id: spec.id.clone(),
            suite: spec.suite.name().to_string(),
            scal: spec.scal,
            pin_hash: spec.pin_hash.clone(),
            totp_wrapped,
            failed_attempts: 0,
            locked: false,
            subject_cn: spec.subject_cn.clone(),
            validity_secs: spec.validity_secs,
            renew_before_secs: spec.renew_before_secs,
            multisign: spec.multisign,
        })?;
        let cred = self
            .store
            .credential(&spec.id)?
            .ok_or_else(|| CaError::UnknownCredential(spec.id.clone()))?;
        self.issue_generation(&cred, now)?;
        Ok(())
    }

    /// A fresh key pair and certificate for `cred`, valid from `now`.
    pub fn issue_generation(&self, cred: &CredentialRow, now: u64) -> Result<String, CaError> {
        let suite = suite_of(&cred.suite)?;
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).map_err(|e| CaError::Pki(e.to_string()))?;
        let label = format!("{}:{}:{}", cred.id, now, hex(&nonce));
        let new = self.keys.generate(&label, suite)?;
        let (spki, key) = (new.spki.clone(), &*new.signer);
        let external = self.external.filter(|e| e.serves(&cred.id));
        let (cert, not_before, not_after, issuers) = match external {
            None => {
                let ca = self.store.ca()?.ok_or(CaError::NoCa)?;
                let ca_key = self.open_ca_key(&ca)?;
                let not_after = now.saturating_add(cred.validity_secs);
                let cert = pki::issue_certificate(&CertRequest {
                    subject_cn: &cred.subject_cn,
                    profile: CertProfile::CodeSigningLeaf,
                    not_before: now,
                    not_after,
                    subject_key: key,
                    issuer: Some((&*ca_key, &ca.cert)),
                    serial: None,
                })
                .map_err(|e| {
                    self.discard(&new);
                    pki_err(e)
                })?;
                (cert, now, not_after, None)
            }
            Some(ext) => {
                let subject = format!("CN={}", cred.subject_cn.replace(',', "\\,"));
                let csr = pki::build_csr(key, &subject).map_err(|e| {
                    self.discard(&new);
                    pki_err(e)
                })?;
                match ext.issue(&csr, &spki, now) {
                    Ok(chain) => (
                        chain.leaf,
                        chain.not_before,
                        chain.not_after,
                        Some(pki::certs_to_pem(&chain.issuers).into_bytes()),
                    ),
                    Err(e) => {
                        // Logged and recorded; the new key is dropped
                        // unstored (destroyed in the token) and the
                        // credential keeps its current certificate.
                        crate::service::log(
                            "error",
                            serde_json::json!({ "what": "external CA", "credential": cred.id,
                                "error": e.to_string() }),
                        );
                        audit::append(
                            self.store,
                            now,
                            &Event {
                                event: "issue",
                                client: "-",
                                credential: &cred.id,
                                result: "external_ca_error",
                                ..Event::default()
                            },
                        )?;
                        self.discard(&new);
                        return Err(CaError::External(e));
                    }
                }
            }
        };
        let serial = serial_hex(&cert).inspect_err(|_| self.discard(&new))?;
        // A failed insert is not followed by `discard`: the row may have
        // committed (a lost connection after COMMIT), and an orphaned token
        // key is harmless where a destroyed key that a row names is not.
        self.store.insert_generation(&GenerationRow {
            id: 0,
            credential_id: cred.id.clone(),
            label,
            wrapped: new.wrapped.clone(),
            key_ref: new.key_ref.clone(),
            spki,
            cert,
            serial: serial.clone(),
            not_before,
            not_after,
            issuers,
        })?;
        audit::append(
            self.store,
            now,
            &Event {
                event: "issue",
                client: "-",
                credential: &cred.id,
                serial: &serial,
                result: "ok",
                ..Event::default()
            },
        )?;
        Ok(serial)
    }

    /// Destroys a token key that will not be stored (its certificate could
    /// not be issued), so the token does not fill up with orphans.
    fn discard(&self, new: &crate::keystore::NewKey) {
        if let Some(r) = &new.key_ref
            && let Err(e) = self.keys.destroy(r)
        {
            crate::service::log(
                "error",
                serde_json::json!({ "what": "destroying an unused token key", "key": r,
                    "error": e.to_string() }),
            );
        }
    }

    /// One renewal pass at `now` over every credential.
    ///
    /// Several instances on one PostgreSQL database: the pass holds the
    /// store's renewal lock, so one instance renews at a time and the next
    /// one reads the new generations and finds nothing due.
    pub fn renew_due(&self, now: u64) -> Result<RenewalReport, CaError> {
        let _one_at_a_time = self.store.renewal_lock()?;
        let mut report = RenewalReport::default();
        for cred in self.store.credentials()? {
            let gens = self.store.generations(&cred.id)?;
            let due = match gens.last() {
                None => true,
                Some(g) => g.not_after.saturating_sub(cred.renew_before_secs) <= now,
            };
            if due {
                match self.issue_generation(&cred, now) {
                    Ok(serial) => report.renewed.push((cred.id.clone(), serial)),
                    // One credential's CA failing does not stop the others.
                    Err(e @ (CaError::External(_) | CaError::Pki(_))) => {
                        report.failed.push((cred.id.clone(), e.to_string()))
                    }
                    Err(e) => return Err(e),
                }
            }
            for g in gens.iter().filter(|g| g.not_after <= now && g.has_key()) {
                // Token objects first, then the row: a crash in between
                // leaves the row naming objects that are gone, and the next
                // pass destroys nothing and clears the row.
                if let Some(r) = &g.key_ref {
                    self.keys.destroy(r)?;
                }
                self.store.retire_key(g.id)?;
                audit::append(
                    self.store,
                    now,
                    &Event {
                        event: "retire",
                        credential: &cred.id,
                        serial: &g.serial,
                        result: "ok",
                        ..Event::default()
                    },
                )?;
                report.retired.push((cred.id.clone(), g.serial.clone()));
            }
        }
        Ok(report)
    }

    /// The generation to sign with at `now`: the newest whose certificate
    /// is valid (`notBefore <= now < notAfter`) and whose key exists.
    pub fn signing_generation(&self, credential: &str, now: u64) -> Result<GenerationRow, CaError> {
        self.store
            .generations(credential)?
            .into_iter()
            .rev()
            .find(|g| g.not_before <= now && now < g.not_after && g.has_key())
            .ok_or_else(|| CaError::NoValidCertificate(credential.into()))
    }
}

/// Suite by its `Suite::name`.
pub fn suite_of(name: &str) -> Result<Suite, CaError> {
    Suite::ALL
        .iter()
        .copied()
        .find(|s| s.name() == name)
        .ok_or_else(|| CaError::Pki(format!("unknown suite {name:?}")))
}

/// Re-encodes a certificate (sanity check that it parses).
pub fn check_certificate(der: &[u8]) -> Result<(), CaError> {
    let c = Certificate::from_der(der).map_err(pki_err)?;
    c.to_der().map(|_| ()).map_err(pki_err)
}
