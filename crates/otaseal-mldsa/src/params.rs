//! FIPS 204 parameter sets (Table 1) and the encoded sizes derived from them.

/// The field modulus q = 2^23 - 2^13 + 1.
pub(crate) const Q: i32 = 8_380_417;
/// Coefficients per polynomial.
pub(crate) const N: usize = 256;
/// Bytes of one `t1` polynomial in the public key (256 coefficients of 10 bits).
pub(crate) const T1_POLY_BYTES: usize = 320;
/// Bytes of `rho` at the start of the public key.
pub(crate) const RHO_BYTES: usize = 32;

/// One parameter set, kept as runtime values so a single copy of the code
/// serves all three levels (smaller firmware than one monomorphised copy per
/// level; the loops are dominated by SHAKE and the NTT either way).
#[derive(Debug)]
pub(crate) struct Params {
    /// Rows of A (length of t1, w, h).
    pub k: usize,
    /// Columns of A (length of z).
    pub l: usize,
    /// Non-zero coefficients of the challenge polynomial c.
    pub tau: usize,
    /// Bytes of the commitment hash c~ (lambda / 4).
    pub ctilde_bytes: usize,
    /// log2(gamma1); z coefficients are packed in `gamma1_bits + 1` bits.
    pub gamma1_bits: u32,
    /// Maximum number of 1s in the hint.
    pub omega: usize,
    /// beta = tau * eta; valid z satisfies ||z||_inf < gamma1 - beta.
    pub beta: i32,
    /// Bits per coefficient in w1Encode: bitlen((q-1)/(2 gamma2) - 1); 6 for
    /// gamma2 = (q-1)/88, 4 for gamma2 = (q-1)/32 (the verifier keys its
    /// gamma2 off this).
    pub w1_bits: u32,
}

// The sizes below are computed from the constants of the three parameter sets
// only (checked against FIPS 204 at compile time at the end of this file), never
// from input.
#[allow(clippy::arithmetic_side_effects)]
impl Params {
    pub(crate) const fn public_key_len(&self) -> usize {
        RHO_BYTES + self.k * T1_POLY_BYTES
    }
    /// Bytes of one packed z polynomial: 32 * (1 + bitlen(gamma1 - 1)).
    pub(crate) const fn z_poly_bytes(&self) -> usize {
        32 * (self.gamma1_bits as usize + 1)
    }
    pub(crate) const fn signature_len(&self) -> usize {
        self.ctilde_bytes + self.l * self.z_poly_bytes() + self.omega + self.k
    }
    pub(crate) const fn gamma1(&self) -> i32 {
        1 << self.gamma1_bits
    }
}

pub(crate) const ML_DSA_44: Params = Params {
    k: 4,
    l: 4,
    tau: 39,
    ctilde_bytes: 32,
    gamma1_bits: 17,
    omega: 80,
    beta: 78,
    w1_bits: 6,
};

pub(crate) const ML_DSA_65: Params = Params {
    k: 6,
    l: 5,
    tau: 49,
    ctilde_bytes: 48,
    gamma1_bits: 19,
    omega: 55,
    beta: 196,
    w1_bits: 4,
};

pub(crate) const ML_DSA_87: Params = Params {
    k: 8,
    l: 7,
    tau: 60,
    ctilde_bytes: 64,
    gamma1_bits: 19,
    omega: 75,
    beta: 120,
    w1_bits: 4,
};

// The sizes FIPS 204 Table 2 states, checked at compile time.
const _: () = assert!(ML_DSA_44.public_key_len() == 1312 && ML_DSA_44.signature_len() == 2420);
const _: () = assert!(ML_DSA_65.public_key_len() == 1952 && ML_DSA_65.signature_len() == 3309);
const _: () = assert!(ML_DSA_87.public_key_len() == 2592 && ML_DSA_87.signature_len() == 4627);
