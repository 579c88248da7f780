//! Envelope checks: declared signers, each COSE_Sign1, trust, then policy.

use heapless::Vec;
use otaseal_manifest::envelope::write_sig_structure;
use otaseal_manifest::manifest::{KEY_ID_LEN, MAX_SIGNERS};
use otaseal_manifest::{CoseSign1, DigestSet, Envelope, Manifest, SignerDecl, Suite, SuiteSet};
#[cfg(feature = "x509")]
use rustls_pki_types::{CertificateDer, UnixTime};

#[cfg(feature = "x509")]
use crate::chain;
use crate::crypto::{self, CryptoError};
use crate::digest::{family_compiled, sha256};
use crate::error::{ChainError, TimestampError, VerifyError};
use crate::policy::{DigestPolicy, Policy, Requirement, TrustStore};
#[cfg(feature = "timestamp")]
use crate::timestamp;

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
    check_envelope_then(
        envelope_bytes,
        scratch,
        policy,
        trust,
        verdict,
        |m, bytes| (m.clone(), bytes),
    )
}

/// [`check_envelope`], handing the manifest to `then` by reference. The
/// decoded envelope (720 bytes on a 32-bit target) and manifest (1.6 KB)
/// stay in the `Result`s the decoders wrote, borrowed rather than moved out,
/// so the frame that is live during signature verification holds each once
/// (the streaming verifier keeps only a few of the manifest's fields).
pub(crate) fn check_envelope_then<'e, R>(
    envelope_bytes: &'e [u8],
    scratch: &mut [u8],
    policy: &Policy<'_>,
    trust: &TrustStore<'_>,
    verdict: &mut EnvelopeVerdict,
    then: impl FnOnce(&Manifest<'e>, &'e [u8]) -> R,
) -> Result<R, VerifyError> {
    let envelope = Envelope::decode(envelope_bytes);
    let envelope = match &envelope {
        Ok(envelope) => envelope,
        Err(e) => return Err(VerifyError::from(*e)),
    };
    let manifest = Manifest::decode(envelope.manifest);
    let manifest = match &manifest {
        Ok(manifest) => manifest,
        Err(e) => return Err(VerifyError::from(*e)),
    };
    match_declarations(&manifest.signers, &envelope.signatures)?;

    let mut first_broken = None;
    for (index, sig) in envelope.signatures.iter().enumerate() {
        let report = check_signature(index, sig, envelope, manifest, scratch, policy, trust)?;
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
    verdict.digests = select_digests(policy, verdict.valid, manifest)?;
    Ok(then(manifest, envelope.manifest))
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

/// Checks one signature, establishing trust before any cryptography runs
/// with the signer's key (spec/policy.md section 4.1):
///
/// 1. cheap structural checks: the suite is known and compiled, the key is
///    found (leaf certificate, or a trusted raw key by key id), the key id
///    and the key type fit the suite;
/// 2. the RFC 3161 token, whose own verifier checks the TSA's path to a TSA
///    root before the token's signature;
/// 3. trust: a pinned or trusted raw key, or a certificate path to a root
///    (webpki checks each certificate's signature from the anchor down, so
///    an issuer key is used only once it is itself trusted);
/// 4. only then the COSE signature with the signer's key.
///
/// A package therefore cannot make the device run an algorithm, or a key
/// size, that neither its features nor its trust anchors chose.
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
    #[cfg_attr(not(feature = "timestamp"), allow(unused_mut))]
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
    let set = |report: &mut SignatureReport, status, reason| {
        report.status = status;
        report.reason = reason;
        Ok(*report)
    };
    // A token that is present is never ignored: even where this signature
    // cannot be checked (unknown or uncompiled suite, untrusted raw key), a
    // token that does not parse rejects the package. (Parsing is structural:
    // no signature is verified here.)
    #[cfg(feature = "timestamp")]
    if let Some(Err(reason)) = sig.timestamp.map(timestamp::parse_token) {
        return set(
            &mut report,
            SignatureStatus::Invalid,
            Some(VerifyError::Timestamp { index, reason }),
        );
    }
    // 1. Structure: nothing here runs a signature algorithm.
    let Some(suite) = report.suite.filter(|s| crypto::suite_supported(*s)) else {
        return Ok(report);
    };
    // The leaf's key, and whether it says lifetime signing (its expiry then
    // bounds the signature even when timestamped). A build without `x509`
    // trusts a leaf only by its pinned key and reads nothing else of it.
    #[cfg(feature = "x509")]
    let read_leaf = |der| {
        crate::cert::parse_certificate(der).map(|info| (info.spki, info.has_lifetime_signing_eku))
    };
    #[cfg(not(feature = "x509"))]
    let read_leaf = |der| crate::cert::leaf_spki(der).map(|spki| (spki, false));
    let (spki, leaf) = match sig.x5chain.first() {
        Some(leaf) => match read_leaf(leaf) {
            Ok((spki, lifetime_signing)) => (spki, Some((*leaf, lifetime_signing))),
            Err(_) => {
                return set(
                    &mut report,
                    SignatureStatus::Invalid,
                    Some(VerifyError::CertificateMalformed { index }),
                );
            }
        },
        None => match trust.keys.iter().find(|k| sha256(k) == sig.kid) {
            Some(key) => (*key, None),
            None => {
                return set(
                    &mut report,
                    SignatureStatus::Untrusted,
                    Some(VerifyError::KeyUntrusted { index }),
                );
            }
        },
    };
    if leaf.is_some() && sha256(spki) != sig.kid {
        return set(
            &mut report,
            SignatureStatus::Invalid,
            Some(VerifyError::KeyIdMismatch { index }),
        );
    }
    match crypto::suite_of_spki(spki) {
        Ok(s) if s == suite => {}
        Err(CryptoError::MalformedKey) => {
            return set(
                &mut report,
                SignatureStatus::Invalid,
                Some(VerifyError::CertificateMalformed { index }),
            );
        }
        Ok(_) | Err(_) => {
            return set(
                &mut report,
                SignatureStatus::Invalid,
                Some(VerifyError::AlgorithmKeyMismatch { index }),
            );
        }
    }

    // 2. The token, which moves the certificate check to its genTime.
    #[cfg_attr(not(feature = "timestamp"), allow(unused_variables))]
    let lifetime_signing = leaf.is_some_and(|(_, lifetime_signing)| lifetime_signing);
    match sig.timestamp {
        #[cfg(feature = "timestamp")]
        Some(token) => {
            let verified = timestamp::verify_token(
                token,
                suite.timestamp_digest(),
                sig.signature_field,
                trust.tsa_roots,
                policy.tsa_policies,
            );
            match verified {
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
                // No trusted TSA root for this token: like a certificate
                // path without a trusted root, untrusted rather than broken.
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
            }
        }
        // This build verifies no token: one that is present cannot extend
        // certificate validity (certificates are checked at the policy's
        // time), and one the policy requires cannot be had.
        #[cfg(not(feature = "timestamp"))]
        Some(_) if policy.require_timestamp.contains(suite) => {
            return set(
                &mut report,
                SignatureStatus::Untrusted,
                Some(VerifyError::Timestamp {
                    index,
                    reason: TimestampError::NotCompiled,
                }),
            );
        }
        None if policy.require_timestamp.contains(suite) => {
            return set(
                &mut report,
                SignatureStatus::Untrusted,
                Some(VerifyError::TimestampMissing { index }),
            );
        }
        _ => {}
    }

    // 3. Trust in the signer's key.
    let trusted_directly = leaf.is_none() || trust.keys.contains(&spki);
    if !trusted_directly {
        report.checked_at = time;
        report.time_source = source;
        if let Err(reason) = check_path(leaf, sig, trust, time) {
            let reason = match reason {
                ChainError::Expired | ChainError::NotYetValid
                    if source == TimeSource::Timestamp =>
                {
                    VerifyError::TimestampOutsideCertValidity { index }
                }
                reason => VerifyError::Chain { index, reason },
            };
            return set(&mut report, SignatureStatus::Untrusted, Some(reason));
        }
    }

    // 4. The signature, with a key that is now trusted.
    let tbs = write_sig_structure(sig.protected, envelope.manifest, scratch)
        .ok_or(VerifyError::BufferTooSmall)?;
    let reason = match crypto::verify_signature(suite, spki, tbs, sig.signature) {
        Ok(()) => return set(&mut report, SignatureStatus::Valid, None),
        Err(CryptoError::Unsupported) => {
            return set(&mut report, SignatureStatus::Unsupported, None);
        }
        Err(CryptoError::KeyMismatch) => VerifyError::AlgorithmKeyMismatch { index },
        Err(CryptoError::MalformedKey) => VerifyError::CertificateMalformed { index },
        Err(CryptoError::HighS) => VerifyError::SignatureHighS { index },
        Err(CryptoError::MalformedSignature | CryptoError::BadSignature) => {
            VerifyError::SignatureInvalid { index }
        }
    };
    set(&mut report, SignatureStatus::Invalid, Some(reason))
}

/// The signer's certificate path to a code-signing root at `time`.
#[cfg(feature = "x509")]
fn check_path(
    leaf: Option<(&[u8], bool)>,
    sig: &CoseSign1<'_>,
    trust: &TrustStore<'_>,
    time: u64,
) -> Result<(), ChainError> {
    let Some((leaf, _)) = leaf else {
        return Err(ChainError::UnknownIssuer);
    };
    let mut intermediates: Vec<CertificateDer<'_>, { otaseal_manifest::envelope::MAX_CHAIN }> =
        Vec::new();
    for der in sig.x5chain.iter().skip(1) {
        // The envelope decoder holds at most MAX_CHAIN certificates.
        let _ = intermediates.push(CertificateDer::from(*der));
    }
    let at = UnixTime::since_unix_epoch(core::time::Duration::from_secs(time));
    chain::verify_code_signing_chain(leaf, &intermediates, trust.roots, at)
}

/// Without `x509` no root can be trusted: a certificate path leads nowhere
/// (only a pinned leaf key, in [`TrustStore::keys`], is trusted).
#[cfg(not(feature = "x509"))]
fn check_path(
    _leaf: Option<(&[u8], bool)>,
    _sig: &CoseSign1<'_>,
    _trust: &TrustStore<'_>,
    _time: u64,
) -> Result<(), ChainError> {
    Err(ChainError::UnknownIssuer)
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
        DigestPolicy::AllInManifest => manifest
            .payloads
            .iter()
            .flat_map(|p| p.digests.iter())
            .fold(DigestSet::EMPTY, |set, d| set.with(d.alg)),
    };
    // A family this build cannot compute must never pass as checked.
    if let Some(alg) = wanted.iter().find(|a| !family_compiled(*a)) {
        return Err(VerifyError::DigestNotCompiled { alg });
    }
    if policy.digests != DigestPolicy::AllInManifest {
        for (payload, p) in manifest.payloads.iter().enumerate() {
            if let Some(alg) = wanted.iter().find(|a| p.digest(*a).is_none()) {
                return Err(VerifyError::DigestUnavailable { payload, alg });
            }
        }
    }
    Ok(wanted)
}

#[cfg(all(test, feature = "ml-dsa-87", feature = "ecdsa-p256"))]
mod tests {
    //! Trust before cryptography, proven by counting the signature
    //! verifications that actually run (`crypto::work`).
    extern crate std;
    use super::*;
    use crate::chain::tests::root_and_leaf;
    use crate::crypto::work;
    use crate::testutil::{TestKey, ml_dsa_key, p256_key};
    use otaseal_manifest::envelope::{
        Sign1Parts, encode_envelope, encode_protected, sig_structure,
    };
    use otaseal_manifest::manifest::{DEFAULT_CHUNK_LOG2, Payload, PayloadDigest, PayloadKind};
    use rustls_pki_types::{CertificateDer, alg_id};
    use std::vec::Vec;

    const NOW: u64 = 1_800_000_000;

    /// An envelope with one signature by `key` carrying `chain` (leaf first).
    fn envelope(key: &TestKey, chain: &[&[u8]]) -> Vec<u8> {
        let kid = crate::digest::sha256(&key.spki);
        let root = [0u8; 64];
        let family = key.suite.digest();
        let signers = [SignerDecl {
            alg: key.suite.cose_alg(),
            kid: &kid,
        }];
        let mut digests = heapless::Vec::new();
        let _ = digests.push(PayloadDigest {
            alg: family,
            root: &root[..crate::digest::hash(family, b"").as_bytes().len()],
        });
        let mut payloads = heapless::Vec::new();
        let _ = payloads.push(Payload {
            name: "fw.bin",
            size: 1,
            kind: PayloadKind::Raw,
            target: None,
            digests,
        });
        let mut hw = heapless::Vec::new();
        let _ = hw.push("rev-a");
        let manifest = Manifest {
            product: "acme.fw",
            hw_compat: hw,
            version: "1",
            security_version: 1,
            created: NOW - 10,
            expires: None,
            signers: signers.iter().copied().collect(),
            chunk_log2: DEFAULT_CHUNK_LOG2,
            payloads,
        }
        .to_vec();
        let protected = encode_protected(key.suite.cose_alg(), &kid, chain);
        let signature = key.sign(&sig_structure(&protected, &manifest));
        encode_envelope(
            &manifest,
            &[Sign1Parts {
                protected,
                timestamp: None,
                signature,
            }],
        )
    }

    fn check(env: &[u8], roots: &[&[u8]]) -> (Result<(), VerifyError>, EnvelopeVerdict) {
        let certs: Vec<CertificateDer<'_>> =
            roots.iter().map(|r| CertificateDer::from(*r)).collect();
        let anchors: Vec<_> = certs
            .iter()
            .map(|c| webpki::anchor_from_trusted_cert(c).unwrap())
            .collect();
        let policy = Policy {
            time: Some(NOW),
            ..Policy::default()
        };
        let trust = TrustStore {
            roots: &anchors,
            keys: &[],
            tsa_roots: &[],
        };
        let mut scratch = std::vec![0u8; 64 * 1024];
        let mut verdict = EnvelopeVerdict::default();
        work::take();
        let result = check_envelope(env, &mut scratch, &policy, &trust, &mut verdict).map(|_| ());
        (result, verdict)
    }

    /// The attack: anyone's ML-DSA-87 key on a leaf that leads to no
    /// trusted root. The device trusts a P-256 root only.
    #[test]
    fn untrusted_ml_dsa_87_leaf_runs_no_ml_dsa() {
        let device_root_key = p256_key(1);
        let (device_root, _) = root_and_leaf(
            &device_root_key,
            alg_id::ECDSA_SHA256.as_ref(),
            true,
            &p256_key(2),
        );
        let attacker = ml_dsa_key(9, Suite::MlDsa87);
        // Self-issued leaf, and a leaf under an ML-DSA-87 "root" that copies
        // the device root's name (so path building reaches the anchor by
        // name and must refuse on the key, not by running ML-DSA).
        let attacker_root = ml_dsa_key(10, Suite::MlDsa87);
        let (_, forged_leaf) =
            root_and_leaf(&attacker_root, alg_id::ML_DSA_87.as_ref(), false, &attacker);
        let (self_root, _) = root_and_leaf(&attacker, alg_id::ML_DSA_87.as_ref(), false, &attacker);
        for chain in [&forged_leaf, &self_root] {
            let env = envelope(&attacker, &[chain]);
            let (result, verdict) = check(&env, &[&device_root]);
            let (all, ml_dsa) = work::take();
            assert!(
                matches!(result, Err(VerifyError::Chain { index: 0, .. })),
                "{result:?}"
            );
            assert_eq!(verdict.signatures[0].status, SignatureStatus::Untrusted);
            assert_eq!((all, ml_dsa), (0, 0), "no signature may be verified");
        }
    }

    /// The control: the same kind of package under a root the device does
    /// trust runs ML-DSA-87 exactly twice (the leaf certificate, then the
    /// COSE signature), so the counter above does see ML-DSA work.
    #[test]
    fn trusted_ml_dsa_87_chain_runs_it_twice() {
        let root_key = ml_dsa_key(10, Suite::MlDsa87);
        let signer = ml_dsa_key(9, Suite::MlDsa87);
        let (root, leaf) = root_and_leaf(&root_key, alg_id::ML_DSA_87.as_ref(), false, &signer);
        let env = envelope(&signer, &[&leaf]);
        let (result, verdict) = check(&env, &[&root]);
        assert_eq!(result, Ok(()));
        assert_eq!(verdict.signatures[0].status, SignatureStatus::Valid);
        assert_eq!(work::take(), (2, 2));
    }

    /// A broken signature by an untrusted signer is not even looked at: it
    /// is untrusted, not invalid (policy.md 1.1).
    #[test]
    fn bad_signature_of_untrusted_signer_is_untrusted() {
        let (root, _) = root_and_leaf(
            &p256_key(1),
            alg_id::ECDSA_SHA256.as_ref(),
            true,
            &p256_key(2),
        );
        let other = p256_key(3);
        let (_, leaf) = root_and_leaf(&p256_key(4), alg_id::ECDSA_SHA256.as_ref(), true, &other);
        let mut env = envelope(&other, &[&leaf]);
        let n = env.len();
        env[n - 3] ^= 1; // inside the signature
        let (result, verdict) = check(&env, &[&root]);
        assert_eq!(verdict.signatures[0].status, SignatureStatus::Untrusted);
        assert!(
            matches!(result, Err(VerifyError::Chain { .. })),
            "{result:?}"
        );
        // The root's own signature over the leaf was checked (and failed);
        // the COSE signature was not.
        assert!(work::take().0 <= 1);
    }
}
