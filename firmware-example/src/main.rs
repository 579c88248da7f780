//! A bare-metal Cortex-M image (QEMU `mps2-an386`) that verifies a signed
//! otaseal package linked into flash, then a copy with one payload byte
//! flipped, and reports both verdicts, the peak stack of each run and how
//! much of the verifier's buffer was used, over semihosting.
//!
//! The exit status is 0 only if the genuine package was accepted and the
//! tampered one rejected with `payload-digest-mismatch`. Built with a
//! profile and the `baseline` feature, the image is the same harness with
//! the verifier call stubbed out (fixed verdicts), which `measure.sh`
//! subtracts to get the verifier's flash. Built without any feature it is
//! the empty image (same runtime, nothing else), reported for reference.
//!
//! The package is fed in 4 KiB chunks through a RAM chunk buffer, as a device
//! reading from external flash or a network stream would; the tampered run
//! flips the byte while it is in that buffer.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};

mod stack;

#[entry]
fn main() -> ! {
    let ok = app::run();
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    // Semihosting exit does not return on QEMU; on a debugger it might.
    #[allow(clippy::empty_loop)]
    loop {}
}

/// No formatting here, so a panic pulls no message machinery of its own:
/// report and fail.
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    hprintln!("panic");
    debug::exit(debug::EXIT_FAILURE);
    #[allow(clippy::empty_loop)]
    loop {}
}

/// The empty image: the runtime (semihosting output of a string and a `u64`,
/// stack painting, exit), nothing of the harness. Reported for reference;
/// the subtracted baseline is a profile built with `baseline`.
#[cfg(not(feature = "verifier"))]
mod app {
    use super::*;

    pub fn run() -> bool {
        let (n, peak) = crate::stack::measure(|| core::hint::black_box(12u64));
        hprintln!("baseline: security_version={} stack={}", n, peak);
        true
    }
}

/// The `wycheproof` image: every Wycheproof ECDSA P-256 vector through
/// `otaseal_verify::crypto::verify_signature`, i.e. the P-256 backend this
/// target compiles (p256-cm4 on thumbv7em) behind otaseal's own checks.
/// Exits 0 only if every verdict is the expected one (build.rs says which).
#[cfg(feature = "wycheproof")]
mod app {
    use super::*;
    use otaseal_verify::Suite;
    use otaseal_verify::crypto::{CryptoError, verify_signature};

    /// The verdict otaseal must give.
    #[derive(Clone, Copy, PartialEq, Eq)]
    pub enum Expect {
        /// Verifies.
        Accept,
        /// Any rejection (Wycheproof "invalid").
        Reject,
        /// A valid ECDSA signature with S above n/2: `HighS`.
        HighS,
    }

    /// One case of the vector file.
    pub struct Vector {
        pub id: u32,
        pub key: usize,
        pub msg: &'static [u8],
        pub sig: &'static [u8],
        pub expect: Expect,
    }

    mod vectors {
        use super::{Expect, Vector};
        include!(concat!(env!("OUT_DIR"), "/wycheproof.rs"));
    }

    pub fn run() -> bool {
        let (mut passed, mut failed, mut accepted, mut peak) = (0u32, 0u32, 0u32, 0usize);
        for v in vectors::VECTORS.iter() {
            let key = vectors::KEYS.get(v.key).copied().unwrap_or(&[]);
            let (result, stack) =
                crate::stack::measure(|| verify_signature(Suite::EcdsaP256, key, v.msg, v.sig));
            peak = peak.max(stack);
            let ok = match v.expect {
                Expect::Accept => result.is_ok(),
                Expect::Reject => result.is_err(),
                Expect::HighS => result == Err(CryptoError::HighS),
            };
            if result.is_ok() {
                accepted += 1;
            }
            if ok {
                passed += 1;
            } else {
                failed += 1;
                hprintln!(
                    "wycheproof tcId {} (key {}): unexpected verdict",
                    v.id,
                    v.key
                );
            }
        }
        hprintln!(
            "wycheproof ecdsa-p256: {} vectors, {} accepted; {} passed, {} failed; peak stack={}",
            vectors::VECTORS.len(),
            accepted,
            passed,
            failed,
            peak
        );
        failed == 0 && passed as usize == vectors::VECTORS.len()
    }
}

#[cfg(all(feature = "verifier", not(feature = "wycheproof")))]
mod app {
    use super::*;
    use otaseal_verify::{PackageVerifier, Suite, SuiteSet, buffer_size};
    #[cfg(not(feature = "baseline"))]
    use otaseal_verify::{Policy, Requirement, TrustStore, VerifyError};

    /// Build-time data: `PROFILE`, `PACKAGE`, `TAMPER_AT`, `KEYS`, `ROOTS`,
    /// `TSA_ROOTS` (see build.rs).
    #[cfg_attr(feature = "baseline", allow(dead_code))] // trust unused by the stub
    mod profile {
        include!(concat!(env!("OUT_DIR"), "/profile.rs"));
    }

    /// Bytes fed to the verifier at a time.
    const CHUNK: usize = 4096;

    /// What each profile requires, and the largest envelope it accepts (the
    /// buffer is `buffer_size` of it). Envelopes of the measured packages:
    /// see `measure.sh`'s output.
    #[cfg(feature = "minimal")]
    #[cfg_attr(feature = "baseline", allow(dead_code))] // policy unused by the stub
    mod require {
        use super::*;
        pub const SUITES: SuiteSet = SuiteSet::EMPTY.with(Suite::EcdsaP256);
        /// Raw-key signatures carry no certificates or tokens.
        pub const TIMESTAMPED: SuiteSet = SuiteSet::EMPTY;
        pub const MAX_ENVELOPE: usize = 1024;
    }
    #[cfg(feature = "minimal-ed25519")]
    mod require {
        use super::*;
        pub const SUITES: SuiteSet = SuiteSet::EMPTY.with(Suite::Ed25519);
        pub const TIMESTAMPED: SuiteSet = SuiteSet::EMPTY;
        pub const MAX_ENVELOPE: usize = 1024;
    }
    #[cfg(feature = "x509")]
    mod require {
        use super::*;
        pub const SUITES: SuiteSet = SuiteSet::EMPTY.with(Suite::EcdsaP256);
        /// No clock on the device: certificates are checked at the token's
        /// genTime, and a back-dated manifest needs a TSA's help.
        pub const TIMESTAMPED: SuiteSet = SUITES;
        pub const MAX_ENVELOPE: usize = 4 * 1024;
    }
    #[cfg(feature = "dual")]
    mod require {
        use super::*;
        pub const SUITES: SuiteSet = SuiteSet::EMPTY.with(Suite::EcdsaP256).with(Suite::Sm2);
        pub const TIMESTAMPED: SuiteSet = SUITES;
        pub const MAX_ENVELOPE: usize = 8 * 1024;
    }
    #[cfg(feature = "hybrid")]
    mod require {
        use super::*;
        pub const SUITES: SuiteSet = SuiteSet::EMPTY.with(Suite::EcdsaP256).with(Suite::MlDsa65);
        pub const TIMESTAMPED: SuiteSet = SUITES;
        pub const MAX_ENVELOPE: usize = 32 * 1024;
    }

    #[cfg(feature = "all")]
    mod require {
        use super::*;
        pub const SUITES: SuiteSet = SuiteSet::EMPTY
            .with(Suite::EcdsaP256)
            .with(Suite::Sm2)
            .with(Suite::MlDsa65);
        pub const TIMESTAMPED: SuiteSet = SUITES;
        pub const MAX_ENVELOPE: usize = 40 * 1024;
    }

    const BUF_LEN: usize = buffer_size(require::MAX_ENVELOPE);
    /// The verifier's buffer (envelope + one Sig_structure): static, so it
    /// is not part of the stack figure.
    static mut BUF: [u8; BUF_LEN] = [0; BUF_LEN];
    /// The RAM chunk the package passes through.
    static mut CHUNK_BUF: [u8; CHUNK] = [0; CHUNK];
    /// Painted into the buffer to find how much of it the verifier wrote.
    const BUF_PAINT: u8 = 0xA5;

    pub fn run() -> bool {
        // SAFETY: `run` is called once, from `main`, with interrupts unused:
        // these are the only references to the two statics. (`&raw mut`
        // then `&mut *`: a direct `&mut` of a `static mut` is refused.)
        #[allow(clippy::deref_addrof)]
        let (buf, chunk) = unsafe { (&mut *(&raw mut BUF), &mut *(&raw mut CHUNK_BUF)) };
        hprintln!(
            "profile {}: package {} bytes, buffer {} bytes, verifier struct {} bytes",
            profile::PROFILE,
            profile::PACKAGE.len(),
            BUF_LEN,
            core::mem::size_of::<PackageVerifier<'static, 'static>>()
        );

        let genuine = check(buf, chunk, None);
        let tampered = check(buf, chunk, Some(profile::TAMPER_AT));
        let genuine_ok = report("genuine", &genuine);
        let tampered_ok = report("tampered", &tampered);
        genuine_ok && !tampered_ok && tampered.result == Err("payload-digest-mismatch")
    }

    struct Run {
        result: Result<u64, &'static str>,
        stack: usize,
        buffer_used: usize,
    }

    /// One verification, with its stack peak and buffer use measured.
    fn check(buf: &mut [u8], chunk: &mut [u8; CHUNK], tamper_at: Option<usize>) -> Run {
        buf.fill(BUF_PAINT);
        let (result, stack) = crate::stack::measure(|| verdict(buf, chunk, tamper_at));
        let buffer_used = buf
            .iter()
            .rposition(|&b| b != BUF_PAINT)
            .map_or(0, |last| last.saturating_add(1));
        Run {
            result,
            stack,
            buffer_used,
        }
    }

    /// The verdict of one run: the security version, or the error's code.
    #[cfg(not(feature = "baseline"))]
    fn verdict(
        buf: &mut [u8],
        chunk: &mut [u8; CHUNK],
        tamper_at: Option<usize>,
    ) -> Result<u64, &'static str> {
        verify(buf, chunk, tamper_at).map_err(|e| e.code())
    }

    /// The `baseline` image: the same harness (feed loop, painting,
    /// printing) with the verifier left out. The package still streams
    /// through the chunk buffer into a sink the optimizer cannot see
    /// through, and the verdicts are the ones the verifier must give, so
    /// `measure.sh` subtracts exactly what linking the verifier adds.
    #[cfg(feature = "baseline")]
    #[inline(never)]
    fn verdict(
        buf: &mut [u8],
        chunk: &mut [u8; CHUNK],
        tamper_at: Option<usize>,
    ) -> Result<u64, &'static str> {
        core::hint::black_box(&mut *buf);
        feed(chunk, tamper_at, |ram| {
            core::hint::black_box(ram);
            Ok::<(), ()>(())
        })
        .map_err(|()| "baseline")?;
        core::hint::black_box(match tamper_at {
            None => Ok(12),
            Some(_) => Err("payload-digest-mismatch"),
        })
    }

    fn report(name: &str, run: &Run) -> bool {
        match run.result {
            Ok(security_version) => {
                hprintln!(
                    "verdict {}: ACCEPTED security_version={}",
                    name,
                    security_version
                )
            }
            Err(code) => hprintln!("verdict {}: REJECTED {}", name, code),
        }
        hprintln!(
            "measure {}: stack={} buffer_used={}",
            name,
            run.stack,
            run.buffer_used
        );
        run.result.is_ok()
    }

    /// Streams the package from flash through `chunk`, flipping the byte at
    /// `tamper_at` on its way, and returns the verified security version.
    #[cfg(not(feature = "baseline"))]
    #[inline(never)]
    fn verify(
        buf: &mut [u8],
        chunk: &mut [u8; CHUNK],
        tamper_at: Option<usize>,
    ) -> Result<u64, VerifyError> {
        let policy = Policy {
            require: Requirement::AnyOf(&[require::SUITES]),
            hw_id: Some("acme-rev-a"),
            min_security_version: Some(12),
            time: None, // no trusted clock on this board
            require_timestamp: require::TIMESTAMPED,
            ..Policy::default()
        };
        let trust = TrustStore {
            roots: &profile::ROOTS,
            keys: &profile::KEYS,
            tsa_roots: &profile::TSA_ROOTS,
        };
        let mut v = PackageVerifier::new(buf, policy, trust);
        feed(chunk, tamper_at, |ram| v.update(ram))?;
        security_version(v)
    }

    /// The verdict, in a frame of its own: `Verified` carries the envelope
    /// verdict (about 0.9 KB of signature reports), which then is not on the
    /// stack while `update` verifies the envelope.
    #[cfg(not(feature = "baseline"))]
    #[inline(never)]
    fn security_version(v: PackageVerifier<'_, '_>) -> Result<u64, VerifyError> {
        v.finish().map(|verified| verified.security_version)
    }

    /// Streams the package from flash through `chunk` into `sink` (the
    /// verifier's `update`), flipping the byte at `tamper_at` on its way.
    #[inline(never)]
    fn feed<E>(
        chunk: &mut [u8; CHUNK],
        tamper_at: Option<usize>,
        mut sink: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut offset = 0usize;
        for piece in profile::PACKAGE.chunks(CHUNK) {
            let Some(ram) = chunk.get_mut(..piece.len()) else {
                break; // `chunks(CHUNK)` never yields more than CHUNK bytes
            };
            ram.copy_from_slice(piece);
            if let Some(at) = tamper_at.and_then(|at| at.checked_sub(offset))
                && let Some(byte) = ram.get_mut(at)
            {
                *byte ^= 0x01;
            }
            sink(ram)?;
            offset = offset.saturating_add(piece.len());
        }
        Ok(())
    }
}
