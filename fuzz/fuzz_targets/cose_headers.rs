//! The COSE headers on their own: the input is either a protected header
//! (the bstr content, decoded as its own deterministic-CBOR map) or the raw
//! unprotected header map, wrapped in an otherwise fixed envelope so the
//! decoder's header code sees every mutation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otaseal_fuzz::{envelope_around, valid_protected};
use otaseal_manifest::envelope::{LABEL_3161_CTT, MAX_CHAIN};
use otaseal_manifest::{Envelope, EnvelopeError};

fuzz_target!(|data: &[u8]| {
    let Some((mode, body)) = data.split_first() else {
        return;
    };
    let envelope = if mode & 1 == 0 {
        envelope_around(body, &[0xa0])
    } else {
        envelope_around(&valid_protected(), body)
    };
    match Envelope::decode(&envelope) {
        Ok(env) => {
            let sig = &env.signatures[0];
            assert_eq!(sig.kid.len(), 32);
            assert!(sig.x5chain.len() <= MAX_CHAIN);
            assert!(sig.x5chain.iter().all(|c| !c.is_empty()));
            if mode & 1 == 0 {
                assert_eq!(sig.protected, body);
            }
        }
        // In the unprotected header the token label is known.
        Err(EnvelopeError::UnknownHeader(label)) if mode & 1 == 1 => {
            assert_ne!(label, LABEL_3161_CTT)
        }
        Err(_) => {}
    }
});
