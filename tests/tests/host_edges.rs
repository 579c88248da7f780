//! Host-side edges (issue 11, "Host-side edges an adversarial pass found"):
//! archive bombs, single-read verification, token checks before writing,
//! what `--force` may replace, escaping of untrusted strings, temporary
//! files after signals, keygen, input bounds, FIFOs, the TSA server's
//! connection limits, and `--out -`. Every test runs the real binary.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use otaseal_tests::*;

fn created_text() -> String {
    static CREATED: OnceLock<u64> = OnceLock::new();
    rfc3339(*CREATED.get_or_init(|| (unix_now() - 60) / 60 * 60))
}

/// One development PKI (ecdsa-p256 only) shared by the tests here.
fn pki() -> &'static PathBuf {
    static PKI: OnceLock<PathBuf> = OnceLock::new();
    PKI.get_or_init(|| {
        let dir = test_dir("host-edges-pki");
        let pki = dir.join("pki");
        otaseal(["pki", "init", "--dir", s(&pki), "--suites", "ecdsa-p256"]).expect_code(0);
        pki
    })
}

fn signer_arg(pki: &Path) -> String {
    format!(
        "key={},cert={}",
        s(&pki.join("ecdsa-p256/signer.key.pem")),
        s(&pki.join("ecdsa-p256/signer.chain.pem"))
    )
}

fn sign_args(out: &Path, payloads: &[&Path], extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "sign",
        "--out",
        s(out),
        "--product",
        "acme.edges",
        "--version",
        "1.0.0",
        "--security-version",
        "1",
        "--hw-compat",
        "rev-a",
        "--created",
        &created_text(),
        "--signer",
        &signer_arg(pki()),
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    args.extend(extra.iter().map(|a| a.to_string()));
    args.extend(payloads.iter().map(|p| s(p).to_string()));
    args
}

fn sign(out: &Path, payloads: &[&Path], extra: &[&str]) -> Run {
    otaseal(sign_args(out, payloads, extra))
}

/// Exit 2, `needle` in the one-line error, no panic, nothing at `out`.
#[track_caller]
fn refused(run: &Run, needle: &str) {
    run.expect_code(2);
    assert!(
        run.stderr.contains(needle),
        "stderr lacks {needle:?}:\n{}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

/// No `.NAME.*.tmp*` file left in `dir`.
#[track_caller]
fn no_temp_files(dir: &Path) {
    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.') && n.contains(".tmp"))
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

/// `otaseal ARGS` under `ulimit -v KIB` (address space), so a signer that
/// tried to hold a bomb in memory would die instead of passing slowly.
fn otaseal_limited(kib: u64, args: &[String]) -> Run {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit -v {kib} && exec \"$0\" \"$@\""))
        .arg(otaseal_bin())
        .args(args);
    run_command(&mut cmd)
}

fn mkfifo(path: &Path) {
    run_command(Command::new("mkfifo").arg(path)).expect_code(0);
}

// ---------------------------------------------------------------------------
// Archive bombs
// ---------------------------------------------------------------------------

/// A tar.gz whose first member is a metadata member (`L` GNU long name or
/// `x` PAX header) declaring 1 GiB, its data 1 GiB of `a`: written as 1024
/// concatenated gzip members of 1 MiB each (gunzip reads them all), about
/// 1 MB on disk.
fn metadata_bomb(typeflag: u8) -> Vec<u8> {
    use flate2::Compression;
    use flate2::write::GzEncoder;
    const GIB: u64 = 1 << 30;
    let gz = |data: &[u8]| {
        let mut e = GzEncoder::new(Vec::new(), Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    };
    let name: &[u8] = if typeflag == b'L' {
        b"././@LongLink"
    } else {
        b"PaxHeaders/bomb"
    };
    let mut header = ustar_header(name, GIB, 0, typeflag, b"");
    if typeflag == b'L' {
        // GNU magic: the tar crate applies L members only to GNU/ustar headers.
        header[257..265].copy_from_slice(b"ustar  \0");
        fix_tar_checksum(&mut header);
    }
    let mut out = gz(&header);
    let chunk = gz(&vec![b'a'; 1 << 20]);
    for _ in 0..1024 {
        out.extend_from_slice(&chunk);
    }
    out
}

#[test]
fn targz_long_name_and_pax_bombs_are_refused_fast_in_bounded_memory() {
    let dir = test_dir("bomb");
    for (typeflag, limit) in [(b'L', "4097"), (b'x', "65536")] {
        let bomb = write_file(&dir, "rootfs.tar.gz", &metadata_bomb(typeflag));
        assert!(std::fs::metadata(&bomb).unwrap().len() < 4 << 20);
        let out = dir.join("bomb.ota");
        // 800 MB of address space: far more than the signer needs, less
        // than holding the 1 GiB name would.
        let run = otaseal_limited(800_000, &sign_args(&out, &[&bomb], &[]));
        refused(&run, &format!("larger than the limit of {limit} bytes"));
        assert!(run.stderr.contains("rootfs.tar.gz"), "{}", run.stderr);
        assert!(!out.exists());
        no_temp_files(&dir);
    }
}

#[test]
fn targz_with_many_long_names_exceeds_the_metadata_budget() {
    use flate2::Compression;
    use flate2::write::GzEncoder;
    let dir = test_dir("bomb-many");
    // 8000 directories with 4000-byte GNU long names: 32 MB of names, which
    // the inspector would hold twice over plus the long-name members
    // (about 96 MB), above the 64 MiB budget.
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    for i in 0..8000u32 {
        let mut name = format!("{i:08}/").into_bytes();
        name.resize(4000, b'n');
        name.push(b'/');
        name.push(0);
        let mut l = ustar_header(b"././@LongLink", name.len() as u64, 0, b'L', b"");
        l[257..265].copy_from_slice(b"ustar  \0");
        fix_tar_checksum(&mut l);
        e.write_all(&l).unwrap();
        name.resize(name.len().div_ceil(512) * 512, 0);
        e.write_all(&name).unwrap();
        let mut d = ustar_header(b"placeholder/", 0, 0, b'5', b"");
        d[257..265].copy_from_slice(b"ustar  \0");
        fix_tar_checksum(&mut d);
        e.write_all(&d).unwrap();
    }
    e.write_all(&[0u8; 1024]).unwrap();
    let bomb = write_file(&dir, "many.tar.gz", &e.finish().unwrap());
    let out = dir.join("many.ota");
    let run = sign(&out, &[&bomb], &[]);
    refused(&run, "exceed the limit of 67108864 bytes per archive");
    assert!(!out.exists());
}

// ---------------------------------------------------------------------------
// verify: one read
// ---------------------------------------------------------------------------

fn signed_package(name: &str) -> (PathBuf, PathBuf) {
    let dir = test_dir(name);
    let fw = write_file(&dir, "fw.bin", &pseudo_random(70_000, 3));
    let pkg = dir.join("fw.ota");
    sign(&pkg, &[&fw], &[]).expect_code(0);
    (dir, pkg)
}

/// `verify -` reads the package once from standard input (a pipe) and
/// reports the manifest, signatures and payloads it verified.
#[test]
fn verify_reads_stdin_once_and_reports_what_it_verified() {
    let (_dir, pkg) = signed_package("verify-stdin");
    let bytes = read_file(&pkg);
    let roots = pki().join("roots.pem");
    let mut child = Command::new(otaseal_bin())
        .args(["verify", "-", "--json", "--trust", s(&roots)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        // Small writes: the verifier sees short reads from a pipe.
        for part in bytes.chunks(3000) {
            if stdin.write_all(part).is_err() {
                break;
            }
        }
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(j["verdict"], "accepted");
    assert_eq!(j["manifest"]["product"], "acme.edges");
    assert_eq!(j["signatures"][0]["status"], "valid");
    assert_eq!(j["payloads"][0]["name"], "fw.bin");
    assert_eq!(j["payloads"][0]["status"], "ok");
}

/// A named pipe (what `<(...)` gives) works too.
#[test]
fn verify_reads_a_named_pipe() {
    let (dir, pkg) = signed_package("verify-fifo");
    let fifo = dir.join("pkg.pipe");
    mkfifo(&fifo);
    let bytes = read_file(&pkg);
    let fifo2 = fifo.clone();
    let writer = std::thread::spawn(move || {
        let mut f = std::fs::OpenOptions::new().write(true).open(fifo2).unwrap();
        let _ = f.write_all(&bytes);
    });
    let roots = pki().join("roots.pem");
    let run = otaseal(["verify", s(&fifo), "--trust", s(&roots)]);
    writer.join().unwrap();
    run.expect_code(0);
    assert!(run.stdout.starts_with("ACCEPTED"), "{}", run.stdout);
    assert!(run.stdout.contains("acme.edges 1.0.0"), "{}", run.stdout);
    assert!(run.stdout.contains("fw.bin"), "{}", run.stdout);
}

#[test]
fn verify_max_envelope_is_range_checked() {
    let (_dir, pkg) = signed_package("verify-max-envelope");
    let roots = pki().join("roots.pem");
    for value in ["100", "2047", "262145", "18446744073709551615"] {
        let run = otaseal([
            "verify",
            s(&pkg),
            "--trust",
            s(&roots),
            "--max-envelope",
            value,
        ]);
        refused(&run, "--max-envelope");
    }
    otaseal([
        "verify",
        s(&pkg),
        "--trust",
        s(&roots),
        "--max-envelope",
        "262144",
    ])
    .expect_code(0);
}

// ---------------------------------------------------------------------------
// Tokens are verified before anything is written
// ---------------------------------------------------------------------------

/// A TSA whose chain is not under `--tsa-trust`: `sign` writes nothing and
/// `timestamp` in place leaves the package as it was.
#[test]
fn untrusted_tsa_tokens_are_refused_before_writing() {
    let dir = test_dir("tsa-untrusted");
    let other = dir.join("other-pki");
    otaseal(["pki", "init", "--dir", s(&other), "--suites", "ecdsa-p256"]).expect_code(0);
    let tsa = start_tsa(
        &dir,
        "tsa",
        &pki().join("ecdsa-p256/tsa.key.pem"),
        &pki().join("ecdsa-p256/tsa.chain.pem"),
    );
    let fw = write_file(&dir, "fw.bin", &pseudo_random(10_000, 4));
    let out = dir.join("ts.ota");
    let wrong_roots = other.join("tsa-roots.pem");
    let run = sign(
        &out,
        &[&fw],
        &["--tsa", &tsa.url, "--tsa-trust", s(&wrong_roots)],
    );
    refused(&run, "does not verify");
    assert!(!out.exists());
    no_temp_files(&dir);

    // The right roots: signed, and the token verifies.
    let good_roots = pki().join("tsa-roots.pem");
    sign(
        &out,
        &[&fw],
        &["--tsa", &tsa.url, "--tsa-trust", s(&good_roots)],
    )
    .expect_code(0);

    // In place with the wrong roots: the package is untouched.
    let plain = dir.join("plain.ota");
    sign(&plain, &[&fw], &[]).expect_code(0);
    let before = read_file(&plain);
    let run = otaseal([
        "timestamp",
        s(&plain),
        "--tsa",
        &tsa.url,
        "--tsa-trust",
        s(&wrong_roots),
    ]);
    refused(&run, "does not verify");
    assert_eq!(read_file(&plain), before);
    no_temp_files(&dir);
}

/// A malformed `--tsa` URL is an error before any payload is opened.
#[test]
fn bad_tsa_url_is_refused_up_front() {
    let dir = test_dir("tsa-bad-url");
    let out = dir.join("x.ota");
    let missing = dir.join("not-there.bin");
    let run = sign(&out, &[&missing], &["--tsa", "ftp//nowhere"]);
    refused(&run, "TSA URL");
}

/// In place on a symlink: the target is timestamped, the link stays.
#[test]
fn timestamp_in_place_writes_through_a_symlink() {
    let dir = test_dir("tsa-symlink");
    let tsa = start_tsa(
        &dir,
        "tsa",
        &pki().join("ecdsa-p256/tsa.key.pem"),
        &pki().join("ecdsa-p256/tsa.chain.pem"),
    );
    let fw = write_file(&dir, "fw.bin", &pseudo_random(10_000, 6));
    let real = dir.join("real.ota");
    sign(&real, &[&fw], &[]).expect_code(0);
    let link = dir.join("link.ota");
    std::os::unix::fs::symlink("real.ota", &link).unwrap();
    otaseal(["timestamp", s(&link), "--tsa", &tsa.url]).expect_code(0);
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let j = otaseal(["inspect", s(&real), "--json"]).json();
    assert!(j["signatures"][0]["timestamp"].is_object(), "{j}");
    no_temp_files(&dir);
}

// ---------------------------------------------------------------------------
// Outputs
// ---------------------------------------------------------------------------

#[test]
fn force_replaces_only_regular_files() {
    let dir = test_dir("force");
    let fw = write_file(&dir, "fw.bin", b"firmware");
    let fifo = dir.join("out.fifo");
    mkfifo(&fifo);
    let sub = dir.join("out.dir");
    std::fs::create_dir(&sub).unwrap();
    let link = dir.join("out.link");
    std::os::unix::fs::symlink("fw.bin", &link).unwrap();
    for out in [&fifo, &sub, &link] {
        let run = sign(out, &[&fw], &["--force"]);
        refused(&run, "is not a regular file");
    }
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(
        &std::fs::symlink_metadata(&fifo).unwrap().file_type()
    ));
    assert!(sub.is_dir());
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    // A regular file is replaced.
    let reg = write_file(&dir, "out.ota", b"old");
    sign(&reg, &[&fw], &["--force"]).expect_code(0);
    assert_ne!(read_file(&reg), b"old");
    no_temp_files(&dir);
}

#[test]
fn out_dash_is_refused() {
    let dir = test_dir("out-dash");
    let fw = write_file(&dir, "fw.bin", b"firmware");
    let mut cmd = Command::new(otaseal_bin());
    cmd.args(sign_args(Path::new("-"), &[&fw], &[]))
        .current_dir(&dir);
    let run = run_command(&mut cmd);
    refused(&run, "--out -");
    assert!(!dir.join("-").exists());
}

// ---------------------------------------------------------------------------
// Escaping untrusted strings
// ---------------------------------------------------------------------------

/// A certificate whose common name carries terminal control sequences is
/// printed escaped by `verify` and `inspect`.
#[test]
fn control_characters_in_certificate_names_are_escaped() {
    use otaseal_sign::keys::SigningKey;
    use otaseal_sign::pki::{CertProfile, CertRequest, certs_to_pem, issue_certificate};
    let dir = test_dir("escape");
    let now = unix_now();
    let root_key = SigningKey::generate(otaseal_manifest::Suite::EcdsaP256).unwrap();
    let root = issue_certificate(&CertRequest {
        subject_cn: "evil root",
        profile: CertProfile::Root,
        not_before: now - 3600,
        not_after: now + 86_400,
        subject_key: &root_key,
        issuer: None,
        serial: None,
    })
    .unwrap();
    let leaf_key = SigningKey::generate(otaseal_manifest::Suite::EcdsaP256).unwrap();
    let evil_cn = "x\u{1b}[2K\rACCEPTED \u{1b}[32mvalid\u{7}\u{202e}";
    let leaf = issue_certificate(&CertRequest {
        subject_cn: evil_cn,
        profile: CertProfile::CodeSigningLeaf,
        not_before: now - 3600,
        not_after: now + 86_400,
        subject_key: &leaf_key,
        issuer: Some((&root_key, &root)),
        serial: None,
    })
    .unwrap();
    let key_path = dir.join("leaf.key.pem");
    leaf_key.write_private_pem(&key_path).unwrap();
    let chain = write_file(&dir, "leaf.chain.pem", certs_to_pem(&[leaf]).as_bytes());
    let roots = write_file(&dir, "root.pem", certs_to_pem(&[root]).as_bytes());
    let fw = write_file(&dir, "fw.bin", b"firmware");
    let pkg = dir.join("evil.ota");
    otaseal([
        "sign",
        "--out",
        s(&pkg),
        "--product",
        "acme.evil",
        "--version",
        "1",
        "--security-version",
        "1",
        "--hw-compat",
        "a",
        "--signer",
        &format!("key={},cert={}", s(&key_path), s(&chain)),
        s(&fw),
    ])
    .expect_code(0);
    let verify = otaseal(["verify", s(&pkg), "--trust", s(&roots), "--hw-id", "b"]);
    verify.expect_code(1);
    let inspect = otaseal(["inspect", s(&pkg)]);
    inspect.expect_code(0);
    for out in [&verify.stdout, &inspect.stdout] {
        assert!(
            !out.contains('\u{1b}') && !out.contains('\u{7}') && !out.contains('\u{202e}'),
            "raw control characters in:\n{out:?}"
        );
        assert!(out.contains("x\\u{1b}[2K\\rACCEPTED"), "{out:?}");
        assert!(out.contains("\\u{202e}"), "{out:?}");
    }
}

// ---------------------------------------------------------------------------
// Temporary files, keygen, inputs
// ---------------------------------------------------------------------------

/// SIGTERM and SIGINT while a package is being written: the temporary file
/// goes too.
#[test]
fn signals_remove_temporary_files() {
    let dir = test_dir("signals");
    // A 3 GiB sparse image: hashing it takes many seconds, so the signal
    // surely arrives while the temporary package is being written.
    let big = dir.join("big.img");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(3 << 30)
        .unwrap();
    for signal in ["TERM", "INT"] {
        let out = dir.join("big.ota");
        let mut child = Command::new(otaseal_bin())
            .args(sign_args(&out, &[&big], &[]))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let tmp_seen = loop {
            let seen = std::fs::read_dir(&dir)
                .unwrap()
                .filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().contains(".tmp"));
            if seen || Instant::now() > deadline {
                break seen;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        assert!(tmp_seen, "no temporary file appeared");
        run_command(Command::new("kill").args([format!("-{signal}"), child.id().to_string()]))
            .expect_code(0);
        let status = child.wait().unwrap();
        // The handler removes the temporary file, then exits as a shell
        // reports the signal (128 + its number), not killed by it.
        let number = if signal == "TERM" { 15 } else { 2 };
        assert_eq!(status.code(), Some(128 + number), "{status:?}");
        assert!(!out.exists());
        no_temp_files(&dir);
    }
}

#[test]
fn keygen_refuses_one_path_for_both_halves_and_symlinks() {
    let dir = test_dir("keygen-edges");
    let k = dir.join("k.pem");
    let run = otaseal([
        "keygen",
        "--alg",
        "ecdsa-p256",
        "--out",
        s(&k),
        "--public-out",
        s(&k),
    ]);
    refused(&run, "both name");
    assert!(!k.exists());

    // A dangling symlink where the public key would go: refused, nothing
    // written through it, no private key left behind.
    let target = dir.join("elsewhere.pem");
    std::os::unix::fs::symlink(&target, dir.join("k2.pub.pem")).unwrap();
    let k2 = dir.join("k2.pem");
    let run = otaseal(["keygen", "--alg", "ecdsa-p256", "--out", s(&k2)]);
    refused(&run, "exists (or is a symlink)");
    assert!(!target.exists());
    assert!(!k2.exists());

    // The public half cannot be written (its directory does not exist):
    // the private key is not kept either.
    let k3 = dir.join("k3.pem");
    let run = otaseal([
        "keygen",
        "--alg",
        "ecdsa-p256",
        "--out",
        s(&k3),
        "--public-out",
        s(&dir.join("no-such-dir/k3.pub.pem")),
    ]);
    refused(&run, "the private key was not kept");
    assert!(!k3.exists());
}

#[test]
fn command_line_files_are_read_with_a_size_bound() {
    let (_dir, pkg) = signed_package("bounded-inputs");
    let run = otaseal(["verify", s(&pkg), "--trust", "/dev/zero"]);
    refused(&run, "larger than the limit of 4194304 bytes");
    let dir = test_dir("bounded-key");
    let fw = write_file(&dir, "fw.bin", b"firmware");
    let run = otaseal(
        sign_args(&dir.join("o.ota"), &[&fw], &[])
            .into_iter()
            .map(|a| {
                if a.starts_with("key=") {
                    "key=/dev/zero".to_string()
                } else {
                    a
                }
            }),
    );
    refused(&run, "larger than the limit of 4194304 bytes");
}

#[test]
fn fifo_payload_is_refused_without_hanging() {
    let dir = test_dir("fifo-payload");
    let fifo = dir.join("fw.bin");
    mkfifo(&fifo);
    let out = dir.join("o.ota");
    let mut child = Command::new(otaseal_bin())
        .args(sign_args(&out, &[&fifo], &[]))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("sign hangs on a FIFO payload");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("not a regular file"), "{err}");
    assert!(!out.exists());
}

// ---------------------------------------------------------------------------
// TSA server
// ---------------------------------------------------------------------------

/// Sends one request and reports whether an HTTP answer came back.
fn served(addr: std::net::SocketAddr) -> bool {
    use std::io::Read;
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let body = b"not a query";
    let head = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/timestamp-query\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if s.write_all(head.as_bytes())
        .and_then(|()| s.write_all(body))
        .is_err()
    {
        return false;
    }
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    answer.starts_with(b"HTTP/1.1 ")
}

/// 600 idle connections from one address do not take every slot: the
/// per-peer limit closes most at accept, and the idle timeout (1 s here)
/// ends the others, so a client is served again within seconds (before:
/// 512 idle connections held every slot until hyper's 10 s header timeout,
/// and kept-alive idle ones for the 120 s connection life).
#[test]
fn idle_connections_do_not_starve_the_tsa() {
    let dir = test_dir("tsa-idle");
    let tsa = try_start_tsa(
        &dir,
        "tsa",
        &pki().join("ecdsa-p256/tsa.key.pem"),
        &pki().join("ecdsa-p256/tsa.chain.pem"),
        &["--idle-timeout", "1"],
    )
    .unwrap();
    let addr: std::net::SocketAddr = tsa
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let idle: Vec<_> = (0..600)
        .filter_map(|_| std::net::TcpStream::connect(addr).ok())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    // Well under hyper's 10 s header timeout, which alone would free the
    // slots eventually; well over the 1 s idle timeout asked for here.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut ok = false;
    while Instant::now() < deadline {
        if served(addr) {
            ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(idle);
    assert!(ok, "the TSA served nobody while idle connections were open");
}
