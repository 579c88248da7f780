//! ML-DSA.Verify_internal (FIPS 204 Algorithm 8), one row of A at a time.

use shake::{ExtendableOutput, Shake128, Shake256, Update, XofReader};

use crate::Error;
use crate::ntt::{inv_ntt_tomont, mont_reduce, ntt};
use crate::params::{N, Params, Q, RHO_BYTES, T1_POLY_BYTES};

/// Little-endian bit reader over packed coefficients (FIPS 204 BitUnpack
/// order). Reads past the end yield zero bits; callers pass slices whose
/// length they have already checked.
struct Bits<'a> {
    bytes: core::slice::Iter<'a, u8>,
    acc: u64,
    n: u32,
}

impl<'a> Bits<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes: bytes.iter(),
            acc: 0,
            n: 0,
        }
    }

    /// Next `bits` (<= 32) bits as an integer.
    #[inline(always)]
    fn take(&mut self, bits: u32) -> i32 {
        while self.n < bits {
            let b = self.bytes.next().copied().unwrap_or(0);
            self.acc |= u64::from(b).wrapping_shl(self.n);
            self.n = self.n.wrapping_add(8);
        }
        let mask = 1u64.wrapping_shl(bits).wrapping_sub(1);
        let v = (self.acc & mask) as i32;
        self.acc = self.acc.wrapping_shr(bits);
        self.n = self.n.wrapping_sub(bits);
        v
    }
}

/// Splits a signature of the right length into (c~, z, h).
/// (c~, z, h) of a signature.
type SigParts<'a> = (&'a [u8], &'a [u8], &'a [u8]);

fn split_signature<'a>(p: &Params, sig: &'a [u8]) -> Result<SigParts<'a>, Error> {
    if sig.len() != p.signature_len() {
        return Err(Error::SignatureLength);
    }
    let (c_tilde, rest) = sig
        .split_at_checked(p.ctilde_bytes)
        .ok_or(Error::SignatureLength)?;
    let (z, h) = rest
        .split_at_checked(p.l.wrapping_mul(p.z_poly_bytes()))
        .ok_or(Error::SignatureLength)?;
    Ok((c_tilde, z, h))
}

/// HintBitUnpack (Algorithm 21) as a check only: the hint is read again,
/// row by row, where it lies in the signature.
fn check_hint(p: &Params, h: &[u8]) -> Result<(), Error> {
    let (positions, ends) = h.split_at_checked(p.omega).ok_or(Error::HintMalformed)?;
    let mut start = 0usize;
    for &end in ends {
        let end = usize::from(end);
        // Row ends must not decrease and must stay within omega.
        if end < start || end > p.omega {
            return Err(Error::HintMalformed);
        }
        let row = positions.get(start..end).ok_or(Error::HintMalformed)?;
        // Positions within a row strictly increase (canonical encoding).
        if row.windows(2).any(|w| matches!(w, [a, b] if a >= b)) {
            return Err(Error::HintMalformed);
        }
        start = end;
    }
    // Unused position bytes must be zero.
    let rest = positions.get(start..).ok_or(Error::HintMalformed)?;
    if rest.iter().any(|&b| b != 0) {
        return Err(Error::HintMalformed);
    }
    Ok(())
}

/// ||z||_inf < gamma1 - beta over the whole packed z, without storing it.
fn check_z(p: &Params, z: &[u8]) -> Result<(), Error> {
    let bits = p.gamma1_bits.wrapping_add(1);
    let gamma1 = p.gamma1();
    let bound = gamma1.wrapping_sub(p.beta);
    let count = p.l.wrapping_mul(N);
    let mut r = Bits::new(z);
    for _ in 0..count {
        let c = gamma1.wrapping_sub(r.take(bits));
        if c.wrapping_abs() >= bound {
            return Err(Error::ZOutOfRange);
        }
    }
    Ok(())
}

/// SampleInBall (Algorithm 29): the challenge c with tau coefficients +-1.
fn sample_in_ball(c_tilde: &[u8], tau: usize) -> [i8; N] {
    let mut h = Shake256::default();
    h.update(c_tilde);
    let mut rd = h.finalize_xof();
    let mut buf = [0u8; 136];
    rd.read(&mut buf);
    let mut signs = buf.first_chunk::<8>().map_or(0, |s| u64::from_le_bytes(*s));
    let mut pos = 8usize;
    let mut c = [0i8; N];
    for i in N.wrapping_sub(tau)..N {
        let j = loop {
            let b = match buf.get(pos) {
                Some(&b) => b,
                None => {
                    rd.read(&mut buf);
                    pos = 0;
                    buf.first().copied().unwrap_or(0)
                }
            };
            pos = pos.wrapping_add(1);
            if usize::from(b) <= i {
                break usize::from(b);
            }
        };
        let cj = c.get(j).copied().unwrap_or(0);
        if let Some(ci) = c.get_mut(i) {
            *ci = cj;
        }
        if let Some(cj) = c.get_mut(j) {
            *cj = if signs & 1 == 1 { -1 } else { 1 };
        }
        signs >>= 1;
    }
    c
}

/// acc += A[i][j] o zhat, sampling A[i][j] (RejNTTPoly, Algorithm 30, from
/// SHAKE128(rho || j || i)) one coefficient at a time so no copy of the
/// matrix entry is ever held.
fn mul_acc_a(rho: &[u8], i: u8, j: u8, zhat: &[i32; N], acc: &mut [i32; N]) {
    let mut h = Shake128::default();
    h.update(rho);
    h.update(&[j, i]);
    let mut rd = h.finalize_xof();
    let mut buf = [0u8; 168];
    let mut slots = acc.iter_mut().zip(zhat.iter());
    let mut left = N;
    loop {
        rd.read(&mut buf);
        for c in buf.chunks_exact(3) {
            let &[b0, b1, b2] = c else { continue };
            let v = i32::from(b0) | i32::from(b1) << 8 | i32::from(b2 & 0x7f) << 16;
            if v < Q {
                let Some((a, z)) = slots.next() else { return };
                *a = a.wrapping_add(mont_reduce(i64::from(v).wrapping_mul(i64::from(*z))));
                left = left.wrapping_sub(1);
                if left == 0 {
                    return;
                }
            }
        }
    }
}

/// acc -= c * t (negacyclic), with c sparse: tau signed shifts of t.
fn sub_sparse(acc: &mut [i32; N], c: &[i8; N], t: &[i32; N]) {
    for (m, &s) in c.iter().enumerate() {
        if s == 0 {
            continue;
        }
        let Some((t_lo, t_hi)) = t.split_at_checked(N.wrapping_sub(m)) else {
            continue;
        };
        let (a_lo, a_hi) = acc.split_at_mut(m);
        // X^m * t: t[n] lands on m + n below N, wraps with a sign flip above.
        if s > 0 {
            a_hi.iter_mut()
                .zip(t_lo)
                .for_each(|(a, t)| *a = a.wrapping_sub(*t));
            a_lo.iter_mut()
                .zip(t_hi)
                .for_each(|(a, t)| *a = a.wrapping_add(*t));
        } else {
            a_hi.iter_mut()
                .zip(t_lo)
                .for_each(|(a, t)| *a = a.wrapping_add(*t));
            a_lo.iter_mut()
                .zip(t_hi)
                .for_each(|(a, t)| *a = a.wrapping_sub(*t));
        }
    }
}

/// UseHint (Algorithm 40) with Decompose (Algorithm 36); r in [0, q).
/// Generic over gamma2 so the divisions are by constants (multiplications).
// The divisor 2 * G2 is a non-zero constant (G2 is (q-1)/88 or (q-1)/32),
// which clippy cannot see through the const generic.
#[allow(clippy::arithmetic_side_effects)]
#[inline(always)]
fn use_hint<const G2: i32>(hint: bool, r: i32) -> i32 {
    let two_g2 = const { 2 * G2 };
    let m = const { (Q - 1) / (2 * G2) };
    let mut r0 = r.wrapping_rem(two_g2);
    if r0 > G2 {
        r0 = r0.wrapping_sub(two_g2);
    }
    let (r1, r0) = if r.wrapping_sub(r0) == Q.wrapping_sub(1) {
        (0, r0.wrapping_sub(1))
    } else {
        (r.wrapping_sub(r0).wrapping_div(two_g2), r0)
    };
    if !hint {
        r1
    } else if r0 > 0 {
        if r1.wrapping_add(1) == m {
            0
        } else {
            r1.wrapping_add(1)
        }
    } else if r1 == 0 {
        m.wrapping_sub(1)
    } else {
        r1.wrapping_sub(1)
    }
}

/// w1Encode of one row: UseHint on each coefficient of `w` (any
/// representative mod q) with the row's hint positions, packed in BITS bits.
fn pack_w1_row<const G2: i32, const BITS: u32>(w: &[i32; N], hints: &[u8], out: &mut [u8]) {
    let mut hints = hints.iter().peekable();
    let mut out = out.iter_mut();
    let mut bit_acc = 0u32;
    let mut nbits = 0u32;
    for (n, x) in w.iter().enumerate() {
        let hint = hints.next_if(|&&pos| usize::from(pos) == n).is_some();
        let w1 = use_hint::<G2>(hint, x.rem_euclid(Q));
        bit_acc |= (w1 as u32).wrapping_shl(nbits);
        nbits = nbits.wrapping_add(BITS);
        while nbits >= 8 {
            if let Some(o) = out.next() {
                *o = bit_acc as u8;
            }
            bit_acc >>= 8;
            nbits = nbits.wrapping_sub(8);
        }
    }
}

/// Verify_internal from mu: lengths are checked by the caller.
pub(crate) fn verify_mu(p: &Params, pk: &[u8], mu: &[u8; 64], sig: &[u8]) -> Result<(), Error> {
    if pk.len() != p.public_key_len() {
        return Err(Error::KeyLength);
    }
    let (c_tilde, z_bytes, h_bytes) = split_signature(p, sig)?;
    let (rho, t1_bytes) = pk.split_at_checked(RHO_BYTES).ok_or(Error::KeyLength)?;
    check_hint(p, h_bytes)?;
    check_z(p, z_bytes)?;
    let (positions, ends) = h_bytes
        .split_at_checked(p.omega)
        .ok_or(Error::HintMalformed)?;

    let c = sample_in_ball(c_tilde, p.tau);
    let mut hash = Shake256::default();
    hash.update(mu);

    let z_bits = p.gamma1_bits.wrapping_add(1);
    let gamma1 = p.gamma1();
    let z_poly_bytes = p.z_poly_bytes();
    let mut acc = [0i32; N];
    let mut tmp = [0i32; N];
    let mut w1_buf = [0u8; 32 * 6];
    let w1_len = 32usize.wrapping_mul(p.w1_bits as usize);
    let mut hint_start = 0usize;

    for ((i, t1_poly), &hint_end) in (0u8..).zip(t1_bytes.chunks_exact(T1_POLY_BYTES)).zip(ends) {
        // Row i of A * NTT(z), accumulated in the NTT domain. NTT(z_j) is
        // recomputed for every row instead of cached: caching all of z-hat
        // costs l KiB (see the crate docs for the measured trade-off).
        acc.fill(0);
        for (j, z_poly) in (0u8..).zip(z_bytes.chunks_exact(z_poly_bytes)) {
            let mut r = Bits::new(z_poly);
            for x in tmp.iter_mut() {
                *x = gamma1.wrapping_sub(r.take(z_bits));
            }
            ntt(&mut tmp);
            mul_acc_a(rho, i, j, &tmp, &mut acc);
        }
        for x in acc.iter_mut() {
            *x = x.rem_euclid(Q);
        }
        inv_ntt_tomont(&mut acc);

        // - c * t1_i * 2^d, with c sparse, in the normal domain.
        let mut r = Bits::new(t1_poly);
        for x in tmp.iter_mut() {
            *x = r.take(10).wrapping_shl(13);
        }
        sub_sparse(&mut acc, &c, &tmp);

        // w1' = UseHint(h_i, w'_approx), packed and absorbed row by row.
        let hint_end = usize::from(hint_end);
        let row_hints = positions.get(hint_start..hint_end).unwrap_or(&[]);
        hint_start = hint_end;
        if p.w1_bits == 6 {
            pack_w1_row::<{ (Q - 1) / 88 }, 6>(&acc, row_hints, &mut w1_buf);
        } else {
            pack_w1_row::<{ (Q - 1) / 32 }, 4>(&acc, row_hints, &mut w1_buf);
        }
        hash.update(w1_buf.get(..w1_len).unwrap_or(&[]));
    }

    let mut c_check = [0u8; 64];
    let c_check = c_check
        .get_mut(..p.ctilde_bytes)
        .ok_or(Error::ChallengeMismatch)?;
    hash.finalize_xof().read(c_check);
    if c_check == c_tilde {
        Ok(())
    } else {
        Err(Error::ChallengeMismatch)
    }
}
