//! The streaming package verifier: feed bytes in chunks of any size, learn
//! the verdict from [`PackageVerifier::finish`] and nowhere else.
//!
//! Order of checks, in one pass over the package:
//! 1. the envelope member's header and body (buffered: it is small);
//! 2. the envelope: declared signers, signatures, chains, policy, device
//!    fit — before a single payload byte is accepted;
//! 3. each payload member: header regenerated and compared byte for byte,
//!    data hashed in chunks and handed to the caller's sink, digests compared;
//! 4. the end-of-archive blocks, then nothing.

use otaseal_manifest::container::{
    BLOCK, END_BLOCKS, ENVELOPE_MEMBER, MAX_ENVELOPE_SIZE, header_size, member_header, padding_len,
};
use otaseal_manifest::{DigestSet, EnvelopeError, Manifest, PayloadKind};

use crate::digest::{ChunkDigester, DigestValue, PayloadHasher, SerialDigester};
use crate::error::VerifyError;
use crate::policy::{Policy, TrustStore};
use crate::signatures::{EnvelopeVerdict, check_envelope_then};

/// Bytes of the end-of-archive blocks.
const END_LEN: usize = END_BLOCKS * BLOCK;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    EnvelopeHeader,
    EnvelopeBody,
    EnvelopePadding,
    PayloadHeader(usize),
    PayloadData(usize),
    PayloadPadding(usize),
    EndBlocks,
    Done,
}

struct CurrentPayload {
    hasher: PayloadHasher,
    /// The bytes the declared kind must show, and where (`None` for raw).
    magic: Option<(u64, &'static [u8])>,
    /// Payload bytes seen so far (for the magic check).
    pos: u64,
    /// Roots of the selected families, all compiled (`select_digests`); a
    /// root left out for want of room would fail `end_payload`, not pass.
    expected: heapless::Vec<
        (otaseal_manifest::DigestAlg, DigestValue),
        { crate::digest::COMPILED_FAMILY_COUNT },
    >,
    /// The payload's size, for the padding that follows it.
    size: u64,
}

/// The manifest fields the payload phases use, and where its bytes are.
struct ManifestFacts {
    at: usize,
    len: usize,
    payload_count: usize,
    created: u64,
    chunk_log2: u8,
    security_version: u64,
}

/// What a successful verification established.
#[derive(Clone, Debug)]
pub struct Verified {
    /// Per-signature outcomes and checked digest families.
    pub verdict: EnvelopeVerdict,
    /// The manifest's security version (store it as the new floor after install).
    pub security_version: u64,
    /// Total payload bytes checked.
    pub payload_bytes: u64,
}

/// Streaming verifier over a caller-provided buffer (no heap).
///
/// The buffer holds the envelope and, after it, the `Sig_structure` of one
/// signature at a time: size it with [`crate::buffer_size`] for the largest
/// envelope you accept (signed packages of three suites with certificate
/// chains are typically 5-40 KiB). A larger envelope is refused with
/// [`VerifyError::BufferTooSmall`] before any of it is buffered.
pub struct PackageVerifier<'b, 'p, D: ChunkDigester = SerialDigester> {
    buf: &'b mut [u8],
    policy: Policy<'p>,
    trust: TrustStore<'p>,
    digester: D,
    phase: Phase,
    header: [u8; BLOCK],
    header_fill: usize,
    envelope_len: usize,
    envelope_fill: usize,
    manifest_at: (usize, usize),
    pad_left: usize,
    end_seen: usize,
    verdict: EnvelopeVerdict,
    payload_count: usize,
    mtime: u64,
    chunk_log2: u8,
    current: Option<CurrentPayload>,
    payload_bytes: u64,
    payloads_matched: usize,
    security_version: u64,
    failed: Option<VerifyError>,
}

impl<'b, 'p> PackageVerifier<'b, 'p, SerialDigester> {
    /// A verifier that hashes on the calling core.
    pub fn new(buf: &'b mut [u8], policy: Policy<'p>, trust: TrustStore<'p>) -> Self {
        PackageVerifier::with_digester(buf, policy, trust, SerialDigester)
    }
}

impl<'b, 'p, D: ChunkDigester> PackageVerifier<'b, 'p, D> {
    /// A verifier that hashes whole chunks through `digester` (hosts pass a
    /// threaded one).
    pub fn with_digester(
        buf: &'b mut [u8],
        policy: Policy<'p>,
        trust: TrustStore<'p>,
        digester: D,
    ) -> Self {
        PackageVerifier {
            buf,
            policy,
            trust,
            digester,
            phase: Phase::EnvelopeHeader,
            header: [0; BLOCK],
            header_fill: 0,
            envelope_len: 0,
            envelope_fill: 0,
            manifest_at: (0, 0),
            pad_left: 0,
            end_seen: 0,
            verdict: EnvelopeVerdict::default(),
            payload_count: 0,
            mtime: 0,
            chunk_log2: 0,
            current: None,
            payload_bytes: 0,
            payloads_matched: 0,
            security_version: 0,
            failed: None,
        }
    }

    /// Feeds the next bytes of the package.
    pub fn update(&mut self, data: &[u8]) -> Result<(), VerifyError> {
        self.update_with(data, &mut |_, _| {})
    }

    /// Feeds the next bytes and hands every payload byte to `sink` as
    /// `(payload index, bytes)` once the envelope has been verified. The
    /// payload is not proven until [`Self::finish`] succeeds: write it to an
    /// inactive slot and commit only then.
    pub fn update_with(
        &mut self,
        data: &[u8],
        sink: &mut dyn FnMut(usize, &[u8]),
    ) -> Result<(), VerifyError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        match self.step_all(data, sink) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.failed = Some(e);
                Err(e)
            }
        }
    }

    /// The verdict: success only when every member was complete and matched.
    pub fn finish(self) -> Result<Verified, VerifyError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        if self.phase != Phase::Done {
            return Err(VerifyError::Truncated);
        }
        Ok(Verified {
            verdict: self.verdict,
            security_version: self.security_version,
            payload_bytes: self.payload_bytes,
        })
    }

    /// The verdict on signatures so far (complete once the envelope was read;
    /// useful for reporting a rejection).
    pub fn envelope_verdict(&self) -> &EnvelopeVerdict {
        &self.verdict
    }

    /// How many bytes to feed next, at most `max`, so that payload chunks
    /// arrive whole: a host that reads exactly this much each time lets a
    /// parallel [`ChunkDigester`] hash every chunk of a read at once instead
    /// of finishing split chunks on one core. Any read size stays correct;
    /// this only helps speed.
    pub fn read_hint(&self, max: usize) -> usize {
        let max64 = max as u64;
        let hint = match self.phase {
            Phase::EnvelopeHeader | Phase::PayloadHeader(_) => {
                BLOCK.saturating_sub(self.header_fill) as u64
            }
            Phase::EnvelopeBody => self.envelope_len.saturating_sub(self.envelope_fill) as u64,
            Phase::EnvelopePadding | Phase::PayloadPadding(_) => self.pad_left as u64,
            Phase::PayloadData(_) => match &self.current {
                Some(c) => {
                    // Finish the split chunk, then as many whole chunks as fit.
                    let head = c.hasher.to_chunk_boundary();
                    let room = max64.saturating_sub(head);
                    let whole =
                        room.saturating_sub(room.checked_rem(c.hasher.chunk_size()).unwrap_or(0));
                    let want = match head.saturating_add(whole) {
                        0 => max64, // a chunk larger than `max`: any size will do
                        n => n.min(max64),
                    };
                    want.min(c.hasher.remaining())
                }
                None => max64,
            },
            Phase::EndBlocks => (END_BLOCKS * BLOCK).saturating_sub(self.end_seen) as u64,
            Phase::Done => max64,
        };
        usize::try_from(hint.clamp(1, max64.max(1))).unwrap_or(max)
    }

    /// How many payloads, in order, have been read in full with matching
    /// digests so far (for progress and reporting, not a verdict).
    pub fn payloads_matched(&self) -> usize {
        self.payloads_matched
    }

    /// The manifest, once the envelope has been verified.
    pub fn manifest(&self) -> Option<Manifest<'_>> {
        if matches!(
            self.phase,
            Phase::EnvelopeHeader | Phase::EnvelopeBody | Phase::EnvelopePadding
        ) || self.manifest_at.1 == 0
        {
            return None;
        }
        let (start, end) = self.manifest_at;
        Manifest::decode(self.buf.get(start..end)?).ok()
    }

    fn step_all(
        &mut self,
        mut data: &[u8],
        sink: &mut dyn FnMut(usize, &[u8]),
    ) -> Result<(), VerifyError> {
        while !data.is_empty() {
            let used = self.step(data, sink)?;
            data = data.get(used..).unwrap_or(&[]);
        }
        Ok(())
    }

    /// Consumes a prefix of `data` within the current phase; returns its length.
    fn step(
        &mut self,
        data: &[u8],
        sink: &mut dyn FnMut(usize, &[u8]),
    ) -> Result<usize, VerifyError> {
        match self.phase {
            Phase::EnvelopeHeader => {
                let used = self.fill_header(data);
                if self.header_fill == BLOCK {
                    self.start_envelope()?;
                }
                Ok(used)
            }
            Phase::EnvelopeBody => {
                // `envelope_fill <= envelope_len`, both at most half the buffer.
                let want = self.envelope_len.saturating_sub(self.envelope_fill);
                let take = want.min(data.len());
                let end = self
                    .envelope_fill
                    .checked_add(take)
                    .ok_or(VerifyError::BufferTooSmall)?;
                let dst = self
                    .buf
                    .get_mut(self.envelope_fill..end)
                    .ok_or(VerifyError::BufferTooSmall)?;
                dst.copy_from_slice(data.get(..take).unwrap_or(&[]));
                self.envelope_fill = end;
                if self.envelope_fill == self.envelope_len {
                    self.pad_left = padding_len(self.envelope_len as u64);
                    self.phase = Phase::EnvelopePadding;
                    if self.pad_left == 0 {
                        self.verify_envelope()?;
                    }
                }
                Ok(take)
            }
            Phase::EnvelopePadding => {
                let used = self.zeros(data, VerifyError::Padding)?;
                if self.pad_left == 0 {
                    self.verify_envelope()?;
                }
                Ok(used)
            }
            Phase::PayloadHeader(i) => {
                let used = self.fill_header(data);
                if self.header_fill == BLOCK {
                    self.start_payload(i)?;
                }
                Ok(used)
            }
            Phase::PayloadData(i) => self.payload_data(i, data, sink),
            Phase::PayloadPadding(i) => {
                let used = self.zeros(data, VerifyError::Padding)?;
                if self.pad_left == 0 {
                    self.next_member(i.saturating_add(1));
                }
                Ok(used)
            }
            Phase::EndBlocks => {
                let take = END_LEN.saturating_sub(self.end_seen).min(data.len());
                let chunk = data.get(..take).unwrap_or(&[]);
                if let Some(pos) = chunk.iter().position(|b| *b != 0) {
                    // Something in the first end block is an extra member.
                    return Err(if self.end_seen.saturating_add(pos) < BLOCK {
                        VerifyError::HeaderMismatch {
                            member: self.payload_count.saturating_add(1),
                        }
                    } else {
                        VerifyError::Padding
                    });
                }
                // `end_seen + take <= END_LEN`.
                self.end_seen = self.end_seen.saturating_add(take);
                if self.end_seen == END_LEN {
                    self.phase = Phase::Done;
                }
                Ok(take)
            }
            Phase::Done => Err(VerifyError::TrailingData),
        }
    }

    fn fill_header(&mut self, data: &[u8]) -> usize {
        // `header_fill <= BLOCK`, so `header_fill + take <= BLOCK`.
        let take = BLOCK.saturating_sub(self.header_fill).min(data.len());
        let end = self.header_fill.saturating_add(take);
        if let (Some(dst), Some(src)) =
            (self.header.get_mut(self.header_fill..end), data.get(..take))
        {
            dst.copy_from_slice(src);
        }
        self.header_fill = end;
        take
    }

    /// Consumes expected zero bytes (padding); any other byte is `err`.
    fn zeros(&mut self, data: &[u8], err: VerifyError) -> Result<usize, VerifyError> {
        let take = self.pad_left.min(data.len());
        if data.get(..take).unwrap_or(&[]).iter().any(|b| *b != 0) {
            return Err(err);
        }
        // `take <= pad_left`.
        self.pad_left = self.pad_left.saturating_sub(take);
        Ok(take)
    }

    fn start_envelope(&mut self) -> Result<(), VerifyError> {
        self.header_fill = 0;
        let name = ENVELOPE_MEMBER.as_bytes();
        if self.header.get(..name.len()) != Some(name) || self.header.get(name.len()) != Some(&0) {
            return Err(VerifyError::NotAPackage);
        }
        // The name says this is an otaseal envelope: a size field the signer
        // would not write (12 digits, no NUL) is a header mismatch.
        let size =
            header_size(&self.header).map_err(|_| VerifyError::HeaderMismatch { member: 0 })?;
        if size == 0 {
            return Err(VerifyError::Envelope(EnvelopeError::Malformed(
                "empty envelope member",
            )));
        }
        if size > MAX_ENVELOPE_SIZE {
            return Err(VerifyError::EnvelopeTooLarge { size });
        }
        // The envelope, then the Sig_structure of one signature at a time,
        // which is at most the envelope's size plus a few bytes of heads.
        if size > crate::max_envelope_for(self.buf.len()) as u64 {
            return Err(VerifyError::BufferTooSmall);
        }
        self.envelope_len =
            usize::try_from(size).map_err(|_| VerifyError::EnvelopeTooLarge { size })?;
        // `header` keeps the envelope's header until `verify_envelope`
        // compares it: nothing writes it before the first payload header.
        self.phase = Phase::EnvelopeBody;
        Ok(())
    }

    // Out of line, like `start_payload` and `end_payload`: the locals of
    // each step (decoded envelope and manifest, a payload's hasher state)
    // then take stack only while that step runs, instead of adding up in
    // the frame of the caller's `update` (README "Firmware": stack).
    #[inline(never)]
    fn verify_envelope(&mut self) -> Result<(), VerifyError> {
        let (envelope, scratch) = self
            .buf
            .split_at_mut_checked(self.envelope_len)
            .ok_or(VerifyError::BufferTooSmall)?;
        let envelope: &[u8] = envelope;
        // What the payloads need of the manifest; the manifest itself is
        // decoded again per payload from its bytes in `buf`.
        let facts = check_envelope_then(
            envelope,
            scratch,
            &self.policy,
            &self.trust,
            &mut self.verdict,
            |manifest, manifest_bytes| ManifestFacts {
                at: manifest_bytes.as_ptr() as usize,
                len: manifest_bytes.len(),
                payload_count: manifest.payloads.len(),
                created: manifest.created,
                chunk_log2: manifest.chunk_log2,
                security_version: manifest.security_version,
            },
        )?;
        // The envelope header was read before the manifest said which mtime
        // the signer wrote; compare it now, before any payload byte.
        if !header_is(
            &self.header,
            ENVELOPE_MEMBER,
            self.envelope_len as u64,
            facts.created,
        ) {
            return Err(VerifyError::HeaderMismatch { member: 0 });
        }
        // The manifest bytes borrow from the envelope: remember their span.
        let start = facts
            .at
            .checked_sub(envelope.as_ptr() as usize)
            .ok_or(VerifyError::BufferTooSmall)?;
        let end = start
            .checked_add(facts.len)
            .ok_or(VerifyError::BufferTooSmall)?;
        self.manifest_at = (start, end);
        self.payload_count = facts.payload_count;
        self.mtime = facts.created;
        self.chunk_log2 = facts.chunk_log2;
        self.security_version = facts.security_version;
        self.next_member(0);
        Ok(())
    }

    fn next_member(&mut self, index: usize) {
        self.header_fill = 0;
        self.phase = if index < self.payload_count {
            Phase::PayloadHeader(index)
        } else {
            Phase::EndBlocks
        };
    }

    #[inline(never)]
    fn start_payload(&mut self, index: usize) -> Result<(), VerifyError> {
        self.header_fill = 0;
        let (families, expected, size, magic) = self.payload_entry(index)?;
        self.current = Some(CurrentPayload {
            hasher: PayloadHasher::new(families, size, self.chunk_log2),
            magic,
            pos: 0,
            expected,
            size,
        });
        self.phase = Phase::PayloadData(index);
        if size == 0 {
            self.end_payload(index)?;
        }
        Ok(())
    }

    /// Checks member `index`'s header against its manifest entry and returns
    /// what its payload phase needs: the digest families to compute, their
    /// expected roots, the size and the kind's magic. A frame of its own
    /// (`inline(never)`), so the re-decoded manifest (about 1.6 KB with its
    /// fixed capacities) is off the stack before the payload state is built.
    #[allow(clippy::type_complexity)]
    #[inline(never)]
    fn payload_entry(
        &self,
        index: usize,
    ) -> Result<
        (
            DigestSet,
            heapless::Vec<
                (otaseal_manifest::DigestAlg, DigestValue),
                { crate::digest::COMPILED_FAMILY_COUNT },
            >,
            u64,
            Option<(u64, &'static [u8])>,
        ),
        VerifyError,
    > {
        let mismatch = VerifyError::HeaderMismatch {
            member: index.saturating_add(1),
        };
        let (start, end) = self.manifest_at;
        let bytes = self
            .buf
            .get(start..end)
            .ok_or(VerifyError::BufferTooSmall)?;
        // Borrowed in place: `?` would move the 1.6 KB manifest out of the
        // `Result` into a second stack slot.
        let decoded = Manifest::decode(bytes);
        let manifest = match &decoded {
            Ok(manifest) => manifest,
            Err(e) => return Err(VerifyError::from(*e)),
        };
        let payload = manifest.payloads.get(index).ok_or(mismatch)?;
        if !header_is(&self.header, payload.name, payload.size, self.mtime) {
            return Err(mismatch);
        }
        let mut families = DigestSet::EMPTY;
        let mut expected_roots = heapless::Vec::new();
        for d in payload
            .digests
            .iter()
            .filter(|d| self.verdict.digests.contains(d.alg))
        {
            families = families.with(d.alg);
            let _ = expected_roots.push((d.alg, DigestValue::from_slice(d.root)));
        }
        if families.is_empty() {
            // Unreachable after policy selection; fail closed regardless.
            return Err(VerifyError::DigestUnavailable {
                payload: index,
                alg: otaseal_manifest::DigestAlg::Sha256,
            });
        }
        Ok((
            families,
            expected_roots,
            payload.size,
            kind_magic(payload.kind),
        ))
    }

    fn payload_data(
        &mut self,
        index: usize,
        data: &[u8],
        sink: &mut dyn FnMut(usize, &[u8]),
    ) -> Result<usize, VerifyError> {
        let current = self.current.as_mut().ok_or(VerifyError::Truncated)?;
        let take = usize::try_from(current.hasher.remaining())
            .unwrap_or(usize::MAX)
            .min(data.len());
        let chunk = data.get(..take).unwrap_or(&[]);
        if let Some((at, magic)) = current.magic
            && !magic_agrees(at, magic, current.pos, chunk)
        {
            return Err(VerifyError::PayloadKindMismatch { payload: index });
        }
        current.pos = current.pos.saturating_add(take as u64);
        current.hasher.update(chunk, &self.digester);
        sink(index, chunk);
        // At most the sum of the manifest's payload sizes, each below 8 GiB.
        self.payload_bytes = self.payload_bytes.saturating_add(take as u64);
        if current.hasher.remaining() == 0 {
            self.end_payload(index)?;
        }
        Ok(take)
    }

    #[inline(never)]
    fn end_payload(&mut self, index: usize) -> Result<(), VerifyError> {
        let current = self.current.take().ok_or(VerifyError::Truncated)?;
        let payload_size = current.size;
        // A payload too short to hold its kind's magic is not of that kind.
        if let Some((at, magic)) = current.magic
            && payload_size < at.saturating_add(magic.len() as u64)
        {
            return Err(VerifyError::PayloadKindMismatch { payload: index });
        }
        // `finish` also refuses when a selected family was not computed
        // (not compiled in; the policy check refuses that earlier).
        let roots = current.hasher.finish().ok_or(VerifyError::Truncated)?;
        for (alg, value) in &roots {
            let expected = current
                .expected
                .iter()
                .find(|(a, _)| a == alg)
                .map(|(_, v)| v);
            if expected != Some(value) {
                return Err(VerifyError::DigestMismatch {
                    payload: index,
                    alg: *alg,
                });
            }
        }
        self.payloads_matched = index.saturating_add(1);
        self.pad_left = padding_len(payload_size);
        self.phase = Phase::PayloadPadding(index);
        if self.pad_left == 0 {
            self.next_member(index.saturating_add(1));
        }
        Ok(())
    }
}

/// The signature bytes a payload of `kind` starts with (at an offset):
/// `ustar` at 257 for tar (POSIX and GNU), the gzip id `1f 8b` for tar.gz,
/// and `PK` for zip (a local file header, or the end record of an empty
/// archive). A raw image has none.
fn kind_magic(kind: PayloadKind) -> Option<(u64, &'static [u8])> {
    match kind {
        PayloadKind::Raw => None,
        PayloadKind::Tar => Some((257, b"ustar")),
        PayloadKind::TarGz => Some((0, &[0x1f, 0x8b])),
        PayloadKind::Zip => Some((0, b"PK")),
    }
}

/// Whether `header` is the block the signer's `member_header` writes for
/// this member (a member the signer could not have written never is).
/// Out of line: the 512-byte expected block takes stack only here, not in
/// the frames that also hold a decoded envelope or manifest.
#[inline(never)]
fn header_is(header: &[u8; BLOCK], name: &str, size: u64, mtime: u64) -> bool {
    member_header(name, size, mtime).is_ok_and(|expected| expected == *header)
}

/// Whether `chunk`, which starts at payload offset `pos`, agrees with
/// `magic` at offset `at` where the two overlap.
fn magic_agrees(at: u64, magic: &[u8], pos: u64, chunk: &[u8]) -> bool {
    magic.iter().enumerate().all(|(i, want)| {
        let Some(off) = at.checked_add(i as u64).and_then(|o| o.checked_sub(pos)) else {
            return true; // before this chunk
        };
        match usize::try_from(off).ok().and_then(|o| chunk.get(o)) {
            Some(got) => got == want,
            None => true, // after this chunk
        }
    })
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::{buffer_size, max_envelope_for};

    fn first_error(buf_len: usize, envelope_size: u64) -> VerifyError {
        let mut buf = [0u8; 4096];
        let buf = &mut buf[..buf_len];
        let mut v = PackageVerifier::new(buf, Policy::default(), TrustStore::default());
        let header = member_header(ENVELOPE_MEMBER, envelope_size, 0).unwrap();
        v.update(&header).unwrap_err()
    }

    #[test]
    fn envelope_size_against_buffer_and_format() {
        // Within the format but not the buffer: the caller's buffer is the
        // problem, and nothing of the envelope was buffered.
        assert_eq!(first_error(1000, 2000), VerifyError::BufferTooSmall);
        assert_eq!(
            first_error(4096, MAX_ENVELOPE_SIZE + 1),
            VerifyError::EnvelopeTooLarge {
                size: MAX_ENVELOPE_SIZE + 1
            }
        );
        assert_eq!(first_error(4096, 0).code(), "envelope-malformed");
        // The formula and its inverse agree at the boundary.
        for env in [1usize, 100, 2000, 16 * 1024] {
            assert_eq!(max_envelope_for(buffer_size(env)), env);
            assert_eq!(max_envelope_for(buffer_size(env) - 1), env - 1);
        }
    }

    #[test]
    fn twelve_digit_size_field_is_a_header_mismatch() {
        let mut header = member_header(ENVELOPE_MEMBER, 10, 0).unwrap();
        header[124..136].copy_from_slice(b"000000000012");
        let mut buf = [0u8; 256];
        let mut v = PackageVerifier::new(&mut buf, Policy::default(), TrustStore::default());
        assert_eq!(
            v.update(&header),
            Err(VerifyError::HeaderMismatch { member: 0 })
        );
    }

    /// A whole package: one raw-key P-256 signature, one 700-byte payload.
    #[cfg(feature = "ecdsa-p256")]
    fn raw_key_package(key: &crate::testutil::TestKey) -> std::vec::Vec<u8> {
        use otaseal_manifest::envelope::{
            Sign1Parts, encode_envelope, encode_protected, sig_structure,
        };
        use otaseal_manifest::manifest::{DEFAULT_CHUNK_LOG2, Payload, PayloadDigest, SignerDecl};
        use otaseal_manifest::{DigestAlg, DigestSet};
        let data = [0x42u8; 700];
        let mut hasher = PayloadHasher::new(
            DigestSet::EMPTY.with(DigestAlg::Sha256),
            data.len() as u64,
            DEFAULT_CHUNK_LOG2,
        );
        hasher.update(&data, &SerialDigester);
        let roots = hasher.finish().unwrap();
        let kid = crate::digest::sha256(&key.spki);
        let signers = [SignerDecl {
            alg: key.suite.cose_alg(),
            kid: &kid,
        }];
        let mut digests = heapless::Vec::new();
        let _ = digests.push(PayloadDigest {
            alg: DigestAlg::Sha256,
            root: roots[0].1.as_bytes(),
        });
        let mut payloads = heapless::Vec::new();
        let _ = payloads.push(otaseal_manifest::manifest::Payload {
            name: "fw.bin",
            size: data.len() as u64,
            kind: PayloadKind::Raw,
            target: None,
            digests,
        } as Payload<'_>);
        let created = 1_800_000_000;
        let mut hw_compat = heapless::Vec::new();
        let _ = hw_compat.push("rev-a");
        let manifest = Manifest {
            product: "acme.fw",
            hw_compat,
            version: "1",
            security_version: 3,
            created,
            expires: None,
            signers: signers.iter().copied().collect(),
            chunk_log2: DEFAULT_CHUNK_LOG2,
            payloads,
        }
        .to_vec();
        let protected = encode_protected(key.suite.cose_alg(), &kid, &[]);
        let signature = key.sign(&sig_structure(&protected, &manifest));
        let envelope = encode_envelope(
            &manifest,
            &[Sign1Parts {
                protected,
                timestamp: None,
                signature,
            }],
        );
        let mut out = std::vec::Vec::new();
        for (name, bytes) in [(ENVELOPE_MEMBER, &envelope[..]), ("fw.bin", &data[..])] {
            out.extend_from_slice(&member_header(name, bytes.len() as u64, created).unwrap());
            out.extend_from_slice(bytes);
            out.resize(out.len() + padding_len(bytes.len() as u64), 0);
        }
        out.resize(out.len() + END_LEN, 0);
        out
    }

    /// The envelope's header block is kept in `header` until the manifest
    /// says which mtime it must carry: any change to it is caught, in every
    /// byte, and the untouched package passes.
    #[cfg(feature = "ecdsa-p256")]
    #[test]
    fn envelope_header_is_compared_whole_after_the_manifest() {
        let key = crate::testutil::p256_key(7);
        let pkg = raw_key_package(&key);
        let keys = [&key.spki[..]];
        let run = |pkg: &[u8]| {
            let mut buf = [0u8; 4096];
            let trust = TrustStore {
                keys: &keys,
                ..TrustStore::default()
            };
            let mut v = PackageVerifier::new(&mut buf, Policy::default(), trust);
            // Odd chunks, so the header and the envelope arrive split.
            for piece in pkg.chunks(97) {
                v.update(piece)?;
            }
            v.finish().map(|ok| ok.security_version)
        };
        assert_eq!(run(&pkg), Ok(3));
        // mtime (octal at 136..148), then the checksum-neutral tail of the
        // block, which only a whole-block comparison sees.
        for at in [136usize, 140, 147, 300, 511] {
            let mut bad = pkg.clone();
            bad[at] ^= 0x01;
            assert_eq!(
                run(&bad),
                Err(VerifyError::HeaderMismatch { member: 0 }),
                "byte {at}"
            );
        }
    }

    #[test]
    fn kind_magic_is_checked_across_any_split() {
        let mut tar = [0u8; 600];
        tar[257..262].copy_from_slice(b"ustar");
        let (at, magic) = kind_magic(PayloadKind::Tar).unwrap();
        let gz = [0x1f, 0x8b, 8, 0];
        let (gat, gmagic) = kind_magic(PayloadKind::TarGz).unwrap();
        for step in [1usize, 2, 3, 7, 256, 258, 600] {
            let agrees = |data: &[u8], at, magic| {
                data.chunks(step)
                    .enumerate()
                    .all(|(i, c)| magic_agrees(at, magic, (i * step) as u64, c))
            };
            assert!(agrees(&tar, at, magic), "{step}");
            assert!(agrees(&gz, gat, gmagic), "{step}");
            let mut bad = tar;
            bad[261] = b'X';
            assert!(!agrees(&bad, at, magic), "{step}");
            assert!(!agrees(&tar[..8], gat, gmagic), "{step}");
        }
        assert_eq!(kind_magic(PayloadKind::Raw), None);
    }
}
