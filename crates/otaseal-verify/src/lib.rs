//! Streaming `no_std`, heap-free verifier for otaseal packages.
//!
//! Feed a package in chunks of any size to a [`PackageVerifier`]; it checks
//! the envelope (signatures, certificate chains, policy, device fit) before it
//! accepts a payload byte, hashes the payloads as they stream past, and
//! reports success only from [`PackageVerifier::finish`].
//!
//! ```no_run
//! use otaseal_verify::{PackageVerifier, Policy, TrustStore};
//! # fn read_chunk(_: &mut [u8]) -> usize { 0 }
//! # let root_der: &[u8] = &[];
//! let root = rustls_pki_types::CertificateDer::from(root_der);
//! let anchor = webpki::anchor_from_trusted_cert(&root).expect("root");
//! let roots = [anchor];
//! let policy = Policy { hw_id: Some("acme-rev-a"), min_security_version: Some(12), ..Policy::default() };
//! let mut buf = [0u8; 64 * 1024];
//! let trust = TrustStore { roots: &roots, keys: &[], tsa_roots: &[] };
//! let mut v = PackageVerifier::new(&mut buf, policy, trust);
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
//! Modules: [`stream`] (the state machine), [`signatures`] (envelope and
//! policy), [`policy`], [`crypto`] (per-suite signature checks), [`chain`]
//! (X.509 paths with rustls-webpki), [`cert`] (certificate fields),
//! [`digest`] (chunked payload digests), [`error`].
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
pub mod chain;
pub mod crypto;
pub mod digest;
pub mod error;
pub mod policy;
pub mod signatures;
pub mod stream;
pub mod timestamp;

#[cfg(test)]
mod testutil;

pub use error::VerifyError;
pub use policy::{DigestPolicy, Policy, Requirement, TrustStore};
pub use signatures::{EnvelopeVerdict, SignatureReport, SignatureStatus, TimeSource};
pub use stream::{PackageVerifier, Verified};
