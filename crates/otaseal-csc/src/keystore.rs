//! The encrypted software key store and hash-only signing.
//!
//! Private keys are PKCS#8 documents (made by [`otaseal_sign::keys::SigningKey`])
//! wrapped with AES-256-GCM under a 32-byte master key read from a file; the
//! additional data binds each wrapped key to its label, so a wrapped key
//! copied to another row does not unwrap. Unwrapped key material lives in
//! [`Zeroizing`] buffers and in the RustCrypto key types (zeroized on drop)
//! only for the duration of one signing call.
//!
//! [`HashSigner`] has the shape of the shared `KeySigner::sign_prehash`
//! (see the key-backend design): what is signed is otaseal's per-suite
//! prehash ([`prehash`], `spec/csc-profile.md`), and the answer is the COSE
//! encoding (ECDSA / SM2 raw `r || s` with low S for ECDSA).

use std::fmt;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use der::Decode;
use digest::{Digest, ExtendableOutput, Update, XofReader};
use getrandom::SysRng;
use otaseal_manifest::Suite;
use otaseal_sign::keys::{KeyError, RSA_PSS_SHA256_ALG_ID, SM2_DISTID, SigningKey};
use pkcs8::PrivateKeyInfoRef;
use signature::hazmat::{PrehashSigner, RandomizedPrehashSigner};
use spki::SubjectPublicKeyInfoRef;
use zeroize::Zeroizing;

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
        }
    }
}

impl std::error::Error for KeyStoreError {}

impl From<KeyError> for KeyStoreError {
    fn from(e: KeyError) -> Self {
        KeyStoreError::Key(e)
    }
}

fn crypto(e: impl fmt::Display) -> KeyStoreError {
    KeyStoreError::Crypto(e.to_string())
}

/// A private key that signs otaseal's per-suite prehash (the shape of the
/// shared `KeySigner`).
pub trait HashSigner: Send + Sync {
    /// The suite.
    fn suite(&self) -> Suite;
    /// SubjectPublicKeyInfo DER.
    fn public_spki_der(&self) -> Vec<u8>;
    /// Signs [`prehash`]`(suite, spki, message)`; COSE encoding.
    fn sign_prehash(&self, prehash: &[u8]) -> Result<Vec<u8>, KeyStoreError>;
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

/// What [`HashSigner::sign_prehash`] expects for `message`:
/// SHA-256 (P-256, RSA-PSS), SHA-384 (P-384), `SM3(Z || M)` with the
/// default distinguishing id (SM2), the FIPS 204 External-mu with an empty
/// context (ML-DSA). Ed25519 is refused.
pub fn prehash(suite: Suite, spki_der: &[u8], message: &[u8]) -> Result<Vec<u8>, KeyStoreError> {
    Ok(match suite {
        Suite::EcdsaP256 | Suite::RsaPss3072 => sha2::Sha256::digest(message).to_vec(),
        Suite::EcdsaP384 => sha2::Sha384::digest(message).to_vec(),
        Suite::Sm2 => {
            let point = spki_bits(spki_der)?;
            let z = sm2_z(&point)?;
            let mut h = sm3::Sm3::new();
            Digest::update(&mut h, z);
            Digest::update(&mut h, message);
            h.finalize().to_vec()
        }
        Suite::MlDsa44 | Suite::MlDsa65 | Suite::MlDsa87 => {
            let pk = spki_bits(spki_der)?;
            let mut tr = [0u8; 64];
            let mut x = shake::Shake256::default();
            x.update(&pk);
            x.finalize_xof().read(&mut tr);
            let mut mu = vec![0u8; 64];
            let mut x = shake::Shake256::default();
            x.update(&tr);
            // M' = 0x00 (pure) || len(ctx) = 0 || M.
            x.update(&[0, 0]);
            x.update(message);
            x.finalize_xof().read(&mut mu);
            mu
        }
        Suite::Ed25519 => return Err(KeyStoreError::Unsupported(suite)),
    })
}

fn spki_bits(spki_der: &[u8]) -> Result<Vec<u8>, KeyStoreError> {
    let spki = SubjectPublicKeyInfoRef::from_der(spki_der)
        .map_err(|e| KeyStoreError::Crypto(format!("public key: {e}")))?;
    Ok(spki.subject_public_key.raw_bytes().to_vec())
}

/// `Z = SM3(ENTL || ID || a || b || xG || yG || xA || yA)` (GB/T 32918.2).
fn sm2_z(point: &[u8]) -> Result<[u8; 32], KeyStoreError> {
    const A: &str = "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC";
    const B: &str = "28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93";
    const XG: &str = "32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7";
    const YG: &str = "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0";
    if point.len() != 65 || point[0] != 0x04 {
        return Err(KeyStoreError::Crypto(
            "SM2 public key must be an uncompressed point".into(),
        ));
    }
    let id = SM2_DISTID.as_bytes();
    let entl = u16::try_from(id.len() * 8).map_err(crypto)?;
    let mut h = sm3::Sm3::new();
    Digest::update(&mut h, entl.to_be_bytes());
    Digest::update(&mut h, id);
    for c in [A, B, XG, YG] {
        Digest::update(&mut h, hex_decode(c).map_err(KeyStoreError::Crypto)?);
    }
    Digest::update(&mut h, &point[1..]);
    Ok(h.finalize().into())
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

/// A key unwrapped from the store for one signing call.
pub struct SoftKey {
    suite: Suite,
    spki: Vec<u8>,
    pkcs8: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for SoftKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftKey")
            .field("suite", &self.suite.name())
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
        Ok(SoftKey {
            suite: key.suite(),
            spki: spki.to_vec(),
            pkcs8,
        })
    }

    /// The full key (for X.509 signing by the issuing CA).
    pub fn signing_key(&self) -> Result<SigningKey, KeyStoreError> {
        Ok(SigningKey::from_pkcs8_der(&self.pkcs8)?)
    }

    fn info(&self) -> Result<PrivateKeyInfoRef<'_>, KeyStoreError> {
        PrivateKeyInfoRef::from_der(&self.pkcs8).map_err(crypto)
    }
}

fn ml_dsa_seed(choice: &[u8]) -> Result<Zeroizing<[u8; 32]>, KeyStoreError> {
    // otaseal writes ML-DSA keys in the seed form: [0] IMPLICIT OCTET STRING (32).
    match choice {
        [0x80, 0x20, seed @ ..] if seed.len() == 32 => {
            let mut s = Zeroizing::new([0u8; 32]);
            s.copy_from_slice(seed);
            Ok(s)
        }
        _ => Err(KeyStoreError::Crypto(
            "ML-DSA key is not in the seed form".into(),
        )),
    }
}

fn ml_dsa_sign<P: ml_dsa::MlDsaParams>(choice: &[u8], mu: &[u8]) -> Result<Vec<u8>, KeyStoreError> {
    let seed = ml_dsa_seed(choice)?;
    let seed_arr = ml_dsa::B32::from(*seed);
    let key = ml_dsa::SigningKey::<P>::from_seed(&seed_arr);
    let mu: [u8; 64] = mu.try_into().map_err(crypto)?;
    let mu = mu.into();
    let sig = key
        .expanded_key()
        .sign_mu_randomized(&mu, &mut SysRng)
        .map_err(crypto)?;
    Ok(sig.encode().to_vec())
}

impl HashSigner for SoftKey {
    fn suite(&self) -> Suite {
        self.suite
    }

    fn public_spki_der(&self) -> Vec<u8> {
        self.spki.clone()
    }

    fn sign_prehash(&self, h: &[u8]) -> Result<Vec<u8>, KeyStoreError> {
        let suite = self.suite;
        let expected = prehash_len(suite).ok_or(KeyStoreError::Unsupported(suite))?;
        if h.len() != expected {
            return Err(KeyStoreError::PrehashLength {
                suite,
                expected,
                got: h.len(),
            });
        }
        let info = self.info()?;
        Ok(match suite {
            Suite::EcdsaP256 => {
                let k = p256::ecdsa::SigningKey::try_from(info).map_err(crypto)?;
                let s: p256::ecdsa::Signature = k.sign_prehash(h).map_err(crypto)?;
                s.normalize_s().to_bytes().to_vec()
            }
            Suite::EcdsaP384 => {
                let k = p384::ecdsa::SigningKey::try_from(info).map_err(crypto)?;
                let s: p384::ecdsa::Signature = k.sign_prehash(h).map_err(crypto)?;
                s.normalize_s().to_bytes().to_vec()
            }
            Suite::Sm2 => {
                let sk = sm2::SecretKey::try_from(info).map_err(crypto)?;
                let k = sm2::dsa::SigningKey::new(SM2_DISTID, &sk).map_err(crypto)?;
                let s: sm2::dsa::Signature = k.sign_prehash(h).map_err(crypto)?;
                s.to_bytes().to_vec()
            }
            Suite::RsaPss3072 => {
                let key = rsa::PrivateKey::try_from(info).map_err(crypto)?;
                let k = rsa::pss::SigningKey::<sha2::Sha256>::new_with_salt_len(key, 32);
                let s = k.sign_prehash_with_rng(&mut SysRng, h).map_err(crypto)?;
                Box::<[u8]>::from(s).to_vec()
            }
            Suite::MlDsa44 => ml_dsa_sign::<ml_dsa::MlDsa44>(info.private_key.as_bytes(), h)?,
            Suite::MlDsa65 => ml_dsa_sign::<ml_dsa::MlDsa65>(info.private_key.as_bytes(), h)?,
            Suite::MlDsa87 => ml_dsa_sign::<ml_dsa::MlDsa87>(info.private_key.as_bytes(), h)?,
            Suite::Ed25519 => return Err(KeyStoreError::Unsupported(suite)),
        })
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
            Err(KeyStoreError::Unsupported(_))
        ));
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
