//! The CSC service with a PKCS#11 token (real SoftHSM2; OpenSC
//! `pkcs11-tool` as the independent tool that inspects and swaps keys):
//! `otaseal csc init --pkcs11-token` puts the keys of the suites the token
//! offers in it and the others in the software store, releases signed
//! through the service verify, renewal makes new token keys and destroys
//! expired ones, and a replaced token key is refused.
//!
//! Every test makes its own token in a temporary directory with its own
//! `SOFTHSM2_CONF`. Without SoftHSM2 / pkcs11-tool the tests print a note
//! and pass, except when `CI` is set: then they fail (CI installs both).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use otaseal_keys::pkcs11::Pkcs11Uri;
use otaseal_tests::softhsm::{SoftHsmToken, USER_PIN};
use otaseal_tests::*;

const DAY: u64 = 86_400;

/// A test directory with its own SoftHSM2 token `csc`.
struct Hsm {
    dir: PathBuf,
    conf: PathBuf,
    module: PathBuf,
    pin_file: PathBuf,
    services: Vec<Child>,
}

impl Drop for Hsm {
    fn drop(&mut self) {
        for c in &mut self.services {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Hsm {
    fn new(test: &str) -> Option<Hsm> {
        let SoftHsmToken {
            dir,
            conf,
            module,
            pin_file,
            ..
        } = SoftHsmToken::new(&format!("csc-pkcs11-{test}"), "csc", false)?;
        Some(Hsm {
            dir,
            conf,
            module,
            pin_file,
            services: Vec::new(),
        })
    }

    fn csc(&self) -> PathBuf {
        self.dir.join("csc")
    }

    /// otaseal with this token's SOFTHSM2_CONF, no PIN in the environment,
    /// stdin closed.
    fn otaseal(&self, args: &[&str]) -> Run {
        run_command(
            Command::new(otaseal_bin())
                .args(args)
                .env("SOFTHSM2_CONF", &self.conf)
                .env_remove("OTASEAL_PKCS11_PIN")
                .env_remove("OTASEAL_PKCS11_MODULE")
                .stdin(Stdio::null()),
        )
    }

    /// `otaseal csc init` with the token; `extra` appended.
    fn init(&self, suites: &str, extra: &[&str]) -> serde_json::Value {
        let csc = self.csc();
        let mut args = vec![
            "csc",
            "init",
            "--dir",
            s(&csc),
            "--suites",
            suites,
            "--pkcs11-token",
            "csc",
            "--pkcs11-module",
            s(&self.module),
            "--pkcs11-pin-file",
            s(&self.pin_file),
            "--json",
        ];
        args.extend_from_slice(extra);
        let run = self.otaseal(&args);
        run.expect_code(0);
        run.json()
    }

    /// `otaseal csc serve` on a free port (service clock at `now` when
    /// given); returns the URL once the service listens (the renewal pass
    /// at start is done by then) and the index of the child. Its stderr
    /// (the JSON log) goes to `log`.
    fn serve(&mut self, now: Option<u64>, log: &str) -> (String, usize) {
        let config = self.csc().join("config.json");
        let mut cmd = Command::new(otaseal_bin());
        cmd.args(["csc", "serve", "--config", s(&config), "--listen"])
            .arg("127.0.0.1:0")
            .env("SOFTHSM2_CONF", &self.conf)
            .env_remove("OTASEAL_PKCS11_PIN")
            .env_remove("OTASEAL_PKCS11_MODULE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(self.dir.join(log)).unwrap());
        if let Some(t) = now {
            cmd.args(["--now", &t.to_string()]);
        }
        let mut child = cmd.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .to_string();
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "serve: {line:?}\n{}",
            std::fs::read_to_string(self.dir.join(log)).unwrap_or_default()
        );
        self.services.push(child);
        (url, self.services.len() - 1)
    }

    fn stop(&mut self, i: usize) {
        let _ = self.services[i].kill();
        let _ = self.services[i].wait();
    }

    fn signer(&self, url: &str, credential: &str) -> String {
        format!(
            "csc={url},credential={credential},secret=file:{},tsa=service",
            s(&self.csc().join("build.secret"))
        )
    }

    fn sign(&self, out: &str, signers: &[String]) -> Run {
        let fw = self.dir.join("fw.bin");
        if !fw.exists() {
            write_file(&self.dir, "fw.bin", &pseudo_random(200_000, 11));
        }
        let out = self.dir.join(out);
        let mut args: Vec<String> = [
            "sign",
            "--out",
            s(&out),
            "--product",
            "acme.hsm",
            "--version",
            "1.0",
            "--security-version",
            "1",
            "--hw-compat",
            "rev-a",
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        for sg in signers {
            args.push("--signer".into());
            args.push(sg.clone());
        }
        args.push(s(&fw).to_string());
        otaseal(args)
    }

    /// `otaseal verify` with the service's CA as trust anchor and TSA root,
    /// a timestamp required, at `time` (RFC 3339) when given.
    fn verify(&self, package: &str, require: &str, time: Option<&str>) -> Run {
        let ca = self.csc().join("ca.pem");
        let mut args = vec![
            "verify",
            "--trust",
            s(&ca),
            "--tsa-trust",
            s(&ca),
            "--require",
            require,
            "--require-timestamp",
            "--hw-id",
            "rev-a",
        ];
        if let Some(t) = time {
            args.extend(["--at", t]);
        }
        let pkg = self.dir.join(package);
        args.push(s(&pkg));
        otaseal(args)
    }

    /// `pkcs11-tool --list-objects` after login: one block per object.
    fn objects(&self) -> Vec<String> {
        let run = self.pkcs11_tool(&["--list-objects"]);
        assert_eq!(run.code, 0, "pkcs11-tool: {}{}", run.stdout, run.stderr);
        let mut blocks: Vec<String> = Vec::new();
        for line in run.stdout.lines() {
            if !line.starts_with(' ') && !line.starts_with('\t') {
                blocks.push(String::new());
            }
            if let Some(b) = blocks.last_mut() {
                b.push_str(line);
                b.push('\n');
            }
        }
        blocks
    }

    /// Private key objects (pkcs11-tool blocks).
    fn private_keys(&self) -> Vec<String> {
        self.objects()
            .into_iter()
            .filter(|b| b.starts_with("Private Key Object"))
            .collect()
    }

    fn pkcs11_tool(&self, args: &[&str]) -> Run {
        run_command(
            Command::new("pkcs11-tool")
                .env("SOFTHSM2_CONF", &self.conf)
                .arg("--module")
                .arg(&self.module)
                .args(["--token-label", "csc", "--login", "--pin", USER_PIN])
                .args(args),
        )
    }

    fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.csc().join("csc.db")).unwrap()
    }

    /// `(key_ref, wrapped is set)` of each generation of `credential`, oldest first.
    fn generations(&self, credential: &str) -> Vec<(Option<String>, bool)> {
        let db = self.db();
        let mut st = db
            .prepare("SELECT key_ref, wrapped IS NOT NULL FROM generations WHERE credential_id = ?1 ORDER BY id")
            .unwrap();
        st.query_map([credential], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }
}

/// The object label of a stored key reference.
fn label_of(key_ref: &str) -> String {
    Pkcs11Uri::parse(key_ref).unwrap().object.unwrap()
}

fn p(path: &Path) -> &str {
    s(path)
}

#[test]
fn init_puts_p256_in_the_token_and_sm2_in_software_and_a_dual_release_verifies() {
    let Some(mut hsm) = Hsm::new("dual") else {
        return;
    };
    let v = hsm.init("ecdsa-p256,sm2", &[]);
    assert_eq!(
        v["in_token"],
        serde_json::json!(["ca", "signer-ecdsa-p256"]),
        "{v}"
    );

    // The configuration names the token, module and PIN file; no PIN.
    let config = std::fs::read_to_string(hsm.csc().join("config.json")).unwrap();
    let cfg: serde_json::Value = serde_json::from_str(&config).unwrap();
    assert_eq!(cfg["pkcs11"]["token"], "csc", "{cfg}");
    assert_eq!(cfg["pkcs11"]["module"], p(&hsm.module), "{cfg}");
    assert_eq!(cfg["pkcs11"]["pin_file"], p(&hsm.pin_file), "{cfg}");
    assert!(!config.contains(USER_PIN), "{config}");

    // Rows: the P-256 key is a token reference without a wrapped key, the
    // SM2 key is wrapped in software; the CA key is in the token.
    let p256 = hsm.generations("signer-ecdsa-p256");
    assert_eq!(p256.len(), 1);
    let key_ref = p256[0].0.clone().expect("P-256 key in the token");
    assert!(!p256[0].1, "a token key has no wrapped key");
    assert!(key_ref.starts_with("pkcs11:token=csc;object="), "{key_ref}");
    assert!(key_ref.contains(";id="), "{key_ref}");
    assert!(!key_ref.contains("pin"), "{key_ref}");
    assert_eq!(hsm.generations("signer-sm2"), vec![(None, true)]);
    let (ca_ref, ca_wrapped): (Option<String>, Vec<u8>) = hsm
        .db()
        .query_row("SELECT key_ref, wrapped FROM ca", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert!(ca_ref.is_some() && ca_wrapped.is_empty());

    // pkcs11-tool (OpenSC) sees the key pair: private key sensitive and
    // never extractable; two key pairs in all (CA and P-256 credential).
    let label = label_of(&key_ref);
    let privs = hsm.private_keys();
    assert_eq!(privs.len(), 2, "{privs:?}");
    let block = privs
        .iter()
        .find(|b| b.contains(&label))
        .unwrap_or_else(|| panic!("{label} not in {privs:?}"));
    assert!(block.contains("EC"), "{block}");
    assert!(block.contains("sensitive"), "{block}");
    assert!(block.contains("never extractable"), "{block}");

    // A dual-signed, timestamped release through the service verifies.
    let (url, _) = hsm.serve(None, "serve.log");
    let run = hsm.sign(
        "dual.ota",
        &[
            hsm.signer(&url, "signer-ecdsa-p256"),
            hsm.signer(&url, "signer-sm2"),
        ],
    );
    run.expect_code(0);
    hsm.verify("dual.ota", "ecdsa-p256+sm2", None)
        .expect_code(0);
    // The service never logs the PIN.
    let log = std::fs::read_to_string(hsm.dir.join("serve.log")).unwrap();
    assert!(log.contains("signHash"), "{log}");
    assert!(!log.contains(USER_PIN), "{log}");
}

#[test]
fn renewal_makes_a_new_token_key_and_destroys_the_expired_one() {
    let Some(mut hsm) = Hsm::new("renew") else {
        return;
    };
    // Certificates made 40 days ago, valid 47 days, renewed 15 days ahead:
    // renewal is due now, the first certificate expires in 7 days.
    let now = unix_now();
    let t0 = now - 40 * DAY;
    let t0s = t0.to_string();
    hsm.init(
        "ecdsa-p256",
        &["--now", &t0s, "--days", "47", "--renew-before-days", "15"],
    );
    let first = hsm.generations("signer-ecdsa-p256");
    let old_ref = first[0].0.clone().expect("token key");
    let old_label = label_of(&old_ref);

    // A release signed (and timestamped) back then.
    let (url, i) = hsm.serve(Some(t0 + 3600), "serve-1.log");
    hsm.sign("old.ota", &[hsm.signer(&url, "signer-ecdsa-p256")])
        .expect_code(0);
    hsm.stop(i);

    // Today: the renewal at start makes a new key in the token; the old
    // one stays (its certificate is still valid for a week).
    let (url, i) = hsm.serve(None, "serve-2.log");
    let gens = hsm.generations("signer-ecdsa-p256");
    assert_eq!(gens.len(), 2, "{gens:?}");
    let new_ref = gens[1].0.clone().expect("renewed key in the token");
    assert_ne!(new_ref, old_ref);
    assert!(!gens[1].1);
    assert_eq!(gens[0].0.as_deref(), Some(old_ref.as_str()));
    let privs = hsm.private_keys();
    assert_eq!(privs.len(), 3, "CA, old and new key: {privs:?}");
    hsm.sign("new.ota", &[hsm.signer(&url, "signer-ecdsa-p256")])
        .expect_code(0);
    hsm.stop(i);

    // Eight days on the old certificate has expired: its key is destroyed
    // in the token (private and public object), the row forgets it.
    let later = now + 8 * DAY;
    let (_, i) = hsm.serve(Some(later), "serve-3.log");
    hsm.stop(i);
    let gens = hsm.generations("signer-ecdsa-p256");
    assert_eq!(gens[0], (None, false), "retired: {gens:?}");
    assert_eq!(gens[1].0.as_deref(), Some(new_ref.as_str()));
    let objects = hsm.objects();
    assert!(
        !objects.iter().any(|b| b.contains(&old_label)),
        "old key objects still in the token: {objects:?}"
    );
    assert!(objects.iter().any(|b| b.contains(&label_of(&new_ref))));
    assert_eq!(hsm.private_keys().len(), 2);
    let retired: i64 = hsm
        .db()
        .query_row(
            "SELECT count(*) FROM audit WHERE event = 'retire' AND credential = 'signer-ecdsa-p256'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(retired, 1);

    // Both releases still verify then: the old one through its timestamp
    // (its certificate had expired by that time).
    let at = rfc3339(later);
    hsm.verify("old.ota", "ecdsa-p256", Some(&at))
        .expect_code(0);
    hsm.verify("new.ota", "ecdsa-p256", Some(&at))
        .expect_code(0);
}

#[test]
fn a_swapped_token_key_is_refused() {
    let Some(mut hsm) = Hsm::new("swap") else {
        return;
    };
    hsm.init("ecdsa-p256", &[]);
    let key_ref = hsm.generations("signer-ecdsa-p256")[0]
        .0
        .clone()
        .expect("token key");
    let uri = Pkcs11Uri::parse(&key_ref).unwrap();
    let label = uri.object.unwrap();
    let id = hex(&uri.id.unwrap());
    // Replace the key pair by another one under the same label and id, as
    // someone with the token's PIN could.
    for ty in ["privkey", "pubkey"] {
        let run = hsm.pkcs11_tool(&["--delete-object", "--type", ty, "--id", &id]);
        assert_eq!(run.code, 0, "pkcs11-tool: {}{}", run.stdout, run.stderr);
    }
    let run = hsm.pkcs11_tool(&[
        "--keypairgen",
        "--key-type",
        "EC:prime256v1",
        "--label",
        &label,
        "--id",
        &id,
    ]);
    assert_eq!(run.code, 0, "pkcs11-tool: {}{}", run.stdout, run.stderr);

    let (url, i) = hsm.serve(None, "serve.log");
    let run = hsm.sign("swapped.ota", &[hsm.signer(&url, "signer-ecdsa-p256")]);
    run.expect_code(2);
    assert!(!hsm.dir.join("swapped.ota").exists());
    hsm.stop(i);
    let log = std::fs::read_to_string(hsm.dir.join("serve.log")).unwrap();
    assert!(
        log.contains("does not match the public key stored for it"),
        "{log}"
    );
    // Nothing was signed, and the authorization was not spent on it.
    let signed: i64 = hsm
        .db()
        .query_row(
            "SELECT count(*) FROM audit WHERE event = 'signHash' AND result = 'ok'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(signed, 0);
}
