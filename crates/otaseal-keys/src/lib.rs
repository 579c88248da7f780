//! Key backends for otaseal: where a private key lives and how it signs.
//!
//! - [`file`](mod@file): PKCS#8 / PEM key files (keys held in memory, zeroized on drop);
//! - [`pkcs11`]: keys that never leave a PKCS#11 token or HSM (SoftHSM2,
//!   OpenSC, YubiKey through ykcs11, vendor modules), named by RFC 7512 URIs.
//!
//! Every backend implements [`KeySigner`]; the package signer, the CSR and
//! certificate builders and the time-stamp authority take any `KeySigner`.
//!
//! Hash-only signing ([`KeySigner::sign_prehash`], [`prehash`]) is otaseal's
//! profile for tokens and remote signing services (spec/keys.md):
//! - ECDSA P-256 / P-384: SHA-256 / SHA-384 of the message -> raw `r || s`, low S;
//! - RSA-PSS-3072: SHA-256 of the message -> RSASSA-PSS (MGF1-SHA-256, salt 32);
//! - SM2: `e = SM3(Z || M)`, `Z` from the public key and the distinguishing
//!   id [`file::SM2_DISTID`] -> raw `r || s`;
//! - ML-DSA: the 64-byte external mu of FIPS 204 (pure ML-DSA, empty context);
//! - Ed25519: not possible from a hash ([`KeyError::Unsupported`]).
#![warn(missing_docs)]

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use der::Encode;
use otaseal_manifest::Suite;
use sha2::{Digest, Sha256, Sha384};

mod error;
pub mod file;
pub mod pkcs11;

pub use error::KeyError;
pub use file::SigningKey;

/// A private key somewhere (file, token, key store, remote service), of one suite.
pub trait KeySigner: Send + Sync {
    /// The suite this key signs as.
    fn suite(&self) -> Suite;

    /// The public key as DER `SubjectPublicKeyInfo`.
    fn public_spki_der(&self) -> Vec<u8>;

    /// Hash-only signing with otaseal's profile per suite (see the crate
    /// docs): `prehash` is what [`prehash`] returns for the message.
    fn sign_prehash(&self, prehash: &[u8]) -> Result<Vec<u8>, KeyError>;

    /// Signs the whole message with the COSE signature encoding of the suite
    /// (raw `r || s` for ECDSA and SM2). The default hashes on the host
    /// ([`prehash`]) and calls [`Self::sign_prehash`]; Ed25519 and backends
    /// that sign messages natively override it.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let digest = prehash(self.suite(), &self.public_spki_der(), message)?;
        self.sign_prehash(&digest)
    }

    /// Signs `tbs` with the X.509 / CMS encoding of the suite (ECDSA and SM2
    /// as DER `SEQUENCE { r, s }`), returning the signature and the DER
    /// `AlgorithmIdentifier` ([`x509_algorithm_id`]).
    fn sign_x509(&self, tbs: &[u8]) -> Result<(Vec<u8>, Vec<u8>), KeyError> {
        let suite = self.suite();
        let raw = self.sign(tbs)?;
        let sig = match suite {
            Suite::EcdsaP256 | Suite::EcdsaP384 | Suite::Sm2 => raw_to_der_signature(&raw)?,
            _ => raw,
        };
        Ok((sig, x509_algorithm_id(suite)))
    }

    /// A short description for messages (file path, token and object).
    fn describe(&self) -> String {
        format!("{} key", self.suite().name())
    }
}

impl fmt::Debug for dyn KeySigner + '_ {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySigner")
            .field("suite", &self.suite().name())
            .field("key", &self.describe())
            .finish()
    }
}

impl<T: KeySigner + ?Sized> KeySigner for std::sync::Arc<T> {
    fn suite(&self) -> Suite {
        (**self).suite()
    }
    fn public_spki_der(&self) -> Vec<u8> {
        (**self).public_spki_der()
    }
    fn sign_prehash(&self, prehash: &[u8]) -> Result<Vec<u8>, KeyError> {
        (**self).sign_prehash(prehash)
    }
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        (**self).sign(message)
    }
    fn sign_x509(&self, tbs: &[u8]) -> Result<(Vec<u8>, Vec<u8>), KeyError> {
        (**self).sign_x509(tbs)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
}

/// What [`KeySigner::sign_prehash`] expects for `message`, so a token, a
/// remote signing client and the file backend all sign the same bytes.
pub fn prehash(suite: Suite, spki_der: &[u8], message: &[u8]) -> Result<Vec<u8>, KeyError> {
    Ok(match suite {
        Suite::EcdsaP256 | Suite::RsaPss3072 => Sha256::digest(message).to_vec(),
        Suite::EcdsaP384 => Sha384::digest(message).to_vec(),
        Suite::Sm2 => {
            let mut h = sm3::Sm3::new();
            h.update(sm2_z(spki_der)?);
            h.update(message);
            h.finalize().to_vec()
        }
        Suite::MlDsa44 => ml_dsa_mu::<ml_dsa::MlDsa44>(spki_der, message)?,
        Suite::MlDsa65 => ml_dsa_mu::<ml_dsa::MlDsa65>(spki_der, message)?,
        Suite::MlDsa87 => ml_dsa_mu::<ml_dsa::MlDsa87>(spki_der, message)?,
        Suite::Ed25519 => {
            return Err(KeyError::Unsupported(
                "Ed25519 (PureEdDSA) signs the whole message, not a hash".into(),
            ));
        }
    })
}

/// SM2 curve constants for `Z` (GB/T 32918.5 / GM/T 0003.5): a, b, xG, yG.
const SM2_CURVE: [[u8; 32]; 4] = [
    hex32("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC"),
    hex32("28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93"),
    hex32("32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7"),
    hex32("BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0"),
];

const fn hex32(s: &str) -> [u8; 32] {
    let b = s.as_bytes();
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = (nibble(b[2 * i]) << 4) | nibble(b[2 * i + 1]);
        i += 1;
    }
    out
}

const fn nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'A'..=b'F' => c - b'A' + 10,
        _ => panic!("not an upper-case hex digit"),
    }
}

/// `Z = SM3(ENTL || ID || a || b || xG || yG || xA || yA)` with the standard
/// distinguishing id.
fn sm2_z(spki_der: &[u8]) -> Result<Vec<u8>, KeyError> {
    use sm2::elliptic_curve::sec1::ToSec1Point;
    use spki::DecodePublicKey;
    let pk = sm2::PublicKey::from_public_key_der(spki_der)
        .map_err(|e| KeyError::Malformed(format!("SM2 public key: {e}")))?;
    let point = pk.to_sec1_point(false);
    let (x, y) = match point.coordinates() {
        sm2::elliptic_curve::sec1::Coordinates::Uncompressed { x, y } => (x.to_vec(), y.to_vec()),
        _ => return Err(KeyError::Malformed("SM2 public key point".into())),
    };
    let id = file::SM2_DISTID.as_bytes();
    let mut h = sm3::Sm3::new();
    h.update(((id.len() * 8) as u16).to_be_bytes());
    h.update(id);
    for c in &SM2_CURVE {
        h.update(c);
    }
    h.update(&x);
    h.update(&y);
    Ok(h.finalize().to_vec())
}

/// FIPS 204 external mu for pure ML-DSA with the empty context.
fn ml_dsa_mu<P>(spki_der: &[u8], message: &[u8]) -> Result<Vec<u8>, KeyError>
where
    P: ml_dsa::MlDsaParams + spki::AssociatedAlgorithmIdentifier<Params = der::AnyRef<'static>>,
{
    use spki::DecodePublicKey;
    let vk = ml_dsa::VerifyingKey::<P>::from_public_key_der(spki_der)
        .map_err(|e| KeyError::Malformed(format!("ML-DSA public key: {e}")))?;
    let mu = vk
        .compute_mu(
            |h| {
                digest::Update::update(h, message);
                Ok(())
            },
            b"",
        )
        .map_err(|e| KeyError::Crypto(e.to_string()))?;
    Ok(mu.to_vec())
}

/// Raw `r || s` (two equal halves) to DER `SEQUENCE { INTEGER r, INTEGER s }`.
pub fn raw_to_der_signature(raw: &[u8]) -> Result<Vec<u8>, KeyError> {
    if raw.is_empty() || !raw.len().is_multiple_of(2) {
        return Err(KeyError::Crypto(format!(
            "raw r||s signature of odd length {}",
            raw.len()
        )));
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    fn int(v: &[u8]) -> Result<der::asn1::UintRef<'_>, KeyError> {
        der::asn1::UintRef::new(v).map_err(|e| KeyError::Crypto(e.to_string()))
    }
    let mut out = Vec::new();
    SigSeq(int(r)?, int(s)?)
        .encode_to_vec(&mut out)
        .map_err(|e| KeyError::Crypto(e.to_string()))?;
    Ok(out)
}

/// `SEQUENCE { r, s }` for [`raw_to_der_signature`].
struct SigSeq<'a>(der::asn1::UintRef<'a>, der::asn1::UintRef<'a>);

impl<'a> der::EncodeValue for SigSeq<'a> {
    fn value_len(&self) -> der::Result<der::Length> {
        self.0.encoded_len()? + self.1.encoded_len()?
    }
    fn encode_value(&self, w: &mut impl der::Writer) -> der::Result<()> {
        self.0.encode(w)?;
        self.1.encode(w)
    }
}

impl<'a> der::Sequence<'a> for SigSeq<'a> {}

/// The DER `AlgorithmIdentifier` of a suite's X.509 signatures:
/// ecdsa-with-SHA256/384, Ed25519, RSASSA-PSS with explicit SHA-256
/// parameters, SM2-with-SM3, ML-DSA.
pub fn x509_algorithm_id(suite: Suite) -> Vec<u8> {
    use file::oids;
    let oid = match suite {
        Suite::EcdsaP256 => oids::ECDSA_WITH_SHA256,
        Suite::EcdsaP384 => oids::ECDSA_WITH_SHA384,
        Suite::Ed25519 => oids::ED25519,
        Suite::RsaPss3072 => return file::RSA_PSS_SHA256_ALG_ID.to_vec(),
        Suite::Sm2 => oids::SM2_WITH_SM3,
        Suite::MlDsa44 => oids::ML_DSA_44,
        Suite::MlDsa65 => oids::ML_DSA_65,
        Suite::MlDsa87 => oids::ML_DSA_87,
    };
    spki::AlgorithmIdentifierRef {
        oid,
        parameters: None,
    }
    .to_der()
    .expect("encoding an AlgorithmIdentifier cannot fail")
}

/// Largest key, certificate or PIN file read, so that `/dev/zero` given by
/// mistake fails fast.
pub const MAX_INPUT_FILE: u64 = 4 << 20;

/// Reads a small input file (key, certificate, trust roots, PIN) of at most
/// [`MAX_INPUT_FILE`] bytes. Pipes (`<(...)`) work; anything longer is an
/// error naming the limit.
pub fn read_small_file(path: &Path) -> io::Result<Vec<u8>> {
    let file = File::open(path)?;
    if file.metadata()?.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "is a directory",
        ));
    }
    let mut data = Vec::new();
    file.take(MAX_INPUT_FILE + 1).read_to_end(&mut data)?;
    if data.len() as u64 > MAX_INPUT_FILE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "larger than the limit of {MAX_INPUT_FILE} bytes for key, certificate and trust files"
            ),
        ));
    }
    Ok(data)
}
