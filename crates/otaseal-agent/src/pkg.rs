//! Driving otaseal-verify's streaming [`PackageVerifier`] over a reader, with
//! hooks for the envelope (before any payload byte) and for payload bytes.

use std::io::{self, Read};

use otaseal_verify::manifest::container::{BLOCK, END_BLOCKS, member_header, padding_len};
use otaseal_verify::manifest::{Envelope, Manifest};
use otaseal_verify::pki_types::TrustAnchor;
use otaseal_verify::{
    PackageVerifier, Policy, Requirement, SuiteSet, TrustStore, VerifyError, anchor_from_der,
    buffer_size,
};

use crate::error::AgentError;

/// What the device trusts and demands (from `agent.toml`).
#[derive(Clone, Debug, Default)]
pub struct Trust {
    /// Code-signing root certificates (DER).
    pub roots: Vec<Vec<u8>>,
    /// Time-stamping authority roots (DER).
    pub tsa_roots: Vec<Vec<u8>>,
    /// The device's hardware id.
    pub hw_id: String,
    /// Alternatives of required suites; empty: every declared suite.
    pub require: Vec<SuiteSet>,
    /// Suites whose signatures must carry a valid RFC 3161 token.
    pub require_timestamp: SuiteSet,
    /// Verification time (Unix seconds); `None`: the system clock.
    pub time: Option<u64>,
    /// Largest envelope accepted.
    pub max_envelope: usize,
}

/// What a verification established.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The manifest's version string.
    pub version: String,
    /// The manifest's security version.
    pub security_version: u64,
    /// Payload bytes checked.
    pub payload_bytes: u64,
    /// The package's first member (tar header, envelope, padding).
    pub head: Vec<u8>,
}

/// Callbacks of a verification run.
pub trait Hooks {
    /// The envelope verified; no payload byte has been seen. `head` is the
    /// first member exactly as read. An error stops the run.
    fn envelope(&mut self, head: &[u8], manifest: &Manifest<'_>) -> Result<(), AgentError>;
    /// The next bytes of payload `index` (not proven until the run succeeds).
    fn payload(&mut self, index: usize, data: &[u8]) -> Result<(), AgentError>;
}

/// Hooks that do nothing (check only).
pub struct NoHooks;

impl Hooks for NoHooks {
    fn envelope(&mut self, _: &[u8], _: &Manifest<'_>) -> Result<(), AgentError> {
        Ok(())
    }
    fn payload(&mut self, _: usize, _: &[u8]) -> Result<(), AgentError> {
        Ok(())
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Where reading stops.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// The whole package (install, boot verification).
    End,
    /// The envelope only (`check`).
    Envelope,
}

fn parse(ders: &[Vec<u8>]) -> Result<Vec<TrustAnchor<'_>>, AgentError> {
    ders.iter()
        .map(|d| anchor_from_der(d).map_err(|e| AgentError::Config(format!("trust root: {e}"))))
        .collect()
}

/// Verifies the package read from `src` with `floor` as the anti-rollback
/// floor, calling `hooks` on the way. `limit` bounds the bytes read.
pub fn verify(
    trust: &Trust,
    floor: Option<u64>,
    src: &mut dyn Read,
    hooks: &mut dyn Hooks,
    until: Until,
    limit: u64,
) -> Result<Outcome, AgentError> {
    let roots = parse(&trust.roots)?;
    let tsa_roots = parse(&trust.tsa_roots)?;
    let policy = Policy {
        require: if trust.require.is_empty() {
            Requirement::AllDeclared
        } else {
            Requirement::AnyOf(&trust.require)
        },
        hw_id: Some(&trust.hw_id),
        min_security_version: floor,
        time: Some(trust.time.unwrap_or_else(unix_now)),
        require_timestamp: trust.require_timestamp,
        ..Policy::default()
    };
    let store = TrustStore {
        roots: &roots,
        keys: &[],
        tsa_roots: &tsa_roots,
    };
    let mut vbuf = vec![0u8; buffer_size(trust.max_envelope)];
    let mut v = PackageVerifier::new(&mut vbuf, policy, store);
    let mut head = Vec::new();
    let mut info: Option<(String, u64)> = None;
    let mut chunk = vec![0u8; 64 * 1024];
    let mut total: u64 = 0;
    loop {
        let want = v.read_hint(chunk.len());
        let n = match src.read(&mut chunk[..want]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_error(e)),
        };
        if n == 0 {
            break;
        }
        total = total.saturating_add(n as u64);
        if total > limit {
            return Err(AgentError::TooLarge { limit });
        }
        let data = &chunk[..n];
        if info.is_none() {
            head.extend_from_slice(data);
        }
        let mut failed: Option<AgentError> = None;
        v.update_with(data, &mut |i, bytes| {
            if failed.is_none()
                && let Err(e) = hooks.payload(i, bytes)
            {
                failed = Some(e);
            }
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        if info.is_none()
            && let Some(m) = v.manifest()
        {
            info = Some((m.version.to_owned(), m.security_version));
            hooks.envelope(&head, &m)?;
            if until == Until::Envelope {
                break;
            }
        }
    }
    if until == Until::Envelope {
        let (version, security_version) = info.ok_or(VerifyError::Truncated)?;
        return Ok(Outcome {
            version,
            security_version,
            payload_bytes: 0,
            head,
        });
    }
    let verified = v.finish()?;
    let (version, security_version) = info.ok_or(VerifyError::Truncated)?;
    Ok(Outcome {
        version,
        security_version,
        payload_bytes: verified.payload_bytes,
        head,
    })
}

/// Errors from a package reader: fetch errors travel inside `io::Error`.
fn read_error(e: io::Error) -> AgentError {
    match e.downcast::<crate::error::FetchError>() {
        Ok(f) => AgentError::Fetch(f),
        Err(e) => AgentError::Io(format!("reading the package: {e}")),
    }
}

/// The payloads a stored head declares: (name, size), in order.
pub fn head_payloads(head: &[u8]) -> Result<Vec<(String, u64, u64)>, AgentError> {
    let bad = |m: &str| AgentError::State(format!("stored envelope: {m}"));
    let hdr: &[u8; BLOCK] = head
        .get(..BLOCK)
        .and_then(|h| h.try_into().ok())
        .ok_or_else(|| bad("too short"))?;
    let size = otaseal_verify::manifest::container::header_size(hdr)
        .map_err(|_| bad("bad member header"))?;
    let body = usize::try_from(size)
        .ok()
        .and_then(|s| head.get(BLOCK..BLOCK.checked_add(s)?))
        .ok_or_else(|| bad("truncated"))?;
    let env = Envelope::decode(body).map_err(|e| AgentError::Verify(VerifyError::Envelope(e)))?;
    let m =
        Manifest::decode(env.manifest).map_err(|e| AgentError::Verify(VerifyError::Manifest(e)))?;
    Ok(m.payloads
        .iter()
        .map(|p| (p.name.to_owned(), p.size, m.created))
        .collect())
}

/// The package rebuilt from a stored head and the payload bytes: the exact
/// bytes the signer wrote, so the verifier can check them again.
pub struct Rebuilt {
    parts: std::collections::VecDeque<Box<dyn Read>>,
}

impl Rebuilt {
    /// `payloads`: one reader per payload, in manifest order, each yielding
    /// at least the payload's size (only that much is read).
    pub fn new(head: Vec<u8>, payloads: Vec<Box<dyn Read>>) -> Result<Rebuilt, AgentError> {
        let decl = head_payloads(&head)?;
        let mut parts: std::collections::VecDeque<Box<dyn Read>> = Default::default();
        parts.push_back(Box::new(io::Cursor::new(head)));
        for ((name, size, mtime), r) in decl.into_iter().zip(payloads) {
            let h = member_header(&name, size, mtime)
                .map_err(|_| AgentError::State("stored envelope: bad payload".into()))?;
            parts.push_back(Box::new(io::Cursor::new(h.to_vec())));
            parts.push_back(Box::new(r.take(size)));
            parts.push_back(Box::new(io::repeat(0).take(padding_len(size) as u64)));
        }
        parts.push_back(Box::new(io::repeat(0).take((END_BLOCKS * BLOCK) as u64)));
        Ok(Rebuilt { parts })
    }
}

impl Read for Rebuilt {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while let Some(p) = self.parts.front_mut() {
            let n = p.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            self.parts.pop_front();
        }
        Ok(0)
    }
}
