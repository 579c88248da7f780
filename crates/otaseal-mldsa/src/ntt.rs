//! Arithmetic in Z_q[X]/(X^256 + 1): Montgomery reduction and the NTT.
//!
//! Signed 32-bit coefficients with Montgomery multiplication (R = 2^32), the
//! layout of the FIPS 204 reference code: a 32x32->64 multiply and one
//! 32-bit multiply per reduction, which is what a Cortex-M4 does in three
//! instructions (`smull`, `mul`, `smlal`). No lazy reduction tricks beyond
//! the bounds below, which are what keep every value inside `i32`:
//!
//! - forward NTT: inputs |a| <= 2^19 (z coefficients); each of the 8 layers
//!   adds at most q, so outputs |a| < 2^19 + 8q < 2^27;
//! - pointwise products are Montgomery-reduced to |x| < q, and at most 7 are
//!   summed (< 2^26) before the caller reduces to [0, q);
//! - inverse NTT: inputs in [0, q); the unreduced sums grow to < 256 q < 2^31
//!   (the reference code's bound), outputs |a| < q.
//!
//! Every operation is a `wrapping_*` one so no input can make the code
//! panic; the bounds above mean none of them ever wraps.

use crate::params::{N, Q};

/// q^-1 mod 2^32.
const QINV: i32 = 58_728_449;
const _: () = assert!(Q.wrapping_mul(QINV) == 1);

/// a^e mod q, at compile time.
// Const evaluation only: an overflow would be a build error.
#[allow(clippy::arithmetic_side_effects)]
const fn pow_mod(base: u64, mut e: u64) -> u64 {
    let q = Q as u64;
    let mut b = base % q;
    let mut r = 1u64;
    while e > 0 {
        if e & 1 == 1 {
            r = r * b % q;
        }
        b = b * b % q;
        e >>= 1;
    }
    r
}

/// R mod q, R = 2^32.
const MONT: u64 = (1u64 << 32) % (Q as u64);

/// Centered representative in (-q/2, q/2] of x mod q, x in [0, q).
// Const evaluation only.
#[allow(clippy::arithmetic_side_effects)]
const fn center(x: u64) -> i32 {
    let q = Q as u64;
    if x > q / 2 {
        (x as i64 - q as i64) as i32
    } else {
        x as i32
    }
}

/// zetas[k] = 1753^brv8(k) * R mod q (1753 is the 512th root of unity
/// FIPS 204 fixes), computed at compile time rather than copied as a table.
// Runs only in const evaluation: an out-of-range index would be a build error.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
const fn gen_zetas() -> [i32; N] {
    let mut z = [0i32; N];
    let mut k = 0;
    while k < N {
        let e = (k as u8).reverse_bits() as u64;
        z[k] = center(pow_mod(1753, e) * MONT % Q as u64);
        k += 1;
    }
    z
}

pub(crate) static ZETAS: [i32; N] = gen_zetas();

/// R^2 / 256 mod q: undoes the 1/256 of the inverse NTT and the R^-1 left by
/// the pointwise Montgomery products in one multiplication.
const F: i64 = (MONT * MONT % Q as u64 * pow_mod(256, Q as u64 - 2) % Q as u64) as i64;

/// a * R^-1 mod q, result in (-q, q) for |a| < 2^31 q.
#[inline(always)]
pub(crate) fn mont_reduce(a: i64) -> i32 {
    let t = (a as i32).wrapping_mul(QINV);
    (a.wrapping_sub(i64::from(t).wrapping_mul(i64::from(Q)))).wrapping_shr(32) as i32
}

/// In-place forward NTT (bit-reversed output order), standard domain in and out.
pub(crate) fn ntt(a: &mut [i32; N]) {
    let mut zetas = ZETAS.iter().skip(1);
    let mut len = N / 2;
    while len > 0 {
        for chunk in a.chunks_exact_mut(len.wrapping_mul(2)) {
            let zeta = i64::from(zetas.next().copied().unwrap_or(0));
            let (lo, hi) = chunk.split_at_mut(len);
            for (x, y) in lo.iter_mut().zip(hi.iter_mut()) {
                let t = mont_reduce(zeta.wrapping_mul(i64::from(*y)));
                *y = x.wrapping_sub(t);
                *x = x.wrapping_add(t);
            }
        }
        len >>= 1;
    }
}

/// In-place inverse NTT, multiplying by R on the way out (so that the
/// R^-1 of the pointwise Montgomery products cancels). Inputs must be in [0, q).
pub(crate) fn inv_ntt_tomont(a: &mut [i32; N]) {
    let mut zetas = ZETAS.iter().rev();
    let mut len = 1;
    while len < N {
        for chunk in a.chunks_exact_mut(len.wrapping_mul(2)) {
            let zeta = i64::from(zetas.next().copied().unwrap_or(0)).wrapping_neg();
            let (lo, hi) = chunk.split_at_mut(len);
            for (x, y) in lo.iter_mut().zip(hi.iter_mut()) {
                let t = *x;
                *x = t.wrapping_add(*y);
                *y = mont_reduce(zeta.wrapping_mul(i64::from(t.wrapping_sub(*y))));
            }
        }
        len <<= 1;
    }
    for x in a.iter_mut() {
        *x = mont_reduce(F.wrapping_mul(i64::from(*x)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_match_the_reference() {
        assert_eq!(F, 41_978);
        assert_eq!(ZETAS[1], 25_847);
        assert_eq!(ZETAS[255], 1_976_782);
    }

    fn schoolbook(a: &[i64; N], b: &[i64; N]) -> [i64; N] {
        let q = i64::from(Q);
        let mut r = [0i64; N];
        for i in 0..N {
            for j in 0..N {
                let p = a[i] * b[j] % q;
                if i + j < N {
                    r[i + j] = (r[i + j] + p) % q;
                } else {
                    r[i + j - N] = (r[i + j - N] - p) % q;
                }
            }
        }
        r.map(|x| x.rem_euclid(q))
    }

    #[test]
    fn ntt_product_matches_schoolbook_at_the_bounds() {
        // z at +-gamma1 (the largest forward input), A entries at q - 1.
        let mut z = [0i32; N];
        let mut a = [0i32; N];
        let mut s = 0x1234_5678u32;
        for i in 0..N {
            s = s.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            z[i] = if s & 1 == 0 { 1 << 19 } else { -(1 << 19) + 1 };
            a[i] = if s & 2 == 0 {
                Q - 1
            } else {
                (s >> 9) as i32 % Q
            };
        }
        let want = schoolbook(&a.map(i64::from), &z.map(i64::from));
        let mut zh = z;
        ntt(&mut zh);
        let mut ah = a;
        ntt(&mut ah);
        // Seven summed products, as in the widest row of ML-DSA-87.
        let mut acc = [0i32; N];
        for _ in 0..7 {
            for i in 0..N {
                acc[i] += mont_reduce(i64::from(ah[i].rem_euclid(Q)) * i64::from(zh[i]));
            }
        }
        for x in acc.iter_mut() {
            *x = x.rem_euclid(Q);
        }
        inv_ntt_tomont(&mut acc);
        for i in 0..N {
            assert_eq!(
                i64::from(acc[i]).rem_euclid(i64::from(Q)),
                want[i] * 7 % i64::from(Q),
                "{i}"
            );
        }
    }
}
