//! otaseal-agent: the device side of otaseal. It fetches packages over
//! HTTPS, verifies them while streaming with otaseal-verify, installs them
//! into the inactive slot of an A/B device, and re-verifies the booted slot
//! at every boot. The state machine, its fsync order and its power-cut proof
//! are in `spec/install.md`.
//!
//! Modules: [`storage`] (the one layer for durable writes, real and
//! fault-injecting), [`bootenv`] (boot variables: file and U-Boot backends),
//! [`state`] (the state file), [`pkg`] (driving the verifier), [`device`]
//! (install, boot, confirm), [`extract`] (archive payloads), [`fetch`]
//! (HTTPS with resume), [`config`] (`agent.toml`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bootenv;
pub mod config;
pub mod device;
pub mod error;
pub mod extract;
pub mod fetch;
pub mod pkg;
pub mod state;
pub mod storage;

pub use error::{AgentError, FetchError};
