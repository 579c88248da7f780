//! Building, signing and writing a package.
//!
//! Two passes over each payload: the first hashes it (chunks spread over
//! every core), the second copies it into the container (the kernel copies
//! file to file where it can). The manifest must precede the payloads, and it
//! needs their digests, so a single pass is not possible without a second
//! copy of the data. If a payload changes between the passes the signer
//! notices (size and mtime) and, failing that, the package fails verification:
//! it never verifies with bytes that were not hashed.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use otaseal_manifest::container::{BLOCK, END_BLOCKS, ENVELOPE_MEMBER, member_header, padding_len};
use otaseal_manifest::envelope::{
    Sign1Parts, encode_envelope, encode_protected, sig_structure, signature_field,
};
use otaseal_manifest::manifest::{DEFAULT_CHUNK_LOG2, MAX_PAYLOADS, MAX_SIGNERS};
use otaseal_manifest::{
    DigestAlg, DigestSet, Manifest, ManifestError, Payload, PayloadDigest, PayloadKind, SignerDecl,
    Suite,
};
use otaseal_verify::digest::{DigestValue, PayloadHasher, ThreadedDigester};

use crate::archive::{self, ArchiveError};
use crate::keys::{KeyError, SigningKey};

/// Anything that produces COSE signatures with one key: a key file, a
/// PKCS#11 token or a remote signing service.
pub trait CoseSigner {
    /// The suite this signer produces.
    fn suite(&self) -> Suite;
    /// The signer's SubjectPublicKeyInfo DER.
    fn public_spki_der(&self) -> Vec<u8>;
    /// Signs `message` (a `Sig_structure`), returning COSE signature bytes.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError>;
}

impl CoseSigner for SigningKey {
    fn suite(&self) -> Suite {
        SigningKey::suite(self)
    }
    fn public_spki_der(&self) -> Vec<u8> {
        SigningKey::public_spki_der(self)
    }
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        SigningKey::sign(self, message).map_err(SignError::Key)
    }
}

/// Obtains RFC 3161 tokens for signatures (the CLI asks a TSA over HTTP;
/// the signer crate itself never touches the network).
pub trait Timestamper {
    /// A token over `signature_field` (the encoded COSE signature field, bstr
    /// head included) with imprint hash `suite.timestamp_digest()`, for the
    /// signer at position `signer`; `None` when that signer has no TSA.
    fn token(
        &self,
        signer: usize,
        suite: Suite,
        signature_field: &[u8],
    ) -> Result<Option<Vec<u8>>, SignError>;
}

/// No timestamps.
pub struct NoTimestamps;

impl Timestamper for NoTimestamps {
    fn token(&self, _: usize, _: Suite, _: &[u8]) -> Result<Option<Vec<u8>>, SignError> {
        Ok(None)
    }
}

/// One signer of a package: its key and, for X.509 trust, its chain.
pub struct SignerInput<'k> {
    /// The key.
    pub signer: &'k dyn CoseSigner,
    /// DER certificates, leaf first; empty for raw-key trust.
    pub chain: Vec<Vec<u8>>,
}

/// One payload file.
#[derive(Clone, Debug)]
pub struct PayloadInput {
    /// Source file.
    pub path: PathBuf,
    /// Name in the package (defaults to the file name).
    pub name: String,
    /// Install target hint.
    pub target: Option<String>,
}

impl PayloadInput {
    /// A payload named after its file.
    pub fn from_path(path: &Path) -> PayloadInput {
        PayloadInput {
            path: path.to_path_buf(),
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            target: None,
        }
    }
}

/// What to build.
#[derive(Clone, Debug)]
pub struct PackageSpec {
    /// Vendor/product id.
    pub product: String,
    /// Human version.
    pub version: String,
    /// Anti-rollback security version.
    pub security_version: u64,
    /// Hardware-compatibility ids.
    pub hw_compat: Vec<String>,
    /// Creation time (Unix seconds).
    pub created: u64,
    /// Optional expiry (Unix seconds).
    pub expires: Option<u64>,
    /// Chunk size exponent.
    pub chunk_log2: u8,
    /// Extra digest families beyond SHA-256, SM3 and the suites' own.
    pub extra_digests: DigestSet,
    /// Payloads in package order.
    pub payloads: Vec<PayloadInput>,
}

impl PackageSpec {
    /// A spec with the default chunk size and creation time now.
    pub fn new(
        product: &str,
        version: &str,
        security_version: u64,
        hw_compat: Vec<String>,
    ) -> Self {
        PackageSpec {
            product: product.into(),
            version: version.into(),
            security_version,
            hw_compat,
            created: unix_now(),
            expires: None,
            chunk_log2: DEFAULT_CHUNK_LOG2,
            extra_digests: DigestSet::EMPTY,
            payloads: Vec::new(),
        }
    }
}

/// Progress of a long operation: bytes done of a total.
pub trait Progress {
    /// A phase starts (`"hashing"`, `"writing"`) over `total` bytes.
    fn start(&mut self, phase: &str, total: u64);
    /// `n` more bytes are done.
    fn advance(&mut self, n: u64);
    /// The phase ended.
    fn finish(&mut self);
}

/// Progress that reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&mut self, _: &str, _: u64) {}
    fn advance(&mut self, _: u64) {}
    fn finish(&mut self) {}
}

/// Why signing failed. Nothing is left at the output path when it does.
#[derive(Debug)]
pub enum SignError {
    /// Reading or writing a file failed.
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A payload archive is unsafe or corrupt.
    Archive(ArchiveError),
    /// A key could not be used.
    Key(KeyError),
    /// The manifest would break a format rule.
    Manifest(ManifestError),
    /// A signer's certificate does not hold the signer's key.
    CertificateKeyMismatch {
        /// Signer position (0-based).
        signer: usize,
    },
    /// A signer's certificate is not valid at the package's creation time.
    CertificateNotValid {
        /// Signer position (0-based).
        signer: usize,
        /// Certificate validity start (Unix seconds).
        not_before: u64,
        /// Certificate validity end (Unix seconds).
        not_after: u64,
        /// The package's creation time.
        created: u64,
    },
    /// The same key signs twice.
    DuplicateSigner {
        /// Signer position (0-based).
        signer: usize,
    },
    /// Too many or too few signers or payloads.
    Count(&'static str),
    /// The output exists and overwriting was not asked for.
    OutputExists(PathBuf),
    /// A payload changed while it was being signed.
    PayloadChanged(PathBuf),
    /// A signer produced a signature that does not verify (faulty token or service).
    SelfCheck {
        /// The suite.
        suite: Suite,
        /// What the verifier said.
        detail: String,
    },
    /// A remote or hardware signer failed.
    Signer(String),
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            SignError::Archive(e) => e.fmt(f),
            SignError::Key(e) => e.fmt(f),
            SignError::Manifest(e) => e.fmt(f),
            SignError::CertificateKeyMismatch { signer } => write!(
                f,
                "signer {}: the leaf certificate does not hold this signer's public key",
                signer + 1
            ),
            SignError::CertificateNotValid {
                signer,
                not_before,
                not_after,
                created,
            } => write!(
                f,
                "signer {}: certificate valid from {not_before} to {not_after} (Unix time) does not cover the creation time {created}",
                signer + 1
            ),
            SignError::DuplicateSigner { signer } => {
                write!(f, "signer {}: the same key is given twice", signer + 1)
            }
            SignError::Count(what) => f.write_str(what),
            SignError::OutputExists(p) => write!(
                f,
                "{} exists; remove it or pass --force to replace it",
                p.display()
            ),
            SignError::PayloadChanged(p) => {
                write!(f, "{} changed while it was being signed", p.display())
            }
            SignError::SelfCheck { suite, detail } => write!(
                f,
                "the {} signer produced a signature that does not verify: {detail}",
                suite.name()
            ),
            SignError::Signer(e) => write!(f, "signer failed: {e}"),
        }
    }
}

impl std::error::Error for SignError {}

impl From<ArchiveError> for SignError {
    fn from(e: ArchiveError) -> Self {
        SignError::Archive(e)
    }
}

impl From<KeyError> for SignError {
    fn from(e: KeyError) -> Self {
        SignError::Key(e)
    }
}

impl From<ManifestError> for SignError {
    fn from(e: ManifestError) -> Self {
        SignError::Manifest(e)
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SignError + '_ {
    move |source| SignError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A payload after hashing.
#[derive(Clone, Debug)]
pub struct HashedPayload {
    /// Input.
    pub input: PayloadInput,
    /// Detected kind.
    pub kind: PayloadKind,
    /// Size in bytes.
    pub size: u64,
    /// Root digests.
    pub digests: Vec<(DigestAlg, DigestValue)>,
}

/// Result of a signing run.
#[derive(Clone, Debug)]
pub struct PackageSummary {
    /// Output path.
    pub path: PathBuf,
    /// Package size in bytes.
    pub size: u64,
    /// Envelope size in bytes.
    pub envelope_size: usize,
    /// The payloads with their digests.
    pub payloads: Vec<HashedPayload>,
}

/// Reads until `buf` is full or the file ends (short reads are retried, so
/// callers see whole blocks).
pub fn read_full(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// The digest families a package signed by `suites` carries.
pub fn digest_families(suites: impl Iterator<Item = Suite>, extra: DigestSet) -> DigestSet {
    let mut set = DigestSet::EMPTY
        .with(DigestAlg::Sha256)
        .with(DigestAlg::Sm3);
    for s in suites {
        set = set.with(s.digest());
    }
    DigestSet(set.0 | extra.0)
}

/// Checks the signers: 1 to 8, distinct keys, each certificate holding its
/// signer's key and valid at the creation time (a device without a clock
/// checks it then). Returns the key ids.
fn check_signers(signers: &[SignerInput<'_>], created: u64) -> Result<Vec<[u8; 32]>, SignError> {
    if signers.is_empty() || signers.len() > MAX_SIGNERS {
        return Err(SignError::Count("a package needs 1 to 8 signers"));
    }
    let mut kids = Vec::new();
    for (i, s) in signers.iter().enumerate() {
        let spki = s.signer.public_spki_der();
        if let Some(leaf) = s.chain.first() {
            let info = otaseal_verify::cert::parse_certificate(leaf)
                .map_err(|_| SignError::CertificateKeyMismatch { signer: i })?;
            if info.spki != spki.as_slice() {
                return Err(SignError::CertificateKeyMismatch { signer: i });
            }
            if created < info.not_before || created > info.not_after {
                return Err(SignError::CertificateNotValid {
                    signer: i,
                    not_before: info.not_before,
                    not_after: info.not_after,
                    created,
                });
            }
        }
        let mut kid = [0u8; 32];
        kid.copy_from_slice(otaseal_verify::digest::hash(DigestAlg::Sha256, &spki).as_bytes());
        if kids.contains(&kid) {
            return Err(SignError::DuplicateSigner { signer: i });
        }
        kids.push(kid);
    }
    Ok(kids)
}

/// The protected header of each signer (it does not depend on the payloads).
fn protected_headers(
    spec: &PackageSpec,
    signers: &[SignerInput<'_>],
) -> Result<Vec<Vec<u8>>, SignError> {
    let kids = check_signers(signers, spec.created)?;
    Ok(signers
        .iter()
        .zip(&kids)
        .map(|(s, kid)| {
            let chain: Vec<&[u8]> = s.chain.iter().map(Vec::as_slice).collect();
            encode_protected(s.signer.suite().cose_alg(), kid, &chain)
        })
        .collect())
}

/// Builds, validates and encodes the manifest.
fn encode_manifest(
    spec: &PackageSpec,
    payloads: &[HashedPayload],
    signers: &[SignerInput<'_>],
) -> Result<Vec<u8>, SignError> {
    let kids = check_signers(signers, spec.created)?;
    if payloads.is_empty() || payloads.len() > MAX_PAYLOADS {
        return Err(SignError::Count("a package needs 1 to 16 payloads"));
    }
    let mut manifest = Manifest {
        product: &spec.product,
        hw_compat: heapless::Vec::new(),
        version: &spec.version,
        security_version: spec.security_version,
        created: spec.created,
        expires: spec.expires,
        signers: heapless::Vec::new(),
        chunk_log2: spec.chunk_log2,
        payloads: heapless::Vec::new(),
    };
    for id in &spec.hw_compat {
        manifest
            .hw_compat
            .push(id)
            .map_err(|_| ManifestError::Limit("more than 16 hardware ids"))?;
    }
    for (s, kid) in signers.iter().zip(&kids) {
        // At most 8 signers, checked above.
        let _ = manifest.signers.push(SignerDecl {
            alg: s.signer.suite().cose_alg(),
            kid,
        });
    }
    for p in payloads {
        let mut digests = heapless::Vec::new();
        for (alg, value) in &p.digests {
            let _ = digests.push(PayloadDigest {
                alg: *alg,
                root: value.as_bytes(),
            });
        }
        let _ = manifest.payloads.push(Payload {
            name: &p.input.name,
            size: p.size,
            kind: p.kind,
            target: p.input.target.as_deref(),
            digests,
        });
    }
    manifest.validate()?;
    Ok(manifest.to_vec())
}

/// Builds the manifest for hashed payloads, signs it with every signer
/// (checking each signature before it is shipped) and encodes the envelope.
/// Returns (manifest bytes, envelope bytes).
pub fn sign_envelope(
    spec: &PackageSpec,
    payloads: &[HashedPayload],
    signers: &[SignerInput<'_>],
    timestamper: &dyn Timestamper,
) -> Result<(Vec<u8>, Vec<u8>), SignError> {
    let manifest_bytes = encode_manifest(spec, payloads, signers)?;
    let mut parts = Vec::new();
    for (i, (s, protected)) in signers
        .iter()
        .zip(protected_headers(spec, signers)?)
        .enumerate()
    {
        let suite = s.signer.suite();
        let tbs = sig_structure(&protected, &manifest_bytes);
        let signature = s.signer.sign(&tbs)?;
        // A token or service may misbehave: check before shipping.
        otaseal_verify::crypto::verify_signature(
            suite,
            &s.signer.public_spki_der(),
            &tbs,
            &signature,
        )
        .map_err(|e| SignError::SelfCheck {
            suite,
            detail: e.to_string(),
        })?;
        let timestamp = timestamper.token(i, suite, &signature_field(&signature))?;
        parts.push(Sign1Parts {
            protected,
            timestamp,
            signature,
        });
    }
    let envelope = encode_envelope(&manifest_bytes, &parts);
    Ok((manifest_bytes, envelope))
}

/// Blocks of 512 bytes an envelope of `len` bytes occupies with its header.
fn envelope_blocks(len: usize) -> u64 {
    1 + (len as u64).div_ceil(BLOCK as u64)
}

/// The envelope's exact size before any digest is known: every field of the
/// manifest has its final length (digests are fixed-length) and every suite
/// has a fixed signature length. The signer can therefore write payloads at
/// their final offsets while it hashes them: one read of each payload.
fn predicted_envelope_len(
    spec: &PackageSpec,
    payloads: &[(PayloadInput, PayloadKind, u64)],
    algs: DigestSet,
    signers: &[SignerInput<'_>],
) -> Result<usize, SignError> {
    let placeholder: Vec<HashedPayload> = payloads
        .iter()
        .map(|(input, kind, size)| HashedPayload {
            input: input.clone(),
            kind: *kind,
            size: *size,
            digests: algs
                .iter()
                .map(|a| (a, DigestValue::from_slice(&vec![0u8; a.len()])))
                .collect(),
        })
        .collect();
    let manifest = encode_manifest(spec, &placeholder, signers)?;
    let parts: Vec<Sign1Parts> = signers
        .iter()
        .zip(protected_headers(spec, signers)?)
        .map(|(s, protected)| Sign1Parts {
            protected,
            timestamp: None,
            signature: vec![0; s.signer.suite().signature_len()],
        })
        .collect();
    Ok(encode_envelope(&manifest, &parts).len())
}

/// Background `fdatasync` so the disk writes while the CPU hashes, and the
/// final sync has little left to do.
struct WriteBehind {
    tx: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WriteBehind {
    fn new(file: &File) -> WriteBehind {
        let Ok(clone) = file.try_clone() else {
            return WriteBehind {
                tx: None,
                thread: None,
            };
        };
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            while rx.recv().is_ok() {
                // Coalesce requests that queued up while syncing.
                while rx.try_recv().is_ok() {}
                let _ = clone.sync_data();
            }
        });
        WriteBehind {
            tx: Some(tx),
            thread: Some(thread),
        }
    }

    fn kick(&self) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(());
        }
    }
}

impl Drop for WriteBehind {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Hashes, signs and writes a package. Each payload is read once: its bytes
/// go to the package at their final offset while they are hashed, so what is
/// signed is exactly what is written. The file appears at `out` only when
/// complete (temporary file, synced, renamed); on error nothing is left.
pub fn build_package(
    spec: &PackageSpec,
    signers: &[SignerInput<'_>],
    timestamper: &dyn Timestamper,
    out: &Path,
    overwrite: bool,
    progress: &mut dyn Progress,
) -> Result<PackageSummary, SignError> {
    if out.exists() && !overwrite {
        return Err(SignError::OutputExists(out.to_path_buf()));
    }
    check_signers(signers, spec.created)?;
    let algs = digest_families(signers.iter().map(|s| s.signer.suite()), spec.extra_digests);
    if spec.payloads.is_empty() || spec.payloads.len() > MAX_PAYLOADS {
        return Err(SignError::Count("a package needs 1 to 16 payloads"));
    }
    let mut inputs = Vec::new();
    for p in &spec.payloads {
        let kind = archive::detect_kind(&p.path)?;
        archive::inspect(&p.path, kind)?;
        let meta = fs::metadata(&p.path).map_err(io_err(&p.path))?;
        if !meta.is_file() {
            return Err(SignError::Io {
                path: p.path.clone(),
                source: io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"),
            });
        }
        inputs.push((p.clone(), kind, meta.len()));
    }
    let predicted = predicted_envelope_len(spec, &inputs, algs, signers)?;

    let tmp = temp_path(out);
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io_err(&tmp))?;
        let payload_start = envelope_blocks(predicted) * BLOCK as u64;
        file.seek(SeekFrom::Start(payload_start))
            .map_err(io_err(&tmp))?;
        let hashed = write_payloads(&mut file, &tmp, spec, &inputs, algs, progress)?;
        let (_, envelope) = sign_envelope(spec, &hashed, signers, timestamper)?;
        let file = if envelope_blocks(envelope.len()) == envelope_blocks(predicted) {
            file.seek(SeekFrom::Start(0)).map_err(io_err(&tmp))?;
            write_envelope_member(&mut file, &tmp, &envelope, spec.created)?;
            file
        } else {
            // Timestamp tokens (or a signer's unexpected length) changed the
            // envelope's size: move the payload region behind it.
            relocate(file, &tmp, payload_start, &envelope, spec.created)?
        };
        file.sync_all().map_err(io_err(&tmp))?;
        let size = file.metadata().map_err(io_err(&tmp))?.len();
        Ok((hashed, envelope.len(), size))
    })();
    match result {
        Ok((payloads, envelope_size, size)) => {
            fs::rename(&tmp, out).map_err(io_err(out))?;
            Ok(PackageSummary {
                path: out.to_path_buf(),
                size,
                envelope_size,
                payloads,
            })
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

fn temp_path(out: &Path) -> PathBuf {
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "package".into());
    dir.join(format!(".{name}.{}.tmp", std::process::id()))
}

fn member_header_for(name: &str, size: u64, created: u64) -> Result<[u8; BLOCK], SignError> {
    member_header(name, size, created).map_err(|e| {
        SignError::Manifest(ManifestError::Limit(match e {
            otaseal_manifest::container::ContainerError::NameTooLong => "name too long",
            _ => "member size or time out of ustar range",
        }))
    })
}

fn write_envelope_member(
    file: &mut File,
    path: &Path,
    envelope: &[u8],
    created: u64,
) -> Result<(), SignError> {
    let zeros = [0u8; BLOCK];
    let mut head = Vec::with_capacity(BLOCK * 2 + envelope.len());
    head.extend_from_slice(&member_header_for(
        ENVELOPE_MEMBER,
        envelope.len() as u64,
        created,
    )?);
    head.extend_from_slice(envelope);
    head.extend_from_slice(&zeros[..padding_len(envelope.len() as u64)]);
    file.write_all(&head).map_err(io_err(path))
}

/// Streams every payload into `file` at its current position while hashing.
fn write_payloads(
    file: &mut File,
    path: &Path,
    spec: &PackageSpec,
    inputs: &[(PayloadInput, PayloadKind, u64)],
    algs: DigestSet,
    progress: &mut dyn Progress,
) -> Result<Vec<HashedPayload>, SignError> {
    let digester = ThreadedDigester::per_core();
    let write_behind = WriteBehind::new(file);
    let zeros = [0u8; BLOCK];
    // Several chunks per read so the digester has work for every core.
    let mut buf = vec![0u8; (8usize << spec.chunk_log2).clamp(1 << 20, 8 << 20)];
    let total: u64 = inputs.iter().map(|(_, _, size)| size).sum();
    let mut hashed = Vec::new();
    let mut since_sync = 0u64;
    progress.start("signing", total);
    for (input, kind, size) in inputs {
        let mut src = File::open(&input.path).map_err(io_err(&input.path))?;
        file.write_all(&member_header_for(&input.name, *size, spec.created)?)
            .map_err(io_err(path))?;
        let mut hasher = PayloadHasher::new(algs, *size, spec.chunk_log2);
        loop {
            let n = read_full(&mut src, &mut buf).map_err(io_err(&input.path))?;
            if n == 0 {
                break;
            }
            if n as u64 > hasher.remaining() {
                return Err(SignError::PayloadChanged(input.path.clone()));
            }
            let block = &buf[..n];
            // The write runs beside the hashing: both read the same buffer.
            let written = std::thread::scope(|scope| {
                let writer = scope.spawn(|| file.write_all(block));
                hasher.update(block, &digester);
                writer.join()
            });
            match written {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(io_err(path)(e)),
                Err(_) => return Err(SignError::Signer("writer thread failed".into())),
            }
            progress.advance(n as u64);
            since_sync += n as u64;
            if since_sync >= 64 << 20 {
                write_behind.kick();
                since_sync = 0;
            }
        }
        let roots = hasher
            .finish()
            .ok_or_else(|| SignError::PayloadChanged(input.path.clone()))?;
        file.write_all(&zeros[..padding_len(*size)])
            .map_err(io_err(path))?;
        hashed.push(HashedPayload {
            input: input.clone(),
            kind: *kind,
            size: *size,
            digests: roots.into_iter().collect(),
        });
    }
    for _ in 0..END_BLOCKS {
        file.write_all(&zeros).map_err(io_err(path))?;
    }
    progress.finish();
    Ok(hashed)
}

/// Replaces the envelope of an existing package, copying its payload region
/// unchanged (used to add timestamps after signing). Writes `out` through a
/// temporary file; `out` may be the package itself.
pub fn replace_envelope(package: &Path, envelope: &[u8], out: &Path) -> Result<u64, SignError> {
    let mut src = File::open(package).map_err(io_err(package))?;
    let mut header = [0u8; BLOCK];
    src.read_exact(&mut header).map_err(io_err(package))?;
    let old_len = otaseal_manifest::container::header_size(&header).map_err(|_| SignError::Io {
        path: package.to_path_buf(),
        source: io::Error::new(io::ErrorKind::InvalidData, "not an otaseal package"),
    })?;
    let created = otaseal_manifest::container::header_mtime(&header).unwrap_or(0);
    let payload_start = BLOCK as u64 + old_len + padding_len(old_len) as u64;
    let tmp = temp_path(out);
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io_err(&tmp))?;
        write_envelope_member(&mut file, &tmp, envelope, created)?;
        src.seek(SeekFrom::Start(payload_start))
            .map_err(io_err(package))?;
        io::copy(&mut src, &mut file).map_err(io_err(&tmp))?;
        file.sync_all().map_err(io_err(&tmp))?;
        Ok(file.metadata().map_err(io_err(&tmp))?.len())
    })();
    match result {
        Ok(size) => {
            fs::rename(&tmp, out).map_err(io_err(out))?;
            Ok(size)
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Writes the envelope into a new file and moves the payload region after it.
fn relocate(
    mut old: File,
    path: &Path,
    payload_start: u64,
    envelope: &[u8],
    created: u64,
) -> Result<File, SignError> {
    let moved = path.with_extension("tmp2");
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&moved)
        .map_err(io_err(&moved))?;
    let result = (|| {
        write_envelope_member(&mut file, &moved, envelope, created)?;
        old.seek(SeekFrom::Start(payload_start))
            .map_err(io_err(path))?;
        io::copy(&mut old, &mut file).map_err(io_err(&moved))?;
        fs::rename(&moved, path).map_err(io_err(path))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&moved);
    }
    result.map(|()| file)
}
