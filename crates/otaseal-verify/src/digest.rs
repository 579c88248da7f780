//! Chunked payload digests (see `spec/format.md`, "Payload digests").
//!
//! ```text
//! chunk_i = H(0x00 || bytes of chunk i)          chunks of 1 << chunk_log2 bytes
//! root    = H(0x01 || u64be(size) || u8(chunk_log2) || chunk_0 || ... || chunk_n-1)
//! ```
//! A device streams: one chunk state and one root state per family, O(1)
//! memory. A host hashes whole chunks on every core through a
//! [`ChunkDigester`] and feeds the results in order: the same function, the
//! same root. Domain bytes 0x00 / 0x01 keep a chunk from posing as a root.

use otaseal_manifest::{DigestAlg, DigestSet};
use sha2::Digest as _;

/// Longest digest output (SHA-512).
pub const MAX_DIGEST_LEN: usize = 64;

/// A digest value of any family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DigestValue {
    bytes: [u8; MAX_DIGEST_LEN],
    len: u8,
}

impl DigestValue {
    /// The digest bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// A value holding `s` (truncated to 64 bytes).
    pub fn from_slice(s: &[u8]) -> DigestValue {
        let mut bytes = [0u8; MAX_DIGEST_LEN];
        let len = s.len().min(MAX_DIGEST_LEN);
        for (dst, src) in bytes.iter_mut().zip(s) {
            *dst = *src;
        }
        DigestValue {
            bytes,
            len: len as u8,
        }
    }
}

/// Whether digest family `alg` is compiled into this build (SHA-256 always;
/// SHA-384, SHA-512 and SM3 behind the `sha384`, `sha512` and `sm3`
/// features, which the suites that need them turn on).
pub const fn family_compiled(alg: DigestAlg) -> bool {
    match alg {
        DigestAlg::Sha256 => true,
        DigestAlg::Sha384 => cfg!(feature = "sha384"),
        DigestAlg::Sha512 => cfg!(feature = "sha512"),
        DigestAlg::Sm3 => cfg!(feature = "sm3"),
    }
}

/// How many digest families this build compiles: the capacity of a
/// payload's hasher states (a family that is not compiled gets none: it
/// makes [`PayloadHasher::finish`] fail). A SHA-256-only device then keeps
/// one pair of states, not room for four (about 700 bytes of its stack).
pub(crate) const COMPILED_FAMILY_COUNT: usize = 1
    + cfg!(feature = "sha384") as usize
    + cfg!(feature = "sha512") as usize
    + cfg!(feature = "sm3") as usize;

/// The digest families compiled into this build.
pub fn compiled_families() -> DigestSet {
    [
        DigestAlg::Sha256,
        DigestAlg::Sha384,
        DigestAlg::Sha512,
        DigestAlg::Sm3,
    ]
    .into_iter()
    .filter(|a| family_compiled(*a))
    .fold(DigestSet::EMPTY, |set, a| set.with(a))
}

/// An incremental hash of one family.
#[derive(Clone)]
pub enum Hasher {
    /// SHA-256.
    Sha256(sha2::Sha256),
    /// SHA-384.
    #[cfg(feature = "sha384")]
    Sha384(sha2::Sha384),
    /// SHA-512.
    #[cfg(feature = "sha512")]
    Sha512(sha2::Sha512),
    /// SM3.
    #[cfg(feature = "sm3")]
    Sm3(sm3::Sm3),
}

impl Hasher {
    /// A fresh hasher of family `alg`; `None` when the family is not
    /// compiled into this build (see [`family_compiled`]).
    pub fn new(alg: DigestAlg) -> Option<Hasher> {
        match alg {
            DigestAlg::Sha256 => Some(Hasher::Sha256(sha2::Sha256::new())),
            #[cfg(feature = "sha384")]
            DigestAlg::Sha384 => Some(Hasher::Sha384(sha2::Sha384::new())),
            #[cfg(feature = "sha512")]
            DigestAlg::Sha512 => Some(Hasher::Sha512(sha2::Sha512::new())),
            #[cfg(feature = "sm3")]
            DigestAlg::Sm3 => Some(Hasher::Sm3(sm3::Sm3::new())),
            #[allow(unreachable_patterns)] // every family compiled in
            _ => None,
        }
    }

    /// Absorbs bytes.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            #[cfg(feature = "sha384")]
            Hasher::Sha384(h) => h.update(data),
            #[cfg(feature = "sha512")]
            Hasher::Sha512(h) => h.update(data),
            #[cfg(feature = "sm3")]
            Hasher::Sm3(h) => h.update(data),
        }
    }

    /// Returns the digest and resets the hasher.
    pub fn finalize_reset(&mut self) -> DigestValue {
        match self {
            Hasher::Sha256(h) => DigestValue::from_slice(&h.finalize_reset()),
            #[cfg(feature = "sha384")]
            Hasher::Sha384(h) => DigestValue::from_slice(&h.finalize_reset()),
            #[cfg(feature = "sha512")]
            Hasher::Sha512(h) => DigestValue::from_slice(&h.finalize_reset()),
            #[cfg(feature = "sm3")]
            Hasher::Sm3(h) => DigestValue::from_slice(&h.finalize_reset()),
        }
    }
}

/// One-shot hash of `data` in family `alg`; `None` when the family is not
/// compiled into this build.
pub fn try_hash(alg: DigestAlg, data: &[u8]) -> Option<DigestValue> {
    let mut h = Hasher::new(alg)?;
    h.update(data);
    Some(h.finalize_reset())
}

/// One-shot hash for hosts, which compile every family. In a build without
/// `alg` the value is empty, which equals no real digest; the verifier
/// itself uses [`try_hash`].
pub fn hash(alg: DigestAlg, data: &[u8]) -> DigestValue {
    try_hash(alg, data).unwrap_or(DigestValue {
        bytes: [0; MAX_DIGEST_LEN],
        len: 0,
    })
}

/// SHA-256, which every build has: key ids and default ESS hashes.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(data).into()
}

/// The digest of one whole chunk: `H(0x00 || chunk)`; `None` when the
/// family is not compiled into this build.
pub fn chunk_digest(alg: DigestAlg, chunk: &[u8]) -> Option<DigestValue> {
    let mut h = Hasher::new(alg)?;
    h.update(&[0x00]);
    h.update(chunk);
    Some(h.finalize_reset())
}

/// Computes chunk digests of whole chunks, possibly in parallel.
///
/// `data` holds whole chunks of `chunk_size` bytes, except that its last
/// chunk may be shorter when it ends the payload. Implementations call
/// `out(chunk_index, alg, digest)` for every chunk and family in `algs`, and
/// for each family in increasing chunk order. They must compute
/// [`chunk_digest`]; a host uses this to spread the work over its cores.
pub trait ChunkDigester {
    /// Digests every chunk of `data` in every family of `algs`.
    fn digest_chunks(
        &self,
        algs: DigestSet,
        data: &[u8],
        chunk_size: usize,
        out: &mut dyn FnMut(usize, DigestAlg, &DigestValue),
    );
}

/// Hashes chunks one after the other on the calling core (devices).
#[derive(Clone, Copy, Debug, Default)]
pub struct SerialDigester;

impl ChunkDigester for SerialDigester {
    fn digest_chunks(
        &self,
        algs: DigestSet,
        data: &[u8],
        chunk_size: usize,
        out: &mut dyn FnMut(usize, DigestAlg, &DigestValue),
    ) {
        for (i, chunk) in data.chunks(chunk_size.max(1)).enumerate() {
            // Families that are not compiled never reach a PayloadHasher.
            for alg in algs.iter() {
                if let Some(d) = chunk_digest(alg, chunk) {
                    out(i, alg, &d);
                }
            }
        }
    }
}

struct FamilyState {
    alg: DigestAlg,
    chunk: Hasher,
    root: Hasher,
}

/// Streaming root computation for one payload in up to four families.
pub struct PayloadHasher {
    /// A requested family is not compiled in: `finish` refuses.
    missing: bool,
    families: heapless::Vec<FamilyState, COMPILED_FAMILY_COUNT>,
    chunk_size: u64,
    size: u64,
    /// Bytes absorbed so far.
    seen: u64,
    /// Bytes of the current, partial chunk already in the chunk states.
    in_chunk: u64,
}

impl PayloadHasher {
    /// Starts a payload of `size` bytes hashed in `algs` with chunks of
    /// `1 << chunk_log2` bytes (`chunk_log2` already validated, at most 24).
    /// A family of `algs` that this build does not compile makes
    /// [`Self::finish`] fail: a family that cannot be computed never passes
    /// as checked (the verifier refuses such a policy before this).
    pub fn new(algs: DigestSet, size: u64, chunk_log2: u8) -> PayloadHasher {
        let mut families = heapless::Vec::new();
        let mut missing = false;
        for alg in algs.iter() {
            let (Some(mut root), Some(mut chunk)) = (Hasher::new(alg), Hasher::new(alg)) else {
                missing = true;
                continue;
            };
            root.update(&[0x01]);
            root.update(&size.to_be_bytes());
            root.update(&[chunk_log2]);
            chunk.update(&[0x00]);
            // Only compiled families get here, so the push cannot fail.
            let _ = families.push(FamilyState { alg, chunk, root });
        }
        PayloadHasher {
            missing,
            families,
            chunk_size: 1u64 << chunk_log2.min(24),
            size,
            seen: 0,
            in_chunk: 0,
        }
    }

    /// Bytes that complete the current partial chunk (0 at a boundary).
    pub fn to_chunk_boundary(&self) -> u64 {
        if self.in_chunk == 0 {
            0
        } else {
            self.chunk_size.saturating_sub(self.in_chunk)
        }
    }

    /// Chunk size in bytes.
    pub fn chunk_size(&self) -> u64 {
        self.chunk_size
    }

    /// Bytes still expected.
    pub fn remaining(&self) -> u64 {
        self.size.saturating_sub(self.seen)
    }

    /// Absorbs payload bytes (never more than [`Self::remaining`]; the
    /// caller splits its input at the payload boundary).
    pub fn update(&mut self, mut data: &[u8], digester: &dyn ChunkDigester) {
        let take = usize::try_from(self.remaining()).unwrap_or(usize::MAX);
        data = data.get(..take.min(data.len())).unwrap_or(data);
        // 1. Complete a partially filled chunk.
        if self.in_chunk > 0 {
            // `in_chunk < chunk_size` (a full chunk is closed at once).
            let need = usize::try_from(self.chunk_size.saturating_sub(self.in_chunk))
                .unwrap_or(usize::MAX);
            let (head, tail) = data.split_at(need.min(data.len()));
            self.absorb_partial(head);
            data = tail;
        }
        // 2. Whole chunks (and the payload's final short chunk) in one batch,
        //    so a host digester can spread them over cores.
        let chunk = usize::try_from(self.chunk_size).unwrap_or(usize::MAX);
        let ends_payload = data.len() as u64 == self.remaining();
        let batch_len = if ends_payload && !data.is_empty() {
            data.len()
        } else {
            // `chunk >= 1`; the remainder is at most `data.len()`.
            data.len()
                .saturating_sub(data.len().checked_rem(chunk).unwrap_or(0))
        };
        if batch_len > 0 {
            let (batch, tail) = data.split_at(batch_len);
            let algs = self.algs();
            let families = &mut self.families;
            digester.digest_chunks(algs, batch, chunk, &mut |_, alg, d| {
                if let Some(f) = families.iter_mut().find(|f| f.alg == alg) {
                    f.root.update(d.as_bytes());
                }
            });
            // `seen + batch_len <= size`: `data` was cut at `remaining()`.
            self.seen = self.seen.saturating_add(batch_len as u64);
            data = tail;
        }
        // 3. Start a new partial chunk with what is left.
        if !data.is_empty() {
            self.absorb_partial(data);
        }
    }

    fn absorb_partial(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        for f in &mut self.families {
            f.chunk.update(data);
        }
        // Bounded by `chunk_size` and `size`: callers cut `data` to fit both.
        self.in_chunk = self.in_chunk.saturating_add(data.len() as u64);
        self.seen = self.seen.saturating_add(data.len() as u64);
        if self.in_chunk == self.chunk_size || self.seen == self.size {
            self.close_chunk();
        }
    }

    fn close_chunk(&mut self) {
        for f in &mut self.families {
            let d = f.chunk.finalize_reset();
            f.chunk.update(&[0x00]);
            f.root.update(d.as_bytes());
        }
        self.in_chunk = 0;
    }

    /// The families being computed.
    pub fn algs(&self) -> DigestSet {
        self.families
            .iter()
            .fold(DigestSet::EMPTY, |s, f| s.with(f.alg))
    }

    /// The roots, once every byte was absorbed; `None` before.
    pub fn finish(mut self) -> Option<heapless::Vec<(DigestAlg, DigestValue), 4>> {
        if self.seen != self.size || self.missing {
            return None;
        }
        let mut out = heapless::Vec::new();
        for f in &mut self.families {
            let _ = out.push((f.alg, f.root.finalize_reset()));
        }
        Some(out)
    }
}

/// Computes the roots of a payload held in memory (signer and tests).
pub fn payload_roots(
    algs: DigestSet,
    data: &[u8],
    chunk_log2: u8,
    digester: &dyn ChunkDigester,
) -> heapless::Vec<(DigestAlg, DigestValue), 4> {
    let mut h = PayloadHasher::new(algs, data.len() as u64, chunk_log2);
    h.update(data, digester);
    h.finish().unwrap_or_default()
}

#[cfg(feature = "std")]
pub use threaded::ThreadedDigester;

#[cfg(feature = "std")]
mod threaded {
    extern crate std;
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::vec::Vec;

    /// Hashes chunks on several threads (hosts). Every (chunk, family) pair
    /// is one task; threads take tasks from a shared counter, so SHA-256 and
    /// SM3 of one batch finish together even though SM3 is slower.
    #[derive(Clone, Copy, Debug)]
    pub struct ThreadedDigester {
        threads: usize,
    }

    impl ThreadedDigester {
        /// Uses `threads` threads (at least 1).
        pub fn new(threads: usize) -> ThreadedDigester {
            ThreadedDigester {
                threads: threads.max(1),
            }
        }

        /// One thread per available core.
        pub fn per_core() -> ThreadedDigester {
            ThreadedDigester::new(
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1),
            )
        }
    }

    impl ChunkDigester for ThreadedDigester {
        fn digest_chunks(
            &self,
            algs: DigestSet,
            data: &[u8],
            chunk_size: usize,
            out: &mut dyn FnMut(usize, DigestAlg, &DigestValue),
        ) {
            let chunks: Vec<&[u8]> = data.chunks(chunk_size.max(1)).collect();
            // Slowest family first (longest-processing-time order): the
            // cheap SHA-256 tasks come last and fill the gaps, so the two
            // cores finish a batch together instead of one waiting for the
            // other's last SM3 chunk.
            let mut families: Vec<DigestAlg> = algs.iter().collect();
            families.sort_by_key(|alg| match alg {
                DigestAlg::Sm3 => 0u8,
                DigestAlg::Sha512 | DigestAlg::Sha384 => 1,
                DigestAlg::Sha256 => 2,
            });
            let per_family = chunks.len();
            // An impossible overflow falls back to the serial path (0 tasks).
            let tasks = per_family.checked_mul(families.len()).unwrap_or(0);
            if self.threads == 1 || tasks <= 1 {
                return SerialDigester.digest_chunks(algs, data, chunk_size, out);
            }
            let next = AtomicUsize::new(0);
            let mut results: Vec<Option<DigestValue>> = std::vec![None; tasks];
            std::thread::scope(|scope| {
                let workers: Vec<_> = (0..self.threads.min(tasks))
                    .map(|_| {
                        scope.spawn(|| {
                            let mut done = Vec::new();
                            loop {
                                // Task `t` is family `t / per_family`, chunk `t % per_family`.
                                let t = next.fetch_add(1, Ordering::Relaxed);
                                let (Some(alg), Some(chunk)) = (
                                    t.checked_div(per_family).and_then(|f| families.get(f)),
                                    t.checked_rem(per_family).and_then(|c| chunks.get(c)),
                                ) else {
                                    break;
                                };
                                if let Some(d) = chunk_digest(*alg, chunk) {
                                    done.push((t, d));
                                }
                            }
                            done
                        })
                    })
                    .collect();
                for w in workers {
                    // A worker only hashes; it cannot panic short of OOM.
                    if let Ok(done) = w.join() {
                        for (t, d) in done {
                            if let Some(slot) = results.get_mut(t) {
                                *slot = Some(d);
                            }
                        }
                    }
                }
            });
            // One row per family, chunks in increasing order within it.
            for (row, alg) in results.chunks(per_family.max(1)).zip(&families) {
                for (c, d) in row.iter().enumerate() {
                    if let Some(d) = d {
                        out(c, *alg, d);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    fn reference_root(alg: DigestAlg, data: &[u8], log2: u8) -> DigestValue {
        let mut root = Hasher::new(alg).unwrap();
        root.update(&[1]);
        root.update(&(data.len() as u64).to_be_bytes());
        root.update(&[log2]);
        for c in data.chunks(1 << log2) {
            root.update(chunk_digest(alg, c).unwrap().as_bytes());
        }
        root.finalize_reset()
    }

    #[test]
    fn streaming_matches_reference_for_any_split() {
        let data: Vec<u8> = (0..20_000u32).map(|i| (i * 7 + 3) as u8).collect();
        let algs = DigestSet::ALL;
        for &len in &[0usize, 1, 4095, 4096, 4097, 8192, 20_000] {
            let payload = &data[..len];
            for step in [1usize, 7, 512, 4096, 5000, 100_000] {
                let mut h = PayloadHasher::new(algs, len as u64, 12);
                for piece in payload.chunks(step) {
                    h.update(piece, &SerialDigester);
                }
                let roots = h.finish().unwrap();
                for (alg, value) in roots {
                    assert_eq!(
                        value,
                        reference_root(alg, payload, 12),
                        "{alg:?} {len} {step}"
                    );
                }
            }
        }
    }

    #[cfg(feature = "std")]
    #[test]
    fn threaded_matches_serial() {
        let data: Vec<u8> = (0..50_000u32).map(|i| (i ^ (i >> 3)) as u8).collect();
        let algs = DigestSet::ALL;
        let a = payload_roots(algs, &data, 12, &SerialDigester);
        let b = payload_roots(algs, &data, 12, &ThreadedDigester::new(3));
        assert_eq!(a, b);
    }

    #[test]
    fn finish_refuses_early() {
        let mut h = PayloadHasher::new(DigestSet::ALL, 10, 12);
        h.update(&[0; 9], &SerialDigester);
        assert!(h.finish().is_none());
    }

    #[test]
    fn known_answer_sha256_empty_chunk() {
        // H(0x00) for SHA-256.
        let d = chunk_digest(DigestAlg::Sha256, &[]).unwrap();
        assert_eq!(
            d.as_bytes()[..4],
            [0x6e, 0x34, 0x0b, 0x9c],
            "SHA-256 of a single zero byte"
        );
    }
}
