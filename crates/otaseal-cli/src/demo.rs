//! `otaseal demo`: the main job end to end, on a fresh machine.

use std::fs;
use std::path::{Path, PathBuf};

use clap::Args;

use crate::{CliError, CliResult, run_words};

#[derive(Args)]
#[command(after_help = "\
Example:
  otaseal demo                      # uses firmware-fixtures/samples when run from the repo
  otaseal demo --dir /tmp/try-otaseal --samples my-payloads/

Runs, and prints, the real commands: pki init (ecdsa-p256, sm2, ml-dsa-65), three
time-stamp authorities on 127.0.0.1 (one per family), sign with a timestamp in every
signature, verify (human and JSON), verify two years later (after the certificates
expired: accepted thanks to the timestamps), inspect, and a tampered copy (rejected).")]
pub struct DemoArgs {
    /// Working directory to create (default: a new directory under the system temp dir).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Directory of sample payloads (default: firmware-fixtures/samples, or generated ones).
    #[arg(long)]
    samples: Option<PathBuf>,
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn step(title: &str, words: Vec<String>) -> CliResult {
    out!("\n$ otaseal {}", words.join(" "));
    let _ = title;
    run_words(words)
}

pub fn run(a: DemoArgs) -> CliResult {
    let dir = a.dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("otaseal-demo-{}", std::process::id()))
    });
    if dir.exists()
        && fs::read_dir(&dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(CliError(format!(
            "{} exists and is not empty",
            dir.display()
        )));
    }
    fs::create_dir_all(&dir)?;
    out!("otaseal demo in {}", dir.display());

    let payloads = match a.samples {
        Some(p) => sample_files(&p)?,
        None => {
            let repo = PathBuf::from("firmware-fixtures/samples");
            if repo.is_dir() {
                sample_files(&repo)?
            } else {
                generate_samples(&dir.join("samples"))?
            }
        }
    };
    let pki = dir.join("pki");
    let pkg = dir.join("demo.ota");

    step(
        "pki",
        vec![
            "pki".into(),
            "init".into(),
            "--dir".into(),
            s(&pki),
            "--suites".into(),
            "ecdsa-p256,sm2,ml-dsa-65".into(),
        ],
    )?;

    // One TSA per family, in this process, on loopback.
    let mut servers = Vec::new();
    let mut tsa_url = std::collections::HashMap::new();
    for suite in ["ecdsa-p256", "sm2", "ml-dsa-65"] {
        let d = pki.join(suite);
        let policy = const_oid::ObjectIdentifier::new_unwrap(crate::tsa::DEFAULT_TSA_POLICY);
        let authority = otaseal_tsa::authority::Authority::from_files(
            &d.join("tsa.key.pem"),
            &d.join("tsa.chain.pem"),
            policy,
            &d.join("tsa.serials"),
        )
        .map_err(|e| CliError(e.to_string()))?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let server = otaseal_tsa::server::Server::start(
            listener,
            std::sync::Arc::new(authority),
            None,
            otaseal_tsa::server::ServerConfig::default(),
        )
        .map_err(|e| CliError(e.to_string()))?;
        let url = server.url("http");
        out!("\n# {suite} time-stamp authority listening on {url}");
        tsa_url.insert(suite, url);
        servers.push(server);
    }
    let mut sign: Vec<String> = [
        "sign",
        "--out",
        &s(&pkg),
        "--product",
        "acme.router-x1",
        "--version",
        "1.2.0",
        "--security-version",
        "12",
        "--hw-compat",
        "acme-rev-a,acme-rev-b",
    ]
    .iter()
    .map(|w| w.to_string())
    .collect();
    for suite in ["ecdsa-p256", "sm2", "ml-dsa-65"] {
        sign.push("--signer".into());
        sign.push(format!(
            "key={},cert={},tsa={}",
            s(&pki.join(suite).join("signer.key.pem")),
            s(&pki.join(suite).join("signer.chain.pem")),
            tsa_url[suite]
        ));
    }
    sign.extend(payloads.iter().map(|p| s(p)));
    step("sign", sign)?;

    let roots = s(&pki.join("roots.pem"));
    let tsa_roots = s(&pki.join("tsa-roots.pem"));
    let verify = |extra: &[&str]| {
        let mut w: Vec<String> = vec![
            "verify".into(),
            s(&pkg),
            "--trust".into(),
            roots.clone(),
            "--tsa-trust".into(),
            tsa_roots.clone(),
        ];
        w.extend(extra.iter().map(|x| x.to_string()));
        w
    };
    let code = step(
        "verify",
        verify(&[
            "--require",
            "ecdsa-p256+sm2+ml-dsa-65",
            "--hw-id",
            "acme-rev-a",
            "--min-security-version",
            "10",
        ]),
    )?;
    if code != 0 {
        return Ok(code);
    }
    step("verify json", verify(&["--require", "sm2", "--json"]))?;
    // Two years on, every certificate has expired; the timestamps prove the
    // signatures were made while they were valid.
    let later = crate::output::format_time(otaseal_sign::package::unix_now() + 2 * 366 * 86_400);
    let code = step(
        "verify later",
        verify(&["--at", &later, "--require-timestamp"]),
    )?;
    if code != 0 {
        return Ok(code);
    }
    step("inspect", vec!["inspect".into(), s(&pkg)])?;

    // A tampered copy: one payload bit flipped near the end of the file.
    let tampered = dir.join("tampered.ota");
    let mut bytes = fs::read(&pkg)?;
    let at = bytes.len().saturating_sub(2048);
    if let Some(b) = bytes.get_mut(at) {
        *b ^= 0x01;
    }
    fs::write(&tampered, bytes)?;
    let mut w = vec![
        "verify".into(),
        s(&tampered),
        "--trust".into(),
        roots,
        "--tsa-trust".into(),
        tsa_roots,
    ];
    w.push("--json".into());
    let rejected = step("tampered", w)?;
    for server in servers {
        server.shutdown();
    }
    out!(
        "\ndemo done: the package verified (now and two years later), and the tampered copy was {} (exit {rejected}).",
        if rejected == 1 {
            "rejected"
        } else {
            "NOT rejected"
        }
    );
    Ok(if rejected == 1 { 0 } else { 1 })
}

fn sample_files(dir: &Path) -> Result<Vec<PathBuf>, CliError> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| CliError(format!("{}: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(CliError(format!("{}: no sample payloads", dir.display())));
    }
    Ok(files)
}

/// Sample payloads for a machine without the repository: a raw image and a
/// rootfs archive.
fn generate_samples(dir: &Path) -> Result<Vec<PathBuf>, CliError> {
    fs::create_dir_all(dir)?;
    let image: Vec<u8> = (0..256 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    let bin = dir.join("firmware.bin");
    fs::write(&bin, &image)?;
    let tgz = dir.join("rootfs.tar.gz");
    let file = fs::File::create(&tgz)?;
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (name, body) in [
        ("etc/os-release", &b"NAME=acme\n"[..]),
        ("usr/bin/app", &image[..4096]),
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        tar.append_data(&mut h, name, body)?;
    }
    tar.into_inner()?.finish()?;
    Ok(vec![bin, tgz])
}
