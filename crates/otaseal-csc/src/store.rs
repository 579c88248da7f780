//! Persistent state of the service: clients, grants, credentials, key
//! generations (wrapped keys and certificates), the issuing CA, bearer
//! tokens, SADs and the audit log.
//!
//! Two backends behind one [`Store`]: one SQLite file (the default, one
//! instance) and PostgreSQL (module `postgres`; several instances behind a
//! load balancer on one database). The configuration's `database` chooses:
//! a `postgres://` / `postgresql://` URL, otherwise a file path (an optional
//! `sqlite:` prefix is accepted).
//!
//! # Why rusqlite and rust-postgres
//! rusqlite (with SQLite compiled in, `bundled`) is the maintained,
//! synchronous SQLite binding; `postgres` (rust-postgres) is the maintained
//! synchronous PostgreSQL client of the same shape. The service's handlers
//! already run on tokio's blocking pool (signing is CPU work), so an async
//! driver (sqlx) would add a second runtime layer and a much larger tree for
//! no gain.
//!
//! # Durability
//! SQLite: WAL journal with `synchronous = FULL`: a transaction that
//! returned is on disk, so an audit record committed before a signature is
//! answered survives `kill -9` and power loss. PostgreSQL: a commit that
//! returned is durable under the server's (default) `synchronous_commit`.
//! Schema changes are numbered migrations, tracked in `PRAGMA user_version`
//! (SQLite) or the `otaseal_schema` table (PostgreSQL).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

mod postgres;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

/// Errors of the store.
#[derive(Debug)]
pub enum StoreError {
    /// SQLite failed.
    Db(rusqlite::Error),
    /// PostgreSQL failed.
    Pg(::postgres::Error),
    /// The `database` setting is not a path or a PostgreSQL URL.
    Location(String),
    /// The database was made by a newer otaseal.
    SchemaTooNew(i64),
    /// A row is inconsistent.
    Corrupt(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Db(e) => write!(f, "database: {e}"),
            StoreError::Pg(e) => write!(f, "PostgreSQL: {e}"),
            StoreError::Location(m) => write!(f, "database setting: {m}"),
            StoreError::SchemaTooNew(v) => write!(
                f,
                "database schema version {v} is newer than this otaseal understands"
            ),
            StoreError::Corrupt(m) => write!(f, "database: {m}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Db(e)
    }
}

/// Numbered migrations; `user_version` is the number applied.
const MIGRATIONS: &[&str] = &[
    // 1: initial schema.
    "CREATE TABLE clients(
        id TEXT PRIMARY KEY,
        secret_hash TEXT NOT NULL,
        rate_per_minute INTEGER NOT NULL);
     CREATE TABLE grants(
        client_id TEXT NOT NULL REFERENCES clients(id),
        credential_id TEXT NOT NULL REFERENCES credentials(id),
        PRIMARY KEY(client_id, credential_id));
     CREATE TABLE credentials(
        id TEXT PRIMARY KEY,
        suite TEXT NOT NULL,
        scal INTEGER NOT NULL,
        pin_hash TEXT,
        totp_wrapped BLOB,
        failed_attempts INTEGER NOT NULL DEFAULT 0,
        locked INTEGER NOT NULL DEFAULT 0,
        subject_cn TEXT NOT NULL,
        validity_secs INTEGER NOT NULL,
        renew_before_secs INTEGER NOT NULL,
        multisign INTEGER NOT NULL);
     CREATE TABLE generations(
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        credential_id TEXT NOT NULL REFERENCES credentials(id),
        label TEXT NOT NULL UNIQUE,
        wrapped BLOB,
        spki BLOB NOT NULL,
        cert BLOB NOT NULL,
        serial TEXT NOT NULL,
        not_before INTEGER NOT NULL,
        not_after INTEGER NOT NULL);
     CREATE TABLE ca(
        id INTEGER PRIMARY KEY CHECK (id = 1),
        label TEXT NOT NULL,
        wrapped BLOB NOT NULL,
        spki BLOB NOT NULL,
        cert BLOB NOT NULL);
     CREATE TABLE tokens(
        token_hash BLOB PRIMARY KEY,
        client_id TEXT NOT NULL,
        expires INTEGER NOT NULL);
     CREATE TABLE sads(
        sad_hash BLOB PRIMARY KEY,
        client_id TEXT NOT NULL,
        credential_id TEXT NOT NULL,
        remaining INTEGER NOT NULL,
        hashes TEXT,
        expires INTEGER NOT NULL);
     CREATE TABLE audit(
        seq INTEGER PRIMARY KEY,
        time INTEGER NOT NULL,
        event TEXT NOT NULL,
        client TEXT NOT NULL,
        credential TEXT NOT NULL,
        serial TEXT NOT NULL,
        hash_algo TEXT NOT NULL,
        hashes TEXT NOT NULL,
        result TEXT NOT NULL,
        prev TEXT NOT NULL,
        hash TEXT NOT NULL);",
    // 2: the time-stamping key and certificate (signatures/timestamp).
    "CREATE TABLE tsa(
        id INTEGER PRIMARY KEY CHECK (id = 1),
        label TEXT NOT NULL,
        wrapped BLOB NOT NULL,
        spki BLOB NOT NULL,
        cert BLOB NOT NULL);",
    // 3: certificates from an external CA carry their own issuers.
    "ALTER TABLE generations ADD COLUMN issuers BLOB;",
    // 4: keys in a PKCS#11 token: the row names the token object (a URI
    // without PIN) instead of holding a wrapped key. The CA table's
    // `wrapped` stays NOT NULL (SQLite cannot relax it in place): empty
    // for a token key.
    "ALTER TABLE generations ADD COLUMN key_ref TEXT;
     ALTER TABLE ca ADD COLUMN key_ref TEXT;",
];

/// A client of the service.
#[derive(Clone, Debug)]
pub struct ClientRow {
    /// Client id.
    pub id: String,
    /// Argon2id PHC string of the secret.
    pub secret_hash: String,
    /// Requests per minute.
    pub rate_per_minute: u32,
}

/// A credential (a signing identity; its keys are [`GenerationRow`]s).
#[derive(Clone, Debug)]
pub struct CredentialRow {
    /// Credential id.
    pub id: String,
    /// Suite name (`Suite::name`).
    pub suite: String,
    /// 1 or 2.
    pub scal: u8,
    /// Argon2id PHC string of the PIN.
    pub pin_hash: Option<String>,
    /// TOTP secret wrapped by the master key.
    pub totp_wrapped: Option<Vec<u8>>,
    /// Consecutive wrong PIN / OTP.
    pub failed_attempts: u32,
    /// Locked after too many wrong PINs.
    pub locked: bool,
    /// Certificate subject CN.
    pub subject_cn: String,
    /// Certificate validity.
    pub validity_secs: u64,
    /// Renew this long before notAfter.
    pub renew_before_secs: u64,
    /// Signatures per SAD.
    pub multisign: u32,
}

/// One key pair of a credential and its certificate.
#[derive(Clone, Debug)]
pub struct GenerationRow {
    /// Row id (increasing: newer generations have larger ids).
    pub id: i64,
    /// Credential.
    pub credential_id: String,
    /// Key label (wrapping AAD).
    pub label: String,
    /// Wrapped private key (software store); `None` for a token key and
    /// once retired.
    pub wrapped: Option<Vec<u8>>,
    /// The key in the PKCS#11 token (URI with token, object label and id;
    /// no module, no PIN); `None` for a software key and once retired.
    pub key_ref: Option<String>,
    /// SPKI DER.
    pub spki: Vec<u8>,
    /// Certificate DER.
    pub cert: Vec<u8>,
    /// Serial, hex.
    pub serial: String,
    /// notBefore, Unix seconds.
    pub not_before: u64,
    /// notAfter, Unix seconds.
    pub not_after: u64,
    /// Issuer certificates (PEM) when an external CA issued `cert`; `None`
    /// for the service's own CA.
    pub issuers: Option<Vec<u8>>,
}

impl GenerationRow {
    /// Whether the generation's private key still exists (in the software
    /// store or the token).
    pub fn has_key(&self) -> bool {
        self.wrapped.is_some() || self.key_ref.is_some()
    }
}

/// The issuing CA (and, in its own table, the time-stamping key).
#[derive(Clone, Debug)]
pub struct CaRow {
    /// Key label.
    pub label: String,
    /// Wrapped key; empty for a token key.
    pub wrapped: Vec<u8>,
    /// The CA key in the PKCS#11 token (see [`GenerationRow::key_ref`]);
    /// always `None` for the time-stamping key, which stays in software
    /// (otaseal-tsa's authority signs with a software key).
    pub key_ref: Option<String>,
    /// SPKI DER.
    pub spki: Vec<u8>,
    /// Self-signed certificate DER.
    pub cert: Vec<u8>,
}

/// An outstanding signature activation.
#[derive(Clone, Debug)]
pub struct SadRow {
    /// Client.
    pub client_id: String,
    /// Credential.
    pub credential_id: String,
    /// Signatures left.
    pub remaining: u32,
    /// SCAL 2: the Base64 hashes still authorized.
    pub hashes: Option<Vec<String>>,
    /// Unix seconds.
    pub expires: u64,
}

/// Why a SAD was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub enum SadRejection {
    /// Unknown (never issued, or used up and removed).
    Unknown,
    /// For another client or credential.
    WrongBinding,
    /// Past its lifetime.
    Expired,
    /// Fewer signatures left than asked for.
    UsedUp,
    /// A hash not authorized (SCAL 2).
    HashNotAuthorized,
}

/// One audit record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRow {
    /// Sequence number from 1.
    pub seq: i64,
    /// Unix seconds.
    pub time: u64,
    /// `login`, `token`, `authorize`, `signHash`, `renew`, ...
    pub event: String,
    /// Client id (or `-`).
    pub client: String,
    /// Credential id (or `-`).
    pub credential: String,
    /// Certificate serial (or `-`).
    pub serial: String,
    /// Hash algorithm OID (or `-`).
    pub hash_algo: String,
    /// Base64 hashes, comma separated.
    pub hashes: String,
    /// `ok` or the error code.
    pub result: String,
    /// Hash of the previous record (hex).
    pub prev: String,
    /// Hash of this record (hex).
    pub hash: String,
}

fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Where the store lives (the configuration's `database`).
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgres://user@host:port/db`).
    Postgres(String),
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for Location {
    /// The location for messages: a PostgreSQL URL without its password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(p) => write!(f, "{}", p.display()),
            Location::Postgres(url) => f.write_str(&postgres::redact(url)),
        }
    }
}

impl Location {
    /// Parses a `database` setting; relative SQLite paths are resolved
    /// against `base` (the configuration file's directory).
    pub fn parse(setting: &str, base: &Path) -> Result<Location, StoreError> {
        if setting.starts_with("postgres://") || setting.starts_with("postgresql://") {
            return Ok(Location::Postgres(setting.to_string()));
        }
        let path = setting.strip_prefix("sqlite:").unwrap_or(setting);
        if path.is_empty() {
            return Err(StoreError::Location("empty database path".into()));
        }
        if path.contains("://") {
            return Err(StoreError::Location(format!(
                "unknown database scheme in {:?} (a file path, sqlite:PATH or postgres://...)",
                path.split("://").next().unwrap_or_default()
            )));
        }
        let p = Path::new(path);
        Ok(Location::Sqlite(if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }))
    }
}

enum Backend {
    Sqlite(Sqlite),
    Postgres(Box<postgres::Postgres>),
}

/// The store: SQLite or PostgreSQL.
pub struct Store {
    backend: Backend,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.backend {
            Backend::Sqlite(_) => "Store(SQLite)",
            Backend::Postgres(_) => "Store(PostgreSQL)",
        })
    }
}

/// Held while one instance renews certificates; dropping it lets the next.
pub struct RenewalGuard {
    _pg: Option<postgres::SessionLock>,
}

macro_rules! dispatch {
    ($(#[$m:meta])* fn $name:ident(&self $(, $a:ident: $t:ty)*) -> $r:ty;) => {
        $(#[$m])*
        pub fn $name(&self $(, $a: $t)*) -> $r {
            match &self.backend {
                Backend::Sqlite(b) => b.$name($($a),*),
                Backend::Postgres(b) => b.$name($($a),*),
            }
        }
    };
}

impl Store {
    /// Opens (creating if needed) the SQLite file and applies migrations.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Ok(Store {
            backend: Backend::Sqlite(Sqlite::open(path)?),
        })
    }

    /// Opens the store at `location` and applies migrations.
    pub fn open_location(location: &Location) -> Result<Store, StoreError> {
        match location {
            Location::Sqlite(p) => Store::open(p),
            Location::Postgres(url) => Ok(Store {
                backend: Backend::Postgres(Box::new(postgres::Postgres::connect(url)?)),
            }),
        }
    }

    /// An in-memory SQLite store (unit tests).
    pub fn open_in_memory() -> Result<Store, StoreError> {
        Ok(Store {
            backend: Backend::Sqlite(Sqlite::init(Connection::open_in_memory()?)?),
        })
    }

    /// Whether this is the PostgreSQL backend.
    pub fn is_postgres(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// Waits until no other instance renews certificates (PostgreSQL: a
    /// session advisory lock on a connection of its own), so one renewal
    /// pass runs at a time over the database. SQLite serves one instance,
    /// whose server never runs two passes at once.
    pub fn renewal_lock(&self) -> Result<RenewalGuard, StoreError> {
        Ok(RenewalGuard {
            _pg: match &self.backend {
                Backend::Sqlite(_) => None,
                Backend::Postgres(b) => Some(b.renewal_lock()?),
            },
        })
    }

    dispatch! { /// Adds or replaces a client.
    fn put_client(&self, c: &ClientRow) -> Result<(), StoreError>; }
    dispatch! { /// A client by id.
    fn client(&self, id: &str) -> Result<Option<ClientRow>, StoreError>; }
    dispatch! { /// Lets `client` use `credential`.
    fn grant(&self, client: &str, credential: &str) -> Result<(), StoreError>; }
    dispatch! { /// Whether `client` may use `credential`.
    fn is_granted(&self, client: &str, credential: &str) -> Result<bool, StoreError>; }
    dispatch! { /// Credentials `client` may use, sorted.
    fn granted(&self, client: &str) -> Result<Vec<String>, StoreError>; }
    dispatch! { /// Adds a credential (fails if the id exists).
    fn insert_credential(&self, c: &CredentialRow) -> Result<(), StoreError>; }
    dispatch! { /// A credential by id.
    fn credential(&self, id: &str) -> Result<Option<CredentialRow>, StoreError>; }
    dispatch! { /// Every credential.
    fn credentials(&self) -> Result<Vec<CredentialRow>, StoreError>; }
    dispatch! { /// Records a wrong PIN / OTP; locks the credential at `max`.
    /// Returns whether it is now locked.
    fn record_auth_failure(&self, id: &str, max: u32) -> Result<bool, StoreError>; }
    dispatch! { /// Resets the wrong-PIN counter (after a correct PIN).
    fn reset_auth_failures(&self, id: &str) -> Result<(), StoreError>; }
    dispatch! { /// Unlocks a credential (administrator action).
    fn unlock(&self, id: &str) -> Result<(), StoreError>; }
    dispatch! { /// Adds a key generation; returns its id.
    fn insert_generation(&self, g: &GenerationRow) -> Result<i64, StoreError>; }
    dispatch! { /// Generations of a credential, oldest first.
    fn generations(&self, credential: &str) -> Result<Vec<GenerationRow>, StoreError>; }
    dispatch! { /// Destroys a generation's wrapped key and forgets its token key
    /// (its certificate stays; destroy the token objects first).
    fn retire_key(&self, generation: i64) -> Result<(), StoreError>; }
    dispatch! { /// Stores the issuing CA (once).
    fn put_ca(&self, ca: &CaRow) -> Result<(), StoreError>; }
    dispatch! { /// The issuing CA.
    fn ca(&self) -> Result<Option<CaRow>, StoreError>; }
    dispatch! { /// Stores the time-stamping key and certificate (once).
    fn put_tsa(&self, tsa: &CaRow) -> Result<(), StoreError>; }
    dispatch! { /// The time-stamping key and certificate.
    fn tsa(&self) -> Result<Option<CaRow>, StoreError>; }
    dispatch! { /// Stores a bearer token (by its hash).
    fn put_token(&self, hash: &[u8], client: &str, expires: u64) -> Result<(), StoreError>; }
    dispatch! { /// The client of a token that has not expired at `now`.
    fn token_client(&self, hash: &[u8], now: u64) -> Result<Option<String>, StoreError>; }
    dispatch! { /// Revokes a token; returns whether it existed for `client`.
    fn delete_token(&self, hash: &[u8], client: &str) -> Result<bool, StoreError>; }
    dispatch! { /// Removes expired tokens and SADs.
    fn purge(&self, now: u64) -> Result<(), StoreError>; }
    dispatch! { /// Stores a SAD (by its hash).
    fn put_sad(&self, hash: &[u8], sad: &SadRow) -> Result<(), StoreError>; }
    dispatch! { /// Checks and consumes a SAD for `hashes` in one transaction: the
    /// SAD must belong to `client` and `credential`, be unexpired at
    /// `now`, have `hashes.len()` signatures left and (SCAL 2) list every
    /// hash, each used at most once. Concurrent calls (also from other
    /// instances) never spend more than the SAD allows.
    fn consume_sad(
        &self,
        sad_hash: &[u8],
        client: &str,
        credential: &str,
        hashes: &[String],
        now: u64
    ) -> Result<Result<(), SadRejection>, StoreError>; }
    dispatch! { /// Replaces a valid SAD by a new one with a new lifetime
    /// (`credentials/extendTransaction`).
    fn extend_sad(
        &self,
        old: &[u8],
        new: &[u8],
        client: &str,
        credential: &str,
        now: u64,
        expires: u64
    ) -> Result<Result<(), SadRejection>, StoreError>; }
    dispatch! { /// Every audit record in sequence order.
    fn audit_records(&self) -> Result<Vec<AuditRow>, StoreError>; }

    /// Appends an audit record: reads the chain head and inserts in one
    /// transaction that excludes every other append (SQLite `BEGIN
    /// IMMEDIATE`; PostgreSQL a transaction advisory lock), so concurrent
    /// appends, also from other instances, stay one chain. `make` gets
    /// `(seq, prev)` and returns the record with its hash.
    pub fn append_audit(
        &self,
        make: impl FnOnce(i64, &str) -> AuditRow,
    ) -> Result<AuditRow, StoreError> {
        match &self.backend {
            Backend::Sqlite(b) => b.append_audit(make),
            Backend::Postgres(b) => b.append_audit(make),
        }
    }
}

/// The SAD checks shared by both backends; on success `sad` holds what is
/// left.
fn spend_sad(
    sad: &mut SadRow,
    client: &str,
    credential: &str,
    hashes: &[String],
    now: u64,
) -> Result<(), SadRejection> {
    if sad.client_id != client || sad.credential_id != credential {
        return Err(SadRejection::WrongBinding);
    }
    if sad.expires <= now {
        return Err(SadRejection::Expired);
    }
    let n = u32::try_from(hashes.len()).unwrap_or(u32::MAX);
    if n > sad.remaining {
        return Err(SadRejection::UsedUp);
    }
    if let Some(allowed) = &mut sad.hashes {
        for h in hashes {
            match allowed.iter().position(|a| a == h) {
                Some(p) => {
                    allowed.swap_remove(p);
                }
                None => return Err(SadRejection::HashNotAuthorized),
            }
        }
    }
    sad.remaining -= n;
    Ok(())
}

/// The SQLite backend.
struct Sqlite {
    conn: Mutex<Connection>,
}

impl Sqlite {
    fn open(path: &Path) -> Result<Sqlite, StoreError> {
        let conn = Connection::open(path)?;
        Sqlite::init(conn)
    }

    fn init(mut conn: Connection) -> Result<Sqlite, StoreError> {
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
        if version > known {
            return Err(StoreError::SchemaTooNew(version));
        }
        for (n, sql) in MIGRATIONS.iter().enumerate().skip(u(version) as usize) {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute_batch(sql)?;
            tx.pragma_update(
                None,
                "user_version",
                i64::try_from(n + 1).unwrap_or(i64::MAX),
            )?;
            tx.commit()?;
        }
        Ok(Sqlite {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds or replaces a client.
    fn put_client(&self, c: &ClientRow) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT OR REPLACE INTO clients(id, secret_hash, rate_per_minute) VALUES (?1, ?2, ?3)",
            params![c.id, c.secret_hash, c.rate_per_minute],
        )?;
        Ok(())
    }

    /// A client by id.
    fn client(&self, id: &str) -> Result<Option<ClientRow>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT id, secret_hash, rate_per_minute FROM clients WHERE id = ?1",
                [id],
                |r| {
                    Ok(ClientRow {
                        id: r.get(0)?,
                        secret_hash: r.get(1)?,
                        rate_per_minute: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    /// Lets `client` use `credential`.
    fn grant(&self, client: &str, credential: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT OR IGNORE INTO grants(client_id, credential_id) VALUES (?1, ?2)",
            [client, credential],
        )?;
        Ok(())
    }

    /// Whether `client` may use `credential`.
    fn is_granted(&self, client: &str, credential: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT 1 FROM grants WHERE client_id = ?1 AND credential_id = ?2",
                [client, credential],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Credentials `client` may use, sorted.
    fn granted(&self, client: &str) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut st = conn.prepare(
            "SELECT credential_id FROM grants WHERE client_id = ?1 ORDER BY credential_id",
        )?;
        let rows = st.query_map([client], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Adds a credential (fails if the id exists).
    fn insert_credential(&self, c: &CredentialRow) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO credentials(id, suite, scal, pin_hash, totp_wrapped, failed_attempts,
                locked, subject_cn, validity_secs, renew_before_secs, multisign)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                c.id,
                c.suite,
                c.scal,
                c.pin_hash,
                c.totp_wrapped,
                c.failed_attempts,
                c.locked,
                c.subject_cn,
                i(c.validity_secs),
                i(c.renew_before_secs),
                c.multisign
            ],
        )?;
        Ok(())
    }

    /// A credential by id.
    fn credential(&self, id: &str) -> Result<Option<CredentialRow>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT id, suite, scal, pin_hash, totp_wrapped, failed_attempts, locked,
                    subject_cn, validity_secs, renew_before_secs, multisign
                 FROM credentials WHERE id = ?1",
                [id],
                credential_row,
            )
            .optional()?)
    }

    /// Every credential.
    fn credentials(&self) -> Result<Vec<CredentialRow>, StoreError> {
        let conn = self.conn();
        let mut st = conn.prepare(
            "SELECT id, suite, scal, pin_hash, totp_wrapped, failed_attempts, locked,
                subject_cn, validity_secs, renew_before_secs, multisign
             FROM credentials ORDER BY id",
        )?;
        let rows = st.query_map([], credential_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records a wrong PIN / OTP; locks the credential at `max`. Returns
    /// whether it is now locked.
    fn record_auth_failure(&self, id: &str, max: u32) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "UPDATE credentials SET failed_attempts = failed_attempts + 1,
                locked = CASE WHEN failed_attempts + 1 >= ?2 THEN 1 ELSE locked END
             WHERE id = ?1",
            params![id, max],
        )?;
        let locked: bool =
            tx.query_row("SELECT locked FROM credentials WHERE id = ?1", [id], |r| {
                r.get(0)
            })?;
        tx.commit()?;
        Ok(locked)
    }

    /// Resets the wrong-PIN counter (after a correct PIN).
    fn reset_auth_failures(&self, id: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE credentials SET failed_attempts = 0 WHERE id = ?1 AND locked = 0",
            [id],
        )?;
        Ok(())
    }

    /// Unlocks a credential (administrator action).
    fn unlock(&self, id: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE credentials SET failed_attempts = 0, locked = 0 WHERE id = ?1",
            [id],
        )?;
        Ok(())
    }

    /// Adds a key generation.
    fn insert_generation(&self, g: &GenerationRow) -> Result<i64, StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO generations(credential_id, label, wrapped, spki, cert, serial,
                not_before, not_after, issuers, key_ref)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                g.credential_id,
                g.label,
                g.wrapped,
                g.spki,
                g.cert,
                g.serial,
                i(g.not_before),
                i(g.not_after),
                g.issuers,
                g.key_ref
            ],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// Generations of a credential, oldest first.
    fn generations(&self, credential: &str) -> Result<Vec<GenerationRow>, StoreError> {
        let conn = self.conn();
        let mut st = conn.prepare(
            "SELECT id, credential_id, label, wrapped, spki, cert, serial, not_before, not_after,
                issuers, key_ref FROM generations WHERE credential_id = ?1 ORDER BY id",
        )?;
        let rows = st.query_map([credential], |r| {
            Ok(GenerationRow {
                id: r.get(0)?,
                credential_id: r.get(1)?,
                label: r.get(2)?,
                wrapped: r.get(3)?,
                spki: r.get(4)?,
                cert: r.get(5)?,
                serial: r.get(6)?,
                not_before: u(r.get(7)?),
                not_after: u(r.get(8)?),
                issuers: r.get(9)?,
                key_ref: r.get(10)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Destroys a generation's wrapped key and forgets its token key (its
    /// certificate stays).
    fn retire_key(&self, generation: i64) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE generations SET wrapped = NULL, key_ref = NULL WHERE id = ?1",
            [generation],
        )?;
        Ok(())
    }

    /// Stores the issuing CA (once).
    fn put_ca(&self, ca: &CaRow) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO ca(id, label, wrapped, spki, cert, key_ref)
             VALUES (1, ?1, ?2, ?3, ?4, ?5)",
            params![ca.label, ca.wrapped, ca.spki, ca.cert, ca.key_ref],
        )?;
        Ok(())
    }

    /// The issuing CA.
    fn ca(&self) -> Result<Option<CaRow>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT label, wrapped, spki, cert, key_ref FROM ca WHERE id = 1",
                [],
                |r| {
                    Ok(CaRow {
                        label: r.get(0)?,
                        wrapped: r.get(1)?,
                        spki: r.get(2)?,
                        cert: r.get(3)?,
                        key_ref: r.get(4)?,
                    })
                },
            )
            .optional()?)
    }

    /// Stores the time-stamping key and certificate (once).
    fn put_tsa(&self, tsa: &CaRow) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO tsa(id, label, wrapped, spki, cert) VALUES (1, ?1, ?2, ?3, ?4)",
            params![tsa.label, tsa.wrapped, tsa.spki, tsa.cert],
        )?;
        Ok(())
    }

    /// The time-stamping key and certificate.
    fn tsa(&self) -> Result<Option<CaRow>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT label, wrapped, spki, cert FROM tsa WHERE id = 1",
                [],
                |r| {
                    Ok(CaRow {
                        label: r.get(0)?,
                        wrapped: r.get(1)?,
                        spki: r.get(2)?,
                        cert: r.get(3)?,
                        key_ref: None,
                    })
                },
            )
            .optional()?)
    }

    /// Stores a bearer token (by its hash).
    fn put_token(&self, hash: &[u8], client: &str, expires: u64) -> Result<(), StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO tokens(token_hash, client_id, expires) VALUES (?1, ?2, ?3)",
            params![hash, client, i(expires)],
        )?;
        Ok(())
    }

    /// The client of a token that has not expired at `now`.
    fn token_client(&self, hash: &[u8], now: u64) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT client_id FROM tokens WHERE token_hash = ?1 AND expires > ?2",
                params![hash, i(now)],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Revokes a token; returns whether it existed for `client`.
    fn delete_token(&self, hash: &[u8], client: &str) -> Result<bool, StoreError> {
        Ok(self.conn().execute(
            "DELETE FROM tokens WHERE token_hash = ?1 AND client_id = ?2",
            params![hash, client],
        )? > 0)
    }

    /// Removes expired tokens and SADs.
    fn purge(&self, now: u64) -> Result<(), StoreError> {
        let conn = self.conn();
        conn.execute("DELETE FROM tokens WHERE expires <= ?1", [i(now)])?;
        conn.execute("DELETE FROM sads WHERE expires <= ?1", [i(now)])?;
        Ok(())
    }

    /// Stores a SAD (by its hash).
    fn put_sad(&self, hash: &[u8], sad: &SadRow) -> Result<(), StoreError> {
        let hashes = sad
            .hashes
            .as_ref()
            .map(|h| serde_json::to_string(h).unwrap_or_default());
        self.conn().execute(
            "INSERT INTO sads(sad_hash, client_id, credential_id, remaining, hashes, expires)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                hash,
                sad.client_id,
                sad.credential_id,
                sad.remaining,
                hashes,
                i(sad.expires)
            ],
        )?;
        Ok(())
    }

    fn sad_in(tx: &rusqlite::Transaction<'_>, hash: &[u8]) -> Result<Option<SadRow>, StoreError> {
        let row = tx
            .query_row(
                "SELECT client_id, credential_id, remaining, hashes, expires FROM sads
                 WHERE sad_hash = ?1",
                [hash],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, u32>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, i64>(4)?,
                    ))
                },
            )
            .optional()?;
        let Some((client_id, credential_id, remaining, hashes, expires)) = row else {
            return Ok(None);
        };
        let hashes = match hashes {
            None => None,
            Some(text) => Some(
                serde_json::from_str::<Vec<String>>(&text)
                    .map_err(|_| StoreError::Corrupt("SAD hash list".into()))?,
            ),
        };
        Ok(Some(SadRow {
            client_id,
            credential_id,
            remaining,
            hashes,
            expires: u(expires),
        }))
    }

    /// Checks and consumes a SAD for `hashes` in one transaction: the SAD
    /// must belong to `client` and `credential`, be unexpired at `now`, have
    /// `hashes.len()` signatures left and (SCAL 2) list every hash, each
    /// used at most once.
    fn consume_sad(
        &self,
        sad_hash: &[u8],
        client: &str,
        credential: &str,
        hashes: &[String],
        now: u64,
    ) -> Result<Result<(), SadRejection>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let Some(mut sad) = Sqlite::sad_in(&tx, sad_hash)? else {
            return Ok(Err(SadRejection::Unknown));
        };
        if let Err(r) = spend_sad(&mut sad, client, credential, hashes, now) {
            return Ok(Err(r));
        }
        if sad.remaining == 0 {
            tx.execute("DELETE FROM sads WHERE sad_hash = ?1", [sad_hash])?;
        } else {
            let list = sad
                .hashes
                .as_ref()
                .map(|h| serde_json::to_string(h).unwrap_or_default());
            tx.execute(
                "UPDATE sads SET remaining = ?2, hashes = ?3 WHERE sad_hash = ?1",
                params![sad_hash, sad.remaining, list],
            )?;
        }
        tx.commit()?;
        Ok(Ok(()))
    }

    /// Replaces a valid SAD by a new one with a new lifetime
    /// (`credentials/extendTransaction`).
    fn extend_sad(
        &self,
        old: &[u8],
        new: &[u8],
        client: &str,
        credential: &str,
        now: u64,
        expires: u64,
    ) -> Result<Result<(), SadRejection>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let Some(sad) = Sqlite::sad_in(&tx, old)? else {
            return Ok(Err(SadRejection::Unknown));
        };
        if sad.client_id != client || sad.credential_id != credential {
            return Ok(Err(SadRejection::WrongBinding));
        }
        if sad.expires <= now {
            return Ok(Err(SadRejection::Expired));
        }
        tx.execute(
            "UPDATE sads SET sad_hash = ?2, expires = ?3 WHERE sad_hash = ?1",
            params![old, new, i(expires)],
        )?;
        tx.commit()?;
        Ok(Ok(()))
    }

    /// Appends an audit record: reads the chain head and inserts in one
    /// `BEGIN IMMEDIATE` transaction, so concurrent appends stay a chain.
    /// `make` gets `(seq, prev)` and returns the record with its hash.
    fn append_audit(
        &self,
        make: impl FnOnce(i64, &str) -> AuditRow,
    ) -> Result<AuditRow, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let head: Option<(i64, String)> = tx
            .query_row(
                "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let (seq, prev) = match head {
            Some((s, h)) => (s + 1, h),
            None => (1, crate::audit::GENESIS.to_string()),
        };
        let rec = make(seq, &prev);
        tx.execute(
            "INSERT INTO audit(seq, time, event, client, credential, serial, hash_algo, hashes,
                result, prev, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                rec.seq,
                i(rec.time),
                rec.event,
                rec.client,
                rec.credential,
                rec.serial,
                rec.hash_algo,
                rec.hashes,
                rec.result,
                rec.prev,
                rec.hash
            ],
        )?;
        tx.commit()?;
        Ok(rec)
    }

    /// Every audit record in sequence order.
    fn audit_records(&self) -> Result<Vec<AuditRow>, StoreError> {
        let conn = self.conn();
        let mut st = conn.prepare(
            "SELECT seq, time, event, client, credential, serial, hash_algo, hashes, result,
                prev, hash FROM audit ORDER BY seq",
        )?;
        let rows = st.query_map([], |r| {
            Ok(AuditRow {
                seq: r.get(0)?,
                time: u(r.get(1)?),
                event: r.get(2)?,
                client: r.get(3)?,
                credential: r.get(4)?,
                serial: r.get(5)?,
                hash_algo: r.get(6)?,
                hashes: r.get(7)?,
                result: r.get(8)?,
                prev: r.get(9)?,
                hash: r.get(10)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

fn credential_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CredentialRow> {
    Ok(CredentialRow {
        id: r.get(0)?,
        suite: r.get(1)?,
        scal: r.get(2)?,
        pin_hash: r.get(3)?,
        totp_wrapped: r.get(4)?,
        failed_attempts: r.get(5)?,
        locked: r.get(6)?,
        subject_cn: r.get(7)?,
        validity_secs: u(r.get(8)?),
        renew_before_secs: u(r.get(9)?),
        multisign: r.get(10)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_3_database_gains_key_ref_and_keeps_its_rows() {
        // A store made before token keys (schema 3) with one software
        // generation: it opens, and the row reads as a software key.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("csc.db");
        {
            let c = Connection::open(&p).unwrap();
            for sql in &MIGRATIONS[..3] {
                c.execute_batch(sql).unwrap();
            }
            c.pragma_update(None, "user_version", 3).unwrap();
            c.execute_batch(
                "INSERT INTO credentials(id, suite, scal, subject_cn, validity_secs,
                    renew_before_secs, multisign) VALUES ('c', 'ecdsa-p256', 1, 'cn', 1, 1, 1);
                 INSERT INTO generations(credential_id, label, wrapped, spki, cert, serial,
                    not_before, not_after) VALUES ('c', 'l', x'01', x'02', x'03', '01', 0, 9);
                 INSERT INTO ca(id, label, wrapped, spki, cert) VALUES (1, 'ca', x'01', x'02', x'03');",
            )
            .unwrap();
        }
        let store = Store::open(&p).unwrap();
        let g = store.generations("c").unwrap().remove(0);
        assert_eq!(
            (g.wrapped.as_deref(), g.key_ref.as_deref()),
            (Some(&[1u8][..]), None)
        );
        assert!(g.has_key());
        assert!(store.ca().unwrap().unwrap().key_ref.is_none());
        // Retiring clears both the wrapped key and the token reference.
        store.retire_key(g.id).unwrap();
        let g = store.generations("c").unwrap().remove(0);
        assert!(!g.has_key());
    }

    #[test]
    fn migrations_apply_once_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("csc.db");
        drop(Store::open(&p).unwrap());
        let s = Sqlite::open(&p).unwrap();
        let v: i64 = s
            .conn()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, MIGRATIONS.len() as i64);
        let mode: String = s
            .conn()
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn database_settings_choose_the_backend() {
        let base = Path::new("/etc/csc");
        assert_eq!(
            Location::parse("csc.db", base).unwrap(),
            Location::Sqlite("/etc/csc/csc.db".into())
        );
        assert_eq!(
            Location::parse("sqlite:/var/csc.db", base).unwrap(),
            Location::Sqlite("/var/csc.db".into())
        );
        let pg = Location::parse("postgres://csc:s3cret@127.0.0.1:5432/csc", base).unwrap();
        assert!(matches!(pg, Location::Postgres(_)));
        // Messages never show the password.
        assert!(!pg.to_string().contains("s3cret"), "{pg}");
        assert!(Location::parse("mysql://x", base).is_err());
        assert!(Location::parse("sqlite:", base).is_err());
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("csc.db");
        let c = Connection::open(&p).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
        drop(c);
        assert!(matches!(Store::open(&p), Err(StoreError::SchemaTooNew(99))));
    }
}
