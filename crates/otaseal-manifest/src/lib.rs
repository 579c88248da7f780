//! The otaseal package format, shared by the signer and the `no_std` verifier.
//!
//! - [`manifest`]: what a package holds and who must have signed it;
//! - [`envelope`]: the manifest and its COSE_Sign1 signatures;
//! - [`container`]: the ustar framing of envelope and payloads;
//! - [`canonical`]: deterministic CBOR validation;
//! - [`suite`]: signature suites, digest families and their COSE ids.
//!
//! `spec/format.md` at the workspace root is the normative description.
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

pub mod canonical;
pub mod container;
pub mod envelope;
pub mod manifest;
pub mod suite;

pub use envelope::{CoseSign1, Envelope, EnvelopeError};
pub use manifest::{Manifest, ManifestError, Payload, PayloadDigest, PayloadKind, SignerDecl};
pub use suite::{DigestAlg, DigestSet, Suite, SuiteSet};
