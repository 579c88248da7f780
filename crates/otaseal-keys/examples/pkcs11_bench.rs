//! ECDSA P-256 signatures per second: the same key in a PKCS#11 token and
//! as a file, in one run. Driven by `benches/pkcs11.sh` (which makes the
//! token and imports the key); args: KEY.pem PKCS11-URI COUNT.

use std::time::Instant;

use otaseal_keys::pkcs11::{Pkcs11Config, open_signer};
use otaseal_keys::{KeySigner, SigningKey};

fn rate(name: &str, key: &dyn KeySigner, count: u32) -> f64 {
    let msg = [0x5au8; 256];
    key.sign(&msg).expect("warm-up signature");
    let start = Instant::now();
    for i in 0..count {
        let mut m = msg;
        m[..4].copy_from_slice(&i.to_be_bytes());
        key.sign(&m).expect("signature");
    }
    let per_sec = f64::from(count) / start.elapsed().as_secs_f64();
    println!("{name:<28} {count:>6} signatures  {per_sec:>10.0} signatures/s");
    per_sec
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, key_path, uri, count] = args.as_slice() else {
        eprintln!("usage: pkcs11_bench KEY.pem PKCS11-URI COUNT");
        std::process::exit(2);
    };
    let count: u32 = count.parse().expect("COUNT");
    let file = SigningKey::load(key_path.as_ref()).expect("key file");
    let config = Pkcs11Config::from_env(None).expect("config");
    let token = open_signer(uri, &config, None).expect("token key");
    assert_eq!(
        file.public_spki_der(),
        token.public_spki_der(),
        "the file and the token must hold the same key"
    );
    let f = rate("ecdsa-p256 file (in memory)", &file, count);
    let t = rate("ecdsa-p256 SoftHSM2 token", &token, count);
    println!("ratio file/token: {:.2}", f / t);
}
