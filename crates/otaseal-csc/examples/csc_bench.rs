//! signHash throughput and latency of the CSC service (run by
//! `benches/csc.sh`): a service on 127.0.0.1 with the software key store
//! and a P-256 credential, `THREADS` client threads each doing
//! authorize + signHash with 1 or 32 hashes per call. The reference, in
//! the same process, is the key store's own `sign_prehash` without HTTP.
//!
//! Usage: csc_bench [SECONDS_PER_CASE] [THREADS]

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use otaseal_csc::auth::SystemClock;
use otaseal_csc::client::{ClientOptions, CscClient};
use otaseal_csc::config::{self, Config, InitOptions};
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

fn main() {
    let mut args = std::env::args().skip(1);
    let secs: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let threads: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2);
    let dir = tempfile::tempdir().expect("temp dir");
    let report = config::init(
        &dir.path().join("csc"),
        &InitOptions {
            suites: vec![Suite::EcdsaP256],
            rate_per_minute: u32::MAX,
            ..InitOptions::default()
        },
    )
    .expect("init");
    let cfg = Config::load(&report.config).expect("config");

    // Reference: local prehash signing with the same key store.
    let master = MasterKey::generate().expect("master");
    let (wrapped, spki, _) = master
        .generate_wrapped("ref", Suite::EcdsaP256)
        .expect("key");
    let key = SoftKey::open(&master, "ref", &wrapped, &spki).expect("open");
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(secs.min(5)) {
        key.sign_prehash(&[7u8; 32]).expect("sign");
        n += 1;
    }
    let local_rate = n as f64 / start.elapsed().as_secs_f64();
    println!("reference: local P-256 sign_prehash, 1 thread: {local_rate:.0} signatures/s");

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
            "signHash P-256, {batch:2} hash(es)/call, {threads} client threads: {rate:.0} signatures/s \
             ({:.0} calls/s), latency per call (authorize + signHash) p50 {:.1} ms, p99 {:.1} ms; \
             {:.2}x the local reference",
            lat.len() as f64 / elapsed,
            percentile(&lat, 0.50).as_secs_f64() * 1e3,
            percentile(&lat, 0.99).as_secs_f64() * 1e3,
            rate / local_rate
        );
    }
    server.shutdown();
}
