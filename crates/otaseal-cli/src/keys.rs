//! `otaseal keygen` and `otaseal pki init`.

use std::path::{Path, PathBuf};

use clap::Args;
use otaseal_manifest::Suite;
use otaseal_sign::keys::SigningKey;
use otaseal_sign::pki;
use serde_json::json;

use crate::output::hex;
use crate::{CliError, CliResult};

/// Suite names for `--alg` and `--suites` help texts.
pub const SUITE_NAMES: &str =
    "ecdsa-p256, ecdsa-p384, ed25519, rsa-pss-3072, sm2, ml-dsa-44, ml-dsa-65, ml-dsa-87";

/// Parses a suite name with a helpful error.
pub fn parse_suite(name: &str) -> Result<Suite, String> {
    Suite::from_name(name)
        .ok_or_else(|| format!("unknown algorithm {name:?}; use one of {SUITE_NAMES}"))
}

#[derive(Args)]
#[command(after_help = "\
Examples:
  otaseal keygen --alg ecdsa-p256 --out release.key.pem   # also writes release.key.pub.pem
  otaseal keygen --alg ml-dsa-65 --out pq.pem --json

The private key is PKCS#8 PEM (ML-DSA: RFC 9881 seed form), created with mode 0600;
an existing file is never overwritten.")]
pub struct KeygenArgs {
    /// Algorithm: ecdsa-p256, ecdsa-p384, ed25519, rsa-pss-3072, sm2, ml-dsa-44, ml-dsa-65, ml-dsa-87.
    #[arg(long, value_parser = parse_suite)]
    alg: Suite,
    /// Private key file to create.
    #[arg(long)]
    out: PathBuf,
    /// Public key file (default: OUT with `.pem` replaced by `.pub.pem`).
    #[arg(long)]
    public_out: Option<PathBuf>,
    /// Print a JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// The default public key path for a private key path.
pub fn public_path_for(private: &Path) -> PathBuf {
    let name = private
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".pem").unwrap_or(&name);
    private.with_file_name(format!("{stem}.pub.pem"))
}

/// `path` made absolute with its directory resolved (the file itself need
/// not exist), to tell whether two names are one file.
fn resolved(path: &Path) -> PathBuf {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    match (abs.parent(), abs.file_name()) {
        (Some(dir), Some(name)) => std::fs::canonicalize(dir)
            .map(|d| d.join(name))
            .unwrap_or(abs.clone()),
        _ => abs,
    }
}

pub fn keygen(a: KeygenArgs) -> CliResult {
    crate::refuse_stdout_out(&a.out)?;
    let public = a.public_out.unwrap_or_else(|| public_path_for(&a.out));
    crate::refuse_stdout_out(&public)?;
    if resolved(&a.out) == resolved(&public) {
        return Err(CliError(format!(
            "--out and --public-out both name {}; give two files",
            public.display()
        )));
    }
    // symlink_metadata: a symlink (even a dangling one) counts as existing,
    // so no key is ever written through a link.
    for p in [&a.out, &public] {
        if std::fs::symlink_metadata(p).is_ok() {
            return Err(CliError(format!(
                "{} exists (or is a symlink); choose another --out or --public-out",
                p.display()
            )));
        }
    }
    let key = SigningKey::generate(a.alg)?;
    key.write_private_pem(&a.out)?;
    // All or nothing: the private key goes away if its public half cannot
    // be written (or a signal arrives meanwhile).
    let private = otaseal_sign::package::TempFile::new(a.out.clone());
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&public)
        .and_then(|mut f| {
            use std::io::Write as _;
            f.write_all(key.public_pem().as_bytes())?;
            f.sync_all()
        });
    if let Err(e) = written {
        if e.kind() != std::io::ErrorKind::AlreadyExists {
            let _ = std::fs::remove_file(&public);
        }
        return Err(CliError(format!(
            "{}: {e} (the private key was not kept)",
            public.display()
        )));
    }
    private.keep();
    let kid = hex(&key.key_id());
    if a.json {
        out!(
            "{}",
            json!({"alg": a.alg.name(), "private_key": a.out, "public_key": public, "kid": kid})
        );
    } else {
        out!(
            "{} key written to {} (mode 0600)",
            a.alg.name(),
            a.out.display()
        );
        out!("public key written to {}", public.display());
        out!("key id (SHA-256 of SubjectPublicKeyInfo): {kid}");
    }
    Ok(0)
}

#[derive(Args)]
pub struct PkiInitArgs {
    /// Directory to create (must be empty or absent).
    #[arg(long)]
    dir: PathBuf,
    /// Suites to make chains for, comma-separated (default: all).
    #[arg(long, value_delimiter = ',', value_parser = parse_suite)]
    suites: Vec<Suite>,
    /// Certificate lifetime in days.
    #[arg(long, default_value_t = 456)]
    days: u64,
    /// Print a JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn pki_init(a: PkiInitArgs) -> CliResult {
    let suites = if a.suites.is_empty() {
        Suite::ALL.to_vec()
    } else {
        a.suites
    };
    let pki = pki::init_dev_pki(&a.dir, &suites, a.days.saturating_mul(86_400))?;
    if a.json {
        let list: Vec<_> = pki
            .suites
            .iter()
            .map(|s| {
                json!({
                    "suite": s.suite.name(),
                    "signer_key": s.signer_key,
                    "signer_chain": s.signer_chain,
                    "signer_pub": s.signer_pub,
                    "root_cert": s.root_cert,
                    "tsa_key": s.tsa_key,
                    "tsa_chain": s.tsa_chain,
                    "kid": hex(&s.signer_key_id),
                })
            })
            .collect();
        out!(
            "{}",
            json!({"dir": pki.dir, "roots": pki.roots_pem, "tsa_roots": pki.tsa_roots_pem, "suites": list})
        );
    } else {
        out!(
            "development PKI written to {} (THROWAWAY keys: never ship them)",
            pki.dir.display()
        );
        for s in &pki.suites {
            out!(
                "  {:<13} --signer key={},cert={}",
                s.suite.name(),
                s.signer_key.display(),
                s.signer_chain.display()
            );
        }
        out!("  trust roots:  --trust {}", pki.roots_pem.display());
        out!("  TSA roots:    {}", pki.tsa_roots_pem.display());
    }
    Ok(0)
}
