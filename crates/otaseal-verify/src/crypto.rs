//! Raw signature verification for each otaseal suite.
//!
//! Keys arrive as full DER `SubjectPublicKeyInfo` structures (from a
//! certificate or a trust store) and signatures in their COSE encodings:
//! fixed-width `r || s` for ECDSA and SM2, 64 bytes for Ed25519, the modulus
//! width for RSA-PSS and the FIPS 204 encoding for ML-DSA.
//!
//! Every suite's verifier lives in its own non-inlined function so that a
//! device verifying P-256 signatures does not reserve the stack frame of
//! another suite (SM2 and P-256 frames are 4-5 KB each on a Cortex-M4). The same functions back the certificate-path algorithms in
//! [`crate::chain`], which differ only in signature encoding and hash choice.

use core::fmt;

use otaseal_manifest::Suite;

use der::Tagged;

use crate::cert::{SpkiRef, parse_spki};

/// The SM2 distinguishing identifier used when the signer names none
/// (GM/T 0009 default; ENTL = 0x0080).
pub const SM2_DEFAULT_DISTID: &str = "1234567812345678";

// OID content bytes (checked against `const-oid` in the tests).
/// id-ecPublicKey 1.2.840.10045.2.1
pub(crate) const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// prime256v1 1.2.840.10045.3.1.7
pub(crate) const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// secp384r1 1.3.132.0.34
pub(crate) const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
/// sm2p256v1 1.2.156.10197.1.301
pub(crate) const OID_SM2P256V1: &[u8] = &[0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d];
/// id-Ed25519 1.3.101.112
pub(crate) const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
/// rsaEncryption 1.2.840.113549.1.1.1
pub(crate) const OID_RSA_ENCRYPTION: &[u8] =
    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// id-RSASSA-PSS 1.2.840.113549.1.1.10
pub(crate) const OID_RSASSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
/// id-ml-dsa-44 2.16.840.1.101.3.4.3.17
pub(crate) const OID_ML_DSA_44: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x11];
/// id-ml-dsa-65 2.16.840.1.101.3.4.3.18
pub(crate) const OID_ML_DSA_65: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x12];
/// id-ml-dsa-87 2.16.840.1.101.3.4.3.19
pub(crate) const OID_ML_DSA_87: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x13];

/// FIPS 204 public key sizes (ML-DSA-44, -65, -87).
const ML_DSA_PUBLIC_KEY_LEN: [usize; 3] = [1312, 1952, 2592];
/// The one RSA modulus size the `rsa-pss-3072` suite accepts.
const RSA_SUITE_BITS: usize = 3072;

/// Why a signature was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CryptoError {
    /// This build cannot verify the algorithm: the suite's cargo feature is
    /// not compiled in, or the key's algorithm is not one otaseal knows.
    Unsupported,
    /// The key's algorithm, curve or size does not fit the suite.
    KeyMismatch,
    /// The key is not a valid encoding for its algorithm.
    MalformedKey,
    /// The signature is not a valid encoding for the suite (wrong length,
    /// scalar out of range, bad ML-DSA hint packing).
    MalformedSignature,
    /// The signature is well-formed but does not verify.
    BadSignature,
    /// An ECDSA signature whose S is above n/2: it may verify, but otaseal's
    /// format has exactly one encoding per signature, so a third party
    /// cannot turn a package into a byte-different one that also verifies.
    HighS,
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CryptoError::Unsupported => "signature algorithm not supported by this build",
            CryptoError::KeyMismatch => "public key does not fit the signature suite",
            CryptoError::MalformedKey => "public key is malformed",
            CryptoError::MalformedSignature => "signature is malformed",
            CryptoError::BadSignature => "signature does not verify",
            CryptoError::HighS => "ECDSA signature is not in low-S form",
        })
    }
}

/// Test-only accounting of the signature verifications actually run, so
/// tests can prove that an untrusted signer costs no cryptography.
#[cfg(test)]
pub(crate) mod work {
    extern crate std;
    use core::cell::Cell;

    std::thread_local! {
        static ALL: Cell<usize> = const { Cell::new(0) };
        static ML_DSA: Cell<usize> = const { Cell::new(0) };
    }

    /// Called by every verifier below.
    pub(crate) fn record(ml_dsa: bool) {
        ALL.with(|c| c.set(c.get() + 1));
        if ml_dsa {
            ML_DSA.with(|c| c.set(c.get() + 1));
        }
    }

    /// `(all, ml_dsa)` verifications on this thread since the last call.
    pub(crate) fn take() -> (usize, usize) {
        (ALL.with(|c| c.replace(0)), ML_DSA.with(|c| c.replace(0)))
    }
}

/// Whether the verifier for `suite` is compiled into this build.
pub const fn suite_supported(suite: Suite) -> bool {
    match suite {
        Suite::EcdsaP256 => cfg!(feature = "ecdsa-p256"),
        Suite::EcdsaP384 => cfg!(feature = "ecdsa-p384"),
        Suite::Ed25519 => cfg!(feature = "ed25519"),
        Suite::RsaPss3072 => cfg!(feature = "rsa-pss"),
        Suite::Sm2 => cfg!(feature = "sm2"),
        Suite::MlDsa44 => cfg!(feature = "ml-dsa-44"),
        Suite::MlDsa65 => cfg!(feature = "ml-dsa-65"),
        Suite::MlDsa87 => cfg!(feature = "ml-dsa-87"),
    }
}

/// Which suite a DER `SubjectPublicKeyInfo` belongs to.
///
/// Recognises every suite's key type whether or not its feature is compiled
/// in (check [`suite_supported`] before relying on it). An RSA key whose
/// modulus is not exactly 3072 bits gives [`CryptoError::KeyMismatch`]; an
/// unknown algorithm or curve gives [`CryptoError::Unsupported`].
pub fn suite_of_spki(spki_der: &[u8]) -> Result<Suite, CryptoError> {
    let spki = parse_spki(spki_der).map_err(|_| CryptoError::MalformedKey)?;
    classify(&spki)
}

/// Maps a parsed SPKI to its suite, checking the parameters and key size
/// that the suite fixes.
fn classify(spki: &SpkiRef<'_>) -> Result<Suite, CryptoError> {
    let oid = spki.alg_oid;
    if oid == OID_EC_PUBLIC_KEY {
        // Only namedCurve parameters; explicit curves and implicitCurve are
        // not accepted (RFC 5480 section 2.1.1).
        let curve = match spki.params {
            Some(p) if p.tag() == der::Tag::ObjectIdentifier => p.value(),
            Some(_) => return Err(CryptoError::Unsupported),
            None => return Err(CryptoError::MalformedKey),
        };
        return if curve == OID_P256 {
            Ok(Suite::EcdsaP256)
        } else if curve == OID_P384 {
            Ok(Suite::EcdsaP384)
        } else if curve == OID_SM2P256V1 {
            Ok(Suite::Sm2)
        } else {
            Err(CryptoError::Unsupported)
        };
    }
    if oid == OID_ED25519 {
        // RFC 8410: parameters MUST be absent.
        if spki.params.is_some() || spki.key.len() != 32 {
            return Err(CryptoError::MalformedKey);
        }
        return Ok(Suite::Ed25519);
    }
    if oid == OID_RSA_ENCRYPTION || oid == OID_RSASSA_PSS {
        check_rsa_key_params(spki)?;
        let (n, _) = rsa_public_key_parts(spki.key)?;
        return if uint_bits(n) == RSA_SUITE_BITS {
            Ok(Suite::RsaPss3072)
        } else {
            Err(CryptoError::KeyMismatch)
        };
    }
    for (i, (ml_oid, suite)) in [
        (OID_ML_DSA_44, Suite::MlDsa44),
        (OID_ML_DSA_65, Suite::MlDsa65),
        (OID_ML_DSA_87, Suite::MlDsa87),
    ]
    .into_iter()
    .enumerate()
    {
        if oid == ml_oid {
            // RFC 9881: parameters absent, key is the raw FIPS 204 encoding.
            let want = ML_DSA_PUBLIC_KEY_LEN.get(i).copied();
            if spki.params.is_some() || Some(spki.key.len()) != want {
                return Err(CryptoError::MalformedKey);
            }
            return Ok(suite);
        }
    }
    Err(CryptoError::Unsupported)
}

/// RSA key parameters the suite allows: rsaEncryption with NULL (RFC 3279;
/// absent tolerated), or id-RSASSA-PSS either unrestricted (absent) or
/// restricted to exactly SHA-256 / MGF1-SHA-256 / salt 32 (RFC 4055).
fn check_rsa_key_params(spki: &SpkiRef<'_>) -> Result<(), CryptoError> {
    if spki.alg_oid == OID_RSA_ENCRYPTION {
        return match spki.params {
            None => Ok(()),
            Some(p) if p.is_null() => Ok(()),
            Some(_) => Err(CryptoError::MalformedKey),
        };
    }
    if spki.params.is_none() || spki.alg_id == rustls_pki_types::alg_id::RSA_PSS_SHA256.as_ref() {
        Ok(())
    } else {
        // PSS key restricted to another hash or salt: not the suite's key.
        Err(CryptoError::KeyMismatch)
    }
}

/// Splits a DER `RSAPublicKey` into modulus and exponent magnitudes.
pub(crate) fn rsa_public_key_parts(key: &[u8]) -> Result<(&[u8], &[u8]), CryptoError> {
    use der::asn1::UintRef;
    let parse = || -> Result<(&[u8], &[u8]), der::Error> {
        let mut seq = crate::cert::sole_sequence(key)?;
        let n: UintRef<'_> = seq.decode()?;
        let e: UintRef<'_> = seq.decode()?;
        seq.finish()?;
        Ok((n.as_bytes(), e.as_bytes()))
    };
    parse().map_err(|_| CryptoError::MalformedKey)
}

/// Bit length of a big-endian magnitude without leading zero bytes.
pub(crate) fn uint_bits(bytes: &[u8]) -> usize {
    match bytes.iter().position(|b| *b != 0) {
        None => 0,
        Some(i) => {
            let rest = bytes.len().saturating_sub(i);
            let top = bytes.get(i).copied().unwrap_or(0);
            let top_bits =
                usize::try_from(u8::BITS.saturating_sub(top.leading_zeros())).unwrap_or(8);
            rest.saturating_sub(1)
                .saturating_mul(8)
                .saturating_add(top_bits)
        }
    }
}

/// Verifies `signature` over `message` with the public key `spki_der` (a
/// full DER `SubjectPublicKeyInfo`) under `suite`.
///
/// Signature encodings are COSE's: ECDSA and SM2 as fixed-width `r || s`,
/// Ed25519 as 64 bytes, RSA-PSS (SHA-256, MGF1-SHA-256, salt 32, 3072-bit
/// modulus) as 384 bytes, ML-DSA as FIPS 204 bytes (pure, empty context).
/// SM2 uses the default distinguishing id [`SM2_DEFAULT_DISTID`].
pub fn verify_signature(
    suite: Suite,
    spki_der: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Result<(), CryptoError> {
    if !suite_supported(suite) {
        return Err(CryptoError::Unsupported);
    }
    let spki = parse_spki(spki_der).map_err(|_| CryptoError::MalformedKey)?;
    match classify(&spki) {
        Ok(s) if s == suite => {}
        // A key this build does not know cannot fit the requested suite.
        Ok(_) | Err(CryptoError::Unsupported) => return Err(CryptoError::KeyMismatch),
        Err(e) => return Err(e),
    }
    #[allow(unreachable_patterns)] // arms for features that are off fold into `_`
    match suite {
        #[cfg(feature = "ecdsa-p256")]
        Suite::EcdsaP256 => {
            p256_scalars(signature)?;
            p256_verify(spki.key, message, signature, Hash::Sha256)
        }
        #[cfg(feature = "ecdsa-p384")]
        Suite::EcdsaP384 => {
            p384_low_s(signature)?;
            p384_verify(spki.key, message, signature, Hash::Sha384)
        }
        #[cfg(feature = "ed25519")]
        Suite::Ed25519 => ed25519_verify(spki.key, message, signature),
        #[cfg(feature = "rsa-pss")]
        Suite::RsaPss3072 => rsa_verify(
            spki.key,
            RSA_SUITE_BITS..=RSA_SUITE_BITS,
            RsaPadding::Pss(Hash::Sha256),
            message,
            signature,
        ),
        #[cfg(feature = "sm2")]
        Suite::Sm2 => sm2_verify(spki.key, message, signature),
        #[cfg(feature = "ml-dsa-44")]
        Suite::MlDsa44 => {
            ml_dsa_verify(otaseal_mldsa::Level::MlDsa44, spki.key, message, signature)
        }
        #[cfg(feature = "ml-dsa-65")]
        Suite::MlDsa65 => {
            ml_dsa_verify(otaseal_mldsa::Level::MlDsa65, spki.key, message, signature)
        }
        #[cfg(feature = "ml-dsa-87")]
        Suite::MlDsa87 => {
            ml_dsa_verify(otaseal_mldsa::Level::MlDsa87, spki.key, message, signature)
        }
        _ => {
            // Only reachable in builds without the suite (checked above).
            let _ = (message, signature);
            Err(CryptoError::Unsupported)
        }
    }
}

/// Message digests used by the certificate-path algorithms (COSE fixes one
/// per suite; X.509 signature algorithms may pair curves and hashes freely).
#[allow(dead_code)] // which variants are used depends on the features
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hash {
    /// SHA-256
    Sha256,
    /// SHA-384
    #[cfg(feature = "sha384")]
    Sha384,
    /// SHA-512
    #[cfg(feature = "sha512")]
    Sha512,
}

#[allow(dead_code)] // unused when only Ed25519 / SM2 / ML-DSA are compiled in
impl Hash {
    /// Hashes `msg` into `out`, returning the digest's slice of it.
    fn digest<'o>(self, msg: &[u8], out: &'o mut [u8; 64]) -> &'o [u8] {
        use sha2::Digest;
        match self {
            Hash::Sha256 => copy_digest(&sha2::Sha256::digest(msg), out),
            #[cfg(feature = "sha384")]
            Hash::Sha384 => copy_digest(&sha2::Sha384::digest(msg), out),
            #[cfg(feature = "sha512")]
            Hash::Sha512 => copy_digest(&sha2::Sha512::digest(msg), out),
        }
    }
}

#[allow(dead_code)]
fn copy_digest<'o>(d: &[u8], out: &'o mut [u8; 64]) -> &'o [u8] {
    let n = d.len().min(out.len());
    if let (Some(dst), Some(src)) = (out.get_mut(..n), d.get(..n)) {
        dst.copy_from_slice(src);
    }
    out.get(..n).unwrap_or(&[])
}

/// ECDSA verification over one NIST curve, fixed-width `r || s` signature.
macro_rules! ecdsa_verify_fn {
    ($name:ident, $feature:literal, $curve:ident, $width:expr) => {
        #[cfg(feature = $feature)]
        #[inline(never)]
        pub(crate) fn $name(
            key: &[u8],
            msg: &[u8],
            sig_rs: &[u8],
            hash: Hash,
        ) -> Result<(), CryptoError> {
            use signature::hazmat::PrehashVerifier;
            #[cfg(test)]
            work::record(false);
            let vk = $curve::ecdsa::VerifyingKey::from_sec1_bytes(key)
                .map_err(|_| CryptoError::MalformedKey)?;
            if sig_rs.len() != $width {
                return Err(CryptoError::MalformedSignature);
            }
            // Rejects r or s equal to zero or not below the group order.
            let sig = $curve::ecdsa::Signature::from_slice(sig_rs)
                .map_err(|_| CryptoError::MalformedSignature)?;
            let mut buf = [0u8; 64];
            let digest = hash.digest(msg, &mut buf);
            vk.verify_prehash(digest, &sig)
                .map_err(|_| CryptoError::BadSignature)
        }
    };
}

#[cfg(not(otaseal_p256_cm4))]
ecdsa_verify_fn!(p256_verify, "ecdsa-p256", p256, 64);
ecdsa_verify_fn!(p384_verify, "ecdsa-p384", p384, 96);

/// Refuses a COSE ECDSA signature whose S is above n/2 (certificate and TSA
/// signatures, made by CAs that do not normalise S, are not held to this).
macro_rules! ecdsa_low_s_fn {
    ($name:ident, $feature:literal, $curve:ident) => {
        #[cfg(feature = $feature)]
        fn $name(sig_rs: &[u8]) -> Result<(), CryptoError> {
            let sig = $curve::ecdsa::Signature::from_slice(sig_rs)
                .map_err(|_| CryptoError::MalformedSignature)?;
            if sig.normalize_s() == sig {
                Ok(())
            } else {
                Err(CryptoError::HighS)
            }
        }
    };
}

ecdsa_low_s_fn!(p384_low_s, "ecdsa-p384", p384);

/// Order n of the P-256 group, big-endian.
#[cfg(feature = "ecdsa-p256")]
const P256_N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// floor(n / 2) of P-256, big-endian: an S above it is high.
#[cfg(feature = "ecdsa-p256")]
const P256_HALF_N: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xde, 0x73, 0x7d, 0x56, 0xd3, 0x8b, 0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8,
];

/// Splits a COSE P-256 signature into `r` and `s` (big-endian) after our own
/// checks, the same for every backend: 64 bytes, both scalars in [1, n-1]
/// ([`CryptoError::MalformedSignature`] otherwise), and S at most n/2
/// ([`CryptoError::HighS`]: otaseal's one-encoding rule, format.md).
/// Byte strings of equal length compare as big-endian numbers.
#[cfg(feature = "ecdsa-p256")]
fn p256_scalars(sig_rs: &[u8]) -> Result<(&[u8; 32], &[u8; 32]), CryptoError> {
    let (r, s) = p256_range(sig_rs)?;
    if s.as_slice() > P256_HALF_N.as_slice() {
        return Err(CryptoError::HighS);
    }
    Ok((r, s))
}

/// `r` and `s` of a 64-byte `r || s` signature, each in [1, n-1].
#[cfg(feature = "ecdsa-p256")]
fn p256_range(sig_rs: &[u8]) -> Result<(&[u8; 32], &[u8; 32]), CryptoError> {
    let (r, s) = sig_rs
        .split_first_chunk::<32>()
        .ok_or(CryptoError::MalformedSignature)?;
    let s: &[u8; 32] = s.try_into().map_err(|_| CryptoError::MalformedSignature)?;
    for scalar in [r, s] {
        if scalar.iter().all(|&b| b == 0) || scalar.as_slice() >= P256_N.as_slice() {
            return Err(CryptoError::MalformedSignature);
        }
    }
    Ok((r, s))
}

/// ECDSA P-256 on ARMv7E-M by p256-cm4 (feature `p256-cm4`, thumbv7em
/// targets): the same checks, errors and hash truncation as the RustCrypto
/// backend (`ecdsa_verify_fn!`), in about 1.5 KB of stack instead of 5.8 KB.
/// The key is SEC1, uncompressed (`04 || x || y`) or compressed (`02`/`03`
/// `|| x`); p256-cm4 checks that it is on the curve.
#[cfg(otaseal_p256_cm4)]
#[inline(never)]
pub(crate) fn p256_verify(
    key: &[u8],
    msg: &[u8],
    sig_rs: &[u8],
    hash: Hash,
) -> Result<(), CryptoError> {
    #[cfg(test)]
    work::record(false);
    let well_formed = match key.first() {
        Some(4) => key.len() == 65,
        Some(2 | 3) => key.len() == 33,
        _ => false,
    };
    let (mut x, mut y) = ([0u32; 8], [0u32; 8]);
    // Lengths checked above: octet_string_to_point slices its input.
    if !well_formed || !p256_cm4::octet_string_to_point(&mut x, &mut y, key) {
        return Err(CryptoError::MalformedKey);
    }
    let (r, s) = p256_range(sig_rs)?;
    let mut buf = [0u8; 64];
    // p256-cm4 keeps the leftmost 256 bits of a longer digest (FIPS 186-5).
    let digest = hash.digest(msg, &mut buf);
    if p256_cm4::verify(&x, &y, digest, &le_words(r), &le_words(s)) {
        Ok(())
    } else {
        Err(CryptoError::BadSignature)
    }
}

/// A big-endian 256-bit number as p256-cm4's eight little-endian words.
#[cfg(otaseal_p256_cm4)]
fn le_words(be: &[u8; 32]) -> [u32; 8] {
    let mut words = [0u32; 8];
    // rchunks_exact yields the least significant four bytes first.
    for (word, chunk) in words.iter_mut().zip(be.rchunks_exact(4)) {
        *word = chunk.try_into().map(u32::from_be_bytes).unwrap_or(0);
    }
    words
}

/// Ed25519 (RFC 8032) with the strict checks: canonical S, no small-order
/// key or R, so one message has one valid signature per key.
#[cfg(feature = "ed25519")]
#[inline(never)]
pub(crate) fn ed25519_verify(key: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
    #[cfg(test)]
    work::record(false);
    let key: &[u8; 32] = key.try_into().map_err(|_| CryptoError::MalformedKey)?;
    let vk = ed25519_dalek::VerifyingKey::from_bytes(key).map_err(|_| CryptoError::MalformedKey)?;
    let sig: &[u8; 64] = sig
        .try_into()
        .map_err(|_| CryptoError::MalformedSignature)?;
    let sig = ed25519_dalek::Signature::from_bytes(sig);
    vk.verify_strict(msg, &sig)
        .map_err(|_| CryptoError::BadSignature)
}

/// SM2 with SM3 and the default distinguishing id, `r || s` signature:
/// `Z = SM3(ENTL || ID || a || b || xG || yG || xA || yA)`, `e = SM3(Z || M)`.
#[cfg(feature = "sm2")]
#[inline(never)]
pub(crate) fn sm2_verify(key: &[u8], msg: &[u8], sig_rs: &[u8]) -> Result<(), CryptoError> {
    #[cfg(test)]
    work::record(false);
    use signature::Verifier;
    let vk = sm2::dsa::VerifyingKey::from_sec1_bytes(SM2_DEFAULT_DISTID, key)
        .map_err(|_| CryptoError::MalformedKey)?;
    if sig_rs.len() != 64 {
        return Err(CryptoError::MalformedSignature);
    }
    let sig =
        sm2::dsa::Signature::from_slice(sig_rs).map_err(|_| CryptoError::MalformedSignature)?;
    vk.verify(msg, &sig).map_err(|_| CryptoError::BadSignature)
}

/// ML-DSA (FIPS 204), pure, with the empty context string COSE and X.509 use,
/// on `otaseal-mldsa`: each row of A is expanded on the fly and z, t1 are
/// decoded where they lie, so every level needs about 4 KB of stack and no
/// heap (RustCrypto `ml-dsa` kept A on the stack: 100 to 270 KB).
#[cfg(any(feature = "ml-dsa-44", feature = "ml-dsa-65", feature = "ml-dsa-87"))]
#[inline(never)]
pub(crate) fn ml_dsa_verify(
    level: otaseal_mldsa::Level,
    key: &[u8],
    msg: &[u8],
    sig: &[u8],
) -> Result<(), CryptoError> {
    #[cfg(test)]
    work::record(true);
    use otaseal_mldsa::Error as E;
    otaseal_mldsa::verify(level, key, msg, &[], sig).map_err(|e| match e {
        E::LevelNotCompiled => CryptoError::Unsupported,
        E::KeyLength => CryptoError::MalformedKey,
        E::SignatureLength | E::HintMalformed | E::ContextTooLong => {
            CryptoError::MalformedSignature
        }
        _ => CryptoError::BadSignature,
    })
}

/// RSA signature padding and its hash.
#[cfg(feature = "rsa-pss")]
#[derive(Clone, Copy, Debug)]
pub(crate) enum RsaPadding {
    /// RSASSA-PSS, MGF1 with the same hash, salt length = hash length.
    Pss(Hash),
    /// RSASSA-PKCS1-v1_5.
    Pkcs1(Hash),
}

/// RSA verification; `key` is a DER `RSAPublicKey`, `bits` the modulus sizes
/// accepted (anything else is [`CryptoError::KeyMismatch`]).
#[cfg(feature = "rsa-pss")]
#[inline(never)]
pub(crate) fn rsa_verify(
    key: &[u8],
    bits: core::ops::RangeInclusive<usize>,
    padding: RsaPadding,
    msg: &[u8],
    sig: &[u8],
) -> Result<(), CryptoError> {
    #[cfg(test)]
    work::record(false);
    use rsa::{BoxedUint, pkcs1v15, pss};
    use sha2::{Sha256, Sha384, Sha512};
    use signature::Verifier;

    let (n, e) = rsa_public_key_parts(key)?;
    let n_bits = uint_bits(n);
    if !bits.contains(&n_bits) {
        return Err(CryptoError::KeyMismatch);
    }
    let uint = |b: &[u8]| {
        let precision = u32::try_from(b.len().saturating_mul(8)).ok()?;
        BoxedUint::from_be_slice(b, precision).ok()
    };
    let (n, e) = match (uint(n), uint(e)) {
        (Some(n), Some(e)) => (n, e),
        _ => return Err(CryptoError::MalformedKey),
    };
    // Checks the exponent range and that the modulus is odd.
    let pk =
        rsa::PublicKey::new_with_size_limits(n, e, bits).map_err(|_| CryptoError::MalformedKey)?;
    // RFC 8017: the signature is exactly as long as the modulus.
    if sig.len() != n_bits.div_ceil(8) {
        return Err(CryptoError::MalformedSignature);
    }
    let bad = |_| CryptoError::BadSignature;
    match padding {
        RsaPadding::Pss(h) => {
            let sig = pss::Signature::try_from(sig).map_err(|_| CryptoError::MalformedSignature)?;
            match h {
                Hash::Sha256 => pss::VerifyingKey::<Sha256>::new_with_salt_len(pk, 32)
                    .verify(msg, &sig)
                    .map_err(bad),
                Hash::Sha384 => pss::VerifyingKey::<Sha384>::new_with_salt_len(pk, 48)
                    .verify(msg, &sig)
                    .map_err(bad),
                Hash::Sha512 => pss::VerifyingKey::<Sha512>::new_with_salt_len(pk, 64)
                    .verify(msg, &sig)
                    .map_err(bad),
            }
        }
        RsaPadding::Pkcs1(h) => {
            let sig =
                pkcs1v15::Signature::try_from(sig).map_err(|_| CryptoError::MalformedSignature)?;
            match h {
                Hash::Sha256 => pkcs1v15::VerifyingKey::<Sha256>::new(pk)
                    .verify(msg, &sig)
                    .map_err(bad),
                Hash::Sha384 => pkcs1v15::VerifyingKey::<Sha384>::new(pk)
                    .verify(msg, &sig)
                    .map_err(bad),
                Hash::Sha512 => pkcs1v15::VerifyingKey::<Sha512>::new(pk)
                    .verify(msg, &sig)
                    .map_err(bad),
            }
        }
    }
}

/// Converts a DER `ECDSA-Sig-Value` / SM2 `SEQUENCE { r INTEGER, s INTEGER }`
/// into fixed-width `r || s` of `2 * width` bytes inside `out`.
#[allow(dead_code)] // unused when no ECDSA/SM2 feature is compiled in
pub(crate) fn der_sig_to_raw<'o>(
    der_sig: &[u8],
    width: usize,
    out: &'o mut [u8; 96],
) -> Option<&'o [u8]> {
    use der::asn1::UintRef;
    let mut seq = crate::cert::sole_sequence(der_sig).ok()?;
    let r: UintRef<'_> = seq.decode().ok()?;
    let s: UintRef<'_> = seq.decode().ok()?;
    seq.finish().ok()?;
    let total = width.checked_mul(2)?;
    let raw = out.get_mut(..total)?;
    raw.fill(0);
    // r fills bytes [0, width), s fills [width, 2 * width), right-aligned.
    for (half_start, v) in [(0, r.as_bytes()), (width, s.as_bytes())] {
        let end = half_start.checked_add(width)?;
        let start = end.checked_sub(v.len())?;
        // `start` must stay inside this half: a longer integer is out of range.
        if start < half_start {
            return None;
        }
        raw.get_mut(start..end)?.copy_from_slice(v);
    }
    out.get(..total)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::testutil::*;
    use std::vec;
    use std::vec::Vec;

    #[test]
    fn oid_constants_match_const_oid() {
        use const_oid::ObjectIdentifier as O;
        for (bytes, dotted) in [
            (OID_EC_PUBLIC_KEY, "1.2.840.10045.2.1"),
            (OID_P256, "1.2.840.10045.3.1.7"),
            (OID_P384, "1.3.132.0.34"),
            (OID_SM2P256V1, "1.2.156.10197.1.301"),
            (OID_ED25519, "1.3.101.112"),
            (OID_RSA_ENCRYPTION, "1.2.840.113549.1.1.1"),
            (OID_RSASSA_PSS, "1.2.840.113549.1.1.10"),
            (OID_ML_DSA_44, "2.16.840.1.101.3.4.3.17"),
            (OID_ML_DSA_65, "2.16.840.1.101.3.4.3.18"),
            (OID_ML_DSA_87, "2.16.840.1.101.3.4.3.19"),
        ] {
            assert_eq!(bytes, O::new_unwrap(dotted).as_bytes(), "{dotted}");
        }
    }

    #[test]
    fn every_suite_signs_and_verifies() {
        let keys = all_keys();
        let msg = b"otaseal manifest bytes";
        for (i, key) in keys.iter().enumerate() {
            let name = key.suite.name();
            assert_eq!(suite_of_spki(&key.spki), Ok(key.suite), "{name}");
            let sig = key.sign(msg);
            if !suite_supported(key.suite) {
                assert_eq!(
                    verify_signature(key.suite, &key.spki, msg, &sig),
                    Err(CryptoError::Unsupported),
                    "{name}"
                );
                continue;
            }
            assert_eq!(
                verify_signature(key.suite, &key.spki, msg, &sig),
                Ok(()),
                "{name}"
            );

            // Flipped message byte.
            let mut bad_msg = msg.to_vec();
            bad_msg[3] ^= 1;
            assert_eq!(
                verify_signature(key.suite, &key.spki, &bad_msg, &sig),
                Err(CryptoError::BadSignature),
                "{name}"
            );

            // Flipped signature byte (middle): never accepted.
            let mut bad_sig = sig.clone();
            let mid = bad_sig.len() / 2;
            bad_sig[mid] ^= 0x10;
            // (Which of these depends on the byte: a scalar out of range, a
            // high S, a bad ML-DSA hint packing, or a plain mismatch.)
            assert!(
                matches!(
                    verify_signature(key.suite, &key.spki, msg, &bad_sig),
                    Err(CryptoError::BadSignature
                        | CryptoError::MalformedSignature
                        | CryptoError::HighS)
                ),
                "{name}"
            );

            // Truncated and extended signature.
            let short = &sig[..sig.len() - 1];
            assert!(
                matches!(
                    verify_signature(key.suite, &key.spki, msg, short),
                    Err(CryptoError::MalformedSignature | CryptoError::BadSignature)
                ),
                "{name}"
            );
            let mut long = sig.clone();
            long.push(0);
            assert_eq!(
                verify_signature(key.suite, &key.spki, msg, &long),
                Err(CryptoError::MalformedSignature),
                "{name}"
            );
            assert_eq!(
                verify_signature(key.suite, &key.spki, msg, &[]),
                Err(CryptoError::MalformedSignature),
                "{name}"
            );

            // The key of another suite.
            let other = &keys[(i + 1) % keys.len()];
            assert_eq!(
                verify_signature(key.suite, &other.spki, msg, &sig),
                Err(CryptoError::KeyMismatch),
                "{name} with {} key",
                other.suite.name()
            );
        }
    }

    #[cfg(feature = "ml-dsa")]
    #[test]
    fn ml_dsa_rejects_non_empty_context() {
        use ml_dsa::KeyExport;
        let msg = b"payload";
        let sk = ml_dsa::SigningKey::<ml_dsa::MlDsa65>::from_seed(&[9u8; 32].into());
        let esk = sk.expanded_key();
        let vk = esk.verifying_key().to_bytes();
        let key = spki(&tlv(0x06, OID_ML_DSA_65), &vk);
        let with_ctx = esk.sign_deterministic(msg, b"otaseal").unwrap().encode();
        assert_eq!(
            verify_signature(Suite::MlDsa65, &key, msg, &with_ctx),
            Err(CryptoError::BadSignature)
        );
        let empty_ctx = esk.sign_deterministic(msg, b"").unwrap().encode();
        assert_eq!(
            verify_signature(Suite::MlDsa65, &key, msg, &empty_ctx),
            Ok(())
        );
        // The ML-DSA-44 key length under the ML-DSA-65 OID is malformed.
        let k44 = ml_dsa_key(1, Suite::MlDsa44);
        let wrong = spki(
            &tlv(0x06, OID_ML_DSA_65),
            &k44.spki[k44.spki.len() - 1312..],
        );
        assert_eq!(suite_of_spki(&wrong), Err(CryptoError::MalformedKey));
    }

    #[cfg(feature = "ecdsa-p256")]
    #[test]
    fn ecdsa_high_s_and_out_of_range_scalars() {
        // COSE signatures must be low-S (one encoding per signature); the
        // same high-S signature still verifies as a certificate signature,
        // since CAs (OpenSSL among them) do not normalise S.
        use p256::elliptic_curve::ops::Neg;
        let key = p256_key(11);
        let msg = b"m";
        let sig = p256::ecdsa::Signature::from_slice(&key.sign(msg)).unwrap();
        let (r, s) = sig.split_scalars();
        let flipped =
            p256::ecdsa::Signature::from_scalars(r.to_bytes(), s.neg().to_bytes()).unwrap();
        let (low, high) = if flipped.normalize_s() == flipped {
            (flipped, sig)
        } else {
            (sig, flipped)
        };
        assert_eq!(
            verify_signature(Suite::EcdsaP256, &key.spki, msg, &low.to_bytes()),
            Ok(())
        );
        assert_eq!(
            verify_signature(Suite::EcdsaP256, &key.spki, msg, &high.to_bytes()),
            Err(CryptoError::HighS)
        );
        let sec1 = &key.spki[key.spki.len() - 65..];
        assert_eq!(
            p256_verify(sec1, msg, &high.to_bytes(), Hash::Sha256),
            Ok(())
        );
        // r = 0 and r = 0xff..ff (>= n) are malformed.
        let mut zero = [0u8; 64];
        zero[63] = 1;
        assert_eq!(
            verify_signature(Suite::EcdsaP256, &key.spki, msg, &zero),
            Err(CryptoError::MalformedSignature)
        );
        assert_eq!(
            verify_signature(Suite::EcdsaP256, &key.spki, msg, &[0xff; 64]),
            Err(CryptoError::MalformedSignature)
        );
    }

    #[cfg(all(feature = "ecdsa-p256", feature = "ed25519"))]
    #[test]
    fn spki_classification() {
        // Unknown algorithm (Ed448).
        let ed448 = spki(&tlv(0x06, &[0x2b, 0x65, 0x71]), &[0u8; 57]);
        assert_eq!(suite_of_spki(&ed448), Err(CryptoError::Unsupported));
        assert_eq!(
            verify_signature(Suite::Ed25519, &ed448, b"", &[0; 64]),
            Err(CryptoError::KeyMismatch)
        );
        // Unknown curve (P-521).
        let p521 = spki(&ec_alg(&[0x2b, 0x81, 0x04, 0x00, 0x23]), &[4u8; 133]);
        assert_eq!(suite_of_spki(&p521), Err(CryptoError::Unsupported));
        // EC key without curve parameters.
        let no_curve = spki(&tlv(0x06, OID_EC_PUBLIC_KEY), &[4u8; 65]);
        assert_eq!(suite_of_spki(&no_curve), Err(CryptoError::MalformedKey));
        // Ed25519 with parameters, wrong length.
        let bad_ed = spki(&cat(&[&tlv(0x06, OID_ED25519), &[5, 0]]), &[1u8; 32]);
        assert_eq!(suite_of_spki(&bad_ed), Err(CryptoError::MalformedKey));
        let short_ed = spki(&tlv(0x06, OID_ED25519), &[1u8; 31]);
        assert_eq!(suite_of_spki(&short_ed), Err(CryptoError::MalformedKey));
        // An invalid P-256 point.
        let bad_point = spki(&ec_alg(OID_P256), &[4u8; 65]);
        assert_eq!(suite_of_spki(&bad_point), Ok(Suite::EcdsaP256));
        assert_eq!(
            verify_signature(Suite::EcdsaP256, &bad_point, b"", &[1; 64]),
            Err(CryptoError::MalformedKey)
        );
        // Garbage and trailing bytes.
        assert_eq!(suite_of_spki(&[]), Err(CryptoError::MalformedKey));
        let mut trailing = p256_key(1).spki;
        trailing.push(0);
        assert_eq!(suite_of_spki(&trailing), Err(CryptoError::MalformedKey));
    }

    #[cfg(feature = "rsa-pss")]
    #[test]
    fn rsa_key_sizes_and_pss_params() {
        let key = rsa_key();
        let spki_parsed = parse_spki(&key.spki).unwrap();
        let (n, e) = rsa_public_key_parts(spki_parsed.key).unwrap();
        assert_eq!(uint_bits(n), 3072);
        // A 2048-bit modulus is another key size: KeyMismatch.
        let rsa_pub = |n: &[u8]| {
            let mut nn = vec![0u8];
            nn.extend_from_slice(n);
            tlv(0x30, &cat(&[&tlv(0x02, &nn), &tlv(0x02, e)]))
        };
        let alg = cat(&[&tlv(0x06, OID_RSA_ENCRYPTION), &[5, 0]]);
        let k2048 = spki(&alg, &rsa_pub(&n[..256]));
        assert_eq!(suite_of_spki(&k2048), Err(CryptoError::KeyMismatch));
        let sig = key.sign(b"x");
        assert_eq!(
            verify_signature(Suite::RsaPss3072, &k2048, b"x", &sig),
            Err(CryptoError::KeyMismatch)
        );
        // The same key under id-RSASSA-PSS: absent params or SHA-256 params.
        let pss_any = spki(&tlv(0x06, OID_RSASSA_PSS), &rsa_pub(n));
        assert_eq!(
            verify_signature(Suite::RsaPss3072, &pss_any, b"x", &sig),
            Ok(())
        );
        let pss_256 = spki(
            rustls_pki_types::alg_id::RSA_PSS_SHA256.as_ref(),
            &rsa_pub(n),
        );
        assert_eq!(
            verify_signature(Suite::RsaPss3072, &pss_256, b"x", &sig),
            Ok(())
        );
        let pss_384 = spki(
            rustls_pki_types::alg_id::RSA_PSS_SHA384.as_ref(),
            &rsa_pub(n),
        );
        assert_eq!(suite_of_spki(&pss_384), Err(CryptoError::KeyMismatch));
        // Salt length other than 32 is rejected.
        use rsa::pkcs8::DecodePrivateKey;
        use signature::{SignatureEncoding, Signer};
        let sk = rsa::PrivateKey::from_pkcs8_pem(RSA3072_PKCS8_PEM).unwrap();
        let salt20 = rsa::pss::SigningKey::<sha2::Sha256>::new_with_salt_len(sk, 20).sign(b"x");
        assert_eq!(
            verify_signature(Suite::RsaPss3072, &key.spki, b"x", &salt20.to_vec()),
            Err(CryptoError::BadSignature)
        );
    }

    /// SM2 against OpenSSL 3.0, both directions, default distinguishing id.
    #[test]
    fn sm2_openssl_interop() {
        let Some(dir) = TempDir::new("sm2") else {
            std::eprintln!("note: openssl not found; skipping SM2 interop test");
            return;
        };
        let msg = b"otaseal SM2 interop message";
        dir.write("msg.bin", msg);
        let ossl = |args: &[&str]| dir.openssl(args).unwrap();
        ossl(&["genpkey", "-algorithm", "SM2", "-out", "k.pem"]);
        ossl(&[
            "pkey", "-in", "k.pem", "-pubout", "-outform", "DER", "-out", "pub.der",
        ]);
        let spki_der = dir.read("pub.der").unwrap();
        assert_eq!(suite_of_spki(&spki_der), Ok(Suite::Sm2));

        // OpenSSL signs (two front ends), we verify.
        ossl(&[
            "pkeyutl",
            "-sign",
            "-rawin",
            "-digest",
            "sm3",
            "-inkey",
            "k.pem",
            "-in",
            "msg.bin",
            "-pkeyopt",
            "distid:1234567812345678",
            "-out",
            "sig1.der",
        ]);
        ossl(&[
            "dgst",
            "-sm3",
            "-sign",
            "k.pem",
            "-sigopt",
            "distid:1234567812345678",
            "-out",
            "sig2.der",
            "msg.bin",
        ]);
        // Another distinguishing id must not verify under the default one.
        ossl(&[
            "dgst",
            "-sm3",
            "-sign",
            "k.pem",
            "-sigopt",
            "distid:ALICE123@YAHOO.COM",
            "-out",
            "sig3.der",
            "msg.bin",
        ]);
        let mut buf = [0u8; 96];
        for (file, want) in [
            ("sig1.der", Ok(())),
            ("sig2.der", Ok(())),
            ("sig3.der", Err(CryptoError::BadSignature)),
        ] {
            let der = dir.read(file).unwrap();
            let raw = der_sig_to_raw(&der, 32, &mut buf).unwrap().to_vec();
            let got = verify_signature(Suite::Sm2, &spki_der, msg, &raw);
            let want = if suite_supported(Suite::Sm2) {
                want
            } else {
                Err(CryptoError::Unsupported)
            };
            assert_eq!(got, want, "{file}");
        }

        // We sign (sm2 crate), OpenSSL verifies.
        let key = sm2_key(42);
        dir.write("ours.der", &key.spki);
        dir.write("oursig.der", &raw_sig_to_der(&key.sign(msg)));
        let verify = |msg_file: &str| {
            dir.try_openssl(&[
                "pkeyutl",
                "-verify",
                "-rawin",
                "-digest",
                "sm3",
                "-pubin",
                "-keyform",
                "DER",
                "-inkey",
                "ours.der",
                "-in",
                msg_file,
                "-sigfile",
                "oursig.der",
                "-pkeyopt",
                "distid:1234567812345678",
            ])
            .is_ok()
        };
        assert!(verify("msg.bin"), "openssl rejected an sm2-crate signature");
        dir.write("other.bin", b"otaseal SM2 interop messagf");
        assert!(!verify("other.bin"), "openssl accepted a wrong message");
    }

    /// Mutated keys and signatures never panic.
    #[test]
    fn mutations_do_not_panic() {
        let keys = [
            p256_key(1),
            p384_key(2),
            ed25519_key(3),
            sm2_key(4),
            rsa_key(),
        ];
        let msg = b"m";
        for key in &keys {
            let sig = key.sign(msg);
            for i in 0..key.spki.len().min(48) {
                for flip in [0x01u8, 0x80, 0xff] {
                    let mut k = key.spki.clone();
                    k[i] ^= flip;
                    let _ = suite_of_spki(&k);
                    assert!(verify_signature(key.suite, &k, msg, &sig).is_err() || i > 30);
                }
            }
            for len in 0..key.spki.len().min(64) {
                let _ = verify_signature(key.suite, &key.spki[..len], msg, &sig);
            }
        }
        // Degenerate RSA keys: zero, one and even exponents, even modulus.
        let n = {
            let mut n = vec![0u8, 0xc1];
            n.extend([0x5a; 383]);
            n
        };
        for e in [
            &[0u8][..],
            &[1],
            &[2],
            &[0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01],
        ] {
            let key = tlv(0x30, &cat(&[&tlv(0x02, &n), &tlv(0x02, e)]));
            let k = spki(&cat(&[&tlv(0x06, OID_RSA_ENCRYPTION), &[5, 0]]), &key);
            assert_eq!(suite_of_spki(&k), Ok(Suite::RsaPss3072));
            assert_eq!(
                verify_signature(Suite::RsaPss3072, &k, msg, &[1u8; 384]),
                Err(if suite_supported(Suite::RsaPss3072) {
                    CryptoError::MalformedKey
                } else {
                    CryptoError::Unsupported
                }),
                "exponent {e:02x?}"
            );
        }
    }

    #[test]
    fn der_signature_conversion() {
        let mut out = [0u8; 96];
        let raw: Vec<u8> = (1..=64).collect();
        let der = raw_sig_to_der(&raw);
        assert_eq!(der_sig_to_raw(&der, 32, &mut out), Some(&raw[..]));
        // Leading zeros are restored.
        let mut small = [0u8; 64];
        small[31] = 7;
        small[63] = 9;
        let der = raw_sig_to_der(&small);
        assert_eq!(der_sig_to_raw(&der, 32, &mut out), Some(&small[..]));
        // Too wide for the field, trailing data, negative integer.
        assert_eq!(
            der_sig_to_raw(&raw_sig_to_der(&[1u8; 66]), 32, &mut out),
            None
        );
        let mut trailing = raw_sig_to_der(&raw);
        trailing.push(0);
        assert_eq!(der_sig_to_raw(&trailing, 32, &mut out), None);
        assert_eq!(
            der_sig_to_raw(
                &[0x30, 0x06, 0x02, 0x01, 0x80, 0x02, 0x01, 0x01],
                32,
                &mut out
            ),
            None
        );
        assert_eq!(der_sig_to_raw(&[], 32, &mut out), None);
    }

    /// Child half of the stack test: verifies all three ML-DSA levels on a
    /// thread with the stack size given in `OTASEAL_STACK_PROBE`.
    #[cfg(feature = "ml-dsa")]
    #[test]
    #[ignore = "run by ml_dsa_verification_fits_small_stack"]
    fn ml_dsa_stack_probe_child() {
        let Ok(stack) = std::env::var("OTASEAL_STACK_PROBE") else {
            return;
        };
        let stack: usize = stack.parse().unwrap();
        // Optionally one level only (for measuring by hand).
        let only = std::env::var("OTASEAL_STACK_SUITE").ok();
        let cases: Vec<(Suite, Vec<u8>, Vec<u8>)> =
            [Suite::MlDsa44, Suite::MlDsa65, Suite::MlDsa87]
                .into_iter()
                .filter(|s| only.as_deref().is_none_or(|o| o == s.name()))
                .map(|s| {
                    let k = ml_dsa_key(1, s);
                    let sig = k.sign(b"m");
                    (s, k.spki, sig)
                })
                .collect();
        std::thread::Builder::new()
            .stack_size(stack)
            .spawn(move || {
                for (suite, key, sig) in &cases {
                    assert_eq!(verify_signature(*suite, key, b"m", sig), Ok(()));
                }
            })
            .unwrap()
            .join()
            .unwrap();
    }

    /// ML-DSA verification runs on otaseal-mldsa (about 4 KB of stack on a
    /// Cortex-M4, measured by `crates/otaseal-mldsa/firmware/run.sh`, which
    /// enforces the budgets). Here, on the host, each level is held to
    /// `host_budget::ML_DSA` in release builds (whole-matrix code needs
    /// 100-270 KB), 1 MiB in debug; the measured need is printed.
    #[cfg(feature = "ml-dsa")]
    #[test]
    fn ml_dsa_verification_fits_small_stack() {
        let name = "crypto::tests::ml_dsa_stack_probe_child";
        let budget = STACK_BUDGET;
        assert!(
            fits_in_stack(name, budget, &[]),
            "ML-DSA verification overflowed a {budget}-byte stack"
        );
        for suite in [Suite::MlDsa44, Suite::MlDsa65, Suite::MlDsa87] {
            if !suite_supported(suite) {
                continue;
            }
            let fits =
                |stack: usize| fits_in_stack(name, stack, &[("OTASEAL_STACK_SUITE", suite.name())]);
            crate::testutil::assert_release_budget(
                suite.name(),
                crate::testutil::host_budget::ML_DSA,
                fits,
            );
            let hi = stack_needed(budget, fits);
            std::eprintln!(
                "{} verification needs at most {} KiB of stack ({})",
                suite.name(),
                hi / 1024,
                if cfg!(debug_assertions) {
                    "debug"
                } else {
                    "release"
                }
            );
        }
    }
}
