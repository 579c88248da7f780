//! The PostgreSQL backend: several service instances on one database.
//!
//! What keeps instances correct when they share the database:
//! - audit appends take a transaction advisory lock ([`AUDIT_LOCK`]) before
//!   reading the chain head, so appends are serialized across instances and
//!   the chain stays one chain (`seq` is also the primary key, so a lost
//!   race could only fail, never fork);
//! - a SAD is read `FOR UPDATE` in the transaction that spends it, so two
//!   instances cannot both spend its last signatures;
//! - wrong-PIN counting is one `UPDATE ... RETURNING`;
//! - certificate serials are `UNIQUE`;
//! - renewal holds a session advisory lock ([`RENEW_LOCK`]) on a connection
//!   of its own for the whole pass, so one instance renews at a time and the
//!   next sees the new generation and does nothing;
//! - migrations run under a transaction advisory lock ([`MIGRATE_LOCK`]), so
//!   instances starting together apply each migration once.
//!
//! One connection per instance behind a mutex, like the SQLite backend: the
//! service's handlers run on tokio's blocking pool and a store call is a few
//! short statements.

use std::sync::Mutex;

use ::postgres::{Client, Config, NoTls, Row, Transaction};

use super::{
    AuditRow, CaRow, ClientRow, CredentialRow, GenerationRow, SadRejection, SadRow, StoreError, i,
    spend_sad, u,
};

/// Advisory lock keys ("otaseal" in ASCII, then a number).
const AUDIT_LOCK: i64 = 0x6f74_6173_6561_6c01;
const RENEW_LOCK: i64 = 0x6f74_6173_6561_6c02;
const MIGRATE_LOCK: i64 = 0x6f74_6173_6561_6c03;

impl From<::postgres::Error> for StoreError {
    fn from(e: ::postgres::Error) -> Self {
        StoreError::Pg(e)
    }
}

/// Numbered migrations; `otaseal_schema.version` is the number applied.
/// The same tables as SQLite's migrations 1 and 2, in PostgreSQL types.
const MIGRATIONS: &[&str] = &[
    // 1: SQLite's 1 and 2.
    "CREATE TABLE clients(
        id TEXT PRIMARY KEY,
        secret_hash TEXT NOT NULL,
        rate_per_minute BIGINT NOT NULL);
     CREATE TABLE credentials(
        id TEXT PRIMARY KEY,
        suite TEXT NOT NULL,
        scal BIGINT NOT NULL,
        pin_hash TEXT,
        totp_wrapped BYTEA,
        failed_attempts BIGINT NOT NULL DEFAULT 0,
        locked BOOLEAN NOT NULL DEFAULT FALSE,
        subject_cn TEXT NOT NULL,
        validity_secs BIGINT NOT NULL,
        renew_before_secs BIGINT NOT NULL,
        multisign BIGINT NOT NULL);
     CREATE TABLE grants(
        client_id TEXT NOT NULL REFERENCES clients(id),
        credential_id TEXT NOT NULL REFERENCES credentials(id),
        PRIMARY KEY(client_id, credential_id));
     CREATE TABLE generations(
        id BIGSERIAL PRIMARY KEY,
        credential_id TEXT NOT NULL REFERENCES credentials(id),
        label TEXT NOT NULL UNIQUE,
        wrapped BYTEA,
        spki BYTEA NOT NULL,
        cert BYTEA NOT NULL,
        serial TEXT NOT NULL UNIQUE,
        not_before BIGINT NOT NULL,
        not_after BIGINT NOT NULL);
     CREATE TABLE ca(
        id BIGINT PRIMARY KEY CHECK (id = 1),
        label TEXT NOT NULL,
        wrapped BYTEA NOT NULL,
        spki BYTEA NOT NULL,
        cert BYTEA NOT NULL);
     CREATE TABLE tsa(
        id BIGINT PRIMARY KEY CHECK (id = 1),
        label TEXT NOT NULL,
        wrapped BYTEA NOT NULL,
        spki BYTEA NOT NULL,
        cert BYTEA NOT NULL);
     CREATE TABLE tokens(
        token_hash BYTEA PRIMARY KEY,
        client_id TEXT NOT NULL,
        expires BIGINT NOT NULL);
     CREATE TABLE sads(
        sad_hash BYTEA PRIMARY KEY,
        client_id TEXT NOT NULL,
        credential_id TEXT NOT NULL,
        remaining BIGINT NOT NULL,
        hashes TEXT,
        expires BIGINT NOT NULL);
     CREATE TABLE audit(
        seq BIGINT PRIMARY KEY,
        time BIGINT NOT NULL,
        event TEXT NOT NULL,
        client TEXT NOT NULL,
        credential TEXT NOT NULL,
        serial TEXT NOT NULL,
        hash_algo TEXT NOT NULL,
        hashes TEXT NOT NULL,
        result TEXT NOT NULL,
        prev TEXT NOT NULL,
        hash TEXT NOT NULL);",
    // 2: certificates from an external CA carry their own issuers.
    "ALTER TABLE generations ADD COLUMN issuers BYTEA;",
    // 3: SQLite's 4: keys in a PKCS#11 token are named, not wrapped.
    "ALTER TABLE generations ADD COLUMN key_ref TEXT;
     ALTER TABLE ca ADD COLUMN key_ref TEXT;",
];

/// A URL without its password (for messages and logs).
pub(super) fn redact(url: &str) -> String {
    // scheme://user:password@host... -> scheme://user:***@host...
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (auth, tail) = match rest.find('@') {
        Some(at) if rest[..at].find('/').is_none() => (&rest[..at], &rest[at..]),
        _ => ("", rest),
    };
    let auth = match auth.split_once(':') {
        Some((user, _)) => format!("{user}:***"),
        None => auth.to_string(),
    };
    let tail = match tail.split_once("password=") {
        Some((a, b)) => {
            let end = b.find('&').map_or("", |e| &b[e..]);
            format!("{a}password=***{end}")
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{auth}{tail}")
}

/// Held for a renewal pass: the session lock lives as long as its
/// connection.
pub struct SessionLock {
    client: Option<Conn>,
}

impl Drop for SessionLock {
    fn drop(&mut self) {
        if let Some(mut c) = self.client.take() {
            // Closing the session releases the lock anyway; unlock first so
            // the next instance does not wait for the close to be noticed.
            let _ = c.execute("SELECT pg_advisory_unlock($1)", &[&RENEW_LOCK]);
        }
    }
}

pub(super) struct Postgres {
    config: Config,
    client: Mutex<Conn>,
}

/// A client that is closed off the async runtime: `postgres::Client` drives
/// its own runtime and panics when dropped on a tokio worker thread (where
/// the server's last reference to the service may go away).
struct Conn(Option<Client>);

impl std::ops::Deref for Conn {
    type Target = Client;
    fn deref(&self) -> &Client {
        match &self.0 {
            Some(c) => c,
            None => unreachable!("the client is taken only by drop"),
        }
    }
}

impl std::ops::DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut Client {
        match &mut self.0 {
            Some(c) => c,
            None => unreachable!("the client is taken only by drop"),
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(c) = self.0.take()
            && tokio::runtime::Handle::try_current().is_ok()
        {
            let _ = std::thread::spawn(move || drop(c)).join();
        }
    }
}

fn unsigned32(v: i64, what: &str) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} out of range")))
}

fn credential_row(r: &Row) -> Result<CredentialRow, StoreError> {
    Ok(CredentialRow {
        id: r.try_get(0)?,
        suite: r.try_get(1)?,
        scal: u8::try_from(r.try_get::<_, i64>(2)?)
            .map_err(|_| StoreError::Corrupt("scal out of range".into()))?,
        pin_hash: r.try_get(3)?,
        totp_wrapped: r.try_get(4)?,
        failed_attempts: unsigned32(r.try_get(5)?, "failed_attempts")?,
        locked: r.try_get(6)?,
        subject_cn: r.try_get(7)?,
        validity_secs: u(r.try_get(8)?),
        renew_before_secs: u(r.try_get(9)?),
        multisign: unsigned32(r.try_get(10)?, "multisign")?,
    })
}

fn ca_row(r: &Row) -> Result<CaRow, StoreError> {
    Ok(CaRow {
        label: r.try_get(0)?,
        wrapped: r.try_get(1)?,
        spki: r.try_get(2)?,
        cert: r.try_get(3)?,
        key_ref: r.try_get(4)?,
    })
}

impl Postgres {
    /// Connects and applies migrations.
    pub(super) fn connect(url: &str) -> Result<Postgres, StoreError> {
        let config: Config = url
            .parse()
            .map_err(|e| StoreError::Location(format!("{}: {e}", redact(url))))?;
        let mut client = config.connect(NoTls)?;
        migrate(&mut client)?;
        Ok(Postgres {
            config,
            client: Mutex::new(Conn(Some(client))),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Conn> {
        self.client
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(super) fn renewal_lock(&self) -> Result<SessionLock, StoreError> {
        let mut c = self.config.connect(NoTls)?;
        c.execute("SELECT pg_advisory_lock($1)", &[&RENEW_LOCK])?;
        Ok(SessionLock {
            client: Some(Conn(Some(c))),
        })
    }

    pub(super) fn put_client(&self, c: &ClientRow) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO clients(id, secret_hash, rate_per_minute) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET secret_hash = EXCLUDED.secret_hash,
                rate_per_minute = EXCLUDED.rate_per_minute",
            &[&c.id, &c.secret_hash, &i64::from(c.rate_per_minute)],
        )?;
        Ok(())
    }

    pub(super) fn client(&self, id: &str) -> Result<Option<ClientRow>, StoreError> {
        let Some(r) = self.conn().query_opt(
            "SELECT id, secret_hash, rate_per_minute FROM clients WHERE id = $1",
            &[&id],
        )?
        else {
            return Ok(None);
        };
        Ok(Some(ClientRow {
            id: r.try_get(0)?,
            secret_hash: r.try_get(1)?,
            rate_per_minute: unsigned32(r.try_get(2)?, "rate_per_minute")?,
        }))
    }

    pub(super) fn grant(&self, client: &str, credential: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO grants(client_id, credential_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&client, &credential],
        )?;
        Ok(())
    }

    pub(super) fn is_granted(&self, client: &str, credential: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn()
            .query_opt(
                "SELECT 1 FROM grants WHERE client_id = $1 AND credential_id = $2",
                &[&client, &credential],
            )?
            .is_some())
    }

    pub(super) fn granted(&self, client: &str) -> Result<Vec<String>, StoreError> {
        self.conn()
            .query(
                "SELECT credential_id FROM grants WHERE client_id = $1 ORDER BY credential_id",
                &[&client],
            )?
            .iter()
            .map(|r| r.try_get(0).map_err(StoreError::from))
            .collect()
    }

    pub(super) fn insert_credential(&self, c: &CredentialRow) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO credentials(id, suite, scal, pin_hash, totp_wrapped, failed_attempts,
                locked, subject_cn, validity_secs, renew_before_secs, multisign)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            &[
                &c.id,
                &c.suite,
                &i64::from(c.scal),
                &c.pin_hash,
                &c.totp_wrapped,
                &i64::from(c.failed_attempts),
                &c.locked,
                &c.subject_cn,
                &i(c.validity_secs),
                &i(c.renew_before_secs),
                &i64::from(c.multisign),
            ],
        )?;
        Ok(())
    }

    pub(super) fn credential(&self, id: &str) -> Result<Option<CredentialRow>, StoreError> {
        self.conn()
            .query_opt(
                "SELECT id, suite, scal, pin_hash, totp_wrapped, failed_attempts, locked,
                    subject_cn, validity_secs, renew_before_secs, multisign
                 FROM credentials WHERE id = $1",
                &[&id],
            )?
            .as_ref()
            .map(credential_row)
            .transpose()
    }

    pub(super) fn credentials(&self) -> Result<Vec<CredentialRow>, StoreError> {
        self.conn()
            .query(
                "SELECT id, suite, scal, pin_hash, totp_wrapped, failed_attempts, locked,
                    subject_cn, validity_secs, renew_before_secs, multisign
                 FROM credentials ORDER BY id",
                &[],
            )?
            .iter()
            .map(credential_row)
            .collect()
    }

    pub(super) fn record_auth_failure(&self, id: &str, max: u32) -> Result<bool, StoreError> {
        // One statement: concurrent wrong PINs on several instances each
        // count (the row lock orders them).
        let row = self.conn().query_opt(
            "UPDATE credentials SET failed_attempts = failed_attempts + 1,
                locked = (locked OR failed_attempts + 1 >= $2)
             WHERE id = $1 RETURNING locked",
            &[&id, &i64::from(max)],
        )?;
        match row {
            Some(r) => Ok(r.try_get(0)?),
            None => Err(StoreError::Corrupt(format!("no credential {id:?}"))),
        }
    }

    pub(super) fn reset_auth_failures(&self, id: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE credentials SET failed_attempts = 0 WHERE id = $1 AND NOT locked",
            &[&id],
        )?;
        Ok(())
    }

    pub(super) fn unlock(&self, id: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE credentials SET failed_attempts = 0, locked = FALSE WHERE id = $1",
            &[&id],
        )?;
        Ok(())
    }

    pub(super) fn insert_generation(&self, g: &GenerationRow) -> Result<i64, StoreError> {
        let r = self.conn().query_one(
            "INSERT INTO generations(credential_id, label, wrapped, spki, cert, serial,
                not_before, not_after, issuers, key_ref)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             RETURNING id",
            &[
                &g.credential_id,
                &g.label,
                &g.wrapped,
                &g.spki,
                &g.cert,
                &g.serial,
                &i(g.not_before),
                &i(g.not_after),
                &g.issuers,
                &g.key_ref,
            ],
        )?;
        Ok(r.try_get(0)?)
    }

    pub(super) fn generations(&self, credential: &str) -> Result<Vec<GenerationRow>, StoreError> {
        self.conn()
            .query(
                "SELECT id, credential_id, label, wrapped, spki, cert, serial, not_before,
                    not_after, issuers, key_ref FROM generations WHERE credential_id = $1
                 ORDER BY id",
                &[&credential],
            )?
            .iter()
            .map(|r| {
                Ok(GenerationRow {
                    id: r.try_get(0)?,
                    credential_id: r.try_get(1)?,
                    label: r.try_get(2)?,
                    wrapped: r.try_get(3)?,
                    spki: r.try_get(4)?,
                    cert: r.try_get(5)?,
                    serial: r.try_get(6)?,
                    not_before: u(r.try_get(7)?),
                    not_after: u(r.try_get(8)?),
                    issuers: r.try_get(9)?,
                    key_ref: r.try_get(10)?,
                })
            })
            .collect()
    }

    pub(super) fn retire_key(&self, generation: i64) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE generations SET wrapped = NULL, key_ref = NULL WHERE id = $1",
            &[&generation],
        )?;
        Ok(())
    }

    pub(super) fn put_ca(&self, ca: &CaRow) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO ca(id, label, wrapped, spki, cert, key_ref)
             VALUES (1, $1, $2, $3, $4, $5)",
            &[&ca.label, &ca.wrapped, &ca.spki, &ca.cert, &ca.key_ref],
        )?;
        Ok(())
    }

    pub(super) fn ca(&self) -> Result<Option<CaRow>, StoreError> {
        self.conn()
            .query_opt(
                "SELECT label, wrapped, spki, cert, key_ref FROM ca WHERE id = 1",
                &[],
            )?
            .as_ref()
            .map(ca_row)
            .transpose()
    }

    pub(super) fn put_tsa(&self, tsa: &CaRow) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO tsa(id, label, wrapped, spki, cert) VALUES (1, $1, $2, $3, $4)",
            &[&tsa.label, &tsa.wrapped, &tsa.spki, &tsa.cert],
        )?;
        Ok(())
    }

    pub(super) fn tsa(&self) -> Result<Option<CaRow>, StoreError> {
        self.conn()
            .query_opt(
                "SELECT label, wrapped, spki, cert, NULL::TEXT FROM tsa WHERE id = 1",
                &[],
            )?
            .as_ref()
            .map(ca_row)
            .transpose()
    }

    pub(super) fn put_token(
        &self,
        hash: &[u8],
        client: &str,
        expires: u64,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO tokens(token_hash, client_id, expires) VALUES ($1, $2, $3)",
            &[&hash, &client, &i(expires)],
        )?;
        Ok(())
    }

    pub(super) fn token_client(&self, hash: &[u8], now: u64) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .query_opt(
                "SELECT client_id FROM tokens WHERE token_hash = $1 AND expires > $2",
                &[&hash, &i(now)],
            )?
            .map(|r| r.try_get(0))
            .transpose()?)
    }

    pub(super) fn delete_token(&self, hash: &[u8], client: &str) -> Result<bool, StoreError> {
        Ok(self.conn().execute(
            "DELETE FROM tokens WHERE token_hash = $1 AND client_id = $2",
            &[&hash, &client],
        )? > 0)
    }

    pub(super) fn purge(&self, now: u64) -> Result<(), StoreError> {
        let mut c = self.conn();
        c.execute("DELETE FROM tokens WHERE expires <= $1", &[&i(now)])?;
        c.execute("DELETE FROM sads WHERE expires <= $1", &[&i(now)])?;
        Ok(())
    }

    pub(super) fn put_sad(&self, hash: &[u8], sad: &SadRow) -> Result<(), StoreError> {
        let hashes = sad
            .hashes
            .as_ref()
            .map(|h| serde_json::to_string(h).unwrap_or_default());
        self.conn().execute(
            "INSERT INTO sads(sad_hash, client_id, credential_id, remaining, hashes, expires)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &hash,
                &sad.client_id,
                &sad.credential_id,
                &i64::from(sad.remaining),
                &hashes,
                &i(sad.expires),
            ],
        )?;
        Ok(())
    }

    /// The SAD, its row locked until the transaction ends.
    fn sad_for_update(tx: &mut Transaction<'_>, hash: &[u8]) -> Result<Option<SadRow>, StoreError> {
        let Some(r) = tx.query_opt(
            "SELECT client_id, credential_id, remaining, hashes, expires FROM sads
             WHERE sad_hash = $1 FOR UPDATE",
            &[&hash],
        )?
        else {
            return Ok(None);
        };
        let hashes = match r.try_get::<_, Option<String>>(3)? {
            None => None,
            Some(text) => Some(
                serde_json::from_str::<Vec<String>>(&text)
                    .map_err(|_| StoreError::Corrupt("SAD hash list".into()))?,
            ),
        };
        Ok(Some(SadRow {
            client_id: r.try_get(0)?,
            credential_id: r.try_get(1)?,
            remaining: unsigned32(r.try_get(2)?, "SAD count")?,
            hashes,
            expires: u(r.try_get(4)?),
        }))
    }

    pub(super) fn consume_sad(
        &self,
        sad_hash: &[u8],
        client: &str,
        credential: &str,
        hashes: &[String],
        now: u64,
    ) -> Result<Result<(), SadRejection>, StoreError> {
        let mut c = self.conn();
        let mut tx = c.transaction()?;
        let Some(mut sad) = Postgres::sad_for_update(&mut tx, sad_hash)? else {
            return Ok(Err(SadRejection::Unknown));
        };
        if let Err(r) = spend_sad(&mut sad, client, credential, hashes, now) {
            return Ok(Err(r));
        }
        if sad.remaining == 0 {
            tx.execute("DELETE FROM sads WHERE sad_hash = $1", &[&sad_hash])?;
        } else {
            let list = sad
                .hashes
                .as_ref()
                .map(|h| serde_json::to_string(h).unwrap_or_default());
            tx.execute(
                "UPDATE sads SET remaining = $2, hashes = $3 WHERE sad_hash = $1",
                &[&sad_hash, &i64::from(sad.remaining), &list],
            )?;
        }
        tx.commit()?;
        Ok(Ok(()))
    }

    pub(super) fn extend_sad(
        &self,
        old: &[u8],
        new: &[u8],
        client: &str,
        credential: &str,
        now: u64,
        expires: u64,
    ) -> Result<Result<(), SadRejection>, StoreError> {
        let mut c = self.conn();
        let mut tx = c.transaction()?;
        let Some(sad) = Postgres::sad_for_update(&mut tx, old)? else {
            return Ok(Err(SadRejection::Unknown));
        };
        if sad.client_id != client || sad.credential_id != credential {
            return Ok(Err(SadRejection::WrongBinding));
        }
        if sad.expires <= now {
            return Ok(Err(SadRejection::Expired));
        }
        tx.execute(
            "UPDATE sads SET sad_hash = $2, expires = $3 WHERE sad_hash = $1",
            &[&old, &new, &i(expires)],
        )?;
        tx.commit()?;
        Ok(Ok(()))
    }

    pub(super) fn append_audit(
        &self,
        make: impl FnOnce(i64, &str) -> AuditRow,
    ) -> Result<AuditRow, StoreError> {
        let mut c = self.conn();
        let mut tx = c.transaction()?;
        // Serializes appends of every instance; READ COMMITTED takes a new
        // snapshot per statement, so the head read after the lock is the
        // last committed record.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&AUDIT_LOCK])?;
        let head = tx.query_opt("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", &[])?;
        let (seq, prev) = match head {
            Some(r) => (
                r.try_get::<_, i64>(0)?.saturating_add(1),
                r.try_get::<_, String>(1)?,
            ),
            None => (1, crate::audit::GENESIS.to_string()),
        };
        let rec = make(seq, &prev);
        tx.execute(
            "INSERT INTO audit(seq, time, event, client, credential, serial, hash_algo, hashes,
                result, prev, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            &[
                &rec.seq,
                &i(rec.time),
                &rec.event,
                &rec.client,
                &rec.credential,
                &rec.serial,
                &rec.hash_algo,
                &rec.hashes,
                &rec.result,
                &rec.prev,
                &rec.hash,
            ],
        )?;
        tx.commit()?;
        Ok(rec)
    }

    pub(super) fn audit_records(&self) -> Result<Vec<AuditRow>, StoreError> {
        self.conn()
            .query(
                "SELECT seq, time, event, client, credential, serial, hash_algo, hashes, result,
                    prev, hash FROM audit ORDER BY seq",
                &[],
            )?
            .iter()
            .map(|r| {
                Ok(AuditRow {
                    seq: r.try_get(0)?,
                    time: u(r.try_get(1)?),
                    event: r.try_get(2)?,
                    client: r.try_get(3)?,
                    credential: r.try_get(4)?,
                    serial: r.try_get(5)?,
                    hash_algo: r.try_get(6)?,
                    hashes: r.try_get(7)?,
                    result: r.try_get(8)?,
                    prev: r.try_get(9)?,
                    hash: r.try_get(10)?,
                })
            })
            .collect()
    }
}

/// Applies the migrations not yet applied, under [`MIGRATE_LOCK`].
fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_LOCK])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS otaseal_schema(version BIGINT NOT NULL)")?;
    let version: i64 = match tx.query_opt("SELECT version FROM otaseal_schema", &[])? {
        Some(r) => r.try_get(0)?,
        None => {
            tx.execute("INSERT INTO otaseal_schema(version) VALUES (0)", &[])?;
            0
        }
    };
    let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    if version > known {
        return Err(StoreError::SchemaTooNew(version));
    }
    for (n, sql) in MIGRATIONS.iter().enumerate().skip(u(version) as usize) {
        tx.batch_execute(sql)?;
        tx.execute(
            "UPDATE otaseal_schema SET version = $1",
            &[&i64::try_from(n + 1).unwrap_or(i64::MAX)],
        )?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://csc:pw@127.0.0.1:5432/csc"),
            "postgres://csc:***@127.0.0.1:5432/csc"
        );
        assert_eq!(
            redact("postgresql://csc@h/db?password=pw&sslmode=disable"),
            "postgresql://csc@h/db?password=***&sslmode=disable"
        );
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
    }
}
