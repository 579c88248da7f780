//! `otaseal`: sign, verify and inspect OTA update packages.
//!
//! Exit codes: 0 accepted (or success), 1 rejected, 2 usage or I/O error.

/// `println!` that ends the process quietly when stdout is a closed pipe
/// (`otaseal inspect pkg | head`), as Unix tools do, instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(141);
            }
        }
    }};
}

mod csc;
mod csc_signer;
mod csr;
mod demo;
mod fetch;
mod inspect;
mod keys;
mod output;
mod sign;
mod tsa;
mod verify;

use std::path::Path;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Exit status for a rejected package.
pub const EXIT_REJECTED: u8 = 1;
/// Exit status for usage and I/O errors.
pub const EXIT_ERROR: u8 = 2;

#[derive(Parser)]
#[command(
    name = "otaseal",
    version,
    about = "Sign, verify and inspect OTA update packages (COSE, X.509, RSA/ECC, SM2, ML-DSA)",
    after_help = "\
Examples:
  otaseal pki init --dir pki                        # throwaway development PKI
  otaseal sign --out fw.ota --product acme.router --version 1.2.0 \\
      --security-version 3 --hw-compat board-a,board-b \\
      --signer key=pki/ecdsa-p256/signer.key.pem,cert=pki/ecdsa-p256/signer.chain.pem \\
      --signer key=pki/sm2/signer.key.pem,cert=pki/sm2/signer.chain.pem firmware.bin
  otaseal verify fw.ota --trust pki/roots.pem --hw-id board-a --json
  otaseal inspect fw.ota
  otaseal tsa serve --listen 127.0.0.1:3180 --key pki/ecdsa-p256/tsa.key.pem --cert pki/ecdsa-p256/tsa.chain.pem
  otaseal sign ... --tsa http://127.0.0.1:3180 firmware.bin     # RFC 3161 token in every signature
  otaseal demo                                      # all of the above, end to end

Exit codes: 0 accepted or success, 1 rejected, 2 usage or I/O error."
)]
struct Cli {
    /// PKCS#11 module for pkcs11: key URIs without module-path (default:
    /// $OTASEAL_PKCS11_MODULE).
    #[arg(long, global = true, value_name = "MODULE.so")]
    pkcs11_module: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a private key (PKCS#8 PEM, mode 0600) and its public key.
    Keygen(keys::KeygenArgs),
    /// Build and sign a package from payload files.
    Sign(sign::SignArgs),
    /// Verify a package against trust anchors and a device policy.
    Verify(verify::VerifyArgs),
    /// Show what a package contains, without verifying it.
    Inspect(inspect::InspectArgs),
    /// Add RFC 3161 timestamps to the signatures of a signed package.
    Timestamp(tsa::TimestampArgs),
    /// RFC 3161 time-stamp authority.
    Tsa(TsaArgs),
    /// Development PKI helpers.
    Pki(PkiArgs),
    /// Keys in PKCS#11 tokens and HSMs.
    Keys(KeysArgs),
    /// Write a PKCS#10 certificate signing request signed by a key (file or token).
    Csr(csr::CsrArgs),
    /// Cloud signing service (CSC API v2): init, serve, audit verify.
    Csc(csc::CscArgs),
    /// Make a throwaway PKI, sign the sample payloads with ecdsa-p256 + sm2 +
    /// ml-dsa-65, then verify and inspect the package.
    Demo(demo::DemoArgs),
}

#[derive(Args)]
struct TsaArgs {
    #[command(subcommand)]
    command: TsaCommand,
}

#[derive(Subcommand)]
enum TsaCommand {
    /// Serve RFC 3161 time-stamp requests over HTTP(S).
    Serve(tsa::ServeArgs),
}

#[derive(Args)]
struct KeysArgs {
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// List the tokens of a PKCS#11 module, or the key objects of one token.
    List(keys::KeysListArgs),
}

#[derive(Args)]
struct PkiArgs {
    #[command(subcommand)]
    command: PkiCommand,
}

#[derive(Subcommand)]
enum PkiCommand {
    /// Write a throwaway development PKI (roots, intermediates, signer and TSA
    /// certificates) for every suite.
    #[command(after_help = "\
Example:
  otaseal pki init --dir pki
  otaseal pki init --dir pki-sm --suites sm2 --days 30

Writes DIR/<suite>/{root,intermediate,signer,tsa-root,tsa}.* and DIR/roots.pem,
DIR/tsa-roots.pem. The keys are for development only.")]
    Init(keys::PkiInitArgs),
    /// Issue a certificate from a PKCS#10 request with a development CA.
    Issue(csr::PkiIssueArgs),
}

/// On SIGINT, SIGTERM or SIGHUP: remove the temporary files being written
/// (the README promises nothing half-written is left), then exit 128+N as
/// a shell would report the signal.
fn remove_temp_files_on_signals() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    if let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) {
        std::thread::spawn(move || {
            if let Some(sig) = signals.forever().next() {
                otaseal_sign::package::remove_temp_files();
                std::process::exit(128 + sig);
            }
        });
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `csc serve` handles SIGINT/SIGTERM itself (graceful shutdown).
    if !matches!(cli.command, Command::Csc(_)) {
        remove_temp_files_on_signals();
    }
    match dispatch(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("otaseal: error: {e}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// Runs a command line given as words (the demo drives the real commands).
pub fn run_words<I: IntoIterator<Item = String>>(words: I) -> CliResult {
    let cli = Cli::try_parse_from(std::iter::once("otaseal".to_string()).chain(words))
        .map_err(|e| CliError(e.to_string()))?;
    dispatch(cli)
}

fn dispatch(cli: Cli) -> CliResult {
    keys::set_pkcs11_module(cli.pkcs11_module);
    match cli.command {
        Command::Keygen(a) => keys::keygen(a),
        Command::Sign(a) => sign::run(a),
        Command::Verify(a) => verify::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Pki(PkiArgs {
            command: PkiCommand::Init(a),
        }) => keys::pki_init(a),
        Command::Pki(PkiArgs {
            command: PkiCommand::Issue(a),
        }) => csr::pki_issue(a),
        Command::Keys(KeysArgs {
            command: KeysCommand::List(a),
        }) => keys::keys_list(a),
        Command::Csr(a) => csr::csr(a),
        Command::Timestamp(a) => tsa::timestamp(a),
        Command::Tsa(TsaArgs {
            command: TsaCommand::Serve(a),
        }) => tsa::serve(a),
        Command::Demo(a) => demo::run(a),
        Command::Csc(a) => csc::run(a),
    }
}

/// A command's failure that is not a verdict: usage or I/O.
#[derive(Debug)]
pub struct CliError(pub String);

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<E: std::error::Error> From<E> for CliError {
    fn from(e: E) -> Self {
        CliError(e.to_string())
    }
}

/// Shorthand for command results: the exit status, or an error (exit 2).
pub type CliResult = Result<u8, CliError>;

/// Reads a key, certificate or trust file (at most
/// [`otaseal_sign::package::MAX_INPUT_FILE`] bytes), naming it in the error.
pub fn read_file(path: &Path) -> Result<Vec<u8>, CliError> {
    otaseal_sign::package::read_small_file(path)
        .map_err(|e| CliError(format!("{}: {e}", output::esc(&path.display().to_string()))))
}

/// Refuses `--out -`: packages are written atomically (temporary file and
/// rename), which stdout cannot do, so `-` is not taken as a file name either.
pub fn refuse_stdout_out(out: &std::path::Path) -> Result<(), CliError> {
    if out.as_os_str() == "-" {
        return Err(CliError(
            "--out -: packages cannot be written to stdout (they are written atomically); name a file".into(),
        ));
    }
    Ok(())
}
