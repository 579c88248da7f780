//! RFC 3161 timestamp tokens (with RFC 5816's ESSCertIDv2), heap-free.
//! Compiled with the `timestamp` feature.
//!
//! A `TimeStampToken` is a DER CMS `ContentInfo` holding `SignedData` whose
//! encapsulated content is a `TSTInfo`. [`verify_token`] checks, in order:
//!
//! 1. structure: contentType id-signedData, SignedData version 3,
//!    eContentType id-ct-TSTInfo, exactly one `SignerInfo` (version 1 with
//!    `issuerAndSerialNumber`, 3 with `subjectKeyIdentifier`), TSTInfo
//!    version 1, genTime, a serial number of at most 160 bits, no critical
//!    TSTInfo extension;
//! 2. the SignerInfo's digestAlgorithm (SHA-256/384/512 or SM3; SHA-1 is
//!    refused) is listed in SignedData.digestAlgorithms;
//! 3. signed attributes: content-type is id-ct-TSTInfo and message-digest is
//!    the digest of the eContent octets (each present exactly once);
//! 4. the TSA certificate is found in SignedData.certificates by the
//!    SignerInfo's `sid`;
//! 5. SigningCertificate (ESSCertID, SHA-1) and/or SigningCertificateV2
//!    (ESSCertIDv2, SHA-256 unless it names another hash): the first certHash
//!    (and issuerSerial, when present) identifies that certificate; at least
//!    one of the two attributes is required;
//! 6. the TSA certificate's extended key usage is exactly id-kp-timeStamping
//!    and critical;
//! 7. the TSA chain (the other SignedData certificates are the candidate
//!    intermediates) reaches one of the given roots *at genTime*, so genTime
//!    must also lie inside every certificate's validity;
//! 8. only then, with the TSA certificate trusted, the signature over the
//!    DER of the signed attributes re-tagged as SET, with the
//!    [`crate::chain`] algorithm objects (ECDSA P-256/P-384, Ed25519,
//!    SM2-with-SM3 with the default distinguishing id, ML-DSA, and with the
//!    `rsa-pss` feature RSA PKCS#1 v1.5 and PSS): a token cannot make the
//!    device run an algorithm or key size that its TSA roots did not choose;
//! 9. `tsa`, when it is a directoryName, is byte-for-byte the TSA
//!    certificate's subject (other GeneralName forms are not checked);
//! 10. the message imprint algorithm is the caller's, the hashed message is
//!     the caller's message's digest, and the policy is acceptable.
//!
//! Everything borrows from the token. The only buffers are a copy of the
//! signed attributes on the stack ([`MAX_SIGNED_ATTRS_LEN`]) and the list of
//! candidate intermediates ([`MAX_CERTIFICATES`]).

#![cfg(feature = "timestamp")]

use der::Tag;
use der::{TagNumber, Tagged};
use otaseal_manifest::DigestAlg;
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime, alg_id};

use crate::cert::{self, CertInfo, DerCursor, OID_KP_TIME_STAMPING, sole_sequence};
use crate::chain;
#[cfg(test)]
use crate::chain::ChainError;

/// The longest `signedAttrs` accepted (it is copied to the stack to be
/// re-tagged as a SET before its signature is checked). OpenSSL's are about
/// 170 bytes; a SigningCertificateV2 listing a whole chain stays far below.
pub const MAX_SIGNED_ATTRS_LEN: usize = 2048;
/// The most certificates `SignedData.certificates` may hold.
pub const MAX_CERTIFICATES: usize = 8;

// OID content bytes (checked against `const-oid` in the tests).
/// id-signedData 1.2.840.113549.1.7.2
const OID_SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
/// id-ct-TSTInfo 1.2.840.113549.1.9.16.1.4
const OID_CT_TST_INFO: &[u8] = &[
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x01, 0x04,
];
/// id-contentType 1.2.840.113549.1.9.3
const OID_CONTENT_TYPE: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x03];
/// id-messageDigest 1.2.840.113549.1.9.4
const OID_MESSAGE_DIGEST: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04];
/// id-aa-signingCertificate 1.2.840.113549.1.9.16.2.12
const OID_SIGNING_CERTIFICATE: &[u8] = &[
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x02, 0x0c,
];
/// id-aa-signingCertificateV2 1.2.840.113549.1.9.16.2.47
const OID_SIGNING_CERTIFICATE_V2: &[u8] = &[
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x02, 0x2f,
];
/// id-sha1 1.3.14.3.2.26
const OID_SHA1: &[u8] = &[0x2b, 0x0e, 0x03, 0x02, 0x1a];
/// id-sha256 2.16.840.1.101.3.4.2.1
const OID_SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
/// id-sha384 2.16.840.1.101.3.4.2.2
const OID_SHA384: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];
/// id-sha512 2.16.840.1.101.3.4.2.3
const OID_SHA512: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03];
/// SM3 1.2.156.10197.1.401
const OID_SM3: &[u8] = &[0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x83, 0x11];
/// rsaEncryption 1.2.840.113549.1.1.1 (CMS's usual RSA PKCS#1 v1.5 signatureAlgorithm)
const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// sha256WithRSAEncryption 1.2.840.113549.1.1.11
const OID_SHA256_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
/// sha384WithRSAEncryption 1.2.840.113549.1.1.12
const OID_SHA384_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c];
/// sha512WithRSAEncryption 1.2.840.113549.1.1.13
const OID_SHA512_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d];
/// ecdsa-with-SHA256 1.2.840.10045.4.3.2
const OID_ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
/// ecdsa-with-SHA384 1.2.840.10045.4.3.3
const OID_ECDSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
/// ecdsa-with-SHA512 1.2.840.10045.4.3.4
const OID_ECDSA_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04];

/// What a timestamp token says, borrowed from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimestampInfo<'a> {
    /// genTime in seconds since the Unix epoch (fractions truncated).
    pub gen_time: u64,
    /// The accuracy in milliseconds (seconds, millis and micros added up,
    /// micros rounded up), when the TSA states one.
    pub accuracy_millis: Option<u64>,
    /// The TSA policy OID's content bytes.
    pub policy: &'a [u8],
    /// The serial number INTEGER's content bytes, exactly as encoded.
    pub serial: &'a [u8],
    /// The nonce INTEGER's content bytes, when the request carried one.
    pub nonce: Option<&'a [u8]>,
    /// The message imprint's hash algorithm.
    pub imprint_alg: DigestAlg,
    /// The message imprint's hashed message.
    pub imprint: &'a [u8],
    /// DER of the TSA certificate that signed (empty when [`parse_token`]
    /// does not find it in the token).
    pub tsa_cert: &'a [u8],
    /// The TSA certificate's subject `Name` DER (empty with `tsa_cert`).
    pub tsa_subject: &'a [u8],
}

pub use crate::error::TimestampError;

/// Every der error is a malformed token.
fn malformed<E>(_: E) -> TimestampError {
    TimestampError::Malformed
}

/// The context-specific tag `[n]`.
const fn context(number: u32, constructed: bool) -> Tag {
    Tag::ContextSpecific {
        constructed,
        number: TagNumber(number),
    }
}

/// A hash algorithm named by an `AlgorithmIdentifier`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HashId {
    /// SHA-1: certificate identification (ESSCertID) only.
    Sha1,
    /// An otaseal digest family.
    Family(DigestAlg),
}

/// The hash algorithm of `AlgorithmIdentifier` contents; parameters must be
/// absent or NULL (RFC 5754 lets both appear).
fn hash_id(alg_id: &[u8]) -> Option<HashId> {
    let (oid, params) = cert::parse_alg_id(alg_id).ok()?;
    if params.is_some_and(|p| !p.is_null()) {
        return None;
    }
    Some(if oid == OID_SHA256 {
        HashId::Family(DigestAlg::Sha256)
    } else if oid == OID_SHA384 {
        HashId::Family(DigestAlg::Sha384)
    } else if oid == OID_SHA512 {
        HashId::Family(DigestAlg::Sha512)
    } else if oid == OID_SM3 {
        HashId::Family(DigestAlg::Sm3)
    } else if oid == OID_SHA1 {
        HashId::Sha1
    } else {
        return None;
    })
}

/// Whether `data` hashes to `expected` under `hash`.
fn digest_matches(hash: HashId, data: &[u8], expected: &[u8]) -> bool {
    match hash {
        HashId::Family(alg) => {
            crate::digest::try_hash(alg, data).is_some_and(|d| d.as_bytes() == expected)
        }
        HashId::Sha1 => {
            use sha1::Digest as _;
            sha1::Sha1::digest(data).as_slice() == expected
        }
    }
}

/// OBJECT IDENTIFIER contents: non-empty, every subidentifier minimal and
/// terminated.
fn valid_oid(oid: &[u8]) -> bool {
    let mut at_start = true;
    for &b in oid {
        if at_start && b == 0x80 {
            return false;
        }
        at_start = b & 0x80 == 0;
    }
    !oid.is_empty() && at_start
}

/// INTEGER contents: non-empty and minimal.
fn valid_integer(int: &[u8]) -> bool {
    match int {
        [] => false,
        [0x00, next, ..] => next & 0x80 != 0,
        [0xff, next, ..] => next & 0x80 == 0,
        _ => true,
    }
}

/// A small positive INTEGER's value (accuracy millis and micros: 1..=999).
fn small_uint(int: &[u8]) -> Option<u64> {
    if !valid_integer(int) || int.len() > 2 {
        return None;
    }
    let mut v: u64 = 0;
    for &b in int {
        v = (v << 8) | u64::from(b);
    }
    // A two-byte encoding with the top bit set is negative.
    if int.first().is_some_and(|b| b & 0x80 != 0) {
        return None;
    }
    Some(v)
}

/// Parses a GeneralizedTime `YYYYMMDDhhmmss[.f*]Z` (the DER form RFC 3161
/// requires: UTC, no trailing zeros in the fraction) to Unix seconds,
/// truncating the fraction. Years before 1970 are refused.
fn parse_gen_time(bytes: &[u8]) -> Option<u64> {
    let (main, rest) = bytes.split_at_checked(14)?;
    let mut fields = [0u64; 6];
    let widths = [4usize, 2, 2, 2, 2, 2];
    let mut digits = main.iter();
    for (field, width) in fields.iter_mut().zip(widths) {
        for _ in 0..width {
            let d = char::from(*digits.next()?).to_digit(10)?;
            *field = field.checked_mul(10)?.checked_add(u64::from(d))?;
        }
    }
    match rest {
        [b'Z'] => {}
        [b'.', fraction @ .., b'Z'] => {
            if fraction.is_empty()
                || !fraction.iter().all(u8::is_ascii_digit)
                || fraction.last() == Some(&b'0')
            {
                return None;
            }
        }
        _ => return None,
    }
    let [year, month, day, hour, minute, second] = fields;
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if year < 1970 || day == 0 || day > month_days || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    // Days from 1970-01-01 to year-month-day (H. Hinnant's days_from_civil;
    // year <= 9999, so nothing here can overflow: checked all the same).
    let (y, m) = if month <= 2 {
        (year.checked_sub(1)?, month.checked_add(9)?)
    } else {
        (year, month.checked_sub(3)?)
    };
    let era = y / 400;
    let yoe = y % 400;
    let doy = (m.checked_mul(153)?.checked_add(2)? / 5)
        .checked_add(day)?
        .checked_sub(1)?;
    let doe = yoe
        .checked_mul(365)?
        .checked_add(yoe / 4)?
        .checked_sub(yoe / 100)?
        .checked_add(doy)?;
    let days = era
        .checked_mul(146_097)?
        .checked_add(doe)?
        .checked_sub(719_468)?;
    days.checked_mul(86_400)?
        .checked_add(hour.checked_mul(3_600)?)?
        .checked_add(minute.checked_mul(60)?)?
        .checked_add(second)
}

/// `Accuracy ::= SEQUENCE { seconds INTEGER OPTIONAL, millis [0] INTEGER
/// (1..999) OPTIONAL, micros [1] INTEGER (1..999) OPTIONAL }` in milliseconds,
/// micros rounded up.
fn parse_accuracy(contents: &[u8]) -> Result<u64, TimestampError> {
    let mut acc = DerCursor::new(contents).map_err(malformed)?;
    let seconds: u64 = if acc.peek_tag() == Some(Tag::Integer) {
        acc.decode().map_err(malformed)?
    } else {
        0
    };
    let mut sub = |n: u32| -> Result<u64, TimestampError> {
        if acc.peek_tag() != Some(context(n, false)) {
            return Ok(0);
        }
        let v = acc.expect(context(n, false)).map_err(malformed)?;
        small_uint(v)
            .filter(|v| (1..=999).contains(v))
            .ok_or(TimestampError::Malformed)
    };
    let millis = sub(0)?;
    let micros = sub(1)?;
    acc.finish().map_err(malformed)?;
    seconds
        .checked_mul(1000)
        .and_then(|s| s.checked_add(millis))
        .and_then(|s| s.checked_add(u64::from(micros > 0)))
        .ok_or(TimestampError::Malformed)
}

/// The `tsa` field's GeneralName.
#[derive(Clone, Copy, Debug)]
enum TsaName<'a> {
    /// directoryName: the `Name` DER.
    Directory(&'a [u8]),
    /// Any other GeneralName form (not checked).
    Other,
}

/// The parsed TSTInfo.
#[derive(Clone, Copy, Debug)]
struct TstInfo<'a> {
    policy: &'a [u8],
    imprint_alg: DigestAlg,
    imprint: &'a [u8],
    serial: &'a [u8],
    gen_time: u64,
    accuracy_millis: Option<u64>,
    nonce: Option<&'a [u8]>,
    tsa: Option<TsaName<'a>>,
}

fn parse_tst_info(der: &[u8]) -> Result<TstInfo<'_>, TimestampError> {
    let mut tst = sole_sequence(der).map_err(malformed)?;
    let version: u8 = tst.decode().map_err(malformed)?;
    if version != 1 {
        return Err(TimestampError::UnsupportedVersion);
    }
    let policy = tst.expect(Tag::ObjectIdentifier).map_err(malformed)?;
    if !valid_oid(policy) {
        return Err(TimestampError::Malformed);
    }

    let mut imprint =
        DerCursor::new(tst.expect(Tag::Sequence).map_err(malformed)?).map_err(malformed)?;
    let hash_alg = imprint.expect(Tag::Sequence).map_err(malformed)?;
    let hashed = imprint.expect(Tag::OctetString).map_err(malformed)?;
    imprint.finish().map_err(malformed)?;
    let imprint_alg = match hash_id(hash_alg) {
        Some(HashId::Family(alg)) => alg,
        _ => return Err(TimestampError::ImprintAlgorithm),
    };
    if hashed.len() != imprint_alg.len() {
        return Err(TimestampError::Malformed);
    }

    // serialNumber: positive, at most 160 bits (RFC 3161 2.4.2).
    let serial = tst.expect(Tag::Integer).map_err(malformed)?;
    let magnitude = serial.strip_prefix(&[0]).unwrap_or(serial);
    if !valid_integer(serial)
        || serial.first().is_some_and(|b| b & 0x80 != 0)
        || magnitude.len() > 20
    {
        return Err(TimestampError::Malformed);
    }

    let gen_time = parse_gen_time(tst.expect(Tag::GeneralizedTime).map_err(malformed)?)
        .ok_or(TimestampError::Malformed)?;

    let accuracy_millis = if tst.peek_tag() == Some(Tag::Sequence) {
        Some(parse_accuracy(
            tst.expect(Tag::Sequence).map_err(malformed)?,
        )?)
    } else {
        None
    };
    if tst.peek_tag() == Some(Tag::Boolean) {
        let _ordering: bool = tst.decode().map_err(malformed)?;
    }
    let nonce = if tst.peek_tag() == Some(Tag::Integer) {
        let nonce = tst.expect(Tag::Integer).map_err(malformed)?;
        if !valid_integer(nonce) {
            return Err(TimestampError::Malformed);
        }
        Some(nonce)
    } else {
        None
    };
    // tsa [0] GeneralName: explicit, GeneralName being a CHOICE.
    let tsa = if tst.peek_tag() == Some(context(0, true)) {
        let mut wrapper =
            DerCursor::new(tst.expect(context(0, true)).map_err(malformed)?).map_err(malformed)?;
        let name = wrapper.any().map_err(malformed)?;
        wrapper.finish().map_err(malformed)?;
        Some(if name.tag() == context(4, true) {
            // directoryName [4] Name: explicit too (Name is a CHOICE).
            let mut dn = DerCursor::new(name.value()).map_err(malformed)?;
            let name = dn.expect_tlv(Tag::Sequence).map_err(malformed)?;
            dn.finish().map_err(malformed)?;
            TsaName::Directory(name)
        } else {
            TsaName::Other
        })
    } else {
        None
    };
    // extensions [1] IMPLICIT Extensions: none is defined, so a critical
    // one cannot be understood.
    if tst.peek_tag() == Some(context(1, true)) {
        let mut exts =
            DerCursor::new(tst.expect(context(1, true)).map_err(malformed)?).map_err(malformed)?;
        if exts.is_empty() {
            return Err(TimestampError::Malformed);
        }
        while !exts.is_empty() {
            let mut ext = DerCursor::new(exts.expect(Tag::Sequence).map_err(malformed)?)
                .map_err(malformed)?;
            ext.expect(Tag::ObjectIdentifier).map_err(malformed)?;
            let critical = if ext.peek_tag() == Some(Tag::Boolean) {
                ext.decode::<bool>().map_err(malformed)?
            } else {
                false
            };
            ext.expect(Tag::OctetString).map_err(malformed)?;
            ext.finish().map_err(malformed)?;
            if critical {
                return Err(TimestampError::CriticalExtension);
            }
        }
    }
    tst.finish().map_err(malformed)?;
    Ok(TstInfo {
        policy,
        imprint_alg,
        imprint: hashed,
        serial,
        gen_time,
        accuracy_millis,
        nonce,
        tsa,
    })
}

/// How a SignerInfo names its certificate.
#[derive(Clone, Copy, Debug)]
enum SignerId<'a> {
    /// IssuerAndSerialNumber: issuer `Name` DER and serial INTEGER contents.
    IssuerSerial { issuer: &'a [u8], serial: &'a [u8] },
    /// subjectKeyIdentifier.
    KeyId(&'a [u8]),
}

/// The parts of the one SignerInfo.
#[derive(Clone, Copy, Debug)]
struct Signer<'a> {
    sid: SignerId<'a>,
    /// digestAlgorithm contents.
    digest_alg: &'a [u8],
    /// signedAttrs, the whole `[0]` TLV.
    signed_attrs: &'a [u8],
    /// signatureAlgorithm contents.
    signature_alg: &'a [u8],
    signature: &'a [u8],
}

fn parse_signer_info(contents: &[u8]) -> Result<Signer<'_>, TimestampError> {
    let mut si = DerCursor::new(contents).map_err(malformed)?;
    let version: u8 = si.decode().map_err(malformed)?;
    let sid = match si.peek_tag() {
        Some(Tag::Sequence) => {
            let mut ias =
                DerCursor::new(si.expect(Tag::Sequence).map_err(malformed)?).map_err(malformed)?;
            let issuer = ias.expect_tlv(Tag::Sequence).map_err(malformed)?;
            let serial = ias.expect(Tag::Integer).map_err(malformed)?;
            ias.finish().map_err(malformed)?;
            if version != 1 {
                return Err(TimestampError::UnsupportedVersion);
            }
            SignerId::IssuerSerial { issuer, serial }
        }
        Some(t) if t == context(0, false) => {
            let key_id = si.expect(context(0, false)).map_err(malformed)?;
            if version != 3 {
                return Err(TimestampError::UnsupportedVersion);
            }
            SignerId::KeyId(key_id)
        }
        _ => return Err(TimestampError::Malformed),
    };
    let digest_alg = si.expect(Tag::Sequence).map_err(malformed)?;
    if si.peek_tag() != Some(context(0, true)) {
        return Err(TimestampError::SignedAttributes);
    }
    let signed_attrs = si.expect_tlv(context(0, true)).map_err(malformed)?;
    let signature_alg = si.expect(Tag::Sequence).map_err(malformed)?;
    let signature = si.expect(Tag::OctetString).map_err(malformed)?;
    if si.peek_tag() == Some(context(1, true)) {
        // unsignedAttrs: not covered by the signature, not used.
        si.any().map_err(malformed)?;
    }
    si.finish().map_err(malformed)?;
    Ok(Signer {
        sid,
        digest_alg,
        signed_attrs,
        signature_alg,
        signature,
    })
}

/// A structurally checked token.
#[derive(Clone, Copy, Debug)]
struct Token<'a> {
    /// SignedData.digestAlgorithms contents.
    digest_algs: &'a [u8],
    /// The eContent octets: the TSTInfo DER.
    econtent: &'a [u8],
    /// SignedData.certificates contents (empty when absent).
    certs: &'a [u8],
    signer: Signer<'a>,
    tst: TstInfo<'a>,
}

fn parse(token: &[u8]) -> Result<Token<'_>, TimestampError> {
    let mut ci = sole_sequence(token).map_err(malformed)?;
    if ci.expect(Tag::ObjectIdentifier).map_err(malformed)? != OID_SIGNED_DATA {
        return Err(TimestampError::ContentType);
    }
    let mut content =
        DerCursor::new(ci.expect(context(0, true)).map_err(malformed)?).map_err(malformed)?;
    ci.finish().map_err(malformed)?;
    let mut sd =
        DerCursor::new(content.expect(Tag::Sequence).map_err(malformed)?).map_err(malformed)?;
    content.finish().map_err(malformed)?;

    // RFC 5652 5.1: version 3 whenever eContentType is not id-data.
    let version: u8 = sd.decode().map_err(malformed)?;
    if version != 3 {
        return Err(TimestampError::UnsupportedVersion);
    }
    let digest_algs = sd.expect(Tag::Set).map_err(malformed)?;

    let mut eci =
        DerCursor::new(sd.expect(Tag::Sequence).map_err(malformed)?).map_err(malformed)?;
    if eci.expect(Tag::ObjectIdentifier).map_err(malformed)? != OID_CT_TST_INFO {
        return Err(TimestampError::ContentType);
    }
    let mut wrapper =
        DerCursor::new(eci.expect(context(0, true)).map_err(malformed)?).map_err(malformed)?;
    let econtent = wrapper.expect(Tag::OctetString).map_err(malformed)?;
    wrapper.finish().map_err(malformed)?;
    eci.finish().map_err(malformed)?;

    let certs = if sd.peek_tag() == Some(context(0, true)) {
        sd.expect(context(0, true)).map_err(malformed)?
    } else {
        &[]
    };
    if sd.peek_tag() == Some(context(1, true)) {
        sd.any().map_err(malformed)?; // crls
    }
    let mut signer_infos =
        DerCursor::new(sd.expect(Tag::Set).map_err(malformed)?).map_err(malformed)?;
    sd.finish().map_err(malformed)?;
    if signer_infos.is_empty() {
        return Err(TimestampError::SignerCount);
    }
    let signer_info = signer_infos.expect(Tag::Sequence).map_err(malformed)?;
    if !signer_infos.is_empty() {
        return Err(TimestampError::SignerCount);
    }
    let signer = parse_signer_info(signer_info)?;
    let tst = parse_tst_info(econtent)?;

    // Every certificate choice must at least be a TLV, and there are few.
    let mut bag = DerCursor::new(certs).map_err(malformed)?;
    let mut count = 0usize;
    while !bag.is_empty() {
        bag.any().map_err(malformed)?;
        count = count.saturating_add(1);
    }
    if count > MAX_CERTIFICATES {
        return Err(TimestampError::Malformed);
    }
    Ok(Token {
        digest_algs,
        econtent,
        certs,
        signer,
        tst,
    })
}

/// The certificates (`SEQUENCE` choices) in SignedData.certificates.
fn certificates(certs: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut bag = DerCursor::new(certs).ok();
    core::iter::from_fn(move || {
        loop {
            let cursor = bag.as_mut()?;
            if cursor.is_empty() {
                return None;
            }
            if cursor.peek_tag() == Some(Tag::Sequence) {
                if let Ok(cert) = cursor.expect_tlv(Tag::Sequence) {
                    return Some(cert);
                }
            } else if cursor.any().is_ok() {
                // Attribute certificates and other choices: not X.509.
                continue;
            }
            bag = None;
        }
    })
}

/// The certificate the SignerInfo names, and what it says.
fn find_signer_cert<'a>(certs: &'a [u8], sid: &SignerId<'_>) -> Option<(&'a [u8], CertInfo<'a>)> {
    certificates(certs).find_map(|der| {
        let info = cert::parse_certificate(der).ok()?;
        let hit = match sid {
            SignerId::IssuerSerial { issuer, serial } => {
                info.issuer == *issuer && info.serial == *serial
            }
            SignerId::KeyId(key_id) => {
                cert::subject_key_identifier(der).ok().flatten() == Some(*key_id)
            }
        };
        hit.then_some((der, info))
    })
}

/// The signed attributes otaseal reads.
#[derive(Clone, Copy, Debug, Default)]
struct SignedAttrs<'a> {
    content_type: Option<&'a [u8]>,
    message_digest: Option<&'a [u8]>,
    signing_cert: Option<&'a [u8]>,
    signing_cert_v2: Option<&'a [u8]>,
}

fn parse_signed_attrs(tlv: &[u8]) -> Result<SignedAttrs<'_>, TimestampError> {
    let mut outer = DerCursor::new(tlv).map_err(malformed)?;
    let mut attrs =
        DerCursor::new(outer.expect(context(0, true)).map_err(malformed)?).map_err(malformed)?;
    outer.finish().map_err(malformed)?;
    let mut out = SignedAttrs::default();
    while !attrs.is_empty() {
        let mut attr =
            DerCursor::new(attrs.expect(Tag::Sequence).map_err(malformed)?).map_err(malformed)?;
        let oid = attr.expect(Tag::ObjectIdentifier).map_err(malformed)?;
        let values = attr.expect(Tag::Set).map_err(malformed)?;
        attr.finish().map_err(malformed)?;
        let (slot, tag, whole) = if oid == OID_CONTENT_TYPE {
            (&mut out.content_type, Tag::ObjectIdentifier, false)
        } else if oid == OID_MESSAGE_DIGEST {
            (&mut out.message_digest, Tag::OctetString, false)
        } else if oid == OID_SIGNING_CERTIFICATE {
            (&mut out.signing_cert, Tag::Sequence, true)
        } else if oid == OID_SIGNING_CERTIFICATE_V2 {
            (&mut out.signing_cert_v2, Tag::Sequence, true)
        } else {
            continue;
        };
        // RFC 5652 11.1/11.2 and RFC 5035: one attribute, one value.
        if slot.is_some() {
            return Err(TimestampError::SignedAttributes);
        }
        let mut values = DerCursor::new(values).map_err(malformed)?;
        let value = if whole {
            values.expect_tlv(tag)
        } else {
            values.expect(tag)
        }
        .map_err(|_| TimestampError::SignedAttributes)?;
        if !values.is_empty() {
            return Err(TimestampError::SignedAttributes);
        }
        *slot = Some(value);
    }
    Ok(out)
}

/// Checks a SigningCertificate (`v2` false: ESSCertID, SHA-1) or
/// SigningCertificateV2 attribute value against the TSA certificate: the
/// first certHash, and its issuerSerial when present.
fn check_ess(
    value: &[u8],
    v2: bool,
    cert_der: &[u8],
    info: &CertInfo<'_>,
) -> Result<(), TimestampError> {
    use TimestampError::SigningCertificate as Mismatch;
    let mut sc = sole_sequence(value).map_err(malformed)?;
    let mut ids =
        DerCursor::new(sc.expect(Tag::Sequence).map_err(malformed)?).map_err(malformed)?;
    if !sc.is_empty() {
        sc.expect(Tag::Sequence).map_err(malformed)?; // policies
    }
    sc.finish().map_err(malformed)?;
    if ids.is_empty() {
        return Err(Mismatch);
    }
    let mut first =
        DerCursor::new(ids.expect(Tag::Sequence).map_err(malformed)?).map_err(malformed)?;
    while !ids.is_empty() {
        ids.expect(Tag::Sequence).map_err(malformed)?;
    }
    let hash = if !v2 {
        HashId::Sha1
    } else if first.peek_tag() == Some(Tag::Sequence) {
        // ESSCertIDv2 exists to leave SHA-1 behind (RFC 5035): refuse it there.
        match hash_id(first.expect(Tag::Sequence).map_err(malformed)?) {
            Some(HashId::Sha1) | None => return Err(TimestampError::UnsupportedAlgorithm),
            Some(id) => id,
        }
    } else {
        HashId::Family(DigestAlg::Sha256)
    };
    let cert_hash = first.expect(Tag::OctetString).map_err(malformed)?;
    let issuer_serial = if first.is_empty() {
        None
    } else {
        Some(first.expect(Tag::Sequence).map_err(malformed)?)
    };
    first.finish().map_err(malformed)?;
    if !digest_matches(hash, cert_der, cert_hash) {
        return Err(Mismatch);
    }
    if let Some(issuer_serial) = issuer_serial {
        // IssuerSerial ::= SEQUENCE { issuer GeneralNames, serialNumber }
        let mut is = DerCursor::new(issuer_serial).map_err(malformed)?;
        let mut names =
            DerCursor::new(is.expect(Tag::Sequence).map_err(malformed)?).map_err(malformed)?;
        let serial = is.expect(Tag::Integer).map_err(malformed)?;
        is.finish().map_err(malformed)?;
        let mut issuer_found = false;
        while !names.is_empty() {
            let name = names.any().map_err(malformed)?;
            if name.tag() == context(4, true) {
                let mut dn = DerCursor::new(name.value()).map_err(malformed)?;
                let dn_der = dn.expect_tlv(Tag::Sequence).map_err(malformed)?;
                dn.finish().map_err(malformed)?;
                issuer_found |= dn_der == info.issuer;
            }
        }
        if !issuer_found || serial != info.serial {
            return Err(Mismatch);
        }
    }
    Ok(())
}

/// The hash a signature algorithm fixes (CMS wants digestAlgorithm to be it).
fn signature_hash(sig_alg: &[u8]) -> Option<DigestAlg> {
    if sig_alg == alg_id::RSA_PSS_SHA256.as_ref() {
        return Some(DigestAlg::Sha256);
    }
    if sig_alg == alg_id::RSA_PSS_SHA384.as_ref() {
        return Some(DigestAlg::Sha384);
    }
    if sig_alg == alg_id::RSA_PSS_SHA512.as_ref() {
        return Some(DigestAlg::Sha512);
    }
    let (oid, _) = cert::parse_alg_id(sig_alg).ok()?;
    if oid == OID_ECDSA_SHA256 || oid == OID_SHA256_WITH_RSA {
        Some(DigestAlg::Sha256)
    } else if oid == OID_ECDSA_SHA384 || oid == OID_SHA384_WITH_RSA {
        Some(DigestAlg::Sha384)
    } else if oid == OID_ECDSA_SHA512 || oid == OID_SHA512_WITH_RSA {
        Some(DigestAlg::Sha512)
    } else {
        None
    }
}

/// Verifies the SignerInfo signature over the signed attributes (re-tagged
/// as `SET OF`, RFC 5652 5.4) with the [`crate::chain`] algorithm that
/// matches the TSA key and the signature algorithm.
///
/// CMS commonly names RSA PKCS#1 v1.5 by `rsaEncryption`, leaving the hash to
/// digestAlgorithm: that is mapped to `sha*WithRSAEncryption`.
#[inline(never)]
fn verify_signer_signature(
    spki_der: &[u8],
    digest: DigestAlg,
    signer: &Signer<'_>,
) -> Result<(), TimestampError> {
    let spki = cert::parse_spki(spki_der).map_err(malformed)?;
    let (oid, params) = cert::parse_alg_id(signer.signature_alg).map_err(malformed)?;
    let rsa_alg;
    let sig_alg: &[u8] = if oid == OID_RSA_ENCRYPTION {
        if params.is_some_and(|p| !p.is_null()) {
            return Err(TimestampError::UnsupportedAlgorithm);
        }
        rsa_alg = match digest {
            DigestAlg::Sha256 => alg_id::RSA_PKCS1_SHA256,
            DigestAlg::Sha384 => alg_id::RSA_PKCS1_SHA384,
            DigestAlg::Sha512 => alg_id::RSA_PKCS1_SHA512,
            DigestAlg::Sm3 => return Err(TimestampError::UnsupportedAlgorithm),
        };
        rsa_alg.as_ref()
    } else {
        signer.signature_alg
    };
    if signature_hash(sig_alg).is_some_and(|h| h != digest) {
        return Err(TimestampError::UnsupportedAlgorithm);
    }
    let algorithm = chain::ALL_CHAIN_ALGORITHMS
        .iter()
        .find(|a| {
            a.signature_alg_id().as_ref() == sig_alg
                && a.public_key_alg_id().as_ref() == spki.alg_id
        })
        .ok_or(TimestampError::UnsupportedAlgorithm)?;

    let mut buf = [0u8; MAX_SIGNED_ATTRS_LEN];
    let message = buf
        .get_mut(..signer.signed_attrs.len())
        .ok_or(TimestampError::SignedAttributes)?;
    message.copy_from_slice(signer.signed_attrs);
    match message.first_mut() {
        Some(tag) if *tag == 0xa0 => *tag = 0x31,
        _ => return Err(TimestampError::Malformed),
    }
    algorithm
        .verify_signature(spki.key, message, signer.signature)
        .map_err(|_| TimestampError::Signature)
}

impl<'a> Token<'a> {
    fn info(&self, tsa_cert: &'a [u8], tsa_subject: &'a [u8]) -> TimestampInfo<'a> {
        TimestampInfo {
            gen_time: self.tst.gen_time,
            accuracy_millis: self.tst.accuracy_millis,
            policy: self.tst.policy,
            serial: self.tst.serial,
            nonce: self.tst.nonce,
            imprint_alg: self.tst.imprint_alg,
            imprint: self.tst.imprint,
            tsa_cert,
            tsa_subject,
        }
    }
}

/// Parses a TimeStampToken without verifying it (for display): the CMS and
/// TSTInfo structure only. The signed attributes and the certificates are
/// read by [`verify_token`] alone, so a token this accepts may still be
/// `Malformed` there (fuzz regression `timestamp-signed-attr-set-tag`). `tsa_cert` and `tsa_subject` are empty when the token does
/// not include the certificate its SignerInfo names.
pub fn parse_token(token: &[u8]) -> Result<TimestampInfo<'_>, TimestampError> {
    let t = parse(token)?;
    let (cert, subject) = find_signer_cert(t.certs, &t.signer.sid)
        .map(|(der, info)| (der, info.subject))
        .unwrap_or((&[], &[]));
    Ok(t.info(cert, subject))
}

/// Verifies a TimeStampToken (DER `ContentInfo`) whose message imprint must
/// be `imprint_alg` over `message`, issued by a TSA whose certificate chains
/// to one of `tsa_roots` at the token's genTime (checked with every
/// algorithm in [`chain::ALL_CHAIN_ALGORITHMS`]). With `accepted_policies`,
/// the token's policy OID (content bytes) must be one of them.
///
/// See the module documentation for the checks and their order.
pub fn verify_token<'a>(
    token: &'a [u8],
    imprint_alg: DigestAlg,
    message: &[u8],
    tsa_roots: &[TrustAnchor<'_>],
    accepted_policies: Option<&[&[u8]]>,
) -> Result<TimestampInfo<'a>, TimestampError> {
    let t = parse(token)?;

    let digest = match hash_id(t.signer.digest_alg) {
        Some(HashId::Family(alg)) => alg,
        _ => return Err(TimestampError::UnsupportedAlgorithm),
    };
    let mut listed = false;
    let mut algs = DerCursor::new(t.digest_algs).map_err(malformed)?;
    while !algs.is_empty() {
        let alg = algs.expect(Tag::Sequence).map_err(malformed)?;
        listed |= hash_id(alg) == Some(HashId::Family(digest));
    }
    if !listed {
        return Err(TimestampError::Malformed);
    }

    let attrs = parse_signed_attrs(t.signer.signed_attrs)?;
    if attrs.content_type != Some(OID_CT_TST_INFO) {
        return Err(TimestampError::SignedAttributes);
    }
    let message_digest = attrs
        .message_digest
        .ok_or(TimestampError::SignedAttributes)?;
    if !digest_matches(HashId::Family(digest), t.econtent, message_digest) {
        return Err(TimestampError::MessageDigest);
    }

    let (tsa_cert, info) =
        find_signer_cert(t.certs, &t.signer.sid).ok_or(TimestampError::CertificateMissing)?;
    if attrs.signing_cert.is_none() && attrs.signing_cert_v2.is_none() {
        return Err(TimestampError::SigningCertificate);
    }
    if let Some(v1) = attrs.signing_cert {
        check_ess(v1, false, tsa_cert, &info)?;
    }
    if let Some(v2) = attrs.signing_cert_v2 {
        check_ess(v2, true, tsa_cert, &info)?;
    }

    if !(info.eku_present && info.eku_count == 1 && info.has_time_stamping_eku && info.eku_critical)
    {
        return Err(TimestampError::TsaEku);
    }
    let mut intermediates: heapless::Vec<CertificateDer<'_>, MAX_CERTIFICATES> =
        heapless::Vec::new();
    for der in certificates(t.certs).filter(|der| *der != tsa_cert) {
        intermediates
            .push(CertificateDer::from(der))
            .map_err(malformed)?;
    }
    let time = UnixTime::since_unix_epoch(core::time::Duration::from_secs(t.tst.gen_time));
    chain::verify_chain_for_eku(
        tsa_cert,
        &intermediates,
        tsa_roots,
        time,
        OID_KP_TIME_STAMPING,
        chain::ALL_CHAIN_ALGORITHMS,
    )
    .map_err(TimestampError::Chain)?;
    // Only now, with the TSA certificate trusted, does its key verify
    // anything: a token cannot choose the algorithm or key size run here.
    verify_signer_signature(info.spki, digest, &t.signer)?;

    if let Some(TsaName::Directory(name)) = t.tst.tsa
        && name != info.subject
    {
        return Err(TimestampError::TsaName);
    }

    if t.tst.imprint_alg != imprint_alg {
        return Err(TimestampError::ImprintAlgorithm);
    }
    let imprint =
        crate::digest::try_hash(imprint_alg, message).ok_or(TimestampError::ImprintAlgorithm)?;
    if imprint.as_bytes() != t.tst.imprint {
        return Err(TimestampError::ImprintMismatch);
    }
    if let Some(accepted) = accepted_policies
        && !accepted.contains(&t.tst.policy)
    {
        return Err(TimestampError::Policy);
    }
    Ok(t.info(tsa_cert, info.subject))
}

#[cfg(test)]
#[cfg_attr(not(feature = "ecdsa-p256"), allow(dead_code))] // helpers of the P-256 tests
mod tests {
    extern crate std;
    use super::*;
    use crate::crypto::{OID_ED25519, OID_ML_DSA_44, OID_ML_DSA_65, OID_ML_DSA_87};
    use crate::testutil::{
        self as k, CertFiles, OpensslCa, STACK_BUDGET, TestKey, cat, ext, fits_in_stack, name,
        raw_sig_to_der, stack_needed, tlv,
    };
    use otaseal_manifest::Suite;
    use std::string::{String, ToString};
    use std::vec::Vec;
    use std::{format, vec};

    /// SM2-with-SM3 1.2.156.10197.1.501
    const OID_SM2_SM3: &[u8] = &[0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x83, 0x75];
    /// id-data 1.2.840.113549.1.7.1
    const OID_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
    /// The test TSA policies 1.2.3.4.1 and 1.2.3.4.5.
    const POLICY_1: &[u8] = &[0x2a, 0x03, 0x04, 0x01];
    const POLICY_5: &[u8] = &[0x2a, 0x03, 0x04, 0x05];

    fn now_secs() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    fn digest_of(alg: DigestAlg, data: &[u8]) -> Vec<u8> {
        crate::digest::hash(alg, data).as_bytes().to_vec()
    }

    fn hash_oid(alg: DigestAlg) -> &'static [u8] {
        match alg {
            DigestAlg::Sha256 => OID_SHA256,
            DigestAlg::Sha384 => OID_SHA384,
            DigestAlg::Sha512 => OID_SHA512,
            DigestAlg::Sm3 => OID_SM3,
        }
    }

    /// Verifies with `roots` (DER certificates) as the TSA trust anchors.
    fn verify<'t>(
        token: &'t [u8],
        alg: DigestAlg,
        message: &[u8],
        roots: &[&[u8]],
        policies: Option<&[&[u8]]>,
    ) -> Result<TimestampInfo<'t>, TimestampError> {
        let ders: Vec<CertificateDer<'_>> =
            roots.iter().map(|r| CertificateDer::from(*r)).collect();
        let anchors: Vec<TrustAnchor<'_>> = ders
            .iter()
            .map(|d| webpki::anchor_from_trusted_cert(d).unwrap())
            .collect();
        verify_token(token, alg, message, &anchors, policies)
    }

    // ------------------------------------------------------------------
    // OpenSSL as the independent TSA.
    // ------------------------------------------------------------------

    /// Extension sections after the `[ca]` section every `OpensslCa` writes.
    const EXTENSIONS: &str = "\
[tsa]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = critical,timeStamping
subjectKeyIdentifier = hash
[tsa_noncrit]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = timeStamping
";

    /// A TSA run with `openssl ts -reply` in a scratch directory.
    struct OpensslTsa(OpensslCa);

    impl core::ops::Deref for OpensslTsa {
        type Target = OpensslCa;
        fn deref(&self) -> &OpensslCa {
            &self.0
        }
    }

    impl OpensslTsa {
        fn new(tag: &str) -> Option<OpensslTsa> {
            OpensslCa::new(tag, EXTENSIONS, CertFiles::Pem).map(OpensslTsa)
        }

        /// A P-256 TSA certificate with explicit dates (`YYYYMMDDHHMMSSZ`).
        fn issue_dated(&self, name: &str, issuer: &str, start: &str, end: &str) -> Vec<u8> {
            let tsa = "\
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = critical,timeStamping
";
            self.0.issue_dated(name, issuer, start, end, "tsa", tsa)
        }

        /// Writes the `[tsa]` configuration: signer `name`, its digest,
        /// `ess_cert_id_alg`, and extra certificates (`certs`) to include.
        fn configure(&self, signer: &str, md: &str, ess_alg: &str, certs: Option<&str>) {
            let certs = certs.map(|c| format!("certs = {c}\n")).unwrap_or_default();
            let conf = format!(
                "\
[tsa]
default_tsa = tsa_config1
[tsa_config1]
serial = tsa-serial
crypto_device = builtin
signer_cert = {signer}.pem
signer_key = {signer}.key
signer_digest = {md}
{certs}default_policy = 1.2.3.4.1
other_policies = 1.2.3.4.5
digests = sha256, sha384, sha512, sm3
accuracy = secs:1, millisecs:500, microsecs:100
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = {ess_alg}
"
            );
            self.dir.write("tsa.cnf", conf.as_bytes());
            if self.dir.read("tsa-serial").is_none() {
                self.dir.write("tsa-serial", b"00\n"); // the last serial used
            }
        }

        /// `openssl ts -query` over `data` (with `-cert` and `query_args`),
        /// then `ts -reply`; the token, or OpenSSL's complaint.
        fn stamp(&self, data: &[u8], query_args: &[&str]) -> Result<Vec<u8>, String> {
            self.dir.write("data.bin", data);
            let mut args = vec!["ts", "-query", "-data", "data.bin", "-out", "req.tsq"];
            args.extend(query_args);
            self.ossl(&args);
            let _ = std::fs::remove_file(self.dir.0.join("resp.tsr"));
            // `ts -reply` exits 0 after writing a rejection response when
            // signing fails; extracting the token then fails.
            let reply = self
                .dir
                .run(&[
                    "ts",
                    "-reply",
                    "-config",
                    "tsa.cnf",
                    "-queryfile",
                    "req.tsq",
                    "-out",
                    "resp.tsr",
                ])
                .unwrap();
            let reply_err = String::from_utf8_lossy(&reply.stderr).into_owned();
            if !reply.status.success() {
                return Err(reply_err);
            }
            match self.try_ossl(&[
                "ts",
                "-reply",
                "-in",
                "resp.tsr",
                "-token_out",
                "-out",
                "tok.der",
            ]) {
                Ok(()) => Ok(self.dir.read("tok.der").unwrap()),
                Err(e) => Err(format!("{reply_err}\n{e}")),
            }
        }
    }

    macro_rules! tsa_or_skip {
        ($tag:expr) => {
            match OpensslTsa::new($tag) {
                Some(t) => t,
                None => {
                    std::eprintln!("note: openssl not found; skipping");
                    return;
                }
            }
        };
    }

    /// Every single-byte change (three masks per position) and every
    /// truncation is rejected, without panicking.
    fn assert_tamper_evident(token: &[u8], alg: DigestAlg, message: &[u8], roots: &[&[u8]]) {
        for i in 0..token.len() {
            for mask in [0x01u8, 0x80, 0xff] {
                let mut t = token.to_vec();
                t[i] ^= mask;
                let got = verify(&t, alg, message, roots, None);
                assert!(got.is_err(), "byte {i} ^ {mask:#04x} accepted");
                let _ = parse_token(&t);
            }
        }
        for len in 0..token.len() {
            assert_eq!(
                verify(&token[..len], alg, message, roots, None),
                Err(TimestampError::Malformed),
                "prefix {len}"
            );
            assert_eq!(
                parse_token(&token[..len]).err(),
                Some(TimestampError::Malformed),
                "prefix {len}"
            );
        }
        let mut longer = token.to_vec();
        longer.push(0);
        assert_eq!(
            verify(&longer, alg, message, roots, None),
            Err(TimestampError::Malformed)
        );
    }

    #[cfg(feature = "ecdsa-p256")]
    #[test]
    fn openssl_p256_tokens() {
        let tsa = tsa_or_skip!("ts-p256");
        let root = tsa.root("root", "ec:P-256");
        let cert = tsa.issue("tsa", "ec:P-256", "root", "ec:P-256", "tsa");
        tsa.configure("tsa", "sha256", "sha256", None);
        let msg = b"otaseal signature bytes";

        let before = now_secs();
        let tok = tsa.stamp(msg, &["-sha256", "-cert"]).unwrap();
        let after = now_secs();
        let info = verify(&tok, DigestAlg::Sha256, msg, &[&root], None).unwrap();
        assert!(
            before <= info.gen_time && info.gen_time <= after,
            "{info:?}"
        );
        assert_eq!(info.serial, &[1]);
        assert_eq!(info.policy, POLICY_1);
        assert_eq!(info.accuracy_millis, Some(1501)); // 1 s + 500 ms + 100 us, rounded up
        assert!(info.nonce.is_some_and(|n| n.len() >= 8)); // OpenSSL: 64 bits
        assert_eq!(info.imprint_alg, DigestAlg::Sha256);
        assert_eq!(info.imprint, digest_of(DigestAlg::Sha256, msg));
        assert_eq!(info.tsa_cert, cert);
        let cert_info = cert::parse_certificate(&cert).unwrap();
        assert_eq!(info.tsa_subject, cert_info.subject);
        assert_eq!(parse_token(&tok), Ok(info));

        // The next token has the next serial number.
        let tok2 = tsa.stamp(msg, &["-sha256", "-cert"]).unwrap();
        assert_eq!(
            verify(&tok2, DigestAlg::Sha256, msg, &[&root], None)
                .unwrap()
                .serial,
            &[2]
        );

        // Wrong message, wrong imprint algorithm, untrusted root.
        let err = verify(&tok, DigestAlg::Sha256, b"other bytes", &[&root], None).unwrap_err();
        assert_eq!(
            (err, err.code()),
            (
                TimestampError::ImprintMismatch,
                "timestamp-imprint-mismatch"
            )
        );
        let err = verify(&tok, DigestAlg::Sha384, msg, &[&root], None).unwrap_err();
        assert_eq!(
            (err, err.code()),
            (
                TimestampError::ImprintAlgorithm,
                "timestamp-imprint-algorithm"
            )
        );
        let other_root = tsa.root("other", "ec:P-256");
        let err = verify(&tok, DigestAlg::Sha256, msg, &[&other_root], None).unwrap_err();
        assert_eq!(
            (err, err.code()),
            (
                TimestampError::Chain(ChainError::UnknownIssuer),
                "timestamp-untrusted"
            )
        );
        assert_eq!(
            verify(&tok, DigestAlg::Sha256, msg, &[&other_root, &root], None).map(|i| i.serial),
            Ok(&[1u8][..])
        );

        // Policies.
        assert!(
            verify(
                &tok,
                DigestAlg::Sha256,
                msg,
                &[&root],
                Some(&[POLICY_5, POLICY_1])
            )
            .is_ok()
        );
        let err = verify(&tok, DigestAlg::Sha256, msg, &[&root], Some(&[POLICY_5])).unwrap_err();
        assert_eq!(
            (err, err.code()),
            (TimestampError::Policy, "timestamp-policy")
        );
        assert_eq!(
            verify(&tok, DigestAlg::Sha256, msg, &[&root], Some(&[])),
            Err(TimestampError::Policy)
        );
        let tok5 = tsa
            .stamp(msg, &["-sha256", "-cert", "-tspolicy", "1.2.3.4.5"])
            .unwrap();
        let info5 = verify(&tok5, DigestAlg::Sha256, msg, &[&root], Some(&[POLICY_5])).unwrap();
        assert_eq!(info5.policy, POLICY_5);

        // A SHA-384 / SHA-512 / SM3 imprint.
        for (flag, alg) in [
            ("-sha384", DigestAlg::Sha384),
            ("-sha512", DigestAlg::Sha512),
            ("-sm3", DigestAlg::Sm3),
        ] {
            let t = tsa.stamp(msg, &[flag, "-cert"]).unwrap();
            assert_eq!(
                verify(&t, alg, msg, &[&root], None).map(|i| i.imprint_alg),
                Ok(alg)
            );
            assert_eq!(
                verify(&t, DigestAlg::Sha256, msg, &[&root], None),
                Err(TimestampError::ImprintAlgorithm)
            );
        }

        // Without `-cert` the TSA leaves its certificate out.
        let bare = tsa.stamp(msg, &["-sha256", "-no_nonce"]).unwrap();
        let err = verify(&bare, DigestAlg::Sha256, msg, &[&root], None).unwrap_err();
        assert_eq!(
            (err, err.code()),
            (TimestampError::CertificateMissing, "timestamp-cert-missing")
        );
        let parsed = parse_token(&bare).unwrap();
        assert_eq!(
            (parsed.tsa_cert, parsed.tsa_subject, parsed.nonce),
            (&[][..], &[][..], None)
        );

        // Every flipped byte and every truncation fails (the token holds
        // only the TSA certificate, so every byte is covered by something).
        assert_tamper_evident(&tok, DigestAlg::Sha256, msg, &[&root]);
    }

    /// root -> intermediate -> TSA, SHA-384 signer digest on P-256
    /// (ecdsa-with-SHA384), SigningCertificate v1 (ESSCertID, SHA-1).
    #[cfg(feature = "ecdsa-p256")]
    #[test]
    fn openssl_intermediate_sha384_and_ess_v1() {
        let tsa = tsa_or_skip!("ts-int");
        let root = tsa.root("root", "ec:P-256");
        let int = tsa.issue("int", "ec:P-256", "root", "ec:P-256", "ca");
        let cert = tsa.issue("tsa", "ec:P-256", "int", "ec:P-256", "tsa");
        tsa.configure("tsa", "sha384", "sha1", Some("int.pem"));
        let msg = b"m";
        let tok = tsa.stamp(msg, &["-sha256", "-cert"]).unwrap();
        assert!(
            tok.windows(OID_SIGNING_CERTIFICATE.len())
                .any(|w| w == OID_SIGNING_CERTIFICATE)
        );
        assert!(
            !tok.windows(OID_SIGNING_CERTIFICATE_V2.len())
                .any(|w| w == OID_SIGNING_CERTIFICATE_V2)
        );
        let info = verify(&tok, DigestAlg::Sha256, msg, &[&root], None).unwrap();
        assert_eq!(info.tsa_cert, cert);
        // The intermediate as the anchor works too; the TSA certificate
        // itself as the anchor does not (webpki: a leaf is not an issuer).
        assert!(verify(&tok, DigestAlg::Sha256, msg, &[&int], None).is_ok());
        assert_tamper_evident(&tok, DigestAlg::Sha256, msg, &[&root]);
    }

    #[cfg(feature = "ecdsa-p256")]
    #[test]
    fn openssl_tsa_certificate_outside_its_validity() {
        let tsa = tsa_or_skip!("ts-dated");
        let root = tsa.root("root", "ec:P-256");
        // OpenSSL's TSA signs with an expired certificate without complaint.
        tsa.issue_dated("old", "root", "20200101000000Z", "20210101000000Z");
        tsa.configure("old", "sha256", "sha256", None);
        let tok = tsa.stamp(b"m", &["-sha256", "-cert"]).unwrap();
        let err = verify(&tok, DigestAlg::Sha256, b"m", &[&root], None).unwrap_err();
        assert_eq!(
            (err, err.code()),
            (
                TimestampError::Chain(ChainError::Expired),
                "timestamp-tsa-cert-expired"
            )
        );
        tsa.issue_dated("future", "root", "20700101000000Z", "20710101000000Z");
        tsa.configure("future", "sha256", "sha256", None);
        let tok = tsa.stamp(b"m", &["-sha256", "-cert"]).unwrap();
        let err = verify(&tok, DigestAlg::Sha256, b"m", &[&root], None).unwrap_err();
        assert_eq!(
            (err, err.code()),
            (
                TimestampError::Chain(ChainError::NotYetValid),
                "timestamp-tsa-cert-not-yet-valid"
            )
        );
    }

    /// OpenSSL's TSA refuses a certificate whose timeStamping EKU is not
    /// critical (X509_PURPOSE_TIMESTAMP_SIGN), so such tokens are built in
    /// Rust below (`rust_built_tsa_eku_rules`).
    #[test]
    fn openssl_refuses_non_critical_eku() {
        let tsa = tsa_or_skip!("ts-noncrit");
        tsa.root("root", "ec:P-256");
        tsa.issue("nc", "ec:P-256", "root", "ec:P-256", "tsa_noncrit");
        tsa.configure("nc", "sha256", "sha256", None);
        let err = tsa.stamp(b"m", &["-sha256", "-cert"]).unwrap_err();
        assert!(err.contains("invalid signer certificate purpose"), "{err}");
    }

    /// RSA TSA: CMS names the signature `rsaEncryption` and leaves the hash
    /// to digestAlgorithm (PKCS#1 v1.5, OpenSSL's default).
    #[test]
    fn openssl_rsa_tokens() {
        let tsa = tsa_or_skip!("ts-rsa");
        let root = tsa.root("root", "rsa:2048");
        tsa.issue("tsa", "rsa:2048", "root", "rsa", "tsa");
        for (md, ess) in [("sha256", "sha1"), ("sha512", "sha256")] {
            tsa.configure("tsa", md, ess, None);
            let tok = tsa.stamp(b"m", &["-sha256", "-cert"]).unwrap();
            let got = verify(&tok, DigestAlg::Sha256, b"m", &[&root], None);
            if cfg!(feature = "rsa-pss") {
                assert!(got.is_ok(), "{md}: {got:?}");
            } else {
                // The TSA's path is checked before its signature, so an
                // uncompiled algorithm shows first in the chain.
                assert_eq!(
                    got,
                    Err(TimestampError::Chain(ChainError::UnsupportedAlgorithm)),
                    "{md}"
                );
            }
        }
    }

    /// OpenSSL 3.0 cannot sign RFC 3161 tokens (nor any CMS/PKCS#7) with an
    /// SM2 or Ed25519 key: `ts -reply` answers status "rejection" with
    /// "PKCS7_SIGNER_INFO_set: signing not supported for this key type"
    /// (crypto/pkcs7/pk7_lib.c), and `openssl cms -sign` with an SM2 key fails
    /// with "asn1_template_ex_i2d: illegal zero content". SM2, Ed25519 and
    /// ML-DSA tokens are therefore built in Rust (`rust_built_tokens`).
    #[test]
    fn openssl_3_0_cannot_sign_sm2_or_ed25519_tokens() {
        let tsa = tsa_or_skip!("ts-sm2");
        for algo in ["sm2", "ed25519"] {
            let root = tsa.root(&format!("{algo}root"), algo);
            tsa.issue(
                &format!("{algo}tsa"),
                algo,
                &format!("{algo}root"),
                algo,
                "tsa",
            );
            let md = if algo == "sm2" { "sm3" } else { "sha512" };
            tsa.configure(&format!("{algo}tsa"), md, "sha256", None);
            match tsa.stamp(b"m", &["-sha256", "-cert"]) {
                Err(e) => assert!(e.contains("signing not supported for this key type"), "{e}"),
                // A newer OpenSSL can: then its token must verify.
                Ok(tok) => {
                    let got = verify(&tok, DigestAlg::Sha256, b"m", &[&root], None);
                    assert!(got.is_ok(), "{algo}: {got:?}");
                }
            }
        }
    }

    // ------------------------------------------------------------------
    // Tokens built in Rust: algorithms OpenSSL 3.0 cannot sign with, and
    // tokens OpenSSL would never produce.
    // ------------------------------------------------------------------

    /// A signature algorithm: the key that signs and the AlgorithmIdentifier
    /// contents it signs under.
    struct Signer {
        key: TestKey,
        sig_alg: Vec<u8>,
        der_sig: bool,
    }

    impl Signer {
        fn new(suite: Suite, seed: u8) -> Signer {
            let (key, oid, der_sig) = match suite {
                Suite::EcdsaP256 => (k::p256_key(seed), OID_ECDSA_SHA256, true),
                Suite::EcdsaP384 => (k::p384_key(seed), OID_ECDSA_SHA384, true),
                Suite::Ed25519 => (k::ed25519_key(seed), OID_ED25519, false),
                Suite::Sm2 => (k::sm2_key(seed), OID_SM2_SM3, true),
                Suite::MlDsa44 | Suite::MlDsa65 | Suite::MlDsa87 => {
                    let oid = match suite {
                        Suite::MlDsa44 => OID_ML_DSA_44,
                        Suite::MlDsa65 => OID_ML_DSA_65,
                        _ => OID_ML_DSA_87,
                    };
                    (k::ml_dsa_key(seed, suite), oid, false)
                }
                // RSASSA-PSS, SHA-256, MGF1-SHA-256, salt 32 (one fixed key).
                Suite::RsaPss3072 => (k::rsa_key(), &[][..], false),
            };
            if suite == Suite::RsaPss3072 {
                return Signer {
                    key,
                    sig_alg: alg_id::RSA_PSS_SHA256.as_ref().to_vec(),
                    der_sig: false,
                };
            }
            Signer {
                key,
                sig_alg: tlv(0x06, oid),
                der_sig,
            }
        }

        fn sign(&self, msg: &[u8]) -> Vec<u8> {
            let s = self.key.sign(msg);
            if self.der_sig { raw_sig_to_der(&s) } else { s }
        }
    }

    /// A certificate to build.
    struct CertSpec<'a> {
        issuer: &'a str,
        subject: &'a str,
        serial: u8,
        spki: &'a [u8],
        ca: bool,
        /// Purposes and whether the extension is critical.
        eku: Option<(&'a [&'a [u8]], bool)>,
        not_before: &'a str,
        not_after: &'a str,
        ski: Option<&'a [u8]>,
    }

    impl Default for CertSpec<'_> {
        fn default() -> Self {
            CertSpec {
                issuer: "Rust TSA Root",
                subject: "Rust TSA",
                serial: 0x42,
                spki: &[],
                ca: false,
                eku: Some((&[cert::OID_KP_TIME_STAMPING], true)),
                not_before: "200101000000Z",
                not_after: "491231235959Z",
                ski: None,
            }
        }
    }

    fn make_cert(spec: &CertSpec<'_>, issuer: &Signer) -> Vec<u8> {
        let alg = tlv(0x30, &issuer.sig_alg);
        let validity = tlv(
            0x30,
            &cat(&[
                &tlv(0x17, spec.not_before.as_bytes()),
                &tlv(0x17, spec.not_after.as_bytes()),
            ]),
        );
        let (bc, ku): (Vec<u8>, &[u8]) = if spec.ca {
            (tlv(0x30, &[0x01, 0x01, 0xff]), &[0x01, 0x06])
        } else {
            (tlv(0x30, &[]), &[0x07, 0x80])
        };
        let mut exts = ext(&[0x55, 0x1d, 0x13], true, &bc);
        exts.extend(ext(&[0x55, 0x1d, 0x0f], true, &tlv(0x03, ku)));
        if let Some((purposes, critical)) = spec.eku {
            let list: Vec<u8> = purposes.iter().flat_map(|o| tlv(0x06, o)).collect();
            exts.extend(ext(&[0x55, 0x1d, 0x25], critical, &tlv(0x30, &list)));
        }
        if let Some(ski) = spec.ski {
            exts.extend(ext(&[0x55, 0x1d, 0x0e], false, &tlv(0x04, ski)));
        }
        let tbs = tlv(
            0x30,
            &cat(&[
                &tlv(0xa0, &[0x02, 0x01, 0x02]),
                &tlv(0x02, &[spec.serial]),
                &alg,
                &name(spec.issuer),
                &validity,
                &name(spec.subject),
                spec.spki,
                &tlv(0xa3, &tlv(0x30, &exts)),
            ]),
        );
        let mut bits = vec![0u8];
        bits.extend(issuer.sign(&tbs));
        tlv(0x30, &cat(&[&tbs, &alg, &tlv(0x03, &bits)]))
    }

    /// A TSTInfo to build.
    #[derive(Clone)]
    struct Tst {
        version: u8,
        policy: Vec<u8>,
        imprint_alg: DigestAlg,
        imprint: Vec<u8>,
        serial: Vec<u8>,
        gen_time: String,
        tail: Vec<u8>,
    }

    impl Tst {
        fn new(alg: DigestAlg, message: &[u8]) -> Tst {
            Tst {
                version: 1,
                policy: POLICY_1.to_vec(),
                imprint_alg: alg,
                imprint: digest_of(alg, message),
                serial: vec![0x2a],
                gen_time: "20250601120000Z".into(),
                tail: Vec::new(),
            }
        }

        fn encode(&self) -> Vec<u8> {
            let imprint = tlv(
                0x30,
                &cat(&[
                    &tlv(0x30, &tlv(0x06, hash_oid(self.imprint_alg))),
                    &tlv(0x04, &self.imprint),
                ]),
            );
            tlv(
                0x30,
                &cat(&[
                    &tlv(0x02, &[self.version]),
                    &tlv(0x06, &self.policy),
                    &imprint,
                    &tlv(0x02, &self.serial),
                    &tlv(0x18, self.gen_time.as_bytes()),
                    &self.tail,
                ]),
            )
        }
    }

    fn attr(oid: &[u8], value: &[u8]) -> Vec<u8> {
        tlv(0x30, &cat(&[&tlv(0x06, oid), &tlv(0x31, value)]))
    }

    /// SigningCertificateV2 with one ESSCertIDv2 (`hash_alg` None: default SHA-256).
    fn ess_v2(cert_hash: &[u8], hash_alg: Option<&[u8]>, issuer_serial: Option<&[u8]>) -> Vec<u8> {
        let alg = hash_alg
            .map(|a| tlv(0x30, &tlv(0x06, a)))
            .unwrap_or_default();
        let id = tlv(
            0x30,
            &cat(&[&alg, &tlv(0x04, cert_hash), issuer_serial.unwrap_or(&[])]),
        );
        attr(OID_SIGNING_CERTIFICATE_V2, &tlv(0x30, &tlv(0x30, &id)))
    }

    fn ess_v1(cert_hash: &[u8]) -> Vec<u8> {
        let id = tlv(0x30, &tlv(0x04, cert_hash));
        attr(OID_SIGNING_CERTIFICATE, &tlv(0x30, &tlv(0x30, &id)))
    }

    fn issuer_serial(issuer_name: &[u8], serial: &[u8]) -> Vec<u8> {
        tlv(
            0x30,
            &cat(&[&tlv(0x30, &tlv(0xa4, issuer_name)), &tlv(0x02, serial)]),
        )
    }

    fn sha1(data: &[u8]) -> Vec<u8> {
        use sha1::Digest as _;
        sha1::Sha1::digest(data).to_vec()
    }

    /// A TimeStampToken to build; `attrs: None` means the usual three
    /// (content-type, message-digest, SigningCertificateV2).
    #[derive(Clone)]
    struct TokenSpec {
        sd_version: u8,
        signer_version: u8,
        econtent_type: Vec<u8>,
        tst: Vec<u8>,
        digest: DigestAlg,
        /// AlgorithmIdentifier contents of the SignerInfo digestAlgorithm.
        digest_alg: Vec<u8>,
        certs: Vec<Vec<u8>>,
        sid: Vec<u8>,
        attrs: Option<Vec<Vec<u8>>>,
        signers: usize,
    }

    impl TokenSpec {
        fn new(tst: &Tst, digest: DigestAlg, tsa_cert: &[u8]) -> TokenSpec {
            let info = cert::parse_certificate(tsa_cert).unwrap();
            TokenSpec {
                sd_version: 3,
                signer_version: 1,
                econtent_type: OID_CT_TST_INFO.to_vec(),
                tst: tst.encode(),
                digest,
                digest_alg: tlv(0x06, hash_oid(digest)),
                certs: vec![tsa_cert.to_vec()],
                sid: tlv(0x30, &cat(&[info.issuer, &tlv(0x02, info.serial)])),
                attrs: None,
                signers: 1,
            }
        }

        fn default_attrs(&self) -> Vec<Vec<u8>> {
            let cert = self.certs.first().cloned().unwrap_or_default();
            vec![
                attr(OID_CONTENT_TYPE, &tlv(0x06, OID_CT_TST_INFO)),
                attr(
                    OID_MESSAGE_DIGEST,
                    &tlv(0x04, &digest_of(self.digest, &self.tst)),
                ),
                ess_v2(&digest_of(DigestAlg::Sha256, &cert), None, None),
            ]
        }

        fn encode(&self, signer: &Signer) -> Vec<u8> {
            let attrs = self
                .attrs
                .clone()
                .unwrap_or_else(|| self.default_attrs())
                .concat();
            let signature = signer.sign(&tlv(0x31, &attrs));
            let signer_info = tlv(
                0x30,
                &cat(&[
                    &tlv(0x02, &[self.signer_version]),
                    &self.sid,
                    &tlv(0x30, &self.digest_alg),
                    &tlv(0xa0, &attrs),
                    &tlv(0x30, &signer.sig_alg),
                    &tlv(0x04, &signature),
                ]),
            );
            let eci = tlv(
                0x30,
                &cat(&[
                    &tlv(0x06, &self.econtent_type),
                    &tlv(0xa0, &tlv(0x04, &self.tst)),
                ]),
            );
            let certs = if self.certs.is_empty() {
                Vec::new()
            } else {
                tlv(0xa0, &self.certs.concat())
            };
            let sd = tlv(
                0x30,
                &cat(&[
                    &tlv(0x02, &[self.sd_version]),
                    &tlv(0x31, &tlv(0x30, &self.digest_alg)),
                    &eci,
                    &certs,
                    &tlv(0x31, &signer_info.repeat(self.signers)),
                ]),
            );
            tlv(0x30, &cat(&[&tlv(0x06, OID_SIGNED_DATA), &tlv(0xa0, &sd)]))
        }
    }

    /// A root and a TSA certificate for `suite`.
    struct RustPki {
        root_signer: Signer,
        tsa: Signer,
        root: Vec<u8>,
        cert: Vec<u8>,
    }

    fn rust_pki(suite: Suite, seed: u8) -> RustPki {
        let root_signer = Signer::new(suite, seed);
        let tsa = Signer::new(suite, seed.wrapping_add(1));
        let root = make_cert(
            &CertSpec {
                issuer: "Rust TSA Root",
                subject: "Rust TSA Root",
                serial: 1,
                spki: &root_signer.key.spki,
                ca: true,
                eku: None,
                ..CertSpec::default()
            },
            &root_signer,
        );
        let cert = make_cert(
            &CertSpec {
                spki: &tsa.key.spki,
                ..CertSpec::default()
            },
            &root_signer,
        );
        RustPki {
            root_signer,
            tsa,
            root,
            cert,
        }
    }

    /// The signer digest each algorithm pairs with in CMS.
    fn cms_digest(suite: Suite) -> DigestAlg {
        match suite {
            Suite::EcdsaP384 => DigestAlg::Sha384,
            Suite::Sm2 => DigestAlg::Sm3,
            Suite::Ed25519 | Suite::MlDsa44 | Suite::MlDsa65 | Suite::MlDsa87 => DigestAlg::Sha512,
            _ => DigestAlg::Sha256,
        }
    }

    const GEN_TIME_2025: u64 = 1_748_779_200; // 2025-06-01T12:00:00Z

    /// A P-256 `rust_pki`, a SHA-256 TSTInfo over `msg` (b"m") and the
    /// token spec they make: the base the `rust_built_*` tests vary.
    struct P256Case {
        pki: RustPki,
        msg: &'static [u8],
        tst: Tst,
        base: TokenSpec,
    }

    impl P256Case {
        fn new(seed: u8) -> P256Case {
            let pki = rust_pki(Suite::EcdsaP256, seed);
            let msg = b"m";
            let tst = Tst::new(DigestAlg::Sha256, msg);
            let base = TokenSpec::new(&tst, DigestAlg::Sha256, &pki.cert);
            P256Case {
                pki,
                msg,
                tst,
                base,
            }
        }

        /// Verifies `spec`, signed by the TSA, against `msg` and the root.
        fn check(&self, spec: &TokenSpec) -> Result<(), TimestampError> {
            verify(
                &spec.encode(&self.pki.tsa),
                DigestAlg::Sha256,
                self.msg,
                &[&self.pki.root],
                None,
            )
            .map(|_| ())
        }

        /// The base token with signed attributes `attrs`.
        fn with_attrs(&self, attrs: Vec<Vec<u8>>) -> TokenSpec {
            TokenSpec {
                attrs: Some(attrs),
                ..self.base.clone()
            }
        }
    }

    #[test]
    fn rust_built_tokens() {
        let msg = b"COSE signature bstr";
        for (i, suite) in [
            Suite::EcdsaP256,
            Suite::EcdsaP384,
            Suite::Ed25519,
            Suite::Sm2,
            Suite::MlDsa44,
            Suite::MlDsa65,
            Suite::MlDsa87,
            Suite::RsaPss3072,
        ]
        .into_iter()
        .enumerate()
        {
            let pki = rust_pki(suite, 10 * (i as u8 + 1));
            let digest = cms_digest(suite);
            let tst = Tst::new(DigestAlg::Sha256, msg);
            let tok = TokenSpec::new(&tst, digest, &pki.cert).encode(&pki.tsa);
            let got = verify(&tok, DigestAlg::Sha256, msg, &[&pki.root], None);
            if crate::crypto::suite_supported(suite) {
                let info = got.unwrap_or_else(|e| panic!("{suite:?}: {e:?}"));
                assert_eq!(
                    (info.gen_time, info.serial, info.nonce),
                    (GEN_TIME_2025, &[0x2a][..], None)
                );
                assert_eq!(info.tsa_cert, pki.cert);
                // The signature covers the signed attributes.
                let mut bad = tok.clone();
                let n = bad.len();
                bad[n - 10] ^= 1;
                assert_eq!(
                    verify(&bad, DigestAlg::Sha256, msg, &[&pki.root], None).err(),
                    Some(TimestampError::Signature),
                    "{suite:?}"
                );
            } else {
                // Trust first: the uncompiled algorithm fails the TSA path
                // before any token signature would be checked.
                assert_eq!(
                    got,
                    Err(TimestampError::Chain(ChainError::UnsupportedAlgorithm)),
                    "{suite:?}"
                );
            }
        }
    }

    /// `openssl ts -verify` accepts our P-256 token: a check on the test's
    /// CMS encoder.
    #[test]
    fn openssl_verifies_rust_built_token() {
        let tsa = tsa_or_skip!("ts-cross");
        let msg = b"cross check";
        let pki = rust_pki(Suite::EcdsaP256, 60);
        let tst = Tst::new(DigestAlg::Sha256, msg);
        let tok = TokenSpec::new(&tst, DigestAlg::Sha256, &pki.cert).encode(&pki.tsa);
        tsa.dir.write("rtok.der", &tok);
        tsa.dir.write("rroot.der", &pki.root);
        tsa.dir.write("rmsg.bin", msg);
        tsa.ossl(&[
            "x509",
            "-inform",
            "DER",
            "-in",
            "rroot.der",
            "-out",
            "rroot.pem",
        ]);
        tsa.ossl(&[
            "ts",
            "-verify",
            "-data",
            "rmsg.bin",
            "-in",
            "rtok.der",
            "-token_in",
            "-CAfile",
            "rroot.pem",
        ]);
        tsa.dir.write("rmsg.bin", b"cross checK");
        assert!(
            tsa.try_ossl(&[
                "ts",
                "-verify",
                "-data",
                "rmsg.bin",
                "-in",
                "rtok.der",
                "-token_in",
                "-CAfile",
                "rroot.pem",
            ])
            .is_err()
        );
    }

    /// SM2 in CMS (GM/T 0010): the SignerInfo signature is SM2 over the
    /// signed attributes with `e = SM3(Z || attrs)`, Z from the default
    /// distinguishing id "1234567812345678" -- what otaseal checks.
    ///
    /// OpenSSL 3.0 does something else, so the two do not interoperate:
    /// - `ts -verify` cannot check SM2 certificate signatures (it sets no
    ///   distinguishing id: "certificate signature failure"), so this test
    ///   trusts a self-signed TSA certificate directly;
    /// - PKCS7_signatureVerify then checks a raw SM2 signature over
    ///   `e = SM3(attrs)` with no Z at all: it rejects our token
    ///   ("PKCS7_signatureVerify: signature failure", with Z for the default
    ///   or the empty id alike) and accepts one signed without Z, which
    ///   otaseal rejects (`Signature`).
    #[test]
    fn sm2_tokens_and_openssl_3_0() {
        let msg = b"sm2 token";
        let pki = rust_pki(Suite::Sm2, 70);
        let tst = Tst::new(DigestAlg::Sha256, msg);
        let standard = TokenSpec::new(&tst, DigestAlg::Sm3, &pki.cert).encode(&pki.tsa);
        let no_z_signer = Signer {
            key: TestKey::from_fn(Suite::Sm2, pki.tsa.key.spki.clone(), |m| {
                use signature::hazmat::PrehashSigner;
                let sk = sm2::dsa::SigningKey::from_slice("", &[71u8; 32]).unwrap();
                let e = crate::digest::hash(DigestAlg::Sm3, m);
                let sig: sm2::dsa::Signature = sk.sign_prehash(e.as_bytes()).unwrap();
                sig.to_bytes().to_vec()
            }),
            sig_alg: tlv(0x06, OID_SM2_SM3),
            der_sig: true,
        };
        let no_z = TokenSpec::new(&tst, DigestAlg::Sm3, &pki.cert).encode(&no_z_signer);
        let other_id = Signer {
            key: k::sm2_key_with_distid(71, "ALICE123@YAHOO.COM"),
            ..Signer::new(Suite::Sm2, 71)
        };
        let other_id = TokenSpec::new(&tst, DigestAlg::Sm3, &pki.cert).encode(&other_id);
        if cfg!(feature = "sm2") {
            assert!(verify(&standard, DigestAlg::Sha256, msg, &[&pki.root], None).is_ok());
            for tok in [&no_z, &other_id] {
                assert_eq!(
                    verify(tok, DigestAlg::Sha256, msg, &[&pki.root], None),
                    Err(TimestampError::Signature)
                );
            }
        }

        let Some(tsa) = OpensslTsa::new("ts-sm2-verify") else {
            return;
        };
        let version = std::process::Command::new("openssl")
            .arg("version")
            .output()
            .unwrap();
        let is_3_0 = String::from_utf8_lossy(&version.stdout).starts_with("OpenSSL 3.0.");
        // A self-signed TSA certificate for the same key, trusted directly.
        let self_signed = make_cert(
            &CertSpec {
                issuer: "Rust TSA",
                spki: &pki.tsa.key.spki,
                ..CertSpec::default()
            },
            &pki.tsa,
        );
        tsa.dir.write("ss.der", &self_signed);
        tsa.ossl(&["x509", "-inform", "DER", "-in", "ss.der", "-out", "ss.pem"]);
        tsa.dir.write("msg.bin", msg);
        let openssl_verify = |signer: &Signer| {
            let tok = TokenSpec::new(&tst, DigestAlg::Sm3, &self_signed).encode(signer);
            tsa.dir.write("t.der", &tok);
            tsa.try_ossl(&[
                "ts",
                "-verify",
                "-data",
                "msg.bin",
                "-in",
                "t.der",
                "-token_in",
                "-CAfile",
                "ss.pem",
            ])
        };
        let standard = openssl_verify(&pki.tsa);
        let no_z = openssl_verify(&no_z_signer);
        if is_3_0 {
            let err = standard.unwrap_err();
            assert!(
                err.contains("PKCS7_signatureVerify:signature failure"),
                "{err}"
            );
            assert_eq!(no_z, Ok(()));
        } else {
            std::eprintln!(
                "note: this OpenSSL on SM2 tokens: standard {standard:?}, no-Z {no_z:?}"
            );
        }
    }

    #[cfg(feature = "ecdsa-p256")]
    #[test]
    fn rust_built_tsa_eku_rules() {
        let pki = rust_pki(Suite::EcdsaP256, 80);
        let msg = b"m";
        let tst = Tst::new(DigestAlg::Sha256, msg);
        let with_eku = |eku: Option<(&[&[u8]], bool)>| {
            let cert = make_cert(
                &CertSpec {
                    spki: &pki.tsa.key.spki,
                    eku,
                    ..CertSpec::default()
                },
                &pki.root_signer,
            );
            let tok = TokenSpec::new(&tst, DigestAlg::Sha256, &cert).encode(&pki.tsa);
            verify(&tok, DigestAlg::Sha256, msg, &[&pki.root], None).map(|_| ())
        };
        let ts: &[u8] = cert::OID_KP_TIME_STAMPING;
        assert_eq!(with_eku(Some((&[ts], true))), Ok(()));
        let err = with_eku(Some((&[ts], false))).unwrap_err();
        assert_eq!(
            (err, err.code()),
            (TimestampError::TsaEku, "timestamp-tsa-eku")
        );
        assert_eq!(
            with_eku(Some((&[ts, cert::OID_KP_CODE_SIGNING], true))),
            Err(TimestampError::TsaEku)
        );
        assert_eq!(
            with_eku(Some((&[cert::OID_KP_CODE_SIGNING], true))),
            Err(TimestampError::TsaEku)
        );
        assert_eq!(with_eku(None), Err(TimestampError::TsaEku));
    }

    /// policy.md 5.2: SHA-1 is refused in SigningCertificateV2 (RFC 5035's
    /// ESSCertIDv2 exists to leave it behind), with its own code, even when
    /// the SHA-1 hash is the TSA certificate's true one and even beside a
    /// valid ESSCertID (v1, where SHA-1 is the only choice and accepted).
    /// OpenSSL's `ts -reply` cannot write this (`ess_cert_id_alg = sha1`
    /// gives a v1 ESSCertID), so the token is built here and signed by the
    /// test TSA.
    #[cfg(feature = "ecdsa-p256")]
    #[test]
    fn rust_built_sha1_in_ess_cert_id_v2_is_refused() {
        let case = P256Case::new(95);
        let pki = &case.pki;
        let [ct, md, _] = <[Vec<u8>; 3]>::try_from(case.base.default_attrs()).unwrap();
        let check = |ess: Vec<Vec<u8>>| {
            let mut attrs = vec![ct.clone(), md.clone()];
            attrs.extend(ess);
            case.check(&case.with_attrs(attrs))
        };
        let sha1_v2 = ess_v2(&sha1(&pki.cert), Some(OID_SHA1), None);
        // Controls: the same hash in a v1 ESSCertID, and v2 with SHA-256
        // named explicitly, are accepted.
        assert_eq!(check(vec![ess_v1(&sha1(&pki.cert))]), Ok(()));
        assert_eq!(
            check(vec![ess_v2(
                &digest_of(DigestAlg::Sha256, &pki.cert),
                Some(OID_SHA256),
                None
            )]),
            Ok(())
        );
        for (what, ess) in [
            ("v2 with SHA-1", vec![sha1_v2.clone()]),
            (
                "v2 with SHA-1 beside a valid v1",
                vec![sha1_v2.clone(), ess_v1(&sha1(&pki.cert))],
            ),
        ] {
            let err = check(ess).unwrap_err();
            assert_eq!(
                (err, err.code()),
                (
                    TimestampError::UnsupportedAlgorithm,
                    "timestamp-unsupported-algorithm"
                ),
                "{what}"
            );
        }
        // Through the package-level error as well.
        let err = crate::VerifyError::Timestamp {
            index: 0,
            reason: check(vec![sha1_v2]).unwrap_err(),
        };
        assert_eq!(err.code(), "timestamp-unsupported-algorithm");
    }

    #[cfg(feature = "ecdsa-p256")]
    #[test]
    fn rust_built_certificate_binding() {
        let case = P256Case::new(90);
        let (pki, msg, tst, base) = (&case.pki, case.msg, &case.tst, &case.base);
        let check = |spec: &TokenSpec| case.check(spec);
        let info = cert::parse_certificate(&pki.cert).unwrap();
        let [ct, md, _] = <[Vec<u8>; 3]>::try_from(base.default_attrs()).unwrap();
        let with_attrs = |attrs: Vec<Vec<u8>>| case.with_attrs(attrs);

        // Another certificate with the same key, subject, issuer and serial
        // (so the sid still finds it) but other bytes: the hash is of the
        // certificate in the token, so binding fails.
        let twin = make_cert(
            &CertSpec {
                spki: &pki.tsa.key.spki,
                not_after: "481231235959Z",
                ..CertSpec::default()
            },
            &pki.root_signer,
        );
        let swapped = TokenSpec {
            certs: vec![twin.clone()],
            ..base.clone()
        };
        // ... signed with the ESS hash of the original certificate.
        let swapped_tok = TokenSpec {
            attrs: Some(vec![
                ct.clone(),
                md.clone(),
                ess_v2(&digest_of(DigestAlg::Sha256, &pki.cert), None, None),
            ]),
            ..swapped
        }
        .encode(&pki.tsa);
        let err = verify(&swapped_tok, DigestAlg::Sha256, msg, &[&pki.root], None).unwrap_err();
        assert_eq!(
            (err, err.code()),
            (TimestampError::SigningCertificate, "timestamp-cert-binding")
        );

        let cert_hash = |alg: DigestAlg| digest_of(alg, &pki.cert);
        // v1 (SHA-1) alone, v2 with an explicit hash algorithm, both.
        assert_eq!(
            check(&with_attrs(vec![
                ct.clone(),
                md.clone(),
                ess_v1(&sha1(&pki.cert))
            ])),
            Ok(())
        );
        assert_eq!(
            check(&with_attrs(vec![
                ct.clone(),
                md.clone(),
                ess_v2(&cert_hash(DigestAlg::Sha384), Some(OID_SHA384), None)
            ])),
            Ok(())
        );
        assert_eq!(
            check(&with_attrs(vec![
                ct.clone(),
                md.clone(),
                ess_v2(&cert_hash(DigestAlg::Sha256), Some(OID_SHA256), None),
                ess_v1(&sha1(&pki.cert)),
            ])),
            Ok(())
        );
        // Either one wrong fails.
        assert_eq!(
            check(&with_attrs(vec![
                ct.clone(),
                md.clone(),
                ess_v2(&cert_hash(DigestAlg::Sha256), None, None),
                ess_v1(&sha1(&twin)),
            ])),
            Err(TimestampError::SigningCertificate)
        );
        // The hash of another certificate, the wrong algorithm, none at all.
        assert_eq!(
            check(&with_attrs(vec![
                ct.clone(),
                md.clone(),
                ess_v2(&digest_of(DigestAlg::Sha256, &twin), None, None)
            ])),
            Err(TimestampError::SigningCertificate)
        );
        assert_eq!(
            check(&with_attrs(vec![
                ct.clone(),
                md.clone(),
                ess_v2(&cert_hash(DigestAlg::Sha384), None, None)
            ])),
            Err(TimestampError::SigningCertificate)
        );
        assert_eq!(
            check(&with_attrs(vec![ct.clone(), md.clone()])),
            Err(TimestampError::SigningCertificate)
        );
        // issuerSerial: right, wrong serial, wrong issuer.
        let right = issuer_serial(info.issuer, info.serial);
        assert_eq!(
            check(&with_attrs(vec![
                ct.clone(),
                md.clone(),
                ess_v2(&cert_hash(DigestAlg::Sha256), None, Some(&right))
            ])),
            Ok(())
        );
        for wrong in [
            issuer_serial(info.issuer, &[0x43]),
            issuer_serial(&name("Someone Else"), info.serial),
        ] {
            assert_eq!(
                check(&with_attrs(vec![
                    ct.clone(),
                    md.clone(),
                    ess_v2(&cert_hash(DigestAlg::Sha256), None, Some(&wrong))
                ])),
                Err(TimestampError::SigningCertificate)
            );
        }

        // Certificate lookup by subjectKeyIdentifier.
        let ski = [7u8; 20];
        let ski_cert = make_cert(
            &CertSpec {
                spki: &pki.tsa.key.spki,
                ski: Some(&ski),
                ..CertSpec::default()
            },
            &pki.root_signer,
        );
        let by_ski = TokenSpec {
            signer_version: 3,
            sid: tlv(0x80, &ski),
            ..TokenSpec::new(tst, DigestAlg::Sha256, &ski_cert)
        };
        assert_eq!(check(&by_ski), Ok(()));
        assert_eq!(
            check(&TokenSpec {
                sid: tlv(0x80, &[8u8; 20]),
                ..by_ski.clone()
            }),
            Err(TimestampError::CertificateMissing)
        );
        assert_eq!(
            check(&TokenSpec {
                signer_version: 1,
                ..by_ski.clone()
            }),
            Err(TimestampError::UnsupportedVersion)
        );
        // The issuer-and-serial sid of a certificate that is not there.
        assert_eq!(
            check(&TokenSpec {
                certs: vec![],
                ..base.clone()
            }),
            Err(TimestampError::CertificateMissing)
        );
        assert_eq!(
            check(&TokenSpec {
                sid: tlv(0x30, &cat(&[info.issuer, &tlv(0x02, &[0x43])])),
                ..base.clone()
            }),
            Err(TimestampError::CertificateMissing)
        );
    }

    #[cfg(feature = "ecdsa-p256")]
    #[test]
    fn rust_built_structure_and_attributes() {
        let case = P256Case::new(100);
        let (pki, msg, tst, base) = (&case.pki, case.msg, &case.tst, &case.base);
        let check = |spec: &TokenSpec| case.check(spec);
        assert_eq!(check(base), Ok(()));
        let [ct, md, ess] = <[Vec<u8>; 3]>::try_from(base.default_attrs()).unwrap();
        let with_attrs = |attrs: Vec<Vec<u8>>| case.with_attrs(attrs);
        let with_tst = |t: &Tst| TokenSpec {
            tst: t.encode(),
            ..base.clone()
        };

        // Versions, content types, signer count.
        assert_eq!(
            check(&TokenSpec {
                sd_version: 1,
                ..base.clone()
            }),
            Err(TimestampError::UnsupportedVersion)
        );
        assert_eq!(
            check(&TokenSpec {
                signer_version: 3,
                ..base.clone()
            }),
            Err(TimestampError::UnsupportedVersion)
        );
        assert_eq!(
            check(&with_tst(&Tst {
                version: 2,
                ..tst.clone()
            })),
            Err(TimestampError::UnsupportedVersion)
        );
        assert_eq!(
            check(&TokenSpec {
                econtent_type: OID_DATA.to_vec(),
                ..base.clone()
            }),
            Err(TimestampError::ContentType)
        );
        let err = check(&TokenSpec {
            signers: 2,
            ..base.clone()
        })
        .unwrap_err();
        assert_eq!(
            (err, err.code()),
            (TimestampError::SignerCount, "timestamp-signer-count")
        );
        assert_eq!(
            check(&TokenSpec {
                signers: 0,
                ..base.clone()
            }),
            Err(TimestampError::SignerCount)
        );
        let mut wrong_outer = base.encode(&pki.tsa);
        wrong_outer[6 + 8] = 0x01; // id-signedData -> id-data
        assert_eq!(
            verify(&wrong_outer, DigestAlg::Sha256, msg, &[&pki.root], None),
            Err(TimestampError::ContentType)
        );

        // Signer digest: SHA-1 refused; it must agree with ecdsa-with-SHA256;
        // NULL parameters accepted.
        let sha1_spec = TokenSpec {
            digest_alg: tlv(0x06, OID_SHA1),
            attrs: Some(vec![
                ct.clone(),
                attr(OID_MESSAGE_DIGEST, &tlv(0x04, &sha1(&base.tst))),
                ess.clone(),
            ]),
            ..base.clone()
        };
        assert_eq!(check(&sha1_spec), Err(TimestampError::UnsupportedAlgorithm));
        assert_eq!(
            check(&TokenSpec {
                digest: DigestAlg::Sha384,
                digest_alg: tlv(0x06, OID_SHA384),
                ..base.clone()
            }),
            Err(TimestampError::UnsupportedAlgorithm)
        );
        assert_eq!(
            check(&TokenSpec {
                digest_alg: cat(&[&tlv(0x06, OID_SHA256), &[0x05, 0x00]]),
                ..base.clone()
            }),
            Ok(())
        );
        assert_eq!(
            check(&TokenSpec {
                digest_alg: cat(&[&tlv(0x06, OID_SHA256), &[0x04, 0x00]]),
                ..base.clone()
            }),
            Err(TimestampError::UnsupportedAlgorithm)
        );

        // Signed attributes.
        let err = check(&with_attrs(vec![
            attr(OID_CONTENT_TYPE, &tlv(0x06, OID_DATA)),
            md.clone(),
            ess.clone(),
        ]))
        .unwrap_err();
        assert_eq!(
            (err, err.code()),
            (
                TimestampError::SignedAttributes,
                "timestamp-signed-attributes"
            )
        );
        assert_eq!(
            check(&with_attrs(vec![md.clone(), ess.clone()])),
            Err(TimestampError::SignedAttributes)
        );
        assert_eq!(
            check(&with_attrs(vec![ct.clone(), ess.clone()])),
            Err(TimestampError::SignedAttributes)
        );
        assert_eq!(
            check(&with_attrs(vec![
                ct.clone(),
                md.clone(),
                md.clone(),
                ess.clone()
            ])),
            Err(TimestampError::SignedAttributes)
        );
        let two_values = attr(
            OID_CONTENT_TYPE,
            &cat(&[&tlv(0x06, OID_CT_TST_INFO), &tlv(0x06, OID_CT_TST_INFO)]),
        );
        assert_eq!(
            check(&with_attrs(vec![two_values, md.clone(), ess.clone()])),
            Err(TimestampError::SignedAttributes)
        );
        let err = check(&with_attrs(vec![
            ct.clone(),
            attr(
                OID_MESSAGE_DIGEST,
                &tlv(0x04, &digest_of(DigestAlg::Sha256, b"other")),
            ),
            ess.clone(),
        ]))
        .unwrap_err();
        assert_eq!(
            (err, err.code()),
            (TimestampError::MessageDigest, "timestamp-message-digest")
        );
        // Other attributes (signingTime) are fine, in any order; too many
        // bytes of them are not.
        let signing_time = attr(
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x05],
            &tlv(0x17, b"250601120000Z"),
        );
        assert_eq!(
            check(&with_attrs(vec![
                ess.clone(),
                signing_time.clone(),
                md.clone(),
                ct.clone()
            ])),
            Ok(())
        );
        let big = attr(&[0x2a, 0x03], &tlv(0x04, &[0u8; MAX_SIGNED_ATTRS_LEN]));
        assert_eq!(
            check(&with_attrs(vec![ct.clone(), md.clone(), ess.clone(), big])),
            Err(TimestampError::SignedAttributes)
        );

        // A signature by another key, or over other bytes.
        let other = Signer::new(Suite::EcdsaP256, 107);
        let err = verify(
            &base.encode(&other),
            DigestAlg::Sha256,
            msg,
            &[&pki.root],
            None,
        )
        .unwrap_err();
        assert_eq!(
            (err, err.code()),
            (TimestampError::Signature, "timestamp-signature")
        );
        // A P-384 signature algorithm with the P-256 key.
        let mismatched = Signer {
            sig_alg: tlv(0x06, OID_ED25519),
            ..Signer::new(Suite::EcdsaP256, 101)
        };
        assert_eq!(
            verify(
                &base.encode(&mismatched),
                DigestAlg::Sha256,
                msg,
                &[&pki.root],
                None
            ),
            Err(TimestampError::UnsupportedAlgorithm)
        );

        // Certificates: intermediates are optional, more than the limit is not.
        let filler = pki.root.clone();
        let mut many = vec![pki.cert.clone()];
        many.extend(std::iter::repeat_n(filler, MAX_CERTIFICATES - 1));
        assert_eq!(
            check(&TokenSpec {
                certs: many.clone(),
                ..base.clone()
            }),
            Ok(())
        );
        many.push(pki.root.clone());
        assert_eq!(
            check(&TokenSpec {
                certs: many,
                ..base.clone()
            }),
            Err(TimestampError::Malformed)
        );
    }

    #[cfg(feature = "ecdsa-p256")]
    #[test]
    fn rust_built_tst_info_fields() {
        let pki = rust_pki(Suite::EcdsaP256, 110);
        let msg = b"m";
        let tst = Tst::new(DigestAlg::Sha256, msg);
        let run = |t: &Tst| {
            let tok = TokenSpec::new(t, DigestAlg::Sha256, &pki.cert).encode(&pki.tsa);
            let r = verify(&tok, DigestAlg::Sha256, msg, &[&pki.root], None);
            r.map(|i| (i.gen_time, i.accuracy_millis, i.nonce.map(<[u8]>::to_vec)))
        };
        let info = cert::parse_certificate(&pki.cert).unwrap();
        let tsa_field = |general_name: &[u8]| tlv(0xa0, general_name);

        // genTime: fractions truncated; outside the TSA certificate's validity.
        assert_eq!(
            run(&Tst {
                gen_time: "20250601120000.999Z".into(),
                ..tst.clone()
            }),
            Ok((GEN_TIME_2025, None, None))
        );
        for bad in [
            "20250601120000.990Z",
            "20250601120000.Z",
            "20250601120000",
            "202506011200Z",
            "20250601120000+0100",
            "20250231120000Z",
        ] {
            assert_eq!(
                run(&Tst {
                    gen_time: bad.into(),
                    ..tst.clone()
                }),
                Err(TimestampError::Malformed),
                "{bad}"
            );
        }
        let err = run(&Tst {
            gen_time: "20500101000000Z".into(),
            ..tst.clone()
        })
        .unwrap_err();
        assert_eq!(
            (err, err.code()),
            (
                TimestampError::Chain(ChainError::Expired),
                "timestamp-tsa-cert-expired"
            )
        );
        assert_eq!(
            run(&Tst {
                gen_time: "20191231235959Z".into(),
                ..tst.clone()
            }),
            Err(TimestampError::Chain(ChainError::NotYetValid))
        );

        // accuracy, ordering, nonce, tsa, extensions.
        let accuracy = tlv(
            0x30,
            &cat(&[
                &tlv(0x02, &[2]),
                &tlv(0x80, &[0x03, 0xe7]),
                &tlv(0x81, &[1]),
            ]),
        );
        let nonce = tlv(0x02, &[0x00, 0x99, 0x01]);
        let full = Tst {
            tail: cat(&[
                &accuracy,
                &[0x01, 0x01, 0xff],
                &nonce,
                &tsa_field(&tlv(0xa4, info.subject)),
            ]),
            ..tst.clone()
        };
        assert_eq!(
            run(&full),
            Ok((
                GEN_TIME_2025,
                Some(2_000 + 999 + 1),
                Some(vec![0x00, 0x99, 0x01])
            ))
        );
        let err = run(&Tst {
            tail: tsa_field(&tlv(0xa4, &name("Another TSA"))),
            ..tst.clone()
        })
        .unwrap_err();
        assert_eq!(
            (err, err.code()),
            (TimestampError::TsaName, "timestamp-tsa-name")
        );
        // A dNSName is not checked.
        assert!(
            run(&Tst {
                tail: tsa_field(&tlv(0x82, b"tsa.example")),
                ..tst.clone()
            })
            .is_ok()
        );
        for bad_accuracy in [
            tlv(0x30, &tlv(0x80, &[0x03, 0xe8])), // 1000 ms
            tlv(0x30, &tlv(0x80, &[0x00])),       // 0 ms
            tlv(0x30, &cat(&[&tlv(0x81, &[1]), &tlv(0x80, &[1])])), // out of order
        ] {
            assert_eq!(
                run(&Tst {
                    tail: bad_accuracy,
                    ..tst.clone()
                }),
                Err(TimestampError::Malformed)
            );
        }
        let extension = |critical: bool| {
            let crit: &[u8] = if critical { &[0x01, 0x01, 0xff] } else { &[] };
            tlv(
                0xa1,
                &tlv(
                    0x30,
                    &cat(&[
                        &tlv(0x06, &[0x2a, 0x03, 0x07]),
                        crit,
                        &tlv(0x04, &[0x05, 0x00]),
                    ]),
                ),
            )
        };
        assert!(
            run(&Tst {
                tail: extension(false),
                ..tst.clone()
            })
            .is_ok()
        );
        let err = run(&Tst {
            tail: extension(true),
            ..tst.clone()
        })
        .unwrap_err();
        assert_eq!(
            (err, err.code()),
            (
                TimestampError::CriticalExtension,
                "timestamp-critical-extension"
            )
        );

        // Serial numbers: 160 bits at most, positive, minimal.
        assert!(
            run(&Tst {
                serial: cat(&[&[0x00], &[0xff; 20]]),
                ..tst.clone()
            })
            .is_ok()
        );
        for bad in [vec![0x01; 21], vec![0x80], vec![0x00, 0x01], vec![]] {
            assert_eq!(
                run(&Tst {
                    serial: bad.clone(),
                    ..tst.clone()
                }),
                Err(TimestampError::Malformed),
                "{bad:?}"
            );
        }
        // The imprint length must fit its algorithm; an unknown or SHA-1
        // imprint algorithm is not one otaseal asked for.
        assert_eq!(
            run(&Tst {
                imprint: vec![0; 31],
                ..tst.clone()
            }),
            Err(TimestampError::Malformed)
        );
        let imprint_sha1 = tlv(
            0x30,
            &cat(&[&tlv(0x30, &tlv(0x06, OID_SHA1)), &tlv(0x04, &sha1(msg))]),
        );
        let tst_sha1 = tlv(
            0x30,
            &cat(&[
                &tlv(0x02, &[1]),
                &tlv(0x06, POLICY_1),
                &imprint_sha1,
                &tlv(0x02, &[1]),
                &tlv(0x18, b"20250601120000Z"),
            ]),
        );
        let tok = TokenSpec {
            tst: tst_sha1,
            ..TokenSpec::new(&tst, DigestAlg::Sha256, &pki.cert)
        }
        .encode(&pki.tsa);
        assert_eq!(parse_token(&tok), Err(TimestampError::ImprintAlgorithm));
        assert_eq!(
            verify(&tok, DigestAlg::Sha256, msg, &[&pki.root], None),
            Err(TimestampError::ImprintAlgorithm)
        );
    }

    /// Child half of `verify_token_stack`: verifies a token of the suite
    /// in `OTASEAL_STACK_SUITE` on a thread with `OTASEAL_STACK_PROBE` bytes
    /// of stack.
    #[test]
    #[ignore = "run by verify_token_stack"]
    fn stack_probe_child() {
        let (Ok(stack), Ok(suite)) = (
            std::env::var("OTASEAL_STACK_PROBE"),
            std::env::var("OTASEAL_STACK_SUITE"),
        ) else {
            return;
        };
        let stack: usize = stack.parse().unwrap();
        let suite = Suite::from_name(&suite).unwrap();
        let pki = rust_pki(suite, 120);
        let tst = Tst::new(DigestAlg::Sha256, b"m");
        let tok = TokenSpec::new(&tst, cms_digest(suite), &pki.cert).encode(&pki.tsa);
        let root = pki.root.clone();
        std::thread::Builder::new()
            .stack_size(stack)
            .spawn(move || {
                assert!(verify(&tok, DigestAlg::Sha256, b"m", &[&root], None).is_ok());
            })
            .unwrap()
            .join()
            .unwrap();
    }

    /// Measures (1 KiB steps) the stack `verify_token` needs: the
    /// signed-attributes copy, webpki's path building and the signature
    /// verifiers. Printed for the record; in release builds each suite is
    /// held to `host_budget::TOKEN`.
    #[test]
    fn verify_token_stack() {
        let name = "timestamp::tests::stack_probe_child";
        let budget = STACK_BUDGET;
        for suite in [Suite::EcdsaP256, Suite::Sm2, Suite::MlDsa87] {
            if !crate::crypto::suite_supported(suite) {
                continue;
            }
            // The child reads the stack size and the suite from its environment.
            let fits =
                |stack: usize| fits_in_stack(name, stack, &[("OTASEAL_STACK_SUITE", suite.name())]);
            assert!(
                fits(budget),
                "{suite:?}: verify_token overflowed {budget} bytes"
            );
            crate::testutil::assert_release_budget(
                suite.name(),
                crate::testutil::host_budget::TOKEN,
                fits,
            );
            let hi = stack_needed(budget, fits);
            std::eprintln!(
                "verify_token ({}) needs at most {} KiB of stack ({})",
                suite.name(),
                hi / 1024,
                if cfg!(debug_assertions) {
                    "debug"
                } else {
                    "release"
                }
            );
        }
    }

    #[test]
    fn generalized_time() {
        assert_eq!(parse_gen_time(b"19700101000000Z"), Some(0));
        assert_eq!(parse_gen_time(b"20250601120000Z"), Some(GEN_TIME_2025));
        assert_eq!(parse_gen_time(b"20000229235959.5Z"), Some(951_868_799));
        assert_eq!(parse_gen_time(b"21000301000000Z"), Some(4_107_542_400));
        assert_eq!(parse_gen_time(b"99991231235959Z"), Some(253_402_300_799));
        for bad in [
            &b"19691231235959Z"[..],
            b"20000230000000Z",
            b"21000229000000Z",
            b"20251301000000Z",
            b"20250001000000Z",
            b"20250100000000Z",
            b"20250101240000Z",
            b"20250101006000Z",
            b"20250101000060Z",
            b"2025010100000Z",
            b"20250101000000z",
            b"20250101000000.0Z",
            b"20250101000000.Z",
            b"2025-101000000Z",
            b"",
        ] {
            assert_eq!(
                parse_gen_time(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn oid_constants_match_const_oid() {
        use const_oid::ObjectIdentifier as O;
        for (bytes, dotted) in [
            (OID_SIGNED_DATA, "1.2.840.113549.1.7.2"),
            (OID_CT_TST_INFO, "1.2.840.113549.1.9.16.1.4"),
            (OID_CONTENT_TYPE, "1.2.840.113549.1.9.3"),
            (OID_MESSAGE_DIGEST, "1.2.840.113549.1.9.4"),
            (OID_SIGNING_CERTIFICATE, "1.2.840.113549.1.9.16.2.12"),
            (OID_SIGNING_CERTIFICATE_V2, "1.2.840.113549.1.9.16.2.47"),
            (OID_SHA1, "1.3.14.3.2.26"),
            (OID_SHA256, "2.16.840.1.101.3.4.2.1"),
            (OID_SHA384, "2.16.840.1.101.3.4.2.2"),
            (OID_SHA512, "2.16.840.1.101.3.4.2.3"),
            (OID_SM3, "1.2.156.10197.1.401"),
            (OID_RSA_ENCRYPTION, "1.2.840.113549.1.1.1"),
            (OID_SHA256_WITH_RSA, "1.2.840.113549.1.1.11"),
            (OID_SHA384_WITH_RSA, "1.2.840.113549.1.1.12"),
            (OID_SHA512_WITH_RSA, "1.2.840.113549.1.1.13"),
            (OID_ECDSA_SHA256, "1.2.840.10045.4.3.2"),
            (OID_ECDSA_SHA384, "1.2.840.10045.4.3.3"),
            (OID_ECDSA_SHA512, "1.2.840.10045.4.3.4"),
            (OID_SM2_SM3, "1.2.156.10197.1.501"),
            (OID_DATA, "1.2.840.113549.1.7.1"),
        ] {
            assert_eq!(bytes, O::new_unwrap(dotted).as_bytes(), "{dotted}");
        }
        assert_eq!(POLICY_1, O::new_unwrap("1.2.3.4.1").as_bytes());
        assert!(valid_oid(POLICY_1) && valid_oid(&[0x2a, 0x81, 0x00]));
        assert!(!valid_oid(&[]) && !valid_oid(&[0x2a, 0x81]) && !valid_oid(&[0x2a, 0x80, 0x01]));
    }

    #[test]
    fn garbage_never_panics() {
        for bytes in [
            &[][..],
            &[0x30, 0x00],
            &[0x30, 0x80, 0x00, 0x00],
            &[
                0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02,
            ],
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
        ] {
            assert_eq!(parse_token(bytes).err(), Some(TimestampError::Malformed));
            assert_eq!(
                verify(bytes, DigestAlg::Sha256, b"", &[], None).err(),
                Some(TimestampError::Malformed)
            );
        }
    }

    #[test]
    fn error_codes_are_distinct_and_described() {
        let all = [
            TimestampError::Malformed,
            TimestampError::UnsupportedVersion,
            TimestampError::ContentType,
            TimestampError::SignerCount,
            TimestampError::UnsupportedAlgorithm,
            TimestampError::ImprintAlgorithm,
            TimestampError::ImprintMismatch,
            TimestampError::SignedAttributes,
            TimestampError::MessageDigest,
            TimestampError::SigningCertificate,
            TimestampError::CertificateMissing,
            TimestampError::Signature,
            TimestampError::TsaEku,
            TimestampError::Chain(ChainError::Malformed),
            TimestampError::Chain(ChainError::UnknownIssuer),
            TimestampError::Chain(ChainError::Expired),
            TimestampError::Chain(ChainError::NotYetValid),
            TimestampError::Chain(ChainError::MissingKeyUsage),
            TimestampError::Chain(ChainError::BadSignature),
            TimestampError::Chain(ChainError::UnsupportedAlgorithm),
            TimestampError::Chain(ChainError::Other),
            TimestampError::TsaName,
            TimestampError::Policy,
            TimestampError::CriticalExtension,
        ];
        let mut codes: Vec<&str> = all.iter().map(TimestampError::code).collect();
        assert!(codes.iter().all(|c| c.starts_with("timestamp-")));
        codes.sort_unstable();
        let n = codes.len();
        codes.dedup();
        assert_eq!(codes.len(), n, "duplicate codes");
        assert_eq!(
            TimestampError::Chain(ChainError::WrongEku).code(),
            TimestampError::TsaEku.code()
        );
        for e in all {
            assert!(!e.to_string().is_empty());
        }
    }
}
