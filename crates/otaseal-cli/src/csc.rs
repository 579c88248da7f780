//! `otaseal csc`: the self-hostable CSC API v2 signing service.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};
use otaseal_csc::auth::{Clock, ShiftedClock, SystemClock};
use otaseal_csc::config::{self, Config, InitOptions};
use otaseal_csc::server::Server;
use otaseal_manifest::Suite;
use serde_json::json;
use zeroize::Zeroizing;

use crate::{CliError, CliResult, EXIT_REJECTED};

#[derive(Args)]
pub struct CscArgs {
    #[command(subcommand)]
    command: CscCommand,
}

#[derive(Subcommand)]
enum CscCommand {
    /// Create a configuration, master key, database, issuing CA, one
    /// credential per suite and a client, for a quick local start.
    #[command(after_help = "\
Example:
  otaseal csc init --dir csc --suites ecdsa-p256,sm2
  otaseal csc serve --config csc/config.json

  otaseal csc init --dir csc --suites ecdsa-p256,sm2 --pkcs11-token csc \\
      --pkcs11-module /usr/lib/softhsm/libsofthsm2.so --pkcs11-pin-file hsm.pin

Writes DIR/config.json, DIR/master.key (0600), DIR/csc.db, DIR/ca.pem (trust anchor of
the credentials' certificates) and DIR/CLIENT.secret (0600). Credentials are named
signer-SUITE and granted to the client. With --pkcs11-token, keys of the suites the
token offers (ecdsa-p256, ecdsa-p384, rsa-pss-3072) are generated in the token; SM2 and
ML-DSA keys stay in the encrypted software store.")]
    Init(InitArgs),
    /// Serve CSC API v2 (and v1 spellings) over HTTP(S).
    #[command(after_help = "\
Example:
  otaseal csc serve --config csc/config.json

Serves POST /csc/v2/<method> and /csc/v1/<method>, GET /health. Plain HTTP only on a
loopback address; set \"tls\" in the configuration for anything else. SIGINT/SIGTERM
stop accepting and finish the requests in progress.")]
    Serve(ServeArgs),
    /// Audit log tools.
    Audit(AuditArgs),
}

#[derive(Args)]
struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain of the audit log (exit 1 if broken).
    #[command(after_help = "\
Example:
  otaseal csc audit verify --config csc/config.json --json")]
    Verify(AuditVerifyArgs),
}

#[derive(Args)]
pub struct InitArgs {
    /// New (empty) directory.
    #[arg(long)]
    dir: PathBuf,
    /// Comma-separated suites, one credential each.
    #[arg(long, default_value = "ecdsa-p256,sm2")]
    suites: String,
    /// Suite of the issuing CA's key.
    #[arg(long, default_value = "ecdsa-p256")]
    ca_suite: String,
    /// Id of the first client.
    #[arg(long, default_value = "build")]
    client: String,
    /// Sole Control Assurance Level of the credentials (1 or 2).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
    scal: u8,
    /// File holding a PIN the credentials require.
    #[arg(long)]
    pin_file: Option<PathBuf>,
    /// Certificate validity in days.
    #[arg(long, default_value_t = 47)]
    days: u64,
    /// Renew this many days before a certificate expires.
    #[arg(long, default_value_t = 15)]
    renew_before_days: u64,
    /// Listen address written to the configuration.
    #[arg(long, default_value = "127.0.0.1:8780")]
    listen: String,
    /// The store: a SQLite file (default DIR/csc.db) or a PostgreSQL URL
    /// (postgres://user@host:port/db, an empty database) for several
    /// instances behind a load balancer.
    #[arg(long)]
    database: Option<String>,
    /// PKCS#11 token (label, or a pkcs11: URI naming the token) that
    /// generates and holds the keys of the suites it offers. The module is
    /// --pkcs11-module, the URI's module-path or $OTASEAL_PKCS11_MODULE.
    #[arg(long, value_name = "URI-OR-LABEL")]
    pkcs11_token: Option<String>,
    /// File holding the token's user PIN (written to the configuration as
    /// a path; default: the URI's pin-source, else $OTASEAL_PKCS11_PIN).
    #[arg(long, value_name = "FILE", requires = "pkcs11_token")]
    pkcs11_pin_file: Option<PathBuf>,
    /// Tests only: the clock of the certificates made now (Unix time).
    #[arg(long, hide = true)]
    now: Option<u64>,
    /// Print a JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ServeArgs {
    /// Configuration file.
    #[arg(long)]
    config: PathBuf,
    /// Listen address (overrides the configuration).
    #[arg(long)]
    listen: Option<String>,
    /// Tests only: the service clock starts at this Unix time.
    #[arg(long, hide = true)]
    now: Option<u64>,
    /// Tests only: every signHash answer carries a wrong signature.
    #[arg(long, hide = true)]
    test_corrupt_signatures: bool,
}

#[derive(Args)]
pub struct AuditVerifyArgs {
    /// Configuration file.
    #[arg(long)]
    config: PathBuf,
    /// Print a JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(a: CscArgs) -> CliResult {
    match a.command {
        CscCommand::Init(a) => init(a),
        CscCommand::Serve(a) => serve(a),
        CscCommand::Audit(AuditArgs {
            command: AuditCommand::Verify(a),
        }) => audit_verify(a),
    }
}

fn parse_suite(name: &str) -> Result<Suite, CliError> {
    Suite::from_name(name.trim()).ok_or_else(|| CliError(format!("unknown suite {name:?}")))
}

fn init(a: InitArgs) -> CliResult {
    let suites = a
        .suites
        .split(',')
        .map(parse_suite)
        .collect::<Result<Vec<_>, _>>()?;
    let pin = match &a.pin_file {
        Some(p) => Some(Zeroizing::new(
            std::fs::read_to_string(p)
                .map_err(|e| CliError(format!("--pin-file {}: {e}", p.display())))?
                .trim()
                .to_string(),
        )),
        None => None,
    };
    let pkcs11 = match &a.pkcs11_token {
        None => None,
        Some(t) => {
            let module = crate::keys::pkcs11_config()?.module;
            let mut section =
                config::Pkcs11Section::from_token_arg(t, module, a.pkcs11_pin_file.clone())
                    .map_err(|e| CliError(format!("--pkcs11-token: {e}")))?;
            if section.module.is_none() {
                // Written into the configuration, so that `serve` does not
                // depend on the variable being set again.
                section.module =
                    std::env::var_os(otaseal_keys::pkcs11::MODULE_ENV).map(PathBuf::from);
            }
            Some(section)
        }
    };
    let mut options = InitOptions::default();
    if let Some(now) = a.now {
        options.now = now;
    }
    let report = config::init(
        &a.dir,
        &InitOptions {
            suites,
            ca_suite: parse_suite(&a.ca_suite)?,
            client_id: a.client.clone(),
            scal: a.scal,
            pin,
            validity_secs: a.days.saturating_mul(86400),
            renew_before_secs: a.renew_before_days.saturating_mul(86400),
            listen: a.listen.clone(),
            database: a.database.clone(),
            pkcs11,
            ..options
        },
    )
    .map_err(|e| CliError(e.to_string()))?;
    if a.json {
        out!(
            "{}",
            json!({
                "config": report.config,
                "ca": report.ca_pem,
                "client": report.client_id,
                "secret_file": report.secret_file,
                "credentials": report.credentials,
                "in_token": report.in_token,
            })
        );
    } else {
        out!("configuration  {}", report.config.display());
        out!("trust anchor   {}", report.ca_pem.display());
        out!(
            "client         {} (secret in {})",
            report.client_id,
            report.secret_file.display()
        );
        out!("credentials    {}", report.credentials.join(", "));
        if a.pkcs11_token.is_some() {
            let listed = if report.in_token.is_empty() {
                "none (the token offers none of the suites)".to_string()
            } else {
                report.in_token.join(", ")
            };
            out!("token keys     {listed} (the rest in the software store)");
        }
    }
    Ok(0)
}

fn serve(a: ServeArgs) -> CliResult {
    let cfg = Config::load(&a.config).map_err(|e| CliError(e.to_string()))?;
    let clock: Arc<dyn Clock> = match a.now {
        Some(t) => Arc::new(ShiftedClock::new(t)),
        None => Arc::new(SystemClock),
    };
    let service = Arc::new(
        cfg.open_service(clock)
            .map_err(|e| CliError(e.to_string()))?,
    );
    if a.test_corrupt_signatures {
        service.corrupt_signatures_for_tests();
    }
    // Renew at start, before the first request.
    service.renew_due().map_err(|e| CliError(e.to_string()))?;
    let listen = a.listen.unwrap_or_else(|| cfg.listen.clone());
    let listener =
        TcpListener::bind(&listen).map_err(|e| CliError(format!("listen {listen}: {e}")))?;
    let tls = cfg.tls_files();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let server = Server::start(listener, service, tls.as_ref(), cfg.server_config())
        .map_err(|e| CliError(e.to_string()))?;
    // Graceful shutdown: stop accepting, let requests in progress finish.
    let handle = server.shutdown_handle();
    {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
            .map_err(|e| CliError(format!("signals: {e}")))?;
        std::thread::spawn(move || {
            if signals.forever().next().is_some() {
                handle.shutdown();
            }
        });
    }
    // One line on stdout that scripts can read.
    out!(
        "otaseal CSC listening on {}://{}/csc/v2",
        scheme,
        server.local_addr()
    );
    server.wait();
    eprintln!("otaseal CSC stopped");
    Ok(0)
}

fn audit_verify(a: AuditVerifyArgs) -> CliResult {
    let cfg = Config::load(&a.config).map_err(|e| CliError(e.to_string()))?;
    let store = cfg.open_store().map_err(|e| CliError(e.to_string()))?;
    let records = store.audit_records().map_err(|e| CliError(e.to_string()))?;
    match otaseal_csc::audit::verify_chain(&records) {
        Ok((n, head)) => {
            if a.json {
                out!("{}", json!({ "intact": true, "records": n, "head": head }));
            } else {
                out!("audit log intact: {n} records, head {head}");
            }
            Ok(0)
        }
        Err(brk) => {
            if a.json {
                out!(
                    "{}",
                    json!({ "intact": false, "records": records.len(), "break": brk.to_string() })
                );
            } else {
                out!("audit log BROKEN: {brk}");
            }
            Ok(EXIT_REJECTED)
        }
    }
}
