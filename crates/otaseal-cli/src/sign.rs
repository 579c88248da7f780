//! `otaseal sign`.

use std::path::PathBuf;

use clap::Args;
use otaseal_manifest::manifest::DEFAULT_CHUNK_LOG2;
use otaseal_manifest::{DigestAlg, DigestSet};
use std::sync::Arc;

use otaseal_sign::keys::KeySigner;
use otaseal_sign::package::{self, PackageSpec, PayloadInput, SignerInput};
use otaseal_sign::pki;
use serde_json::json;

use crate::output::{Bar, format_time, hex, human_size, parse_time};
use crate::{CliError, CliResult, read_file};

#[derive(Args)]
#[command(after_help = "\
Examples:
  # ECDSA P-256 + SM2 with certificate chains, two payloads
  otaseal sign --out fw-1.2.0.ota --product acme.router-x1 --version 1.2.0 \\
      --security-version 12 --hw-compat rev-a,rev-b --expires 2027-06-30T00:00:00Z \\
      --signer key=pki/ecdsa-p256/signer.key.pem,cert=pki/ecdsa-p256/signer.chain.pem \\
      --signer key=pki/sm2/signer.key.pem,cert=pki/sm2/signer.chain.pem \\
      --target rootfs.tar.gz=slot:rootfs firmware.bin rootfs.tar.gz

  # Hybrid with a raw ML-DSA key (verifiers trust it with --trust-key)
  otaseal sign --out fw.ota --product acme.x --version 2 --security-version 2 \\
      --hw-compat rev-a --signer key=p256.pem,cert=p256.chain.pem --signer key=mldsa65.pem fw.bin

  # A key that never leaves a token (PKCS#11; PIN from a file or OTASEAL_PKCS11_PIN)
  export OTASEAL_PKCS11_MODULE=/usr/lib/softhsm/libsofthsm2.so
  otaseal sign ... --signer 'key=pkcs11:token=release;object=fw-p256?pin-source=pin.txt,cert=chain.pem' fw.bin

  # Every signature timestamped; the SM2 one by an SM2 TSA
  otaseal sign ... --tsa https://tsa.example/rsa \
      --signer key=sm2.pem,cert=sm2.chain.pem,tsa=https://tsa.example/sm2 fw.bin

  # Keys in a CSC API v2 signing service (hash only; secret never on argv),
  # timestamped by the same service
  OTASEAL_CSC_SECRET=$(cat build.secret) otaseal sign ... \
      --signer csc=https://sign.example/csc/v2,credential=signer-ecdsa-p256,tsa=service \
      --signer csc=https://sign.example/csc/v2,credential=signer-sm2,tsa=service fw.bin

Payloads may be raw images or .tar, .tar.gz/.tgz, .zip archives; archives with absolute
paths, '..', escaping links, device nodes or duplicate names are refused. The package is
written to a temporary file and renamed into place only when complete.")]
pub struct SignArgs {
    /// Package file to write.
    #[arg(long)]
    out: PathBuf,
    /// Vendor/product id (printable ASCII, no spaces).
    #[arg(long)]
    product: String,
    /// Human-readable version.
    #[arg(long)]
    version: String,
    /// Monotonic security version (anti-rollback).
    #[arg(long)]
    security_version: u64,
    /// Compatible hardware ids, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    hw_compat: Vec<String>,
    /// Expiry, RFC 3339 (devices refuse the package afterwards).
    #[arg(long)]
    expires: Option<String>,
    /// Creation time, RFC 3339 (default: now). For reproducible builds.
    #[arg(long)]
    created: Option<String>,
    #[arg(
        long = "signer",
        required = true,
        help = "A signer: key=KEY.pem|pkcs11:URI[,cert=CHAIN.pem][,tsa=URL...][,suite=ALG], or a CSC service credential: csc=https://HOST/csc/v2,credential=ID[,cert=CHAIN.pem][,client=ID][,secret=file:PATH|env:VAR][,auth=oauth2|basic][,pin=file:PATH|env:VAR][,ca=CA.pem][,tsa=service|URL] (secret default env:OTASEAL_CSC_SECRET). Repeat for several signatures."
    )]
    signers: Vec<String>,
    /// TSA URL for every signer without its own tsa= (repeatable: failover order).
    #[arg(long = "tsa")]
    tsa: Vec<String>,
    #[command(flatten)]
    tsa_client: crate::tsa::TsaClientArgs,
    /// Install target hint for a payload: NAME=HINT (repeatable).
    #[arg(long = "target")]
    targets: Vec<String>,
    /// Payload chunk size exponent (20 = 1 MiB chunks).
    #[arg(long, default_value_t = DEFAULT_CHUNK_LOG2, value_parser = clap::value_parser!(u8).range(12..=24))]
    chunk_log2: u8,
    /// Also include these digest families (sha-384, sha-512); SHA-256, SM3 and
    /// each suite's own family are always included.
    #[arg(long, value_delimiter = ',')]
    digest: Vec<String>,
    /// Replace OUT if it exists.
    #[arg(long)]
    force: bool,
    /// Print a JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Payload files, in package order.
    #[arg(required = true)]
    payloads: Vec<PathBuf>,
}

struct LoadedSigner {
    key: Arc<dyn KeySigner>,
    chain: Vec<Vec<u8>>,
    tsa: Vec<String>,
    /// `csc=...,tsa=service`: timestamped by the CSC service.
    csc_tsa: Option<Arc<otaseal_csc::client::CscClient>>,
}

fn parse_signer(
    spec: &str,
    csc: &mut crate::csc_signer::CscSession,
) -> Result<LoadedSigner, CliError> {
    if spec.starts_with("csc=") {
        let l = csc.load(spec)?;
        return Ok(LoadedSigner {
            key: l.key,
            chain: l.chain,
            tsa: l.tsa_urls,
            csc_tsa: l.service_tsa,
        });
    }
    let mut key = None;
    let mut cert = None;
    let mut tsa = Vec::new();
    let mut suite = None;
    for part in spec.split(',') {
        match part.split_once('=') {
            Some(("key", v)) => key = Some(v.to_string()),
            Some(("suite", v)) => {
                suite = Some(crate::keys::parse_suite(v).map_err(CliError)?);
            }
            Some(("cert", v)) => cert = Some(PathBuf::from(v)),
            Some(("tsa", v)) => tsa.push(v.to_string()),
            _ => {
                return Err(CliError(format!(
                    "--signer {spec:?}: expected key=KEY.pem|pkcs11:URI[,cert=CHAIN.pem][,tsa=URL][,suite=ALG]"
                )));
            }
        }
    }
    let key_spec = key.ok_or_else(|| CliError(format!("--signer {spec:?}: key= is missing")))?;
    let key = crate::keys::load_signer(&key_spec, suite)?;
    let chain = match cert {
        Some(p) => {
            let pem = String::from_utf8(read_file(&p)?)
                .map_err(|_| CliError(format!("{}: not a PEM file", p.display())))?;
            pki::certs_from_pem(&pem).map_err(|e| CliError(format!("{}: {e}", p.display())))?
        }
        None => Vec::new(),
    };
    Ok(LoadedSigner {
        key,
        chain,
        tsa,
        csc_tsa: None,
    })
}

pub fn run(a: SignArgs) -> CliResult {
    crate::refuse_stdout_out(&a.out)?;
    // Refuse a bad --out and bad --tsa URLs before reading keys or payloads.
    package::check_output(&a.out, a.force)?;
    let mut csc = crate::csc_signer::CscSession::default();
    let loaded = a
        .signers
        .iter()
        .map(|s| parse_signer(s, &mut csc))
        .collect::<Result<Vec<_>, _>>();
    let result = loaded.and_then(|loaded| sign_loaded(a, loaded));
    csc.finish();
    result
}

fn sign_loaded(a: SignArgs, loaded: Vec<LoadedSigner>) -> CliResult {
    let mut spec = PackageSpec::new(&a.product, &a.version, a.security_version, a.hw_compat);
    if let Some(t) = &a.created {
        spec.created = parse_time(t)?;
    }
    spec.expires = a.expires.as_deref().map(parse_time).transpose()?;
    spec.chunk_log2 = a.chunk_log2;
    for d in &a.digest {
        let alg = DigestAlg::from_name(d).ok_or_else(|| {
            CliError(format!(
                "unknown digest {d:?}; use sha-256, sha-384, sha-512 or sm3"
            ))
        })?;
        spec.extra_digests = spec.extra_digests.with(alg);
    }
    let mut payloads: Vec<PayloadInput> = a
        .payloads
        .iter()
        .map(|p| PayloadInput::from_path(p))
        .collect();
    for t in &a.targets {
        let (name, hint) = t
            .split_once('=')
            .ok_or_else(|| CliError(format!("--target {t:?}: expected NAME=HINT")))?;
        let p = payloads
            .iter_mut()
            .find(|p| p.name == name)
            .ok_or_else(|| CliError(format!("--target {t:?}: no payload named {name:?}")))?;
        p.target = Some(hint.to_string());
    }
    spec.payloads = payloads;

    let inputs: Vec<SignerInput<'_>> = loaded
        .iter()
        .map(|l| SignerInput {
            signer: &l.key,
            chain: l.chain.clone(),
        })
        .collect();
    let urls: Vec<Vec<String>> = loaded
        .iter()
        .map(|l| {
            if l.csc_tsa.is_some() {
                Vec::new()
            } else if l.tsa.is_empty() {
                a.tsa.clone()
            } else {
                l.tsa.clone()
            }
        })
        .collect();
    let stamper = crate::csc_signer::CscTimestamper {
        http: crate::tsa::HttpTimestamper::new(&urls, &a.tsa_client)?,
        service: loaded.iter().map(|l| l.csc_tsa.clone()).collect(),
    };
    let mut bar = Bar::new(a.json);
    // Without any TSA the signer writes while it hashes (one read); with
    // one it hashes, gets the tokens, then writes once.
    let stamper: &dyn package::Timestamper =
        if urls.iter().all(Vec::is_empty) && loaded.iter().all(|l| l.csc_tsa.is_none()) {
            &package::NoTimestamps
        } else {
            &stamper
        };
    let summary = package::build_package(&spec, &inputs, stamper, &a.out, a.force, &mut bar)?;

    let families: DigestSet =
        package::digest_families(loaded.iter().map(|l| l.key.suite()), spec.extra_digests);
    if a.json {
        let payloads: Vec<_> = summary
            .payloads
            .iter()
            .map(|p| {
                let digests: serde_json::Map<_, _> = p
                    .digests
                    .iter()
                    .map(|(alg, v)| (alg.name().to_string(), json!(hex(v.as_bytes()))))
                    .collect();
                json!({"name": p.input.name, "size": p.size, "kind": p.kind.name(), "target": p.input.target, "digests": digests})
            })
            .collect();
        let signers: Vec<_> = loaded
            .iter()
            .map(|l| json!({"suite": l.key.suite().name(), "kid": crate::keys::key_id_hex(&l.key.public_spki_der()), "certificates": l.chain.len(), "timestamped": l.csc_tsa.is_some() || !l.tsa.is_empty() || !a.tsa.is_empty()}))
            .collect();
        out!(
            "{}",
            json!({
                "package": summary.path,
                "size": summary.size,
                "envelope_size": summary.envelope_size,
                "relocated": summary.relocated,
                "created": format_time(spec.created),
                "signers": signers,
                "digests": families.iter().map(|d| d.name()).collect::<Vec<_>>(),
                "payloads": payloads,
            })
        );
    } else {
        out!(
            "signed {} ({}, envelope {} bytes)",
            summary.path.display(),
            human_size(summary.size),
            summary.envelope_size
        );
        for l in &loaded {
            out!(
                "  signature {:<13} kid {}{}",
                l.key.suite().name(),
                &crate::keys::key_id_hex(&l.key.public_spki_der())[..16],
                match (
                    l.chain.is_empty(),
                    l.csc_tsa.is_some() || !l.tsa.is_empty() || !a.tsa.is_empty(),
                ) {
                    (true, false) => " (raw key)",
                    (true, true) => " (raw key, timestamped)",
                    (false, true) => " (timestamped)",
                    (false, false) => "",
                }
            );
        }
        for p in &summary.payloads {
            out!(
                "  payload {} ({}, {})",
                p.input.name,
                p.kind.name(),
                human_size(p.size)
            );
        }
    }
    Ok(0)
}
