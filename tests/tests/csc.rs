//! CSC API v2 service and client: a real server on 127.0.0.1, real SQLite,
//! the client library against it, every authorization failure, renewal
//! across simulated months, bad HTTP input, the audit chain and the CLI.
//!
//! The store scenarios run twice, module `sqlite` and module `postgres`
//! (a throwaway PostgreSQL cluster per test, `otaseal_tests::pg`), and
//! `postgres::two_instances_*` run two services on one database.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use otaseal_csc::auth::ManualClock;
use otaseal_csc::client::{ClientError, ClientOptions, CscClient, ServiceAuth};
use otaseal_csc::config::{self, Config, InitOptions};
use otaseal_csc::keystore;
use otaseal_csc::protocol::b64_encode;
use otaseal_csc::server::Server;
use otaseal_csc::service::Service;
use otaseal_manifest::Suite;
use otaseal_tests::pg::PgCluster;
use otaseal_tests::{otaseal, test_dir};
use rustls_pki_types::{CertificateDer, UnixTime};
use serde_json::{Value, json};
use zeroize::Zeroizing;

/// 2027-01-01T00:00:00Z: the simulated start of every test.
const T0: u64 = 1_798_761_600;
const DAY: u64 = 86_400;

/// The store a scenario runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Db {
    Sqlite,
    Postgres,
}

/// Runs each scenario `fn name(db: Db)` as `sqlite::name` and
/// `postgres::name`.
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test]
            fn $name() {
                super::$name(super::Db::Sqlite)
            })*
        }
        mod postgres {
            $(#[test]
            fn $name() {
                super::$name(super::Db::Postgres)
            })*
        }
    };
}

on_both_stores!(
    client_signs_every_hash_suite_and_the_signatures_verify,
    a_client_never_signs_with_a_credential_it_is_not_granted,
    expired_and_used_up_sads_are_refused,
    scal2_signs_only_the_authorized_hashes,
    wrong_pins_lock_the_credential,
    renewal_across_months_keeps_every_generation_verifiable,
    no_valid_certificate_means_no_signature,
    audit_log_is_chained_and_the_cli_finds_tampering,
);

struct Env {
    dir: PathBuf,
    clock: Arc<ManualClock>,
    service: Arc<Service>,
    server: Server,
    secret: Zeroizing<String>,
    ca_der: Vec<u8>,
    /// The database (PostgreSQL) and its cluster; dropped after the server.
    pg: Option<(String, PgCluster)>,
}

impl Env {
    fn new(name: &str, o: InitOptions) -> Env {
        Env::at(name, o, T0)
    }

    /// A service whose clock starts at `start`.
    fn at(name: &str, o: InitOptions, start: u64) -> Env {
        Env::on(Db::Sqlite, name, start, o).expect("SQLite")
    }

    /// A service on `db` (`None`: PostgreSQL is not installed and `CI` is
    /// not set; the caller skips).
    fn on(db: Db, name: &str, start: u64, o: InitOptions) -> Option<Env> {
        let dir = test_dir(name).join("csc");
        let pg = match db {
            Db::Sqlite => None,
            Db::Postgres => {
                let cluster = PgCluster::start(name)?;
                let url = cluster.create_db("csc");
                Some((url, cluster))
            }
        };
        let report = config::init(
            &dir,
            &InitOptions {
                now: start,
                database: pg.as_ref().map(|(url, _)| url.clone()),
                ..o
            },
        )
        .expect("csc init");
        let cfg = Config::load(&report.config).unwrap();
        let clock = Arc::new(ManualClock::new(start));
        let service = Arc::new(cfg.open_service(clock.clone()).unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let server = Server::start(listener, Arc::clone(&service), None, cfg.server_config())
            .expect("server start");
        let secret = Zeroizing::new(
            std::fs::read_to_string(&report.secret_file)
                .unwrap()
                .trim()
                .to_string(),
        );
        let ca_pem = std::fs::read_to_string(&report.ca_pem).unwrap();
        let ca_der = otaseal_sign::pki::certs_from_pem(&ca_pem)
            .unwrap()
            .remove(0);
        Some(Env {
            dir,
            clock,
            service,
            server,
            secret,
            ca_der,
            pg,
        })
    }

    /// Runs SQL on the store behind the service's back (tampering).
    fn sql(&self, sql: &str) {
        match &self.pg {
            None => {
                let db = rusqlite::Connection::open(self.dir.join("csc.db")).unwrap();
                db.execute_batch(sql).unwrap();
            }
            Some((_, cluster)) => {
                cluster.psql("csc", sql);
            }
        }
    }

    fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    fn base(&self, v: u8) -> String {
        format!("http://{}/csc/v{v}", self.addr())
    }

    fn options(&self) -> ClientOptions {
        let mut o = ClientOptions::new(&self.base(2), "build", self.secret.clone());
        o.retries = 0;
        o
    }

    fn client(&self) -> CscClient {
        CscClient::connect(self.options()).expect("connect")
    }

    /// POSTs JSON with a bearer token; `(status, body)`.
    fn call(&self, method: &str, token: &str, body: &Value) -> (u16, Value) {
        let auth = format!("Authorization: Bearer {token}\r\n");
        http(
            self.addr(),
            "POST",
            &format!("/csc/v2/{method}"),
            &format!("Content-Type: application/json\r\n{auth}"),
            body.to_string().as_bytes(),
        )
    }

    fn token(&self) -> String {
        let (status, v) = http(
            self.addr(),
            "POST",
            "/csc/v2/oauth2/token",
            "Content-Type: application/x-www-form-urlencoded\r\n",
            format!(
                "grant_type=client_credentials&client_id=build&client_secret={}",
                &*self.secret
            )
            .as_bytes(),
        );
        assert_eq!(status, 200, "{v}");
        v["access_token"].as_str().unwrap().to_string()
    }
}

/// One HTTP/1.1 request over a fresh connection (the server closes it).
fn http(addr: SocketAddr, method: &str, path: &str, headers: &str, body: &[u8]) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    let _ = s.write_all(body);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    let status: u16 = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {text:?}"));
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn p256_hash(n: u8) -> String {
    b64_encode(&[n; 32])
}

fn verify_chain_at(leaf: &[u8], ca: &[u8], time: u64) -> Result<(), otaseal_verify::ChainError> {
    let ca_der = CertificateDer::from(ca);
    let anchor = webpki::anchor_from_trusted_cert(&ca_der).unwrap();
    otaseal_verify::chain::verify_code_signing_chain(
        leaf,
        &[],
        &[anchor],
        UnixTime::since_unix_epoch(Duration::from_secs(time)),
    )
}

fn client_signs_every_hash_suite_and_the_signatures_verify(db: Db) {
    let suites = [
        Suite::EcdsaP256,
        Suite::EcdsaP384,
        Suite::Sm2,
        Suite::MlDsa44,
        Suite::MlDsa65,
        Suite::MlDsa87,
        Suite::RsaPss3072,
    ];
    let Some(env) = Env::on(
        db,
        "csc-suites",
        T0,
        InitOptions {
            suites: suites.to_vec(),
            ..InitOptions::default()
        },
    ) else {
        return;
    };
    let client = env.client();
    assert_eq!(client.info.specs, "2.0.0.2");
    for suite in suites {
        let cred = client.credential(&config::credential_id(suite)).unwrap();
        assert_eq!(cred.suite, suite);
        assert_eq!(cred.chain.len(), 2, "leaf and CA");
        verify_chain_at(&cred.chain[0], &env.ca_der, T0 + 60).unwrap();
        // Sig_structure-like messages, one batch (one authorize, one signHash).
        let messages: Vec<Vec<u8>> = (0..3u8)
            .map(|n| [b"Signature1".as_slice(), &[n; 40]].concat())
            .collect();
        let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        let sigs = client.sign_messages(&cred, &refs).unwrap();
        for (m, s) in refs.iter().zip(&sigs) {
            otaseal_verify::crypto::verify_signature(suite, &cred.spki, m, s)
                .unwrap_or_else(|e| panic!("{}: {e:?}", suite.name()));
        }
        // A signature over another message does not verify.
        assert!(
            otaseal_verify::crypto::verify_signature(suite, &cred.spki, b"other", &sigs[0])
                .is_err()
        );
    }
    client.revoke().unwrap();

    // HTTP Basic (auth/login), and a v1 base path.
    let mut o = env.options();
    o.auth = ServiceAuth::Basic;
    o.base_url = env.base(1);
    let c1 = CscClient::connect(o).unwrap();
    let cred = c1.credential("signer-ecdsa-p256").unwrap();
    c1.sign_messages(&cred, &[b"via v1".as_slice()]).unwrap();

    // Wrong secret.
    let mut o = env.options();
    o.secret = Zeroizing::new("wrong".into());
    match CscClient::connect(o) {
        Err(ClientError::Service(e)) => assert_eq!(e.error, "invalid_client"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn signatures_are_timestamped_by_the_same_service() {
    // The time-stamp authority runs on the system clock: start there.
    let env = Env::at("csc-tsa", InitOptions::default(), otaseal_tests::unix_now());
    let client = env.client();
    for id in ["signer-ecdsa-p256", "signer-sm2"] {
        let cred = client.credential(id).unwrap();
        let sig = client
            .sign_messages(&cred, &[b"dual-signed release".as_slice()])
            .unwrap()
            .remove(0);
        // As otaseal does: the token's imprint is SHA-256 of the signature.
        let digest = otaseal_verify::digest::sha256(&sig);
        let token = client
            .timestamp(otaseal_manifest::DigestAlg::Sha256, &digest)
            .unwrap();
        let ca = CertificateDer::from(env.ca_der.as_slice());
        let anchor = webpki::anchor_from_trusted_cert(&ca).unwrap();
        let info = otaseal_verify::timestamp::verify_token(
            &token,
            otaseal_manifest::DigestAlg::Sha256,
            &sig,
            std::slice::from_ref(&anchor),
            None,
        )
        .unwrap();
        // The signing certificate was valid at the token's time.
        verify_chain_at(&cred.chain[0], &env.ca_der, info.gen_time).unwrap();
        // A token does not cover another signature.
        assert!(
            otaseal_verify::timestamp::verify_token(
                &token,
                otaseal_manifest::DigestAlg::Sha256,
                b"other",
                &[anchor],
                None,
            )
            .is_err()
        );
    }
    let records = env.service.store().audit_records().unwrap();
    assert!(records.iter().any(|r| r.event == "timestamp"));
}

#[test]
fn ed25519_cannot_be_a_csc_credential() {
    let dir = test_dir("csc-ed25519").join("csc");
    let err = config::init(
        &dir,
        &InitOptions {
            suites: vec![Suite::Ed25519],
            ..InitOptions::default()
        },
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("cannot be signed from a hash"),
        "{err}"
    );
    assert!(keystore::prehash(Suite::Ed25519, &[], b"m").is_err());
}

fn a_client_never_signs_with_a_credential_it_is_not_granted(db: Db) {
    let Some(env) = Env::on(db, "csc-grant", T0, InitOptions::default()) else {
        return;
    };
    // A second client without grants.
    let store = env.service.store();
    store
        .put_client(&otaseal_csc::store::ClientRow {
            id: "other".into(),
            secret_hash: otaseal_csc::auth::hash_secret("other-secret").unwrap(),
            rate_per_minute: 600,
        })
        .unwrap();
    let mut o = env.options();
    o.client_id = "other".into();
    o.secret = Zeroizing::new("other-secret".into());
    let other = CscClient::connect(o).unwrap();
    match other.credential("signer-ecdsa-p256") {
        Err(ClientError::Service(e)) => {
            assert_eq!((e.status, e.error.as_str()), (403, "access_denied"))
        }
        r => panic!("{r:?}"),
    }
    // A SAD of the granted client, used by the other one.
    let token = env.token();
    let (s, v) = env.call(
        "credentials/authorize",
        &token,
        &json!({"credentialID": "signer-ecdsa-p256", "numSignatures": 1, "hashes": [p256_hash(1)]}),
    );
    assert_eq!(s, 200, "{v}");
    let sad = v["SAD"].as_str().unwrap().to_string();
    let other_token = {
        let (s, v) = http(
            env.addr(),
            "POST",
            "/csc/v2/oauth2/token",
            "Content-Type: application/json\r\n",
            json!({"grant_type": "client_credentials", "client_id": "other", "client_secret": "other-secret"})
                .to_string()
                .as_bytes(),
        );
        assert_eq!(s, 200);
        v["access_token"].as_str().unwrap().to_string()
    };
    let sign = json!({"credentialID": "signer-ecdsa-p256", "SAD": sad, "hashes": [p256_hash(1)],
        "signAlgo": "1.2.840.10045.4.3.2"});
    let (s, v) = env.call("signatures/signHash", &other_token, &sign);
    assert_eq!(
        (s, v["error"].as_str()),
        (403, Some("access_denied")),
        "{v}"
    );
    // The SAD for P-256 used for the SM2 credential.
    let sign_sm2 = json!({"credentialID": "signer-sm2", "SAD": sad, "hashes": [p256_hash(1)],
        "signAlgo": "1.2.156.10197.1.501"});
    let (s, v) = env.call("signatures/signHash", &token, &sign_sm2);
    assert_eq!(
        (s, v["error"].as_str()),
        (403, Some("access_denied")),
        "{v}"
    );
    // The owner still can.
    let (s, v) = env.call("signatures/signHash", &token, &sign);
    assert_eq!(s, 200, "{v}");
    // Revoked token.
    let (s, _) = env.call("auth/revoke", &token, &json!({}));
    assert_eq!(s, 200);
    let (s, v) = env.call("credentials/list", &token, &json!({}));
    assert_eq!((s, v["error"].as_str()), (401, Some("invalid_token")));
}

fn expired_and_used_up_sads_are_refused(db: Db) {
    let Some(env) = Env::on(db, "csc-sad", T0, InitOptions::default()) else {
        return;
    };
    let token = env.token();
    let authorize = |n: u32, hashes: Vec<String>| {
        let (s, v) = env.call(
            "credentials/authorize",
            &token,
            &json!({"credentialID": "signer-ecdsa-p256", "numSignatures": n, "hashes": hashes}),
        );
        assert_eq!(s, 200, "{v}");
        v["SAD"].as_str().unwrap().to_string()
    };
    let sign = |sad: &str, hashes: Vec<String>| {
        env.call(
            "signatures/signHash",
            &token,
            &json!({"credentialID": "signer-ecdsa-p256", "SAD": sad, "hashes": hashes,
                "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1", "signAlgo": "1.2.840.10045.4.3.2"}),
        )
    };
    // Used up: one signature authorized, two asked, then one, then again.
    let sad = authorize(1, vec![p256_hash(1)]);
    let (s, v) = sign(&sad, vec![p256_hash(1), p256_hash(1)]);
    assert_eq!(
        (s, v["error"].as_str()),
        (403, Some("access_denied")),
        "{v}"
    );
    let (s, v) = sign(&sad, vec![p256_hash(1)]);
    assert_eq!(s, 200, "{v}");
    let (s, v) = sign(&sad, vec![p256_hash(1)]);
    assert_eq!(
        (s, v["error"].as_str()),
        (403, Some("access_denied")),
        "{v}"
    );
    // Expired: the SAD lives 300 s.
    let sad = authorize(1, vec![p256_hash(2)]);
    env.clock.advance(301);
    let (s, v) = sign(&sad, vec![p256_hash(2)]);
    assert_eq!(
        (s, v["error"].as_str()),
        (403, Some("access_denied")),
        "{v}"
    );
    assert!(v["error_description"].as_str().unwrap().contains("expired"));
    // extendTransaction gives a live SAD a new lifetime; the old value dies.
    let sad = authorize(1, vec![p256_hash(3)]);
    env.clock.advance(200);
    let (s, v) = env.call(
        "credentials/extendTransaction",
        &token,
        &json!({"credentialID": "signer-ecdsa-p256", "SAD": sad}),
    );
    assert_eq!(s, 200, "{v}");
    let new_sad = v["SAD"].as_str().unwrap().to_string();
    env.clock.advance(200);
    let (s, _) = sign(&sad, vec![p256_hash(3)]);
    assert_eq!(s, 403);
    let (s, v) = sign(&new_sad, vec![p256_hash(3)]);
    assert_eq!(s, 200, "{v}");
}

fn scal2_signs_only_the_authorized_hashes(db: Db) {
    let Some(env) = Env::on(
        db,
        "csc-scal2",
        T0,
        InitOptions {
            scal: 2,
            ..InitOptions::default()
        },
    ) else {
        return;
    };
    let token = env.token();
    let (s, v) = env.call(
        "credentials/authorize",
        &token,
        &json!({"credentialID": "signer-ecdsa-p256", "numSignatures": 1}),
    );
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("invalid_request")),
        "{v}"
    );
    let (s, v) = env.call(
        "credentials/authorize",
        &token,
        &json!({"credentialID": "signer-ecdsa-p256", "numSignatures": 2,
            "hashes": [p256_hash(7), p256_hash(8)]}),
    );
    assert_eq!(s, 200, "{v}");
    let sad = v["SAD"].as_str().unwrap();
    let sign = |h: Vec<String>| {
        env.call(
            "signatures/signHash",
            &token,
            &json!({"credentialID": "signer-ecdsa-p256", "SAD": sad, "hashes": h,
                "signAlgo": "1.2.840.10045.4.3.2"}),
        )
    };
    let (s, v) = sign(vec![p256_hash(9)]);
    assert_eq!(
        (s, v["error"].as_str()),
        (403, Some("access_denied")),
        "{v}"
    );
    let (s, v) = sign(vec![p256_hash(7)]);
    assert_eq!(s, 200, "{v}");
    // Each authorized hash signs once.
    let (s, _) = sign(vec![p256_hash(7)]);
    assert_eq!(s, 403);
    let (s, v) = sign(vec![p256_hash(8)]);
    assert_eq!(s, 200, "{v}");
    // The client library sends the hashes itself: SCAL 2 works through it.
    let client = env.client();
    let cred = client.credential("signer-sm2").unwrap();
    assert_eq!(cred.scal, 2);
    client
        .sign_messages(&cred, &[b"a".as_slice(), b"b".as_slice()])
        .unwrap();
}

fn wrong_pins_lock_the_credential(db: Db) {
    let Some(env) = Env::on(
        db,
        "csc-pin",
        T0,
        InitOptions {
            pin: Some(Zeroizing::new("2468".into())),
            ..InitOptions::default()
        },
    ) else {
        return;
    };
    let token = env.token();
    let authorize = |pin: Option<&str>, v1: bool| {
        let mut body = json!({"credentialID": "signer-ecdsa-p256", "numSignatures": 1});
        match (pin, v1) {
            (Some(p), false) => body["authData"] = json!([{"id": "PIN", "value": p}]),
            (Some(p), true) => body["PIN"] = json!(p),
            (None, _) => {}
        }
        env.call("credentials/authorize", &token, &body)
    };
    let (s, v) = authorize(None, false);
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("invalid_authentication_data"))
    );
    let (s, _) = authorize(Some("2468"), true);
    assert_eq!(s, 200, "the v1 PIN field is accepted");
    for _ in 0..2 {
        let (s, v) = authorize(Some("0000"), false);
        assert_eq!(
            (s, v["error"].as_str()),
            (400, Some("invalid_authentication_data"))
        );
    }
    // A right PIN resets the count.
    let (s, _) = authorize(Some("2468"), false);
    assert_eq!(s, 200);
    for _ in 0..3 {
        let (s, _) = authorize(Some("0000"), false);
        assert_eq!(s, 400);
    }
    let (s, v) = authorize(Some("2468"), false);
    assert_eq!(
        (s, v["error"].as_str()),
        (403, Some("access_denied")),
        "{v}"
    );
    assert!(v["error_description"].as_str().unwrap().contains("locked"));
    // The client library sends the PIN from its options.
    let mut o = env.options();
    o.pin = Some(Zeroizing::new("2468".into()));
    let client = CscClient::connect(o).unwrap();
    let cred = client.credential("signer-sm2").unwrap();
    assert!(cred.needs_pin);
    client.sign_messages(&cred, &[b"m".as_slice()]).unwrap();
}

#[test]
fn the_per_client_rate_limit_answers_429() {
    let env = Env::new(
        "csc-rate",
        InitOptions {
            rate_per_minute: 5,
            ..InitOptions::default()
        },
    );
    let token = env.token();
    let statuses: Vec<u16> = (0..8)
        .map(|_| env.call("credentials/list", &token, &json!({})).0)
        .collect();
    assert_eq!(&statuses[..5], &[200; 5]);
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
    let (_, v) = env.call("credentials/list", &token, &json!({}));
    assert_eq!(v["error"], "too_many_requests");
}

fn renewal_across_months_keeps_every_generation_verifiable(db: Db) {
    let Some(env) = Env::on(db, "csc-renew", T0, InitOptions::default()) else {
        return;
    };
    // (time, leaf, spki, message, signature) from each signing day.
    let mut signed = Vec::new();
    let mut serials = std::collections::BTreeSet::new();
    for day in 0..=180u64 {
        env.clock.set(T0 + day * DAY + 3600);
        env.service.renew_due().unwrap();
        if day % 10 != 0 {
            continue;
        }
        // Tokens live an hour: a fresh client each signing day.
        let client = env.client();
        let cred = client.credential("signer-ecdsa-p256").unwrap();
        let now = env.service.now();
        verify_chain_at(&cred.chain[0], &env.ca_der, now)
            .unwrap_or_else(|e| panic!("day {day}: current certificate not valid now: {e:?}"));
        let msg = format!("release of day {day}").into_bytes();
        let sig = client
            .sign_messages(&cred, &[msg.as_slice()])
            .unwrap()
            .remove(0);
        serials.insert(otaseal_csc::ca::serial_hex(&cred.chain[0]).unwrap());
        signed.push((now, cred.chain[0].clone(), cred.spki.clone(), msg, sig));
    }
    // 47-day certificates renewed 15 days before expiry: a new one every 32 days.
    assert!(serials.len() >= 5, "generations: {}", serials.len());
    let end = env.service.now();
    for (t, leaf, spki, msg, sig) in &signed {
        otaseal_verify::crypto::verify_signature(Suite::EcdsaP256, spki, msg, sig).unwrap();
        // At the signing (timestamp) time the chain is valid...
        verify_chain_at(leaf, &env.ca_der, *t).unwrap();
        // ...while old certificates are expired now: only the time of
        // signing (a timestamp) keeps their packages valid.
        if t + 47 * DAY <= end {
            assert!(verify_chain_at(leaf, &env.ca_der, end).is_err());
        }
    }
    // Keys of expired certificates are destroyed; certificates stay.
    let gens = env
        .service
        .store()
        .generations("signer-ecdsa-p256")
        .unwrap();
    for g in &gens {
        assert_eq!(
            g.wrapped.is_some(),
            g.not_after > end,
            "generation {}",
            g.serial
        );
    }
    // Audit: issue, renew (issue) and retire events, chain intact.
    let records = env.service.store().audit_records().unwrap();
    assert!(records.iter().any(|r| r.event == "retire"));
    otaseal_csc::audit::verify_chain(&records).unwrap();
}

fn no_valid_certificate_means_no_signature(db: Db) {
    let Some(env) = Env::on(db, "csc-expired", T0, InitOptions::default()) else {
        return;
    };
    let token = env.token();
    let (s, v) = env.call(
        "credentials/authorize",
        &token,
        &json!({"credentialID": "signer-ecdsa-p256", "numSignatures": 1}),
    );
    assert_eq!(s, 200);
    let sad = v["SAD"].as_str().unwrap().to_string();
    // Past notAfter with the renewal task not run: refuse.
    env.clock.advance(47 * DAY);
    let (s, v) = http(
        env.addr(),
        "POST",
        "/csc/v2/oauth2/token",
        "Content-Type: application/json\r\n",
        json!({"grant_type": "client_credentials", "client_id": "build", "client_secret": &*env.secret})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(s, 200);
    let token = v["access_token"].as_str().unwrap();
    let (s, v) = env.call(
        "signatures/signHash",
        token,
        &json!({"credentialID": "signer-ecdsa-p256", "SAD": sad, "hashes": [p256_hash(1)],
            "signAlgo": "1.2.840.10045.4.3.2"}),
    );
    assert_eq!(
        (s, v["error"].as_str()),
        (503, Some("temporarily_unavailable")),
        "{v}"
    );
    // Not yet valid either: a clock before notBefore.
    env.clock.set(T0 - DAY);
    let (s, v) = env.call(
        "signatures/signHash",
        token,
        &json!({"credentialID": "signer-ecdsa-p256", "SAD": sad, "hashes": [p256_hash(1)],
            "signAlgo": "1.2.840.10045.4.3.2"}),
    );
    assert_eq!(s, 503, "{v}");
    assert_eq!(s, 503, "a certificate that is not yet valid does not sign");
}

/// (HTTP method, path, headers, body, expected status, expected CSC error).
type BadInput = (
    &'static str,
    &'static str,
    String,
    Vec<u8>,
    u16,
    &'static str,
);

#[test]
fn bad_http_input_gets_the_right_csc_error() {
    let env = Env::new("csc-http", InitOptions::default());
    let token = env.token();
    let auth = format!("Authorization: Bearer {token}\r\n");
    let json_ct = format!("Content-Type: application/json\r\n{auth}");
    let cases: Vec<BadInput> = vec![
        ("POST", "/csc/v2/credentials/list", json_ct.clone(), b"{bad json".to_vec(), 400, "invalid_request"),
        ("POST", "/csc/v2/credentials/info", json_ct.clone(), b"{\"credentialID\": 5}".to_vec(), 400, "invalid_request"),
        ("POST", "/csc/v2/credentials/list", format!("Content-Type: text/plain\r\n{auth}"), b"{}".to_vec(), 415, "invalid_request"),
        ("POST", "/csc/v2/credentials/list", json_ct.clone(), vec![b' '; 2 * 1024 * 1024], 413, "invalid_request"),
        ("POST", "/csc/v2/credentials/nothing", json_ct.clone(), b"{}".to_vec(), 404, "invalid_request"),
        ("POST", "/elsewhere", json_ct.clone(), b"{}".to_vec(), 404, "invalid_request"),
        ("GET", "/csc/v2/signatures/signHash", auth.clone(), Vec::new(), 405, "invalid_request"),
        ("DELETE", "/csc/v2/info", auth.clone(), Vec::new(), 405, "invalid_request"),
        ("POST", "/csc/v2/credentials/list", "Content-Type: application/json\r\n".into(), b"{}".to_vec(), 401, "invalid_token"),
        ("POST", "/csc/v2/oauth2/token", "Content-Type: application/json\r\n".into(), b"{\"grant_type\":\"password\"}".to_vec(), 400, "unsupported_grant_type"),
        ("POST", "/csc/v2/signatures/signHash", json_ct.clone(),
            json!({"credentialID": "signer-ecdsa-p256", "SAD": "x", "hashes": ["not base64!"], "signAlgo": "1.2.840.10045.4.3.2"}).to_string().into_bytes(),
            400, "invalid_request"),
        ("POST", "/csc/v2/signatures/signHash", json_ct.clone(),
            json!({"credentialID": "signer-ecdsa-p256", "SAD": "x", "hashes": [b64_encode(&[1; 20])], "signAlgo": "1.2.840.10045.4.3.2"}).to_string().into_bytes(),
            400, "invalid_request"),
        ("POST", "/csc/v2/signatures/signHash", json_ct.clone(),
            json!({"credentialID": "signer-ecdsa-p256", "SAD": "x", "hashes": [p256_hash(1)], "signAlgo": "1.2.156.10197.1.501"}).to_string().into_bytes(),
            400, "invalid_request"),
    ];
    for (method, path, headers, body, status, error) in cases {
        let (s, v) = http(env.addr(), method, path, &headers, &body);
        assert_eq!(
            (s, v["error"].as_str()),
            (status, Some(error)),
            "{method} {path}: {v}"
        );
    }
    // Not HTTP at all, and a connection that sends nothing: no crash.
    let mut s = TcpStream::connect(env.addr()).unwrap();
    s.write_all(b"\x16\x03\x01garbage\r\n\r\n").unwrap();
    let mut sink = Vec::new();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.read_to_end(&mut sink);
    let _idle = TcpStream::connect(env.addr()).unwrap();
    let (s, v) = http(env.addr(), "GET", "/health", "", b"");
    assert_eq!((s, v["status"].as_str()), (200, Some("ok")));
    // info also answers GET, and the v1 path.
    let (s, v) = http(env.addr(), "GET", "/csc/v1/info", "", b"");
    assert_eq!((s, v["specs"].as_str()), (200, Some("2.0.0.2")));
}

#[test]
fn v1_field_spellings_sign() {
    let env = Env::new(
        "csc-v1",
        InitOptions {
            scal: 2,
            ..InitOptions::default()
        },
    );
    let token = env.token();
    let auth = format!("Content-Type: application/json\r\nAuthorization: Bearer {token}\r\n");
    let (s, v) = http(
        env.addr(),
        "POST",
        "/csc/v1/credentials/authorize",
        &auth,
        json!({"credentialID": "signer-ecdsa-p256", "numSignatures": 1, "hash": [p256_hash(4)],
            "hashAlgo": "2.16.840.1.101.3.4.2.1"})
        .to_string()
        .as_bytes(),
    );
    assert_eq!(s, 200, "{v}");
    let (s, v) = http(
        env.addr(),
        "POST",
        "/csc/v1/signatures/signHash",
        &auth,
        json!({"credentialID": "signer-ecdsa-p256", "SAD": v["SAD"], "hash": [p256_hash(4)],
            "hashAlgo": "2.16.840.1.101.3.4.2.1", "signAlgo": "1.2.840.10045.4.3.2"})
        .to_string()
        .as_bytes(),
    );
    assert_eq!(s, 200, "{v}");
    // The answer is DER; the client's normaliser turns it into r || s.
    let sig = otaseal_csc::protocol::b64_decode(v["signatures"][0].as_str().unwrap()).unwrap();
    assert_eq!(sig[0], 0x30);
    assert_eq!(
        keystore::normalize_signature(Suite::EcdsaP256, &sig)
            .unwrap()
            .len(),
        64
    );
}

fn audit_log_is_chained_and_the_cli_finds_tampering(db: Db) {
    let Some(env) = Env::on(db, "csc-audit", T0, InitOptions::default()) else {
        return;
    };
    let client = env.client();
    let cred = client.credential("signer-ecdsa-p256").unwrap();
    let sigs = client
        .sign_messages(&cred, &[b"one".as_slice(), b"two".as_slice()])
        .unwrap();
    assert_eq!(sigs.len(), 2);
    let records = env.service.store().audit_records().unwrap();
    let sign = records
        .iter()
        .find(|r| r.event == "signHash")
        .expect("signHash recorded");
    assert_eq!(sign.result, "ok");
    assert_eq!(sign.client, "build");
    assert_eq!(sign.credential, "signer-ecdsa-p256");
    assert_eq!(
        sign.serial,
        otaseal_csc::ca::serial_hex(&cred.chain[0]).unwrap()
    );
    assert_eq!(sign.hashes.split(',').count(), 2);
    for e in ["login", "authorize", "issue"] {
        assert!(records.iter().any(|r| r.event == e), "{e} recorded");
    }
    let config = env.dir.join("config.json");
    let cfg = config.to_str().unwrap();
    let run = otaseal(["csc", "audit", "verify", "--config", cfg, "--json"]);
    run.expect_code(0);
    assert_eq!(run.json()["intact"], true);
    drop(client);
    // Edit one record's result, then delete one: both are found.
    env.sql("UPDATE audit SET result = 'ok' WHERE event = 'login'");
    env.sql(
        "UPDATE audit SET hashes = 'AAAA' WHERE seq = (SELECT MIN(seq) FROM audit WHERE event = 'signHash')",
    );
    let run = otaseal(["csc", "audit", "verify", "--config", cfg]);
    run.expect_code(1);
    assert!(run.stdout.contains("edited"), "{}", run.stdout);
    // Deleting a middle record of a fresh log is found too.
    let Some(env2) = Env::on(db, "csc-audit2", T0, InitOptions::default()) else {
        return;
    };
    let c2 = env2.client();
    let cred2 = c2.credential("signer-sm2").unwrap();
    c2.sign_messages(&cred2, &[b"x".as_slice()]).unwrap();
    let cfg2 = env2.dir.join("config.json");
    otaseal(["csc", "audit", "verify", "--config", cfg2.to_str().unwrap()]).expect_code(0);
    env2.sql("DELETE FROM audit WHERE seq = 2");
    let run = otaseal(["csc", "audit", "verify", "--config", cfg2.to_str().unwrap()]);
    run.expect_code(1);
    assert!(run.stdout.contains("deleted"), "{}", run.stdout);
}

#[test]
fn cli_init_serve_health_and_graceful_shutdown() {
    let dir = test_dir("csc-cli");
    let csc = dir.join("csc");
    let run = otaseal([
        "csc",
        "init",
        "--dir",
        csc.to_str().unwrap(),
        "--suites",
        "ecdsa-p256,ml-dsa-65",
        "--json",
    ]);
    run.expect_code(0);
    let j = run.json();
    assert_eq!(j["credentials"][1], "signer-ml-dsa-65");
    use std::os::unix::fs::PermissionsExt;
    for f in ["master.key", "build.secret"] {
        let mode = std::fs::metadata(csc.join(f)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
    // Not empty any more: refused.
    otaseal(["csc", "init", "--dir", csc.to_str().unwrap()]).expect_code(2);
    // Plain HTTP off loopback is refused.
    let run = otaseal([
        "csc",
        "serve",
        "--config",
        csc.join("config.json").to_str().unwrap(),
        "--listen",
        "0.0.0.0:0",
    ]);
    run.expect_code(2);
    assert!(run.stderr.contains("loopback"), "{}", run.stderr);

    let mut child = std::process::Command::new(otaseal_tests::otaseal_bin())
        .args([
            "csc",
            "serve",
            "--config",
            csc.join("config.json").to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    {
        use std::io::BufRead;
        let mut r = std::io::BufReader::new(child.stdout.as_mut().unwrap());
        r.read_line(&mut line).unwrap();
    }
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    let addr: SocketAddr = url
        .trim_start_matches("http://")
        .trim_end_matches("/csc/v2")
        .parse()
        .unwrap();
    let (s, v) = http(addr, "GET", "/health", "", b"");
    assert_eq!((s, v["status"].as_str()), (200, Some("ok")));
    // The client against the CLI-served service, ML-DSA-65 External-mu.
    let secret = Zeroizing::new(
        std::fs::read_to_string(csc.join("build.secret"))
            .unwrap()
            .trim()
            .to_string(),
    );
    let client = CscClient::connect(ClientOptions::new(&url, "build", secret)).unwrap();
    let cred = client.credential("signer-ml-dsa-65").unwrap();
    client
        .sign_messages(&cred, &[b"hybrid".as_slice()])
        .unwrap();
    // SIGTERM: stops cleanly with status 0.
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

/// A second service instance on the first one's PostgreSQL database (as
/// behind a load balancer): its own server and TSA serial file, the same
/// clock.
fn second_instance(env: &Env) -> (Arc<Service>, Server) {
    let mut cfg = Config::load(&env.dir.join("config.json")).unwrap();
    cfg.tsa_serial_store = Some("tsa2.serials".into());
    let service = Arc::new(cfg.open_service(env.clock.clone()).unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = Server::start(listener, Arc::clone(&service), None, cfg.server_config())
        .expect("second server");
    (service, server)
}

/// A CSC call to the instance at `addr`.
fn call_at(addr: SocketAddr, method: &str, token: &str, body: &Value) -> (u16, Value) {
    http(
        addr,
        "POST",
        &format!("/csc/v2/{method}"),
        &format!("Content-Type: application/json\r\nAuthorization: Bearer {token}\r\n"),
        body.to_string().as_bytes(),
    )
}

#[test]
fn two_instances_on_one_postgres_database_sign_concurrently() {
    let Some(env) = Env::on(Db::Postgres, "csc-two", T0, InitOptions::default()) else {
        return;
    };
    let (service2, server2) = second_instance(&env);
    let addrs = [env.addr(), server2.local_addr()];

    // Clients of both instances sign at once: every signature verifies and
    // has its record, and the audit chain is one intact chain.
    let per_thread = 12usize;
    let signed: Vec<Vec<String>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4usize)
            .map(|t| {
                let (addr, secret) = (addrs[t % 2], env.secret.clone());
                s.spawn(move || {
                    let mut o =
                        ClientOptions::new(&format!("http://{addr}/csc/v2"), "build", secret);
                    o.retries = 0;
                    let client = CscClient::connect(o).unwrap();
                    let cred = client.credential("signer-ecdsa-p256").unwrap();
                    (0..per_thread)
                        .map(|i| {
                            let h = vec![u8::try_from(t * 64 + i).unwrap(); 32];
                            let sig = client
                                .sign_prehashes(&cred, std::slice::from_ref(&h))
                                .unwrap();
                            assert_eq!(sig.len(), 1);
                            b64_encode(&h)
                        })
                        .collect()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let records = env.service.store().audit_records().unwrap();
    otaseal_csc::audit::verify_chain(&records).expect("one intact chain");
    assert_eq!(records, service2.store().audit_records().unwrap());
    let recorded: std::collections::HashSet<&str> = records
        .iter()
        .filter(|r| r.event == "signHash" && r.result == "ok")
        .flat_map(|r| r.hashes.split(','))
        .collect();
    for h in signed.iter().flatten() {
        assert!(
            recorded.contains(h.as_str()),
            "signature of {h} not recorded"
        );
    }

    // One SAD for 10 signatures, spent from both instances at once, two
    // hashes a call: exactly 5 calls succeed.
    let token = env.token();
    let (s, v) = env.call(
        "credentials/authorize",
        &token,
        &json!({"credentialID": "signer-ecdsa-p256", "numSignatures": 10}),
    );
    assert_eq!(s, 200, "{v}");
    let sad = v["SAD"].as_str().unwrap().to_string();
    let barrier = std::sync::Barrier::new(8);
    let ok: usize = std::thread::scope(|s| {
        let workers: Vec<_> = (0..8u8)
            .map(|t| {
                let (addr, token, sad, barrier) = (addrs[usize::from(t) % 2], &token, &sad, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    (0..3u8)
                        .filter(|i| {
                            let (s, v) = call_at(
                                addr,
                                "signatures/signHash",
                                token,
                                &json!({"credentialID": "signer-ecdsa-p256", "SAD": sad,
                                    "hashes": [p256_hash(t * 8 + i * 2), p256_hash(t * 8 + i * 2 + 1)],
                                    "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1",
                                    "signAlgo": "1.2.840.10045.4.3.2"}),
                            );
                            assert!(s == 200 || s == 403 || s == 400, "{s} {v}");
                            s == 200
                        })
                        .count()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    assert_eq!(ok, 5, "signHash calls on a 10-signature SAD, 2 hashes each");

    // Renewal due: both instances run a pass at the same moment; one
    // renews, the other finds nothing due. Serials stay unique.
    env.clock.set(T0 + 33 * DAY);
    let before = env
        .service
        .store()
        .generations("signer-ecdsa-p256")
        .unwrap();
    let barrier = std::sync::Barrier::new(2);
    let reports: Vec<_> = std::thread::scope(|s| {
        [&env.service, &service2]
            .map(|svc| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    svc.renew_due().unwrap()
                })
            })
            .into_iter()
            .map(|w| w.join().unwrap())
            .collect()
    });
    let renewed: usize = reports.iter().map(|r| r.renewed.len()).sum();
    assert_eq!(
        renewed, 2,
        "one renewal per credential in total: {reports:?}"
    );
    assert!(reports.iter().any(|r| r.renewed.is_empty()), "{reports:?}");
    for cred in ["signer-ecdsa-p256", "signer-sm2"] {
        let gens = env.service.store().generations(cred).unwrap();
        assert_eq!(gens.len(), 2, "{cred}");
    }
    assert_eq!(before.len(), 1);
    let serials: std::collections::HashSet<String> = ["signer-ecdsa-p256", "signer-sm2"]
        .iter()
        .flat_map(|c| env.service.store().generations(c).unwrap())
        .map(|g| g.serial)
        .collect();
    assert_eq!(serials.len(), 4);
    // Both instances sign with the new certificate.
    for addr in addrs {
        let mut o = ClientOptions::new(
            &format!("http://{addr}/csc/v2"),
            "build",
            env.secret.clone(),
        );
        o.retries = 0;
        let client = CscClient::connect(o).unwrap();
        let cred = client.credential("signer-ecdsa-p256").unwrap();
        assert_eq!(
            otaseal_csc::ca::serial_hex(&cred.chain[0]).unwrap(),
            env.service
                .store()
                .generations("signer-ecdsa-p256")
                .unwrap()[1]
                .serial
        );
        client
            .sign_messages(&cred, &[b"after renewal".as_slice()])
            .unwrap();
    }
    let records = service2.store().audit_records().unwrap();
    otaseal_csc::audit::verify_chain(&records).expect("chain intact after renewal");
    let cfg = env.dir.join("config.json");
    otaseal(["csc", "audit", "verify", "--config", cfg.to_str().unwrap()]).expect_code(0);
    drop(server2);
}
