//! `otaseal verify`.

use std::fs::File;
use std::path::PathBuf;

use clap::Args;
use otaseal_manifest::{DigestAlg, DigestSet, Envelope, Manifest, SuiteSet};
use otaseal_sign::keys::public_key_from_pem;
use otaseal_sign::package::{Progress, unix_now};
use otaseal_sign::pki;
use otaseal_verify::digest::ThreadedDigester;
use otaseal_verify::{
    DigestPolicy, PackageVerifier, Policy, Requirement, SignatureReport, TimeSource, TrustStore,
    VerifyError,
};
use rustls_pki_types::{CertificateDer, TrustAnchor};
use serde_json::{Value, json};

use std::io::Read;

use otaseal_manifest::container::{BLOCK, ENVELOPE_MEMBER, header_size};

use crate::inspect::{manifest_json, payloads_json, signer_name, suite_name};
use crate::output::{Bar, esc, format_time};
use crate::{CliError, CliResult, EXIT_REJECTED, read_file};

#[derive(Args)]
#[command(after_help = "\
Examples:
  otaseal verify fw.ota --trust pki/roots.pem
  otaseal verify fw.ota --trust intl-roots.pem --trust sm-roots.pem --require ecdsa-p256+sm2 \\
      --hw-id rev-a --min-security-version 12 --json
  otaseal verify fw.ota --trust-key release.pub.pem --require ml-dsa-65 --at 2028-01-01T00:00:00Z
  otaseal verify https://updates.example/fw.ota --trust pki/roots.pem --ca lab-ca.pem

Policy: without --require, every declared suite this build supports must be present and
valid. Each --require SUITE[+SUITE...] is an alternative; one must be wholly valid.
A declared signature that is missing always rejects the package. Digest families follow
the valid suites unless --digest names them (sha-256, sha-384, sha-512, sm3 or all).
Timestamps: a signature's RFC 3161 token is verified against --tsa-trust roots and, when
valid, its certificates are checked at the token's time instead of --at, so packages stay
valid after short-lived certificates expire. --require-timestamp[=SUITES] makes tokens
mandatory.
Exit codes: 0 accepted, 1 rejected, 2 usage or I/O error.")]
pub struct VerifyArgs {
    /// Package file, a pipe, `-` for standard input (read once), or an
    /// https:// URL (streamed into the verifier, nothing stored).
    package: PathBuf,
    /// Extra CA certificates (PEM) an https:// server may chain to, beside
    /// the system's roots (repeatable).
    #[arg(long, value_name = "FILE")]
    ca: Vec<PathBuf>,
    /// Accept a plain http:// URL (signatures still protect the package).
    #[arg(long)]
    allow_http: bool,
    /// PEM file of trusted root certificates (repeatable).
    #[arg(long)]
    trust: Vec<PathBuf>,
    /// PEM public key trusted directly (repeatable).
    #[arg(long = "trust-key")]
    trust_key: Vec<PathBuf>,
    /// PEM file of trusted time-stamping authority roots (repeatable).
    #[arg(long = "tsa-trust")]
    tsa_trust: Vec<PathBuf>,
    /// Signatures must carry a valid RFC 3161 timestamp: all of them, or only
    /// those of the listed suites (e.g. --require-timestamp=sm2,ml-dsa-65).
    #[arg(
        long,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "all",
        value_name = "SUITES"
    )]
    require_timestamp: Option<String>,
    /// Required suites, e.g. ecdsa-p256+sm2 (repeatable: alternatives).
    #[arg(long)]
    require: Vec<String>,
    /// The device's hardware id: must be in the package's compatibility list.
    #[arg(long)]
    hw_id: Option<String>,
    /// The device's anti-rollback floor.
    #[arg(long)]
    min_security_version: Option<u64>,
    /// Verification time, RFC 3339 (default: now).
    #[arg(long)]
    at: Option<String>,
    /// Digest families to check: comma-separated, or `all`.
    #[arg(long)]
    digest: Option<String>,
    /// Largest envelope accepted, in bytes (2048 to 262144).
    #[arg(long, default_value_t = 256 * 1024,
          value_parser = clap::value_parser!(u64).range(2048..=otaseal_manifest::container::MAX_ENVELOPE_SIZE))]
    max_envelope: u64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

struct Outcome {
    /// The envelope member exactly as the verifier was fed it (None when
    /// the package ended or broke before it): everything printed about the
    /// package comes from these bytes, never from a second read.
    envelope: Option<Vec<u8>>,
    result: Result<otaseal_verify::Verified, VerifyError>,
    reports: Vec<SignatureReport>,
    digests: DigestSet,
    payloads_matched: usize,
}

pub fn run(a: VerifyArgs) -> CliResult {
    if a.trust.is_empty() && a.trust_key.is_empty() {
        return Err(CliError(
            "give at least one --trust ROOTS.pem or --trust-key PUB.pem".into(),
        ));
    }
    let root_ders = load_certs(&a.trust)?;
    let root_certs: Vec<CertificateDer<'_>> = root_ders
        .iter()
        .map(|d| CertificateDer::from(d.as_slice()))
        .collect();
    let roots = trust_anchors(&root_certs, "--trust")?;
    let tsa_ders = load_certs(&a.tsa_trust)?;
    let tsa_certs: Vec<CertificateDer<'_>> = tsa_ders
        .iter()
        .map(|d| CertificateDer::from(d.as_slice()))
        .collect();
    let tsa_roots = trust_anchors(&tsa_certs, "--tsa-trust")?;
    let mut keys = Vec::new();
    for path in &a.trust_key {
        let pem = String::from_utf8(read_file(path)?)
            .map_err(|_| CliError(format!("{}: not a PEM file", path.display())))?;
        let (_, spki) =
            public_key_from_pem(&pem).map_err(|e| CliError(format!("{}: {e}", path.display())))?;
        keys.push(spki);
    }
    let key_refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    let mut sets = Vec::new();
    for r in &a.require {
        sets.push(SuiteSet::parse(r).ok_or_else(|| {
            CliError(format!(
                "--require {r:?}: use suite names joined by '+', from {}",
                crate::keys::SUITE_NAMES
            ))
        })?);
    }
    let digests = match a.digest.as_deref() {
        None => DigestPolicy::FollowSuites,
        Some("all") => DigestPolicy::AllInManifest,
        Some(list) => {
            let mut set = DigestSet::EMPTY;
            for name in list.split(',') {
                set = set.with(DigestAlg::from_name(name.trim()).ok_or_else(|| {
                    CliError(format!(
                        "--digest {name:?}: use sha-256, sha-384, sha-512, sm3 or all"
                    ))
                })?);
            }
            DigestPolicy::Families(set)
        }
    };
    let time = match &a.at {
        Some(t) => crate::output::parse_time(t)?,
        None => unix_now(),
    };
    let policy = Policy {
        require: if sets.is_empty() {
            Requirement::AllDeclared
        } else {
            Requirement::AnyOf(&sets)
        },
        hw_id: a.hw_id.as_deref(),
        min_security_version: a.min_security_version,
        time: Some(time),
        digests,
        require_timestamp: match a.require_timestamp.as_deref() {
            None => SuiteSet::EMPTY,
            Some("all") => otaseal_manifest::Suite::ALL
                .iter()
                .fold(SuiteSet::EMPTY, |set, s| set.with(*s)),
            Some(list) => SuiteSet::parse(&list.replace(',', "+")).ok_or_else(|| {
                CliError(format!(
                    "--require-timestamp {list:?}: use `all` or suite names from {}",
                    crate::keys::SUITE_NAMES
                ))
            })?,
        },
        tsa_policies: None,
    };
    let trust = TrustStore {
        roots: &roots,
        keys: &key_refs,
        tsa_roots: &tsa_roots,
    };
    let outcome = verify_file(&a, policy, trust)?;
    report(&a, time, outcome)
}

/// Certificates from PEM files, in order.
fn load_certs(paths: &[PathBuf]) -> Result<Vec<Vec<u8>>, CliError> {
    let mut ders = Vec::new();
    for path in paths {
        let pem = String::from_utf8(read_file(path)?)
            .map_err(|_| CliError(format!("{}: not a PEM file", path.display())))?;
        ders.extend(
            pki::certs_from_pem(&pem).map_err(|e| CliError(format!("{}: {e}", path.display())))?,
        );
    }
    Ok(ders)
}

fn trust_anchors<'a>(
    certs: &'a [CertificateDer<'a>],
    flag: &str,
) -> Result<Vec<TrustAnchor<'a>>, CliError> {
    certs
        .iter()
        .map(|c| {
            webpki::anchor_from_trusted_cert(c).map_err(|e| {
                CliError(format!(
                    "a {flag} certificate cannot be a trust anchor: {e}"
                ))
            })
        })
        .collect()
}

/// Reads until `buf` is full or the input ends (pipes give short reads).
fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// The envelope member's bytes from the head of the stream, if whole.
fn envelope_from_head(head: &[u8]) -> Option<Vec<u8>> {
    let header: &[u8; BLOCK] = head.get(..BLOCK)?.try_into().ok()?;
    let name = ENVELOPE_MEMBER.as_bytes();
    if header.get(..name.len()) != Some(name) || header.get(name.len()) != Some(&0) {
        return None;
    }
    let size = usize::try_from(header_size(header).ok()?).ok()?;
    head.get(BLOCK..BLOCK.checked_add(size)?)
        .map(<[u8]>::to_vec)
}

fn verify_file(
    a: &VerifyArgs,
    policy: Policy<'_>,
    trust: TrustStore<'_>,
) -> Result<Outcome, CliError> {
    let name = crate::output::esc(&a.package.display().to_string());
    let url = a.package.to_str().filter(|p| crate::fetch::is_url(p));
    let (mut input, total): (Box<dyn Read>, u64) = if let Some(url) = url {
        let d = crate::fetch::open(
            url,
            &crate::fetch::FetchOptions {
                ca: &a.ca,
                allow_http: a.allow_http,
                timeout: std::time::Duration::from_secs(30),
            },
        )?;
        (d.body, d.total.unwrap_or(0))
    } else if a.package.as_os_str() == "-" {
        (Box::new(std::io::stdin().lock()), 0)
    } else {
        let file = File::open(&a.package).map_err(|e| CliError(format!("{name}: {e}")))?;
        let meta = file
            .metadata()
            .map_err(|e| CliError(format!("{name}: {e}")))?;
        if meta.is_dir() {
            return Err(CliError(format!("{name}: is a directory")));
        }
        let total = if meta.is_file() { meta.len() } else { 0 };
        (Box::new(file), total)
    };
    // Bounded by clap to 2048..=MAX_ENVELOPE_SIZE.
    let max_envelope = usize::try_from(a.max_envelope).unwrap_or(256 * 1024);
    let mut buf = vec![0u8; max_envelope * 2];
    let mut v =
        PackageVerifier::with_digester(&mut buf, policy, trust, ThreadedDigester::per_core());
    // Four 1 MiB chunks per read: work for both cores, RSS well under 16 MiB.
    let mut block = vec![0u8; 4 << 20];
    // The head of the stream as fed to the verifier: header and envelope.
    let head_len = BLOCK + max_envelope;
    let mut head = Vec::with_capacity(head_len);
    let mut bar = Bar::new(a.json);
    bar.start("verifying", total);
    let mut failed = None;
    loop {
        // Reads follow the verifier's hint so payload chunks arrive whole.
        let want = v.read_hint(block.len());
        let n = match read_full(&mut *input, &mut block[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => return Err(CliError(format!("{name}: {e}"))),
        };
        if head.len() < head_len {
            let take = n.min(head_len - head.len());
            head.extend_from_slice(&block[..take]);
        }
        if let Err(e) = v.update(&block[..n]) {
            failed = Some(e);
            break;
        }
        bar.advance(n as u64);
    }
    bar.finish();
    let verdict = v.envelope_verdict();
    let reports = verdict.signatures.to_vec();
    let digests = verdict.digests;
    let payloads_matched = v.payloads_matched();
    let result = match failed {
        Some(e) => Err(e),
        None => v.finish(),
    };
    Ok(Outcome {
        envelope: envelope_from_head(&head),
        result,
        reports,
        digests,
        payloads_matched,
    })
}

fn time_source_name(source: TimeSource, at_given: bool) -> &'static str {
    match source {
        TimeSource::Timestamp => "timestamp",
        TimeSource::Verifier if at_given => "--at",
        TimeSource::Verifier => "system clock",
        TimeSource::ManifestCreated => "manifest created",
        TimeSource::None => "none",
    }
}

/// A token as JSON: what it says, and what the verifier made of it.
pub fn timestamp_json(token: &[u8], report: Option<&SignatureReport>) -> Value {
    let status = match report {
        Some(r) if r.timestamp.is_some() => ("valid", None),
        Some(SignatureReport {
            reason: Some(e @ VerifyError::Timestamp { reason, .. }),
            ..
        }) => (
            // As the verifier decides: only an unknown TSA root is "untrusted".
            if matches!(
                reason,
                otaseal_verify::timestamp::TimestampError::Chain(
                    otaseal_verify::chain::ChainError::UnknownIssuer
                )
            ) {
                "untrusted"
            } else {
                "invalid"
            },
            Some(e.code()),
        ),
        _ => ("not-checked", None),
    };
    let mut v = crate::inspect::token_json(token);
    v["status"] = json!(status.0);
    v["code"] = json!(status.1);
    v
}

fn report(a: &VerifyArgs, time: u64, o: Outcome) -> CliResult {
    let envelope_bytes = o.envelope.clone();
    let envelope = envelope_bytes
        .as_deref()
        .and_then(|b| Envelope::decode(b).ok());
    let manifest = envelope
        .as_ref()
        .and_then(|e| Manifest::decode(e.manifest).ok());
    let accepted = o.result.is_ok();
    let (code, reason) = match &o.result {
        Ok(_) => ("ok".to_string(), "package verified".to_string()),
        Err(e) => (e.code().to_string(), e.to_string()),
    };
    let signatures: Vec<Value> = envelope
        .as_ref()
        .map(|e| {
            e.signatures
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let chain: Vec<&[u8]> = s.x5chain.iter().copied().collect();
                    let report = o.reports.get(i);
                    let (status, why) = match report {
                        Some(r) => (r.status.name(), r.reason.map(|w| w.code())),
                        None => ("not-checked", None),
                    };
                    json!({
                        "suite": suite_name(s.alg),
                        "signer": signer_name(&chain, s.kid),
                        "kid": crate::output::hex(s.kid),
                        "status": status,
                        "code": why,
                        "trust": if chain.is_empty() { "key" } else { "x509" },
                        "timestamp": s.timestamp.map(|t| timestamp_json(t, report)),
                        "time_source": report.map(|r| time_source_name(r.time_source, a.at.is_some())),
                        "checked_at": report.filter(|r| r.time_source != TimeSource::None).map(|r| format_time(r.checked_at)),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let checked: Vec<&str> = o.digests.iter().map(|d| d.name()).collect();
    let payload_status = |index: usize| -> &'static str {
        match &o.result {
            Ok(_) => "ok",
            Err(VerifyError::DigestMismatch { payload, .. }) if *payload == index => {
                "digest-mismatch"
            }
            // Matched, but the package as a whole is rejected.
            Err(_) if index < o.payloads_matched => "matched",
            Err(_) => "not-checked",
        }
    };
    let payloads: Vec<Value> = manifest
        .as_ref()
        .map(|m| {
            payloads_json(m)
                .into_iter()
                .enumerate()
                .map(|(i, mut p)| {
                    p["status"] = json!(payload_status(i));
                    p["checked"] = json!(checked);
                    p
                })
                .collect()
        })
        .unwrap_or_default();

    if a.json {
        out!(
            "{}",
            json!({
                "package": a.package,
                "verdict": if accepted { "accepted" } else { "rejected" },
                "code": code,
                "reason": reason,
                "time": format_time(time),
                "time_source": if a.at.is_some() { "--at" } else { "system clock" },
                "signatures": signatures,
                "digests_checked": checked,
                "payloads": payloads,
                "manifest": manifest.as_ref().map(manifest_json),
            })
        );
    } else {
        let shown = esc(&a.package.display().to_string());
        if accepted {
            out!("ACCEPTED {shown}");
        } else {
            out!("REJECTED {shown}: {} [{code}]", esc(&reason));
        }
        if let Some(m) = &manifest {
            out!(
                "  {} {} (security version {}), created {}{}",
                esc(m.product),
                esc(m.version),
                m.security_version,
                format_time(m.created),
                m.expires
                    .map(|x| format!(", expires {}", format_time(x)))
                    .unwrap_or_default()
            );
        }
        for s in &signatures {
            out!(
                "  signature {:<13} {:<11} {}{}",
                s["suite"].as_str().unwrap_or(""),
                s["status"].as_str().unwrap_or(""),
                esc(s["signer"].as_str().unwrap_or("")),
                s["code"]
                    .as_str()
                    .map(|c| format!(" [{c}]"))
                    .unwrap_or_default()
            );
            if let Some(t) = s["timestamp"].as_object() {
                out!(
                    "            timestamp {} by {} ({}), serial {}",
                    t["gen_time"].as_str().unwrap_or("?"),
                    esc(t["tsa"].as_str().unwrap_or("?")),
                    t["status"].as_str().unwrap_or("?"),
                    t["serial"].as_str().unwrap_or("?"),
                );
            }
            if let (Some(at), Some(src)) = (s["checked_at"].as_str(), s["time_source"].as_str()) {
                out!("            certificates checked at {at} ({src})");
            }
        }
        for p in &payloads {
            let families = if checked.is_empty() {
                String::new()
            } else {
                format!(" ({})", checked.join("+"))
            };
            out!(
                "  payload   {:<24} {:<7} {:>12} bytes  {}{families}",
                esc(p["name"].as_str().unwrap_or("")),
                p["kind"].as_str().unwrap_or(""),
                p["size"],
                p["status"].as_str().unwrap_or(""),
            );
        }
        out!(
            "  checked at {} ({})",
            format_time(time),
            if a.at.is_some() {
                "--at"
            } else {
                "system clock"
            }
        );
    }
    Ok(if accepted { 0 } else { EXIT_REJECTED })
}
