//! Build, sign and write otaseal packages (std).
//!
//! - [`keys`]: key generation, PKCS#8 loading and saving, signing;
//! - [`pki`]: X.509 certificates and a throwaway development PKI;
//! - [`archive`]: payload kind detection and archive safety checks;
//! - [`package`]: hashing, manifest, signatures and the container.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod archive;
pub mod keys;
pub mod package;
pub mod pki;
