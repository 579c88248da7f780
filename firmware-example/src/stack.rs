//! Peak stack by painting: fill the free RAM below the stack pointer with a
//! pattern, run the code, then find the lowest word that no longer holds the
//! pattern. cortex-m-rt puts the stack at the top of RAM growing down towards
//! the end of the statics (`__sheap`), which is where painting starts.

use core::arch::asm;

/// A word the verifier is unlikely to leave behind by chance.
const PAINT: u32 = 0x5A5A_C3C3;

unsafe extern "C" {
    /// cortex-m-rt: the first byte after `.bss`/`.uninit`, 4-aligned.
    static __sheap: u32;
}

/// Runs `f` and returns its result and the stack it used, in bytes: from
/// the stack pointer at the call to the lowest word written.
#[inline(never)]
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let bottom = (&raw const __sheap) as usize;
    let sp: usize;
    // SAFETY: writes only words in [__sheap, sp): free RAM below the live
    // stack (no static lies there, and nothing below sp is in use). One asm
    // block, so no call frame of ours sits in the painted range; explicit
    // low registers, so it assembles as Thumb-1 for Cortex-M0+ too.
    unsafe {
        asm!(
            "mov r1, sp",
            "2:",
            "cmp r0, r1",
            "bhs 3f",
            "str r2, [r0]",
            "adds r0, #4",
            "b 2b",
            "3:",
            inout("r0") bottom => _,
            out("r1") sp,
            in("r2") PAINT,
            options(nostack),
        );
    }
    let result = f();
    let mut low = sp;
    let mut at = bottom;
    while at < sp {
        // SAFETY: `at` is 4-aligned inside RAM, below the live stack: memory
        // that no Rust object owns, read volatile so the read happens.
        let word = unsafe { core::ptr::read_volatile(at as *const u32) };
        if word != PAINT {
            low = at;
            break;
        }
        at = at.saturating_add(4);
    }
    (result, sp.saturating_sub(low))
}
