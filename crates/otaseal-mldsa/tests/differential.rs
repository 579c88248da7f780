//! Differential tests against RustCrypto `ml-dsa` (the oracle): random keys,
//! messages and contexts, valid signatures and many kinds of broken ones;
//! both implementations must agree on every case.
//!
//! Seeded, so a failure reproduces; `OTASEAL_MLDSA_DIFF_KEYS` sets the number
//! of key pairs per level (default 150, about 25 cases each),
//! `OTASEAL_MLDSA_DIFF_SEED` the seed.

mod common;

use common::Rng;
use ml_dsa::{EncodedVerifyingKey, MlDsaParams, Signature, SigningKey, VerifyingKey};
use otaseal_mldsa::{Error, Level, MuBuilder, verify, verify_internal, verify_mu};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Shape {
    ctilde: usize,
    l: usize,
    k: usize,
    omega: usize,
    z_bits: usize,
    gamma1: u32,
    beta: u32,
}

fn shape(level: Level) -> Shape {
    match level {
        Level::MlDsa44 => Shape {
            ctilde: 32,
            l: 4,
            k: 4,
            omega: 80,
            z_bits: 18,
            gamma1: 1 << 17,
            beta: 78,
        },
        Level::MlDsa65 => Shape {
            ctilde: 48,
            l: 5,
            k: 6,
            omega: 55,
            z_bits: 20,
            gamma1: 1 << 19,
            beta: 196,
        },
        Level::MlDsa87 => Shape {
            ctilde: 64,
            l: 7,
            k: 8,
            omega: 75,
            z_bits: 20,
            gamma1: 1 << 19,
            beta: 120,
        },
    }
}

/// Writes the packed z coefficient `index` (across the whole vector) as raw
/// `gamma1 - z`.
fn set_z(sig: &mut [u8], s: &Shape, index: usize, z: i64) {
    let raw = (i64::from(s.gamma1) - z) as u64;
    let start = s.ctilde * 8 + index * s.z_bits;
    for b in 0..s.z_bits {
        let bit = start + b;
        let (byte, shift) = (bit / 8, bit % 8);
        sig[byte] = (sig[byte] & !(1 << shift)) | ((((raw >> b) & 1) as u8) << shift);
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

fn oracle_internal<P: MlDsaParams>(pk: &[u8], mp: &[u8], sig: &[u8]) -> bool {
    let Ok(enc) = EncodedVerifyingKey::<P>::try_from(pk) else {
        return false;
    };
    let vk = VerifyingKey::<P>::decode(&enc);
    let Ok(sig) = Signature::<P>::try_from(sig) else {
        return false;
    };
    vk.verify_internal(mp, &sig)
}

struct Counts {
    cases: usize,
    valid: usize,
}

fn check<P: MlDsaParams>(
    level: Level,
    what: &str,
    pk: &[u8],
    msg: &[u8],
    ctx: &[u8],
    sig: &[u8],
    n: &mut Counts,
) -> Result<(), Error> {
    let ours = verify(level, pk, msg, ctx, sig);
    let theirs = oracle::<P>(pk, msg, ctx, sig);
    assert_eq!(
        ours.is_ok(),
        theirs,
        "{level:?} {what}: ours {ours:?}, RustCrypto {theirs}"
    );
    // The External-mu path agrees with the one-shot path.
    if let Ok(mut mb) = MuBuilder::new(pk, ctx) {
        let half = msg.len() / 2;
        mb.update(&msg[..half]);
        mb.update(&msg[half..]);
        assert_eq!(
            verify_mu(level, pk, &mb.finalize(), sig),
            ours,
            "{level:?} {what}: verify_mu"
        );
    }
    n.cases += 1;
    n.valid += usize::from(theirs);
    ours
}

fn run_level<P: MlDsaParams>(level: Level, keys: usize, rng: &mut Rng) -> Counts {
    let s = shape(level);
    let mut n = Counts { cases: 0, valid: 0 };
    let mut prev_pk: Option<Vec<u8>> = None;
    for _ in 0..keys {
        let sk = SigningKey::<P>::from_seed(&rng.array::<32>().into());
        let esk = sk.expanded_key();
        let pk = esk.verifying_key().encode().to_vec();
        let msg_len = rng.below(200);
        let msg = rng.bytes(msg_len);
        let ctx_len = if rng.below(4) == 0 { 0 } else { rng.below(256) };
        let ctx = rng.bytes(ctx_len);
        let rnd = rng.array::<32>().into();
        let sig = esk
            .sign_internal(&[&[0, ctx.len() as u8], &ctx, &msg], &rnd)
            .encode()
            .to_vec();

        assert_eq!(
            check::<P>(level, "valid", &pk, &msg, &ctx, &sig, &mut n),
            Ok(())
        );

        // Verify_internal on the same M'.
        let mut mp = vec![0, ctx.len() as u8];
        mp.extend_from_slice(&ctx);
        mp.extend_from_slice(&msg);
        assert_eq!(verify_internal(level, &pk, &mp, &sig), Ok(()));
        mp[0] ^= 1;
        assert_eq!(
            verify_internal(level, &pk, &mp, &sig).is_ok(),
            oracle_internal::<P>(&pk, &mp, &sig)
        );

        // Single-bit flips anywhere in the signature, key and message.
        for _ in 0..6 {
            let mut bad = sig.clone();
            let bit = rng.below(bad.len() * 8);
            bad[bit / 8] ^= 1 << (bit % 8);
            check::<P>(
                level,
                &format!("sig bit {bit}"),
                &pk,
                &msg,
                &ctx,
                &bad,
                &mut n,
            )
            .ok();
        }
        // A flip in c~ and one in the last hint byte, every time.
        for byte in [0, sig.len() - 1] {
            let mut bad = sig.clone();
            bad[byte] ^= 1 << rng.below(8);
            check::<P>(
                level,
                &format!("sig byte {byte}"),
                &pk,
                &msg,
                &ctx,
                &bad,
                &mut n,
            )
            .ok();
        }
        {
            let mut bad = pk.clone();
            let bit = rng.below(bad.len() * 8);
            bad[bit / 8] ^= 1 << (bit % 8);
            check::<P>(
                level,
                &format!("pk bit {bit}"),
                &bad,
                &msg,
                &ctx,
                &sig,
                &mut n,
            )
            .ok();
        }
        if !msg.is_empty() {
            let mut bad = msg.clone();
            let bit = rng.below(bad.len() * 8);
            bad[bit / 8] ^= 1 << (bit % 8);
            check::<P>(level, "msg bit", &pk, &bad, &ctx, &sig, &mut n).ok();
        }
        // Other context: changed, extended, and over 255 bytes.
        let mut other_ctx = ctx.clone();
        other_ctx.push(rng.next_u64() as u8);
        check::<P>(level, "longer ctx", &pk, &msg, &other_ctx, &sig, &mut n).ok();
        let long_len = 256 + rng.below(10);
        let long_ctx = rng.bytes(long_len);
        assert_eq!(
            check::<P>(level, "ctx > 255", &pk, &msg, &long_ctx, &sig, &mut n),
            Err(Error::ContextTooLong)
        );

        // Hint mutations.
        let h0 = sig.len() - s.omega - s.k;
        for _ in 0..4 {
            let mut bad = sig.clone();
            let what = match rng.below(5) {
                0 => {
                    // A random position or row-end byte.
                    let i = h0 + rng.below(s.omega + s.k);
                    bad[i] = rng.next_u64() as u8;
                    "hint byte random"
                }
                1 => {
                    // A row end one up or down.
                    let i = sig.len() - s.k + rng.below(s.k);
                    bad[i] = if rng.below(2) == 0 {
                        bad[i].wrapping_add(1)
                    } else {
                        bad[i].wrapping_sub(1)
                    };
                    "hint row end +-1"
                }
                2 => {
                    // Swap two adjacent used positions (non-canonical order).
                    let used = usize::from(sig[sig.len() - 1]);
                    if used >= 2 {
                        let i = h0 + rng.below(used - 1);
                        bad.swap(i, i + 1);
                    }
                    "hint swap"
                }
                3 => {
                    // Padding after the last used position made non-zero.
                    let used = usize::from(sig[sig.len() - 1]);
                    if used < s.omega {
                        bad[h0 + used + rng.below(s.omega - used)] = 1 + rng.below(255) as u8;
                    }
                    "hint padding"
                }
                _ => {
                    // Duplicate a position.
                    let used = usize::from(sig[sig.len() - 1]);
                    if used >= 2 {
                        let i = h0 + rng.below(used - 1);
                        bad[i + 1] = bad[i];
                    }
                    "hint duplicate"
                }
            };
            check::<P>(level, what, &pk, &msg, &ctx, &bad, &mut n).ok();
        }

        // z at and around the bound gamma1 - beta, and at the encoding's extremes.
        let bound = i64::from(s.gamma1 - s.beta);
        for z in [
            bound,
            -bound,
            bound - 1,
            -(bound - 1),
            i64::from(s.gamma1),
            -i64::from(s.gamma1) + 1,
            0,
        ] {
            let mut bad = sig.clone();
            set_z(&mut bad, &s, rng.below(s.l * 256), z);
            let r = check::<P>(level, &format!("z = {z}"), &pk, &msg, &ctx, &bad, &mut n);
            if z.abs() >= bound {
                assert_eq!(r, Err(Error::ZOutOfRange));
            }
        }

        // Truncated and over-long encodings.
        assert_eq!(
            check::<P>(
                level,
                "sig short",
                &pk,
                &msg,
                &ctx,
                &sig[..sig.len() - 1],
                &mut n
            ),
            Err(Error::SignatureLength)
        );
        let mut long = sig.clone();
        long.push(0);
        assert_eq!(
            check::<P>(level, "sig long", &pk, &msg, &ctx, &long, &mut n),
            Err(Error::SignatureLength)
        );
        assert_eq!(
            check::<P>(
                level,
                "pk short",
                &pk[..pk.len() - 1],
                &msg,
                &ctx,
                &sig,
                &mut n
            ),
            Err(Error::KeyLength)
        );
        let mut long = pk.clone();
        long.push(0);
        assert_eq!(
            check::<P>(level, "pk long", &long, &msg, &ctx, &sig, &mut n),
            Err(Error::KeyLength)
        );

        // The previous key pair's public key.
        if let Some(other) = &prev_pk {
            check::<P>(level, "wrong pk", other, &msg, &ctx, &sig, &mut n).ok();
        }
        prev_pk = Some(pk);
    }
    n
}

fn run(level: Level, salt: u64) {
    let keys = env_usize("OTASEAL_MLDSA_DIFF_KEYS", 150);
    let seed = env_usize("OTASEAL_MLDSA_DIFF_SEED", 0x07a5_5ea1) as u64 ^ salt;
    let mut rng = Rng(seed);
    let n = match level {
        Level::MlDsa44 => run_level::<ml_dsa::MlDsa44>(level, keys, &mut rng),
        Level::MlDsa65 => run_level::<ml_dsa::MlDsa65>(level, keys, &mut rng),
        Level::MlDsa87 => run_level::<ml_dsa::MlDsa87>(level, keys, &mut rng),
    };
    eprintln!(
        "{level:?}: {} cases ({} valid) agree with RustCrypto ml-dsa, seed {seed:#x}",
        n.cases, n.valid
    );
}

#[test]
fn differential_ml_dsa_44() {
    run(Level::MlDsa44, 44);
}

#[test]
fn differential_ml_dsa_65() {
    run(Level::MlDsa65, 65);
}

#[test]
fn differential_ml_dsa_87() {
    run(Level::MlDsa87, 87);
}
