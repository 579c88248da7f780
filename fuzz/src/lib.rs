//! Shared parts of the otaseal fuzz targets: the fixture trust store (parsed
//! once per process), chunkings derived from the input, and the streaming
//! harness with its chunking-invariance oracle.
//!
//! A fuzz target may panic only where the code under test misbehaves: every
//! `assert!` here states a property the verifier promises (one verdict
//! whatever the chunking, payload bytes only after the envelope verified).

use std::sync::OnceLock;

use otaseal_verify::{DigestPolicy, PackageVerifier, Policy, TrustStore, VerifyError};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, SubjectPublicKeyInfoDer, TrustAnchor};

/// The fixtures the targets trust, parsed from the repository's PEM files at
/// compile time (so a fuzz binary runs from any directory).
pub struct Fixtures {
    /// Code-signing roots (`firmware-fixtures/pki/roots.pem`).
    pub roots: Vec<TrustAnchor<'static>>,
    /// TSA roots (`firmware-fixtures/pki/tsa-roots.pem`).
    pub tsa_roots: Vec<TrustAnchor<'static>>,
    /// The raw Ed25519 key the `raw-key-ed25519` golden package is trusted by.
    /// Only that one: a pinned key skips the chain, and the other signers
    /// must go through path validation to cover it.
    pub keys: Vec<&'static [u8]>,
    /// The sample payloads the golden packages carry, by member name.
    pub samples: Vec<(&'static str, &'static [u8])>,
}

fn anchors(pem: &[u8]) -> Vec<TrustAnchor<'static>> {
    CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .filter_map(|der| {
            webpki::anchor_from_trusted_cert(&der)
                .ok()
                .map(|a| a.to_owned())
        })
        .collect()
}

/// The fixtures, parsed on first use.
pub fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        let roots = anchors(include_bytes!("../../firmware-fixtures/pki/roots.pem"));
        let tsa_roots = anchors(include_bytes!("../../firmware-fixtures/pki/tsa-roots.pem"));
        assert!(!roots.is_empty() && !tsa_roots.is_empty(), "fixture roots");
        let keys = SubjectPublicKeyInfoDer::pem_slice_iter(include_bytes!(
            "../../firmware-fixtures/pki/ed25519/signer.pub.pem"
        ))
        .filter_map(Result::ok)
        .map(|k| &*Box::leak(k.as_ref().to_vec().into_boxed_slice()))
        .collect();
        let samples = vec![
            (
                "firmware.bin",
                &include_bytes!("../../firmware-fixtures/samples/firmware.bin")[..],
            ),
            (
                "rootfs.tar.gz",
                &include_bytes!("../../firmware-fixtures/samples/rootfs.tar.gz")[..],
            ),
            (
                "app.zip",
                &include_bytes!("../../firmware-fixtures/samples/app.zip")[..],
            ),
        ];
        Fixtures {
            roots,
            tsa_roots,
            keys,
            samples,
        }
    })
}

/// The trust store over [`fixtures`].
pub fn trust() -> TrustStore<'static> {
    let f = fixtures();
    TrustStore {
        roots: &f.roots,
        keys: &f.keys,
        tsa_roots: &f.tsa_roots,
    }
}

/// The policy for a selector byte: even selectors use the default policy
/// (what the brief asks); odd ones a device-like policy with a clock inside
/// the fixture certificates' validity and every digest family checked, which
/// reaches expiry and the all-families digest paths.
pub fn policy(selector: u8) -> Policy<'static> {
    if selector & 1 == 0 {
        Policy::default()
    } else {
        Policy {
            // 2027-06-01T00:00:00Z, the golden cases' --at.
            time: Some(1_811_808_000),
            digests: DigestPolicy::AllInManifest,
            ..Policy::default()
        }
    }
}

/// A small deterministic generator (xorshift32) for chunk sizes.
pub struct Chunker(u32);

impl Chunker {
    /// Seeded from four input bytes (zero is mapped to a fixed non-zero seed).
    pub fn new(seed: u32) -> Self {
        Chunker(if seed == 0 { 0x9e37_79b9 } else { seed })
    }

    /// The next chunk size: a mix of tiny, block-sized, page-sized and large
    /// reads, so every phase boundary is split some of the time.
    pub fn next_size(&mut self) -> usize {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        let limit = match x & 3 {
            0 => 16,
            1 => 600,
            2 => 4096,
            _ => 70_000,
        };
        1 + ((x >> 2) as usize % limit)
    }
}

/// What one streaming run produced: the verdict and what the sink saw.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    /// `finish`'s verdict (or the first `update` error).
    pub result: Result<(u64, u64), VerifyError>,
    /// Payload bytes handed to the sink, per payload index.
    pub sink_bytes: Vec<(usize, u64)>,
}

/// Buffer size for the fuzzed verifier: twice the format's largest envelope,
/// so the buffer is never the limit.
pub const BUF_LEN: usize = 2 * 256 * 1024;

/// Streams `package` through a [`PackageVerifier`] in chunks of `sizes`
/// (`None`: one call with everything).
pub fn stream(
    package: &[u8],
    buf: &mut [u8],
    policy: Policy<'static>,
    mut sizes: Option<&mut Chunker>,
) -> Outcome {
    let mut v = PackageVerifier::new(buf, policy, trust());
    let mut sink_bytes: Vec<(usize, u64)> = Vec::new();
    let mut rest = package;
    let mut early = None;
    while !rest.is_empty() {
        let n = match sizes.as_deref_mut() {
            Some(c) => c.next_size().min(rest.len()),
            None => rest.len(),
        };
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        let r = v.update_with(chunk, &mut |index, bytes| {
            // Payload bytes arrive in order and never empty-handed out of turn.
            match sink_bytes.last_mut() {
                Some((i, total)) if *i == index => *total += bytes.len() as u64,
                last => {
                    assert!(
                        last.is_none_or(|(i, _)| *i < index),
                        "sink saw payload {index} after a later one"
                    );
                    sink_bytes.push((index, bytes.len() as u64));
                }
            }
        });
        if let Err(e) = r {
            // A failed verifier stays failed with the same error.
            assert_eq!(v.update(b"x"), Err(e), "failure is not sticky");
            early = Some(e);
            break;
        }
    }
    let result = match early {
        Some(e) => Err(e),
        None => v.finish().map(|ok| (ok.security_version, ok.payload_bytes)),
    };
    if let Ok((_, payload_bytes)) = result {
        let seen: u64 = sink_bytes.iter().map(|(_, n)| n).sum();
        assert_eq!(seen, payload_bytes, "sink and verdict disagree on bytes");
    }
    Outcome { result, sink_bytes }
}

/// The property the `package` targets check: the verdict does not depend on
/// how the package is split into reads.
pub fn check_chunking_invariance(package: &[u8], selector: u8, seed: u32) -> Outcome {
    let mut buf = vec![0u8; BUF_LEN];
    let whole = stream(package, &mut buf, policy(selector), None);
    let mut chunker = Chunker::new(seed);
    let split = stream(package, &mut buf, policy(selector), Some(&mut chunker));
    assert_eq!(
        whole.result, split.result,
        "verdict depends on chunking (seed {seed:#x})"
    );
    // On failure the sink may have seen a different prefix of the last
    // payload (it gets what arrived before the error); on success all of it.
    if whole.result.is_ok() {
        assert_eq!(whole.sink_bytes, split.sink_bytes);
    }
    whole
}

/// Reads a big-endian u32 from the front of `data`, returning the rest.
pub fn take_u32(data: &[u8]) -> Option<(u32, &[u8])> {
    let (head, rest) = data.split_first_chunk::<4>()?;
    Some((u32::from_be_bytes(*head), rest))
}

/// Appends a CBOR byte string (shortest head) to `out`.
pub fn cbor_bstr(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = bytes.len() as u64;
    match len {
        0..=23 => out.push(0x40 | len as u8),
        24..=0xff => out.extend_from_slice(&[0x58, len as u8]),
        0x100..=0xffff => {
            out.push(0x59);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(0x5a);
            out.extend_from_slice(&(len as u32).to_be_bytes());
        }
        _ => {
            out.push(0x5b);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
    out.extend_from_slice(bytes);
}

/// A well-formed protected header: ES256, the content type, a zero kid.
pub fn valid_protected() -> Vec<u8> {
    let mut p = vec![0xa3, 0x01, 0x26, 0x03];
    let ct = otaseal_manifest::envelope::CONTENT_TYPE.as_bytes();
    // The content type is 37 bytes: a one-byte length head.
    p.extend_from_slice(&[0x78, ct.len() as u8]);
    p.extend_from_slice(ct);
    p.push(0x04);
    cbor_bstr(&mut p, &[0u8; 32]);
    p
}

/// An envelope `[1, h'', [18([protected, unprotected, nil, h'00'])]]` with
/// `unprotected` spliced in as raw CBOR.
pub fn envelope_around(protected: &[u8], unprotected: &[u8]) -> Vec<u8> {
    let mut e = vec![0x83, 0x01, 0x40, 0x81, 0xd2, 0x84];
    cbor_bstr(&mut e, protected);
    e.extend_from_slice(unprotected);
    e.extend_from_slice(&[0xf6, 0x41, 0x00]);
    e
}
