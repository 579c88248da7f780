//! The ustar framing: header field readers on arbitrary blocks, the writer's
//! round trip on arbitrary (name, size, mtime), and the verifier's envelope
//! member framing on arbitrary bytes with a small device-sized buffer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otaseal_manifest::container::{
    BLOCK, MAX_MEMBER_SIZE, MAX_MTIME, header_mtime, header_size, member_header, padding_len,
};
use otaseal_verify::{PackageVerifier, Policy, VerifyError};

fuzz_target!(|data: &[u8]| {
    // Readers: any 512-byte block, never a panic; a size that is read back
    // is below 8 GiB (11 octal digits).
    if let Some(block) = data.first_chunk::<BLOCK>() {
        if let Ok(size) = header_size(block) {
            assert!(size <= MAX_MEMBER_SIZE);
            assert!(padding_len(size) < BLOCK);
            assert_eq!((size + padding_len(size) as u64) % BLOCK as u64, 0);
        }
        if let Ok(mtime) = header_mtime(block) {
            assert!(mtime <= MAX_MTIME);
        }
    }

    // Writer round trip: fields from the input.
    if let Some((fields, name)) = data.split_first_chunk::<16>() {
        let size =
            u64::from_be_bytes(fields[..8].try_into().unwrap_or_default()) >> (fields[0] & 31);
        let mtime =
            u64::from_be_bytes(fields[8..].try_into().unwrap_or_default()) >> (fields[8] & 31);
        let name = String::from_utf8_lossy(&name[..name.len().min(120)]);
        match member_header(&name, size, mtime) {
            Ok(h) => {
                assert_eq!(header_size(&h), Ok(size));
                assert_eq!(header_mtime(&h), Ok(mtime));
                let mut sum = 0u32;
                for (i, b) in h.iter().enumerate() {
                    sum += if (148..156).contains(&i) {
                        32
                    } else {
                        u32::from(*b)
                    };
                }
                let text = std::str::from_utf8(&h[148..154]).expect("octal checksum");
                assert_eq!(u32::from_str_radix(text, 8), Ok(sum));
            }
            Err(_) => assert!(name.len() > 100 || size > MAX_MEMBER_SIZE || mtime > MAX_MTIME),
        }
    }

    // The verifier's framing on raw bytes with a 4 KiB buffer (a small
    // device): whatever the bytes, a typed error or, for an empty input,
    // `Truncated` from finish.
    let mut buf = [0u8; 4096];
    let mut v = PackageVerifier::new(&mut buf, Policy::default(), otaseal_fuzz::trust());
    let mut rest = data;
    let mut failed = None;
    // Odd-sized reads, so header and body boundaries are split.
    while !rest.is_empty() && failed.is_none() {
        let (chunk, tail) = rest.split_at(rest.len().min(509));
        rest = tail;
        failed = v.update(chunk).err();
    }
    let verdict = v.finish();
    if let Some(e) = failed {
        assert_eq!(verdict.err(), Some(e));
    } else if data.len() < BLOCK {
        assert_eq!(verdict.err(), Some(VerifyError::Truncated));
    }
});
