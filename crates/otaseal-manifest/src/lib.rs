//! The otaseal package format, shared by the signer and the `no_std` verifier.
//!
//! See `spec/format.md` at the workspace root for the normative description.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod suite;

pub use suite::{DigestAlg, DigestSet, Suite, SuiteSet};
