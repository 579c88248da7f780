//! Status codes: one C enum value per stable [`VerifyError::code`] string.
//!
//! Values are stable: a code keeps its number for ever and new codes are
//! appended. `0` is success; `1..=255` mirror the verifier's codes one to one;
//! `256..` are errors of the C API itself (bad arguments), which the Rust API
//! cannot produce.

use otaseal_verify::manifest::{EnvelopeError, ManifestError};
use otaseal_verify::{ChainError, TimestampError, VerifyError};

/// The result of every `otaseal_*` call. The string of each value, from
/// `otaseal_error_code_str`, is the verifier's stable code (the one the CLI
/// prints in its JSON output).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum otaseal_status {
    /// `ok`: success.
    OTASEAL_OK = 0,
    /// `container-not-package`.
    OTASEAL_ERR_CONTAINER_NOT_PACKAGE = 1,
    /// `container-header-mismatch`.
    OTASEAL_ERR_CONTAINER_HEADER_MISMATCH = 2,
    /// `container-padding`.
    OTASEAL_ERR_CONTAINER_PADDING = 3,
    /// `container-truncated`.
    OTASEAL_ERR_CONTAINER_TRUNCATED = 4,
    /// `container-trailing-data`.
    OTASEAL_ERR_CONTAINER_TRAILING_DATA = 5,
    /// `envelope-too-large`.
    OTASEAL_ERR_ENVELOPE_TOO_LARGE = 6,
    /// `cbor-non-canonical`.
    OTASEAL_ERR_CBOR_NON_CANONICAL = 7,
    /// `envelope-malformed`.
    OTASEAL_ERR_ENVELOPE_MALFORMED = 8,
    /// `envelope-version`.
    OTASEAL_ERR_ENVELOPE_VERSION = 9,
    /// `cose-unknown-header`.
    OTASEAL_ERR_COSE_UNKNOWN_HEADER = 10,
    /// `envelope-limit`.
    OTASEAL_ERR_ENVELOPE_LIMIT = 11,
    /// `manifest-malformed`.
    OTASEAL_ERR_MANIFEST_MALFORMED = 12,
    /// `manifest-version`.
    OTASEAL_ERR_MANIFEST_VERSION = 13,
    /// `manifest-unknown-critical-field`.
    OTASEAL_ERR_MANIFEST_UNKNOWN_CRITICAL_FIELD = 14,
    /// `manifest-limit`.
    OTASEAL_ERR_MANIFEST_LIMIT = 15,
    /// `manifest-duplicate-payload`.
    OTASEAL_ERR_MANIFEST_DUPLICATE_PAYLOAD = 16,
    /// `manifest-duplicate-signer`.
    OTASEAL_ERR_MANIFEST_DUPLICATE_SIGNER = 17,
    /// `manifest-duplicate-hw-id`.
    OTASEAL_ERR_MANIFEST_DUPLICATE_HW_ID = 18,
    /// `signature-missing`.
    OTASEAL_ERR_SIGNATURE_MISSING = 19,
    /// `signature-undeclared`.
    OTASEAL_ERR_SIGNATURE_UNDECLARED = 20,
    /// `signature-order`.
    OTASEAL_ERR_SIGNATURE_ORDER = 21,
    /// `signature-invalid`.
    OTASEAL_ERR_SIGNATURE_INVALID = 22,
    /// `alg-key-mismatch`.
    OTASEAL_ERR_ALG_KEY_MISMATCH = 23,
    /// `kid-mismatch`.
    OTASEAL_ERR_KID_MISMATCH = 24,
    /// `cert-malformed`.
    OTASEAL_ERR_CERT_MALFORMED = 25,
    /// `chain-malformed`.
    OTASEAL_ERR_CHAIN_MALFORMED = 26,
    /// `chain-untrusted`.
    OTASEAL_ERR_CHAIN_UNTRUSTED = 27,
    /// `cert-expired`.
    OTASEAL_ERR_CERT_EXPIRED = 28,
    /// `cert-not-yet-valid`.
    OTASEAL_ERR_CERT_NOT_YET_VALID = 29,
    /// `cert-eku`.
    OTASEAL_ERR_CERT_EKU = 30,
    /// `cert-key-usage`.
    OTASEAL_ERR_CERT_KEY_USAGE = 31,
    /// `chain-bad-signature`.
    OTASEAL_ERR_CHAIN_BAD_SIGNATURE = 32,
    /// `chain-unsupported-algorithm`.
    OTASEAL_ERR_CHAIN_UNSUPPORTED_ALGORITHM = 33,
    /// `chain-invalid`.
    OTASEAL_ERR_CHAIN_INVALID = 34,
    /// `key-untrusted`.
    OTASEAL_ERR_KEY_UNTRUSTED = 35,
    /// `no-supported-suite`.
    OTASEAL_ERR_NO_SUPPORTED_SUITE = 36,
    /// `policy-unsatisfied`.
    OTASEAL_ERR_POLICY_UNSATISFIED = 37,
    /// `hw-incompatible`.
    OTASEAL_ERR_HW_INCOMPATIBLE = 38,
    /// `rollback`.
    OTASEAL_ERR_ROLLBACK = 39,
    /// `manifest-expired`.
    OTASEAL_ERR_MANIFEST_EXPIRED = 40,
    /// `payload-digest-missing`.
    OTASEAL_ERR_PAYLOAD_DIGEST_MISSING = 41,
    /// `payload-digest-mismatch`.
    OTASEAL_ERR_PAYLOAD_DIGEST_MISMATCH = 42,
    /// `timestamp-malformed`.
    OTASEAL_ERR_TIMESTAMP_MALFORMED = 43,
    /// `timestamp-version`.
    OTASEAL_ERR_TIMESTAMP_VERSION = 44,
    /// `timestamp-content-type`.
    OTASEAL_ERR_TIMESTAMP_CONTENT_TYPE = 45,
    /// `timestamp-signer-count`.
    OTASEAL_ERR_TIMESTAMP_SIGNER_COUNT = 46,
    /// `timestamp-unsupported-algorithm`.
    OTASEAL_ERR_TIMESTAMP_UNSUPPORTED_ALGORITHM = 47,
    /// `timestamp-imprint-algorithm`.
    OTASEAL_ERR_TIMESTAMP_IMPRINT_ALGORITHM = 48,
    /// `timestamp-imprint-mismatch`.
    OTASEAL_ERR_TIMESTAMP_IMPRINT_MISMATCH = 49,
    /// `timestamp-signed-attributes`.
    OTASEAL_ERR_TIMESTAMP_SIGNED_ATTRIBUTES = 50,
    /// `timestamp-message-digest`.
    OTASEAL_ERR_TIMESTAMP_MESSAGE_DIGEST = 51,
    /// `timestamp-cert-binding`.
    OTASEAL_ERR_TIMESTAMP_CERT_BINDING = 52,
    /// `timestamp-cert-missing`.
    OTASEAL_ERR_TIMESTAMP_CERT_MISSING = 53,
    /// `timestamp-signature`.
    OTASEAL_ERR_TIMESTAMP_SIGNATURE = 54,
    /// `timestamp-tsa-eku`.
    OTASEAL_ERR_TIMESTAMP_TSA_EKU = 55,
    /// `timestamp-untrusted`.
    OTASEAL_ERR_TIMESTAMP_UNTRUSTED = 56,
    /// `timestamp-tsa-cert-expired`.
    OTASEAL_ERR_TIMESTAMP_TSA_CERT_EXPIRED = 57,
    /// `timestamp-tsa-cert-not-yet-valid`.
    OTASEAL_ERR_TIMESTAMP_TSA_CERT_NOT_YET_VALID = 58,
    /// `timestamp-tsa-key-usage`.
    OTASEAL_ERR_TIMESTAMP_TSA_KEY_USAGE = 59,
    /// `timestamp-chain-malformed`.
    OTASEAL_ERR_TIMESTAMP_CHAIN_MALFORMED = 60,
    /// `timestamp-chain-bad-signature`.
    OTASEAL_ERR_TIMESTAMP_CHAIN_BAD_SIGNATURE = 61,
    /// `timestamp-chain-unsupported-algorithm`.
    OTASEAL_ERR_TIMESTAMP_CHAIN_UNSUPPORTED_ALGORITHM = 62,
    /// `timestamp-chain-invalid`.
    OTASEAL_ERR_TIMESTAMP_CHAIN_INVALID = 63,
    /// `timestamp-tsa-name`.
    OTASEAL_ERR_TIMESTAMP_TSA_NAME = 64,
    /// `timestamp-policy`.
    OTASEAL_ERR_TIMESTAMP_POLICY = 65,
    /// `timestamp-critical-extension`.
    OTASEAL_ERR_TIMESTAMP_CRITICAL_EXTENSION = 66,
    /// `timestamp-missing`.
    OTASEAL_ERR_TIMESTAMP_MISSING = 67,
    /// `timestamp-future`.
    OTASEAL_ERR_TIMESTAMP_FUTURE = 68,
    /// `timestamp-outside-cert-validity`.
    OTASEAL_ERR_TIMESTAMP_OUTSIDE_CERT_VALIDITY = 69,
    /// `buffer-too-small`.
    OTASEAL_ERR_BUFFER_TOO_SMALL = 70,
    // 71 was `verifier-failed`, which the verifier never returned (a later
    // call repeats the first error); the number is not reused.
    /// `signature-high-s`.
    OTASEAL_ERR_SIGNATURE_HIGH_S = 72,
    /// `digest-not-compiled`.
    OTASEAL_ERR_DIGEST_NOT_COMPILED = 73,
    /// `timestamp-not-compiled`.
    OTASEAL_ERR_TIMESTAMP_NOT_COMPILED = 74,
    /// `payload-kind-mismatch`.
    OTASEAL_ERR_PAYLOAD_KIND_MISMATCH = 75,
    /// `ffi-null-argument`: A required pointer argument is NULL (or NULL with a non-zero length).
    OTASEAL_ERR_NULL_ARGUMENT = 256,
    /// `ffi-bad-argument`: An argument is out of range: a misaligned pointer, a length past `PTRDIFF_MAX`, unknown flag or suite bits, a hardware id that is not UTF-8.
    OTASEAL_ERR_BAD_ARGUMENT = 257,
    /// `ffi-too-many-anchors`: More trust anchors than `OTASEAL_MAX_ROOTS`, `OTASEAL_MAX_KEYS` or `OTASEAL_MAX_TSA_ROOTS`.
    OTASEAL_ERR_TOO_MANY_ANCHORS = 258,
    /// `ffi-anchor-malformed`: A trusted root certificate is not a DER X.509 certificate.
    OTASEAL_ERR_ANCHOR_MALFORMED = 259,
    /// `ffi-not-initialized`: The state was not initialized by `otaseal_verifier_init`, was already finished, or was copied or moved after init.
    OTASEAL_ERR_NOT_INITIALIZED = 260,
    /// `ffi-not-compiled`: Root certificates were given to a build without the `x509` feature.
    OTASEAL_ERR_NOT_COMPILED = 261,
}

/// Every status, in numeric order (not an associated constant: cbindgen would
/// export it to the header).
const ALL: [otaseal_status; 81] = [
    otaseal_status::OTASEAL_OK,
    otaseal_status::OTASEAL_ERR_CONTAINER_NOT_PACKAGE,
    otaseal_status::OTASEAL_ERR_CONTAINER_HEADER_MISMATCH,
    otaseal_status::OTASEAL_ERR_CONTAINER_PADDING,
    otaseal_status::OTASEAL_ERR_CONTAINER_TRUNCATED,
    otaseal_status::OTASEAL_ERR_CONTAINER_TRAILING_DATA,
    otaseal_status::OTASEAL_ERR_ENVELOPE_TOO_LARGE,
    otaseal_status::OTASEAL_ERR_CBOR_NON_CANONICAL,
    otaseal_status::OTASEAL_ERR_ENVELOPE_MALFORMED,
    otaseal_status::OTASEAL_ERR_ENVELOPE_VERSION,
    otaseal_status::OTASEAL_ERR_COSE_UNKNOWN_HEADER,
    otaseal_status::OTASEAL_ERR_ENVELOPE_LIMIT,
    otaseal_status::OTASEAL_ERR_MANIFEST_MALFORMED,
    otaseal_status::OTASEAL_ERR_MANIFEST_VERSION,
    otaseal_status::OTASEAL_ERR_MANIFEST_UNKNOWN_CRITICAL_FIELD,
    otaseal_status::OTASEAL_ERR_MANIFEST_LIMIT,
    otaseal_status::OTASEAL_ERR_MANIFEST_DUPLICATE_PAYLOAD,
    otaseal_status::OTASEAL_ERR_MANIFEST_DUPLICATE_SIGNER,
    otaseal_status::OTASEAL_ERR_MANIFEST_DUPLICATE_HW_ID,
    otaseal_status::OTASEAL_ERR_SIGNATURE_MISSING,
    otaseal_status::OTASEAL_ERR_SIGNATURE_UNDECLARED,
    otaseal_status::OTASEAL_ERR_SIGNATURE_ORDER,
    otaseal_status::OTASEAL_ERR_SIGNATURE_INVALID,
    otaseal_status::OTASEAL_ERR_ALG_KEY_MISMATCH,
    otaseal_status::OTASEAL_ERR_KID_MISMATCH,
    otaseal_status::OTASEAL_ERR_CERT_MALFORMED,
    otaseal_status::OTASEAL_ERR_CHAIN_MALFORMED,
    otaseal_status::OTASEAL_ERR_CHAIN_UNTRUSTED,
    otaseal_status::OTASEAL_ERR_CERT_EXPIRED,
    otaseal_status::OTASEAL_ERR_CERT_NOT_YET_VALID,
    otaseal_status::OTASEAL_ERR_CERT_EKU,
    otaseal_status::OTASEAL_ERR_CERT_KEY_USAGE,
    otaseal_status::OTASEAL_ERR_CHAIN_BAD_SIGNATURE,
    otaseal_status::OTASEAL_ERR_CHAIN_UNSUPPORTED_ALGORITHM,
    otaseal_status::OTASEAL_ERR_CHAIN_INVALID,
    otaseal_status::OTASEAL_ERR_KEY_UNTRUSTED,
    otaseal_status::OTASEAL_ERR_NO_SUPPORTED_SUITE,
    otaseal_status::OTASEAL_ERR_POLICY_UNSATISFIED,
    otaseal_status::OTASEAL_ERR_HW_INCOMPATIBLE,
    otaseal_status::OTASEAL_ERR_ROLLBACK,
    otaseal_status::OTASEAL_ERR_MANIFEST_EXPIRED,
    otaseal_status::OTASEAL_ERR_PAYLOAD_DIGEST_MISSING,
    otaseal_status::OTASEAL_ERR_PAYLOAD_DIGEST_MISMATCH,
    otaseal_status::OTASEAL_ERR_TIMESTAMP_MALFORMED,
    otaseal_status::OTASEAL_ERR_TIMESTAMP_VERSION,
    otaseal_status::OTASEAL_ERR_TIMESTAMP_CONTENT_TYPE,
    otaseal_status::OTASEAL_ERR_TIMESTAMP_SIGNER_COUNT,
    otaseal_status::OTASEAL_ERR_TIMESTAMP_UNSUPPORTED_ALGORITHM,
    otaseal_status::OTASEAL_ERR_TIMESTAMP_IMPRINT_ALGORITHM,
    otaseal_status::OTASEAL_ERR_TIMESTAMP_IMPRINT_MISMATCH,
    otaseal_status::OTASEAL_ERR_TIMESTAMP_SIGNED_ATTRIBUTES,
    otaseal_status::OTASEAL_ERR_TIMESTAMP_MESSAGE_DIGEST,
    otaseal_status::OTASEAL_ERR_TIMESTAMP_CERT_BINDING,
    otaseal_status::OTASEAL_ERR_TIMESTAMP_CERT_MISSING,
    otaseal_status::OTASEAL_ERR_TIMESTAMP_SIGNATURE,
    otaseal_status::OTASEAL_ERR_TIMESTAMP_TSA_EKU,
    otaseal_status::OTASEAL_ERR_TIMESTAMP_UNTRUSTED,
    otaseal_status::OTASEAL_ERR_TIMESTAMP_TSA_CERT_EXPIRED,
    otaseal_status::OTASEAL_ERR_TIMESTAMP_TSA_CERT_NOT_YET_VALID,
    otaseal_status::OTASEAL_ERR_TIMESTAMP_TSA_KEY_USAGE,
    otaseal_status::OTASEAL_ERR_TIMESTAMP_CHAIN_MALFORMED,
    otaseal_status::OTASEAL_ERR_TIMESTAMP_CHAIN_BAD_SIGNATURE,
    otaseal_status::OTASEAL_ERR_TIMESTAMP_CHAIN_UNSUPPORTED_ALGORITHM,
    otaseal_status::OTASEAL_ERR_TIMESTAMP_CHAIN_INVALID,
    otaseal_status::OTASEAL_ERR_TIMESTAMP_TSA_NAME,
    otaseal_status::OTASEAL_ERR_TIMESTAMP_POLICY,
    otaseal_status::OTASEAL_ERR_TIMESTAMP_CRITICAL_EXTENSION,
    otaseal_status::OTASEAL_ERR_TIMESTAMP_MISSING,
    otaseal_status::OTASEAL_ERR_TIMESTAMP_FUTURE,
    otaseal_status::OTASEAL_ERR_TIMESTAMP_OUTSIDE_CERT_VALIDITY,
    otaseal_status::OTASEAL_ERR_BUFFER_TOO_SMALL,
    otaseal_status::OTASEAL_ERR_SIGNATURE_HIGH_S,
    otaseal_status::OTASEAL_ERR_DIGEST_NOT_COMPILED,
    otaseal_status::OTASEAL_ERR_TIMESTAMP_NOT_COMPILED,
    otaseal_status::OTASEAL_ERR_PAYLOAD_KIND_MISMATCH,
    otaseal_status::OTASEAL_ERR_NULL_ARGUMENT,
    otaseal_status::OTASEAL_ERR_BAD_ARGUMENT,
    otaseal_status::OTASEAL_ERR_TOO_MANY_ANCHORS,
    otaseal_status::OTASEAL_ERR_ANCHOR_MALFORMED,
    otaseal_status::OTASEAL_ERR_NOT_INITIALIZED,
    otaseal_status::OTASEAL_ERR_NOT_COMPILED,
];

impl otaseal_status {
    /// Every status, in numeric order.
    pub fn all() -> impl Iterator<Item = otaseal_status> {
        ALL.into_iter()
    }

    /// The stable code string, NUL-terminated so that C can use it as is.
    pub const fn code_nul(self) -> &'static str {
        match self {
            otaseal_status::OTASEAL_OK => "ok\0",
            otaseal_status::OTASEAL_ERR_CONTAINER_NOT_PACKAGE => "container-not-package\0",
            otaseal_status::OTASEAL_ERR_CONTAINER_HEADER_MISMATCH => "container-header-mismatch\0",
            otaseal_status::OTASEAL_ERR_CONTAINER_PADDING => "container-padding\0",
            otaseal_status::OTASEAL_ERR_CONTAINER_TRUNCATED => "container-truncated\0",
            otaseal_status::OTASEAL_ERR_CONTAINER_TRAILING_DATA => "container-trailing-data\0",
            otaseal_status::OTASEAL_ERR_ENVELOPE_TOO_LARGE => "envelope-too-large\0",
            otaseal_status::OTASEAL_ERR_CBOR_NON_CANONICAL => "cbor-non-canonical\0",
            otaseal_status::OTASEAL_ERR_ENVELOPE_MALFORMED => "envelope-malformed\0",
            otaseal_status::OTASEAL_ERR_ENVELOPE_VERSION => "envelope-version\0",
            otaseal_status::OTASEAL_ERR_COSE_UNKNOWN_HEADER => "cose-unknown-header\0",
            otaseal_status::OTASEAL_ERR_ENVELOPE_LIMIT => "envelope-limit\0",
            otaseal_status::OTASEAL_ERR_MANIFEST_MALFORMED => "manifest-malformed\0",
            otaseal_status::OTASEAL_ERR_MANIFEST_VERSION => "manifest-version\0",
            otaseal_status::OTASEAL_ERR_MANIFEST_UNKNOWN_CRITICAL_FIELD => {
                "manifest-unknown-critical-field\0"
            }
            otaseal_status::OTASEAL_ERR_MANIFEST_LIMIT => "manifest-limit\0",
            otaseal_status::OTASEAL_ERR_MANIFEST_DUPLICATE_PAYLOAD => {
                "manifest-duplicate-payload\0"
            }
            otaseal_status::OTASEAL_ERR_MANIFEST_DUPLICATE_SIGNER => "manifest-duplicate-signer\0",
            otaseal_status::OTASEAL_ERR_MANIFEST_DUPLICATE_HW_ID => "manifest-duplicate-hw-id\0",
            otaseal_status::OTASEAL_ERR_SIGNATURE_MISSING => "signature-missing\0",
            otaseal_status::OTASEAL_ERR_SIGNATURE_UNDECLARED => "signature-undeclared\0",
            otaseal_status::OTASEAL_ERR_SIGNATURE_ORDER => "signature-order\0",
            otaseal_status::OTASEAL_ERR_SIGNATURE_INVALID => "signature-invalid\0",
            otaseal_status::OTASEAL_ERR_ALG_KEY_MISMATCH => "alg-key-mismatch\0",
            otaseal_status::OTASEAL_ERR_KID_MISMATCH => "kid-mismatch\0",
            otaseal_status::OTASEAL_ERR_CERT_MALFORMED => "cert-malformed\0",
            otaseal_status::OTASEAL_ERR_CHAIN_MALFORMED => "chain-malformed\0",
            otaseal_status::OTASEAL_ERR_CHAIN_UNTRUSTED => "chain-untrusted\0",
            otaseal_status::OTASEAL_ERR_CERT_EXPIRED => "cert-expired\0",
            otaseal_status::OTASEAL_ERR_CERT_NOT_YET_VALID => "cert-not-yet-valid\0",
            otaseal_status::OTASEAL_ERR_CERT_EKU => "cert-eku\0",
            otaseal_status::OTASEAL_ERR_CERT_KEY_USAGE => "cert-key-usage\0",
            otaseal_status::OTASEAL_ERR_CHAIN_BAD_SIGNATURE => "chain-bad-signature\0",
            otaseal_status::OTASEAL_ERR_CHAIN_UNSUPPORTED_ALGORITHM => {
                "chain-unsupported-algorithm\0"
            }
            otaseal_status::OTASEAL_ERR_CHAIN_INVALID => "chain-invalid\0",
            otaseal_status::OTASEAL_ERR_KEY_UNTRUSTED => "key-untrusted\0",
            otaseal_status::OTASEAL_ERR_NO_SUPPORTED_SUITE => "no-supported-suite\0",
            otaseal_status::OTASEAL_ERR_POLICY_UNSATISFIED => "policy-unsatisfied\0",
            otaseal_status::OTASEAL_ERR_HW_INCOMPATIBLE => "hw-incompatible\0",
            otaseal_status::OTASEAL_ERR_ROLLBACK => "rollback\0",
            otaseal_status::OTASEAL_ERR_MANIFEST_EXPIRED => "manifest-expired\0",
            otaseal_status::OTASEAL_ERR_PAYLOAD_DIGEST_MISSING => "payload-digest-missing\0",
            otaseal_status::OTASEAL_ERR_PAYLOAD_DIGEST_MISMATCH => "payload-digest-mismatch\0",
            otaseal_status::OTASEAL_ERR_TIMESTAMP_MALFORMED => "timestamp-malformed\0",
            otaseal_status::OTASEAL_ERR_TIMESTAMP_VERSION => "timestamp-version\0",
            otaseal_status::OTASEAL_ERR_TIMESTAMP_CONTENT_TYPE => "timestamp-content-type\0",
            otaseal_status::OTASEAL_ERR_TIMESTAMP_SIGNER_COUNT => "timestamp-signer-count\0",
            otaseal_status::OTASEAL_ERR_TIMESTAMP_UNSUPPORTED_ALGORITHM => {
                "timestamp-unsupported-algorithm\0"
            }
            otaseal_status::OTASEAL_ERR_TIMESTAMP_IMPRINT_ALGORITHM => {
                "timestamp-imprint-algorithm\0"
            }
            otaseal_status::OTASEAL_ERR_TIMESTAMP_IMPRINT_MISMATCH => {
                "timestamp-imprint-mismatch\0"
            }
            otaseal_status::OTASEAL_ERR_TIMESTAMP_SIGNED_ATTRIBUTES => {
                "timestamp-signed-attributes\0"
            }
            otaseal_status::OTASEAL_ERR_TIMESTAMP_MESSAGE_DIGEST => "timestamp-message-digest\0",
            otaseal_status::OTASEAL_ERR_TIMESTAMP_CERT_BINDING => "timestamp-cert-binding\0",
            otaseal_status::OTASEAL_ERR_TIMESTAMP_CERT_MISSING => "timestamp-cert-missing\0",
            otaseal_status::OTASEAL_ERR_TIMESTAMP_SIGNATURE => "timestamp-signature\0",
            otaseal_status::OTASEAL_ERR_TIMESTAMP_TSA_EKU => "timestamp-tsa-eku\0",
            otaseal_status::OTASEAL_ERR_TIMESTAMP_UNTRUSTED => "timestamp-untrusted\0",
            otaseal_status::OTASEAL_ERR_TIMESTAMP_TSA_CERT_EXPIRED => {
                "timestamp-tsa-cert-expired\0"
            }
            otaseal_status::OTASEAL_ERR_TIMESTAMP_TSA_CERT_NOT_YET_VALID => {
                "timestamp-tsa-cert-not-yet-valid\0"
            }
            otaseal_status::OTASEAL_ERR_TIMESTAMP_TSA_KEY_USAGE => "timestamp-tsa-key-usage\0",
            otaseal_status::OTASEAL_ERR_TIMESTAMP_CHAIN_MALFORMED => "timestamp-chain-malformed\0",
            otaseal_status::OTASEAL_ERR_TIMESTAMP_CHAIN_BAD_SIGNATURE => {
                "timestamp-chain-bad-signature\0"
            }
            otaseal_status::OTASEAL_ERR_TIMESTAMP_CHAIN_UNSUPPORTED_ALGORITHM => {
                "timestamp-chain-unsupported-algorithm\0"
            }
            otaseal_status::OTASEAL_ERR_TIMESTAMP_CHAIN_INVALID => "timestamp-chain-invalid\0",
            otaseal_status::OTASEAL_ERR_TIMESTAMP_TSA_NAME => "timestamp-tsa-name\0",
            otaseal_status::OTASEAL_ERR_TIMESTAMP_POLICY => "timestamp-policy\0",
            otaseal_status::OTASEAL_ERR_TIMESTAMP_CRITICAL_EXTENSION => {
                "timestamp-critical-extension\0"
            }
            otaseal_status::OTASEAL_ERR_TIMESTAMP_MISSING => "timestamp-missing\0",
            otaseal_status::OTASEAL_ERR_TIMESTAMP_FUTURE => "timestamp-future\0",
            otaseal_status::OTASEAL_ERR_TIMESTAMP_OUTSIDE_CERT_VALIDITY => {
                "timestamp-outside-cert-validity\0"
            }
            otaseal_status::OTASEAL_ERR_BUFFER_TOO_SMALL => "buffer-too-small\0",
            otaseal_status::OTASEAL_ERR_SIGNATURE_HIGH_S => "signature-high-s\0",
            otaseal_status::OTASEAL_ERR_DIGEST_NOT_COMPILED => "digest-not-compiled\0",
            otaseal_status::OTASEAL_ERR_TIMESTAMP_NOT_COMPILED => "timestamp-not-compiled\0",
            otaseal_status::OTASEAL_ERR_PAYLOAD_KIND_MISMATCH => "payload-kind-mismatch\0",
            otaseal_status::OTASEAL_ERR_NULL_ARGUMENT => "ffi-null-argument\0",
            otaseal_status::OTASEAL_ERR_BAD_ARGUMENT => "ffi-bad-argument\0",
            otaseal_status::OTASEAL_ERR_TOO_MANY_ANCHORS => "ffi-too-many-anchors\0",
            otaseal_status::OTASEAL_ERR_ANCHOR_MALFORMED => "ffi-anchor-malformed\0",
            otaseal_status::OTASEAL_ERR_NOT_INITIALIZED => "ffi-not-initialized\0",
            otaseal_status::OTASEAL_ERR_NOT_COMPILED => "ffi-not-compiled\0",
        }
    }

    /// The stable code string (the same as [`VerifyError::code`] for the
    /// verifier's errors).
    pub fn code(self) -> &'static str {
        let s = self.code_nul();
        s.strip_suffix('\0').unwrap_or(s)
    }

    /// The status with numeric value `value`, if there is one.
    pub fn from_int(value: i32) -> Option<otaseal_status> {
        ALL.into_iter().find(|s| *s as i32 == value)
    }

    /// The status of a verifier error. The match is exhaustive on purpose: a
    /// new error variant fails to compile here until it has its C value.
    pub const fn from_error(e: &VerifyError) -> otaseal_status {
        use otaseal_status as S;
        match e {
            VerifyError::NotAPackage => S::OTASEAL_ERR_CONTAINER_NOT_PACKAGE,
            VerifyError::HeaderMismatch { .. } => S::OTASEAL_ERR_CONTAINER_HEADER_MISMATCH,
            VerifyError::Padding => S::OTASEAL_ERR_CONTAINER_PADDING,
            VerifyError::Truncated => S::OTASEAL_ERR_CONTAINER_TRUNCATED,
            VerifyError::TrailingData => S::OTASEAL_ERR_CONTAINER_TRAILING_DATA,
            VerifyError::EnvelopeTooLarge { .. } => S::OTASEAL_ERR_ENVELOPE_TOO_LARGE,
            VerifyError::Envelope(e) => match e {
                EnvelopeError::NonCanonical(_) => S::OTASEAL_ERR_CBOR_NON_CANONICAL,
                EnvelopeError::Malformed(_) => S::OTASEAL_ERR_ENVELOPE_MALFORMED,
                EnvelopeError::UnsupportedVersion(_) => S::OTASEAL_ERR_ENVELOPE_VERSION,
                EnvelopeError::UnknownHeader(_) | EnvelopeError::UnknownTextHeader => {
                    S::OTASEAL_ERR_COSE_UNKNOWN_HEADER
                }
                EnvelopeError::Limit(_) => S::OTASEAL_ERR_ENVELOPE_LIMIT,
            },
            VerifyError::Manifest(e) => match e {
                ManifestError::NonCanonical(_) => S::OTASEAL_ERR_CBOR_NON_CANONICAL,
                ManifestError::Malformed(_) => S::OTASEAL_ERR_MANIFEST_MALFORMED,
                ManifestError::UnsupportedVersion(_) => S::OTASEAL_ERR_MANIFEST_VERSION,
                ManifestError::UnknownCriticalField(_) => {
                    S::OTASEAL_ERR_MANIFEST_UNKNOWN_CRITICAL_FIELD
                }
                ManifestError::Limit(_) => S::OTASEAL_ERR_MANIFEST_LIMIT,
                ManifestError::DuplicatePayload => S::OTASEAL_ERR_MANIFEST_DUPLICATE_PAYLOAD,
                ManifestError::DuplicateSigner => S::OTASEAL_ERR_MANIFEST_DUPLICATE_SIGNER,
                ManifestError::DuplicateHwId => S::OTASEAL_ERR_MANIFEST_DUPLICATE_HW_ID,
            },
            VerifyError::SignatureMissing { .. } => S::OTASEAL_ERR_SIGNATURE_MISSING,
            VerifyError::SignatureUndeclared { .. } => S::OTASEAL_ERR_SIGNATURE_UNDECLARED,
            VerifyError::SignatureOrder => S::OTASEAL_ERR_SIGNATURE_ORDER,
            VerifyError::SignatureInvalid { .. } => S::OTASEAL_ERR_SIGNATURE_INVALID,
            VerifyError::SignatureHighS { .. } => S::OTASEAL_ERR_SIGNATURE_HIGH_S,
            VerifyError::AlgorithmKeyMismatch { .. } => S::OTASEAL_ERR_ALG_KEY_MISMATCH,
            VerifyError::KeyIdMismatch { .. } => S::OTASEAL_ERR_KID_MISMATCH,
            VerifyError::CertificateMalformed { .. } => S::OTASEAL_ERR_CERT_MALFORMED,
            VerifyError::Chain { reason, .. } => match reason {
                ChainError::Malformed => S::OTASEAL_ERR_CHAIN_MALFORMED,
                ChainError::UnknownIssuer => S::OTASEAL_ERR_CHAIN_UNTRUSTED,
                ChainError::Expired => S::OTASEAL_ERR_CERT_EXPIRED,
                ChainError::NotYetValid => S::OTASEAL_ERR_CERT_NOT_YET_VALID,
                ChainError::WrongEku => S::OTASEAL_ERR_CERT_EKU,
                ChainError::MissingKeyUsage => S::OTASEAL_ERR_CERT_KEY_USAGE,
                ChainError::BadSignature => S::OTASEAL_ERR_CHAIN_BAD_SIGNATURE,
                ChainError::UnsupportedAlgorithm => S::OTASEAL_ERR_CHAIN_UNSUPPORTED_ALGORITHM,
                ChainError::Other => S::OTASEAL_ERR_CHAIN_INVALID,
            },
            VerifyError::KeyUntrusted { .. } => S::OTASEAL_ERR_KEY_UNTRUSTED,
            VerifyError::NoSupportedSuite => S::OTASEAL_ERR_NO_SUPPORTED_SUITE,
            VerifyError::PolicyUnsatisfied { .. } => S::OTASEAL_ERR_POLICY_UNSATISFIED,
            VerifyError::HardwareIncompatible => S::OTASEAL_ERR_HW_INCOMPATIBLE,
            VerifyError::Rollback { .. } => S::OTASEAL_ERR_ROLLBACK,
            VerifyError::ManifestExpired { .. } => S::OTASEAL_ERR_MANIFEST_EXPIRED,
            VerifyError::DigestUnavailable { .. } => S::OTASEAL_ERR_PAYLOAD_DIGEST_MISSING,
            VerifyError::DigestNotCompiled { .. } => S::OTASEAL_ERR_DIGEST_NOT_COMPILED,
            VerifyError::PayloadKindMismatch { .. } => S::OTASEAL_ERR_PAYLOAD_KIND_MISMATCH,
            VerifyError::DigestMismatch { .. } => S::OTASEAL_ERR_PAYLOAD_DIGEST_MISMATCH,
            VerifyError::Timestamp { reason, .. } => match reason {
                TimestampError::Malformed => S::OTASEAL_ERR_TIMESTAMP_MALFORMED,
                TimestampError::UnsupportedVersion => S::OTASEAL_ERR_TIMESTAMP_VERSION,
                TimestampError::ContentType => S::OTASEAL_ERR_TIMESTAMP_CONTENT_TYPE,
                TimestampError::SignerCount => S::OTASEAL_ERR_TIMESTAMP_SIGNER_COUNT,
                TimestampError::UnsupportedAlgorithm => {
                    S::OTASEAL_ERR_TIMESTAMP_UNSUPPORTED_ALGORITHM
                }
                TimestampError::ImprintAlgorithm => S::OTASEAL_ERR_TIMESTAMP_IMPRINT_ALGORITHM,
                TimestampError::ImprintMismatch => S::OTASEAL_ERR_TIMESTAMP_IMPRINT_MISMATCH,
                TimestampError::SignedAttributes => S::OTASEAL_ERR_TIMESTAMP_SIGNED_ATTRIBUTES,
                TimestampError::MessageDigest => S::OTASEAL_ERR_TIMESTAMP_MESSAGE_DIGEST,
                TimestampError::SigningCertificate => S::OTASEAL_ERR_TIMESTAMP_CERT_BINDING,
                TimestampError::CertificateMissing => S::OTASEAL_ERR_TIMESTAMP_CERT_MISSING,
                TimestampError::Signature => S::OTASEAL_ERR_TIMESTAMP_SIGNATURE,
                TimestampError::TsaEku | TimestampError::Chain(ChainError::WrongEku) => {
                    S::OTASEAL_ERR_TIMESTAMP_TSA_EKU
                }
                TimestampError::Chain(ChainError::UnknownIssuer) => {
                    S::OTASEAL_ERR_TIMESTAMP_UNTRUSTED
                }
                TimestampError::Chain(ChainError::Expired) => {
                    S::OTASEAL_ERR_TIMESTAMP_TSA_CERT_EXPIRED
                }
                TimestampError::Chain(ChainError::NotYetValid) => {
                    S::OTASEAL_ERR_TIMESTAMP_TSA_CERT_NOT_YET_VALID
                }
                TimestampError::Chain(ChainError::MissingKeyUsage) => {
                    S::OTASEAL_ERR_TIMESTAMP_TSA_KEY_USAGE
                }
                TimestampError::Chain(ChainError::Malformed) => {
                    S::OTASEAL_ERR_TIMESTAMP_CHAIN_MALFORMED
                }
                TimestampError::Chain(ChainError::BadSignature) => {
                    S::OTASEAL_ERR_TIMESTAMP_CHAIN_BAD_SIGNATURE
                }
                TimestampError::Chain(ChainError::UnsupportedAlgorithm) => {
                    S::OTASEAL_ERR_TIMESTAMP_CHAIN_UNSUPPORTED_ALGORITHM
                }
                TimestampError::Chain(ChainError::Other) => S::OTASEAL_ERR_TIMESTAMP_CHAIN_INVALID,
                TimestampError::TsaName => S::OTASEAL_ERR_TIMESTAMP_TSA_NAME,
                TimestampError::Policy => S::OTASEAL_ERR_TIMESTAMP_POLICY,
                TimestampError::CriticalExtension => S::OTASEAL_ERR_TIMESTAMP_CRITICAL_EXTENSION,
                TimestampError::NotCompiled => S::OTASEAL_ERR_TIMESTAMP_NOT_COMPILED,
            },
            VerifyError::TimestampMissing { .. } => S::OTASEAL_ERR_TIMESTAMP_MISSING,
            VerifyError::TimestampFuture { .. } => S::OTASEAL_ERR_TIMESTAMP_FUTURE,
            VerifyError::TimestampOutsideCertValidity { .. } => {
                S::OTASEAL_ERR_TIMESTAMP_OUTSIDE_CERT_VALIDITY
            }
            VerifyError::BufferTooSmall => S::OTASEAL_ERR_BUFFER_TOO_SMALL,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use otaseal_verify::manifest::canonical::CanonicalError;
    use otaseal_verify::{DigestAlg, Suite};
    use std::collections::BTreeSet;
    use std::vec::Vec;

    /// One value of every error variant, nested ones included.
    fn every_error() -> Vec<VerifyError> {
        let chain = [
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
        let canonical = CanonicalError::Truncated { at: 0 };
        let mut out = std::vec![
            VerifyError::NotAPackage,
            VerifyError::HeaderMismatch { member: 1 },
            VerifyError::Padding,
            VerifyError::Truncated,
            VerifyError::TrailingData,
            VerifyError::EnvelopeTooLarge { size: 1 },
            VerifyError::Envelope(EnvelopeError::NonCanonical(canonical)),
            VerifyError::Envelope(EnvelopeError::Malformed("x")),
            VerifyError::Envelope(EnvelopeError::UnsupportedVersion(9)),
            VerifyError::Envelope(EnvelopeError::UnknownHeader(9)),
            VerifyError::Envelope(EnvelopeError::UnknownTextHeader),
            VerifyError::Envelope(EnvelopeError::Limit("x")),
            VerifyError::Manifest(ManifestError::NonCanonical(canonical)),
            VerifyError::Manifest(ManifestError::Malformed("x")),
            VerifyError::Manifest(ManifestError::UnsupportedVersion(9)),
            VerifyError::Manifest(ManifestError::UnknownCriticalField(9)),
            VerifyError::Manifest(ManifestError::Limit("x")),
            VerifyError::Manifest(ManifestError::DuplicatePayload),
            VerifyError::Manifest(ManifestError::DuplicateSigner),
            VerifyError::Manifest(ManifestError::DuplicateHwId),
            VerifyError::SignatureMissing { alg: -9 },
            VerifyError::SignatureUndeclared { index: 0 },
            VerifyError::SignatureOrder,
            VerifyError::SignatureInvalid { index: 0 },
            VerifyError::SignatureHighS { index: 0 },
            VerifyError::AlgorithmKeyMismatch { index: 0 },
            VerifyError::KeyIdMismatch { index: 0 },
            VerifyError::CertificateMalformed { index: 0 },
            VerifyError::KeyUntrusted { index: 0 },
            VerifyError::NoSupportedSuite,
            VerifyError::PolicyUnsatisfied {
                suite: Suite::EcdsaP256,
            },
            VerifyError::HardwareIncompatible,
            VerifyError::Rollback {
                version: 1,
                minimum: 2,
            },
            VerifyError::ManifestExpired { expires: 1 },
            VerifyError::DigestUnavailable {
                payload: 0,
                alg: DigestAlg::Sm3,
            },
            VerifyError::DigestNotCompiled {
                alg: DigestAlg::Sm3
            },
            VerifyError::DigestMismatch {
                payload: 0,
                alg: DigestAlg::Sha256,
            },
            VerifyError::PayloadKindMismatch { payload: 0 },
            VerifyError::TimestampMissing { index: 0 },
            VerifyError::TimestampFuture { index: 0 },
            VerifyError::TimestampOutsideCertValidity { index: 0 },
            VerifyError::BufferTooSmall,
        ];
        out.extend(chain.map(|reason| VerifyError::Chain { index: 0, reason }));
        let timestamp = [
            TimestampError::Malformed,
            TimestampError::UnsupportedVersion,
            TimestampError::ContentType,
            TimestampError::SignerCount,
            TimestampError::UnsupportedAlgorithm,
            TimestampError::ImprintAlgorithm,
            TimestampError::ImprintMismatch,
            TimestampError::SignedAttributes,
            TimestampError::MessageDigest,
            TimestampError::SigningCertificate,
            TimestampError::CertificateMissing,
            TimestampError::Signature,
            TimestampError::TsaEku,
            TimestampError::TsaName,
            TimestampError::Policy,
            TimestampError::CriticalExtension,
            TimestampError::NotCompiled,
        ]
        .into_iter()
        .chain(chain.map(TimestampError::Chain));
        out.extend(timestamp.map(|reason| VerifyError::Timestamp { index: 0, reason }));
        out
    }

    #[test]
    fn every_error_has_the_status_of_its_code() {
        for e in every_error() {
            assert_eq!(otaseal_status::from_error(&e).code(), e.code(), "{e:?}");
        }
    }

    #[test]
    fn every_verifier_code_has_exactly_one_status() {
        let codes: BTreeSet<&str> = every_error().iter().map(|e| e.code()).collect();
        let mirrored: BTreeSet<&str> = otaseal_status::all()
            .filter(|s| (1..256).contains(&(*s as i32)))
            .map(|s| s.code())
            .collect();
        assert_eq!(codes, mirrored);
    }

    #[test]
    fn statuses_are_unique_ordered_and_nul_terminated() {
        let all: Vec<otaseal_status> = otaseal_status::all().collect();
        assert!(all.windows(2).all(|w| (w[0] as i32) < (w[1] as i32)));
        let codes: BTreeSet<&str> = all.iter().map(|s| s.code()).collect();
        assert_eq!(codes.len(), all.len());
        for s in all {
            assert_eq!(otaseal_status::from_int(s as i32), Some(s));
            let nul = s.code_nul();
            assert!(nul.ends_with('\0') && !nul[..nul.len() - 1].contains('\0'));
        }
        assert_eq!(otaseal_status::OTASEAL_OK as i32, 0);
        assert_eq!(otaseal_status::from_int(-1), None);
        assert_eq!(otaseal_status::from_int(1000), None);
    }
}
