//! `otaseal inspect`, and the package description shared with `verify`.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use clap::Args;
use otaseal_manifest::container::{BLOCK, ENVELOPE_MEMBER, MAX_ENVELOPE_SIZE, header_size};
use otaseal_manifest::{Envelope, Manifest, Suite};
use otaseal_verify::cert;
use serde_json::{Value, json};

use crate::output::{esc, format_time, hex, human_size};
use crate::{CliError, CliResult, EXIT_REJECTED};

#[derive(Args)]
#[command(after_help = "\
Examples:
  otaseal inspect fw.ota
  otaseal inspect fw.ota --json | jq .manifest.security_version

Inspect decodes the envelope and lists manifest, signatures, certificates and payloads
WITHOUT verifying anything: use `otaseal verify` to decide whether to trust a package.
Exit status 1 when the package cannot be decoded.")]
pub struct InspectArgs {
    /// Package file.
    package: PathBuf,
    /// Print a JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Reads the envelope member of a package without verifying it.
pub fn read_envelope(path: &Path) -> Result<Result<Vec<u8>, String>, CliError> {
    let mut f = File::open(path).map_err(|e| CliError(format!("{}: {e}", path.display())))?;
    let mut header = [0u8; BLOCK];
    if f.read_exact(&mut header).is_err() {
        return Ok(Err("shorter than one tar block".into()));
    }
    let name = ENVELOPE_MEMBER.as_bytes();
    if header.get(..name.len()) != Some(name) || header.get(name.len()) != Some(&0) {
        return Ok(Err(format!("first member is not {ENVELOPE_MEMBER}")));
    }
    let size = match header_size(&header) {
        Ok(s) if s > 0 && s <= MAX_ENVELOPE_SIZE => s,
        Ok(s) => {
            return Ok(Err(format!(
                "envelope size {s} outside 1..={MAX_ENVELOPE_SIZE}"
            )));
        }
        Err(e) => return Ok(Err(e.to_string())),
    };
    let mut env = vec![0u8; size as usize];
    if f.read_exact(&mut env).is_err() {
        return Ok(Err("package ends inside the envelope".into()));
    }
    Ok(Ok(env))
}

/// A signer's display name: the leaf certificate's CN, or the key id.
pub fn signer_name(chain: &[&[u8]], kid: &[u8]) -> String {
    chain
        .first()
        .and_then(|leaf| cert::parse_certificate(leaf).ok())
        .and_then(|info| cert::subject_common_name(info.subject).map(str::to_string))
        .unwrap_or_else(|| format!("key {}", &hex(kid)[..16.min(kid.len() * 2)]))
}

/// Suite name for a COSE algorithm id.
pub fn suite_name(alg: i64) -> String {
    Suite::from_cose_alg(alg)
        .map(|s| s.name().to_string())
        .unwrap_or_else(|| format!("cose-alg({alg})"))
}

/// Dotted form of OID content bytes.
pub fn oid_string(content: &[u8]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut value: u64 = 0;
    for (i, b) in content.iter().enumerate() {
        value = (value << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if parts.is_empty() {
                let (first, second) = match value {
                    0..=39 => (0, value),
                    40..=79 => (1, value - 40),
                    _ => (2, value - 80),
                };
                parts.push(first.to_string());
                parts.push(second.to_string());
            } else {
                parts.push(value.to_string());
            }
            value = 0;
        } else if i + 1 == content.len() {
            return "invalid".into();
        }
    }
    parts.join(".")
}

/// What an RFC 3161 token says (parsed, not verified).
pub fn token_json(token: &[u8]) -> Value {
    match otaseal_verify::timestamp::parse_token(token) {
        Ok(info) => json!({
            "tsa": cert::subject_common_name(info.tsa_subject),
            "gen_time": format_time(info.gen_time),
            "policy": oid_string(info.policy),
            "serial": hex(info.serial),
            "imprint_alg": info.imprint_alg.name(),
            "accuracy_millis": info.accuracy_millis,
            "bytes": token.len(),
        }),
        Err(e) => json!({"error": e.to_string(), "bytes": token.len()}),
    }
}

/// JSON description of a manifest.
pub fn manifest_json(m: &Manifest<'_>) -> Value {
    json!({
        "product": m.product,
        "version": m.version,
        "security_version": m.security_version,
        "hw_compat": m.hw_compat.iter().collect::<Vec<_>>(),
        "created": format_time(m.created),
        "expires": m.expires.map(format_time),
        "chunk_size": m.chunk_size(),
        "signers": m.signers.iter().map(|s| json!({"suite": suite_name(s.alg), "kid": hex(s.kid)})).collect::<Vec<_>>(),
    })
}

/// JSON description of the payload list (digests as hex).
pub fn payloads_json(m: &Manifest<'_>) -> Vec<Value> {
    m.payloads
        .iter()
        .map(|p| {
            let digests: serde_json::Map<_, _> = p
                .digests
                .iter()
                .map(|d| (d.alg.name().to_string(), json!(hex(d.root))))
                .collect();
            json!({"name": p.name, "size": p.size, "kind": p.kind.name(), "target": p.target, "digests": digests})
        })
        .collect()
}

/// JSON description of the signatures, with certificate details.
pub fn signatures_json(e: &Envelope<'_>) -> Vec<Value> {
    e.signatures
        .iter()
        .map(|s| {
            let chain: Vec<&[u8]> = s.x5chain.iter().copied().collect();
            let certs: Vec<Value> = chain
                .iter()
                .map(|c| match cert::parse_certificate(c) {
                    Ok(info) => json!({
                        "subject": cert::subject_common_name(info.subject),
                        "not_before": format_time(info.not_before),
                        "not_after": format_time(info.not_after),
                        "code_signing": info.has_code_signing_eku,
                    }),
                    Err(e) => json!({"error": e.to_string()}),
                })
                .collect();
            json!({
                "suite": suite_name(s.alg),
                "signer": signer_name(&chain, s.kid),
                "kid": hex(s.kid),
                "signature_bytes": s.signature.len(),
                "certificates": certs,
                "timestamp": s.timestamp.map(token_json),
            })
        })
        .collect()
}

pub fn run(a: InspectArgs) -> CliResult {
    let env = match read_envelope(&a.package)? {
        Ok(env) => env,
        Err(why) => return malformed(&a, &why),
    };
    let envelope = match Envelope::decode(&env) {
        Ok(e) => e,
        Err(e) => return malformed(&a, &e.to_string()),
    };
    let manifest = match Manifest::decode(envelope.manifest) {
        Ok(m) => m,
        Err(e) => return malformed(&a, &e.to_string()),
    };
    let size = std::fs::metadata(&a.package).map(|m| m.len()).unwrap_or(0);
    if a.json {
        out!(
            "{}",
            json!({
                "package": a.package,
                "size": size,
                "envelope_size": env.len(),
                "verified": false,
                "manifest": manifest_json(&manifest),
                "signatures": signatures_json(&envelope),
                "payloads": payloads_json(&manifest),
            })
        );
        return Ok(0);
    }
    out!(
        "{} ({}, NOT verified: use `otaseal verify`)",
        esc(&a.package.display().to_string()),
        human_size(size)
    );
    out!("  product          {}", esc(manifest.product));
    out!(
        "  version          {} (security version {})",
        esc(manifest.version),
        manifest.security_version
    );
    out!("  hardware         {}", esc(&manifest.hw_compat.join(", ")));
    out!("  created          {}", format_time(manifest.created));
    if let Some(x) = manifest.expires {
        out!("  expires          {}", format_time(x));
    }
    out!("  chunk size       {}", human_size(manifest.chunk_size()));
    for s in &envelope.signatures {
        let chain: Vec<&[u8]> = s.x5chain.iter().copied().collect();
        out!(
            "  signature        {:<13} {}  kid {}  {}",
            suite_name(s.alg),
            esc(&signer_name(&chain, s.kid)),
            &hex(s.kid)[..16.min(s.kid.len() * 2)],
            match (chain.len(), s.timestamp) {
                (0, None) => "raw key".to_string(),
                (n, None) => format!("{n} certificate(s)"),
                (n, Some(_)) => format!("{n} certificate(s), timestamped"),
            }
        );
        if let Some(info) = chain.first().and_then(|c| cert::parse_certificate(c).ok()) {
            out!(
                "                   valid {} .. {}",
                format_time(info.not_before),
                format_time(info.not_after)
            );
        }
        if let Some(t) = s.timestamp {
            let t = token_json(t);
            out!(
                "                   timestamp {} by {}, policy {}, serial {}",
                t["gen_time"].as_str().unwrap_or("?"),
                esc(t["tsa"].as_str().unwrap_or("?")),
                t["policy"].as_str().unwrap_or("?"),
                t["serial"].as_str().unwrap_or("?"),
            );
        }
    }
    for p in &manifest.payloads {
        out!(
            "  payload          {} ({}, {}){}",
            esc(p.name),
            p.kind.name(),
            human_size(p.size),
            p.target
                .map(|t| format!(" -> {}", esc(t)))
                .unwrap_or_default()
        );
        for d in &p.digests {
            out!("                   {:<8} {}", d.alg.name(), hex(d.root));
        }
    }
    Ok(0)
}

fn malformed(a: &InspectArgs, why: &str) -> CliResult {
    if a.json {
        out!("{}", json!({"package": a.package, "error": why}));
    } else {
        eprintln!(
            "otaseal: {}: not a readable otaseal package: {}",
            esc(&a.package.display().to_string()),
            esc(why)
        );
    }
    Ok(EXIT_REJECTED)
}
