//! Streaming `no_std`, heap-free verifier for otaseal packages.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod cert;
pub mod chain;
pub mod crypto;
