//! `kill -9` of `otaseal csc serve` under concurrent signHash load: the
//! audit chain stays intact and every signature a client received has its
//! audit record (records are committed before the answer is sent). On the
//! SQLite store and on PostgreSQL (a throwaway cluster, `otaseal_tests::pg`).

use std::collections::HashSet;
use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use otaseal_csc::client::{ClientOptions, CscClient};
use otaseal_csc::protocol::b64_encode;
use otaseal_tests::pg::PgCluster;
use otaseal_tests::{otaseal, otaseal_bin, test_dir};
use zeroize::Zeroizing;

fn serve(config: &Path) -> (Child, String) {
    let mut child = Command::new(otaseal_bin())
        .args(["csc", "serve", "--config"])
        .arg(config)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    (child, url)
}

#[test]
fn kill_9_under_load_loses_no_acknowledged_audit_record() {
    kill_9_under_load(None);
}

#[test]
fn kill_9_under_load_on_postgres_loses_no_acknowledged_audit_record() {
    let Some(cluster) = PgCluster::start("csc-crash") else {
        return;
    };
    kill_9_under_load(Some(cluster.create_db("csc")));
    drop(cluster);
}

fn kill_9_under_load(database: Option<String>) {
    let dir = test_dir("csc-crash").join("csc");
    let mut init = vec![
        "csc".to_string(),
        "init".into(),
        "--dir".into(),
        dir.to_str().unwrap().into(),
        "--suites".into(),
        "ecdsa-p256".into(),
    ];
    if let Some(url) = &database {
        init.extend(["--database".into(), url.clone()]);
    }
    otaseal(init).expect_code(0);
    let config = dir.join("config.json");
    let secret = Zeroizing::new(
        std::fs::read_to_string(dir.join("build.secret"))
            .unwrap()
            .trim()
            .to_string(),
    );
    let (mut child, url) = serve(&config);

    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let workers: Vec<_> = (0..4u8)
        .map(|t| {
            let (url, secret, acked) = (url.clone(), secret.clone(), Arc::clone(&acknowledged));
            std::thread::spawn(move || {
                let mut o = ClientOptions::new(&url, "build", secret);
                o.retries = 0;
                o.timeout = Duration::from_secs(10);
                let client = CscClient::connect(o).unwrap();
                let cred = client.credential("signer-ecdsa-p256").unwrap();
                for i in 0u32.. {
                    let mut h = [t; 32];
                    h[..4].copy_from_slice(&i.to_be_bytes());
                    match client.sign_prehashes(&cred, &[h.to_vec()]) {
                        Ok(s) => {
                            assert_eq!(s.len(), 1);
                            acked.lock().unwrap().push(b64_encode(&h));
                        }
                        Err(_) => break,
                    }
                }
            })
        })
        .collect();
    // Let the load run, then kill -9 in the middle of it.
    let start = Instant::now();
    while acknowledged.lock().unwrap().len() < 40 && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let status = Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let _ = child.wait();
    for w in workers {
        w.join().unwrap();
    }
    let acked = acknowledged.lock().unwrap().clone();
    assert!(
        acked.len() >= 40,
        "only {} signatures before the kill",
        acked.len()
    );

    // The chain is intact.
    let run = otaseal([
        "csc",
        "audit",
        "verify",
        "--config",
        config.to_str().unwrap(),
        "--json",
    ]);
    run.expect_code(0);
    // Every acknowledged signature has its record.
    let store = otaseal_csc::config::Config::load(&config)
        .unwrap()
        .open_store()
        .unwrap();
    let recorded: HashSet<String> = store
        .audit_records()
        .unwrap()
        .into_iter()
        .filter(|r| r.event == "signHash" && r.result == "ok")
        .flat_map(|r| r.hashes.split(',').map(str::to_string).collect::<Vec<_>>())
        .collect();
    let missing: Vec<_> = acked.iter().filter(|h| !recorded.contains(*h)).collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not recorded: {missing:?}"
    );
    drop(store);

    // The service starts again on the same database and signs.
    let (mut child, url) = serve(&config);
    let client = CscClient::connect(ClientOptions::new(&url, "build", secret)).unwrap();
    let cred = client.credential("signer-ecdsa-p256").unwrap();
    client
        .sign_messages(&cred, &[b"after the crash".as_slice()])
        .unwrap();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
}
