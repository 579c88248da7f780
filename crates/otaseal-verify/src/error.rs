//! Every way a package can be rejected, each with a stable code.

use core::fmt;

use otaseal_manifest::{DigestAlg, EnvelopeError, ManifestError, Suite};

/// Why a package was rejected. [`VerifyError::code`] is stable across
/// releases (it appears in JSON output); the `Display` text is for people.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifyError {
    /// The first member is not the envelope.
    NotAPackage,
    /// A member header differs from the one the signer writes (wrong name,
    /// type, mode, size, time, an extra, missing or reordered member).
    HeaderMismatch {
        /// Index of the member (0 is the envelope).
        member: usize,
    },
    /// Non-zero bytes where padding or the end-of-archive blocks belong.
    Padding,
    /// The package ended early.
    Truncated,
    /// Bytes after the end of the archive.
    TrailingData,
    /// The envelope is empty or larger than the format allows
    /// (`otaseal_manifest::container::MAX_ENVELOPE_SIZE`).
    EnvelopeTooLarge {
        /// Declared envelope size.
        size: u64,
    },
    /// The envelope is malformed.
    Envelope(EnvelopeError),
    /// The manifest is malformed.
    Manifest(ManifestError),
    /// A declared signature is not in the envelope (stripped).
    SignatureMissing {
        /// COSE algorithm id of the declaration.
        alg: i64,
    },
    /// A signature in the envelope is not declared in the manifest.
    SignatureUndeclared {
        /// Index in the envelope.
        index: usize,
    },
    /// Signatures are not in declaration order.
    SignatureOrder,
    /// A signature does not verify.
    SignatureInvalid {
        /// Index in the envelope.
        index: usize,
    },
    /// An ECDSA signature with S above n/2: the format has exactly one
    /// encoding per signature (signers emit low S).
    SignatureHighS {
        /// Index in the envelope.
        index: usize,
    },
    /// The signature's algorithm does not fit its key.
    AlgorithmKeyMismatch {
        /// Index in the envelope.
        index: usize,
    },
    /// The key id does not match the certificate's key.
    KeyIdMismatch {
        /// Index in the envelope.
        index: usize,
    },
    /// A certificate or key could not be parsed.
    CertificateMalformed {
        /// Index in the envelope.
        index: usize,
    },
    /// A certificate chain failed validation.
    Chain {
        /// Index in the envelope.
        index: usize,
        /// Why.
        reason: ChainError,
    },
    /// A raw-key signature by a key that is not trusted.
    KeyUntrusted {
        /// Index in the envelope.
        index: usize,
    },
    /// The manifest declares no suite this build can verify.
    NoSupportedSuite,
    /// A required suite is not among the package's valid signatures.
    PolicyUnsatisfied {
        /// The first required suite that is missing.
        suite: Suite,
    },
    /// The device's hardware id is not in the compatibility list.
    HardwareIncompatible,
    /// The security version is below the device's floor.
    Rollback {
        /// Manifest's security version.
        version: u64,
        /// Device's floor.
        minimum: u64,
    },
    /// The manifest's expiry has passed.
    ManifestExpired {
        /// Expiry time.
        expires: u64,
    },
    /// A payload lacks a digest family the policy checks.
    DigestUnavailable {
        /// Payload index.
        payload: usize,
        /// Missing family.
        alg: DigestAlg,
    },
    /// The policy checks a digest family this build does not compile
    /// (features `sha384`, `sha512`, `sm3`).
    DigestNotCompiled {
        /// The family.
        alg: DigestAlg,
    },
    /// A payload does not start like the kind the manifest declares (tar,
    /// tar.gz or zip), so a device would unpack what it was told is not an
    /// archive, or the reverse.
    PayloadKindMismatch {
        /// Payload index.
        payload: usize,
    },
    /// A payload's digest does not match.
    DigestMismatch {
        /// Payload index.
        payload: usize,
        /// Family that mismatched.
        alg: DigestAlg,
    },
    /// A signature's RFC 3161 token is invalid.
    Timestamp {
        /// Index in the envelope.
        index: usize,
        /// Why.
        reason: TimestampError,
    },
    /// The policy requires a token and the signature has none.
    TimestampMissing {
        /// Index in the envelope.
        index: usize,
    },
    /// The token's genTime is after the verification time.
    TimestampFuture {
        /// Index in the envelope.
        index: usize,
    },
    /// The code-signing certificate path is not valid at the token's genTime.
    TimestampOutsideCertValidity {
        /// Index in the envelope.
        index: usize,
    },
    /// The envelope is within the format's limit but larger than the buffer
    /// the caller gave the verifier (see [`crate::buffer_size`]).
    BufferTooSmall,
}

impl VerifyError {
    /// Stable machine-readable code.
    pub const fn code(&self) -> &'static str {
        match self {
            VerifyError::NotAPackage => "container-not-package",
            VerifyError::HeaderMismatch { .. } => "container-header-mismatch",
            VerifyError::Padding => "container-padding",
            VerifyError::Truncated => "container-truncated",
            VerifyError::TrailingData => "container-trailing-data",
            VerifyError::EnvelopeTooLarge { .. } => "envelope-too-large",
            VerifyError::Envelope(e) => e.code(),
            VerifyError::Manifest(e) => e.code(),
            VerifyError::SignatureMissing { .. } => "signature-missing",
            VerifyError::SignatureUndeclared { .. } => "signature-undeclared",
            VerifyError::SignatureOrder => "signature-order",
            VerifyError::SignatureInvalid { .. } => "signature-invalid",
            VerifyError::SignatureHighS { .. } => "signature-high-s",
            VerifyError::AlgorithmKeyMismatch { .. } => "alg-key-mismatch",
            VerifyError::KeyIdMismatch { .. } => "kid-mismatch",
            VerifyError::CertificateMalformed { .. } => "cert-malformed",
            VerifyError::Chain { reason, .. } => reason.code(),
            VerifyError::KeyUntrusted { .. } => "key-untrusted",
            VerifyError::NoSupportedSuite => "no-supported-suite",
            VerifyError::PolicyUnsatisfied { .. } => "policy-unsatisfied",
            VerifyError::HardwareIncompatible => "hw-incompatible",
            VerifyError::Rollback { .. } => "rollback",
            VerifyError::ManifestExpired { .. } => "manifest-expired",
            VerifyError::DigestUnavailable { .. } => "payload-digest-missing",
            VerifyError::DigestNotCompiled { .. } => "digest-not-compiled",
            VerifyError::PayloadKindMismatch { .. } => "payload-kind-mismatch",
            VerifyError::DigestMismatch { .. } => "payload-digest-mismatch",
            VerifyError::Timestamp { reason, .. } => reason.code(),
            VerifyError::TimestampMissing { .. } => "timestamp-missing",
            VerifyError::TimestampFuture { .. } => "timestamp-future",
            VerifyError::TimestampOutsideCertValidity { .. } => "timestamp-outside-cert-validity",
            VerifyError::BufferTooSmall => "buffer-too-small",
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::NotAPackage => {
                write!(
                    f,
                    "not an otaseal package: the first member is not the envelope"
                )
            }
            VerifyError::HeaderMismatch { member } => write!(
                f,
                "container member {member} differs from what the signer writes (extra, missing, reordered or altered member)"
            ),
            VerifyError::Padding => write!(f, "non-zero bytes in container padding"),
            VerifyError::Truncated => write!(f, "package is truncated"),
            VerifyError::TrailingData => write!(f, "data after the end of the package"),
            VerifyError::EnvelopeTooLarge { size } => {
                write!(f, "envelope of {size} bytes exceeds the format's limit")
            }
            VerifyError::Envelope(e) => e.fmt(f),
            VerifyError::Manifest(e) => e.fmt(f),
            VerifyError::SignatureMissing { alg } => match Suite::from_cose_alg(*alg) {
                Some(s) => write!(f, "declared {} signature is missing", s.name()),
                None => write!(f, "declared signature (COSE alg {alg}) is missing"),
            },
            VerifyError::SignatureUndeclared { index } => {
                write!(f, "signature {index} is not declared in the manifest")
            }
            VerifyError::SignatureOrder => {
                write!(f, "signatures are not in the order the manifest declares")
            }
            VerifyError::SignatureInvalid { index } => {
                write!(f, "signature {index} does not verify over the manifest")
            }
            VerifyError::SignatureHighS { index } => write!(
                f,
                "signature {index}: ECDSA signature is not in low-S form (the format allows one encoding)"
            ),
            VerifyError::AlgorithmKeyMismatch { index } => {
                write!(
                    f,
                    "signature {index}: algorithm does not match the signer's key"
                )
            }
            VerifyError::KeyIdMismatch { index } => {
                write!(
                    f,
                    "signature {index}: key id does not match the certificate's key"
                )
            }
            VerifyError::CertificateMalformed { index } => {
                write!(f, "signature {index}: certificate or key is malformed")
            }
            VerifyError::Chain { index, reason } => write!(f, "signature {index}: {reason}"),
            VerifyError::KeyUntrusted { index } => {
                write!(f, "signature {index}: signer key is not trusted")
            }
            VerifyError::NoSupportedSuite => {
                write!(
                    f,
                    "no declared signature suite is supported by this verifier"
                )
            }
            VerifyError::PolicyUnsatisfied { suite } => write!(
                f,
                "policy requires a valid {} signature, which the package does not have",
                suite.name()
            ),
            VerifyError::HardwareIncompatible => {
                write!(f, "package is not compatible with this hardware id")
            }
            VerifyError::Rollback { version, minimum } => write!(
                f,
                "security version {version} is below the device minimum {minimum} (rollback)"
            ),
            VerifyError::ManifestExpired { expires } => {
                write!(f, "manifest expired at {expires} (Unix time)")
            }
            VerifyError::DigestUnavailable { payload, alg } => write!(
                f,
                "payload {payload} has no {} digest, which the policy checks",
                alg.name()
            ),
            VerifyError::DigestNotCompiled { alg } => write!(
                f,
                "the policy checks {} digests, which this build does not compile",
                alg.name()
            ),
            VerifyError::PayloadKindMismatch { payload } => write!(
                f,
                "payload {payload} does not start like the archive kind the manifest declares"
            ),
            VerifyError::DigestMismatch { payload, alg } => {
                write!(f, "payload {payload}: {} digest mismatch", alg.name())
            }
            VerifyError::Timestamp { index, reason } => {
                write!(f, "signature {index}: timestamp: {reason}")
            }
            VerifyError::TimestampMissing { index } => write!(
                f,
                "signature {index} has no timestamp, which the policy requires"
            ),
            VerifyError::TimestampFuture { index } => write!(
                f,
                "signature {index}: timestamp time is after the verification time"
            ),
            VerifyError::TimestampOutsideCertValidity { index } => write!(
                f,
                "signature {index}: the signing certificate was not valid at the timestamp's time"
            ),
            VerifyError::BufferTooSmall => write!(
                f,
                "the verifier's buffer is too small for this envelope (size it with otaseal_verify::buffer_size)"
            ),
        }
    }
}

impl From<EnvelopeError> for VerifyError {
    fn from(e: EnvelopeError) -> Self {
        VerifyError::Envelope(e)
    }
}

impl From<ManifestError> for VerifyError {
    fn from(e: ManifestError) -> Self {
        VerifyError::Manifest(e)
    }
}

/// Why a certificate path was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainError {
    /// A certificate of the path is not well-formed DER X.509 v3.
    Malformed,
    /// No path leads from the leaf to a trusted anchor (or the only anchor
    /// reached is distrusted).
    UnknownIssuer,
    /// A certificate of the path expired before the validation time.
    Expired,
    /// A certificate of the path is not valid yet at the validation time.
    NotYetValid,
    /// The leaf lacks id-kp-codeSigning, or a certificate on the path has an
    /// extended key usage extension that excludes it.
    WrongEku,
    /// The leaf's keyUsage extension is present without digitalSignature.
    MissingKeyUsage,
    /// A certificate's signature does not verify under its issuer's key.
    BadSignature,
    /// A signature or public key algorithm of the path is not compiled in.
    UnsupportedAlgorithm,
    /// Any other path failure (basic constraints, path length, name
    /// constraints, unsupported critical extension, search budget, ...).
    Other,
}

impl ChainError {
    /// A stable, machine-readable code for reports and logs.
    pub const fn code(&self) -> &'static str {
        match self {
            ChainError::Malformed => "chain-malformed",
            ChainError::UnknownIssuer => "chain-untrusted",
            ChainError::Expired => "cert-expired",
            ChainError::NotYetValid => "cert-not-yet-valid",
            ChainError::WrongEku => "cert-eku",
            ChainError::MissingKeyUsage => "cert-key-usage",
            ChainError::BadSignature => "chain-bad-signature",
            ChainError::UnsupportedAlgorithm => "chain-unsupported-algorithm",
            ChainError::Other => "chain-invalid",
        }
    }
}

impl fmt::Display for ChainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChainError::Malformed => "a certificate in the chain is malformed",
            ChainError::UnknownIssuer => "the certificate chain does not lead to a trusted root",
            ChainError::Expired => "a certificate in the chain has expired",
            ChainError::NotYetValid => "a certificate in the chain is not valid yet",
            ChainError::WrongEku => "the signing certificate is not authorised for code signing",
            ChainError::MissingKeyUsage => {
                "the signing certificate's key usage does not allow digital signatures"
            }
            ChainError::BadSignature => "a certificate signature in the chain does not verify",
            ChainError::UnsupportedAlgorithm => {
                "the chain uses a signature algorithm this build does not support"
            }
            ChainError::Other => "the certificate chain is invalid",
        })
    }
}

/// Why a timestamp token was not accepted. [`TimestampError::code`] is
/// stable; the `Display` text is for people.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimestampError {
    /// Not a DER ContentInfo / SignedData / TSTInfo as RFC 3161 and RFC 5652
    /// define them (including trailing data, an absent eContent, a serial
    /// number above 160 bits, an imprint whose length does not fit its
    /// algorithm, more than `timestamp::MAX_CERTIFICATES` certificates, or
    /// SignedData.digestAlgorithms not listing the signer's).
    Malformed,
    /// SignedData is not version 3, the SignerInfo version does not fit its
    /// sid, or TSTInfo is not version 1.
    UnsupportedVersion,
    /// The contentType is not id-signedData or the eContentType is not
    /// id-ct-TSTInfo.
    ContentType,
    /// Not exactly one SignerInfo.
    SignerCount,
    /// The signer's digest or signature algorithm is not supported by this
    /// build, does not fit the TSA key, or the two disagree (SHA-1 is never
    /// accepted as the signer's digest).
    UnsupportedAlgorithm,
    /// The message imprint uses another hash algorithm than expected (or one
    /// otaseal does not know).
    ImprintAlgorithm,
    /// The message imprint is not the digest of the timestamped message.
    ImprintMismatch,
    /// Signed attributes are missing, too large, repeat content-type or
    /// message-digest, or content-type is not id-ct-TSTInfo.
    SignedAttributes,
    /// The message-digest attribute is not the digest of the TSTInfo.
    MessageDigest,
    /// No SigningCertificate(V2) attribute, or its first ESSCertID(v2) does
    /// not identify the TSA certificate.
    SigningCertificate,
    /// The certificate the SignerInfo names is not in the token.
    CertificateMissing,
    /// The SignerInfo signature does not verify.
    Signature,
    /// The TSA certificate's extended key usage is not exactly
    /// id-kp-timeStamping, or not critical.
    TsaEku,
    /// The TSA certificate chain failed at genTime.
    Chain(ChainError),
    /// The `tsa` field names another entity than the TSA certificate's subject.
    TsaName,
    /// The policy is not among the accepted ones.
    Policy,
    /// TSTInfo carries a critical extension (none is defined).
    CriticalExtension,
    /// A token is required but this build verifies none (compiled without
    /// the `timestamp` feature).
    NotCompiled,
}

impl TimestampError {
    /// A stable, machine-readable code for reports and logs.
    pub const fn code(&self) -> &'static str {
        match self {
            TimestampError::Malformed => "timestamp-malformed",
            TimestampError::UnsupportedVersion => "timestamp-version",
            TimestampError::ContentType => "timestamp-content-type",
            TimestampError::SignerCount => "timestamp-signer-count",
            TimestampError::UnsupportedAlgorithm => "timestamp-unsupported-algorithm",
            TimestampError::ImprintAlgorithm => "timestamp-imprint-algorithm",
            TimestampError::ImprintMismatch => "timestamp-imprint-mismatch",
            TimestampError::SignedAttributes => "timestamp-signed-attributes",
            TimestampError::MessageDigest => "timestamp-message-digest",
            TimestampError::SigningCertificate => "timestamp-cert-binding",
            TimestampError::CertificateMissing => "timestamp-cert-missing",
            TimestampError::Signature => "timestamp-signature",
            TimestampError::TsaEku | TimestampError::Chain(ChainError::WrongEku) => {
                "timestamp-tsa-eku"
            }
            TimestampError::Chain(ChainError::UnknownIssuer) => "timestamp-untrusted",
            TimestampError::Chain(ChainError::Expired) => "timestamp-tsa-cert-expired",
            TimestampError::Chain(ChainError::NotYetValid) => "timestamp-tsa-cert-not-yet-valid",
            TimestampError::Chain(ChainError::MissingKeyUsage) => "timestamp-tsa-key-usage",
            TimestampError::Chain(ChainError::Malformed) => "timestamp-chain-malformed",
            TimestampError::Chain(ChainError::BadSignature) => "timestamp-chain-bad-signature",
            TimestampError::Chain(ChainError::UnsupportedAlgorithm) => {
                "timestamp-chain-unsupported-algorithm"
            }
            TimestampError::Chain(ChainError::Other) => "timestamp-chain-invalid",
            TimestampError::TsaName => "timestamp-tsa-name",
            TimestampError::Policy => "timestamp-policy",
            TimestampError::CriticalExtension => "timestamp-critical-extension",
            TimestampError::NotCompiled => "timestamp-not-compiled",
        }
    }
}

impl fmt::Display for TimestampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            TimestampError::Malformed => "timestamp token is not well-formed",
            TimestampError::UnsupportedVersion => "timestamp token has an unsupported version",
            TimestampError::ContentType => "not an RFC 3161 timestamp token (wrong content type)",
            TimestampError::SignerCount => "timestamp token does not have exactly one signer",
            TimestampError::UnsupportedAlgorithm => {
                "timestamp token uses a digest or signature algorithm this build does not accept"
            }
            TimestampError::ImprintAlgorithm => {
                "timestamp imprint uses another hash algorithm than expected"
            }
            TimestampError::ImprintMismatch => "timestamp is for other data",
            TimestampError::SignedAttributes => {
                "timestamp signed attributes are missing or invalid"
            }
            TimestampError::MessageDigest => {
                "timestamp message-digest attribute does not match its content"
            }
            TimestampError::SigningCertificate => {
                "timestamp does not bind the TSA certificate (SigningCertificate mismatch)"
            }
            TimestampError::CertificateMissing => "timestamp does not include the TSA certificate",
            TimestampError::Signature => "timestamp signature does not verify",
            TimestampError::TsaEku => {
                "TSA certificate's extended key usage is not exactly a critical timeStamping"
            }
            TimestampError::Chain(ChainError::Expired) => {
                "TSA certificate chain had expired at the timestamp's time"
            }
            TimestampError::Chain(ChainError::NotYetValid) => {
                "TSA certificate chain was not yet valid at the timestamp's time"
            }
            TimestampError::Chain(ChainError::UnknownIssuer) => {
                "TSA certificate does not chain to a trusted TSA root"
            }
            TimestampError::Chain(ChainError::WrongEku) => {
                "TSA certificate chain does not allow time stamping"
            }
            TimestampError::Chain(ChainError::MissingKeyUsage) => {
                "TSA certificate's key usage does not allow digital signatures"
            }
            TimestampError::Chain(e) => return write!(f, "TSA certificate: {e}"),
            TimestampError::TsaName => "timestamp names another TSA than its certificate",
            TimestampError::Policy => "timestamp policy is not accepted",
            TimestampError::CriticalExtension => "timestamp carries an unknown critical extension",
            TimestampError::NotCompiled => {
                "a timestamp is required but this build cannot verify timestamps"
            }
        };
        f.write_str(text)
    }
}
