//! Envelope checks: declared signers, each COSE_Sign1, trust, then policy.

use heapless::Vec;
use otaseal_manifest::envelope::write_sig_structure;
use otaseal_manifest::manifest::{KEY_ID_LEN, MAX_SIGNERS};
use otaseal_manifest::{
    CoseSign1, DigestAlg, DigestSet, Envelope, Manifest, SignerDecl, Suite, SuiteSet,
};
use rustls_pki_types::{CertificateDer, UnixTime};

use crate::chain::{self, ChainError};
use crate::crypto::{self, CryptoError};
use crate::digest::hash;
use crate::error::VerifyError;
use crate::policy::{DigestPolicy, Policy, Requirement, TrustStore};
use crate::timestamp::{self, TimestampError};

/// Clock skew tolerated between a TSA and the verifier (seconds).
pub const MAX_CLOCK_SKEW: u64 = 300;

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

/// Which time a signature's certificate path was checked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeSource {
    /// The genTime of a valid RFC 3161 token.
    Timestamp,
    /// The verifier's trusted time.
    Verifier,
    /// The manifest's creation time (no trusted time, no token).
    ManifestCreated,
    /// No certificate path (raw key or not reached).
    None,
}

impl TimeSource {
    /// Stable name used in JSON output.
    pub const fn name(self) -> &'static str {
        match self {
            TimeSource::Timestamp => "timestamp",
            TimeSource::Verifier => "verifier",
            TimeSource::ManifestCreated => "manifest-created",
            TimeSource::None => "none",
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
    /// genTime of a valid timestamp token.
    pub timestamp: Option<u64>,
    /// The time the certificate path was checked at, and where it came from.
    pub checked_at: u64,
    /// Where `checked_at` came from.
    pub time_source: TimeSource,
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

    let mut first_broken = None;
    for (index, sig) in envelope.signatures.iter().enumerate() {
        let report = check_signature(index, sig, &envelope, &manifest, scratch, policy, trust)?;
        if report.status == SignatureStatus::Invalid && first_broken.is_none() {
            first_broken = report.reason;
        }
        if let (SignatureStatus::Valid, Some(s)) = (report.status, report.suite) {
            verdict.valid = verdict.valid.with(s);
        }
        // Capacity equals the declaration limit, checked above.
        let _ = verdict.signatures.push(report);
    }
    // A broken signature is evidence of tampering whatever the policy says.
    if let Some(reason) = first_broken {
        return Err(reason);
    }
    apply_requirement(policy, verdict)?;

    if policy
        .hw_id
        .is_some_and(|hw| !manifest.is_compatible_with(hw))
    {
        return Err(VerifyError::HardwareIncompatible);
    }
    if let Some(minimum) = policy
        .min_security_version
        .filter(|m| manifest.security_version < *m)
    {
        return Err(VerifyError::Rollback {
            version: manifest.security_version,
            minimum,
        });
    }
    // Expiry is always against the verifier's time, never a token's genTime.
    if let (Some(now), Some(expires)) = (policy.time, manifest.expires)
        && now >= expires
    {
        return Err(VerifyError::ManifestExpired { expires });
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
    manifest: &Manifest<'_>,
    scratch: &mut [u8],
    policy: &Policy<'_>,
    trust: &TrustStore<'_>,
) -> Result<SignatureReport, VerifyError> {
    // Certificates are checked at the trusted time; without a clock, at the
    // signed creation time (weaker: see spec/policy.md section 5).
    let (mut time, mut source) = match policy.time {
        Some(t) => (t, TimeSource::Verifier),
        None => (manifest.created, TimeSource::ManifestCreated),
    };
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
        timestamp: None,
        checked_at: time,
        time_source: TimeSource::None,
    };
    // A token that is present is never ignored: even where this signature
    // cannot be checked (unknown or uncompiled suite, untrusted raw key), a
    // token that does not parse rejects the package.
    if let Some(Err(reason)) = sig.timestamp.map(timestamp::parse_token) {
        report.status = SignatureStatus::Invalid;
        report.reason = Some(VerifyError::Timestamp { index, reason });
        return Ok(report);
    }
    let Some(suite) = report.suite else {
        return Ok(report);
    };
    let set = |report: &mut SignatureReport, status, reason| {
        report.status = status;
        report.reason = reason;
        Ok(*report)
    };

    // The signer's key: the certificate's, or a trusted raw key by key id.
    let (spki, leaf, lifetime_signing) = match sig.x5chain.first() {
        Some(leaf) => match crate::cert::parse_certificate(leaf) {
            Ok(info) => (info.spki, Some(*leaf), info.has_lifetime_signing_eku),
            Err(_) => {
                return set(
                    &mut report,
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
            Some(key) => (*key, None, false),
            None => {
                return set(
                    &mut report,
                    SignatureStatus::Untrusted,
                    Some(VerifyError::KeyUntrusted { index }),
                );
            }
        },
    };
    if leaf.is_some() && hash(DigestAlg::Sha256, spki).as_bytes() != sig.kid {
        return set(
            &mut report,
            SignatureStatus::Invalid,
            Some(VerifyError::KeyIdMismatch { index }),
        );
    }

    let tbs = write_sig_structure(sig.protected, envelope.manifest, scratch)
        .ok_or(VerifyError::BufferTooSmall)?;
    match crypto::verify_signature(suite, spki, tbs, sig.signature) {
        Ok(()) => {}
        Err(CryptoError::Unsupported) => {
            return set(&mut report, SignatureStatus::Unsupported, None);
        }
        Err(CryptoError::KeyMismatch) => {
            return set(
                &mut report,
                SignatureStatus::Invalid,
                Some(VerifyError::AlgorithmKeyMismatch { index }),
            );
        }
        Err(CryptoError::MalformedKey) => {
            return set(
                &mut report,
                SignatureStatus::Invalid,
                Some(VerifyError::CertificateMalformed { index }),
            );
        }
        Err(CryptoError::MalformedSignature | CryptoError::BadSignature) => {
            return set(
                &mut report,
                SignatureStatus::Invalid,
                Some(VerifyError::SignatureInvalid { index }),
            );
        }
    }

    // A token that is present is always checked, never ignored.
    match sig.timestamp {
        Some(token) => match timestamp::verify_token(
            token,
            suite.timestamp_digest(),
            sig.signature_field,
            trust.tsa_roots,
            policy.tsa_policies,
        ) {
            Ok(info) => {
                if policy
                    .time
                    .is_some_and(|now| info.gen_time > now.saturating_add(MAX_CLOCK_SKEW))
                {
                    return set(
                        &mut report,
                        SignatureStatus::Invalid,
                        Some(VerifyError::TimestampFuture { index }),
                    );
                }
                report.timestamp = Some(info.gen_time);
                if !lifetime_signing {
                    time = info.gen_time;
                    source = TimeSource::Timestamp;
                }
            }
            // No trusted TSA root for this token: like a certificate path
            // without a trusted root, the signature is untrusted, not broken.
            Err(reason @ TimestampError::Chain(ChainError::UnknownIssuer)) => {
                return set(
                    &mut report,
                    SignatureStatus::Untrusted,
                    Some(VerifyError::Timestamp { index, reason }),
                );
            }
            Err(reason) => {
                return set(
                    &mut report,
                    SignatureStatus::Invalid,
                    Some(VerifyError::Timestamp { index, reason }),
                );
            }
        },
        None if policy.require_timestamp.contains(suite) => {
            return set(
                &mut report,
                SignatureStatus::Untrusted,
                Some(VerifyError::TimestampMissing { index }),
            );
        }
        None => {}
    }

    let Some(leaf) = leaf else {
        // A raw key found among the trusted keys.
        return set(&mut report, SignatureStatus::Valid, None);
    };
    // A pinned leaf key is trusted without a chain.
    if trust.keys.contains(&spki) {
        return set(&mut report, SignatureStatus::Valid, None);
    }
    report.checked_at = time;
    report.time_source = source;
    let mut intermediates: Vec<CertificateDer<'_>, 4> = Vec::new();
    for der in sig.x5chain.iter().skip(1) {
        let _ = intermediates.push(CertificateDer::from(*der));
    }
    let at = UnixTime::since_unix_epoch(core::time::Duration::from_secs(time));
    match chain::verify_code_signing_chain(leaf, &intermediates, trust.roots, at) {
        Ok(()) => set(&mut report, SignatureStatus::Valid, None),
        Err(ChainError::Expired | ChainError::NotYetValid) if source == TimeSource::Timestamp => {
            set(
                &mut report,
                SignatureStatus::Untrusted,
                Some(VerifyError::TimestampOutsideCertValidity { index }),
            )
        }
        Err(reason) => set(
            &mut report,
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
        DigestPolicy::AllInManifest => {
            return Ok(manifest
                .payloads
                .iter()
                .flat_map(|p| p.digests.iter())
                .fold(DigestSet::EMPTY, |set, d| set.with(d.alg)));
        }
    };
    for (payload, p) in manifest.payloads.iter().enumerate() {
        if let Some(alg) = wanted.iter().find(|a| p.digest(*a).is_none()) {
            return Err(VerifyError::DigestUnavailable { payload, alg });
        }
    }
    Ok(wanted)
}
