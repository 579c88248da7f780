//! Structure-aware form of `package`: the input is an envelope (the golden
//! packages' envelope members are the seeds); the target frames it the way
//! the signer does (the envelope header's mtime is the manifest's `created`,
//! so random edits are not all stopped by the header comparison), appends
//! the payload members the manifest lists (the fixture samples where the
//! name and size match, zeros otherwise) and the end blocks, and streams the
//! result like `package`.
//!
//! Input: `policy selector u8 | chunk seed u32 BE | envelope bytes`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otaseal_manifest::container::{BLOCK, END_BLOCKS, ENVELOPE_MEMBER, member_header, padding_len};
use otaseal_manifest::{Envelope, Manifest};

/// Zero-filled payloads are only written up to this total, to keep each run
/// fast; a larger package is cut there (a truncated package).
const MAX_FILL: u64 = 1 << 20;

fn frame(envelope: &[u8]) -> Vec<u8> {
    let manifest = Envelope::decode(envelope)
        .ok()
        .and_then(|e| Manifest::decode(e.manifest).ok());
    let created = manifest.as_ref().map_or(0, |m| m.created);
    let mut out = Vec::with_capacity(envelope.len() + 4 * BLOCK);
    let Ok(h) = member_header(ENVELOPE_MEMBER, envelope.len() as u64, created) else {
        return out;
    };
    out.extend_from_slice(&h);
    out.extend_from_slice(envelope);
    out.resize(out.len() + padding_len(envelope.len() as u64), 0);
    let Some(m) = manifest else {
        out.resize(out.len() + END_BLOCKS * BLOCK, 0);
        return out;
    };
    let samples = &otaseal_fuzz::fixtures().samples;
    let mut filled = 0u64;
    for p in &m.payloads {
        let Ok(h) = member_header(p.name, p.size, created) else {
            return out;
        };
        out.extend_from_slice(&h);
        match samples
            .iter()
            .find(|(n, b)| *n == p.name && b.len() as u64 == p.size)
        {
            Some((_, bytes)) => out.extend_from_slice(bytes),
            None => {
                filled += p.size;
                if filled > MAX_FILL {
                    return out;
                }
                out.resize(out.len() + p.size as usize, 0);
            }
        }
        out.resize(out.len() + padding_len(p.size), 0);
    }
    out.resize(out.len() + END_BLOCKS * BLOCK, 0);
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Some((seed, envelope)) = otaseal_fuzz::take_u32(rest) else {
        return;
    };
    otaseal_fuzz::check_chunking_invariance(&frame(envelope), selector, seed);
});
