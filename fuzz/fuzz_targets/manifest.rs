//! Manifest decoding: deterministic CBOR, CDDL, limits; a decoded manifest
//! re-encodes to a manifest that decodes to the same value, and, without
//! skipped extension keys, to the same bytes (one encoding per manifest).
#![no_main]

use libfuzzer_sys::fuzz_target;
use otaseal_manifest::Manifest;

fuzz_target!(|data: &[u8]| {
    let Ok(m) = Manifest::decode(data) else {
        return;
    };
    assert_eq!(m.validate(), Ok(()));
    assert!(m.chunk_size().is_power_of_two());
    for id in &m.hw_compat {
        assert!(m.is_compatible_with(id));
    }
    let again = m.to_vec();
    let m2 = Manifest::decode(&again).expect("re-encoded manifest decodes");
    assert_eq!(m, m2, "re-encoding changed the manifest");
    if again != data {
        // Only non-critical (negative) extension keys may be dropped: the
        // input must be longer, and equal once they are removed.
        assert!(again.len() < data.len(), "two encodings of one manifest");
    }
});
