//! The file backend: private signing keys for every [`Suite`] held in
//! memory (generation, PKCS#8 / PEM import and export, and signing in the
//! COSE and X.509 encodings, whole-message and hash-only).
//!
//! Keys are stored in the RustCrypto types of each algorithm; their secret
//! material is zeroized on drop (ECDSA, Ed25519, RSA and ML-DSA by the crates
//! themselves, SM2 as an `elliptic_curve::SecretKey`). PEM and DER buffers
//! holding private keys are [`Zeroizing`].
//!
//! Accepted private key forms:
//! - PKCS#8 `PRIVATE KEY` for every suite (what `openssl genpkey` writes),
//!   SEC1 `EC PRIVATE KEY` for P-256, P-384 and SM2 (OpenSSL labels SEC1 SM2
//!   keys `SM2 PRIVATE KEY`), PKCS#1 `RSA PRIVATE KEY`;
//! - ML-DSA keys in the RFC 9881 form: the privateKey OCTET STRING holds the
//!   CHOICE `seed [0] IMPLICIT OCTET STRING (SIZE (32))`, `expandedKey OCTET
//!   STRING` or `both SEQUENCE { seed, expandedKey }` (checked to agree). Keys
//!   are written in the seed form.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use der::asn1::{ObjectIdentifier, OctetStringRef};
use der::pem::LineEnding;
use der::{Decode, Encode};
use getrandom::SysRng;
use otaseal_manifest::Suite;
use pkcs8::{EncodePrivateKey, PrivateKeyInfoRef};
use sha2::{Digest, Sha256};
use signature::{Keypair, SignatureEncoding, Signer};
use spki::{EncodePublicKey, SubjectPublicKeyInfoRef};
use zeroize::{Zeroize, Zeroizing};

use crate::{KeyError, KeySigner};

/// SM2 distinguishing identifier used for every SM2 signature (GM/T 0009 default).
pub const SM2_DISTID: &str = "1234567812345678";

/// Required RSA modulus size in bits.
pub const RSA_BITS: usize = 3072;

/// Object identifiers used by this module.
pub mod oids {
    use der::asn1::ObjectIdentifier as Oid;

    /// id-ecPublicKey.
    pub const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
    /// secp256r1 / P-256.
    pub const SECP256R1: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
    /// secp384r1 / P-384.
    pub const SECP384R1: Oid = Oid::new_unwrap("1.3.132.0.34");
    /// sm2p256v1 (also seen as a key algorithm OID in older tools).
    pub const SM2P256V1: Oid = Oid::new_unwrap("1.2.156.10197.1.301");
    /// id-Ed25519.
    pub const ED25519: Oid = Oid::new_unwrap("1.3.101.112");
    /// rsaEncryption.
    pub const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
    /// id-RSASSA-PSS.
    pub const RSASSA_PSS: Oid = Oid::new_unwrap("1.2.840.113549.1.1.10");
    /// id-ml-dsa-44.
    pub const ML_DSA_44: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.3.17");
    /// id-ml-dsa-65.
    pub const ML_DSA_65: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.3.18");
    /// id-ml-dsa-87.
    pub const ML_DSA_87: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.3.19");
    /// ecdsa-with-SHA256.
    pub const ECDSA_WITH_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
    /// ecdsa-with-SHA384.
    pub const ECDSA_WITH_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");
    /// SM2-with-SM3.
    pub const SM2_WITH_SM3: Oid = Oid::new_unwrap("1.2.156.10197.1.501");
}

/// DER `AlgorithmIdentifier` of RSASSA-PSS with SHA-256, MGF1-SHA-256, salt
/// length 32 and trailer field 1 (default, omitted), hash parameters NULL.
pub const RSA_PSS_SHA256_ALG_ID: [u8; 67] = [
    0x30, 0x41, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a, 0x30, 0x34, 0xa0,
    0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00,
    0xa1, 0x1c, 0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08, 0x30,
    0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0xa2, 0x03,
    0x02, 0x01, 0x20,
];

fn malformed(what: &str, e: impl fmt::Display) -> KeyError {
    KeyError::Malformed(format!("{what}: {e}"))
}

fn pk8_err(what: &'static str) -> impl Fn(pkcs8::Error) -> KeyError {
    move |e| malformed(what, e)
}

fn crypto(e: impl fmt::Display) -> KeyError {
    KeyError::Crypto(e.to_string())
}

/// An ML-DSA private key: from a seed (normal) or from an expanded key only.
enum MlDsaKey<P: ml_dsa::MlDsaParams> {
    Seed(Box<ml_dsa::SigningKey<P>>),
    Expanded(Box<ml_dsa::ExpandedSigningKey<P>>),
}

impl<P> MlDsaKey<P>
where
    P: ml_dsa::MlDsaParams + spki::AssociatedAlgorithmIdentifier<Params = der::AnyRef<'static>>,
{
    fn expanded(&self) -> &ml_dsa::ExpandedSigningKey<P> {
        match self {
            MlDsaKey::Seed(k) => k.expanded_key(),
            MlDsaKey::Expanded(k) => k,
        }
    }

    fn verifying_key(&self) -> ml_dsa::VerifyingKey<P> {
        match self {
            MlDsaKey::Seed(k) => k.verifying_key(),
            MlDsaKey::Expanded(k) => k.verifying_key(),
        }
    }

    /// FIPS 204 ML-DSA.Sign, hedged, with the empty context string.
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, KeyError> {
        let sig = self
            .expanded()
            .sign_randomized(msg, b"", &mut SysRng)
            .map_err(crypto)?;
        Ok(sig.encode().to_vec())
    }

    /// FIPS 204 ML-DSA.Sign with an externally computed mu, hedged.
    fn sign_mu(&self, mu: &[u8]) -> Result<Vec<u8>, KeyError> {
        let mu = ml_dsa::common::array::Array::try_from(mu).map_err(|_| {
            KeyError::Crypto(format!("ML-DSA mu must be 64 bytes, found {}", mu.len()))
        })?;
        let sig = self
            .expanded()
            .sign_mu_randomized(&mu, &mut SysRng)
            .map_err(crypto)?;
        Ok(sig.encode().to_vec())
    }

    fn spki_der(&self) -> Result<Vec<u8>, KeyError> {
        Ok(self
            .verifying_key()
            .to_public_key_der()
            .map_err(crypto)?
            .into_vec())
    }

    /// RFC 9881 privateKey contents (the inner CHOICE), DER.
    fn private_key_choice(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let mut out = Zeroizing::new(Vec::new());
        match self {
            MlDsaKey::Seed(k) => {
                let seed = k.as_seed();
                out.extend_from_slice(&[0x80, 32]);
                out.extend_from_slice(seed.as_slice());
            }
            MlDsaKey::Expanded(k) => {
                #[allow(deprecated)]
                let bytes = Zeroizing::new(k.to_expanded().to_vec());
                OctetStringRef::new(&bytes)
                    .map_err(crypto)?
                    .encode_to_vec(&mut out)
                    .map_err(crypto)?;
            }
        }
        Ok(out)
    }

    fn generate() -> Result<Self, KeyError> {
        let mut seed = ml_dsa::Seed::default();
        getrandom::fill(&mut seed).map_err(|e| KeyError::Rng(e.to_string()))?;
        let key = ml_dsa::SigningKey::<P>::from_seed(&seed);
        seed.zeroize();
        Ok(MlDsaKey::Seed(Box::new(key)))
    }

    /// Decodes the RFC 9881 CHOICE found in the PKCS#8 privateKey OCTET STRING.
    fn from_choice(bytes: &[u8]) -> Result<Self, KeyError> {
        let bad = |m: &str| KeyError::Malformed(format!("ML-DSA private key: {m}"));
        let any =
            der::asn1::AnyRef::from_der(bytes).map_err(|e| malformed("ML-DSA private key", e))?;
        let tag = der::Tagged::tag(&any);
        let value = any.value();
        let seed_tag = der::Tag::ContextSpecific {
            constructed: false,
            number: der::TagNumber(0),
        };
        if tag == seed_tag {
            // seed [0] IMPLICIT OCTET STRING (SIZE (32))
            Self::from_seed_bytes(value)
        } else if tag == der::Tag::OctetString {
            // expandedKey OCTET STRING
            Self::from_expanded_bytes(value)
        } else if tag == der::Tag::Sequence {
            // both SEQUENCE { seed OCTET STRING, expandedKey OCTET STRING }
            let mut reader = der::SliceReader::new(value).map_err(|e| malformed("ML-DSA", e))?;
            let seed = <&OctetStringRef>::decode(&mut reader)
                .map_err(|e| malformed("ML-DSA both.seed", e))?;
            let expanded = <&OctetStringRef>::decode(&mut reader)
                .map_err(|e| malformed("ML-DSA both.expandedKey", e))?;
            der::Reader::finish(reader).map_err(|e| malformed("ML-DSA both", e))?;
            let key = Self::from_seed_bytes(seed.as_bytes())?;
            #[allow(deprecated)]
            let derived = Zeroizing::new(key.expanded().to_expanded().to_vec());
            if derived.as_slice() != expanded.as_bytes() {
                return Err(KeyError::Inconsistent(
                    "ML-DSA seed and expandedKey do not match".into(),
                ));
            }
            Ok(key)
        } else {
            Err(bad(&format!("unexpected {tag} in the private key CHOICE")))
        }
    }

    fn from_seed_bytes(seed: &[u8]) -> Result<Self, KeyError> {
        let mut seed = ml_dsa::Seed::try_from(seed).map_err(|_| {
            KeyError::Malformed(format!(
                "ML-DSA seed must be 32 bytes, found {}",
                seed.len()
            ))
        })?;
        let key = ml_dsa::SigningKey::<P>::from_seed(&seed);
        seed.zeroize();
        Ok(MlDsaKey::Seed(Box::new(key)))
    }

    fn from_expanded_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let enc = Zeroizing::new(
            ml_dsa::ExpandedSigningKeyBytes::<P>::try_from(bytes).map_err(|_| {
                KeyError::Malformed(format!(
                    "ML-DSA expandedKey has the wrong length ({} bytes)",
                    bytes.len()
                ))
            })?,
        );
        // `from_expanded` panics on secret coefficients out of range: check
        // them first so no panic message is printed, and keep the
        // `catch_unwind` as a backstop.
        if !expanded_coefficients_in_range(bytes) {
            return Err(KeyError::Malformed(
                "ML-DSA expandedKey has s1/s2 coefficients out of range".into(),
            ));
        }
        #[allow(deprecated)]
        let key = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            ml_dsa::ExpandedSigningKey::<P>::from_expanded(&enc)
        }))
        .map_err(|_| KeyError::Malformed("ML-DSA expandedKey does not decode".into()))?;
        // Canonical encoding, and a sign/verify self-test (which also checks
        // that tr = H(pk) and t0 agree with the public key).
        #[allow(deprecated)]
        let again = Zeroizing::new(key.to_expanded());
        if again.as_slice() != bytes {
            return Err(KeyError::Malformed(
                "ML-DSA expandedKey is not canonically encoded".into(),
            ));
        }
        let vk = key.verifying_key();
        let probe = b"otaseal ML-DSA expanded key self-test";
        let sig = key.sign_deterministic(probe, b"").map_err(crypto)?;
        if !vk.verify_with_context(probe, b"", &sig) {
            return Err(KeyError::Inconsistent(
                "ML-DSA expandedKey does not produce valid signatures".into(),
            ));
        }
        Ok(MlDsaKey::Expanded(Box::new(key)))
    }
}

enum Inner {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
    Rsa(Box<rsa::pss::SigningKey<Sha256>>),
    Sm2(sm2::SecretKey),
    MlDsa44(MlDsaKey<ml_dsa::MlDsa44>),
    MlDsa65(MlDsaKey<ml_dsa::MlDsa65>),
    MlDsa87(MlDsaKey<ml_dsa::MlDsa87>),
}

/// A private signing key of one [`Suite`], with its public key.
pub struct SigningKey {
    inner: Inner,
    spki: Vec<u8>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id: String = self.key_id()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        f.debug_struct("SigningKey")
            .field("suite", &self.suite().name())
            .field("key_id", &format_args!("{id}…"))
            .finish_non_exhaustive()
    }
}

fn rsa_bits(key: &rsa::PrivateKey) -> usize {
    use rsa::traits::PublicKeyParts;
    key.n().bit_width() as usize
}

fn sm2_signing_key(secret: &sm2::SecretKey) -> Result<sm2::dsa::SigningKey, KeyError> {
    // NOTE: sm2 0.14's dsa::SigningKey has no zeroizing Drop; it lives only
    // for the duration of one signature. The long-lived copy is the
    // zeroize-on-drop `SecretKey`.
    sm2::dsa::SigningKey::new(SM2_DISTID, secret).map_err(crypto)
}

impl SigningKey {
    fn from_inner(inner: Inner) -> Result<SigningKey, KeyError> {
        let spki = match &inner {
            Inner::P256(k) => k.verifying_key().to_public_key_der(),
            Inner::P384(k) => k.verifying_key().to_public_key_der(),
            Inner::Ed25519(k) => k.verifying_key().to_public_key_der(),
            Inner::Rsa(k) => {
                let pk: &rsa::PrivateKey = k.as_ref().as_ref();
                pk.to_public_key().to_public_key_der()
            }
            Inner::Sm2(k) => k.public_key().to_public_key_der(),
            Inner::MlDsa44(k) => return k.spki_der().map(|spki| SigningKey { inner, spki }),
            Inner::MlDsa65(k) => return k.spki_der().map(|spki| SigningKey { inner, spki }),
            Inner::MlDsa87(k) => return k.spki_der().map(|spki| SigningKey { inner, spki }),
        }
        .map_err(crypto)?
        .into_vec();
        Ok(SigningKey { inner, spki })
    }

    fn from_rsa(key: rsa::PrivateKey) -> Result<SigningKey, KeyError> {
        let bits = rsa_bits(&key);
        if bits != RSA_BITS {
            return Err(KeyError::RsaKeySize(bits));
        }
        let key = rsa::pss::SigningKey::<Sha256>::new_with_salt_len(key, 32);
        SigningKey::from_inner(Inner::Rsa(Box::new(key)))
    }

    /// Generates a new key from operating system randomness.
    pub fn generate(suite: Suite) -> Result<SigningKey, KeyError> {
        use p256::elliptic_curve::Generate;
        let rng_err = |e: getrandom::Error| KeyError::Rng(e.to_string());
        let inner = match suite {
            Suite::EcdsaP256 => Inner::P256(
                p256::ecdsa::SigningKey::try_generate_from_rng(&mut SysRng).map_err(rng_err)?,
            ),
            Suite::EcdsaP384 => Inner::P384(
                p384::ecdsa::SigningKey::try_generate_from_rng(&mut SysRng).map_err(rng_err)?,
            ),
            Suite::Ed25519 => {
                let mut seed = Zeroizing::new([0u8; 32]);
                getrandom::fill(seed.as_mut()).map_err(rng_err)?;
                Inner::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed))
            }
            Suite::RsaPss3072 => {
                let key = rsa::PrivateKey::new(&mut SysRng, RSA_BITS).map_err(crypto)?;
                return SigningKey::from_rsa(key);
            }
            Suite::Sm2 => {
                Inner::Sm2(sm2::SecretKey::try_generate_from_rng(&mut SysRng).map_err(rng_err)?)
            }
            Suite::MlDsa44 => Inner::MlDsa44(MlDsaKey::generate()?),
            Suite::MlDsa65 => Inner::MlDsa65(MlDsaKey::generate()?),
            Suite::MlDsa87 => Inner::MlDsa87(MlDsaKey::generate()?),
        };
        SigningKey::from_inner(inner)
    }

    /// Parses a PEM private key: PKCS#8 `PRIVATE KEY` (all suites), SEC1
    /// `EC PRIVATE KEY` (P-256, P-384, SM2) or PKCS#1 `RSA PRIVATE KEY`.
    /// Other PEM blocks in the text (e.g. `EC PARAMETERS`) are skipped.
    pub fn from_pkcs8_pem(pem: &str) -> Result<SigningKey, KeyError> {
        let blocks = pem_blocks(pem)?;
        let mut labels = Vec::new();
        for (label, der) in &blocks {
            match label.as_str() {
                "PRIVATE KEY" => return SigningKey::from_pkcs8_der(der),
                // OpenSSL 3 labels SEC1 SM2 keys "SM2 PRIVATE KEY".
                "EC PRIVATE KEY" | "SM2 PRIVATE KEY" => return SigningKey::from_sec1_der(der),
                "RSA PRIVATE KEY" => {
                    use rsa::pkcs1::DecodeRsaPrivateKey;
                    let key = rsa::PrivateKey::from_pkcs1_der(der)
                        .map_err(|e| malformed("PKCS#1 RSA key", e))?;
                    return SigningKey::from_rsa(key);
                }
                "ENCRYPTED PRIVATE KEY" => {
                    return Err(KeyError::Pem(
                        "encrypted private keys are not supported; decrypt with `openssl pkey`"
                            .into(),
                    ));
                }
                other => labels.push(other.to_string()),
            }
        }
        Err(KeyError::Pem(if labels.is_empty() {
            "no PEM block found".into()
        } else {
            format!("no private key block (found: {})", labels.join(", "))
        }))
    }

    /// Parses a DER PKCS#8 `PrivateKeyInfo` / `OneAsymmetricKey`.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<SigningKey, KeyError> {
        let info = PrivateKeyInfoRef::from_der(der).map_err(|e| malformed("PKCS#8", e))?;
        let oid = info.algorithm.oid;
        let public = info.public_key;
        let key = if oid == oids::EC_PUBLIC_KEY {
            let curve = info.algorithm.parameters_oid().map_err(|_| {
                KeyError::UnsupportedAlgorithm("EC key without a named curve".into())
            })?;
            if curve == oids::SECP256R1 {
                SigningKey::from_inner(Inner::P256(
                    p256::ecdsa::SigningKey::try_from(info).map_err(pk8_err("P-256 key"))?,
                ))?
            } else if curve == oids::SECP384R1 {
                SigningKey::from_inner(Inner::P384(
                    p384::ecdsa::SigningKey::try_from(info).map_err(pk8_err("P-384 key"))?,
                ))?
            } else if curve == oids::SM2P256V1 {
                SigningKey::from_inner(Inner::Sm2(
                    sm2::SecretKey::try_from(info).map_err(pk8_err("SM2 key"))?,
                ))?
            } else {
                return Err(KeyError::UnsupportedAlgorithm(format!(
                    "EC curve {curve} (supported: P-256, P-384, SM2)"
                )));
            }
        } else if oid == oids::SM2P256V1 {
            // Some tools label SM2 keys with the curve OID as the algorithm.
            let sk = sm2::SecretKey::from_sec1_der(info.private_key.as_bytes())
                .map_err(|e| malformed("SM2 key", e))?;
            SigningKey::from_inner(Inner::Sm2(sk))?
        } else if oid == oids::ED25519 {
            // CurvePrivateKey ::= OCTET STRING (RFC 8410), decoded here so that
            // no unzeroized copy is left behind (see `to_pkcs8_der`).
            if info.algorithm.parameters.is_some() {
                return Err(KeyError::Malformed(
                    "Ed25519 AlgorithmIdentifier parameters must be absent".into(),
                ));
            }
            let inner = <&OctetStringRef>::from_der(info.private_key.as_bytes())
                .map_err(|e| malformed("Ed25519 key", e))?;
            let secret =
                Zeroizing::new(<[u8; 32]>::try_from(inner.as_bytes()).map_err(|_| {
                    KeyError::Malformed("Ed25519 private key must be 32 bytes".into())
                })?);
            SigningKey::from_inner(Inner::Ed25519(ed25519_dalek::SigningKey::from_bytes(
                &secret,
            )))?
        } else if oid == oids::RSA_ENCRYPTION {
            let key = rsa::PrivateKey::try_from(info).map_err(pk8_err("RSA key"))?;
            return SigningKey::from_rsa(key);
        } else if oid == oids::ML_DSA_44 || oid == oids::ML_DSA_65 || oid == oids::ML_DSA_87 {
            if info.algorithm.parameters.is_some() {
                return Err(KeyError::Malformed(
                    "ML-DSA AlgorithmIdentifier parameters must be absent".into(),
                ));
            }
            let choice = info.private_key.as_bytes();
            let inner = if oid == oids::ML_DSA_44 {
                Inner::MlDsa44(MlDsaKey::from_choice(choice)?)
            } else if oid == oids::ML_DSA_65 {
                Inner::MlDsa65(MlDsaKey::from_choice(choice)?)
            } else {
                Inner::MlDsa87(MlDsaKey::from_choice(choice)?)
            };
            SigningKey::from_inner(inner)?
        } else if oid == oids::RSASSA_PSS {
            return Err(KeyError::UnsupportedAlgorithm(
                "RSASSA-PSS-restricted key (id-RSASSA-PSS); use an rsaEncryption key \
                 (`openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072`)"
                    .into(),
            ));
        } else {
            return Err(KeyError::UnsupportedAlgorithm(format!(
                "key algorithm {oid}"
            )));
        };
        // OneAsymmetricKey (v2) may carry the public key: it must match.
        if let Some(public) = public {
            key.check_public_bits(public.raw_bytes())?;
        }
        Ok(key)
    }

    fn from_sec1_der(der: &[u8]) -> Result<SigningKey, KeyError> {
        let parsed = sec1::EcPrivateKey::from_der(der).map_err(|e| malformed("SEC1 key", e))?;
        let curve = parsed
            .parameters
            .and_then(|p| p.named_curve())
            .ok_or_else(|| {
                KeyError::UnsupportedAlgorithm("SEC1 EC key without a named curve".into())
            })?;
        let inner = if curve == oids::SECP256R1 {
            Inner::P256(
                p256::SecretKey::from_sec1_der(der)
                    .map_err(|e| malformed("P-256 key", e))?
                    .into(),
            )
        } else if curve == oids::SECP384R1 {
            Inner::P384(
                p384::SecretKey::from_sec1_der(der)
                    .map_err(|e| malformed("P-384 key", e))?
                    .into(),
            )
        } else if curve == oids::SM2P256V1 {
            Inner::Sm2(sm2::SecretKey::from_sec1_der(der).map_err(|e| malformed("SM2 key", e))?)
        } else {
            return Err(KeyError::UnsupportedAlgorithm(format!(
                "EC curve {curve} (supported: P-256, P-384, SM2)"
            )));
        };
        SigningKey::from_inner(inner)
    }

    fn check_public_bits(&self, bits: &[u8]) -> Result<(), KeyError> {
        let spki = SubjectPublicKeyInfoRef::from_der(&self.spki).map_err(crypto)?;
        if spki.subject_public_key.raw_bytes() != bits {
            return Err(KeyError::Inconsistent(
                "the public key in the PKCS#8 document does not match the private key".into(),
            ));
        }
        Ok(())
    }

    /// Loads a PEM private key file.
    pub fn load(path: &Path) -> Result<SigningKey, KeyError> {
        let text = Zeroizing::new(crate::read_small_file(path).map_err(|source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        })?);
        let in_file = |e: KeyError| KeyError::InFile {
            path: path.to_path_buf(),
            source: Box::new(e),
        };
        let text = std::str::from_utf8(&text)
            .map_err(|_| in_file(KeyError::Pem("the file is not text".into())))?;
        SigningKey::from_pkcs8_pem(text).map_err(in_file)
    }

    /// The PKCS#8 DER encoding (ML-DSA: RFC 9881 seed form; Ed25519: v1
    /// without the public key, as OpenSSL writes it).
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let doc = match &self.inner {
            Inner::P256(k) => k.to_pkcs8_der(),
            Inner::P384(k) => k.to_pkcs8_der(),
            Inner::Ed25519(k) => {
                // v1 without the public key, as OpenSSL writes it. Encoded here
                // because ed25519's `KeypairBytes` zeroizes only with a feature
                // that ed25519-dalek does not enable.
                let mut inner = Zeroizing::new([0u8; 34]);
                inner[..2].copy_from_slice(&[0x04, 0x20]);
                inner[2..].copy_from_slice(k.as_bytes());
                let info = PrivateKeyInfoRef::new(
                    spki::AlgorithmIdentifierRef {
                        oid: oids::ED25519,
                        parameters: None,
                    },
                    OctetStringRef::new(inner.as_slice()).map_err(crypto)?,
                );
                let mut out = Zeroizing::new(Vec::new());
                info.encode_to_vec(&mut out).map_err(crypto)?;
                return Ok(out);
            }
            Inner::Rsa(k) => k.to_pkcs8_der(),
            Inner::Sm2(k) => k.to_pkcs8_der(),
            Inner::MlDsa44(k) => return ml_dsa_pkcs8(oids::ML_DSA_44, k.private_key_choice()?),
            Inner::MlDsa65(k) => return ml_dsa_pkcs8(oids::ML_DSA_65, k.private_key_choice()?),
            Inner::MlDsa87(k) => return ml_dsa_pkcs8(oids::ML_DSA_87, k.private_key_choice()?),
        }
        .map_err(crypto)?;
        Ok(Zeroizing::new(doc.as_bytes().to_vec()))
    }

    /// The PKCS#8 `PRIVATE KEY` PEM encoding.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        let der = self.to_pkcs8_der()?;
        Ok(Zeroizing::new(
            der::pem::encode_string("PRIVATE KEY", LineEnding::LF, &der).map_err(crypto)?,
        ))
    }

    /// Writes the private key as PEM to a new file created with mode 0600.
    /// Never overwrites: an existing file is an [`KeyError::AlreadyExists`] error.
    pub fn write_private_pem(&self, path: &Path) -> Result<(), KeyError> {
        let pem = self.to_pkcs8_pem()?;
        write_new_file(path, pem.as_bytes(), 0o600)
    }

    /// The key's suite.
    pub fn suite(&self) -> Suite {
        match &self.inner {
            Inner::P256(_) => Suite::EcdsaP256,
            Inner::P384(_) => Suite::EcdsaP384,
            Inner::Ed25519(_) => Suite::Ed25519,
            Inner::Rsa(_) => Suite::RsaPss3072,
            Inner::Sm2(_) => Suite::Sm2,
            Inner::MlDsa44(_) => Suite::MlDsa44,
            Inner::MlDsa65(_) => Suite::MlDsa65,
            Inner::MlDsa87(_) => Suite::MlDsa87,
        }
    }

    /// The public key as DER `SubjectPublicKeyInfo`.
    pub fn public_spki_der(&self) -> Vec<u8> {
        self.spki.clone()
    }

    /// The public key as `PUBLIC KEY` PEM.
    pub fn public_pem(&self) -> String {
        der::pem::encode_string("PUBLIC KEY", LineEnding::LF, &self.spki)
            .expect("PEM encoding of a DER document cannot fail")
    }

    /// SHA-256 of [`Self::public_spki_der`].
    pub fn key_id(&self) -> [u8; 32] {
        Sha256::digest(&self.spki).into()
    }

    /// Signs `message` with the COSE signature encoding of the suite:
    /// ECDSA raw `r || s` (SHA-256 / SHA-384, RFC 6979), Ed25519 64 bytes,
    /// RSASSA-PSS SHA-256 / MGF1-SHA-256 / salt 32, SM2-with-SM3 raw `r || s`
    /// with distinguishing id [`SM2_DISTID`], ML-DSA pure (hedged, empty context).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        Ok(match &self.inner {
            // Low S (s <= n/2): both (r, s) and (r, n - s) verify, and the
            // format allows exactly one encoding (verifiers reject high S).
            Inner::P256(k) => {
                let sig: p256::ecdsa::Signature = k.try_sign(message).map_err(crypto)?;
                sig.normalize_s().to_bytes().to_vec()
            }
            Inner::P384(k) => {
                let sig: p384::ecdsa::Signature = k.try_sign(message).map_err(crypto)?;
                sig.normalize_s().to_bytes().to_vec()
            }
            Inner::Ed25519(k) => k.try_sign(message).map_err(crypto)?.to_bytes().to_vec(),
            Inner::Rsa(k) => k.try_sign(message).map_err(crypto)?.to_vec(),
            Inner::Sm2(k) => {
                let sig: sm2::dsa::Signature =
                    sm2_signing_key(k)?.try_sign(message).map_err(crypto)?;
                sig.to_bytes().to_vec()
            }
            Inner::MlDsa44(k) => k.sign(message)?,
            Inner::MlDsa65(k) => k.sign(message)?,
            Inner::MlDsa87(k) => k.sign(message)?,
        })
    }

    /// Signs `tbs` (e.g. a DER `TBSCertificate`) with the X.509 encoding of
    /// the suite. Returns the signature value and the DER `AlgorithmIdentifier`:
    /// ECDSA DER with ecdsa-with-SHA256/384, Ed25519, RSASSA-PSS with explicit
    /// SHA-256 parameters, SM2-with-SM3 DER `SEQUENCE { r, s }`, ML-DSA raw.
    pub fn sign_x509(&self, tbs: &[u8]) -> Result<(Vec<u8>, Vec<u8>), KeyError> {
        let sig = match &self.inner {
            Inner::P256(k) => {
                let sig: p256::ecdsa::Signature = k.try_sign(tbs).map_err(crypto)?;
                sig.to_der().as_bytes().to_vec()
            }
            Inner::P384(k) => {
                let sig: p384::ecdsa::Signature = k.try_sign(tbs).map_err(crypto)?;
                sig.to_der().as_bytes().to_vec()
            }
            Inner::Sm2(k) => {
                let sig: sm2::dsa::Signature = sm2_signing_key(k)?.try_sign(tbs).map_err(crypto)?;
                sig.to_der().to_vec()
            }
            Inner::Ed25519(_)
            | Inner::Rsa(_)
            | Inner::MlDsa44(_)
            | Inner::MlDsa65(_)
            | Inner::MlDsa87(_) => self.sign(tbs)?,
        };
        Ok((sig, self.x509_algorithm_id()))
    }

    /// The DER `AlgorithmIdentifier` that [`Self::sign_x509`] returns.
    pub fn x509_algorithm_id(&self) -> Vec<u8> {
        crate::x509_algorithm_id(self.suite())
    }

    /// Hash-only signing (see [`KeySigner::sign_prehash`]): ECDSA and SM2
    /// with RFC 6979 nonces from the digest, RSA-PSS with a random salt,
    /// ML-DSA from the external mu (hedged).
    pub fn sign_prehash(&self, prehash: &[u8]) -> Result<Vec<u8>, KeyError> {
        use signature::hazmat::PrehashSigner;
        let expect_len = |n: usize| {
            if prehash.len() == n {
                Ok(())
            } else {
                Err(KeyError::Crypto(format!(
                    "{} prehash must be {n} bytes, found {}",
                    self.suite().name(),
                    prehash.len()
                )))
            }
        };
        Ok(match &self.inner {
            Inner::P256(k) => {
                expect_len(32)?;
                let sig: p256::ecdsa::Signature = k.sign_prehash(prehash).map_err(crypto)?;
                sig.normalize_s().to_bytes().to_vec()
            }
            Inner::P384(k) => {
                expect_len(48)?;
                let sig: p384::ecdsa::Signature = k.sign_prehash(prehash).map_err(crypto)?;
                sig.normalize_s().to_bytes().to_vec()
            }
            Inner::Rsa(k) => {
                expect_len(32)?;
                let sig: rsa::pss::Signature = k.sign_prehash(prehash).map_err(crypto)?;
                sig.to_vec()
            }
            Inner::Sm2(k) => {
                expect_len(32)?;
                let sig: sm2::dsa::Signature =
                    sm2_signing_key(k)?.sign_prehash(prehash).map_err(crypto)?;
                sig.to_bytes().to_vec()
            }
            Inner::MlDsa44(k) => k.sign_mu(prehash)?,
            Inner::MlDsa65(k) => k.sign_mu(prehash)?,
            Inner::MlDsa87(k) => k.sign_mu(prehash)?,
            Inner::Ed25519(_) => {
                return Err(KeyError::Unsupported(
                    "Ed25519 (PureEdDSA) signs the whole message, not a hash".into(),
                ));
            }
        })
    }
}

impl KeySigner for SigningKey {
    fn suite(&self) -> Suite {
        SigningKey::suite(self)
    }
    fn public_spki_der(&self) -> Vec<u8> {
        SigningKey::public_spki_der(self)
    }
    fn sign_prehash(&self, prehash: &[u8]) -> Result<Vec<u8>, KeyError> {
        SigningKey::sign_prehash(self, prehash)
    }
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        SigningKey::sign(self, message)
    }
    fn sign_x509(&self, tbs: &[u8]) -> Result<(Vec<u8>, Vec<u8>), KeyError> {
        SigningKey::sign_x509(self, tbs)
    }
    fn describe(&self) -> String {
        format!("{} key file", SigningKey::suite(self).name())
    }
}

fn ml_dsa_pkcs8(
    oid: ObjectIdentifier,
    choice: Zeroizing<Vec<u8>>,
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let info = PrivateKeyInfoRef::new(
        spki::AlgorithmIdentifierRef {
            oid,
            parameters: None,
        },
        OctetStringRef::new(&choice).map_err(crypto)?,
    );
    let mut out = Zeroizing::new(Vec::new());
    info.encode_to_vec(&mut out).map_err(crypto)?;
    Ok(out)
}

/// Creates `path` (which must not exist) with `mode` set at open time and
/// writes `data`. A partially written file is removed.
pub fn write_new_file(path: &Path, data: &[u8], mode: u32) -> Result<(), KeyError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|source| {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                KeyError::AlreadyExists(path.to_path_buf())
            } else {
                KeyError::Io {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
    let result = file.write_all(data).and_then(|()| file.sync_all());
    if let Err(source) = result {
        drop(file);
        let _ = fs::remove_file(path);
        return Err(KeyError::Io {
            path: path.to_path_buf(),
            source,
        });
    }
    Ok(())
}

/// A PEM block: label and DER.
pub type PemBlock = (String, Zeroizing<Vec<u8>>);

/// Splits text into its PEM blocks `(label, DER)`, ignoring text between
/// blocks. Each block is decoded strictly (RFC 7468).
pub fn pem_blocks(text: &str) -> Result<Vec<PemBlock>, KeyError> {
    const BEGIN: &str = "-----BEGIN ";
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let after = &rest[start + BEGIN.len()..];
        let label_end = after
            .find("-----")
            .ok_or_else(|| KeyError::Pem("unterminated BEGIN line".into()))?;
        let label = &after[..label_end];
        let end_marker = format!("-----END {label}-----");
        let end = rest[start..]
            .find(&end_marker)
            .ok_or_else(|| KeyError::Pem(format!("no END line for {label}")))?;
        let block = &rest[start..start + end + end_marker.len()];
        let (found, der) = der::pem::decode_vec(block.as_bytes())
            .map_err(|e| KeyError::Pem(format!("{label}: {e}")))?;
        out.push((found.to_string(), Zeroizing::new(der)));
        rest = &rest[start + end + end_marker.len()..];
    }
    Ok(out)
}

/// Parses a `PUBLIC KEY` PEM (SubjectPublicKeyInfo) of any suite and returns
/// its suite and DER.
pub fn public_key_from_pem(pem: &str) -> Result<(Suite, Vec<u8>), KeyError> {
    let blocks = pem_blocks(pem)?;
    let (_, der) = blocks
        .into_iter()
        .find(|(label, _)| label == "PUBLIC KEY")
        .ok_or_else(|| KeyError::Pem("no PUBLIC KEY block found".into()))?;
    let suite = suite_of_spki(&der)?;
    Ok((suite, der.to_vec()))
}

/// The suite of a DER `SubjectPublicKeyInfo`; the key itself is decoded to
/// check that it is well formed (RSA keys must have 3072 bits).
pub fn suite_of_spki(spki_der: &[u8]) -> Result<Suite, KeyError> {
    let spki = SubjectPublicKeyInfoRef::from_der(spki_der)
        .map_err(|e| malformed("SubjectPublicKeyInfo", e))?;
    let oid = spki.algorithm.oid;
    let bad = |what: &'static str| move |e: spki::Error| malformed(what, e);
    if oid == oids::EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters_oid()
            .map_err(|_| KeyError::UnsupportedAlgorithm("EC key without a named curve".into()))?;
        if curve == oids::SECP256R1 {
            p256::PublicKey::try_from(spki).map_err(bad("P-256 public key"))?;
            Ok(Suite::EcdsaP256)
        } else if curve == oids::SECP384R1 {
            p384::PublicKey::try_from(spki).map_err(bad("P-384 public key"))?;
            Ok(Suite::EcdsaP384)
        } else if curve == oids::SM2P256V1 {
            sm2::PublicKey::try_from(spki).map_err(bad("SM2 public key"))?;
            Ok(Suite::Sm2)
        } else {
            Err(KeyError::UnsupportedAlgorithm(format!(
                "EC curve {curve} (supported: P-256, P-384, SM2)"
            )))
        }
    } else if oid == oids::ED25519 {
        ed25519_dalek::VerifyingKey::try_from(spki).map_err(bad("Ed25519 public key"))?;
        Ok(Suite::Ed25519)
    } else if oid == oids::RSA_ENCRYPTION {
        use rsa::traits::PublicKeyParts;
        let pk = rsa::PublicKey::try_from(spki).map_err(bad("RSA public key"))?;
        let bits = pk.n().bit_width() as usize;
        if bits != RSA_BITS {
            return Err(KeyError::RsaKeySize(bits));
        }
        Ok(Suite::RsaPss3072)
    } else if oid == oids::ML_DSA_44 {
        ml_dsa::VerifyingKey::<ml_dsa::MlDsa44>::try_from(spki).map_err(bad("ML-DSA-44 key"))?;
        Ok(Suite::MlDsa44)
    } else if oid == oids::ML_DSA_65 {
        ml_dsa::VerifyingKey::<ml_dsa::MlDsa65>::try_from(spki).map_err(bad("ML-DSA-65 key"))?;
        Ok(Suite::MlDsa65)
    } else if oid == oids::ML_DSA_87 {
        ml_dsa::VerifyingKey::<ml_dsa::MlDsa87>::try_from(spki).map_err(bad("ML-DSA-87 key"))?;
        Ok(Suite::MlDsa87)
    } else {
        Err(KeyError::UnsupportedAlgorithm(format!(
            "public key algorithm {oid}"
        )))
    }
}

/// Helpers shared by the tests of this crate.
/// FIPS 204 `skDecode` bounds: every packed s1/s2 coefficient of an
/// expanded ML-DSA key is at most 2η (the `ml-dsa` crate panics otherwise).
/// Lengths other than the three parameter sets' are left to the caller.
fn expanded_coefficients_in_range(bytes: &[u8]) -> bool {
    // (k, l, eta) for ML-DSA-44, -65, -87.
    let (k, l, eta) = match bytes.len() {
        2560 => (4usize, 4usize, 2u32),
        4032 => (6, 5, 4),
        4896 => (8, 7, 2),
        _ => return true,
    };
    let bits = if eta == 2 { 3usize } else { 4 };
    // rho (32) || K (32) || tr (64), then s1 and s2.
    let Some(packed) = bytes.get(128..) else {
        return false;
    };
    (0..(k + l) * 256).all(|i| {
        let bit = i * bits;
        let lo = packed.get(bit / 8).copied().unwrap_or(0xff);
        let hi = packed.get(bit / 8 + 1).copied().unwrap_or(0);
        let v = ((u32::from(hi) << 8 | u32::from(lo)) >> (bit % 8)) & ((1 << bits) - 1);
        v <= 2 * eta
    })
}

#[cfg(test)]
pub(crate) mod test_util {
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A temporary directory removed on drop.
    pub(crate) struct TempDir(pub(crate) PathBuf);

    impl TempDir {
        pub(crate) fn new(tag: &str) -> TempDir {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let dir = std::env::temp_dir().join(format!(
                "otaseal-sign-{tag}-{}-{}-{nanos}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::SeqCst)
            ));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        pub(crate) fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Whether `openssl` can be run; prints why a test is skipped if not.
    pub(crate) fn have_openssl(test: &str) -> bool {
        let ok = Command::new("openssl")
            .arg("version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !ok {
            eprintln!("SKIPPED {test}: `openssl` is not installed or does not run");
        }
        ok
    }

    /// Runs openssl in `dir`; returns (success, stdout + stderr).
    pub(crate) fn openssl(dir: &Path, args: &[&str]) -> (bool, String) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run openssl");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// Runs openssl and panics with its output unless it succeeds.
    pub(crate) fn openssl_ok(dir: &Path, args: &[&str]) -> String {
        let (ok, text) = openssl(dir, args);
        assert!(ok, "openssl {args:?} failed:\n{text}");
        text
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::test_util::*;
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// Every P-256 and P-384 COSE signature has a low S (s <= n/2): 200
    /// messages each, so an unnormalized signer (high S about half the
    /// time) fails with certainty.
    #[test]
    fn ecdsa_signatures_have_low_s() {
        let half_p256 =
            hex_bytes("7fffffff800000007fffffffffffffffde737d56d38bcf4279dce5617e3192a8");
        let half_p384 = hex_bytes(
            "7fffffffffffffffffffffffffffffffffffffffffffffffe3b1a6c0fa1b96efac0d06d9245853bd76760cb5666294b9",
        );
        for (suite, half) in [(Suite::EcdsaP256, half_p256), (Suite::EcdsaP384, half_p384)] {
            let key = SigningKey::generate(suite).unwrap();
            for i in 0..200u32 {
                let sig = key.sign(&i.to_be_bytes()).unwrap();
                let s = &sig[half.len()..];
                assert!(s <= half.as_slice(), "{suite:?}: high S for message {i}");
            }
        }
    }

    fn hex_bytes(h: &str) -> Vec<u8> {
        (0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
            .collect()
    }

    /// A random expanded ML-DSA key is refused with an error, without the
    /// panic inside the `ml-dsa` crate (whose hook would print a message).
    #[test]
    fn random_expanded_mldsa_key_is_refused_without_panic() {
        for len in [2560usize, 4032, 4896] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 + 13) as u8).collect();
            assert!(!expanded_coefficients_in_range(&bytes), "{len}");
        }
    }

    const MSG: &[u8] = b"otaseal test message \x00\x01\x02";

    fn sig_len(suite: Suite) -> usize {
        match suite {
            Suite::EcdsaP256 | Suite::Ed25519 | Suite::Sm2 => 64,
            Suite::EcdsaP384 => 96,
            Suite::RsaPss3072 => 384,
            Suite::MlDsa44 => 2420,
            Suite::MlDsa65 => 3309,
            Suite::MlDsa87 => 4627,
        }
    }

    /// Verifies a COSE-encoded signature with the RustCrypto verifiers.
    fn verify_cose(suite: Suite, spki: &[u8], msg: &[u8], sig: &[u8]) {
        use signature::Verifier;
        use spki::DecodePublicKey;
        assert_eq!(sig.len(), sig_len(suite), "{}", suite.name());
        match suite {
            Suite::EcdsaP256 => {
                let vk = p256::ecdsa::VerifyingKey::from_public_key_der(spki).unwrap();
                let sig = p256::ecdsa::Signature::from_slice(sig).unwrap();
                vk.verify(msg, &sig).unwrap();
            }
            Suite::EcdsaP384 => {
                let vk = p384::ecdsa::VerifyingKey::from_public_key_der(spki).unwrap();
                let sig = p384::ecdsa::Signature::from_slice(sig).unwrap();
                vk.verify(msg, &sig).unwrap();
            }
            Suite::Ed25519 => {
                let vk = ed25519_dalek::VerifyingKey::from_public_key_der(spki).unwrap();
                let sig = ed25519_dalek::Signature::from_slice(sig).unwrap();
                vk.verify_strict(msg, &sig).unwrap();
            }
            Suite::RsaPss3072 => {
                let pk = rsa::PublicKey::from_public_key_der(spki).unwrap();
                let vk = rsa::pss::VerifyingKey::<Sha256>::new(pk);
                let sig = rsa::pss::Signature::try_from(sig).unwrap();
                vk.verify(msg, &sig).unwrap();
            }
            Suite::Sm2 => {
                let pk = sm2::PublicKey::from_public_key_der(spki).unwrap();
                let vk = sm2::dsa::VerifyingKey::new(SM2_DISTID, pk).unwrap();
                let sig = sm2::dsa::Signature::from_slice(sig).unwrap();
                vk.verify(msg, &sig).unwrap();
            }
            Suite::MlDsa44 => verify_ml_dsa::<ml_dsa::MlDsa44>(spki, msg, sig),
            Suite::MlDsa65 => verify_ml_dsa::<ml_dsa::MlDsa65>(spki, msg, sig),
            Suite::MlDsa87 => verify_ml_dsa::<ml_dsa::MlDsa87>(spki, msg, sig),
        }
    }

    pub(crate) fn verify_ml_dsa<P>(spki: &[u8], msg: &[u8], sig: &[u8])
    where
        P: ml_dsa::MlDsaParams + spki::AssociatedAlgorithmIdentifier<Params = der::AnyRef<'static>>,
    {
        use spki::DecodePublicKey;
        let vk = ml_dsa::VerifyingKey::<P>::from_public_key_der(spki).unwrap();
        let sig = ml_dsa::Signature::<P>::try_from(sig).unwrap();
        assert!(vk.verify_with_context(msg, b"", &sig));
    }

    /// Hash-only signing: `prehash` + `sign_prehash` gives signatures that
    /// the whole-message verifiers accept, for every suite but Ed25519
    /// (SM2's Z and ML-DSA's external mu are computed by otaseal-keys).
    #[test]
    fn prehash_signatures_verify_as_message_signatures() {
        for suite in Suite::ALL {
            let key = SigningKey::generate(suite).unwrap();
            let spki = key.public_spki_der();
            if suite == Suite::Ed25519 {
                assert!(matches!(
                    crate::prehash(suite, &spki, MSG),
                    Err(KeyError::Unsupported(_))
                ));
                assert!(matches!(
                    key.sign_prehash(&[0; 32]),
                    Err(KeyError::Unsupported(_))
                ));
                continue;
            }
            let digest = crate::prehash(suite, &spki, MSG).unwrap();
            let sig = key.sign_prehash(&digest).unwrap();
            verify_cose(suite, &spki, MSG, &sig);
            // The trait's default path (hash on the host) gives the same kind.
            let via_default = KeySigner::sign_x509(&key, MSG).unwrap();
            assert_eq!(via_default.1, key.x509_algorithm_id());
        }
    }

    #[test]
    fn round_trip_all_suites() {
        let tmp = TempDir::new("roundtrip");
        for suite in Suite::ALL {
            let key = SigningKey::generate(suite).unwrap();
            assert_eq!(key.suite(), suite);
            let id = key.key_id();
            assert_eq!(id, key.key_id(), "key id is stable");
            let spki = key.public_spki_der();
            assert_eq!(id.as_slice(), Sha256::digest(&spki).as_slice());
            assert_eq!(suite_of_spki(&spki).unwrap(), suite);
            assert_eq!(
                public_key_from_pem(&key.public_pem()).unwrap(),
                (suite, spki.clone())
            );

            let pem = key.to_pkcs8_pem().unwrap();
            assert!(
                pem.starts_with("-----BEGIN PRIVATE KEY-----\n"),
                "{}",
                suite.name()
            );
            let again = SigningKey::from_pkcs8_pem(&pem).unwrap();
            assert_eq!(again.suite(), suite);
            assert_eq!(again.key_id(), id);
            assert_eq!(again.to_pkcs8_der().unwrap(), key.to_pkcs8_der().unwrap());
            let der = key.to_pkcs8_der().unwrap();
            assert_eq!(SigningKey::from_pkcs8_der(&der).unwrap().key_id(), id);

            let sig = again.sign(MSG).unwrap();
            verify_cose(suite, &spki, MSG, &sig);
            assert!(!format!("{key:?}").contains(&pem[30..60]));

            let path = tmp.path().join(format!("{}.key.pem", suite.name()));
            key.write_private_pem(&path).unwrap();
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", suite.name());
            let loaded = SigningKey::load(&path).unwrap();
            assert_eq!(loaded.key_id(), id);
            let before = fs::read(&path).unwrap();
            let other = SigningKey::generate(Suite::Ed25519).unwrap();
            let err = other.write_private_pem(&path).unwrap_err();
            assert!(matches!(err, KeyError::AlreadyExists(_)), "{err}");
            assert!(err.to_string().contains("refusing to overwrite"), "{err}");
            assert_eq!(fs::read(&path).unwrap(), before, "file untouched");
        }
        let missing = tmp.path().join("missing.pem");
        let err = SigningKey::load(&missing).unwrap_err();
        assert!(err.to_string().contains("missing.pem"), "{err}");
        let garbage = tmp.path().join("garbage.pem");
        fs::write(&garbage, "hello").unwrap();
        let err = SigningKey::load(&garbage).unwrap_err();
        assert!(err.to_string().contains("garbage.pem"), "{err}");
    }

    #[test]
    fn x509_algorithm_ids() {
        let pss = spki::AlgorithmIdentifierRef::from_der(&RSA_PSS_SHA256_ALG_ID).unwrap();
        assert_eq!(pss.oid, oids::RSASSA_PSS);
        let params: rsa::pkcs1::RsaPssParams<der::AnyRef<'_>> =
            pss.parameters.unwrap().decode_as().unwrap();
        assert_eq!(params, rsa::pkcs1::RsaPssParams::new::<Sha256>(32));
        for suite in [Suite::EcdsaP256, Suite::Sm2, Suite::MlDsa65] {
            let key = SigningKey::generate(suite).unwrap();
            let (sig, alg) = key.sign_x509(MSG).unwrap();
            let alg = spki::AlgorithmIdentifierRef::from_der(&alg).unwrap();
            assert!(alg.parameters.is_none());
            match suite {
                Suite::EcdsaP256 => {
                    use signature::Verifier;
                    assert_eq!(alg.oid, oids::ECDSA_WITH_SHA256);
                    let sig = p256::ecdsa::DerSignature::try_from(sig.as_slice()).unwrap();
                    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(
                        SubjectPublicKeyInfoRef::from_der(&key.public_spki_der())
                            .unwrap()
                            .subject_public_key
                            .raw_bytes(),
                    )
                    .unwrap();
                    vk.verify(MSG, &sig).unwrap();
                }
                Suite::Sm2 => {
                    assert_eq!(alg.oid, oids::SM2_WITH_SM3);
                    let raw = sm2::dsa::Signature::from_der(&sig).unwrap();
                    verify_cose(suite, &key.public_spki_der(), MSG, &raw.to_bytes());
                }
                _ => {
                    assert_eq!(alg.oid, oids::ML_DSA_65);
                    verify_cose(suite, &key.public_spki_der(), MSG, &sig);
                }
            }
        }
    }

    /// Wraps an RFC 9881 private key CHOICE in PKCS#8.
    fn ml_dsa_doc(oid: ObjectIdentifier, choice: &[u8]) -> Vec<u8> {
        ml_dsa_pkcs8(oid, Zeroizing::new(choice.to_vec()))
            .unwrap()
            .to_vec()
    }

    #[test]
    fn ml_dsa_rfc9881_forms() {
        use pkcs8::DecodePrivateKey;
        let key = SigningKey::generate(Suite::MlDsa65).unwrap();
        let der = key.to_pkcs8_der().unwrap();
        // Seed form: privateKey OCTET STRING { [0] IMPLICIT OCTET STRING (32) }.
        let info = PrivateKeyInfoRef::from_der(&der).unwrap();
        assert_eq!(info.algorithm.oid, oids::ML_DSA_65);
        assert!(info.algorithm.parameters.is_none());
        assert!(info.public_key.is_none());
        let choice = info.private_key.as_bytes();
        assert_eq!(choice.len(), 34);
        assert_eq!(&choice[..2], &[0x80, 0x20]);
        // The ml-dsa crate's own PKCS#8 reader agrees (same RFC 9881 seed form).
        let theirs = ml_dsa::SigningKey::<ml_dsa::MlDsa65>::from_pkcs8_der(&der).unwrap();
        assert_eq!(theirs.as_seed().as_slice(), &choice[2..]);
        let their_der = theirs.to_pkcs8_der().unwrap();
        assert_eq!(their_der.as_bytes(), der.as_slice());

        let Inner::MlDsa65(MlDsaKey::Seed(sk)) = &key.inner else {
            panic!("seed key expected")
        };
        #[allow(deprecated)]
        let expanded = sk.expanded_key().to_expanded().to_vec();
        assert_eq!(expanded.len(), 4032);
        let expanded_os = OctetStringRef::new(&expanded).unwrap().to_der().unwrap();
        let seed_os = OctetStringRef::new(&choice[2..]).unwrap().to_der().unwrap();

        // expandedKey form.
        let doc = ml_dsa_doc(oids::ML_DSA_65, &expanded_os);
        let exp_key = SigningKey::from_pkcs8_der(&doc).unwrap();
        assert_eq!(exp_key.key_id(), key.key_id());
        verify_cose(
            Suite::MlDsa65,
            &key.public_spki_der(),
            MSG,
            &exp_key.sign(MSG).unwrap(),
        );
        // It is written back in the expandedKey form.
        assert_eq!(exp_key.to_pkcs8_der().unwrap().as_slice(), doc.as_slice());

        // both form.
        let mut both_body = seed_os.clone();
        both_body.extend_from_slice(&expanded_os);
        let mut both = vec![0x30, 0x82];
        both.extend_from_slice(&u16::try_from(both_body.len()).unwrap().to_be_bytes());
        both.extend_from_slice(&both_body);
        let both_key = SigningKey::from_pkcs8_der(&ml_dsa_doc(oids::ML_DSA_65, &both)).unwrap();
        assert_eq!(both_key.key_id(), key.key_id());
        assert_eq!(both_key.to_pkcs8_der().unwrap(), der, "written as seed");

        // both form whose parts disagree.
        let other = SigningKey::generate(Suite::MlDsa65).unwrap();
        let other_der = other.to_pkcs8_der().unwrap();
        let other_seed = &PrivateKeyInfoRef::from_der(&other_der)
            .unwrap()
            .private_key
            .as_bytes()[2..]
            .to_vec();
        let mut bad_body = OctetStringRef::new(other_seed).unwrap().to_der().unwrap();
        bad_body.extend_from_slice(&expanded_os);
        let mut bad = vec![0x30, 0x82];
        bad.extend_from_slice(&u16::try_from(bad_body.len()).unwrap().to_be_bytes());
        bad.extend_from_slice(&bad_body);
        let err = SigningKey::from_pkcs8_der(&ml_dsa_doc(oids::ML_DSA_65, &bad)).unwrap_err();
        assert!(matches!(err, KeyError::Inconsistent(_)), "{err}");

        // Corrupted expanded key (t0 / tr mismatch) and wrong sizes.
        let mut corrupt = expanded.clone();
        corrupt[70] ^= 1; // inside tr
        let corrupt_os = OctetStringRef::new(&corrupt).unwrap().to_der().unwrap();
        assert!(SigningKey::from_pkcs8_der(&ml_dsa_doc(oids::ML_DSA_65, &corrupt_os)).is_err());
        assert!(SigningKey::from_pkcs8_der(&ml_dsa_doc(oids::ML_DSA_44, &expanded_os)).is_err());
        assert!(SigningKey::from_pkcs8_der(&ml_dsa_doc(oids::ML_DSA_65, &[0x80, 1, 0])).is_err());
    }

    #[test]
    fn rejects_unsupported_and_malformed() {
        assert!(matches!(
            SigningKey::from_pkcs8_pem("no pem here"),
            Err(KeyError::Pem(_))
        ));
        assert!(matches!(
            SigningKey::from_pkcs8_der(b"\x30\x03\x02\x01\x00"),
            Err(KeyError::Malformed(_))
        ));
        let cert_only = "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";
        let err = SigningKey::from_pkcs8_pem(cert_only).unwrap_err();
        assert!(err.to_string().contains("CERTIFICATE"), "{err}");
    }

    /// Keys written by `openssl genpkey` load and sign; openssl verifies.
    #[test]
    fn openssl_interop() {
        if !have_openssl("openssl_interop") {
            return;
        }
        let tmp = TempDir::new("openssl");
        let dir = tmp.path();
        fs::write(dir.join("msg"), MSG).unwrap();
        let cases: &[(Suite, &[&str])] = &[
            (
                Suite::EcdsaP256,
                &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
            ),
            (
                Suite::EcdsaP384,
                &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
            ),
            (Suite::Ed25519, &["-algorithm", "ED25519"]),
            (
                Suite::RsaPss3072,
                &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"],
            ),
            (Suite::Sm2, &["-algorithm", "SM2"]),
        ];
        for (suite, genargs) in cases {
            let name = suite.name();
            let keyfile = format!("{name}.key.pem");
            let pubfile = format!("{name}.pub.pem");
            let sigfile = format!("{name}.sig");
            let mut args = vec!["genpkey"];
            args.extend_from_slice(genargs);
            args.extend_from_slice(&["-out", &keyfile]);
            openssl_ok(dir, &args);
            openssl_ok(dir, &["pkey", "-in", &keyfile, "-pubout", "-out", &pubfile]);

            let key = SigningKey::load(&dir.join(&keyfile)).unwrap();
            assert_eq!(key.suite(), *suite);
            // Same SubjectPublicKeyInfo as openssl derives.
            let openssl_pub = fs::read_to_string(dir.join(&pubfile)).unwrap();
            assert_eq!(key.public_pem(), openssl_pub, "{name}");
            assert_eq!(public_key_from_pem(&openssl_pub).unwrap().0, *suite);

            let sig = key.sign(MSG).unwrap();
            verify_cose(*suite, &key.public_spki_der(), MSG, &sig);
            let sig_for_openssl = match suite {
                Suite::EcdsaP256 => p256::ecdsa::Signature::from_slice(&sig)
                    .unwrap()
                    .to_der()
                    .as_bytes()
                    .to_vec(),
                Suite::EcdsaP384 => p384::ecdsa::Signature::from_slice(&sig)
                    .unwrap()
                    .to_der()
                    .as_bytes()
                    .to_vec(),
                Suite::Sm2 => sm2::dsa::Signature::from_slice(&sig)
                    .unwrap()
                    .to_der()
                    .to_vec(),
                _ => sig.clone(),
            };
            fs::write(dir.join(&sigfile), &sig_for_openssl).unwrap();
            let verify: Vec<&str> = match suite {
                Suite::EcdsaP256 => vec!["dgst", "-sha256", "-verify", &pubfile],
                Suite::EcdsaP384 => vec!["dgst", "-sha384", "-verify", &pubfile],
                Suite::RsaPss3072 => vec![
                    "dgst",
                    "-sha256",
                    "-sigopt",
                    "rsa_padding_mode:pss",
                    "-sigopt",
                    "rsa_pss_saltlen:32",
                    "-sigopt",
                    "rsa_mgf1_md:sha256",
                    "-verify",
                    &pubfile,
                ],
                Suite::Sm2 => vec![
                    "dgst",
                    "-sm3",
                    "-sigopt",
                    "distid:1234567812345678",
                    "-verify",
                    &pubfile,
                ],
                _ => vec![],
            };
            let out = if *suite == Suite::Ed25519 {
                openssl_ok(
                    dir,
                    &[
                        "pkeyutl", "-verify", "-pubin", "-inkey", &pubfile, "-rawin", "-in", "msg",
                        "-sigfile", &sigfile,
                    ],
                )
            } else {
                let mut args = verify;
                args.extend_from_slice(&["-signature", &sigfile, "msg"]);
                openssl_ok(dir, &args)
            };
            assert!(out.contains("Verified"), "{name}: {out}");

            // Our own PKCS#8 output is readable by openssl and names the same key.
            let ours = format!("{name}.ours.pem");
            key.write_private_pem(&dir.join(&ours)).unwrap();
            let pub_again = openssl_ok(dir, &["pkey", "-in", &ours, "-pubout"]);
            assert_eq!(pub_again, openssl_pub, "{name}");
            // And a freshly generated key too.
            let fresh = SigningKey::generate(*suite).unwrap();
            let fresh_file = format!("{name}.fresh.pem");
            fresh.write_private_pem(&dir.join(&fresh_file)).unwrap();
            let fresh_pub = openssl_ok(dir, &["pkey", "-in", &fresh_file, "-pubout"]);
            assert_eq!(fresh_pub, fresh.public_pem(), "{name}");
        }

        // SEC1 "EC PRIVATE KEY" (with an EC PARAMETERS block before it).
        openssl_ok(
            dir,
            &[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-out",
                "sec1.pem",
            ],
        );
        let text = fs::read_to_string(dir.join("sec1.pem")).unwrap();
        assert!(text.contains("EC PRIVATE KEY"), "{text}");
        let key = SigningKey::load(&dir.join("sec1.pem")).unwrap();
        assert_eq!(key.suite(), Suite::EcdsaP256);
        let sm2_sec1 = openssl_ok(dir, &["ec", "-in", "sm2.key.pem"]);
        // OpenSSL 3.0 labels it "SM2 PRIVATE KEY".
        assert!(
            sm2_sec1.contains("-----BEGIN SM2 PRIVATE KEY-----"),
            "{sm2_sec1}"
        );
        let key = SigningKey::from_pkcs8_pem(&sm2_sec1).unwrap();
        assert_eq!(
            key.key_id(),
            SigningKey::load(&dir.join("sm2.key.pem")).unwrap().key_id()
        );

        // PKCS#1 "RSA PRIVATE KEY".
        let pkcs1 = openssl_ok(dir, &["rsa", "-in", "rsa-pss-3072.key.pem", "-traditional"]);
        assert!(pkcs1.contains("RSA PRIVATE KEY"), "{pkcs1}");
        assert_eq!(
            SigningKey::from_pkcs8_pem(&pkcs1).unwrap().suite(),
            Suite::RsaPss3072
        );

        // RSA keys must have exactly 3072 bits.
        openssl_ok(
            dir,
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                "rsa2048.pem",
            ],
        );
        let err = SigningKey::load(&dir.join("rsa2048.pem")).unwrap_err();
        assert!(
            matches!(&err, KeyError::InFile { source, .. } if matches!(**source, KeyError::RsaKeySize(2048))),
            "{err}"
        );
        assert!(err.to_string().contains("rsa2048.pem"), "{err}");
        openssl_ok(
            dir,
            &[
                "pkey",
                "-in",
                "rsa2048.pem",
                "-pubout",
                "-out",
                "rsa2048.pub",
            ],
        );
        let pem = fs::read_to_string(dir.join("rsa2048.pub")).unwrap();
        assert!(matches!(
            public_key_from_pem(&pem),
            Err(KeyError::RsaKeySize(2048))
        ));

        // Unsupported curve.
        openssl_ok(
            dir,
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-521",
                "-out",
                "p521.pem",
            ],
        );
        let err = SigningKey::load(&dir.join("p521.pem")).unwrap_err();
        assert!(err.to_string().contains("1.3.132.0.35"), "{err}");
    }
}
