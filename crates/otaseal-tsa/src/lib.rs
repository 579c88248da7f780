//! RFC 3161 time-stamp authority (server) and client for otaseal (std).
//!
//! otaseal attaches an RFC 3161 token to each COSE signature (RFC 9921
//! `3161-ctt`, label 270). This crate produces those tokens:
//!
//! - [`protocol`]: the DER messages (`TimeStampReq`, `TimeStampResp`,
//!   `TSTInfo`, ...) and hash algorithm identifiers;
//! - [`serial`]: unique, crash-safe, persistent serial numbers;
//! - [`authority`]: checks requests and signs tokens with any otaseal suite;
//! - [`server`]: HTTP(S) front end (`application/timestamp-query`);
//! - [`client`]: requests a token with retries and fail-over.
//!
//! Tokens are checked here only as far as the client needs (status, nonce,
//! imprint, version); full verification (signature, ESS certificate binding,
//! TSA chain) is the verifier's job.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod authority;
pub mod client;
pub mod protocol;
pub mod serial;
pub mod server;

pub use authority::{Authority, AuthorityError, Rejection};
pub use client::{ClientError, ClientOptions, TimestampToken, TsaClient, request_token};
pub use protocol::{FailureInfo, TimeStampReq, TimeStampResp, TstInfo};
pub use serial::{SerialError, SerialStore};
pub use server::{Server, ServerConfig, ServerError, ShutdownHandle, TlsFiles};
