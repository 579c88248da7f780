//! Every way a package can be rejected, each with a stable code.

use core::fmt;

use otaseal_manifest::{DigestAlg, EnvelopeError, ManifestError, Suite};

use crate::chain::ChainError;
use crate::timestamp::TimestampError;

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
    /// The envelope does not fit the verifier's buffer or the format limit.
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
    /// The verifier's buffer cannot hold the bytes to be signed.
    BufferTooSmall,
    /// `finish` or `update` after the verifier already failed.
    AlreadyFailed,
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
            VerifyError::DigestMismatch { .. } => "payload-digest-mismatch",
            VerifyError::Timestamp { reason, .. } => reason.code(),
            VerifyError::TimestampMissing { .. } => "timestamp-missing",
            VerifyError::TimestampFuture { .. } => "timestamp-future",
            VerifyError::TimestampOutsideCertValidity { .. } => "timestamp-outside-cert-validity",
            VerifyError::BufferTooSmall => "buffer-too-small",
            VerifyError::AlreadyFailed => "verifier-failed",
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
                write!(f, "envelope of {size} bytes exceeds the verifier's limit")
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
            VerifyError::BufferTooSmall => {
                write!(f, "verifier buffer too small for the signed structure")
            }
            VerifyError::AlreadyFailed => write!(f, "verification already failed"),
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
