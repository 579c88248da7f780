//! The install / boot / confirm state machine of `spec/install.md`, over the
//! [`Storage`] layer and a [`Bootloader`].

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use otaseal_verify::manifest::{Manifest, PayloadKind};

use crate::bootenv::Bootloader;
use crate::error::AgentError;
use crate::extract;
use crate::pkg::{self, Hooks, Outcome, Rebuilt, Trust, Until};
use crate::state::{State, Status};
use crate::storage::{Fd, Storage, parent};

/// How a slot target is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetKind {
    /// A file or block device, written in place (raw payloads).
    Raw,
    /// A directory, replaced by a fresh one (tar, tar.gz, zip payloads).
    Dir,
}

/// One target of a slot.
#[derive(Clone, Debug)]
pub struct Target {
    /// File, block device or directory.
    pub path: PathBuf,
    /// How it is written.
    pub kind: TargetKind,
}

/// The device's layout: slots, state directory, boot attempts.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Where the state file and stored envelopes live.
    pub state_dir: PathBuf,
    /// Slot name → target name → target.
    pub slots: BTreeMap<String, BTreeMap<String, Target>>,
    /// Attempts a new slot gets before the bootloader falls back.
    pub attempts: u32,
    /// Largest package accepted, in bytes.
    pub max_package: u64,
}

impl Layout {
    /// The state file.
    pub fn state_path(&self) -> PathBuf {
        self.state_dir.join("state.json")
    }
    /// A slot's stored envelope.
    pub fn head_path(&self, slot: &str) -> PathBuf {
        self.state_dir.join(format!("slot-{slot}.head"))
    }
    /// Slot names.
    pub fn slot_names(&self) -> Vec<String> {
        self.slots.keys().cloned().collect()
    }
}

/// The target name a payload goes to: its target hint without a `slot:`
/// prefix, or its name.
pub fn target_name<'a>(name: &'a str, hint: Option<&'a str>) -> &'a str {
    match hint {
        Some(h) => h.strip_prefix("slot:").unwrap_or(h),
        None => name,
    }
}

/// The file an archive payload is kept in, inside its directory slot.
pub fn archive_file(kind: PayloadKind) -> &'static str {
    match kind {
        PayloadKind::Tar => "payload.tar",
        PayloadKind::TarGz => "payload.tar.gz",
        PayloadKind::Zip => "payload.zip",
        PayloadKind::Raw => "payload.bin",
    }
}

/// `<dir>.<suffix>` beside a directory target.
pub fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut s = dir.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// A device: its storage, bootloader, layout and trust.
pub struct Device<'a> {
    /// All durable writes go here.
    pub st: &'a mut dyn Storage,
    /// The boot variables.
    pub boot: &'a dyn Bootloader,
    /// Slots and state.
    pub layout: &'a Layout,
    /// What packages must satisfy.
    pub trust: &'a Trust,
}

/// What `install` did.
#[derive(Clone, Debug)]
pub struct Installed {
    /// The slot written.
    pub slot: String,
    /// The verification outcome.
    pub outcome: Outcome,
}

struct InstallHooks<'d, 'a> {
    dev: &'d mut Device<'a>,
    slot: String,
    /// Per payload: handle and target.
    fds: Vec<(Fd, Target, PayloadKind)>,
    started: bool,
}

impl Hooks for InstallHooks<'_, '_> {
    fn envelope(&mut self, _head: &[u8], m: &Manifest<'_>) -> Result<(), AgentError> {
        let dev = &mut *self.dev;
        let targets = dev
            .layout
            .slots
            .get(&self.slot)
            .ok_or_else(|| AgentError::Config(format!("no slot {}", self.slot)))?;
        // Map every payload before writing anything.
        let mut plan = Vec::new();
        let mut declared: u64 = 0;
        for p in &m.payloads {
            let t = target_name(p.name, p.target);
            let target = targets
                .get(t)
                .ok_or_else(|| AgentError::NoTarget(format!("{} (target {t})", p.name)))?;
            let fits = match p.kind {
                PayloadKind::Raw => target.kind == TargetKind::Raw,
                _ => target.kind == TargetKind::Dir,
            };
            if !fits
                || plan
                    .iter()
                    .any(|(_, x): &(_, Target)| x.path == target.path)
            {
                return Err(AgentError::NoTarget(format!(
                    "{}: target {t} does not take this payload",
                    p.name
                )));
            }
            declared = declared.saturating_add(p.size);
            plan.push((p.kind, target.clone()));
        }
        if declared > dev.layout.max_package {
            return Err(AgentError::TooLarge {
                limit: dev.layout.max_package,
            });
        }
        // Steps 2-3: the slot can no longer be chosen, then it is `installing`.
        let mut env = dev.boot.load(dev.st)?;
        env.disable(&self.slot);
        dev.boot.store(dev.st, &env)?;
        self.started = true;
        let sp = dev.layout.state_path();
        let mut state = State::load(dev.st, &sp)?;
        let s = state.slot_mut(&self.slot);
        s.status = Status::Installing;
        s.version = None;
        s.security_version = None;
        s.last_error = None;
        state.store(dev.st, &sp)?;
        for (kind, target) in plan {
            let fd = match target.kind {
                TargetKind::Raw => dev
                    .st
                    .open_slot(&target.path)
                    .map_err(|e| AgentError::io(&target.path, e))?,
                TargetKind::Dir => {
                    let new = sibling(&target.path, ".new");
                    let io = |e| AgentError::io(&new, e);
                    dev.st.remove_all(&new).map_err(io)?;
                    dev.st.mkdir(&new).map_err(io)?;
                    let file = new.join(archive_file(kind));
                    dev.st
                        .create_new(&file)
                        .map_err(|e| AgentError::io(&file, e))?
                }
            };
            self.fds.push((fd, target, kind));
        }
        Ok(())
    }

    fn payload(&mut self, index: usize, data: &[u8]) -> Result<(), AgentError> {
        let (fd, target, _) = self
            .fds
            .get(index)
            .ok_or_else(|| AgentError::State("payload before envelope".into()))?;
        self.dev
            .st
            .write(*fd, data)
            .map_err(|e| AgentError::io(&target.path, e))
    }
}

impl Device<'_> {
    fn state(&mut self) -> Result<State, AgentError> {
        State::load(self.st, &self.layout.state_path())
    }

    fn save(&mut self, state: &State) -> Result<(), AgentError> {
        state.store(self.st, &self.layout.state_path())
    }

    /// The slot the running system booted from.
    pub fn booted(&mut self) -> Result<Option<String>, AgentError> {
        self.boot.booted(self.st)
    }

    /// Creates the state directory and, for the file bootloader, an empty
    /// boot environment (provisioning; nothing bootable until an install).
    pub fn init(&mut self) -> Result<(), AgentError> {
        let dir = self.layout.state_dir.clone();
        if !self.st.exists(&dir) {
            self.st.mkdir(&dir).map_err(|e| AgentError::io(&dir, e))?;
            self.st
                .sync_dir(parent(&dir))
                .map_err(|e| AgentError::io(&dir, e))?;
        }
        self.boot.init(self.st)?;
        let state = self.state()?;
        self.save(&state)
    }

    /// The slot an install writes: `want`, or the slot that is not booted.
    pub fn install_slot(&mut self, want: Option<&str>) -> Result<String, AgentError> {
        let booted = self.booted()?;
        let names = self.layout.slot_names();
        let slot = match want {
            Some(w) => {
                if !names.iter().any(|n| n == w) {
                    return Err(AgentError::Config(format!("no slot {w} in the slot map")));
                }
                w.to_owned()
            }
            None => {
                let b = booted.clone().ok_or_else(|| {
                    AgentError::Slot(
                        "cannot tell which slot is booted; name the slot with --slot".into(),
                    )
                })?;
                names
                    .into_iter()
                    .find(|n| *n != b)
                    .ok_or_else(|| AgentError::Config("the slot map needs a second slot".into()))?
            }
        };
        if booted.as_deref() == Some(slot.as_str()) {
            return Err(AgentError::Slot(format!(
                "slot {slot} is the booted slot; install into the other one"
            )));
        }
        Ok(slot)
    }

    /// Installs the package read from `src` into `slot` (`spec/install.md`
    /// section 3). On error after writing began, the slot is recorded
    /// invalid and stays out of the boot order.
    pub fn install(&mut self, slot: &str, src: &mut dyn Read) -> Result<Installed, AgentError> {
        let floor = self.state()?.floor;
        let trust = self.trust;
        let limit = self.layout.max_package.saturating_add(512 * 1024);
        let mut hooks = InstallHooks {
            dev: self,
            slot: slot.to_owned(),
            fds: Vec::new(),
            started: false,
        };
        let run = pkg::verify(trust, Some(floor), src, &mut hooks, Until::End, limit).and_then(
            |outcome| {
                for (fd, target, _) in &hooks.fds {
                    hooks
                        .dev
                        .st
                        .sync(*fd)
                        .map_err(|e| AgentError::io(&target.path, e))?;
                }
                Ok(outcome)
            },
        );
        let fds = std::mem::take(&mut hooks.fds);
        let started = hooks.started;
        for (fd, _, _) in &fds {
            let _ = self.st.close(*fd);
        }
        let result = run.and_then(|outcome| self.commit(slot, &fds, outcome));
        match result {
            Ok(done) => Ok(done),
            Err(e) => {
                if started {
                    // Best effort (the power may be gone): the boot
                    // environment already excludes the slot.
                    if let Ok(mut state) = self.state() {
                        state.invalidate(slot, e.code(), &e.to_string());
                        let _ = self.save(&state);
                    }
                }
                Err(e)
            }
        }
    }

    /// Steps 6-9 after the whole package verified.
    fn commit(
        &mut self,
        slot: &str,
        fds: &[(Fd, Target, PayloadKind)],
        outcome: Outcome,
    ) -> Result<Installed, AgentError> {
        for (_, target, kind) in fds {
            if target.kind == TargetKind::Dir {
                let new = sibling(&target.path, ".new");
                extract::extract(self.st, &new.join(archive_file(*kind)), *kind, &new)?;
                self.switch_dir(&target.path)?;
            }
        }
        let hp = self.layout.head_path(slot);
        self.st
            .write_atomic(&hp, &outcome.head)
            .map_err(|e| AgentError::io(&hp, e))?;
        let mut state = self.state()?;
        let s = state.slot_mut(slot);
        s.status = Status::Pending;
        s.version = Some(outcome.version.clone());
        s.security_version = Some(outcome.security_version);
        s.last_error = None;
        self.save(&state)?;
        // The commit point: the bootloader tries the new slot next.
        let mut env = self.boot.load(self.st)?;
        env.activate(slot, self.layout.attempts);
        self.boot.store(self.st, &env)?;
        Ok(Installed {
            slot: slot.to_owned(),
            outcome,
        })
    }

    /// `<dir>.new` becomes `<dir>` (the old one goes via `<dir>.old`).
    fn switch_dir(&mut self, dir: &Path) -> Result<(), AgentError> {
        let new = sibling(dir, ".new");
        let old = sibling(dir, ".old");
        let io = |e| AgentError::io(dir, e);
        self.st.sync_dir(&new).map_err(io)?;
        self.st.remove_all(&old).map_err(io)?;
        if self.st.exists(dir) {
            self.st.rename(dir, &old).map_err(io)?;
        }
        self.st.rename(&new, dir).map_err(io)?;
        self.st.sync_dir(parent(dir)).map_err(io)?;
        self.st.remove_all(&old).map_err(io)?;
        self.st.sync_dir(parent(dir)).map_err(io)
    }

    /// Re-verifies `slot` against its stored envelope with the current floor.
    pub fn verify_slot(&mut self, slot: &str) -> Result<Outcome, AgentError> {
        let floor = self.state()?.floor;
        let hp = self.layout.head_path(slot);
        let head = self
            .st
            .read(&hp)
            .map_err(|e| AgentError::io(&hp, e))?
            .ok_or_else(|| AgentError::Slot(format!("slot {slot} has no stored envelope")))?;
        let targets = self
            .layout
            .slots
            .get(slot)
            .ok_or_else(|| AgentError::Config(format!("no slot {slot}")))?;
        // Payload readers in manifest order, from the same mapping as install.
        let env = otaseal_verify::manifest::Envelope::decode(
            head.get(512..)
                .and_then(|b| {
                    let hdr: &[u8; 512] = head.get(..512)?.try_into().ok()?;
                    let n = otaseal_verify::manifest::container::header_size(hdr).ok()?;
                    b.get(..usize::try_from(n).ok()?)
                })
                .ok_or_else(|| AgentError::State("stored envelope truncated".into()))?,
        )
        .map_err(|e| AgentError::Verify(otaseal_verify::VerifyError::Envelope(e)))?;
        let m = Manifest::decode(env.manifest)
            .map_err(|e| AgentError::Verify(otaseal_verify::VerifyError::Manifest(e)))?;
        let mut readers: Vec<Box<dyn Read>> = Vec::new();
        for p in &m.payloads {
            let t = target_name(p.name, p.target);
            let target = targets
                .get(t)
                .ok_or_else(|| AgentError::NoTarget(format!("{} (target {t})", p.name)))?;
            let path = match target.kind {
                TargetKind::Raw => target.path.clone(),
                TargetKind::Dir => target.path.join(archive_file(p.kind)),
            };
            readers.push(
                self.st
                    .open_read(&path)
                    .map_err(|e| AgentError::io(&path, e))?,
            );
        }
        let mut src = Rebuilt::new(head.clone(), readers)?;
        pkg::verify(
            self.trust,
            Some(floor),
            &mut src,
            &mut pkg::NoHooks,
            Until::End,
            u64::MAX,
        )
    }

    /// `boot [--verify]` (section 4): records abandoned slots, re-verifies
    /// the booted slot; a slot that fails is taken out of the boot order and
    /// recorded invalid.
    pub fn boot(&mut self, verify: bool) -> Result<String, AgentError> {
        let booted = self
            .booted()?
            .ok_or_else(|| AgentError::Slot("no slot was booted".into()))?;
        let mut state = self.state()?;
        let mut env = self.boot.load(self.st)?;
        // A pending slot other than the booted one that the bootloader will
        // not try again was abandoned (attempts used up, or its install
        // never reached the commit point).
        let abandoned: Vec<String> = state
            .slots
            .iter()
            .filter(|(n, s)| {
                s.status == Status::Pending
                    && **n != booted
                    && (env.left(n) == 0 || !env.order.contains(n))
            })
            .map(|(n, _)| n.clone())
            .collect();
        if !abandoned.is_empty() {
            for n in &abandoned {
                env.disable(n);
            }
            self.boot.store(self.st, &env)?;
            for n in &abandoned {
                state.invalidate(
                    n,
                    "not-confirmed",
                    "never confirmed; the previous slot was booted again",
                );
            }
            self.save(&state)?;
        }
        if verify && let Err(e) = self.verify_slot(&booted) {
            let mut env = self.boot.load(self.st)?;
            env.disable(&booted);
            self.boot.store(self.st, &env)?;
            let mut state = self.state()?;
            state.invalidate(&booted, e.code(), &e.to_string());
            self.save(&state)?;
            return Err(e);
        }
        Ok(booted)
    }

    /// `confirm` (section 5): the booted slot is re-verified, made good, and
    /// the floor raised to its security version; slots below it can no
    /// longer boot.
    pub fn confirm(&mut self) -> Result<String, AgentError> {
        let booted = self
            .booted()?
            .ok_or_else(|| AgentError::Slot("no slot was booted".into()))?;
        let state = self.state()?;
        let s = state.slot(&booted);
        if !matches!(s.status, Status::Pending | Status::Good) {
            return Err(AgentError::Slot(format!(
                "slot {booted} is {:?}, not pending",
                s.status
            )));
        }
        let outcome = self.verify_slot(&booted)?;
        let sv = outcome.security_version;
        let below: Vec<String> = state
            .slots
            .iter()
            .filter(|(n, x)| {
                **n != booted && x.security_version.is_some_and(|v| v < sv)
                    || **n != booted && x.status != Status::Good && x.status != Status::Pending
            })
            .map(|(n, _)| n.clone())
            .collect();
        let mut env = self.boot.load(self.st)?;
        for n in &below {
            env.disable(n);
        }
        let mut order = vec![booted.clone()];
        order.extend(env.order.iter().filter(|n| **n != booted).cloned());
        env.order = order;
        env.left.insert(booted.clone(), self.layout.attempts);
        self.boot.store(self.st, &env)?;
        let mut state = self.state()?;
        state.floor = state.floor.max(sv);
        for n in &below {
            if state.slot(n).security_version.is_some_and(|v| v < sv) {
                state.invalidate(n, "below-floor", "security version below the floor");
            }
        }
        let s = state.slot_mut(&booted);
        s.status = Status::Good;
        s.last_error = None;
        self.save(&state)?;
        Ok(booted)
    }
}
