//! The encrypted software key store and hash-only signing.
//!
//! Private keys are PKCS#8 documents (made by [`otaseal_sign::keys::SigningKey`])
//! wrapped with AES-256-GCM under a 32-byte master key read from a file; the
//! additional data binds each wrapped key to its label, so a wrapped key
//! copied to another row does not unwrap. Unwrapped key material lives in
//! [`Zeroizing`] buffers and in the RustCrypto key types (zeroized on drop)
//! only for the duration of one signing call.
//!
//! An unwrapped key is an [`otaseal_keys::KeySigner`] (the trait of every
//! otaseal key backend): what is signed is otaseal's per-suite prehash
//! ([`otaseal_keys::prehash`], `spec/csc-profile.md`), and the answer is the
//! COSE encoding (ECDSA / SM2 raw `r || s`, low S for ECDSA).
//!
//! With a PKCS#11 token configured ([`TokenKeys`]), [`KeyStore`] generates
//! the keys of the suites the token offers (ECDSA P-256/P-384, RSA-PSS-3072)
//! inside it, sensitive and not extractable; only a reference (a PKCS#11
//! URI without PIN) is stored. SM2 and ML-DSA keys, which PKCS#11 tokens
//! cannot make (or sign from a hash with), stay in the software store.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use otaseal_keys::pkcs11::{self, PinPolicy, Pkcs11Config, Pkcs11Error, Pkcs11Signer, Pkcs11Uri};
use otaseal_keys::{KeyError, KeySigner};
use otaseal_manifest::Suite;
use otaseal_sign::keys::{RSA_PSS_SHA256_ALG_ID, SigningKey};
use zeroize::Zeroizing;

/// otaseal's hash-only profile, shared with every key backend.
pub use otaseal_keys::prehash;

/// Errors of the key store.
#[derive(Debug)]
#[non_exhaustive]
pub enum KeyStoreError {
    /// The master key file is missing, unreadable or not 64 hex digits.
    MasterKey(String),
    /// A wrapped key did not decrypt (wrong master key, edited or moved row).
    Unwrap,
    /// A key operation failed.
    Key(KeyError),
    /// The prehash has the wrong length for the suite.
    PrehashLength {
        /// Suite.
        suite: Suite,
        /// Expected bytes.
        expected: usize,
        /// Received bytes.
        got: usize,
    },
    /// The suite cannot be signed from a hash (Ed25519).
    Unsupported(Suite),
    /// Signing failed.
    Crypto(String),
    /// The key in the token is not the key the store recorded for it (the
    /// token object was replaced): nothing is signed with it.
    KeyMismatch(String),
    /// A key lives in a PKCS#11 token but the configuration has no
    /// `pkcs11` section.
    NoToken(String),
}

impl fmt::Display for KeyStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyStoreError::MasterKey(m) => write!(f, "master key: {m}"),
            KeyStoreError::Unwrap => write!(
                f,
                "a wrapped key does not decrypt under this master key (wrong key file or edited store)"
            ),
            KeyStoreError::Key(e) => write!(f, "key: {e}"),
            KeyStoreError::PrehashLength {
                suite,
                expected,
                got,
            } => write!(
                f,
                "{} needs a {expected}-byte hash, got {got} bytes",
                suite.name()
            ),
            KeyStoreError::Unsupported(s) => write!(
                f,
                "{} cannot be signed from a hash (CSC is hash-only); use another suite",
                s.name()
            ),
            KeyStoreError::Crypto(m) => write!(f, "signing failed: {m}"),
            KeyStoreError::KeyMismatch(key) => write!(
                f,
                "the key {key} does not match the public key stored for it (replaced or swapped \
                 token object); refusing to use it"
            ),
            KeyStoreError::NoToken(key) => write!(
                f,
                "the key {key} is in a PKCS#11 token, but the configuration has no pkcs11 section"
            ),
        }
    }
}

impl std::error::Error for KeyStoreError {}

impl From<KeyError> for KeyStoreError {
    fn from(e: KeyError) -> Self {
        KeyStoreError::Key(e)
    }
}

impl From<Pkcs11Error> for KeyStoreError {
    fn from(e: Pkcs11Error) -> Self {
        KeyStoreError::Key(KeyError::Pkcs11(e))
    }
}

fn crypto(e: impl fmt::Display) -> KeyStoreError {
    KeyStoreError::Crypto(e.to_string())
}

/// Length of the prehash of `suite` (`None`: not signable from a hash).
pub fn prehash_len(suite: Suite) -> Option<usize> {
    match suite {
        Suite::EcdsaP256 | Suite::RsaPss3072 | Suite::Sm2 => Some(32),
        Suite::EcdsaP384 => Some(48),
        Suite::MlDsa44 | Suite::MlDsa65 | Suite::MlDsa87 => Some(64),
        Suite::Ed25519 => None,
    }
}

/// Lower-case hex.
pub fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

/// Decodes hex (either case).
pub fn hex_decode(text: &str) -> Result<Vec<u8>, String> {
    let t = text.trim();
    if !t.len().is_multiple_of(2) {
        return Err("odd number of hex digits".into());
    }
    (0..t.len())
        .step_by(2)
        .map(|i| {
            t.get(i..i + 2)
                .and_then(|d| u8::from_str_radix(d, 16).ok())
                .ok_or_else(|| "not hex".to_string())
        })
        .collect()
}

/// The 32-byte key that wraps every private key of the store.
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// A new random master key.
    pub fn generate() -> Result<MasterKey, KeyStoreError> {
        let mut k = Zeroizing::new([0u8; 32]);
        getrandom::fill(k.as_mut()).map_err(crypto)?;
        Ok(MasterKey(k))
    }

    /// Reads 64 hex digits from `path`.
    pub fn load(path: &Path) -> Result<MasterKey, KeyStoreError> {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| KeyStoreError::MasterKey(format!("{}: {e}", path.display())))?,
        );
        let bytes = Zeroizing::new(hex_decode(&text).map_err(|e| {
            KeyStoreError::MasterKey(format!("{}: {e} (expected 64 hex digits)", path.display()))
        })?);
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            KeyStoreError::MasterKey(format!("{}: expected 64 hex digits", path.display()))
        })?;
        Ok(MasterKey(Zeroizing::new(key)))
    }

    /// Writes the key as hex to a new file with mode 0600.
    pub fn write_new(&self, path: &Path) -> Result<(), KeyStoreError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let text = Zeroizing::new(format!("{}\n", hex(self.0.as_ref())));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| KeyStoreError::MasterKey(format!("{}: {e}", path.display())))?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| KeyStoreError::MasterKey(format!("{}: {e}", path.display())))
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new((&*self.0).into())
    }

    /// Wraps `pkcs8` for `label`: `nonce (12) || ciphertext || tag`.
    pub fn wrap(&self, label: &str, pkcs8: &[u8]) -> Result<Vec<u8>, KeyStoreError> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(crypto)?;
        let aad = aad(label);
        let ct = self
            .cipher()
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: pkcs8,
                    aad: &aad,
                },
            )
            .map_err(|_| KeyStoreError::Crypto("AES-GCM encryption".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Unwraps what [`MasterKey::wrap`] made for `label`.
    pub fn unwrap_key(
        &self,
        label: &str,
        wrapped: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
        if wrapped.len() < 12 + 16 {
            return Err(KeyStoreError::Unwrap);
        }
        let (nonce, ct) = wrapped.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| KeyStoreError::Unwrap)?;
        let aad = aad(label);
        self.cipher()
            .decrypt(&Nonce::from(nonce), Payload { msg: ct, aad: &aad })
            .map(Zeroizing::new)
            .map_err(|_| KeyStoreError::Unwrap)
    }

    /// Generates a key of `suite` and returns `(wrapped PKCS#8, SPKI DER)`.
    pub fn generate_wrapped(
        &self,
        label: &str,
        suite: Suite,
    ) -> Result<(Vec<u8>, Vec<u8>, SigningKey), KeyStoreError> {
        let key = SigningKey::generate(suite)?;
        let pkcs8 = key.to_pkcs8_der()?;
        Ok((self.wrap(label, &pkcs8)?, key.public_spki_der(), key))
    }
}

fn aad(label: &str) -> Vec<u8> {
    format!("otaseal-csc wrapped key v1\0{label}").into_bytes()
}

/// A key unwrapped from the store for one signing call (the key types
/// zeroize their secrets on drop).
pub struct SoftKey {
    key: SigningKey,
}

impl fmt::Debug for SoftKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftKey")
            .field("suite", &self.key.suite().name())
            .finish_non_exhaustive()
    }
}

impl SoftKey {
    /// Unwraps `wrapped` (made for `label`) and checks it against `spki`.
    pub fn open(
        master: &MasterKey,
        label: &str,
        wrapped: &[u8],
        spki: &[u8],
    ) -> Result<SoftKey, KeyStoreError> {
        let pkcs8 = master.unwrap_key(label, wrapped)?;
        let key = SigningKey::from_pkcs8_der(&pkcs8)?;
        if key.public_spki_der() != spki {
            return Err(KeyStoreError::Unwrap);
        }
        Ok(SoftKey { key })
    }

    /// The full key (for X.509 signing by the issuing CA).
    pub fn signing_key(self) -> Result<SigningKey, KeyStoreError> {
        Ok(self.key)
    }
}

/// Hash-only signing with the length checked per suite first (a service
/// takes hashes from the network).
impl KeySigner for SoftKey {
    fn suite(&self) -> Suite {
        self.key.suite()
    }

    fn public_spki_der(&self) -> Vec<u8> {
        self.key.public_spki_der()
    }

    fn sign_prehash(&self, h: &[u8]) -> Result<Vec<u8>, KeyError> {
        let suite = self.key.suite();
        let expected = prehash_len(suite)
            .ok_or_else(|| KeyError::Unsupported(KeyStoreError::Unsupported(suite).to_string()))?;
        if h.len() != expected {
            return Err(KeyError::Crypto(
                KeyStoreError::PrehashLength {
                    suite,
                    expected,
                    got: h.len(),
                }
                .to_string(),
            ));
        }
        self.key.sign_prehash(h)
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.key.sign(message)
    }

    fn describe(&self) -> String {
        format!(
            "{} key of the CSC software key store",
            self.key.suite().name()
        )
    }
}

/// The service's PKCS#11 token: where keys of the suites it offers are
/// generated, and the signers opened from it (cached per key: opening finds
/// the objects, reads the public key and lists the mechanisms).
pub struct TokenKeys {
    /// Token label, module and PIN file; never a PIN itself.
    uri: Pkcs11Uri,
    config: Pkcs11Config,
    signers: Mutex<HashMap<String, Arc<Pkcs11Signer>>>,
}

impl fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKeys")
            .field("token", &self.uri.token)
            .field("module", &self.config.module)
            .finish_non_exhaustive()
    }
}

/// Whether a token is asked to generate keys of `suite`: the suites a
/// PKCS#11 token can both make and sign from a hash. SM2 has no standard
/// mechanism, and ML-DSA in a token signs whole messages only (the CSC
/// profile sends External-mu), so those stay in the software store.
pub fn token_suite(suite: Suite) -> bool {
    matches!(
        suite,
        Suite::EcdsaP256 | Suite::EcdsaP384 | Suite::RsaPss3072
    )
}

impl TokenKeys {
    /// The token labelled `token` in `module` (`None`: the
    /// `OTASEAL_PKCS11_MODULE` variable); the user PIN from `pin_file`, or
    /// else from `OTASEAL_PKCS11_PIN`. Never prompts (a service has no
    /// terminal). Nothing is opened until the first key is needed.
    pub fn new(module: Option<PathBuf>, token: &str, pin_file: Option<PathBuf>) -> TokenKeys {
        TokenKeys {
            uri: Pkcs11Uri {
                token: Some(token.to_string()),
                pin_source: pin_file,
                ..Default::default()
            },
            config: Pkcs11Config {
                module,
                pin: PinPolicy {
                    env: true,
                    prompt: false,
                },
                sm2_mechanism: None,
            },
            signers: Mutex::new(HashMap::new()),
        }
    }

    /// The token label.
    pub fn token(&self) -> &str {
        self.uri.token.as_deref().unwrap_or_default()
    }

    /// `key_ref` (a stored URI without module or PIN) with this token's
    /// module and PIN source.
    fn full_uri(&self, key_ref: &str) -> Result<Pkcs11Uri, KeyStoreError> {
        let mut uri = Pkcs11Uri::parse(key_ref).map_err(Pkcs11Error::Uri)?;
        if uri.id.is_none() {
            return Err(KeyStoreError::Crypto(format!(
                "stored key reference {key_ref} has no id="
            )));
        }
        uri.pin_source = self.uri.pin_source.clone();
        uri.pin_value = None;
        Ok(uri)
    }

    /// Generates a key pair of `suite` in the token, named after `label`
    /// (plus a random suffix, so a second service on the same token never
    /// collides). Returns `None` when the token does not offer the suite:
    /// the caller falls back to the software store. Any other failure
    /// (token missing, wrong PIN) is an error: keys are not quietly put in
    /// software when the token is misconfigured.
    pub fn generate(
        &self,
        label: &str,
        suite: Suite,
    ) -> Result<Option<(String, Arc<Pkcs11Signer>)>, KeyStoreError> {
        if !token_suite(suite) {
            return Ok(None);
        }
        let mut nonce = [0u8; 4];
        getrandom::fill(&mut nonce).map_err(crypto)?;
        let uri = Pkcs11Uri {
            object: Some(format!("otaseal-csc/{label}/{}", hex(&nonce))),
            ..self.uri.clone()
        };
        let signer = match pkcs11::generate(&uri, &self.config, suite) {
            Ok(s) => s,
            Err(Pkcs11Error::MechanismMissing { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        // describe() is the token/object/id URI, without module or PIN.
        let key_ref = signer.describe();
        let signer = Arc::new(signer);
        self.signers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key_ref.clone(), signer.clone());
        Ok(Some((key_ref, signer)))
    }

    /// Opens the key `key_ref` and checks that its public key is `spki`
    /// (a replaced token object is refused, as a wrong unwrap is).
    pub fn open(&self, key_ref: &str, spki: &[u8]) -> Result<Arc<Pkcs11Signer>, KeyStoreError> {
        let mut cache = self.signers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = cache.get(key_ref)
            && s.public_spki_der() == spki
        {
            return Ok(s.clone());
        }
        let uri = self.full_uri(key_ref)?;
        let signer = Pkcs11Signer::open(&uri, &self.config, None)?;
        if signer.public_spki_der() != spki {
            cache.remove(key_ref);
            return Err(KeyStoreError::KeyMismatch(key_ref.to_string()));
        }
        let signer = Arc::new(signer);
        cache.insert(key_ref.to_string(), signer.clone());
        Ok(signer)
    }

    /// Destroys the key pair `key_ref` in the token; returns how many
    /// objects went (0: already gone).
    pub fn destroy(&self, key_ref: &str) -> Result<usize, KeyStoreError> {
        let uri = self.full_uri(key_ref)?;
        self.signers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key_ref);
        Ok(pkcs11::destroy(&uri, &self.config)?)
    }
}

/// A key just generated by [`KeyStore::generate`].
pub struct NewKey {
    /// The wrapped PKCS#8 (software store), `None` for a token key.
    pub wrapped: Option<Vec<u8>>,
    /// The token key's URI (token, object label, id; no module, no PIN),
    /// `None` for a software key.
    pub key_ref: Option<String>,
    /// SubjectPublicKeyInfo DER.
    pub spki: Vec<u8>,
    /// The key, for the certificate request.
    pub signer: Arc<dyn KeySigner>,
}

impl fmt::Debug for NewKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewKey")
            .field("key_ref", &self.key_ref)
            .finish_non_exhaustive()
    }
}

/// Where the service's keys live: the encrypted software store, and a
/// PKCS#11 token for the suites it offers when one is configured.
#[derive(Debug)]
pub struct KeyStore {
    master: MasterKey,
    token: Option<TokenKeys>,
}

impl KeyStore {
    /// Software store only.
    pub fn software(master: MasterKey) -> KeyStore {
        KeyStore {
            master,
            token: None,
        }
    }

    /// Software store plus a token.
    pub fn with_token(master: MasterKey, token: TokenKeys) -> KeyStore {
        KeyStore {
            master,
            token: Some(token),
        }
    }

    /// Adds (or replaces) the token.
    pub fn set_token(&mut self, token: TokenKeys) {
        self.token = Some(token);
    }

    /// The master key (wraps software keys and TOTP secrets).
    pub fn master(&self) -> &MasterKey {
        &self.master
    }

    /// The token, when configured.
    pub fn token(&self) -> Option<&TokenKeys> {
        self.token.as_ref()
    }

    /// A new key of `suite` for `label`: in the token when one is
    /// configured and offers the suite, else wrapped in software.
    pub fn generate(&self, label: &str, suite: Suite) -> Result<NewKey, KeyStoreError> {
        if let Some(t) = &self.token
            && let Some((key_ref, signer)) = t.generate(label, suite)?
        {
            return Ok(NewKey {
                wrapped: None,
                key_ref: Some(key_ref),
                spki: signer.public_spki_der(),
                signer,
            });
        }
        let (wrapped, spki, key) = self.master.generate_wrapped(label, suite)?;
        Ok(NewKey {
            wrapped: Some(wrapped),
            key_ref: None,
            spki,
            signer: Arc::new(key),
        })
    }

    /// Opens a stored key: the token key `key_ref` when set, else the
    /// software key `wrapped` for `label`; either way checked against
    /// `spki` before it signs anything.
    pub fn open(
        &self,
        label: &str,
        wrapped: Option<&[u8]>,
        key_ref: Option<&str>,
        spki: &[u8],
    ) -> Result<Arc<dyn KeySigner>, KeyStoreError> {
        match (key_ref, wrapped) {
            (Some(r), _) => {
                let t = self
                    .token
                    .as_ref()
                    .ok_or_else(|| KeyStoreError::NoToken(r.to_string()))?;
                Ok(t.open(r, spki)?)
            }
            (None, Some(w)) => Ok(Arc::new(SoftKey::open(&self.master, label, w, spki)?)),
            (None, None) => Err(KeyStoreError::Crypto(format!(
                "key {label} was destroyed (retired)"
            ))),
        }
    }

    /// Destroys a token key (software keys are destroyed by clearing their
    /// row). Returns how many token objects went.
    pub fn destroy(&self, key_ref: &str) -> Result<usize, KeyStoreError> {
        let t = self
            .token
            .as_ref()
            .ok_or_else(|| KeyStoreError::NoToken(key_ref.to_string()))?;
        t.destroy(key_ref)
    }
}

/// The DER `RSASSA-PSS-params` otaseal signs with (SHA-256, MGF1-SHA-256,
/// salt 32): what a client sends as `signAlgoParams`.
pub fn rsa_pss_params_der() -> &'static [u8] {
    // RSA_PSS_SHA256_ALG_ID = SEQUENCE { OID (11 bytes with tag/len), params }.
    &RSA_PSS_SHA256_ALG_ID[13..]
}

/// Converts a raw `r || s` ECDSA / SM2 signature to DER `SEQUENCE { r, s }`.
pub fn raw_to_der(suite: Suite, raw: &[u8]) -> Result<Vec<u8>, KeyStoreError> {
    Ok(match suite {
        Suite::EcdsaP256 => p256::ecdsa::Signature::from_slice(raw)
            .map_err(crypto)?
            .to_der()
            .as_bytes()
            .to_vec(),
        Suite::EcdsaP384 => p384::ecdsa::Signature::from_slice(raw)
            .map_err(crypto)?
            .to_der()
            .as_bytes()
            .to_vec(),
        Suite::Sm2 => sm2::dsa::Signature::from_slice(raw)
            .map_err(crypto)?
            .to_der()
            .to_vec(),
        _ => raw.to_vec(),
    })
}

/// Accepts a DER or raw `r || s` ECDSA / SM2 signature and returns raw
/// `r || s` (low S for ECDSA); other suites pass through.
pub fn normalize_signature(suite: Suite, sig: &[u8]) -> Result<Vec<u8>, KeyStoreError> {
    let bad = |e: signature::Error| KeyStoreError::Crypto(format!("signature encoding: {e}"));
    Ok(match suite {
        Suite::EcdsaP256 => {
            let s = if sig.len() == 64 {
                p256::ecdsa::Signature::from_slice(sig).map_err(bad)?
            } else {
                p256::ecdsa::Signature::from_der(sig).map_err(bad)?
            };
            s.normalize_s().to_bytes().to_vec()
        }
        Suite::EcdsaP384 => {
            let s = if sig.len() == 96 {
                p384::ecdsa::Signature::from_slice(sig).map_err(bad)?
            } else {
                p384::ecdsa::Signature::from_der(sig).map_err(bad)?
            };
            s.normalize_s().to_bytes().to_vec()
        }
        Suite::Sm2 => {
            let s = if sig.len() == 64 {
                sm2::dsa::Signature::from_slice(sig).map_err(bad)?
            } else {
                sm2::dsa::Signature::from_der(sig).map_err(bad)?
            };
            s.to_bytes().to_vec()
        }
        _ => sig.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_hash_signable_suite_round_trips_through_the_store() {
        let master = MasterKey::generate().unwrap();
        for suite in [
            Suite::EcdsaP256,
            Suite::EcdsaP384,
            Suite::Sm2,
            Suite::MlDsa65,
            Suite::RsaPss3072,
        ] {
            let (wrapped, spki, _) = master.generate_wrapped("k1", suite).unwrap();
            let key = SoftKey::open(&master, "k1", &wrapped, &spki).unwrap();
            let msg = b"Sig_structure bytes";
            let h = prehash(suite, &spki, msg).unwrap();
            let sig = key.sign_prehash(&h).unwrap();
            otaseal_verify::crypto::verify_signature(suite, &spki, msg, &sig)
                .unwrap_or_else(|e| panic!("{}: {e:?}", suite.name()));
            let der = raw_to_der(suite, &sig).unwrap();
            assert_eq!(normalize_signature(suite, &der).unwrap(), sig);
            // Bound to its label: the same bytes under another label fail.
            assert!(matches!(
                SoftKey::open(&master, "k2", &wrapped, &spki),
                Err(KeyStoreError::Unwrap)
            ));
        }
        assert!(matches!(
            prehash(Suite::Ed25519, &[], b"m"),
            Err(KeyError::Unsupported(_))
        ));
        // The store checks the hash length before the key sees it.
        let (wrapped, spki, _) = master.generate_wrapped("k3", Suite::Sm2).unwrap();
        let key = SoftKey::open(&master, "k3", &wrapped, &spki).unwrap();
        assert!(key.sign_prehash(&[0u8; 31]).is_err());
    }

    #[test]
    fn another_master_key_does_not_unwrap() {
        let a = MasterKey::generate().unwrap();
        let b = MasterKey::generate().unwrap();
        let (wrapped, spki, _) = a.generate_wrapped("k", Suite::EcdsaP256).unwrap();
        assert!(matches!(
            SoftKey::open(&b, "k", &wrapped, &spki),
            Err(KeyStoreError::Unwrap)
        ));
    }
}
