//! The whole streaming verifier on arbitrary bytes, fed twice: in one call,
//! and in reads of sizes drawn from the input; both verdicts must agree.
//!
//! Input: `policy selector u8 | chunk seed u32 BE | package bytes`. Trust:
//! the fixture roots, TSA roots and the raw Ed25519 key (see `fixtures`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Some((seed, package)) = otaseal_fuzz::take_u32(rest) else {
        return;
    };
    otaseal_fuzz::check_chunking_invariance(package, selector, seed);
});
