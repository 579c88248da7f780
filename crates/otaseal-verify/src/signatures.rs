//! Envelope checks: declared signers, each COSE_Sign1, trust, then policy.

use heapless::Vec;
use otaseal_manifest::envelope::write_sig_structure;
use otaseal_manifest::manifest::{KEY_ID_LEN, MAX_SIGNERS};
use otaseal_manifest::{
    CoseSign1, DigestAlg, DigestSet, Envelope, Manifest, SignerDecl, Suite, SuiteSet,
};
use rustls_pki_types::{CertificateDer, UnixTime};

use crate::chain;
use crate::crypto::{self, CryptoError};
use crate::digest::hash;
use crate::error::VerifyError;
use crate::policy::{DigestPolicy, Policy, Requirement, TrustStore};

/// What became of one signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureStatus {
    /// Cryptographically valid and trusted.
    Valid,
    /// Broken: does not verify, or its key or algorithm is wrong.
    Invalid,
    /// Verifies (where checkable) but does not lead to a trust anchor.
    Untrusted,
    /// This build cannot verify the suite.
    Unsupported,
}

impl SignatureStatus {
    /// Stable name used in JSON output.
    pub const fn name(self) -> &'static str {
        match self {
            SignatureStatus::Valid => "valid",
            SignatureStatus::Invalid => "invalid",
            SignatureStatus::Untrusted => "untrusted",
            SignatureStatus::Unsupported => "unsupported",
        }
    }
}

/// The outcome for one signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignatureReport {
    /// COSE algorithm id.
    pub alg: i64,
    /// Suite, when known.
    pub suite: Option<Suite>,
    /// Key id (SHA-256 of the signer's SubjectPublicKeyInfo).
    pub kid: [u8; KEY_ID_LEN],
    /// Whether the signer came with a certificate chain.
    pub certified: bool,
    /// Status.
    pub status: SignatureStatus,
    /// Why, when not valid.
    pub reason: Option<VerifyError>,
}

/// Everything decided from the envelope.
#[derive(Clone, Debug, Default)]
pub struct EnvelopeVerdict {
    /// Per-signature outcomes, in envelope order.
    pub signatures: Vec<SignatureReport, MAX_SIGNERS>,
    /// Suites whose signatures are valid.
    pub valid: SuiteSet,
    /// Payload digest families that will be checked.
    pub digests: DigestSet,
}

/// Verifies the envelope and applies the policy. `scratch` receives each
/// `Sig_structure` in turn. On success, the payloads may be streamed; the
/// manifest is returned with its encoded bytes.
pub fn check_envelope<'e>(
    envelope_bytes: &'e [u8],
    scratch: &mut [u8],
    policy: &Policy<'_>,
    trust: &TrustStore<'_>,
    verdict: &mut EnvelopeVerdict,
) -> Result<(Manifest<'e>, &'e [u8]), VerifyError> {
    let envelope = Envelope::decode(envelope_bytes)?;
    let manifest = Manifest::decode(envelope.manifest)?;
    match_declarations(&manifest.signers, &envelope.signatures)?;

    // Certificates are checked at the trusted time; without a clock, at the
    // signed creation time (weaker: see spec/policy.md).
    let time = policy.time.unwrap_or(manifest.created);
    let mut first_broken = None;
    for (index, sig) in envelope.signatures.iter().enumerate() {
        let report = check_signature(index, sig, &envelope, scratch, trust, time)?;
        if report.status == SignatureStatus::Invalid && first_broken.is_none() {
            first_broken = report.reason;
        }
        if report.status == SignatureStatus::Valid {
            if let Some(s) = report.suite {
                verdict.valid = verdict.valid.with(s);
            }
        }
        // Capacity equals the declaration limit, checked above.
        let _ = verdict.signatures.push(report);
    }
    // A broken signature is evidence of tampering whatever the policy says.
    if let Some(reason) = first_broken {
        return Err(reason);
    }
    apply_requirement(policy, verdict)?;

    if let Some(hw) = policy.hw_id {
        if !manifest.is_compatible_with(hw) {
            return Err(VerifyError::HardwareIncompatible);
        }
    }
    if let Some(minimum) = policy.min_security_version {
        if manifest.security_version < minimum {
            return Err(VerifyError::Rollback {
                version: manifest.security_version,
                minimum,
            });
        }
    }
    if let (Some(now), Some(expires)) = (policy.time, manifest.expires) {
        if now >= expires {
            return Err(VerifyError::ManifestExpired { expires });
        }
    }
    verdict.digests = select_digests(policy, verdict.valid, &manifest)?;
    Ok((manifest, envelope.manifest))
}

/// Every declared signer has exactly one signature, in declaration order,
/// and nothing else is there: a stripped or added signature is caught here.
fn match_declarations(decls: &[SignerDecl<'_>], sigs: &[CoseSign1<'_>]) -> Result<(), VerifyError> {
    let matches = |d: &SignerDecl<'_>, s: &CoseSign1<'_>| d.alg == s.alg && d.kid == s.kid;
    for d in decls {
        if !sigs.iter().any(|s| matches(d, s)) {
            return Err(VerifyError::SignatureMissing { alg: d.alg });
        }
    }
    for (index, s) in sigs.iter().enumerate() {
        if !decls.iter().any(|d| matches(d, s)) {
            return Err(VerifyError::SignatureUndeclared { index });
        }
    }
    if decls.len() != sigs.len() || !decls.iter().zip(sigs).all(|(d, s)| matches(d, s)) {
        return Err(VerifyError::SignatureOrder);
    }
    Ok(())
}

fn check_signature(
    index: usize,
    sig: &CoseSign1<'_>,
    envelope: &Envelope<'_>,
    scratch: &mut [u8],
    trust: &TrustStore<'_>,
    time: u64,
) -> Result<SignatureReport, VerifyError> {
    let mut kid = [0u8; KEY_ID_LEN];
    if let Some(src) = sig.kid.get(..KEY_ID_LEN) {
        kid.copy_from_slice(src);
    }
    let mut report = SignatureReport {
        alg: sig.alg,
        suite: Suite::from_cose_alg(sig.alg),
        kid,
        certified: !sig.x5chain.is_empty(),
        status: SignatureStatus::Unsupported,
        reason: None,
    };
    let Some(suite) = report.suite else {
        return Ok(report);
    };
    let mut set = |status, reason| {
        report.status = status;
        report.reason = reason;
        Ok(report)
    };

    // The signer's key: the certificate's, or a trusted raw key by key id.
    let (spki, leaf) = match sig.x5chain.first() {
        Some(leaf) => match crate::cert::parse_certificate(leaf) {
            Ok(info) => (info.spki, Some(*leaf)),
            Err(_) => {
                return set(
                    SignatureStatus::Invalid,
                    Some(VerifyError::CertificateMalformed { index }),
                );
            }
        },
        None => match trust
            .keys
            .iter()
            .find(|k| hash(DigestAlg::Sha256, k).as_bytes() == sig.kid)
        {
            Some(key) => (*key, None),
            None => {
                return set(
                    SignatureStatus::Untrusted,
                    Some(VerifyError::KeyUntrusted { index }),
                );
            }
        },
    };
    if leaf.is_some() && hash(DigestAlg::Sha256, spki).as_bytes() != sig.kid {
        return set(
            SignatureStatus::Invalid,
            Some(VerifyError::KeyIdMismatch { index }),
        );
    }

    let tbs = write_sig_structure(sig.protected, envelope.manifest, scratch)
        .ok_or(VerifyError::BufferTooSmall)?;
    match crypto::verify_signature(suite, spki, tbs, sig.signature) {
        Ok(()) => {}
        Err(CryptoError::Unsupported) => return set(SignatureStatus::Unsupported, None),
        Err(CryptoError::KeyMismatch) => {
            return set(
                SignatureStatus::Invalid,
                Some(VerifyError::AlgorithmKeyMismatch { index }),
            );
        }
        Err(CryptoError::MalformedKey) => {
            return set(
                SignatureStatus::Invalid,
                Some(VerifyError::CertificateMalformed { index }),
            );
        }
        Err(CryptoError::MalformedSignature | CryptoError::BadSignature) => {
            return set(
                SignatureStatus::Invalid,
                Some(VerifyError::SignatureInvalid { index }),
            );
        }
    }

    let Some(leaf) = leaf else {
        // A raw key found among the trusted keys.
        return set(SignatureStatus::Valid, None);
    };
    // A pinned leaf key is trusted without a chain.
    if trust.keys.iter().any(|k| *k == spki) {
        return set(SignatureStatus::Valid, None);
    }
    let mut intermediates: Vec<CertificateDer<'_>, 4> = Vec::new();
    for der in sig.x5chain.iter().skip(1) {
        let _ = intermediates.push(CertificateDer::from(*der));
    }
    let at = UnixTime::since_unix_epoch(core::time::Duration::from_secs(time));
    match chain::verify_code_signing_chain(leaf, &intermediates, trust.roots, at) {
        Ok(()) => set(SignatureStatus::Valid, None),
        Err(reason) => set(
            SignatureStatus::Untrusted,
            Some(VerifyError::Chain { index, reason }),
        ),
    }
}

fn apply_requirement(policy: &Policy<'_>, verdict: &EnvelopeVerdict) -> Result<(), VerifyError> {
    // Why a suite is not valid: the reason recorded for its signature.
    let reason_for = |suite: Suite| {
        verdict
            .signatures
            .iter()
            .find(|r| r.suite == Some(suite))
            .and_then(|r| r.reason)
    };
    match policy.require {
        Requirement::AllDeclared => {
            let mut any_supported = false;
            for r in &verdict.signatures {
                match r.status {
                    SignatureStatus::Valid => any_supported = true,
                    SignatureStatus::Unsupported => {}
                    SignatureStatus::Invalid | SignatureStatus::Untrusted => {
                        return Err(r.reason.unwrap_or(VerifyError::NoSupportedSuite));
                    }
                }
            }
            if !any_supported {
                return Err(VerifyError::NoSupportedSuite);
            }
            Ok(())
        }
        Requirement::AnyOf(sets) => {
            if sets
                .iter()
                .any(|set| !set.is_empty() && verdict.valid.contains_all(*set))
            {
                return Ok(());
            }
            // Report the first unmet suite of the first alternative.
            let first = sets.first().copied().unwrap_or_default();
            match first.iter().find(|s| !verdict.valid.contains(*s)) {
                Some(suite) => {
                    Err(reason_for(suite).unwrap_or(VerifyError::PolicyUnsatisfied { suite }))
                }
                None => Err(VerifyError::NoSupportedSuite),
            }
        }
    }
}

fn select_digests(
    policy: &Policy<'_>,
    valid: SuiteSet,
    manifest: &Manifest<'_>,
) -> Result<DigestSet, VerifyError> {
    let wanted = match policy.digests {
        DigestPolicy::FollowSuites => DigestSet::for_suites(valid),
        // An empty explicit set would check nothing: fail safe to the suites.
        DigestPolicy::Families(set) if set.is_empty() => DigestSet::for_suites(valid),
        DigestPolicy::Families(set) => set,
        DigestPolicy::AllInManifest => return Ok(DigestSet::ALL),
    };
    for (payload, p) in manifest.payloads.iter().enumerate() {
        if let Some(alg) = wanted.iter().find(|a| p.digest(*a).is_none()) {
            return Err(VerifyError::DigestUnavailable { payload, alg });
        }
    }
    Ok(wanted)
}
