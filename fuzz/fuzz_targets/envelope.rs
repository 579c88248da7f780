//! Envelope decoding (COSE_Sign1 list, protected and unprotected headers)
//! and the deterministic-CBOR checker it runs first.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otaseal_manifest::canonical::{self, CanonicalError};
use otaseal_manifest::envelope::{sig_structure_len, write_sig_structure};
use otaseal_manifest::{Envelope, EnvelopeError, Manifest};

fuzz_target!(|data: &[u8]| {
    let canonical = canonical::check(data);
    if let Err(
        CanonicalError::Truncated { at }
        | CanonicalError::NotShortest { at }
        | CanonicalError::Indefinite { at }
        | CanonicalError::MapKeyOrder { at }
        | CanonicalError::Unsupported { at }
        | CanonicalError::InvalidUtf8 { at }
        | CanonicalError::TooDeep { at }
        | CanonicalError::TrailingBytes { at },
    ) = canonical
    {
        // Offsets point into the input (or just past it, for truncation).
        assert!(at <= data.len(), "offset {at} beyond {}", data.len());
    }
    match Envelope::decode(data) {
        Ok(env) => {
            assert!(canonical.is_ok(), "decoded a non-canonical envelope");
            assert!(!env.signatures.is_empty());
            let _ = Manifest::decode(env.manifest);
            for sig in &env.signatures {
                assert_eq!(sig.kid.len(), 32);
                assert!(sig.x5chain.iter().all(|c| !c.is_empty()));
                // The Sig_structure writer: exact length, fits or says so.
                let len = sig_structure_len(sig.protected.len(), env.manifest.len());
                let mut out = vec![0u8; len];
                let written =
                    write_sig_structure(sig.protected, env.manifest, &mut out).map(<[u8]>::len);
                assert_eq!(written, Some(len));
                assert!(
                    canonical::check(&out).is_ok(),
                    "Sig_structure not canonical"
                );
                let short = len.saturating_sub(1);
                assert!(
                    write_sig_structure(sig.protected, env.manifest, &mut out[..short]).is_none()
                );
                // The signature field is the bstr holding the signature.
                assert!(sig.signature_field.ends_with(sig.signature));
            }
        }
        // A non-canonical envelope is reported as such (a protected header,
        // checked on its own, may also be the non-canonical part).
        Err(EnvelopeError::NonCanonical(e)) => {
            if let Err(outer) = canonical {
                assert_eq!(outer, e);
            }
        }
        Err(_) => assert!(
            canonical.is_ok(),
            "non-canonical envelope reported as {canonical:?}"
        ),
    }
});
