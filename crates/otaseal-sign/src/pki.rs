//! Certificates for a development PKI and for tests.
//!
//! [`issue_certificate`] makes root, intermediate, code-signing and
//! time-stamping certificates with x509-cert's `CertificateBuilder`, signed by
//! [`SigningKey::sign_x509`] (so every [`Suite`] works, including SM2-with-SM3,
//! RSASSA-PSS and ML-DSA). [`init_dev_pki`] writes a complete throwaway PKI
//! per suite.

use std::cell::RefCell;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use der::asn1::{Any, BitString, Utf8StringRef};
use der::pem::LineEnding;
use der::referenced::OwnedToRef;
use der::{Decode, Encode};
use otaseal_manifest::Suite;
use signature::{Keypair, Signer};
use spki::{
    AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier, EncodePublicKey,
    SignatureBitStringEncoding, SubjectPublicKeyInfoOwned,
};
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::certificate::{Certificate, TbsCertificate};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectKeyIdentifier,
};
use x509_cert::ext::{Extension, ToExtension};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

pub use der::asn1::ObjectIdentifier;

use crate::keys::{self, KeyError, KeySigner, SigningKey};

/// id-kp-codeSigning.
pub const ID_KP_CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
/// id-kp-timeStamping.
pub const ID_KP_TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");
/// id-at-commonName.
const ID_AT_CN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
/// id-at-organizationName.
const ID_AT_O: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");

/// Organization name in every certificate subject.
pub const DEV_ORGANIZATION: &str = "otaseal development";

/// Which kind of certificate to issue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertProfile {
    /// Self-signed or cross-signed root CA: basicConstraints cA (critical),
    /// keyUsage keyCertSign + cRLSign (critical), SKI, AKI.
    Root,
    /// Intermediate CA: like [`CertProfile::Root`] with pathLenConstraint 0.
    Intermediate,
    /// Code-signing leaf: cA=FALSE, keyUsage digitalSignature (critical),
    /// EKU id-kp-codeSigning (not critical), SKI, AKI.
    CodeSigningLeaf,
    /// RFC 3161 TSA leaf: EKU exactly id-kp-timeStamping, critical.
    TimeStampingLeaf,
    /// Leaf without an EKU extension (for tests).
    LeafWithoutEku,
    /// Leaf with the given EKU purposes (not critical; for tests).
    LeafWithEku(Vec<ObjectIdentifier>),
}

impl CertProfile {
    fn is_ca(&self) -> bool {
        matches!(self, CertProfile::Root | CertProfile::Intermediate)
    }
}

/// A certificate to issue.
#[derive(Debug)]
pub struct CertRequest<'a> {
    /// Subject common name (the subject is `CN=<this>, O=otaseal development`).
    pub subject_cn: &'a str,
    /// Certificate profile.
    pub profile: CertProfile,
    /// notBefore, seconds since the Unix epoch.
    pub not_before: u64,
    /// notAfter, seconds since the Unix epoch.
    pub not_after: u64,
    /// The subject's key (only its public part is used).
    pub subject_key: &'a dyn KeySigner,
    /// Issuer key and issuer certificate (DER); `None` for self-signed.
    pub issuer: Option<(&'a dyn KeySigner, &'a [u8])>,
    /// Serial number (big-endian, positive); `None` = 16 random bytes.
    pub serial: Option<Vec<u8>>,
}

/// Errors of certificate issuance and the development PKI.
#[derive(Debug)]
#[non_exhaustive]
pub enum PkiError {
    /// A key operation failed.
    Key(KeyError),
    /// A file or directory operation failed.
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The target directory exists and is not empty.
    DirectoryNotEmpty(PathBuf),
    /// The request is not valid (times, serial, issuer).
    InvalidRequest(String),
    /// A certificate could not be decoded or encoded.
    Der(String),
    /// Not PEM, or no CERTIFICATE block.
    Pem(String),
}

impl fmt::Display for PkiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PkiError::Key(e) => write!(f, "{e}"),
            PkiError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            PkiError::DirectoryNotEmpty(path) => write!(
                f,
                "{}: directory exists and is not empty; refusing to overwrite keys",
                path.display()
            ),
            PkiError::InvalidRequest(m) => write!(f, "invalid certificate request: {m}"),
            PkiError::Der(m) => write!(f, "certificate encoding: {m}"),
            PkiError::Pem(m) => write!(f, "certificate PEM: {m}"),
        }
    }
}

impl std::error::Error for PkiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PkiError::Key(e) => Some(e),
            PkiError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<KeyError> for PkiError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Io { path, source } => PkiError::Io { path, source },
            e => PkiError::Key(e),
        }
    }
}

fn der_err(what: &str) -> impl Fn(der::Error) -> PkiError + '_ {
    move |e| PkiError::Der(format!("{what}: {e}"))
}

/// Adapter that lets x509-cert's builder sign with [`KeySigner::sign_x509`].
struct X509Signer<'a> {
    key: &'a dyn KeySigner,
    error: RefCell<Option<KeyError>>,
}

/// A public key given as SubjectPublicKeyInfo DER.
#[derive(Clone)]
struct SpkiPublicKey(Vec<u8>);

impl EncodePublicKey for SpkiPublicKey {
    fn to_public_key_der(&self) -> spki::Result<spki::Document> {
        Ok(spki::Document::from_der(&self.0)?)
    }
}

/// Signature value bytes as placed in the certificate's BIT STRING.
struct RawSignature(Vec<u8>);

impl SignatureBitStringEncoding for RawSignature {
    fn to_bitstring(&self) -> der::Result<BitString> {
        BitString::from_bytes(&self.0)
    }
}

impl Keypair for X509Signer<'_> {
    type VerifyingKey = SpkiPublicKey;
    fn verifying_key(&self) -> SpkiPublicKey {
        SpkiPublicKey(self.key.public_spki_der())
    }
}

impl DynSignatureAlgorithmIdentifier for X509Signer<'_> {
    fn signature_algorithm_identifier(&self) -> spki::Result<AlgorithmIdentifierOwned> {
        Ok(AlgorithmIdentifierOwned::from_der(
            &keys::x509_algorithm_id(self.key.suite()),
        )?)
    }
}

impl Signer<RawSignature> for X509Signer<'_> {
    fn try_sign(&self, msg: &[u8]) -> Result<RawSignature, signature::Error> {
        match self.key.sign_x509(msg) {
            Ok((sig, _)) => Ok(RawSignature(sig)),
            Err(e) => {
                *self.error.borrow_mut() = Some(e);
                Err(signature::Error::new())
            }
        }
    }
}

/// A builder profile with precomputed names and extensions.
struct FixedProfile {
    subject: Name,
    issuer: Name,
    extensions: Vec<Extension>,
}

impl BuilderProfile for FixedProfile {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        _spk: spki::SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: spki::SubjectPublicKeyInfoRef<'_>,
        _tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        Ok(self.extensions.clone())
    }
}

fn dev_name(cn: &str) -> Result<Name, PkiError> {
    let rdn = |oid: ObjectIdentifier, value: &str| -> Result<RelativeDistinguishedName, PkiError> {
        let value = Utf8StringRef::new(value).map_err(der_err("name"))?;
        let atv = x509_cert::attr::AttributeTypeAndValue {
            oid,
            value: Any::encode_from(&value).map_err(der_err("name"))?,
        };
        RelativeDistinguishedName::try_from(vec![atv]).map_err(der_err("name"))
    };
    if cn.is_empty() {
        return Err(PkiError::InvalidRequest("empty subject common name".into()));
    }
    let seq = RdnSequence::from(vec![rdn(ID_AT_O, DEV_ORGANIZATION)?, rdn(ID_AT_CN, cn)?]);
    // Name has no public constructor from an RdnSequence without the
    // `hazmat` feature; the two share one encoding.
    Name::from_der(&seq.to_der().map_err(der_err("name"))?).map_err(der_err("name"))
}

fn unix_time(secs: u64) -> Result<Time, PkiError> {
    let t = UNIX_EPOCH
        .checked_add(Duration::from_secs(secs))
        .ok_or_else(|| PkiError::InvalidRequest(format!("time {secs} out of range")))?;
    // UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5).
    Time::try_from(t).map_err(der_err("validity"))
}

fn random_serial() -> Result<Vec<u8>, PkiError> {
    let mut serial = vec![0u8; 16];
    getrandom::fill(&mut serial).map_err(|e| PkiError::Key(KeyError::Rng(e.to_string())))?;
    // Positive, and exactly 16 content octets in the DER INTEGER.
    serial[0] = (serial[0] & 0x7f) | 0x40;
    Ok(serial)
}

/// Issues a certificate and returns its DER.
pub fn issue_certificate(req: &CertRequest) -> Result<Vec<u8>, PkiError> {
    let subject = dev_name(req.subject_cn)?;
    issue_with_subject(req, subject, &req.subject_key.public_spki_der())
}

/// [`issue_certificate`] with a given subject name and public key (from a
/// PKCS#10 request); `req.subject_cn` and `req.subject_key` are not used.
fn issue_with_subject(
    req: &CertRequest,
    subject: Name,
    subject_spki_der: &[u8],
) -> Result<Vec<u8>, PkiError> {
    if req.not_after <= req.not_before {
        return Err(PkiError::InvalidRequest(
            "notAfter must be later than notBefore".into(),
        ));
    }
    let subject_spki = SubjectPublicKeyInfoOwned::from_der(subject_spki_der)
        .map_err(der_err("subject public key"))?;
    let ski = SubjectKeyIdentifier::try_from(subject_spki.owned_to_ref())
        .map_err(der_err("subject key identifier"))?;

    // Issuer name and key identifier.
    let (issuer_key, issuer_name, aki_id) = match req.issuer {
        None if req.subject_key.public_spki_der() != subject_spki_der => {
            return Err(PkiError::InvalidRequest(
                "a self-signed certificate needs the subject's own key".into(),
            ));
        }
        None => (req.subject_key, subject.clone(), ski.0.clone()),
        Some((key, cert_der)) => {
            let cert = Certificate::from_der(cert_der).map_err(der_err("issuer certificate"))?;
            let tbs = cert.tbs_certificate();
            let cert_spki = tbs
                .subject_public_key_info()
                .to_der()
                .map_err(der_err("issuer certificate"))?;
            if cert_spki != key.public_spki_der() {
                return Err(PkiError::InvalidRequest(
                    "the issuer key does not match the issuer certificate".into(),
                ));
            }
            let id = match tbs
                .get_extension::<SubjectKeyIdentifier>()
                .map_err(der_err("issuer certificate SKI"))?
            {
                Some((_, ski)) => ski.0,
                None => {
                    SubjectKeyIdentifier::try_from(tbs.subject_public_key_info().owned_to_ref())
                        .map_err(der_err("issuer key identifier"))?
                        .0
                }
            };
            (key, tbs.subject().clone(), id)
        }
    };

    // Extensions.
    let mut exts: Vec<Extension> = Vec::new();
    let mut push = |ext: Result<Extension, der::Error>| -> Result<(), PkiError> {
        exts.push(ext.map_err(der_err("extension"))?);
        Ok(())
    };
    let bc = BasicConstraints {
        ca: req.profile.is_ca(),
        path_len_constraint: match req.profile {
            CertProfile::Intermediate => Some(0),
            _ => None,
        },
    };
    push((true, &bc).to_extension(&subject, &[]))?;
    let ku = if req.profile.is_ca() {
        KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign)
    } else {
        KeyUsage(KeyUsages::DigitalSignature.into())
    };
    push((true, &ku).to_extension(&subject, &[]))?;
    match &req.profile {
        CertProfile::CodeSigningLeaf => {
            let eku = ExtendedKeyUsage(vec![ID_KP_CODE_SIGNING]);
            push((false, &eku).to_extension(&subject, &[]))?;
        }
        CertProfile::TimeStampingLeaf => {
            let eku = ExtendedKeyUsage(vec![ID_KP_TIME_STAMPING]);
            push((true, &eku).to_extension(&subject, &[]))?;
        }
        CertProfile::LeafWithEku(purposes) => {
            if purposes.is_empty() {
                return Err(PkiError::InvalidRequest(
                    "LeafWithEku needs at least one purpose".into(),
                ));
            }
            let eku = ExtendedKeyUsage(purposes.clone());
            push((false, &eku).to_extension(&subject, &[]))?;
        }
        CertProfile::Root | CertProfile::Intermediate | CertProfile::LeafWithoutEku => {}
    }
    push((false, &ski).to_extension(&subject, &[]))?;
    let aki = AuthorityKeyIdentifier {
        key_identifier: Some(aki_id),
        ..Default::default()
    };
    push((false, &aki).to_extension(&subject, &[]))?;

    let serial = match &req.serial {
        Some(s) => s.clone(),
        None => random_serial()?,
    };
    if serial.iter().all(|b| *b == 0) {
        return Err(PkiError::InvalidRequest(
            "serial number must be positive".into(),
        ));
    }
    let serial = SerialNumber::new(&serial).map_err(der_err("serial number"))?;
    let validity = Validity::new(unix_time(req.not_before)?, unix_time(req.not_after)?);

    let profile = FixedProfile {
        subject,
        issuer: issuer_name,
        extensions: exts,
    };
    let builder = CertificateBuilder::new(profile, serial, validity, subject_spki)
        .map_err(|e| PkiError::Der(format!("certificate builder: {e}")))?;
    let signer = X509Signer {
        key: issuer_key,
        error: RefCell::new(None),
    };
    let cert = builder.build::<_, RawSignature>(&signer).map_err(|e| {
        match signer.error.borrow_mut().take() {
            Some(key_err) => PkiError::Key(key_err),
            None => PkiError::Der(format!("certificate builder: {e}")),
        }
    })?;
    cert.to_der().map_err(der_err("certificate"))
}

/// Builds a PKCS#10 certification request signed by `key` (a file or a
/// token key) for `subject` (RFC 4514 text, e.g. `CN=Release,O=Acme`),
/// requesting the code-signing extended key usage (extensionRequest).
/// Returns the DER.
pub fn build_csr(key: &dyn KeySigner, subject: &str) -> Result<Vec<u8>, PkiError> {
    use x509_cert::request::RequestBuilder;
    let name = Name::from_str(subject)
        .map_err(|e| PkiError::InvalidRequest(format!("subject {subject:?}: {e}")))?;
    if name.as_ref().is_empty() {
        return Err(PkiError::InvalidRequest("empty subject".into()));
    }
    let mut builder =
        RequestBuilder::new(name).map_err(|e| PkiError::Der(format!("request builder: {e}")))?;
    let eku = ExtendedKeyUsage(vec![ID_KP_CODE_SIGNING]);
    builder
        .add_extension((false, &eku))
        .map_err(der_err("extensionRequest"))?;
    let signer = X509Signer {
        key,
        error: RefCell::new(None),
    };
    let req = builder.build::<_, RawSignature>(&signer).map_err(|e| {
        match signer.error.borrow_mut().take() {
            Some(key_err) => PkiError::Key(key_err),
            None => PkiError::Der(format!("request builder: {e}")),
        }
    })?;
    req.to_der().map_err(der_err("request"))
}

/// Reads a PKCS#10 request (PEM `CERTIFICATE REQUEST` or DER), checks its
/// self-signature and returns (subject, SubjectPublicKeyInfo DER).
pub fn check_csr(data: &[u8]) -> Result<(Name, Vec<u8>), PkiError> {
    use x509_cert::request::CertReq;
    let der = match std::str::from_utf8(data) {
        Ok(text) if text.contains("-----BEGIN") => {
            let blocks = keys::pem_blocks(text).map_err(PkiError::Key)?;
            blocks
                .into_iter()
                .find(|(l, _)| l == "CERTIFICATE REQUEST" || l == "NEW CERTIFICATE REQUEST")
                .map(|(_, d)| d.to_vec())
                .ok_or_else(|| {
                    PkiError::InvalidRequest("no CERTIFICATE REQUEST PEM block".into())
                })?
        }
        _ => data.to_vec(),
    };
    let req = CertReq::from_der(&der).map_err(der_err("certification request"))?;
    let spki = req
        .info
        .public_key
        .to_der()
        .map_err(der_err("request public key"))?;
    let tbs = req.info.to_der().map_err(der_err("request"))?;
    let alg = req
        .algorithm
        .to_der()
        .map_err(der_err("request algorithm"))?;
    let sig = req
        .signature
        .as_bytes()
        .ok_or_else(|| PkiError::InvalidRequest("request signature has unused bits".into()))?;
    verify_x509_signature(&spki, &alg, &tbs, sig)?;
    Ok((req.info.subject, spki))
}

/// Verifies an X.509-encoded signature (DER `SEQUENCE { r, s }` for ECDSA
/// and SM2) with otaseal's verifier; the AlgorithmIdentifier must be the
/// one otaseal uses for the key's suite.
fn verify_x509_signature(spki: &[u8], alg: &[u8], tbs: &[u8], sig: &[u8]) -> Result<(), PkiError> {
    let suite = keys::suite_of_spki(spki).map_err(PkiError::Key)?;
    let bad = |m: &str| PkiError::InvalidRequest(format!("request signature: {m}"));
    if alg != keys::x509_algorithm_id(suite) {
        return Err(bad(&format!(
            "algorithm is not the one otaseal uses for {} keys",
            suite.name()
        )));
    }
    let raw = match suite {
        Suite::EcdsaP256 => p256::ecdsa::Signature::from_der(sig)
            .map_err(|_| bad("not a DER ECDSA signature"))?
            .normalize_s()
            .to_bytes()
            .to_vec(),
        Suite::EcdsaP384 => p384::ecdsa::Signature::from_der(sig)
            .map_err(|_| bad("not a DER ECDSA signature"))?
            .normalize_s()
            .to_bytes()
            .to_vec(),
        Suite::Sm2 => sm2::dsa::Signature::from_der(sig)
            .map_err(|_| bad("not a DER SM2 signature"))?
            .to_bytes()
            .to_vec(),
        _ => sig.to_vec(),
    };
    otaseal_verify::crypto::verify_signature(suite, spki, tbs, &raw)
        .map_err(|e| bad(&format!("does not verify ({e:?})")))
}

/// Issues a leaf certificate (`profile`: code signing or time stamping) for
/// a PKCS#10 request (its signature checked first) with `ca_key` /
/// `ca_cert_der`, keeping the request's subject. Returns the certificate DER.
pub fn issue_from_csr(
    csr: &[u8],
    profile: CertProfile,
    ca_key: &dyn KeySigner,
    ca_cert_der: &[u8],
    not_before: u64,
    not_after: u64,
) -> Result<Vec<u8>, PkiError> {
    if profile.is_ca() {
        return Err(PkiError::InvalidRequest(
            "certificates from requests are leaf certificates".into(),
        ));
    }
    let (subject, spki) = check_csr(csr)?;
    let req = CertRequest {
        subject_cn: "",
        profile,
        not_before,
        not_after,
        subject_key: ca_key,
        issuer: Some((ca_key, ca_cert_der)),
        serial: None,
    };
    issue_with_subject(&req, subject, &spki)
}

/// Encodes DER certificates as concatenated `CERTIFICATE` PEM blocks.
pub fn certs_to_pem(ders: &[Vec<u8>]) -> String {
    ders.iter()
        .map(|d| {
            der::pem::encode_string("CERTIFICATE", LineEnding::LF, d)
                .expect("PEM encoding cannot fail")
        })
        .collect()
}

/// Decodes every `CERTIFICATE` block of a PEM text (other blocks are
/// ignored); each must parse as an X.509 certificate.
pub fn certs_from_pem(pem: &str) -> Result<Vec<Vec<u8>>, PkiError> {
    let blocks = keys::pem_blocks(pem).map_err(|e| PkiError::Pem(e.to_string()))?;
    let mut out = Vec::new();
    for (label, der) in blocks {
        if label == "CERTIFICATE" {
            Certificate::from_der(&der).map_err(der_err("certificate"))?;
            out.push(der.to_vec());
        }
    }
    if out.is_empty() {
        return Err(PkiError::Pem("no CERTIFICATE block found".into()));
    }
    Ok(out)
}

/// File locations of one suite's development PKI (in `DIR/<suite name>/`).
#[derive(Clone, Debug)]
pub struct DevPkiSuite {
    /// The suite.
    pub suite: Suite,
    /// `DIR/<suite>`.
    pub dir: PathBuf,
    /// `root.cert.pem`: the code-signing root.
    pub root_cert: PathBuf,
    /// `root.key.pem`.
    pub root_key: PathBuf,
    /// `intermediate.cert.pem`.
    pub intermediate_cert: PathBuf,
    /// `intermediate.key.pem`.
    pub intermediate_key: PathBuf,
    /// `signer.key.pem` (mode 0600).
    pub signer_key: PathBuf,
    /// `signer.chain.pem`: leaf, then intermediate.
    pub signer_chain: PathBuf,
    /// `signer.pub.pem`.
    pub signer_pub: PathBuf,
    /// `tsa-root.cert.pem`: self-signed TSA root.
    pub tsa_root_cert: PathBuf,
    /// `tsa-root.key.pem`.
    pub tsa_root_key: PathBuf,
    /// `tsa.key.pem`.
    pub tsa_key: PathBuf,
    /// `tsa.chain.pem`: the TSA leaf (issued directly by the TSA root).
    pub tsa_chain: PathBuf,
    /// Key id (SHA-256 of the SPKI) of the signer key.
    pub signer_key_id: [u8; 32],
}

/// The result of [`init_dev_pki`].
#[derive(Clone, Debug)]
pub struct DevPki {
    /// The PKI directory.
    pub dir: PathBuf,
    /// `DIR/roots.pem`: every code-signing root.
    pub roots_pem: PathBuf,
    /// `DIR/tsa-roots.pem`: every TSA root.
    pub tsa_roots_pem: PathBuf,
    /// Per-suite files, in the order requested.
    pub suites: Vec<DevPkiSuite>,
}

const README: &str = "\
THROWAWAY DEVELOPMENT KEYS - DO NOT USE IN PRODUCTION

This directory was written by otaseal's development PKI generator. Every private
key here (*.key.pem) was generated on this machine for testing and development
only. Anyone with a copy of this directory can sign updates that devices which
trust roots.pem will accept. Never install roots.pem or tsa-roots.pem on
production devices.

Layout, per suite directory (ecdsa-p256, ..., ml-dsa-87):
  root.key.pem / root.cert.pem                  code-signing root CA (self-signed)
  intermediate.key.pem / intermediate.cert.pem  intermediate CA (pathLen 0)
  signer.key.pem                                code-signing key (mode 0600)
  signer.chain.pem                              signer certificate, then intermediate
  signer.pub.pem                                signer public key
  tsa-root.key.pem / tsa-root.cert.pem          time-stamping root CA (self-signed)
  tsa.key.pem / tsa.chain.pem                   time-stamping authority key and certificate
roots.pem      all code-signing roots
tsa-roots.pem  all time-stamping roots
";

fn write_public(path: &Path, data: &str) -> Result<(), PkiError> {
    keys::write_new_file(path, data.as_bytes(), 0o644).map_err(PkiError::from)
}

fn write_key(path: &Path, key: &SigningKey) -> Result<(), PkiError> {
    key.write_private_pem(path).map_err(PkiError::from)
}

/// Writes a development PKI for each suite into `dir` (created if missing;
/// it must be empty if it exists). Certificates are valid from five minutes
/// ago for `validity_secs`.
pub fn init_dev_pki(dir: &Path, suites: &[Suite], validity_secs: u64) -> Result<DevPki, PkiError> {
    if suites.is_empty() {
        return Err(PkiError::InvalidRequest("no suites requested".into()));
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PkiError::Io { path, source }
    };
    if dir.exists() {
        let mut entries = fs::read_dir(dir).map_err(io(dir))?;
        if entries.next().is_some() {
            return Err(PkiError::DirectoryNotEmpty(dir.to_path_buf()));
        }
    } else {
        fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| PkiError::InvalidRequest("system clock before 1970".into()))?
        .as_secs();
    let not_before = now.saturating_sub(300);
    let not_after = now
        .checked_add(validity_secs)
        .ok_or_else(|| PkiError::InvalidRequest("validity out of range".into()))?;

    write_public(&dir.join("README.txt"), README)?;

    let mut roots = Vec::new();
    let mut tsa_roots = Vec::new();
    let mut out = Vec::new();
    for &suite in suites {
        let name = suite.name();
        let sdir = dir.join(name);
        fs::create_dir(&sdir).map_err(io(&sdir))?;
        let cert = |cn: String,
                    profile: CertProfile,
                    subject_key: &SigningKey,
                    issuer: Option<(&dyn KeySigner, &[u8])>| {
            issue_certificate(&CertRequest {
                subject_cn: &cn,
                profile,
                not_before,
                not_after,
                subject_key,
                issuer,
                serial: None,
            })
        };

        let root_key = SigningKey::generate(suite)?;
        // Each PKI's CA names are unique (key id prefix): path building
        // matches issuers by name, and two PKIs with equal names would make
        // a wrong root look like a forged signature instead of an unknown
        // issuer.
        let tag = |k: &SigningKey| {
            k.key_id()[..4]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        let root_tag = tag(&root_key);
        let root = cert(
            format!("otaseal dev root ({name}) {root_tag}"),
            CertProfile::Root,
            &root_key,
            None,
        )?;
        let inter_key = SigningKey::generate(suite)?;
        let inter = cert(
            format!("otaseal dev intermediate ({name}) {root_tag}"),
            CertProfile::Intermediate,
            &inter_key,
            Some((&root_key, &root)),
        )?;
        let signer_key = SigningKey::generate(suite)?;
        let signer = cert(
            format!("otaseal dev signer ({name})"),
            CertProfile::CodeSigningLeaf,
            &signer_key,
            Some((&inter_key, &inter)),
        )?;
        let tsa_root_key = SigningKey::generate(suite)?;
        let tsa_root = cert(
            format!("otaseal dev TSA root ({name}) {}", tag(&tsa_root_key)),
            CertProfile::Root,
            &tsa_root_key,
            None,
        )?;
        let tsa_key = SigningKey::generate(suite)?;
        let tsa = cert(
            format!("otaseal dev TSA ({name})"),
            CertProfile::TimeStampingLeaf,
            &tsa_key,
            Some((&tsa_root_key, &tsa_root)),
        )?;

        let p = DevPkiSuite {
            suite,
            root_cert: sdir.join("root.cert.pem"),
            root_key: sdir.join("root.key.pem"),
            intermediate_cert: sdir.join("intermediate.cert.pem"),
            intermediate_key: sdir.join("intermediate.key.pem"),
            signer_key: sdir.join("signer.key.pem"),
            signer_chain: sdir.join("signer.chain.pem"),
            signer_pub: sdir.join("signer.pub.pem"),
            tsa_root_cert: sdir.join("tsa-root.cert.pem"),
            tsa_root_key: sdir.join("tsa-root.key.pem"),
            tsa_key: sdir.join("tsa.key.pem"),
            tsa_chain: sdir.join("tsa.chain.pem"),
            signer_key_id: signer_key.key_id(),
            dir: sdir,
        };
        write_key(&p.root_key, &root_key)?;
        write_public(&p.root_cert, &certs_to_pem(std::slice::from_ref(&root)))?;
        write_key(&p.intermediate_key, &inter_key)?;
        write_public(
            &p.intermediate_cert,
            &certs_to_pem(std::slice::from_ref(&inter)),
        )?;
        write_key(&p.signer_key, &signer_key)?;
        write_public(&p.signer_chain, &certs_to_pem(&[signer, inter]))?;
        write_public(&p.signer_pub, &signer_key.public_pem())?;
        write_key(&p.tsa_root_key, &tsa_root_key)?;
        write_public(
            &p.tsa_root_cert,
            &certs_to_pem(std::slice::from_ref(&tsa_root)),
        )?;
        write_key(&p.tsa_key, &tsa_key)?;
        write_public(&p.tsa_chain, &certs_to_pem(&[tsa]))?;
        roots.push(root);
        tsa_roots.push(tsa_root);
        out.push(p);
    }
    let roots_pem = dir.join("roots.pem");
    let tsa_roots_pem = dir.join("tsa-roots.pem");
    write_public(&roots_pem, &certs_to_pem(&roots))?;
    write_public(&tsa_roots_pem, &certs_to_pem(&tsa_roots))?;
    Ok(DevPki {
        dir: dir.to_path_buf(),
        roots_pem,
        tsa_roots_pem,
        suites: out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::test_util::*;
    use std::os::unix::fs::PermissionsExt;

    const DAY: u64 = 86_400;

    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    struct Chain {
        root: Vec<u8>,
        inter: Vec<u8>,
        leaf: Vec<u8>,
        tsa_root: Vec<u8>,
        tsa: Vec<u8>,
        keys: Vec<SigningKey>,
    }

    fn issue_chain(suite: Suite) -> Chain {
        let t = now();
        let keys: Vec<SigningKey> = (0..5)
            .map(|_| SigningKey::generate(suite).unwrap())
            .collect();
        let req = |cn: &'static str, profile, subject_key, issuer| CertRequest {
            subject_cn: cn,
            profile,
            not_before: t - 60,
            not_after: t + 30 * DAY,
            subject_key,
            issuer,
            serial: None,
        };
        let root = issue_certificate(&req("test root", CertProfile::Root, &keys[0], None)).unwrap();
        let inter = issue_certificate(&req(
            "test intermediate",
            CertProfile::Intermediate,
            &keys[1],
            Some((&keys[0], &root)),
        ))
        .unwrap();
        let leaf = issue_certificate(&req(
            "test signer",
            CertProfile::CodeSigningLeaf,
            &keys[2],
            Some((&keys[1], &inter)),
        ))
        .unwrap();
        let tsa_root =
            issue_certificate(&req("test tsa root", CertProfile::Root, &keys[3], None)).unwrap();
        let tsa = issue_certificate(&req(
            "test tsa",
            CertProfile::TimeStampingLeaf,
            &keys[4],
            Some((&keys[3], &tsa_root)),
        ))
        .unwrap();
        Chain {
            root,
            inter,
            leaf,
            tsa_root,
            tsa,
            keys,
        }
    }

    fn write_chain(dir: &Path, c: &Chain) {
        for (name, der) in [
            ("root.pem", &c.root),
            ("inter.pem", &c.inter),
            ("leaf.pem", &c.leaf),
            ("tsa-root.pem", &c.tsa_root),
            ("tsa.pem", &c.tsa),
        ] {
            fs::write(dir.join(name), certs_to_pem(std::slice::from_ref(der))).unwrap();
        }
    }

    /// Checks extensions with x509-cert.
    fn check_structure(c: &Chain) {
        let parse = |d: &[u8]| Certificate::from_der(d).unwrap();
        let ext = |cert: &Certificate, oid: ObjectIdentifier| -> (bool, Vec<u8>) {
            let e = cert
                .tbs_certificate()
                .extensions()
                .unwrap()
                .iter()
                .find(|e| e.extn_id == oid)
                .unwrap_or_else(|| panic!("extension {oid} missing"));
            (e.critical, e.extn_value.as_bytes().to_vec())
        };
        let bc_oid = ObjectIdentifier::new_unwrap("2.5.29.19");
        let ku_oid = ObjectIdentifier::new_unwrap("2.5.29.15");
        let eku_oid = ObjectIdentifier::new_unwrap("2.5.29.37");
        let root = parse(&c.root);
        let inter = parse(&c.inter);
        let leaf = parse(&c.leaf);
        let tsa = parse(&c.tsa);
        assert_eq!(
            root.tbs_certificate().issuer(),
            root.tbs_certificate().subject()
        );
        assert_eq!(
            inter.tbs_certificate().issuer(),
            root.tbs_certificate().subject()
        );
        assert_eq!(
            leaf.tbs_certificate().issuer(),
            inter.tbs_certificate().subject()
        );
        let (crit, bc) = ext(&inter, bc_oid);
        assert!(crit);
        assert_eq!(
            BasicConstraints::from_der(&bc).unwrap(),
            BasicConstraints {
                ca: true,
                path_len_constraint: Some(0)
            }
        );
        let (crit, ku) = ext(&root, ku_oid);
        assert!(crit);
        let ku = KeyUsage::from_der(&ku).unwrap();
        assert!(ku.key_cert_sign() && ku.crl_sign() && !ku.digital_signature());
        let (crit, bc) = ext(&leaf, bc_oid);
        assert!(crit);
        assert!(!BasicConstraints::from_der(&bc).unwrap().ca);
        let (crit, eku) = ext(&leaf, eku_oid);
        assert!(!crit);
        assert_eq!(
            ExtendedKeyUsage::from_der(&eku).unwrap().0,
            vec![ID_KP_CODE_SIGNING]
        );
        let (crit, eku) = ext(&tsa, eku_oid);
        assert!(crit);
        assert_eq!(
            ExtendedKeyUsage::from_der(&eku).unwrap().0,
            vec![ID_KP_TIME_STAMPING]
        );
        let serial = leaf.tbs_certificate().serial_number().as_bytes();
        assert_eq!(serial.len(), 16);
        // AKI of each child = SKI of its issuer.
        let ski = |cert: &Certificate| {
            cert.tbs_certificate()
                .get_extension::<SubjectKeyIdentifier>()
                .unwrap()
                .unwrap()
                .1
                .0
        };
        let aki = |cert: &Certificate| {
            cert.tbs_certificate()
                .get_extension::<AuthorityKeyIdentifier>()
                .unwrap()
                .unwrap()
                .1
                .key_identifier
                .unwrap()
        };
        assert_eq!(aki(&root), ski(&root));
        assert_eq!(aki(&inter), ski(&root));
        assert_eq!(aki(&leaf), ski(&inter));
    }

    /// `openssl verify` options for a suite's chains.
    ///
    /// OpenSSL 3.0.19 and SM2 certificates signed with the GM/T default
    /// distinguishing id "1234567812345678" (as ours are, and as
    /// `openssl x509 -req -sigopt distid:1234567812345678` makes them):
    /// `openssl verify -vfyopt distid:1234567812345678` applies the id to the
    /// *target* certificate only; every other certificate of the path, and a
    /// self-signed root under `-check_ss_sig`, is checked with the empty id
    /// and fails ("certificate signature failure"), even for chains made
    /// entirely by openssl. So OpenSSL 3.0 cannot verify a 3-level SM2 chain
    /// in one call: the SM2 tests verify each link as the target
    /// (intermediate against the root, leaf against the intermediate with
    /// `-partial_chain`) and the roots' self-signatures with `openssl pkeyutl`.
    fn openssl_verify_args(suite: Suite) -> Vec<&'static str> {
        if suite == Suite::Sm2 {
            vec![
                "verify",
                "-x509_strict",
                "-vfyopt",
                "distid:1234567812345678",
            ]
        } else {
            vec!["verify", "-x509_strict", "-check_ss_sig"]
        }
    }

    fn openssl_checks(suite: Suite) {
        let test = format!("pki openssl {}", suite.name());
        if !have_openssl(&test) {
            return;
        }
        let tmp = TempDir::new("pki");
        let dir = tmp.path();
        let chain = issue_chain(suite);
        check_structure(&chain);
        write_chain(dir, &chain);
        let verify = openssl_verify_args(suite);
        if suite == Suite::Sm2 {
            // `openssl verify` cannot check the root's SM2 self-signature (see
            // `openssl_verify_args`): check it with pkeyutl on the TBS instead.
            for (name, der) in [("root", &chain.root), ("tsa-root", &chain.tsa_root)] {
                let cert = Certificate::from_der(der).unwrap();
                let tbs = format!("{name}.tbs");
                let sig = format!("{name}.sig");
                let pubkey = format!("{name}.pub.pem");
                fs::write(dir.join(&tbs), cert.tbs_certificate().to_der().unwrap()).unwrap();
                fs::write(dir.join(&sig), cert.signature().raw_bytes()).unwrap();
                let spki = cert
                    .tbs_certificate()
                    .subject_public_key_info()
                    .to_der()
                    .unwrap();
                fs::write(
                    dir.join(&pubkey),
                    der::pem::encode_string("PUBLIC KEY", LineEnding::LF, &spki).unwrap(),
                )
                .unwrap();
                let out = openssl_ok(
                    dir,
                    &[
                        "pkeyutl",
                        "-verify",
                        "-pubin",
                        "-inkey",
                        &pubkey,
                        "-rawin",
                        "-digest",
                        "sm3",
                        "-pkeyopt",
                        "distid:1234567812345678",
                        "-in",
                        &tbs,
                        "-sigfile",
                        &sig,
                    ],
                );
                assert!(out.contains("Verified Successfully"), "{out}");
            }
        }
        if suite == Suite::Sm2 {
            let mut link = verify.clone();
            link.extend_from_slice(&["-CAfile", "root.pem", "inter.pem"]);
            let out = openssl_ok(dir, &link);
            assert!(out.contains("inter.pem: OK"), "{out}");
            let mut link = verify.clone();
            link.extend_from_slice(&["-partial_chain", "-CAfile", "inter.pem", "leaf.pem"]);
            let out = openssl_ok(dir, &link);
            assert!(out.contains("leaf.pem: OK"), "{out}");
        } else {
            let mut code = verify.clone();
            code.extend_from_slice(&["-CAfile", "root.pem", "-untrusted", "inter.pem", "leaf.pem"]);
            let out = openssl_ok(dir, &code);
            assert!(out.contains("leaf.pem: OK"), "{out}");
        }
        let mut tsa = verify.clone();
        tsa.extend_from_slice(&[
            "-CAfile",
            "tsa-root.pem",
            "-purpose",
            "timestampsign",
            "tsa.pem",
        ]);
        let out = openssl_ok(dir, &tsa);
        assert!(out.contains("tsa.pem: OK"), "{out}");
        // The leaf does not chain to the TSA root.
        let mut wrong = verify.clone();
        wrong.extend_from_slice(&[
            "-CAfile",
            "tsa-root.pem",
            "-untrusted",
            "inter.pem",
            "leaf.pem",
        ]);
        assert!(!openssl(dir, &wrong).0);

        let eku = openssl_ok(
            dir,
            &[
                "x509",
                "-in",
                "leaf.pem",
                "-noout",
                "-ext",
                "extendedKeyUsage",
            ],
        );
        assert!(eku.contains("Code Signing"), "{eku}");
        assert!(!eku.contains("critical"), "{eku}");
        let eku = openssl_ok(
            dir,
            &[
                "x509",
                "-in",
                "tsa.pem",
                "-noout",
                "-ext",
                "extendedKeyUsage",
            ],
        );
        assert!(eku.contains("X509v3 Extended Key Usage: critical"), "{eku}");
        assert!(eku.contains("Time Stamping"), "{eku}");
        let text = openssl_ok(dir, &["x509", "-in", "inter.pem", "-noout", "-text"]);
        assert!(text.contains("CA:TRUE, pathlen:0"), "{text}");
        assert!(text.contains("Certificate Sign, CRL Sign"), "{text}");
        assert!(
            text.contains("O = otaseal development, CN = test intermediate"),
            "{text}"
        );
    }

    #[test]
    fn openssl_verifies_ecdsa_p256_chain() {
        openssl_checks(Suite::EcdsaP256);
    }

    #[test]
    fn openssl_verifies_rsa_pss_chain() {
        openssl_checks(Suite::RsaPss3072);
    }

    #[test]
    fn openssl_verifies_sm2_chain() {
        openssl_checks(Suite::Sm2);
    }

    #[test]
    fn openssl_verifies_p384_and_ed25519_chains() {
        openssl_checks(Suite::EcdsaP384);
        openssl_checks(Suite::Ed25519);
    }

    /// OpenSSL 3.0 cannot parse ML-DSA: check with x509-cert and ml-dsa.
    #[test]
    fn ml_dsa_chains_verify() {
        fn check<P>(suite: Suite)
        where
            P: ml_dsa::MlDsaParams
                + spki::AssociatedAlgorithmIdentifier<Params = der::AnyRef<'static>>,
        {
            let c = issue_chain(suite);
            check_structure(&c);
            for (child, issuer) in [
                (&c.root, &c.root),
                (&c.inter, &c.root),
                (&c.leaf, &c.inter),
                (&c.tsa, &c.tsa_root),
            ] {
                let child = Certificate::from_der(child).unwrap();
                let issuer = Certificate::from_der(issuer).unwrap();
                let alg = child.signature_algorithm();
                assert_eq!(alg, child.tbs_certificate().signature());
                assert!(alg.parameters.is_none());
                let tbs = child.tbs_certificate().to_der().unwrap();
                let spki = issuer
                    .tbs_certificate()
                    .subject_public_key_info()
                    .to_der()
                    .unwrap();
                let sig = child.signature().as_bytes().unwrap();
                crate::keys::tests::verify_ml_dsa::<P>(&spki, &tbs, sig);
            }
            let leaf = Certificate::from_der(&c.leaf).unwrap();
            assert_eq!(
                leaf.tbs_certificate()
                    .subject_public_key_info()
                    .to_der()
                    .unwrap(),
                c.keys[2].public_spki_der()
            );
        }
        check::<ml_dsa::MlDsa44>(Suite::MlDsa44);
        check::<ml_dsa::MlDsa65>(Suite::MlDsa65);
        check::<ml_dsa::MlDsa87>(Suite::MlDsa87);
    }

    #[test]
    fn request_validation_and_options() {
        let t = now();
        let root_key = SigningKey::generate(Suite::Ed25519).unwrap();
        let other = SigningKey::generate(Suite::Ed25519).unwrap();
        let mut req = CertRequest {
            subject_cn: "x",
            profile: CertProfile::Root,
            not_before: t,
            not_after: t,
            subject_key: &root_key,
            issuer: None,
            serial: Some(vec![0x01, 0x02]),
        };
        assert!(matches!(
            issue_certificate(&req),
            Err(PkiError::InvalidRequest(_))
        ));
        req.not_after = t + DAY;
        // Far future: GeneralizedTime from 2050.
        req.not_after = 2_600_000_000;
        let root = issue_certificate(&req).unwrap();
        let cert = Certificate::from_der(&root).unwrap();
        assert_eq!(cert.tbs_certificate().serial_number().as_bytes(), &[1, 2]);
        assert!(matches!(
            cert.tbs_certificate().validity().not_after,
            Time::GeneralTime(_)
        ));
        assert!(matches!(
            cert.tbs_certificate().validity().not_before,
            Time::UtcTime(_)
        ));
        // Issuer key that does not match the issuer certificate.
        let bad = CertRequest {
            subject_cn: "leaf",
            profile: CertProfile::LeafWithoutEku,
            not_before: t,
            not_after: t + DAY,
            subject_key: &other,
            issuer: Some((&other, &root)),
            serial: None,
        };
        assert!(matches!(
            issue_certificate(&bad),
            Err(PkiError::InvalidRequest(_))
        ));
        // Custom EKUs and no EKU.
        let custom = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.10.3.13");
        let leaf = issue_certificate(&CertRequest {
            profile: CertProfile::LeafWithEku(vec![ID_KP_CODE_SIGNING, custom]),
            issuer: Some((&root_key, &root)),
            ..bad
        })
        .unwrap();
        let leaf = Certificate::from_der(&leaf).unwrap();
        let (critical, eku) = leaf
            .tbs_certificate()
            .get_extension::<ExtendedKeyUsage>()
            .unwrap()
            .unwrap();
        assert!(!critical);
        assert_eq!(eku.0, vec![ID_KP_CODE_SIGNING, custom]);
        let leaf = issue_certificate(&CertRequest {
            subject_cn: "no eku",
            profile: CertProfile::LeafWithoutEku,
            not_before: t,
            not_after: t + DAY,
            subject_key: &other,
            issuer: Some((&root_key, &root)),
            serial: None,
        })
        .unwrap();
        let leaf = Certificate::from_der(&leaf).unwrap();
        assert!(
            leaf.tbs_certificate()
                .get_extension::<ExtendedKeyUsage>()
                .unwrap()
                .is_none()
        );

        // PEM helpers.
        let pem = certs_to_pem(&[root.clone(), leaf.to_der().unwrap()]);
        let back = certs_from_pem(&format!("junk\n{pem}trailer\n")).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0], root);
        assert!(matches!(certs_from_pem("nothing"), Err(PkiError::Pem(_))));
    }

    #[test]
    fn dev_pki_all_suites() {
        let tmp = TempDir::new("devpki");
        let dir = tmp.path().join("pki");
        let pki = init_dev_pki(&dir, &Suite::ALL, 365 * DAY).unwrap();
        assert_eq!(pki.suites.len(), 8);
        let readme = fs::read_to_string(dir.join("README.txt")).unwrap();
        assert!(readme.contains("THROWAWAY DEVELOPMENT KEYS"));
        assert_eq!(
            certs_from_pem(&fs::read_to_string(&pki.roots_pem).unwrap())
                .unwrap()
                .len(),
            8
        );
        assert_eq!(
            certs_from_pem(&fs::read_to_string(&pki.tsa_roots_pem).unwrap())
                .unwrap()
                .len(),
            8
        );
        for s in &pki.suites {
            assert_eq!(s.dir, dir.join(s.suite.name()));
            for key in [
                &s.root_key,
                &s.intermediate_key,
                &s.signer_key,
                &s.tsa_root_key,
                &s.tsa_key,
            ] {
                let mode = fs::metadata(key).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{}", key.display());
                assert_eq!(SigningKey::load(key).unwrap().suite(), s.suite);
            }
            let signer = SigningKey::load(&s.signer_key).unwrap();
            assert_eq!(signer.key_id(), s.signer_key_id);
            let (suite, spki) =
                crate::keys::public_key_from_pem(&fs::read_to_string(&s.signer_pub).unwrap())
                    .unwrap();
            assert_eq!(suite, s.suite);
            assert_eq!(spki, signer.public_spki_der());
            let chain = certs_from_pem(&fs::read_to_string(&s.signer_chain).unwrap()).unwrap();
            assert_eq!(chain.len(), 2);
            let leaf = Certificate::from_der(&chain[0]).unwrap();
            assert_eq!(
                leaf.tbs_certificate()
                    .subject_public_key_info()
                    .to_der()
                    .unwrap(),
                spki
            );
            let inter = fs::read_to_string(&s.intermediate_cert).unwrap();
            assert_eq!(certs_from_pem(&inter).unwrap()[0], chain[1]);
            let tsa = certs_from_pem(&fs::read_to_string(&s.tsa_chain).unwrap()).unwrap();
            assert_eq!(tsa.len(), 1);
        }
        if have_openssl("dev_pki_all_suites (openssl part)") {
            for s in pki.suites.iter().filter(|s| {
                matches!(
                    s.suite,
                    Suite::EcdsaP256
                        | Suite::EcdsaP384
                        | Suite::Ed25519
                        | Suite::RsaPss3072
                        | Suite::Sm2
                )
            }) {
                let sdir = &s.dir;
                let mut args = openssl_verify_args(s.suite);
                if s.suite == Suite::Sm2 {
                    let mut link = args.clone();
                    link.extend_from_slice(&["-CAfile", "root.cert.pem", "intermediate.cert.pem"]);
                    let out = openssl_ok(sdir, &link);
                    assert!(out.contains("intermediate.cert.pem: OK"), "{out}");
                    args.extend_from_slice(&[
                        "-partial_chain",
                        "-CAfile",
                        "intermediate.cert.pem",
                        "signer.chain.pem",
                    ]);
                } else {
                    args.extend_from_slice(&[
                        "-CAfile",
                        "root.cert.pem",
                        "-untrusted",
                        "signer.chain.pem",
                        "signer.chain.pem",
                    ]);
                }
                let out = openssl_ok(sdir, &args);
                assert!(out.contains("signer.chain.pem: OK"), "{out}");
                let mut args = openssl_verify_args(s.suite);
                args.extend_from_slice(&["-CAfile", "tsa-root.cert.pem", "tsa.chain.pem"]);
                let out = openssl_ok(sdir, &args);
                assert!(out.contains("tsa.chain.pem: OK"), "{out}");
            }
        }
        // Never overwrite.
        let err = init_dev_pki(&dir, &[Suite::Ed25519], DAY).unwrap_err();
        assert!(matches!(err, PkiError::DirectoryNotEmpty(_)), "{err}");
        let ed = pki
            .suites
            .iter()
            .find(|s| s.suite == Suite::Ed25519)
            .unwrap();
        assert_eq!(
            SigningKey::load(&ed.signer_key).unwrap().key_id(),
            ed.signer_key_id
        );
    }
}
