//! Measures one ML-DSA verification per level, this crate and RustCrypto
//! `ml-dsa`, on QEMU `mps2-an386` (Cortex-M4F), and prints one line per case:
//!
//! `RESULT level=65 impl=otaseal-mldsa ok=1 stack=NNNN ticks=NNNN`
//!
//! - `stack`: bytes of stack below the caller's stack pointer that the call
//!   touched, found by painting 512 KiB below the stack pointer with a pattern
//!   and looking for the deepest overwritten word (a separate run from the
//!   timed one).
//! - `ticks`: SysTick (core clock) ticks across the call. Under QEMU
//!   `-icount shift=0` each instruction advances virtual time by 1 ns and the
//!   25 MHz core clock ticks every 40 ns, so instructions = 40 x ticks
//!   (resolution 40). `run.sh` does the conversion and checks the budgets.
#![no_std]
#![no_main]

use core::panic::PanicInfo;

use cortex_m::peripheral::{SYST, syst::SystClkSource};
use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use ml_dsa::MlDsaParams;
use otaseal_mldsa::Level;

static MSG: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/msg"));
static CTX: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/ctx"));
static PK44: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/44.pk"));
static SIG44: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/44.sig"));
static PK65: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/65.pk"));
static SIG65: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/65.sig"));
static PK87: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/87.pk"));
static SIG87: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/87.sig"));

#[inline(never)]
fn ours(level: Level, pk: &[u8], sig: &[u8]) -> bool {
    // Streams the message through MuBuilder as otaseal-verify does.
    let Ok(mut mu) = otaseal_mldsa::MuBuilder::new(pk, CTX) else {
        return false;
    };
    mu.update(MSG);
    otaseal_mldsa::verify_mu(level, pk, &mu.finalize(), sig).is_ok()
}

#[inline(never)]
fn rustcrypto<P: MlDsaParams>(pk: &[u8], sig: &[u8]) -> bool {
    let Ok(enc) = ml_dsa::EncodedVerifyingKey::<P>::try_from(pk) else {
        return false;
    };
    let vk = ml_dsa::VerifyingKey::<P>::decode(&enc);
    let Ok(s) = ml_dsa::Signature::<P>::try_from(sig) else {
        return false;
    };
    vk.verify_with_context(MSG, CTX, &s)
}

fn o44() -> bool {
    ours(Level::MlDsa44, PK44, SIG44)
}
fn o65() -> bool {
    ours(Level::MlDsa65, PK65, SIG65)
}
fn o87() -> bool {
    ours(Level::MlDsa87, PK87, SIG87)
}
fn r44() -> bool {
    rustcrypto::<ml_dsa::MlDsa44>(PK44, SIG44)
}
fn r65() -> bool {
    rustcrypto::<ml_dsa::MlDsa65>(PK65, SIG65)
}
fn r87() -> bool {
    rustcrypto::<ml_dsa::MlDsa87>(PK87, SIG87)
}
fn nothing() -> bool {
    true
}

/// Calibration: exactly 2 x 1_000_000 instructions (`subs`, `bne`), so
/// `run.sh` can check the ticks-to-instructions factor instead of assuming it.
#[inline(never)]
fn calibrate() -> bool {
    let n: u32 = 1_000_000;
    // SAFETY: a register-only countdown loop; no memory, stack or flags
    // outside the asm block are touched.
    unsafe {
        core::arch::asm!("2:", "subs {0}, #1", "bne 2b", inout(reg) n => _, options(nomem, nostack));
    }
    true
}

type Case = (&'static str, &'static str, fn() -> bool);
const CASES: [Case; 8] = [
    ("none", "empty-call", nothing),
    ("none", "calibrate-2000000-insns", calibrate),
    ("44", "otaseal-mldsa", o44),
    ("44", "rustcrypto-ml-dsa", r44),
    ("65", "otaseal-mldsa", o65),
    ("65", "rustcrypto-ml-dsa", r65),
    ("87", "otaseal-mldsa", o87),
    ("87", "rustcrypto-ml-dsa", r87),
];

const PAINT_BYTES: usize = 512 * 1024;
const PATTERN: u32 = 0xA5C3_5A3C;

/// Peak stack of `f` below the current stack pointer, in bytes.
#[inline(never)]
fn stack_of(f: fn() -> bool) -> (usize, bool) {
    let sp = cortex_m::register::msp::read() as usize;
    // Leave the words just below SP alone: this function's own calls use them.
    let top = sp - 64;
    let bottom = sp - PAINT_BYTES;
    let mut a = bottom;
    while a < top {
        // SAFETY: [bottom, top) is unused stack below the current stack
        // pointer inside the 4 MiB RAM (memory.x); no interrupts are enabled.
        unsafe { core::ptr::write_volatile(a as *mut u32, PATTERN) };
        a += 4;
    }
    let ok = f();
    let mut a = bottom;
    // SAFETY: as above, reading back the same words.
    while a < top && unsafe { core::ptr::read_volatile(a as *const u32) } == PATTERN {
        a += 4;
    }
    (sp - a, ok)
}

/// SysTick ticks across `f` (the counter counts down from 2^24 - 1).
#[inline(never)]
fn ticks_of(syst: &mut SYST, f: fn() -> bool) -> (u32, bool) {
    syst.clear_current();
    let start = SYST::get_current();
    let ok = f();
    let end = SYST::get_current();
    let wrapped = syst.has_wrapped();
    (
        if wrapped {
            u32::MAX
        } else {
            start.wrapping_sub(end) & 0x00FF_FFFF
        },
        ok,
    )
}

#[entry]
fn main() -> ! {
    let Some(mut p) = cortex_m::Peripherals::take() else {
        fail()
    };
    p.SYST.set_clock_source(SystClkSource::Core);
    p.SYST.set_reload(0x00FF_FFFF);
    p.SYST.clear_current();
    p.SYST.enable_counter();
    let mut all_ok = true;
    for (level, name, f) in CASES {
        let (ticks, ok1) = ticks_of(&mut p.SYST, f);
        let (stack, ok2) = stack_of(f);
        all_ok &= ok1 && ok2;
        hprintln!(
            "RESULT level={} impl={} ok={} stack={} ticks={}",
            level,
            name,
            u8::from(ok1 && ok2),
            stack,
            ticks
        );
    }
    if !all_ok {
        fail();
    }
    debug::exit(debug::EXIT_SUCCESS);
    loop {
        cortex_m::asm::wfi();
    }
}

fn fail() -> ! {
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    hprintln!("panic: {}", info);
    fail()
}
