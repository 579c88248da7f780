//! RFC 3161 token parsing and verification against the fixture TSA roots.
//!
//! Input: `alg u8 | len u16 BE | message | token DER`. The message imprint
//! is checked last, so a wrong message still exercises every earlier check.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otaseal_manifest::DigestAlg;
use otaseal_verify::timestamp::{parse_token, verify_token};

fuzz_target!(|data: &[u8]| {
    let Some((&alg, rest)) = data.split_first() else {
        return;
    };
    let Some((len, rest)) = rest.split_first_chunk::<2>() else {
        return;
    };
    let Some((message, token)) = rest.split_at_checked(usize::from(u16::from_be_bytes(*len)))
    else {
        return;
    };
    let alg = DigestAlg::ALL[usize::from(alg) % DigestAlg::ALL.len()];
    let parsed = parse_token(token);
    let f = otaseal_fuzz::fixtures();
    let policies: Option<&[&[u8]]> = None;
    let verified = verify_token(token, alg, message, &f.tsa_roots, policies);
    match (&parsed, &verified) {
        (Ok(p), Ok(v)) => {
            // One token, one reading; a verified token names its TSA.
            assert_eq!(p.gen_time, v.gen_time);
            assert_eq!(p.serial, v.serial);
            assert_eq!(p.imprint, v.imprint);
            assert!(!v.tsa_cert.is_empty());
            assert_eq!(v.imprint_alg, alg);
            assert_eq!(v.imprint.len(), alg.len());
        }
        // Whatever verify_token accepts, parse_token accepts.
        (Err(_), Ok(_)) => panic!("verified a token that does not parse"),
        // A token that does not parse is rejected as such by verification too.
        (Err(e), Err(v)) => assert_eq!(e, v),
        // verify_token also checks the digestAlgorithms list and the signed
        // attributes, which parse_token does not read.
        (Ok(_), Err(_)) => {}
    }
});
