//! RFC 3161: `otaseal tsa serve`, `otaseal timestamp`, and the client used by
//! `otaseal sign --tsa`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use otaseal_manifest::envelope::{Sign1Parts, encode_envelope};
use otaseal_manifest::{Envelope, Suite};
use otaseal_sign::package::{self, SignError, Timestamper};
use otaseal_tsa::authority::Authority;
use otaseal_tsa::client::{ClientOptions, TsaClient};
use otaseal_tsa::server::{Server, ServerConfig, TlsFiles};
use serde_json::json;

use crate::inspect::{read_envelope, suite_name};
use crate::output::format_time;
use crate::{CliError, CliResult, EXIT_REJECTED};

/// The policy OID the otaseal TSA uses unless told otherwise: the example
/// policy of OpenSSL's TSA configuration. Good for development only; a
/// production TSA states its own policy OID with --policy.
pub const DEFAULT_TSA_POLICY: &str = "1.2.3.4.1";

/// Client flags shared by `sign` and `timestamp`.
#[derive(Args, Clone, Debug, Default)]
pub struct TsaClientArgs {
    /// Extra CA certificates (PEM) for HTTPS time-stamp servers.
    #[arg(long = "tsa-ca")]
    pub tsa_ca: Option<PathBuf>,
    /// Seconds to wait for one TSA answer before retrying or failing over.
    #[arg(long = "tsa-timeout", default_value_t = 10)]
    pub tsa_timeout: u64,
    /// Retries per TSA URL (with exponential backoff) before the next URL.
    #[arg(long = "tsa-retries", default_value_t = 2)]
    pub tsa_retries: u32,
    /// PEM file of TSA roots every new token must chain to (repeatable).
    /// Tokens are always checked (signature, EKU, imprint) before anything
    /// is written; with this, their chain too.
    #[arg(long = "tsa-trust")]
    pub tsa_trust: Vec<PathBuf>,
}

/// Asks TSAs over HTTP(S): each signer has its URL list, in failover order.
pub struct HttpTimestamper {
    clients: Vec<Option<TsaClient>>,
    roots: Vec<Vec<u8>>,
}

impl HttpTimestamper {
    /// One client per signer (`None` for signers without a TSA).
    pub fn new(per_signer_urls: &[Vec<String>], args: &TsaClientArgs) -> Result<Self, CliError> {
        let clients = per_signer_urls
            .iter()
            .map(|urls| {
                if urls.is_empty() {
                    return Ok(None);
                }
                let mut opts = ClientOptions::new(urls.iter().cloned());
                opts.timeout = Duration::from_secs(args.tsa_timeout.max(1));
                opts.retries = args.tsa_retries;
                opts.extra_roots_pem = args.tsa_ca.clone();
                TsaClient::new(opts)
                    .map(Some)
                    .map_err(|e| CliError(format!("TSA client: {e}")))
            })
            .collect::<Result<Vec<_>, CliError>>()?;
        let mut roots = Vec::new();
        for path in &args.tsa_trust {
            let pem = String::from_utf8(crate::read_file(path)?).map_err(|_| {
                CliError(format!(
                    "{}: not a PEM file",
                    crate::output::esc(&path.display().to_string())
                ))
            })?;
            roots.extend(
                otaseal_sign::pki::certs_from_pem(&pem)
                    .map_err(|e| CliError(format!("{}: {e}", path.display())))?,
            );
        }
        Ok(HttpTimestamper { clients, roots })
    }
}

impl Timestamper for HttpTimestamper {
    fn token(
        &self,
        signer: usize,
        suite: Suite,
        signature_field: &[u8],
    ) -> Result<Option<Vec<u8>>, SignError> {
        let Some(Some(client)) = self.clients.get(signer) else {
            return Ok(None);
        };
        let alg = suite.timestamp_digest();
        let hash = otaseal_verify::digest::hash(alg, signature_field);
        client
            .request(alg, hash.as_bytes())
            .map(|t| Some(t.der))
            .map_err(|e| {
                SignError::Signer(format!("timestamp for the {} signature: {e}", suite.name()))
            })
    }

    fn tsa_roots(&self) -> Vec<Vec<u8>> {
        self.roots.clone()
    }
}

#[derive(Args)]
#[command(after_help = "\
Examples:
  otaseal tsa serve --listen 127.0.0.1:3180 --key pki/ecdsa-p256/tsa.key.pem \\
      --cert pki/ecdsa-p256/tsa.chain.pem
  otaseal tsa serve --listen 0.0.0.0:3443 --key tsa.key.pem --cert tsa.chain.pem \\
      --tls-cert https.chain.pem --tls-key https.key.pem --serial-store /var/lib/otaseal/serials
  # key in an HSM (PIN from OTASEAL_PKCS11_PIN or pin-source); a small session pool
  OTASEAL_PKCS11_PIN=... otaseal tsa serve --listen 127.0.0.1:3180 \\
      --pkcs11-module /usr/lib/softhsm/libsofthsm2.so --key 'pkcs11:token=tsa;object=tsa-p256' \\
      --cert tsa.chain.pem

Serves RFC 3161 over HTTP(S): POST application/timestamp-query, answers
application/timestamp-reply. Serial numbers are unique and persist across restarts in
the serial store. Stop with Ctrl-C.")]
pub struct ServeArgs {
    /// Address to listen on, e.g. 127.0.0.1:3180 (port 0 picks a free port).
    #[arg(long)]
    listen: String,
    /// TSA private key: PKCS#8 PEM (ECDSA, RSA, SM2, Ed25519 or ML-DSA) or a
    /// pkcs11: URI (a key in a token or HSM; TSA keys belong in HSMs).
    #[arg(long)]
    key: String,
    /// TSA certificate chain (PEM, leaf first; the leaf needs the single critical
    /// timeStamping EKU).
    #[arg(long)]
    cert: PathBuf,
    /// TSA policy OID.
    #[arg(long, default_value = DEFAULT_TSA_POLICY)]
    policy: String,
    /// Serial number store (default: KEY with `.serials` appended; for a
    /// pkcs11: key, CERT with `.serials` appended).
    #[arg(long)]
    serial_store: Option<PathBuf>,
    /// Accuracy to state in tokens, in milliseconds (0: none).
    #[arg(long, default_value_t = 1000)]
    accuracy_ms: u32,
    /// Connections one client address may hold at once.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    max_connections_per_peer: u32,
    /// Seconds a connection may stay silent before it is closed.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=600))]
    idle_timeout: u64,
    /// HTTPS certificate chain (PEM).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// HTTPS private key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

pub fn serve(a: ServeArgs) -> CliResult {
    let policy = const_oid::ObjectIdentifier::from_str(&a.policy)
        .map_err(|e| CliError(format!("--policy {:?}: {e}", a.policy)))?;
    let in_token = otaseal_keys::pkcs11::Pkcs11Uri::is_uri(&a.key);
    let store = a.serial_store.clone().unwrap_or_else(|| {
        let mut p = if in_token {
            a.cert.clone().into_os_string()
        } else {
            PathBuf::from(&a.key).into_os_string()
        };
        p.push(".serials");
        PathBuf::from(p)
    });
    let authority = if in_token {
        // The token's session pool lets concurrent requests sign in parallel.
        let key = crate::keys::load_signer(&a.key, None)?;
        Authority::with_chain_file(key, &a.cert, policy, &store)
    } else {
        Authority::from_files(std::path::Path::new(&a.key), &a.cert, policy, &store)
    }
    .map_err(|e| CliError(e.to_string()))?
    .with_accuracy_millis(a.accuracy_ms);
    let listener = TcpListener::bind(&a.listen)
        .map_err(|e| CliError(format!("--listen {}: {e}", a.listen)))?;
    let tls = match (&a.tls_cert, &a.tls_key) {
        (Some(c), Some(k)) => Some(TlsFiles {
            cert_chain_pem: c.clone(),
            key_pem: k.clone(),
        }),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let server = Server::start(
        listener,
        Arc::new(authority),
        tls.as_ref(),
        ServerConfig {
            max_connections_per_peer: a.max_connections_per_peer as usize,
            idle_timeout: Duration::from_secs(a.idle_timeout),
            ..ServerConfig::default()
        },
    )
    .map_err(|e| CliError(e.to_string()))?;
    // One line on stdout that scripts can read, then serve until killed.
    out!("otaseal TSA listening on {}", server.url(scheme));
    eprintln!("serial store {}; policy {}", store.display(), a.policy);
    server.wait();
    Ok(0)
}

#[derive(Args)]
#[command(after_help = "\
Examples:
  otaseal timestamp fw.ota --tsa http://tsa.example/tsr --out fw-ts.ota
  otaseal timestamp fw.ota --tsa https://tsa-a.example --tsa https://tsa-b.example   # in place, failover

Adds an RFC 3161 token (RFC 9921 3161-ctt) to every signature that has none, without
touching the signatures or the manifest. The payloads are copied unchanged.")]
pub struct TimestampArgs {
    /// Package file.
    package: PathBuf,
    /// TSA URL for every signature (repeatable: failover order).
    #[arg(long = "tsa", required = true)]
    tsa: Vec<String>,
    /// Output package (default: replace PKG in place, atomically).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace tokens that are already there.
    #[arg(long)]
    replace: bool,
    /// Replace OUT if it exists.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    client: TsaClientArgs,
    /// Print a JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn timestamp(a: TimestampArgs) -> CliResult {
    if let Some(o) = &a.out {
        crate::refuse_stdout_out(o)?;
        package::check_output(o, a.force)?;
    }
    // In place on a symlink: the link's target is replaced, the link stays.
    let out = a.out.clone().unwrap_or_else(|| a.package.clone());
    let env_bytes = match read_envelope(&a.package)? {
        Ok(b) => b,
        Err(why) => {
            eprintln!(
                "otaseal: {}: not a readable otaseal package: {why}",
                a.package.display()
            );
            return Ok(EXIT_REJECTED);
        }
    };
    let envelope = match Envelope::decode(&env_bytes) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("otaseal: {}: {e}", a.package.display());
            return Ok(EXIT_REJECTED);
        }
    };
    let urls: Vec<Vec<String>> = envelope.signatures.iter().map(|_| a.tsa.clone()).collect();
    let stamper = HttpTimestamper::new(&urls, &a.client)?;
    let mut parts = Vec::new();
    let mut added = Vec::new();
    for (i, s) in envelope.signatures.iter().enumerate() {
        let mut timestamp = s.timestamp.map(<[u8]>::to_vec);
        if timestamp.is_none() || a.replace {
            let suite = Suite::from_cose_alg(s.alg).ok_or_else(|| {
                CliError(format!(
                    "signature {i}: unknown algorithm {}",
                    suite_name(s.alg)
                ))
            })?;
            timestamp = stamper.token(i, suite, s.signature_field)?;
            // Checked before anything is written: a bad token must not
            // turn a verifying package into a failing one.
            if let Some(t) = &timestamp {
                package::verify_timestamp(t, suite, s.signature_field, &stamper.tsa_roots())?;
            }
            added.push(suite.name());
        }
        parts.push(Sign1Parts {
            protected: s.protected.to_vec(),
            timestamp,
            signature: s.signature.to_vec(),
        });
    }
    let new_envelope = encode_envelope(envelope.manifest, &parts);
    let size =
        package::replace_envelope_checked(&a.package, Some(&env_bytes), &new_envelope, &out)?;
    if a.json {
        out!(
            "{}",
            json!({"package": out, "size": size, "timestamped": added, "time": format_time(otaseal_sign::package::unix_now())})
        );
    } else {
        out!(
            "{}: timestamped {} signature(s){}",
            out.display(),
            added.len(),
            if added.is_empty() {
                String::new()
            } else {
                format!(" ({})", added.join(", "))
            }
        );
    }
    Ok(0)
}
