//! How the signer reads and writes payloads, through the library.
//!
//! - With RFC 3161 tokens (whose length is known only once the TSA answers)
//!   every payload byte is written to the package once: no payload region is
//!   written at a guessed offset and then moved behind a longer envelope.
//!   The count comes from the signer itself (`payload_bytes_written`, which
//!   also counts a move), so the test fails if a second copy comes back.
//! - "Sign exactly what was inspected": the archive is swapped or rewritten
//!   between the inspection and the hashing pass (the `Progress::start`
//!   callback runs in between), and the signer either never sees the swap
//!   (one open file) or refuses with `PayloadChanged`.
//!
//! Real parts only: a real `otaseal tsa serve` on 127.0.0.1, real files,
//! the fixtures' throwaway PKI; packages checked by `otaseal verify`.

use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use otaseal_manifest::Suite;
use otaseal_sign::keys::SigningKey;
use otaseal_sign::package::{
    NoProgress, NoTimestamps, PackageSpec, PayloadInput, Progress, SignError, SignerInput,
    Timestamper, build_package,
};
use otaseal_tests::*;
use otaseal_tsa::client::{ClientOptions, TsaClient};

fn pki() -> PathBuf {
    fixtures_dir().join("pki")
}

fn key(suite: &str) -> SigningKey {
    SigningKey::load(&pki().join(suite).join("signer.key.pem")).expect("fixture key")
}

fn chain(suite: &str) -> Vec<Vec<u8>> {
    let pem = fs::read_to_string(pki().join(suite).join("signer.chain.pem")).unwrap();
    otaseal_sign::pki::certs_from_pem(&pem).unwrap()
}

fn spec(payloads: &[&Path]) -> PackageSpec {
    let mut spec = PackageSpec::new("acme.passes", "1.0", 3, vec!["rev-a".into()]);
    spec.payloads = payloads
        .iter()
        .map(|p| PayloadInput::from_path(p))
        .collect();
    spec
}

/// A timestamper asking a real TSA over HTTP, counting its requests; it
/// does not know the token length in advance (`expected_len` is 0), like
/// the command line's.
struct HttpStamps {
    client: TsaClient,
    requests: std::sync::atomic::AtomicUsize,
}

impl Timestamper for HttpStamps {
    fn token(
        &self,
        _signer: usize,
        suite: Suite,
        field: &[u8],
    ) -> Result<Option<Vec<u8>>, SignError> {
        self.requests
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let alg = suite.timestamp_digest();
        let hash = otaseal_verify::digest::hash(alg, field);
        self.client
            .request(alg, hash.as_bytes())
            .map(|t| Some(t.der))
            .map_err(|e| SignError::Signer(e.to_string()))
    }
}

fn verify_accepted(pkg: &Path, extra: &[&str]) {
    let roots = pki().join("roots.pem");
    let mut args = vec!["verify", s(pkg), "--trust", s(&roots), "--json"];
    args.extend_from_slice(extra);
    let run = otaseal(args);
    run.expect_code(0);
    assert_eq!(run.json()["verdict"], "accepted");
}

#[test]
fn timestamped_signing_writes_each_payload_byte_once() {
    let dir = test_dir("passes-tsa");
    let fw = write_file(&dir, "fw.bin", &pseudo_random(3 << 20, 1));
    let cfg = write_file(&dir, "cfg.bin", &pseudo_random(5000, 2));
    let total = 3u64 << 20 | 5000;
    let tsa = start_tsa(
        &dir,
        "p256",
        &pki().join("ecdsa-p256/tsa.key.pem"),
        &pki().join("ecdsa-p256/tsa.chain.pem"),
    );
    let mut opts = ClientOptions::new([tsa.url.clone()]);
    opts.timeout = Duration::from_secs(20);
    let stamps = HttpStamps {
        client: TsaClient::new(opts).unwrap(),
        requests: 0.into(),
    };
    let (p256, sm2) = (key("ecdsa-p256"), key("sm2"));
    let signers = [
        SignerInput {
            signer: &p256,
            chain: chain("ecdsa-p256"),
        },
        SignerInput {
            signer: &sm2,
            chain: chain("sm2"),
        },
    ];
    let out = dir.join("pkg.ota");
    let summary = build_package(
        &spec(&[&fw, &cfg]),
        &signers,
        &stamps,
        &out,
        false,
        &mut NoProgress,
    )
    .expect("signed");
    // One token per signature, no extra request to learn a token's size.
    assert_eq!(stamps.requests.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert!(!summary.relocated);
    assert_eq!(
        summary.payload_bytes_written, total,
        "payload bytes written (a second copy of the payload region doubles this)"
    );
    verify_accepted(
        &out,
        &[
            "--tsa-trust",
            s(&pki().join("tsa-roots.pem")),
            "--require-timestamp",
        ],
    );
    // The members hold exactly the payloads.
    let bytes = read_file(&out);
    let members = tar_members(&bytes);
    assert_eq!(members.len(), 3);
    assert_eq!(
        &bytes[members[1].data..members[1].data + members[1].size],
        &read_file(&fw)[..]
    );
    assert_eq!(
        &bytes[members[2].data..members[2].data + members[2].size],
        &read_file(&cfg)[..]
    );
}

#[test]
fn untimestamped_signing_writes_each_payload_byte_once() {
    let dir = test_dir("passes-plain");
    let fw = write_file(&dir, "fw.bin", &pseudo_random(2 << 20, 3));
    let p256 = key("ecdsa-p256");
    let signers = [SignerInput {
        signer: &p256,
        chain: chain("ecdsa-p256"),
    }];
    let out = dir.join("pkg.ota");
    let summary = build_package(
        &spec(&[&fw]),
        &signers,
        &NoTimestamps,
        &out,
        false,
        &mut NoProgress,
    )
    .expect("signed");
    assert!(!summary.relocated);
    assert_eq!(summary.payload_bytes_written, 2 << 20);
    verify_accepted(&out, &[]);
}

// ---------------------------------------------------------------------------
// The archive changes between inspection and signing
// ---------------------------------------------------------------------------

/// A tar archive with one regular file of `size` bytes named `name`.
fn tar_with(name: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = ustar_header(name, body.len() as u64, 1_700_000_000, b'0', b"").to_vec();
    out.extend_from_slice(body);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// Runs `swap` when the signer starts its first pass over the payloads
/// (after the archives were opened and inspected).
struct SwapOnStart<F: FnMut()> {
    swap: Option<F>,
}

impl<F: FnMut()> Progress for SwapOnStart<F> {
    fn start(&mut self, _phase: &str, _total: u64) {
        if let Some(mut f) = self.swap.take() {
            f();
        }
    }
    fn advance(&mut self, _: u64) {}
    fn finish(&mut self) {}
}

fn swap_case(name: &str) -> (PathBuf, PathBuf, Vec<u8>, Vec<u8>) {
    let dir = test_dir(name);
    let good = tar_with(b"etc/app.conf", &pseudo_random(3000, 7));
    // Same size, with an entry that leaves the archive: refused if inspected.
    let evil = tar_with(b"../../etc/passwd", &pseudo_random(3000, 8));
    assert_eq!(good.len(), evil.len());
    let path = write_file(&dir, "rootfs.tar", &good);
    // The kernel's timestamps are coarse (one tick): let one pass, so that
    // a write below surely moves mtime/ctime.
    std::thread::sleep(Duration::from_millis(50));
    // The evil archive is refused when signed directly.
    let direct = write_file(&dir, "direct.tar", &evil);
    let p256 = key("ecdsa-p256");
    let err = build_package(
        &spec(&[&direct]),
        &[SignerInput {
            signer: &p256,
            chain: chain("ecdsa-p256"),
        }],
        &NoTimestamps,
        &dir.join("direct.ota"),
        false,
        &mut NoProgress,
    )
    .expect_err("the evil archive is refused");
    assert!(
        matches!(err, SignError::Archive(_)),
        "expected an archive error, got {err:?}"
    );
    (dir, path, good, evil)
}

fn sign_with_swap(
    dir: &Path,
    path: &Path,
    timestamper: &dyn Timestamper,
    swap: impl FnMut(),
) -> Result<PathBuf, SignError> {
    let p256 = key("ecdsa-p256");
    let out = dir.join("pkg.ota");
    build_package(
        &spec(&[path]),
        &[SignerInput {
            signer: &p256,
            chain: chain("ecdsa-p256"),
        }],
        timestamper,
        &out,
        false,
        &mut SwapOnStart { swap: Some(swap) },
    )
    .map(|_| out)
}

#[test]
fn archive_renamed_over_between_passes_is_refused() {
    // The signer reads the file it opened and inspected, so the swapped-in
    // archive is never read; the swap still unlinks the inspected file
    // (its change time moves), and the signer refuses rather than sign a
    // file that is no longer at the path.
    let (dir, path, _good, evil) = swap_case("swap-rename");
    let evil_path = write_file(&dir, "evil.tar", &evil);
    let err = sign_with_swap(&dir, &path, &NoTimestamps, || {
        fs::rename(&evil_path, &path).unwrap();
    })
    .expect_err("a swapped archive is refused");
    assert_eq!(read_file(&path), evil, "the swap happened");
    assert!(
        matches!(&err, SignError::PayloadChanged(p) if p == &path),
        "expected PayloadChanged({}), got {err:?}",
        path.display()
    );
    assert!(!dir.join("pkg.ota").exists(), "nothing written");
}

#[test]
fn archive_rewritten_in_place_between_passes_is_refused() {
    let (dir, path, _good, evil) = swap_case("swap-in-place");
    let target = path.clone();
    let err = sign_with_swap(&dir, &path, &NoTimestamps, move || {
        let mut f = fs::OpenOptions::new().write(true).open(&target).unwrap();
        f.seek(SeekFrom::Start(0)).unwrap();
        f.write_all(&evil).unwrap();
    })
    .expect_err("a rewritten archive is refused");
    assert!(
        matches!(&err, SignError::PayloadChanged(p) if p == &path),
        "expected PayloadChanged({}), got {err:?}",
        path.display()
    );
    assert!(!dir.join("pkg.ota").exists(), "nothing written");
    let leftovers: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn archive_rewritten_in_place_between_passes_is_refused_with_tsa() {
    // With a timestamper the payloads are hashed first and copied after
    // the tokens: a write before the hashing pass is refused the same way.
    let (dir, path, _good, evil) = swap_case("swap-in-place-tsa");
    let stamps = HttpStamps {
        client: TsaClient::new(ClientOptions::new(["http://127.0.0.1:9/unused"])).unwrap(),
        requests: 0.into(),
    };
    let target = path.clone();
    let err = sign_with_swap(&dir, &path, &stamps, move || {
        let mut f = fs::OpenOptions::new().write(true).open(&target).unwrap();
        f.write_all(&evil).unwrap();
    })
    .expect_err("a rewritten archive is refused");
    assert!(
        matches!(&err, SignError::PayloadChanged(p) if p == &path),
        "expected PayloadChanged({}), got {err:?}",
        path.display()
    );
    // Refused before any TSA was asked.
    assert_eq!(stamps.requests.load(std::sync::atomic::Ordering::SeqCst), 0);
}
