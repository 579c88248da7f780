//! `otaseal-agent`: install, boot, confirm, status, check on a device.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use otaseal_agent::AgentError;
use otaseal_agent::config::Config;
use otaseal_agent::device::Device;
use otaseal_agent::fetch::{FetchOptions, HttpSource};
use otaseal_agent::pkg::{self, NoHooks, Until};
use otaseal_agent::state::State;
use otaseal_agent::storage::{RealFs, Storage};
use serde_json::json;

#[derive(Parser)]
#[command(
    name = "otaseal-agent",
    version,
    about = "Verify and install otaseal packages on an A/B device",
    after_help = "\
Examples:
  otaseal-agent init                                   # provisioning: state dir, boot env
  otaseal-agent install --slot A factory.ota           # first image
  otaseal-agent install https://updates.example/fw.ota # into the inactive slot
  otaseal-agent select                                 # file bootloader: choose a slot at power-on
  otaseal-agent boot --verify                          # early at boot
  otaseal-agent confirm                                # once the system is healthy
  otaseal-agent status --json
  otaseal-agent check https://updates.example/fw.ota   # envelope only: newer than installed?

Exit codes: 0 success (check: newer), 1 package rejected (check: not newer), 2 usage,
configuration, I/O or network error. The state machine is in spec/install.md."
)]
struct Cli {
    /// The agent configuration.
    #[arg(long, global = true, default_value = "/etc/otaseal/agent.toml")]
    config: PathBuf,
    /// One JSON object on standard output.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create the state directory and (file bootloader) an empty boot environment.
    Init,
    /// Verify and install a package (file or URL) into the inactive slot.
    Install {
        /// Package file or https:// URL.
        source: String,
        /// Install into this slot (provisioning, when no slot is booted).
        #[arg(long)]
        slot: Option<String>,
        /// Accept a plain http:// URL (signatures still protect integrity).
        #[arg(long)]
        allow_http: bool,
    },
    /// Run early at boot: record fallbacks, re-verify the booted slot (--verify).
    Boot {
        /// Re-verify signatures, timestamps and payload digests of the booted slot.
        #[arg(long)]
        verify: bool,
    },
    /// Mark the booted slot good and raise the security floor to its version.
    Confirm,
    /// File bootloader only: choose the slot to boot, as U-Boot's script would.
    Select,
    /// Slots, versions, floor, boot environment, last errors.
    Status,
    /// Verify a package's envelope (HTTP Range: the envelope only) and say
    /// whether it is newer than what is installed.
    Check {
        /// Package file or https:// URL.
        source: String,
        /// Accept a plain http:// URL.
        #[arg(long)]
        allow_http: bool,
    },
}

fn fetch_opts(cfg: &Config, allow_http: bool) -> FetchOptions {
    FetchOptions {
        ca_file: cfg.ca_file.clone(),
        allow_http: allow_http || cfg.allow_http,
        retries: cfg.retries,
        read_timeout: Duration::from_secs(cfg.read_timeout_secs),
        backoff: Duration::from_millis(200),
    }
}

fn is_url(s: &str) -> bool {
    s.contains("://")
}

fn open_source(
    cfg: &Config,
    src: &str,
    allow_http: bool,
    json: bool,
) -> Result<Box<dyn Read>, AgentError> {
    if is_url(src) {
        let mut h = HttpSource::new(src, &fetch_opts(cfg, allow_http), 0, None)?;
        if !json {
            let tty = std::io::stderr().is_terminal();
            let mut last = 0u64;
            h.progress = Some(Box::new(move |done, total| {
                // Terminal: a rewritten line; otherwise a log line per 64 MiB.
                if tty {
                    if done - last >= 1 << 20 || Some(done) == total {
                        last = done;
                        match total {
                            Some(t) => eprint!("\rdownloaded {} / {} MiB", done >> 20, t >> 20),
                            None => eprint!("\rdownloaded {} MiB", done >> 20),
                        }
                    }
                } else if done - last >= 64 << 20 {
                    last = done;
                    eprintln!("otaseal-agent: progress bytes={done} total={total:?}");
                }
            }));
        }
        Ok(Box::new(h))
    } else {
        let f = std::fs::File::open(src).map_err(|e| AgentError::io(src.as_ref(), e))?;
        Ok(Box::new(std::io::BufReader::with_capacity(256 * 1024, f)))
    }
}

/// `check`: the envelope only.
fn check(
    cfg: &Config,
    st: &mut dyn Storage,
    src: &str,
    allow_http: bool,
) -> Result<(pkg::Outcome, State), AgentError> {
    let state = State::load(st, &cfg.layout.state_path())?;
    let mut reader: Box<dyn Read> = if is_url(src) {
        let opts = fetch_opts(cfg, allow_http);
        // First the tar header (512 bytes), then exactly the envelope member.
        let mut hdr = [0u8; 512];
        HttpSource::new(src, &opts, 0, Some(511))?
            .read_exact(&mut hdr)
            .map_err(read_err)?;
        let size = otaseal_verify::manifest::container::header_size(&hdr)
            .map_err(|_| AgentError::Verify(otaseal_verify::VerifyError::NotAPackage))?
            .min(cfg.trust.max_envelope as u64);
        let end = 512 + size + otaseal_verify::manifest::container::padding_len(size) as u64 - 1;
        let rest = HttpSource::new(src, &opts, 512, Some(end))?;
        Box::new(std::io::Cursor::new(hdr.to_vec()).chain(rest))
    } else {
        open_source(cfg, src, false, true)?
    };
    let out = pkg::verify(
        &cfg.trust,
        Some(state.floor),
        &mut reader,
        &mut NoHooks,
        Until::Envelope,
        u64::MAX,
    )?;
    Ok((out, state))
}

fn read_err(e: std::io::Error) -> AgentError {
    match e.downcast::<otaseal_agent::FetchError>() {
        Ok(f) => AgentError::Fetch(f),
        Err(e) => AgentError::Io(format!("reading the package: {e}")),
    }
}

fn run(cli: &Cli) -> Result<serde_json::Value, AgentError> {
    let cfg = Config::load(&cli.config)?;
    let mut fs = RealFs::new();
    let mut dev = Device {
        st: &mut fs,
        boot: cfg.boot.as_ref(),
        layout: &cfg.layout,
        trust: &cfg.trust,
    };
    match &cli.cmd {
        Cmd::Init => {
            dev.init()?;
            Ok(json!({"result": "initialized"}))
        }
        Cmd::Install {
            source,
            slot,
            allow_http,
        } => {
            let target = dev.install_slot(slot.as_deref())?;
            let mut src = open_source(&cfg, source, *allow_http, cli.json)?;
            let done = dev.install(&target, &mut src)?;
            Ok(json!({
                "result": "installed",
                "slot": done.slot,
                "version": done.outcome.version,
                "security_version": done.outcome.security_version,
                "payload_bytes": done.outcome.payload_bytes,
            }))
        }
        Cmd::Boot { verify } => {
            let slot = dev.boot(*verify)?;
            Ok(json!({"result": "booted", "slot": slot, "verified": verify}))
        }
        Cmd::Confirm => {
            let slot = dev.confirm()?;
            Ok(json!({"result": "confirmed", "slot": slot}))
        }
        Cmd::Select => {
            let Some(fb) = &cfg.file_boot else {
                return Err(AgentError::Config(
                    "select is the file bootloader's part; U-Boot chooses by itself".into(),
                ));
            };
            let slot = fb.select(dev.st)?;
            match slot {
                Some(s) => Ok(json!({"result": "selected", "slot": s})),
                None => Err(AgentError::Slot("no slot has boot attempts left".into())),
            }
        }
        Cmd::Status => {
            let booted = dev.booted()?;
            let env = dev.boot.load(dev.st)?;
            let state = State::load(dev.st, &cfg.layout.state_path())?;
            Ok(json!({
                "booted": booted,
                "floor": state.floor,
                "slots": state.slots,
                "boot_order": env.order,
                "attempts_left": env.left,
            }))
        }
        Cmd::Check { source, allow_http } => {
            let (out, state) = check(&cfg, dev.st, source, *allow_http)?;
            let installed = state
                .slots
                .values()
                .filter(|s| s.status == otaseal_agent::state::Status::Good)
                .filter_map(|s| s.security_version)
                .max();
            let newer = out.security_version > installed.unwrap_or(0) || installed.is_none();
            Ok(json!({
                "result": if newer { "newer" } else { "not-newer" },
                "newer": newer,
                "version": out.version,
                "security_version": out.security_version,
                "installed_security_version": installed,
                "floor": state.floor,
            }))
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(v) => {
            if cli.json {
                println!("{v}");
            } else {
                println!("{}", human(&v));
            }
            if v.get("newer") == Some(&json!(false)) {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            if cli.json {
                println!(
                    "{}",
                    json!({"result": "error", "code": e.code(), "message": e.to_string()})
                );
            }
            eprintln!("otaseal-agent: {e} [{}]", e.code());
            ExitCode::from(e.exit_code())
        }
    }
}

/// One readable block per result.
fn human(v: &serde_json::Value) -> String {
    match v.as_object() {
        Some(m) => m
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}: {s}"),
                other => format!("{k}: {other}"),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        None => v.to_string(),
    }
}
