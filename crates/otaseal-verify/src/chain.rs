//! X.509 path validation with `rustls-webpki`, backed by RustCrypto.
//!
//! webpki is built without *ring* and without alloc, so it brings no
//! signature algorithms of its own: this module supplies them as
//! [`SignatureVerificationAlgorithm`] objects, one per (public key algorithm
//! identifier, signature algorithm identifier) pair, because webpki matches
//! both identifiers byte for byte (the contents of the `AlgorithmIdentifier`
//! SEQUENCE, without its tag and length). That is also how SM2-with-SM3 and
//! ML-DSA, which webpki does not know, are plugged in.
//!
//! [`verify_code_signing_chain`] then asks webpki to build a path from the
//! leaf to a trust anchor with the code-signing extended key usage *if
//! present* on every certificate of the path (webpki applies the EKU rule to
//! intermediates as well), and checks the leaf itself with [`crate::cert`]:
//! the leaf must name id-kp-codeSigning, and a keyUsage extension, when
//! present, must allow digitalSignature.
//!
//! Compiled with the `x509` feature.
#![cfg(feature = "x509")]

use core::fmt;

#[allow(unused_imports)] // `alg_id` is unused in builds without standard algorithms
use rustls_pki_types::{
    AlgorithmIdentifier, CertificateDer, InvalidSignature, SignatureVerificationAlgorithm,
    TrustAnchor, UnixTime, alg_id,
};

use crate::cert::{self, CertInfo, OID_KP_CODE_SIGNING};
#[allow(unused_imports)] // which helpers are used depends on the features
use crate::crypto::{self, CryptoError, Hash};

pub use crate::error::ChainError;

/// Maps webpki's error to ours. webpki reports the most specific error over
/// all the candidate paths it tried.
fn map_webpki(e: webpki::Error) -> ChainError {
    use webpki::Error as W;
    #[allow(deprecated)] // the context-free variants are still produced by old paths
    match e {
        W::BadDer
        | W::BadDerTime
        | W::TrailingData(_)
        | W::MalformedExtensions
        | W::ExtensionValueInvalid
        | W::UnsupportedCertVersion
        | W::InvalidSerialNumber
        | W::InvalidCertValidity
        | W::SignatureAlgorithmMismatch => ChainError::Malformed,
        W::UnknownIssuer | W::CertDistrusted => ChainError::UnknownIssuer,
        W::CertExpired { .. } => ChainError::Expired,
        W::CertNotValidYet { .. } => ChainError::NotYetValid,
        // An EKU extension listing no purpose allows none.
        W::RequiredEkuNotFound | W::RequiredEkuNotFoundContext(_) | W::EmptyEkuExtension => {
            ChainError::WrongEku
        }
        W::InvalidSignatureForPublicKey => ChainError::BadSignature,
        W::UnsupportedSignatureAlgorithm
        | W::UnsupportedSignatureAlgorithmContext(_)
        | W::UnsupportedSignatureAlgorithmForPublicKey
        | W::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => {
            ChainError::UnsupportedAlgorithm
        }
        _ => ChainError::Other,
    }
}

/// Verifies that `leaf_der` chains to one of `anchors` through
/// `intermediates` at `time`, and that the leaf may sign code: it must list
/// id-kp-codeSigning (1.3.6.1.5.5.7.3.3) and, if it has a keyUsage
/// extension, digitalSignature. Every certificate on the path that has an
/// extended key usage extension must list code signing too.
///
/// Uses every algorithm compiled in ([`ALL_CHAIN_ALGORITHMS`]).
pub fn verify_code_signing_chain(
    leaf_der: &[u8],
    intermediates: &[CertificateDer<'_>],
    anchors: &[TrustAnchor<'_>],
    time: UnixTime,
) -> Result<(), ChainError> {
    verify_chain_for_eku(
        leaf_der,
        intermediates,
        anchors,
        time,
        OID_KP_CODE_SIGNING,
        ALL_CHAIN_ALGORITHMS,
    )
    .map(|_| ())
}

/// The general form of [`verify_code_signing_chain`]: `eku` is the DER
/// content of the purpose OID the leaf must list (and that every extended
/// key usage extension on the path must allow), `algorithms` the signature
/// algorithms trusted for certificate signatures (a device that only trusts
/// SM2 passes only [`SM2_SM3`] and [`SM2_SM3_NULL_PARAMS`]).
///
/// Returns the leaf's [`CertInfo`], so callers can apply further rules
/// (RFC 3161 wants the timestamping EKU to be the only one, and critical).
pub fn verify_chain_for_eku<'a>(
    leaf_der: &'a [u8],
    intermediates: &[CertificateDer<'_>],
    anchors: &[TrustAnchor<'_>],
    time: UnixTime,
    eku: &'static [u8],
    algorithms: &[&dyn SignatureVerificationAlgorithm],
) -> Result<CertInfo<'a>, ChainError> {
    // Our own parse first: it is stricter on a few points (duplicate key
    // usage extensions, inner/outer algorithm mismatch) and cheap.
    let info = cert::parse_certificate(leaf_der).map_err(|_| ChainError::Malformed)?;

    let leaf = CertificateDer::from(leaf_der);
    let end_entity = webpki::EndEntityCert::try_from(&leaf).map_err(map_webpki)?;
    end_entity
        .verify_for_usage(
            algorithms,
            anchors,
            intermediates,
            time,
            webpki::KeyUsage::required_if_present(eku),
            None,
            None,
        )
        .map_err(map_webpki)?;

    // webpki has checked that an EKU extension, if present, lists `eku` on
    // every certificate of the path; but it accepts a leaf *without* the
    // extension, and code signing needs the purpose named explicitly.
    let has_eku = info.eku_present
        && if eku == OID_KP_CODE_SIGNING {
            info.has_code_signing_eku
        } else if eku == cert::OID_KP_TIME_STAMPING {
            info.has_time_stamping_eku
        } else {
            true
        };
    if !has_eku {
        return Err(ChainError::WrongEku);
    }
    // webpki ignores keyUsage; RFC 5280 4.2.1.3 says a key whose keyUsage
    // lacks digitalSignature must not verify signatures on data.
    if info.key_usage_digital_signature == Some(false) {
        return Err(ChainError::MissingKeyUsage);
    }
    Ok(info)
}

/// Which verifier a [`RustCryptoAlgorithm`] runs.
#[derive(Clone, Copy, Debug)]
#[allow(dead_code)] // variants exist per feature
enum Kind {
    EcdsaP256(Hash),
    EcdsaP384(Hash),
    Ed25519,
    Sm2,
    RsaPkcs1(Hash),
    RsaPss(Hash),
    MlDsa44,
    MlDsa65,
    MlDsa87,
}

/// A webpki signature algorithm implemented with RustCrypto.
#[allow(dead_code)] // never constructed in a build without any algorithm
struct RustCryptoAlgorithm {
    name: &'static str,
    kind: Kind,
    public_key_alg_id: AlgorithmIdentifier,
    signature_alg_id: AlgorithmIdentifier,
}

impl fmt::Debug for RustCryptoAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (otaseal RustCrypto)", self.name)
    }
}

/// RSA modulus sizes accepted in certificate paths (as webpki's *ring* set).
#[cfg(feature = "rsa-pss")]
const RSA_CHAIN_BITS: core::ops::RangeInclusive<usize> = 2048..=8192;

impl SignatureVerificationAlgorithm for RustCryptoAlgorithm {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        self.verify(public_key, message, signature)
            .map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        self.public_key_alg_id
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        self.signature_alg_id
    }
}

#[allow(dead_code)]
impl RustCryptoAlgorithm {
    /// `public_key` is the subjectPublicKey BIT STRING contents; ECDSA and
    /// SM2 certificate signatures are DER `SEQUENCE { r, s }`.
    #[allow(unused_variables, unreachable_patterns)]
    fn verify(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        #[allow(unused_mut)]
        let mut raw = [0u8; 96];
        match self.kind {
            #[cfg(feature = "ecdsa-p256")]
            Kind::EcdsaP256(h) => {
                crypto::p256_verify(public_key, message, der_to_raw(signature, 32, &mut raw)?, h)
            }
            #[cfg(feature = "ecdsa-p384")]
            Kind::EcdsaP384(h) => {
                crypto::p384_verify(public_key, message, der_to_raw(signature, 48, &mut raw)?, h)
            }
            #[cfg(feature = "ed25519")]
            Kind::Ed25519 => crypto::ed25519_verify(public_key, message, signature),
            #[cfg(feature = "sm2")]
            Kind::Sm2 => {
                crypto::sm2_verify(public_key, message, der_to_raw(signature, 32, &mut raw)?)
            }
            #[cfg(feature = "rsa-pss")]
            Kind::RsaPkcs1(h) => crypto::rsa_verify(
                public_key,
                RSA_CHAIN_BITS,
                crypto::RsaPadding::Pkcs1(h),
                message,
                signature,
            ),
            #[cfg(feature = "rsa-pss")]
            Kind::RsaPss(h) => crypto::rsa_verify(
                public_key,
                RSA_CHAIN_BITS,
                crypto::RsaPadding::Pss(h),
                message,
                signature,
            ),
            #[cfg(feature = "ml-dsa-44")]
            Kind::MlDsa44 => crypto::ml_dsa_verify(
                otaseal_mldsa::Level::MlDsa44,
                public_key,
                message,
                signature,
            ),
            #[cfg(feature = "ml-dsa-65")]
            Kind::MlDsa65 => crypto::ml_dsa_verify(
                otaseal_mldsa::Level::MlDsa65,
                public_key,
                message,
                signature,
            ),
            #[cfg(feature = "ml-dsa-87")]
            Kind::MlDsa87 => crypto::ml_dsa_verify(
                otaseal_mldsa::Level::MlDsa87,
                public_key,
                message,
                signature,
            ),
            _ => Err(CryptoError::Unsupported),
        }
    }
}

/// A DER `SEQUENCE { r, s }` certificate signature as fixed-width `r || s`.
#[allow(dead_code)]
fn der_to_raw<'o>(
    sig: &[u8],
    width: usize,
    buf: &'o mut [u8; 96],
) -> Result<&'o [u8], CryptoError> {
    crypto::der_sig_to_raw(sig, width, buf).ok_or(CryptoError::MalformedSignature)
}

/// AlgorithmIdentifier contents: id-ecPublicKey, namedCurve sm2p256v1.
#[cfg(feature = "sm2")]
const SM2_PUBLIC_KEY_ALG_ID: &[u8] = &[
    0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, // id-ecPublicKey
    0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d, // sm2p256v1
];
/// AlgorithmIdentifier contents: SM2-with-SM3 (1.2.156.10197.1.501), parameters absent.
#[cfg(feature = "sm2")]
const SM2_SM3_ALG_ID: &[u8] = &[0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x83, 0x75];
/// AlgorithmIdentifier contents: SM2-with-SM3 with NULL parameters.
#[cfg(feature = "sm2")]
const SM2_SM3_NULL_ALG_ID: &[u8] = &[
    0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x83, 0x75, 0x05, 0x00,
];
/// AlgorithmIdentifier contents: sha256WithRSAEncryption with (illegally)
/// absent parameters, which some encoders emit; webpki's *ring* set accepts it.
#[cfg(feature = "rsa-pss")]
const RSA_PKCS1_SHA256_ABSENT_ALG_ID: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b,
];
/// As above for sha384WithRSAEncryption.
#[cfg(feature = "rsa-pss")]
const RSA_PKCS1_SHA384_ABSENT_ALG_ID: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c,
];
/// As above for sha512WithRSAEncryption.
#[cfg(feature = "rsa-pss")]
const RSA_PKCS1_SHA512_ABSENT_ALG_ID: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d,
];

macro_rules! algorithm {
    ($(#[$doc:meta])* $name:ident, [$($cfg:tt)*], $kind:expr, $pk:expr, $sig:expr) => {
        $(#[$doc])*
        #[cfg($($cfg)*)]
        pub static $name: &dyn SignatureVerificationAlgorithm = &RustCryptoAlgorithm {
            name: stringify!($name),
            kind: $kind,
            public_key_alg_id: $pk,
            signature_alg_id: $sig,
        };
    };
}

algorithm!(
    /// ECDSA on P-256 with SHA-256.
    ECDSA_P256_SHA256, [feature = "ecdsa-p256"], Kind::EcdsaP256(Hash::Sha256),
    alg_id::ECDSA_P256, alg_id::ECDSA_SHA256
);
algorithm!(
    /// ECDSA on P-256 with SHA-384.
    ECDSA_P256_SHA384, [all(feature = "ecdsa-p256", feature = "sha384")], Kind::EcdsaP256(Hash::Sha384),
    alg_id::ECDSA_P256, alg_id::ECDSA_SHA384
);
algorithm!(
    /// ECDSA on P-384 with SHA-256.
    ECDSA_P384_SHA256, [feature = "ecdsa-p384"], Kind::EcdsaP384(Hash::Sha256),
    alg_id::ECDSA_P384, alg_id::ECDSA_SHA256
);
algorithm!(
    /// ECDSA on P-384 with SHA-384.
    ECDSA_P384_SHA384, [feature = "ecdsa-p384"], Kind::EcdsaP384(Hash::Sha384),
    alg_id::ECDSA_P384, alg_id::ECDSA_SHA384
);
algorithm!(
    /// Ed25519 (RFC 8410).
    ED25519, [feature = "ed25519"], Kind::Ed25519, alg_id::ED25519, alg_id::ED25519
);
algorithm!(
    /// SM2 with SM3, default distinguishing id, parameters absent (GM/T 0015).
    SM2_SM3, [feature = "sm2"], Kind::Sm2,
    AlgorithmIdentifier::from_slice(SM2_PUBLIC_KEY_ALG_ID),
    AlgorithmIdentifier::from_slice(SM2_SM3_ALG_ID)
);
algorithm!(
    /// SM2 with SM3, default distinguishing id, NULL parameters (as some CAs encode it).
    SM2_SM3_NULL_PARAMS, [feature = "sm2"], Kind::Sm2,
    AlgorithmIdentifier::from_slice(SM2_PUBLIC_KEY_ALG_ID),
    AlgorithmIdentifier::from_slice(SM2_SM3_NULL_ALG_ID)
);
algorithm!(
    /// RSA PKCS#1 v1.5 with SHA-256, 2048 to 8192-bit keys.
    RSA_PKCS1_2048_8192_SHA256, [feature = "rsa-pss"], Kind::RsaPkcs1(Hash::Sha256),
    alg_id::RSA_ENCRYPTION, alg_id::RSA_PKCS1_SHA256
);
algorithm!(
    /// RSA PKCS#1 v1.5 with SHA-384, 2048 to 8192-bit keys.
    RSA_PKCS1_2048_8192_SHA384, [all(feature = "rsa-pss", feature = "sha384")], Kind::RsaPkcs1(Hash::Sha384),
    alg_id::RSA_ENCRYPTION, alg_id::RSA_PKCS1_SHA384
);
algorithm!(
    /// RSA PKCS#1 v1.5 with SHA-512, 2048 to 8192-bit keys.
    RSA_PKCS1_2048_8192_SHA512, [all(feature = "rsa-pss", feature = "sha512")], Kind::RsaPkcs1(Hash::Sha512),
    alg_id::RSA_ENCRYPTION, alg_id::RSA_PKCS1_SHA512
);
algorithm!(
    /// RSA PKCS#1 v1.5 with SHA-256, parameters absent instead of NULL.
    RSA_PKCS1_2048_8192_SHA256_ABSENT_PARAMS, [feature = "rsa-pss"], Kind::RsaPkcs1(Hash::Sha256),
    alg_id::RSA_ENCRYPTION, AlgorithmIdentifier::from_slice(RSA_PKCS1_SHA256_ABSENT_ALG_ID)
);
algorithm!(
    /// RSA PKCS#1 v1.5 with SHA-384, parameters absent instead of NULL.
    RSA_PKCS1_2048_8192_SHA384_ABSENT_PARAMS, [all(feature = "rsa-pss", feature = "sha384")], Kind::RsaPkcs1(Hash::Sha384),
    alg_id::RSA_ENCRYPTION, AlgorithmIdentifier::from_slice(RSA_PKCS1_SHA384_ABSENT_ALG_ID)
);
algorithm!(
    /// RSA PKCS#1 v1.5 with SHA-512, parameters absent instead of NULL.
    RSA_PKCS1_2048_8192_SHA512_ABSENT_PARAMS, [all(feature = "rsa-pss", feature = "sha512")], Kind::RsaPkcs1(Hash::Sha512),
    alg_id::RSA_ENCRYPTION, AlgorithmIdentifier::from_slice(RSA_PKCS1_SHA512_ABSENT_ALG_ID)
);
algorithm!(
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256, salt 32, rsaEncryption key.
    RSA_PSS_2048_8192_SHA256_LEGACY_KEY, [feature = "rsa-pss"], Kind::RsaPss(Hash::Sha256),
    alg_id::RSA_ENCRYPTION, alg_id::RSA_PSS_SHA256
);
algorithm!(
    /// RSASSA-PSS with SHA-384, MGF1-SHA-384, salt 48, rsaEncryption key.
    RSA_PSS_2048_8192_SHA384_LEGACY_KEY, [all(feature = "rsa-pss", feature = "sha384")], Kind::RsaPss(Hash::Sha384),
    alg_id::RSA_ENCRYPTION, alg_id::RSA_PSS_SHA384
);
algorithm!(
    /// RSASSA-PSS with SHA-512, MGF1-SHA-512, salt 64, rsaEncryption key.
    RSA_PSS_2048_8192_SHA512_LEGACY_KEY, [all(feature = "rsa-pss", feature = "sha512")], Kind::RsaPss(Hash::Sha512),
    alg_id::RSA_ENCRYPTION, alg_id::RSA_PSS_SHA512
);
algorithm!(
    /// ML-DSA-44 (RFC 9881), pure, empty context.
    ML_DSA_44, [feature = "ml-dsa-44"], Kind::MlDsa44, alg_id::ML_DSA_44, alg_id::ML_DSA_44
);
algorithm!(
    /// ML-DSA-65 (RFC 9881), pure, empty context.
    ML_DSA_65, [feature = "ml-dsa-65"], Kind::MlDsa65, alg_id::ML_DSA_65, alg_id::ML_DSA_65
);
algorithm!(
    /// ML-DSA-87 (RFC 9881), pure, empty context.
    ML_DSA_87, [feature = "ml-dsa-87"], Kind::MlDsa87, alg_id::ML_DSA_87, alg_id::ML_DSA_87
);

/// Every certificate signature algorithm compiled into this build.
pub static ALL_CHAIN_ALGORITHMS: &[&dyn SignatureVerificationAlgorithm] = &[
    #[cfg(feature = "ecdsa-p256")]
    ECDSA_P256_SHA256,
    #[cfg(all(feature = "ecdsa-p256", feature = "sha384"))]
    ECDSA_P256_SHA384,
    #[cfg(feature = "ecdsa-p384")]
    ECDSA_P384_SHA256,
    #[cfg(feature = "ecdsa-p384")]
    ECDSA_P384_SHA384,
    #[cfg(feature = "ed25519")]
    ED25519,
    #[cfg(feature = "sm2")]
    SM2_SM3,
    #[cfg(feature = "sm2")]
    SM2_SM3_NULL_PARAMS,
    #[cfg(feature = "rsa-pss")]
    RSA_PKCS1_2048_8192_SHA256,
    #[cfg(all(feature = "rsa-pss", feature = "sha384"))]
    RSA_PKCS1_2048_8192_SHA384,
    #[cfg(all(feature = "rsa-pss", feature = "sha512"))]
    RSA_PKCS1_2048_8192_SHA512,
    #[cfg(feature = "rsa-pss")]
    RSA_PKCS1_2048_8192_SHA256_ABSENT_PARAMS,
    #[cfg(all(feature = "rsa-pss", feature = "sha384"))]
    RSA_PKCS1_2048_8192_SHA384_ABSENT_PARAMS,
    #[cfg(all(feature = "rsa-pss", feature = "sha512"))]
    RSA_PKCS1_2048_8192_SHA512_ABSENT_PARAMS,
    #[cfg(feature = "rsa-pss")]
    RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
    #[cfg(all(feature = "rsa-pss", feature = "sha384"))]
    RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
    #[cfg(all(feature = "rsa-pss", feature = "sha512"))]
    RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
    #[cfg(feature = "ml-dsa-44")]
    ML_DSA_44,
    #[cfg(feature = "ml-dsa-65")]
    ML_DSA_65,
    #[cfg(feature = "ml-dsa-87")]
    ML_DSA_87,
];

#[cfg(test)]
pub(crate) mod tests {
    extern crate std;
    use super::*;
    use crate::testutil::{
        CertFiles, OpensslCa, TestKey, cat, ext, ml_dsa_key, name, p256_key, raw_sig_to_der,
        sm2_key, tlv,
    };
    use otaseal_manifest::Suite;
    use std::string::ToString;
    use std::vec;
    use std::vec::Vec;

    /// Re-exported for the tests of other modules.
    pub(crate) use crate::testutil::TempDir;

    pub(crate) fn now() -> UnixTime {
        UnixTime::since_unix_epoch(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap(),
        )
    }

    #[allow(dead_code)] // used by feature-gated tests
    fn at(unix: u64) -> UnixTime {
        UnixTime::since_unix_epoch(core::time::Duration::from_secs(unix))
    }

    /// Extension sections for `openssl x509 -req -extfile`
    /// (after the `[ca]` section every `OpensslCa` writes).
    const EXTENSIONS: &str = "\
[ca_server_only]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
extendedKeyUsage = serverAuth
[ca_code]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
extendedKeyUsage = codeSigning
[leaf]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = codeSigning
[leaf_no_eku]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
[leaf_server]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
[leaf_key_enc]
basicConstraints = CA:FALSE
keyUsage = critical,keyEncipherment
extendedKeyUsage = codeSigning
[leaf_no_ku]
basicConstraints = CA:FALSE
extendedKeyUsage = codeSigning,serverAuth
[leaf_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,digitalSignature,keyCertSign
extendedKeyUsage = codeSigning
";

    /// Builds certificates (DER files) with the openssl command line.
    struct Pki(OpensslCa);

    impl core::ops::Deref for Pki {
        type Target = OpensslCa;
        fn deref(&self) -> &OpensslCa {
            &self.0
        }
    }

    impl Pki {
        fn new(tag: &str) -> Option<Pki> {
            OpensslCa::new(tag, EXTENSIONS, CertFiles::Der).map(Pki)
        }

        /// Like `issue` (P-256 key, `leaf` extensions) but with explicit
        /// validity dates (`YYYYMMDDHHMMSSZ`), through `openssl ca`.
        #[allow(dead_code)] // used by feature-gated tests
        fn issue_dated(&self, name: &str, issuer: &str, start: &str, end: &str) -> Vec<u8> {
            let leaf = "\
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = codeSigning
";
            self.0.issue_dated(name, issuer, start, end, "leaf", leaf)
        }
    }

    fn check(
        leaf: &[u8],
        intermediates: &[&[u8]],
        roots: &[&[u8]],
        time: UnixTime,
    ) -> Result<(), ChainError> {
        let inters: Vec<CertificateDer<'_>> = intermediates
            .iter()
            .map(|c| CertificateDer::from(*c))
            .collect();
        let root_ders: Vec<CertificateDer<'_>> =
            roots.iter().map(|c| CertificateDer::from(*c)).collect();
        let anchors: Vec<TrustAnchor<'_>> = root_ders
            .iter()
            .map(|c| webpki::anchor_from_trusted_cert(c).unwrap())
            .collect();
        verify_code_signing_chain(leaf, &inters, &anchors, time)
    }

    macro_rules! pki_or_skip {
        ($tag:expr) => {
            match Pki::new($tag) {
                Some(p) => p,
                None => {
                    std::eprintln!("note: openssl not found; skipping chain test");
                    return;
                }
            }
        };
    }

    #[cfg(feature = "ecdsa-p256")]
    #[test]
    fn ec_p256_chain_and_failures() {
        let pki = pki_or_skip!("p256");
        let root = pki.root("root", "ec:P-256");
        let int = pki.issue("int", "ec:P-256", "root", "ec:P-256", "ca");
        let leaf = pki.issue("leaf", "ec:P-256", "int", "ec:P-256", "leaf");
        assert_eq!(check(&leaf, &[&int], &[&root], now()), Ok(()));
        let info = cert::parse_certificate(&leaf).unwrap();
        assert_eq!(cert::subject_common_name(info.subject), Some("leaf"));
        assert_eq!(crypto::suite_of_spki(info.spki), Ok(Suite::EcdsaP256));

        // Missing intermediate; wrong root.
        assert_eq!(
            check(&leaf, &[], &[&root], now()),
            Err(ChainError::UnknownIssuer)
        );
        let other_root = pki.root("other", "ec:P-256");
        assert_eq!(
            check(&leaf, &[&int], &[&other_root], now()),
            Err(ChainError::UnknownIssuer)
        );

        // EKU and key usage rules.
        let no_eku = pki.issue("noeku", "ec:P-256", "int", "ec:P-256", "leaf_no_eku");
        assert_eq!(
            check(&no_eku, &[&int], &[&root], now()),
            Err(ChainError::WrongEku)
        );
        let server = pki.issue("server", "ec:P-256", "int", "ec:P-256", "leaf_server");
        assert_eq!(
            check(&server, &[&int], &[&root], now()),
            Err(ChainError::WrongEku)
        );
        let key_enc = pki.issue("keyenc", "ec:P-256", "int", "ec:P-256", "leaf_key_enc");
        assert_eq!(
            check(&key_enc, &[&int], &[&root], now()),
            Err(ChainError::MissingKeyUsage)
        );
        let no_ku = pki.issue("noku", "ec:P-256", "int", "ec:P-256", "leaf_no_ku");
        assert_eq!(check(&no_ku, &[&int], &[&root], now()), Ok(()));
        let ca_leaf = pki.issue("caleaf", "ec:P-256", "int", "ec:P-256", "leaf_ca");
        let err = check(&ca_leaf, &[&int], &[&root], now()).unwrap_err();
        assert_eq!((err, err.code()), (ChainError::Other, "chain-invalid"));

        // An intermediate whose EKU excludes code signing taints the path;
        // one that lists it is fine.
        let int_srv = pki.issue("intsrv", "ec:P-256", "root", "ec:P-256", "ca_server_only");
        let leaf_srv = pki.issue("leafsrv", "ec:P-256", "intsrv", "ec:P-256", "leaf");
        assert_eq!(
            check(&leaf_srv, &[&int_srv], &[&root], now()),
            Err(ChainError::WrongEku)
        );
        let int_code = pki.issue("intcode", "ec:P-256", "root", "ec:P-256", "ca_code");
        let leaf_code = pki.issue("leafcode", "ec:P-256", "intcode", "ec:P-256", "leaf");
        assert_eq!(check(&leaf_code, &[&int_code], &[&root], now()), Ok(()));

        // Validity, checked at other times.
        assert_eq!(
            check(&leaf, &[&int], &[&root], at(now().as_secs() + 400 * 86400)),
            Err(ChainError::Expired)
        );
        assert_eq!(
            check(&leaf, &[&int], &[&root], at(now().as_secs() - 86400)),
            Err(ChainError::NotYetValid)
        );

        // A flipped bit in the leaf's signature value (the last byte is part
        // of s) and in its signed body.
        let mut bad_sig = leaf.clone();
        *bad_sig.last_mut().unwrap() ^= 1;
        assert_eq!(
            check(&bad_sig, &[&int], &[&root], now()),
            Err(ChainError::BadSignature)
        );
        let cn = leaf.windows(4).position(|w| w == b"leaf").unwrap();
        let mut bad_body = leaf.clone();
        bad_body[cn] = b'L';
        assert_eq!(
            check(&bad_body, &[&int], &[&root], now()),
            Err(ChainError::BadSignature)
        );

        // Garbage.
        assert_eq!(
            check(&leaf[..leaf.len() - 3], &[&int], &[&root], now()),
            Err(ChainError::Malformed)
        );
        assert_eq!(
            check(b"", &[&int], &[&root], now()),
            Err(ChainError::Malformed)
        );
    }

    #[cfg(feature = "ecdsa-p256")]
    #[test]
    fn explicitly_dated_leaves() {
        let pki = pki_or_skip!("dated");
        let root = pki.root("root", "ec:P-256");
        let expired = pki.issue_dated("expired", "root", "20200101000000Z", "20210101000000Z");
        let info = cert::parse_certificate(&expired).unwrap();
        assert_eq!(
            (info.not_before, info.not_after),
            (1_577_836_800, 1_609_459_200)
        );
        let err = check(&expired, &[], &[&root], now()).unwrap_err();
        assert_eq!((err, err.code()), (ChainError::Expired, "cert-expired"));
        let future = pki.issue_dated("future", "root", "20700101000000Z", "20710101000000Z");
        let err = check(&future, &[], &[&root], now()).unwrap_err();
        assert_eq!(
            (err, err.code()),
            (ChainError::NotYetValid, "cert-not-yet-valid")
        );
        // GeneralizedTime (2070) parsed correctly by cert.rs.
        let info = cert::parse_certificate(&future).unwrap();
        assert_eq!(info.not_before, 3_155_760_000);
    }

    #[test]
    fn sm2_chain() {
        let pki = pki_or_skip!("sm2");
        let root = pki.root("root", "sm2");
        let int = pki.issue("int", "sm2", "root", "sm2", "ca");
        let leaf = pki.issue("leaf", "sm2", "int", "sm2", "leaf");
        let info = cert::parse_certificate(&leaf).unwrap();
        assert_eq!(crypto::suite_of_spki(info.spki), Ok(Suite::Sm2));
        let expected = if cfg!(feature = "sm2") {
            Ok(())
        } else {
            Err(ChainError::UnsupportedAlgorithm)
        };
        assert_eq!(check(&leaf, &[&int], &[&root], now()), expected);

        // A certificate signed under another distinguishing id does not verify.
        let subj = "/CN=otherid";
        pki.key("otherid", "sm2");
        pki.ossl(&[
            "req",
            "-new",
            "-key",
            "otherid.key",
            "-subj",
            subj,
            "-out",
            "o.csr",
        ]);
        pki.ossl(&[
            "x509",
            "-req",
            "-in",
            "o.csr",
            "-CA",
            "int.der",
            "-CAform",
            "DER",
            "-CAkey",
            "int.key",
            "-set_serial",
            "99",
            "-days",
            "30",
            "-extfile",
            "ext.cnf",
            "-extensions",
            "leaf",
            "-sm3",
            "-sigopt",
            "distid:ALICE123@YAHOO.COM",
            "-outform",
            "DER",
            "-out",
            "o.der",
        ]);
        let other = pki.dir.read("o.der").unwrap();
        if cfg!(feature = "sm2") {
            assert_eq!(
                check(&other, &[&int], &[&root], now()),
                Err(ChainError::BadSignature)
            );
        }
    }

    #[cfg(all(feature = "ecdsa-p256", feature = "ecdsa-p384", feature = "ed25519"))]
    #[test]
    fn mixed_algorithm_chains() {
        let pki = pki_or_skip!("mixed");
        // P-384 root (SHA-384) -> Ed25519 intermediate -> P-256 leaf.
        let root = pki.root("root384", "ec:P-384");
        let int = pki.issue("inted", "ed25519", "root384", "ec:P-384", "ca");
        let leaf = pki.issue("leaf", "ec:P-256", "inted", "ed25519", "leaf");
        assert_eq!(check(&leaf, &[&int], &[&root], now()), Ok(()));
        // P-256 key signing with SHA-384 (ECDSA_P256_SHA384).
        let root256 = pki.root("root256", "ec:P-256");
        let leaf2 = pki.issue("leaf2", "ec:P-384", "root256", "ec:P-384", "leaf");
        assert_eq!(check(&leaf2, &[], &[&root256], now()), Ok(()));
        // P-521 is not an otaseal algorithm.
        let root521 = pki.root("root521", "ec:P-521");
        let leaf3 = pki.issue("leaf3", "ec:P-256", "root521", "ec:P-521", "leaf");
        let err = check(&leaf3, &[], &[&root521], now()).unwrap_err();
        assert_eq!(
            (err, err.code()),
            (
                ChainError::UnsupportedAlgorithm,
                "chain-unsupported-algorithm"
            )
        );
    }

    #[test]
    fn rsa_chains() {
        let pki = pki_or_skip!("rsa");
        // RSA root signing PKCS#1 v1.5 SHA-256 -> RSA intermediate signing
        // PSS (SHA-256, salt = digest length) -> P-256 leaf.
        let root = pki.root("rsaroot", "rsa:2048");
        let int = pki.issue("rsaint", "rsa:3072", "rsaroot", "rsa", "ca");
        let leaf = pki.issue("leaf", "ec:P-256", "rsaint", "rsa-pss", "leaf");
        let expected = if cfg!(feature = "rsa-pss") {
            Ok(())
        } else {
            Err(ChainError::UnsupportedAlgorithm)
        };
        assert_eq!(check(&leaf, &[&int], &[&root], now()), expected);
        let int_info = cert::parse_certificate(&int).unwrap();
        assert_eq!(crypto::suite_of_spki(int_info.spki), Ok(Suite::RsaPss3072));
    }

    /// A minimal X.509 v3 encoder for algorithms OpenSSL 3.0 cannot sign
    /// with (ML-DSA) and encodings it does not emit (SM2 with NULL params).
    pub(crate) struct CertSpec<'a> {
        pub(crate) issuer_cn: &'a str,
        pub(crate) subject_cn: &'a str,
        pub(crate) spki: &'a [u8],
        pub(crate) is_ca: bool,
        pub(crate) eku: Option<&'a [&'a [u8]]>,
        /// keyUsage BIT STRING contents (unused-bits byte first).
        pub(crate) key_usage: Option<&'a [u8]>,
        pub(crate) sig_alg: &'a [u8],
    }

    /// Encodes and signs; `sign` returns the BIT STRING contents' bytes.
    pub(crate) fn build_cert(spec: &CertSpec<'_>, sign: &dyn Fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
        let alg = tlv(0x30, spec.sig_alg);
        let validity = tlv(
            0x30,
            &cat(&[&tlv(0x17, b"200101000000Z"), &tlv(0x17, b"491231235959Z")]),
        );
        let bc = if spec.is_ca {
            tlv(0x30, &[0x01, 0x01, 0xff])
        } else {
            tlv(0x30, &[])
        };
        let mut exts = ext(&[0x55, 0x1d, 0x13], true, &bc);
        if let Some(ku) = spec.key_usage {
            exts.extend(ext(&[0x55, 0x1d, 0x0f], true, &tlv(0x03, ku)));
        }
        if let Some(ekus) = spec.eku {
            let list: Vec<u8> = ekus.iter().flat_map(|o| tlv(0x06, o)).collect();
            exts.extend(ext(&[0x55, 0x1d, 0x25], false, &tlv(0x30, &list)));
        }
        let tbs = tlv(
            0x30,
            &cat(&[
                &tlv(0xa0, &[0x02, 0x01, 0x02]),
                &tlv(0x02, &[0x01, 0x23]),
                &alg,
                &name(spec.issuer_cn),
                &validity,
                &name(spec.subject_cn),
                spec.spki,
                &tlv(0xa3, &tlv(0x30, &exts)),
            ]),
        );
        let mut bits = vec![0u8];
        bits.extend(sign(&tbs));
        tlv(0x30, &cat(&[&tbs, &alg, &tlv(0x03, &bits)]))
    }

    pub(crate) const KU_CA: &[u8] = &[0x01, 0x06]; // keyCertSign, cRLSign
    const KU_SIGN: &[u8] = &[0x07, 0x80]; // digitalSignature

    pub(crate) fn root_and_leaf(
        root_key: &TestKey,
        root_sig_alg: &[u8],
        der_sig: bool,
        leaf_key: &TestKey,
    ) -> (Vec<u8>, Vec<u8>) {
        let sign = |tbs: &[u8]| {
            let s = root_key.sign(tbs);
            if der_sig { raw_sig_to_der(&s) } else { s }
        };
        let root = build_cert(
            &CertSpec {
                issuer_cn: "Rust Root",
                subject_cn: "Rust Root",
                spki: &root_key.spki,
                is_ca: true,
                eku: None,
                key_usage: Some(KU_CA),
                sig_alg: root_sig_alg,
            },
            &sign,
        );
        let leaf = build_cert(
            &CertSpec {
                issuer_cn: "Rust Root",
                subject_cn: "Rust Leaf",
                spki: &leaf_key.spki,
                is_ca: false,
                eku: Some(&[cert::OID_KP_CODE_SIGNING]),
                key_usage: Some(KU_SIGN),
                sig_alg: root_sig_alg,
            },
            &sign,
        );
        (root, leaf)
    }

    #[test]
    fn ml_dsa_chains() {
        let leaf_key = p256_key(21);
        for (suite, alg) in [
            (Suite::MlDsa44, alg_id::ML_DSA_44),
            (Suite::MlDsa65, alg_id::ML_DSA_65),
            (Suite::MlDsa87, alg_id::ML_DSA_87),
        ] {
            let root_key = ml_dsa_key(20, suite);
            let (root, leaf) = root_and_leaf(&root_key, alg.as_ref(), false, &leaf_key);
            let expected = if cfg!(feature = "ml-dsa") {
                Ok(())
            } else {
                Err(ChainError::UnsupportedAlgorithm)
            };
            assert_eq!(check(&leaf, &[], &[&root], now()), expected, "{suite:?}");
            if cfg!(feature = "ml-dsa") {
                let mut bad = leaf.clone();
                let n = bad.len();
                bad[n - 100] ^= 1;
                assert_eq!(
                    check(&bad, &[], &[&root], now()),
                    Err(ChainError::BadSignature)
                );
            }
        }
    }

    #[test]
    fn sm2_null_params_and_absent_params() {
        let root_key = sm2_key(30);
        let leaf_key = sm2_key(31);
        let absent: &[u8] = &[0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x83, 0x75];
        let null: &[u8] = &[
            0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x83, 0x75, 0x05, 0x00,
        ];
        for alg in [absent, null] {
            let (root, leaf) = root_and_leaf(&root_key, alg, true, &leaf_key);
            let expected = if cfg!(feature = "sm2") {
                Ok(())
            } else {
                Err(ChainError::UnsupportedAlgorithm)
            };
            assert_eq!(check(&leaf, &[], &[&root], now()), expected);
        }
    }

    #[test]
    #[allow(unused_variables)] // `oid` is unused without sm2 / rsa-pss
    fn algorithm_ids_are_webpki_encodings() {
        use const_oid::ObjectIdentifier as O;
        let oid = |s: &str| tlv(0x06, O::new_unwrap(s).as_bytes());
        #[cfg(feature = "sm2")]
        {
            assert_eq!(
                SM2_PUBLIC_KEY_ALG_ID,
                cat(&[&oid("1.2.840.10045.2.1"), &oid("1.2.156.10197.1.301")])
            );
            assert_eq!(SM2_SM3_ALG_ID, oid("1.2.156.10197.1.501"));
            assert_eq!(
                SM2_SM3_NULL_ALG_ID,
                cat(&[&oid("1.2.156.10197.1.501"), &[5, 0]])
            );
        }
        #[cfg(feature = "rsa-pss")]
        {
            assert_eq!(RSA_PKCS1_SHA256_ABSENT_ALG_ID, oid("1.2.840.113549.1.1.11"));
            assert_eq!(RSA_PKCS1_SHA384_ABSENT_ALG_ID, oid("1.2.840.113549.1.1.12"));
            assert_eq!(RSA_PKCS1_SHA512_ABSENT_ALG_ID, oid("1.2.840.113549.1.1.13"));
        }
        // Every (public key, signature) pair is distinct, so webpki never
        // has to choose between two implementations.
        for (i, a) in ALL_CHAIN_ALGORITHMS.iter().enumerate() {
            for b in &ALL_CHAIN_ALGORITHMS[i + 1..] {
                assert!(
                    a.public_key_alg_id() != b.public_key_alg_id()
                        || a.signature_alg_id() != b.signature_alg_id(),
                    "{a:?} / {b:?}"
                );
            }
        }
    }

    #[test]
    fn error_codes_and_messages() {
        let all = [
            ChainError::Malformed,
            ChainError::UnknownIssuer,
            ChainError::Expired,
            ChainError::NotYetValid,
            ChainError::WrongEku,
            ChainError::MissingKeyUsage,
            ChainError::BadSignature,
            ChainError::UnsupportedAlgorithm,
            ChainError::Other,
        ];
        let codes: Vec<&str> = all.iter().map(ChainError::code).collect();
        assert_eq!(
            codes,
            [
                "chain-malformed",
                "chain-untrusted",
                "cert-expired",
                "cert-not-yet-valid",
                "cert-eku",
                "cert-key-usage",
                "chain-bad-signature",
                "chain-unsupported-algorithm",
                "chain-invalid"
            ]
        );
        for e in all {
            assert!(!e.to_string().is_empty());
        }
    }
}
