//! `otaseal-agent` against real servers on 127.0.0.1: nginx over HTTPS with a
//! test CA made by openssl (install, check with a Range request, wrong
//! certificate, plain HTTP refused), and a small faulty HTTP server for what
//! no standard server does on purpose (drops, stalls, lies, changes the file).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use otaseal_tests::{Run, fixtures_dir, repo_root, run_command, test_dir, write_file};
use serde_json::Value;

fn agent_bin() -> PathBuf {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join("target"));
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let ok = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "-p",
                "otaseal-agent",
                "--bin",
                "otaseal-agent",
            ])
            .current_dir(repo_root())
            .status()
            .expect("cargo build")
            .success();
        assert!(ok);
        target.join("debug").join("otaseal-agent")
    })
    .clone()
}

/// Whether `tool` runs; without it the test fails under CI and skips otherwise.
fn need(tool: &str) -> bool {
    let ok = Command::new(tool)
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "{tool} is missing (CI installs it)"
        );
        eprintln!("skipped: {tool} not installed");
    }
    ok
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn openssl(dir: &Path, args: &[&str]) {
    let r = run_command(Command::new("openssl").args(args).current_dir(dir));
    assert_eq!(r.code, 0, "openssl {args:?}: {}", r.stderr);
}

/// A CA and a server certificate for 127.0.0.1 (`<prefix>ca.pem`, `<prefix>server.{pem,key}`).
fn tls_pki(dir: &Path, prefix: &str) {
    let p = |s: &str| format!("{prefix}{s}");
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
            &p("ca.key"),
            "-out",
            &p("ca.pem"),
            "-days",
            "30",
            "-subj",
            "/CN=otaseal test CA",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &p("server.key"),
            "-out",
            &p("server.csr"),
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    write_file(
        dir,
        &p("ext.cnf"),
        b"subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &p("server.csr"),
            "-CA",
            &p("ca.pem"),
            "-CAkey",
            &p("ca.key"),
            "-CAcreateserial",
            "-out",
            &p("server.pem"),
            "-days",
            "30",
            "-extfile",
            &p("ext.cnf"),
        ],
    );
}

struct Nginx {
    child: Child,
    port: u16,
    www: PathBuf,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// nginx serving `<dir>/www` over HTTPS (static files: Range, ETag).
fn nginx(dir: &Path) -> Nginx {
    let port = free_port();
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    let conf = format!(
        "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\n\
         http {{\n access_log off;\n client_body_temp_path {d}/tmp;\n proxy_temp_path {d}/tmp;\n\
         fastcgi_temp_path {d}/tmp;\n uwsgi_temp_path {d}/tmp;\n scgi_temp_path {d}/tmp;\n\
         server {{\n  listen 127.0.0.1:{port} ssl;\n  ssl_certificate {d}/server.pem;\n\
         ssl_certificate_key {d}/server.key;\n  root {d}/www;\n }}\n}}\n",
        d = dir.display()
    );
    let conf = write_file(dir, "nginx.conf", conf.as_bytes());
    let mut child = Command::new("nginx")
        .args([
            "-p",
            dir.to_str().unwrap(),
            "-e",
            dir.join("error.log").to_str().unwrap(),
            "-c",
        ])
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nginx");
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Nginx { child, port, www };
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!(
        "nginx did not start: {}",
        std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
    );
}

fn agent_config(dir: &Path, ca: &Path, extra: &str) -> PathBuf {
    let pki = fixtures_dir().join("pki");
    write_file(
        dir,
        "agent.toml",
        format!(
            "hw_id = \"acme-rev-a\"\ntrust = [\"{}\"]\nstate_dir = \"state\"\nca_file = \"{}\"\n\
             retries = 3\nread_timeout_secs = 2\n{extra}\n[bootloader]\nkind = \"file\"\npath = \"state/bootenv\"\n\
             [slots.A]\nboot = {{ raw = \"a.img\" }}\nrootfs = {{ dir = \"a-rootfs\" }}\n\"app.zip\" = {{ dir = \"a-app\" }}\n\
             [slots.B]\nboot = {{ raw = \"b.img\" }}\nrootfs = {{ dir = \"b-rootfs\" }}\n\"app.zip\" = {{ dir = \"b-app\" }}\n",
            pki.join("roots.pem").display(),
            ca.display()
        )
        .as_bytes(),
    )
}

fn agent(config: &Path, args: &[&str]) -> Run {
    run_command(
        Command::new(agent_bin())
            .arg("--config")
            .arg(config)
            .args(args),
    )
}

fn agent_json(config: &Path, args: &[&str]) -> (i32, Value) {
    let mut a = args.to_vec();
    a.push("--json");
    let r = agent(config, &a);
    (r.code, r.json())
}

fn golden(name: &str) -> PathBuf {
    fixtures_dir().join("golden").join(name)
}

#[test]
fn https_install_check_and_wrong_certificate() {
    if !need("nginx") || !need("openssl") {
        return;
    }
    let dir = test_dir("agent-https");
    tls_pki(&dir, "");
    tls_pki(&dir, "other-");
    let srv = nginx(&dir);
    std::fs::copy(golden("p256-sm2.ota"), srv.www.join("fw.ota")).unwrap();
    let url = format!("https://127.0.0.1:{}/fw.ota", srv.port);
    let cfg = agent_config(&dir, &dir.join("ca.pem"), "");
    agent(&cfg, &["init"]).expect_code(0);

    // check: envelope only, newer than nothing installed.
    let (code, v) = agent_json(&cfg, &["check", &url]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["security_version"], 12);

    // install from HTTPS, boot, confirm.
    let (code, v) = agent_json(&cfg, &["install", "--slot", "A", &url]);
    assert_eq!(code, 0, "{v}");
    agent(&cfg, &["select"]).expect_code(0);
    agent(&cfg, &["boot", "--verify"]).expect_code(0);
    agent(&cfg, &["confirm"]).expect_code(0);
    let (code, v) = agent_json(&cfg, &["check", &url]);
    assert_eq!((code, &v["newer"]), (1, &Value::Bool(false)), "{v}");

    // The server's certificate from another CA: fetch-tls, nothing written.
    let bad = agent_config(&dir, &dir.join("other-ca.pem"), "");
    let (code, v) = agent_json(&bad, &["install", &url]);
    assert_eq!((code, v["code"].as_str()), (2, Some("fetch-tls")), "{v}");
    let (code, v) = agent_json(&bad, &["check", &url]);
    assert_eq!((code, v["code"].as_str()), (2, Some("fetch-tls")), "{v}");

    // Plain HTTP is refused without the explicit option.
    let (code, v) = agent_json(
        &cfg,
        &["install", &format!("http://127.0.0.1:{}/fw.ota", srv.port)],
    );
    assert_eq!(
        (code, v["code"].as_str()),
        (2, Some("fetch-insecure-url")),
        "{v}"
    );

    let (_, st) = agent_json(&cfg, &["status"]);
    assert_eq!(st["booted"], "A");
    assert_eq!(st["slots"]["A"]["status"], "good");
    assert!(st["slots"]["B"].is_null(), "{st}");
}

/// What the faulty server does.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    /// Drop the connection after this many body bytes on the first request,
    /// serve ranges (with ETag) afterwards.
    DropOnce(usize),
    /// As DropOnce, but never honour Range (always 200, full body).
    DropNoRanges(usize),
    /// Drop, then serve the resumed range of a different file (new ETag).
    DropThenChange(usize),
    /// Send headers and this many bytes (none after the first connection), then stall.
    Stall(usize),
    /// Declare a longer Content-Length than the body, every time.
    LieLength,
}

fn fault_server(body: Vec<u8>, other: Vec<u8>, fault: Fault) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let log = Arc::new(Mutex::new(Vec::new()));
    let log2 = log.clone();
    std::thread::spawn(move || {
        let mut n = 0;
        for conn in listener.incoming() {
            let Ok(mut s) = conn else { continue };
            n += 1;
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut range: Option<u64> = None;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let l = line.to_ascii_lowercase();
                if let Some(v) = l.strip_prefix("range: bytes=") {
                    range = v
                        .trim()
                        .trim_end_matches('-')
                        .split('-')
                        .next()
                        .and_then(|x| x.parse().ok());
                }
                log2.lock().unwrap().push(line.trim().to_owned());
            }
            let (data, etag) = match fault {
                Fault::DropThenChange(_) if n > 1 => (&other, "\"v2\""),
                _ => (&body, "\"v1\""),
            };
            let honour = !matches!(fault, Fault::DropNoRanges(_));
            let start = if honour {
                range.unwrap_or(0) as usize
            } else {
                0
            };
            let slice = &data[start.min(data.len())..];
            let declared = if fault == Fault::LieLength {
                slice.len() + 1000
            } else {
                slice.len()
            };
            let head = if start > 0 {
                format!(
                    "HTTP/1.1 206 Partial Content\r\nContent-Length: {declared}\r\nContent-Range: bytes {start}-{}/{}\r\nETag: {etag}\r\nConnection: close\r\n\r\n",
                    data.len() - 1,
                    data.len()
                )
            } else {
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {declared}\r\nETag: {etag}\r\nAccept-Ranges: bytes\r\nConnection: close\r\n\r\n"
                )
            };
            let _ = s.write_all(head.as_bytes());
            let cut = match fault {
                Fault::DropOnce(k) | Fault::DropNoRanges(k) | Fault::DropThenChange(k)
                    if n == 1 =>
                {
                    Some(k)
                }
                _ => None,
            };
            match fault {
                Fault::Stall(k) => {
                    // Some bytes on the first connection, none after: no progress.
                    let k = if n == 1 { k } else { 0 };
                    let _ = s.write_all(&slice[..k.min(slice.len())]);
                    std::thread::sleep(Duration::from_secs(4));
                }
                _ => {
                    let upto = cut.unwrap_or(slice.len()).min(slice.len());
                    let _ = s.write_all(&slice[..upto]);
                }
            }
            let _ = s.flush();
            drop(s);
            drop(r);
        }
    });
    (port, log)
}

fn plain_device(name: &str) -> (PathBuf, PathBuf) {
    let dir = test_dir(name);
    let cfg = agent_config(
        &dir,
        &fixtures_dir().join("pki/roots.pem"),
        "allow_http = true",
    );
    agent(&cfg, &["init"]).expect_code(0);
    (dir, cfg)
}

#[test]
fn resume_restart_and_faulty_servers() {
    let body = std::fs::read(golden("p256-sm2.ota")).unwrap();
    let mut other = body.clone();
    let at = other.len() - 40_000;
    other[at] ^= 1;
    let mid = body.len() / 2;

    // Dropped connection: resumed with Range + If-Range, installs.
    let (port, log) = fault_server(body.clone(), other.clone(), Fault::DropOnce(mid));
    let (_, cfg) = plain_device("agent-resume");
    let url = format!("http://127.0.0.1:{port}/fw.ota");
    let (code, v) = agent_json(&cfg, &["install", "--slot", "A", &url]);
    assert_eq!(code, 0, "{v}");
    let log = log.lock().unwrap().join("\n").to_lowercase();
    assert!(log.contains(&format!("range: bytes={mid}-")), "{log}");
    assert!(log.contains("if-range: \"v1\""), "{log}");

    // A server without ranges: started over, the verified prefix skipped.
    let (port, _) = fault_server(body.clone(), other.clone(), Fault::DropNoRanges(mid));
    let (_, cfg) = plain_device("agent-noranges");
    let (code, v) = agent_json(
        &cfg,
        &[
            "install",
            "--slot",
            "A",
            &format!("http://127.0.0.1:{port}/x"),
        ],
    );
    assert_eq!(code, 0, "{v}");

    // The file changed between ranges: stable code, slot not bootable.
    let (port, _) = fault_server(body.clone(), other.clone(), Fault::DropThenChange(mid));
    let (_, cfg) = plain_device("agent-changed");
    let (code, v) = agent_json(
        &cfg,
        &[
            "install",
            "--slot",
            "A",
            &format!("http://127.0.0.1:{port}/x"),
        ],
    );
    assert_eq!(
        (code, v["code"].as_str()),
        (2, Some("fetch-changed")),
        "{v}"
    );
    let (_, st) = agent_json(&cfg, &["status"]);
    assert_eq!(st["slots"]["A"]["status"], "invalid", "{st}");
    assert_eq!(st["attempts_left"]["A"], 0, "{st}");

    // Stalls: bounded retries, then fetch-stalled.
    let (port, _) = fault_server(body.clone(), other.clone(), Fault::Stall(mid));
    let (_, cfg) = plain_device("agent-stall");
    let (code, v) = agent_json(
        &cfg,
        &[
            "install",
            "--slot",
            "A",
            &format!("http://127.0.0.1:{port}/x"),
        ],
    );
    assert_eq!(
        (code, v["code"].as_str()),
        (2, Some("fetch-stalled")),
        "{v}"
    );

    // A Content-Length longer than the body, every time: bounded, stable code.
    let (port, _) = fault_server(body.clone(), other, Fault::LieLength);
    let (_, cfg) = plain_device("agent-lie");
    let (code, v) = agent_json(
        &cfg,
        &[
            "install",
            "--slot",
            "A",
            &format!("http://127.0.0.1:{port}/x"),
        ],
    );
    assert_eq!(code, 2, "{v}");
    let c = v["code"].as_str().unwrap();
    assert!(c.starts_with("fetch-"), "{v}");
    let (_, st) = agent_json(&cfg, &["status"]);
    assert_ne!(st["slots"]["A"]["status"], "pending", "{st}");
    assert_eq!(st["attempts_left"]["A"], 0, "{st}");
}
