//! The state file: the security floor and what each slot holds.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::AgentError;
use crate::storage::Storage;

/// A slot's status (`spec/install.md` section 2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Never written.
    #[default]
    Empty,
    /// Being written; never bootable.
    Installing,
    /// Written and verified, to be tried; not confirmed.
    Pending,
    /// Confirmed.
    Good,
    /// Not bootable (see `last_error`).
    Invalid,
}

/// One slot's record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotState {
    /// Status.
    pub status: Status,
    /// The installed manifest's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The installed manifest's security version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_version: Option<u64>,
    /// Why the slot is invalid, as `code: message`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// The state file's content.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// The anti-rollback floor: raised only at confirm.
    pub floor: u64,
    /// Per slot.
    pub slots: BTreeMap<String, SlotState>,
}

impl State {
    /// Reads the state file; a missing file is the initial state.
    pub fn load(st: &mut dyn Storage, path: &Path) -> Result<State, AgentError> {
        match st.read(path).map_err(|e| AgentError::io(path, e))? {
            None => Ok(State::default()),
            Some(b) => serde_json::from_slice(&b)
                .map_err(|e| AgentError::State(format!("{}: {e}", path.display()))),
        }
    }

    /// Replaces the state file atomically.
    pub fn store(&self, st: &mut dyn Storage, path: &Path) -> Result<(), AgentError> {
        let mut text =
            serde_json::to_vec_pretty(self).map_err(|e| AgentError::State(e.to_string()))?;
        text.push(b'\n');
        st.write_atomic(path, &text)
            .map_err(|e| AgentError::io(path, e))
    }

    /// A slot's record (default when absent).
    pub fn slot(&self, name: &str) -> SlotState {
        self.slots.get(name).cloned().unwrap_or_default()
    }

    /// Mutable record of a slot.
    pub fn slot_mut(&mut self, name: &str) -> &mut SlotState {
        self.slots.entry(name.to_owned()).or_default()
    }

    /// Marks a slot invalid with an error.
    pub fn invalidate(&mut self, name: &str, code: &str, msg: &str) {
        let s = self.slot_mut(name);
        s.status = Status::Invalid;
        s.last_error = Some(format!("{code}: {msg}"));
    }
}
