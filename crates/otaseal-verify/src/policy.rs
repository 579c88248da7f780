//! What a verifier demands of a package: signatures, device fit, freshness.

use otaseal_manifest::{DigestSet, SuiteSet};
use rustls_pki_types::TrustAnchor;

/// Which signatures must be present and valid.
#[derive(Clone, Copy, Debug)]
pub enum Requirement<'a> {
    /// Strict default: every suite the manifest declares and this build
    /// supports must be present and valid, and at least one must be supported.
    AllDeclared,
    /// At least one of these sets must be entirely valid (`ecdsa-p256+sm2`
    /// is one set; several sets are alternatives).
    AnyOf(&'a [SuiteSet]),
}

/// Which payload digest families are checked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DigestPolicy {
    /// The families of the suites that verified (SHA-2 for classic and
    /// ML-DSA suites by security category, SM3 for SM2).
    #[default]
    FollowSuites,
    /// Exactly these families; each must be in the manifest.
    Families(DigestSet),
    /// Every family the manifest carries for each payload.
    AllInManifest,
}

/// Trust anchors: X.509 roots for certificate signers, raw public keys for
/// key-id signers.
#[derive(Clone, Copy, Debug, Default)]
pub struct TrustStore<'a> {
    /// Code-signing roots (from `webpki::anchor_from_trusted_cert`).
    pub roots: &'a [TrustAnchor<'a>],
    /// Trusted SubjectPublicKeyInfo DER encodings.
    pub keys: &'a [&'a [u8]],
    /// Time-stamping authority roots for RFC 3161 tokens.
    pub tsa_roots: &'a [TrustAnchor<'a>],
}

/// The complete verification policy.
#[derive(Clone, Copy, Debug)]
pub struct Policy<'a> {
    /// Signature requirement.
    pub require: Requirement<'a>,
    /// The device's hardware id; it must be in the manifest's list.
    pub hw_id: Option<&'a str>,
    /// The device's anti-rollback floor; lower security versions are refused.
    pub min_security_version: Option<u64>,
    /// Trusted current time (Unix seconds). With a time, certificates must be
    /// valid at it and an expired manifest is refused. Without one,
    /// certificates are checked at the manifest's creation time and expiry
    /// cannot be checked (see `spec/policy.md`).
    pub time: Option<u64>,
    /// Payload digest families to check.
    pub digests: DigestPolicy,
    /// Suites whose signatures must carry a valid RFC 3161 token.
    pub require_timestamp: SuiteSet,
    /// Accepted TSA policy OIDs (content bytes); `None` accepts any.
    pub tsa_policies: Option<&'a [&'a [u8]]>,
}

impl Default for Policy<'_> {
    fn default() -> Self {
        Policy {
            require: Requirement::AllDeclared,
            hw_id: None,
            min_security_version: None,
            time: None,
            digests: DigestPolicy::FollowSuites,
            require_timestamp: SuiteSet::EMPTY,
            tsa_policies: None,
        }
    }
}
