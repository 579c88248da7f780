//! `otaseal sign --signer csc=...` against a real `otaseal csc serve` on
//! 127.0.0.1 over HTTPS (its certificate from a throwaway openssl CA, passed
//! with `ca=`): dual (ECDSA + SM2) and hybrid (ECDSA + ML-DSA-65) releases
//! timestamped through the service and accepted by `otaseal verify` with the
//! service's roots; every refusal exits 2 and writes nothing; a service that
//! returns wrong signatures is caught before anything is written.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use otaseal_tests::{
    Run, have_openssl, loopback_tls_pki, openssl, otaseal, pseudo_random, test_dir, write_file,
};

/// A running `otaseal csc serve` with HTTPS.
struct Service {
    dir: PathBuf,
    child: Child,
    url: String,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

impl Service {
    /// `otaseal csc init` (ECDSA P-256, SM2, ML-DSA-65 credentials), HTTPS,
    /// a second client `other` granted nothing, then `otaseal csc serve`.
    fn start(name: &str, serve_args: &[&str]) -> Option<Service> {
        if !have_openssl() {
            return None;
        }
        let dir = test_dir(name);
        let csc = dir.join("csc");
        otaseal([
            "csc",
            "init",
            "--dir",
            p(&csc),
            "--suites",
            "ecdsa-p256,sm2,ml-dsa-65",
        ])
        .expect_code(0);
        loopback_tls_pki(&dir, "https-");
        let config = csc.join("config.json");
        let mut cfg: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
        cfg["tls"] = serde_json::json!({
            "cert_chain_pem": p(&dir.join("https-server.pem")),
            "key_pem": p(&dir.join("https-server.key")),
        });
        std::fs::write(&config, cfg.to_string()).unwrap();
        // A client that exists but is granted no credential (real SQLite,
        // the service's own file, before the service opens it).
        let store = otaseal_csc::store::Store::open(&csc.join("csc.db")).unwrap();
        store
            .put_client(&otaseal_csc::store::ClientRow {
                id: "other".into(),
                secret_hash: otaseal_csc::auth::hash_secret("other-secret").unwrap(),
                rate_per_minute: 600,
            })
            .unwrap();
        drop(store);
        write_file(&dir, "other.secret", b"other-secret\n");
        write_file(&dir, "wrong.secret", b"not-the-secret\n");

        let mut child = Command::new(otaseal_tests::otaseal_bin())
            .args(["csc", "serve", "--config", p(&config), "--listen"])
            .arg("127.0.0.1:0")
            .args(serve_args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line.trim().rsplit(' ').next().unwrap().to_string();
        assert!(url.starts_with("https://127.0.0.1:"), "{line}");
        Some(Service { dir, child, url })
    }

    fn payload(&self) -> PathBuf {
        let path = self.dir.join("fw.bin");
        if !path.exists() {
            write_file(&self.dir, "fw.bin", &pseudo_random(300_000, 7));
        }
        path
    }

    /// `csc=URL,credential=ID,secret=file:...,ca=...` plus `extra`.
    fn signer(&self, credential: &str, extra: &str) -> String {
        format!(
            "csc={},credential={credential},secret=file:{},ca={}{extra}",
            self.url,
            p(&self.dir.join("csc/build.secret")),
            p(&self.dir.join("https-ca.pem")),
        )
    }

    fn sign(&self, out: &str, signers: &[String], extra: &[&str]) -> Run {
        let out = self.dir.join(out);
        let mut args: Vec<String> = [
            "sign",
            "--out",
            p(&out),
            "--product",
            "acme.router-x1",
            "--version",
            "1.2.0",
            "--security-version",
            "12",
            "--hw-compat",
            "rev-a",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for s in signers {
            args.push("--signer".into());
            args.push(s.clone());
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        args.push(p(&self.payload()).to_string());
        otaseal(args)
    }

    fn verify(&self, package: &str, require: &str) -> Run {
        let ca = self.dir.join("csc/ca.pem");
        otaseal([
            "verify",
            "--trust",
            p(&ca),
            "--tsa-trust",
            p(&ca),
            "--require",
            require,
            "--require-timestamp",
            "--hw-id",
            "rev-a",
            p(&self.dir.join(package)),
        ])
    }

    /// Audit events of one kind for one credential (the service's SQLite file).
    fn audit_count(&self, event: &str, credential: &str) -> usize {
        let store = otaseal_csc::store::Store::open(&self.dir.join("csc/csc.db")).unwrap();
        store
            .audit_records()
            .unwrap()
            .iter()
            .filter(|r| r.event == event && r.credential == credential)
            .count()
    }

    /// Asserts exit 2, a one-line error containing `needle`, and no file.
    #[track_caller]
    fn refused(&self, run: &Run, out: &str, needle: &str) {
        run.expect_code(2);
        let err = run.stderr.trim();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(needle), "expected {needle:?} in {err}");
        assert!(!self.dir.join(out).exists(), "{out} was written");
        let leftovers: Vec<_> = std::fs::read_dir(&self.dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(out))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}

#[test]
fn dual_and_hybrid_releases_signed_and_timestamped_through_the_service_verify() {
    let Some(svc) = Service::start("csc-sign-ok", &[]) else {
        return;
    };
    // Dual: ECDSA P-256 + SM2, both timestamped by the service, one
    // connection (same URL, client, secret) for both credentials.
    let run = svc.sign(
        "dual.ota",
        &[
            svc.signer("signer-ecdsa-p256", ",tsa=service"),
            svc.signer("signer-sm2", ",tsa=service"),
        ],
        &["--json"],
    );
    run.expect_code(0);
    let v = run.json();
    for (i, suite) in ["ecdsa-p256", "sm2"].iter().enumerate() {
        assert_eq!(v["signers"][i]["suite"], *suite, "{v}");
        assert_eq!(v["signers"][i]["timestamped"], true, "{v}");
        assert!(v["signers"][i]["certificates"].as_u64().unwrap() >= 1);
    }
    let ok = svc.verify("dual.ota", "ecdsa-p256+sm2");
    ok.expect_code(0);
    assert!(
        ok.stdout.contains("otaseal CSC time-stamping"),
        "{}",
        ok.stdout
    );
    // One authorize and one signHash per credential for the run.
    for cred in ["signer-ecdsa-p256", "signer-sm2"] {
        assert_eq!(svc.audit_count("authorize", cred), 1, "{cred}");
        assert_eq!(svc.audit_count("signHash", cred), 1, "{cred}");
    }

    // Hybrid: ECDSA P-256 + ML-DSA-65 (External-mu), Basic auth this time.
    let run = svc.sign(
        "hybrid.ota",
        &[
            svc.signer("signer-ecdsa-p256", ",auth=basic,tsa=service"),
            svc.signer("signer-ml-dsa-65", ",auth=basic,tsa=service"),
        ],
        &[],
    );
    run.expect_code(0);
    svc.verify("hybrid.ota", "ecdsa-p256+ml-dsa-65")
        .expect_code(0);
    // Without the service's time-stamping root the timestamps are refused.
    let ca = svc.dir.join("csc/ca.pem");
    otaseal([
        "verify",
        "--trust",
        p(&ca),
        "--require-timestamp",
        "--hw-id",
        "rev-a",
        p(&svc.dir.join("hybrid.ota")),
    ])
    .expect_code(1);
    // A chain given with cert= must be the credential's.
    let leaf_of_other = svc.dir.join("https-server.pem");
    let run = svc.sign(
        "cert.ota",
        &[svc.signer("signer-ecdsa-p256", &format!(",cert={}", p(&leaf_of_other)))],
        &[],
    );
    svc.refused(&run, "cert.ota", "not the credential's key");
    otaseal([
        "csc",
        "audit",
        "verify",
        "--config",
        p(&svc.dir.join("csc/config.json")),
    ])
    .expect_code(0);
}

#[test]
fn refusals_exit_2_and_write_nothing() {
    let Some(svc) = Service::start("csc-sign-refused", &[]) else {
        return;
    };
    let https_ca = svc.dir.join("https-ca.pem");
    let url = &svc.url;
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "bad secret",
            format!(
                "csc={url},credential=signer-sm2,secret=file:{},ca={}",
                p(&svc.dir.join("wrong.secret")),
                p(&https_ca)
            ),
            "invalid_client",
        ),
        (
            "unknown credential",
            svc.signer("signer-nope", ""),
            "access_denied",
        ),
        (
            "credential not granted",
            format!(
                "csc={url},credential=signer-sm2,client=other,secret=file:{},ca={}",
                p(&svc.dir.join("other.secret")),
                p(&https_ca)
            ),
            "access_denied",
        ),
        (
            "secret on the command line",
            format!(
                "csc={url},credential=signer-sm2,secret=hunter2,ca={}",
                p(&https_ca)
            ),
            "never the secret itself",
        ),
        (
            "missing secret file",
            format!(
                "csc={url},credential=signer-sm2,secret=file:{},ca={}",
                p(&svc.dir.join("absent.secret")),
                p(&https_ca)
            ),
            "absent.secret",
        ),
        (
            "no credential",
            format!("csc={url},ca={}", p(&https_ca)),
            "credential= is missing",
        ),
    ];
    for (what, signer, needle) in &cases {
        let run = svc.sign("x.ota", std::slice::from_ref(signer), &[]);
        svc.refused(&run, "x.ota", needle);
        assert!(!run.stderr.contains("hunter2"), "{what}: {}", run.stderr);
    }
    // Wrong CA: the service's HTTPS certificate is not trusted (no ca=, and
    // another CA's file).
    loopback_tls_pki(&svc.dir, "other-https-");
    for ca in [
        "".to_string(),
        format!(",ca={}", p(&svc.dir.join("other-https-ca.pem"))),
    ] {
        let signer = format!(
            "csc={url},credential=signer-sm2,secret=file:{}{ca}",
            p(&svc.dir.join("csc/build.secret"))
        );
        let run = svc.sign("x.ota", &[signer], &[]);
        svc.refused(&run, "x.ota", "unreachable");
    }
    // Nothing was signed for any of them.
    assert_eq!(svc.audit_count("signHash", "signer-sm2"), 0);
}

/// A stand-in CSC service on 127.0.0.1 whose one credential is Ed25519:
/// otaseal's service never creates one (hash-only), so this is the only way
/// to meet such a credential. It answers `info`, `oauth2/token`,
/// `credentials/info` and `auth/revoke` (plain HTTP on loopback).
fn ed25519_stand_in(dir: &Path) -> (String, std::thread::JoinHandle<Vec<String>>) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ed25519",
            "-nodes",
            "-keyout",
            "ed.key",
            "-out",
            "ed.pem",
            "-days",
            "30",
            "-subj",
            "/CN=ed25519 credential",
        ],
    );
    let pem = std::fs::read_to_string(dir.join("ed.pem")).unwrap();
    let der = otaseal_tests::pem_blocks(&pem).remove(0).1;
    let cert_b64 = otaseal_tests::base64_encode(&der);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/csc/v2", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for stream in listener.incoming() {
            let mut s = stream.unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut request = String::new();
            r.read_line(&mut request).unwrap();
            let mut len = 0usize;
            loop {
                let mut h = String::new();
                r.read_line(&mut h).unwrap();
                if h.trim().is_empty() {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            let method = request.split(' ').nth(1).unwrap_or("").to_string();
            let answer = match method.trim_start_matches("/csc/v2/") {
                "info" => serde_json::json!({"specs": "2.0.0.2", "name": "stand-in", "methods": ["credentials/info"]}),
                "oauth2/token" => serde_json::json!({"access_token": "t", "token_type": "Bearer", "expires_in": 60}),
                "credentials/info" => serde_json::json!({
                    "key": {"status": "enabled", "algo": ["1.3.101.112"], "len": 256},
                    "cert": {"status": "valid", "certificates": [cert_b64]},
                    "SCAL": "1", "multisign": 1
                }),
                _ => serde_json::json!({}),
            }
            .to_string();
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
            let done = method.ends_with("auth/revoke");
            seen.push(method);
            if done {
                break;
            }
        }
        seen
    });
    (url, handle)
}

#[test]
fn an_ed25519_credential_is_refused_with_a_clear_message() {
    if !have_openssl() {
        return;
    }
    let dir = test_dir("csc-sign-ed25519");
    let (url, server) = ed25519_stand_in(&dir);
    write_file(&dir, "s.secret", b"s\n");
    write_file(&dir, "fw.bin", b"firmware");
    let out = dir.join("x.ota");
    let run = otaseal([
        "sign",
        "--out",
        p(&out),
        "--product",
        "acme.x",
        "--version",
        "1",
        "--security-version",
        "1",
        "--hw-compat",
        "rev-a",
        "--signer",
        &format!(
            "csc={url},credential=ed,secret=file:{}",
            p(&dir.join("s.secret"))
        ),
        p(&dir.join("fw.bin")),
    ]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("Ed25519") && run.stderr.contains("cannot be signed from a hash"),
        "{}",
        run.stderr
    );
    assert!(!out.exists());
    let seen = server.join().unwrap();
    assert!(
        !seen
            .iter()
            .any(|m| m.contains("authorize") || m.contains("signHash")),
        "{seen:?}"
    );
}

#[test]
fn wrong_signatures_from_the_service_are_caught_before_anything_is_written() {
    let Some(svc) = Service::start("csc-sign-corrupt", &["--test-corrupt-signatures"]) else {
        return;
    };
    for cred in ["signer-ecdsa-p256", "signer-sm2", "signer-ml-dsa-65"] {
        let run = svc.sign("bad.ota", &[svc.signer(cred, ",tsa=service")], &[]);
        svc.refused(&run, "bad.ota", "does not verify");
    }
}

/// README "Signing a release through the service": the shell block runs as
/// written (only the port is swapped for a free one, since 8780 may be in
/// use on a test machine).
#[test]
fn the_readme_walkthrough_runs_as_written() {
    let readme = std::fs::read_to_string(otaseal_tests::repo_root().join("README.md")).unwrap();
    let at = readme
        .find("<!-- csc-walkthrough -->")
        .expect("README marker");
    let start = readme[at..].find("```sh\n").unwrap() + at + 6;
    let end = readme[start..].find("```").unwrap() + start;
    let block = &readme[start..end];
    assert!(block.contains("otaseal sign") && block.contains("otaseal verify"));
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let script = block.replace("8780", &port.to_string()).replace(
        "otaseal csc serve --config csc/config.json",
        &format!("otaseal csc serve --config csc/config.json --listen 127.0.0.1:{port}"),
    );
    let dir = test_dir("csc-readme");
    let bin_dir = otaseal_tests::otaseal_bin().parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = otaseal_tests::run_command(
        Command::new("bash")
            .arg("-euc")
            // A failing line must not leave the service running.
            .arg(format!(
                "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n{script}"
            ))
            .current_dir(&dir)
            .env("PATH", path),
    );
    run.expect_code(0);
    assert!(run.stdout.contains("ACCEPTED fw-1.0.ota"), "{}", run.stdout);
    assert!(run.stdout.contains("(timestamped)"), "{}", run.stdout);
}
