//! Host speed of one verification, this crate beside RustCrypto `ml-dsa`
//! (both from the encoded key and signature, as a package verifier does).
//!
//! `cargo bench -p otaseal-mldsa --bench host` (or `benches/mldsa.sh`).
//! Prints the median of 15 batches, each timing a batch of verifications.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ml_dsa::{EncodedVerifyingKey, MlDsaParams, Signature, SigningKey, VerifyingKey};
use otaseal_mldsa::{Level, verify};

fn median_per_op(mut f: impl FnMut()) -> Duration {
    // Size batches to about 50 ms.
    let t = Instant::now();
    let mut n = 0u32;
    while t.elapsed() < Duration::from_millis(50) {
        f();
        n += 1;
    }
    let mut samples: Vec<Duration> = (0..15)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..n {
                f();
            }
            t.elapsed() / n
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2]
}

fn bench<P: MlDsaParams>(level: Level) {
    let sk = SigningKey::<P>::from_seed(&[7u8; 32].into());
    let esk = sk.expanded_key();
    let pk = esk.verifying_key().encode().to_vec();
    let (msg, ctx) = (
        b"a COSE Sig_structure of a few hundred bytes".repeat(8),
        b"otaseal".to_vec(),
    );
    let sig = esk
        .sign_deterministic(&msg, &ctx)
        .unwrap()
        .encode()
        .to_vec();
    assert_eq!(verify(level, &pk, &msg, &ctx, &sig), Ok(()));

    let ours = median_per_op(|| {
        black_box(verify(level, black_box(&pk), &msg, &ctx, black_box(&sig))).unwrap();
    });
    let theirs = median_per_op(|| {
        let enc = EncodedVerifyingKey::<P>::try_from(black_box(&pk[..])).unwrap();
        let vk = VerifyingKey::<P>::decode(&enc);
        let s = Signature::<P>::try_from(black_box(&sig[..])).unwrap();
        assert!(black_box(vk.verify_with_context(&msg, &ctx, &s)));
    });
    println!(
        "{level:?}: otaseal-mldsa {:>8.1} us   RustCrypto ml-dsa {:>8.1} us   ratio {:.2}",
        ours.as_secs_f64() * 1e6,
        theirs.as_secs_f64() * 1e6,
        ours.as_secs_f64() / theirs.as_secs_f64()
    );
}

fn main() {
    // `cargo test --benches` runs bench targets with --test: nothing to time.
    if std::env::args().any(|a| a == "--test") {
        return;
    }
    bench::<ml_dsa::MlDsa44>(Level::MlDsa44);
    bench::<ml_dsa::MlDsa65>(Level::MlDsa65);
    bench::<ml_dsa::MlDsa87>(Level::MlDsa87);
}
