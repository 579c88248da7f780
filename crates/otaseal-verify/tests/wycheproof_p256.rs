//! Wycheproof's ECDSA P-256 / SHA-256 vectors (IEEE P1363 `r || s`, COSE's
//! encoding) through `crypto::verify_signature` on the host backend
//! (RustCrypto p256). `firmware-example` (feature `wycheproof`, run by
//! `measure.sh` in QEMU) runs the same vectors with the same expectations
//! through the thumbv7em backend (p256-cm4), so both backends agree.
//!
//! otaseal's verdicts beyond plain ECDSA: a valid signature with S above n/2
//! is refused with `HighS` (format.md: one encoding per signature) and its
//! twin with S = n - S verifies; every valid vector also verifies with the
//! key in compressed SEC1 form.
#![cfg(feature = "ecdsa-p256")]

use otaseal_verify::Suite;
use otaseal_verify::crypto::{CryptoError, verify_signature};

const FILE: &str = "ecdsa_secp256r1_sha256_p1363_test.json";

/// Order n of P-256, big-endian.
const N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// SPKI header of a compressed P-256 key (33-byte BIT STRING contents).
const COMPRESSED_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x39, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x22, 0x00,
];

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// n - s, big-endian, for 0 < s < n.
fn neg(s: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = i16::from(N[i]) - i16::from(s[i]) - borrow;
        borrow = i16::from(d < 0);
        if d < 0 {
            d += 256;
        }
        out[i] = d as u8;
    }
    out
}

#[test]
fn wycheproof_ecdsa_p256_sha256_p1363() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../firmware-fixtures/wycheproof")
        .join(FILE);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let (mut runs, mut accepted, mut high_s) = (0, 0, 0);
    for group in json["testGroups"].as_array().unwrap() {
        let spki = hex(group["publicKeyDer"].as_str().unwrap());
        let point = hex(group["publicKey"]["uncompressed"].as_str().unwrap());
        assert_eq!((point.len(), point[0]), (65, 4));
        let mut compressed = COMPRESSED_SPKI_PREFIX.to_vec();
        compressed.push(2 | (point[64] & 1));
        compressed.extend_from_slice(&point[1..33]);
        for t in group["tests"].as_array().unwrap() {
            let id = &t["tcId"];
            let msg = hex(t["msg"].as_str().unwrap());
            let sig = hex(t["sig"].as_str().unwrap());
            let mut verify = |key: &[u8], sig: &[u8]| {
                runs += 1;
                verify_signature(Suite::EcdsaP256, key, &msg, sig)
            };
            match t["result"].as_str().unwrap() {
                "valid" => {
                    let (r, s) = sig.split_at(32);
                    for key in [&spki, &compressed] {
                        if s > neg(s).as_slice() {
                            high_s += 1;
                            assert_eq!(verify(key, &sig), Err(CryptoError::HighS), "tcId {id}");
                            let twin = [r, neg(s).as_slice()].concat();
                            assert_eq!(verify(key, &twin), Ok(()), "tcId {id} low-S twin");
                        } else {
                            assert_eq!(verify(key, &sig), Ok(()), "tcId {id}");
                        }
                        accepted += 1;
                    }
                }
                "invalid" => assert!(verify(&spki, &sig).is_err(), "tcId {id} accepted"),
                other => panic!("tcId {id}: result {other}"),
            }
        }
    }
    // The file's 262 cases: 173 valid (each with both key forms, high-S
    // ones also as their low-S twin) and 89 invalid.
    assert_eq!(accepted, 2 * 173);
    assert_eq!(runs, 2 * 173 + high_s + 89);
}
