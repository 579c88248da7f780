//! One verification, for instruction counting under valgrind:
//! `verify_once <ours|rustcrypto|none> <44|65|87>` (key and signature are made
//! first, so `none` gives the setup cost to subtract). Used by
//! `benches/mldsa.sh`.

use std::hint::black_box;

use ml_dsa::{EncodedVerifyingKey, MlDsaParams, Signature, SigningKey, VerifyingKey};
use otaseal_mldsa::{Level, verify};

fn run<P: MlDsaParams>(level: Level, which: &str) {
    let sk = SigningKey::<P>::from_seed(&[7u8; 32].into());
    let esk = sk.expanded_key();
    let pk = esk.verifying_key().encode().to_vec();
    let (msg, ctx) = (b"message".to_vec(), b"otaseal".to_vec());
    let sig = esk
        .sign_deterministic(&msg, &ctx)
        .unwrap()
        .encode()
        .to_vec();
    let ok = match which {
        "ours" => verify(level, black_box(&pk), &msg, &ctx, black_box(&sig)).is_ok(),
        "rustcrypto" => {
            let enc = EncodedVerifyingKey::<P>::try_from(black_box(&pk[..])).unwrap();
            let vk = VerifyingKey::<P>::decode(&enc);
            let s = Signature::<P>::try_from(black_box(&sig[..])).unwrap();
            vk.verify_with_context(&msg, &ctx, &s)
        }
        _ => true,
    };
    assert!(ok);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (which, level) = (args[1].as_str(), args[2].as_str());
    match level {
        "44" => run::<ml_dsa::MlDsa44>(Level::MlDsa44, which),
        "65" => run::<ml_dsa::MlDsa65>(Level::MlDsa65, which),
        _ => run::<ml_dsa::MlDsa87>(Level::MlDsa87, which),
    }
}
