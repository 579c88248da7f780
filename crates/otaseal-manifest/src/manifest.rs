//! The manifest: what a package contains and who must have signed it.
//!
//! The manifest is one deterministic CBOR map with small integer keys (see
//! `spec/format.md` for the CDDL). It borrows its strings and digests from the
//! encoded bytes and keeps its lists in fixed-capacity vectors, so a device can
//! decode it without a heap. Limits are part of the format: a signer refuses to
//! write a manifest beyond them and a verifier rejects one.

use core::fmt;

use heapless::Vec;
use minicbor::{Decoder, Encoder, encode::Write};

use crate::canonical::{self, CanonicalError};
use crate::container::{ENVELOPE_MEMBER, MAX_MEMBER_SIZE, MAX_MTIME};
use crate::suite::{DigestAlg, Suite};

/// The only manifest format version this crate reads and writes.
pub const FORMAT_VERSION: u64 = 1;
/// Most payloads in one package.
pub const MAX_PAYLOADS: usize = 16;
/// Most hardware-compatibility ids.
pub const MAX_HW_IDS: usize = 16;
/// Most declared signers (and so signatures).
pub const MAX_SIGNERS: usize = 8;
/// Longest product id, hardware id or version string, in bytes.
pub const MAX_ID_LEN: usize = 64;
/// Longest payload name, in bytes (it is also the ustar member name).
pub const MAX_NAME_LEN: usize = 100;
/// Longest install-target hint, in bytes.
pub const MAX_TARGET_LEN: usize = 128;
/// Length of a signer key id: SHA-256 of the SubjectPublicKeyInfo DER.
pub const KEY_ID_LEN: usize = 32;
/// Smallest and largest chunk size exponent (4 KiB .. 16 MiB).
pub const CHUNK_LOG2_RANGE: core::ops::RangeInclusive<u8> = 12..=24;
/// The chunk size exponent signers use by default (1 MiB, as APK v2).
pub const DEFAULT_CHUNK_LOG2: u8 = 20;

// Map keys of the manifest (see spec/format.md).
const K_VERSION: u64 = 0;
const K_PRODUCT: u64 = 1;
const K_HW_COMPAT: u64 = 2;
const K_HUMAN_VERSION: u64 = 3;
const K_SECURITY_VERSION: u64 = 4;
const K_CREATED: u64 = 5;
const K_EXPIRES: u64 = 6;
const K_SIGNERS: u64 = 7;
const K_CHUNK_LOG2: u64 = 8;
const K_PAYLOADS: u64 = 9;
// Map keys of a payload entry.
const P_NAME: u64 = 0;
const P_SIZE: u64 = 1;
const P_KIND: u64 = 2;
const P_TARGET: u64 = 3;
const P_DIGESTS: u64 = 4;

/// What a payload is; devices pick an installer by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PayloadKind {
    /// A raw image written as is.
    Raw,
    /// A POSIX tar archive.
    Tar,
    /// A gzip-compressed tar archive.
    TarGz,
    /// A zip archive.
    Zip,
}

impl PayloadKind {
    /// Every kind.
    pub const ALL: [PayloadKind; 4] = [
        PayloadKind::Raw,
        PayloadKind::Tar,
        PayloadKind::TarGz,
        PayloadKind::Zip,
    ];

    /// The command-line and JSON name.
    pub const fn name(self) -> &'static str {
        match self {
            PayloadKind::Raw => "raw",
            PayloadKind::Tar => "tar",
            PayloadKind::TarGz => "tar.gz",
            PayloadKind::Zip => "zip",
        }
    }

    /// Parses a name.
    pub fn from_name(name: &str) -> Option<PayloadKind> {
        PayloadKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The value written in the manifest.
    pub const fn code(self) -> u8 {
        match self {
            PayloadKind::Raw => 0,
            PayloadKind::Tar => 1,
            PayloadKind::TarGz => 2,
            PayloadKind::Zip => 3,
        }
    }

    /// Maps a manifest value back to a kind.
    pub const fn from_code(code: u8) -> Option<PayloadKind> {
        Some(match code {
            0 => PayloadKind::Raw,
            1 => PayloadKind::Tar,
            2 => PayloadKind::TarGz,
            3 => PayloadKind::Zip,
            _ => return None,
        })
    }
}

impl fmt::Display for PayloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One declared signature: the verifier requires a signature with exactly
/// this algorithm and key in the envelope, so none can be stripped silently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignerDecl<'a> {
    /// COSE algorithm id (kept raw: a declared suite may be unknown to an
    /// older verifier, which then reports it unsupported).
    pub alg: i64,
    /// SHA-256 of the signer's SubjectPublicKeyInfo DER.
    pub kid: &'a [u8],
}

impl SignerDecl<'_> {
    /// The suite, when this build knows the algorithm.
    pub fn suite(&self) -> Option<Suite> {
        Suite::from_cose_alg(self.alg)
    }
}

/// One payload digest: the chunked root (see `spec/format.md`, "Payload digests").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayloadDigest<'a> {
    /// The family.
    pub alg: DigestAlg,
    /// The root digest.
    pub root: &'a [u8],
}

/// One payload: a member of the container after the envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payload<'a> {
    /// Member name in the container.
    pub name: &'a str,
    /// Exact size in bytes.
    pub size: u64,
    /// What the payload is.
    pub kind: PayloadKind,
    /// Where the device should install it (a hint: the device decides).
    pub target: Option<&'a str>,
    /// Root digests, in canonical order (SHA-256, SHA-384, SHA-512, SM3).
    pub digests: Vec<PayloadDigest<'a>, 4>,
}

impl Payload<'_> {
    /// The root digest of family `alg`, if the manifest carries one.
    pub fn digest(&self, alg: DigestAlg) -> Option<&[u8]> {
        self.digests.iter().find(|d| d.alg == alg).map(|d| d.root)
    }
}

/// A decoded manifest, borrowing from its encoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest<'a> {
    /// Vendor and product id, e.g. `acme.router-x1`.
    pub product: &'a str,
    /// Hardware-compatibility ids: a device installs only if its id is listed.
    pub hw_compat: Vec<&'a str, MAX_HW_IDS>,
    /// Human-readable version, e.g. `4.2.0-rc1`.
    pub version: &'a str,
    /// Monotonic security version for anti-rollback.
    pub security_version: u64,
    /// Creation time, seconds since the Unix epoch.
    pub created: u64,
    /// Optional expiry ("use before"), seconds since the Unix epoch.
    pub expires: Option<u64>,
    /// The signatures that must accompany this manifest, in envelope order.
    pub signers: Vec<SignerDecl<'a>, MAX_SIGNERS>,
    /// Payload chunk size exponent: chunks are `1 << chunk_log2` bytes.
    pub chunk_log2: u8,
    /// The payloads, in container order.
    pub payloads: Vec<Payload<'a>, MAX_PAYLOADS>,
}

/// Why a manifest was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManifestError {
    /// The bytes are not deterministic CBOR.
    NonCanonical(CanonicalError),
    /// The structure does not follow the CDDL.
    Malformed(&'static str),
    /// The format version is not [`FORMAT_VERSION`].
    UnsupportedVersion(u64),
    /// A non-negative (critical) key this version does not know.
    UnknownCriticalField(u64),
    /// A list or string exceeds a format limit.
    Limit(&'static str),
    /// Two payloads have the same name.
    DuplicatePayload,
    /// Two signer declarations are the same.
    DuplicateSigner,
    /// A hardware id is listed twice.
    DuplicateHwId,
}

impl ManifestError {
    /// Stable machine-readable code (used in JSON output).
    pub const fn code(&self) -> &'static str {
        match self {
            ManifestError::NonCanonical(_) => "cbor-non-canonical",
            ManifestError::Malformed(_) => "manifest-malformed",
            ManifestError::UnsupportedVersion(_) => "manifest-version",
            ManifestError::UnknownCriticalField(_) => "manifest-unknown-critical-field",
            ManifestError::Limit(_) => "manifest-limit",
            ManifestError::DuplicatePayload => "manifest-duplicate-payload",
            ManifestError::DuplicateSigner => "manifest-duplicate-signer",
            ManifestError::DuplicateHwId => "manifest-duplicate-hw-id",
        }
    }
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManifestError::NonCanonical(e) => write!(f, "manifest is not deterministic CBOR: {e}"),
            ManifestError::Malformed(what) => write!(f, "manifest is malformed: {what}"),
            ManifestError::UnsupportedVersion(v) => {
                write!(
                    f,
                    "manifest format version {v} is not supported (expected {FORMAT_VERSION})"
                )
            }
            ManifestError::UnknownCriticalField(k) => {
                write!(f, "manifest has unknown critical field {k}")
            }
            ManifestError::Limit(what) => write!(f, "manifest exceeds a format limit: {what}"),
            ManifestError::DuplicatePayload => write!(f, "manifest lists a payload name twice"),
            ManifestError::DuplicateSigner => write!(f, "manifest declares a signer twice"),
            ManifestError::DuplicateHwId => write!(f, "manifest lists a hardware id twice"),
        }
    }
}

impl From<minicbor::decode::Error> for ManifestError {
    fn from(_: minicbor::decode::Error) -> Self {
        ManifestError::Malformed("unexpected CBOR type")
    }
}

/// Product, hardware and version strings: printable ASCII without spaces.
pub fn is_valid_id(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_graphic())
}

/// Payload names double as container member names: a flat file name from a
/// safe alphabet, so no device path or tar reader can be confused by them.
pub fn is_valid_payload_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_LEN
        && !s.starts_with('.')
        && s != ENVELOPE_MEMBER
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+'))
}

impl<'a> Manifest<'a> {
    /// Decodes and validates a manifest: deterministic CBOR, known critical
    /// fields, limits and uniqueness. Negative keys are non-critical extensions
    /// and are skipped.
    pub fn decode(bytes: &'a [u8]) -> Result<Manifest<'a>, ManifestError> {
        canonical::check(bytes).map_err(ManifestError::NonCanonical)?;
        let mut d = Decoder::new(bytes);
        let entries = definite(d.map()?)?;
        // Decoded in place: the fixed-capacity lists (1.3 KB of payloads)
        // are written once into `m`, not into an `Option` and then moved,
        // which kept two copies on the stack of a small device. Which
        // fields were present is tracked beside it.
        let mut m = Manifest {
            product: "",
            hw_compat: Vec::new(),
            version: "",
            security_version: 0,
            created: 0,
            expires: None,
            signers: Vec::new(),
            chunk_log2: 0,
            payloads: Vec::new(),
        };
        let mut version = None;
        let mut seen = 0u16;
        for _ in 0..entries {
            let key = d.i64()?;
            let Ok(key) = u64::try_from(key) else {
                d.skip()?;
                continue;
            };
            match key {
                K_VERSION => version = Some(d.u64()?),
                K_PRODUCT => m.product = d.str()?,
                K_HW_COMPAT => decode_hw_ids(&mut d, &mut m.hw_compat)?,
                K_HUMAN_VERSION => m.version = d.str()?,
                K_SECURITY_VERSION => m.security_version = d.u64()?,
                K_CREATED => m.created = d.u64()?,
                K_EXPIRES => m.expires = Some(d.u64()?),
                K_SIGNERS => decode_signers(&mut d, &mut m.signers)?,
                K_CHUNK_LOG2 => m.chunk_log2 = d.u8()?,
                K_PAYLOADS => decode_payloads(&mut d, &mut m.payloads)?,
                other => return Err(ManifestError::UnknownCriticalField(other)),
            }
            seen |= key_bit(key);
        }
        let version = version.ok_or(ManifestError::Malformed("missing format version"))?;
        if version != FORMAT_VERSION {
            return Err(ManifestError::UnsupportedVersion(version));
        }
        // Required fields, reported in the order of the struct.
        for (key, missing) in [
            (K_PRODUCT, "missing product id"),
            (K_HW_COMPAT, "missing hardware ids"),
            (K_HUMAN_VERSION, "missing version"),
            (K_SECURITY_VERSION, "missing security version"),
            (K_CREATED, "missing creation time"),
            (K_SIGNERS, "missing signers"),
            (K_CHUNK_LOG2, "missing chunk size"),
            (K_PAYLOADS, "missing payloads"),
        ] {
            if seen & key_bit(key) == 0 {
                return Err(ManifestError::Malformed(missing));
            }
        }
        m.validate()?;
        Ok(m)
    }

    /// Checks every rule that does not depend on the encoding; the signer calls
    /// it before encoding so that it never writes what a verifier rejects.
    pub fn validate(&self) -> Result<(), ManifestError> {
        if !is_valid_id(self.product, MAX_ID_LEN) {
            return Err(ManifestError::Limit(
                "product id: 1-64 printable ASCII characters",
            ));
        }
        if !is_valid_id(self.version, MAX_ID_LEN) {
            return Err(ManifestError::Limit(
                "version: 1-64 printable ASCII characters",
            ));
        }
        if self.hw_compat.is_empty() {
            return Err(ManifestError::Malformed("no hardware ids"));
        }
        for (i, id) in self.hw_compat.iter().enumerate() {
            if !is_valid_id(id, MAX_ID_LEN) {
                return Err(ManifestError::Limit(
                    "hardware id: 1-64 printable ASCII characters",
                ));
            }
            if self.hw_compat.iter().take(i).any(|other| other == id) {
                return Err(ManifestError::DuplicateHwId);
            }
        }
        if self.created > MAX_MTIME {
            return Err(ManifestError::Limit(
                "creation time beyond the container's range",
            ));
        }
        if self.expires.is_some_and(|expires| expires <= self.created) {
            return Err(ManifestError::Malformed("expiry is not after creation"));
        }
        if self.signers.is_empty() {
            return Err(ManifestError::Malformed("no signers declared"));
        }
        for (i, s) in self.signers.iter().enumerate() {
            if s.kid.len() != KEY_ID_LEN {
                return Err(ManifestError::Malformed("signer key id is not 32 bytes"));
            }
            if self.signers.iter().take(i).any(|o| o == s) {
                return Err(ManifestError::DuplicateSigner);
            }
        }
        if !CHUNK_LOG2_RANGE.contains(&self.chunk_log2) {
            return Err(ManifestError::Limit("chunk size exponent outside 12..=24"));
        }
        if self.payloads.is_empty() {
            return Err(ManifestError::Malformed("no payloads"));
        }
        for (i, p) in self.payloads.iter().enumerate() {
            if !is_valid_payload_name(p.name) {
                return Err(ManifestError::Limit(
                    "payload name: 1-100 characters of A-Z a-z 0-9 . _ - +, not starting with '.'",
                ));
            }
            if self.payloads.iter().take(i).any(|o| o.name == p.name) {
                return Err(ManifestError::DuplicatePayload);
            }
            if p.size > MAX_MEMBER_SIZE {
                return Err(ManifestError::Limit("payload larger than 8 GiB - 1"));
            }
            if p.target.is_some_and(|t| !is_valid_id(t, MAX_TARGET_LEN)) {
                return Err(ManifestError::Limit(
                    "install target: 1-128 printable ASCII characters",
                ));
            }
            if p.digests.is_empty() {
                return Err(ManifestError::Malformed("payload without digests"));
            }
            for (j, d) in p.digests.iter().enumerate() {
                if d.root.len() != d.alg.len() {
                    return Err(ManifestError::Malformed(
                        "digest length does not fit its family",
                    ));
                }
                // Canonical order is also increasing family order.
                if j.checked_sub(1)
                    .and_then(|i| p.digests.get(i))
                    .is_some_and(|prev| prev.alg >= d.alg)
                {
                    return Err(ManifestError::Malformed("digests out of order"));
                }
            }
        }
        Ok(())
    }

    /// Writes the deterministic encoding.
    pub fn encode<W: Write>(&self, w: W) -> Result<(), minicbor::encode::Error<W::Error>> {
        let mut e = Encoder::new(w);
        let fields = if self.expires.is_some() { 10 } else { 9 };
        e.map(fields)?;
        e.u64(K_VERSION)?.u64(FORMAT_VERSION)?;
        e.u64(K_PRODUCT)?.str(self.product)?;
        e.u64(K_HW_COMPAT)?.array(self.hw_compat.len() as u64)?;
        for id in &self.hw_compat {
            e.str(id)?;
        }
        e.u64(K_HUMAN_VERSION)?.str(self.version)?;
        e.u64(K_SECURITY_VERSION)?.u64(self.security_version)?;
        e.u64(K_CREATED)?.u64(self.created)?;
        if let Some(x) = self.expires {
            e.u64(K_EXPIRES)?.u64(x)?;
        }
        e.u64(K_SIGNERS)?.array(self.signers.len() as u64)?;
        for s in &self.signers {
            e.array(2)?.i64(s.alg)?.bytes(s.kid)?;
        }
        e.u64(K_CHUNK_LOG2)?.u8(self.chunk_log2)?;
        e.u64(K_PAYLOADS)?.array(self.payloads.len() as u64)?;
        for p in &self.payloads {
            e.map(if p.target.is_some() { 5 } else { 4 })?;
            e.u64(P_NAME)?.str(p.name)?;
            e.u64(P_SIZE)?.u64(p.size)?;
            e.u64(P_KIND)?.u8(p.kind.code())?;
            if let Some(t) = p.target {
                e.u64(P_TARGET)?.str(t)?;
            }
            e.u64(P_DIGESTS)?.map(p.digests.len() as u64)?;
            for d in &p.digests {
                e.i64(d.alg.cose_id())?.bytes(d.root)?;
            }
        }
        Ok(())
    }

    /// The deterministic encoding in a new vector.
    #[cfg(feature = "alloc")]
    pub fn to_vec(&self) -> alloc::vec::Vec<u8> {
        let mut out = alloc::vec::Vec::new();
        // Writing to a Vec cannot fail.
        let _ = self.encode(&mut out);
        out
    }

    /// Whether `hw_id` is in the compatibility list.
    pub fn is_compatible_with(&self, hw_id: &str) -> bool {
        self.hw_compat.contains(&hw_id)
    }

    /// Chunk size in bytes.
    pub fn chunk_size(&self) -> u64 {
        // Decoded manifests hold 12..=24; a hand-built one beyond 63 gets 0.
        1u64.checked_shl(u32::from(self.chunk_log2)).unwrap_or(0)
    }
}

fn definite(len: Option<u64>) -> Result<u64, ManifestError> {
    len.ok_or(ManifestError::Malformed("indefinite length"))
}

/// A known manifest key (`K_*`, all below 16) as a bit of a presence mask.
fn key_bit(key: u64) -> u16 {
    u32::try_from(key)
        .ok()
        .and_then(|k| 1u16.checked_shl(k))
        .unwrap_or(0)
}

/// Decodes into `out` (cleared first, as a repeated key replaces).
fn decode_hw_ids<'a>(
    d: &mut Decoder<'a>,
    out: &mut Vec<&'a str, MAX_HW_IDS>,
) -> Result<(), ManifestError> {
    let n = definite(d.array()?)?;
    out.clear();
    for _ in 0..n {
        out.push(d.str()?)
            .map_err(|_| ManifestError::Limit("more than 16 hardware ids"))?;
    }
    Ok(())
}

/// Decodes into `out` (cleared first, as a repeated key replaces).
fn decode_signers<'a>(
    d: &mut Decoder<'a>,
    out: &mut Vec<SignerDecl<'a>, MAX_SIGNERS>,
) -> Result<(), ManifestError> {
    let n = definite(d.array()?)?;
    out.clear();
    for _ in 0..n {
        if definite(d.array()?)? != 2 {
            return Err(ManifestError::Malformed("signer entry is not [alg, kid]"));
        }
        let alg = d.i64()?;
        let kid = d.bytes()?;
        out.push(SignerDecl { alg, kid })
            .map_err(|_| ManifestError::Limit("more than 8 signers"))?;
    }
    Ok(())
}

/// Decodes into `out` (cleared first, as a repeated key replaces).
fn decode_payloads<'a>(
    d: &mut Decoder<'a>,
    out: &mut Vec<Payload<'a>, MAX_PAYLOADS>,
) -> Result<(), ManifestError> {
    let n = definite(d.array()?)?;
    out.clear();
    for _ in 0..n {
        let p = decode_payload(d)?;
        out.push(p)
            .map_err(|_| ManifestError::Limit("more than 16 payloads"))?;
    }
    Ok(())
}

fn decode_payload<'a>(d: &mut Decoder<'a>) -> Result<Payload<'a>, ManifestError> {
    let entries = definite(d.map()?)?;
    let (mut name, mut size, mut kind, mut target, mut digests) = (None, None, None, None, None);
    for _ in 0..entries {
        let key = d.i64()?;
        let Ok(key) = u64::try_from(key) else {
            d.skip()?;
            continue;
        };
        match key {
            P_NAME => name = Some(d.str()?),
            P_SIZE => size = Some(d.u64()?),
            P_KIND => {
                kind = Some(
                    PayloadKind::from_code(d.u8()?)
                        .ok_or(ManifestError::Malformed("unknown payload kind"))?,
                )
            }
            P_TARGET => target = Some(d.str()?),
            P_DIGESTS => {
                let n = definite(d.map()?)?;
                let mut list: Vec<PayloadDigest<'a>, 4> = Vec::new();
                for _ in 0..n {
                    let alg = DigestAlg::from_cose_id(d.i64()?)
                        .ok_or(ManifestError::Malformed("unknown digest algorithm"))?;
                    let root = d.bytes()?;
                    list.push(PayloadDigest { alg, root })
                        .map_err(|_| ManifestError::Malformed("too many digests"))?;
                }
                digests = Some(list);
            }
            other => return Err(ManifestError::UnknownCriticalField(other)),
        }
    }
    Ok(Payload {
        name: name.ok_or(ManifestError::Malformed("payload without name"))?,
        size: size.ok_or(ManifestError::Malformed("payload without size"))?,
        kind: kind.ok_or(ManifestError::Malformed("payload without kind"))?,
        target,
        digests: digests.ok_or(ManifestError::Malformed("payload without digests"))?,
    })
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    use super::*;

    fn sample<'a>(kid: &'a [u8], root: &'a [u8]) -> Manifest<'a> {
        let mut hw = Vec::new();
        hw.push("acme-board-rev-a").unwrap();
        hw.push("acme-board-rev-b").unwrap();
        let mut signers = Vec::new();
        signers.push(SignerDecl { alg: -9, kid }).unwrap();
        let mut digests = Vec::new();
        digests
            .push(PayloadDigest {
                alg: DigestAlg::Sha256,
                root,
            })
            .unwrap();
        let mut payloads = Vec::new();
        payloads
            .push(Payload {
                name: "firmware.bin",
                size: 1234,
                kind: PayloadKind::Raw,
                target: Some("slot:app"),
                digests,
            })
            .unwrap();
        Manifest {
            product: "acme.router-x1",
            hw_compat: hw,
            version: "1.2.3",
            security_version: 7,
            created: 1_790_000_000,
            expires: Some(1_800_000_000),
            signers,
            chunk_log2: DEFAULT_CHUNK_LOG2,
            payloads,
        }
    }

    #[test]
    fn round_trip_is_byte_exact() {
        let kid = [7u8; 32];
        let root = [9u8; 32];
        let m = sample(&kid, &root);
        let bytes = m.to_vec();
        canonical::check(&bytes).unwrap();
        let back = Manifest::decode(&bytes).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.to_vec(), bytes);
    }

    #[test]
    fn rejects_unknown_critical_field_and_skips_extensions() {
        let kid = [7u8; 32];
        let root = [9u8; 32];
        let bytes = sample(&kid, &root).to_vec();
        // Rewrite the map head from 10 to 11 entries and append key 10.
        let mut crit = bytes.clone();
        crit[0] = 0xab;
        crit.extend_from_slice(&[0x0a, 0x00]);
        assert_eq!(
            Manifest::decode(&crit),
            Err(ManifestError::UnknownCriticalField(10))
        );
        // A negative key is a non-critical extension.
        let mut ext = bytes.clone();
        ext[0] = 0xab;
        ext.extend_from_slice(&[0x20, 0x61, b'x']);
        assert!(Manifest::decode(&ext).is_ok());
    }

    #[test]
    fn rejects_non_canonical_and_duplicates() {
        let kid = [7u8; 32];
        let root = [9u8; 32];
        let bytes = sample(&kid, &root).to_vec();
        // security version 7 written as 0x18 0x07.
        let pos = bytes.windows(2).position(|w| w == [0x04, 0x07]).unwrap();
        let mut long = bytes[..pos + 1].to_vec();
        long.extend_from_slice(&[0x18, 0x07]);
        long.extend_from_slice(&bytes[pos + 2..]);
        assert!(matches!(
            Manifest::decode(&long),
            Err(ManifestError::NonCanonical(_))
        ));

        let mut m = sample(&kid, &root);
        let dup = m.payloads[0].clone();
        m.payloads.push(dup).unwrap();
        assert_eq!(
            Manifest::decode(&m.to_vec()),
            Err(ManifestError::DuplicatePayload)
        );
    }

    #[test]
    fn validates_names() {
        assert!(is_valid_payload_name("rootfs.tar.gz"));
        assert!(!is_valid_payload_name("../x"));
        assert!(!is_valid_payload_name("a/b"));
        assert!(!is_valid_payload_name(".hidden"));
        assert!(!is_valid_payload_name(ENVELOPE_MEMBER));
        assert!(!is_valid_payload_name(""));
    }
}
