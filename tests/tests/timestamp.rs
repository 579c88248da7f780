//! RFC 3161 timestamps end to end (spec/format.md section 7, spec/policy.md
//! section 5), with real parts only:
//!
//! - time-stamp authorities are `otaseal tsa serve` processes on
//!   127.0.0.1:0 (killed by a drop guard), and `openssl ts -reply` as the
//!   independent TSA;
//! - packages are signed with `otaseal sign --tsa` / per-signer `tsa=`, or
//!   stamped afterwards with `otaseal timestamp`, and checked with
//!   `otaseal verify --tsa-trust --json` and `otaseal inspect`;
//! - broken TSAs (garbage, silence, replayed answers) are small scripted
//!   HTTP servers in the test process ([`HttpStub`]).
//!
//! Tokens no TSA would issue (a TSA certificate without the critical EKU, a
//! SigningCertificateV2 naming another certificate) are real tokens edited
//! with the `cms` crate and, where the signed attributes change, re-signed
//! with the TSA's own key; see `tsa_eku_not_critical` and `cert_binding`.
//!
//! Tests that need `openssl` print a note and pass when it is missing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::ContentInfo;
use cms::signed_data::{CertificateSet, SignedData, SignerIdentifier, SignerInfos};
use der::asn1::{Any, OctetString, SetOfVec};
use der::{Decode, Encode};
use otaseal_manifest::container::ENVELOPE_MEMBER;
use otaseal_manifest::envelope::{Sign1Parts, encode_envelope, signature_field};
use otaseal_manifest::{DigestAlg, Envelope};
use otaseal_sign::keys::SigningKey;
use otaseal_sign::pki::{self, CertProfile, CertRequest, ID_KP_TIME_STAMPING};
use otaseal_tests::*;
use otaseal_tsa::protocol::{EssCertIdV2, IssuerSerial, SigningCertificateV2, oid};
use otaseal_verify::digest::hash;
use serde_json::Value;
use x509_cert::Certificate;
use x509_cert::ext::pkix::name::GeneralName;

const DAY: u64 = 86_400;

/// Runs `otaseal` with proxies disabled (every TSA here is on 127.0.0.1).
fn ots<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut cmd = Command::new(otaseal_bin());
    cmd.args(args);
    for var in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("NO_PROXY", "*").env("no_proxy", "*");
    run_command(&mut cmd)
}

/// Parses the `YYYY-MM-DDTHH:MM:SSZ` times otaseal prints.
#[track_caller]
fn parse_time(text: &str) -> u64 {
    let b = text.as_bytes();
    assert!(
        b.len() == 20 && b[4] == b'-' && b[10] == b'T' && b[19] == b'Z',
        "not a whole-second UTC time: {text:?}"
    );
    let n = |r: std::ops::Range<usize>| -> i64 { text[r].parse().expect("digits") };
    let (year, month, day) = (n(0..4), n(5..7), n(8..10));
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    (days * DAY as i64 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19)) as u64
}

// ---------------------------------------------------------------------------
// Fixtures: one development PKI (certificates valid for one day), and two
// packages over the same payload: stamped by the ECDSA and SM2 TSAs, and
// not stamped. TSA processes live only as long as the code that needs them.
// ---------------------------------------------------------------------------

const SUITES: &str = "ecdsa-p256,sm2,ml-dsa-65";

/// `otaseal pki init --days 1` for ecdsa-p256, sm2 and ml-dsa-65.
fn pki() -> &'static Path {
    static PKI: OnceLock<PathBuf> = OnceLock::new();
    PKI.get_or_init(|| {
        let dir = test_dir("ts-pki").join("pki");
        ots([
            "pki",
            "init",
            "--dir",
            s(&dir),
            "--days",
            "1",
            "--suites",
            SUITES,
        ])
        .expect_code(0);
        dir
    })
}

/// A second, unrelated development PKI (ecdsa-p256).
fn other_pki() -> &'static Path {
    static PKI: OnceLock<PathBuf> = OnceLock::new();
    PKI.get_or_init(|| {
        let dir = test_dir("ts-other-pki").join("pki");
        ots(["pki", "init", "--dir", s(&dir), "--suites", "ecdsa-p256"]).expect_code(0);
        dir
    })
}

fn pki_file(pki: &Path, suite: &str, name: &str) -> PathBuf {
    pki.join(suite).join(name)
}

/// `otaseal tsa serve` with the PKI's TSA key and certificate for `suite`.
fn dev_tsa(dir: &Path, pki: &Path, suite: &str) -> TsaServer {
    start_tsa(
        dir,
        suite,
        &pki_file(pki, suite, "tsa.key.pem"),
        &pki_file(pki, suite, "tsa.chain.pem"),
    )
}

/// `key=...,cert=...[,tsa=URL]` for the PKI's signer of `suite`.
fn signer(pki: &Path, suite: &str, tsa: Option<&str>) -> String {
    let mut spec = format!(
        "key={},cert={}",
        s(&pki_file(pki, suite, "signer.key.pem")),
        s(&pki_file(pki, suite, "signer.chain.pem"))
    );
    if let Some(url) = tsa {
        spec.push_str(",tsa=");
        spec.push_str(url);
    }
    spec
}

/// `otaseal sign` with fixed product data; `extra` goes before the payload.
fn sign(out: &Path, signers: &[String], extra: &[&str], payload: &Path) -> Run {
    let mut args: Vec<String> = [
        "sign",
        "--out",
        s(out),
        "--product",
        "acme.ts-test",
        "--version",
        "1.0.0",
        "--security-version",
        "3",
        "--hw-compat",
        "rev-a",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    for sp in signers {
        args.push("--signer".into());
        args.push(sp.clone());
    }
    args.extend(extra.iter().map(|a| a.to_string()));
    args.push(s(payload).into());
    ots(&args)
}

/// `otaseal verify PKG --trust pki/roots.pem --json EXTRA...`.
fn verify(pki: &Path, pkg: &Path, extra: &[&str]) -> Run {
    let roots = pki.join("roots.pem");
    let mut args = vec!["verify", s(pkg), "--trust", s(&roots), "--json"];
    args.extend_from_slice(extra);
    ots(&args)
}

fn tsa_roots(pki: &Path) -> PathBuf {
    pki.join("tsa-roots.pem")
}

#[track_caller]
fn accepted(run: &Run) -> Value {
    run.expect_code(0);
    let j = run.json();
    assert_eq!(j["verdict"], "accepted", "{}", run.stdout);
    assert_eq!(j["code"], "ok");
    j
}

#[track_caller]
fn rejected(run: &Run, code: &str) -> Value {
    run.expect_code(1);
    let j = run.json();
    assert_eq!(j["verdict"], "rejected", "{}", run.stdout);
    assert_eq!(j["code"], code, "{}", run.stdout);
    j
}

struct Fixture {
    payload: PathBuf,
    /// ecdsa-p256 + sm2, each stamped by the TSA of its own family.
    stamped: PathBuf,
    /// The same payload and signers, no tokens.
    plain: PathBuf,
}

fn fx() -> &'static Fixture {
    static FX: OnceLock<Fixture> = OnceLock::new();
    FX.get_or_init(|| {
        let pki = pki();
        let dir = test_dir("ts-fixture");
        let payload = write_file(&dir, "fw.bin", &pseudo_random(6000, 11));
        let stamped = dir.join("stamped.ota");
        let plain = dir.join("plain.ota");
        {
            let ecdsa = dev_tsa(&dir, pki, "ecdsa-p256");
            let sm2 = dev_tsa(&dir, pki, "sm2");
            sign(
                &stamped,
                &[
                    signer(pki, "ecdsa-p256", Some(&ecdsa.url)),
                    signer(pki, "sm2", Some(&sm2.url)),
                ],
                &[],
                &payload,
            )
            .expect_code(0);
        }
        sign(
            &plain,
            &[signer(pki, "ecdsa-p256", None), signer(pki, "sm2", None)],
            &[],
            &payload,
        )
        .expect_code(0);
        Fixture {
            payload,
            stamped,
            plain,
        }
    })
}

// ---------------------------------------------------------------------------
// Envelope access with otaseal-manifest's decoder and encoder.
// ---------------------------------------------------------------------------

fn envelope_of(package: &[u8]) -> Vec<u8> {
    let m = tar_members(package)
        .into_iter()
        .find(|m| m.name == ENVELOPE_MEMBER)
        .expect("envelope member");
    package[m.data..m.data + m.size].to_vec()
}

/// The signatures of a package as encoder input.
fn parts_of(package: &Path) -> (Vec<u8>, Vec<Sign1Parts>) {
    let env = envelope_of(&read_file(package));
    let e = Envelope::decode(&env).expect("envelope decodes");
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

/// The tokens of every signature.
fn tokens(package: &Path) -> Vec<Option<Vec<u8>>> {
    parts_of(package)
        .1
        .into_iter()
        .map(|p| p.timestamp)
        .collect()
}

/// The encoded COSE `signature` field (bstr head included) of every
/// signature: what a `3161-ctt` token's imprint covers.
fn signature_fields(package: &Path) -> Vec<Vec<u8>> {
    let env = envelope_of(&read_file(package));
    let e = Envelope::decode(&env).expect("envelope decodes");
    e.signatures
        .iter()
        .map(|s| {
            assert_eq!(s.signature_field, signature_field(s.signature).as_slice());
            s.signature_field.to_vec()
        })
        .collect()
}

/// Writes `out`: `package` with its signatures edited by `edit` (the
/// container rewritten by otaseal-sign's `replace_envelope`).
fn edit_package(package: &Path, out: &Path, edit: impl FnOnce(&mut Vec<Sign1Parts>)) {
    let (manifest, mut parts) = parts_of(package);
    edit(&mut parts);
    let envelope = encode_envelope(&manifest, &parts);
    otaseal_sign::package::replace_envelope(package, &envelope, out).expect("replace envelope");
}

/// `package` with the token of signature `index` replaced.
fn with_token(package: &Path, out: &Path, index: usize, token: Option<Vec<u8>>) {
    edit_package(package, out, |parts| parts[index].timestamp = token);
}

/// Asserts that `after` carries exactly the manifest, protected headers,
/// signatures and payload bytes of `before` (only tokens may differ).
#[track_caller]
fn assert_same_signed_content(before: &[u8], after: &[u8]) {
    let (env_a, env_b) = (envelope_of(before), envelope_of(after));
    let (a, b) = (
        Envelope::decode(&env_a).unwrap(),
        Envelope::decode(&env_b).unwrap(),
    );
    assert_eq!(a.manifest, b.manifest, "manifest changed");
    assert_eq!(a.signatures.len(), b.signatures.len());
    for (x, y) in a.signatures.iter().zip(&b.signatures) {
        assert_eq!(x.protected, y.protected, "protected header changed");
        assert_eq!(x.signature, y.signature, "signature changed");
        assert_eq!(x.signature_field, y.signature_field);
    }
    // Payload members (headers, data, padding) and the end blocks.
    let (ma, mb) = (tar_members(before), tar_members(after));
    assert_eq!(ma.len(), mb.len());
    assert_eq!(
        &before[ma[1].header..],
        &after[mb[1].header..],
        "payload region changed"
    );
}

// ---------------------------------------------------------------------------
// CMS editing of real tokens.
// ---------------------------------------------------------------------------

/// Decodes a token's SignedData, lets `edit` change it and re-encodes.
fn edit_token(token: &[u8], edit: impl FnOnce(&mut SignedData)) -> Vec<u8> {
    let ci = ContentInfo::from_der(token).expect("token is a ContentInfo");
    let mut sd: SignedData = ci.content.decode_as().expect("SignedData");
    edit(&mut sd);
    ContentInfo {
        content_type: ci.content_type,
        content: Any::encode_from(&sd).unwrap(),
    }
    .to_der()
    .unwrap()
}

fn cert_set(ders: &[&[u8]]) -> CertificateSet {
    let certs: Vec<CertificateChoices> = ders
        .iter()
        .map(|d| CertificateChoices::Certificate(Certificate::from_der(d).unwrap()))
        .collect();
    CertificateSet::try_from(certs).unwrap()
}

/// What a TSA holding `key` and certificate `cert_der` would have issued
/// for the same TSTInfo: the SignerInfo's sid and SigningCertificateV2 name
/// `cert_der`, the certificates are `[cert_der]`, and the signed attributes
/// are re-signed with `key`.
fn reissue_token(sd: &mut SignedData, cert_der: &[u8], key: &SigningKey) {
    let cert = Certificate::from_der(cert_der).unwrap();
    let tbs = cert.tbs_certificate();
    let ess = SigningCertificateV2 {
        certs: vec![EssCertIdV2 {
            hash_algorithm: None,
            cert_hash: OctetString::new(hash(DigestAlg::Sha256, cert_der).as_bytes()).unwrap(),
            issuer_serial: Some(IssuerSerial {
                issuer: vec![GeneralName::DirectoryName(tbs.issuer().clone())],
                serial_number: tbs.serial_number().clone(),
            }),
        }],
        policies: None,
    };
    let mut infos = sd.signer_infos.0.clone().into_vec();
    assert_eq!(infos.len(), 1);
    let si = &mut infos[0];
    si.sid = SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
        issuer: tbs.issuer().clone(),
        serial_number: tbs.serial_number().clone(),
    });
    let mut attrs = si
        .signed_attrs
        .take()
        .expect("signed attributes")
        .into_vec();
    let ess_attr = attrs
        .iter_mut()
        .find(|a| a.oid == oid::SIGNING_CERTIFICATE_V2)
        .expect("SigningCertificateV2 attribute");
    ess_attr.values = SetOfVec::try_from(vec![Any::encode_from(&ess).unwrap()]).unwrap();
    let attrs = SetOfVec::try_from(attrs).unwrap();
    let (signature, _alg) = key.sign_x509(&attrs.to_der().unwrap()).unwrap();
    si.signature = OctetString::new(signature).unwrap();
    si.signed_attrs = Some(attrs);
    sd.signer_infos = SignerInfos::try_from(infos).unwrap();
    sd.certificates = Some(cert_set(&[cert_der]));
}

fn load_cert(path: &Path) -> Vec<u8> {
    pki::certs_from_pem(&std::fs::read_to_string(path).unwrap())
        .unwrap()
        .remove(0)
}

fn load_key(path: &Path) -> SigningKey {
    SigningKey::load(path).expect("load key")
}

// ---------------------------------------------------------------------------
// OpenSSL as the independent TSA.
// ---------------------------------------------------------------------------

const OSSL_EXT: &str = "\
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[tsa]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = critical,timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
";

/// A P-256 TSA made with `openssl req` / `x509`: root and TSA certificate
/// (critical timeStamping EKU), keys as PKCS#8 PEM.
struct OsslTsa {
    root_pem: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn ossl_tsa() -> &'static OsslTsa {
    static TSA: OnceLock<OsslTsa> = OnceLock::new();
    TSA.get_or_init(|| {
        let dir = test_dir("ts-openssl-tsa");
        write_file(&dir, "ext.cnf", OSSL_EXT.as_bytes());
        let p256 = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"];
        for key in ["root.key", "tsa.key"] {
            let mut args = vec!["genpkey", "-out", key];
            args.extend(p256);
            openssl(&dir, &args);
        }
        openssl(
            &dir,
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                "root.key",
                "-subj",
                "/O=otaseal interop/CN=OpenSSL TSA root",
                "-days",
                "30",
                "-config",
                "ext.cnf",
                "-extensions",
                "ca",
                "-sha256",
                "-out",
                "root.pem",
            ],
        );
        openssl(
            &dir,
            &[
                "req",
                "-new",
                "-key",
                "tsa.key",
                "-subj",
                "/O=otaseal interop/CN=OpenSSL TSA",
                "-out",
                "tsa.csr",
            ],
        );
        openssl(
            &dir,
            &[
                "x509",
                "-req",
                "-in",
                "tsa.csr",
                "-CA",
                "root.pem",
                "-CAkey",
                "root.key",
                "-set_serial",
                "2",
                "-days",
                "30",
                "-extfile",
                "ext.cnf",
                "-extensions",
                "tsa",
                "-sha256",
                "-out",
                "tsa.pem",
            ],
        );
        OsslTsa {
            root_pem: dir.join("root.pem"),
            cert: dir.join("tsa.pem"),
            key: dir.join("tsa.key"),
        }
    })
}

/// `openssl ts -query -data DATA HASH -cert`, then `ts -reply` by the TSA
/// with `cert` and `key` (`signer_digest` `md`), in `work` (its own serial
/// file). The token, or OpenSSL's complaint.
fn ossl_stamp(
    work: &Path,
    cert: &Path,
    key: &Path,
    md: &str,
    data: &[u8],
    hash_flag: &str,
) -> Result<Vec<u8>, String> {
    let conf = format!(
        "\
[tsa]
default_tsa = tsa_config1
[tsa_config1]
serial = ./tsa-serial
crypto_device = builtin
signer_cert = {}
signer_key = {}
signer_digest = {md}
default_policy = 1.2.3.4.1
other_policies = 1.2.3.4.5
digests = sha256, sha384, sha512, sm3
accuracy = secs:1
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
",
        s(cert),
        s(key)
    );
    write_file(work, "tsa.cnf", conf.as_bytes());
    if !work.join("tsa-serial").exists() {
        write_file(work, "tsa-serial", b"00\n");
    }
    write_file(work, "data.bin", data);
    let _ = std::fs::remove_file(work.join("resp.tsr"));
    openssl(
        work,
        &[
            "ts", "-query", "-data", "data.bin", hash_flag, "-cert", "-out", "req.tsq",
        ],
    );
    // `ts -reply` exits 0 after writing a rejection when signing fails;
    // extracting the token then fails.
    let reply = run_command(
        Command::new("openssl")
            .args([
                "ts",
                "-reply",
                "-config",
                "tsa.cnf",
                "-queryfile",
                "req.tsq",
                "-out",
                "resp.tsr",
            ])
            .current_dir(work),
    );
    if reply.code != 0 {
        return Err(reply.stderr);
    }
    let out = run_command(
        Command::new("openssl")
            .args([
                "ts",
                "-reply",
                "-in",
                "resp.tsr",
                "-token_out",
                "-out",
                "tok.der",
            ])
            .current_dir(work),
    );
    if out.code != 0 {
        return Err(format!("{}\n{}", reply.stderr, out.stderr));
    }
    Ok(read_file(&work.join("tok.der")))
}

fn openssl_is_3_0() -> bool {
    run_command(Command::new("openssl").arg("version"))
        .stdout
        .starts_with("OpenSSL 3.0.")
}

// ===========================================================================
// 1. The scenario: one-day certificates, a package installable two years on.
// ===========================================================================

/// `pki init --days 1`; ECDSA, SM2 and ML-DSA-65 TSAs from that PKI; a
/// package signed with ecdsa-p256 (`--tsa`), sm2 (`tsa=` SM2 TSA) and
/// ml-dsa-65 (`tsa=` ML-DSA TSA) verifies two years later, checked at each
/// token's genTime. The same package without tokens is rejected then.
#[test]
fn scenario_timestamps_outlive_one_day_certificates() {
    let dir = test_dir("ts-scenario");
    let pki = dir.join("pki");
    ots([
        "pki",
        "init",
        "--dir",
        s(&pki),
        "--days",
        "1",
        "--suites",
        SUITES,
    ])
    .expect_code(0);
    let ecdsa = dev_tsa(&dir, &pki, "ecdsa-p256");
    let sm2 = dev_tsa(&dir, &pki, "sm2");
    let mldsa = dev_tsa(&dir, &pki, "ml-dsa-65");
    let fw = write_file(&dir, "fw.bin", &pseudo_random(70_000, 1));

    let stamped = dir.join("stamped.ota");
    let t0 = unix_now();
    let run = sign(
        &stamped,
        &[
            signer(&pki, "ecdsa-p256", None),
            signer(&pki, "sm2", Some(&sm2.url)),
            signer(&pki, "ml-dsa-65", Some(&mldsa.url)),
        ],
        &["--tsa", &ecdsa.url, "--json"],
        &fw,
    );
    run.expect_code(0);
    let t1 = unix_now();
    let signed = run.json();
    for s in signed["signers"].as_array().unwrap() {
        assert_eq!(s["timestamped"], true, "{s}");
    }
    let plain = dir.join("plain.ota");
    sign(
        &plain,
        &[
            signer(&pki, "ecdsa-p256", None),
            signer(&pki, "sm2", None),
            signer(&pki, "ml-dsa-65", None),
        ],
        &[],
        &fw,
    )
    .expect_code(0);

    // Two years on: the one-day certificates expired long ago.
    let later = rfc3339(unix_now() + 2 * 365 * DAY);
    let tsa_trust = tsa_roots(&pki);
    let j = accepted(&verify(
        &pki,
        &stamped,
        &[
            "--tsa-trust",
            s(&tsa_trust),
            "--at",
            &later,
            "--require-timestamp",
        ],
    ));
    assert_eq!(j["time"], later);
    assert_eq!(j["time_source"], "--at");
    let expected = [
        ("ecdsa-p256", "otaseal dev TSA (ecdsa-p256)", "sha-256"),
        ("sm2", "otaseal dev TSA (sm2)", "sm3"),
        ("ml-dsa-65", "otaseal dev TSA (ml-dsa-65)", "sha-512"),
    ];
    let sigs = j["signatures"].as_array().unwrap();
    assert_eq!(sigs.len(), 3);
    let mut serials = Vec::new();
    for (sig, (suite, tsa, imprint)) in sigs.iter().zip(expected) {
        assert_eq!(sig["suite"], suite, "{sig}");
        assert_eq!(sig["status"], "valid", "{sig}");
        assert_eq!(sig["code"], Value::Null, "{sig}");
        assert_eq!(sig["time_source"], "timestamp", "{sig}");
        let ts = &sig["timestamp"];
        assert_eq!(ts["status"], "valid", "{sig}");
        assert_eq!(ts["code"], Value::Null, "{sig}");
        assert_eq!(ts["tsa"], tsa, "{sig}");
        assert_eq!(ts["policy"], "1.2.3.4.1", "{sig}");
        assert_eq!(ts["imprint_alg"], imprint, "{sig}");
        let serial = ts["serial"].as_str().unwrap();
        assert!(
            !serial.is_empty()
                && serial.len() <= 42
                && serial.bytes().all(|b| b.is_ascii_hexdigit()),
            "{sig}"
        );
        serials.push(serial.to_string());
        let gen_time = parse_time(ts["gen_time"].as_str().unwrap());
        assert!(
            t0.saturating_sub(2) <= gen_time && gen_time <= t1 + 2,
            "genTime {gen_time} outside the signing run {t0}..{t1}"
        );
        // The certificates were checked at genTime, not at --at.
        assert_eq!(sig["checked_at"], ts["gen_time"], "{sig}");
    }
    serials.sort();
    serials.dedup();
    assert_eq!(serials.len(), 3, "serial numbers repeat");

    // Without tokens: checked at --at, where the leaves have expired.
    let j = rejected(
        &verify(
            &pki,
            &plain,
            &["--tsa-trust", s(&tsa_trust), "--at", &later],
        ),
        "cert-expired",
    );
    for sig in j["signatures"].as_array().unwrap() {
        assert_eq!(sig["timestamp"], Value::Null);
        assert_eq!(sig["time_source"], "--at", "{sig}");
    }
    // Today both are fine.
    accepted(&verify(&pki, &plain, &[]));
    let j = accepted(&verify(&pki, &stamped, &["--tsa-trust", s(&tsa_trust)]));
    for sig in j["signatures"].as_array().unwrap() {
        assert_eq!(sig["time_source"], "timestamp", "{sig}");
    }
    // Two years on, the TSA roots are still needed: without them the tokens
    // are untrusted and the package is rejected.
    rejected(
        &verify(&pki, &stamped, &["--at", &later]),
        "timestamp-untrusted",
    );
}

// ===========================================================================
// 2. `otaseal timestamp`: tokens added after signing.
// ===========================================================================

#[test]
fn timestamp_command_adds_tokens_without_touching_signatures() {
    let (pki, fx) = (pki(), fx());
    let dir = test_dir("ts-command");
    let ecdsa = dev_tsa(&dir, pki, "ecdsa-p256");
    let sm2 = dev_tsa(&dir, pki, "sm2");
    let tsa_trust = tsa_roots(pki);
    let original = read_file(&fx.plain);
    assert_eq!(tokens(&fx.plain), vec![None, None]);

    // --out: a new package, the input untouched.
    let out = dir.join("out.ota");
    let run = ots([
        "timestamp",
        s(&fx.plain),
        "--tsa",
        &ecdsa.url,
        "--out",
        s(&out),
        "--json",
    ]);
    run.expect_code(0);
    let j = run.json();
    assert_eq!(j["timestamped"], serde_json::json!(["ecdsa-p256", "sm2"]));
    assert_eq!(j["size"], read_file(&out).len());
    assert_eq!(read_file(&fx.plain), original, "input changed");
    let stamped = read_file(&out);
    assert_same_signed_content(&original, &stamped);
    assert!(tokens(&out).iter().all(Option::is_some));
    let j = accepted(&verify(
        pki,
        &out,
        &["--tsa-trust", s(&tsa_trust), "--require-timestamp"],
    ));
    for sig in j["signatures"].as_array().unwrap() {
        assert_eq!(sig["timestamp"]["tsa"], "otaseal dev TSA (ecdsa-p256)");
        assert_eq!(sig["time_source"], "timestamp");
    }

    // In place: an SM2 TSA stamps both (any trusted TSA may, with the
    // imprint hash of the signature's own suite).
    let inplace = dir.join("inplace.ota");
    std::fs::copy(&fx.plain, &inplace).unwrap();
    let run = ots(["timestamp", s(&inplace), "--tsa", &sm2.url]);
    run.expect_code(0);
    assert!(
        run.stdout
            .contains("timestamped 2 signature(s) (ecdsa-p256, sm2)"),
        "{}",
        run.stdout
    );
    assert_same_signed_content(&original, &read_file(&inplace));
    accepted(&verify(
        pki,
        &inplace,
        &["--tsa-trust", s(&tsa_trust), "--require-timestamp"],
    ));
    let run = ots(["inspect", s(&inplace), "--json"]);
    run.expect_code(0);
    let j = run.json();
    assert_eq!(j["verified"], false);
    let sigs = j["signatures"].as_array().unwrap();
    for (sig, imprint) in sigs.iter().zip(["sha-256", "sm3"]) {
        let ts = &sig["timestamp"];
        assert_eq!(ts["tsa"], "otaseal dev TSA (sm2)", "{sig}");
        assert_eq!(ts["imprint_alg"], imprint, "{sig}");
        assert_eq!(ts["policy"], "1.2.3.4.1", "{sig}");
        assert!(ts["serial"].as_str().is_some_and(|s| !s.is_empty()));
        parse_time(ts["gen_time"].as_str().unwrap());
    }

    // Again: every signature has a token, nothing changes.
    let before = read_file(&inplace);
    let run = ots(["timestamp", s(&inplace), "--tsa", &ecdsa.url]);
    run.expect_code(0);
    assert!(
        run.stdout.contains("timestamped 0 signature(s)"),
        "{}",
        run.stdout
    );
    assert_eq!(tokens(&inplace), tokens_of_bytes(&before));

    // --replace: new tokens (from the ECDSA TSA), same signatures.
    ots(["timestamp", s(&inplace), "--tsa", &ecdsa.url, "--replace"]).expect_code(0);
    let after = read_file(&inplace);
    assert_same_signed_content(&original, &after);
    assert_ne!(tokens(&inplace), tokens_of_bytes(&before));
    let j = accepted(&verify(
        pki,
        &inplace,
        &["--tsa-trust", s(&tsa_trust), "--require-timestamp"],
    ));
    assert_eq!(
        j["signatures"][1]["timestamp"]["tsa"],
        "otaseal dev TSA (ecdsa-p256)"
    );

    // --out onto an existing file needs --force.
    let run = ots([
        "timestamp",
        s(&fx.plain),
        "--tsa",
        &ecdsa.url,
        "--out",
        s(&out),
    ]);
    run.expect_code(2);
    assert!(run.stderr.contains("--force"), "{}", run.stderr);
    assert_eq!(read_file(&out), stamped);
}

fn tokens_of_bytes(package: &[u8]) -> Vec<Option<Vec<u8>>> {
    let env = envelope_of(package);
    Envelope::decode(&env)
        .unwrap()
        .signatures
        .iter()
        .map(|s| s.timestamp.map(<[u8]>::to_vec))
        .collect()
}

// ===========================================================================
// 3. Interoperability with OpenSSL's TSA.
// ===========================================================================

/// Tokens from `openssl ts -reply` over the signature fields (SHA-256 for
/// ecdsa-p256, SM3 for sm2), put in the package, verify in otaseal with the
/// OpenSSL TSA root, and only with it.
#[test]
fn openssl_tokens_verify_in_otaseal() {
    require_openssl!();
    let (pki, fx, o) = (pki(), fx(), ossl_tsa());
    let dir = test_dir("ts-openssl-to-otaseal");
    let fields = signature_fields(&fx.plain);
    let tok_p256 = ossl_stamp(&dir, &o.cert, &o.key, "sha256", &fields[0], "-sha256").unwrap();
    let tok_sm2 = ossl_stamp(&dir, &o.cert, &o.key, "sha256", &fields[1], "-sm3").unwrap();

    // OpenSSL itself agrees that the tokens cover those bytes.
    write_file(&dir, "field0.bin", &fields[0]);
    write_file(&dir, "tok0.der", &tok_p256);
    openssl(
        &dir,
        &[
            "ts",
            "-verify",
            "-data",
            "field0.bin",
            "-in",
            "tok0.der",
            "-token_in",
            "-CAfile",
            s(&o.root_pem),
        ],
    );

    let pkg = dir.join("openssl-stamped.ota");
    edit_package(&fx.plain, &pkg, |parts| {
        parts[0].timestamp = Some(tok_p256);
        parts[1].timestamp = Some(tok_sm2);
    });
    assert_same_signed_content(&read_file(&fx.plain), &read_file(&pkg));
    let later = rfc3339(unix_now() + 3 * DAY);
    let j = accepted(&verify(
        pki,
        &pkg,
        &[
            "--tsa-trust",
            s(&o.root_pem),
            "--require-timestamp",
            "--at",
            &later,
        ],
    ));
    for (sig, imprint) in j["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .zip(["sha-256", "sm3"])
    {
        assert_eq!(sig["timestamp"]["tsa"], "OpenSSL TSA", "{sig}");
        assert_eq!(sig["timestamp"]["imprint_alg"], imprint, "{sig}");
        assert_eq!(sig["timestamp"]["policy"], "1.2.3.4.1", "{sig}");
        assert_eq!(sig["time_source"], "timestamp", "{sig}");
    }
    // The otaseal TSA roots do not vouch for OpenSSL's TSA.
    rejected(
        &verify(pki, &pkg, &["--tsa-trust", s(&tsa_roots(pki))]),
        "timestamp-untrusted",
    );
}

/// Tokens from `otaseal tsa serve` (ECDSA) verify with `openssl ts -verify`:
/// the token in a package (over the SHA-256 of the signature field), and a
/// whole reply to a request made by `openssl ts -query`.
#[test]
fn otaseal_tokens_verify_in_openssl() {
    require_openssl!();
    let (pki, fx) = (pki(), fx());
    let dir = test_dir("ts-otaseal-to-openssl");
    let root = pki_file(pki, "ecdsa-p256", "tsa-root.cert.pem");
    let tsa_cert = pki_file(pki, "ecdsa-p256", "tsa.chain.pem");
    let token = tokens(&fx.stamped)[0].clone().unwrap();
    let field = &signature_fields(&fx.stamped)[0];
    write_file(&dir, "tok.der", &token);
    write_file(&dir, "field.bin", field);
    let digest = hex(hash(DigestAlg::Sha256, field).as_bytes());
    let ok = openssl(
        &dir,
        &[
            "ts",
            "-verify",
            "-digest",
            &digest,
            "-in",
            "tok.der",
            "-token_in",
            "-CAfile",
            s(&root),
            "-untrusted",
            s(&tsa_cert),
        ],
    );
    assert!(ok.stdout.contains("Verification: OK"), "{}", ok.stdout);
    openssl(
        &dir,
        &[
            "ts",
            "-verify",
            "-data",
            "field.bin",
            "-in",
            "tok.der",
            "-token_in",
            "-CAfile",
            s(&root),
        ],
    );
    // Another imprint: OpenSSL rejects it too.
    let other = hex(hash(DigestAlg::Sha256, b"other bytes").as_bytes());
    let bad = run_command(
        Command::new("openssl")
            .args([
                "ts",
                "-verify",
                "-digest",
                &other,
                "-in",
                "tok.der",
                "-token_in",
                "-CAfile",
            ])
            .arg(&root)
            .current_dir(&dir),
    );
    assert_ne!(bad.code, 0, "{}", bad.stdout);
    assert!(
        bad.stderr.contains("message imprint mismatch"),
        "{}",
        bad.stderr
    );

    // A request made by OpenSSL (nonce, certReq), answered by otaseal's TSA,
    // checked by OpenSSL against the request.
    let tsa = dev_tsa(&dir, pki, "ecdsa-p256");
    openssl(
        &dir,
        &[
            "ts",
            "-query",
            "-data",
            "field.bin",
            "-sha256",
            "-cert",
            "-out",
            "req.tsq",
        ],
    );
    let (status, reply) = http_post_query(&tsa.url, &read_file(&dir.join("req.tsq")));
    assert_eq!(status, 200);
    write_file(&dir, "resp.tsr", &reply);
    let ok = openssl(
        &dir,
        &[
            "ts",
            "-verify",
            "-queryfile",
            "req.tsq",
            "-in",
            "resp.tsr",
            "-CAfile",
            s(&root),
        ],
    );
    assert!(ok.stdout.contains("Verification: OK"), "{}", ok.stdout);
    let text = openssl(&dir, &["ts", "-reply", "-in", "resp.tsr", "-text"]).stdout;
    assert!(text.contains("Status: Granted."), "{text}");
    // OpenSSL's default configuration names 1.2.3.4.1 `tsa_policy1`.
    assert!(
        text.contains("Policy OID: 1.2.3.4.1") || text.contains("Policy OID: tsa_policy1"),
        "{text}"
    );
    assert!(text.contains("otaseal dev TSA (ecdsa-p256)"), "{text}");
}

/// SM2: otaseal's SM2 TSA tokens (SM2-with-SM3 SignerInfo, the GM/T default
/// distinguishing id) verify in otaseal. OpenSSL 3.0 can neither sign SM2
/// tokens (`ts -reply`: "signing not supported for this key type",
/// crypto/pkcs7/pk7_lib.c) nor verify the standard ones (`ts -verify` sets
/// no distinguishing id for the certificate chain, and checks the
/// SignerInfo's SM2 signature without Z). Those are recorded as the
/// expected limitations (with OpenSSL's own reasons); a later OpenSSL that
/// verifies is reported, and a token it signs must be accepted by otaseal.
#[test]
fn sm2_tokens_verify_in_otaseal_and_openssl_3_0_limits() {
    let (pki, fx) = (pki(), fx());
    let j = accepted(&verify(
        pki,
        &fx.stamped,
        &[
            "--tsa-trust",
            s(&tsa_roots(pki)),
            "--require",
            "sm2",
            "--require-timestamp",
        ],
    ));
    let sm2 = &j["signatures"][1];
    assert_eq!(sm2["suite"], "sm2");
    assert_eq!(sm2["timestamp"]["tsa"], "otaseal dev TSA (sm2)");
    assert_eq!(sm2["timestamp"]["imprint_alg"], "sm3");
    assert_eq!(sm2["timestamp"]["status"], "valid");

    require_openssl!();
    let dir = test_dir("ts-sm2-openssl");
    let token = tokens(&fx.stamped)[1].clone().unwrap();
    let field = &signature_fields(&fx.stamped)[1];
    write_file(&dir, "sm2tok.der", &token);
    let digest = hex(hash(DigestAlg::Sm3, field).as_bytes());
    let root = pki_file(pki, "sm2", "tsa-root.cert.pem");
    let verified = run_command(
        Command::new("openssl")
            .args([
                "ts",
                "-verify",
                "-digest",
                &digest,
                "-in",
                "sm2tok.der",
                "-token_in",
                "-CAfile",
            ])
            .arg(&root)
            .current_dir(&dir),
    );
    let is_3_0 = openssl_is_3_0();
    if verified.code == 0 {
        assert!(!is_3_0, "OpenSSL 3.0 was expected to fail here");
        eprintln!("note: this OpenSSL verifies otaseal's SM2 token");
    } else {
        // The limitation as OpenSSL reports it (3.0; a later version that
        // still fails must fail for the same reason, not a bad command).
        assert_eq!(verified.code, 1, "{}", verified.stderr);
        assert!(
            verified.stderr.contains("signature failure")
                || verified.stderr.contains("certificate verify error"),
            "{}",
            verified.stderr
        );
        if !is_3_0 {
            eprintln!("note: this OpenSSL does not verify otaseal's SM2 token");
        }
    }

    // OpenSSL as an SM2 TSA, with the development PKI's SM2 TSA key.
    let stamped = ossl_stamp(
        &dir,
        &pki_file(pki, "sm2", "tsa.chain.pem"),
        &pki_file(pki, "sm2", "tsa.key.pem"),
        "sm3",
        field,
        "-sm3",
    );
    match stamped {
        Err(e) => {
            assert!(
                e.contains("signing not supported for this key type"),
                "unexpected OpenSSL failure: {e}"
            );
        }
        Ok(tok) => {
            assert!(!is_3_0, "OpenSSL 3.0 was expected not to sign SM2 tokens");
            let pkg = dir.join("openssl-sm2.ota");
            with_token(&fx.plain, &pkg, 1, Some(tok));
            // A standard SM2 token (SM3, the GM/T default id) from an
            // independent TSA must be accepted as otaseal's own.
            let j = accepted(&verify(
                pki,
                &pkg,
                &[
                    "--tsa-trust",
                    s(&tsa_roots(pki)),
                    "--require",
                    "sm2",
                    "--require-timestamp",
                ],
            ));
            assert_eq!(j["signatures"][1]["suite"], "sm2");
            assert_eq!(j["signatures"][1]["timestamp"]["status"], "valid");
        }
    }
}

// ===========================================================================
// 4. Tampering: each with its own rejection code.
// ===========================================================================

/// The token of package A's ecdsa-p256 signature moved onto package B's.
#[test]
fn token_of_another_signature_is_rejected() {
    let (pki, fx) = (pki(), fx());
    let dir = test_dir("ts-moved-token");
    let other_payload = write_file(&dir, "other.bin", &pseudo_random(6000, 12));
    let b = dir.join("b.ota");
    sign(
        &b,
        &[signer(pki, "ecdsa-p256", None), signer(pki, "sm2", None)],
        &[],
        &other_payload,
    )
    .expect_code(0);
    assert_ne!(signature_fields(&b)[0], signature_fields(&fx.stamped)[0]);
    let moved = dir.join("moved.ota");
    let token = tokens(&fx.stamped)[0].clone();
    with_token(&b, &moved, 0, token);
    let j = rejected(
        &verify(pki, &moved, &["--tsa-trust", s(&tsa_roots(pki))]),
        "timestamp-imprint-mismatch",
    );
    assert_eq!(j["signatures"][0]["status"], "invalid");
    assert_eq!(j["signatures"][0]["timestamp"]["status"], "invalid");
    assert_eq!(
        j["signatures"][0]["timestamp"]["code"],
        "timestamp-imprint-mismatch"
    );
}

/// A token from a TSA whose root is not among the TSA roots.
#[test]
fn token_from_untrusted_tsa_is_rejected() {
    let (pki, fx) = (pki(), fx());
    let other = other_pki();
    // Another TSA root only.
    let j = rejected(
        &verify(pki, &fx.stamped, &["--tsa-trust", s(&tsa_roots(other))]),
        "timestamp-untrusted",
    );
    assert_eq!(j["signatures"][0]["status"], "untrusted");
    assert_eq!(j["signatures"][0]["timestamp"]["status"], "untrusted");
    assert_eq!(
        j["signatures"][0]["timestamp"]["code"],
        "timestamp-untrusted"
    );
    // The code-signing roots are not TSA roots.
    rejected(
        &verify(
            pki,
            &fx.stamped,
            &["--tsa-trust", s(&pki.join("roots.pem"))],
        ),
        "timestamp-untrusted",
    );
    // No TSA root at all: a present token is never ignored.
    rejected(&verify(pki, &fx.stamped, &[]), "timestamp-untrusted");
    // The ECDSA TSA root alone: the SM2 token is the untrusted one.
    let j = rejected(
        &verify(
            pki,
            &fx.stamped,
            &[
                "--tsa-trust",
                s(&pki_file(pki, "ecdsa-p256", "tsa-root.cert.pem")),
            ],
        ),
        "timestamp-untrusted",
    );
    assert_eq!(j["signatures"][0]["status"], "valid");
    assert_eq!(j["signatures"][1]["status"], "untrusted");
}

/// A TSA certificate whose timeStamping EKU is not critical.
///
/// Nobody issues such tokens: `otaseal tsa serve` refuses the certificate
/// (asserted below) and so does `openssl ts -reply` ("invalid signer
/// certificate purpose", see otaseal-verify's unit tests). The token is
/// therefore a real one from the otaseal TSA, re-issued for certificate B
/// (same key, `CertProfile::LeafWithEku([timeStamping])`, non-critical,
/// issued by the same TSA root): sid, SigningCertificateV2 and the
/// certificate list name B, and the signed attributes are re-signed with
/// the TSA key. The same re-issuing for a compliant twin is accepted, so
/// the EKU is the only difference.
#[test]
fn tsa_eku_not_critical_is_rejected() {
    let (pki, fx) = (pki(), fx());
    let dir = test_dir("ts-eku");
    let now = unix_now();
    let tsa_key = load_key(&pki_file(pki, "ecdsa-p256", "tsa.key.pem"));
    let root_key = load_key(&pki_file(pki, "ecdsa-p256", "tsa-root.key.pem"));
    let root = load_cert(&pki_file(pki, "ecdsa-p256", "tsa-root.cert.pem"));
    let issue = |cn: &str, profile: CertProfile| {
        pki::issue_certificate(&CertRequest {
            subject_cn: cn,
            profile,
            not_before: now - 3600,
            not_after: now + 30 * DAY,
            subject_key: &tsa_key,
            issuer: Some((&root_key, &root)),
            serial: None,
        })
        .unwrap()
    };
    // The subject stays the TSA's: the token's TSTInfo names it (`tsa`).
    let noncrit = issue(
        "otaseal dev TSA (ecdsa-p256)",
        CertProfile::LeafWithEku(vec![ID_KP_TIME_STAMPING]),
    );
    let compliant = issue(
        "otaseal dev TSA (ecdsa-p256)",
        CertProfile::TimeStampingLeaf,
    );

    // otaseal's TSA will not serve with it.
    write_file(
        &dir,
        "noncrit.pem",
        pki::certs_to_pem(std::slice::from_ref(&noncrit)).as_bytes(),
    );
    let err = try_start_tsa(
        &dir,
        "noncrit",
        &pki_file(pki, "ecdsa-p256", "tsa.key.pem"),
        &dir.join("noncrit.pem"),
        &[],
    )
    .err()
    .expect("otaseal tsa serve must refuse a non-critical EKU");
    assert!(err.contains("must be critical"), "{err}");

    let token = tokens(&fx.stamped)[0].clone().unwrap();
    assert_eq!(
        edit_token(&token, |_| {}),
        token,
        "CMS re-encoding is not exact"
    );
    let tsa_trust = tsa_roots(pki);
    // A compliant certificate with another subject than the TSTInfo's
    // `tsa` name.
    let renamed = issue("another TSA name", CertProfile::TimeStampingLeaf);
    for (cert, code) in [
        (&compliant, None),
        (&noncrit, Some("timestamp-tsa-eku")),
        (&renamed, Some("timestamp-tsa-name")),
    ] {
        let edited = edit_token(&token, |sd| reissue_token(sd, cert, &tsa_key));
        let sd: SignedData = ContentInfo::from_der(&edited)
            .unwrap()
            .content
            .decode_as()
            .unwrap();
        let shipped = sd.certificates.unwrap().0.into_vec();
        assert_eq!(shipped.len(), 1);
        assert_eq!(shipped[0].to_der().unwrap(), *cert);
        let pkg = dir.join("eku.ota");
        with_token(&fx.stamped, &pkg, 0, Some(edited));
        let run = verify(pki, &pkg, &["--tsa-trust", s(&tsa_trust)]);
        match code {
            None => {
                accepted(&run);
            }
            Some(code) => {
                let j = rejected(&run, code);
                assert_eq!(j["signatures"][0]["status"], "invalid");
                assert_eq!(j["signatures"][0]["timestamp"]["code"], code);
            }
        }
    }
}

/// genTime outside the code-signing certificate's validity: leaves valid
/// only in the future, or only in the past, with `--created` inside their
/// validity (as the signer requires), stamped now.
#[test]
fn gen_time_outside_signer_validity_is_rejected() {
    let pki = pki();
    let dir = test_dir("ts-outside-validity");
    let tsa = dev_tsa(&dir, pki, "ecdsa-p256");
    let fw = write_file(&dir, "fw.bin", &pseudo_random(3000, 21));
    let now = unix_now();
    let inter_key = load_key(&pki_file(pki, "ecdsa-p256", "intermediate.key.pem"));
    let inter = load_cert(&pki_file(pki, "ecdsa-p256", "intermediate.cert.pem"));
    let signer_key = pki_file(pki, "ecdsa-p256", "signer.key.pem");
    let key = load_key(&signer_key);
    for (name, not_before, not_after) in [
        ("future", now + DAY / 2, now + 2 * DAY),
        ("past", now - 3 * DAY, now - 2 * DAY),
    ] {
        let leaf = pki::issue_certificate(&CertRequest {
            subject_cn: &format!("{name} signer"),
            profile: CertProfile::CodeSigningLeaf,
            not_before,
            not_after,
            subject_key: &key,
            issuer: Some((&inter_key, &inter)),
            serial: None,
        })
        .unwrap();
        let chain = write_file(
            &dir,
            &format!("{name}.chain.pem"),
            pki::certs_to_pem(&[leaf, inter.clone()]).as_bytes(),
        );
        let pkg = dir.join(format!("{name}.ota"));
        let created = rfc3339((not_before + not_after) / 2);
        sign(
            &pkg,
            &[format!("key={},cert={}", s(&signer_key), s(&chain))],
            &["--tsa", &tsa.url, "--created", &created],
            &fw,
        )
        .expect_code(0);
        let j = rejected(
            &verify(pki, &pkg, &["--tsa-trust", s(&tsa_roots(pki))]),
            "timestamp-outside-cert-validity",
        );
        let sig = &j["signatures"][0];
        assert_eq!(sig["code"], "timestamp-outside-cert-validity", "{name}");
        // The token itself is fine, and was the time source.
        assert_eq!(sig["timestamp"]["status"], "valid", "{name}");
        assert_eq!(sig["time_source"], "timestamp", "{name}");
        assert_eq!(sig["checked_at"], sig["timestamp"]["gen_time"], "{name}");
    }
}

/// genTime outside the TSA certificate's validity. OpenSSL's TSA signs with
/// an expired (or not yet valid) certificate without complaint; the
/// certificates are issued by the development PKI's ECDSA TSA root.
#[test]
fn tsa_certificate_outside_its_validity_is_rejected() {
    require_openssl!();
    let (pki, fx) = (pki(), fx());
    let dir = test_dir("ts-tsa-validity");
    let now = unix_now();
    let root_key = load_key(&pki_file(pki, "ecdsa-p256", "tsa-root.key.pem"));
    let root = load_cert(&pki_file(pki, "ecdsa-p256", "tsa-root.cert.pem"));
    openssl(
        &dir,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "tsa.key",
        ],
    );
    let tsa_key = load_key(&dir.join("tsa.key"));
    let field = &signature_fields(&fx.plain)[0];
    for (name, not_before, not_after, code) in [
        (
            "expired",
            now - 3 * DAY,
            now - DAY,
            "timestamp-tsa-cert-expired",
        ),
        (
            "future",
            now + DAY,
            now + 3 * DAY,
            "timestamp-tsa-cert-not-yet-valid",
        ),
    ] {
        let cert = pki::issue_certificate(&CertRequest {
            subject_cn: &format!("{name} TSA"),
            profile: CertProfile::TimeStampingLeaf,
            not_before,
            not_after,
            subject_key: &tsa_key,
            issuer: Some((&root_key, &root)),
            serial: None,
        })
        .unwrap();
        let cert_pem = write_file(
            &dir,
            &format!("{name}.pem"),
            pki::certs_to_pem(&[cert]).as_bytes(),
        );
        let token = ossl_stamp(
            &dir,
            &cert_pem,
            &dir.join("tsa.key"),
            "sha256",
            field,
            "-sha256",
        )
        .unwrap();
        let pkg = dir.join(format!("{name}.ota"));
        with_token(&fx.plain, &pkg, 0, Some(token));
        let j = rejected(
            &verify(pki, &pkg, &["--tsa-trust", s(&tsa_roots(pki))]),
            code,
        );
        assert_eq!(j["signatures"][0]["timestamp"]["code"], code);
    }
}

/// An imprint with another hash than the suite's: SHA-384 (from OpenSSL)
/// over the ecdsa-p256 signature, which requires SHA-256; and the sm2
/// signature's own (SM3) token put on the ecdsa-p256 signature.
#[test]
fn imprint_algorithm_mismatch_is_rejected() {
    require_openssl!();
    let (pki, fx, o) = (pki(), fx(), ossl_tsa());
    let dir = test_dir("ts-imprint-alg");
    let field = &signature_fields(&fx.plain)[0];
    let token = ossl_stamp(&dir, &o.cert, &o.key, "sha256", field, "-sha384").unwrap();
    let pkg = dir.join("sha384.ota");
    with_token(&fx.plain, &pkg, 0, Some(token));
    let j = rejected(
        &verify(pki, &pkg, &["--tsa-trust", s(&o.root_pem)]),
        "timestamp-imprint-algorithm",
    );
    assert_eq!(j["signatures"][0]["timestamp"]["imprint_alg"], "sha-384");

    let swapped = dir.join("swapped.ota");
    let sm2_token = tokens(&fx.stamped)[1].clone();
    with_token(&fx.stamped, &swapped, 0, sm2_token);
    rejected(
        &verify(pki, &swapped, &["--tsa-trust", s(&tsa_roots(pki))]),
        "timestamp-imprint-algorithm",
    );
}

/// SigningCertificateV2 that does not name the TSA certificate. The
/// certificates of a SignedData are outside the signature, so a real
/// otaseal token gets a twin of its TSA certificate in their place: same
/// issuer, serial number, subject and key (so the SignerInfo's sid finds it
/// and its signature still verifies), another validity, so another hash.
#[test]
fn cert_binding_mismatch_is_rejected() {
    let (pki, fx) = (pki(), fx());
    let dir = test_dir("ts-cert-binding");
    let now = unix_now();
    let original = load_cert(&pki_file(pki, "ecdsa-p256", "tsa.chain.pem"));
    let parsed = Certificate::from_der(&original).unwrap();
    let serial = parsed.tbs_certificate().serial_number().as_bytes().to_vec();
    let twin = pki::issue_certificate(&CertRequest {
        subject_cn: "otaseal dev TSA (ecdsa-p256)",
        profile: CertProfile::TimeStampingLeaf,
        not_before: now - 7200,
        not_after: now + 20 * DAY,
        subject_key: &load_key(&pki_file(pki, "ecdsa-p256", "tsa.key.pem")),
        issuer: Some((
            &load_key(&pki_file(pki, "ecdsa-p256", "tsa-root.key.pem")),
            &load_cert(&pki_file(pki, "ecdsa-p256", "tsa-root.cert.pem")),
        )),
        serial: Some(serial),
    })
    .unwrap();
    assert_ne!(twin, original);
    let twin_cert = Certificate::from_der(&twin).unwrap();
    assert_eq!(
        twin_cert.tbs_certificate().serial_number(),
        parsed.tbs_certificate().serial_number()
    );
    assert_eq!(
        twin_cert.tbs_certificate().issuer(),
        parsed.tbs_certificate().issuer()
    );

    let token = tokens(&fx.stamped)[0].clone().unwrap();
    let edited = edit_token(&token, |sd| sd.certificates = Some(cert_set(&[&twin])));
    let pkg = dir.join("twin.ota");
    with_token(&fx.stamped, &pkg, 0, Some(edited));
    let j = rejected(
        &verify(pki, &pkg, &["--tsa-trust", s(&tsa_roots(pki))]),
        "timestamp-cert-binding",
    );
    assert_eq!(
        j["signatures"][0]["timestamp"]["code"],
        "timestamp-cert-binding"
    );
    // Putting the original certificate back restores the token.
    let restored = edit_token(&read_token(&pkg, 0), |sd| {
        sd.certificates = Some(cert_set(&[&original]))
    });
    assert_eq!(restored, token);
}

fn read_token(pkg: &Path, index: usize) -> Vec<u8> {
    tokens(pkg)[index].clone().expect("a token")
}

/// A flipped byte anywhere in the token (signed content, signed attributes,
/// signature, certificate, lengths, OIDs) rejects the package with a
/// `timestamp-*` code.
#[test]
fn flipped_token_bytes_are_rejected() {
    let (pki, fx) = (pki(), fx());
    let dir = test_dir("ts-flip");
    let token = read_token(&fx.stamped, 0);
    let n = token.len();
    let mut positions: Vec<usize> = (0..16).map(|i| i * n / 16).collect();
    positions.extend([1, 5, n / 2 + 3, n - 40, n - 2, n - 1]);
    positions.sort_unstable();
    positions.dedup();
    let tsa_trust = tsa_roots(pki);
    let mut codes = std::collections::BTreeMap::new();
    for &pos in &positions {
        let mut t = token.clone();
        t[pos] ^= 0x01;
        let pkg = dir.join(format!("flip-{pos}.ota"));
        with_token(&fx.stamped, &pkg, 0, Some(t));
        let run = verify(pki, &pkg, &["--tsa-trust", s(&tsa_trust)]);
        run.expect_code(1);
        let j = run.json();
        let code = j["code"].as_str().unwrap().to_string();
        assert!(code.starts_with("timestamp-"), "byte {pos}: {code}");
        assert_eq!(j["signatures"][0]["code"], code.as_str(), "byte {pos}");
        codes.insert(pos, code);
        std::fs::remove_file(&pkg).unwrap();
    }
    eprintln!("flipped byte -> code: {codes:?}");
}

#[test]
fn truncated_token_is_malformed() {
    let (pki, fx) = (pki(), fx());
    let dir = test_dir("ts-truncated");
    let token = read_token(&fx.stamped, 0);
    for len in [token.len() - 1, token.len() / 2, 10, 1] {
        let pkg = dir.join(format!("trunc-{len}.ota"));
        with_token(&fx.stamped, &pkg, 0, Some(token[..len].to_vec()));
        let j = rejected(
            &verify(pki, &pkg, &["--tsa-trust", s(&tsa_roots(pki))]),
            "timestamp-malformed",
        );
        assert_eq!(j["signatures"][0]["timestamp"]["status"], "invalid");
        assert!(
            j["signatures"][0]["timestamp"]["error"].is_string(),
            "{}",
            j["signatures"][0]
        );
    }
    // One byte too many is malformed too.
    let mut longer = token.clone();
    longer.push(0);
    let pkg = dir.join("longer.ota");
    with_token(&fx.stamped, &pkg, 0, Some(longer));
    rejected(
        &verify(pki, &pkg, &["--tsa-trust", s(&tsa_roots(pki))]),
        "timestamp-malformed",
    );
}

#[test]
fn require_timestamp_without_tokens_is_rejected() {
    let (pki, fx) = (pki(), fx());
    let tsa_trust = tsa_roots(pki);
    let j = rejected(
        &verify(
            pki,
            &fx.plain,
            &["--tsa-trust", s(&tsa_trust), "--require-timestamp"],
        ),
        "timestamp-missing",
    );
    assert_eq!(j["signatures"][0]["timestamp"], Value::Null);
    // One signature stamped is not enough either.
    let dir = test_dir("ts-missing");
    let half = dir.join("half.ota");
    with_token(&fx.stamped, &half, 1, None);
    let j = rejected(
        &verify(
            pki,
            &half,
            &["--tsa-trust", s(&tsa_trust), "--require-timestamp"],
        ),
        "timestamp-missing",
    );
    assert_eq!(j["signatures"][0]["status"], "valid");
    assert_eq!(j["signatures"][1]["code"], "timestamp-missing");
    // Optional: the stamped signature uses genTime, the other --at/now.
    let j = accepted(&verify(pki, &half, &["--tsa-trust", s(&tsa_trust)]));
    assert_eq!(j["signatures"][0]["time_source"], "timestamp");
    assert_eq!(j["signatures"][1]["time_source"], "system clock");
    // Per suite (`--require-timestamp=SUITES`): only the sm2 one lacks it.
    let req = |suites: &str, pkg: &Path| {
        let flag = format!("--require-timestamp={suites}");
        verify(pki, pkg, &["--tsa-trust", s(&tsa_trust), &flag])
    };
    accepted(&req("ecdsa-p256", &half));
    let j = rejected(&req("sm2", &half), "timestamp-missing");
    assert_eq!(j["signatures"][1]["code"], "timestamp-missing");
    rejected(&req("ecdsa-p256,sm2", &half), "timestamp-missing");
    accepted(&req("ecdsa-p256,sm2", &fx.stamped));
    // A suite the package has no signature of requires nothing.
    accepted(&req("ml-dsa-65", &fx.plain));
    let run = req("no-such-suite", &half);
    run.expect_code(2);
    assert!(run.stderr.contains("--require-timestamp"), "{}", run.stderr);
}

/// A token with genTime after the verification time (plus the allowed clock
/// skew) is rejected as from the future.
#[test]
fn token_after_verification_time_is_rejected() {
    let (pki, fx) = (pki(), fx());
    let earlier = rfc3339(unix_now() - 3600);
    rejected(
        &verify(
            pki,
            &fx.stamped,
            &["--tsa-trust", s(&tsa_roots(pki)), "--at", &earlier],
        ),
        "timestamp-future",
    );
}

// ===========================================================================
// 4b. The client side of `otaseal sign --tsa`.
// ===========================================================================

/// Files in `dir` (names), sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn client_payload() -> &'static Path {
    &fx().payload
}

#[test]
fn garbage_answer_fails_signing_and_leaves_nothing() {
    let pki = pki();
    let dir = test_dir("ts-garbage");
    let out_dir = dir.join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let stub = HttpStub::start(|_| Reply::Body(b"this is not DER at all".to_vec()));
    let out = out_dir.join("pkg.ota");
    let run = sign(
        &out,
        &[signer(pki, "ecdsa-p256", None)],
        &["--tsa", &stub.url, "--tsa-retries", "0"],
        client_payload(),
    );
    run.expect_code(2);
    assert!(run.stderr.contains(&stub.url), "{}", run.stderr);
    assert!(
        run.stderr.contains("not a time-stamp response"),
        "{}",
        run.stderr
    );
    assert_eq!(listing(&out_dir), Vec::<String>::new());
    assert_eq!(stub.requests.load(std::sync::atomic::Ordering::SeqCst), 1);

    // `otaseal timestamp` leaves the package as it was.
    let pkg = out_dir.join("plain.ota");
    std::fs::copy(&fx().plain, &pkg).unwrap();
    let run = ots([
        "timestamp",
        s(&pkg),
        "--tsa",
        &stub.url,
        "--tsa-retries",
        "0",
    ]);
    run.expect_code(2);
    assert!(run.stderr.contains(&stub.url), "{}", run.stderr);
    assert_eq!(read_file(&pkg), read_file(&fx().plain));
    assert_eq!(listing(&out_dir), vec!["plain.ota".to_string()]);
}

#[test]
fn silent_tsa_times_out_and_leaves_nothing() {
    let pki = pki();
    let dir = test_dir("ts-hang");
    let out_dir = dir.join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let stub = HttpStub::start(|_| Reply::Hang);
    let out = out_dir.join("pkg.ota");
    let start = Instant::now();
    let run = sign(
        &out,
        &[signer(pki, "ecdsa-p256", None)],
        &[
            "--tsa",
            &stub.url,
            "--tsa-timeout",
            "1",
            "--tsa-retries",
            "0",
        ],
        client_payload(),
    );
    let took = start.elapsed();
    run.expect_code(2);
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert!(run.stderr.contains(&stub.url), "{}", run.stderr);
    assert!(run.stderr.contains("timed out"), "{}", run.stderr);
    assert_eq!(listing(&out_dir), Vec::<String>::new());
}

#[test]
fn failover_to_the_second_tsa() {
    let pki = pki();
    let dir = test_dir("ts-failover");
    let stub = HttpStub::start(|_| Reply::Hang);
    let tsa = dev_tsa(&dir, pki, "ecdsa-p256");
    let out = dir.join("pkg.ota");
    let start = Instant::now();
    sign(
        &out,
        &[signer(pki, "ecdsa-p256", None)],
        &[
            "--tsa",
            &stub.url,
            "--tsa",
            &tsa.url,
            "--tsa-timeout",
            "1",
            "--tsa-retries",
            "0",
        ],
        client_payload(),
    )
    .expect_code(0);
    assert!(start.elapsed() < Duration::from_secs(30));
    assert_eq!(stub.requests.load(std::sync::atomic::Ordering::SeqCst), 1);
    let j = accepted(&verify(
        pki,
        &out,
        &["--tsa-trust", s(&tsa_roots(pki)), "--require-timestamp"],
    ));
    assert_eq!(
        j["signatures"][0]["timestamp"]["tsa"],
        "otaseal dev TSA (ecdsa-p256)"
    );
}

/// A man in the middle that replays a captured answer: ECDSA signing is
/// deterministic (RFC 6979), so signing the same manifest again (same
/// `--created`) asks for a token over the same imprint, and only the nonce
/// tells the stale answer apart.
#[test]
fn replayed_answer_fails_on_the_nonce() {
    let pki = pki();
    let dir = test_dir("ts-replay");
    let tsa = dev_tsa(&dir, pki, "ecdsa-p256");
    let upstream = tsa.url.clone();
    let captured: Arc<Mutex<Option<Vec<u8>>>> = Arc::new(Mutex::new(None));
    let cap = captured.clone();
    let stub = HttpStub::start(move |request| {
        let mut slot = cap.lock().unwrap();
        match slot.as_ref() {
            Some(answer) => Reply::Body(answer.clone()),
            None => {
                let (status, answer) = http_post_query(&upstream, request);
                assert_eq!(status, 200);
                *slot = Some(answer.clone());
                Reply::Body(answer)
            }
        }
    });
    let created = rfc3339(unix_now() - 60);
    let first = dir.join("first.ota");
    let args = [
        "--tsa",
        stub.url.as_str(),
        "--created",
        created.as_str(),
        "--tsa-retries",
        "0",
    ];
    sign(
        &first,
        &[signer(pki, "ecdsa-p256", None)],
        &args,
        client_payload(),
    )
    .expect_code(0);
    accepted(&verify(
        pki,
        &first,
        &["--tsa-trust", s(&tsa_roots(pki)), "--require-timestamp"],
    ));
    assert!(captured.lock().unwrap().is_some());

    let out_dir = dir.join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let second = out_dir.join("second.ota");
    let run = sign(
        &second,
        &[signer(pki, "ecdsa-p256", None)],
        &args,
        client_payload(),
    );
    run.expect_code(2);
    assert!(run.stderr.contains("nonce"), "{}", run.stderr);
    assert!(run.stderr.contains(&stub.url), "{}", run.stderr);
    assert_eq!(listing(&out_dir), Vec::<String>::new());
    assert_eq!(stub.requests.load(std::sync::atomic::Ordering::SeqCst), 2);

    // The captured answer for another manifest (another creation time):
    // another imprint.
    let other_created = rfc3339(unix_now() - 120);
    let run = sign(
        &second,
        &[signer(pki, "ecdsa-p256", None)],
        &[
            "--tsa",
            stub.url.as_str(),
            "--created",
            other_created.as_str(),
            "--tsa-retries",
            "0",
        ],
        client_payload(),
    );
    run.expect_code(2);
    assert!(run.stderr.contains("message imprint"), "{}", run.stderr);
    assert_eq!(listing(&out_dir), Vec::<String>::new());
}

// ===========================================================================
// 5. Output: verify --json fields, human output of inspect and verify.
// ===========================================================================

#[test]
fn verify_json_timestamp_fields() {
    let (pki, fx) = (pki(), fx());
    let tsa_trust = tsa_roots(pki);
    let j = accepted(&verify(pki, &fx.stamped, &["--tsa-trust", s(&tsa_trust)]));
    let keys = [
        "tsa",
        "gen_time",
        "policy",
        "serial",
        "imprint_alg",
        "status",
        "code",
    ];
    for sig in j["signatures"].as_array().unwrap() {
        let ts = sig["timestamp"].as_object().expect("timestamp object");
        for k in keys {
            assert!(ts.contains_key(k), "no {k} in {sig}");
        }
        assert_eq!(ts["status"], "valid");
        assert_eq!(ts["code"], Value::Null);
        assert_eq!(sig["checked_at"], ts["gen_time"]);
    }
    // An invalid token: status invalid and its code; the other token's
    // report is unaffected.
    let dir = test_dir("ts-json");
    let pkg = dir.join("moved.ota");
    let sm2_sig_token = read_token(&fx.stamped, 1);
    let mut flipped = sm2_sig_token.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x40;
    with_token(&fx.stamped, &pkg, 1, Some(flipped));
    let j = rejected(
        &verify(pki, &pkg, &["--tsa-trust", s(&tsa_trust)]),
        "timestamp-signature",
    );
    let ts = &j["signatures"][1]["timestamp"];
    assert_eq!(ts["status"], "invalid");
    assert_eq!(ts["code"], "timestamp-signature");
    assert_eq!(ts["tsa"], "otaseal dev TSA (sm2)");
    assert_eq!(j["signatures"][0]["timestamp"]["status"], "valid");
    // Invalid is never tolerated, even outside the required suites.
    rejected(
        &verify(
            pki,
            &pkg,
            &["--tsa-trust", s(&tsa_trust), "--require", "ecdsa-p256"],
        ),
        "timestamp-signature",
    );
    // Untrusted TSA: status untrusted.
    let j = rejected(&verify(pki, &fx.stamped, &[]), "timestamp-untrusted");
    assert_eq!(j["signatures"][0]["timestamp"]["status"], "untrusted");
    assert_eq!(
        j["signatures"][0]["timestamp"]["code"],
        "timestamp-untrusted"
    );
}

#[test]
fn inspect_and_verify_text_mention_the_timestamp() {
    let (pki, fx) = (pki(), fx());
    let run = ots(["inspect", s(&fx.stamped)]);
    run.expect_code(0);
    assert!(run.stdout.contains("timestamped"), "{}", run.stdout);
    for tsa in ["otaseal dev TSA (ecdsa-p256)", "otaseal dev TSA (sm2)"] {
        assert!(
            run.stdout
                .contains(&format!("by {tsa}, policy 1.2.3.4.1, serial ")),
            "{}",
            run.stdout
        );
    }
    let run = ots(["inspect", s(&fx.plain)]);
    run.expect_code(0);
    assert!(!run.stdout.contains("timestamp"), "{}", run.stdout);

    let roots = pki.join("roots.pem");
    let tsa_trust = tsa_roots(pki);
    let run = ots([
        "verify",
        s(&fx.stamped),
        "--trust",
        s(&roots),
        "--tsa-trust",
        s(&tsa_trust),
    ]);
    run.expect_code(0);
    assert!(run.stdout.starts_with("ACCEPTED"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("by otaseal dev TSA (sm2) (valid), serial "),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("(timestamp)"),
        "certificates checked at ... (timestamp): {}",
        run.stdout
    );
}

// ===========================================================================
// More of spec/policy.md section 5 and the README's TSA features.
// ===========================================================================

/// genTime may be up to 5 minutes after the verification time (clock skew),
/// not one second more.
#[test]
fn clock_skew_boundary() {
    let (pki, fx) = (pki(), fx());
    let tsa_trust = tsa_roots(pki);
    let j = accepted(&verify(pki, &fx.stamped, &["--tsa-trust", s(&tsa_trust)]));
    let gen_times: Vec<u64> = j["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|sig| parse_time(sig["timestamp"]["gen_time"].as_str().unwrap()))
        .collect();
    let latest = *gen_times.iter().max().unwrap();
    let at = rfc3339(latest - 300);
    accepted(&verify(
        pki,
        &fx.stamped,
        &["--tsa-trust", s(&tsa_trust), "--at", &at],
    ));
    let at = rfc3339(latest - 301);
    rejected(
        &verify(
            pki,
            &fx.stamped,
            &["--tsa-trust", s(&tsa_trust), "--at", &at],
        ),
        "timestamp-future",
    );
}

/// A TSA certificate under an intermediate: `tsa serve --cert` with the
/// chain puts the intermediate in every token, so the verifier needs only
/// the TSA root.
#[test]
fn tsa_with_intermediate_needs_only_the_root() {
    let pki = pki();
    let dir = test_dir("ts-intermediate");
    let now = unix_now();
    let root_key = load_key(&pki_file(pki, "ecdsa-p256", "tsa-root.key.pem"));
    let root = load_cert(&pki_file(pki, "ecdsa-p256", "tsa-root.cert.pem"));
    let inter_key = SigningKey::generate(otaseal_manifest::Suite::EcdsaP256).unwrap();
    let tsa_key = SigningKey::generate(otaseal_manifest::Suite::EcdsaP256).unwrap();
    let req = |cn: &'static str, profile, key, issuer| CertRequest {
        subject_cn: cn,
        profile,
        not_before: now - 600,
        not_after: now + 30 * DAY,
        subject_key: key,
        issuer: Some(issuer),
        serial: None,
    };
    let inter = pki::issue_certificate(&req(
        "TSA intermediate",
        CertProfile::Intermediate,
        &inter_key,
        (&root_key, &root),
    ))
    .unwrap();
    let leaf = pki::issue_certificate(&req(
        "TSA under an intermediate",
        CertProfile::TimeStampingLeaf,
        &tsa_key,
        (&inter_key, &inter),
    ))
    .unwrap();
    let chain = write_file(
        &dir,
        "tsa.chain.pem",
        pki::certs_to_pem(&[leaf, inter]).as_bytes(),
    );
    let key = dir.join("tsa.key.pem");
    tsa_key.write_private_pem(&key).unwrap();
    let tsa = start_tsa(&dir, "inter", &key, &chain);
    let pkg = dir.join("pkg.ota");
    sign(
        &pkg,
        &[signer(pki, "ecdsa-p256", Some(&tsa.url))],
        &[],
        client_payload(),
    )
    .expect_code(0);
    let token = read_token(&pkg, 0);
    let sd: SignedData = ContentInfo::from_der(&token)
        .unwrap()
        .content
        .decode_as()
        .unwrap();
    assert_eq!(sd.certificates.unwrap().0.len(), 2, "chain in the token");
    let j = accepted(&verify(
        pki,
        &pkg,
        &[
            "--tsa-trust",
            s(&pki_file(pki, "ecdsa-p256", "tsa-root.cert.pem")),
            "--require-timestamp",
        ],
    ));
    assert_eq!(
        j["signatures"][0]["timestamp"]["tsa"],
        "TSA under an intermediate"
    );
}

/// Microsoft's lifetime-signing EKU (spec/policy.md 5.3): the leaf is
/// checked at the verification time even with a valid token.
#[test]
fn lifetime_signing_leaf_expires_despite_the_token() {
    let pki = pki();
    let dir = test_dir("ts-lifetime");
    let tsa = dev_tsa(&dir, pki, "ecdsa-p256");
    let now = unix_now();
    let inter_key = load_key(&pki_file(pki, "ecdsa-p256", "intermediate.key.pem"));
    let inter = load_cert(&pki_file(pki, "ecdsa-p256", "intermediate.cert.pem"));
    let signer_key = pki_file(pki, "ecdsa-p256", "signer.key.pem");
    let lifetime = pki::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.10.3.13");
    let later = rfc3339(now + 3 * DAY);
    for (name, ekus, expect) in [
        ("plain", vec![pki::ID_KP_CODE_SIGNING], None::<&str>),
        (
            "lifetime",
            vec![pki::ID_KP_CODE_SIGNING, lifetime],
            Some("cert-expired"),
        ),
    ] {
        let leaf = pki::issue_certificate(&CertRequest {
            subject_cn: &format!("{name} signer"),
            profile: CertProfile::LeafWithEku(ekus),
            not_before: now - 600,
            not_after: now + DAY,
            subject_key: &load_key(&signer_key),
            issuer: Some((&inter_key, &inter)),
            serial: None,
        })
        .unwrap();
        let chain = write_file(
            &dir,
            &format!("{name}.chain.pem"),
            pki::certs_to_pem(&[leaf, inter.clone()]).as_bytes(),
        );
        let pkg = dir.join(format!("{name}.ota"));
        sign(
            &pkg,
            &[format!("key={},cert={}", s(&signer_key), s(&chain))],
            &["--tsa", &tsa.url],
            client_payload(),
        )
        .expect_code(0);
        // `pki()` certificates live one day: the intermediate has expired
        // at `later` too, which a token covers for the plain leaf.
        let run = verify(
            pki,
            &pkg,
            &["--tsa-trust", s(&tsa_roots(pki)), "--at", &later],
        );
        match expect {
            None => {
                let j = accepted(&run);
                assert_eq!(j["signatures"][0]["time_source"], "timestamp");
            }
            Some(code) => {
                let j = rejected(&run, code);
                assert_eq!(j["signatures"][0]["time_source"], "--at");
                assert_eq!(j["signatures"][0]["timestamp"]["status"], "valid");
            }
        }
    }
}

/// HTTPS: `tsa serve --tls-cert --tls-key` with a server certificate made by
/// OpenSSL (IP SAN 127.0.0.1); `sign --tsa https://... --tsa-ca` trusts its
/// CA, and without `--tsa-ca` the handshake fails.
#[test]
fn https_tsa_with_extra_ca() {
    require_openssl!();
    let pki = pki();
    let dir = test_dir("ts-https");
    let ext = "\
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[tls]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
";
    write_file(&dir, "ext.cnf", ext.as_bytes());
    for key in ["ca.key", "tls.key"] {
        openssl(
            &dir,
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                key,
            ],
        );
    }
    openssl(
        &dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "ca.key",
            "-subj",
            "/CN=otaseal test HTTPS CA",
            "-days",
            "2",
            "-config",
            "ext.cnf",
            "-extensions",
            "ca",
            "-sha256",
            "-out",
            "ca.pem",
        ],
    );
    openssl(
        &dir,
        &[
            "req",
            "-new",
            "-key",
            "tls.key",
            "-subj",
            "/CN=127.0.0.1",
            "-out",
            "tls.csr",
        ],
    );
    openssl(
        &dir,
        &[
            "x509",
            "-req",
            "-in",
            "tls.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            "7",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-extensions",
            "tls",
            "-sha256",
            "-out",
            "tls.pem",
        ],
    );
    let tsa = try_start_tsa(
        &dir,
        "https",
        &pki_file(pki, "ecdsa-p256", "tsa.key.pem"),
        &pki_file(pki, "ecdsa-p256", "tsa.chain.pem"),
        &[
            "--tls-cert",
            s(&dir.join("tls.pem")),
            "--tls-key",
            s(&dir.join("tls.key")),
        ],
    )
    .unwrap();
    assert!(tsa.url.starts_with("https://127.0.0.1:"), "{}", tsa.url);
    let pkg = dir.join("pkg.ota");
    sign(
        &pkg,
        &[signer(pki, "ecdsa-p256", None)],
        &["--tsa", &tsa.url, "--tsa-ca", s(&dir.join("ca.pem"))],
        client_payload(),
    )
    .expect_code(0);
    accepted(&verify(
        pki,
        &pkg,
        &["--tsa-trust", s(&tsa_roots(pki)), "--require-timestamp"],
    ));
    let out_dir = dir.join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let run = sign(
        &out_dir.join("pkg.ota"),
        &[signer(pki, "ecdsa-p256", None)],
        &["--tsa", &tsa.url, "--tsa-retries", "0"],
        client_payload(),
    );
    run.expect_code(2);
    assert!(run.stderr.contains(&tsa.url), "{}", run.stderr);
    assert_eq!(listing(&out_dir), Vec::<String>::new());
}

/// Transient failures (HTTP 503) are retried with backoff; when the retries
/// run out, signing fails naming the status.
#[test]
fn retries_after_server_errors() {
    let pki = pki();
    let dir = test_dir("ts-retry");
    let tsa = dev_tsa(&dir, pki, "ecdsa-p256");
    let flaky = |failures: usize, upstream: String| {
        let mut seen = 0;
        HttpStub::start(move |request| {
            seen += 1;
            if seen <= failures {
                Reply::Status(503)
            } else {
                let (status, answer) = http_post_query(&upstream, request);
                assert_eq!(status, 200);
                Reply::Body(answer)
            }
        })
    };
    // Two 503s, two retries: the third attempt succeeds.
    let stub = flaky(2, tsa.url.clone());
    let pkg = dir.join("pkg.ota");
    sign(
        &pkg,
        &[signer(pki, "ecdsa-p256", None)],
        &["--tsa", &stub.url, "--tsa-retries", "2"],
        client_payload(),
    )
    .expect_code(0);
    assert_eq!(stub.requests.load(std::sync::atomic::Ordering::SeqCst), 3);
    accepted(&verify(
        pki,
        &pkg,
        &["--tsa-trust", s(&tsa_roots(pki)), "--require-timestamp"],
    ));
    // Two 503s, one retry: fails.
    let stub = flaky(2, tsa.url.clone());
    let out_dir = dir.join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let run = sign(
        &out_dir.join("pkg.ota"),
        &[signer(pki, "ecdsa-p256", None)],
        &["--tsa", &stub.url, "--tsa-retries", "1"],
        client_payload(),
    );
    run.expect_code(2);
    assert!(run.stderr.contains("HTTP status 503"), "{}", run.stderr);
    assert_eq!(stub.requests.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert_eq!(listing(&out_dir), Vec::<String>::new());
}

/// Serial numbers stay unique across a restart of `tsa serve` on the same
/// store, and a second server cannot share a store that is in use.
#[test]
fn tsa_serials_survive_restart_and_store_is_exclusive() {
    let pki = pki();
    let dir = test_dir("ts-serials");
    let key = pki_file(pki, "ecdsa-p256", "tsa.key.pem");
    let chain = pki_file(pki, "ecdsa-p256", "tsa.chain.pem");
    let serial_of = |tsa: &TsaServer, name: &str| -> String {
        let pkg = dir.join(name);
        sign(
            &pkg,
            &[signer(pki, "ecdsa-p256", Some(&tsa.url))],
            &[],
            client_payload(),
        )
        .expect_code(0);
        let j = accepted(&verify(pki, &pkg, &["--tsa-trust", s(&tsa_roots(pki))]));
        j["signatures"][0]["timestamp"]["serial"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let first = {
        let tsa = start_tsa(&dir, "store", &key, &chain);
        let a = serial_of(&tsa, "a.ota");
        let b = serial_of(&tsa, "b.ota");
        assert_ne!(a, b);
        let err = try_start_tsa(&dir, "store", &key, &chain, &[])
            .err()
            .expect("a second server on the same serial store must fail");
        assert!(
            err.contains("in use by another time-stamp authority"),
            "{err}"
        );
        vec![a, b]
    };
    let tsa = start_tsa(&dir, "store", &key, &chain);
    let after = serial_of(&tsa, "c.ota");
    assert!(!first.contains(&after), "serial {after} reused");
    // 16 bytes: the store's 8-byte prefix, then a counter that only grows.
    for sn in first.iter().chain([&after]) {
        assert_eq!(sn.len(), 32, "{sn}");
        assert_eq!(sn[..16], first[0][..16], "{sn}");
    }
    let counter = |sn: &str| u64::from_str_radix(&sn[16..], 16).unwrap();
    assert!(counter(&after) > counter(&first[1]));
}

/// The manifest's `expires` is checked at the verification time, never at
/// genTime: a token proves when, not that the package may still be
/// installed.
#[test]
fn manifest_expiry_ignores_the_token() {
    let pki = pki();
    let dir = test_dir("ts-expires");
    let tsa = dev_tsa(&dir, pki, "ecdsa-p256");
    let now = unix_now();
    let pkg = dir.join("pkg.ota");
    let expires = rfc3339(now + DAY / 2);
    sign(
        &pkg,
        &[signer(pki, "ecdsa-p256", Some(&tsa.url))],
        &["--expires", &expires],
        client_payload(),
    )
    .expect_code(0);
    let tsa_trust = tsa_roots(pki);
    accepted(&verify(pki, &pkg, &["--tsa-trust", s(&tsa_trust)]));
    let later = rfc3339(now + DAY);
    let j = rejected(
        &verify(pki, &pkg, &["--tsa-trust", s(&tsa_trust), "--at", &later]),
        "manifest-expired",
    );
    // The signature itself is fine, checked at genTime.
    assert_eq!(j["signatures"][0]["status"], "valid");
    assert_eq!(j["signatures"][0]["time_source"], "timestamp");
}

/// A device without a clock (the library with `Policy::time = None`, as
/// firmware links it): certificates are checked at the token's genTime,
/// without one at the manifest's creation time; `require_timestamp` makes
/// tokens mandatory.
#[test]
fn device_without_clock_uses_the_token_time() {
    use otaseal_manifest::{Suite, SuiteSet};
    use otaseal_verify::{PackageVerifier, Policy, SignatureReport, TimeSource, TrustStore};
    use rustls_pki_types::{CertificateDer, TrustAnchor};

    let (pki, fx) = (pki(), fx());
    let ders =
        |path: PathBuf| pki::certs_from_pem(&std::fs::read_to_string(path).unwrap()).unwrap();
    let (root_ders, tsa_ders) = (ders(pki.join("roots.pem")), ders(tsa_roots(pki)));
    let certs = |d: &[Vec<u8>]| -> Vec<CertificateDer<'static>> {
        d.iter().map(|c| CertificateDer::from(c.clone())).collect()
    };
    let (root_certs, tsa_certs) = (certs(&root_ders), certs(&tsa_ders));
    let anchors = |c: &[CertificateDer<'static>]| -> Vec<TrustAnchor<'static>> {
        c.iter()
            .map(|c| webpki::anchor_from_trusted_cert(c).unwrap().to_owned())
            .collect()
    };
    let (roots, tsa) = (anchors(&root_certs), anchors(&tsa_certs));
    let all = Suite::ALL
        .iter()
        .fold(SuiteSet::EMPTY, |set, s| set.with(*s));
    let run = |package: &Path, tsa_roots: &[TrustAnchor<'_>], require: bool| {
        let bytes = read_file(package);
        let mut buf = vec![0u8; 64 * 1024];
        let policy = Policy {
            time: None,
            require_timestamp: if require { all } else { SuiteSet::EMPTY },
            ..Policy::default()
        };
        let trust = TrustStore {
            roots: &roots,
            keys: &[],
            tsa_roots,
        };
        let mut v = PackageVerifier::new(&mut buf, policy, trust);
        let mut result = Ok(());
        for chunk in bytes.chunks(4096) {
            if let Err(e) = v.update(chunk) {
                result = Err(e);
                break;
            }
        }
        let reports: Vec<SignatureReport> = v.envelope_verdict().signatures.to_vec();
        let result = result.and_then(|()| v.finish().map(|_| ()));
        (result.map_err(|e| e.code()), reports)
    };

    let (result, reports) = run(&fx.stamped, &tsa, true);
    assert_eq!(result, Ok(()));
    for r in &reports {
        assert_eq!(r.time_source, TimeSource::Timestamp, "{r:?}");
        assert_eq!(Some(r.checked_at), r.timestamp, "{r:?}");
    }
    let (result, reports) = run(&fx.plain, &tsa, false);
    assert_eq!(result, Ok(()));
    for r in &reports {
        assert_eq!(r.time_source, TimeSource::ManifestCreated, "{r:?}");
        assert_eq!(r.timestamp, None);
    }
    assert_eq!(run(&fx.plain, &tsa, true).0, Err("timestamp-missing"));
    assert_eq!(run(&fx.stamped, &[], false).0, Err("timestamp-untrusted"));
}

/// `otaseal sign --tsa` against OpenSSL as the TSA: a scripted HTTP front
/// end hands each request otaseal's client sends to `openssl ts -reply` and
/// returns OpenSSL's response. The client's request (nonce, certReq, SHA-256
/// and SM3 imprints) is understood, and OpenSSL's answer passes the
/// client's checks and the verifier.
#[test]
fn sign_against_openssl_tsa_over_http() {
    require_openssl!();
    let (pki, o) = (pki(), ossl_tsa());
    let dir = test_dir("ts-openssl-http");
    let work = dir.join("openssl");
    std::fs::create_dir(&work).unwrap();
    // The configuration written by `ossl_stamp`, reused for each request.
    ossl_stamp(&work, &o.cert, &o.key, "sha256", b"warm-up", "-sha256").unwrap();
    let stub = {
        let work = work.clone();
        HttpStub::start(move |request| {
            write_file(&work, "http.tsq", request);
            let _ = std::fs::remove_file(work.join("http.tsr"));
            let run = run_command(
                Command::new("openssl")
                    .args([
                        "ts",
                        "-reply",
                        "-config",
                        "tsa.cnf",
                        "-queryfile",
                        "http.tsq",
                        "-out",
                        "http.tsr",
                    ])
                    .current_dir(&work),
            );
            match std::fs::read(work.join("http.tsr")) {
                Ok(answer) if run.code == 0 => Reply::Body(answer),
                _ => Reply::Status(500),
            }
        })
    };
    let pkg = dir.join("pkg.ota");
    sign(
        &pkg,
        &[signer(pki, "ecdsa-p256", None), signer(pki, "sm2", None)],
        &["--tsa", &stub.url, "--tsa-retries", "0"],
        client_payload(),
    )
    .expect_code(0);
    assert_eq!(stub.requests.load(std::sync::atomic::Ordering::SeqCst), 2);
    let j = accepted(&verify(
        pki,
        &pkg,
        &["--tsa-trust", s(&o.root_pem), "--require-timestamp"],
    ));
    for (sig, imprint) in j["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .zip(["sha-256", "sm3"])
    {
        assert_eq!(sig["timestamp"]["tsa"], "OpenSSL TSA", "{sig}");
        assert_eq!(sig["timestamp"]["imprint_alg"], imprint, "{sig}");
    }
}

/// The token's `status` in `verify --json` agrees with its signature's: a
/// token whose TSA certificate had expired at genTime makes the signature
/// *invalid* (only an unknown TSA root makes it untrusted, and with
/// `--require` an untrusted signature outside the set would be tolerated,
/// an invalid one is not), so the token is reported invalid too.
#[test]
fn token_status_agrees_with_signature_status() {
    require_openssl!();
    let (pki, fx) = (pki(), fx());
    let dir = test_dir("ts-status");
    let (key, cert_pem) = expired_tsa(pki, &dir);
    // otaseal's TSA refuses to issue with an expired certificate; OpenSSL's
    // does not, which gives a token whose TSA certificate expired at genTime.
    let field = &signature_fields(&fx.plain)[0];
    let token = ossl_stamp(&dir, &cert_pem, &key, "sha256", field, "-sha256").unwrap();
    let pkg = dir.join("pkg.ota");
    with_token(&fx.plain, &pkg, 0, Some(token));
    let j = rejected(
        &verify(pki, &pkg, &["--tsa-trust", s(&tsa_roots(pki))]),
        "timestamp-tsa-cert-expired",
    );
    let sig = &j["signatures"][0];
    assert_eq!(sig["status"], "invalid", "{sig}");
    assert_eq!(sig["timestamp"]["status"], sig["status"], "{sig}");
}

/// A TSA key and certificate (under the dev ECDSA TSA root) that expired a
/// day ago, written to `dir`: (key path, certificate PEM path).
fn expired_tsa(pki: &Path, dir: &Path) -> (PathBuf, PathBuf) {
    let now = unix_now();
    let tsa_key = SigningKey::generate(otaseal_manifest::Suite::EcdsaP256).unwrap();
    let expired = pki::issue_certificate(&CertRequest {
        subject_cn: "expired TSA",
        profile: CertProfile::TimeStampingLeaf,
        not_before: now - 3 * DAY,
        not_after: now - DAY,
        subject_key: &tsa_key,
        issuer: Some((
            &load_key(&pki_file(pki, "ecdsa-p256", "tsa-root.key.pem")),
            &load_cert(&pki_file(pki, "ecdsa-p256", "tsa-root.cert.pem")),
        )),
        serial: None,
    })
    .unwrap();
    let cert = write_file(dir, "expired.pem", pki::certs_to_pem(&[expired]).as_bytes());
    let key = dir.join("expired.key.pem");
    tsa_key.write_private_pem(&key).unwrap();
    (key, cert)
}

/// otaseal's own TSA does not issue tokens with a certificate that is not
/// valid now: `otaseal timestamp` fails (exit 2) and leaves the package alone.
#[test]
fn otaseal_tsa_refuses_to_issue_with_an_expired_certificate() {
    let (pki, fx) = (pki(), fx());
    let dir = test_dir("ts-tsa-expired");
    let (key, chain) = expired_tsa(pki, &dir);
    let tsa = start_tsa(&dir, "expired", &key, &chain);
    let pkg = dir.join("pkg.ota");
    edit_package(&fx.plain, &pkg, |_| {});
    let before = std::fs::read(&pkg).unwrap();
    let run = ots([
        "timestamp",
        s(&pkg),
        "--tsa",
        &tsa.url,
        "--tsa-retries",
        "0",
    ]);
    run.expect_code(2);
    assert!(run.stderr.contains("not valid now"), "{}", run.stderr);
    assert_eq!(std::fs::read(&pkg).unwrap(), before, "package untouched");
}

/// Every `timestamp-*` code these tests see from `otaseal verify` is listed
/// in spec/policy.md section 6, which `--json` users are pointed to.
#[test]
fn emitted_timestamp_codes_are_documented() {
    let policy = std::fs::read_to_string(repo_root().join("spec/policy.md")).unwrap();
    let missing: Vec<&str> = [
        "timestamp-missing",
        "timestamp-malformed",
        "timestamp-imprint-mismatch",
        "timestamp-imprint-algorithm",
        "timestamp-signature",
        "timestamp-cert-binding",
        "timestamp-tsa-eku",
        "timestamp-untrusted",
        "timestamp-future",
        "timestamp-outside-cert-validity",
        "timestamp-tsa-cert-expired",
        "timestamp-tsa-cert-not-yet-valid",
        "timestamp-tsa-name",
        "timestamp-cert-missing",
        "timestamp-content-type",
        "timestamp-unsupported-algorithm",
        "timestamp-tsa-key-usage",
        "timestamp-chain-malformed",
        "timestamp-chain-bad-signature",
        "timestamp-chain-unsupported-algorithm",
        "timestamp-chain-invalid",
        "timestamp-version",
        "timestamp-signer-count",
        "timestamp-policy",
        "timestamp-critical-extension",
    ]
    .into_iter()
    .filter(|code| !policy.contains(&format!("`{code}`")))
    .collect();
    assert!(missing.is_empty(), "not in spec/policy.md: {missing:?}");
}

/// A token is never ignored, not even on a signature the policy does not
/// need: junk under label 270 of the (untrusted, not required) SM2
/// signature rejects the package although `--require ecdsa-p256` is met.
#[test]
fn junk_token_on_a_signature_the_policy_does_not_need_still_rejects() {
    let fixtures = fixtures_dir();
    let dir = test_dir("ts-junk-unneeded");
    let pkg = dir.join("junk.ota");
    with_token(
        &fixtures.join("golden/p256-sm2.ota"),
        &pkg,
        1,
        Some(b"not a timestamp token".to_vec()),
    );
    let only_p256_root = fixtures.join("pki/ecdsa-p256/root.cert.pem");
    let args = |p: &Path| {
        vec![
            "verify".to_string(),
            s(p).to_string(),
            "--trust".into(),
            s(&only_p256_root).to_string(),
            "--require".into(),
            "ecdsa-p256".into(),
            "--at".into(),
            "2027-06-01T00:00:00Z".into(),
            "--json".into(),
        ]
    };
    // Control: the untouched package passes this QA-desk policy.
    otaseal(args(&fixtures.join("golden/p256-sm2.ota"))).expect_code(0);
    let run = otaseal(args(&pkg));
    let j = rejected(&run, "timestamp-malformed");
    assert_eq!(j["signatures"][1]["status"], "invalid", "{}", run.stdout);
}

/// policy.md 5.3: a token's genTime may precede the manifest's `created`
/// (the signer's own claim, made with its own clock). A package whose
/// manifest says "created in ten minutes" and whose token says "now" verifies,
/// and its certificates are checked at genTime.
#[test]
fn gen_time_before_manifest_created_is_accepted() {
    let pki = pki();
    let dir = test_dir("ts-created-later");
    let payload = write_file(&dir, "fw.bin", &pseudo_random(3000, 5));
    let tsa = dev_tsa(&dir, pki, "ecdsa-p256");
    let pkg = dir.join("later.ota");
    let later = rfc3339(unix_now() + 600);
    sign(
        &pkg,
        &[signer(pki, "ecdsa-p256", Some(&tsa.url))],
        &["--created", &later],
        &payload,
    )
    .expect_code(0);
    let tsa_trust = tsa_roots(pki);
    let j = accepted(&verify(
        pki,
        &pkg,
        &["--tsa-trust", s(&tsa_trust), "--require-timestamp"],
    ));
    let gen_time = parse_time(
        j["signatures"][0]["timestamp"]["gen_time"]
            .as_str()
            .unwrap(),
    );
    let created = parse_time(j["manifest"]["created"].as_str().unwrap());
    assert!(gen_time < created, "{gen_time} >= {created}");
    assert_eq!(j["signatures"][0]["time_source"], "timestamp");
}
