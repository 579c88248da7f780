//! The time-stamp authority: checks a `TimeStampReq` and answers with a
//! `TimeStampResp` carrying a CMS SignedData token.
//!
//! Token layout (RFC 3161, RFC 5652, RFC 5816):
//!
//! ```text
//! ContentInfo { id-signedData, SignedData {
//!   version 3, digestAlgorithms { D },
//!   encapContentInfo { id-ct-TSTInfo, OCTET STRING (TSTInfo DER) },
//!   certificates [0] (the TSA chain, only when certReq is true),
//!   signerInfos { SignerInfo {
//!     version 1, sid IssuerAndSerialNumber (TSA certificate), digestAlgorithm D,
//!     signedAttrs { content-type, message-digest D(TSTInfo), signing-time,
//!                   signingCertificateV2 { ESSCertIDv2 { SHA-256(TSA cert), issuerSerial } } },
//!     signatureAlgorithm, signature = KeySigner::sign_x509(DER of signedAttrs as SET) } } } }
//! ```
//!
//! `D` follows the key's security level: SHA-256 for P-256, RSA-PSS-3072 and
//! ML-DSA-44; SHA-384 for P-384 and ML-DSA-65; SHA-512 for Ed25519 (RFC 8419
//! section 3.1 requires id-sha512 with Ed25519) and ML-DSA-87; SM3 for SM2.
//! For ML-DSA, RFC 9882 asks for a digest at least as strong as the parameter
//! set (so not SHA-256 for ML-DSA-65); this matches `Suite::digest`.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::SystemTime;

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{Any, Int, ObjectIdentifier, OctetString, SetOfVec};
use der::{Decode, Encode};
use otaseal_manifest::{DigestAlg, Suite};
use otaseal_sign::keys::{KeySigner, SigningKey};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::ExtendedKeyUsage;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::time::Time;

use crate::protocol::{
    self, Accuracy, EssCertIdV2, FailureInfo, GenTime, IssuerSerial, PkiStatusInfo,
    SigningCertificateV2, TimeStampReq, TimeStampResp, TstInfo, oid,
};
use crate::serial::{SerialError, SerialStore};

/// Errors when setting up an [`Authority`].
#[derive(Debug)]
pub enum AuthorityError {
    /// The key could not be loaded.
    Key(String),
    /// The certificate chain is missing or unusable.
    Certificate(String),
    /// The serial store could not be opened.
    Serial(SerialError),
}

impl fmt::Display for AuthorityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthorityError::Key(m) => write!(f, "TSA key: {m}"),
            AuthorityError::Certificate(m) => write!(f, "TSA certificate: {m}"),
            AuthorityError::Serial(e) => write!(f, "TSA serial store: {e}"),
        }
    }
}

impl std::error::Error for AuthorityError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AuthorityError::Serial(e) => Some(e),
            _ => None,
        }
    }
}

impl From<SerialError> for AuthorityError {
    fn from(e: SerialError) -> Self {
        AuthorityError::Serial(e)
    }
}

/// The CMS digest algorithm used with a TSA key (see the module docs).
pub const fn signer_digest(suite: Suite) -> DigestAlg {
    match suite {
        Suite::Ed25519 => DigestAlg::Sha512,
        other => other.digest(),
    }
}

/// Why a request was rejected: failure bits and a status text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The failInfo bits.
    pub fail_info: FailureInfo,
    /// The statusString text.
    pub text: String,
}

impl Rejection {
    fn new(fail_info: FailureInfo, text: impl Into<String>) -> Rejection {
        Rejection {
            fail_info,
            text: text.into(),
        }
    }
}

/// A time-stamp authority: key, certificate chain, policy and serial store.
pub struct Authority {
    /// Any key backend: a key file or a key in a PKCS#11 token / HSM.
    key: Box<dyn KeySigner>,
    /// DER certificates, leaf (the TSA certificate) first.
    chain: Vec<Vec<u8>>,
    policy: ObjectIdentifier,
    accuracy_millis: u32,
    serials: SerialStore,
    // Precomputed from the chain.
    digest: DigestAlg,
    leaf: Certificate,
    signing_cert_v2: Vec<u8>,
    certificate_set: CertificateSet,
}

impl fmt::Debug for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authority")
            .field("key", &self.key)
            .field("policy", &self.policy)
            .field("accuracy_millis", &self.accuracy_millis)
            .field("serials", &self.serials)
            .finish_non_exhaustive()
    }
}

fn cert_err(m: impl fmt::Display) -> AuthorityError {
    AuthorityError::Certificate(m.to_string())
}

impl Authority {
    /// Creates an authority. `chain` is DER, leaf first; the leaf must hold
    /// the public key of `key` and have exactly one extended key usage,
    /// id-kp-timeStamping, marked critical (RFC 3161 section 2.3).
    /// The accuracy defaults to one second.
    pub fn new<K: KeySigner + 'static>(
        key: K,
        chain: Vec<Vec<u8>>,
        policy: ObjectIdentifier,
        serials: SerialStore,
    ) -> Result<Authority, AuthorityError> {
        let key: Box<dyn KeySigner> = Box::new(key);
        let leaf_der = chain
            .first()
            .ok_or_else(|| cert_err("the chain is empty"))?;
        let mut certs = Vec::with_capacity(chain.len());
        for der in &chain {
            let cert = Certificate::from_der(der).map_err(cert_err)?;
            certs.push(CertificateChoices::Certificate(cert));
        }
        let leaf = Certificate::from_der(leaf_der).map_err(cert_err)?;
        let tbs = leaf.tbs_certificate();
        let spki = tbs.subject_public_key_info().to_der().map_err(cert_err)?;
        if spki != key.public_spki_der() {
            return Err(cert_err(
                "the first certificate does not hold the TSA key's public key",
            ));
        }
        match tbs.get_extension::<ExtendedKeyUsage>().map_err(cert_err)? {
            Some((true, eku)) if eku.0 == [oid::KP_TIME_STAMPING] => {}
            Some((false, _)) => {
                return Err(cert_err(
                    "the extended key usage extension must be critical",
                ));
            }
            _ => {
                return Err(cert_err(
                    "the extended key usage must be exactly id-kp-timeStamping",
                ));
            }
        }

        let ess = SigningCertificateV2 {
            certs: vec![EssCertIdV2 {
                hash_algorithm: None, // DEFAULT id-sha256
                cert_hash: OctetString::new(protocol::hash(DigestAlg::Sha256, leaf_der))
                    .map_err(cert_err)?,
                issuer_serial: Some(IssuerSerial {
                    issuer: vec![GeneralName::DirectoryName(tbs.issuer().clone())],
                    serial_number: tbs.serial_number().clone(),
                }),
            }],
            policies: None,
        };
        let signing_cert_v2 = ess.to_der().map_err(cert_err)?;
        let certificate_set = CertificateSet::try_from(certs).map_err(cert_err)?;
        let digest = signer_digest(key.suite());
        Ok(Authority {
            key,
            chain,
            policy,
            accuracy_millis: 1000,
            serials,
            digest,
            leaf,
            signing_cert_v2,
            certificate_set,
        })
    }

    /// Loads the key (PKCS#8 PEM), the chain (PEM, leaf first) and opens the
    /// serial store.
    pub fn from_files(
        key_pem: &Path,
        chain_pem: &Path,
        policy: ObjectIdentifier,
        serial_store: &Path,
    ) -> Result<Authority, AuthorityError> {
        let key = SigningKey::load(key_pem).map_err(|e| AuthorityError::Key(e.to_string()))?;
        Authority::with_chain_file(key, chain_pem, policy, serial_store)
    }

    /// Like [`Self::from_files`] with a key from any backend (e.g. a
    /// PKCS#11 token: TSA keys belong in HSMs, spec/policy.md).
    pub fn with_chain_file<K: KeySigner + 'static>(
        key: K,
        chain_pem: &Path,
        policy: ObjectIdentifier,
        serial_store: &Path,
    ) -> Result<Authority, AuthorityError> {
        let pem = otaseal_sign::package::read_small_file(chain_pem)
            .and_then(|b| {
                String::from_utf8(b).map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::InvalidData, "not a PEM file")
                })
            })
            .map_err(|e| cert_err(format!("{}: {e}", chain_pem.display())))?;
        let chain = otaseal_sign::pki::certs_from_pem(&pem).map_err(cert_err)?;
        let serials = SerialStore::open(serial_store)?;
        Authority::new(key, chain, policy, serials)
    }

    /// Sets the accuracy in milliseconds (0 leaves `accuracy` out).
    pub fn with_accuracy_millis(mut self, millis: u32) -> Authority {
        self.accuracy_millis = millis;
        self
    }

    /// The TSA policy.
    pub fn policy(&self) -> ObjectIdentifier {
        self.policy
    }

    /// The certificate chain (DER, leaf first).
    pub fn chain(&self) -> &[Vec<u8>] {
        &self.chain
    }

    /// The CMS digest algorithm of the SignerInfo.
    pub fn digest_alg(&self) -> DigestAlg {
        self.digest
    }

    /// The serial store.
    pub fn serials(&self) -> &SerialStore {
        &self.serials
    }

    /// Answers a DER `TimeStampReq` with a DER `TimeStampResp`. Never panics:
    /// a bad request is answered with status rejection and the matching
    /// failInfo; an internal failure with systemFailure.
    pub fn respond(&self, request_der: &[u8]) -> Vec<u8> {
        let status = match catch_unwind(AssertUnwindSafe(|| self.respond_inner(request_der))) {
            Ok(Ok(resp)) => return resp,
            Ok(Err(rej)) => PkiStatusInfo::rejection(rej.fail_info, &rej.text),
            Err(_) => PkiStatusInfo::rejection(FailureInfo::SYSTEM_FAILURE, "internal error"),
        };
        rejection_der(status)
    }

    fn respond_inner(&self, request_der: &[u8]) -> Result<Vec<u8>, Rejection> {
        let req = TimeStampReq::from_der(request_der).map_err(|e| {
            Rejection::new(
                FailureInfo::BAD_DATA_FORMAT,
                format!("not a DER TimeStampReq: {e}"),
            )
        })?;
        let token = self.issue(&req)?;
        let resp = TimeStampResp {
            status: PkiStatusInfo::granted(),
            time_stamp_token: Some(token),
        };
        resp.to_der()
            .map_err(|e| Rejection::new(FailureInfo::SYSTEM_FAILURE, format!("encoding: {e}")))
    }

    /// Checks a request and issues a token (a `ContentInfo`).
    pub fn issue(&self, req: &TimeStampReq) -> Result<ContentInfo, Rejection> {
        if req.version != 1 {
            return Err(Rejection::new(
                FailureInfo::BAD_DATA_FORMAT,
                format!("unsupported request version {}", req.version),
            ));
        }
        let imprint = &req.message_imprint;
        let alg = imprint.digest_alg().ok_or_else(|| {
            Rejection::new(
                FailureInfo::BAD_ALG,
                format!(
                    "unsupported hash algorithm {} (accepted: SHA-256, SHA-384, SHA-512, SM3)",
                    imprint.hash_algorithm.oid
                ),
            )
        })?;
        let len = imprint.hashed_message.as_bytes().len();
        if len != protocol::digest_len(alg) {
            return Err(Rejection::new(
                FailureInfo::BAD_DATA_FORMAT,
                format!(
                    "hashedMessage is {len} bytes; {} needs {}",
                    alg.name(),
                    protocol::digest_len(alg)
                ),
            ));
        }
        if let Some(p) = &req.req_policy
            && *p != self.policy
        {
            return Err(Rejection::new(
                FailureInfo::UNACCEPTED_POLICY,
                format!("policy {p} is not offered (this TSA: {})", self.policy),
            ));
        }
        if req.extensions.as_ref().is_some_and(|e| !e.is_empty()) {
            return Err(Rejection::new(
                FailureInfo::UNACCEPTED_EXTENSION,
                "request extensions are not supported",
            ));
        }
        let sys = |m: String| Rejection::new(FailureInfo::SYSTEM_FAILURE, m);

        let now = SystemTime::now();
        let gen_time = GenTime::from_system_time_secs(now).map_err(|_| {
            Rejection::new(FailureInfo::TIME_NOT_AVAILABLE, "the clock is not usable")
        })?;
        // A token from a certificate that is not valid now would be rejected
        // by every verifier: refuse instead of issuing it.
        let validity = &self.leaf.tbs_certificate().validity();
        if now < validity.not_before.to_system_time() || now > validity.not_after.to_system_time() {
            return Err(sys(
                "the TSA certificate is not valid now (expired or not yet valid)".into(),
            ));
        }
        let serial = self
            .serials
            .next_serial()
            .map_err(|e| sys(format!("serial number: {e}")))?;
        let tst = TstInfo {
            version: 1,
            policy: self.policy,
            message_imprint: imprint.clone(),
            serial_number: Int::new(&serial).map_err(|e| sys(e.to_string()))?,
            gen_time,
            accuracy: Accuracy::from_millis(self.accuracy_millis),
            ordering: false,
            nonce: req.nonce.clone(),
            tsa: Some(GeneralName::DirectoryName(
                self.leaf.tbs_certificate().subject().clone(),
            )),
            extensions: None,
        };
        self.sign_token(&tst, gen_time, req.cert_req).map_err(sys)
    }

    fn sign_token(
        &self,
        tst: &TstInfo,
        gen_time: GenTime,
        cert_req: bool,
    ) -> Result<ContentInfo, String> {
        let e = |what: &'static str| move |err: der::Error| format!("{what}: {err}");
        let tst_der = protocol::to_der(tst, "TSTInfo")?;
        let digest_alg = protocol::digest_algorithm_identifier(self.digest);
        let attr = |oid: ObjectIdentifier, value: Any| -> Result<Attribute, String> {
            Ok(Attribute {
                oid,
                values: SetOfVec::try_from(vec![value]).map_err(e("attribute"))?,
            })
        };
        let signing_time = Time::try_from(gen_time.to_system_time()).map_err(e("signing time"))?;
        let signed_attrs = SetOfVec::try_from(vec![
            attr(
                oid::CONTENT_TYPE,
                Any::encode_from(&oid::CT_TST_INFO).map_err(e("content type"))?,
            )?,
            attr(
                oid::MESSAGE_DIGEST,
                Any::encode_from(
                    &OctetString::new(protocol::hash(self.digest, &tst_der))
                        .map_err(e("digest"))?,
                )
                .map_err(e("message digest"))?,
            )?,
            attr(
                oid::SIGNING_TIME,
                Any::encode_from(&signing_time).map_err(e("signing time"))?,
            )?,
            attr(
                oid::SIGNING_CERTIFICATE_V2,
                Any::from_der(&self.signing_cert_v2).map_err(e("signing certificate"))?,
            )?,
        ])
        .map_err(e("signed attributes"))?;
        // RFC 5652 5.4: the signature covers the DER of the attributes with
        // an explicit SET OF tag, not the [0] IMPLICIT tag of the field.
        let to_sign = protocol::to_der(&signed_attrs, "signed attributes")?;
        let (signature, sig_alg) = self
            .key
            .sign_x509(&to_sign)
            .map_err(|err| format!("signing: {err}"))?;
        let tbs = self.leaf.tbs_certificate();
        let signer_info = SignerInfo {
            version: CmsVersion::V1,
            sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: tbs.issuer().clone(),
                serial_number: tbs.serial_number().clone(),
            }),
            digest_alg: digest_alg.clone(),
            signed_attrs: Some(signed_attrs),
            signature_algorithm: AlgorithmIdentifierOwned::from_der(&sig_alg)
                .map_err(e("signature algorithm"))?,
            signature: OctetString::new(signature).map_err(e("signature"))?,
            unsigned_attrs: None,
        };
        let signed_data = SignedData {
            version: CmsVersion::V3,
            digest_algorithms: SetOfVec::try_from(vec![digest_alg])
                .map_err(e("digest algorithms"))?,
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: oid::CT_TST_INFO,
                econtent: Some(
                    Any::encode_from(&OctetString::new(tst_der).map_err(e("eContent"))?)
                        .map_err(e("eContent"))?,
                ),
            },
            certificates: cert_req.then(|| self.certificate_set.clone()),
            crls: None,
            signer_infos: SignerInfos::try_from(vec![signer_info]).map_err(e("signer infos"))?,
        };
        Ok(ContentInfo {
            content_type: oid::SIGNED_DATA,
            content: Any::encode_from(&signed_data).map_err(e("SignedData"))?,
        })
    }
}

/// DER of a `TimeStampResp` without a token.
fn rejection_der(status: PkiStatusInfo) -> Vec<u8> {
    let resp = TimeStampResp {
        status,
        time_stamp_token: None,
    };
    match resp.to_der() {
        Ok(der) => der,
        // Only an absurdly long status text could fail to encode: fall back
        // to a fixed systemFailure answer.
        Err(_) => TimeStampResp {
            status: PkiStatusInfo::rejection(FailureInfo::SYSTEM_FAILURE, "internal error"),
            time_stamp_token: None,
        }
        .to_der()
        .unwrap_or_default(),
    }
}

/// DER of a rejection `TimeStampResp` with the given failure and text (for
/// servers that reject before the authority sees the request).
pub fn rejection_response(fail_info: FailureInfo, text: &str) -> Vec<u8> {
    rejection_der(PkiStatusInfo::rejection(fail_info, text))
}
