//! The envelope: the manifest and one COSE_Sign1 per signer (RFC 9052).
//!
//! ```text
//! envelope  = [1, manifest: bstr, signatures: [+ COSE_Sign1_Tagged]]
//! COSE_Sign1_Tagged = #6.18([protected: bstr, unprotected: {? 270: bstr},
//!                            payload: nil, signature: bstr])
//! protected = {1: alg, 3: CONTENT_TYPE, 4: kid, ? 33: x5chain}
//! ```
//! Each signature covers the manifest bytes as a detached payload:
//! `Sig_structure = ["Signature1", protected, h'', manifest]`. Label 270 is
//! RFC 9921's `3161-ctt`: an RFC 3161 token over the encoded signature field.

use core::fmt;

use heapless::Vec;
use minicbor::Decoder;

use crate::canonical::{self, CanonicalError};
use crate::manifest::{KEY_ID_LEN, MAX_SIGNERS};

/// Envelope format version.
pub const ENVELOPE_VERSION: u64 = 1;
/// COSE content type of the detached payload.
pub const CONTENT_TYPE: &str = "application/vnd.otaseal.manifest+cbor";
/// CBOR tag of COSE_Sign1.
pub const TAG_COSE_SIGN1: u64 = 18;
/// COSE header label: algorithm.
pub const LABEL_ALG: i64 = 1;
/// COSE header label: content type.
pub const LABEL_CONTENT_TYPE: i64 = 3;
/// COSE header label: key id.
pub const LABEL_KID: i64 = 4;
/// COSE header label: x5chain (RFC 9360).
pub const LABEL_X5CHAIN: i64 = 33;
/// COSE header label: 3161-ctt, a timestamp token over the signature (RFC 9921).
pub const LABEL_3161_CTT: i64 = 270;
/// Most certificates in one x5chain (leaf and intermediates).
pub const MAX_CHAIN: usize = 4;

/// Why an envelope was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvelopeError {
    /// Not deterministic CBOR.
    NonCanonical(CanonicalError),
    /// Structure does not follow the CDDL.
    Malformed(&'static str),
    /// Envelope version is not [`ENVELOPE_VERSION`].
    UnsupportedVersion(u64),
    /// A COSE header label the format does not define.
    UnknownHeader(i64),
    /// A text-string COSE header label (RFC 9052 allows them; the format
    /// defines none).
    UnknownTextHeader,
    /// More signatures or certificates than the format allows.
    Limit(&'static str),
}

impl EnvelopeError {
    /// Stable machine-readable code.
    pub const fn code(&self) -> &'static str {
        match self {
            EnvelopeError::NonCanonical(_) => "cbor-non-canonical",
            EnvelopeError::Malformed(_) => "envelope-malformed",
            EnvelopeError::UnsupportedVersion(_) => "envelope-version",
            EnvelopeError::UnknownHeader(_) | EnvelopeError::UnknownTextHeader => {
                "cose-unknown-header"
            }
            EnvelopeError::Limit(_) => "envelope-limit",
        }
    }
}

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvelopeError::NonCanonical(e) => write!(f, "envelope is not deterministic CBOR: {e}"),
            EnvelopeError::Malformed(what) => write!(f, "envelope is malformed: {what}"),
            EnvelopeError::UnsupportedVersion(v) => {
                write!(f, "envelope version {v} is not supported")
            }
            EnvelopeError::UnknownHeader(l) => write!(f, "COSE header label {l} is not allowed"),
            EnvelopeError::UnknownTextHeader => {
                write!(f, "text-string COSE header labels are not allowed")
            }
            EnvelopeError::Limit(what) => write!(f, "envelope exceeds a format limit: {what}"),
        }
    }
}

impl From<minicbor::decode::Error> for EnvelopeError {
    fn from(_: minicbor::decode::Error) -> Self {
        EnvelopeError::Malformed("unexpected CBOR type")
    }
}

/// One decoded COSE_Sign1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoseSign1<'a> {
    /// The protected header bytes (the bstr content), as signed.
    pub protected: &'a [u8],
    /// Algorithm id from the protected header.
    pub alg: i64,
    /// Key id (SHA-256 of the signer's SubjectPublicKeyInfo DER).
    pub kid: &'a [u8],
    /// Certificates from x5chain, leaf first; empty for raw-key signers.
    pub x5chain: Vec<&'a [u8], MAX_CHAIN>,
    /// RFC 3161 token from the unprotected `3161-ctt` header.
    pub timestamp: Option<&'a [u8]>,
    /// The signature bytes.
    pub signature: &'a [u8],
    /// The encoded signature field, bstr head included: what a `3161-ctt`
    /// token's message imprint covers (RFC 9921).
    pub signature_field: &'a [u8],
}

/// A decoded envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// The encoded manifest (decode it with [`crate::Manifest::decode`]).
    pub manifest: &'a [u8],
    /// The signatures, in envelope order.
    pub signatures: Vec<CoseSign1<'a>, MAX_SIGNERS>,
}

impl<'a> Envelope<'a> {
    /// Decodes an envelope and checks that it is deterministic CBOR.
    pub fn decode(bytes: &'a [u8]) -> Result<Envelope<'a>, EnvelopeError> {
        canonical::check(bytes).map_err(EnvelopeError::NonCanonical)?;
        let mut d = Decoder::new(bytes);
        if d.array()? != Some(3) {
            return Err(EnvelopeError::Malformed(
                "envelope is not a 3-element array",
            ));
        }
        let version = d.u64()?;
        if version != ENVELOPE_VERSION {
            return Err(EnvelopeError::UnsupportedVersion(version));
        }
        let manifest = d.bytes()?;
        let n = d
            .array()?
            .ok_or(EnvelopeError::Malformed("indefinite signature list"))?;
        if n == 0 {
            return Err(EnvelopeError::Malformed("no signatures"));
        }
        let mut signatures = Vec::new();
        for _ in 0..n {
            let sig = decode_sign1(&mut d)?;
            signatures
                .push(sig)
                .map_err(|_| EnvelopeError::Limit("more than 8 signatures"))?;
        }
        Ok(Envelope {
            manifest,
            signatures,
        })
    }
}

fn decode_sign1<'a>(d: &mut Decoder<'a>) -> Result<CoseSign1<'a>, EnvelopeError> {
    if d.tag()?.as_u64() != TAG_COSE_SIGN1 {
        return Err(EnvelopeError::Malformed(
            "signature is not a tagged COSE_Sign1",
        ));
    }
    if d.array()? != Some(4) {
        return Err(EnvelopeError::Malformed(
            "COSE_Sign1 is not a 4-element array",
        ));
    }
    let protected = d.bytes()?;
    let (alg, kid, x5chain) = decode_protected(protected)?;

    let mut timestamp = None;
    let n = d
        .map()?
        .ok_or(EnvelopeError::Malformed("indefinite unprotected header"))?;
    for _ in 0..n {
        match header_label(d)? {
            LABEL_3161_CTT => timestamp = Some(d.bytes()?),
            other => return Err(EnvelopeError::UnknownHeader(other)),
        }
    }
    // Detached payload: the manifest travels beside the signatures, once.
    d.null()
        .map_err(|_| EnvelopeError::Malformed("COSE_Sign1 payload is not detached (nil)"))?;
    let field_start = d.position();
    let signature = d.bytes()?;
    let signature_field = d
        .input()
        .get(field_start..d.position())
        .ok_or(EnvelopeError::Malformed("signature field"))?;
    Ok(CoseSign1 {
        protected,
        alg,
        kid,
        x5chain,
        timestamp,
        signature,
        signature_field,
    })
}

/// A header label: an integer; a text label (valid COSE, but none is defined
/// by the format) is an unknown header, not a malformed envelope.
fn header_label(d: &mut Decoder<'_>) -> Result<i64, EnvelopeError> {
    if d.datatype()? == minicbor::data::Type::String {
        return Err(EnvelopeError::UnknownTextHeader);
    }
    Ok(d.i64()?)
}

type Protected<'a> = (i64, &'a [u8], Vec<&'a [u8], MAX_CHAIN>);

fn decode_protected(bytes: &[u8]) -> Result<Protected<'_>, EnvelopeError> {
    canonical::check(bytes).map_err(EnvelopeError::NonCanonical)?;
    let mut d = Decoder::new(bytes);
    let n = d
        .map()?
        .ok_or(EnvelopeError::Malformed("indefinite protected header"))?;
    let (mut alg, mut ctype, mut kid) = (None, None, None);
    let mut chain = Vec::new();
    for _ in 0..n {
        match header_label(&mut d)? {
            LABEL_ALG => alg = Some(d.i64()?),
            LABEL_CONTENT_TYPE => ctype = Some(d.str()?),
            LABEL_KID => kid = Some(d.bytes()?),
            LABEL_X5CHAIN => {
                if d.datatype()? == minicbor::data::Type::Bytes {
                    push_cert(&mut chain, d.bytes()?)?;
                } else {
                    let len = d
                        .array()?
                        .ok_or(EnvelopeError::Malformed("indefinite x5chain"))?;
                    // RFC 9360: a single certificate is a bstr, not an array.
                    if len < 2 {
                        return Err(EnvelopeError::Malformed("x5chain array of fewer than 2"));
                    }
                    for _ in 0..len {
                        push_cert(&mut chain, d.bytes()?)?;
                    }
                }
            }
            other => return Err(EnvelopeError::UnknownHeader(other)),
        }
    }
    let alg = alg.ok_or(EnvelopeError::Malformed("protected header without alg"))?;
    if ctype != Some(CONTENT_TYPE) {
        return Err(EnvelopeError::Malformed("wrong or missing content type"));
    }
    let kid = kid.ok_or(EnvelopeError::Malformed("protected header without kid"))?;
    if kid.len() != KEY_ID_LEN {
        return Err(EnvelopeError::Malformed("kid is not 32 bytes"));
    }
    Ok((alg, kid, chain))
}

fn push_cert<'a>(
    chain: &mut Vec<&'a [u8], MAX_CHAIN>,
    cert: &'a [u8],
) -> Result<(), EnvelopeError> {
    if cert.is_empty() {
        return Err(EnvelopeError::Malformed("empty certificate in x5chain"));
    }
    chain
        .push(cert)
        .map_err(|_| EnvelopeError::Limit("more than 4 certificates in x5chain"))
}

/// The fixed bytes of `["Signature1", ...` up to the protected bstr head.
const SIG1_PREFIX: &[u8] = b"\x84\x6aSignature1";

/// Length of the CBOR head for a byte string of `len` bytes.
const fn bstr_head_len(len: usize) -> usize {
    match len {
        0..=23 => 1,
        24..=0xff => 2,
        0x100..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

/// Copies `bytes` to the front of `out` and returns the rest of `out`, or
/// `None` when `out` is too short.
fn put<'o>(out: &'o mut [u8], bytes: &[u8]) -> Option<&'o mut [u8]> {
    let (front, rest) = out.split_at_mut_checked(bytes.len())?;
    front.copy_from_slice(bytes);
    Some(rest)
}

/// Writes the head of a byte string of `len` bytes to the front of `out` and
/// returns the rest of `out`, or `None` when `out` is too short.
fn write_bstr_head(out: &mut [u8], len: usize) -> Option<&mut [u8]> {
    let bytes = (len as u64).to_be_bytes();
    let (initial, argument): (u8, &[u8]) = match bstr_head_len(len) {
        1 => (0x40 | len as u8, &[]),
        2 => (0x58, &bytes[7..]),
        3 => (0x59, &bytes[6..]),
        5 => (0x5a, &bytes[4..]),
        _ => (0x5b, &bytes),
    };
    let rest = put(out, &[initial])?;
    put(rest, argument)
}

/// Length of the encoded `Sig_structure` for a protected header and manifest
/// (`usize::MAX` if that does not fit a `usize`).
pub const fn sig_structure_len(protected_len: usize, manifest_len: usize) -> usize {
    SIG1_PREFIX
        .len()
        .saturating_add(1) // external_aad
        .saturating_add(bstr_head_len(protected_len))
        .saturating_add(protected_len)
        .saturating_add(bstr_head_len(manifest_len))
        .saturating_add(manifest_len)
}

/// Writes `["Signature1", protected, h'', manifest]` into `out` and returns
/// the used prefix, or `None` when `out` is too small. No allocation: a
/// device passes spare room of its envelope buffer.
pub fn write_sig_structure<'o>(
    protected: &[u8],
    manifest: &[u8],
    out: &'o mut [u8],
) -> Option<&'o [u8]> {
    let total = sig_structure_len(protected.len(), manifest.len());
    let out = out.get_mut(..total)?;
    let rest = put(out, SIG1_PREFIX)?;
    let rest = write_bstr_head(rest, protected.len())?;
    let rest = put(rest, protected)?;
    let rest = put(rest, &[0x40])?; // external_aad: empty bstr
    let rest = write_bstr_head(rest, manifest.len())?;
    put(rest, manifest)?;
    Some(out)
}

#[cfg(feature = "alloc")]
pub use encode::*;

#[cfg(feature = "alloc")]
mod encode {
    use super::*;
    use alloc::vec::Vec as AVec;
    use minicbor::Encoder;

    /// Encodes a protected header. `x5chain` is leaf first; empty for raw keys.
    pub fn encode_protected(alg: i64, kid: &[u8], x5chain: &[&[u8]]) -> AVec<u8> {
        let mut out = AVec::new();
        let mut e = Encoder::new(&mut out);
        // Writing to a Vec cannot fail; results are ignored for that reason.
        let _ = e.map(if x5chain.is_empty() { 3 } else { 4 });
        let _ = e.i64(LABEL_ALG).and_then(|e| e.i64(alg));
        let _ = e.i64(LABEL_CONTENT_TYPE).and_then(|e| e.str(CONTENT_TYPE));
        let _ = e.i64(LABEL_KID).and_then(|e| e.bytes(kid));
        match x5chain {
            [] => {}
            [one] => {
                let _ = e.i64(LABEL_X5CHAIN).and_then(|e| e.bytes(one));
            }
            many => {
                let _ = e
                    .i64(LABEL_X5CHAIN)
                    .and_then(|e| e.array(many.len() as u64));
                for c in many {
                    let _ = e.bytes(c);
                }
            }
        }
        out
    }

    /// A COSE_Sign1 to encode.
    #[derive(Clone, Debug, Default)]
    pub struct Sign1Parts {
        /// Protected header bytes from [`encode_protected`].
        pub protected: AVec<u8>,
        /// Optional RFC 3161 token for `3161-ctt`.
        pub timestamp: Option<AVec<u8>>,
        /// Signature bytes.
        pub signature: AVec<u8>,
    }

    /// The `Sig_structure` a signer signs.
    pub fn sig_structure(protected: &[u8], manifest: &[u8]) -> AVec<u8> {
        let mut out = alloc::vec![0u8; sig_structure_len(protected.len(), manifest.len())];
        // The buffer has exactly the needed length.
        let _ = write_sig_structure(protected, manifest, &mut out);
        out
    }

    /// The encoded signature field (bstr head included): the message a
    /// `3161-ctt` timestamp imprint covers.
    pub fn signature_field(signature: &[u8]) -> AVec<u8> {
        let mut out = AVec::new();
        let _ = Encoder::new(&mut out).bytes(signature);
        out
    }

    /// Encodes the envelope.
    pub fn encode_envelope(manifest: &[u8], signatures: &[Sign1Parts]) -> AVec<u8> {
        let mut out = AVec::new();
        let mut e = Encoder::new(&mut out);
        let _ = e.array(3).and_then(|e| e.u64(ENVELOPE_VERSION));
        let _ = e.bytes(manifest);
        let _ = e.array(signatures.len() as u64);
        for s in signatures {
            let _ = e.tag(minicbor::data::Tag::new(TAG_COSE_SIGN1));
            let _ = e.array(4).and_then(|e| e.bytes(&s.protected));
            match &s.timestamp {
                Some(t) => {
                    let _ = e
                        .map(1)
                        .and_then(|e| e.i64(LABEL_3161_CTT))
                        .and_then(|e| e.bytes(t));
                }
                None => {
                    let _ = e.map(0);
                }
            }
            let _ = e.null().and_then(|e| e.bytes(&s.signature));
        }
        out
    }
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn round_trip() {
        let kid = [1u8; 32];
        let leaf = [0x30u8, 0x00];
        let inter = [0x30u8, 0x01, 0x00];
        let manifest = [0xa0u8];
        let p1 = encode_protected(-9, &kid, &[&leaf, &inter]);
        let p2 = encode_protected(-48, &kid, &[]);
        let env = encode_envelope(
            &manifest,
            &[
                Sign1Parts {
                    protected: p1.clone(),
                    timestamp: Some(vec![1, 2, 3]),
                    signature: vec![9; 64],
                },
                Sign1Parts {
                    protected: p2,
                    timestamp: None,
                    signature: vec![8; 300],
                },
            ],
        );
        let e = Envelope::decode(&env).unwrap();
        assert_eq!(e.manifest, &manifest);
        assert_eq!(e.signatures.len(), 2);
        let s = &e.signatures[0];
        assert_eq!(s.alg, -9);
        assert_eq!(s.kid, &kid);
        assert_eq!(&s.x5chain[..], &[&leaf[..], &inter[..]]);
        assert_eq!(s.timestamp, Some(&[1u8, 2, 3][..]));
        assert_eq!(s.signature_field, &signature_field(&[9; 64])[..]);
        assert!(e.signatures[1].x5chain.is_empty());
        assert_eq!(e.signatures[1].signature.len(), 300);
        assert_eq!(s.protected, &p1[..]);
    }

    #[test]
    fn sig_structure_matches_generic_encoder() {
        let protected = vec![0xa1, 0x01, 0x28];
        let manifest = vec![7u8; 300];
        let mut expect = vec![];
        let mut e = minicbor::Encoder::new(&mut expect);
        e.array(4).unwrap().str("Signature1").unwrap();
        e.bytes(&protected)
            .unwrap()
            .bytes(&[])
            .unwrap()
            .bytes(&manifest)
            .unwrap();
        assert_eq!(sig_structure(&protected, &manifest), expect);
        let mut small = [0u8; 10];
        assert!(write_sig_structure(&protected, &manifest, &mut small).is_none());
    }

    #[test]
    fn rejects_unknown_headers_and_attached_payload() {
        let kid = [1u8; 32];
        let p = encode_protected(-9, &kid, &[]);
        let mut env = encode_envelope(
            &[0xa0],
            &[Sign1Parts {
                protected: p,
                timestamp: None,
                signature: vec![1],
            }],
        );
        // Replace the nil payload (0xf6) with an empty bstr (0x40).
        let pos = env.iter().rposition(|b| *b == 0xf6).unwrap();
        env[pos] = 0x40;
        assert!(matches!(
            Envelope::decode(&env),
            Err(EnvelopeError::Malformed(_))
        ));

        let mut bad = vec![];
        let mut e = minicbor::Encoder::new(&mut bad);
        e.map(4).unwrap();
        e.i64(1).unwrap().i64(-9).unwrap();
        e.i64(2).unwrap().array(0).unwrap();
        e.i64(3).unwrap().str(CONTENT_TYPE).unwrap();
        e.i64(4).unwrap().bytes(&kid).unwrap();
        let env = encode_envelope(
            &[0xa0],
            &[Sign1Parts {
                protected: bad,
                timestamp: None,
                signature: vec![1],
            }],
        );
        assert_eq!(Envelope::decode(&env), Err(EnvelopeError::UnknownHeader(2)));

        // A text label is valid COSE but not defined by the format: unknown
        // header, not a malformed envelope. Integer labels sort first.
        let mut text = vec![];
        let mut e = minicbor::Encoder::new(&mut text);
        e.map(4).unwrap();
        e.i64(1).unwrap().i64(-9).unwrap();
        e.i64(3).unwrap().str(CONTENT_TYPE).unwrap();
        e.i64(4).unwrap().bytes(&kid).unwrap();
        e.str("x").unwrap().u8(0).unwrap();
        let env = encode_envelope(
            &[0xa0],
            &[Sign1Parts {
                protected: text,
                timestamp: None,
                signature: vec![1],
            }],
        );
        let err = Envelope::decode(&env).unwrap_err();
        assert_eq!(err, EnvelopeError::UnknownTextHeader);
        assert_eq!(err.code(), "cose-unknown-header");
    }
}
