//! Shared harness for otaseal's cross-crate and command-line tests.
//!
//! Tests run the real `otaseal` binary, the real `openssl` command and real
//! files; nothing is mocked. Every test works in its own directory under
//! `target/otaseal-tests/`.

pub mod pg;
pub mod softhsm;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The workspace root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `firmware-fixtures/`.
pub fn fixtures_dir() -> PathBuf {
    repo_root().join("firmware-fixtures")
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

/// Path of the `otaseal` binary (see `workspace_bin`).
pub fn otaseal_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| workspace_bin("otaseal")).clone()
}

/// Path of the `otaseal-agent` binary (see `workspace_bin`).
pub fn agent_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| workspace_bin("otaseal-agent")).clone()
}

/// Path of a workspace binary, made up to date first.
///
/// Built with every workspace binary at once (`cargo build --workspace
/// --bins`), not with `cargo build -p <crate>`: a build of one package
/// resolves the features of shared dependencies (tokio, hyper, rustls,
/// reqwest, ...) for that package alone, so the CLI and the agent each got
/// their own copy of those dependencies, rebuilt in every test run that
/// asked for the other. `cargo test` itself does not build other packages'
/// binaries, so this build is needed; after the first call it is a no-op
/// check.
fn workspace_bin(name: &str) -> PathBuf {
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet", "--workspace", "--bins"])
        .current_dir(repo_root());
    if profile == "release" {
        cmd.arg("--release");
    }
    let status = cmd.status().expect("run cargo build");
    assert!(status.success(), "building the workspace's binaries failed");
    let bin = target_dir().join(profile).join(name);
    assert!(bin.is_file(), "{} was not built", bin.display());
    bin
}

/// A finished command.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Standard output parsed as one JSON value.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// Asserts the exit code, showing the output otherwise.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code, code,
            "unexpected exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Runs `otaseal` with `args`.
pub fn otaseal<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run_command(Command::new(otaseal_bin()).args(args))
}

/// Runs any command and collects its output.
pub fn run_command(cmd: &mut Command) -> Run {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A fresh, empty directory for one test.
pub fn test_dir(name: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = target_dir()
        .join("otaseal-tests")
        .join(format!("{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create test dir");
    dir
}

/// Whether the command-line tool `name` runs (`name version` / `--version`
/// succeeds). A missing tool fails the calling test when the `CI`
/// environment variable is set (CI installs every tool, so a skip there
/// would hide a test); elsewhere it prints a note and returns `false`, and
/// the test skips.
#[track_caller]
pub fn require_tool(name: &str) -> bool {
    let runs = |arg: &str| {
        Command::new(name)
            .arg(arg)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if runs("version") || runs("--version") {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("`{name}` is required on CI (the CI environment variable is set) and does not run");
    }
    eprintln!("note: `{name}` not found; skipping (it would fail with CI set)");
    false
}

/// Whether the `openssl` command is available: [`require_tool`], so it
/// fails the test on CI when missing.
#[track_caller]
pub fn have_openssl() -> bool {
    require_tool("openssl")
}

/// Runs `openssl` with `args` in `dir`, panicking with its output on failure.
#[track_caller]
pub fn openssl(dir: &Path, args: &[&str]) -> Run {
    let run = run_command(Command::new("openssl").args(args).current_dir(dir));
    assert_eq!(
        run.code, 0,
        "openssl {args:?} failed:\n{}\n{}",
        run.stdout, run.stderr
    );
    run
}

/// A throwaway CA and a server certificate for 127.0.0.1 made by openssl in
/// `dir`: `<prefix>ca.pem` (and `.key`), `<prefix>server.pem` and
/// `<prefix>server.key` (P-256, 30 days, SAN IP:127.0.0.1, serverAuth).
#[track_caller]
pub fn loopback_tls_pki(dir: &Path, prefix: &str) {
    let p = |s: &str| format!("{prefix}{s}");
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let (ca_key, ca_pem) = (p("ca.key"), p("ca.pem"));
    let (key, csr, pem, ext) = (
        p("server.key"),
        p("server.csr"),
        p("server.pem"),
        p("ext.cnf"),
    );
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend(["-keyout", &ca_key, "-out", &ca_pem, "-days", "30"]);
    ca.extend(["-subj", "/CN=otaseal test HTTPS CA"]);
    openssl(dir, &ca);
    let mut req = vec!["req"];
    req.extend(ec);
    req.extend(["-keyout", &key, "-out", &csr, "-subj", "/CN=127.0.0.1"]);
    openssl(dir, &req);
    write_file(
        dir,
        &ext,
        b"subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_pem,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "30",
            "-extfile",
            &ext,
        ],
    );
}

// ---------------------------------------------------------------------------
// Helpers for tamper, interop and command-line tests (std only).
// ---------------------------------------------------------------------------

/// Nanoseconds since the Unix epoch (unique names).
pub fn unix_now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Current Unix time in seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Formats Unix seconds as RFC 3339 UTC (`2027-01-31T12:00:00Z`).
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Writes `bytes` to `dir/name` and returns the path.
#[track_caller]
pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

/// Reads a whole file.
#[track_caller]
pub fn read_file(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Deterministic pseudo-random bytes (xorshift), for payloads.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// One member of a tar archive, located by [`tar_members`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TarMember {
    /// Member name (up to the first NUL of the name field).
    pub name: String,
    /// Type flag byte.
    pub typeflag: u8,
    /// Offset of the 512-byte header.
    pub header: usize,
    /// Offset of the data.
    pub data: usize,
    /// Data size.
    pub size: usize,
}

impl TarMember {
    /// Offset just after the data's padding (the next header).
    pub fn end(&self) -> usize {
        self.data + self.size.div_ceil(512) * 512
    }
}

/// Lists the members of a ustar archive up to the first zero block
/// (an independent reader: it does not use otaseal's container code).
pub fn tar_members(bytes: &[u8]) -> Vec<TarMember> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 512 <= bytes.len() {
        let h = &bytes[pos..pos + 512];
        if h.iter().all(|b| *b == 0) {
            break;
        }
        let name_end = h[..100].iter().position(|b| *b == 0).unwrap_or(100);
        let name = String::from_utf8_lossy(&h[..name_end]).into_owned();
        let size_text: String = h[124..136]
            .iter()
            .take_while(|b| **b != 0 && **b != b' ')
            .map(|b| *b as char)
            .collect();
        let size = usize::from_str_radix(size_text.trim(), 8).unwrap_or(0);
        let m = TarMember {
            name,
            typeflag: h[156],
            header: pos,
            data: pos + 512,
            size,
        };
        pos = m.end();
        out.push(m);
    }
    out
}

/// Recomputes the checksum field of a ustar header after an edit
/// (6 octal digits, NUL, space).
pub fn fix_tar_checksum(header: &mut [u8]) {
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header[..512].iter().map(|b| u32::from(*b)).sum();
    let text = format!("{sum:06o}\0 ");
    header[148..156].copy_from_slice(text.as_bytes());
}

/// A ustar header written from `spec/format.md` section 2 (independently of
/// otaseal's `member_header`), with a free type flag and link name.
pub fn ustar_header(name: &[u8], size: u64, mtime: u64, typeflag: u8, link: &[u8]) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name);
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    h[136..148].copy_from_slice(format!("{mtime:011o}\0").as_bytes());
    h[156] = typeflag;
    h[157..157 + link.len()].copy_from_slice(link);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    fix_tar_checksum(&mut h);
    h
}

/// A package container written from the spec alone: envelope member,
/// payload members, two zero blocks.
pub fn ustar_package(envelope: &[u8], mtime: u64, payloads: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut member = |name: &str, data: &[u8]| {
        out.extend_from_slice(&ustar_header(
            name.as_bytes(),
            data.len() as u64,
            mtime,
            b'0',
            b"",
        ));
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    };
    member("otaseal-envelope.cbor", envelope);
    for (name, data) in payloads {
        member(name, data);
    }
    out.resize(out.len() + 1024, 0);
    out
}

fn b64_value(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// Decodes base64 (padding and whitespace ignored).
pub fn base64_decode(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for v in text.bytes().filter_map(b64_value) {
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// Encodes base64 with padding.
pub fn base64_encode(data: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Every PEM block of a text as (label, DER).
pub fn pem_blocks(text: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut label = None;
    let mut body = String::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(l) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|r| r.strip_suffix("-----"))
        {
            label = Some(l.to_string());
            body.clear();
        } else if line.starts_with("-----END ") {
            if let Some(l) = label.take() {
                out.push((l, base64_decode(&body)));
            }
        } else if label.is_some() {
            body.push_str(line);
        }
    }
    out
}

/// PEM-encodes one DER document.
pub fn to_pem(label: &str, der: &[u8]) -> String {
    let b64 = base64_encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or(""));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn der_len(len: usize) -> Vec<u8> {
    match len {
        0..=0x7f => vec![len as u8],
        0x80..=0xff => vec![0x81, len as u8],
        _ => vec![0x82, (len >> 8) as u8, len as u8],
    }
}

/// Converts a fixed-width `r || s` ECDSA/SM2 signature to DER
/// `SEQUENCE { r INTEGER, s INTEGER }`.
pub fn raw_sig_to_der(raw: &[u8]) -> Vec<u8> {
    let int = |v: &[u8]| {
        let start = v.iter().position(|b| *b != 0).unwrap_or(v.len() - 1);
        let mut body = v[start..].to_vec();
        if body[0] & 0x80 != 0 {
            body.insert(0, 0);
        }
        let mut out = vec![0x02];
        out.extend(der_len(body.len()));
        out.extend(body);
        out
    };
    let (r, s) = raw.split_at(raw.len() / 2);
    let mut body = int(r);
    body.extend(int(s));
    let mut out = vec![0x30];
    out.extend(der_len(body.len()));
    out.extend(body);
    out
}

/// Converts a DER `SEQUENCE { r, s }` signature to fixed-width `r || s`
/// with `width`-byte scalars.
#[track_caller]
pub fn der_sig_to_raw(der: &[u8], width: usize) -> Vec<u8> {
    fn read_len(d: &[u8], pos: &mut usize) -> usize {
        let first = d[*pos];
        *pos += 1;
        if first < 0x80 {
            return first as usize;
        }
        let n = (first & 0x7f) as usize;
        let mut len = 0;
        for _ in 0..n {
            len = (len << 8) | d[*pos] as usize;
            *pos += 1;
        }
        len
    }
    assert_eq!(der[0], 0x30, "not a DER SEQUENCE");
    let mut pos = 1;
    let _ = read_len(der, &mut pos);
    let mut out = Vec::new();
    for _ in 0..2 {
        assert_eq!(der[pos], 0x02, "not a DER INTEGER");
        pos += 1;
        let len = read_len(der, &mut pos);
        let mut v = &der[pos..pos + len];
        pos += len;
        while v.len() > width && v[0] == 0 {
            v = &v[1..];
        }
        assert!(v.len() <= width, "scalar wider than {width} bytes");
        out.extend(std::iter::repeat_n(0u8, width - v.len()));
        out.extend_from_slice(v);
    }
    out
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------
// Servers for the timestamp tests: `otaseal tsa serve` child processes and a
// tiny scripted HTTP server (std only, 127.0.0.1, every wait bounded).
// ---------------------------------------------------------------------------

/// A running `otaseal tsa serve`, killed and reaped when dropped.
pub struct TsaServer {
    /// Base URL from the server's first stdout line.
    pub url: String,
    /// File that receives the server's stderr.
    pub stderr_log: PathBuf,
    child: std::process::Child,
}

impl Drop for TsaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Longest wait for a TSA server's first stdout line.
pub const TSA_START_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Starts `otaseal tsa serve --listen 127.0.0.1:0 --key KEY --cert CHAIN`
/// with its serial store in `dir` (one store per server: the store is
/// locked) and `extra` arguments. `Err` holds the exit status and stderr
/// when the server does not announce its URL within [`TSA_START_TIMEOUT`].
pub fn try_start_tsa(
    dir: &Path,
    name: &str,
    key: &Path,
    chain: &Path,
    extra: &[&str],
) -> Result<TsaServer, String> {
    use std::io::BufRead;
    use std::process::Stdio;
    let stderr_log = dir.join(format!("{name}.tsa-stderr.log"));
    let log = std::fs::File::create(&stderr_log).expect("create TSA log");
    let store = dir.join(format!("{name}.serials"));
    let mut child = Command::new(otaseal_bin())
        .args(["tsa", "serve", "--listen", "127.0.0.1:0", "--key"])
        .arg(key)
        .arg("--cert")
        .arg(chain)
        .arg("--serial-store")
        .arg(&store)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start otaseal tsa serve: {e}"));
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = std::io::BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = tx.send(line);
        // Keep the pipe drained until the server exits.
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    let line = rx.recv_timeout(TSA_START_TIMEOUT).unwrap_or_default();
    match line
        .trim_end()
        .strip_prefix("otaseal TSA listening on ")
        .filter(|u| u.starts_with("http://127.0.0.1:") || u.starts_with("https://127.0.0.1:"))
    {
        Some(url) => Ok(TsaServer {
            url: url.to_string(),
            stderr_log,
            child,
        }),
        None => {
            let _ = child.kill();
            let status = child.wait().ok();
            let err = std::fs::read_to_string(&stderr_log).unwrap_or_default();
            Err(format!(
                "no URL line (got {line:?}, exit {status:?}); stderr:\n{err}"
            ))
        }
    }
}

/// [`try_start_tsa`], panicking on failure.
#[track_caller]
pub fn start_tsa(dir: &Path, name: &str, key: &Path, chain: &Path) -> TsaServer {
    try_start_tsa(dir, name, key, chain, &[]).unwrap_or_else(|e| panic!("TSA {name}: {e}"))
}

/// What the scripted HTTP server does with a request body.
pub enum Reply {
    /// Answer `200 OK` with this body (`application/timestamp-reply`).
    Body(Vec<u8>),
    /// Answer with this HTTP status and an empty body.
    Status(u16),
    /// Read the request and never answer (the connection stays open until
    /// the server is dropped).
    Hang,
}

/// A scripted HTTP/1.1 server on 127.0.0.1: every request's body goes to a
/// handler, which answers or hangs. Stops when dropped, and on its own
/// after [`HttpStub::MAX_LIFETIME`].
pub struct HttpStub {
    /// `http://127.0.0.1:PORT/`.
    pub url: String,
    /// Requests seen so far.
    pub requests: std::sync::Arc<AtomicUsize>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HttpStub {
    /// Upper bound on a stub's life, whatever the test does.
    pub const MAX_LIFETIME: std::time::Duration = std::time::Duration::from_secs(180);

    /// Starts a server whose answers come from `handler`.
    pub fn start(handler: impl FnMut(&[u8]) -> Reply + Send + 'static) -> HttpStub {
        use std::sync::Arc;
        use std::sync::atomic::AtomicBool;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let url = format!("http://{}/", listener.local_addr().expect("local addr"));
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let (stop2, requests2) = (stop.clone(), requests.clone());
        let mut handler = handler;
        let thread = std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + Self::MAX_LIFETIME;
            let mut held = Vec::new();
            while !stop2.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let _ = stream.set_nonblocking(false);
                        let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(5)));
                        let _ = stream.set_write_timeout(Some(std::time::Duration::from_secs(5)));
                        let mut stream = stream;
                        let Some(body) = read_http_body(&mut stream) else {
                            continue;
                        };
                        requests2.fetch_add(1, Ordering::SeqCst);
                        match handler(&body) {
                            Reply::Body(answer) => {
                                use std::io::Write;
                                let head = format!(
                                    "HTTP/1.1 200 OK\r\nContent-Type: application/timestamp-reply\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                                    answer.len()
                                );
                                let _ = stream.write_all(head.as_bytes());
                                let _ = stream.write_all(&answer);
                                let _ = stream.flush();
                            }
                            Reply::Status(code) => {
                                use std::io::Write;
                                let head = format!(
                                    "HTTP/1.1 {code} Scripted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                                );
                                let _ = stream.write_all(head.as_bytes());
                                let _ = stream.flush();
                            }
                            Reply::Hang => held.push(stream),
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(std::time::Duration::from_millis(10));
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
                }
            }
            drop(held);
        });
        HttpStub {
            url,
            requests,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for HttpStub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads one HTTP/1.1 request (headers, then `Content-Length` bytes) and
/// returns its body; `None` on a read error or timeout.
fn read_http_body(stream: &mut impl std::io::Read) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        if buf.len() > 64 * 1024 {
            return None;
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    if len > 1 << 20 {
        return None;
    }
    while buf.len() < header_end + len {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(buf[header_end..header_end + len].to_vec())
}

/// POSTs `body` as `application/timestamp-query` to an `http://127.0.0.1`
/// URL (HTTP/1.1, `Connection: close`, 10 s timeouts) and returns the HTTP
/// status and the answer's body.
pub fn http_post_query(url: &str, body: &[u8]) -> (u16, Vec<u8>) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http:// URL");
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr: std::net::SocketAddr = host.parse().expect("IP:port host");
    let timeout = std::time::Duration::from_secs(10);
    let mut s = std::net::TcpStream::connect_timeout(&addr, timeout).expect("connect");
    s.set_read_timeout(Some(timeout)).unwrap();
    s.set_write_timeout(Some(timeout)).unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/timestamp-query\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).expect("read answer");
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("HTTP head")
        + 4;
    let head = String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("HTTP status");
    let mut body = answer[end..].to_vec();
    if let Some(len) = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        body.truncate(len);
    }
    (status, body)
}

/// A path as `&str`, for command arguments (test paths are UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// Returns early, with a note, from a test that needs the `openssl` command
/// when it is missing (CI installs it).
#[macro_export]
macro_rules! require_openssl {
    () => {
        if !$crate::have_openssl() {
            return;
        }
    };
}
