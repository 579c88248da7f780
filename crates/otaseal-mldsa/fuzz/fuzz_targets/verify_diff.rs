//! Differential fuzzing: otaseal-mldsa and RustCrypto ml-dsa must agree on
//! every (level, pk, msg, ctx, sig).
//!
//! Input: `level`, `mode`, then a body. Even modes split the body into
//! arbitrary pk / sig / ctx / msg (lengths exact or off by one, so the
//! length, hint and z checks are all reached); odd modes XOR the body into a
//! valid signature (and, with bit 1, the key) of a fixed key pair, so the
//! fuzzer also explores signatures that pass the encoding checks.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use ml_dsa::{EncodedVerifyingKey, MlDsaParams, Signature, SigningKey, VerifyingKey};
use otaseal_mldsa::{Level, MuBuilder};

struct Valid {
    pk: Vec<u8>,
    sig: Vec<u8>,
}

const MSG: &[u8] = b"fuzz message";
const CTX: &[u8] = b"fuzz";

fn valid<P: MlDsaParams>(seed: u8) -> Valid {
    let sk = SigningKey::<P>::from_seed(&[seed; 32].into());
    let esk = sk.expanded_key();
    Valid {
        pk: esk.verifying_key().encode().to_vec(),
        sig: esk.sign_deterministic(MSG, CTX).unwrap().encode().to_vec(),
    }
}

fn oracle<P: MlDsaParams>(pk: &[u8], msg: &[u8], ctx: &[u8], sig: &[u8]) -> bool {
    let Ok(enc) = EncodedVerifyingKey::<P>::try_from(pk) else {
        return false;
    };
    let vk = VerifyingKey::<P>::decode(&enc);
    let Ok(sig) = Signature::<P>::try_from(sig) else {
        return false;
    };
    vk.verify_with_context(msg, ctx, &sig)
}

fn compare(level: Level, pk: &[u8], msg: &[u8], ctx: &[u8], sig: &[u8]) {
    let theirs = match level {
        Level::MlDsa44 => oracle::<ml_dsa::MlDsa44>(pk, msg, ctx, sig),
        Level::MlDsa65 => oracle::<ml_dsa::MlDsa65>(pk, msg, ctx, sig),
        Level::MlDsa87 => oracle::<ml_dsa::MlDsa87>(pk, msg, ctx, sig),
    };
    let ours = otaseal_mldsa::verify(level, pk, msg, ctx, sig);
    assert_eq!(
        ours.is_ok(),
        theirs,
        "{level:?}: ours {ours:?}, RustCrypto {theirs}"
    );
    if let Ok(mut mb) = MuBuilder::new(pk, ctx) {
        mb.update(msg);
        assert_eq!(
            otaseal_mldsa::verify_mu(level, pk, &mb.finalize(), sig),
            ours
        );
    }
}

fn take<'a>(body: &mut &'a [u8], n: usize) -> &'a [u8] {
    let (head, tail) = body.split_at(n.min(body.len()));
    *body = tail;
    head
}

fuzz_target!(|data: &[u8]| {
    let [sel, mode, body @ ..] = data else { return };
    let level = Level::ALL[usize::from(*sel) % 3];
    if mode & 1 == 0 {
        // Arbitrary encodings, lengths exact or one off.
        let adjust = |n: usize, bits: u8| match bits & 3 {
            1 => n - 1,
            2 => n + 1,
            _ => n,
        };
        let mut body = body;
        let pk = take(&mut body, adjust(level.public_key_len(), mode >> 1));
        let sig = take(&mut body, adjust(level.signature_len(), mode >> 3));
        let ctx_len = take(&mut body, 2)
            .iter()
            .map(|&b| usize::from(b))
            .sum::<usize>();
        let ctx = take(&mut body, ctx_len);
        compare(level, pk, body, ctx, sig);
    } else {
        static V: OnceLock<[Valid; 3]> = OnceLock::new();
        let v = V.get_or_init(|| {
            [
                valid::<ml_dsa::MlDsa44>(1),
                valid::<ml_dsa::MlDsa65>(2),
                valid::<ml_dsa::MlDsa87>(3),
            ]
        });
        let v = &v[usize::from(*sel) % 3];
        let (mut pk, mut sig) = (v.pk.clone(), v.sig.clone());
        // (offset u16 LE, xor) triples.
        for t in body.chunks_exact(3) {
            let off = usize::from(u16::from_le_bytes([t[0], t[1]]));
            if mode & 2 != 0 && off >= sig.len() {
                let i = (off - sig.len()) % pk.len();
                pk[i] ^= t[2];
            } else {
                let i = off % sig.len();
                sig[i] ^= t[2];
            }
        }
        compare(level, &pk, MSG, CTX, &sig);
    }
});
