//! Codes only a reduced build can return: `digest-not-compiled` and
//! `timestamp-not-compiled`. Compiled only without SM3 and RFC 3161 support;
//! `.ci/run` runs it as
//! `cargo test -p otaseal-verify --no-default-features --features ed25519 --test reduced_build`
//! (an Ed25519-only device trusting a raw key). In the default build this
//! file is empty.
#![cfg(all(feature = "ed25519", not(feature = "sm3"), not(feature = "timestamp")))]

use ed25519_dalek::Signer;
use otaseal_manifest::container::{ENVELOPE_MEMBER, member_header, padding_len};
use otaseal_manifest::envelope::{Sign1Parts, encode_envelope, encode_protected, sig_structure};
use otaseal_manifest::manifest::{DEFAULT_CHUNK_LOG2, Payload, PayloadDigest, PayloadKind};
use otaseal_manifest::{DigestAlg, DigestSet, Manifest, SignerDecl, Suite, SuiteSet};
use otaseal_verify::{DigestPolicy, PackageVerifier, Policy, TrustStore, VerifyError};

const CREATED: u64 = 1_800_000_000;

/// SubjectPublicKeyInfo of an Ed25519 key (RFC 8410).
fn ed25519_spki(key: &[u8; 32]) -> Vec<u8> {
    let mut spki = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    spki.extend_from_slice(key);
    spki
}

/// The envelope member (header, envelope, padding) of a one-payload package
/// signed by a raw Ed25519 key, with `token` under label 270; and the key.
fn envelope_member(token: Option<Vec<u8>>) -> (Vec<u8>, Vec<u8>) {
    let sk = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let spki = ed25519_spki(sk.verifying_key().as_bytes());
    let kid = otaseal_verify::digest::sha256(&spki);
    let root = otaseal_verify::digest::hash(DigestAlg::Sha256, b"payload");
    let mut digests = heapless::Vec::new();
    digests
        .push(PayloadDigest {
            alg: DigestAlg::Sha256,
            root: root.as_bytes(),
        })
        .unwrap();
    let mut payloads = heapless::Vec::new();
    payloads
        .push(Payload {
            name: "fw.bin",
            size: 7,
            kind: PayloadKind::Raw,
            target: None,
            digests,
        })
        .unwrap();
    let mut hw = heapless::Vec::new();
    hw.push("rev-a").unwrap();
    let mut signers = heapless::Vec::new();
    signers
        .push(SignerDecl {
            alg: Suite::Ed25519.cose_alg(),
            kid: &kid,
        })
        .unwrap();
    let manifest = Manifest {
        product: "acme.fw",
        hw_compat: hw,
        version: "1",
        security_version: 1,
        created: CREATED,
        expires: None,
        signers,
        chunk_log2: DEFAULT_CHUNK_LOG2,
        payloads,
    }
    .to_vec();
    let protected = encode_protected(Suite::Ed25519.cose_alg(), &kid, &[]);
    let signature = sk
        .sign(&sig_structure(&protected, &manifest))
        .to_bytes()
        .to_vec();
    let envelope = encode_envelope(
        &manifest,
        &[Sign1Parts {
            protected,
            timestamp: token,
            signature,
        }],
    );
    let mut member = member_header(ENVELOPE_MEMBER, envelope.len() as u64, CREATED)
        .unwrap()
        .to_vec();
    member.extend_from_slice(&envelope);
    member.resize(member.len() + padding_len(envelope.len() as u64), 0);
    (member, spki)
}

/// The first error (or none) feeding the envelope member.
fn feed(member: &[u8], spki: &[u8], tweak: impl FnOnce(&mut Policy<'_>)) -> Option<VerifyError> {
    let keys = [spki];
    let trust = TrustStore {
        roots: &[],
        keys: &keys,
        tsa_roots: &[],
    };
    let mut policy = Policy {
        time: Some(CREATED + 60),
        ..Policy::default()
    };
    tweak(&mut policy);
    let mut buf = vec![0u8; otaseal_verify::buffer_size(4096)];
    let mut v = PackageVerifier::new(&mut buf, policy, trust);
    v.update(member).err()
}

#[test]
fn sm3_digests_are_not_compiled() {
    let (member, spki) = envelope_member(None);
    // Control: the envelope passes with the suite's own family.
    assert_eq!(feed(&member, &spki, |_| {}), None);
    let sm3 = DigestPolicy::Families(DigestSet::EMPTY.with(DigestAlg::Sm3));
    let err = feed(&member, &spki, |p| p.digests = sm3).unwrap();
    assert_eq!(err.code(), "digest-not-compiled");
    assert_eq!(
        err,
        VerifyError::DigestNotCompiled {
            alg: DigestAlg::Sm3
        }
    );
}

#[test]
fn required_token_without_timestamp_support() {
    let require = |p: &mut Policy<'_>| p.require_timestamp = SuiteSet::EMPTY.with(Suite::Ed25519);
    let (member, spki) = envelope_member(Some(b"a token this build cannot read".to_vec()));
    // Not required: the token cannot extend anything and is not needed.
    assert_eq!(feed(&member, &spki, |_| {}), None);
    let err = feed(&member, &spki, require).unwrap();
    assert_eq!(err.code(), "timestamp-not-compiled");
    // Without a token, the policy's demand is simply unmet.
    let (member, spki) = envelope_member(None);
    assert_eq!(
        feed(&member, &spki, require).map(|e| e.code()),
        Some("timestamp-missing")
    );
}
