//! The service's configuration file (JSON) and `otaseal csc init`.
//!
//! Paths in the file are relative to the file's directory. Secrets are not
//! in it: the master key, client secrets and the PKCS#11 user PIN are files
//! of their own (0600), or (the PIN) the `OTASEAL_PKCS11_PIN` variable.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use otaseal_manifest::Suite;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::auth::{self, Clock};
use crate::ca::{Ca, CredentialSpec};
use crate::keystore::{KeyStore, MasterKey, TokenKeys};
use crate::server::{ServerConfig, TlsFiles};
use crate::service::{Policy, Service};
use crate::store::{ClientRow, Location, Store};

/// Errors of configuration and set-up.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

fn cfg_err(what: impl fmt::Display) -> ConfigError {
    ConfigError(what.to_string())
}

/// TLS files.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TlsConfig {
    /// Certificate chain PEM.
    pub cert_chain_pem: PathBuf,
    /// Private key PEM.
    pub key_pem: PathBuf,
}

/// The `pkcs11` section: a PKCS#11 token that generates and holds the keys
/// of the suites it offers (ECDSA P-256/P-384, RSA-PSS-3072); SM2 and
/// ML-DSA keys stay in the software store.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Pkcs11Section {
    /// The module (shared library); default `OTASEAL_PKCS11_MODULE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<PathBuf>,
    /// The token label.
    pub token: String,
    /// File holding the user PIN (one line); default `OTASEAL_PKCS11_PIN`.
    /// The PIN itself is never in the configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_file: Option<PathBuf>,
}

impl Pkcs11Section {
    /// From `otaseal csc init --pkcs11-token URI-or-label`: a token label,
    /// or a PKCS#11 URI naming a token (its `module-path` and `pin-source`
    /// are taken; `module` and `pin_file`, from their own options, win).
    /// A URI with `pin-value`, or naming an object, is refused: the PIN does
    /// not go into the configuration, and the service names its own keys.
    pub fn from_token_arg(
        text: &str,
        module: Option<PathBuf>,
        pin_file: Option<PathBuf>,
    ) -> Result<Pkcs11Section, ConfigError> {
        use otaseal_keys::pkcs11::Pkcs11Uri;
        let (token, uri_module, uri_pin) = if Pkcs11Uri::is_uri(text) {
            let uri = Pkcs11Uri::parse(text).map_err(cfg_err)?;
            if uri.pin_value.is_some() {
                return Err(cfg_err(
                    "the PKCS#11 URI holds pin-value: give the PIN in a file (pin-source= or \
                     --pkcs11-pin-file) or OTASEAL_PKCS11_PIN, never in the configuration",
                ));
            }
            if uri.object.is_some() || uri.id.is_some() {
                return Err(cfg_err(
                    "the PKCS#11 URI names a key object: name the token only (the service \
                     generates and names its own keys)",
                ));
            }
            let token = uri
                .token
                .clone()
                .ok_or_else(|| cfg_err("the PKCS#11 URI names no token (token=LABEL)"))?;
            (token, uri.module_path, uri.pin_source)
        } else {
            (text.to_string(), None, None)
        };
        if token.is_empty() {
            return Err(cfg_err("empty PKCS#11 token label"));
        }
        Ok(Pkcs11Section {
            module: module.or(uri_module),
            token,
            pin_file: pin_file.or(uri_pin),
        })
    }

    /// The token, paths resolved by `resolve` (against the configuration
    /// file's directory).
    pub fn token_keys(&self, resolve: impl Fn(&Path) -> PathBuf) -> TokenKeys {
        TokenKeys::new(
            self.module.as_deref().map(&resolve),
            &self.token,
            self.pin_file.as_deref().map(&resolve),
        )
    }
}

fn d_token() -> u64 {
    3600
}
fn d_sad() -> u64 {
    300
}
fn d_pin() -> u32 {
    3
}
fn d_renew() -> u64 {
    60
}
fn d_body() -> usize {
    1024 * 1024
}

/// The configuration file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `HOST:PORT` (plain HTTP only on loopback).
    pub listen: String,
    /// The store: a SQLite file path (optionally `sqlite:PATH`), or a
    /// PostgreSQL URL `postgres://user[:password]@host:port/db` for several
    /// instances on one database.
    pub database: String,
    /// Master key file (64 hex digits, mode 0600).
    pub master_key_file: PathBuf,
    /// HTTPS certificate and key.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// `info.name`.
    #[serde(default)]
    pub name: Option<String>,
    /// Bearer token lifetime.
    #[serde(default = "d_token")]
    pub token_lifetime_secs: u64,
    /// SAD lifetime.
    #[serde(default = "d_sad")]
    pub sad_lifetime_secs: u64,
    /// Wrong PINs before lockout.
    #[serde(default = "d_pin")]
    pub max_pin_attempts: u32,
    /// Renewal task period.
    #[serde(default = "d_renew")]
    pub renew_interval_secs: u64,
    /// Largest request body.
    #[serde(default = "d_body")]
    pub max_body: usize,
    /// Serial number file of `signatures/timestamp` (served when set).
    #[serde(default)]
    pub tsa_serial_store: Option<PathBuf>,
    /// Credential certificates from an external CA command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_ca: Option<crate::external_ca::ExternalCa>,
    /// Keys in a PKCS#11 token (for the suites it offers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkcs11: Option<Pkcs11Section>,
    /// Directory of the file (paths are relative to it).
    #[serde(skip)]
    pub base: PathBuf,
}

impl Config {
    /// Reads a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| cfg_err(format!("{}: {e}", path.display())))?;
        let mut c: Config =
            serde_json::from_str(&text).map_err(|e| cfg_err(format!("{}: {e}", path.display())))?;
        c.base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(c)
    }

    /// A path of the file, resolved against its directory.
    pub fn path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }

    /// Where the store is.
    pub fn store_location(&self) -> Result<Location, ConfigError> {
        Location::parse(&self.database, &self.base).map_err(cfg_err)
    }

    /// Opens the store (applying migrations).
    pub fn open_store(&self) -> Result<Store, ConfigError> {
        let location = self.store_location()?;
        Store::open_location(&location).map_err(|e| cfg_err(format!("{location}: {e}")))
    }

    /// Opens the store and master key and builds the service.
    pub fn open_service(&self, clock: Arc<dyn Clock>) -> Result<Service, ConfigError> {
        let store = self.open_store()?;
        let master = MasterKey::load(&self.path(&self.master_key_file)).map_err(cfg_err)?;
        let mut service = Service::new(
            store,
            master,
            clock,
            Policy {
                name: self.name.clone().unwrap_or_else(|| Policy::default().name),
                token_lifetime_secs: self.token_lifetime_secs,
                sad_lifetime_secs: self.sad_lifetime_secs,
                max_pin_attempts: self.max_pin_attempts,
            },
        );
        if let Some(ext) = &self.external_ca {
            if ext.command.is_empty() {
                return Err(cfg_err("external_ca.command is empty"));
            }
            service.set_external_ca(ext.clone());
        }
        if let Some(p) = &self.pkcs11 {
            service.set_token_keys(p.token_keys(|q| self.path(q)));
        }
        if let Some(serials) = &self.tsa_serial_store {
            service
                .enable_timestamps(&self.path(serials))
                .map_err(|e| cfg_err(format!("signatures/timestamp: {e}")))?;
        }
        Ok(service)
    }

    /// Server limits from the file.
    pub fn server_config(&self) -> ServerConfig {
        ServerConfig {
            max_body: self.max_body,
            renew_interval: std::time::Duration::from_secs(self.renew_interval_secs.max(1)),
            ..ServerConfig::default()
        }
    }

    /// TLS files, resolved.
    pub fn tls_files(&self) -> Option<TlsFiles> {
        self.tls.as_ref().map(|t| TlsFiles {
            cert_chain_pem: self.path(&t.cert_chain_pem),
            key_pem: self.path(&t.key_pem),
        })
    }
}

/// What `otaseal csc init` makes.
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// One credential per suite.
    pub suites: Vec<Suite>,
    /// Issuing CA suite.
    pub ca_suite: Suite,
    /// The first client.
    pub client_id: String,
    /// SCAL of the credentials.
    pub scal: u8,
    /// PIN of the credentials.
    pub pin: Option<Zeroizing<String>>,
    /// Certificate validity.
    pub validity_secs: u64,
    /// Renew-before.
    pub renew_before_secs: u64,
    /// Listen address written to the config.
    pub listen: String,
    /// Requests per minute of the client.
    pub rate_per_minute: u32,
    /// Signatures per authorization.
    pub multisign: u32,
    /// Clock (tests start in the past or future).
    pub now: u64,
    /// The store written to the config: `None` for `csc.db` in the
    /// directory, or a PostgreSQL URL (its database must exist and be empty
    /// of otaseal tables).
    pub database: Option<String>,
    /// A PKCS#11 token for the keys of the suites it offers (written to
    /// the configuration as the `pkcs11` section; relative paths are taken
    /// from the current directory and written absolute).
    pub pkcs11: Option<Pkcs11Section>,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            suites: vec![Suite::EcdsaP256, Suite::Sm2],
            ca_suite: Suite::EcdsaP256,
            client_id: "build".into(),
            scal: 1,
            pin: None,
            validity_secs: 47 * 86400,
            renew_before_secs: 15 * 86400,
            listen: "127.0.0.1:8780".into(),
            rate_per_minute: 6000,
            multisign: 1000,
            now: auth::SystemClock.now(),
            database: None,
            pkcs11: None,
        }
    }
}

/// Files written by [`init`].
#[derive(Clone, Debug)]
pub struct InitReport {
    /// Configuration file.
    pub config: PathBuf,
    /// CA certificate (the trust anchor for verification).
    pub ca_pem: PathBuf,
    /// The client's secret (0600).
    pub secret_file: PathBuf,
    /// Client id.
    pub client_id: String,
    /// Credential ids, one per suite.
    pub credentials: Vec<String>,
    /// Keys made in the PKCS#11 token: `ca` and credential ids (the others
    /// are in the software store).
    pub in_token: Vec<String>,
}

fn write_secret(path: &Path, text: &str) -> Result<(), ConfigError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| cfg_err(format!("{}: {e}", path.display())))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| cfg_err(format!("{}: {e}", path.display())))
}

/// Credential id for a suite made by `init`.
pub fn credential_id(suite: Suite) -> String {
    format!("signer-{}", suite.name())
}

/// Creates a configuration, master key, database with CA, credentials and
/// one client in `dir` (which must be empty or absent).
pub fn init(dir: &Path, o: &InitOptions) -> Result<InitReport, ConfigError> {
    if dir.exists()
        && std::fs::read_dir(dir)
            .map_err(|e| cfg_err(format!("{}: {e}", dir.display())))?
            .next()
            .is_some()
    {
        return Err(cfg_err(format!(
            "{} is not empty; choose a new directory",
            dir.display()
        )));
    }
    for s in &o.suites {
        if crate::keystore::prehash_len(*s).is_none() {
            return Err(cfg_err(format!(
                "{} cannot be signed from a hash, so a CSC credential cannot use it",
                s.name()
            )));
        }
    }
    // Relative paths in the configuration are read against its directory.
    let pkcs11 = match &o.pkcs11 {
        None => None,
        Some(p) => {
            let cwd =
                std::env::current_dir().map_err(|e| cfg_err(format!("current directory: {e}")))?;
            let abs = |q: &Path| cwd.join(q);
            Some(Pkcs11Section {
                module: p.module.as_deref().map(abs),
                token: p.token.clone(),
                pin_file: p.pin_file.as_deref().map(abs),
            })
        }
    };
    std::fs::create_dir_all(dir).map_err(|e| cfg_err(format!("{}: {e}", dir.display())))?;
    let master = MasterKey::generate().map_err(cfg_err)?;
    master.write_new(&dir.join("master.key")).map_err(cfg_err)?;
    let keys = match &pkcs11 {
        None => KeyStore::software(master),
        Some(p) => KeyStore::with_token(master, p.token_keys(Path::to_path_buf)),
    };
    let database = o.database.clone().unwrap_or_else(|| "csc.db".into());
    let location = Location::parse(&database, dir).map_err(cfg_err)?;
    let store = Store::open_location(&location).map_err(|e| cfg_err(format!("{location}: {e}")))?;
    if store.ca().map_err(cfg_err)?.is_some() {
        return Err(cfg_err(format!(
            "{location} already holds a CSC service; choose a new database"
        )));
    }
    let ca = Ca {
        store: &store,
        keys: &keys,
        external: None,
    };
    let ca_cert = ca
        .init(
            o.ca_suite,
            "otaseal CSC issuing CA",
            o.now,
            10 * 365 * 86400,
        )
        .map_err(cfg_err)?;
    ca.init_tsa(o.ca_suite, o.now, 10 * 365 * 86400)
        .map_err(cfg_err)?;
    let ca_pem = dir.join("ca.pem");
    std::fs::write(&ca_pem, otaseal_sign::pki::certs_to_pem(&[ca_cert]))
        .map_err(|e| cfg_err(format!("{}: {e}", ca_pem.display())))?;
    let pin_hash = match &o.pin {
        Some(p) => Some(auth::hash_secret(p).map_err(cfg_err)?),
        None => None,
    };
    let secret = auth::random_token().map_err(cfg_err)?;
    store
        .put_client(&ClientRow {
            id: o.client_id.clone(),
            secret_hash: auth::hash_secret(&secret).map_err(cfg_err)?,
            rate_per_minute: o.rate_per_minute,
        })
        .map_err(cfg_err)?;
    let secret_file = dir.join(format!("{}.secret", o.client_id));
    write_secret(&secret_file, &format!("{}\n", &*secret))?;
    let mut credentials = Vec::new();
    for suite in &o.suites {
        let id = credential_id(*suite);
        ca.create_credential(
            &CredentialSpec {
                id: id.clone(),
                suite: *suite,
                scal: o.scal,
                pin_hash: pin_hash.clone(),
                totp_secret: None,
                subject_cn: format!("otaseal CSC signer {}", suite.name()),
                validity_secs: o.validity_secs,
                renew_before_secs: o.renew_before_secs,
                multisign: o.multisign,
            },
            o.now,
        )
        .map_err(cfg_err)?;
        store.grant(&o.client_id, &id).map_err(cfg_err)?;
        credentials.push(id);
    }
    let mut in_token = Vec::new();
    if store
        .ca()
        .map_err(cfg_err)?
        .is_some_and(|c| c.key_ref.is_some())
    {
        in_token.push("ca".to_string());
    }
    for id in &credentials {
        let gens = store.generations(id).map_err(cfg_err)?;
        if gens.last().is_some_and(|g| g.key_ref.is_some()) {
            in_token.push(id.clone());
        }
    }
    let config = Config {
        listen: o.listen.clone(),
        database,
        master_key_file: "master.key".into(),
        tls: None,
        name: None,
        token_lifetime_secs: d_token(),
        sad_lifetime_secs: d_sad(),
        max_pin_attempts: d_pin(),
        renew_interval_secs: d_renew(),
        max_body: d_body(),
        tsa_serial_store: Some("tsa.serials".into()),
        external_ca: None,
        pkcs11,
        base: PathBuf::new(),
    };
    let config_path = dir.join("config.json");
    let text = serde_json::to_string_pretty(&config).map_err(cfg_err)?;
    std::fs::write(&config_path, format!("{text}\n"))
        .map_err(|e| cfg_err(format!("{}: {e}", config_path.display())))?;
    Ok(InitReport {
        config: config_path,
        ca_pem,
        secret_file,
        client_id: o.client_id.clone(),
        credentials,
        in_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs11_token_from_a_label_or_a_uri() {
        let s = Pkcs11Section::from_token_arg("csc", None, Some("pin".into())).unwrap();
        assert_eq!(s.token, "csc");
        assert_eq!(s.pin_file.as_deref(), Some(Path::new("pin")));
        let s = Pkcs11Section::from_token_arg(
            "pkcs11:token=my%20hsm?module-path=/m.so&pin-source=/run/pin",
            None,
            None,
        )
        .unwrap();
        assert_eq!(s.token, "my hsm");
        assert_eq!(s.module.as_deref(), Some(Path::new("/m.so")));
        assert_eq!(s.pin_file.as_deref(), Some(Path::new("/run/pin")));
        // Options given on their own win over the URI's.
        let s = Pkcs11Section::from_token_arg(
            "pkcs11:token=t?module-path=/m.so",
            Some("/other.so".into()),
            None,
        )
        .unwrap();
        assert_eq!(s.module.as_deref(), Some(Path::new("/other.so")));
        // The PIN never goes into the configuration; the service names its
        // own objects; a token is needed.
        for bad in [
            "pkcs11:token=t?pin-value=4711",
            "pkcs11:token=t;object=k",
            "pkcs11:token=t;id=%01",
            "pkcs11:object=k",
            "",
        ] {
            assert!(
                Pkcs11Section::from_token_arg(bad, None, None).is_err(),
                "{bad}"
            );
        }
        let e = Pkcs11Section::from_token_arg("pkcs11:token=t?pin-value=4711", None, None)
            .unwrap_err()
            .to_string();
        assert!(!e.contains("4711"), "{e}");
    }

    #[test]
    fn the_pkcs11_section_round_trips_and_refuses_unknown_keys() {
        let text = r#"{"listen":"127.0.0.1:1","database":"csc.db","master_key_file":"m",
            "pkcs11":{"module":"/m.so","token":"csc","pin_file":"hsm.pin"}}"#;
        let c: Config = serde_json::from_str(text).unwrap();
        assert_eq!(
            c.pkcs11,
            Some(Pkcs11Section {
                module: Some("/m.so".into()),
                token: "csc".into(),
                pin_file: Some("hsm.pin".into()),
            })
        );
        let bad = text.replace("pin_file", "pin");
        assert!(serde_json::from_str::<Config>(&bad).is_err());
    }
}
