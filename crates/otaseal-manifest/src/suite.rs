//! Signature suites and digest families, with their COSE identifiers.
//!
//! A *suite* is one signature algorithm with one key type and size, named the
//! way the command line names it (`ecdsa-p256`, `sm2`, `ml-dsa-65`, ...). Each
//! suite fixes the digest family a verifier checks payloads with when it relies
//! on that suite, so that a device trusting only SM2 relies only on SM3, and a
//! device trusting ML-DSA-87 relies on a hash of matching strength.

/// COSE algorithm id used for SM2 signatures with SM3 (private-use range, see
/// `spec/format.md`). SM2 has no IANA-registered COSE identifier.
pub const COSE_ALG_SM2_SM3: i64 = -65600;
/// COSE hash algorithm id used for SM3 (private-use range, see `spec/format.md`).
pub const COSE_HASH_SM3: i64 = -65601;

/// A signature suite: algorithm, key type and key size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Suite {
    /// ECDSA on P-256 with SHA-256 (COSE ESP256 -9; ES256 -7 accepted).
    EcdsaP256,
    /// ECDSA on P-384 with SHA-384 (COSE ESP384 -51; ES384 -35 accepted).
    EcdsaP384,
    /// Ed25519 (COSE Ed25519 -19; EdDSA -8 accepted).
    Ed25519,
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256, salt 32, 3072-bit modulus (COSE PS256 -37).
    RsaPss3072,
    /// SM2 with SM3 and the default distinguishing id "1234567812345678".
    Sm2,
    /// ML-DSA-44 (FIPS 204, pure, empty context; COSE -48).
    MlDsa44,
    /// ML-DSA-65 (FIPS 204, pure, empty context; COSE -49).
    MlDsa65,
    /// ML-DSA-87 (FIPS 204, pure, empty context; COSE -50).
    MlDsa87,
}

impl Suite {
    /// Every suite, in the order the command line lists them.
    pub const ALL: [Suite; 8] = [
        Suite::EcdsaP256,
        Suite::EcdsaP384,
        Suite::Ed25519,
        Suite::RsaPss3072,
        Suite::Sm2,
        Suite::MlDsa44,
        Suite::MlDsa65,
        Suite::MlDsa87,
    ];

    /// The command-line and JSON name.
    pub const fn name(self) -> &'static str {
        match self {
            Suite::EcdsaP256 => "ecdsa-p256",
            Suite::EcdsaP384 => "ecdsa-p384",
            Suite::Ed25519 => "ed25519",
            Suite::RsaPss3072 => "rsa-pss-3072",
            Suite::Sm2 => "sm2",
            Suite::MlDsa44 => "ml-dsa-44",
            Suite::MlDsa65 => "ml-dsa-65",
            Suite::MlDsa87 => "ml-dsa-87",
        }
    }

    /// Parses a command-line name.
    pub fn from_name(name: &str) -> Option<Suite> {
        Suite::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The COSE algorithm id a signer emits (the fully specified ids of RFC 9864).
    pub const fn cose_alg(self) -> i64 {
        match self {
            Suite::EcdsaP256 => -9,
            Suite::EcdsaP384 => -51,
            Suite::Ed25519 => -19,
            Suite::RsaPss3072 => -37,
            Suite::Sm2 => COSE_ALG_SM2_SM3,
            Suite::MlDsa44 => -48,
            Suite::MlDsa65 => -49,
            Suite::MlDsa87 => -50,
        }
    }

    /// Maps a COSE algorithm id to a suite, accepting the deprecated
    /// polymorphic ids ES256, ES384 and EdDSA as RFC 9864 allows.
    pub const fn from_cose_alg(alg: i64) -> Option<Suite> {
        Some(match alg {
            -9 | -7 => Suite::EcdsaP256,
            -51 | -35 => Suite::EcdsaP384,
            -19 | -8 => Suite::Ed25519,
            -37 => Suite::RsaPss3072,
            COSE_ALG_SM2_SM3 => Suite::Sm2,
            -48 => Suite::MlDsa44,
            -49 => Suite::MlDsa65,
            -50 => Suite::MlDsa87,
            _ => return None,
        })
    }

    /// The payload digest family a verifier checks when it relies on this
    /// suite: matched to the suite's security category.
    pub const fn digest(self) -> DigestAlg {
        match self {
            Suite::EcdsaP256 | Suite::Ed25519 | Suite::RsaPss3072 | Suite::MlDsa44 => {
                DigestAlg::Sha256
            }
            Suite::EcdsaP384 | Suite::MlDsa65 => DigestAlg::Sha384,
            Suite::MlDsa87 => DigestAlg::Sha512,
            Suite::Sm2 => DigestAlg::Sm3,
        }
    }

    /// The hash family of this suite's RFC 3161 message imprint (the hash of
    /// the encoded signature field, RFC 9921 `3161-ctt`): the signature's own
    /// family — SHA-256/384 for classic suites, SM3 for SM2, SHA-512 for
    /// ML-DSA (whose internal hash is SHAKE256, for which RFC 3161 TSAs have
    /// no identifier).
    pub const fn timestamp_digest(self) -> DigestAlg {
        match self {
            Suite::EcdsaP256 | Suite::Ed25519 | Suite::RsaPss3072 => DigestAlg::Sha256,
            Suite::EcdsaP384 => DigestAlg::Sha384,
            Suite::Sm2 => DigestAlg::Sm3,
            Suite::MlDsa44 | Suite::MlDsa65 | Suite::MlDsa87 => DigestAlg::Sha512,
        }
    }

    /// Length of a COSE signature of this suite: every suite has a fixed
    /// length, so a signer can lay out a package before it signs.
    pub const fn signature_len(self) -> usize {
        match self {
            Suite::EcdsaP256 | Suite::Ed25519 | Suite::Sm2 => 64,
            Suite::EcdsaP384 => 96,
            Suite::RsaPss3072 => 384,
            Suite::MlDsa44 => 2420,
            Suite::MlDsa65 => 3309,
            Suite::MlDsa87 => 4627,
        }
    }

    /// Bit for this suite in a [`SuiteSet`].
    pub const fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of suites, as a bit mask (no heap).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SuiteSet(pub u16);

impl SuiteSet {
    /// The empty set.
    pub const EMPTY: SuiteSet = SuiteSet(0);

    /// Adds a suite.
    pub const fn with(self, suite: Suite) -> SuiteSet {
        SuiteSet(self.0 | suite.bit())
    }

    /// Whether `suite` is in the set.
    pub const fn contains(self, suite: Suite) -> bool {
        self.0 & suite.bit() != 0
    }

    /// Whether every suite of `other` is in this set.
    pub const fn contains_all(self, other: SuiteSet) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The suites in the set, in [`Suite::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Suite> {
        Suite::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    /// Parses `ecdsa-p256+sm2` style lists.
    pub fn parse(list: &str) -> Option<SuiteSet> {
        let mut set = SuiteSet::EMPTY;
        for name in list.split('+') {
            set = set.with(Suite::from_name(name.trim())?);
        }
        if set.is_empty() { None } else { Some(set) }
    }
}

/// A payload digest family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DigestAlg {
    /// SHA-256 (COSE -16).
    Sha256,
    /// SHA-384 (COSE -43).
    Sha384,
    /// SHA-512 (COSE -44).
    Sha512,
    /// SM3 (private-use COSE id, see [`COSE_HASH_SM3`]).
    Sm3,
}

impl DigestAlg {
    /// Every family, in canonical CBOR key order of their COSE ids.
    pub const ALL: [DigestAlg; 4] = [
        DigestAlg::Sha256,
        DigestAlg::Sha384,
        DigestAlg::Sha512,
        DigestAlg::Sm3,
    ];

    /// The command-line and JSON name.
    pub const fn name(self) -> &'static str {
        match self {
            DigestAlg::Sha256 => "sha-256",
            DigestAlg::Sha384 => "sha-384",
            DigestAlg::Sha512 => "sha-512",
            DigestAlg::Sm3 => "sm3",
        }
    }

    /// Parses a command-line name.
    pub fn from_name(name: &str) -> Option<DigestAlg> {
        DigestAlg::ALL.into_iter().find(|d| d.name() == name)
    }

    /// The COSE hash algorithm id used as the key in a payload's digest map.
    pub const fn cose_id(self) -> i64 {
        match self {
            DigestAlg::Sha256 => -16,
            DigestAlg::Sha384 => -43,
            DigestAlg::Sha512 => -44,
            DigestAlg::Sm3 => COSE_HASH_SM3,
        }
    }

    /// Maps a COSE hash id back to a family.
    pub const fn from_cose_id(id: i64) -> Option<DigestAlg> {
        Some(match id {
            -16 => DigestAlg::Sha256,
            -43 => DigestAlg::Sha384,
            -44 => DigestAlg::Sha512,
            COSE_HASH_SM3 => DigestAlg::Sm3,
            _ => return None,
        })
    }

    /// Output length in bytes.
    #[allow(clippy::len_without_is_empty)] // a digest length, not a container
    pub const fn len(self) -> usize {
        match self {
            DigestAlg::Sha256 | DigestAlg::Sm3 => 32,
            DigestAlg::Sha384 => 48,
            DigestAlg::Sha512 => 64,
        }
    }

    /// Bit for this family in a [`DigestSet`].
    pub const fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of digest families, as a bit mask.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DigestSet(pub u8);

impl DigestSet {
    /// The empty set.
    pub const EMPTY: DigestSet = DigestSet(0);
    /// Every family.
    pub const ALL: DigestSet = DigestSet(0b1111);

    /// Adds a family.
    pub const fn with(self, alg: DigestAlg) -> DigestSet {
        DigestSet(self.0 | alg.bit())
    }

    /// Whether `alg` is in the set.
    pub const fn contains(self, alg: DigestAlg) -> bool {
        self.0 & alg.bit() != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The union of the families of `suites`.
    pub fn for_suites(suites: SuiteSet) -> DigestSet {
        suites
            .iter()
            .fold(DigestSet::EMPTY, |set, s| set.with(s.digest()))
    }

    /// The families in the set.
    pub fn iter(self) -> impl Iterator<Item = DigestAlg> {
        DigestAlg::ALL
            .into_iter()
            .filter(move |d| self.contains(*d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in Suite::ALL {
            assert_eq!(Suite::from_name(s.name()), Some(s));
            assert_eq!(Suite::from_cose_alg(s.cose_alg()), Some(s));
        }
        for d in DigestAlg::ALL {
            assert_eq!(DigestAlg::from_name(d.name()), Some(d));
            assert_eq!(DigestAlg::from_cose_id(d.cose_id()), Some(d));
        }
    }

    #[test]
    fn deprecated_ids_accepted() {
        assert_eq!(Suite::from_cose_alg(-7), Some(Suite::EcdsaP256));
        assert_eq!(Suite::from_cose_alg(-35), Some(Suite::EcdsaP384));
        assert_eq!(Suite::from_cose_alg(-8), Some(Suite::Ed25519));
        assert_eq!(Suite::from_cose_alg(-1), None);
    }

    #[test]
    fn suite_set_parse() {
        let set = SuiteSet::parse("ecdsa-p256+ml-dsa-65").unwrap();
        assert!(set.contains(Suite::EcdsaP256) && set.contains(Suite::MlDsa65));
        assert!(!set.contains(Suite::Sm2));
        assert_eq!(SuiteSet::parse("ecdsa-p256+nope"), None);
        assert_eq!(SuiteSet::parse(""), None);
        let d = DigestSet::for_suites(set);
        assert!(d.contains(DigestAlg::Sha256) && d.contains(DigestAlg::Sha384));
    }
}
