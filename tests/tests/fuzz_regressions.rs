//! Inputs the fuzz targets (`fuzz/`) found, replayed through the same APIs
//! with the verifier built as the workspace builds it.
//!
//! Every file in `fuzz/regressions/` is named `<target>-<what>` and holds an
//! input in that target's format (see `fuzz/fuzz_targets/<target>.rs`). Each
//! must be listed in [`EXPECTED`] with the typed outcome it must produce, so
//! a new finding cannot be dropped in without saying what is right for it.

use std::path::Path;

use otaseal_manifest::container::{
    BLOCK, END_BLOCKS, ENVELOPE_MEMBER, header_mtime, header_size, member_header, padding_len,
};
use otaseal_manifest::envelope::CONTENT_TYPE;
use otaseal_manifest::{DigestAlg, Envelope, Manifest};
use otaseal_tests::*;
use otaseal_verify::cert::{OID_KP_CODE_SIGNING, OID_KP_TIME_STAMPING};
use otaseal_verify::chain::{self, ALL_CHAIN_ALGORITHMS};
use otaseal_verify::timestamp::{parse_token, verify_token};
use otaseal_verify::{PackageVerifier, Policy, TrustStore};
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};

/// Each regression input and the outcome it must produce (the `Debug` text
/// of the result the replay returns).
const EXPECTED: &[(&str, &str)] = &[
    // parse_token reads neither the signed attributes nor the TSA
    // certificate's extensions; verify_token does and rejects the token as
    // malformed (an attribute SEQUENCE re-tagged SET, a TSA certificate
    // extension OID re-tagged ENUMERATED). Pinned: no panic, one typed error.
    (
        "timestamp-signed-attr-set-tag",
        "parse: Ok, verify: Err(Malformed)",
    ),
];

fn regressions_dir() -> std::path::PathBuf {
    repo_root().join("fuzz").join("regressions")
}

/// Owned fixture trust: DER of the code-signing roots, the TSA roots and the
/// raw Ed25519 key, as the fuzz targets load them.
struct Trust {
    roots: Vec<Vec<u8>>,
    tsa_roots: Vec<Vec<u8>>,
    keys: Vec<Vec<u8>>,
}

fn ders(path: &Path, label: &str) -> Vec<Vec<u8>> {
    let text = std::fs::read_to_string(path).expect("read fixture PEM");
    pem_blocks(&text)
        .into_iter()
        .filter(|(l, _)| l == label)
        .map(|(_, der)| der)
        .collect()
}

fn load_trust() -> Trust {
    let pki = fixtures_dir().join("pki");
    Trust {
        roots: ders(&pki.join("roots.pem"), "CERTIFICATE"),
        tsa_roots: ders(&pki.join("tsa-roots.pem"), "CERTIFICATE"),
        keys: ders(&pki.join("ed25519/signer.pub.pem"), "PUBLIC KEY"),
    }
}

fn anchors(ders: &[Vec<u8>]) -> Vec<CertificateDer<'_>> {
    ders.iter()
        .map(|d| CertificateDer::from(d.as_slice()))
        .collect()
}

fn to_anchors<'a>(certs: &'a [CertificateDer<'a>]) -> Vec<TrustAnchor<'a>> {
    certs
        .iter()
        .map(|c| webpki::anchor_from_trusted_cert(c).expect("fixture root"))
        .collect()
}

/// The fuzz targets' policy selector (see `fuzz/src/lib.rs`).
fn policy(selector: u8) -> Policy<'static> {
    if selector & 1 == 0 {
        Policy::default()
    } else {
        Policy {
            time: Some(1_811_808_000),
            digests: otaseal_verify::DigestPolicy::AllInManifest,
            ..Policy::default()
        }
    }
}

/// The fuzz targets' chunk-size generator (xorshift32, see `fuzz/src/lib.rs`).
fn chunk_sizes(seed: u32) -> impl FnMut() -> usize {
    let mut x = if seed == 0 { 0x9e37_79b9 } else { seed };
    move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let limit = [16, 600, 4096, 70_000][(x & 3) as usize];
        1 + ((x >> 2) as usize % limit)
    }
}

fn stream(package: &[u8], selector: u8, trust: TrustStore<'_>, seed: Option<u32>) -> String {
    let mut buf = vec![0u8; 2 * 256 * 1024];
    let mut v = PackageVerifier::new(&mut buf, policy(selector), trust);
    let mut next = seed.map(chunk_sizes);
    let mut rest = package;
    while !rest.is_empty() {
        let n = next.as_mut().map_or(rest.len(), |f| f().min(rest.len()));
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        if let Err(e) = v.update(chunk) {
            return format!("{:?}", Err::<(), _>(e));
        }
    }
    format!(
        "{:?}",
        v.finish().map(|ok| (ok.security_version, ok.payload_bytes))
    )
}

/// Streams a package whole and chunked; both verdicts must agree.
fn package_outcome(data: &[u8], trust: TrustStore<'_>, frame_envelope: bool) -> String {
    let (&selector, rest) = data.split_first().expect("selector");
    let (seed, body) = rest.split_first_chunk::<4>().expect("chunk seed");
    let seed = u32::from_be_bytes(*seed);
    let package = if frame_envelope {
        frame(body)
    } else {
        body.to_vec()
    };
    let whole = stream(&package, selector, trust, None);
    let split = stream(&package, selector, trust, Some(seed));
    assert_eq!(whole, split, "verdict depends on chunking");
    whole
}

/// `package_envelope`'s framing: the envelope member as the signer writes
/// it, then the listed payloads (fixture samples or zeros) and end blocks.
fn frame(envelope: &[u8]) -> Vec<u8> {
    let manifest = Envelope::decode(envelope)
        .ok()
        .and_then(|e| Manifest::decode(e.manifest).ok());
    let created = manifest.as_ref().map_or(0, |m| m.created);
    let mut out = Vec::new();
    out.extend_from_slice(&member_header(ENVELOPE_MEMBER, envelope.len() as u64, created).unwrap());
    out.extend_from_slice(envelope);
    out.resize(out.len() + padding_len(envelope.len() as u64), 0);
    if let Some(m) = manifest {
        let mut filled = 0u64;
        for p in &m.payloads {
            out.extend_from_slice(&member_header(p.name, p.size, created).unwrap());
            let sample = std::fs::read(fixtures_dir().join("samples").join(p.name)).ok();
            match sample.filter(|s| s.len() as u64 == p.size) {
                Some(bytes) => out.extend_from_slice(&bytes),
                None => {
                    filled += p.size;
                    if filled > 1 << 20 {
                        return out;
                    }
                    out.resize(out.len() + p.size as usize, 0);
                }
            }
            out.resize(out.len() + padding_len(p.size), 0);
        }
    }
    out.resize(out.len() + END_BLOCKS * BLOCK, 0);
    out
}

/// `cose_headers`' envelope around a protected header or unprotected map.
fn envelope_around(protected: &[u8], unprotected: &[u8]) -> Vec<u8> {
    fn bstr(out: &mut Vec<u8>, b: &[u8]) {
        let len = b.len();
        match len {
            0..=23 => out.push(0x40 | len as u8),
            24..=0xff => out.extend_from_slice(&[0x58, len as u8]),
            _ => {
                out.push(0x59);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
        }
        out.extend_from_slice(b);
    }
    let mut e = vec![0x83, 0x01, 0x40, 0x81, 0xd2, 0x84];
    bstr(&mut e, protected);
    e.extend_from_slice(unprotected);
    e.extend_from_slice(&[0xf6, 0x41, 0x00]);
    e
}

fn valid_protected() -> Vec<u8> {
    let mut p = vec![0xa3, 0x01, 0x26, 0x03, 0x78, CONTENT_TYPE.len() as u8];
    p.extend_from_slice(CONTENT_TYPE.as_bytes());
    p.extend_from_slice(&[0x04, 0x58, 0x20]);
    p.extend_from_slice(&[0u8; 32]);
    p
}

/// Replays one input through its target's API and describes the outcome.
fn replay(target: &str, data: &[u8], trust: &Trust) -> String {
    let root_certs = anchors(&trust.roots);
    let tsa_certs = anchors(&trust.tsa_roots);
    let roots = to_anchors(&root_certs);
    let tsa_roots = to_anchors(&tsa_certs);
    let keys: Vec<&[u8]> = trust.keys.iter().map(Vec::as_slice).collect();
    let store = TrustStore {
        roots: &roots,
        keys: &keys,
        tsa_roots: &tsa_roots,
    };
    match target {
        "container" => {
            let header = data
                .first_chunk::<BLOCK>()
                .map(|h| (header_size(h), header_mtime(h)));
            let mut buf = [0u8; 4096];
            let mut v = PackageVerifier::new(&mut buf, Policy::default(), store);
            let mut failed = None;
            for chunk in data.chunks(509) {
                if let Err(e) = v.update(chunk) {
                    failed = Some(e);
                    break;
                }
            }
            let verdict = v.finish().map(|_| ());
            format!("header: {header:?}, stream: {failed:?}, finish: {verdict:?}")
        }
        "envelope" => format!("{:?}", Envelope::decode(data).map(|e| e.signatures.len())),
        "manifest" => format!("{:?}", Manifest::decode(data).map(|m| m.payloads.len())),
        "cose_headers" => {
            let (mode, body) = data.split_first().expect("mode byte");
            let env = if mode & 1 == 0 {
                envelope_around(body, &[0xa0])
            } else {
                envelope_around(&valid_protected(), body)
            };
            format!("{:?}", Envelope::decode(&env).map(|e| e.signatures.len()))
        }
        "cert_path" => {
            let (flags, rest) = data.split_first().expect("flags");
            let (time, rest) = rest.split_first_chunk::<4>().expect("time");
            let (count, mut rest) = rest.split_first().expect("count");
            let mut inter = Vec::new();
            for _ in 0..count % 5 {
                let (len, tail) = rest.split_first_chunk::<2>().expect("length");
                let (der, tail) = tail.split_at(usize::from(u16::from_be_bytes(*len)));
                inter.push(CertificateDer::from(der));
                rest = tail;
            }
            let at = UnixTime::since_unix_epoch(std::time::Duration::from_secs(
                1_700_000_000 + u64::from(u32::from_be_bytes(*time)),
            ));
            let (eku, anchors) = if flags & 1 == 0 {
                (OID_KP_CODE_SIGNING, &roots)
            } else {
                (OID_KP_TIME_STAMPING, &tsa_roots)
            };
            let r =
                chain::verify_chain_for_eku(rest, &inter, anchors, at, eku, ALL_CHAIN_ALGORITHMS);
            format!("{:?}", r.map(|_| ()))
        }
        "timestamp" => {
            let (alg, rest) = data.split_first().expect("alg");
            let (len, rest) = rest.split_first_chunk::<2>().expect("length");
            let (message, token) = rest.split_at(usize::from(u16::from_be_bytes(*len)));
            let alg = DigestAlg::ALL[usize::from(*alg) % DigestAlg::ALL.len()];
            let parsed = parse_token(token).map(|_| ());
            let verified = verify_token(token, alg, message, &tsa_roots, None).map(|_| ());
            format!(
                "parse: {}, verify: {verified:?}",
                if parsed.is_ok() {
                    "Ok".to_string()
                } else {
                    format!("{parsed:?}")
                }
            )
        }
        "package" => package_outcome(data, store, false),
        "package_envelope" => package_outcome(data, store, true),
        other => panic!("unknown fuzz target {other}"),
    }
}

#[test]
fn every_regression_input_replays_to_its_expected_outcome() {
    let trust = load_trust();
    let mut seen = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(regressions_dir())
        .expect("fuzz/regressions exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with('.') || name.ends_with(".md") {
            continue;
        }
        let expected = EXPECTED
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("{name}: add its expected outcome to EXPECTED"))
            .1;
        // Target names contain '_' but never '-': the first '-' ends it.
        let target = name.split('-').next().unwrap();
        let data = std::fs::read(&path).unwrap();
        assert_eq!(replay(target, &data, &trust), expected, "{name}");
        seen.push(name);
    }
    for (name, _) in EXPECTED {
        assert!(
            seen.iter().any(|s| s == name),
            "{name} is listed but missing"
        );
    }
}
