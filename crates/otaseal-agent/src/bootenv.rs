//! The bootloader interface: RAUC's U-Boot variables `BOOT_ORDER` (slot
//! names, first tried first) and `BOOT_<slot>_LEFT` (attempts left), read and
//! written as one unit.
//!
//! Backends: [`FileBootloader`] keeps the variables in a file written through
//! the [`Storage`] layer (tests and simple systems; `otaseal-agent select`
//! plays the bootloader's part), [`UBoot`] calls `fw_printenv`/`fw_setenv`
//! from u-boot-tools, as RAUC does.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::error::AgentError;
use crate::storage::Storage;

/// The boot variables.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BootEnv {
    /// Slots in the order the bootloader tries them.
    pub order: Vec<String>,
    /// Attempts left per slot (missing: 0).
    pub left: BTreeMap<String, u32>,
}

impl BootEnv {
    /// Attempts left for `slot`.
    pub fn left(&self, slot: &str) -> u32 {
        self.left.get(slot).copied().unwrap_or(0)
    }

    /// What the bootloader does at power-on: the first slot of the order with
    /// attempts left, after decrementing its count. `None`: nothing bootable.
    pub fn select(&mut self) -> Option<String> {
        let slot = self.order.iter().find(|s| self.left(s) > 0)?.clone();
        let n = self.left(&slot);
        self.left.insert(slot.clone(), n.saturating_sub(1));
        Some(slot)
    }

    /// Never boot `slot` again (RAUC's "mark bad").
    pub fn disable(&mut self, slot: &str) {
        self.order.retain(|s| s != slot);
        self.left.insert(slot.to_owned(), 0);
    }

    /// Try `slot` first, `attempts` times (RAUC's "mark active").
    pub fn activate(&mut self, slot: &str, attempts: u32) {
        self.order.retain(|s| s != slot);
        self.order.insert(0, slot.to_owned());
        self.left.insert(slot.to_owned(), attempts);
    }

    /// The variables as `NAME=VALUE` lines (`fw_printenv`'s format).
    pub fn to_text(&self, slots: &[String]) -> String {
        let mut s = format!("BOOT_ORDER={}\n", self.order.join(" "));
        for slot in slots {
            let _ = writeln!(s, "BOOT_{slot}_LEFT={}", self.left(slot));
        }
        s
    }

    /// Parses `NAME=VALUE` lines; unknown variables are ignored, a malformed
    /// count is an error (fail closed: it would decide what boots).
    pub fn from_text(text: &str) -> Result<BootEnv, AgentError> {
        let mut env = BootEnv::default();
        for line in text.lines() {
            let Some((name, value)) = line.split_once('=') else {
                continue;
            };
            if name == "BOOT_ORDER" {
                env.order = value.split_whitespace().map(str::to_owned).collect();
            } else if let Some(slot) = name
                .strip_prefix("BOOT_")
                .and_then(|r| r.strip_suffix("_LEFT"))
            {
                if value.trim().is_empty() {
                    continue; // unset
                }
                let n = value.trim().parse::<u32>().map_err(|_| {
                    AgentError::Bootloader(format!("{name}={value:?} is not a count"))
                })?;
                env.left.insert(slot.to_owned(), n);
            }
        }
        Ok(env)
    }
}

/// Reads and writes the boot variables, each write atomic.
pub trait Bootloader {
    /// The current variables.
    fn load(&self, st: &mut dyn Storage) -> Result<BootEnv, AgentError>;
    /// Replaces the variables in one atomic, durable update.
    fn store(&self, st: &mut dyn Storage, env: &BootEnv) -> Result<(), AgentError>;
    /// The slot the running system was booted from, if known.
    fn booted(&self, st: &mut dyn Storage) -> Result<Option<String>, AgentError>;
    /// Creates an empty environment if there is none (provisioning).
    fn init(&self, st: &mut dyn Storage) -> Result<(), AgentError> {
        let _ = st;
        Ok(())
    }
}

/// Boot variables in a file (through the storage layer), and the booted slot
/// in `<file>.booted`, written by the boot script (`otaseal-agent select`).
#[derive(Clone, Debug)]
pub struct FileBootloader {
    /// The variables file.
    pub path: PathBuf,
    /// Slot names, for writing every `BOOT_<slot>_LEFT`.
    pub slots: Vec<String>,
}

impl FileBootloader {
    /// Where the booted slot's name is kept.
    pub fn booted_path(&self) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(".booted");
        PathBuf::from(p)
    }

    /// The bootloader's part at power-on: choose, decrement (durably), and
    /// record the booted slot.
    pub fn select(&self, st: &mut dyn Storage) -> Result<Option<String>, AgentError> {
        let mut env = self.load(st)?;
        let slot = env.select();
        self.store(st, &env)?;
        let name = slot.clone().unwrap_or_default();
        st.write_atomic(&self.booted_path(), name.as_bytes())
            .map_err(|e| AgentError::io(&self.booted_path(), e))?;
        Ok(slot)
    }
}

impl Bootloader for FileBootloader {
    fn load(&self, st: &mut dyn Storage) -> Result<BootEnv, AgentError> {
        match st
            .read(&self.path)
            .map_err(|e| AgentError::io(&self.path, e))?
        {
            Some(b) => BootEnv::from_text(&String::from_utf8_lossy(&b)),
            None => Err(AgentError::Bootloader(format!(
                "{}: no boot environment (run `otaseal-agent init`)",
                self.path.display()
            ))),
        }
    }
    fn store(&self, st: &mut dyn Storage, env: &BootEnv) -> Result<(), AgentError> {
        st.write_atomic(&self.path, env.to_text(&self.slots).as_bytes())
            .map_err(|e| AgentError::io(&self.path, e))
    }
    fn init(&self, st: &mut dyn Storage) -> Result<(), AgentError> {
        if st.exists(&self.path) {
            return Ok(());
        }
        self.store(st, &BootEnv::default())
    }
    fn booted(&self, st: &mut dyn Storage) -> Result<Option<String>, AgentError> {
        let p = self.booted_path();
        Ok(st
            .read(&p)
            .map_err(|e| AgentError::io(&p, e))?
            .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
            .filter(|s| !s.is_empty()))
    }
}

/// U-Boot environment through u-boot-tools (`fw_printenv`, `fw_setenv -s`),
/// the variables RAUC's U-Boot backend uses. The booted slot comes from the
/// kernel command line (`otaseal.slot=` or RAUC's `rauc.slot=`), set by the
/// U-Boot boot script.
pub struct UBoot {
    /// Slot names.
    pub slots: Vec<String>,
    /// `fw_env.config` to pass with `-c` (default: u-boot-tools' own).
    pub config: Option<PathBuf>,
    /// The kernel command line (default `/proc/cmdline`).
    pub cmdline: PathBuf,
}

impl UBoot {
    fn tool(&self, name: &str) -> Command {
        let mut c = Command::new(name);
        if let Some(cfg) = &self.config {
            c.arg("-c").arg(cfg);
        }
        c
    }
}

impl Bootloader for UBoot {
    fn load(&self, _st: &mut dyn Storage) -> Result<BootEnv, AgentError> {
        let mut c = self.tool("fw_printenv");
        c.arg("BOOT_ORDER");
        for s in &self.slots {
            c.arg(format!("BOOT_{s}_LEFT"));
        }
        let out = c
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| AgentError::Bootloader(format!("fw_printenv: {e}")))?;
        // fw_printenv exits 1 when a variable is unset; what it printed stands.
        let text = String::from_utf8_lossy(&out.stdout);
        if text.trim().is_empty() && !out.status.success() {
            return Err(AgentError::Bootloader(format!(
                "fw_printenv: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        BootEnv::from_text(&text)
    }
    fn store(&self, _st: &mut dyn Storage, env: &BootEnv) -> Result<(), AgentError> {
        // One `fw_setenv -s` script: all variables in one environment write
        // (with a redundant environment, the inactive copy then the flag).
        // `NAME=VALUE` lines: what u-boot-tools 2023.01 (Debian 12) parses.
        let mut script = format!("BOOT_ORDER={}\n", env.order.join(" "));
        for s in &self.slots {
            let _ = writeln!(script, "BOOT_{s}_LEFT={}", env.left(s));
        }
        let mut child = self
            .tool("fw_setenv")
            .args(["-s", "-"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| AgentError::Bootloader(format!("fw_setenv: {e}")))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(script.as_bytes())
                .map_err(|e| AgentError::Bootloader(format!("fw_setenv: {e}")))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| AgentError::Bootloader(format!("fw_setenv: {e}")))?;
        if !out.status.success() {
            return Err(AgentError::Bootloader(format!(
                "fw_setenv: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }
    fn booted(&self, _st: &mut dyn Storage) -> Result<Option<String>, AgentError> {
        let cmdline =
            std::fs::read_to_string(&self.cmdline).map_err(|e| AgentError::io(&self.cmdline, e))?;
        Ok(booted_from_cmdline(&cmdline))
    }
}

/// `otaseal.slot=X` (or RAUC's `rauc.slot=X`) from a kernel command line.
pub fn booted_from_cmdline(cmdline: &str) -> Option<String> {
    cmdline.split_whitespace().find_map(|w| {
        w.strip_prefix("otaseal.slot=")
            .or_else(|| w.strip_prefix("rauc.slot="))
            .map(str::to_owned)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_decrements_and_falls_back() {
        let mut env = BootEnv::from_text("BOOT_ORDER=B A\nBOOT_A_LEFT=3\nBOOT_B_LEFT=1\n").unwrap();
        assert_eq!(env.select().as_deref(), Some("B"));
        assert_eq!(env.select().as_deref(), Some("A"));
        assert_eq!(env.left("A"), 2);
        env.disable("A");
        assert_eq!(env.select(), None);
        assert!(BootEnv::from_text("BOOT_A_LEFT=x").is_err());
        assert_eq!(
            booted_from_cmdline("root=/dev/x rauc.slot=B quiet").as_deref(),
            Some("B")
        );
    }
}
