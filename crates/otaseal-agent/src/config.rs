//! `agent.toml`: what the device trusts, its slots and its bootloader.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use otaseal_verify::{Suite, SuiteSet};
use serde::Deserialize;

use crate::bootenv::{Bootloader, FileBootloader, UBoot};
use crate::device::{Layout, Target, TargetKind};
use crate::error::AgentError;
use crate::pkg::Trust;

/// The file as written (paths relative to the file's directory).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentToml {
    /// The device's hardware id.
    pub hw_id: String,
    /// PEM files of code-signing roots.
    pub trust: Vec<PathBuf>,
    /// PEM files of time-stamping roots.
    #[serde(default)]
    pub tsa_trust: Vec<PathBuf>,
    /// Required suites, alternatives (`"ecdsa-p256+sm2"`); empty: all declared.
    #[serde(default)]
    pub require: Vec<String>,
    /// Suites whose signatures need a timestamp, or `["all"]`.
    #[serde(default)]
    pub require_timestamp: Vec<String>,
    /// State directory.
    pub state_dir: PathBuf,
    /// Attempts of a new slot before fallback.
    #[serde(default = "default_attempts")]
    pub boot_attempts: u32,
    /// Largest package, bytes.
    #[serde(default = "default_max_package")]
    pub max_package_size: u64,
    /// Largest envelope, bytes.
    #[serde(default = "default_max_envelope")]
    pub max_envelope: usize,
    /// HTTPS: the CA file the update server's certificate must chain to
    /// (default: none, which makes every HTTPS download fail closed).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Allow plain `http://` URLs (signatures still protect integrity).
    #[serde(default)]
    pub allow_http: bool,
    /// Download attempts (first try included).
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Seconds without data before a download attempt is abandoned.
    #[serde(default = "default_timeout")]
    pub read_timeout_secs: u64,
    /// The bootloader interface.
    pub bootloader: BootToml,
    /// Slot name → target name → target.
    pub slots: BTreeMap<String, BTreeMap<String, TargetToml>>,
}

fn default_attempts() -> u32 {
    3
}
fn default_max_package() -> u64 {
    8 << 30
}
fn default_max_envelope() -> usize {
    256 * 1024
}
fn default_retries() -> u32 {
    5
}
fn default_timeout() -> u64 {
    30
}

/// `[bootloader]`.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum BootToml {
    /// Variables in a file.
    File {
        /// The variables file.
        path: PathBuf,
    },
    /// U-Boot environment via `fw_printenv`/`fw_setenv`.
    Uboot {
        /// `fw_env.config` (default: the tools' own).
        #[serde(default)]
        fw_env_config: Option<PathBuf>,
        /// Kernel command line with `otaseal.slot=` (default `/proc/cmdline`).
        #[serde(default)]
        cmdline: Option<PathBuf>,
    },
}

/// One target: `{ raw = PATH }` or `{ dir = PATH }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetToml {
    /// A file or block device for raw payloads.
    #[serde(default)]
    pub raw: Option<PathBuf>,
    /// A directory for archive payloads.
    #[serde(default)]
    pub dir: Option<PathBuf>,
}

/// The loaded configuration.
pub struct Config {
    /// Verification settings.
    pub trust: Trust,
    /// Slots and state.
    pub layout: Layout,
    /// The bootloader.
    pub boot: Box<dyn Bootloader>,
    /// The file bootloader, when that is the backend (for `select`).
    pub file_boot: Option<FileBootloader>,
    /// HTTPS CA file.
    pub ca_file: Option<PathBuf>,
    /// Plain HTTP allowed.
    pub allow_http: bool,
    /// Download attempts.
    pub retries: u32,
    /// Read timeout, seconds.
    pub read_timeout_secs: u64,
}

/// Certificates (DER) from a PEM file.
pub fn pem_certs(path: &Path) -> Result<Vec<Vec<u8>>, AgentError> {
    let text = std::fs::read_to_string(path).map_err(|e| AgentError::io(path, e))?;
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("-----BEGIN ") {
        let block = &rest[start..];
        let end = block
            .find("-----END ")
            .and_then(|e| {
                block[e..]
                    .find("\n")
                    .map(|n| e + n + 1)
                    .or(Some(block.len()))
            })
            .ok_or_else(|| AgentError::Config(format!("{}: unterminated PEM", path.display())))?;
        let (label, der) = pem_rfc7468::decode_vec(&block.as_bytes()[..end])
            .map_err(|e| AgentError::Config(format!("{}: {e}", path.display())))?;
        if label == "CERTIFICATE" {
            out.push(der);
        }
        rest = &block[end..];
    }
    if out.is_empty() {
        return Err(AgentError::Config(format!(
            "{}: no certificate",
            path.display()
        )));
    }
    Ok(out)
}

fn suites(list: &[String], what: &str) -> Result<SuiteSet, AgentError> {
    if list.iter().any(|s| s == "all") {
        return Ok(Suite::ALL.iter().fold(SuiteSet::EMPTY, |s, x| s.with(*x)));
    }
    let mut set = SuiteSet::EMPTY;
    for s in list {
        set = set.with(
            Suite::from_name(s)
                .ok_or_else(|| AgentError::Config(format!("{what}: unknown suite {s:?}")))?,
        );
    }
    Ok(set)
}

impl Config {
    /// Reads and checks `agent.toml`.
    pub fn load(path: &Path) -> Result<Config, AgentError> {
        let text = std::fs::read_to_string(path).map_err(|e| AgentError::io(path, e))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let t: AgentToml = toml::from_str(&text)
            .map_err(|e| AgentError::Config(format!("{}: {e}", path.display())))?;
        Config::from_toml(t, base)
    }

    /// Builds the configuration, resolving relative paths against `base`.
    pub fn from_toml(t: AgentToml, base: &Path) -> Result<Config, AgentError> {
        let abs = |p: &Path| base.join(p);
        let mut roots = Vec::new();
        for p in &t.trust {
            roots.extend(pem_certs(&abs(p))?);
        }
        if roots.is_empty() {
            return Err(AgentError::Config("trust: give at least one root".into()));
        }
        let mut tsa_roots = Vec::new();
        for p in &t.tsa_trust {
            tsa_roots.extend(pem_certs(&abs(p))?);
        }
        let mut require = Vec::new();
        for r in &t.require {
            require.push(
                SuiteSet::parse(r)
                    .ok_or_else(|| AgentError::Config(format!("require: bad suites {r:?}")))?,
            );
        }
        if t.slots.len() < 2 {
            return Err(AgentError::Config(
                "slots: an A/B device needs two slots".into(),
            ));
        }
        let mut slots = BTreeMap::new();
        for (name, targets) in &t.slots {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(AgentError::Config(format!(
                    "slots: name {name:?} must be ASCII letters and digits"
                )));
            }
            let mut m = BTreeMap::new();
            for (tn, tt) in targets {
                let target = match (&tt.raw, &tt.dir) {
                    (Some(p), None) => Target {
                        path: abs(p),
                        kind: TargetKind::Raw,
                    },
                    (None, Some(p)) => Target {
                        path: abs(p),
                        kind: TargetKind::Dir,
                    },
                    _ => {
                        return Err(AgentError::Config(format!(
                            "slots.{name}.{tn}: give exactly one of raw = PATH or dir = PATH"
                        )));
                    }
                };
                m.insert(tn.clone(), target);
            }
            slots.insert(name.clone(), m);
        }
        let names: Vec<String> = slots.keys().cloned().collect();
        let file_boot = match &t.bootloader {
            BootToml::File { path } => Some(FileBootloader {
                path: abs(path),
                slots: names.clone(),
            }),
            BootToml::Uboot { .. } => None,
        };
        let boot: Box<dyn Bootloader> = match &t.bootloader {
            BootToml::File { path } => Box::new(FileBootloader {
                path: abs(path),
                slots: names,
            }),
            BootToml::Uboot {
                fw_env_config,
                cmdline,
            } => Box::new(UBoot {
                slots: names,
                config: fw_env_config.as_deref().map(abs),
                cmdline: cmdline
                    .as_deref()
                    .map(abs)
                    .unwrap_or_else(|| PathBuf::from("/proc/cmdline")),
            }),
        };
        Ok(Config {
            trust: Trust {
                roots,
                tsa_roots,
                hw_id: t.hw_id,
                require,
                require_timestamp: suites(&t.require_timestamp, "require_timestamp")?,
                time: None,
                max_envelope: t.max_envelope.clamp(2048, 256 * 1024),
            },
            layout: Layout {
                state_dir: abs(&t.state_dir),
                slots,
                attempts: t.boot_attempts.max(1),
                max_package: t.max_package_size,
            },
            boot,
            file_boot,
            ca_file: t.ca_file.as_deref().map(abs),
            allow_http: t.allow_http,
            retries: t.retries.max(1),
            read_timeout_secs: t.read_timeout_secs.max(1),
        })
    }
}
