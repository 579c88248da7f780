//! Wycheproof verification vectors for the classic suites, run through
//! `otaseal_verify::crypto::verify_signature`, the function the envelope
//! check calls for every COSE signature (`signatures.rs`), with each suite's
//! COSE encoding: ECDSA P-256/SHA-256 and P-384/SHA-384 as IEEE P1363
//! `r || s`, Ed25519 as 64 bytes, RSA-PSS 3072 (SHA-256, MGF1-SHA-256, salt
//! 32) as 384 bytes. (ML-DSA's vectors run in `crates/otaseal-mldsa`.)
//!
//! Every vector is run; a `valid` one must verify and an `invalid` one must
//! not, with one documented exception: otaseal refuses ECDSA signatures
//! whose S is above n/2 (`signature-high-s`, spec/policy.md 1), which
//! Wycheproof lists as valid (ECDSA itself accepts both S and n - S). Each
//! such vector is counted, and shown to verify once S is replaced by n - S,
//! so the refusal is the low-S rule and nothing else. An invalid vector
//! refused for high S is likewise re-checked with n - S: it must still fail,
//! so no invalid verdict rests on the low-S rule alone. The files have no
//! `acceptable` vectors (checked).

use otaseal_tests::repo_root;
use otaseal_verify::Suite;
use otaseal_verify::crypto::{CryptoError, verify_signature};
use serde_json::Value;

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Group orders, big-endian.
const P256_N: &str = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
const P384_N: &str = "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973";

/// `a - b` for equal-length big-endian magnitudes with `a >= b`.
fn sub(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; a.len()];
    let mut borrow = 0i16;
    for i in (0..a.len()).rev() {
        let mut d = i16::from(a[i]) - i16::from(b[i]) - borrow;
        borrow = i16::from(d < 0);
        if d < 0 {
            d += 256;
        }
        out[i] = d as u8;
    }
    assert_eq!(borrow, 0, "a < b");
    out
}

/// The signature with S replaced by n - S, when 0 < S < n (else `None`).
fn negate_s(sig: &[u8], n: &[u8]) -> Option<Vec<u8>> {
    let w = n.len();
    if sig.len() != 2 * w {
        return None;
    }
    let s = &sig[w..];
    if s.iter().all(|b| *b == 0) || s >= n {
        return None;
    }
    Some([&sig[..w], &sub(n, s)[..]].concat())
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Counts {
    valid_accepted: usize,
    /// Wycheproof-valid, refused only by the low-S rule (verify with n - S).
    valid_high_s: usize,
    invalid_rejected: usize,
    /// Invalid and high S, still rejected with n - S.
    invalid_high_s: usize,
}

fn run_file(file: &str, suite: Suite, order: Option<&str>) -> Counts {
    let path = repo_root().join("firmware-fixtures/wycheproof").join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (vendored with the repository)", path.display()));
    let json: Value = serde_json::from_str(&text).unwrap();
    let n = order.map(unhex);
    let mut counts = Counts::default();
    let mut failures = Vec::new();
    let mut total = 0;
    for group in json["testGroups"].as_array().unwrap() {
        let spki = unhex(group["publicKeyDer"].as_str().unwrap());
        for t in group["tests"].as_array().unwrap() {
            total += 1;
            let id = t["tcId"].as_u64().unwrap();
            let msg = unhex(t["msg"].as_str().unwrap());
            let sig = unhex(t["sig"].as_str().unwrap());
            let result = t["result"].as_str().unwrap();
            let got = verify_signature(suite, &spki, &msg, &sig);
            let negated = || {
                let n = n.as_deref()?;
                Some(verify_signature(suite, &spki, &msg, &negate_s(&sig, n)?))
            };
            match (result, got) {
                ("valid", Ok(())) => counts.valid_accepted += 1,
                ("valid", Err(CryptoError::HighS)) if negated() == Some(Ok(())) => {
                    counts.valid_high_s += 1
                }
                ("invalid", Err(CryptoError::HighS)) => match negated() {
                    Some(Err(_)) | None => counts.invalid_high_s += 1,
                    Some(Ok(())) => {
                        failures.push(format!("tcId {id}: invalid, verifies with n - S"))
                    }
                },
                ("invalid", Err(_)) => counts.invalid_rejected += 1,
                (result, got) => failures.push(format!(
                    "tcId {id} ({result}, {}): {got:?}",
                    t["comment"].as_str().unwrap_or("")
                )),
            }
        }
    }
    assert!(failures.is_empty(), "{file}: {failures:#?}");
    assert_eq!(
        total,
        json["numberOfTests"].as_u64().unwrap() as usize,
        "{file}"
    );
    eprintln!("{file}: {total} vectors: {counts:?}");
    counts
}

#[test]
fn ecdsa_p256_p1363() {
    let c = run_file(
        "ecdsa_secp256r1_sha256_p1363_test.json",
        Suite::EcdsaP256,
        Some(P256_N),
    );
    // Figures of the vendored file (commit in its README): 173 valid, of
    // which 70 have a high S; 89 invalid, 9 of them also with a high S.
    assert_eq!(
        c,
        Counts {
            valid_accepted: 103,
            valid_high_s: 70,
            invalid_rejected: 80,
            invalid_high_s: 9,
        }
    );
}

#[test]
fn ecdsa_p384_p1363() {
    let c = run_file(
        "ecdsa_secp384r1_sha384_p1363_test.json",
        Suite::EcdsaP384,
        Some(P384_N),
    );
    // 193 valid (88 with a high S), 87 invalid (8 with a high S).
    assert_eq!(
        c,
        Counts {
            valid_accepted: 105,
            valid_high_s: 88,
            invalid_rejected: 79,
            invalid_high_s: 8,
        }
    );
}

#[test]
fn ed25519() {
    let c = run_file("ed25519_test.json", Suite::Ed25519, None);
    assert_eq!(
        c,
        Counts {
            valid_accepted: 88,
            invalid_rejected: 63,
            ..Counts::default()
        }
    );
}

#[test]
fn rsa_pss_3072_sha256_mgf1_32() {
    let c = run_file(
        "rsa_pss_3072_sha256_mgf1_32_test.json",
        Suite::RsaPss3072,
        None,
    );
    assert_eq!(
        c,
        Counts {
            valid_accepted: 63,
            invalid_rejected: 45,
            ..Counts::default()
        }
    );
}

/// The helper the high-S accounting relies on: n - (n - S) = S.
#[test]
fn negate_s_is_an_involution() {
    let n = unhex(P256_N);
    let sig: Vec<u8> = (1..=64).collect();
    let once = negate_s(&sig, &n).unwrap();
    assert_ne!(once, sig);
    assert_eq!(negate_s(&once, &n).unwrap(), sig);
    assert_eq!(negate_s(&[&sig[..32], &n[..]].concat(), &n), None);
}
