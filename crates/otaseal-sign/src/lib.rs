//! Build, sign and write otaseal packages (std).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod archive;
pub mod keys;
pub mod pki;
