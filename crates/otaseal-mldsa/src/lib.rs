//! Small-memory ML-DSA (FIPS 204) signature verification: `no_std`, no heap,
//! no `unsafe`, a few KiB of stack.
//!
//! ```
//! # fn demo(pk: &[u8], sig: &[u8]) -> Result<(), otaseal_mldsa::Error> {
//! use otaseal_mldsa::{Level, MuBuilder, verify, verify_mu};
//! // The whole message at hand:
//! verify(Level::MlDsa65, pk, b"message", b"context", sig)?;
//! // Or a message streamed in pieces (External-mu):
//! let mut mu = MuBuilder::new(pk, b"context")?;
//! mu.update(b"mess");
//! mu.update(b"age");
//! verify_mu(Level::MlDsa65, pk, &mu.finalize(), sig)?;
//! # Ok(()) }
//! ```
//!
//! # API
//! - [`verify`]: `ML-DSA.Verify` (Algorithm 3), pure mode, context string of
//!   at most 255 bytes.
//! - [`verify_internal`]: `ML-DSA.Verify_internal` (Algorithm 8) on a caller's
//!   `M'`.
//! - [`verify_mu`] with [`MuBuilder`]: External-mu, so a long message (a COSE
//!   `Sig_structure`) is hashed in pieces and never held in one buffer.
//!
//! [`Level`] always has all three variants; a level whose cargo feature
//! (`ml-dsa-44`, `ml-dsa-65`, `ml-dsa-87`, all on by default) is off returns
//! [`Error::LevelNotCompiled`], so callers need no `cfg` of their own.
//!
//! Every input FIPS 204 rejects is rejected, with a precise [`Error`]: wrong
//! key or signature length, context over 255 bytes, a hint that is not the
//! canonical encoding (row ends decreasing or above omega, positions not
//! strictly increasing within a row, non-zero padding), `||z||_inf >= gamma1 -
//! beta`, and finally a challenge mismatch (the signature does not verify).
//! The checks are run before the expensive part so garbage is rejected fast.
//! Verification handles only public data, so nothing here is constant-time.
//!
//! # How the memory stays small
//! `w' = NTT^-1(A o NTT(z) - NTT(c) o NTT(t1 * 2^d))` is computed one row
//! of `A` at a time:
//! - each entry `A[i][j]` is sampled from `SHAKE128(rho || j || i)` one
//!   coefficient at a time and multiplied straight into the row accumulator
//!   (the matrix is never stored, not even one entry);
//! - `z_j` and `t1_i` are unpacked from the signature and public key bytes
//!   where they lie, one polynomial at a time;
//! - `c` has only tau non-zero coefficients +-1, so `c * t1_i` is computed in
//!   the normal domain as tau signed shifts of `t1_i` (tau x 256 additions)
//!   instead of two NTTs and a pointwise product: no `NTT(c)` to keep;
//! - `UseHint` reads the hint where it lies in the signature, and each row of
//!   `w1'` is packed (`w1Encode`) into a 192-byte buffer and absorbed into
//!   the SHAKE256 that computes `c~'`.
//!
//! Live data: two polynomials of 256 `i32` (the row accumulator and one
//! scratch for `NTT(z_j)` then `t1_i`), the 256-byte challenge, one SHAKE128
//! and one SHAKE256 state, a 168-byte SHAKE128 block. See the README of this
//! crate for the measured stack per level.
//!
//! # Trade-off: recomputing `NTT(z_j)`
//! The price of the row-at-a-time order is `k * l` forward NTTs of `z`
//! instead of `l`. Caching `NTT(z)` would cost `l` KiB more stack (5 KiB for
//! ML-DSA-65, 7 KiB for ML-DSA-87), which breaks the 8 / 10 KiB budgets, while
//! the recomputation costs only a part of the verification time, which is
//! dominated by SHAKE128 (`k * l` matrix entries, about five Keccak-f
//! permutations each, which any order must pay); see the crate README for the
//! measured share.
//!
//! Arithmetic: signed 32-bit coefficients with Montgomery reduction, the
//! reference layout, chosen because a Cortex-M4 does the 32x32->64-bit
//! multiply in one instruction; bounds are documented in the `ntt` module.
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

mod ntt;
mod params;
mod verify;

use core::fmt;

use params::Params;
use shake::{ExtendableOutput, Shake256, Update, XofReader};

/// An ML-DSA parameter set (FIPS 204 Table 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Level {
    /// ML-DSA-44 (security category 2). Feature `ml-dsa-44`.
    MlDsa44,
    /// ML-DSA-65 (security category 3). Feature `ml-dsa-65`.
    MlDsa65,
    /// ML-DSA-87 (security category 5). Feature `ml-dsa-87`.
    MlDsa87,
}

impl Level {
    /// All levels, compiled in or not.
    pub const ALL: [Level; 3] = [Level::MlDsa44, Level::MlDsa65, Level::MlDsa87];

    const fn all_params(self) -> &'static Params {
        match self {
            Level::MlDsa44 => &params::ML_DSA_44,
            Level::MlDsa65 => &params::ML_DSA_65,
            Level::MlDsa87 => &params::ML_DSA_87,
        }
    }

    /// The parameters, if this level's feature is compiled in.
    fn params(self) -> Result<&'static Params, Error> {
        let compiled = match self {
            Level::MlDsa44 => cfg!(feature = "ml-dsa-44"),
            Level::MlDsa65 => cfg!(feature = "ml-dsa-65"),
            Level::MlDsa87 => cfg!(feature = "ml-dsa-87"),
        };
        if compiled {
            Ok(self.all_params())
        } else {
            Err(Error::LevelNotCompiled)
        }
    }

    /// Whether this level's cargo feature is enabled.
    pub fn is_compiled(self) -> bool {
        self.params().is_ok()
    }

    /// Length of an encoded public key (`pkEncode`): 1312, 1952 or 2592 bytes.
    pub const fn public_key_len(self) -> usize {
        self.all_params().public_key_len()
    }

    /// Length of an encoded signature (`sigEncode`): 2420, 3309 or 4627 bytes.
    pub const fn signature_len(self) -> usize {
        self.all_params().signature_len()
    }

    /// The level whose public key has `len` bytes.
    pub fn from_public_key_len(len: usize) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.public_key_len() == len)
    }
}

/// Why a signature was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// The level's cargo feature is not enabled in this build.
    LevelNotCompiled,
    /// The public key does not have the level's length (or, for
    /// [`MuBuilder::new`], the length of any compiled level).
    KeyLength,
    /// The signature does not have the level's length.
    SignatureLength,
    /// The context string is longer than 255 bytes.
    ContextTooLong,
    /// The hint is not a canonical `HintBitUnpack` encoding.
    HintMalformed,
    /// A coefficient of `z` is at or above `gamma1 - beta` in absolute value.
    ZOutOfRange,
    /// The recomputed commitment hash differs: the signature is not valid for
    /// this key and message.
    ChallengeMismatch,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::LevelNotCompiled => "ML-DSA level not compiled into this build",
            Error::KeyLength => "ML-DSA public key has the wrong length",
            Error::SignatureLength => "ML-DSA signature has the wrong length",
            Error::ContextTooLong => "ML-DSA context string is longer than 255 bytes",
            Error::HintMalformed => "ML-DSA signature hint is malformed",
            Error::ZOutOfRange => "ML-DSA signature vector z is out of range",
            Error::ChallengeMismatch => "ML-DSA signature does not verify",
        })
    }
}

impl core::error::Error for Error {}

/// Streaming computation of `mu = SHAKE256(tr || M', 64)` with
/// `tr = SHAKE256(pk, 64)`; for [`MuBuilder::new`],
/// `M' = 0x00 || len(ctx) || ctx || M` (pure ML-DSA).
///
/// Feed the message with [`update`](MuBuilder::update) in pieces of any
/// size, then pass [`finalize`](MuBuilder::finalize) to [`verify_mu`].
#[derive(Clone, Debug)]
pub struct MuBuilder {
    h: Shake256,
}

impl MuBuilder {
    /// Starts `mu` for pure ML-DSA with a context string.
    ///
    /// # Errors
    /// [`Error::ContextTooLong`] for a context over 255 bytes,
    /// [`Error::KeyLength`] if the key length is no compiled level's.
    pub fn new(public_key: &[u8], context: &[u8]) -> Result<Self, Error> {
        let ctx_len = u8::try_from(context.len()).map_err(|_| Error::ContextTooLong)?;
        let mut b = Self::new_internal(public_key)?;
        b.h.update(&[0, ctx_len]);
        b.h.update(context);
        Ok(b)
    }

    /// Starts `mu` for `Verify_internal`: the caller supplies all of `M'`.
    ///
    /// # Errors
    /// [`Error::KeyLength`] if the key length is no compiled level's.
    pub fn new_internal(public_key: &[u8]) -> Result<Self, Error> {
        if !Level::ALL
            .into_iter()
            .any(|l| l.is_compiled() && l.public_key_len() == public_key.len())
        {
            return Err(Error::KeyLength);
        }
        let mut tr = [0u8; 64];
        let mut th = Shake256::default();
        th.update(public_key);
        th.finalize_xof().read(&mut tr);
        let mut h = Shake256::default();
        h.update(&tr);
        Ok(Self { h })
    }

    /// Absorbs the next piece of the message.
    pub fn update(&mut self, data: &[u8]) {
        self.h.update(data);
    }

    /// The 64-byte `mu`.
    pub fn finalize(self) -> [u8; 64] {
        let mut mu = [0u8; 64];
        self.h.finalize_xof().read(&mut mu);
        mu
    }
}

/// Checks the lengths that need no hashing first, so bad input is cheap.
fn check_lengths(
    level: Level,
    public_key: &[u8],
    signature: &[u8],
) -> Result<&'static Params, Error> {
    let p = level.params()?;
    if public_key.len() != p.public_key_len() {
        return Err(Error::KeyLength);
    }
    if signature.len() != p.signature_len() {
        return Err(Error::SignatureLength);
    }
    Ok(p)
}

/// `ML-DSA.Verify` (FIPS 204 Algorithm 3): pure mode, context of at most 255 bytes.
///
/// # Errors
/// See [`Error`]; `Ok(())` only for a valid signature.
pub fn verify(
    level: Level,
    public_key: &[u8],
    message: &[u8],
    context: &[u8],
    signature: &[u8],
) -> Result<(), Error> {
    let p = check_lengths(level, public_key, signature)?;
    let mut mu = MuBuilder::new(public_key, context)?;
    mu.update(message);
    verify::verify_mu(p, public_key, &mu.finalize(), signature)
}

/// `ML-DSA.Verify_internal` (FIPS 204 Algorithm 8) on a formatted message `M'`.
///
/// # Errors
/// See [`Error`]; `Ok(())` only for a valid signature.
pub fn verify_internal(
    level: Level,
    public_key: &[u8],
    message_prime: &[u8],
    signature: &[u8],
) -> Result<(), Error> {
    let p = check_lengths(level, public_key, signature)?;
    let mut mu = MuBuilder::new_internal(public_key)?;
    mu.update(message_prime);
    verify::verify_mu(p, public_key, &mu.finalize(), signature)
}

/// Verification from an External-mu (computed with [`MuBuilder`] or by the
/// signer's side as `SHAKE256(tr || M', 64)`).
///
/// # Errors
/// See [`Error`]; `Ok(())` only for a valid signature.
pub fn verify_mu(
    level: Level,
    public_key: &[u8],
    mu: &[u8; 64],
    signature: &[u8],
) -> Result<(), Error> {
    let p = check_lengths(level, public_key, signature)?;
    verify::verify_mu(p, public_key, mu, signature)
}
