//! CSC API v2 request and response bodies (the hash-signing subset), with the
//! v1 field spellings accepted as aliases, and the CSC error codes.
//!
//! Field names follow the CSC API v2.0.0.2 JSON (camelCase). v1 clients send
//! `hash` for `hashes`, `hashAlgo` for `hashAlgorithmOID` and `PIN` / `OTP`
//! instead of `authData`: serde aliases map them onto the same structs, so
//! the service has one code path for both versions.

use serde::{Deserialize, Serialize};

/// Object identifiers of the hash and signature algorithms of otaseal's CSC
/// profile (`spec/csc-profile.md`).
pub mod oids {
    /// SHA-256.
    pub const SHA256: &str = "2.16.840.1.101.3.4.2.1";
    /// SHA-384.
    pub const SHA384: &str = "2.16.840.1.101.3.4.2.2";
    /// SM3.
    pub const SM3: &str = "1.2.156.10197.1.401";
    /// SHAKE256 (the hash of ML-DSA's External-mu).
    pub const SHAKE256: &str = "2.16.840.1.101.3.4.2.12";
    /// ecdsa-with-SHA256.
    pub const ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";
    /// ecdsa-with-SHA384.
    pub const ECDSA_SHA384: &str = "1.2.840.10045.4.3.3";
    /// id-ecPublicKey (some clients send the key algorithm as signAlgo).
    pub const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
    /// id-RSASSA-PSS.
    pub const RSASSA_PSS: &str = "1.2.840.113549.1.1.10";
    /// SM2-with-SM3.
    pub const SM2_SM3: &str = "1.2.156.10197.1.501";
    /// id-ml-dsa-44.
    pub const ML_DSA_44: &str = "2.16.840.1.101.3.4.3.17";
    /// id-ml-dsa-65.
    pub const ML_DSA_65: &str = "2.16.840.1.101.3.4.3.18";
    /// id-ml-dsa-87.
    pub const ML_DSA_87: &str = "2.16.840.1.101.3.4.3.19";
}

/// A CSC error: the HTTP status and the `error` code of the JSON body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CscError {
    /// HTTP status code.
    pub status: u16,
    /// `error` (e.g. `invalid_request`).
    pub error: String,
    /// `error_description`: a human message without secrets.
    pub description: String,
}

impl CscError {
    fn new(status: u16, error: &str, description: impl Into<String>) -> CscError {
        CscError {
            status,
            error: error.into(),
            description: description.into(),
        }
    }
    /// 400 `invalid_request`.
    pub fn invalid_request(d: impl Into<String>) -> CscError {
        CscError::new(400, "invalid_request", d)
    }
    /// 401 `invalid_token` (missing, unknown, revoked or expired bearer token).
    pub fn invalid_token(d: impl Into<String>) -> CscError {
        CscError::new(401, "invalid_token", d)
    }
    /// 401 `invalid_client` (wrong client id or secret).
    pub fn invalid_client(d: impl Into<String>) -> CscError {
        CscError::new(401, "invalid_client", d)
    }
    /// 403 `access_denied` (not granted, SAD not valid for this request).
    pub fn access_denied(d: impl Into<String>) -> CscError {
        CscError::new(403, "access_denied", d)
    }
    /// 400 `invalid_authentication_data` (wrong or missing PIN / OTP).
    pub fn invalid_authentication_data(d: impl Into<String>) -> CscError {
        CscError::new(400, "invalid_authentication_data", d)
    }
    /// 400 `invalid_otp`.
    pub fn invalid_otp(d: impl Into<String>) -> CscError {
        CscError::new(400, "invalid_otp", d)
    }
    /// 429 `too_many_requests` (per-client rate limit).
    pub fn too_many_requests() -> CscError {
        CscError::new(429, "too_many_requests", "rate limit exceeded, retry later")
    }
    /// 404 `invalid_request` for an unknown method.
    pub fn unknown_method(m: &str) -> CscError {
        CscError::new(404, "invalid_request", format!("unknown method {m:?}"))
    }
    /// 405 `invalid_request`.
    pub fn method_not_allowed() -> CscError {
        CscError::new(405, "invalid_request", "use POST")
    }
    /// 413 `invalid_request`.
    pub fn too_large(max: usize) -> CscError {
        CscError::new(
            413,
            "invalid_request",
            format!("request body larger than {max} bytes"),
        )
    }
    /// 415 `invalid_request`.
    pub fn wrong_content_type() -> CscError {
        CscError::new(
            415,
            "invalid_request",
            "Content-Type must be application/json",
        )
    }
    /// 500 `server_error` (details go to the log, not to the client).
    pub fn server_error() -> CscError {
        CscError::new(500, "server_error", "internal error")
    }
    /// 503 `temporarily_unavailable`.
    pub fn unavailable(d: impl Into<String>) -> CscError {
        CscError::new(503, "temporarily_unavailable", d)
    }
    /// The JSON body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.error.clone(),
            error_description: self.description.clone(),
        }
    }
}

impl std::fmt::Display for CscError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (HTTP {}): {}",
            self.error, self.status, self.description
        )
    }
}

impl std::error::Error for CscError {}

/// `{"error", "error_description"}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Error code.
    pub error: String,
    /// Human message.
    #[serde(default)]
    pub error_description: String,
}

/// `info` response.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InfoResponse {
    /// API version, e.g. "2.0.0.2".
    pub specs: String,
    /// Service name.
    pub name: String,
    /// Logo URI (required by the spec; may be empty).
    #[serde(default)]
    pub logo: String,
    /// ISO 3166 region.
    #[serde(default)]
    pub region: String,
    /// Language.
    #[serde(default)]
    pub lang: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// `basic`, `oauth2client`, ...
    #[serde(default)]
    pub auth_type: Vec<String>,
    /// Base URI of the OAuth 2.0 endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<String>,
    /// Methods served.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Signature algorithms offered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_algorithms: Option<SignAlgorithms>,
}

/// `signAlgorithms`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SignAlgorithms {
    /// OIDs.
    pub algos: Vec<String>,
}

/// `auth/login` request.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginRequest {
    /// Ask for a refresh token (not issued by this service).
    #[serde(default)]
    pub remember_me: bool,
}

/// `auth/login` and `oauth2/token` response.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenResponse {
    /// Bearer token.
    pub access_token: String,
    /// "Bearer".
    #[serde(default = "bearer")]
    pub token_type: String,
    /// Lifetime in seconds.
    pub expires_in: u64,
}

fn bearer() -> String {
    "Bearer".into()
}

/// `oauth2/token` request (JSON or form body; client credentials grant).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct TokenRequest {
    /// Must be `client_credentials`.
    #[serde(default)]
    pub grant_type: String,
    /// Client id (also accepted from HTTP Basic).
    #[serde(default)]
    pub client_id: Option<String>,
    /// Client secret (also accepted from HTTP Basic).
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Requested scope (`service`).
    #[serde(default)]
    pub scope: Option<String>,
}

/// `auth/revoke` request.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct RevokeRequest {
    /// Token to revoke (default: the bearer token of the request).
    #[serde(default)]
    pub token: Option<String>,
}

/// `credentials/list` request.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListRequest {
    /// Also return `credentialInfos`.
    #[serde(default)]
    pub credential_info: bool,
    /// Ignored (the user is the authenticated client).
    #[serde(default, rename = "userID")]
    pub user_id: Option<String>,
}

/// `credentials/list` response.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse {
    /// Credentials the client may use.
    #[serde(rename = "credentialIDs")]
    pub credential_ids: Vec<String>,
    /// Their info, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_infos: Option<Vec<CredentialInfo>>,
}

/// `credentials/info` request.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialInfoRequest {
    /// Credential.
    #[serde(rename = "credentialID")]
    pub credential_id: String,
    /// `none`, `single` or `chain` (default `single`).
    #[serde(default)]
    pub certificates: Option<String>,
    /// Include the certificate's details.
    #[serde(default)]
    pub cert_info: bool,
    /// Include the authorization details.
    #[serde(default)]
    pub auth_info: bool,
}

/// `credentials/info` response (also an element of `credentialInfos`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialInfo {
    /// Present in `credentialInfos`.
    #[serde(
        rename = "credentialID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub credential_id: Option<String>,
    /// Key.
    pub key: KeyInfo,
    /// Current certificate.
    pub cert: CertInfo,
    /// Authorization mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthInfo>,
    /// "1" or "2".
    #[serde(rename = "SCAL")]
    pub scal: String,
    /// Signatures per authorization allowed.
    pub multisign: u32,
}

/// `key` of `credentials/info`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeyInfo {
    /// `enabled` or `disabled` (locked).
    pub status: String,
    /// Signature algorithm OIDs.
    pub algo: Vec<String>,
    /// Key length in bits.
    pub len: u32,
    /// Curve OID for EC keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub curve: Option<String>,
}

/// `cert` of `credentials/info`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertInfo {
    /// `valid`, `expired`, `not_yet_valid`.
    pub status: String,
    /// Base64 DER, leaf first.
    #[serde(default)]
    pub certificates: Vec<String>,
    /// Issuer name (RFC 4514).
    #[serde(rename = "issuerDN", default, skip_serializing_if = "Option::is_none")]
    pub issuer_dn: Option<String>,
    /// Serial number, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    /// Subject name (RFC 4514).
    #[serde(rename = "subjectDN", default, skip_serializing_if = "Option::is_none")]
    pub subject_dn: Option<String>,
    /// GeneralizedTime string `YYYYMMDDHHMMSSZ`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<String>,
    /// GeneralizedTime string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<String>,
}

/// `auth` of `credentials/info`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthInfo {
    /// `implicit` (no authData) or `explicit`.
    pub mode: String,
    /// Expected authData objects.
    #[serde(default)]
    pub objects: Vec<AuthObject>,
}

/// One expected authData object.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AuthObject {
    /// `Password` (PIN) or `OTP`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The id to send in `authData`.
    pub id: String,
    /// `A` (alphanumeric) or `N` (numeric).
    #[serde(default)]
    pub format: String,
}

/// One `authData` entry.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AuthData {
    /// `PIN` or `OTP`.
    pub id: String,
    /// Its value.
    pub value: String,
}

/// `credentials/authorize` request (v1: `hash`, `PIN`, `OTP`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizeRequest {
    /// Credential.
    #[serde(rename = "credentialID")]
    pub credential_id: String,
    /// Signatures authorized.
    pub num_signatures: u32,
    /// Base64 hashes (required at SCAL 2).
    #[serde(default, alias = "hash", skip_serializing_if = "Option::is_none")]
    pub hashes: Option<Vec<String>>,
    /// Hash algorithm of `hashes`.
    #[serde(
        rename = "hashAlgorithmOID",
        alias = "hashAlgo",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub hash_algorithm_oid: Option<String>,
    /// v2 authentication data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_data: Option<Vec<AuthData>>,
    /// v1 PIN.
    #[serde(rename = "PIN", default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
    /// v1 OTP.
    #[serde(rename = "OTP", default, skip_serializing_if = "Option::is_none")]
    pub otp: Option<String>,
    /// Free text for the audit log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `credentials/authorize` and `credentials/extendTransaction` response.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizeResponse {
    /// Signature activation data.
    #[serde(rename = "SAD")]
    pub sad: String,
    /// Lifetime in seconds.
    pub expires_in: u64,
}

/// `credentials/extendTransaction` request.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtendRequest {
    /// Credential.
    #[serde(rename = "credentialID")]
    pub credential_id: String,
    /// The SAD to extend.
    #[serde(rename = "SAD")]
    pub sad: String,
}

/// `signatures/signHash` request (v1: `hash`, `hashAlgo`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignHashRequest {
    /// Credential.
    #[serde(rename = "credentialID")]
    pub credential_id: String,
    /// Signature activation data.
    #[serde(rename = "SAD")]
    pub sad: String,
    /// Base64 hashes.
    #[serde(alias = "hash")]
    pub hashes: Vec<String>,
    /// Hash algorithm (may be implied by `signAlgo`).
    #[serde(
        rename = "hashAlgorithmOID",
        alias = "hashAlgo",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub hash_algorithm_oid: Option<String>,
    /// Signature algorithm OID.
    pub sign_algo: String,
    /// Base64 DER parameters (RSASSA-PSS-params).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_algo_params: Option<String>,
    /// `S` (synchronous, the only mode served).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_mode: Option<String>,
}

/// `signatures/signHash` response.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SignHashResponse {
    /// Base64 signatures in request order.
    pub signatures: Vec<String>,
}

/// `signatures/timestamp` request.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TimestampRequest {
    /// Base64 hash to time-stamp.
    pub hash: String,
    /// Its algorithm OID.
    #[serde(rename = "hashAlgo", alias = "hashAlgorithmOID")]
    pub hash_algo: String,
    /// Hex nonce (random when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

/// `signatures/timestamp` response.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TimestampResponse {
    /// Base64 DER RFC 3161 TimeStampToken.
    pub timestamp: String,
}

/// Standard Base64 with padding (CSC's encoding), constant time.
pub fn b64_encode(data: &[u8]) -> String {
    use base64ct::Encoding;
    base64ct::Base64::encode_string(data)
}

/// Decodes standard Base64 (padding required).
pub fn b64_decode(text: &str) -> Result<Vec<u8>, CscError> {
    use base64ct::Encoding;
    base64ct::Base64::decode_vec(text)
        .map_err(|_| CscError::invalid_request("a value is not valid Base64"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_spellings_are_accepted() {
        let r: SignHashRequest = serde_json::from_str(
            r#"{"credentialID":"c","SAD":"s","hash":["AA=="],"hashAlgo":"2.16.840.1.101.3.4.2.1","signAlgo":"1.2.840.10045.4.3.2"}"#,
        )
        .unwrap();
        assert_eq!(r.hashes, vec!["AA==".to_string()]);
        assert_eq!(r.hash_algorithm_oid.as_deref(), Some(oids::SHA256));
        let a: AuthorizeRequest =
            serde_json::from_str(r#"{"credentialID":"c","numSignatures":1,"PIN":"1234"}"#).unwrap();
        assert_eq!(a.pin.as_deref(), Some("1234"));
    }
}
