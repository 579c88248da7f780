//! Container framing: a plain POSIX ustar archive, written one way only.
//!
//! A package is `envelope member, payload members in manifest order, two zero
//! blocks`, nothing else. Every header is a pure function of (name, size,
//! mtime), so the verifier regenerates each header it expects and compares all
//! 512 bytes: links, device nodes, long-name extensions, PAX headers, extra,
//! missing or reordered members and any stray byte are rejected without a tar
//! parser. `tar tvf package` still lists it, and `tar xf` extracts the payloads.

use core::fmt;

/// Size of a tar block.
pub const BLOCK: usize = 512;
/// Name of the first member, which holds the envelope.
pub const ENVELOPE_MEMBER: &str = "otaseal-envelope.cbor";
/// Largest member size an 11-digit octal size field holds (8 GiB - 1).
pub const MAX_MEMBER_SIZE: u64 = 0o77_777_777_777;
/// Largest mtime an 11-digit octal field holds.
pub const MAX_MTIME: u64 = 0o77_777_777_777;
/// Largest envelope the format allows; verifiers may accept less.
pub const MAX_ENVELOPE_SIZE: u64 = 256 * 1024;
/// [`BLOCK`] for `u64` arithmetic.
const BLOCK_U64: u64 = BLOCK as u64;
/// Number of zero blocks that end the archive.
pub const END_BLOCKS: usize = 2;

/// Why a header cannot be written or read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContainerError {
    /// The member name does not fit the 100-byte name field.
    NameTooLong,
    /// The size does not fit the size field.
    SizeTooLarge,
    /// The mtime does not fit the mtime field.
    TimeTooLarge,
    /// A size field that is not 11 octal digits and a NUL.
    BadSizeField,
}

impl fmt::Display for ContainerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ContainerError::NameTooLong => "member name longer than 100 bytes",
            ContainerError::SizeTooLarge => "member larger than 8 GiB - 1",
            ContainerError::TimeTooLarge => "member time beyond the ustar range",
            ContainerError::BadSizeField => "member size field is not 11 octal digits",
        })
    }
}

/// The one header the signer writes for a member.
///
/// Fields: name; mode `0000644`; uid and gid `0000000`; size and mtime as 11
/// octal digits; checksum as 6 octal digits, NUL, space; type `0`; magic
/// `ustar\0` version `00`; every other byte zero.
pub fn member_header(name: &str, size: u64, mtime: u64) -> Result<[u8; BLOCK], ContainerError> {
    if name.len() > 100 {
        return Err(ContainerError::NameTooLong);
    }
    if size > MAX_MEMBER_SIZE {
        return Err(ContainerError::SizeTooLarge);
    }
    if mtime > MAX_MTIME {
        return Err(ContainerError::TimeTooLarge);
    }
    let mut h = [0u8; BLOCK];
    h.get_mut(..name.len())
        .ok_or(ContainerError::NameTooLong)?
        .copy_from_slice(name.as_bytes());
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], mtime);
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    // The checksum is computed with its own field read as spaces.
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    octal(&mut h[148..155], u64::from(sum));
    h[155] = b' ';
    Ok(h)
}

/// Writes `value` as zero-padded octal digits followed by a NUL, filling `field`.
fn octal(field: &mut [u8], mut value: u64) {
    let Some((last, digits)) = field.split_last_mut() else {
        return;
    };
    *last = 0;
    for d in digits.iter_mut().rev() {
        // b'0' is 0x30, its low three bits clear: `|` adds the digit.
        *d = b'0' | (value & 7) as u8;
        value >>= 3;
    }
}

/// Reads the size field of a header (11 octal digits and a NUL, as written by
/// [`member_header`]); the caller still compares the whole regenerated header.
pub fn header_size(header: &[u8; BLOCK]) -> Result<u64, ContainerError> {
    let field = &header[124..136];
    let (last, digits) = field.split_last().ok_or(ContainerError::BadSizeField)?;
    if *last != 0 {
        return Err(ContainerError::BadSizeField);
    }
    let mut value = 0u64;
    for d in digits {
        let digit = char::from(*d)
            .to_digit(8)
            .ok_or(ContainerError::BadSizeField)?;
        value = (value << 3) | u64::from(digit);
    }
    Ok(value)
}

/// Reads the mtime field, like [`header_size`].
pub fn header_mtime(header: &[u8; BLOCK]) -> Result<u64, ContainerError> {
    let mut copy = [0u8; BLOCK];
    copy[124..136].copy_from_slice(&header[136..148]);
    header_size(&copy)
}

/// Zero bytes that follow a member of `size` bytes to fill its last block.
pub const fn padding_len(size: u64) -> usize {
    let rem = (size % BLOCK_U64) as usize;
    // `rem < BLOCK`: the subtraction never saturates.
    if rem == 0 {
        0
    } else {
        BLOCK.saturating_sub(rem)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields_and_checksum() {
        let h = member_header("firmware.bin", 1234, 1_790_000_000).unwrap();
        assert_eq!(&h[..12], b"firmware.bin");
        assert_eq!(header_size(&h), Ok(1234));
        assert_eq!(header_mtime(&h), Ok(1_790_000_000));
        let mut copy = h;
        copy[148..156].copy_from_slice(b"        ");
        let sum: u32 = copy.iter().map(|b| u32::from(*b)).sum();
        let text = core::str::from_utf8(&h[148..154]).unwrap();
        assert_eq!(u32::from_str_radix(text, 8).unwrap(), sum);
        assert_eq!(h[154], 0);
        assert_eq!(h[155], b' ');
    }

    #[test]
    fn limits() {
        assert_eq!(
            member_header("a", MAX_MEMBER_SIZE + 1, 0),
            Err(ContainerError::SizeTooLarge)
        );
        let long = core::str::from_utf8(&[b'a'; 101]).unwrap();
        assert_eq!(member_header(long, 1, 0), Err(ContainerError::NameTooLong));
        assert_eq!(padding_len(0), 0);
        assert_eq!(padding_len(1), 511);
        assert_eq!(padding_len(512), 0);
    }

    #[test]
    fn bad_size_fields() {
        let mut h = member_header("x", 1, 0).unwrap();
        h[124] = b'8';
        assert_eq!(header_size(&h), Err(ContainerError::BadSizeField));
        h[124] = b'0';
        h[135] = b' ';
        assert_eq!(header_size(&h), Err(ContainerError::BadSizeField));
    }
}
