//! `otaseal keygen`, `otaseal keys list`, `otaseal pki init` and loading a
//! signer from a key file or a PKCS#11 URI.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use clap::Args;
use otaseal_keys::pkcs11::{self, Pkcs11Config, Pkcs11Uri};
use otaseal_manifest::Suite;
use otaseal_sign::keys::{KeySigner, SigningKey};
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

/// `--pkcs11-module` (global option), set once by `main`.
static PKCS11_MODULE: OnceLock<Option<PathBuf>> = OnceLock::new();

/// Records the global `--pkcs11-module`.
pub fn set_pkcs11_module(module: Option<PathBuf>) {
    let _ = PKCS11_MODULE.set(module);
}

/// The PKCS#11 configuration: `--pkcs11-module`, the environment.
pub fn pkcs11_config() -> Result<Pkcs11Config, CliError> {
    let module = PKCS11_MODULE.get().cloned().flatten();
    Ok(Pkcs11Config::from_env(module)?)
}

/// A signer from `KEY.pem` or a `pkcs11:` URI. `expected` is a suite the
/// caller asked for (`suite=` in `--signer`): the key must be of it.
pub fn load_signer(spec: &str, expected: Option<Suite>) -> Result<Arc<dyn KeySigner>, CliError> {
    let key: Arc<dyn KeySigner> = if Pkcs11Uri::is_uri(spec) {
        Arc::new(pkcs11::open_signer(spec, &pkcs11_config()?, expected)?)
    } else {
        let key = SigningKey::load(Path::new(spec))?;
        if let Some(want) = expected
            && key.suite() != want
        {
            return Err(CliError(format!(
                "{spec}: a {} key, not a {} key",
                key.suite().name(),
                want.name()
            )));
        }
        Arc::new(key)
    };
    Ok(key)
}

/// SHA-256 of a SubjectPublicKeyInfo (otaseal's key id), hex.
pub fn key_id_hex(spki: &[u8]) -> String {
    use sha2::Digest as _;
    hex(&sha2::Sha256::digest(spki))
}

#[derive(Args)]
#[command(after_help = "\
Examples:
  otaseal keygen --alg ecdsa-p256 --out release.key.pem   # also writes release.key.pub.pem
  otaseal keygen --alg ml-dsa-65 --out pq.pem --json
  # in a token: the private key never leaves it (sensitive, not extractable)
  otaseal keygen --alg ecdsa-p256 --pkcs11-module /usr/lib/softhsm/libsofthsm2.so \\
      --out 'pkcs11:token=release;object=fw-p256?pin-source=/run/secrets/pin' --public-out fw-p256.pub.pem

The private key is PKCS#8 PEM (ML-DSA: RFC 9881 seed form), created with mode 0600;
an existing file is never overwritten. With a pkcs11: URI the key pair is generated in
the token (ecdsa-p256, ecdsa-p384, rsa-pss-3072, ed25519); an existing object with the
same label or id is never overwritten.")]
pub struct KeygenArgs {
    /// Algorithm: ecdsa-p256, ecdsa-p384, ed25519, rsa-pss-3072, sm2, ml-dsa-44, ml-dsa-65, ml-dsa-87.
    #[arg(long, value_parser = parse_suite)]
    alg: Suite,
    /// Private key file to create, or a pkcs11: URI (token and object label) to
    /// generate the key pair in.
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

/// Generates a key pair inside a token; writes the public key only when
/// `--public-out` is given.
fn keygen_in_token(a: &KeygenArgs, uri_text: &str) -> CliResult {
    if let Some(p) = &a.public_out
        && std::fs::symlink_metadata(p).is_ok()
    {
        return Err(CliError(format!(
            "{} exists (or is a symlink); choose another --public-out",
            p.display()
        )));
    }
    let uri = Pkcs11Uri::parse(uri_text)?;
    if uri.pin_value.is_some() {
        eprintln!(
            "warning: the PKCS#11 URI holds pin-value: prefer pin-source=FILE or {}",
            pkcs11::PIN_ENV
        );
    }
    let key = pkcs11::generate(&uri, &pkcs11_config()?, a.alg)?;
    let spki = key.public_spki_der();
    let pem = der::pem::encode_string("PUBLIC KEY", der::pem::LineEnding::LF, &spki)
        .map_err(|e| CliError(e.to_string()))?;
    if let Some(p) = &a.public_out {
        otaseal_sign::keys::write_new_file(p, pem.as_bytes(), 0o644)?;
    }
    let kid = key_id_hex(&spki);
    let name = key.describe();
    if a.json {
        out!(
            "{}",
            json!({"alg": a.alg.name(), "private_key": name, "public_key": a.public_out, "kid": kid})
        );
    } else {
        out!(
            "{} key pair generated in {name} (sensitive, not extractable)",
            a.alg.name()
        );
        match &a.public_out {
            Some(p) => out!("public key written to {}", p.display()),
            None => out!("{}", pem.trim_end()),
        }
        out!("key id (SHA-256 of SubjectPublicKeyInfo): {kid}");
    }
    Ok(0)
}

pub fn keygen(a: KeygenArgs) -> CliResult {
    if let Some(text) = a.out.to_str()
        && Pkcs11Uri::is_uri(text)
    {
        let text = text.to_string();
        return keygen_in_token(&a, &text);
    }
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
#[command(after_help = "\
Examples:
  otaseal keys list --pkcs11-module /usr/lib/softhsm/libsofthsm2.so
  otaseal keys list --pkcs11-module /usr/lib/softhsm/libsofthsm2.so --token release --json
  OTASEAL_PKCS11_MODULE=/usr/lib/x86_64-linux-gnu/libykcs11.so otaseal keys list

Without --token: the tokens of the module. With --token: its key objects (label, id,
type and the suite otaseal would sign as) and the URI to give --signer key=. Private
keys are listed after login (PIN as for signing: OTASEAL_PKCS11_PIN or the terminal).")]
pub struct KeysListArgs {
    /// Token label (default: list the tokens).
    #[arg(long)]
    token: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn keys_list(a: KeysListArgs) -> CliResult {
    let config = pkcs11_config()?;
    let uri = Pkcs11Uri {
        token: a.token.clone(),
        ..Default::default()
    };
    let module = config.module_for(&uri)?;
    let Some(label) = &a.token else {
        let tokens = pkcs11::list_tokens(&module)?;
        if a.json {
            let list: Vec<_> = tokens
                .iter()
                .map(|t| json!({"slot": t.slot, "label": t.label, "manufacturer": t.manufacturer, "model": t.model, "serial": t.serial}))
                .collect();
            out!("{}", json!({"module": module, "tokens": list}));
        } else {
            out!("module {}", module.display());
            for t in &tokens {
                out!(
                    "  slot {}: token {:?} ({} {}, serial {})",
                    t.slot,
                    t.label,
                    t.manufacturer,
                    t.model,
                    t.serial
                );
            }
            if tokens.is_empty() {
                out!("  no initialised token");
            }
        }
        return Ok(0);
    };
    let token = pkcs11::TokenHandle::open(&uri, &config)?;
    let keys = pkcs11::list_keys(&token)?;
    if a.json {
        let list: Vec<_> = keys
            .iter()
            .map(|k| {
                json!({
                    "class": k.class,
                    "label": k.label,
                    "id": hex(&k.id),
                    "key_type": k.key_type,
                    "suite": k.suite.as_ref().ok().map(|s| s.name()),
                    "suite_error": k.suite.as_ref().err(),
                    "uri": Pkcs11Uri::display_key(label, k.label.as_deref(), Some(&k.id)),
                    "public_key_pem": k.spki.as_ref().and_then(|d| der::pem::encode_string("PUBLIC KEY", der::pem::LineEnding::LF, d).ok()),
                })
            })
            .collect();
        out!(
            "{}",
            json!({"module": module, "token": label, "keys": list})
        );
    } else {
        out!("token {label:?} ({})", module.display());
        for k in &keys {
            let suite = match &k.suite {
                Ok(s) => s.name().to_string(),
                Err(e) => format!("no otaseal suite: {e}"),
            };
            out!(
                "  {:<7} {:<10} {:<24} id={:<20} {}",
                k.class,
                k.key_type,
                k.label
                    .as_deref()
                    .map(|l| format!("{l:?}"))
                    .unwrap_or_else(|| "(no label)".into()),
                hex(&k.id),
                suite
            );
        }
        if keys.is_empty() {
            out!("  no key objects");
        }
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
