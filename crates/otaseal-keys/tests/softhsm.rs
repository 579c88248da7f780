//! The PKCS#11 backend in-process against a real SoftHSM2 token: one login
//! shared by concurrent signers, and recovery when every session of the
//! token disappears (as when a USB key is pulled and re-inserted).
//!
//! One test in this binary: SoftHSM2 reads `SOFTHSM2_CONF` once, when the
//! module is initialised, so the test sets it before any other thread runs.
//! Without SoftHSM2 the test passes with a note, except under `CI`.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use otaseal_keys::pkcs11::{self, Pkcs11Config, Pkcs11Signer, Pkcs11Uri};
use otaseal_keys::{KeySigner, prehash};
use otaseal_manifest::Suite;

fn module() -> Option<PathBuf> {
    let m = [
        "/usr/lib/softhsm/libsofthsm2.so",
        "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/local/lib/softhsm/libsofthsm2.so",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists());
    let util = Command::new("softhsm2-util")
        .arg("--version")
        .output()
        .is_ok();
    if m.is_none() || !util {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but SoftHSM2 is missing"
        );
        eprintln!("note: SoftHSM2 not found; skipping");
        return None;
    }
    m
}

/// ECDSA P-256 verification with the RustCrypto verifier (low S required,
/// as otaseal's device verifier requires it).
fn verify_p256(spki: &[u8], msg: &[u8], sig: &[u8]) {
    use p256::ecdsa::signature::Verifier;
    use p256::pkcs8::DecodePublicKey;
    let vk = p256::ecdsa::VerifyingKey::from_public_key_der(spki).unwrap();
    let sig = p256::ecdsa::Signature::from_slice(sig).unwrap();
    assert!(sig.normalize_s() == sig, "low S");
    vk.verify(msg, &sig).unwrap();
}

#[test]
fn shared_login_concurrent_signers_and_recovery_after_removal() {
    let Some(module) = module() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("otaseal-keys-softhsm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("tokens")).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            dir.join("tokens").display()
        ),
    )
    .unwrap();
    // SAFETY: the only test of this binary, before any thread is started.
    unsafe { std::env::set_var("SOFTHSM2_CONF", &conf) };
    let st = Command::new("softhsm2-util")
        .args([
            "--init-token",
            "--free",
            "--label",
            "rt",
            "--so-pin",
            "0815",
        ])
        .args(["--pin", "4711"])
        .output()
        .unwrap();
    assert!(st.status.success(), "{st:?}");
    let pin = dir.join("pin");
    std::fs::write(&pin, "4711\n").unwrap();
    let uri = Pkcs11Uri::parse(&format!(
        "pkcs11:token=rt;object=k1?module-path={}&pin-source={}",
        module.display(),
        pin.display()
    ))
    .unwrap();
    let config = Pkcs11Config::default();
    let signer = Arc::new(pkcs11::generate(&uri, &config, Suite::EcdsaP256).unwrap());
    // A second open of the same token reuses its login (no PIN needed now).
    let again = Pkcs11Signer::open(
        &Pkcs11Uri {
            pin_source: Some("/nonexistent/pin".into()),
            ..uri.clone()
        },
        &config,
        Some(Suite::EcdsaP256),
    )
    .unwrap();
    assert!(
        Arc::ptr_eq(signer.token(), again.token()),
        "one login per token"
    );
    let spki = signer.public_spki_der();

    // Concurrent signers share the token (session pool).
    let threads: Vec<_> = (0..8u8)
        .map(|t| {
            let signer = signer.clone();
            let spki = spki.clone();
            std::thread::spawn(move || {
                for i in 0..25u8 {
                    let msg = [t, i, 0x42];
                    let sig = signer.sign(&msg).unwrap();
                    verify_p256(&spki, &msg, &sig);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // Hash-only: the token signs what `prehash` gives.
    let digest = prehash(Suite::EcdsaP256, &spki, b"hash only").unwrap();
    verify_p256(&spki, b"hash only", &signer.sign_prehash(&digest).unwrap());

    // Every session (and so the login) disappears behind the signer's back:
    // the next signature reopens, logs in again and succeeds.
    signer.token().simulate_removal();
    let sig = signer.sign(b"after removal").unwrap();
    verify_p256(&spki, b"after removal", &sig);

    // The key pair is replaced under the same label and id while the
    // sessions are down: the signer finds the new object on reconnect, sees
    // that its public key is not the one it was opened with and refuses.
    let same = Pkcs11Uri {
        module_path: uri.module_path.clone(),
        pin_source: uri.pin_source.clone(),
        ..Pkcs11Uri::parse(&signer.describe()).unwrap()
    };
    assert_eq!(pkcs11::destroy(&same, &config).unwrap(), 2);
    let other = pkcs11::generate(&same, &config, Suite::EcdsaP256).unwrap();
    assert_ne!(other.public_spki_der(), spki);
    signer.token().simulate_removal();
    let err = signer.sign(b"after replacement").unwrap_err().to_string();
    assert!(err.contains("token object was replaced"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
