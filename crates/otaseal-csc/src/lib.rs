//! Cloud Signature Consortium API v2 for otaseal: a self-hostable
//! hash-signing service and a client.
//!
//! - [`protocol`]: request/response bodies (v1 and v2 spellings), errors.
//! - [`keystore`]: encrypted software key store, otaseal's per-suite prehash.

pub mod audit;
pub mod auth;
pub mod ca;
pub mod client;
pub mod config;
pub mod external_ca;
pub mod keystore;
pub mod protocol;
pub mod server;
pub mod service;
pub mod store;
