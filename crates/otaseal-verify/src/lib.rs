//! Streaming `no_std`, heap-free verifier for otaseal packages.
//!
//! Feed a package in chunks of any size to a [`PackageVerifier`]; it checks
//! the envelope (trust in each signer, then its signature, then policy and
//! device fit) before it accepts a payload byte, hashes the payloads as they
//! stream past, and reports success only from [`PackageVerifier::finish`].
//!
//! Everything a caller needs is re-exported here: the format types
//! ([`manifest`], [`Suite`], [`SuiteSet`]) and, with `x509`, [`pki_types`]
//! and [`webpki`], so firmware depends on this crate alone.
//!
//! ```no_run
//! use otaseal_verify::{PackageVerifier, Policy, TrustStore, buffer_size};
//! # fn read_chunk(_: &mut [u8]) -> usize { 0 }
//! // Trust anchors can live in flash: `anchor_from_der` borrows, never copies.
//! static ROOT_DER: &[u8] = &[/* include_bytes!("root.der") */];
//! let root = otaseal_verify::anchor_from_der(ROOT_DER)?;
//! let roots = [root];
//! let policy = Policy { hw_id: Some("acme-rev-a"), min_security_version: Some(12), ..Policy::default() };
//! // The envelope plus one signed structure; 16 KiB envelopes cover two
//! // classic signatures with chains and tokens. Static, not on the stack.
//! # static mut BUF_: [u8; buffer_size(16 * 1024)] = [0; buffer_size(16 * 1024)];
//! # let buf: &mut [u8] = &mut [0u8; 8];
//! let trust = TrustStore { roots: &roots, keys: &[], tsa_roots: &[] };
//! let mut v = PackageVerifier::new(buf, policy, trust);
//! let mut chunk = [0u8; 4096];
//! loop {
//!     let n = read_chunk(&mut chunk);
//!     if n == 0 { break; }
//!     v.update_with(&chunk[..n], &mut |_payload, bytes| { /* write to the inactive slot */ let _ = bytes; })?;
//! }
//! let verified = v.finish()?; // only now may the slot be activated
//! # let _ = verified;
//! # Ok::<(), otaseal_verify::VerifyError>(())
//! ```
//!
//! Cargo features choose what is linked (see the README's "Firmware"
//! section for measured profiles): one per suite (`ecdsa-p256`,
//! `ecdsa-p384`, `ed25519`, `sm2`, `rsa-pss` with `alloc`, `ml-dsa-44`,
//! `ml-dsa-65`, `ml-dsa-87`), `x509` for certificate paths (without it only
//! raw keys in [`TrustStore::keys`] are trusted), `timestamp` for RFC 3161
//! tokens, and the digest families `sha384`, `sha512`, `sm3` (SHA-256 is
//! always there; suites turn on the family they need).
//!
//! Modules: [`stream`] (the state machine), [`signatures`] (envelope and
//! policy), [`policy`], [`crypto`] (per-suite signature checks), [`chain`]
//! (X.509 paths with rustls-webpki), [`cert`] (certificate fields),
//! [`digest`] (chunked payload digests), [`timestamp`], [`error`].
#![no_std]
#![forbid(unsafe_code)]
// No panic reachable from untrusted input (tests may unwrap).
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod cert;
#[cfg(feature = "x509")]
pub mod chain;
pub mod crypto;
pub mod digest;
pub mod error;
pub mod policy;
pub mod signatures;
pub mod stream;
#[cfg(feature = "timestamp")]
pub mod timestamp;

#[cfg(test)]
mod testutil;

pub use error::{ChainError, TimestampError, VerifyError};
/// The format crate, so callers need no direct dependency on it.
pub use otaseal_manifest as manifest;
pub use otaseal_manifest::{DigestAlg, DigestSet, Suite, SuiteSet};
pub use policy::{DigestPolicy, Policy, Requirement, TrustStore};
/// Certificate and trust-anchor types (`TrustAnchor`, `CertificateDer`).
pub use rustls_pki_types as pki_types;
pub use rustls_pki_types::TrustAnchor;
pub use signatures::{EnvelopeVerdict, SignatureReport, SignatureStatus, TimeSource};
pub use stream::{PackageVerifier, Verified};
/// rustls-webpki, which checks the certificate paths.
#[cfg(feature = "x509")]
pub use webpki;

/// Bytes of buffer a [`PackageVerifier`] needs to accept envelopes of up to
/// `max_envelope` bytes: the envelope, then the COSE `Sig_structure` of one
/// signature at a time, which repeats the manifest and that signature's
/// protected header (each smaller than the envelope) behind at most 32
/// bytes of CBOR heads. A `const fn`, so the buffer can be a `static`.
pub const fn buffer_size(max_envelope: usize) -> usize {
    max_envelope
        .saturating_mul(2)
        .saturating_add(SIG_STRUCTURE_OVERHEAD)
}

/// CBOR heads of a `Sig_structure` beyond the bytes it copies: array head
/// (1), "Signature1" (11), protected bstr head (up to 9), empty external_aad
/// (1), payload bstr head (up to 9); rounded up.
const SIG_STRUCTURE_OVERHEAD: usize = 32;

/// The largest envelope a buffer of `buf_len` bytes accepts (the inverse of
/// [`buffer_size`]).
pub const fn max_envelope_for(buf_len: usize) -> usize {
    buf_len.saturating_sub(SIG_STRUCTURE_OVERHEAD) / 2
}

/// A trust anchor from a DER root certificate, borrowing from it (no copy:
/// the DER can stay in flash). Parse it once at start-up, or build the
/// anchor at compile time with [`anchor_from_parts`].
#[cfg(feature = "x509")]
pub fn anchor_from_der(der: &[u8]) -> Result<TrustAnchor<'_>, VerifyError> {
    let malformed = VerifyError::Chain {
        index: 0,
        reason: ChainError::Malformed,
    };
    let cert = pki_types::CertificateDer::from(der);
    let anchor = webpki::anchor_from_trusted_cert(&cert).map_err(|_| malformed)?;
    // webpki's anchor borrows from `cert`, a local: find each field's span
    // in `der` again so the anchor borrows from the caller's bytes.
    let rebase = |part: &[u8]| -> Option<pki_types::Der<'_>> {
        let start = (part.as_ptr() as usize).checked_sub(der.as_ptr() as usize)?;
        let end = start.checked_add(part.len())?;
        der.get(start..end).map(pki_types::Der::from_slice)
    };
    Ok(TrustAnchor {
        subject: rebase(anchor.subject.as_ref()).ok_or(malformed)?,
        subject_public_key_info: rebase(anchor.subject_public_key_info.as_ref())
            .ok_or(malformed)?,
        name_constraints: match &anchor.name_constraints {
            Some(nc) => Some(rebase(nc.as_ref()).ok_or(malformed)?),
            None => None,
        },
    })
}

/// A trust anchor built at compile time from the *contents* (without the
/// outer SEQUENCE header) of a root's subject `Name` and
/// `SubjectPublicKeyInfo`, e.g. in a `static` generated by a build script.
/// Name constraints are not carried: use [`anchor_from_der`] for a root
/// that has them.
pub const fn anchor_from_parts<'a>(subject: &'a [u8], spki: &'a [u8]) -> TrustAnchor<'a> {
    TrustAnchor {
        subject: pki_types::Der::from_slice(subject),
        subject_public_key_info: pki_types::Der::from_slice(spki),
        name_constraints: None,
    }
}
