//! Private signing keys: the file backend of `otaseal-keys` (moved there so
//! that the signer, the TSA and the CSC service share one set of key
//! backends), re-exported so that existing callers compile unchanged.
//! Tokens and HSMs are in [`otaseal_keys::pkcs11`]; anything implementing
//! [`KeySigner`] signs packages, certificates and time-stamp tokens.

pub use otaseal_keys::file::*;
pub use otaseal_keys::{KeyError, KeySigner, prehash, x509_algorithm_id};

#[cfg(test)]
pub(crate) mod test_util {
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A temporary directory removed on drop.
    pub(crate) struct TempDir(pub(crate) PathBuf);

    impl TempDir {
        pub(crate) fn new(tag: &str) -> TempDir {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let dir = std::env::temp_dir().join(format!(
                "otaseal-sign-{tag}-{}-{}-{nanos}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::SeqCst)
            ));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        pub(crate) fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Whether `openssl` can be run; prints why a test is skipped if not.
    pub(crate) fn have_openssl(test: &str) -> bool {
        let ok = Command::new("openssl")
            .arg("version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !ok {
            eprintln!("SKIPPED {test}: `openssl` is not installed or does not run");
        }
        ok
    }

    /// Runs openssl in `dir`; returns (success, stdout + stderr).
    pub(crate) fn openssl(dir: &Path, args: &[&str]) -> (bool, String) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run openssl");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// Runs openssl and panics with its output unless it succeeds.
    pub(crate) fn openssl_ok(dir: &Path, args: &[&str]) -> String {
        let (ok, text) = openssl(dir, args);
        assert!(ok, "openssl {args:?} failed:\n{text}");
        text
    }
}

#[cfg(test)]
pub(crate) mod tests {
    pub(crate) fn verify_ml_dsa<P>(spki: &[u8], msg: &[u8], sig: &[u8])
    where
        P: ml_dsa::MlDsaParams + spki::AssociatedAlgorithmIdentifier<Params = der::AnyRef<'static>>,
    {
        use spki::DecodePublicKey;
        let vk = ml_dsa::VerifyingKey::<P>::from_public_key_der(spki).unwrap();
        let sig = ml_dsa::Signature::<P>::try_from(sig).unwrap();
        assert!(vk.verify_with_context(msg, b"", &sig));
    }
}
