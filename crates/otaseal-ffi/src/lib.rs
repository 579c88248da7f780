//! C API for the otaseal streaming verifier: `no_std`, no heap, every byte
//! of memory provided by the caller.
//!
//! The C header is `include/otaseal.h`, generated from this file by cbindgen
//! (`tests/header.rs` fails when the committed header is stale). A C program:
//!
//! 1. reserves an [`otaseal_verifier`] (its size is `OTASEAL_VERIFIER_SIZE`)
//!    and an envelope buffer of `otaseal_buffer_size(max_envelope)` bytes;
//! 2. calls [`otaseal_verifier_init`] with its trust anchors
//!    ([`otaseal_trust`]) and policy ([`otaseal_policy`]);
//! 3. feeds the package in chunks of any size to
//!    [`otaseal_verifier_update`], whose sink callback receives the payload
//!    bytes once the envelope is verified (write them to an inactive slot);
//! 4. calls [`otaseal_verifier_finish`]: only [`otaseal_status::OTASEAL_OK`]
//!    from it means the package is genuine, and only then may the slot be
//!    activated and the returned security version stored as the new floor.
//!
//! Every function returns an [`otaseal_status`]; `otaseal_error_code_str`
//! turns it into the verifier's stable code string (`payload-digest-mismatch`,
//! ...), the same one the Rust API and the CLI report.
//!
//! `unsafe` is confined to the boundary: turning the caller's pointers into
//! slices (`c_slice`), placing the state in the caller's storage, and
//! extending borrows to the lifetime of that storage (the verifier refers to
//! the trust anchors stored next to it). All checks are safe Rust.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
// No panic reachable from C input (tests may unwrap).
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
// The exported items carry their C names.
#![allow(non_camel_case_types)]

// Hosts link std for its panic handler (the staticlib must have one); see
// the `panic-handler` feature for bare metal.
#[cfg(feature = "std")]
extern crate std;

mod status;

use core::ffi::{c_char, c_int, c_void};
use core::mem::{align_of, size_of};
use core::ptr;

use otaseal_verify::{
    DigestAlg, DigestPolicy, DigestSet, PackageVerifier, Policy, Requirement, Suite, SuiteSet,
    TrustAnchor, TrustStore,
};

pub use status::otaseal_status;

/// Bytes of caller storage an [`otaseal_verifier`] takes, on every target
/// and feature set (checked at compile time against the real state).
pub const OTASEAL_VERIFIER_SIZE: usize = 8192;
/// Bytes of envelope buffer beyond twice the largest envelope: see
/// `otaseal_buffer_size`.
pub const OTASEAL_BUFFER_OVERHEAD: usize = 32;
/// Most root certificates in [`otaseal_trust::roots`].
pub const OTASEAL_MAX_ROOTS: usize = 8;
/// Most raw public keys in [`otaseal_trust::keys`].
pub const OTASEAL_MAX_KEYS: usize = 8;
/// Most TSA root certificates in [`otaseal_trust::tsa_roots`].
pub const OTASEAL_MAX_TSA_ROOTS: usize = 8;

/// Suite bit: ECDSA P-256 with SHA-256.
pub const OTASEAL_SUITE_ECDSA_P256: u16 = 1 << 0;
/// Suite bit: ECDSA P-384 with SHA-384.
pub const OTASEAL_SUITE_ECDSA_P384: u16 = 1 << 1;
/// Suite bit: Ed25519.
pub const OTASEAL_SUITE_ED25519: u16 = 1 << 2;
/// Suite bit: RSASSA-PSS 3072 (not available through the C API: it needs a heap).
pub const OTASEAL_SUITE_RSA_PSS_3072: u16 = 1 << 3;
/// Suite bit: SM2 with SM3.
pub const OTASEAL_SUITE_SM2: u16 = 1 << 4;
/// Suite bit: ML-DSA-44.
pub const OTASEAL_SUITE_ML_DSA_44: u16 = 1 << 5;
/// Suite bit: ML-DSA-65.
pub const OTASEAL_SUITE_ML_DSA_65: u16 = 1 << 6;
/// Suite bit: ML-DSA-87.
pub const OTASEAL_SUITE_ML_DSA_87: u16 = 1 << 7;

/// Digest family bit: SHA-256.
pub const OTASEAL_DIGEST_SHA256: u8 = 1 << 0;
/// Digest family bit: SHA-384.
pub const OTASEAL_DIGEST_SHA384: u8 = 1 << 1;
/// Digest family bit: SHA-512.
pub const OTASEAL_DIGEST_SHA512: u8 = 1 << 2;
/// Digest family bit: SM3.
pub const OTASEAL_DIGEST_SM3: u8 = 1 << 3;

/// [`otaseal_policy::digest_policy`]: check the digest families of the
/// suites that verified (SHA-2 for classic and ML-DSA suites, SM3 for SM2).
pub const OTASEAL_DIGESTS_FOLLOW_SUITES: u8 = 0;
/// [`otaseal_policy::digest_policy`]: check exactly the families in
/// [`otaseal_policy::digest_families`]; each must be in the manifest.
pub const OTASEAL_DIGESTS_FAMILIES: u8 = 1;
/// [`otaseal_policy::digest_policy`]: check every family the manifest carries.
pub const OTASEAL_DIGESTS_ALL_IN_MANIFEST: u8 = 2;

/// [`otaseal_policy::flags`]: refuse security versions below
/// [`otaseal_policy::min_security_version`].
pub const OTASEAL_POLICY_MIN_SECURITY_VERSION: u32 = 1 << 0;
/// [`otaseal_policy::flags`]: [`otaseal_policy::time`] is a trusted current
/// time; without it certificates are checked at the manifest's creation time
/// and expiry cannot be checked (see `spec/policy.md`).
pub const OTASEAL_POLICY_TIME: u32 = 1 << 1;

// The C bit values and the buffer formula are the Rust ones.
const _: () = {
    assert!(otaseal_verify::buffer_size(0) == OTASEAL_BUFFER_OVERHEAD);
    assert!(otaseal_verify::buffer_size(4096) == 2 * 4096 + OTASEAL_BUFFER_OVERHEAD);
    assert!(OTASEAL_SUITE_ECDSA_P256 == Suite::EcdsaP256.bit());
    assert!(OTASEAL_SUITE_ECDSA_P384 == Suite::EcdsaP384.bit());
    assert!(OTASEAL_SUITE_ED25519 == Suite::Ed25519.bit());
    assert!(OTASEAL_SUITE_RSA_PSS_3072 == Suite::RsaPss3072.bit());
    assert!(OTASEAL_SUITE_SM2 == Suite::Sm2.bit());
    assert!(OTASEAL_SUITE_ML_DSA_44 == Suite::MlDsa44.bit());
    assert!(OTASEAL_SUITE_ML_DSA_65 == Suite::MlDsa65.bit());
    assert!(OTASEAL_SUITE_ML_DSA_87 == Suite::MlDsa87.bit());
    assert!(OTASEAL_DIGEST_SHA256 == DigestAlg::Sha256.bit());
    assert!(OTASEAL_DIGEST_SHA384 == DigestAlg::Sha384.bit());
    assert!(OTASEAL_DIGEST_SHA512 == DigestAlg::Sha512.bit());
    assert!(OTASEAL_DIGEST_SM3 == DigestAlg::Sm3.bit());
};

/// Every suite bit.
const ALL_SUITES: u16 = 0xff;
/// Every digest family bit.
const ALL_DIGESTS: u8 = 0x0f;
/// Every policy flag.
const ALL_FLAGS: u32 = OTASEAL_POLICY_MIN_SECURITY_VERSION | OTASEAL_POLICY_TIME;

/// A byte string owned by the caller: `len` bytes at `ptr` (`ptr` may be
/// NULL only when `len` is 0).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct otaseal_bytes {
    /// First byte.
    pub ptr: *const u8,
    /// Number of bytes.
    pub len: usize,
}

/// What the device trusts. Every array and every byte string must stay
/// valid and unchanged until [`otaseal_verifier_finish`] returns: the
/// verifier keeps pointers into them (DER in flash is never copied).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct otaseal_trust {
    /// Code-signing root certificates, DER (at most `OTASEAL_MAX_ROOTS`;
    /// needs the `x509` feature).
    pub roots: *const otaseal_bytes,
    /// Number of entries in `roots`.
    pub roots_len: usize,
    /// Trusted raw public keys, SubjectPublicKeyInfo DER (at most `OTASEAL_MAX_KEYS`).
    pub keys: *const otaseal_bytes,
    /// Number of entries in `keys`.
    pub keys_len: usize,
    /// RFC 3161 time-stamping authority root certificates, DER (at most
    /// `OTASEAL_MAX_TSA_ROOTS`).
    pub tsa_roots: *const otaseal_bytes,
    /// Number of entries in `tsa_roots`.
    pub tsa_roots_len: usize,
}

/// What the device demands of a package (see `spec/policy.md`). All-zero is
/// the strict default: every declared suite this build supports must verify,
/// no hardware id, rollback or time check.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct otaseal_policy {
    /// `OTASEAL_POLICY_*` bits saying which optional fields below apply.
    pub flags: u32,
    /// Required suites as `OTASEAL_SUITE_*` bits: every one must have a
    /// valid signature. 0: every declared suite this build supports.
    pub required_suites: u16,
    /// Suites whose signatures must carry a valid RFC 3161 token.
    pub require_timestamp: u16,
    /// One of `OTASEAL_DIGESTS_*`.
    pub digest_policy: u8,
    /// `OTASEAL_DIGEST_*` bits, for `OTASEAL_DIGESTS_FAMILIES`.
    pub digest_families: u8,
    /// The device's hardware id, UTF-8, `hw_id_len` bytes (not
    /// NUL-terminated). NULL: no hardware check. Must stay valid until
    /// [`otaseal_verifier_finish`] returns.
    pub hw_id: *const u8,
    /// Length of `hw_id` in bytes.
    pub hw_id_len: usize,
    /// The anti-rollback floor, with `OTASEAL_POLICY_MIN_SECURITY_VERSION`.
    pub min_security_version: u64,
    /// Trusted current time in Unix seconds, with `OTASEAL_POLICY_TIME`.
    pub time: u64,
}

/// Caller-provided storage for one verification: `OTASEAL_VERIFIER_SIZE`
/// bytes, 16-byte aligned (SHA-2 state holds 128-bit counters, which x86_64
/// aligns to 16; declare the storage with this type and the compiler does it). Opaque: only the `otaseal_verifier_*` functions
/// touch it. Once initialized it must not be moved or copied (the state
/// refers to itself); a moved state reports `OTASEAL_ERR_NOT_INITIALIZED`.
/// It owns no resources: after the last use it can simply be discarded.
#[repr(C, align(16))]
pub struct otaseal_verifier {
    _opaque: [u8; OTASEAL_VERIFIER_SIZE],
}

/// Receives payload bytes as they stream past, once the envelope has been
/// verified: `(ctx, payload index in manifest order, bytes, length)`. The
/// bytes are valid only during the call. They are not proven until
/// [`otaseal_verifier_finish`] returns `OTASEAL_OK`: write them to an
/// inactive slot and commit only then.
pub type otaseal_sink =
    Option<extern "C" fn(ctx: *mut c_void, payload_index: usize, bytes: *const u8, len: usize)>;

/// Marks a live state (and, with [`State::home`], one that was not moved).
const MAGIC: u32 = 0x6f74_6173; // "otas"

/// The state placed in the caller's [`otaseal_verifier`]. `repr(C)` so that
/// `magic` is at offset 0 and can be checked before anything else is read.
#[repr(C)]
struct State {
    magic: u32,
    /// Address the state was initialized at: the self-references below are
    /// valid only there.
    home: usize,
    /// Parsed in place from the caller's DER (they borrow it, no copy).
    roots: heapless::Vec<TrustAnchor<'static>, OTASEAL_MAX_ROOTS>,
    tsa_roots: heapless::Vec<TrustAnchor<'static>, OTASEAL_MAX_TSA_ROOTS>,
    keys: heapless::Vec<&'static [u8], OTASEAL_MAX_KEYS>,
    required: [SuiteSet; 1],
    /// Borrows `roots`, `tsa_roots`, `keys` and `required`; `None` once finished.
    verifier: Option<PackageVerifier<'static, 'static>>,
}

// The header's size and alignment hold the real state for every target and
// feature set this crate builds.
const _: () = assert!(size_of::<State>() <= size_of::<otaseal_verifier>());
const _: () = assert!(align_of::<State>() <= align_of::<otaseal_verifier>());

/// The envelope buffer size for envelopes of up to `max_envelope` bytes: pass
/// at least this many bytes to [`otaseal_verifier_init`]. It is
/// `2 * max_envelope + OTASEAL_BUFFER_OVERHEAD` (the envelope, then the COSE
/// `Sig_structure` of one signature at a time), saturating at `SIZE_MAX`;
/// use the formula to size a static array.
#[unsafe(no_mangle)]
pub extern "C" fn otaseal_buffer_size(max_envelope: usize) -> usize {
    otaseal_verify::buffer_size(max_envelope)
}

/// The stable code string of a status (`"ok"`, `"payload-digest-mismatch"`,
/// ...), the same string as the Rust `VerifyError::code()`. A value that is
/// not an [`otaseal_status`] gives `"unknown"`. The string is static and
/// NUL-terminated; never NULL.
#[unsafe(no_mangle)]
pub extern "C" fn otaseal_error_code_str(status: c_int) -> *const c_char {
    let s = match otaseal_status::from_int(status) {
        Some(s) => s.code_nul(),
        None => "unknown\0",
    };
    s.as_ptr().cast()
}

/// Starts a verification in `state`.
///
/// `buf` (`buf_len` bytes, at least `otaseal_buffer_size(max_envelope)`)
/// holds the envelope; `trust` says what the device trusts; `policy` may be
/// NULL for the strict default (see [`otaseal_policy`]). On failure the state
/// stays uninitialized.
///
/// # Safety
/// - `state` is NULL or points to writable storage of `otaseal_verifier`
///   size and alignment, that is not moved or copied until the
///   verification ends;
/// - `buf` is NULL or points to `buf_len` writable bytes that nothing else
///   reads or writes until [`otaseal_verifier_finish`] returns;
/// - `trust` is NULL or points to a valid [`otaseal_trust`] whose arrays (of
///   their stated lengths) and byte strings are readable and unchanged until
///   [`otaseal_verifier_finish`] returns; the same for `policy` and its
///   `hw_id`. The structs themselves are copied and may go right after init.
///
/// NULL pointers (where not allowed), misaligned pointers and lengths past
/// `PTRDIFF_MAX` are reported as errors, never dereferenced.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn otaseal_verifier_init(
    state: *mut otaseal_verifier,
    buf: *mut u8,
    buf_len: usize,
    trust: *const otaseal_trust,
    policy: *const otaseal_policy,
) -> otaseal_status {
    if state.is_null() {
        return otaseal_status::OTASEAL_ERR_NULL_ARGUMENT;
    }
    if !state.is_aligned() {
        return otaseal_status::OTASEAL_ERR_BAD_ARGUMENT;
    }
    let state = state.cast::<State>();
    // SAFETY: `state` is non-null, aligned and (by the contract) points to
    // writable storage of at least `size_of::<State>()` bytes (const-asserted
    // above). Clearing the magic first makes a failed init leave it dead.
    unsafe { ptr::addr_of_mut!((*state).magic).write(0) };
    // SAFETY: each pointer is NULL or valid as the contract states.
    let inputs = unsafe { Inputs::from_c(buf, buf_len, trust, policy) };
    match inputs {
        // SAFETY: `state` is valid for writes, as above.
        Ok(inputs) => unsafe { place(state, inputs) },
        Err(e) => e,
    }
}

/// Feeds the next `len` bytes of the package. Payload bytes, once the
/// envelope is verified, go to `sink` (which may be NULL) with `ctx`. An error
/// is final: later calls return the same status. `len` may be 0 (and `data`
/// then NULL).
///
/// # Safety
/// - `state` is NULL or was initialized by [`otaseal_verifier_init`] (a
///   zeroed or finished state is reported, not used);
/// - `data` is NULL or points to `len` readable bytes;
/// - `sink`, if not NULL, is safe to call with `ctx` and does not call back
///   into this state.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn otaseal_verifier_update(
    state: *mut otaseal_verifier,
    data: *const u8,
    len: usize,
    sink: otaseal_sink,
    ctx: *mut c_void,
) -> otaseal_status {
    // SAFETY: as the contract states.
    let verifier = match unsafe { live(state) } {
        Ok(v) => v,
        Err(e) => return e,
    };
    // SAFETY: `data` is NULL or points to `len` readable bytes.
    let data = match unsafe { c_slice(data, len) } {
        Ok(d) => d,
        Err(e) => return e,
    };
    let mut to_sink = |index: usize, bytes: &[u8]| {
        if let Some(f) = sink {
            f(ctx, index, bytes.as_ptr(), bytes.len());
        }
    };
    let Some(verifier) = verifier.as_mut() else {
        return otaseal_status::OTASEAL_ERR_NOT_INITIALIZED;
    };
    match verifier.update_with(data, &mut to_sink) {
        Ok(()) => otaseal_status::OTASEAL_OK,
        Err(e) => otaseal_status::from_error(&e),
    }
}

/// Ends the verification: `OTASEAL_OK` only when the whole package was fed
/// and verified. On success `*security_version` (if not NULL) receives the
/// manifest's security version: store it as the device's new floor after
/// installing. The state is finished either way (reinitialize to reuse it).
///
/// # Safety
/// - `state` is NULL or was initialized by [`otaseal_verifier_init`];
/// - `security_version` is NULL or points to a writable, aligned `uint64_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn otaseal_verifier_finish(
    state: *mut otaseal_verifier,
    security_version: *mut u64,
) -> otaseal_status {
    if !security_version.is_null() && !security_version.is_aligned() {
        return otaseal_status::OTASEAL_ERR_BAD_ARGUMENT;
    }
    // SAFETY: as the contract states.
    let verifier = match unsafe { live(state) } {
        Ok(v) => v,
        Err(e) => return e,
    };
    let outcome = verifier.take();
    // The verifier is gone: the state is dead from here on.
    // SAFETY: `live` checked `state` is non-null, aligned and initialized.
    unsafe { ptr::addr_of_mut!((*state.cast::<State>()).magic).write(0) };
    let result = match outcome {
        Some(v) => v.finish(),
        None => return otaseal_status::OTASEAL_ERR_NOT_INITIALIZED,
    };
    match result {
        Ok(verified) => {
            if !security_version.is_null() {
                // SAFETY: non-null and aligned (checked above), writable by
                // the contract.
                unsafe { security_version.write(verified.security_version) };
            }
            otaseal_status::OTASEAL_OK
        }
        Err(e) => otaseal_status::from_error(&e),
    }
}

/// `len` elements at `ptr` as a slice of any lifetime.
///
/// # Safety
/// `ptr` is NULL or points to `len` initialized `T`s that stay valid and
/// unchanged (nothing writes them) for `'a`.
unsafe fn c_slice<'a, T>(ptr: *const T, len: usize) -> Result<&'a [T], otaseal_status> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(otaseal_status::OTASEAL_ERR_NULL_ARGUMENT);
    }
    if !ptr.is_aligned()
        || len
            .checked_mul(size_of::<T>())
            .is_none_or(|n| n > isize::MAX as usize)
    {
        return Err(otaseal_status::OTASEAL_ERR_BAD_ARGUMENT);
    }
    // SAFETY: non-null, aligned, at most isize::MAX bytes (checked above);
    // valid and unaliased by writes for 'a by the contract.
    Ok(unsafe { core::slice::from_raw_parts(ptr, len) })
}

/// Everything `init` takes from C, checked, with the lifetime the contract
/// grants (until `finish`), written as `'static`.
struct Inputs {
    buf: &'static mut [u8],
    roots: heapless::Vec<TrustAnchor<'static>, OTASEAL_MAX_ROOTS>,
    tsa_roots: heapless::Vec<TrustAnchor<'static>, OTASEAL_MAX_TSA_ROOTS>,
    keys: heapless::Vec<&'static [u8], OTASEAL_MAX_KEYS>,
    /// The policy, without `require` (it borrows the state).
    policy: Policy<'static>,
    required: SuiteSet,
}

impl Inputs {
    /// # Safety
    /// As [`otaseal_verifier_init`]'s contract for these arguments.
    unsafe fn from_c(
        buf: *mut u8,
        buf_len: usize,
        trust: *const otaseal_trust,
        policy: *const otaseal_policy,
    ) -> Result<Inputs, otaseal_status> {
        if buf.is_null() || trust.is_null() {
            return Err(otaseal_status::OTASEAL_ERR_NULL_ARGUMENT);
        }
        if buf_len > isize::MAX as usize {
            return Err(otaseal_status::OTASEAL_ERR_BAD_ARGUMENT);
        }
        // SAFETY: non-null, at most isize::MAX bytes, writable and exclusive
        // to the verifier until finish (contract); u8 has no alignment.
        let buf = unsafe { core::slice::from_raw_parts_mut(buf, buf_len) };
        // SAFETY: non-null and pointing to a valid struct (contract); read
        // unaligned since C may pack it anywhere its ABI allows.
        let trust = unsafe { trust.read_unaligned() };
        let policy = if policy.is_null() {
            None
        } else {
            // SAFETY: as for `trust`.
            Some(unsafe { policy.read_unaligned() })
        };
        // SAFETY: the arrays are valid until finish (contract).
        let roots = unsafe { c_slice(trust.roots, trust.roots_len) }?;
        // SAFETY: as above.
        let tsa_roots = unsafe { c_slice(trust.tsa_roots, trust.tsa_roots_len) }?;
        // SAFETY: as above.
        let keys = unsafe { c_slice(trust.keys, trust.keys_len) }?;
        let hw_id = match &policy {
            // SAFETY: the hardware id is valid until finish (contract).
            Some(p) if !p.hw_id.is_null() => Some(unsafe { c_slice(p.hw_id, p.hw_id_len) }?),
            _ => None,
        };
        let (policy, required) = convert_policy(policy.as_ref(), hw_id)?;
        Ok(Inputs {
            buf,
            roots: anchors(roots)?,
            tsa_roots: anchors(tsa_roots)?,
            keys: byte_strings(keys)?,
            policy,
            required,
        })
    }
}

/// The byte strings of `list`, borrowed for `'static` (the contract's "until
/// finish").
fn byte_strings<const N: usize>(
    list: &[otaseal_bytes],
) -> Result<heapless::Vec<&'static [u8], N>, otaseal_status> {
    let mut out = heapless::Vec::new();
    for b in list {
        // SAFETY: each entry is a valid byte string until finish (contract of
        // `otaseal_verifier_init`, the only caller).
        let bytes = unsafe { c_slice(b.ptr, b.len) }?;
        out.push(bytes)
            .map_err(|_| otaseal_status::OTASEAL_ERR_TOO_MANY_ANCHORS)?;
    }
    Ok(out)
}

/// The Rust policy of a C one (`require` still `AllDeclared`), and the
/// required suite set.
fn convert_policy(
    c: Option<&otaseal_policy>,
    hw_id: Option<&'static [u8]>,
) -> Result<(Policy<'static>, SuiteSet), otaseal_status> {
    let Some(c) = c else {
        return Ok((Policy::default(), SuiteSet::EMPTY));
    };
    let bad = otaseal_status::OTASEAL_ERR_BAD_ARGUMENT;
    if c.flags & !ALL_FLAGS != 0
        || c.required_suites & !ALL_SUITES != 0
        || c.require_timestamp & !ALL_SUITES != 0
        || c.digest_families & !ALL_DIGESTS != 0
    {
        return Err(bad);
    }
    let digests = match c.digest_policy {
        OTASEAL_DIGESTS_FOLLOW_SUITES => DigestPolicy::FollowSuites,
        OTASEAL_DIGESTS_FAMILIES if c.digest_families != 0 => {
            DigestPolicy::Families(DigestSet(c.digest_families))
        }
        OTASEAL_DIGESTS_ALL_IN_MANIFEST => DigestPolicy::AllInManifest,
        _ => return Err(bad),
    };
    let hw_id = match hw_id {
        Some(b) => Some(core::str::from_utf8(b).map_err(|_| bad)?),
        None => None,
    };
    let policy = Policy {
        require: Requirement::AllDeclared,
        hw_id,
        min_security_version: (c.flags & OTASEAL_POLICY_MIN_SECURITY_VERSION != 0)
            .then_some(c.min_security_version),
        time: (c.flags & OTASEAL_POLICY_TIME != 0).then_some(c.time),
        digests,
        require_timestamp: SuiteSet(c.require_timestamp),
        tsa_policies: None,
    };
    Ok((policy, SuiteSet(c.required_suites)))
}

/// Root certificates (DER, borrowed for the contract's "until finish") as
/// trust anchors.
#[cfg(feature = "x509")]
fn anchors<const N: usize>(
    list: &[otaseal_bytes],
) -> Result<heapless::Vec<TrustAnchor<'static>, N>, otaseal_status> {
    let ders: heapless::Vec<&'static [u8], N> = byte_strings(list)?;
    let mut out = heapless::Vec::new();
    for der in ders {
        let anchor = otaseal_verify::anchor_from_der(der)
            .map_err(|_| otaseal_status::OTASEAL_ERR_ANCHOR_MALFORMED)?;
        // Cannot fail: `ders` has the same capacity.
        out.push(anchor)
            .map_err(|_| otaseal_status::OTASEAL_ERR_TOO_MANY_ANCHORS)?;
    }
    Ok(out)
}

/// Without X.509 only raw keys can be trusted.
#[cfg(not(feature = "x509"))]
fn anchors<const N: usize>(
    list: &[otaseal_bytes],
) -> Result<heapless::Vec<TrustAnchor<'static>, N>, otaseal_status> {
    if list.is_empty() {
        Ok(heapless::Vec::new())
    } else {
        Err(otaseal_status::OTASEAL_ERR_NOT_COMPILED)
    }
}

/// Builds the state in place at `state` (it refers to itself, so it cannot
/// be built elsewhere and moved).
///
/// # Safety
/// `state` is non-null, aligned and valid for writes of a `State`, and stays
/// at this address, untouched by anything but these functions, until finish.
unsafe fn place(state: *mut State, inputs: Inputs) -> otaseal_status {
    let Inputs {
        buf,
        roots,
        tsa_roots,
        keys,
        mut policy,
        required,
    } = inputs;
    // Everything but the verifier, which borrows the rest.
    let initial = State {
        magic: 0,
        home: state as usize,
        roots,
        tsa_roots,
        keys,
        required: [required],
        verifier: None,
    };
    // SAFETY: valid for writes (contract); the old contents (uninitialized or
    // a dead state, which owns nothing) are overwritten without being dropped.
    unsafe { state.write(initial) };
    // SAFETY: the fields were just initialized and stay at this address,
    // unchanged, until finish (contract). They are borrowed shared while only
    // `verifier` and `magic`, other fields, are written afterwards, so the
    // borrows never alias a write.
    let (trust, required): (TrustStore<'static>, &'static [SuiteSet]) = unsafe {
        (
            TrustStore {
                roots: &(*state).roots,
                keys: &(*state).keys,
                tsa_roots: &(*state).tsa_roots,
            },
            &(*state).required,
        )
    };
    if required.iter().any(|s| !s.is_empty()) {
        policy.require = Requirement::AnyOf(required);
    }
    let verifier = PackageVerifier::new(buf, policy, trust);
    // SAFETY: write to a field of the initialized state (the old `None` owns
    // nothing); then the state is marked live.
    unsafe {
        ptr::addr_of_mut!((*state).verifier).write(Some(verifier));
        ptr::addr_of_mut!((*state).magic).write(MAGIC);
    }
    otaseal_status::OTASEAL_OK
}

/// The verifier of a live state.
///
/// # Safety
/// `state` is NULL or points to an `otaseal_verifier` that
/// [`otaseal_verifier_init`] initialized (or one that is zeroed or finished).
unsafe fn live<'s>(
    state: *mut otaseal_verifier,
) -> Result<&'s mut Option<PackageVerifier<'static, 'static>>, otaseal_status> {
    if state.is_null() {
        return Err(otaseal_status::OTASEAL_ERR_NULL_ARGUMENT);
    }
    if !state.is_aligned() {
        return Err(otaseal_status::OTASEAL_ERR_BAD_ARGUMENT);
    }
    let state = state.cast::<State>();
    // SAFETY: non-null, aligned; `magic` is at offset 0 (repr(C)) and the
    // storage is at least that large. Read before anything else so that a
    // dead state is never interpreted.
    let magic = unsafe { ptr::addr_of!((*state).magic).read() };
    // SAFETY: with the magic set, init completed and `home` is initialized.
    if magic != MAGIC || unsafe { ptr::addr_of!((*state).home).read() } != state as usize {
        return Err(otaseal_status::OTASEAL_ERR_NOT_INITIALIZED);
    }
    // SAFETY: a live state at its home address: `verifier` is initialized,
    // and no other reference to it exists (the other borrows into the state
    // are shared borrows of other fields).
    Ok(unsafe { &mut *ptr::addr_of_mut!((*state).verifier) })
}

/// Bare metal: a panic stops the core. The verifier is written so that none
/// is reachable from package bytes; this only satisfies the linker.
#[cfg(feature = "panic-handler")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {
        core::hint::spin_loop();
    }
}
