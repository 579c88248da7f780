//! Deterministic CBOR validation (RFC 8949 section 4.2.1), without allocation.
//!
//! minicbor decodes leniently (it accepts long-form integers, indefinite
//! lengths and unsorted maps), which is right for a general decoder but wrong
//! for signed data: two encodings of one manifest must not both verify, and
//! any container byte the signer would not have written must be rejected. No
//! maintained `no_std` crate validates deterministic encoding without a heap,
//! so this module walks the raw bytes once before the typed decode.
//!
//! Rules enforced: shortest-form heads for integers, lengths and tags;
//! definite lengths only; text strings are UTF-8; map keys strictly increasing
//! in bytewise order of their encodings (which also forbids duplicates);
//! nesting at most [`MAX_DEPTH`]; only `false`, `true` and `null` among the
//! simple values (the format has no floats); exactly one item, nothing after it.

use core::fmt;

/// Deepest nesting of arrays, maps and tags accepted.
pub const MAX_DEPTH: usize = 16;

/// Why an encoding is not deterministic CBOR, or not CBOR at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CanonicalError {
    /// The input ends inside an item.
    Truncated {
        /// Byte offset of the item head.
        at: usize,
    },
    /// An integer, length or tag is not in its shortest form.
    NotShortest {
        /// Byte offset of the head.
        at: usize,
    },
    /// An indefinite-length item.
    Indefinite {
        /// Byte offset of the head.
        at: usize,
    },
    /// Map keys out of order or repeated.
    MapKeyOrder {
        /// Byte offset of the offending key.
        at: usize,
    },
    /// A reserved head, a float or an unassigned simple value.
    Unsupported {
        /// Byte offset of the head.
        at: usize,
    },
    /// A text string that is not UTF-8.
    InvalidUtf8 {
        /// Byte offset of the head.
        at: usize,
    },
    /// Nesting deeper than [`MAX_DEPTH`].
    TooDeep {
        /// Byte offset of the head.
        at: usize,
    },
    /// Bytes follow the single top-level item.
    TrailingBytes {
        /// Byte offset of the first extra byte.
        at: usize,
    },
}

impl fmt::Display for CanonicalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CanonicalError::Truncated { at } => write!(f, "CBOR item at byte {at} is truncated"),
            CanonicalError::NotShortest { at } => {
                write!(f, "CBOR head at byte {at} is not in shortest form")
            }
            CanonicalError::Indefinite { at } => {
                write!(f, "CBOR item at byte {at} has an indefinite length")
            }
            CanonicalError::MapKeyOrder { at } => {
                write!(f, "CBOR map key at byte {at} is out of order or repeated")
            }
            CanonicalError::Unsupported { at } => {
                write!(
                    f,
                    "CBOR item at byte {at} is of a kind the format does not use"
                )
            }
            CanonicalError::InvalidUtf8 { at } => {
                write!(f, "CBOR text string at byte {at} is not UTF-8")
            }
            CanonicalError::TooDeep { at } => write!(f, "CBOR nesting too deep at byte {at}"),
            CanonicalError::TrailingBytes { at } => {
                write!(f, "bytes after the CBOR item, from byte {at}")
            }
        }
    }
}

/// Checks that `bytes` is exactly one deterministically encoded CBOR item.
pub fn check(bytes: &[u8]) -> Result<(), CanonicalError> {
    let end = item_end(bytes, 0, 0)?;
    if end != bytes.len() {
        return Err(CanonicalError::TrailingBytes { at: end });
    }
    Ok(())
}

/// Checks the item starting at `start` and returns the offset just past it.
pub fn item_end(bytes: &[u8], start: usize, depth: usize) -> Result<usize, CanonicalError> {
    if depth > MAX_DEPTH {
        return Err(CanonicalError::TooDeep { at: start });
    }
    let (major, value, pos) = head(bytes, start)?;
    // Cannot saturate: `depth <= MAX_DEPTH` here.
    let inner = depth.saturating_add(1);
    match major {
        0 | 1 => Ok(pos),
        2 | 3 => {
            let end = advance(bytes, start, pos, value)?;
            if major == 3 {
                let text = bytes
                    .get(pos..end)
                    .ok_or(CanonicalError::Truncated { at: start })?;
                if core::str::from_utf8(text).is_err() {
                    return Err(CanonicalError::InvalidUtf8 { at: start });
                }
            }
            Ok(end)
        }
        4 => {
            let mut pos = pos;
            for _ in 0..value {
                pos = item_end(bytes, pos, inner)?;
            }
            Ok(pos)
        }
        5 => {
            let mut pos = pos;
            let mut previous: Option<(usize, usize)> = None;
            for _ in 0..value {
                let key_start = pos;
                let key_end = item_end(bytes, key_start, inner)?;
                let key = bytes
                    .get(key_start..key_end)
                    .ok_or(CanonicalError::Truncated { at: key_start })?;
                if let Some((a, b)) = previous {
                    let prev = bytes.get(a..b).ok_or(CanonicalError::Truncated { at: a })?;
                    if key <= prev {
                        return Err(CanonicalError::MapKeyOrder { at: key_start });
                    }
                }
                previous = Some((key_start, key_end));
                pos = item_end(bytes, key_end, inner)?;
            }
            Ok(pos)
        }
        6 => item_end(bytes, pos, inner),
        // Major type 7: only false (20), true (21) and null (22) are used.
        _ => match value {
            20..=22 if pos.checked_sub(start) == Some(1) => Ok(pos),
            _ => Err(CanonicalError::Unsupported { at: start }),
        },
    }
}

/// Reads a head at `at`: returns (major type, argument, offset after the head).
/// Rejects indefinite lengths, reserved values and non-shortest arguments.
fn head(bytes: &[u8], at: usize) -> Result<(u8, u64, usize), CanonicalError> {
    let initial = *bytes.get(at).ok_or(CanonicalError::Truncated { at })?;
    // `at` indexes `bytes`, so `at + 1` does not overflow; checked all the same.
    let arg_start = at.checked_add(1).ok_or(CanonicalError::Truncated { at })?;
    let major = initial >> 5;
    let info = initial & 0x1f;
    let (len, min) = match info {
        0..=23 => return Ok((major, u64::from(info), arg_start)),
        24 => (1usize, 24u64),
        25 => (2, 0x100),
        26 => (4, 0x1_0000),
        27 => (8, 0x1_0000_0000),
        31 if major != 0 && major != 1 && major != 6 && major != 7 => {
            return Err(CanonicalError::Indefinite { at });
        }
        _ => return Err(CanonicalError::Unsupported { at }),
    };
    if major == 7 {
        // Floats and one-byte simple values are not part of the format.
        return Err(CanonicalError::Unsupported { at });
    }
    let arg_end = arg_start
        .checked_add(len)
        .ok_or(CanonicalError::Truncated { at })?;
    let arg = bytes
        .get(arg_start..arg_end)
        .ok_or(CanonicalError::Truncated { at })?;
    let value = arg.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    if value < min {
        return Err(CanonicalError::NotShortest { at });
    }
    Ok((major, value, arg_end))
}

/// Offset after `len` content bytes starting at `pos`, if they are present.
fn advance(bytes: &[u8], head_at: usize, pos: usize, len: u64) -> Result<usize, CanonicalError> {
    let len = usize::try_from(len).map_err(|_| CanonicalError::Truncated { at: head_at })?;
    let end = pos
        .checked_add(len)
        .ok_or(CanonicalError::Truncated { at: head_at })?;
    if end > bytes.len() {
        return Err(CanonicalError::Truncated { at: head_at });
    }
    Ok(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_deterministic_items() {
        for ok in [
            &[0x00][..],
            &[0x17],
            &[0x18, 0x18],
            &[0x19, 0x01, 0x00],
            &[0x20],
            &[0x38, 0x2a],
            &[0x43, 1, 2, 3],
            &[0x62, b'h', b'i'],
            &[0x82, 0x01, 0x02],
            &[0xa2, 0x01, 0x02, 0x20, 0x03],
            &[0xd2, 0x80],
            &[0xf4],
            &[0xf6],
        ] {
            assert_eq!(check(ok), Ok(()), "{ok:02x?}");
        }
    }

    #[test]
    fn rejects_non_shortest_forms() {
        assert_eq!(
            check(&[0x18, 0x17]),
            Err(CanonicalError::NotShortest { at: 0 })
        );
        assert_eq!(
            check(&[0x19, 0x00, 0xff]),
            Err(CanonicalError::NotShortest { at: 0 })
        );
        assert_eq!(
            check(&[0x58, 0x01, 0xaa]),
            Err(CanonicalError::NotShortest { at: 0 })
        );
        assert_eq!(
            check(&[0x1b, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]),
            Err(CanonicalError::NotShortest { at: 0 })
        );
    }

    #[test]
    fn rejects_indefinite_unsorted_and_duplicates() {
        assert_eq!(
            check(&[0x9f, 0xff]),
            Err(CanonicalError::Indefinite { at: 0 })
        );
        assert_eq!(
            check(&[0x5f, 0xff]),
            Err(CanonicalError::Indefinite { at: 0 })
        );
        assert_eq!(
            check(&[0xa2, 0x02, 0x00, 0x01, 0x00]),
            Err(CanonicalError::MapKeyOrder { at: 3 })
        );
        assert_eq!(
            check(&[0xa2, 0x01, 0x00, 0x01, 0x00]),
            Err(CanonicalError::MapKeyOrder { at: 3 })
        );
        // Negative keys sort after positive ones (0x20 > 0x01).
        assert_eq!(
            check(&[0xa2, 0x20, 0x00, 0x01, 0x00]),
            Err(CanonicalError::MapKeyOrder { at: 3 })
        );
    }

    #[test]
    fn rejects_truncation_floats_bad_utf8_and_trailing_bytes() {
        assert_eq!(check(&[]), Err(CanonicalError::Truncated { at: 0 }));
        assert_eq!(
            check(&[0x43, 1, 2]),
            Err(CanonicalError::Truncated { at: 0 })
        );
        assert_eq!(
            check(&[0x82, 0x01]),
            Err(CanonicalError::Truncated { at: 2 })
        );
        assert_eq!(
            check(&[0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            Err(CanonicalError::Truncated { at: 0 })
        );
        assert_eq!(
            check(&[0xf9, 0x3c, 0x00]),
            Err(CanonicalError::Unsupported { at: 0 })
        );
        assert_eq!(check(&[0xf7]), Err(CanonicalError::Unsupported { at: 0 }));
        assert_eq!(
            check(&[0x61, 0xff]),
            Err(CanonicalError::InvalidUtf8 { at: 0 })
        );
        assert_eq!(
            check(&[0x01, 0x02]),
            Err(CanonicalError::TrailingBytes { at: 1 })
        );
        assert_eq!(check(&[0x1c]), Err(CanonicalError::Unsupported { at: 0 }));
    }

    #[test]
    fn limits_depth() {
        let mut deep = [0x81u8; 40];
        deep[39] = 0x00;
        assert!(matches!(check(&deep), Err(CanonicalError::TooDeep { .. })));
        // format.md section 8: 16 nested arrays around a scalar pass (the
        // scalar sits at depth 16), 17 do not; a tag counts like an array.
        let nested = |n: usize, head: u8| {
            let mut v = [head; 18];
            v[n] = 0x00;
            v
        };
        assert_eq!(check(&nested(16, 0x81)[..17]), Ok(()));
        assert_eq!(
            check(&nested(17, 0x81)[..18]),
            Err(CanonicalError::TooDeep { at: 17 })
        );
        let mut tagged = nested(16, 0x81);
        tagged[0] = 0xc1; // tag 1 around 15 arrays
        assert_eq!(check(&tagged[..17]), Ok(()));
    }
}
