//! The error type of every key backend.

use std::fmt;
use std::path::PathBuf;

use crate::file::RSA_BITS;

/// Errors of key handling and signing.
#[derive(Debug)]
#[non_exhaustive]
pub enum KeyError {
    /// Reading or writing a file failed.
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A key file exists already; keys are never overwritten.
    AlreadyExists(PathBuf),
    /// Loading a key file failed (wraps the cause and names the file).
    InFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: Box<KeyError>,
    },
    /// Not PEM, or no PEM block with a usable label.
    Pem(String),
    /// The DER structure is malformed.
    Malformed(String),
    /// An algorithm, curve or key form that otaseal does not support.
    UnsupportedAlgorithm(String),
    /// An RSA key of the wrong size (otaseal uses exactly 3072 bits).
    RsaKeySize(usize),
    /// Parts of a key disagree (ML-DSA seed vs. expanded key, private vs. public key).
    Inconsistent(String),
    /// The operating system random generator failed.
    Rng(String),
    /// Signing or encoding failed.
    Crypto(String),
    /// The operation is not possible with this key or backend (e.g.
    /// hash-only signing with Ed25519).
    Unsupported(String),
    /// A PKCS#11 module, token or object problem.
    Pkcs11(crate::pkcs11::Pkcs11Error),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            KeyError::AlreadyExists(path) => write!(
                f,
                "{}: file exists already; refusing to overwrite a key file",
                path.display()
            ),
            KeyError::InFile { path, source } => write!(f, "{}: {source}", path.display()),
            KeyError::Pem(m) => write!(f, "not a usable PEM key: {m}"),
            KeyError::Malformed(m) => write!(f, "malformed key: {m}"),
            KeyError::UnsupportedAlgorithm(m) => write!(f, "unsupported key algorithm: {m}"),
            KeyError::RsaKeySize(bits) => write!(
                f,
                "RSA key has {bits} bits; otaseal requires exactly {RSA_BITS}-bit RSA keys"
            ),
            KeyError::Inconsistent(m) => write!(f, "inconsistent key: {m}"),
            KeyError::Rng(m) => write!(f, "random number generator failed: {m}"),
            KeyError::Crypto(m) => write!(f, "signing failed: {m}"),
            KeyError::Unsupported(m) => write!(f, "not supported: {m}"),
            KeyError::Pkcs11(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for KeyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            KeyError::Io { source, .. } => Some(source),
            KeyError::InFile { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}
