//! Building, signing and writing a package.
//!
//! The manifest precedes the payloads and holds their digests. Without
//! timestamps the envelope's size is known before any digest (fixed-length
//! digests and signatures), so each payload is read once: hashed while it is
//! written at its final offset. A timestamp token's length is known only
//! once the TSA answers, so with timestamps the payloads are hashed first
//! (read-only), signed and stamped, and then written once behind the
//! envelope (a second read, the kernel copying file to file where it can).
//! Each payload is one open file for the inspection and every pass; a write
//! to it in between is refused (size, mtime, ctime) and, failing that, the
//! package fails verification: it never verifies with bytes that were not
//! hashed.

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
use crate::keys::{KeyError, KeySigner};

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

/// Every key backend (file, PKCS#11 token, ...) signs packages.
impl<T: KeySigner + ?Sized> CoseSigner for T {
    fn suite(&self) -> Suite {
        KeySigner::suite(self)
    }
    fn public_spki_der(&self) -> Vec<u8> {
        KeySigner::public_spki_der(self)
    }
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        KeySigner::sign(self, message).map_err(SignError::Key)
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

    /// The likely length of the token [`Timestamper::token`] will return for
    /// this signer (0: none). The signer reserves that much room in front of
    /// the payloads so it writes them once, at their final offsets; a token
    /// of another length only costs a second copy of the payload region.
    fn expected_len(&self, _signer: usize, _suite: Suite) -> Result<usize, SignError> {
        Ok(0)
    }

    /// Whether the signer at position `signer` may get a token. When one
    /// may and its [`Timestamper::expected_len`] is unknown (0), the
    /// signer hashes the payloads first and writes the package once the
    /// tokens are in (the payloads are read twice but written once),
    /// instead of writing them at a guessed offset and moving them. The
    /// default, `true`, is the safe answer for any timestamper.
    fn stamps(&self, _signer: usize) -> bool {
        true
    }

    /// DER certificates of the TSA roots every token must chain to (empty:
    /// the chain is not checked; signature, ESS binding, EKU and imprint
    /// always are). Tokens are verified before anything is written.
    fn tsa_roots(&self) -> Vec<Vec<u8>> {
        Vec::new()
    }
}

/// Verifies an RFC 3161 token for a signature before it is shipped: the
/// TSA's signature over it, the signing-certificate binding, the TSA's
/// timeStamping EKU, the message imprint (`suite.timestamp_digest()` over
/// `signature_field`) and, when `tsa_roots` (DER) are given, the TSA's
/// chain to one of them at the token's time. A package whose token fails
/// here would be rejected by every verifier, so it is never written.
pub fn verify_timestamp(
    token: &[u8],
    suite: Suite,
    signature_field: &[u8],
    tsa_roots: &[Vec<u8>],
) -> Result<(), SignError> {
    use otaseal_verify::timestamp::{TimestampError, parse_token, verify_token};
    let bad = |detail: String| SignError::BadTimestamp { suite, detail };
    let ders: Vec<rustls_pki_types::CertificateDer<'_>> = tsa_roots
        .iter()
        .map(|d| rustls_pki_types::CertificateDer::from(d.as_slice()))
        .collect();
    let anchors = ders
        .iter()
        .map(|c| webpki::anchor_from_trusted_cert(c).map_err(|e| bad(format!("TSA root: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let alg = suite.timestamp_digest();
    match verify_token(token, alg, signature_field, &anchors, None) {
        Ok(_) => Ok(()),
        // No roots to check the chain against: the checks that come before
        // the chain (signature, ESS, EKU) passed; the imprint comes after it
        // in `verify_token`, so check it here.
        Err(TimestampError::Chain(_)) if anchors.is_empty() => {
            let info = parse_token(token).map_err(|e| bad(e.to_string()))?;
            let want = otaseal_verify::digest::hash(alg, signature_field);
            if info.imprint_alg != alg || info.imprint != want.as_bytes() {
                return Err(bad(TimestampError::ImprintMismatch.to_string()));
            }
            Ok(())
        }
        Err(e) => Err(bad(e.to_string())),
    }
}

/// No timestamps.
pub struct NoTimestamps;

impl Timestamper for NoTimestamps {
    fn token(&self, _: usize, _: Suite, _: &[u8]) -> Result<Option<Vec<u8>>, SignError> {
        Ok(None)
    }
    fn stamps(&self, _: usize) -> bool {
        false
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
    /// A time-stamp authority returned a token that does not verify.
    BadTimestamp {
        /// The suite of the signature it was for.
        suite: Suite,
        /// What the check said.
        detail: String,
    },
    /// The output path names something other than a regular file.
    OutputNotRegular(PathBuf),
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
            SignError::BadTimestamp { suite, detail } => write!(
                f,
                "the time-stamp token for the {} signature does not verify: {detail}; nothing was written",
                suite.name()
            ),
            SignError::OutputNotRegular(p) => write!(
                f,
                "{} is not a regular file (directory, device, FIFO, socket or symlink); only regular files are replaced",
                p.display()
            ),
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

/// Largest key, certificate or trust file read from the command line: far
/// above any real one (a large CA bundle is a few hundred KiB), and small
/// enough that `/dev/zero` given by mistake fails fast.
pub const MAX_INPUT_FILE: u64 = otaseal_keys::MAX_INPUT_FILE;

/// Reads a small input file (key, certificate, trust roots) of at most
/// [`MAX_INPUT_FILE`] bytes. Pipes (`<(...)`) work; anything longer is an
/// error naming the limit.
pub fn read_small_file(path: &Path) -> io::Result<Vec<u8>> {
    otaseal_keys::read_small_file(path)
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
    /// Whether the payload region had to be copied a second time because
    /// the envelope (tokens) came out longer or shorter than reserved.
    pub relocated: bool,
    /// Payload-region bytes written to package files in this run, moves
    /// included: the payloads' total size when each byte was written once.
    pub payload_bytes_written: u64,
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
    let tsa_roots = timestamper.tsa_roots();
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
        let field = signature_field(&signature);
        let timestamp = timestamper.token(i, suite, &field)?;
        if let Some(token) = &timestamp {
            verify_timestamp(token, suite, &field, &tsa_roots)?;
        }
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
    token_lens: &[usize],
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
        .enumerate()
        .map(|(i, (s, protected))| Sign1Parts {
            protected,
            timestamp: match token_lens.get(i) {
                Some(&n) if n > 0 => Some(vec![0; n]),
                _ => None,
            },
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

/// Temporary files being written, so that a signal handler (installed by
/// the command line) can remove them before the process dies.
static TEMP_FILES: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// Removes every temporary file this process is writing. For signal
/// handlers: call it, then exit.
pub fn remove_temp_files() {
    let files = match TEMP_FILES.lock() {
        Ok(g) => g.clone(),
        Err(p) => p.into_inner().clone(),
    };
    for f in files {
        let _ = fs::remove_file(f);
    }
}

/// A temporary file that is removed when dropped, unless it was renamed
/// into place: no error path (including a failed final rename) leaves it.
pub struct TempFile {
    path: PathBuf,
    done: bool,
}

impl TempFile {
    /// Registers `path` (not yet created) for removal.
    pub fn new(path: PathBuf) -> TempFile {
        if let Ok(mut g) = TEMP_FILES.lock() {
            g.push(path.clone());
        }
        TempFile { path, done: false }
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps the file where it is (it is no longer removed on drop).
    pub fn keep(mut self) {
        self.done = true;
    }

    /// Renames the file to `to`; on failure it is removed.
    pub fn persist(mut self, to: &Path) -> Result<(), SignError> {
        fs::rename(&self.path, to).map_err(io_err(to))?;
        self.done = true;
        Ok(())
    }

    fn unregister(&self) {
        if let Ok(mut g) = TEMP_FILES.lock() {
            g.retain(|p| p != &self.path);
        }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_file(&self.path);
        }
        self.unregister();
    }
}

/// Checks the output path: absent, or (with `overwrite`) a regular file.
/// Devices, FIFOs, directories and symlinks are never replaced.
pub fn check_output(out: &Path, overwrite: bool) -> Result<(), SignError> {
    match fs::symlink_metadata(out) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(out)(e)),
        Ok(_) if !overwrite => Err(SignError::OutputExists(out.to_path_buf())),
        Ok(m) if m.file_type().is_file() => Ok(()),
        Ok(_) => Err(SignError::OutputNotRegular(out.to_path_buf())),
    }
}

/// Opens a payload for reading without blocking on a FIFO, and refuses
/// anything that is not a regular file.
pub fn open_payload(path: &Path) -> Result<File, SignError> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io_err(path))?;
    let meta = file.metadata().map_err(io_err(path))?;
    if !meta.is_file() {
        return Err(SignError::Io {
            path: path.to_path_buf(),
            source: io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file (devices, FIFOs and directories cannot be payloads)",
            ),
        });
    }
    Ok(file)
}

/// What identifies a file's content without reading it: a write changes
/// the size, the modification time or (any write at all) the change time.
fn content_stamp(file: &File, path: &Path) -> Result<(u64, i64, i64, i64, i64), SignError> {
    use std::os::unix::fs::MetadataExt;
    let m = file.metadata().map_err(io_err(path))?;
    Ok((
        m.len(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec(),
    ))
}

/// An open, inspected payload.
struct OpenPayload {
    input: PayloadInput,
    kind: PayloadKind,
    size: u64,
    file: File,
    stamp: (u64, i64, i64, i64, i64),
}

/// Hashes, signs and writes a package. Each payload file is opened once:
/// the archive inspection, the hashing and the copy all read that one open
/// file (a path swapped meanwhile is not seen), and a write to it between
/// inspection and the end of hashing is refused. Its bytes go to the package
/// at their final offset while they are hashed, so what is signed is exactly
/// what is written. The file appears at `out` only when complete
/// (temporary file, synced, renamed); on error nothing is left.
pub fn build_package(
    spec: &PackageSpec,
    signers: &[SignerInput<'_>],
    timestamper: &dyn Timestamper,
    out: &Path,
    overwrite: bool,
    progress: &mut dyn Progress,
) -> Result<PackageSummary, SignError> {
    check_output(out, overwrite)?;
    check_signers(signers, spec.created)?;
    let algs = digest_families(signers.iter().map(|s| s.signer.suite()), spec.extra_digests);
    if spec.payloads.is_empty() || spec.payloads.len() > MAX_PAYLOADS {
        return Err(SignError::Count("a package needs 1 to 16 payloads"));
    }
    let mut open = Vec::new();
    for p in &spec.payloads {
        let file = open_payload(&p.path)?;
        let stamp = content_stamp(&file, &p.path)?;
        let kind = archive::detect_kind_file(&file, &p.path)?;
        archive::inspect_file(&file, &p.path, kind)?;
        open.push(OpenPayload {
            input: p.clone(),
            kind,
            size: stamp.0,
            file,
            stamp,
        });
    }
    let inputs: Vec<(PayloadInput, PayloadKind, u64)> = open
        .iter()
        .map(|o| (o.input.clone(), o.kind, o.size))
        .collect();
    let token_lens = signers
        .iter()
        .enumerate()
        .map(|(i, s)| timestamper.expected_len(i, s.signer.suite()))
        .collect::<Result<Vec<_>, _>>()?;
    // A token of unknown length: hash first, then write the envelope and the
    // payloads once (moving a payload region written at a guessed offset
    // would write it twice).
    let deferred = token_lens
        .iter()
        .enumerate()
        .any(|(i, &n)| n == 0 && timestamper.stamps(i));
    let predicted = if deferred {
        0
    } else {
        predicted_envelope_len(spec, &inputs, algs, signers, &token_lens)?
    };

    let tmp = TempFile::new(temp_path(out, ""));
    let path = tmp.path().to_path_buf();
    let create = || {
        fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io_err(&path))
    };
    let mut written = 0u64;
    let (file, hashed, envelope, relocated) = if deferred {
        let hashed = write_payloads(None, &path, spec, &mut open, algs, progress)?;
        check_unchanged(&open)?;
        let (_, envelope) = sign_envelope(spec, &hashed, signers, timestamper)?;
        let mut file = create()?;
        write_envelope_member(&mut file, &path, &envelope, spec.created)?;
        written += copy_payloads(&mut file, &path, spec, &mut open, progress)?;
        check_unchanged(&open)?;
        (file, hashed, envelope, false)
    } else {
        let mut file = create()?;
        let payload_start = envelope_blocks(predicted) * BLOCK as u64;
        file.seek(SeekFrom::Start(payload_start))
            .map_err(io_err(&path))?;
        let hashed = write_payloads(Some(&mut file), &path, spec, &mut open, algs, progress)?;
        written += open.iter().map(|o| o.size).sum::<u64>();
        check_unchanged(&open)?;
        let (_, envelope) = sign_envelope(spec, &hashed, signers, timestamper)?;
        let relocated = envelope_blocks(envelope.len()) != envelope_blocks(predicted);
        let file = if !relocated {
            file.seek(SeekFrom::Start(0)).map_err(io_err(&path))?;
            write_envelope_member(&mut file, &path, &envelope, spec.created)?;
            file
        } else {
            // A token (or a signer's signature) of another length than
            // reserved changed the envelope's size: move the payload region
            // behind it.
            let (file, moved) = relocate(file, &path, out, payload_start, &envelope, spec.created)?;
            written += moved;
            file
        };
        (file, hashed, envelope, relocated)
    };
    file.sync_all().map_err(io_err(&path))?;
    let size = file.metadata().map_err(io_err(&path))?.len();
    // The check right before the rename keeps the window small; the rename
    // itself cannot replace anything but a regular file or a new name.
    check_output(out, overwrite)?;
    tmp.persist(out)?;
    Ok(PackageSummary {
        path: out.to_path_buf(),
        size,
        envelope_size: envelope.len(),
        payloads: hashed,
        relocated,
        payload_bytes_written: written,
    })
}

/// Refuses a payload written to since it was opened and inspected.
fn check_unchanged(open: &[OpenPayload]) -> Result<(), SignError> {
    for o in open {
        if content_stamp(&o.file, &o.input.path)? != o.stamp {
            return Err(SignError::PayloadChanged(o.input.path.clone()));
        }
    }
    Ok(())
}

/// Copies every (already hashed) payload into `file` at its current
/// position, as ustar members, then the end blocks; returns the payload
/// bytes written. The kernel copies file to file where it can. A payload
/// that shrank or grew is refused; one rewritten in place is caught by
/// [`check_unchanged`] afterwards (and, failing that, by every verifier).
fn copy_payloads(
    file: &mut File,
    path: &Path,
    spec: &PackageSpec,
    inputs: &mut [OpenPayload],
    progress: &mut dyn Progress,
) -> Result<u64, SignError> {
    let zeros = [0u8; BLOCK];
    let total: u64 = inputs.iter().map(|o| o.size).sum();
    let mut written = 0u64;
    progress.start("writing", total);
    for o in inputs.iter_mut() {
        o.file
            .seek(SeekFrom::Start(0))
            .map_err(io_err(&o.input.path))?;
        file.write_all(&member_header_for(&o.input.name, o.size, spec.created)?)
            .map_err(io_err(path))?;
        let n = io::copy(&mut (&o.file).take(o.size), file).map_err(io_err(path))?;
        if n != o.size {
            return Err(SignError::PayloadChanged(o.input.path.clone()));
        }
        written += n;
        progress.advance(n);
        file.write_all(&zeros[..padding_len(o.size)])
            .map_err(io_err(path))?;
    }
    for _ in 0..END_BLOCKS {
        file.write_all(&zeros).map_err(io_err(path))?;
    }
    progress.finish();
    Ok(written)
}

fn temp_path(out: &Path, extra: &str) -> PathBuf {
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "package".into());
    dir.join(format!(".{name}.{}.tmp{extra}", std::process::id()))
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

/// Hashes every payload and, with `file`, streams it into `file` at its
/// current position while hashing (without, it only hashes).
fn write_payloads(
    mut file: Option<&mut File>,
    path: &Path,
    spec: &PackageSpec,
    inputs: &mut [OpenPayload],
    algs: DigestSet,
    progress: &mut dyn Progress,
) -> Result<Vec<HashedPayload>, SignError> {
    fn put(file: &mut Option<&mut File>, path: &Path, bytes: &[u8]) -> Result<(), SignError> {
        match file {
            Some(f) => f.write_all(bytes).map_err(io_err(path)),
            None => Ok(()),
        }
    }
    let digester = ThreadedDigester::per_core();
    let write_behind = file.as_deref().map(WriteBehind::new);
    let zeros = [0u8; BLOCK];
    // Several chunks per read so the digester has work for every core.
    let mut buf = vec![0u8; (8usize << spec.chunk_log2).clamp(1 << 20, 8 << 20)];
    let total: u64 = inputs.iter().map(|o| o.size).sum();
    let mut hashed = Vec::new();
    let mut since_sync = 0u64;
    progress.start(if file.is_some() { "signing" } else { "hashing" }, total);
    for o in inputs.iter_mut() {
        let (input, kind, size, src) = (&o.input, &o.kind, &o.size, &mut o.file);
        src.seek(SeekFrom::Start(0)).map_err(io_err(&input.path))?;
        put(
            &mut file,
            path,
            &member_header_for(&input.name, *size, spec.created)?,
        )?;
        let mut hasher = PayloadHasher::new(algs, *size, spec.chunk_log2);
        loop {
            let n = read_full(src, &mut buf).map_err(io_err(&input.path))?;
            if n == 0 {
                break;
            }
            if n as u64 > hasher.remaining() {
                return Err(SignError::PayloadChanged(input.path.clone()));
            }
            let block = &buf[..n];
            match file.as_deref_mut() {
                None => hasher.update(block, &digester),
                Some(out) => {
                    // The write runs beside the hashing: both read the same buffer.
                    let written = std::thread::scope(|scope| {
                        let writer = scope.spawn(|| out.write_all(block));
                        hasher.update(block, &digester);
                        writer.join()
                    });
                    match written {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => return Err(io_err(path)(e)),
                        Err(_) => return Err(SignError::Signer("writer thread failed".into())),
                    }
                }
            }
            progress.advance(n as u64);
            since_sync += n as u64;
            if since_sync >= 64 << 20 {
                if let Some(w) = &write_behind {
                    w.kick();
                }
                since_sync = 0;
            }
        }
        let roots = hasher
            .finish()
            .ok_or_else(|| SignError::PayloadChanged(input.path.clone()))?;
        put(&mut file, path, &zeros[..padding_len(*size)])?;
        hashed.push(HashedPayload {
            input: input.clone(),
            kind: *kind,
            size: *size,
            digests: roots.into_iter().collect(),
        });
    }
    for _ in 0..END_BLOCKS {
        put(&mut file, path, &zeros)?;
    }
    progress.finish();
    Ok(hashed)
}

/// Replaces the envelope of an existing package, copying its payload region
/// unchanged (used to add timestamps after signing). Writes `out` through a
/// temporary file; `out` may be the package itself. A symlink at `out` is
/// written through: its target is replaced, the link stays.
pub fn replace_envelope(package: &Path, envelope: &[u8], out: &Path) -> Result<u64, SignError> {
    replace_envelope_checked(package, None, envelope, out)
}

/// [`replace_envelope`], and when `old` is given, the package's current
/// envelope must be exactly `old` (what the caller decoded and had
/// timestamped): the envelope check and the payload copy read one open file,
/// so a package swapped in between is refused instead of mixed.
pub fn replace_envelope_checked(
    package: &Path,
    old: Option<&[u8]>,
    envelope: &[u8],
    out: &Path,
) -> Result<u64, SignError> {
    let changed = || SignError::PayloadChanged(package.to_path_buf());
    let mut src = open_payload(package)?;
    let mut header = [0u8; BLOCK];
    src.read_exact(&mut header).map_err(io_err(package))?;
    let old_len = otaseal_manifest::container::header_size(&header).map_err(|_| SignError::Io {
        path: package.to_path_buf(),
        source: io::Error::new(io::ErrorKind::InvalidData, "not an otaseal package"),
    })?;
    if let Some(old) = old {
        if old.len() as u64 != old_len {
            return Err(changed());
        }
        let mut now = vec![0u8; old.len()];
        src.read_exact(&mut now).map_err(io_err(package))?;
        if now != old {
            return Err(changed());
        }
    }
    let created = otaseal_manifest::container::header_mtime(&header).unwrap_or(0);
    let payload_start = BLOCK as u64 + old_len + padding_len(old_len) as u64;
    let out = match fs::symlink_metadata(out) {
        Ok(m) if m.file_type().is_symlink() => fs::canonicalize(out).map_err(io_err(out))?,
        _ => out.to_path_buf(),
    };
    let tmp = TempFile::new(temp_path(&out, ""));
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp.path())
        .map_err(io_err(tmp.path()))?;
    write_envelope_member(&mut file, tmp.path(), envelope, created)?;
    src.seek(SeekFrom::Start(payload_start))
        .map_err(io_err(package))?;
    io::copy(&mut src, &mut file).map_err(io_err(tmp.path()))?;
    file.sync_all().map_err(io_err(tmp.path()))?;
    let size = file.metadata().map_err(io_err(tmp.path()))?.len();
    tmp.persist(&out)?;
    Ok(size)
}

/// Writes the envelope into a new file and moves the payload region after it.
fn relocate(
    mut old: File,
    path: &Path,
    out: &Path,
    payload_start: u64,
    envelope: &[u8],
    created: u64,
) -> Result<(File, u64), SignError> {
    let moved = TempFile::new(temp_path(out, "2"));
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(moved.path())
        .map_err(io_err(moved.path()))?;
    write_envelope_member(&mut file, moved.path(), envelope, created)?;
    old.seek(SeekFrom::Start(payload_start))
        .map_err(io_err(path))?;
    let n = io::copy(&mut old, &mut file).map_err(io_err(moved.path()))?;
    moved.persist(path)?;
    Ok((file, n))
}
