//! Keys in a PKCS#11 token (real SoftHSM2, OpenSC `pkcs11-tool` as the
//! independent tool that makes and inspects keys, openssl as the independent
//! verifier). Every test makes its own token in a temporary directory with
//! its own `SOFTHSM2_CONF`; nothing global is set.
//!
//! Without SoftHSM2 / pkcs11-tool the tests print a note and pass, except
//! when `CI` is set: then they fail (CI installs both).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use otaseal_manifest::Envelope;
use otaseal_manifest::container::ENVELOPE_MEMBER;
use otaseal_manifest::envelope::sig_structure;
use otaseal_tests::softhsm::{SoftHsmToken, USER_PIN};
use otaseal_tests::*;

/// A SoftHSM2 token of its own: a temporary token directory and config.
struct Token {
    dir: PathBuf,
    conf: PathBuf,
    module: PathBuf,
    label: String,
    pin_file: PathBuf,
}

impl Token {
    fn new(test: &str, label: &str) -> Option<Token> {
        let t = SoftHsmToken::new(&format!("pkcs11-{test}"), label, true)?;
        Some(Token {
            dir: t.dir,
            conf: t.conf,
            module: t.module,
            label: t.label,
            pin_file: t.pin_file,
        })
    }

    /// `pkcs11:token=LABEL;object=OBJ?pin-source=FILE`.
    fn uri(&self, object: &str) -> String {
        format!(
            "pkcs11:token={};object={object}?pin-source={}",
            self.label,
            s(&self.pin_file)
        )
    }

    /// otaseal with this token's SOFTHSM2_CONF and module, stdin closed.
    fn otaseal(&self, args: &[&str]) -> Run {
        self.otaseal_env(args, &[])
    }

    fn otaseal_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(otaseal_bin());
        cmd.args(args)
            .env("SOFTHSM2_CONF", &self.conf)
            .env("OTASEAL_PKCS11_MODULE", &self.module)
            .env_remove("OTASEAL_PKCS11_PIN")
            .stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        run_command(&mut cmd)
    }

    /// `pkcs11-tool --keypairgen` (OpenSC, an independent implementation).
    fn pkcs11_tool_keypair(&self, key_type: &str, label: &str, id: &str) {
        let run = run_command(
            Command::new("pkcs11-tool")
                .env("SOFTHSM2_CONF", &self.conf)
                .arg("--module")
                .arg(&self.module)
                .args(["--token-label", &self.label, "--login", "--pin", USER_PIN])
                .args(["--keypairgen", "--key-type", key_type, "--label", label])
                .args(["--id", id]),
        );
        assert_eq!(run.code, 0, "pkcs11-tool: {}{}", run.stdout, run.stderr);
    }

    /// The public key PEM of `object`, from `otaseal keys list --json`.
    fn public_pem(&self, object: &str) -> String {
        let run = self.otaseal_env(
            &["keys", "list", "--token", &self.label, "--json"],
            &[("OTASEAL_PKCS11_PIN", USER_PIN)],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        let v = run.json();
        let key = v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["class"] == "private" && k["label"] == object)
            .unwrap_or_else(|| panic!("no {object} in {v}"));
        key["public_key_pem"]
            .as_str()
            .expect("public key")
            .to_string()
    }
}

fn sign_args<'a>(out: &'a str, fw: &'a str, signers: &'a [String]) -> Vec<&'a str> {
    let mut args = vec![
        "sign",
        "--out",
        out,
        "--product",
        "acme.hsm",
        "--version",
        "1.0",
        "--security-version",
        "1",
        "--hw-compat",
        "rev-a",
    ];
    for sg in signers {
        args.push("--signer");
        args.push(sg);
    }
    args.push(fw);
    args
}

/// The first signature of a package: (COSE alg, Sig_structure, signature).
fn first_signature(pkg: &Path) -> (i64, Vec<u8>, Vec<u8>) {
    let bytes = read_file(pkg);
    let m = &tar_members(&bytes)[0];
    assert_eq!(m.name, ENVELOPE_MEMBER);
    let env = Envelope::decode(&bytes[m.data..m.data + m.size]).unwrap();
    let sig = &env.signatures[0];
    (
        sig.alg,
        sig_structure(sig.protected, env.manifest),
        sig.signature.to_vec(),
    )
}

/// openssl verifies the package's signature over the rebuilt Sig_structure
/// and refuses it over a changed one.
fn openssl_cross_check(dir: &Path, suite: &str, pub_pem: &Path, pkg: &Path) {
    let (_, tbs, sig) = first_signature(pkg);
    let mut bad = tbs.clone();
    *bad.last_mut().unwrap() ^= 1;
    write_file(dir, "tbs.bin", &tbs);
    write_file(dir, "bad.bin", &bad);
    let (sig_bytes, args): (Vec<u8>, Vec<&str>) = match suite {
        "ecdsa-p256" | "ecdsa-p384" => {
            let md = if suite == "ecdsa-p256" {
                "-sha256"
            } else {
                "-sha384"
            };
            let half = sig.len() / 2;
            let half_n = if suite == "ecdsa-p256" { 32 } else { 48 };
            assert_eq!(half, half_n, "raw r || s");
            (
                raw_sig_to_der(&sig),
                vec!["dgst", md, "-verify", s(pub_pem), "-signature", "sig.bin"],
            )
        }
        "rsa-pss-3072" => (
            sig.clone(),
            vec![
                "dgst",
                "-sha256",
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:32",
                "-sigopt",
                "rsa_mgf1_md:sha256",
                "-verify",
                s(pub_pem),
                "-signature",
                "sig.bin",
            ],
        ),
        "ed25519" => (
            sig.clone(),
            vec![
                "pkeyutl",
                "-verify",
                "-pubin",
                "-inkey",
                s(pub_pem),
                "-rawin",
                "-sigfile",
                "sig.bin",
                "-in",
            ],
        ),
        other => panic!("no openssl check for {other}"),
    };
    write_file(dir, "sig.bin", &sig_bytes);
    let with = |input: &str| {
        run_command(
            Command::new("openssl")
                .args(&args)
                .arg(input)
                .current_dir(dir),
        )
    };
    let good = with("tbs.bin");
    assert_eq!(
        good.code, 0,
        "{suite}: openssl rejects the token's signature: {}{}",
        good.stdout, good.stderr
    );
    assert_ne!(
        with("bad.bin").code,
        0,
        "{suite}: openssl accepts a changed Sig_structure"
    );
}

/// Signs a raw-key package with `object`, verifies it with `otaseal verify
/// --trust-key` and cross-checks the signature with openssl.
fn sign_and_check(t: &Token, object: &str, suite: &str) {
    let fw = write_file(&t.dir, "fw.bin", &pseudo_random(20_000, 3));
    let pkg = t.dir.join(format!("{object}.ota"));
    let signers = [format!("key={},suite={suite}", t.uri(object))];
    let run = t.otaseal(&sign_args(s(&pkg), s(&fw), &signers));
    assert_eq!(run.code, 0, "{object}: {}{}", run.stdout, run.stderr);
    let pub_pem = write_file(
        &t.dir,
        &format!("{object}.pub.pem"),
        t.public_pem(object).as_bytes(),
    );
    t.otaseal(&[
        "verify",
        s(&pkg),
        "--trust-key",
        s(&pub_pem),
        "--hw-id",
        "rev-a",
    ])
    .expect_code(0);
    openssl_cross_check(&t.dir, suite, &pub_pem, &pkg);
}

/// Keys generated in the token by `otaseal keygen` (P-256, P-384) and by
/// `pkcs11-tool` (RSA-3072, Ed25519, P-256) sign packages that `otaseal
/// verify` accepts and openssl cross-checks.
#[test]
fn token_keys_sign_packages_for_every_token_suite() {
    let Some(t) = Token::new("suites", "release") else {
        return;
    };
    for (suite, object) in [("ecdsa-p256", "fw-p256"), ("ecdsa-p384", "fw-p384")] {
        let out = t.uri(object);
        let pub_out = t.dir.join(format!("{object}.keygen.pub.pem"));
        let run = t.otaseal(&[
            "keygen",
            "--alg",
            suite,
            "--out",
            &out,
            "--public-out",
            s(&pub_out),
        ]);
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
        // The public key written by keygen is the one the token reports.
        assert_eq!(
            std::fs::read_to_string(&pub_out).unwrap(),
            t.public_pem(object)
        );
    }
    t.pkcs11_tool_keypair("rsa:3072", "tool-rsa", "a1");
    t.pkcs11_tool_keypair("EC:edwards25519", "tool-ed25519", "a2");
    t.pkcs11_tool_keypair("EC:prime256v1", "tool-p256", "a3");
    for (object, suite) in [
        ("fw-p256", "ecdsa-p256"),
        ("fw-p384", "ecdsa-p384"),
        ("tool-rsa", "rsa-pss-3072"),
        ("tool-ed25519", "ed25519"),
        ("tool-p256", "ecdsa-p256"),
    ] {
        sign_and_check(&t, object, suite);
    }
    // The RSA public key as pkcs11-tool reads it equals otaseal's.
    let run = run_command(
        Command::new("pkcs11-tool")
            .env("SOFTHSM2_CONF", &t.conf)
            .arg("--module")
            .arg(&t.module)
            .args([
                "--token-label",
                "release",
                "--read-object",
                "--type",
                "pubkey",
            ])
            .args(["--label", "tool-rsa", "-o"])
            .arg(t.dir.join("tool-rsa.der")),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let conv = openssl(
        &t.dir,
        &[
            "pkey",
            "-pubin",
            "-inform",
            "DER",
            "-in",
            "tool-rsa.der",
            "-out",
            "tool-rsa.pem",
        ],
    );
    assert_eq!(conv.code, 0, "{}", conv.stderr);
    assert_eq!(
        std::fs::read_to_string(t.dir.join("tool-rsa.pem")).unwrap(),
        t.public_pem("tool-rsa")
    );
    // keys list names every key with the suite it signs as.
    let list = t.otaseal_env(
        &["keys", "list", "--token", "release"],
        &[("OTASEAL_PKCS11_PIN", USER_PIN)],
    );
    assert_eq!(list.code, 0, "{}", list.stderr);
    for want in [
        "fw-p256",
        "fw-p384",
        "tool-rsa",
        "tool-ed25519",
        "ed25519",
        "rsa-pss-3072",
    ] {
        assert!(list.stdout.contains(want), "{want} in:\n{}", list.stdout);
    }
}

/// Hybrid (token ECDSA + file ML-DSA-65) and dual (token ECDSA + file SM2)
/// packages verify.
#[test]
fn token_key_with_file_keys_hybrid_and_dual() {
    let Some(t) = Token::new("hybrid", "release") else {
        return;
    };
    let out = t.uri("fw-p256");
    let p256_pub = t.dir.join("p256.pub.pem");
    let run = t.otaseal(&[
        "keygen",
        "--alg",
        "ecdsa-p256",
        "--out",
        &out,
        "--public-out",
        s(&p256_pub),
    ]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let fw = write_file(&t.dir, "fw.bin", &pseudo_random(5000, 9));
    for (alg, file) in [("ml-dsa-65", "mldsa.pem"), ("sm2", "sm2.pem")] {
        let key = t.dir.join(file);
        t.otaseal(&["keygen", "--alg", alg, "--out", s(&key)])
            .expect_code(0);
        let file_pub = t.dir.join(file.replace(".pem", ".pub.pem"));
        let pkg = t.dir.join(format!("{alg}.ota"));
        let signers = [format!("key={out}"), format!("key={}", s(&key))];
        let run = t.otaseal(&sign_args(s(&pkg), s(&fw), &signers));
        assert_eq!(run.code, 0, "{alg}: {}{}", run.stdout, run.stderr);
        let v = t.otaseal(&[
            "verify",
            s(&pkg),
            "--trust-key",
            s(&p256_pub),
            "--trust-key",
            s(&file_pub),
            "--require",
            alg,
            "--require",
            "ecdsa-p256",
            "--hw-id",
            "rev-a",
            "--json",
        ]);
        assert_eq!(v.code, 0, "{alg}: {}{}", v.stdout, v.stderr);
    }
}

/// A CSR from a token key (and from RSA and SM2 keys) passes `openssl req
/// -verify`; certificates issued from it by `otaseal pki issue` and by
/// `openssl x509 -req` both make packages that verify against the roots.
#[test]
fn csr_from_token_key_issued_by_otaseal_and_openssl() {
    let Some(t) = Token::new("csr", "release") else {
        return;
    };
    let pki = t.dir.join("pki");
    t.otaseal(&["pki", "init", "--dir", s(&pki), "--suites", "ecdsa-p256"])
        .expect_code(0);
    let uri = t.uri("fw-p256");
    t.otaseal(&["keygen", "--alg", "ecdsa-p256", "--out", &uri])
        .expect_code(0);
    t.pkcs11_tool_keypair("rsa:3072", "tool-rsa", "b1");
    let sm2_key = t.dir.join("sm2.pem");
    t.otaseal(&["keygen", "--alg", "sm2", "--out", s(&sm2_key)])
        .expect_code(0);
    for (name, key, extra) in [
        ("p256", uri.clone(), vec![]),
        ("rsa", t.uri("tool-rsa"), vec![]),
        // SM2 with the standard distinguishing id.
        (
            "sm2",
            s(&sm2_key).to_string(),
            vec!["-vfyopt", "distid:1234567812345678"],
        ),
    ] {
        let csr = t.dir.join(format!("{name}.csr"));
        let run = t.otaseal(&[
            "csr",
            "--signer",
            &format!("key={key}"),
            "--subject",
            "CN=Acme release,O=Acme",
            "--out",
            s(&csr),
        ]);
        assert_eq!(run.code, 0, "{name}: {}{}", run.stdout, run.stderr);
        let mut args = vec!["req", "-in", s(&csr), "-noout", "-verify", "-text"];
        args.extend(extra);
        let v = openssl(&t.dir, &args);
        assert_eq!(v.code, 0, "{name}: {}{}", v.stdout, v.stderr);
        assert!(
            format!("{}{}", v.stdout, v.stderr).contains("verify OK"),
            "{name}"
        );
        assert!(v.stdout.contains("Code Signing"), "{name}: EKU requested");
    }
    let fw = write_file(&t.dir, "fw.bin", &pseudo_random(3000, 5));
    let ca = pki.join("ecdsa-p256");
    // Issued by otaseal pki issue.
    let chain = t.dir.join("otaseal.chain.pem");
    t.otaseal(&[
        "pki",
        "issue",
        "--csr",
        s(&t.dir.join("p256.csr")),
        "--ca-dir",
        s(&ca),
        "--out",
        s(&chain),
    ])
    .expect_code(0);
    // Issued by openssl x509 -req.
    let ext = write_file(
        &t.dir,
        "leaf.ext",
        b"basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
    );
    let x = openssl(
        &t.dir,
        &[
            "x509",
            "-req",
            "-in",
            "p256.csr",
            "-CA",
            s(&ca.join("intermediate.cert.pem")),
            "-CAkey",
            s(&ca.join("intermediate.key.pem")),
            "-days",
            "30",
            "-sha256",
            "-extfile",
            s(&ext),
            "-out",
            "openssl-leaf.pem",
        ],
    );
    assert_eq!(x.code, 0, "{}", x.stderr);
    let mut ossl_chain = std::fs::read_to_string(t.dir.join("openssl-leaf.pem")).unwrap();
    ossl_chain.push_str(&std::fs::read_to_string(ca.join("intermediate.cert.pem")).unwrap());
    let ossl_chain = write_file(&t.dir, "openssl.chain.pem", ossl_chain.as_bytes());
    for (name, chain) in [("otaseal", &chain), ("openssl", &ossl_chain)] {
        let pkg = t.dir.join(format!("{name}.ota"));
        let signers = [format!("key={uri},cert={}", s(chain))];
        let run = t.otaseal(&sign_args(s(&pkg), s(&fw), &signers));
        assert_eq!(run.code, 0, "{name}: {}{}", run.stdout, run.stderr);
        let v = t.otaseal(&[
            "verify",
            s(&pkg),
            "--trust",
            s(&pki.join("roots.pem")),
            "--hw-id",
            "rev-a",
        ]);
        assert_eq!(v.code, 0, "{name}: {}{}", v.stdout, v.stderr);
    }
    // A CSR whose signature does not verify is refused, nothing written.
    let mut pem = std::fs::read_to_string(t.dir.join("p256.csr")).unwrap();
    let csr_der = pem_blocks(&pem)[0].1.clone();
    let mut bad = csr_der.clone();
    let n = bad.len();
    bad[n - 5] ^= 1;
    pem = to_pem("CERTIFICATE REQUEST", &bad);
    let bad_csr = write_file(&t.dir, "bad.csr", pem.as_bytes());
    let out = t.dir.join("bad.chain.pem");
    let r = t.otaseal(&[
        "pki",
        "issue",
        "--csr",
        s(&bad_csr),
        "--ca-dir",
        s(&ca),
        "--out",
        s(&out),
    ]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("does not verify"), "{}", r.stderr);
    assert!(!out.exists());
}

/// A TSA whose key is in the token answers 200 concurrent requests: every
/// token verifies (signature, ESS binding, EKU, imprint, chain to the TSA
/// root) and the serial numbers are unique.
#[test]
fn tsa_with_token_key_serves_200_concurrent_requests() {
    use std::io::BufRead;
    let Some(t) = Token::new("tsa", "tsa") else {
        return;
    };
    let pki = t.dir.join("pki");
    t.otaseal(&["pki", "init", "--dir", s(&pki), "--suites", "ecdsa-p256"])
        .expect_code(0);
    let uri = t.uri("tsa-p256");
    t.otaseal(&["keygen", "--alg", "ecdsa-p256", "--out", &uri])
        .expect_code(0);
    let csr = t.dir.join("tsa.csr");
    t.otaseal(&[
        "csr",
        "--signer",
        &format!("key={uri}"),
        "--subject",
        "CN=Acme TSA,O=Acme",
        "--out",
        s(&csr),
    ])
    .expect_code(0);
    let ca = pki.join("ecdsa-p256");
    let chain = t.dir.join("tsa.chain.pem");
    t.otaseal(&[
        "pki",
        "issue",
        "--tsa",
        "--csr",
        s(&csr),
        "--ca-dir",
        s(&ca),
        "--out",
        s(&chain),
    ])
    .expect_code(0);
    let log = std::fs::File::create(t.dir.join("tsa.log")).unwrap();
    let mut child = Command::new(otaseal_bin())
        .env("SOFTHSM2_CONF", &t.conf)
        .env("OTASEAL_PKCS11_MODULE", &t.module)
        .args(["tsa", "serve", "--listen", "127.0.0.1:0", "--key", &uri])
        .arg("--cert")
        .arg(&chain)
        .arg("--serial-store")
        .arg(t.dir.join("serials"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = child.stdout.take().unwrap();
    let _guard = Kill(child);
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("otaseal TSA listening on ")
        .unwrap_or_else(|| {
            panic!(
                "TSA did not start: {line:?} {}",
                std::fs::read_to_string(t.dir.join("tsa.log")).unwrap_or_default()
            )
        })
        .to_string();
    let root_pem = std::fs::read_to_string(ca.join("tsa-root.cert.pem")).unwrap();
    let roots = vec![pem_blocks(&root_pem)[0].1.clone()];

    let barrier = std::sync::Arc::new(std::sync::Barrier::new(200));
    let handles: Vec<_> = (0..200u32)
        .map(|i| {
            let url = url.clone();
            let barrier = barrier.clone();
            let roots = roots.clone();
            std::thread::spawn(move || {
                let field = pseudo_random(64, u64::from(i) + 100);
                let hash = otaseal_tsa::protocol::hash(otaseal_manifest::DigestAlg::Sha256, &field);
                let opts = otaseal_tsa::client::ClientOptions::new([url]);
                let client = otaseal_tsa::client::TsaClient::new(opts).unwrap();
                barrier.wait();
                let token = client
                    .request(otaseal_manifest::DigestAlg::Sha256, &hash)
                    .unwrap_or_else(|e| panic!("request {i}: {e}"));
                otaseal_sign::package::verify_timestamp(
                    &token.der,
                    otaseal_manifest::Suite::EcdsaP256,
                    &field,
                    &roots,
                )
                .unwrap_or_else(|e| panic!("token {i}: {e}"));
                token.serial
            })
        })
        .collect();
    let mut serials: Vec<Vec<u8>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    serials.sort();
    serials.dedup();
    assert_eq!(serials.len(), 200, "serial numbers are unique");
}

/// Asserts exit 2, a one-line error containing `want`, and that `dir`
/// holds exactly the files it held before.
#[track_caller]
fn refused(run: &Run, want: &str, dir: &Path, before: &[PathBuf]) {
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("otaseal: error"))
        .collect();
    assert_eq!(errors.len(), 1, "one error line: {}", run.stderr);
    assert!(
        errors[0].contains(want),
        "expected {want:?} in {:?}",
        errors[0]
    );
    assert_eq!(listing(dir), before, "nothing written");
}

fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// Every bad input: one line, exit 2, no package and no partial file.
#[test]
fn bad_token_input_is_refused_with_exit_2_and_nothing_written() {
    let Some(t) = Token::new("bad", "release") else {
        return;
    };
    let uri = t.uri("fw-p256");
    t.otaseal(&["keygen", "--alg", "ecdsa-p256", "--out", &uri])
        .expect_code(0);
    t.pkcs11_tool_keypair("rsa:2048", "small-rsa", "c1");
    let pki = t.dir.join("pki");
    t.otaseal(&["pki", "init", "--dir", s(&pki), "--suites", "ecdsa-p256"])
        .expect_code(0);
    let other_chain = pki.join("ecdsa-p256").join("signer.chain.pem");
    let fw = write_file(&t.dir, "fw.bin", &pseudo_random(1000, 1));
    let wrong_pin = write_file(&t.dir, "wrong-pin.txt", b"0000\n");
    let pkg = t.dir.join("out.ota");
    let before = listing(&t.dir);
    let sign = |key: &str, env: &[(&str, &str)]| {
        let signers = [key.to_string()];
        t.otaseal_env(&sign_args(s(&pkg), s(&fw), &signers), env)
    };
    // (what, --signer value, extra environment, expected error text)
    type Case<'a> = (&'a str, String, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            "wrong PIN",
            format!(
                "key=pkcs11:token=release;object=fw-p256?pin-source={}",
                s(&wrong_pin)
            ),
            vec![],
            "wrong PIN",
        ),
        (
            "no PIN, no terminal",
            "key=pkcs11:token=release;object=fw-p256".into(),
            vec![],
            "stdin is not a terminal",
        ),
        (
            "missing module",
            format!("key={uri}&module-path=/nonexistent/libnothing.so"),
            vec![],
            "/nonexistent/libnothing.so: no such file",
        ),
        (
            "no module configured",
            format!("key={uri}"),
            vec![("OTASEAL_PKCS11_MODULE", "")],
            "no PKCS#11 module",
        ),
        (
            "unknown token",
            format!(
                "key=pkcs11:token=nope;object=fw-p256?pin-source={}",
                s(&t.pin_file)
            ),
            vec![],
            "no PKCS#11 token \"nope\" (tokens present: \"release\"",
        ),
        (
            "unknown object",
            format!("key={}", t.uri("nope")),
            vec![],
            "has no private key \"nope\" (private keys: ",
        ),
        (
            "key type does not fit the suite",
            format!("key={uri},suite=ecdsa-p384"),
            vec![],
            "is a ecdsa-p256 key, not a ecdsa-p384 key",
        ),
        (
            "key of no otaseal suite",
            format!("key={}", t.uri("small-rsa")),
            vec![],
            "RSA key of 2048 bits",
        ),
        (
            "certificate of another key",
            format!("key={uri},cert={}", s(&other_chain)),
            vec![],
            "does not hold this signer's public key",
        ),
    ];
    for (what, key, env, want) in &cases {
        eprintln!("case: {what}");
        let run = if env.iter().any(|(k, _)| *k == "OTASEAL_PKCS11_MODULE") {
            // No module anywhere: not in the URI, no option, no variable.
            let signers = [key.clone()];
            run_command(
                Command::new(otaseal_bin())
                    .args(sign_args(s(&pkg), s(&fw), &signers))
                    .env("SOFTHSM2_CONF", &t.conf)
                    .env_remove("OTASEAL_PKCS11_MODULE")
                    .env_remove("OTASEAL_PKCS11_PIN")
                    .stdin(Stdio::null()),
            )
        } else {
            sign(key, env)
        };
        refused(&run, want, &t.dir, &before);
    }
    // keygen never overwrites an object in the token.
    let run = t.otaseal(&["keygen", "--alg", "ecdsa-p384", "--out", &uri]);
    refused(&run, "exists already", &t.dir, &before);
    // A mechanism the module lacks: SoftHSM2 has no ML-DSA.
    let run = t.otaseal(&["keygen", "--alg", "ml-dsa-65", "--out", &t.uri("pq")]);
    refused(
        &run,
        "does not offer CKM_ML_DSA_KEY_PAIR_GEN",
        &t.dir,
        &before,
    );
    // keys list with an unknown token lists what exists.
    let run = t.otaseal(&["keys", "list", "--token", "nope"]);
    refused(&run, "tokens present: \"release\"", &t.dir, &before);
}
