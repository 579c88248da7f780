//! Golden packages and unsafe archives under `firmware-fixtures/`.
//!
//! - every case of `golden/expected.json` verifies with the recorded verdict,
//!   code and exit status (one test per case);
//! - every archive of `unsafe/expected.json` is refused by `otaseal sign`;
//! - `otaseal inspect --json` decodes every accepted golden package;
//! - the committed samples still hash to the digests in the golden manifests.
//!
//! Regenerate the fixtures with `bash firmware-fixtures/regenerate.sh`.

use std::collections::BTreeSet;
use std::fs;
use std::process::Command;

use otaseal_manifest::{DigestAlg, DigestSet, Suite, SuiteSet};
use otaseal_sign::{keys, pki};
use otaseal_tests::{Run, fixtures_dir, otaseal, otaseal_bin, run_command, test_dir};
use otaseal_verify::digest::{SerialDigester, payload_roots};
use otaseal_verify::{DigestPolicy, PackageVerifier, Policy, Requirement, TrustAnchor, TrustStore};
use serde_json::Value;

fn read_json(relative: &str) -> Value {
    let path = fixtures_dir().join(relative);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run firmware-fixtures/regenerate.sh)",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key:?} is not a string in {v}"))
}

fn golden_cases() -> Vec<Value> {
    read_json("golden/expected.json")["cases"]
        .as_array()
        .expect("golden/expected.json: cases is an array")
        .clone()
}

fn golden_case(name: &str) -> Value {
    golden_cases()
        .into_iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no case {name:?} in golden/expected.json"))
}

/// Runs `otaseal ARGS` in `firmware-fixtures/`, where the paths of
/// `expected.json` are relative to.
fn otaseal_in_fixtures(args: &[&str]) -> Run {
    run_command(
        Command::new(otaseal_bin())
            .args(args)
            .current_dir(fixtures_dir()),
    )
}

fn verify_case(name: &str) {
    let case = golden_case(name);
    let file = str_of(&case, "file");
    let args: Vec<&str> = case["args"]
        .as_array()
        .expect("args is an array")
        .iter()
        .map(|a| a.as_str().expect("args are strings"))
        .collect();
    assert!(
        args.contains(&"--at"),
        "{name}: a golden case must pin the time with --at"
    );
    let mut words = vec!["verify", file];
    words.extend(&args);
    words.push("--json");
    let run = otaseal_in_fixtures(&words);

    let exit = case["exit"].as_i64().expect("exit is a number") as i32;
    run.expect_code(exit);
    let out = run.json();
    let context = format!("case {name}: otaseal {}\n{out:#}", words.join(" "));
    assert_eq!(out["verdict"], case["verdict"], "{context}");
    assert_eq!(out["code"], case["code"], "{context}");
    assert_eq!(out["time_source"], "--at", "{context}");

    if case["verdict"] == "accepted" {
        assert_eq!(exit, 0, "{context}");
        let signatures = out["signatures"].as_array().expect("signatures");
        assert!(!signatures.is_empty(), "{context}");
        for s in signatures {
            assert_eq!(s["status"], "valid", "{context}");
        }
        let payloads = out["payloads"].as_array().expect("payloads");
        assert!(!payloads.is_empty(), "{context}");
        for p in payloads {
            assert_eq!(p["status"], "ok", "{context}");
        }
        assert!(
            !out["digests_checked"]
                .as_array()
                .expect("digests")
                .is_empty(),
            "{context}"
        );
    } else {
        assert_eq!(exit, 1, "{context}");
        assert!(!str_of(&out, "reason").is_empty(), "{context}");
        // Exact statuses: a rejection in the envelope checks no payload; the
        // tampered package (regenerate.sh flips a byte of firmware.bin, its
        // first payload) fails on that payload and checks none after it.
        let payloads = out["payloads"].as_array().expect("payloads");
        assert!(!payloads.is_empty(), "{context}");
        for (i, p) in payloads.iter().enumerate() {
            let want = match (str_of(&case, "code"), i) {
                ("payload-digest-mismatch", 0) => "digest-mismatch",
                _ => "not-checked",
            };
            assert_eq!(p["status"], want, "{context}: payload {i}");
        }
        if str_of(&case, "code") == "payload-digest-mismatch" {
            assert_eq!(payloads[0]["name"], "firmware.bin", "{context}");
        }
    }
    let expected = read_json("golden/expected.json");
    assert_eq!(out["manifest"]["created"], expected["created"], "{context}");
    verify_case_with_library(&case, &args);
}

fn anchors(ders: &[Vec<u8>]) -> Vec<TrustAnchor<'_>> {
    ders.iter()
        .map(|d| otaseal_verify::anchor_from_der(d).unwrap())
        .collect()
}

/// `2027-06-01T00:00:00Z` as Unix seconds (the only form the cases use).
fn parse_time(text: &str) -> u64 {
    let b = text.as_bytes();
    assert!(b.len() == 20 && b[10] == b'T' && b[19] == b'Z', "{text:?}");
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
    (days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19)) as u64
}

/// The same case through the library (`PackageVerifier`, the API a device
/// calls), with the policy the CLI builds from the case's arguments
/// (otaseal-cli's verify.rs, mirrored here): the same verdict and code.
fn verify_case_with_library(case: &Value, args: &[&str]) {
    let name = str_of(case, "name");
    let pems = |path: &str| -> Vec<Vec<u8>> {
        let pem = fs::read_to_string(fixtures_dir().join(path)).unwrap();
        pki::certs_from_pem(&pem).unwrap()
    };
    let (mut roots, mut tsa_roots, mut keys) = (Vec::new(), Vec::new(), Vec::new());
    let mut sets = Vec::new();
    let mut policy_digests = DigestPolicy::FollowSuites;
    let (mut hw_id, mut min_sv, mut time) = (None, None, None);
    let mut require_timestamp = SuiteSet::EMPTY;
    let mut it = args.iter().copied();
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{name}: {flag} value"));
        match flag {
            "--trust" => roots.extend(pems(value())),
            "--tsa-trust" => tsa_roots.extend(pems(value())),
            "--trust-key" => {
                let pem = fs::read_to_string(fixtures_dir().join(value())).unwrap();
                keys.push(keys::public_key_from_pem(&pem).unwrap().1);
            }
            "--require" => sets.push(SuiteSet::parse(value()).unwrap()),
            "--digest" => {
                policy_digests = match value() {
                    "all" => DigestPolicy::AllInManifest,
                    list => {
                        DigestPolicy::Families(list.split(',').fold(DigestSet::EMPTY, |set, n| {
                            set.with(DigestAlg::from_name(n).unwrap())
                        }))
                    }
                }
            }
            "--hw-id" => hw_id = Some(value().to_string()),
            "--min-security-version" => min_sv = Some(value().parse::<u64>().unwrap()),
            "--at" => time = Some(parse_time(value())),
            "--require-timestamp" => {
                require_timestamp = Suite::ALL
                    .iter()
                    .fold(SuiteSet::EMPTY, |set, s| set.with(*s))
            }
            other => panic!("{name}: flag {other} not mirrored in golden.rs"),
        }
    }
    let (roots, tsa_roots) = (anchors(&roots), anchors(&tsa_roots));
    let key_refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    let policy = Policy {
        require: if sets.is_empty() {
            Requirement::AllDeclared
        } else {
            Requirement::AnyOf(&sets)
        },
        hw_id: hw_id.as_deref(),
        min_security_version: min_sv,
        time,
        digests: policy_digests,
        require_timestamp,
        tsa_policies: None,
    };
    let trust = TrustStore {
        roots: &roots,
        keys: &key_refs,
        tsa_roots: &tsa_roots,
    };
    let bytes = fs::read(fixtures_dir().join(str_of(case, "file"))).unwrap();
    let mut buf = vec![0u8; otaseal_verify::buffer_size(64 * 1024)];
    let mut v = PackageVerifier::new(&mut buf, policy, trust);
    let mut sink_bytes = 0usize;
    let mut first = None;
    for piece in bytes.chunks(4096) {
        if let Err(e) = v.update_with(piece, &mut |_, data| sink_bytes += data.len()) {
            first = Some(e);
            break;
        }
    }
    let result = match first {
        Some(e) => Err(e),
        None => v.finish().map(|_| ()),
    };
    let code = result.map_or_else(|e| e.code(), |()| "ok");
    assert_eq!(
        code,
        str_of(case, "code"),
        "case {name} through the library"
    );
    let verdict = if code == "ok" { "accepted" } else { "rejected" };
    assert_eq!(verdict, str_of(case, "verdict"), "case {name}");
    if code != "ok" && code != "payload-digest-mismatch" {
        assert_eq!(sink_bytes, 0, "case {name}: payload released");
    }
}

macro_rules! golden {
    ($($test:ident => $name:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                verify_case($name);
            }
        )*
        /// The cases that have a test above.
        const CASES: &[&str] = &[$($name),*];
    };
}

golden! {
    golden_p256_sm2 => "p256-sm2",
    golden_p256_mldsa65_hybrid => "p256-mldsa65-hybrid",
    golden_all_suites => "all-suites",
    golden_sm2_only => "sm2-only",
    golden_raw_key_ed25519 => "raw-key-ed25519",
    golden_expired_manifest_before_expiry => "expired-manifest-before-expiry",
    golden_expired_manifest => "expired-manifest",
    golden_wrong_hw => "wrong-hw",
    golden_rollback => "rollback",
    golden_tampered_payload => "tampered-payload",
    golden_stripped_signature => "stripped-signature",
    golden_timestamped_after_expiry => "timestamped-after-expiry",
    golden_untimestamped_after_expiry => "untimestamped-after-expiry",
    golden_timestamp_untrusted_tsa => "timestamp-untrusted-tsa",
    golden_wrong_root => "wrong-root",
    golden_untrusted_root => "untrusted-root",
}

#[test]
fn every_golden_case_and_package_is_tested() {
    let cases = golden_cases();
    let in_json: BTreeSet<&str> = cases.iter().map(|c| str_of(c, "name")).collect();
    let tested: BTreeSet<&str> = CASES.iter().copied().collect();
    assert_eq!(
        in_json, tested,
        "golden/expected.json and the golden! list in tests/tests/golden.rs differ"
    );
    assert_eq!(in_json.len(), cases.len(), "duplicate case names");

    let referenced: BTreeSet<String> = cases
        .iter()
        .map(|c| str_of(c, "file").to_string())
        .collect();
    let on_disk: BTreeSet<String> = fs::read_dir(fixtures_dir().join("golden"))
        .expect("read golden/")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".ota"))
        .map(|n| format!("golden/{n}"))
        .collect();
    assert_eq!(
        referenced, on_disk,
        "every golden/*.ota must be used by a case, and every case's file must exist"
    );
}

#[test]
fn unsafe_archives_are_refused_by_sign() {
    let spec = read_json("unsafe/expected.json");
    let archives = spec["archives"].as_array().expect("archives is an array");
    let dir = test_dir("golden-unsafe");
    let key = fixtures_dir().join("pki/ecdsa-p256/signer.key.pem");
    let mut listed = BTreeSet::new();
    for a in archives {
        let file = str_of(a, "file");
        let entry = str_of(a, "entry");
        let reason = str_of(a, "reason");
        listed.insert(file.to_string());
        let archive = fixtures_dir().join("unsafe").join(file);
        let out = dir.join(format!("{file}.ota"));
        let signer = format!("key={}", key.display());
        let run = otaseal([
            "sign".into(),
            "--out".into(),
            out.clone().into_os_string(),
            "--product".into(),
            "acme.unsafe".into(),
            "--version".into(),
            "1".into(),
            "--security-version".into(),
            "1".into(),
            "--hw-compat".into(),
            "acme-rev-a".into(),
            "--created".into(),
            "2026-12-01T00:00:00Z".into(),
            "--signer".into(),
            signer.into(),
            archive.into_os_string(),
        ] as [std::ffi::OsString; 16]);
        run.expect_code(2);
        let named = format!("unsafe entry {entry:?} in ");
        assert!(
            run.stderr.contains(&named) && run.stderr.contains(reason),
            "{file}: expected {named:?} and {reason:?} in stderr:\n{}",
            run.stderr
        );
        assert!(
            run.stderr.contains(file),
            "{file}: the message names the archive:\n{}",
            run.stderr
        );
        assert!(!out.exists(), "{file}: no package may be left behind");
    }
    let on_disk: BTreeSet<String> = fs::read_dir(fixtures_dir().join("unsafe"))
        .expect("read unsafe/")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n != "expected.json")
        .collect();
    assert_eq!(
        listed, on_disk,
        "unsafe/expected.json must list every archive"
    );
    for kind in [".tar", ".tar.gz", ".zip"] {
        assert!(
            listed.iter().any(|f| f.ends_with(kind)),
            "no unsafe {kind} fixture"
        );
    }
}

#[test]
fn inspect_json_decodes_accepted_packages() {
    let files: BTreeSet<String> = golden_cases()
        .iter()
        .filter(|c| c["verdict"] == "accepted")
        .map(|c| str_of(c, "file").to_string())
        .collect();
    assert!(!files.is_empty());
    for file in &files {
        let run = otaseal_in_fixtures(&["inspect", file, "--json"]);
        run.expect_code(0);
        let out = run.json();
        assert_eq!(out["verified"], false, "{file}");
        assert_eq!(out["manifest"]["product"], "acme.router-x1", "{file}");
        let size = fs::metadata(fixtures_dir().join(file)).unwrap().len();
        assert_eq!(out["size"].as_u64(), Some(size), "{file}");
        let declared = out["manifest"]["signers"].as_array().expect("signers");
        let signatures = out["signatures"].as_array().expect("signatures");
        assert_eq!(declared.len(), signatures.len(), "{file}");
        for (d, s) in declared.iter().zip(signatures) {
            assert_eq!(d["suite"], s["suite"], "{file}");
            assert_eq!(d["kid"], s["kid"], "{file}");
            assert!(s["signature_bytes"].as_u64().unwrap_or(0) > 0, "{file}");
        }
        let payloads = out["payloads"].as_array().expect("payloads");
        assert!(!payloads.is_empty(), "{file}");
        for p in payloads {
            assert!(
                !p["digests"].as_object().expect("digests").is_empty(),
                "{file}"
            );
        }
    }
    // The all-suites package really carries all eight suites.
    let run = otaseal_in_fixtures(&["inspect", "golden/all-suites.ota", "--json"]);
    let out = run.expect_code(0).json();
    let suites: Vec<&str> = out["signatures"]
        .as_array()
        .expect("signatures")
        .iter()
        .map(|s| s["suite"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        suites,
        [
            "ecdsa-p256",
            "ecdsa-p384",
            "ed25519",
            "rsa-pss-3072",
            "sm2",
            "ml-dsa-44",
            "ml-dsa-65",
            "ml-dsa-87"
        ]
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn samples_match_the_golden_manifests() {
    let files: BTreeSet<String> = golden_cases()
        .iter()
        .map(|c| str_of(c, "file").to_string())
        .collect();
    let mut seen = BTreeSet::new();
    for file in &files {
        let run = otaseal_in_fixtures(&["inspect", file, "--json"]);
        run.expect_code(0);
        let out = run.json();
        let chunk_size = out["manifest"]["chunk_size"].as_u64().expect("chunk_size");
        assert!(chunk_size.is_power_of_two(), "{file}");
        let chunk_log2 = chunk_size.trailing_zeros() as u8;
        for p in out["payloads"].as_array().expect("payloads") {
            let name = str_of(p, "name");
            let sample = fixtures_dir().join("samples").join(name);
            let data = fs::read(&sample)
                .unwrap_or_else(|e| panic!("{file}: payload {name}: {}: {e}", sample.display()));
            assert_eq!(
                p["size"].as_u64(),
                Some(data.len() as u64),
                "{file}: samples/{name} changed size; run firmware-fixtures/regenerate.sh"
            );
            let digests = p["digests"].as_object().expect("digests");
            let mut algs = DigestSet::EMPTY;
            for alg in digests.keys() {
                algs = algs.with(
                    DigestAlg::from_name(alg).unwrap_or_else(|| panic!("unknown digest {alg}")),
                );
            }
            for (alg, root) in payload_roots(algs, &data, chunk_log2, &SerialDigester) {
                assert_eq!(
                    digests[alg.name()].as_str(),
                    Some(hex(root.as_bytes()).as_str()),
                    "{file}: samples/{name} no longer matches its {} digest; \
                     run firmware-fixtures/regenerate.sh",
                    alg.name()
                );
            }
            seen.insert(name.to_string());
        }
    }
    // Every sample is covered by at least one golden package.
    let samples: BTreeSet<String> = fs::read_dir(fixtures_dir().join("samples"))
        .expect("read samples/")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(
        seen, samples,
        "every sample is a payload of some golden package"
    );
}
