//! signHash throughput and latency of the CSC service (run by
//! `benches/csc.sh`): a service on 127.0.0.1 with a P-256 credential,
//! `THREADS` client threads each doing authorize + signHash with 1 or 32
//! hashes per call, once with the key in the software key store and once
//! with it in a SoftHSM2 token (made in a temporary directory; skipped with
//! a note when SoftHSM2 is not installed). The reference for each, in the
//! same process, is the key's own `sign_prehash` without HTTP.
//!
//! Usage: csc_bench [SECONDS_PER_CASE] [THREADS]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use otaseal_csc::auth::SystemClock;
use otaseal_csc::client::{ClientOptions, CscClient};
use otaseal_csc::config::{self, Config, InitOptions, Pkcs11Section};
use otaseal_csc::keystore::{MasterKey, SoftKey};
use otaseal_csc::server::Server;
use otaseal_keys::KeySigner;
use otaseal_manifest::Suite;
use zeroize::Zeroizing;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Signatures per second of `key.sign_prehash` on one thread.
fn local_rate(key: &dyn KeySigner, secs: u64) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(secs.min(5)) {
        key.sign_prehash(&[7u8; 32]).expect("sign");
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// A SoftHSM2 token `bench` in `dir`: `(module, pin file)`, or `None`
/// when SoftHSM2 is not installed. Sets `SOFTHSM2_CONF` for this process.
fn softhsm(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    let module = [
        "/usr/lib/softhsm/libsofthsm2.so",
        "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/local/lib/softhsm/libsofthsm2.so",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())?;
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).expect("token dir");
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .expect("softhsm2.conf");
    // SAFETY: called from main before any other thread exists, so nothing
    // reads the environment concurrently.
    unsafe { std::env::set_var("SOFTHSM2_CONF", &conf) };
    let ok = Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", "bench"])
        .args(["--so-pin", "0815", "--pin", "4711"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        return None;
    }
    let pin = dir.join("pin");
    std::fs::write(&pin, "4711\n").expect("pin file");
    Some((module, pin))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let secs: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let threads: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2);
    let dir = tempfile::tempdir().expect("temp dir");
    // Before any thread starts (the environment is set for SoftHSM2).
    let token = softhsm(&dir.path().join("hsm"));

    // Software key store: reference and service.
    let master = MasterKey::generate().expect("master");
    let (wrapped, spki, _) = master
        .generate_wrapped("ref", Suite::EcdsaP256)
        .expect("key");
    let key = SoftKey::open(&master, "ref", &wrapped, &spki).expect("open");
    let rate = local_rate(&key, secs);
    println!(
        "reference: software key store, local P-256 sign_prehash, 1 thread: {rate:.0} signatures/s"
    );
    run_service(
        &dir.path().join("soft"),
        None,
        "software key store",
        rate,
        secs,
        threads,
    );

    match token {
        None => println!("SoftHSM2: not installed; skipped"),
        Some((module, pin)) => {
            let section = Pkcs11Section {
                module: Some(module),
                token: "bench".into(),
                pin_file: Some(pin),
            };
            let keys = section.token_keys(Path::to_path_buf);
            let (_, signer) = keys
                .generate("ref", Suite::EcdsaP256)
                .expect("token key")
                .expect("SoftHSM2 offers P-256");
            let rate = local_rate(&*signer, secs);
            println!(
                "reference: SoftHSM2, local P-256 sign_prehash, 1 thread: {rate:.0} signatures/s"
            );
            run_service(
                &dir.path().join("token"),
                Some(section),
                "SoftHSM2",
                rate,
                secs,
                threads,
            );
        }
    }
}

/// A service with one P-256 credential (in the token when `pkcs11` is
/// set), measured with 1 and 32 hashes per call.
fn run_service(
    dir: &Path,
    pkcs11: Option<Pkcs11Section>,
    store: &str,
    reference: f64,
    secs: u64,
    threads: usize,
) {
    let report = config::init(
        dir,
        &InitOptions {
            suites: vec![Suite::EcdsaP256],
            rate_per_minute: u32::MAX,
            pkcs11,
            ..InitOptions::default()
        },
    )
    .expect("init");
    let cfg = Config::load(&report.config).expect("config");
    let service = Arc::new(cfg.open_service(Arc::new(SystemClock)).expect("service"));
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let server = Server::start(listener, service, None, cfg.server_config()).expect("server");
    let url = format!("http://{}/csc/v2", server.local_addr());
    let secret = Zeroizing::new(
        std::fs::read_to_string(&report.secret_file)
            .expect("secret")
            .trim()
            .to_string(),
    );

    for batch in [1usize, 32] {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let url = url.clone();
                let secret = secret.clone();
                std::thread::spawn(move || {
                    let client = CscClient::connect(ClientOptions::new(&url, "build", secret))
                        .expect("connect");
                    let cred = client.credential("signer-ecdsa-p256").expect("credential");
                    let mut lat = Vec::new();
                    let mut i = 0u32;
                    while Instant::now() < deadline {
                        let hashes: Vec<Vec<u8>> = (0..batch)
                            .map(|k| {
                                let mut h = [0u8; 32];
                                h[..4].copy_from_slice(&i.to_be_bytes());
                                h[4] = k as u8;
                                h[5] = t as u8;
                                h.to_vec()
                            })
                            .collect();
                        i = i.wrapping_add(1);
                        let t0 = Instant::now();
                        let sigs = client.sign_prehashes(&cred, &hashes).expect("sign");
                        lat.push(t0.elapsed());
                        assert_eq!(sigs.len(), batch);
                    }
                    lat
                })
            })
            .collect();
        let started = Instant::now();
        let mut lat: Vec<Duration> = handles
            .into_iter()
            .flat_map(|h| h.join().expect("thread"))
            .collect();
        let elapsed = started.elapsed().as_secs_f64();
        lat.sort();
        let sigs = lat.len() * batch;
        let rate = sigs as f64 / elapsed;
        println!(
            "{store:18} signHash P-256, {batch:2} hash(es)/call, {threads} client threads: {rate:.0} signatures/s \
             ({:.0} calls/s), latency per call (authorize + signHash) p50 {:.1} ms, p99 {:.1} ms; \
             {:.2}x the local reference",
            lat.len() as f64 / elapsed,
            percentile(&lat, 0.50).as_secs_f64() * 1e3,
            percentile(&lat, 0.99).as_secs_f64() * 1e3,
            rate / reference
        );
    }
    server.shutdown();
}
