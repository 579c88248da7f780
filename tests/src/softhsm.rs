//! A SoftHSM2 token of a test's own: a temporary token directory, its
//! `SOFTHSM2_CONF`, a token initialised with `softhsm2-util`, and a PIN
//! file. Nothing global is touched: every command that talks to the token
//! gets the test's `SOFTHSM2_CONF` in its environment.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::{have_openssl, run_command, s, test_dir, write_file};

/// The token user's PIN (a throwaway token).
pub const USER_PIN: &str = "4711";
/// The token security officer's PIN.
pub const SO_PIN: &str = "0815";

/// The SoftHSM2 module, where Debian, Ubuntu and source builds put it.
pub fn softhsm_module() -> Option<PathBuf> {
    [
        "/usr/lib/softhsm/libsofthsm2.so",
        "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/local/lib/softhsm/libsofthsm2.so",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

fn tool_runs(name: &str, arg: &str) -> bool {
    Command::new(name)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// The module when SoftHSM2, softhsm2-util and pkcs11-tool (and openssl
/// when `need_openssl`) are there; `None` with a note otherwise, and a
/// panic under `CI`, so CI never goes green without these tests.
pub fn softhsm_tools(need_openssl: bool) -> Option<PathBuf> {
    let module = softhsm_module();
    let ok = module.is_some()
        && tool_runs("softhsm2-util", "--version")
        && tool_runs("pkcs11-tool", "--help")
        && (!need_openssl || have_openssl());
    if ok {
        return module;
    }
    if std::env::var_os("CI").is_some() {
        panic!("CI is set but SoftHSM2 / softhsm2-util / pkcs11-tool / openssl is missing");
    }
    eprintln!("note: SoftHSM2, pkcs11-tool or openssl not found; skipping");
    None
}

/// A freshly initialised token in a test directory of its own.
#[derive(Debug)]
pub struct SoftHsmToken {
    /// The test directory (`target/otaseal-tests/<name>-N`).
    pub dir: PathBuf,
    /// The `SOFTHSM2_CONF` file of this token.
    pub conf: PathBuf,
    /// The SoftHSM2 module.
    pub module: PathBuf,
    /// The token label.
    pub label: String,
    /// A file holding [`USER_PIN`].
    pub pin_file: PathBuf,
}

impl SoftHsmToken {
    /// Initialises token `label` in a new directory named after `test`;
    /// `None` when the tools are missing (see [`softhsm_tools`]).
    pub fn new(test: &str, label: &str, need_openssl: bool) -> Option<SoftHsmToken> {
        let module = softhsm_tools(need_openssl)?;
        let dir = test_dir(test);
        let tokens = dir.join("tokens");
        std::fs::create_dir_all(&tokens).unwrap();
        let conf = write_file(
            &dir,
            "softhsm2.conf",
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                s(&tokens)
            )
            .as_bytes(),
        );
        let pin_file = write_file(&dir, "pin.txt", format!("{USER_PIN}\n").as_bytes());
        let run = run_command(
            Command::new("softhsm2-util")
                .env("SOFTHSM2_CONF", &conf)
                .args(["--init-token", "--free", "--label", label])
                .args(["--so-pin", SO_PIN, "--pin", USER_PIN]),
        );
        assert_eq!(run.code, 0, "softhsm2-util: {}{}", run.stdout, run.stderr);
        Some(SoftHsmToken {
            dir,
            conf,
            module,
            label: label.to_string(),
            pin_file,
        })
    }
}
