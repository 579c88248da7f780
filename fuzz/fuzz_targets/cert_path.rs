//! Certificate parsing and X.509 path validation (rustls-webpki with the
//! crate's RustCrypto algorithms) for an arbitrary leaf and intermediates
//! against the fixture roots.
//!
//! Input: `flags u8 | time u32 BE | count u8 | count x (len u16 BE | DER) |
//! leaf DER`. `time` is seconds after 2023-11-14 (1 700 000 000); flag bit 0
//! selects the time-stamping EKU and the TSA roots instead of code signing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otaseal_verify::cert::{self, OID_KP_CODE_SIGNING, OID_KP_TIME_STAMPING};
use otaseal_verify::chain::{self, ALL_CHAIN_ALGORITHMS};
use otaseal_verify::crypto;
use rustls_pki_types::{CertificateDer, UnixTime};

const EPOCH: u64 = 1_700_000_000;

/// (flags, validation time, intermediates, leaf).
type Parts<'a> = (u8, u64, Vec<&'a [u8]>, &'a [u8]);

fn split(data: &[u8]) -> Option<Parts<'_>> {
    let (&flags, rest) = data.split_first()?;
    let (time, rest) = otaseal_fuzz::take_u32(rest)?;
    let (&count, mut rest) = rest.split_first()?;
    let mut intermediates = Vec::new();
    for _ in 0..count % 5 {
        let (len, tail) = rest.split_first_chunk::<2>()?;
        let len = usize::from(u16::from_be_bytes(*len));
        let (der, tail) = tail.split_at_checked(len)?;
        intermediates.push(der);
        rest = tail;
    }
    Some((flags, EPOCH + u64::from(time), intermediates, rest))
}

fuzz_target!(|data: &[u8]| {
    let Some((flags, time, intermediates, leaf)) = split(data) else {
        return;
    };
    for der in intermediates.iter().chain([&leaf]) {
        if let Ok(info) = cert::parse_certificate(der) {
            let _ = crypto::suite_of_spki(info.spki);
            let _ = cert::subject_common_name(info.subject);
            assert!(info.eku_count > 0 || !info.eku_present || !info.has_code_signing_eku);
        }
        let _ = cert::subject_key_identifier(der);
    }
    let f = otaseal_fuzz::fixtures();
    let inter: Vec<CertificateDer<'_>> = intermediates
        .iter()
        .map(|d| CertificateDer::from(*d))
        .collect();
    let (eku, anchors) = if flags & 1 == 0 {
        (OID_KP_CODE_SIGNING, &f.roots)
    } else {
        (OID_KP_TIME_STAMPING, &f.tsa_roots)
    };
    let at = UnixTime::since_unix_epoch(core::time::Duration::from_secs(time));
    if let Ok(info) =
        chain::verify_chain_for_eku(leaf, &inter, anchors, at, eku, ALL_CHAIN_ALGORITHMS)
    {
        // Accepted: the leaf parses, names the purpose and is valid now.
        assert_eq!(cert::parse_certificate(leaf), Ok(info));
        assert!(info.eku_present);
        assert!(
            info.not_before <= time && time <= info.not_after,
            "{info:?} at {time}"
        );
        assert_ne!(info.key_usage_digital_signature, Some(false));
        if flags & 1 == 0 {
            assert!(info.has_code_signing_eku);
            assert_eq!(
                chain::verify_code_signing_chain(leaf, &inter, anchors, at),
                Ok(())
            );
        } else {
            assert!(info.has_time_stamping_eku);
        }
    }
});
