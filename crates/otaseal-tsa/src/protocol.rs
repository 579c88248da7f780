//! RFC 3161 (with RFC 5816) messages: `TimeStampReq`, `TimeStampResp`,
//! `PKIStatusInfo`, `TSTInfo`, and the ESS `SigningCertificateV2` attribute.
//!
//! # Why these types are defined here
//!
//! The CMS layer (ContentInfo, SignedData, SignerInfo, IssuerAndSerialNumber)
//! comes from RustCrypto's `cms` 0.3.0-rc.0, which is built on der 0.8,
//! spki 0.8 and x509-cert 0.3: the same generation as the rest of the
//! workspace. RustCrypto's `x509-tsp` is not usable: its only release (0.1.0)
//! depends on `cms` 0.2 / `cmpv2` 0.2 and therefore on der 0.7, spki 0.7 and
//! x509-cert 0.2, which would put a second generation of every format crate in
//! the tree. The handful of time-stamp types is small, so they are declared
//! below with `der`'s `Sequence` derive, following the ASN.1 module of
//! RFC 3161 appendix C (`DEFINITIONS IMPLICIT TAGS`). `PKIStatusInfo` comes
//! from RFC 4210 (also in `cmpv2`, which has the same der 0.7 problem), and
//! `SigningCertificateV2` / `ESSCertIDv2` from RFC 5035.
//!
//! `genTime` uses [`GenTime`] rather than `der::asn1::GeneralizedTime`: the
//! latter rejects fractional seconds, which RFC 3161 allows and which other
//! TSAs (including `openssl ts -reply` with a configured precision) emit.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerInfo};
use der::asn1::{BitString, Int, ObjectIdentifier, OctetString};
use der::{
    Decode, DecodeValue, Encode, EncodeValue, FixedTag, Header, Length, Reader, Sequence, Tag,
    Tagged, Writer,
};
use digest::Digest;
use otaseal_manifest::DigestAlg;
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::Extensions;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::serial_number::SerialNumber;

/// Object identifiers used by the time-stamp protocol.
pub mod oid {
    use der::asn1::ObjectIdentifier as Oid;

    /// id-sha256.
    pub const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
    /// id-sha384.
    pub const SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.2");
    /// id-sha512.
    pub const SHA512: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.3");
    /// SM3 (GM/T 0006).
    pub const SM3: Oid = Oid::new_unwrap("1.2.156.10197.1.401");
    /// id-sha1 (rejected with badAlg).
    pub const SHA1: Oid = Oid::new_unwrap("1.3.14.3.2.26");
    /// id-signedData (RFC 5652).
    pub const SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
    /// id-ct-TSTInfo (RFC 3161).
    pub const CT_TST_INFO: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.1.4");
    /// id-contentType attribute.
    pub const CONTENT_TYPE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.3");
    /// id-messageDigest attribute.
    pub const MESSAGE_DIGEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.4");
    /// id-signingTime attribute.
    pub const SIGNING_TIME: Oid = Oid::new_unwrap("1.2.840.113549.1.9.5");
    /// id-aa-signingCertificate (RFC 2634, ESSCertID with SHA-1).
    pub const SIGNING_CERTIFICATE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.12");
    /// id-aa-signingCertificateV2 (RFC 5035).
    pub const SIGNING_CERTIFICATE_V2: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.47");
    /// id-kp-timeStamping.
    pub const KP_TIME_STAMPING: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.8");
    /// OpenSSL's example TSA policy (`tsa_policy1` in openssl.cnf). For
    /// development and tests only; a real TSA uses an OID of its own arc.
    pub const EXAMPLE_POLICY: Oid = Oid::new_unwrap("1.2.3.4.1");
}

/// The hash algorithm OID of a digest family.
pub const fn digest_oid(alg: DigestAlg) -> ObjectIdentifier {
    match alg {
        DigestAlg::Sha256 => oid::SHA256,
        DigestAlg::Sha384 => oid::SHA384,
        DigestAlg::Sha512 => oid::SHA512,
        DigestAlg::Sm3 => oid::SM3,
    }
}

/// The digest family of a hash algorithm OID, if it is one otaseal accepts.
pub fn digest_from_oid(oid: &ObjectIdentifier) -> Option<DigestAlg> {
    DigestAlg::ALL
        .into_iter()
        .find(|alg| digest_oid(*alg) == *oid)
}

/// Output length of a digest family in bytes.
pub const fn digest_len(alg: DigestAlg) -> usize {
    match alg {
        DigestAlg::Sha256 | DigestAlg::Sm3 => 32,
        DigestAlg::Sha384 => 48,
        DigestAlg::Sha512 => 64,
    }
}

/// Hashes `data` with a digest family.
pub fn hash(alg: DigestAlg, data: &[u8]) -> Vec<u8> {
    match alg {
        DigestAlg::Sha256 => sha2::Sha256::digest(data).to_vec(),
        DigestAlg::Sha384 => sha2::Sha384::digest(data).to_vec(),
        DigestAlg::Sha512 => sha2::Sha512::digest(data).to_vec(),
        DigestAlg::Sm3 => sm3::Sm3::digest(data).to_vec(),
    }
}

/// `AlgorithmIdentifier` of a digest family, parameters absent (RFC 5754).
pub fn digest_algorithm_identifier(alg: DigestAlg) -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: digest_oid(alg),
        parameters: None,
    }
}

fn default_false() -> bool {
    false
}

/// `MessageImprint ::= SEQUENCE { hashAlgorithm, hashedMessage OCTET STRING }`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct MessageImprint {
    /// The hash algorithm.
    pub hash_algorithm: AlgorithmIdentifierOwned,
    /// The hash of the time-stamped data.
    pub hashed_message: OctetString,
}

impl MessageImprint {
    /// An imprint of `hashed_message` under `alg` (parameters absent).
    pub fn new(alg: DigestAlg, hashed_message: &[u8]) -> der::Result<MessageImprint> {
        Ok(MessageImprint {
            hash_algorithm: digest_algorithm_identifier(alg),
            hashed_message: OctetString::new(hashed_message)?,
        })
    }

    /// The digest family, if known and its parameters are absent or NULL.
    pub fn digest_alg(&self) -> Option<DigestAlg> {
        let params_ok = match &self.hash_algorithm.parameters {
            None => true,
            Some(any) => any.tag() == Tag::Null && any.value().is_empty(),
        };
        if params_ok {
            digest_from_oid(&self.hash_algorithm.oid)
        } else {
            None
        }
    }
}

/// `TimeStampReq` (RFC 3161 section 2.4.1).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct TimeStampReq {
    /// `version INTEGER { v1(1) }`.
    pub version: u8,
    /// The imprint to time-stamp.
    pub message_imprint: MessageImprint,
    /// `reqPolicy TSAPolicyId OPTIONAL`.
    #[asn1(optional = "true")]
    pub req_policy: Option<ObjectIdentifier>,
    /// `nonce INTEGER OPTIONAL`.
    #[asn1(optional = "true")]
    pub nonce: Option<Int>,
    /// `certReq BOOLEAN DEFAULT FALSE`.
    #[asn1(default = "default_false")]
    pub cert_req: bool,
    /// `extensions [0] IMPLICIT Extensions OPTIONAL`.
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    pub extensions: Option<Extensions>,
}

/// `PKIStatus` values.
pub mod status {
    /// A token is present, as requested.
    pub const GRANTED: u8 = 0;
    /// A token is present, with modifications.
    pub const GRANTED_WITH_MODS: u8 = 1;
    /// Rejected.
    pub const REJECTION: u8 = 2;
    /// Not yet processed.
    pub const WAITING: u8 = 3;
    /// Revocation is imminent.
    pub const REVOCATION_WARNING: u8 = 4;
    /// Revocation has occurred.
    pub const REVOCATION_NOTIFICATION: u8 = 5;
}

/// `PKIFailureInfo` bits that RFC 3161 uses, as a bit set.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FailureInfo(pub u32);

impl FailureInfo {
    /// Unrecognized or unsupported algorithm identifier.
    pub const BAD_ALG: FailureInfo = FailureInfo(1 << 0);
    /// Transaction not permitted or supported.
    pub const BAD_REQUEST: FailureInfo = FailureInfo(1 << 2);
    /// The data submitted has the wrong format.
    pub const BAD_DATA_FORMAT: FailureInfo = FailureInfo(1 << 5);
    /// The TSA's time source is not available.
    pub const TIME_NOT_AVAILABLE: FailureInfo = FailureInfo(1 << 14);
    /// The requested policy is not supported.
    pub const UNACCEPTED_POLICY: FailureInfo = FailureInfo(1 << 15);
    /// The requested extension is not supported.
    pub const UNACCEPTED_EXTENSION: FailureInfo = FailureInfo(1 << 16);
    /// Additional information is not available.
    pub const ADD_INFO_NOT_AVAILABLE: FailureInfo = FailureInfo(1 << 17);
    /// The request cannot be handled due to system failure.
    pub const SYSTEM_FAILURE: FailureInfo = FailureInfo(1 << 25);

    const NAMES: [(u32, &'static str); 8] = [
        (0, "badAlg"),
        (2, "badRequest"),
        (5, "badDataFormat"),
        (14, "timeNotAvailable"),
        (15, "unacceptedPolicy"),
        (16, "unacceptedExtension"),
        (17, "addInfoNotAvailable"),
        (25, "systemFailure"),
    ];

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: FailureInfo) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    /// The DER `BIT STRING` of a named-bit list: bit 0 is the most
    /// significant bit of the first octet, trailing zero bits removed.
    pub fn to_bit_string(self) -> BitString {
        if self.0 == 0 {
            return BitString::new(0, Vec::new()).expect("empty bit string");
        }
        let highest = 31 - self.0.leading_zeros() as usize; // last set bit number
        let nbytes = highest / 8 + 1;
        let mut bytes = vec![0u8; nbytes];
        for bit in 0..=highest {
            if self.0 & (1 << bit) != 0 {
                bytes[bit / 8] |= 0x80 >> (bit % 8);
            }
        }
        let unused = (7 - highest % 8) as u8;
        BitString::new(unused, bytes).expect("unused bits < 8")
    }

    /// Reads a named-bit list (bits above 31 are ignored).
    pub fn from_bit_string(bits: &BitString) -> FailureInfo {
        let mut v = 0u32;
        for (i, bit) in bits.bits().enumerate().take(32) {
            if bit {
                v |= 1 << i;
            }
        }
        FailureInfo(v)
    }
}

impl fmt::Debug for FailureInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FailureInfo({self})")
    }
}

impl fmt::Display for FailureInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for bit in 0..32u32 {
            if self.0 & (1 << bit) == 0 {
                continue;
            }
            if !first {
                f.write_str("|")?;
            }
            first = false;
            match Self::NAMES.iter().find(|(b, _)| *b == bit) {
                Some((_, name)) => f.write_str(name)?,
                None => write!(f, "bit{bit}")?,
            }
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}

/// `PKIStatusInfo` (RFC 4210 section 5.2.3).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct PkiStatusInfo {
    /// `status PKIStatus` (see [`status`]).
    pub status: u8,
    /// `statusString PKIFreeText OPTIONAL` (SEQUENCE OF UTF8String).
    #[asn1(optional = "true")]
    pub status_string: Option<Vec<String>>,
    /// `failInfo PKIFailureInfo OPTIONAL`.
    #[asn1(optional = "true")]
    pub fail_info: Option<BitString>,
}

impl PkiStatusInfo {
    /// Status granted, nothing else.
    pub fn granted() -> PkiStatusInfo {
        PkiStatusInfo {
            status: status::GRANTED,
            status_string: None,
            fail_info: None,
        }
    }

    /// Status rejection with failure bits and a text.
    pub fn rejection(fail: FailureInfo, text: &str) -> PkiStatusInfo {
        PkiStatusInfo {
            status: status::REJECTION,
            status_string: Some(vec![text.to_string()]),
            fail_info: Some(fail.to_bit_string()),
        }
    }

    /// The failure bits (empty when absent).
    pub fn failure_info(&self) -> FailureInfo {
        self.fail_info
            .as_ref()
            .map(FailureInfo::from_bit_string)
            .unwrap_or_default()
    }

    /// The status strings joined with "; " (empty when absent).
    pub fn text(&self) -> String {
        self.status_string
            .as_ref()
            .map(|v| v.join("; "))
            .unwrap_or_default()
    }
}

/// `TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken TimeStampToken OPTIONAL }`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct TimeStampResp {
    /// The status.
    pub status: PkiStatusInfo,
    /// `TimeStampToken ::= ContentInfo` (SignedData over TSTInfo).
    #[asn1(optional = "true")]
    pub time_stamp_token: Option<ContentInfo>,
}

/// `Accuracy ::= SEQUENCE { seconds INTEGER OPTIONAL, millis [0] INTEGER (1..999) OPTIONAL,
/// micros [1] INTEGER (1..999) OPTIONAL }`.
#[derive(Clone, Debug, Default, Eq, PartialEq, Sequence)]
pub struct Accuracy {
    /// Whole seconds.
    #[asn1(optional = "true")]
    pub seconds: Option<u32>,
    /// Milliseconds, 1..999.
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    pub millis: Option<u16>,
    /// Microseconds, 1..999.
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    pub micros: Option<u16>,
}

impl Accuracy {
    /// The accuracy for a number of milliseconds (`None` for 0).
    pub fn from_millis(total: u32) -> Option<Accuracy> {
        if total == 0 {
            return None;
        }
        let seconds = total / 1000;
        let millis = (total % 1000) as u16;
        Some(Accuracy {
            seconds: (seconds > 0).then_some(seconds),
            millis: (millis > 0).then_some(millis),
            micros: None,
        })
    }

    /// The accuracy as a duration.
    pub fn as_duration(&self) -> Duration {
        Duration::from_secs(u64::from(self.seconds.unwrap_or(0)))
            + Duration::from_millis(u64::from(self.millis.unwrap_or(0)))
            + Duration::from_micros(u64::from(self.micros.unwrap_or(0)))
    }
}

/// `TSTInfo` (RFC 3161 section 2.4.2).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct TstInfo {
    /// `version INTEGER { v1(1) }`.
    pub version: u8,
    /// The TSA policy under which the token was issued.
    pub policy: ObjectIdentifier,
    /// Copied from the request.
    pub message_imprint: MessageImprint,
    /// Unique per TSA, at most 160 bits.
    pub serial_number: Int,
    /// The time.
    pub gen_time: GenTime,
    /// `accuracy Accuracy OPTIONAL`.
    #[asn1(optional = "true")]
    pub accuracy: Option<Accuracy>,
    /// `ordering BOOLEAN DEFAULT FALSE`.
    #[asn1(default = "default_false")]
    pub ordering: bool,
    /// Copied from the request.
    #[asn1(optional = "true")]
    pub nonce: Option<Int>,
    /// `tsa [0] GeneralName OPTIONAL` (explicit: GeneralName is a CHOICE).
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub tsa: Option<GeneralName>,
    /// `extensions [1] IMPLICIT Extensions OPTIONAL`.
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    pub extensions: Option<Extensions>,
}

/// `IssuerSerial ::= SEQUENCE { issuer GeneralNames, serialNumber CertificateSerialNumber }`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct IssuerSerial {
    /// The certificate issuer (one directoryName).
    pub issuer: Vec<GeneralName>,
    /// The certificate serial number.
    pub serial_number: SerialNumber,
}

/// `ESSCertIDv2` (RFC 5035). `hashAlgorithm` is `DEFAULT id-sha256`: it is
/// `None` (and omitted) for SHA-256; see [`EssCertIdV2::hash_alg`].
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct EssCertIdV2 {
    /// The hash algorithm of `cert_hash`; `None` means SHA-256.
    #[asn1(optional = "true")]
    pub hash_algorithm: Option<AlgorithmIdentifierOwned>,
    /// Hash of the whole certificate DER.
    pub cert_hash: OctetString,
    /// Issuer and serial of the certificate.
    #[asn1(optional = "true")]
    pub issuer_serial: Option<IssuerSerial>,
}

impl EssCertIdV2 {
    /// The effective hash algorithm OID (the default is SHA-256).
    pub fn hash_alg(&self) -> ObjectIdentifier {
        self.hash_algorithm
            .as_ref()
            .map(|a| a.oid)
            .unwrap_or(oid::SHA256)
    }
}

/// `SigningCertificateV2 ::= SEQUENCE { certs SEQUENCE OF ESSCertIDv2, policies ... OPTIONAL }`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct SigningCertificateV2 {
    /// The signer's certificate first.
    pub certs: Vec<EssCertIdV2>,
    /// Policy information (not used by otaseal).
    #[asn1(optional = "true")]
    pub policies: Option<Vec<der::Any>>,
}

/// A `GeneralizedTime` that keeps an optional fraction of a second
/// (`YYYYMMDDHHMMSS[.f+]Z`, no trailing zeros in the fraction, as DER
/// requires). The time is UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GenTime {
    /// Time since the Unix epoch (nanosecond resolution).
    since_epoch: Duration,
}

impl GenTime {
    /// From a duration since the Unix epoch (year 1970 to 9999).
    pub fn from_unix_duration(since_epoch: Duration) -> der::Result<GenTime> {
        der::DateTime::from_unix_duration(Duration::from_secs(since_epoch.as_secs()))?;
        Ok(GenTime { since_epoch })
    }

    /// From a system time, truncated to whole seconds.
    pub fn from_system_time_secs(t: SystemTime) -> der::Result<GenTime> {
        let d = t
            .duration_since(UNIX_EPOCH)
            .map_err(|_| der::Error::from(der::ErrorKind::DateTime))?;
        GenTime::from_unix_duration(Duration::from_secs(d.as_secs()))
    }

    /// Duration since the Unix epoch.
    pub fn to_unix_duration(self) -> Duration {
        self.since_epoch
    }

    /// As a system time.
    pub fn to_system_time(self) -> SystemTime {
        UNIX_EPOCH + self.since_epoch
    }

    fn encode_string(&self) -> String {
        let dt = der::DateTime::from_unix_duration(Duration::from_secs(self.since_epoch.as_secs()))
            .expect("checked at construction");
        let mut s = format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}",
            dt.year(),
            dt.month(),
            dt.day(),
            dt.hour(),
            dt.minutes(),
            dt.seconds()
        );
        let nanos = self.since_epoch.subsec_nanos();
        if nanos != 0 {
            let frac = format!("{nanos:09}");
            s.push('.');
            s.push_str(frac.trim_end_matches('0'));
        }
        s.push('Z');
        s
    }
}

impl fmt::Display for GenTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode_string())
    }
}

impl FixedTag for GenTime {
    const TAG: Tag = Tag::GeneralizedTime;
}

impl EncodeValue for GenTime {
    fn value_len(&self) -> der::Result<Length> {
        Length::try_from(self.encode_string().len())
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        writer.write(self.encode_string().as_bytes())
    }
}

impl<'a> DecodeValue<'a> for GenTime {
    type Error = der::Error;

    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        let len = usize::try_from(header.length())?;
        if len > 64 {
            return Err(Tag::GeneralizedTime.value_error().into());
        }
        let mut buf = [0u8; 64];
        let bytes = reader.read_into(&mut buf[..len])?;
        parse_generalized_time(bytes).ok_or_else(|| Tag::GeneralizedTime.value_error().into())
    }
}

fn parse_generalized_time(b: &[u8]) -> Option<GenTime> {
    // YYYYMMDDHHMMSS then optional .f+ then Z.
    if b.len() < 15 || *b.last()? != b'Z' {
        return None;
    }
    let digits = |s: &[u8]| -> Option<u32> {
        s.iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let year = u16::try_from(digits(&b[0..4])?).ok()?;
    let month = u8::try_from(digits(&b[4..6])?).ok()?;
    let day = u8::try_from(digits(&b[6..8])?).ok()?;
    let hour = u8::try_from(digits(&b[8..10])?).ok()?;
    let minute = u8::try_from(digits(&b[10..12])?).ok()?;
    let second = u8::try_from(digits(&b[12..14])?).ok()?;
    let rest = &b[14..b.len() - 1];
    let nanos = if rest.is_empty() {
        0
    } else {
        // DER: '.' then 1..9 digits, the last one not zero.
        let frac = rest.strip_prefix(b".")?;
        if frac.is_empty() || frac.len() > 9 || frac.last() == Some(&b'0') {
            return None;
        }
        let v = digits(frac)?;
        v * 10u32.pow(9 - frac.len() as u32)
    };
    let dt = der::DateTime::new(year, month, day, hour, minute, second).ok()?;
    Some(GenTime {
        since_epoch: dt.unix_duration() + Duration::from_nanos(u64::from(nanos)),
    })
}

/// A time-stamp token taken apart: the SignedData, its TSTInfo and the exact
/// eContent bytes (the DER of the TSTInfo that the message-digest covers).
#[derive(Clone, Debug)]
pub struct ParsedToken {
    /// The CMS SignedData.
    pub signed_data: SignedData,
    /// The decoded TSTInfo.
    pub tst_info: TstInfo,
    /// The eContent OCTET STRING value.
    pub tst_info_der: Vec<u8>,
}

impl ParsedToken {
    /// The single SignerInfo, if there is exactly one.
    pub fn signer_info(&self) -> Option<&SignerInfo> {
        let infos = self.signed_data.signer_infos.0.as_slice();
        if infos.len() == 1 {
            infos.first()
        } else {
            None
        }
    }
}

/// Why a token did not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenFormatError(pub String);

impl fmt::Display for TokenFormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TokenFormatError {}

/// Takes a `TimeStampToken` (ContentInfo) apart. Checks only the structure:
/// content type id-signedData, eContentType id-ct-TSTInfo, an eContent that
/// is an OCTET STRING holding exactly one DER TSTInfo. Signatures and
/// certificates are not checked here.
pub fn parse_token(token: &ContentInfo) -> Result<ParsedToken, TokenFormatError> {
    let err = |m: &str| TokenFormatError(m.to_string());
    if token.content_type != oid::SIGNED_DATA {
        return Err(err("token content type is not id-signedData"));
    }
    let signed_data: SignedData = token
        .content
        .decode_as()
        .map_err(|e| TokenFormatError(format!("SignedData: {e}")))?;
    let eci = &signed_data.encap_content_info;
    if eci.econtent_type != oid::CT_TST_INFO {
        return Err(err("eContentType is not id-ct-TSTInfo"));
    }
    let econtent = eci
        .econtent
        .as_ref()
        .ok_or_else(|| err("eContent is absent"))?;
    let octets: OctetString = econtent
        .decode_as()
        .map_err(|e| TokenFormatError(format!("eContent: {e}")))?;
    let tst_info_der = octets.as_bytes().to_vec();
    let tst_info =
        TstInfo::from_der(&tst_info_der).map_err(|e| TokenFormatError(format!("TSTInfo: {e}")))?;
    Ok(ParsedToken {
        signed_data,
        tst_info,
        tst_info_der,
    })
}

/// Decodes a DER `TimeStampToken` (ContentInfo) and takes it apart.
pub fn parse_token_der(der: &[u8]) -> Result<ParsedToken, TokenFormatError> {
    let ci =
        ContentInfo::from_der(der).map_err(|e| TokenFormatError(format!("ContentInfo: {e}")))?;
    parse_token(&ci)
}

/// Encodes a value, mapping the (practically impossible) error to a string.
pub(crate) fn to_der<T: Encode>(value: &T, what: &str) -> Result<Vec<u8>, String> {
    value.to_der().map_err(|e| format!("encoding {what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_info_bits() {
        let b = FailureInfo::BAD_ALG.to_bit_string();
        assert_eq!(b.to_der().unwrap(), [0x03, 0x02, 0x07, 0x80]);
        let b = FailureInfo::BAD_DATA_FORMAT.to_bit_string();
        assert_eq!(b.to_der().unwrap(), [0x03, 0x02, 0x02, 0x04]);
        let b = FailureInfo::UNACCEPTED_POLICY.to_bit_string();
        assert_eq!(b.to_der().unwrap(), [0x03, 0x03, 0x00, 0x00, 0x01]);
        let b = FailureInfo::SYSTEM_FAILURE.to_bit_string();
        assert_eq!(b.to_der().unwrap(), [0x03, 0x05, 0x06, 0, 0, 0, 0x40]);
        for f in [
            FailureInfo::BAD_ALG,
            FailureInfo::BAD_REQUEST,
            FailureInfo::BAD_DATA_FORMAT,
            FailureInfo::TIME_NOT_AVAILABLE,
            FailureInfo::UNACCEPTED_POLICY,
            FailureInfo::UNACCEPTED_EXTENSION,
            FailureInfo::ADD_INFO_NOT_AVAILABLE,
            FailureInfo::SYSTEM_FAILURE,
            FailureInfo(FailureInfo::BAD_ALG.0 | FailureInfo::SYSTEM_FAILURE.0),
        ] {
            let back = BitString::from_der(&f.to_bit_string().to_der().unwrap()).unwrap();
            assert_eq!(FailureInfo::from_bit_string(&back), f);
        }
        assert_eq!(
            FailureInfo(FailureInfo::BAD_ALG.0 | FailureInfo::UNACCEPTED_POLICY.0).to_string(),
            "badAlg|unacceptedPolicy"
        );
    }

    #[test]
    fn gen_time_round_trip() {
        let t = GenTime::from_unix_duration(Duration::from_secs(1_700_000_000)).unwrap();
        let der = t.to_der().unwrap();
        assert_eq!(&der[2..], b"20231114221320Z");
        assert_eq!(GenTime::from_der(&der).unwrap(), t);

        let t = GenTime::from_unix_duration(Duration::new(1_700_000_000, 120_000_000)).unwrap();
        let der = t.to_der().unwrap();
        assert_eq!(&der[2..], b"20231114221320.12Z");
        assert_eq!(GenTime::from_der(&der).unwrap(), t);

        for bad in [
            &b"20231114221320.120Z"[..],
            b"20231114221320.Z",
            b"20231114221320",
            b"2023111422132Z",
            b"20231314221320Z",
            b"20231114221320+0100",
        ] {
            let mut der = vec![0x18, bad.len() as u8];
            der.extend_from_slice(bad);
            assert!(GenTime::from_der(&der).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn request_round_trip_and_defaults() {
        let req = TimeStampReq {
            version: 1,
            message_imprint: MessageImprint::new(DigestAlg::Sha256, &[7u8; 32]).unwrap(),
            req_policy: None,
            nonce: Some(Int::new(&[0x01, 0x02]).unwrap()),
            cert_req: false,
            extensions: None,
        };
        let der = req.to_der().unwrap();
        // certReq FALSE is the default and must be omitted.
        assert!(!der.windows(3).any(|w| w == [0x01, 0x01, 0x00]));
        assert_eq!(TimeStampReq::from_der(&der).unwrap(), req);
        let req = TimeStampReq {
            cert_req: true,
            ..req
        };
        let der = req.to_der().unwrap();
        assert!(der.ends_with(&[0x01, 0x01, 0xff]));
        assert_eq!(TimeStampReq::from_der(&der).unwrap(), req);
    }

    #[test]
    fn ess_cert_id_default_alg_omitted() {
        let id = EssCertIdV2 {
            hash_algorithm: None,
            cert_hash: OctetString::new([1u8; 32]).unwrap(),
            issuer_serial: None,
        };
        let der = id.to_der().unwrap();
        assert_eq!(der[0..4], [0x30, 34, 0x04, 32]);
        assert_eq!(EssCertIdV2::from_der(&der).unwrap(), id);
    }

    #[test]
    fn accuracy_from_millis() {
        assert_eq!(Accuracy::from_millis(0), None);
        let a = Accuracy::from_millis(1500).unwrap();
        assert_eq!((a.seconds, a.millis), (Some(1), Some(500)));
        let a = Accuracy::from_millis(2000).unwrap();
        assert_eq!((a.seconds, a.millis), (Some(2), None));
        let a = Accuracy::from_millis(5).unwrap();
        assert_eq!((a.seconds, a.millis), (None, Some(5)));
        assert_eq!(a.as_duration(), Duration::from_millis(5));
    }
}
