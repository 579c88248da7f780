//! Credential certificates from an external CA command: a real CA behind a
//! shell script (`openssl x509 -req` with a test CA, and `otaseal pki issue
//! --csr`), and every way the command can fail (timeout, non-zero exit,
//! garbage, a chain for another key, an expired certificate): a clear
//! error, the credential keeps its current certificate, no signature
//! without a valid one.

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use otaseal_csc::auth::ManualClock;
use otaseal_csc::client::{ClientOptions, CscClient};
use otaseal_csc::config::{self, Config, InitOptions};
use otaseal_csc::external_ca::ExternalCa;
use otaseal_csc::server::Server;
use otaseal_csc::service::Service;
use otaseal_manifest::Suite;
use otaseal_tests::{have_openssl, openssl, otaseal, otaseal_bin, test_dir, unix_now};
use rustls_pki_types::{CertificateDer, UnixTime};
use zeroize::Zeroizing;

const DAY: u64 = 86_400;
const CRED: &str = "signer-ecdsa-p256";

fn script(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p.to_str().unwrap().to_string()
}

/// A test CA for `openssl x509 -req` and the script that uses it: CSR on
/// stdin, chain (leaf, CA) on stdout, 90-day certificates from the real
/// clock.
fn openssl_ca(dir: &Path) -> (String, Vec<u8>) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            "/CN=otaseal test external CA",
            "-days",
            "3650",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    std::fs::write(
        dir.join("leaf.ext"),
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n",
    )
    .unwrap();
    let d = dir.display();
    let cmd = script(
        dir,
        "issue.sh",
        &format!(
            "set -e\nt=$(mktemp -d)\ntrap 'rm -rf \"$t\"' EXIT\ncat > \"$t/req.pem\"\n\
             openssl x509 -req -in \"$t/req.pem\" -CA {d}/ca.pem -CAkey {d}/ca.key \
             -set_serial 0x$(openssl rand -hex 12) -days 90 -extfile {d}/leaf.ext -out \"$t/leaf.pem\" 2>/dev/null\n\
             cat \"$t/leaf.pem\" {d}/ca.pem"
        ),
    );
    let ca =
        otaseal_sign::pki::certs_from_pem(&std::fs::read_to_string(dir.join("ca.pem")).unwrap())
            .unwrap()
            .remove(0);
    (cmd, ca)
}

struct Env {
    dir: std::path::PathBuf,
    cfg: Config,
    clock: Arc<ManualClock>,
    now: u64,
}

impl Env {
    fn new(name: &str) -> Env {
        let dir = test_dir(name);
        let now = unix_now();
        let report = config::init(
            &dir.join("csc"),
            &InitOptions {
                suites: vec![Suite::EcdsaP256],
                now,
                ..InitOptions::default()
            },
        )
        .unwrap();
        let mut cfg = Config::load(&report.config).unwrap();
        // Several services on this database in one test: no TSA serial lock.
        cfg.tsa_serial_store = None;
        Env {
            dir,
            cfg,
            clock: Arc::new(ManualClock::new(now)),
            now,
        }
    }

    fn service(&self, command: Vec<String>, timeout_secs: u64) -> Service {
        let mut cfg = self.cfg.clone();
        cfg.external_ca = Some(ExternalCa {
            command,
            timeout_secs,
            credentials: vec![],
        });
        cfg.open_service(self.clock.clone()).unwrap()
    }
}

fn verify_at(
    chain: &[Vec<u8>],
    anchor: &[u8],
    time: u64,
) -> Result<(), otaseal_verify::ChainError> {
    let ca_der = CertificateDer::from(anchor);
    let anchor = webpki::anchor_from_trusted_cert(&ca_der).unwrap();
    let inter: Vec<CertificateDer<'_>> = chain[1..]
        .iter()
        .map(|c| CertificateDer::from(c.as_slice()))
        .collect();
    otaseal_verify::chain::verify_code_signing_chain(
        &chain[0],
        &inter,
        &[anchor],
        UnixTime::since_unix_epoch(Duration::from_secs(time)),
    )
}

/// Renewal through the external CA, then the credential signs with the new
/// certificate and `credentials/info` returns the external chain.
fn renew_and_sign(env: &Env, service: Service, anchor: &[u8]) {
    let service = Arc::new(service);
    let old = service.store().generations(CRED).unwrap();
    let report = service.renew_due().unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(report.renewed.len(), 1, "{report:?}");
    let gens = service.store().generations(CRED).unwrap();
    assert_eq!(gens.len(), old.len() + 1);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = Server::start(
        listener,
        Arc::clone(&service),
        None,
        env.cfg.server_config(),
    )
    .unwrap();
    let secret = Zeroizing::new(
        std::fs::read_to_string(env.dir.join("csc/build.secret"))
            .unwrap()
            .trim()
            .to_string(),
    );
    let mut o = ClientOptions::new(
        &format!("http://{}/csc/v2", server.local_addr()),
        "build",
        secret,
    );
    o.retries = 0;
    let client = CscClient::connect(o).unwrap();
    let cred = client.credential(CRED).unwrap();
    assert_eq!(
        cred.chain[0],
        gens.last().unwrap().cert,
        "the new certificate"
    );
    verify_at(&cred.chain, anchor, service.now()).expect("external chain verifies");
    let sig = client
        .sign_messages(&cred, &[b"externally certified".as_slice()])
        .unwrap();
    otaseal_verify::crypto::verify_signature(
        Suite::EcdsaP256,
        &cred.spki,
        b"externally certified",
        &sig[0],
    )
    .unwrap();
    drop(client);
    drop(server);
}

#[test]
fn an_openssl_ca_behind_a_script_certifies_renewed_keys() {
    if !have_openssl() {
        return;
    }
    let env = Env::new("csc-extca-openssl");
    let (cmd, ca) = openssl_ca(&env.dir);
    // Renewal due (47-day certificates renewed 15 days before expiry).
    env.clock.set(env.now + 33 * DAY);
    renew_and_sign(&env, env.service(vec![cmd], 20), &ca);
}

#[test]
fn otaseal_pki_issue_as_the_external_ca() {
    let env = Env::new("csc-extca-pki");
    let pki = env.dir.join("pki");
    otaseal([
        "pki",
        "init",
        "--dir",
        pki.to_str().unwrap(),
        "--suites",
        "ecdsa-p256",
    ])
    .expect_code(0);
    let ca_dir = pki.join("ecdsa-p256");
    let root = otaseal_sign::pki::certs_from_pem(
        &std::fs::read_to_string(ca_dir.join("root.cert.pem")).unwrap(),
    )
    .unwrap()
    .remove(0);
    // The CSR as a file ({csr}), the chain file printed.
    let cmd = script(
        &env.dir,
        "pki-issue.sh",
        &format!(
            "set -e\nt=$(mktemp -d)\ntrap 'rm -rf \"$t\"' EXIT\n\
             {} pki issue --csr \"$1\" --ca-dir {} --days 90 --out \"$t/chain.pem\" >/dev/null\n\
             cat \"$t/chain.pem\"",
            otaseal_bin().display(),
            ca_dir.display()
        ),
    );
    env.clock.set(env.now + 33 * DAY);
    renew_and_sign(&env, env.service(vec![cmd, "{csr}".into()], 20), &root);
}

#[test]
fn a_failing_external_ca_leaves_the_current_certificate() {
    if !have_openssl() {
        return;
    }
    let env = Env::new("csc-extca-fail");
    let (good, _) = openssl_ca(&env.dir);
    // A certificate for another key: issued once for a throwaway request.
    openssl(
        &env.dir,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "other.key",
            "-out",
            "other.csr",
            "-subj",
            "/CN=other",
        ],
    );
    let other = std::process::Command::new(&good)
        .stdin(std::fs::File::open(env.dir.join("other.csr")).unwrap())
        .output()
        .unwrap();
    assert!(other.status.success());
    std::fs::write(env.dir.join("other.chain.pem"), &other.stdout).unwrap();
    let d = env.dir.display();
    let cases: Vec<(&str, Vec<String>, u64, &str)> = vec![
        (
            "non-zero exit",
            vec![script(
                &env.dir,
                "fail.sh",
                "cat >/dev/null\necho 'CA says no: quota exceeded' >&2\nexit 3",
            )],
            20,
            "(exit 3): CA says no: quota exceeded",
        ),
        (
            "timeout",
            vec![script(&env.dir, "slow.sh", "sleep 30\ncat")],
            1,
            "no answer within 1 s",
        ),
        (
            "garbage",
            vec![script(
                &env.dir,
                "garbage.sh",
                "cat >/dev/null\necho 'certificate: yes'",
            )],
            20,
            "not a PEM certificate chain",
        ),
        (
            "another key",
            vec![script(
                &env.dir,
                "other.sh",
                &format!("cat >/dev/null\ncat {d}/other.chain.pem"),
            )],
            20,
            "another key",
        ),
    ];
    env.clock.set(env.now + 33 * DAY);
    for (what, command, timeout, message) in cases {
        let service = env.service(command, timeout);
        let before = service.store().generations(CRED).unwrap();
        let start = Instant::now();
        let report = service.renew_due().unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "{what}: took {:?}",
            start.elapsed()
        );
        assert!(report.renewed.is_empty(), "{what}: {report:?}");
        assert_eq!(report.failed.len(), 1, "{what}: {report:?}");
        assert!(
            report.failed[0].1.contains(message),
            "{what}: {}",
            report.failed[0].1
        );
        // Nothing stored; the current certificate still signs.
        let after = service.store().generations(CRED).unwrap();
        assert_eq!(after.len(), before.len(), "{what}");
        let g = service
            .ca()
            .signing_generation(CRED, service.now())
            .unwrap();
        assert_eq!(g.serial, before.last().unwrap().serial, "{what}");
        let records = service.store().audit_records().unwrap();
        assert_eq!(
            records.last().unwrap().result,
            "external_ca_error",
            "{what}"
        );
    }

    // Expired: the service clock is past the CA's 90 days (and past the
    // current certificate's 47): the answer is refused and, with no valid
    // certificate, the credential does not sign.
    env.clock.set(env.now + 120 * DAY);
    let service = env.service(vec![good], 20);
    let report = service.renew_due().unwrap();
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert!(
        report.failed[0].1.contains("not valid now"),
        "{}",
        report.failed[0].1
    );
    assert!(
        service
            .ca()
            .signing_generation(CRED, service.now())
            .is_err()
    );
    otaseal_csc::audit::verify_chain(&service.store().audit_records().unwrap()).unwrap();
}
