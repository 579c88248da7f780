//! Borrowed, heap-free inspection of one X.509 certificate.
//!
//! Path validation (signatures, validity of every certificate, basic
//! constraints) is done by `rustls-webpki` in [`crate::chain`]. This module
//! reads the few facts of a single certificate that webpki does not expose or
//! does not check: the leaf's public key, subject, validity window and its key
//! usage and extended key usage extensions. Those decide whether a certificate
//! may sign code (and later, whether a TSA certificate may sign timestamps).
//!
//! Everything here borrows from the input DER; nothing is copied or allocated.

use core::fmt;

use der::asn1::{AnyRef, BitStringRef, GeneralizedTime, UtcTime};
use der::{Decode, Reader, SliceReader, Tag, TagNumber, Tagged};

/// DER content bytes of OID 2.5.29.15 (id-ce-keyUsage).
const OID_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];
/// DER content bytes of OID 2.5.29.37 (id-ce-extKeyUsage).
const OID_EXT_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25];
/// DER content bytes of OID 1.3.6.1.5.5.7.3.3 (id-kp-codeSigning).
pub const OID_KP_CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];
/// DER content bytes of OID 1.3.6.1.5.5.7.3.8 (id-kp-timeStamping).
pub const OID_KP_TIME_STAMPING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08];
/// Microsoft lifetime signing, 1.3.6.1.4.1.311.10.3.13 (content bytes): a
/// signature expires with its certificate even when timestamped.
pub const OID_LIFETIME_SIGNING: &[u8] =
    &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x0a, 0x03, 0x0d];
/// DER content bytes of OID 2.5.4.3 (id-at-commonName).
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];

/// What a verifier needs to know about one certificate, borrowed from its DER.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CertInfo<'a> {
    /// The full `SubjectPublicKeyInfo` DER (SEQUENCE header included), ready
    /// for [`crate::crypto::verify_signature`].
    pub spki: &'a [u8],
    /// The subject `Name` DER (SEQUENCE header included).
    pub subject: &'a [u8],
    /// The issuer `Name` DER (SEQUENCE header included), for matching an
    /// RFC 5035 `IssuerSerial`.
    pub issuer: &'a [u8],
    /// The serial number INTEGER's content bytes, exactly as encoded.
    pub serial: &'a [u8],
    /// notBefore, in seconds since the Unix epoch.
    pub not_before: u64,
    /// notAfter, in seconds since the Unix epoch.
    pub not_after: u64,
    /// The extended key usage extension lists id-kp-codeSigning.
    pub has_code_signing_eku: bool,
    /// The certificate has an extended key usage extension at all.
    pub eku_present: bool,
    /// The keyUsage digitalSignature bit; `None` when the extension is absent.
    pub key_usage_digital_signature: Option<bool>,
    /// The extended key usage extension lists id-kp-timeStamping.
    pub has_time_stamping_eku: bool,
    /// The extended key usage extension lists lifetime signing.
    pub has_lifetime_signing_eku: bool,
    /// How many purposes the extended key usage extension lists (0 if absent).
    pub eku_count: usize,
    /// The extended key usage extension is marked critical.
    pub eku_critical: bool,
}

/// Why a certificate could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertError {
    /// The bytes are not a DER X.509 certificate (bad encoding, missing or
    /// extra fields, mismatched signature algorithms, an empty EKU list).
    Malformed,
    /// The certificate is not version 3; only v3 certificates carry the
    /// extensions that decide what a key may be used for.
    UnsupportedVersion,
    /// A validity time is not a valid RFC 5280 UTCTime/GeneralizedTime, or
    /// notBefore is after notAfter.
    BadTime,
    /// The keyUsage or extendedKeyUsage extension appears twice, which
    /// RFC 5280 forbids and which would make the answer ambiguous.
    DuplicateExtension,
}

impl fmt::Display for CertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CertError::Malformed => "certificate is not well-formed DER X.509",
            CertError::UnsupportedVersion => "certificate is not X.509 version 3",
            CertError::BadTime => "certificate validity period is invalid",
            CertError::DuplicateExtension => "certificate repeats a key usage extension",
        })
    }
}

impl From<der::Error> for CertError {
    fn from(_: der::Error) -> Self {
        CertError::Malformed
    }
}

/// A cursor over a run of DER TLVs, borrowing the input.
///
/// A thin layer over `der::SliceReader` that hands out raw contents or whole
/// TLVs, which is what byte-exact comparisons (algorithm identifiers, names)
/// need.
#[derive(Clone)]
pub(crate) struct DerCursor<'a> {
    reader: SliceReader<'a>,
}

impl<'a> DerCursor<'a> {
    /// A cursor over `bytes`, which may hold zero or more TLVs.
    pub(crate) fn new(bytes: &'a [u8]) -> Result<Self, der::Error> {
        Ok(DerCursor {
            reader: SliceReader::new(bytes)?,
        })
    }

    /// Whether every byte has been consumed.
    pub(crate) fn is_empty(&self) -> bool {
        self.reader.is_finished()
    }

    /// The tag of the next TLV, if any.
    pub(crate) fn peek_tag(&self) -> Option<Tag> {
        if self.is_empty() {
            return None;
        }
        Tag::peek(&self.reader).ok()
    }

    /// The next TLV, whatever its tag.
    pub(crate) fn any(&mut self) -> Result<AnyRef<'a>, der::Error> {
        AnyRef::decode(&mut self.reader)
    }

    /// The contents of the next TLV, which must carry `tag`.
    pub(crate) fn expect(&mut self, tag: Tag) -> Result<&'a [u8], der::Error> {
        let any = self.any()?;
        any.tag().assert_eq(tag)?;
        Ok(any.value())
    }

    /// The whole encoding (header included) of the next TLV, which must carry `tag`.
    pub(crate) fn expect_tlv(&mut self, tag: Tag) -> Result<&'a [u8], der::Error> {
        // Check the tag and length on a copy first, then take the raw bytes.
        let mut probe = self.reader.clone();
        AnyRef::decode(&mut probe)?.tag().assert_eq(tag)?;
        self.reader.tlv_bytes()
    }

    /// Decodes the next TLV as `T` (a typed, fully checked DER value).
    pub(crate) fn decode<T: Decode<'a, Error = der::Error>>(&mut self) -> Result<T, der::Error> {
        T::decode(&mut self.reader)
    }

    /// Fails unless every byte has been consumed.
    pub(crate) fn finish(self) -> Result<(), der::Error> {
        self.reader.finish()
    }
}

/// Parses the contents of a SEQUENCE (given as `bytes`, a full TLV) and makes
/// sure nothing follows it.
pub(crate) fn sole_sequence(bytes: &[u8]) -> Result<DerCursor<'_>, der::Error> {
    let mut outer = DerCursor::new(bytes)?;
    let contents = outer.expect(Tag::Sequence)?;
    outer.finish()?;
    DerCursor::new(contents)
}

/// A parsed `SubjectPublicKeyInfo`, borrowed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SpkiRef<'a> {
    /// The AlgorithmIdentifier contents (no outer SEQUENCE header): what
    /// webpki compares byte for byte.
    pub(crate) alg_id: &'a [u8],
    /// The algorithm OID's content bytes.
    pub(crate) alg_oid: &'a [u8],
    /// The algorithm parameters, if present.
    pub(crate) params: Option<AnyRef<'a>>,
    /// The subjectPublicKey BIT STRING contents (whole bytes only).
    pub(crate) key: &'a [u8],
}

/// Parses a full DER `SubjectPublicKeyInfo`.
pub(crate) fn parse_spki(spki_der: &[u8]) -> Result<SpkiRef<'_>, der::Error> {
    let mut spki = sole_sequence(spki_der)?;
    let alg_id = spki.expect(Tag::Sequence)?;
    let key_bits: BitStringRef<'_> = spki.decode()?;
    spki.finish()?;
    let (alg_oid, params) = parse_alg_id(alg_id)?;
    // A public key is a whole number of bytes; a key with unused bits is not
    // one any supported algorithm defines.
    let key = key_bits.as_bytes().ok_or_else(|| {
        der::Error::from(der::ErrorKind::Length {
            tag: Tag::BitString,
        })
    })?;
    Ok(SpkiRef {
        alg_id,
        alg_oid,
        params,
        key,
    })
}

/// Splits AlgorithmIdentifier contents into the OID content bytes and the
/// optional parameters.
pub(crate) fn parse_alg_id(alg_id: &[u8]) -> Result<(&[u8], Option<AnyRef<'_>>), der::Error> {
    let mut alg = DerCursor::new(alg_id)?;
    let oid = alg.expect(Tag::ObjectIdentifier)?;
    let params = if alg.is_empty() {
        None
    } else {
        Some(alg.any()?)
    };
    alg.finish()?;
    Ok((oid, params))
}

/// Reads an RFC 5280 `Time` (UTCTime or GeneralizedTime) as Unix seconds;
/// with `CONTENTS` false only its tag and length (the time reads as 0).
fn read_time<const CONTENTS: bool>(cursor: &mut DerCursor<'_>) -> Result<u64, CertError> {
    if !CONTENTS {
        return match cursor.any()?.tag() {
            Tag::UtcTime | Tag::GeneralizedTime => Ok(0),
            _ => Err(CertError::BadTime),
        };
    }
    match cursor.peek_tag() {
        Some(Tag::UtcTime) => {
            let t: UtcTime = cursor.decode().map_err(|_| CertError::BadTime)?;
            Ok(t.to_unix_duration().as_secs())
        }
        Some(Tag::GeneralizedTime) => {
            let t: GeneralizedTime = cursor.decode().map_err(|_| CertError::BadTime)?;
            Ok(t.to_unix_duration().as_secs())
        }
        _ => Err(CertError::BadTime),
    }
}

/// The context-specific tag `[n]`, constructed or not.
const fn context(number: u32, constructed: bool) -> Tag {
    Tag::ContextSpecific {
        constructed,
        number: TagNumber(number),
    }
}

/// Parses one DER X.509 certificate without allocating.
///
/// Checks the structure (including that the inner and outer signature
/// algorithms agree, as RFC 5280 requires), but not the signature: that is
/// [`crate::chain`]'s job.
pub fn parse_certificate(der: &[u8]) -> Result<CertInfo<'_>, CertError> {
    parse::<true>(der)
}

/// The `SubjectPublicKeyInfo` DER of a certificate, for a build without
/// `x509` that trusts only pinned keys.
///
/// Such a build uses nothing of a certificate but its key (a pinned key is
/// trusted whatever its certificate's validity or usage say, in every
/// build), so this walks the same structure as [`parse_certificate`] (every
/// TLV, the version, the serial, both signature algorithms, the SPKI) but
/// reads the validity times and the extension values only as far as their
/// tags and lengths. That leaves out the date and extension decoding, about
/// 8 KB of a Cortex-M image (README "Firmware").
#[cfg_attr(feature = "x509", allow(dead_code))] // tested in every build, used without x509
pub(crate) fn leaf_spki(der: &[u8]) -> Result<&[u8], CertError> {
    parse::<false>(der).map(|info| info.spki)
}

/// [`parse_certificate`], or with `CONTENTS` false [`leaf_spki`]'s
/// structural walk (times 0, no extension facts).
fn parse<const CONTENTS: bool>(der: &[u8]) -> Result<CertInfo<'_>, CertError> {
    let mut cert = sole_sequence(der)?;
    let tbs = cert.expect(Tag::Sequence)?;
    let outer_sig_alg = cert.expect(Tag::Sequence)?;
    let _signature: BitStringRef<'_> = cert.decode()?;
    cert.finish()?;

    let mut tbs = DerCursor::new(tbs)?;

    // version [0] EXPLICIT INTEGER DEFAULT v1: only v3 (value 2) carries extensions.
    if tbs.peek_tag() != Some(context(0, true)) {
        return Err(CertError::UnsupportedVersion);
    }
    let mut version = DerCursor::new(tbs.expect(context(0, true))?)?;
    let v: u8 = version
        .decode()
        .map_err(|_| CertError::UnsupportedVersion)?;
    version.finish()?;
    if v != 2 {
        return Err(CertError::UnsupportedVersion);
    }

    let serial = tbs.expect(Tag::Integer)?;
    if serial.is_empty() {
        return Err(CertError::Malformed);
    }
    let inner_sig_alg = tbs.expect(Tag::Sequence)?;
    if inner_sig_alg != outer_sig_alg {
        // RFC 5280 4.1.1.2: the two must be identical; a mismatch is an
        // algorithm-substitution attempt or a broken encoder.
        return Err(CertError::Malformed);
    }
    let issuer = tbs.expect_tlv(Tag::Sequence)?;

    let mut validity = DerCursor::new(tbs.expect(Tag::Sequence)?)?;
    let not_before = read_time::<CONTENTS>(&mut validity)?;
    let not_after = read_time::<CONTENTS>(&mut validity)?;
    validity.finish()?;
    if not_before > not_after {
        return Err(CertError::BadTime);
    }

    let subject = tbs.expect_tlv(Tag::Sequence)?;
    let spki = tbs.expect_tlv(Tag::Sequence)?;
    parse_spki(spki)?;

    // issuerUniqueID [1] and subjectUniqueID [2] (IMPLICIT BIT STRING): skipped.
    for n in [1, 2] {
        if tbs.peek_tag() == Some(context(n, false)) {
            tbs.any()?;
        }
    }

    let mut info = CertInfo {
        spki,
        subject,
        issuer,
        serial,
        not_before,
        not_after,
        has_code_signing_eku: false,
        eku_present: false,
        key_usage_digital_signature: None,
        has_time_stamping_eku: false,
        has_lifetime_signing_eku: false,
        eku_count: 0,
        eku_critical: false,
    };

    if !tbs.is_empty() {
        let mut wrapper = DerCursor::new(tbs.expect(context(3, true))?)?;
        let mut exts = DerCursor::new(wrapper.expect(Tag::Sequence)?)?;
        wrapper.finish()?;
        if exts.is_empty() {
            // Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension
            return Err(CertError::Malformed);
        }
        while !exts.is_empty() {
            read_extension::<CONTENTS>(&mut info, exts.expect(Tag::Sequence)?)?;
        }
    }
    tbs.finish()?;
    Ok(info)
}

/// Reads one `Extension` and records what it says about key usage (with
/// `CONTENTS` false, checks only the `Extension` structure).
fn read_extension<'a, const CONTENTS: bool>(
    info: &mut CertInfo<'a>,
    ext: &'a [u8],
) -> Result<(), CertError> {
    let mut ext = DerCursor::new(ext)?;
    let oid = ext.expect(Tag::ObjectIdentifier)?;
    // critical BOOLEAN DEFAULT FALSE: DER forbids encoding the default.
    let critical = if ext.peek_tag() == Some(Tag::Boolean) {
        let c: bool = ext.decode()?;
        if !c {
            return Err(CertError::Malformed);
        }
        true
    } else {
        false
    };
    let value = ext.expect(Tag::OctetString)?;
    ext.finish()?;

    if !CONTENTS {
        return Ok(());
    }
    if oid == OID_KEY_USAGE {
        if info.key_usage_digital_signature.is_some() {
            return Err(CertError::DuplicateExtension);
        }
        let mut v = DerCursor::new(value)?;
        let bits: BitStringRef<'_> = v.decode()?;
        v.finish()?;
        // digitalSignature is bit 0; an empty string has no bit set.
        info.key_usage_digital_signature = Some(bits.get(0).unwrap_or(false));
    } else if oid == OID_EXT_KEY_USAGE {
        if info.eku_present {
            return Err(CertError::DuplicateExtension);
        }
        info.eku_present = true;
        info.eku_critical = critical;
        let mut purposes = sole_sequence(value)?;
        if purposes.is_empty() {
            // ExtKeyUsageSyntax ::= SEQUENCE SIZE (1..MAX) OF KeyPurposeId
            return Err(CertError::Malformed);
        }
        while !purposes.is_empty() {
            let purpose = purposes.expect(Tag::ObjectIdentifier)?;
            info.eku_count = info.eku_count.saturating_add(1);
            if purpose == OID_KP_CODE_SIGNING {
                info.has_code_signing_eku = true;
            } else if purpose == OID_KP_TIME_STAMPING {
                info.has_time_stamping_eku = true;
            } else if purpose == OID_LIFETIME_SIGNING {
                info.has_lifetime_signing_eku = true;
            }
        }
    }
    Ok(())
}

/// DER content bytes of OID 2.5.29.14 (id-ce-subjectKeyIdentifier).
const OID_SUBJECT_KEY_ID: &[u8] = &[0x55, 0x1d, 0x0e];

/// The certificate's subjectKeyIdentifier (the KeyIdentifier OCTET STRING's
/// contents), or `None` when the extension is absent.
///
/// Used to find the certificate a CMS `SignerInfo` names by
/// `subjectKeyIdentifier` (RFC 5652 5.3). Walks the `TBSCertificate` only as
/// far as its extensions; [`parse_certificate`] does the full checks.
pub fn subject_key_identifier(der: &[u8]) -> Result<Option<&[u8]>, CertError> {
    let mut cert = sole_sequence(der)?;
    let mut tbs = DerCursor::new(cert.expect(Tag::Sequence)?)?;
    if tbs.peek_tag() == Some(context(0, true)) {
        tbs.any()?;
    }
    // serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo
    for _ in 0..6 {
        tbs.any()?;
    }
    for n in [1, 2] {
        if tbs.peek_tag() == Some(context(n, false)) {
            tbs.any()?;
        }
    }
    if tbs.is_empty() {
        return Ok(None);
    }
    let mut wrapper = DerCursor::new(tbs.expect(context(3, true))?)?;
    let mut exts = DerCursor::new(wrapper.expect(Tag::Sequence)?)?;
    wrapper.finish()?;
    tbs.finish()?;
    let mut found = None;
    while !exts.is_empty() {
        let mut ext = DerCursor::new(exts.expect(Tag::Sequence)?)?;
        let oid = ext.expect(Tag::ObjectIdentifier)?;
        if ext.peek_tag() == Some(Tag::Boolean) {
            let _critical: bool = ext.decode()?;
        }
        let value = ext.expect(Tag::OctetString)?;
        ext.finish()?;
        if oid == OID_SUBJECT_KEY_ID {
            if found.is_some() {
                return Err(CertError::DuplicateExtension);
            }
            let mut v = DerCursor::new(value)?;
            let key_id = v.expect(Tag::OctetString)?;
            v.finish()?;
            found = Some(key_id);
        }
    }
    Ok(found)
}

/// The subject's first commonName, for display.
///
/// `subject_der` is a full `Name` encoding, as in [`CertInfo::subject`].
/// Returns `None` when the name has no commonName, the name does not parse,
/// or the value is not a UTF8String, PrintableString or IA5String (BMPString
/// and TeletexString cannot be borrowed as `str`).
pub fn subject_common_name(subject_der: &[u8]) -> Option<&str> {
    let mut rdns = sole_sequence(subject_der).ok()?;
    while !rdns.is_empty() {
        let mut attrs = DerCursor::new(rdns.expect(Tag::Set).ok()?).ok()?;
        while !attrs.is_empty() {
            let mut atv = DerCursor::new(attrs.expect(Tag::Sequence).ok()?).ok()?;
            let oid = atv.expect(Tag::ObjectIdentifier).ok()?;
            let value = atv.any().ok()?;
            atv.finish().ok()?;
            if oid != OID_COMMON_NAME {
                continue;
            }
            return match value.tag() {
                Tag::Utf8String => core::str::from_utf8(value.value()).ok(),
                Tag::PrintableString | Tag::Ia5String if value.value().is_ascii() => {
                    core::str::from_utf8(value.value()).ok()
                }
                _ => None,
            };
        }
    }
    None
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    // A self-signed Ed25519 certificate made by OpenSSL 3.0:
    //   openssl req -x509 -key ed.pem -subj "/O=otaseal test/CN=Leaf One" -days 3650
    //     -addext keyUsage=critical,digitalSignature
    //     -addext extendedKeyUsage=critical,codeSigning,timeStamping
    // (regenerated by the `openssl_fixture_matches` test when openssl exists).
    fn sample() -> Option<Vec<u8>> {
        let dir = crate::chain::tests::TempDir::new("cert")?;
        let run = |args: &[&str]| dir.openssl(args);
        run(&["genpkey", "-algorithm", "ed25519", "-out", "k.pem"])?;
        run(&[
            "req",
            "-x509",
            "-key",
            "k.pem",
            "-subj",
            "/O=otaseal test/CN=Leaf One",
            "-days",
            "3650",
            "-addext",
            "keyUsage=critical,digitalSignature",
            "-addext",
            "extendedKeyUsage=critical,codeSigning,timeStamping",
            "-outform",
            "DER",
            "-out",
            "c.der",
        ])?;
        dir.read("c.der")
    }

    #[test]
    fn parses_openssl_certificate() {
        let Some(der) = sample() else {
            std::eprintln!("note: openssl not found, skipping");
            return;
        };
        let info = parse_certificate(&der).unwrap();
        assert!(info.eku_present && info.eku_critical);
        assert!(info.has_code_signing_eku && info.has_time_stamping_eku);
        assert_eq!(info.eku_count, 2);
        assert_eq!(info.key_usage_digital_signature, Some(true));
        assert_eq!(info.not_after - info.not_before, 3650 * 86400);
        assert_eq!(subject_common_name(info.subject), Some("Leaf One"));
        assert_eq!(info.subject, info.issuer);
        assert_eq!(
            crate::crypto::suite_of_spki(info.spki),
            Ok(otaseal_manifest::Suite::Ed25519)
        );
    }

    #[test]
    fn oid_constants_match_const_oid() {
        use const_oid::ObjectIdentifier as O;
        for (bytes, dotted) in [
            (OID_KEY_USAGE, "2.5.29.15"),
            (OID_EXT_KEY_USAGE, "2.5.29.37"),
            (OID_KP_CODE_SIGNING, "1.3.6.1.5.5.7.3.3"),
            (OID_KP_TIME_STAMPING, "1.3.6.1.5.5.7.3.8"),
            (OID_COMMON_NAME, "2.5.4.3"),
            (OID_SUBJECT_KEY_ID, "2.5.29.14"),
        ] {
            assert_eq!(bytes, O::new_unwrap(dotted).as_bytes(), "{dotted}");
        }
    }

    #[test]
    fn rejects_garbage_and_truncation_without_panicking() {
        assert_eq!(parse_certificate(&[]), Err(CertError::Malformed));
        assert_eq!(parse_certificate(&[0x30, 0x00]), Err(CertError::Malformed));
        let Some(der) = sample() else { return };
        for len in 0..der.len() {
            assert_eq!(
                parse_certificate(&der[..len]).err(),
                Some(CertError::Malformed),
                "prefix {len}"
            );
        }
        let mut trailing = der.clone();
        trailing.push(0);
        assert_eq!(parse_certificate(&trailing), Err(CertError::Malformed));
        // Flip every byte in turn: must never panic (result may be Ok when a
        // content byte changes).
        for i in 0..der.len() {
            let mut m = der.clone();
            m[i] ^= 0xff;
            let _ = parse_certificate(&m);
            if let Ok(info) = parse_certificate(&m) {
                let _ = subject_common_name(info.subject);
            }
        }
    }

    /// The walk of a build without `x509` finds the same key as the full
    /// parse, refuses what is not a certificate's structure (truncation,
    /// trailing bytes, a validity that is not two times, a non-v3
    /// certificate) and never panics.
    #[test]
    fn leaf_spki_walks_the_same_structure() {
        assert_eq!(leaf_spki(&[]), Err(CertError::Malformed));
        let Some(der) = sample() else {
            std::eprintln!("note: openssl not found, skipping");
            return;
        };
        assert_eq!(leaf_spki(&der), Ok(parse_certificate(&der).unwrap().spki));
        for len in 0..der.len() {
            assert_eq!(
                leaf_spki(&der[..len]),
                Err(CertError::Malformed),
                "prefix {len}"
            );
        }
        let mut trailing = der.clone();
        trailing.push(0);
        assert_eq!(leaf_spki(&trailing), Err(CertError::Malformed));
        // notBefore's UTCTime (0x17) turned into an OCTET STRING (0x04).
        let validity = der
            .windows(2)
            .position(|w| w[0] == 0x17 && w[1] == 13)
            .expect("a UTCTime");
        let mut not_a_time = der.clone();
        not_a_time[validity] = 0x04;
        assert_eq!(leaf_spki(&not_a_time), Err(CertError::BadTime));
        assert_eq!(parse_certificate(&not_a_time), Err(CertError::BadTime));
        // version v3 (2) -> v2 (1): [0] { INTEGER 2 } is at the TBS start.
        let version = der
            .windows(5)
            .position(|w| w == [0xa0, 0x03, 0x02, 0x01, 0x02])
            .expect("a v3 version");
        let mut v2 = der.clone();
        v2[version + 4] = 1;
        assert_eq!(leaf_spki(&v2), Err(CertError::UnsupportedVersion));
        for i in 0..der.len() {
            let mut m = der.clone();
            m[i] ^= 0xff;
            let _ = leaf_spki(&m);
        }
    }

    #[test]
    fn common_name_variants() {
        // SEQUENCE { SET { SEQUENCE { OID 2.5.4.6 (C), PrintableString "CN" } },
        //            SET { SEQUENCE { OID 2.5.4.3, PrintableString "abc" } } }
        let name = [
            0x30, 0x1c, 0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x06, 0x13, 0x02, b'C',
            b'N', 0x31, 0x0d, 0x30, 0x0b, 0x06, 0x03, 0x55, 0x04, 0x03, 0x13, 0x04, b'a', b'b',
            b'c', b'd',
        ];
        assert_eq!(subject_common_name(&name), Some("abcd"));
        // BMPString value: not representable as a borrowed str.
        let bmp = [
            0x30, 0x0e, 0x31, 0x0c, 0x30, 0x0a, 0x06, 0x03, 0x55, 0x04, 0x03, 0x1e, 0x03, 0x00,
            b'a', 0x00,
        ];
        assert_eq!(subject_common_name(&bmp), None);
        // Empty name.
        assert_eq!(subject_common_name(&[0x30, 0x00]), None);
        assert_eq!(subject_common_name(&[0x30]), None);
    }
}
