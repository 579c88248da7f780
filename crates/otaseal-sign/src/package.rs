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
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use otaseal_manifest::container::{BLOCK, END_BLOCKS, ENVELOPE_MEMBER, member_header, padding_len};
use otaseal_manifest::envelope::{Sign1Parts, encode_envelope, encode_protected, sig_structure};
use otaseal_manifest::manifest::{DEFAULT_CHUNK_LOG2, MAX_PAYLOADS, MAX_SIGNERS};
use otaseal_manifest::{
    DigestAlg, DigestSet, Manifest, ManifestError, Payload, PayloadDigest, PayloadKind, SignerDecl,
    Suite,
};
use otaseal_verify::digest::{ChunkDigester, DigestValue, PayloadHasher, ThreadedDigester};

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
    modified: Option<SystemTime>,
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

/// Hashes one payload file in `algs` with chunks spread over `digester`.
pub fn hash_payload(
    input: &PayloadInput,
    algs: DigestSet,
    chunk_log2: u8,
    digester: &dyn ChunkDigester,
    progress: &mut dyn Progress,
) -> Result<HashedPayload, SignError> {
    let path = &input.path;
    let kind = archive::detect_kind(path)?;
    archive::inspect(path, kind)?;
    let mut file = File::open(path).map_err(io_err(path))?;
    let meta = file.metadata().map_err(io_err(path))?;
    if !meta.is_file() {
        return Err(SignError::Io {
            path: path.clone(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"),
        });
    }
    let size = meta.len();
    let mut hasher = PayloadHasher::new(algs, size, chunk_log2);
    // Several chunks per read so the digester has work for every core.
    let mut buf = vec![0u8; (4usize << chunk_log2).clamp(1 << 20, 8 << 20)];
    progress.start(&format!("hashing {}", input.name), size);
    loop {
        let n = read_full(&mut file, &mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        if n as u64 > hasher.remaining() {
            return Err(SignError::PayloadChanged(path.clone()));
        }
        hasher.update(&buf[..n], digester);
        progress.advance(n as u64);
    }
    progress.finish();
    let roots = hasher
        .finish()
        .ok_or_else(|| SignError::PayloadChanged(path.clone()))?;
    Ok(HashedPayload {
        input: input.clone(),
        kind,
        size,
        digests: roots.into_iter().collect(),
        modified: meta.modified().ok(),
    })
}

/// Reads until `buf` is full or the file ends.
fn read_full(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
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

/// Builds the manifest and envelope for hashed payloads and signs it.
pub fn sign_envelope(
    spec: &PackageSpec,
    payloads: &[HashedPayload],
    signers: &[SignerInput<'_>],
) -> Result<(Vec<u8>, Vec<u8>), SignError> {
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
        }
        let kid: [u8; 32] = otaseal_verify::digest::hash(DigestAlg::Sha256, &spki)
            .as_bytes()
            .try_into()
            .unwrap_or([0; 32]);
        if kids.contains(&kid) {
            return Err(SignError::DuplicateSigner { signer: i });
        }
        kids.push(kid);
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
        let _ = manifest.signers.push(SignerDecl {
            alg: s.signer.suite().cose_alg(),
            kid,
        });
    }
    if payloads.is_empty() || payloads.len() > MAX_PAYLOADS {
        return Err(SignError::Count("a package needs 1 to 16 payloads"));
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
    let manifest_bytes = manifest.to_vec();

    let mut parts = Vec::new();
    for (s, kid) in signers.iter().zip(&kids) {
        let suite = s.signer.suite();
        let chain: Vec<&[u8]> = s.chain.iter().map(Vec::as_slice).collect();
        let protected = encode_protected(suite.cose_alg(), kid, &chain);
        let tbs = sig_structure(&protected, &manifest_bytes);
        let signature = s.signer.sign(&tbs)?;
        // Check what a token or service returned before it is shipped.
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
        parts.push(Sign1Parts {
            protected,
            timestamp: None,
            signature,
        });
    }
    let envelope = encode_envelope(&manifest_bytes, &parts);
    Ok((manifest_bytes, envelope))
}

/// Writes the container: envelope, payloads, end blocks. The file appears
/// at `out` only when complete (written to a temporary file, synced, renamed).
pub fn write_package(
    out: &Path,
    overwrite: bool,
    envelope: &[u8],
    created: u64,
    payloads: &[HashedPayload],
    progress: &mut dyn Progress,
) -> Result<u64, SignError> {
    if out.exists() && !overwrite {
        return Err(SignError::OutputExists(out.to_path_buf()));
    }
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "package".into());
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = write_container(&tmp, envelope, created, payloads, progress);
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

fn write_container(
    tmp: &Path,
    envelope: &[u8],
    created: u64,
    payloads: &[HashedPayload],
    progress: &mut dyn Progress,
) -> Result<u64, SignError> {
    let file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)
        .map_err(io_err(tmp))?;
    let mut w = BufWriter::with_capacity(1 << 16, file);
    let zeros = [0u8; BLOCK];
    let header = |name: &str, size: u64| {
        member_header(name, size, created).map_err(|e| {
            SignError::Manifest(ManifestError::Limit(match e {
                otaseal_manifest::container::ContainerError::NameTooLong => "name too long",
                _ => "member size or time out of ustar range",
            }))
        })
    };
    let put = |w: &mut BufWriter<File>, bytes: &[u8]| -> Result<(), SignError> {
        w.write_all(bytes).map_err(io_err(tmp))
    };
    put(&mut w, &header(ENVELOPE_MEMBER, envelope.len() as u64)?)?;
    put(&mut w, envelope)?;
    put(&mut w, &zeros[..padding_len(envelope.len() as u64)])?;
    let total: u64 = payloads.iter().map(|p| p.size).sum();
    progress.start("writing package", total);
    for p in payloads {
        put(&mut w, &header(&p.input.name, p.size)?)?;
        w.flush().map_err(io_err(tmp))?;
        let path = &p.input.path;
        let mut src = File::open(path).map_err(io_err(path))?;
        let meta = src.metadata().map_err(io_err(path))?;
        if meta.len() != p.size || meta.modified().ok() != p.modified {
            return Err(SignError::PayloadChanged(path.clone()));
        }
        // io::copy between files uses copy_file_range on Linux: no user-space copy.
        let copied = io::copy(&mut (&mut src).take(p.size), w.get_mut()).map_err(io_err(tmp))?;
        if copied != p.size {
            return Err(SignError::PayloadChanged(path.clone()));
        }
        progress.advance(copied);
        put(&mut w, &zeros[..padding_len(p.size)])?;
    }
    for _ in 0..END_BLOCKS {
        put(&mut w, &zeros)?;
    }
    progress.finish();
    let file = w.into_inner().map_err(|e| SignError::Io {
        path: tmp.to_path_buf(),
        source: e.into_error(),
    })?;
    file.sync_all().map_err(io_err(tmp))?;
    Ok(file.metadata().map_err(io_err(tmp))?.len())
}

/// Hashes, signs and writes a package in one call.
pub fn build_package(
    spec: &PackageSpec,
    signers: &[SignerInput<'_>],
    out: &Path,
    overwrite: bool,
    progress: &mut dyn Progress,
) -> Result<PackageSummary, SignError> {
    let algs = digest_families(signers.iter().map(|s| s.signer.suite()), spec.extra_digests);
    let digester = ThreadedDigester::per_core();
    let mut hashed = Vec::new();
    for p in &spec.payloads {
        hashed.push(hash_payload(p, algs, spec.chunk_log2, &digester, progress)?);
    }
    let (_, envelope) = sign_envelope(spec, &hashed, signers)?;
    let size = write_package(out, overwrite, &envelope, spec.created, &hashed, progress)?;
    Ok(PackageSummary {
        path: out.to_path_buf(),
        size,
        envelope_size: envelope.len(),
        payloads: hashed,
    })
}
