//! Tampering with real packages: every modification is rejected, with the
//! rejection code `spec/policy.md` assigns to it.
//!
//! One package (ecdsa-p256 + sm2 + ml-dsa-65, two payloads) is signed once per
//! test binary with the real `otaseal` binary; each test copies its bytes,
//! tampers with the copy and runs `otaseal verify --json` on it. Cases that
//! need a validly signed but malformed manifest or envelope build it with
//! otaseal-manifest's encoders and sign it with otaseal-sign's `SigningKey`
//! loaded from the development PKI.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use otaseal_manifest::container::{BLOCK, ENVELOPE_MEMBER, member_header, padding_len};
use otaseal_manifest::envelope::{
    CONTENT_TYPE, Sign1Parts, encode_envelope, encode_protected, sig_structure,
};
use otaseal_manifest::manifest::DEFAULT_CHUNK_LOG2;
use otaseal_manifest::{
    DigestAlg, DigestSet, Envelope, Manifest, Payload, PayloadDigest, PayloadKind, SignerDecl,
    Suite,
};
use otaseal_sign::keys::SigningKey;
use otaseal_sign::pki::{self, CertProfile, CertRequest, ObjectIdentifier};
use otaseal_tests::*;
use otaseal_verify::digest::{SerialDigester, payload_roots};
use otaseal_verify::{PackageVerifier, Policy, TrustStore, VerifyError};
use rustls_pki_types::{CertificateDer, TrustAnchor};

/// The fixed creation time of every package of this test binary: a minute
/// before the first use, so that the development certificates (valid from
/// five minutes before `pki init`) cover it, as the signer requires.
fn created() -> u64 {
    static CREATED: OnceLock<u64> = OnceLock::new();
    *CREATED.get_or_init(|| (unix_now() - 60) / 60 * 60)
}

fn created_text() -> String {
    rfc3339(created())
}
const SUITES: [&str; 3] = ["ecdsa-p256", "sm2", "ml-dsa-65"];

struct Fixture {
    /// Development PKI for ecdsa-p256, sm2 and ml-dsa-65.
    pki: PathBuf,
    /// A second, unrelated PKI (ecdsa-p256 only).
    other_pki: PathBuf,
    fw: PathBuf,
    app: PathBuf,
    /// The signed package and its bytes.
    package: PathBuf,
    bytes: Vec<u8>,
}

fn fx() -> &'static Fixture {
    static FX: OnceLock<Fixture> = OnceLock::new();
    FX.get_or_init(|| {
        let dir = test_dir("tamper-fixture");
        let pki = dir.join("pki");
        let other_pki = dir.join("other-pki");
        otaseal([
            "pki",
            "init",
            "--dir",
            pki.to_str().unwrap(),
            "--suites",
            &SUITES.join(","),
        ])
        .expect_code(0);
        otaseal([
            "pki",
            "init",
            "--dir",
            other_pki.to_str().unwrap(),
            "--suites",
            "ecdsa-p256",
        ])
        .expect_code(0);
        // Sizes that are not multiples of 512, so both members have padding.
        let fw = write_file(&dir, "fw.bin", &pseudo_random(5000, 1));
        let app = write_file(&dir, "app.bin", &pseudo_random(1500, 2));
        let package = dir.join("signed.ota");
        sign_with(&pki, &package, &SUITES, &[&fw, &app], &[]).expect_code(0);
        let bytes = read_file(&package);
        Fixture {
            pki,
            other_pki,
            fw,
            app,
            package,
            bytes,
        }
    })
}

fn signer_arg(pki: &Path, suite: &str) -> String {
    format!(
        "key={},cert={}",
        s(&pki.join(suite).join("signer.key.pem")),
        s(&pki.join(suite).join("signer.chain.pem"))
    )
}

/// `otaseal sign` with the fixture's product data.
fn sign_with(pki: &Path, out: &Path, suites: &[&str], payloads: &[&Path], extra: &[&str]) -> Run {
    let mut args: Vec<String> = [
        "sign",
        "--out",
        s(out),
        "--product",
        "acme.tamper-test",
        "--version",
        "1.0.0",
        "--security-version",
        "5",
        "--hw-compat",
        "rev-a,rev-b",
        "--created",
        &created_text(),
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    for suite in suites {
        args.push("--signer".into());
        args.push(signer_arg(pki, suite));
    }
    args.extend(extra.iter().map(|a| a.to_string()));
    args.extend(payloads.iter().map(|p| s(p).to_string()));
    otaseal(args)
}

/// Writes `bytes` as a package file in a fresh directory for `test`.
fn put(test: &str, bytes: &[u8]) -> PathBuf {
    write_file(&test_dir(test), "pkg.ota", bytes)
}

/// `otaseal verify PKG --json --trust <fixture roots> EXTRA...`.
fn verify(pkg: &Path, extra: &[&str]) -> Run {
    let roots = fx().pki.join("roots.pem");
    let mut args = vec!["verify", s(pkg), "--json", "--trust", s(&roots)];
    args.extend_from_slice(extra);
    otaseal(args)
}

/// Asserts a rejection with exit code 1 and `code` in the JSON.
#[track_caller]
fn rejected(run: &Run, code: &str) {
    run.expect_code(1);
    let j = run.json();
    assert_eq!(j["verdict"], "rejected", "{}", run.stdout);
    assert_eq!(j["code"], code, "reason: {}", j["reason"]);
}

#[track_caller]
fn accepted(run: &Run) {
    run.expect_code(0);
    let j = run.json();
    assert_eq!(j["verdict"], "accepted", "{}", run.stdout);
    assert_eq!(j["code"], "ok");
}

fn member(bytes: &[u8], name: &str) -> TarMember {
    tar_members(bytes)
        .into_iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no member {name}"))
}

fn envelope_of(bytes: &[u8]) -> Vec<u8> {
    let m = member(bytes, ENVELOPE_MEMBER);
    bytes[m.data..m.data + m.size].to_vec()
}

/// The manifest bytes and the signatures of an envelope, as encoder input.
fn parts_of(envelope: &[u8]) -> (Vec<u8>, Vec<Sign1Parts>) {
    let e = Envelope::decode(envelope).expect("envelope decodes");
    let parts = e
        .signatures
        .iter()
        .map(|s| Sign1Parts {
            protected: s.protected.to_vec(),
            timestamp: s.timestamp.map(<[u8]>::to_vec),
            signature: s.signature.to_vec(),
        })
        .collect();
    (e.manifest.to_vec(), parts)
}

/// The package with its envelope member replaced (header regenerated the
/// way the signer writes it, payload members kept).
fn with_envelope(package: &[u8], envelope: &[u8]) -> Vec<u8> {
    let members = tar_members(package);
    let rest = members[1].header;
    let mut out = member_header(ENVELOPE_MEMBER, envelope.len() as u64, created())
        .unwrap()
        .to_vec();
    out.extend_from_slice(envelope);
    out.resize(out.len() + padding_len(envelope.len() as u64), 0);
    out.extend_from_slice(&package[rest..]);
    out
}

/// A container written with otaseal-manifest's `member_header`/`padding_len`.
fn container(envelope: &[u8], payloads: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut add = |name: &str, data: &[u8]| {
        out.extend_from_slice(&member_header(name, data.len() as u64, created()).unwrap());
        out.extend_from_slice(data);
        out.resize(out.len() + padding_len(data.len() as u64), 0);
    };
    add(ENVELOPE_MEMBER, envelope);
    for (name, data) in payloads {
        add(name, data);
    }
    out.resize(out.len() + 2 * BLOCK, 0);
    out
}

/// A signer of the fixture PKI (or another): key and chain (leaf first).
struct Signer {
    key: SigningKey,
    chain: Vec<Vec<u8>>,
}

fn load_signer(pki: &Path, suite: &str) -> Signer {
    let dir = pki.join(suite);
    let key = SigningKey::load(&dir.join("signer.key.pem")).expect("signer key");
    let pem = std::fs::read_to_string(dir.join("signer.chain.pem")).unwrap();
    Signer {
        key,
        chain: pki::certs_from_pem(&pem).unwrap(),
    }
}

fn load_cert(path: &Path) -> Vec<u8> {
    let pem = std::fs::read_to_string(path).unwrap();
    pki::certs_from_pem(&pem).unwrap().remove(0)
}

/// The two fixture payloads.
fn payload_data() -> (Vec<u8>, Vec<u8>) {
    (read_file(&fx().fw), read_file(&fx().app))
}

/// Encodes a manifest for `payloads` declaring `signers` (alg, kid), with
/// SHA-256, SHA-384 and SM3 digests, after `tweak` edits it. Nothing is
/// validated: the encoder writes what it is given.
fn manifest_bytes(
    signers: &[(i64, [u8; 32])],
    payloads: &[(&str, &[u8])],
    tweak: impl FnOnce(&mut Manifest<'_>),
) -> Vec<u8> {
    let families = DigestSet::EMPTY
        .with(DigestAlg::Sha256)
        .with(DigestAlg::Sha384)
        .with(DigestAlg::Sm3);
    let roots: Vec<_> = payloads
        .iter()
        .map(|(_, data)| payload_roots(families, data, DEFAULT_CHUNK_LOG2, &SerialDigester))
        .collect();
    let mut m = Manifest {
        product: "acme.tamper-test",
        hw_compat: heapless::Vec::new(),
        version: "1.0.0",
        security_version: 5,
        created: created(),
        expires: None,
        signers: heapless::Vec::new(),
        chunk_log2: DEFAULT_CHUNK_LOG2,
        payloads: heapless::Vec::new(),
    };
    m.hw_compat.push("rev-a").unwrap();
    m.hw_compat.push("rev-b").unwrap();
    for (alg, kid) in signers {
        m.signers.push(SignerDecl { alg: *alg, kid }).unwrap();
    }
    for ((name, data), roots) in payloads.iter().zip(&roots) {
        let mut digests = heapless::Vec::new();
        for (alg, value) in roots {
            digests
                .push(PayloadDigest {
                    alg: *alg,
                    root: value.as_bytes(),
                })
                .unwrap();
        }
        m.payloads
            .push(Payload {
                name,
                size: data.len() as u64,
                kind: PayloadKind::Raw,
                target: None,
                digests,
            })
            .unwrap();
    }
    tweak(&mut m);
    m.to_vec()
}

/// A valid COSE_Sign1 by `signer` over `manifest` with protected header
/// `protected`.
fn sign_part(signer: &Signer, protected: Vec<u8>, manifest: &[u8]) -> Sign1Parts {
    let signature = signer
        .key
        .sign(&sig_structure(&protected, manifest))
        .unwrap();
    Sign1Parts {
        protected,
        timestamp: None,
        signature,
    }
}

/// The standard protected header of a signer.
fn protected_of(signer: &Signer, alg: i64) -> Vec<u8> {
    let chain: Vec<&[u8]> = signer.chain.iter().map(Vec::as_slice).collect();
    encode_protected(alg, &signer.key.key_id(), &chain)
}

/// A single-signer (fixture ecdsa-p256) package over the fixture payloads,
/// with the manifest edited by `tweak` and the raw manifest bytes by `patch`.
fn p256_package(
    tweak: impl FnOnce(&mut Manifest<'_>),
    patch: impl FnOnce(&mut Vec<u8>),
) -> Vec<u8> {
    let signer = load_signer(&fx().pki, "ecdsa-p256");
    let (fw, app) = payload_data();
    let payloads: [(&str, &[u8]); 2] = [("fw.bin", &fw), ("app.bin", &app)];
    let mut manifest = manifest_bytes(&[(-9, signer.key.key_id())], &payloads, tweak);
    patch(&mut manifest);
    let part = sign_part(&signer, protected_of(&signer, -9), &manifest);
    container(&encode_envelope(&manifest, &[part]), &payloads)
}

/// Position of security version 5 (key 4) right before key 5 (created) in a
/// manifest or a package: the byte pattern `04 05 05 1a`.
fn security_version_at(bytes: &[u8]) -> usize {
    let hits: Vec<usize> = bytes
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == [0x04, 0x05, 0x05, 0x1a])
        .map(|(i, _)| i)
        .collect();
    assert_eq!(hits.len(), 1, "security version pattern not unique");
    hits[0]
}

// ---------------------------------------------------------------------------
// Controls: the untampered inputs are accepted.
// ---------------------------------------------------------------------------

#[test]
fn control_untampered_package_is_accepted() {
    let run = verify(
        &fx().package,
        &["--hw-id", "rev-a", "--min-security-version", "5"],
    );
    accepted(&run);
    let j = run.json();
    let statuses: Vec<_> = j["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(statuses, ["valid", "valid", "valid"]);
}

#[test]
fn control_hand_built_package_is_accepted() {
    // The builder used by the signed-but-malformed cases produces packages
    // the verifier accepts when nothing is wrong with them.
    let pkg = put("control-hand-built", &p256_package(|_| {}, |_| {}));
    accepted(&verify(&pkg, &[]));
    // ... and a re-encoded fixture envelope is byte-identical.
    let env = envelope_of(&fx().bytes);
    let (manifest, parts) = parts_of(&env);
    assert_eq!(encode_envelope(&manifest, &parts), env);
    assert_eq!(with_envelope(&fx().bytes, &env), fx().bytes);
}

// ---------------------------------------------------------------------------
// Container
// ---------------------------------------------------------------------------

#[test]
fn payload_bit_flip() {
    let mut b = fx().bytes.clone();
    let m = member(&b, "fw.bin");
    b[m.data + 1234] ^= 0x10;
    rejected(
        &verify(&put("payload-bit-flip", &b), &[]),
        "payload-digest-mismatch",
    );
}

#[test]
fn truncated_in_payload() {
    let b = &fx().bytes;
    let m = member(b, "app.bin");
    let pkg = put("truncated-payload", &b[..m.data + 100]);
    rejected(&verify(&pkg, &[]), "container-truncated");
}

#[test]
fn truncated_in_envelope() {
    let b = &fx().bytes;
    let pkg = put("truncated-envelope", &b[..BLOCK + 1000]);
    rejected(&verify(&pkg, &[]), "container-truncated");
}

#[test]
fn truncated_end_blocks() {
    let b = &fx().bytes;
    let pkg = put("truncated-end", &b[..b.len() - 1]);
    rejected(&verify(&pkg, &[]), "container-truncated");
}

#[test]
fn trailing_bytes() {
    let mut b = fx().bytes.clone();
    b.extend_from_slice(&[0u8; BLOCK]);
    rejected(
        &verify(&put("trailing-zero", &b), &[]),
        "container-trailing-data",
    );
    let mut b = fx().bytes.clone();
    b.push(b'x');
    rejected(
        &verify(&put("trailing-x", &b), &[]),
        "container-trailing-data",
    );
}

#[test]
fn extra_member_before_end_blocks() {
    let b = &fx().bytes;
    let last = member(b, "app.bin");
    let mut out = b[..last.end()].to_vec();
    let extra = b"#!/bin/sh\nrm -rf /\n";
    out.extend_from_slice(&member_header("extra.sh", extra.len() as u64, created()).unwrap());
    out.extend_from_slice(extra);
    out.resize(out.len() + padding_len(extra.len() as u64), 0);
    out.extend_from_slice(&b[last.end()..]);
    assert_eq!(tar_members(&out).len(), 4);
    rejected(
        &verify(&put("extra-member", &out), &[]),
        "container-header-mismatch",
    );
}

#[test]
fn payload_members_reordered() {
    let b = &fx().bytes;
    let fw = member(b, "fw.bin");
    let app = member(b, "app.bin");
    let mut out = b[..fw.header].to_vec();
    out.extend_from_slice(&b[app.header..app.end()]);
    out.extend_from_slice(&b[fw.header..fw.end()]);
    out.extend_from_slice(&b[app.end()..]);
    assert_eq!(out.len(), b.len());
    let names: Vec<_> = tar_members(&out).into_iter().map(|m| m.name).collect();
    assert_eq!(names, [ENVELOPE_MEMBER, "app.bin", "fw.bin"]);
    rejected(
        &verify(&put("reordered", &out), &[]),
        "container-header-mismatch",
    );
}

#[test]
fn member_turned_into_symlink() {
    let mut b = fx().bytes.clone();
    let m = member(&b, "fw.bin");
    let h = &mut b[m.header..m.header + BLOCK];
    h[156] = b'2';
    h[157..157 + 11].copy_from_slice(b"/etc/passwd");
    fix_tar_checksum(h);
    let dir = test_dir("symlink-member");
    let pkg = write_file(&dir, "pkg.ota", &b);
    // A real tar reader sees a symlink (the checksum is right).
    let list = run_command(std::process::Command::new("tar").arg("tvf").arg(&pkg));
    assert!(
        list.stdout.contains("fw.bin -> /etc/passwd"),
        "tar tvf: {}{}",
        list.stdout,
        list.stderr
    );
    rejected(&verify(&pkg, &[]), "container-header-mismatch");
}

#[test]
fn nonzero_padding_after_payload() {
    let mut b = fx().bytes.clone();
    let m = member(&b, "fw.bin");
    assert!(m.end() > m.data + m.size, "fw.bin has padding");
    b[m.end() - 1] = 1;
    rejected(
        &verify(&put("padding-payload", &b), &[]),
        "container-padding",
    );
}

#[test]
fn nonzero_padding_after_envelope() {
    let mut b = fx().bytes.clone();
    let m = member(&b, ENVELOPE_MEMBER);
    assert!(m.end() > m.data + m.size, "envelope has padding");
    b[m.data + m.size] = 0x20;
    rejected(
        &verify(&put("padding-envelope", &b), &[]),
        "container-padding",
    );
}

#[test]
fn nonzero_second_end_block() {
    let mut b = fx().bytes.clone();
    let n = b.len();
    b[n - 10] = 1;
    rejected(&verify(&put("padding-end", &b), &[]), "container-padding");
}

#[test]
fn plain_tar_is_not_a_package() {
    let dir = test_dir("plain-tar");
    let mut builder = tar::Builder::new(Vec::new());
    let data = pseudo_random(3000, 9);
    let mut header = tar::Header::new_ustar();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder
        .append_data(&mut header, "firmware.bin", data.as_slice())
        .unwrap();
    let bytes = builder.into_inner().unwrap();
    let pkg = write_file(&dir, "plain.tar", &bytes);
    rejected(&verify(&pkg, &[]), "container-not-package");
}

#[test]
fn envelope_larger_than_max_envelope() {
    let env_size = envelope_of(&fx().bytes).len();
    assert!(env_size > 4096, "envelope is {env_size} bytes");
    // A verifier (or device) buffer below the envelope is the buffer's
    // limit, not the format's: buffer-too-small, before any byte is kept.
    rejected(
        &verify(&fx().package, &["--max-envelope", "4096"]),
        "buffer-too-small",
    );
}

// ---------------------------------------------------------------------------
// Envelope and signatures
// ---------------------------------------------------------------------------

#[test]
fn manifest_byte_changed_without_resigning() {
    let mut b = fx().bytes.clone();
    let at = security_version_at(&b);
    b[at + 1] = 0x06; // security version 5 -> 6
    rejected(&verify(&put("manifest-byte", &b), &[]), "signature-invalid");
}

#[test]
fn removed_signature() {
    let env = envelope_of(&fx().bytes);
    let (manifest, mut parts) = parts_of(&env);
    parts.remove(1); // strip sm2
    let b = with_envelope(&fx().bytes, &encode_envelope(&manifest, &parts));
    let run = verify(&put("removed-signature", &b), &[]);
    rejected(&run, "signature-missing");
    // Even a policy that asks for the remaining suite only.
    let run = verify(
        &put("removed-signature-require", &b),
        &["--require", "ecdsa-p256"],
    );
    rejected(&run, "signature-missing");
}

#[test]
fn signature_moved_from_another_package() {
    let dir = test_dir("moved-signature");
    let other = dir.join("other.ota");
    let fw2 = write_file(&dir, "fw.bin", &pseudo_random(5000, 77));
    sign_with(&fx().pki, &other, &SUITES, &[&fw2, &fx().app], &[]).expect_code(0);
    let (_, theirs) = parts_of(&envelope_of(&read_file(&other)));
    let (manifest, mut ours) = parts_of(&envelope_of(&fx().bytes));
    // Same key and chain: identical protected headers, so only the signature moves.
    assert_eq!(theirs[0].protected, ours[0].protected);
    ours[0].signature = theirs[0].signature.clone();
    let b = with_envelope(&fx().bytes, &encode_envelope(&manifest, &ours));
    rejected(
        &verify(&put("moved-signature", &b), &[]),
        "signature-invalid",
    );
}

#[test]
fn undeclared_signature_appended() {
    let (manifest, mut parts) = parts_of(&envelope_of(&fx().bytes));
    let stranger = load_signer(&fx().other_pki, "ecdsa-p256");
    parts.push(sign_part(&stranger, protected_of(&stranger, -9), &manifest));
    let b = with_envelope(&fx().bytes, &encode_envelope(&manifest, &parts));
    rejected(&verify(&put("undeclared", &b), &[]), "signature-undeclared");
}

#[test]
fn signatures_reordered() {
    let (manifest, mut parts) = parts_of(&envelope_of(&fx().bytes));
    parts.swap(0, 1);
    let b = with_envelope(&fx().bytes, &encode_envelope(&manifest, &parts));
    rejected(&verify(&put("sig-order", &b), &[]), "signature-order");
}

#[test]
fn ml_dsa_signature_with_nonempty_context() {
    let (manifest, mut parts) = parts_of(&envelope_of(&fx().bytes));
    let key_pem = std::fs::read_to_string(fx().pki.join("ml-dsa-65/signer.key.pem")).unwrap();
    let blocks = pem_blocks(&key_pem);
    let der = &blocks[0].1;
    // RFC 9881 seed form: privateKey OCTET STRING { [0] IMPLICIT OCTET STRING (32) }.
    let n = der.len();
    assert_eq!(&der[n - 36..n - 32], &[0x04, 0x22, 0x80, 0x20]);
    let seed = ml_dsa::Seed::try_from(&der[n - 32..]).unwrap();
    let key = ml_dsa::SigningKey::<ml_dsa::MlDsa65>::from_seed(&seed);
    let tbs = sig_structure(&parts[2].protected, &manifest);
    let sign = |ctx: &[u8]| {
        key.expanded_key()
            .sign_deterministic(&tbs, ctx)
            .unwrap()
            .encode()
            .to_vec()
    };

    // Control: the same key with the empty context verifies.
    parts[2].signature = sign(b"");
    assert_eq!(parts[2].signature.len(), 3309);
    let b = with_envelope(&fx().bytes, &encode_envelope(&manifest, &parts));
    accepted(&verify(&put("ml-dsa-empty-ctx", &b), &[]));

    parts[2].signature = sign(b"otaseal");
    let b = with_envelope(&fx().bytes, &encode_envelope(&manifest, &parts));
    rejected(&verify(&put("ml-dsa-ctx", &b), &[]), "signature-invalid");
}

#[test]
fn attached_cose_payload() {
    let (manifest, parts) = parts_of(&envelope_of(&fx().bytes));
    // Hand-encoded envelope whose COSE_Sign1s carry the manifest as payload.
    let mut env = Vec::new();
    let mut e = minicbor::Encoder::new(&mut env);
    e.array(3)
        .unwrap()
        .u64(1)
        .unwrap()
        .bytes(&manifest)
        .unwrap();
    e.array(parts.len() as u64).unwrap();
    for p in &parts {
        e.tag(minicbor::data::Tag::new(18)).unwrap();
        e.array(4).unwrap().bytes(&p.protected).unwrap();
        e.map(0).unwrap();
        e.bytes(&manifest).unwrap().bytes(&p.signature).unwrap();
    }
    let b = with_envelope(&fx().bytes, &env);
    rejected(&verify(&put("attached", &b), &[]), "envelope-malformed");
}

#[test]
fn unknown_unprotected_header_label() {
    let (manifest, parts) = parts_of(&envelope_of(&fx().bytes));
    let mut env = Vec::new();
    let mut e = minicbor::Encoder::new(&mut env);
    e.array(3)
        .unwrap()
        .u64(1)
        .unwrap()
        .bytes(&manifest)
        .unwrap();
    e.array(parts.len() as u64).unwrap();
    for (i, p) in parts.iter().enumerate() {
        e.tag(minicbor::data::Tag::new(18)).unwrap();
        e.array(4).unwrap().bytes(&p.protected).unwrap();
        if i == 0 {
            // kid (4) is a protected-only label here; unprotected allows only 270.
            e.map(1).unwrap().i64(4).unwrap().bytes(&[0u8; 32]).unwrap();
        } else {
            e.map(0).unwrap();
        }
        e.null().unwrap().bytes(&p.signature).unwrap();
    }
    let b = with_envelope(&fx().bytes, &env);
    rejected(
        &verify(&put("unprotected-label", &b), &[]),
        "cose-unknown-header",
    );
}

// ---------------------------------------------------------------------------
// Validly signed, malformed manifests and headers
// ---------------------------------------------------------------------------

#[test]
fn duplicate_payload_names() {
    let signer = load_signer(&fx().pki, "ecdsa-p256");
    let (fw, _) = payload_data();
    let payloads: [(&str, &[u8]); 2] = [("fw.bin", &fw), ("fw.bin", &fw)];
    let manifest = manifest_bytes(&[(-9, signer.key.key_id())], &payloads, |_| {});
    let part = sign_part(&signer, protected_of(&signer, -9), &manifest);
    let b = container(&encode_envelope(&manifest, &[part]), &payloads);
    rejected(
        &verify(&put("dup-payload", &b), &[]),
        "manifest-duplicate-payload",
    );
}

#[test]
fn non_canonical_cbor_in_signed_manifest() {
    let b = p256_package(
        |_| {},
        |m| {
            // security version 5 in the two-byte form 0x18 0x05.
            let at = security_version_at(m);
            m.splice(at + 1..at + 2, [0x18, 0x05]);
        },
    );
    rejected(
        &verify(&put("non-canonical", &b), &[]),
        "cbor-non-canonical",
    );
}

#[test]
fn unknown_critical_manifest_field() {
    let b = p256_package(
        |_| {},
        |m| {
            assert_eq!(m[0], 0xa9, "9 fields");
            m[0] = 0xaa;
            m.extend_from_slice(&[0x0a, 0x00]); // key 10 => 0, after key 9
        },
    );
    rejected(
        &verify(&put("critical-field", &b), &[]),
        "manifest-unknown-critical-field",
    );
}

#[test]
fn non_critical_manifest_extension_is_ignored() {
    // Contrast with the critical case: a negative key is an extension.
    let b = p256_package(
        |_| {},
        |m| {
            m[0] = 0xaa;
            m.extend_from_slice(&[0x20, 0x61, b'x']); // -1 => "x"
        },
    );
    accepted(&verify(&put("extension-field", &b), &[]));
}

#[test]
fn manifest_format_version_2() {
    let b = p256_package(
        |_| {},
        |m| {
            assert_eq!(&m[1..3], &[0x00, 0x01]);
            m[2] = 0x02;
        },
    );
    rejected(&verify(&put("version-2", &b), &[]), "manifest-version");
}

#[test]
fn alg_key_mismatch() {
    // ESP384 (-51) in the protected header and the declaration, P-256 key.
    let signer = load_signer(&fx().pki, "ecdsa-p256");
    let (fw, app) = payload_data();
    let payloads: [(&str, &[u8]); 2] = [("fw.bin", &fw), ("app.bin", &app)];
    let manifest = manifest_bytes(&[(-51, signer.key.key_id())], &payloads, |_| {});
    let part = sign_part(&signer, protected_of(&signer, -51), &manifest);
    let b = container(&encode_envelope(&manifest, &[part]), &payloads);
    rejected(&verify(&put("alg-key", &b), &[]), "alg-key-mismatch");
}

#[test]
fn kid_does_not_match_leaf() {
    let signer = load_signer(&fx().pki, "ecdsa-p256");
    let (fw, app) = payload_data();
    let payloads: [(&str, &[u8]); 2] = [("fw.bin", &fw), ("app.bin", &app)];
    let kid = [0x42u8; 32];
    let manifest = manifest_bytes(&[(-9, kid)], &payloads, |_| {});
    let chain: Vec<&[u8]> = signer.chain.iter().map(Vec::as_slice).collect();
    let part = sign_part(&signer, encode_protected(-9, &kid, &chain), &manifest);
    let b = container(&encode_envelope(&manifest, &[part]), &payloads);
    rejected(&verify(&put("kid", &b), &[]), "kid-mismatch");
}

#[test]
fn unknown_protected_header_label() {
    let signer = load_signer(&fx().pki, "ecdsa-p256");
    let (fw, app) = payload_data();
    let payloads: [(&str, &[u8]); 2] = [("fw.bin", &fw), ("app.bin", &app)];
    let kid = signer.key.key_id();
    let manifest = manifest_bytes(&[(-9, kid)], &payloads, |_| {});
    // {1: -9, 3: ctype, 4: kid, 5: IV, 33: [leaf, intermediate]}, keys sorted.
    let mut protected = Vec::new();
    let mut e = minicbor::Encoder::new(&mut protected);
    e.map(5).unwrap();
    e.i64(1).unwrap().i64(-9).unwrap();
    e.i64(3).unwrap().str(CONTENT_TYPE).unwrap();
    e.i64(4).unwrap().bytes(&kid).unwrap();
    e.i64(5).unwrap().bytes(&[0u8; 16]).unwrap();
    e.i64(33).unwrap().array(2).unwrap();
    e.bytes(&signer.chain[0])
        .unwrap()
        .bytes(&signer.chain[1])
        .unwrap();
    let part = sign_part(&signer, protected, &manifest);
    let b = container(&encode_envelope(&manifest, &[part]), &payloads);
    rejected(
        &verify(&put("protected-label", &b), &[]),
        "cose-unknown-header",
    );
}

// ---------------------------------------------------------------------------
// Certificates and trust
// ---------------------------------------------------------------------------

#[test]
fn wrong_root() {
    // policy.md 6: `chain-untrusted` = no path to a trusted root. The other
    // PKI's roots.pem holds unrelated roots (pki init names CAs by key id).
    let other_roots = fx().other_pki.join("roots.pem");
    let run = otaseal([
        "verify",
        s(&fx().package),
        "--json",
        "--trust",
        s(&other_roots),
    ]);
    rejected(&run, "chain-untrusted");
}

#[test]
fn wrong_root_with_another_name() {
    // The same as `wrong_root` with a root whose name differs from the
    // fixture's: no issuer is found at all.
    let dir = test_dir("wrong-root-named");
    let key = SigningKey::generate(Suite::EcdsaP256).unwrap();
    let now = unix_now();
    let root = pki::issue_certificate(&CertRequest {
        subject_cn: "another vendor root",
        profile: CertProfile::Root,
        not_before: now - 600,
        not_after: now + 30 * 86_400,
        subject_key: &key,
        issuer: None,
        serial: None,
    })
    .unwrap();
    let roots = write_file(&dir, "roots.pem", pki::certs_to_pem(&[root]).as_bytes());
    let run = otaseal(["verify", s(&fx().package), "--json", "--trust", s(&roots)]);
    let j = run.json();
    rejected(&run, "chain-untrusted");
    for sig in j["signatures"].as_array().unwrap() {
        assert_eq!(sig["status"], "untrusted");
        assert_eq!(sig["code"], "chain-untrusted");
    }
}

/// Signs the fixture payloads (ecdsa-p256 only) with the fixture signer key
/// and a leaf certificate of `profile` under the fixture intermediate.
fn leaf_profile_package(test: &str, profile: CertProfile) -> PathBuf {
    let dir = test_dir(test);
    let p = fx().pki.join("ecdsa-p256");
    let signer_key = SigningKey::load(&p.join("signer.key.pem")).unwrap();
    let inter_key = SigningKey::load(&p.join("intermediate.key.pem")).unwrap();
    let inter = load_cert(&p.join("intermediate.cert.pem"));
    let now = unix_now();
    let leaf = pki::issue_certificate(&CertRequest {
        subject_cn: "tamper test leaf",
        profile,
        not_before: now - 600,
        not_after: now + 30 * 86_400,
        subject_key: &signer_key,
        issuer: Some((&inter_key, &inter)),
        serial: None,
    })
    .unwrap();
    let chain = write_file(
        &dir,
        "chain.pem",
        pki::certs_to_pem(&[leaf, inter]).as_bytes(),
    );
    let out = dir.join("pkg.ota");
    let signer = format!("key={},cert={}", s(&p.join("signer.key.pem")), s(&chain));
    let run = otaseal([
        "sign",
        "--out",
        s(&out),
        "--product",
        "acme.tamper-test",
        "--version",
        "1.0.0",
        "--security-version",
        "5",
        "--hw-compat",
        "rev-a",
        "--created",
        &created_text(),
        "--signer",
        &signer,
        s(&fx().fw),
    ]);
    run.expect_code(0);
    out
}

#[test]
fn leaf_without_code_signing_eku() {
    let pkg = leaf_profile_package("leaf-no-eku", CertProfile::LeafWithoutEku);
    rejected(&verify(&pkg, &[]), "cert-eku");
}

#[test]
fn leaf_with_only_server_auth_eku() {
    let server_auth = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.1");
    let pkg = leaf_profile_package(
        "leaf-server-auth",
        CertProfile::LeafWithEku(vec![server_auth]),
    );
    rejected(&verify(&pkg, &[]), "cert-eku");
}

#[test]
fn control_leaf_with_code_signing_eku_is_accepted() {
    let pkg = leaf_profile_package("leaf-code-signing", CertProfile::CodeSigningLeaf);
    accepted(&verify(&pkg, &[]));
}

/// Validity of the fixture's ecdsa-p256 leaf (every certificate of the
/// development PKI has the same).
fn leaf_validity() -> (u64, u64) {
    let leaf = load_signer(&fx().pki, "ecdsa-p256").chain.remove(0);
    let info = otaseal_verify::cert::parse_certificate(&leaf).unwrap();
    (info.not_before, info.not_after)
}

#[test]
fn certificate_expired() {
    let (_, not_after) = leaf_validity();
    accepted(&verify(&fx().package, &["--at", &rfc3339(not_after)]));
    rejected(
        &verify(&fx().package, &["--at", &rfc3339(not_after + 1)]),
        "cert-expired",
    );
}

#[test]
fn certificate_not_yet_valid() {
    let (not_before, _) = leaf_validity();
    accepted(&verify(&fx().package, &["--at", &rfc3339(not_before)]));
    rejected(
        &verify(&fx().package, &["--at", &rfc3339(not_before - 1)]),
        "cert-not-yet-valid",
    );
}

#[test]
fn x5chain_with_intermediate_of_another_pki() {
    // A valid signature over the manifest by the fixture signer, whose
    // x5chain carries another PKI's intermediate (same subject name,
    // different key): the path cannot be completed.
    let signer = load_signer(&fx().pki, "ecdsa-p256");
    let foreign = load_cert(&fx().other_pki.join("ecdsa-p256/intermediate.cert.pem"));
    let (fw, app) = payload_data();
    let payloads: [(&str, &[u8]); 2] = [("fw.bin", &fw), ("app.bin", &app)];
    let kid = signer.key.key_id();
    let manifest = manifest_bytes(&[(-9, kid)], &payloads, |_| {});
    let protected = encode_protected(-9, &kid, &[&signer.chain[0], &foreign]);
    let part = sign_part(&signer, protected, &manifest);
    let b = container(&encode_envelope(&manifest, &[part]), &payloads);
    let run = verify(&put("foreign-intermediate", &b), &[]);
    rejected(&run, "chain-untrusted");
}

#[test]
fn x5chain_with_unrelated_intermediate() {
    // As above, with an intermediate of a different name issued by the
    // other PKI's root: the leaf's issuer is nowhere in the path.
    let signer = load_signer(&fx().pki, "ecdsa-p256");
    let p = fx().other_pki.join("ecdsa-p256");
    let root_key = SigningKey::load(&p.join("root.key.pem")).unwrap();
    let root = load_cert(&p.join("root.cert.pem"));
    let rogue_key = SigningKey::generate(Suite::EcdsaP256).unwrap();
    let now = unix_now();
    let rogue = pki::issue_certificate(&CertRequest {
        subject_cn: "rogue intermediate",
        profile: CertProfile::Intermediate,
        not_before: now - 600,
        not_after: now + 30 * 86_400,
        subject_key: &rogue_key,
        issuer: Some((&root_key, &root)),
        serial: None,
    })
    .unwrap();
    let (fw, app) = payload_data();
    let payloads: [(&str, &[u8]); 2] = [("fw.bin", &fw), ("app.bin", &app)];
    let kid = signer.key.key_id();
    let manifest = manifest_bytes(&[(-9, kid)], &payloads, |_| {});
    let protected = encode_protected(-9, &kid, &[&signer.chain[0], &rogue]);
    let part = sign_part(&signer, protected, &manifest);
    let b = container(&encode_envelope(&manifest, &[part]), &payloads);
    let pkg = put("rogue-intermediate", &b);
    rejected(&verify(&pkg, &[]), "chain-untrusted");
    // Trusting both PKIs does not help: the leaf was not issued by the rogue.
    let other_roots = fx().other_pki.join("roots.pem");
    rejected(
        &verify(&pkg, &["--trust", s(&other_roots)]),
        "chain-untrusted",
    );
}

#[test]
fn raw_key_signer_not_trusted() {
    let dir = test_dir("raw-key-untrusted");
    let k1 = dir.join("k1.pem");
    let k2 = dir.join("k2.pem");
    otaseal(["keygen", "--alg", "ecdsa-p256", "--out", s(&k1)]).expect_code(0);
    otaseal(["keygen", "--alg", "ecdsa-p256", "--out", s(&k2)]).expect_code(0);
    let pkg = dir.join("raw.ota");
    let signer = format!("key={}", s(&k1));
    otaseal([
        "sign",
        "--out",
        s(&pkg),
        "--product",
        "acme.tamper-test",
        "--version",
        "1.0.0",
        "--security-version",
        "5",
        "--hw-compat",
        "rev-a",
        "--created",
        &created_text(),
        "--signer",
        &signer,
        s(&fx().fw),
    ])
    .expect_code(0);
    let trust = |key: &Path| {
        otaseal([
            "verify",
            s(&pkg),
            "--json",
            "--trust-key",
            s(&dir.join(format!(
                "{}.pub.pem",
                key.file_stem().unwrap().to_str().unwrap()
            ))),
        ])
    };
    accepted(&trust(&k1));
    rejected(&trust(&k2), "key-untrusted");
}

// ---------------------------------------------------------------------------
// Policy
// ---------------------------------------------------------------------------

#[test]
fn rollback() {
    rejected(
        &verify(&fx().package, &["--min-security-version", "6"]),
        "rollback",
    );
}

#[test]
fn wrong_hardware() {
    rejected(
        &verify(&fx().package, &["--hw-id", "rev-z"]),
        "hw-incompatible",
    );
}

#[test]
fn manifest_expired() {
    let dir = test_dir("manifest-expired");
    let pkg = dir.join("expiring.ota");
    let now = unix_now();
    let expires = rfc3339(now + 86_400);
    sign_with(
        &fx().pki,
        &pkg,
        &["ecdsa-p256"],
        &[&fx().fw],
        &["--expires", &expires],
    )
    .expect_code(0);
    accepted(&verify(&pkg, &["--at", &rfc3339(now + 3600)]));
    rejected(
        &verify(&pkg, &["--at", &rfc3339(now + 2 * 86_400)]),
        "manifest-expired",
    );
}

#[test]
fn required_suite_absent() {
    rejected(
        &verify(&fx().package, &["--require", "ml-dsa-87"]),
        "policy-unsatisfied",
    );
}

#[test]
fn digest_family_not_in_manifest() {
    rejected(
        &verify(&fx().package, &["--digest", "sha-512"]),
        "payload-digest-missing",
    );
}

// ---------------------------------------------------------------------------
// Property: every single-byte change of a small package is rejected.
// ---------------------------------------------------------------------------

fn small_package() -> Vec<u8> {
    static SMALL: OnceLock<Vec<u8>> = OnceLock::new();
    SMALL
        .get_or_init(|| {
            let dir = test_dir("small-package");
            let a = write_file(&dir, "a.bin", &pseudo_random(700, 5));
            let b = write_file(&dir, "b.img", &pseudo_random(1300, 6));
            let out = dir.join("small.ota");
            sign_with(&fx().pki, &out, &["ecdsa-p256"], &[&a, &b], &[]).expect_code(0);
            read_file(&out)
        })
        .clone()
}

fn verify_in_process(
    bytes: &[u8],
    anchors: &[TrustAnchor<'_>],
    time: u64,
    chunk: usize,
) -> Result<(), VerifyError> {
    let mut buf = vec![0u8; 64 * 1024];
    let policy = Policy {
        time: Some(time),
        ..Policy::default()
    };
    let trust = TrustStore {
        roots: anchors,
        keys: &[],
        tsa_roots: &[],
    };
    let mut v = PackageVerifier::new(&mut buf, policy, trust);
    for c in bytes.chunks(chunk) {
        v.update(c)?;
    }
    v.finish().map(|_| ())
}

#[test]
fn every_single_byte_flip_is_rejected() {
    let pkg = small_package();
    let roots_pem = std::fs::read_to_string(fx().pki.join("roots.pem")).unwrap();
    let root_ders = pki::certs_from_pem(&roots_pem).unwrap();
    let certs: Vec<CertificateDer<'_>> = root_ders
        .iter()
        .map(|d| CertificateDer::from(d.as_slice()))
        .collect();
    let anchors: Vec<TrustAnchor<'_>> = certs
        .iter()
        .map(|c| webpki::anchor_from_trusted_cert(c).unwrap())
        .collect();
    let now = unix_now();
    verify_in_process(&pkg, &anchors, now, 4096).expect("the untampered package verifies");

    // Every position of the first 4 KiB (header, envelope, first payload
    // header), then every 3rd position of the rest; the flipped bit and the
    // feeding chunk size vary with the position.
    let positions: Vec<usize> = (0..pkg.len().min(4096))
        .chain((4096..pkg.len()).step_by(3))
        .chain([pkg.len() - 1])
        .collect();
    assert!(positions.len() > 4096, "{} positions", positions.len());
    let failures: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|w| {
                let positions = &positions;
                let pkg = &pkg;
                let anchors = &anchors;
                scope.spawn(move || {
                    let mut failures = Vec::new();
                    for &pos in positions.iter().skip(w).step_by(2) {
                        let mut copy = pkg.clone();
                        copy[pos] ^= 1 << (pos % 8);
                        let chunk = 1 + (pos * 7919) % 3000;
                        let result = std::panic::catch_unwind(|| {
                            verify_in_process(&copy, anchors, now, chunk)
                        });
                        match result {
                            Ok(Err(_)) => {}
                            Ok(Ok(())) => failures.push(format!("byte {pos}: accepted")),
                            Err(_) => failures.push(format!("byte {pos}: panicked")),
                        }
                    }
                    failures
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    assert!(failures.is_empty(), "{failures:#?}");
}

// ---------------------------------------------------------------------------
// Library API: what the payload sink receives, and the codes only hand-built
// packages reach. `PackageVerifier::update_with` is what a device calls.
// ---------------------------------------------------------------------------

/// What one run of the streaming verifier produced.
struct LibRun {
    result: Result<otaseal_verify::Verified, VerifyError>,
    /// Every `(payload index, bytes)` the sink received, concatenated per payload.
    sink: Vec<(usize, Vec<u8>)>,
    verdict: otaseal_verify::EnvelopeVerdict,
}

impl LibRun {
    fn sink_bytes(&self) -> usize {
        self.sink.iter().map(|(_, b)| b.len()).sum()
    }

    #[track_caller]
    fn code(&self) -> &'static str {
        match &self.result {
            Ok(_) => "ok",
            Err(e) => e.code(),
        }
    }
}

/// The fixture PKI's roots (or another PKI's) as DER.
fn root_ders(pki: &Path) -> Vec<Vec<u8>> {
    let pem = std::fs::read_to_string(pki.join("roots.pem")).unwrap();
    pki::certs_from_pem(&pem).unwrap()
}

/// Feeds `bytes` in `chunk`-byte pieces to a `PackageVerifier` trusting the
/// roots of `pki` and the SubjectPublicKeyInfo DERs `keys`, with the policy
/// `tweak` makes; records what the sink receives. After a failed `update`
/// it feeds the rest anyway (a careless caller), and checks that every later
/// call repeats the first error.
fn run_lib(
    bytes: &[u8],
    pki: &Path,
    keys: &[&[u8]],
    chunk: usize,
    tweak: impl FnOnce(&mut Policy<'_>),
) -> LibRun {
    let ders = root_ders(pki);
    let anchors: Vec<TrustAnchor<'_>> = ders
        .iter()
        .map(|d| otaseal_verify::anchor_from_der(d).unwrap())
        .collect();
    let mut policy = Policy {
        time: Some(created() + 60),
        ..Policy::default()
    };
    tweak(&mut policy);
    let trust = TrustStore {
        roots: &anchors,
        keys,
        tsa_roots: &[],
    };
    let mut buf = vec![0u8; otaseal_verify::buffer_size(64 * 1024)];
    let mut v = PackageVerifier::new(&mut buf, policy, trust);
    let mut sink: Vec<(usize, Vec<u8>)> = Vec::new();
    let mut first_error = None;
    for c in bytes.chunks(chunk) {
        let r = v.update_with(c, &mut |i, data| match sink.last_mut() {
            Some((j, acc)) if *j == i => acc.extend_from_slice(data),
            _ => sink.push((i, data.to_vec())),
        });
        match (r, first_error) {
            (Err(e), None) => first_error = Some(e),
            (r, Some(e)) => assert_eq!(r, Err(e), "an error is final"),
            (Ok(()), None) => {}
        }
    }
    let verdict = v.envelope_verdict().clone();
    let result = v.finish();
    if let Some(e) = first_error {
        assert_eq!(result.as_ref().err(), Some(&e), "finish repeats the error");
    }
    LibRun {
        result,
        sink,
        verdict,
    }
}

/// The fixture package's envelope with its parts edited by `edit`.
fn fixture_with_parts(edit: impl FnOnce(&mut Vec<Sign1Parts>)) -> Vec<u8> {
    let (manifest, mut parts) = parts_of(&envelope_of(&fx().bytes));
    edit(&mut parts);
    with_envelope(&fx().bytes, &encode_envelope(&manifest, &parts))
}

#[test]
fn lib_control_sink_receives_every_payload_byte_of_an_accepted_package() {
    let (fw, app) = payload_data();
    for chunk in [1usize, 511, 4096, 1 << 20] {
        let run = run_lib(&fx().bytes, &fx().pki, &[], chunk, |_| {});
        assert_eq!(run.code(), "ok", "chunk {chunk}");
        assert_eq!(run.sink, vec![(0, fw.clone()), (1, app.clone())]);
    }
}

/// spec/format.md, "no payload byte before the envelope passed": for every
/// rejection decided in the envelope, the sink gets nothing, whatever the
/// read size and even when the caller keeps feeding after the error.
#[test]
fn lib_sink_receives_zero_bytes_on_every_envelope_rejection() {
    let ders_other = root_ders(&fx().other_pki);
    assert!(!ders_other.is_empty());
    let expiring = p256_package(|m| m.expires = Some(created() + 600), |_| {});
    let bad_signature = fixture_with_parts(|parts| parts[0].signature[5] ^= 1);
    let bad_token = fixture_with_parts(|parts| parts[0].timestamp = Some(b"junk".to_vec()));
    static ML_DSA_87: [otaseal_verify::SuiteSet; 1] =
        [otaseal_verify::SuiteSet::EMPTY.with(Suite::MlDsa87)];
    type Tweak<'t> = Box<dyn FnOnce(&mut Policy<'_>) + 't>;
    let cases: Vec<(&str, &[u8], &Path, Tweak<'_>)> = vec![
        (
            "signature-invalid",
            &bad_signature,
            &fx().pki,
            Box::new(|_| {}),
        ),
        (
            "chain-untrusted",
            &fx().bytes,
            &fx().other_pki,
            Box::new(|_| {}),
        ),
        (
            "policy-unsatisfied",
            &fx().bytes,
            &fx().pki,
            Box::new(|p| p.require = otaseal_verify::Requirement::AnyOf(&ML_DSA_87)),
        ),
        (
            "hw-incompatible",
            &fx().bytes,
            &fx().pki,
            Box::new(|p| p.hw_id = Some("rev-z")),
        ),
        (
            "rollback",
            &fx().bytes,
            &fx().pki,
            Box::new(|p| p.min_security_version = Some(6)),
        ),
        (
            "manifest-expired",
            &expiring,
            &fx().pki,
            Box::new(|p| p.time = Some(created() + 601)),
        ),
        (
            "timestamp-malformed",
            &bad_token,
            &fx().pki,
            Box::new(|_| {}),
        ),
        (
            "timestamp-missing",
            &fx().bytes,
            &fx().pki,
            Box::new(|p| {
                p.require_timestamp = otaseal_verify::SuiteSet::EMPTY.with(Suite::EcdsaP256)
            }),
        ),
    ];
    // The expiring package is accepted before its expiry (a control).
    assert_eq!(
        run_lib(&expiring, &fx().pki, &[], 4096, |_| {}).code(),
        "ok"
    );
    for (code, bytes, pki, tweak) in cases {
        // Whole package in one call: the verifier sees every payload byte
        // in the same `update` as the envelope.
        let run = run_lib(bytes, pki, &[], bytes.len(), tweak);
        assert_eq!(run.code(), code);
        assert_eq!(run.sink_bytes(), 0, "{code}: sink received payload bytes");
    }
    // The same for small, odd read sizes on two of them.
    for chunk in [1usize, 7, 512, 513] {
        let run = run_lib(&bad_signature, &fx().pki, &[], chunk, |_| {});
        assert_eq!((run.code(), run.sink_bytes()), ("signature-invalid", 0));
        let run = run_lib(&fx().bytes, &fx().pki, &[], chunk, |p| p.hw_id = Some("x"));
        assert_eq!((run.code(), run.sink_bytes()), ("hw-incompatible", 0));
    }
}

/// A raw-key package signed by a key the device does not trust: rejected in
/// the envelope (`key-untrusted`), nothing reaches the sink; with a token
/// (junk) on that untrusted signature it is still rejected for the token.
#[test]
fn lib_untrusted_raw_key_rejects_before_the_payload_and_its_token_is_parsed() {
    let signer = load_signer(&fx().pki, "ecdsa-p256");
    let other = load_signer(&fx().other_pki, "ecdsa-p256");
    let (fw, _) = payload_data();
    let payloads: [(&str, &[u8]); 1] = [("fw.bin", &fw)];
    let manifest = manifest_bytes(&[(-9, signer.key.key_id())], &payloads, |_| {});
    let protected = encode_protected(-9, &signer.key.key_id(), &[]);
    let part = sign_part(&signer, protected, &manifest);
    let pkg = container(
        &encode_envelope(&manifest, std::slice::from_ref(&part)),
        &payloads,
    );
    let spki = signer.key.public_spki_der();
    let other_spki = other.key.public_spki_der();
    let run = run_lib(&pkg, &fx().pki, &[&spki], pkg.len(), |_| {});
    assert_eq!(run.code(), "ok", "control: the trusted key");
    let run = run_lib(&pkg, &fx().pki, &[&other_spki], pkg.len(), |_| {});
    assert_eq!((run.code(), run.sink_bytes()), ("key-untrusted", 0));
    assert_eq!(
        run.verdict.signatures[0].status,
        otaseal_verify::SignatureStatus::Untrusted
    );
    let mut with_token = part;
    with_token.timestamp = Some(b"junk".to_vec());
    let pkg = container(&encode_envelope(&manifest, &[with_token]), &payloads);
    let run = run_lib(&pkg, &fx().pki, &[&other_spki], pkg.len(), |_| {});
    assert_eq!((run.code(), run.sink_bytes()), ("timestamp-malformed", 0));
}

/// A single-signer package whose signer declares `alg` (with the fixture
/// ecdsa-p256 key and chain; the signature is a real P-256 one), and an
/// optional token on it.
fn package_with_alg(alg: i64, token: Option<Vec<u8>>) -> Vec<u8> {
    let signer = load_signer(&fx().pki, "ecdsa-p256");
    let (fw, _) = payload_data();
    let payloads: [(&str, &[u8]); 1] = [("fw.bin", &fw)];
    let manifest = manifest_bytes(&[(alg, signer.key.key_id())], &payloads, |_| {});
    let mut part = sign_part(&signer, protected_of(&signer, alg), &manifest);
    part.timestamp = token;
    container(&encode_envelope(&manifest, &[part]), &payloads)
}

/// policy.md 2: a suite this verifier does not know is `unsupported`, never
/// `valid`; with nothing else declared the package is `no-supported-suite`.
/// A token on such a signature is still parsed: junk rejects.
#[test]
fn lib_unknown_suite_is_unsupported_and_no_supported_suite() {
    let pkg = package_with_alg(-9, None);
    assert_eq!(run_lib(&pkg, &fx().pki, &[], 4096, |_| {}).code(), "ok");
    let pkg = package_with_alg(-65_000, None);
    let run = run_lib(&pkg, &fx().pki, &[], 4096, |_| {});
    assert_eq!((run.code(), run.sink_bytes()), ("no-supported-suite", 0));
    assert_eq!(run.verdict.signatures.len(), 1);
    assert_eq!(
        run.verdict.signatures[0].status,
        otaseal_verify::SignatureStatus::Unsupported
    );
    assert_eq!(run.verdict.signatures[0].status.name(), "unsupported");
    let pkg = package_with_alg(-65_000, Some(b"junk".to_vec()));
    let run = run_lib(&pkg, &fx().pki, &[], 4096, |_| {});
    assert_eq!((run.code(), run.sink_bytes()), ("timestamp-malformed", 0));
}

/// Envelope and manifest codes that no signer writes: each is built by hand
/// (validly signed where a signature is involved) and rejected in the
/// envelope with its own code, nothing reaching the sink.
#[test]
fn lib_envelope_and_manifest_structure_codes() {
    let (manifest, parts) = parts_of(&envelope_of(&fx().bytes));
    let envelope = encode_envelope(&manifest, &parts);
    // [1, manifest, [...]]: the version is the byte after the array head.
    assert_eq!(envelope[..2], [0x83, 0x01]);
    let mut v2 = envelope.clone();
    v2[1] = 0x02;
    let nine: Vec<Sign1Parts> = std::iter::repeat_n(parts[0].clone(), 9).collect();
    let signer = load_signer(&fx().pki, "ecdsa-p256");
    let kid = signer.key.key_id();
    let garbage_leaf = encode_protected(-9, &kid, &[b"not a certificate".as_slice()]);
    let (fw, app) = payload_data();
    let payloads: [(&str, &[u8]); 2] = [("fw.bin", &fw), ("app.bin", &app)];
    let bad_leaf_manifest = manifest_bytes(&[(-9, kid)], &payloads, |_| {});
    let bad_leaf = container(
        &encode_envelope(
            &bad_leaf_manifest,
            &[sign_part(&signer, garbage_leaf, &bad_leaf_manifest)],
        ),
        &payloads,
    );
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("envelope-version", with_envelope(&fx().bytes, &v2)),
        (
            "envelope-limit",
            with_envelope(&fx().bytes, &encode_envelope(&manifest, &nine)),
        ),
        (
            "manifest-malformed",
            p256_package(|m| m.hw_compat.clear(), |_| {}),
        ),
        (
            "manifest-limit",
            p256_package(|m| m.chunk_log2 = 30, |_| {}),
        ),
        (
            "manifest-duplicate-signer",
            p256_package(
                |m| {
                    let first = m.signers[0];
                    m.signers.push(first).unwrap();
                },
                |_| {},
            ),
        ),
        (
            "manifest-duplicate-hw-id",
            p256_package(|m| m.hw_compat.push("rev-a").unwrap(), |_| {}),
        ),
        ("cert-malformed", bad_leaf),
    ];
    for (code, pkg) in cases {
        let run = run_lib(&pkg, &fx().pki, &[], 1000, |_| {});
        assert_eq!(run.code(), code);
        assert_eq!(run.sink_bytes(), 0, "{code}");
        // The CLI says the same.
        rejected(&verify(&put(code, &pkg), &[]), code);
    }
}

/// An envelope member declaring more than the format's 256 KiB: refused from
/// the header alone (`envelope-too-large`), before anything is buffered.
#[test]
fn lib_envelope_larger_than_the_format_allows() {
    let max = otaseal_manifest::container::MAX_ENVELOPE_SIZE;
    let mut pkg = member_header(ENVELOPE_MEMBER, max + 1, created())
        .unwrap()
        .to_vec();
    pkg.resize(pkg.len() + 4 * BLOCK, 0);
    let run = run_lib(&pkg, &fx().pki, &[], 100, |_| {});
    assert_eq!((run.code(), run.sink_bytes()), ("envelope-too-large", 0));
    assert_eq!(
        run.result.unwrap_err(),
        VerifyError::EnvelopeTooLarge { size: max + 1 }
    );
}

/// P-256 group order n, big-endian.
const P256_N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// `n - s` for big-endian 32-byte values (s < n).
fn p256_negate(s: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = P256_N[i] as i16 - s[i] as i16 - borrow;
        borrow = i16::from(d < 0);
        if d < 0 {
            d += 256;
        }
        out[i] = d as u8;
    }
    out
}

/// The fixture's (low-S) P-256 signature with S replaced by n - S: the same
/// signature mathematically, in the encoding the format forbids.
#[test]
fn lib_high_s_cose_signature() {
    let (_, parts) = parts_of(&envelope_of(&fx().bytes));
    let sig = &parts[0].signature;
    assert_eq!(sig.len(), 64, "the first signature is the P-256 one");
    let high = fixture_with_parts(|parts| {
        let s = p256_negate(&parts[0].signature[32..]);
        parts[0].signature[32..].copy_from_slice(&s);
    });
    // n - (n - S) = S: the helper is its own inverse (a check on it).
    assert_eq!(p256_negate(&p256_negate(&sig[32..])), sig[32..].to_vec());
    let run = run_lib(&high, &fx().pki, &[], 4096, |_| {});
    assert_eq!((run.code(), run.sink_bytes()), ("signature-high-s", 0));
    rejected(&verify(&put("high-s", &high), &[]), "signature-high-s");
}

/// A payload declared `tar` that does not carry `ustar` at 257.
#[test]
fn lib_payload_kind_mismatch() {
    let pkg = p256_package(|m| m.payloads[0].kind = PayloadKind::Tar, |_| {});
    let run = run_lib(&pkg, &fx().pki, &[], 4096, |_| {});
    assert_eq!(run.code(), "payload-kind-mismatch");
    assert!(run.sink_bytes() <= 4096, "stopped at the first read");
    let control = p256_package(|_| {}, |_| {});
    assert_eq!(run_lib(&control, &fx().pki, &[], 4096, |_| {}).code(), "ok");
}

/// Header and content lengths of the DER TLV at `at`.
fn der_at(der: &[u8], at: usize) -> (usize, usize) {
    let first = der[at + 1] as usize;
    if first < 0x80 {
        return (2, first);
    }
    let n = first & 0x7f;
    let len = der[at + 2..at + 2 + n]
        .iter()
        .fold(0usize, |acc, b| acc << 8 | *b as usize);
    (2 + n, len)
}

/// A DER TLV.
fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
    out.extend_from_slice(content);
    out
}

/// policy.md 3: a leaf whose keyUsage is present without digitalSignature
/// is refused (`cert-key-usage`). Built without openssl: the fixture's
/// code-signing leaf, keyUsage digitalSignature (`03 02 07 80`) turned into
/// keyEncipherment (`03 02 05 20`, same length), re-signed by the fixture
/// intermediate.
#[test]
fn lib_leaf_without_digital_signature_key_usage() {
    let p = fx().pki.join("ecdsa-p256");
    let signer = load_signer(&fx().pki, "ecdsa-p256");
    let inter_key = SigningKey::load(&p.join("intermediate.key.pem")).unwrap();
    let leaf = &signer.chain[0];
    let (outer_head, _) = der_at(leaf, 0);
    let (tbs_head, tbs_len) = der_at(leaf, outer_head);
    let mut tbs = leaf[outer_head..outer_head + tbs_head + tbs_len].to_vec();
    let ku_oid = [0x06, 0x03, 0x55, 0x1d, 0x0f];
    let at = tbs
        .windows(ku_oid.len())
        .position(|w| w == ku_oid)
        .expect("leaf has keyUsage");
    let value = tbs[at..]
        .windows(4)
        .position(|w| w == [0x03, 0x02, 0x07, 0x80])
        .expect("digitalSignature only")
        + at;
    let resign = |tbs: &[u8]| {
        let (sig, alg) = inter_key.sign_x509(tbs).unwrap();
        let mut bits = vec![0u8];
        bits.extend_from_slice(&sig);
        der_tlv(0x30, &[tbs, &alg, &der_tlv(0x03, &bits)].concat())
    };
    let package_with_leaf = |leaf: Vec<u8>| {
        let mut chain = signer.chain.clone();
        chain[0] = leaf;
        let (fw, _) = payload_data();
        let payloads: [(&str, &[u8]); 1] = [("fw.bin", &fw)];
        let manifest = manifest_bytes(&[(-9, signer.key.key_id())], &payloads, |_| {});
        let refs: Vec<&[u8]> = chain.iter().map(Vec::as_slice).collect();
        let protected = encode_protected(-9, &signer.key.key_id(), &refs);
        let part = sign_part(&signer, protected, &manifest);
        container(&encode_envelope(&manifest, &[part]), &payloads)
    };
    // Control: the unchanged TBS, re-signed the same way, is accepted.
    let control = package_with_leaf(resign(&tbs));
    assert_eq!(run_lib(&control, &fx().pki, &[], 4096, |_| {}).code(), "ok");
    tbs[value + 2..value + 4].copy_from_slice(&[0x05, 0x20]);
    let pkg = package_with_leaf(resign(&tbs));
    let run = run_lib(&pkg, &fx().pki, &[], 4096, |_| {});
    assert_eq!((run.code(), run.sink_bytes()), ("cert-key-usage", 0));
    rejected(
        &verify(&put("no-digital-signature", &pkg), &[]),
        "cert-key-usage",
    );
}

// ---------------------------------------------------------------------------
// policy.md 1 (step 4) and 2: an invalid signature rejects whatever the
// policy requires, also outside the `--require` set.
// ---------------------------------------------------------------------------

/// The fixture package is signed by ecdsa-p256, sm2 and ml-dsa-65 (in that
/// order). A policy requiring only ecdsa-p256 accepts it, and still accepts
/// it when SM2's signer is merely untrusted; but a corrupted SM2 or ML-DSA-65
/// signature (an *invalid* one, evidence of tampering) rejects it, through
/// the library and through `otaseal verify --require ecdsa-p256`.
#[test]
fn lib_invalid_signature_outside_the_required_set_rejects() {
    use otaseal_verify::{Requirement, SignatureStatus, SuiteSet};
    static P256: [SuiteSet; 1] = [SuiteSet::EMPTY.with(Suite::EcdsaP256)];
    let require_p256 = |p: &mut Policy<'_>| p.require = Requirement::AnyOf(&P256);
    let (fw, app) = payload_data();

    // Controls: the untouched package under the same policy.
    let run = run_lib(&fx().bytes, &fx().pki, &[], 4096, require_p256);
    assert_eq!(run.code(), "ok");
    assert_eq!(run.sink, vec![(0, fw.clone()), (1, app.clone())]);
    accepted(&verify(&fx().package, &["--require", "ecdsa-p256"]));
    // ... and with only the P-256 root trusted: SM2 and ML-DSA-65 are
    // `untrusted`, which a policy that does not need them tolerates.
    let p256_root = fx().pki.join("ecdsa-p256").join("root.cert.pem");
    let only_p256 = |pkg: &Path, require: &[&str]| {
        let mut args = vec!["verify", s(pkg), "--json", "--trust", s(&p256_root)];
        args.extend_from_slice(require);
        otaseal(args)
    };
    let run = only_p256(&fx().package, &["--require", "ecdsa-p256"]);
    accepted(&run);
    let statuses: Vec<_> = run.json()["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(statuses, ["valid", "untrusted", "untrusted"]);
    // The strict default needs every declared signature: untrusted rejects.
    rejected(&only_p256(&fx().package, &[]), "chain-untrusted");

    for index in [1usize, 2] {
        let bad = fixture_with_parts(|parts| {
            let n = parts[index].signature.len();
            parts[index].signature[n / 2] ^= 0x40;
        });
        let run = run_lib(&bad, &fx().pki, &[], 4096, require_p256);
        assert_eq!(
            run.result.as_ref().err(),
            Some(&VerifyError::SignatureInvalid { index }),
            "signature {index}"
        );
        assert_eq!(run.code(), "signature-invalid");
        assert_eq!(run.sink_bytes(), 0, "signature {index}");
        let statuses: Vec<_> = run.verdict.signatures.iter().map(|r| r.status).collect();
        let mut want = vec![SignatureStatus::Valid; 3];
        want[index] = SignatureStatus::Invalid;
        assert_eq!(statuses, want);
        // The P-256 signature alone satisfies the requirement: the package
        // is rejected for the broken one, not for want of a suite.
        assert!(run.verdict.valid.contains(Suite::EcdsaP256));
        let pkg = put(&format!("invalid-outside-require-{index}"), &bad);
        rejected(
            &verify(&pkg, &["--require", "ecdsa-p256"]),
            "signature-invalid",
        );
        rejected(
            &verify(&pkg, &["--require", "ecdsa-p256", "--require", "sm2"]),
            "signature-invalid",
        );
    }
}

// ---------------------------------------------------------------------------
// Container framing (format.md section 2): PAX, device, renamed and missing
// members, each with its code, through the library and the CLI.
// ---------------------------------------------------------------------------

/// `bytes` with `member` (a whole header + data + padding) inserted at `at`.
fn insert_at(bytes: &[u8], at: usize, member: &[u8]) -> Vec<u8> {
    [&bytes[..at], member, &bytes[at..]].concat()
}

/// A whole tar member (header, data, zero padding) with `typeflag`.
fn raw_member(name: &[u8], typeflag: u8, data: &[u8]) -> Vec<u8> {
    let mut out = ustar_header(name, data.len() as u64, created(), typeflag, b"").to_vec();
    out.extend_from_slice(data);
    out.resize(out.len() + padding_len(data.len() as u64), 0);
    out
}

/// A PAX record list (`"%d %s=%s\n"`, the length counting itself).
fn pax_records(records: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in records {
        let body = format!(" {k}={v}\n");
        let mut len = body.len() + 1;
        while format!("{len}{body}").len() != len {
            len += 1;
        }
        out.extend_from_slice(format!("{len}{body}").as_bytes());
    }
    out
}

/// The fixture with the header of `name` edited by `edit` (checksum fixed).
fn with_header_edit(name: &str, edit: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let mut b = fx().bytes.clone();
    let m = member(&b, name);
    let h = &mut b[m.header..m.header + BLOCK];
    edit(h);
    fix_tar_checksum(h);
    b
}

/// Expects `want` from the library (whole package in 1000-byte reads) and
/// its code from the CLI, and that the sink got exactly the payloads before
/// the bad member (`released` of them), complete, and nothing else.
#[track_caller]
fn framing_rejected(test: &str, pkg: &[u8], want: VerifyError, released: usize) {
    let (fw, app) = payload_data();
    let all = [(0usize, fw), (1usize, app)];
    for chunk in [1000usize, 512, pkg.len().max(1)] {
        let run = run_lib(pkg, &fx().pki, &[], chunk, |_| {});
        assert_eq!(
            run.result.as_ref().err(),
            Some(&want),
            "{test}, chunk {chunk}"
        );
        let got: Vec<_> = run
            .sink
            .into_iter()
            .filter(|(_, b)| !b.is_empty())
            .collect();
        assert_eq!(got, all[..released].to_vec(), "{test}: sink, chunk {chunk}");
    }
    rejected(&verify(&put(test, pkg), &[]), want.code());
}

#[test]
fn lib_pax_members_are_header_mismatch() {
    let b = &fx().bytes;
    let fw = member(b, "fw.bin");
    let app = member(b, "app.bin");
    let env = member(b, ENVELOPE_MEMBER);
    // A per-file extended header renaming the next member, as GNU tar and
    // bsdtar honour it (`path` overrides the ustar name).
    let pax_x = raw_member(
        b"PaxHeaders/fw.bin",
        b'x',
        &pax_records(&[("path", "../../etc/evil"), ("mtime", "0")]),
    );
    let pax_g = raw_member(
        b"GlobalHead.0.1",
        b'g',
        &pax_records(&[("comment", "hello")]),
    );
    let with_x = insert_at(b, fw.header, &pax_x);
    // An independent reader sees the PAX header where otaseal's first
    // payload header belongs.
    let names: Vec<_> = tar_members(&with_x)
        .into_iter()
        .map(|m| (m.name, m.typeflag))
        .collect();
    assert_eq!(names[1], ("PaxHeaders/fw.bin".to_string(), b'x'));
    framing_rejected(
        "pax-x-before-fw",
        &with_x,
        VerifyError::HeaderMismatch { member: 1 },
        0,
    );
    framing_rejected(
        "pax-g-before-fw",
        &insert_at(b, fw.header, &pax_g),
        VerifyError::HeaderMismatch { member: 1 },
        0,
    );
    // Before the second payload: the first was complete and released.
    framing_rejected(
        "pax-x-before-app",
        &insert_at(b, app.header, &pax_x),
        VerifyError::HeaderMismatch { member: 2 },
        1,
    );
    // Before the envelope: the first member is not the envelope.
    framing_rejected(
        "pax-g-first",
        &insert_at(b, env.header, &pax_g),
        VerifyError::NotAPackage,
        0,
    );
    // The payload's own header turned into a PAX header (type flag only).
    framing_rejected(
        "fw-typeflag-x",
        &with_header_edit("fw.bin", |h| h[156] = b'x'),
        VerifyError::HeaderMismatch { member: 1 },
        0,
    );
    framing_rejected(
        "app-typeflag-g",
        &with_header_edit("app.bin", |h| h[156] = b'g'),
        VerifyError::HeaderMismatch { member: 2 },
        1,
    );
}

#[test]
fn lib_device_members_are_header_mismatch() {
    for (typeflag, what) in [(b'3', "char"), (b'4', "block")] {
        // Device numbers 1:3 (/dev/null as a character device).
        let set_dev = |h: &mut [u8]| {
            h[156] = typeflag;
            h[329..337].copy_from_slice(b"0000001\0");
            h[337..345].copy_from_slice(b"0000003\0");
        };
        framing_rejected(
            &format!("fw-{what}-device"),
            &with_header_edit("fw.bin", set_dev),
            VerifyError::HeaderMismatch { member: 1 },
            0,
        );
        framing_rejected(
            &format!("app-{what}-device"),
            &with_header_edit("app.bin", set_dev),
            VerifyError::HeaderMismatch { member: 2 },
            1,
        );
        // The type flag alone (device numbers zero) is enough.
        framing_rejected(
            &format!("fw-{what}-flag-only"),
            &with_header_edit("fw.bin", |h| h[156] = typeflag),
            VerifyError::HeaderMismatch { member: 1 },
            0,
        );
    }
}

#[test]
fn lib_renamed_members_are_header_mismatch() {
    // Same length, another name.
    framing_rejected(
        "fw-renamed",
        &with_header_edit("fw.bin", |h| h[..6].copy_from_slice(b"fw.bim")),
        VerifyError::HeaderMismatch { member: 1 },
        0,
    );
    // The second payload under the first one's name.
    framing_rejected(
        "app-renamed-fw",
        &with_header_edit("app.bin", |h| {
            h[..7].copy_from_slice(b"fw.bin\0");
        }),
        VerifyError::HeaderMismatch { member: 2 },
        1,
    );
    // A path the extractor would resolve elsewhere.
    framing_rejected(
        "app-renamed-traversal",
        &with_header_edit("app.bin", |h| {
            h[..100].fill(0);
            h[..10].copy_from_slice(b"../app.bin");
        }),
        VerifyError::HeaderMismatch { member: 2 },
        1,
    );
    // The name moved into the ustar prefix field (same path for tar).
    framing_rejected(
        "fw-name-in-prefix",
        &with_header_edit("fw.bin", |h| {
            h[..100].fill(0);
            h[..6].copy_from_slice(b"fw.bin");
            h[345..347].copy_from_slice(b"./");
        }),
        VerifyError::HeaderMismatch { member: 1 },
        0,
    );
    // The envelope renamed: not a package at all.
    framing_rejected(
        "envelope-renamed",
        &with_header_edit(ENVELOPE_MEMBER, |h| h[0] ^= 0x20),
        VerifyError::NotAPackage,
        0,
    );
}

#[test]
fn lib_missing_members() {
    let b = &fx().bytes;
    let fw = member(b, "fw.bin");
    let app = member(b, "app.bin");
    let env = member(b, ENVELOPE_MEMBER);
    let end = [0u8; 2 * BLOCK];
    // A payload member absent, end blocks where its header belongs.
    framing_rejected(
        "app-missing",
        &[&b[..app.header], &end[..]].concat(),
        VerifyError::HeaderMismatch { member: 2 },
        1,
    );
    framing_rejected(
        "both-missing",
        &[&b[..fw.header], &end[..]].concat(),
        VerifyError::HeaderMismatch { member: 1 },
        0,
    );
    // The first payload absent, the second in its place.
    framing_rejected(
        "fw-missing",
        &[&b[..fw.header], &b[app.header..]].concat(),
        VerifyError::HeaderMismatch { member: 1 },
        0,
    );
    // The container ends where a member should start.
    framing_rejected("ends-after-fw", &b[..app.header], VerifyError::Truncated, 1);
    framing_rejected(
        "ends-after-envelope",
        &b[..env.end()],
        VerifyError::Truncated,
        0,
    );
    framing_rejected(
        "ends-before-end-blocks",
        &b[..app.end()],
        VerifyError::Truncated,
        2,
    );
    framing_rejected("empty", &[], VerifyError::Truncated, 0);
}

// ---------------------------------------------------------------------------
// Truncation at every 512-byte boundary and inside blocks.
// ---------------------------------------------------------------------------

/// Offsets to cut the package at: every block boundary, and 1, 100 and 511
/// bytes into every block.
fn cut_points(len: usize) -> Vec<usize> {
    (0..len.div_ceil(BLOCK))
        .flat_map(|block| [0, 1, 100, 511].map(|off| block * BLOCK + off))
        .filter(|cut| *cut < len)
        .collect()
}

/// The payload bytes a verifier may have released from `bytes[..cut]` of
/// the fixture: nothing before the envelope member (with its padding) is
/// complete, then each payload's data present in the prefix, in order.
fn releasable(cut: usize) -> Vec<(usize, Vec<u8>)> {
    let b = &fx().bytes;
    if cut < member(b, ENVELOPE_MEMBER).end() {
        return Vec::new();
    }
    ["fw.bin", "app.bin"]
        .iter()
        .enumerate()
        .filter_map(|(i, name)| {
            let m = member(b, name);
            let have = cut.saturating_sub(m.data).min(m.size);
            (have > 0).then(|| (i, b[m.data..m.data + have].to_vec()))
        })
        .collect()
}

/// Every truncation is `container-truncated` (never accepted, never another
/// code), whatever the read size; the sink holds only payload bytes that
/// were in the prefix, and nothing before the envelope passed. A package
/// whose envelope is rejected (bad signature) and then truncated gets the
/// envelope's code once the envelope is complete, and the sink nothing.
#[test]
fn lib_truncated_at_every_block_boundary_and_inside_blocks() {
    let b = &fx().bytes;
    let cuts = cut_points(b.len());
    let blocks = b.len() / BLOCK;
    assert!(blocks > 20, "{blocks} blocks");
    assert_eq!(cuts.len(), 4 * blocks, "every block, four offsets");
    let env_end = member(b, ENVELOPE_MEMBER).end();
    let bad_signature = fixture_with_parts(|parts| parts[0].signature[5] ^= 1);
    assert_eq!(bad_signature.len(), b.len());
    let failures: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|w| {
                let cuts = &cuts;
                let bad_signature = &bad_signature;
                scope.spawn(move || {
                    let mut failures = Vec::new();
                    for &cut in cuts.iter().skip(w).step_by(2) {
                        let chunk = [4096usize, 512, 333, 1 << 20][(cut / BLOCK) % 4];
                        let run = run_lib(&b[..cut], &fx().pki, &[], chunk, |_| {});
                        let sink: Vec<_> = run
                            .sink
                            .iter()
                            .filter(|(_, d)| !d.is_empty())
                            .cloned()
                            .collect();
                        if run.result.as_ref().err() != Some(&VerifyError::Truncated) {
                            failures.push(format!("cut {cut}: {}", run.code()));
                        } else if sink != releasable(cut) {
                            failures.push(format!("cut {cut}: sink {} bytes", run.sink_bytes()));
                        }
                        let run = run_lib(&bad_signature[..cut], &fx().pki, &[], chunk, |_| {});
                        let want = if cut < env_end {
                            VerifyError::Truncated
                        } else {
                            VerifyError::SignatureInvalid { index: 0 }
                        };
                        if run.result.as_ref().err() != Some(&want) || run.sink_bytes() != 0 {
                            failures.push(format!(
                                "bad signature, cut {cut}: {} with {} sink bytes",
                                run.code(),
                                run.sink_bytes()
                            ));
                        }
                    }
                    failures
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    assert!(failures.is_empty(), "{failures:#?}");
    // A sample through the CLI.
    for cut in [
        0,
        1,
        BLOCK,
        env_end - 1,
        env_end,
        env_end + 100,
        b.len() - BLOCK,
        b.len() - 1,
    ] {
        rejected(
            &verify(&put(&format!("cut-{cut}"), &b[..cut]), &[]),
            "container-truncated",
        );
    }
}
