//! User-facing behaviour of the `otaseal` command line: key generation,
//! signing safety checks, verification policies, JSON schemas, help texts
//! and exit codes (0 accepted or success, 1 rejected, 2 usage or I/O).

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use otaseal_tests::*;
use serde_json::Value;

/// The creation time of every package here: a minute before first use
/// (the development certificates must cover it).
fn created_text() -> String {
    static CREATED: OnceLock<u64> = OnceLock::new();
    rfc3339(*CREATED.get_or_init(|| (unix_now() - 60) / 60 * 60))
}

struct Fixture {
    dir: PathBuf,
    pki: PathBuf,
    fw: PathBuf,
    cfg: PathBuf,
    /// ecdsa-p256 + sm2 + ml-dsa-65, `--hw-compat rev-a,rev-b`, security version 5.
    package: PathBuf,
}

fn fx() -> &'static Fixture {
    static FX: OnceLock<Fixture> = OnceLock::new();
    FX.get_or_init(|| {
        let dir = test_dir("cli-fixture");
        let pki = dir.join("pki");
        otaseal([
            "pki",
            "init",
            "--dir",
            s(&pki),
            "--suites",
            "ecdsa-p256,sm2,ml-dsa-65",
        ])
        .expect_code(0);
        let fw = write_file(&dir, "fw.bin", &pseudo_random(40_000, 1));
        let cfg = write_file(&dir, "cfg.dat", b"answer=42\n");
        let package = dir.join("signed.ota");
        sign(
            &package,
            &[
                signer(&pki, "ecdsa-p256"),
                signer(&pki, "sm2"),
                signer(&pki, "ml-dsa-65"),
            ],
            &[&fw, &cfg],
            &[],
        )
        .expect_code(0);
        Fixture {
            dir,
            pki,
            fw,
            cfg,
            package,
        }
    })
}

fn signer(pki: &Path, suite: &str) -> String {
    format!(
        "key={},cert={}",
        s(&pki.join(suite).join("signer.key.pem")),
        s(&pki.join(suite).join("signer.chain.pem"))
    )
}

fn sign(out: &Path, signers: &[String], payloads: &[&Path], extra: &[&str]) -> Run {
    let mut args: Vec<String> = [
        "sign",
        "--out",
        s(out),
        "--product",
        "acme.cli-test",
        "--version",
        "2.0.0",
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
    for sg in signers {
        args.push("--signer".into());
        args.push(sg.clone());
    }
    args.extend(extra.iter().map(|a| a.to_string()));
    args.extend(payloads.iter().map(|p| s(p).to_string()));
    otaseal(args)
}

fn roots() -> PathBuf {
    fx().pki.join("roots.pem")
}

/// `otaseal verify <fixture package> --json --trust <roots> EXTRA...`
fn verify_fixture(extra: &[&str]) -> Run {
    let roots = roots();
    let mut args = vec!["verify", s(&fx().package), "--json", "--trust", s(&roots)];
    args.extend_from_slice(extra);
    otaseal(args)
}

#[track_caller]
fn accepted(run: &Run) -> Value {
    run.expect_code(0);
    let j = run.json();
    assert_eq!(j["verdict"], "accepted");
    assert_eq!(j["code"], "ok");
    j
}

#[track_caller]
fn rejected(run: &Run, code: &str) -> Value {
    run.expect_code(1);
    let j = run.json();
    assert_eq!(j["verdict"], "rejected");
    assert_eq!(j["code"], code, "reason: {}", j["reason"]);
    j
}

/// Exit 2 with `needle` in the error message.
#[track_caller]
fn usage_error(run: &Run, needle: &str) {
    run.expect_code(2);
    assert!(
        run.stderr.contains(needle),
        "stderr lacks {needle:?}:\n{}",
        run.stderr
    );
}

fn statuses(j: &Value) -> Vec<(String, String)> {
    j["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["suite"].as_str().unwrap().to_string(),
                x["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.to_string(), b.to_string())
}

// ---------------------------------------------------------------------------
// keygen
// ---------------------------------------------------------------------------

#[test]
fn keygen_writes_private_key_0600_and_public_key() {
    let dir = test_dir("keygen");
    let key = dir.join("release.key.pem");
    let run = otaseal(["keygen", "--alg", "ecdsa-p256", "--out", s(&key), "--json"]);
    run.expect_code(0);
    let j = run.json();
    let public = dir.join("release.key.pub.pem");
    assert_eq!(j["alg"], "ecdsa-p256");
    assert_eq!(j["public_key"], s(&public));
    let kid = j["kid"].as_str().unwrap();
    assert_eq!(kid.len(), 64);
    assert!(kid.bytes().all(|b| b.is_ascii_hexdigit()));

    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "private key mode {mode:o}");
    let private = std::fs::read_to_string(&key).unwrap();
    assert!(
        private.starts_with("-----BEGIN PRIVATE KEY-----"),
        "{private}"
    );
    let public_pem = std::fs::read_to_string(&public).unwrap();
    let blocks = pem_blocks(&public_pem);
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].0, "PUBLIC KEY");
    // The key id is SHA-256 of the SubjectPublicKeyInfo in the .pub.pem file.
    if have_openssl() {
        let der = write_file(&dir, "pub.der", &blocks[0].1);
        let run = openssl(&dir, &["dgst", "-sha256", "-r", s(&der)]);
        assert!(run.stdout.starts_with(kid), "{} vs {kid}", run.stdout);
    }

    // Text output names both files; an explicit --public-out is honoured.
    let key2 = dir.join("pq.pem");
    let pub2 = dir.join("pq-public.pem");
    let run = otaseal([
        "keygen",
        "--alg",
        "ml-dsa-44",
        "--out",
        s(&key2),
        "--public-out",
        s(&pub2),
    ]);
    run.expect_code(0);
    assert!(run.stdout.contains(s(&key2)) && run.stdout.contains(s(&pub2)));
    assert_eq!(
        std::fs::metadata(&key2).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn keygen_refuses_to_overwrite() {
    let dir = test_dir("keygen-overwrite");
    let key = dir.join("k.pem");
    otaseal(["keygen", "--alg", "ed25519", "--out", s(&key)]).expect_code(0);
    let before = read_file(&key);
    let before_pub = read_file(&dir.join("k.pub.pem"));
    let run = otaseal(["keygen", "--alg", "ed25519", "--out", s(&key)]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("k.pem exists"),
        "refused for another reason: {}",
        run.stderr
    );
    assert_eq!(read_file(&key), before, "private key was overwritten");
    assert_eq!(read_file(&dir.join("k.pub.pem")), before_pub);

    // An existing private key alone (no public key yet) is not replaced either.
    let lone = write_file(&dir, "lone.pem", b"precious");
    let run = otaseal(["keygen", "--alg", "ecdsa-p256", "--out", s(&lone)]);
    run.expect_code(2);
    assert!(run.stderr.contains("lone.pem"), "{}", run.stderr);
    assert_eq!(read_file(&lone), b"precious");

    // Unknown algorithm names are usage errors that list the valid ones.
    let run = otaseal([
        "keygen",
        "--alg",
        "dsa-1024",
        "--out",
        s(&dir.join("x.pem")),
    ]);
    usage_error(&run, "ml-dsa-65");
}

// ---------------------------------------------------------------------------
// sign
// ---------------------------------------------------------------------------

fn raw_tar(entries: &[(&str, u8, &[u8], &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, typeflag, data, link) in entries {
        out.extend_from_slice(&ustar_header(
            name.as_bytes(),
            data.len() as u64,
            1_700_000_000,
            *typeflag,
            link.as_bytes(),
        ));
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zip_with(add: impl FnOnce(&mut zip::ZipWriter<std::io::Cursor<Vec<u8>>>)) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    w.start_file("ok.txt", opts).unwrap();
    w.write_all(b"fine\n").unwrap();
    add(&mut w);
    w.finish().unwrap().into_inner()
}

fn zip_opts() -> zip::write::SimpleFileOptions {
    zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored)
}

#[test]
fn sign_refuses_unsafe_archives_naming_the_entry() {
    let dir = test_dir("unsafe-archives");
    let ok = b"#!/bin/sh\n".as_slice();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "traversal.tar",
            raw_tar(&[("ok.sh", b'0', ok, ""), ("../evil-up.sh", b'0', ok, "")]),
            "../evil-up.sh",
        ),
        (
            "absolute.tar",
            raw_tar(&[("/etc/evil-abs", b'0', ok, "")]),
            "/etc/evil-abs",
        ),
        (
            "symlink.tar",
            raw_tar(&[("evil-symlink", b'2', b"", "/etc/shadow")]),
            "evil-symlink",
        ),
        (
            "hardlink.tar",
            raw_tar(&[("evil-hardlink", b'1', b"", "../../etc/passwd")]),
            "evil-hardlink",
        ),
        (
            "device.tar",
            raw_tar(&[("evil-device", b'3', b"", "")]),
            "evil-device",
        ),
        (
            "fifo.tar",
            raw_tar(&[("evil-fifo", b'6', b"", "")]),
            "evil-fifo",
        ),
        (
            "duplicate.tar",
            raw_tar(&[("dup.txt", b'0', ok, ""), ("./dup.txt", b'0', ok, "")]),
            "dup.txt",
        ),
        (
            "traversal.tar.gz",
            gzip(&raw_tar(&[("a/../../evil-gz", b'0', ok, "")])),
            "a/../../evil-gz",
        ),
        (
            "symlink.tgz",
            gzip(&raw_tar(&[("evil-tgz-link", b'2', b"", "../../../root")])),
            "evil-tgz-link",
        ),
        (
            "traversal.zip",
            zip_with(|w| {
                w.start_file("../evil-zip.txt", zip_opts()).unwrap();
                w.write_all(b"x").unwrap();
            }),
            "../evil-zip.txt",
        ),
        (
            "symlink.zip",
            zip_with(|w| {
                w.add_symlink("evil-zip-link", "/etc/passwd", zip_opts())
                    .unwrap();
            }),
            "evil-zip-link",
        ),
    ];
    let key = signer(&fx().pki, "ecdsa-p256");
    for (file, bytes, entry) in &cases {
        let payload = write_file(&dir, file, bytes);
        let out = dir.join(format!("{file}.ota"));
        let run = sign(&out, std::slice::from_ref(&key), &[&payload], &[]);
        assert_eq!(run.code, 2, "{file}: {}{}", run.stdout, run.stderr);
        assert!(
            run.stderr.contains(entry),
            "{file}: message does not name {entry:?}: {}",
            run.stderr
        );
        assert!(run.stderr.contains(file), "{file}: {}", run.stderr);
        assert!(!out.exists(), "{file}: a package was written");
    }
    // Nothing but the inputs and no temporary files are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !cases.iter().any(|(f, _, _)| f == n))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Control: a safe archive of each kind is signed and verifies.
    let safe: [(&str, Vec<u8>); 3] = [
        (
            "safe.tar",
            raw_tar(&[("bin/", b'5', b"", ""), ("bin/run.sh", b'0', ok, "")]),
        ),
        ("safe.tar.gz", gzip(&raw_tar(&[("run.sh", b'0', ok, "")]))),
        ("safe.zip", zip_with(|_| {})),
    ];
    let paths: Vec<PathBuf> = safe.iter().map(|(n, b)| write_file(&dir, n, b)).collect();
    let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let out = dir.join("safe.ota");
    sign(&out, &[key], &refs, &[]).expect_code(0);
    let roots = roots();
    let j = accepted(&otaseal([
        "verify",
        s(&out),
        "--json",
        "--trust",
        s(&roots),
    ]));
    let kinds: Vec<_> = j["payloads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, ["tar", "tar.gz", "zip"]);
}

#[test]
fn sign_without_force_leaves_existing_output_untouched() {
    let dir = test_dir("sign-force");
    let out = write_file(&dir, "out.ota", b"precious bytes");
    let key = signer(&fx().pki, "ecdsa-p256");
    let run = sign(&out, std::slice::from_ref(&key), &[&fx().fw], &[]);
    usage_error(&run, "--force");
    assert_eq!(read_file(&out), b"precious bytes");
    let names: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(names.len(), 1, "temporary files left behind");

    sign(&out, &[key], &[&fx().fw], &["--force"]).expect_code(0);
    let roots = roots();
    accepted(&otaseal([
        "verify",
        s(&out),
        "--json",
        "--trust",
        s(&roots),
    ]));
}

#[test]
fn sign_with_certificate_of_another_key() {
    let dir = test_dir("sign-wrong-cert");
    let p = fx().pki.join("ecdsa-p256");
    let out = dir.join("out.ota");
    // The intermediate's certificate is a P-256 certificate, but not the key's.
    let mismatched = format!(
        "key={},cert={}",
        s(&p.join("signer.key.pem")),
        s(&p.join("intermediate.cert.pem"))
    );
    let run = sign(&out, &[mismatched], &[&fx().fw], &[]);
    usage_error(&run, "does not hold this signer's public key");
    assert!(!out.exists());
    // Another suite's chain.
    let crossed = format!(
        "key={},cert={}",
        s(&p.join("signer.key.pem")),
        s(&fx().pki.join("sm2/signer.chain.pem"))
    );
    let run = sign(&out, &[crossed], &[&fx().fw], &[]);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("signer 1: the leaf certificate does not hold this signer's public key"),
        "refused for another reason: {}",
        run.stderr
    );
    assert!(!out.exists());
}

#[test]
fn sign_usage_errors() {
    let dir = test_dir("sign-usage");
    let out = dir.join("out.ota");
    let key = signer(&fx().pki, "ecdsa-p256");
    // Malformed --signer.
    usage_error(
        &sign(&out, &["cert=x.pem".into()], &[&fx().fw], &[]),
        "key=",
    );
    // A payload that does not exist.
    let missing = dir.join("missing.bin");
    let run = sign(&out, std::slice::from_ref(&key), &[&missing], &[]);
    usage_error(&run, "missing.bin");
    // Bad --created.
    usage_error(
        &sign(
            &out,
            std::slice::from_ref(&key),
            &[&fx().fw],
            &["--expires", "tomorrow"],
        ),
        "tomorrow",
    );
    // The same key twice.
    usage_error(&sign(&out, &[key.clone(), key], &[&fx().fw], &[]), "twice");
    assert!(!out.exists());
}

// ---------------------------------------------------------------------------
// verify
// ---------------------------------------------------------------------------

#[test]
fn verify_without_trust_is_a_usage_error() {
    let run = otaseal(["verify", s(&fx().package), "--json"]);
    usage_error(&run, "--trust");
    assert!(run.stdout.is_empty());
}

#[test]
fn verify_with_bad_time_is_a_usage_error() {
    for bad in ["yesterday", "2027-13-01T00:00:00Z", "1700000000"] {
        let run = verify_fixture(&["--at", bad]);
        usage_error(&run, "RFC 3339");
        assert!(run.stderr.contains(bad), "{}", run.stderr);
    }
    // A good one is accepted (and reported back).
    let j = accepted(&verify_fixture(&["--at", &rfc3339(unix_now() + 60)]));
    assert_eq!(j["time_source"], "--at");
}

#[test]
fn verify_other_usage_and_io_errors() {
    let dir = test_dir("verify-usage");
    let roots = roots();
    let missing = dir.join("missing.ota");
    usage_error(
        &otaseal(["verify", s(&missing), "--trust", s(&roots)]),
        "missing.ota",
    );
    usage_error(
        &verify_fixture(&["--require", "ecdsa-p256+rot13"]),
        "--require",
    );
    usage_error(&verify_fixture(&["--digest", "md5"]), "--digest");
    let not_pem = write_file(&dir, "roots.pem", b"not a certificate");
    usage_error(
        &otaseal(["verify", s(&fx().package), "--trust", s(&not_pem)]),
        "roots.pem",
    );
}

#[test]
fn verify_json_schema() {
    let j = accepted(&verify_fixture(&["--hw-id", "rev-b"]));
    assert!(j["reason"].is_string());
    assert!(j["time"].is_string());
    assert_eq!(j["time_source"], "system clock");
    let sigs = j["signatures"].as_array().unwrap();
    assert_eq!(sigs.len(), 3);
    for (sig, suite) in sigs.iter().zip(["ecdsa-p256", "sm2", "ml-dsa-65"]) {
        assert_eq!(sig["suite"], suite);
        assert_eq!(sig["status"], "valid");
        assert_eq!(sig["signer"], format!("otaseal dev signer ({suite})"));
        assert_eq!(sig["trust"], "x509");
        assert!(sig["code"].is_null());
        assert_eq!(sig["kid"].as_str().unwrap().len(), 64);
    }
    let payloads = j["payloads"].as_array().unwrap();
    assert_eq!(payloads.len(), 2);
    assert_eq!(payloads[0]["name"], "fw.bin");
    assert_eq!(payloads[0]["size"], 40_000);
    assert_eq!(payloads[0]["kind"], "raw");
    assert_eq!(payloads[1]["name"], "cfg.dat");
    for p in payloads {
        assert_eq!(p["status"], "ok");
        assert_eq!(
            p["checked"],
            serde_json::json!(["sha-256", "sha-384", "sm3"])
        );
        let digests = p["digests"].as_object().unwrap();
        let families: Vec<_> = digests.keys().cloned().collect();
        assert_eq!(families, ["sha-256", "sha-384", "sm3"]);
        assert_eq!(digests["sha-384"].as_str().unwrap().len(), 96);
    }
    let m = &j["manifest"];
    assert_eq!(m["product"], "acme.cli-test");
    assert_eq!(m["version"], "2.0.0");
    assert_eq!(m["security_version"], 5);
    assert_eq!(m["hw_compat"], serde_json::json!(["rev-a", "rev-b"]));
    assert_eq!(m["created"], created_text());
    assert!(m["expires"].is_null());
    assert_eq!(m["signers"].as_array().unwrap().len(), 3);
    assert_eq!(
        j["digests_checked"],
        serde_json::json!(["sha-256", "sha-384", "sm3"])
    );

    // The same schema describes a rejection: the tampered payload is named.
    let dir = test_dir("json-rejected");
    let mut bytes = read_file(&fx().package);
    let m = tar_members(&bytes)
        .into_iter()
        .find(|m| m.name == "cfg.dat")
        .unwrap();
    bytes[m.data] ^= 1;
    let bad = write_file(&dir, "bad.ota", &bytes);
    let roots = roots();
    let j = rejected(
        &otaseal(["verify", s(&bad), "--json", "--trust", s(&roots)]),
        "payload-digest-mismatch",
    );
    assert!(j["reason"].as_str().unwrap().contains("payload 1"));
    assert_eq!(j["payloads"][0]["status"], "matched");
    assert_eq!(j["payloads"][1]["status"], "digest-mismatch");
    assert_eq!(j["signatures"].as_array().unwrap().len(), 3);
}

#[test]
fn verify_text_output() {
    let roots = roots();
    let run = otaseal(["verify", s(&fx().package), "--trust", s(&roots)]);
    run.expect_code(0);
    assert!(run.stdout.starts_with("ACCEPTED"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("acme.cli-test 2.0.0 (security version 5)")
    );
    let run = otaseal([
        "verify",
        s(&fx().package),
        "--trust",
        s(&roots),
        "--hw-id",
        "rev-c",
    ]);
    run.expect_code(1);
    assert!(run.stdout.starts_with("REJECTED"), "{}", run.stdout);
    assert!(run.stdout.contains("[hw-incompatible]"), "{}", run.stdout);
}

#[test]
fn require_alternatives_are_any_of() {
    // Second alternative wholly valid.
    accepted(&verify_fixture(&[
        "--require",
        "ml-dsa-87",
        "--require",
        "ecdsa-p256+sm2",
    ]));
    accepted(&verify_fixture(&["--require", "ecdsa-p256+sm2+ml-dsa-65"]));
    // An alternative is all-of: one missing suite fails it.
    rejected(
        &verify_fixture(&["--require", "ecdsa-p256+ml-dsa-87"]),
        "policy-unsatisfied",
    );
    // No alternative satisfied: the first unmet suite of the first one is reported.
    let j = rejected(
        &verify_fixture(&["--require", "ml-dsa-87+ecdsa-p256", "--require", "ed25519"]),
        "policy-unsatisfied",
    );
    assert!(
        j["reason"].as_str().unwrap().contains("ml-dsa-87"),
        "{}",
        j["reason"]
    );
}

#[test]
fn qa_desk_trusting_only_the_ecdsa_root() {
    let root = fx().pki.join("ecdsa-p256/root.cert.pem");
    let run = |extra: &[&str]| {
        let mut args = vec!["verify", s(&fx().package), "--json", "--trust", s(&root)];
        args.extend_from_slice(extra);
        otaseal(args)
    };
    // Strict default: every declared suite must be valid; sm2 is untrusted.
    let j = rejected(&run(&[]), "chain-untrusted");
    assert_eq!(j["signatures"][0]["status"], "valid");
    assert_eq!(j["signatures"][1]["status"], "untrusted");
    assert_eq!(j["signatures"][1]["code"], "chain-untrusted");
    // The QA desk's policy: ecdsa-p256 alone.
    let j = accepted(&run(&["--require", "ecdsa-p256"]));
    assert_eq!(
        statuses(&j),
        [
            pair("ecdsa-p256", "valid"),
            pair("sm2", "untrusted"),
            pair("ml-dsa-65", "untrusted")
        ]
    );
    // Only the families of the valid suite are relied on.
    assert_eq!(j["digests_checked"], serde_json::json!(["sha-256"]));
    // But it cannot claim the SM2 signature.
    rejected(&run(&["--require", "sm2"]), "chain-untrusted");
}

#[test]
fn digest_selection() {
    let j = accepted(&verify_fixture(&["--digest", "sm3"]));
    assert_eq!(j["digests_checked"], serde_json::json!(["sm3"]));
    assert_eq!(j["payloads"][0]["checked"], serde_json::json!(["sm3"]));
    let j = accepted(&verify_fixture(&["--digest", "sha-256,sha-384"]));
    assert_eq!(
        j["digests_checked"],
        serde_json::json!(["sha-256", "sha-384"])
    );
    rejected(
        &verify_fixture(&["--digest", "sha-256,sha-512"]),
        "payload-digest-missing",
    );
    // By default the families of the valid suites are checked.
    let j = accepted(&verify_fixture(&[]));
    assert_eq!(
        j["digests_checked"],
        serde_json::json!(["sha-256", "sha-384", "sm3"])
    );

    // `all` is accepted, and still catches a changed payload byte.
    accepted(&verify_fixture(&["--digest", "all"]));
    let dir = test_dir("digest-all-tamper");
    let mut bytes = read_file(&fx().package);
    let m = tar_members(&bytes)
        .into_iter()
        .find(|m| m.name == "fw.bin")
        .unwrap();
    bytes[m.data + 39_999] ^= 0x80;
    let bad = write_file(&dir, "bad.ota", &bytes);
    let roots = roots();
    for digest in ["all", "sm3", "sha-384"] {
        rejected(
            &otaseal([
                "verify",
                s(&bad),
                "--json",
                "--trust",
                s(&roots),
                "--digest",
                digest,
            ]),
            "payload-digest-mismatch",
        );
    }

    // A package signed with an extra SHA-512 family: by default ecdsa-p256
    // relies on SHA-256 only.
    let out = dir.join("sha512.ota");
    sign(
        &out,
        &[signer(&fx().pki, "ecdsa-p256")],
        &[&fx().cfg],
        &["--digest", "sha-512"],
    )
    .expect_code(0);
    let j = accepted(&otaseal([
        "verify",
        s(&out),
        "--json",
        "--trust",
        s(&roots),
    ]));
    assert_eq!(j["digests_checked"], serde_json::json!(["sha-256"]));
    let j = accepted(&otaseal([
        "verify",
        s(&out),
        "--json",
        "--trust",
        s(&roots),
        "--digest",
        "sha-512",
    ]));
    assert_eq!(j["digests_checked"], serde_json::json!(["sha-512"]));
}

#[test]
fn digest_all_reports_the_families_in_the_manifest() {
    // policy.md 4: `--digest all` checks every family the manifest carries;
    // `digests_checked` (EnvelopeVerdict::digests, "families that will be
    // checked") must name exactly those, not SHA-512 for a manifest without it.
    let j = accepted(&verify_fixture(&["--digest", "all"]));
    assert_eq!(
        j["digests_checked"],
        serde_json::json!(["sha-256", "sha-384", "sm3"])
    );
    assert_eq!(
        j["payloads"][0]["checked"],
        serde_json::json!(["sha-256", "sha-384", "sm3"])
    );

    let dir = test_dir("digest-all");
    let out = dir.join("sha512.ota");
    sign(
        &out,
        &[signer(&fx().pki, "ecdsa-p256")],
        &[&fx().cfg],
        &["--digest", "sha-512"],
    )
    .expect_code(0);
    let roots = roots();
    let j = accepted(&otaseal([
        "verify",
        s(&out),
        "--json",
        "--trust",
        s(&roots),
        "--digest",
        "all",
    ]));
    assert_eq!(
        j["digests_checked"],
        serde_json::json!(["sha-256", "sha-512", "sm3"])
    );
}

#[test]
fn raw_key_signing_with_keygen_keys() {
    let dir = test_dir("raw-keys");
    let ed = dir.join("ed.pem");
    let ml = dir.join("ml.pem");
    otaseal(["keygen", "--alg", "ed25519", "--out", s(&ed)]).expect_code(0);
    otaseal(["keygen", "--alg", "ml-dsa-44", "--out", s(&ml)]).expect_code(0);
    let out = dir.join("raw.ota");
    sign(
        &out,
        &[format!("key={}", s(&ed)), format!("key={}", s(&ml))],
        &[&fx().fw],
        &[],
    )
    .expect_code(0);
    let ed_pub = dir.join("ed.pub.pem");
    let ml_pub = dir.join("ml.pub.pem");
    let run = |keys: &[&Path], extra: &[&str]| {
        let mut args = vec!["verify".to_string(), s(&out).into(), "--json".into()];
        for k in keys {
            args.push("--trust-key".into());
            args.push(s(k).into());
        }
        args.extend(extra.iter().map(|a| a.to_string()));
        otaseal(args)
    };
    let j = accepted(&run(&[&ed_pub, &ml_pub], &[]));
    assert_eq!(
        statuses(&j),
        [pair("ed25519", "valid"), pair("ml-dsa-44", "valid")]
    );
    assert_eq!(j["signatures"][0]["trust"], "key");
    assert!(
        j["signatures"][0]["signer"]
            .as_str()
            .unwrap()
            .starts_with("key ")
    );
    // One key trusted: strict rejects, a policy for that suite accepts.
    let j = rejected(&run(&[&ed_pub], &[]), "key-untrusted");
    assert_eq!(j["signatures"][1]["status"], "untrusted");
    accepted(&run(&[&ed_pub], &["--require", "ed25519"]));
    rejected(
        &run(&[&ed_pub], &["--require", "ml-dsa-44"]),
        "key-untrusted",
    );
    // Root certificates do not vouch for raw keys.
    let roots = roots();
    rejected(
        &otaseal(["verify", s(&out), "--json", "--trust", s(&roots)]),
        "key-untrusted",
    );
}

#[test]
fn trust_key_pins_a_certified_leaf() {
    // A leaf whose public key is trusted directly needs no chain.
    let leaf_pub = fx().pki.join("ecdsa-p256/signer.pub.pem");
    let run = otaseal([
        "verify",
        s(&fx().package),
        "--json",
        "--trust-key",
        s(&leaf_pub),
        "--require",
        "ecdsa-p256",
    ]);
    let j = accepted(&run);
    assert_eq!(j["signatures"][0]["status"], "valid");
}

// ---------------------------------------------------------------------------
// inspect
// ---------------------------------------------------------------------------

#[test]
fn inspect_json_on_valid_and_garbage_files() {
    let run = otaseal(["inspect", s(&fx().package), "--json"]);
    run.expect_code(0);
    let j = run.json();
    assert_eq!(j["verified"], false);
    assert_eq!(j["manifest"]["product"], "acme.cli-test");
    assert_eq!(j["manifest"]["security_version"], 5);
    assert_eq!(j["size"], std::fs::metadata(&fx().package).unwrap().len());
    let sigs = j["signatures"].as_array().unwrap();
    assert_eq!(sigs.len(), 3);
    assert_eq!(sigs[2]["suite"], "ml-dsa-65");
    assert_eq!(sigs[2]["signature_bytes"], 3309);
    assert_eq!(sigs[1]["signature_bytes"], 64);
    let certs = sigs[0]["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 2);
    assert_eq!(certs[0]["subject"], "otaseal dev signer (ecdsa-p256)");
    assert_eq!(certs[0]["code_signing"], true);
    assert_eq!(j["payloads"][0]["name"], "fw.bin");

    let dir = test_dir("inspect-garbage");
    for (name, bytes) in [
        ("garbage.ota", pseudo_random(5000, 9)),
        ("empty.ota", Vec::new()),
        ("zeros.ota", vec![0u8; 4096]),
    ] {
        let path = write_file(&dir, name, &bytes);
        let run = otaseal(["inspect", s(&path), "--json"]);
        run.expect_code(1);
        let j = run.json();
        assert!(j["error"].is_string(), "{name}: {}", run.stdout);
        // Text mode explains on stderr.
        let run = otaseal(["inspect", s(&path)]);
        run.expect_code(1);
        assert!(
            run.stderr.contains("not a readable otaseal package"),
            "{}",
            run.stderr
        );
    }
    // A missing file is an I/O error.
    let run = otaseal(["inspect", s(&dir.join("missing.ota"))]);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("missing.ota: No such file or directory"),
        "{}",
        run.stderr
    );
    let _ = &fx().dir;
}

// ---------------------------------------------------------------------------
// help
// ---------------------------------------------------------------------------

#[test]
fn every_subcommand_help_has_an_example() {
    for cmd in [
        &["--help"][..],
        &["keygen", "--help"],
        &["sign", "--help"],
        &["verify", "--help"],
        &["inspect", "--help"],
        &["pki", "init", "--help"],
        &["demo", "--help"],
    ] {
        let run = otaseal(cmd);
        run.expect_code(0);
        assert!(
            run.stdout.contains("Example"),
            "otaseal {cmd:?} lacks an example:\n{}",
            run.stdout
        );
    }
    // No subcommand: a usage error.
    let run = otaseal(Vec::<String>::new());
    run.expect_code(2);
    assert!(run.stderr.contains("Usage: otaseal"), "{}", run.stderr);
}
