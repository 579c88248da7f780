//! Payload kind detection and archive safety inspection at signing time.
//!
//! [`detect_kind`] decides what a payload file is (by extension, confirmed by
//! magic bytes) and [`inspect`] walks an archive payload without unpacking it,
//! refusing entries that could write outside the extraction directory on the
//! device or that make the archive ambiguous (different extractors seeing
//! different contents).
//!
//! Everything is streamed: tar data is read through the `tar` crate's
//! `Archive::entries()` (entry data is read into a sink, never kept), a
//! `.tar.gz` goes through [`flate2::bufread::MultiGzDecoder`] over a
//! `BufReader<File>`, and zip files are read through `zip::ZipArchive`, which
//! keeps only the central directory in memory.
//!
//! Why `MultiGzDecoder` rather than `GzDecoder`: a gzip file may consist of
//! several concatenated members, and `gzip -d` / `tar xzf` on the device
//! decompress all of them. `GzDecoder` stops after the first member, so a
//! second member could carry tar entries that we would never inspect (an
//! archive-smuggling trick). With `MultiGzDecoder` we see exactly what
//! `gunzip` produces; garbage after the last member is reported as corrupt.

use std::collections::{HashMap, HashSet};
use std::error::Error;
use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use flate2::bufread::MultiGzDecoder;
use tar::EntryType;
use zip::{CompressionMethod, ZipArchive};

/// Largest number of entries an archive payload may hold.
pub const MAX_ENTRIES: u64 = 1_000_000;

/// Longest symlink target accepted in a zip entry (Linux `PATH_MAX`).
const MAX_LINK_TARGET: usize = 4096;

/// Largest GNU long name / long link member (`L`, `K`): a `PATH_MAX` name
/// and its NUL. The `tar` crate would read any size into memory (a 1 GiB
/// name compresses to 1 MB), so the size is checked before reading.
pub const MAX_LONG_NAME_SIZE: u64 = 4096 + 1;

/// Largest PAX extended header (`x`, `g`) member: records are names, times
/// and a few extended attributes, far below this.
pub const MAX_PAX_SIZE: u64 = 64 * 1024;

/// Most metadata one archive may make the inspector hold: names, link
/// targets and extension headers, summed over all entries (a million
/// entries with 4000-byte names would otherwise take gigabytes).
pub const MAX_METADATA: u64 = 64 * 1024 * 1024;

/// Symlink expansions allowed while resolving one link (Linux `MAXSYMLINKS`).
const MAX_LINK_EXPANSIONS: u32 = 40;

/// Size of a tar block / header.
const BLOCK: usize = 512;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZIP_LOCAL_MAGIC: &[u8; 4] = b"PK\x03\x04";
const ZIP_EMPTY_MAGIC: &[u8; 4] = b"PK\x05\x06";
const ZIP_CENTRAL_MAGIC: &[u8; 4] = b"PK\x01\x02";

// Unix file type bits (`st_mode & S_IFMT`), as stored in zip external attributes.
const S_IFMT: u32 = 0o170_000;
const S_IFIFO: u32 = 0o010_000;
const S_IFCHR: u32 = 0o020_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFBLK: u32 = 0o060_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFSOCK: u32 = 0o140_000;

// One definition of the payload kinds, shared with the verifier.
pub use otaseal_manifest::PayloadKind;

/// What [`inspect`] found in a payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArchiveSummary {
    /// The kind that was inspected.
    pub kind: PayloadKind,
    /// Number of archive members (files, directories, links), not counting
    /// tar metadata headers (PAX `x`/`g`, GNU long name/link). 0 for raw.
    pub entries: u64,
    /// Number of regular files (hard links not included). 0 for raw.
    pub regular_files: u64,
    /// Sum of the regular files' sizes, as actually read from the archive.
    /// For a raw payload this is the file size.
    pub total_unpacked_size: u64,
}

/// Why an archive entry was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnsafeReason {
    /// Leading `/`, a Windows drive (`C:`) or UNC (`\\`) prefix, or (zip) a leading `\`.
    AbsolutePath,
    /// A `..` path component.
    ParentTraversal,
    /// A symlink or hard link whose target is absolute, or resolves outside
    /// the archive root (symlinks stored in the archive are followed).
    LinkEscapes {
        /// The link target as stored in the archive.
        target: String,
    },
    /// Character or block device, or FIFO.
    DeviceOrFifo,
    /// Same path as an earlier entry after normalization (`./`, `//`,
    /// trailing `/`; a directory `a/` and a file `a` collide).
    DuplicateName,
    /// An entry type or encoding we do not accept (GNU sparse, socket,
    /// encrypted zip entry, unsupported compression, ...).
    UnsupportedType(String),
    /// Name or link target that is not valid UTF-8 (or contains a NUL byte).
    NonUtf8Name,
    /// More than [`MAX_ENTRIES`] entries.
    TooManyEntries,
    /// One metadata member (GNU long name/link, PAX header) is larger than
    /// its limit; it is refused before it is read.
    MetadataTooLarge {
        /// What it is.
        what: &'static str,
        /// Its declared size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Names, link targets and extension headers add up to more than
    /// [`MAX_METADATA`] bytes.
    TooMuchMetadata,
}

impl fmt::Display for UnsafeReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AbsolutePath => f.write_str("absolute path"),
            Self::ParentTraversal => f.write_str("path leaves the archive (..)"),
            Self::LinkEscapes { target } => {
                write!(f, "link target {target:?} leaves the archive")
            }
            Self::DeviceOrFifo => f.write_str("device node or FIFO"),
            Self::DuplicateName => f.write_str("duplicate name (same path as an earlier entry)"),
            Self::UnsupportedType(what) => write!(f, "unsupported entry type: {what}"),
            Self::NonUtf8Name => {
                f.write_str("name or link target is not valid UTF-8 (or contains NUL)")
            }
            Self::TooManyEntries => write!(f, "archive has more than {MAX_ENTRIES} entries"),
            Self::MetadataTooLarge { what, size, limit } => write!(
                f,
                "{what} of {size} bytes is larger than the limit of {limit} bytes"
            ),
            Self::TooMuchMetadata => write!(
                f,
                "names, link targets and extension headers exceed the limit of {MAX_METADATA} bytes per archive"
            ),
        }
    }
}

/// Errors from [`detect_kind`] and [`inspect`].
#[derive(Debug)]
pub enum ArchiveError {
    /// The payload file could not be opened or read.
    Io {
        /// The payload file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The file extension announces one kind but the content is something else.
    KindMismatch {
        /// The payload file.
        path: PathBuf,
        /// The kind announced by the extension.
        expected: PayloadKind,
        /// What the content looks like.
        found: &'static str,
    },
    /// Truncated or malformed archive.
    Corrupt {
        /// The payload file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// An entry that is refused for safety.
    UnsafeEntry {
        /// The archive.
        path: PathBuf,
        /// The entry name as stored (lossily decoded if not UTF-8).
        entry: String,
        /// Why it is refused.
        reason: UnsafeReason,
    },
}

impl ArchiveError {
    /// The payload file this error is about.
    pub fn path(&self) -> &Path {
        match self {
            Self::Io { path, .. }
            | Self::KindMismatch { path, .. }
            | Self::Corrupt { path, .. }
            | Self::UnsafeEntry { path, .. } => path,
        }
    }
}

impl fmt::Display for ArchiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => write!(f, "cannot read {}: {source}", path.display()),
            Self::KindMismatch {
                path,
                expected,
                found,
            } => write!(
                f,
                "{}: the file name says {expected} but the content is {found}",
                path.display()
            ),
            Self::Corrupt { path, detail } => {
                write!(f, "corrupt archive {}: {detail}", path.display())
            }
            Self::UnsafeEntry {
                path,
                entry,
                reason,
            } => write!(f, "unsafe entry {entry:?} in {}: {reason}", path.display()),
        }
    }
}

impl Error for ArchiveError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------
// Kind detection
// ---------------------------------------------------------------------------

/// The kind announced by the file name: `.tar`, `.tar.gz`/`.tgz`, `.zip`
/// (case-insensitive); anything else is [`PayloadKind::Raw`].
fn kind_from_extension(path: &Path) -> PayloadKind {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        PayloadKind::TarGz
    } else if name.ends_with(".tar") {
        PayloadKind::Tar
    } else if name.ends_with(".zip") {
        PayloadKind::Zip
    } else {
        PayloadKind::Raw
    }
}

/// Detects the payload kind from the extension and confirms it with the
/// content's magic bytes (for `.tar.gz`, the first decompressed block must be
/// a tar header). An extension that contradicts the content is
/// [`ArchiveError::KindMismatch`]. Raw payloads are not sniffed: any content
/// is a valid raw image.
pub fn detect_kind(path: &Path) -> Result<PayloadKind, ArchiveError> {
    detect_kind_file(&open_regular(path)?, path)
}

/// [`detect_kind`] on a file already open (read with positional reads: the
/// file's own offset is not moved). `path` gives the extension and names
/// the file in errors.
pub fn detect_kind_file(file: &File, path: &Path) -> Result<PayloadKind, ArchiveError> {
    let expected = kind_from_extension(path);
    if expected == PayloadKind::Raw {
        return Ok(PayloadKind::Raw);
    }
    let mut reader = BufReader::new(PosReader::new(file));
    let mut head = [0u8; BLOCK];
    let n = read_up_to(&mut reader, &mut head).map_err(|e| io_error(path, e))?;
    let head = &head[..n];
    let ok = match expected {
        PayloadKind::Raw => true,
        PayloadKind::Tar => is_tar_block(head),
        PayloadKind::Zip => head.starts_with(ZIP_LOCAL_MAGIC) || head.starts_with(ZIP_EMPTY_MAGIC),
        PayloadKind::TarGz => {
            if !head.starts_with(&GZIP_MAGIC) {
                false
            } else {
                reader
                    .seek(SeekFrom::Start(0))
                    .map_err(|e| io_error(path, e))?;
                let mut decoder = MultiGzDecoder::new(reader);
                let mut block = [0u8; BLOCK];
                let n = read_up_to(&mut decoder, &mut block).map_err(|e| parse_error(path, e))?;
                if !is_tar_block(&block[..n]) {
                    // Damage early in the stream garbles the first block
                    // before the gzip CRC can catch it: only call it a
                    // mismatch if the whole stream decodes cleanly.
                    drain(&mut decoder).map_err(|e| parse_error(path, e))?;
                    return Err(ArchiveError::KindMismatch {
                        path: path.to_path_buf(),
                        expected,
                        found: "gzip-compressed data that is not a tar archive",
                    });
                }
                true
            }
        }
    };
    if ok {
        Ok(expected)
    } else {
        Err(ArchiveError::KindMismatch {
            path: path.to_path_buf(),
            expected,
            found: describe_content(head),
        })
    }
}

/// A tar header block: "ustar" at offset 257, POSIX (`ustar\0` `00`) or GNU
/// (`ustar  \0`). An all-zero block is accepted too: it is the end-of-archive
/// marker of an empty tar.
fn is_tar_block(block: &[u8]) -> bool {
    if block.len() < BLOCK {
        return false;
    }
    let magic = &block[257..265];
    magic == b"ustar\x0000" || magic == b"ustar  \x00" || block.iter().all(|&b| b == 0)
}

/// Human description of what a file's first bytes look like.
fn describe_content(head: &[u8]) -> &'static str {
    if head.is_empty() {
        "an empty file"
    } else if head.starts_with(&GZIP_MAGIC) {
        "gzip data"
    } else if head.starts_with(ZIP_LOCAL_MAGIC) || head.starts_with(ZIP_EMPTY_MAGIC) {
        "a zip archive"
    } else if is_tar_block(head) {
        "a tar archive"
    } else if head.starts_with(b"\xfd7zXZ\x00") {
        "xz data"
    } else if head.starts_with(b"BZh") {
        "bzip2 data"
    } else if head.starts_with(b"\x28\xb5\x2f\xfd") {
        "zstd data"
    } else {
        "unrecognized data"
    }
}

// ---------------------------------------------------------------------------
// Inspection
// ---------------------------------------------------------------------------

/// Walks an archive payload (never unpacking it) and checks every entry
/// against the safety rules; returns counts on success. For
/// [`PayloadKind::Raw`] only checks the file is readable: `entries` and
/// `regular_files` are 0 and `total_unpacked_size` is the file size.
pub fn inspect(path: &Path, kind: PayloadKind) -> Result<ArchiveSummary, ArchiveError> {
    inspect_with_limit(path, kind, MAX_ENTRIES)
}

/// [`inspect`] on a file already open, read with positional reads (the
/// file's own offset is not moved): the caller can hash and copy the very
/// file that was inspected, not whatever the path names a moment later.
pub fn inspect_file(
    file: &File,
    path: &Path,
    kind: PayloadKind,
) -> Result<ArchiveSummary, ArchiveError> {
    inspect_open(file, path, kind, MAX_ENTRIES)
}

fn inspect_with_limit(
    path: &Path,
    kind: PayloadKind,
    max_entries: u64,
) -> Result<ArchiveSummary, ArchiveError> {
    inspect_open(&open_regular(path)?, path, kind, max_entries)
}

fn inspect_open(
    file: &File,
    path: &Path,
    kind: PayloadKind,
    max_entries: u64,
) -> Result<ArchiveSummary, ArchiveError> {
    match kind {
        PayloadKind::Raw => {
            let len = file.metadata().map_err(|e| io_error(path, e))?.len();
            Ok(ArchiveSummary {
                kind,
                entries: 0,
                regular_files: 0,
                total_unpacked_size: len,
            })
        }
        PayloadKind::Tar => inspect_tar(
            path,
            kind,
            BufReader::new(PosReader::new(file)),
            max_entries,
        ),
        PayloadKind::TarGz => inspect_tar(
            path,
            kind,
            MultiGzDecoder::new(BufReader::new(PosReader::new(file))),
            max_entries,
        ),
        PayloadKind::Zip => inspect_zip(path, file, max_entries),
    }
}

/// Reads a shared `File` with `pread`: several readers (the zip walker and
/// its raw central-directory scan, the signer's later copy) each keep their
/// own position on one open file.
struct PosReader<'f> {
    file: &'f File,
    pos: u64,
}

impl<'f> PosReader<'f> {
    fn new(file: &'f File) -> Self {
        PosReader { file, pos: 0 }
    }
}

impl Read for PosReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = std::os::unix::fs::FileExt::read_at(self.file, buf, self.pos)?;
        self.pos = self.pos.saturating_add(n as u64);
        Ok(n)
    }
}

impl Seek for PosReader<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let base = match to {
            SeekFrom::Start(n) => {
                self.pos = n;
                return Ok(n);
            }
            SeekFrom::Current(d) => (self.pos, d),
            SeekFrom::End(d) => (self.file.metadata()?.len(), d),
        };
        let new = base
            .0
            .checked_add_signed(base.1)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek out of range"))?;
        self.pos = new;
        Ok(new)
    }
}

fn open_regular(path: &Path) -> Result<File, ArchiveError> {
    let file = File::open(path).map_err(|e| io_error(path, e))?;
    let meta = file.metadata().map_err(|e| io_error(path, e))?;
    if !meta.is_file() {
        return Err(io_error(
            path,
            io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"),
        ));
    }
    Ok(file)
}

fn io_error(path: &Path, source: io::Error) -> ArchiveError {
    ArchiveError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn corrupt(path: &Path, detail: impl Into<String>) -> ArchiveError {
    ArchiveError::Corrupt {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

/// Maps an error met while parsing: format errors (and the `Other` errors
/// the tar crate uses for them) are `Corrupt`, genuine I/O failures stay `Io`.
fn parse_error(path: &Path, e: io::Error) -> ArchiveError {
    match e.kind() {
        io::ErrorKind::InvalidData
        | io::ErrorKind::InvalidInput
        | io::ErrorKind::UnexpectedEof
        | io::ErrorKind::Other => corrupt(path, e.to_string()),
        _ => io_error(path, e),
    }
}

/// Reads until `buf` is full or end of input; returns the byte count.
fn read_up_to<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Reads `r` to its end into a sink, returning the byte count.
fn drain<R: Read>(r: &mut R) -> io::Result<u64> {
    io::copy(r, &mut io::sink())
}

/// Archive flavour: zip names also use `\` as a separator.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavor {
    Tar,
    Zip,
}

impl Flavor {
    fn is_sep(self, c: char) -> bool {
        c == '/' || (self == Flavor::Zip && c == '\\')
    }

    /// Path components, dropping empty ones and `.` (keeps `..`).
    fn components(self, s: &str) -> impl DoubleEndedIterator<Item = &str> {
        s.split(move |c| self.is_sep(c))
            .filter(|c| !c.is_empty() && *c != ".")
    }

    fn is_absolute(self, s: &str) -> bool {
        let b = s.as_bytes();
        b.first() == Some(&b'/')
            || b.starts_with(b"\\\\")
            || (self == Flavor::Zip && b.first() == Some(&b'\\'))
            || (b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':')
    }
}

/// Resolves `path` (relative to the archive root) the way the kernel would
/// after extraction, following symlinks stored in the archive; false if it
/// leaves the root at any point, hits an absolute link target, or needs more
/// than [`MAX_LINK_EXPANSIONS`] expansions (loop).
fn resolves_inside(flavor: Flavor, symlinks: &HashMap<String, String>, path: &str) -> bool {
    let mut pending: Vec<&str> = flavor.components(path).rev().collect();
    let mut current: Vec<&str> = Vec::new();
    let mut budget = MAX_LINK_EXPANSIONS;
    while let Some(c) = pending.pop() {
        if c == ".." {
            if current.pop().is_none() {
                return false;
            }
            continue;
        }
        current.push(c);
        if symlinks.is_empty() {
            continue;
        }
        if let Some(target) = symlinks.get(&current.join("/")) {
            if budget == 0 || flavor.is_absolute(target) {
                return false;
            }
            budget -= 1;
            current.pop();
            pending.extend(flavor.components(target).rev());
        }
    }
    true
}

/// A link whose target must be checked once all symlinks are known.
struct PendingLink {
    entry: String,
    /// Path to resolve from the archive root.
    resolve: String,
    target: String,
}

/// Rule checks and counters shared by the tar and zip walkers.
struct Checker<'a> {
    archive: &'a Path,
    flavor: Flavor,
    max_entries: u64,
    names: HashSet<String>,
    symlinks: HashMap<String, String>,
    links: Vec<PendingLink>,
    entries: u64,
    regular_files: u64,
    total: u64,
    /// Metadata bytes held or read so far (see [`MAX_METADATA`]).
    metadata: u64,
}

impl<'a> Checker<'a> {
    fn new(archive: &'a Path, flavor: Flavor, max_entries: u64) -> Self {
        Self {
            archive,
            flavor,
            max_entries,
            names: HashSet::new(),
            symlinks: HashMap::new(),
            links: Vec::new(),
            entries: 0,
            regular_files: 0,
            total: 0,
            metadata: 0,
        }
    }

    /// Counts `n` metadata bytes against [`MAX_METADATA`].
    fn charge(&mut self, entry: &str, n: u64) -> Result<(), ArchiveError> {
        self.metadata = self.metadata.saturating_add(n);
        if self.metadata > MAX_METADATA {
            return Err(self.refuse(entry, UnsafeReason::TooMuchMetadata));
        }
        Ok(())
    }

    fn refuse(&self, entry: &str, reason: UnsafeReason) -> ArchiveError {
        ArchiveError::UnsafeEntry {
            path: self.archive.to_path_buf(),
            entry: entry.to_owned(),
            reason,
        }
    }

    fn corrupt(&self, detail: impl Into<String>) -> ArchiveError {
        corrupt(self.archive, detail)
    }

    fn count_entry(&mut self, entry: &str) -> Result<(), ArchiveError> {
        self.entries += 1;
        if self.entries > self.max_entries {
            return Err(self.refuse(entry, UnsafeReason::TooManyEntries));
        }
        Ok(())
    }

    fn add_regular(&mut self, size: u64) {
        self.regular_files += 1;
        self.total = self.total.saturating_add(size);
    }

    /// Name rules except duplicates: UTF-8, no NUL, not absolute, no `..`.
    /// Returns the name and its normalized form (components joined by `/`;
    /// empty for the archive root itself, e.g. `./`).
    fn check_name(&self, raw: &[u8]) -> Result<(String, String), ArchiveError> {
        let Ok(name) = std::str::from_utf8(raw) else {
            return Err(self.refuse(&String::from_utf8_lossy(raw), UnsafeReason::NonUtf8Name));
        };
        if name.contains('\0') {
            return Err(self.refuse(name, UnsafeReason::NonUtf8Name));
        }
        if self.flavor.is_absolute(name) {
            return Err(self.refuse(name, UnsafeReason::AbsolutePath));
        }
        let mut parts = Vec::new();
        for c in self.flavor.components(name) {
            if c == ".." {
                return Err(self.refuse(name, UnsafeReason::ParentTraversal));
            }
            parts.push(c);
        }
        Ok((name.to_owned(), parts.join("/")))
    }

    /// Records the normalized name; a second entry with the same path is
    /// refused. Only a directory may name the archive root (`./`).
    fn claim(&mut self, name: &str, normalized: String, is_dir: bool) -> Result<(), ArchiveError> {
        self.charge(name, (name.len() + normalized.len()) as u64)?;
        if normalized.is_empty() {
            if is_dir {
                return Ok(());
            }
            return Err(self.refuse(
                name,
                UnsafeReason::UnsupportedType("non-directory entry naming the archive root".into()),
            ));
        }
        if !self.names.insert(normalized) {
            return Err(self.refuse(name, UnsafeReason::DuplicateName));
        }
        Ok(())
    }

    fn link_target(&self, name: &str, raw: &[u8]) -> Result<String, ArchiveError> {
        match std::str::from_utf8(raw) {
            Ok(t) if !t.contains('\0') => Ok(t.to_owned()),
            _ => Err(self.refuse(name, UnsafeReason::NonUtf8Name)),
        }
    }

    /// Queues a link check. Symlink targets resolve from the link's
    /// directory, hard link targets from the archive root. The lexical check
    /// (no symlink following) is done now so the first bad entry in archive
    /// order is reported; the full one in [`Checker::finish`].
    fn add_link(
        &mut self,
        name: &str,
        normalized: &str,
        raw_target: &[u8],
        hard: bool,
    ) -> Result<(), ArchiveError> {
        let target = self.link_target(name, raw_target)?;
        // Held as the target, the path to resolve, and the symlink map.
        self.charge(name, (3 * target.len() + normalized.len()) as u64)?;
        let escapes = || {
            self.refuse(
                name,
                UnsafeReason::LinkEscapes {
                    target: target.clone(),
                },
            )
        };
        if self.flavor.is_absolute(&target) {
            return Err(escapes());
        }
        let resolve = if hard {
            target.clone()
        } else {
            match normalized.rfind('/') {
                Some(i) => format!("{}/{target}", &normalized[..i]),
                None => target.clone(),
            }
        };
        if !resolves_inside(self.flavor, &HashMap::new(), &resolve) {
            return Err(escapes());
        }
        if !hard {
            self.symlinks.insert(normalized.to_owned(), target.clone());
        }
        self.links.push(PendingLink {
            entry: name.to_owned(),
            resolve,
            target,
        });
        Ok(())
    }

    /// Resolves every link again, now following the archive's own symlinks
    /// (`x/y -> ..` followed by `x/y/z -> ../..` escapes although each
    /// target looks fine on its own).
    fn finish(self, kind: PayloadKind) -> Result<ArchiveSummary, ArchiveError> {
        for link in &self.links {
            if !resolves_inside(self.flavor, &self.symlinks, &link.resolve) {
                return Err(self.refuse(
                    &link.entry,
                    UnsafeReason::LinkEscapes {
                        target: link.target.clone(),
                    },
                ));
            }
        }
        Ok(ArchiveSummary {
            kind,
            entries: self.entries,
            regular_files: self.regular_files,
            total_unpacked_size: self.total,
        })
    }
}

// ---------------------------------------------------------------------------
// tar / tar.gz
// ---------------------------------------------------------------------------

/// Human name for a tar type flag we do not accept.
fn tar_type_name(t: EntryType) -> String {
    match t.as_byte() {
        b'S' => "GNU sparse file".into(),
        b'D' => "GNU dumpdir".into(),
        b'M' => "GNU multi-volume continuation".into(),
        b'V' => "GNU volume label".into(),
        b'N' => "GNU old long name".into(),
        b'x' | b'g' | b'L' | b'K' => {
            format!(
                "'{}' extension header in a pre-POSIX header",
                t.as_byte() as char
            )
        }
        b if b.is_ascii_graphic() => format!("tar type '{}'", b as char),
        b => format!("tar type 0x{b:02x}"),
    }
}

/// PAX records that matter for what an extractor sees.
#[derive(Default)]
struct PaxInfo {
    path: Option<Vec<u8>>,
    linkpath: Option<Vec<u8>>,
    size: Option<Vec<u8>>,
    sparse: bool,
    overrides: Option<String>,
}

/// Parses a PAX record set. A key given twice is refused as corrupt: the
/// `tar` crate uses the first value, GNU tar the last.
fn parse_pax(records: tar::PaxExtensions<'_>) -> Result<PaxInfo, String> {
    let mut info = PaxInfo::default();
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    for rec in records {
        let rec = rec.map_err(|e| format!("malformed PAX record: {e}"))?;
        let key = rec.key_bytes();
        if !seen.insert(key.to_vec()) {
            return Err(format!(
                "PAX header repeats key {:?}",
                String::from_utf8_lossy(key)
            ));
        }
        match key {
            b"path" => info.path = Some(rec.value_bytes().to_vec()),
            b"linkpath" => info.linkpath = Some(rec.value_bytes().to_vec()),
            b"size" => {
                info.size = Some(rec.value_bytes().to_vec());
                info.overrides = Some("size".into());
            }
            k if k.starts_with(b"GNU.sparse.") => info.sparse = true,
            _ => {}
        }
    }
    if info.path.is_some() {
        info.overrides = Some("path".into());
    } else if info.linkpath.is_some() {
        info.overrides = Some("linkpath".into());
    }
    Ok(info)
}

/// Strips the NUL a GNU long name or link ends with.
fn strip_nul(mut bytes: Vec<u8>) -> Vec<u8> {
    if bytes.last() == Some(&0) {
        bytes.pop();
    }
    bytes
}

/// Extension members seen for the next entry.
#[derive(Default)]
struct Pending {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax: Option<Vec<u8>>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.long_name.is_none() && self.long_link.is_none() && self.pax.is_none()
    }
}

/// Walks a tar stream with the `tar` crate in raw mode: extension members
/// (GNU `L`/`K`, PAX `x`/`g`) come to us as entries, so their sizes are
/// checked against [`MAX_LONG_NAME_SIZE`], [`MAX_PAX_SIZE`] and
/// [`MAX_METADATA`] before a byte of them is read (the crate's own
/// processing reads them whole into memory, whatever their size). They are
/// then applied as the crate does: long name first, then PAX path, then the
/// header name.
fn inspect_tar<R: Read>(
    path: &Path,
    kind: PayloadKind,
    reader: R,
    max_entries: u64,
) -> Result<ArchiveSummary, ArchiveError> {
    let mut ck = Checker::new(path, Flavor::Tar, max_entries);
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|e| parse_error(path, e))?
        .raw(true);
    let mut pending = Pending::default();
    for item in entries {
        let mut entry = item.map_err(|e| parse_error(path, e))?;
        let header = entry.header();
        let etype = header.entry_type();
        let recognized = header.as_gnu().is_some() || header.as_ustar().is_some();
        let header_name = header.path_bytes().into_owned();
        let header_link = header.link_name_bytes().map(|l| l.into_owned());
        let lossy = String::from_utf8_lossy(&header_name).into_owned();

        let global = etype.is_pax_global_extensions();
        let long_name = recognized && etype.is_gnu_longname();
        let long_link = recognized && etype.is_gnu_longlink();
        let local_pax = recognized && etype.is_pax_local_extensions();
        if global || long_name || long_link || local_pax {
            let (what, limit) = if long_name || long_link {
                ("GNU long name/link member", MAX_LONG_NAME_SIZE)
            } else {
                ("PAX extended header", MAX_PAX_SIZE)
            };
            let size = entry.size();
            if size > limit {
                return Err(ck.refuse(&lossy, UnsafeReason::MetadataTooLarge { what, size, limit }));
            }
            ck.charge(&lossy, size)?;
            let mut data = Vec::new();
            (&mut entry)
                .take(size)
                .read_to_end(&mut data)
                .map_err(|e| parse_error(path, e))?;
            if data.len() as u64 != size {
                return Err(ck.corrupt(format!(
                    "{what} {lossy:?}: data ends early ({} of {size} bytes)",
                    data.len()
                )));
            }
            if global {
                // Metadata, not an entry. The tar crate ignores global
                // records, so refuse those that would change names or sizes.
                let info = parse_pax(tar::PaxExtensions::new(&data)).map_err(|d| ck.corrupt(d))?;
                if info.sparse {
                    return Err(ck.refuse(
                        &lossy,
                        UnsafeReason::UnsupportedType("GNU sparse file (PAX)".into()),
                    ));
                }
                if let Some(key) = info.overrides {
                    return Err(ck.refuse(
                        &lossy,
                        UnsafeReason::UnsupportedType(format!("PAX global header setting {key:?}")),
                    ));
                }
                continue;
            }
            let (slot, twice) = if long_name {
                (
                    &mut pending.long_name,
                    "two long name entries describing the same member",
                )
            } else if long_link {
                (
                    &mut pending.long_link,
                    "two long link entries describing the same member",
                )
            } else {
                (
                    &mut pending.pax,
                    "two pax extensions entries describing the same member",
                )
            };
            if slot.is_some() {
                return Err(ck.corrupt(twice));
            }
            *slot = Some(data);
            continue;
        }

        ck.count_entry(&lossy)?;
        let ext = std::mem::take(&mut pending);
        // Local PAX records and GNU long names: refuse ambiguity.
        let pax = match &ext.pax {
            Some(data) => parse_pax(tar::PaxExtensions::new(data)).map_err(|d| ck.corrupt(d))?,
            None => PaxInfo::default(),
        };
        if pax.sparse {
            return Err(ck.refuse(
                &lossy,
                UnsafeReason::UnsupportedType("GNU sparse file (PAX)".into()),
            ));
        }
        // The data is read with the header's size; a PAX size that differs
        // would make GNU tar see other members than we do.
        if let Some(declared) = &pax.size
            && std::str::from_utf8(declared)
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                != Some(entry.size())
        {
            return Err(ck.refuse(
                &lossy,
                UnsafeReason::UnsupportedType(
                    "PAX size record that differs from the header size".into(),
                ),
            ));
        }
        let name_bytes = match ext.long_name {
            Some(n) => strip_nul(n),
            None => pax.path.clone().unwrap_or(header_name),
        };
        let lossy = String::from_utf8_lossy(&name_bytes).into_owned();
        if pax.path.as_deref().is_some_and(|p| p != name_bytes) {
            return Err(ck.corrupt(format!(
                "entry {lossy:?}: GNU long name and PAX path disagree"
            )));
        }
        let link_bytes = match ext.long_link {
            Some(l) => Some(strip_nul(l)),
            None => pax.linkpath.clone().or(header_link),
        };
        if pax
            .linkpath
            .as_deref()
            .is_some_and(|p| Some(p) != link_bytes.as_deref())
        {
            return Err(ck.corrupt(format!(
                "entry {lossy:?}: GNU long link and PAX linkpath disagree"
            )));
        }

        let (name, normalized) = ck.check_name(&name_bytes)?;
        let size = entry.size();
        match etype {
            EntryType::Regular | EntryType::Continuous => {
                ck.claim(&name, normalized, false)?;
                let read = drain(&mut entry).map_err(|e| parse_error(path, e))?;
                if read != size {
                    return Err(ck.corrupt(format!(
                        "entry {name:?}: data ends early ({read} of {size} bytes)"
                    )));
                }
                ck.add_regular(read);
            }
            EntryType::Directory => {
                if size != 0 {
                    return Err(
                        ck.corrupt(format!("directory {name:?} declares {size} data bytes"))
                    );
                }
                ck.claim(&name, normalized, true)?;
            }
            EntryType::Symlink | EntryType::Link => {
                let hard = etype == EntryType::Link;
                if size != 0 {
                    return Err(ck.corrupt(format!("link {name:?} declares {size} data bytes")));
                }
                let Some(target) = link_bytes else {
                    return Err(ck.corrupt(format!("link {name:?} has no target")));
                };
                ck.claim(&name, normalized.clone(), false)?;
                ck.add_link(&name, &normalized, &target, hard)?;
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                return Err(ck.refuse(&name, UnsafeReason::DeviceOrFifo));
            }
            other => {
                return Err(ck.refuse(&name, UnsafeReason::UnsupportedType(tar_type_name(other))));
            }
        }
    }

    if !pending.is_empty() {
        return Err(
            ck.corrupt("members found describing a future member but no future member found")
        );
    }

    // The tar crate stops at the first zero block. Read the rest: it must be
    // zero padding (a second archive after the end marker would be seen by
    // `tar -i`), and for tar.gz this also checks the gzip trailers (CRC,
    // length) and catches truncation or trailing garbage.
    let mut rest = archive.into_inner();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match rest.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(parse_error(path, e)),
        };
        if buf[..n].iter().any(|&b| b != 0) {
            return Err(ck.corrupt("non-zero data after the tar end-of-archive marker"));
        }
    }
    ck.finish(kind)
}

// ---------------------------------------------------------------------------
// zip
// ---------------------------------------------------------------------------

enum ZipKind {
    File,
    Dir,
    Symlink,
}

fn zip_error(path: &Path, e: zip::result::ZipError) -> ArchiveError {
    match e {
        zip::result::ZipError::Io(e) => parse_error(path, e),
        other => corrupt(path, other.to_string()),
    }
}

/// Walks the central directory headers directly, returning each header's
/// offset and its name bytes exactly as stored (before any Info-ZIP Unicode
/// Path override). Stops at the first non-central-header signature or after
/// `limit` headers.
fn raw_central_names(
    mut r: impl Read + Seek,
    start: u64,
    limit: usize,
) -> io::Result<Vec<(u64, Vec<u8>)>> {
    r.seek(SeekFrom::Start(start))?;
    let mut out = Vec::new();
    let mut pos = start;
    while out.len() < limit {
        let mut fixed = [0u8; 46];
        if read_up_to(&mut r, &mut fixed)? < fixed.len() || !fixed.starts_with(ZIP_CENTRAL_MAGIC) {
            break;
        }
        let le16 = |i: usize| u64::from(u16::from_le_bytes([fixed[i], fixed[i + 1]]));
        let (name_len, extra_len, comment_len) = (le16(28), le16(30), le16(32));
        let mut name = vec![0u8; name_len as usize];
        r.read_exact(&mut name)?;
        let skip = extra_len + comment_len;
        r.seek(SeekFrom::Current(skip as i64))?;
        out.push((pos, name));
        pos += 46 + name_len + skip;
    }
    Ok(out)
}

/// Path rules applied to a header name the zip crate replaced by an Info-ZIP
/// Unicode Path (extractors that ignore that extra field use these bytes).
fn check_raw_zip_name(raw: &[u8]) -> Option<UnsafeReason> {
    if raw.contains(&0) {
        return Some(UnsafeReason::NonUtf8Name);
    }
    let absolute = matches!(raw.first(), Some(b'/' | b'\\'))
        || (raw.len() >= 2 && raw[0].is_ascii_alphabetic() && raw[1] == b':');
    if absolute {
        return Some(UnsafeReason::AbsolutePath);
    }
    if raw.split(|&b| b == b'/' || b == b'\\').any(|c| c == b"..") {
        return Some(UnsafeReason::ParentTraversal);
    }
    None
}

fn inspect_zip(path: &Path, file: &File, max_entries: u64) -> Result<ArchiveSummary, ArchiveError> {
    let mut ck = Checker::new(path, Flavor::Zip, max_entries);
    let mut zip =
        ZipArchive::new(BufReader::new(PosReader::new(file))).map_err(|e| zip_error(path, e))?;
    let len = zip.len();

    // Whole central directory is already parsed; check the count first.
    if len as u64 > max_entries {
        let index = usize::try_from(max_entries).unwrap_or(usize::MAX);
        let name = zip
            .by_index_data(index)
            .map(|e| String::from_utf8_lossy(e.name_raw()).into_owned())
            .unwrap_or_default();
        return Err(ck.refuse(&name, UnsafeReason::TooManyEntries));
    }

    // Raw names straight from the central directory: the zip crate keys
    // entries by name, so exact duplicates collapse (it only tells us that
    // some exist) and Unicode Path extra fields replace header names.
    let dir_start = zip.central_directory_start();
    let limit = usize::try_from(max_entries.saturating_add(1)).unwrap_or(usize::MAX);
    // A second reader of the same open file with its own position: the
    // archive's reader is buffered and must not be moved underneath it.
    let raw = raw_central_names(BufReader::new(PosReader::new(file)), dir_start, limit)
        .map_err(|e| parse_error(path, e))?;
    if zip.has_duplicate_names() {
        let mut seen = HashSet::new();
        let dup = raw
            .iter()
            .find(|(_, n)| !seen.insert(n.as_slice()))
            .map(|(_, n)| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default();
        return Err(ck.refuse(&dup, UnsafeReason::DuplicateName));
    }
    if raw.len() != len {
        return Err(ck.corrupt(format!(
            "central directory holds {} headers but the end record lists {len}",
            raw.len()
        )));
    }

    // Pass 1: metadata only.
    let mut plan: Vec<(String, String, ZipKind)> = Vec::with_capacity(len);
    for (i, (raw_offset, raw_name)) in raw.iter().enumerate() {
        let entry = zip.by_index_data(i).map_err(|e| zip_error(path, e))?;
        let name_bytes = entry.name_raw();
        let lossy = String::from_utf8_lossy(name_bytes).into_owned();
        ck.count_entry(&lossy)?;
        if entry.central_header_start() != *raw_offset {
            return Err(ck.corrupt("central directory entries are out of order"));
        }
        if raw_name.as_slice() != name_bytes {
            if std::str::from_utf8(raw_name).is_ok() {
                return Err(ck.corrupt(format!(
                    "entry {lossy:?}: Info-ZIP Unicode Path names a different file than the header ({:?})",
                    String::from_utf8_lossy(raw_name)
                )));
            }
            if let Some(reason) = check_raw_zip_name(raw_name) {
                return Err(ck.refuse(&String::from_utf8_lossy(raw_name), reason));
            }
        }
        let (name, normalized) = ck.check_name(name_bytes)?;

        let dir_name = name.ends_with('/') || name.ends_with('\\');
        let kind = match entry.unix_mode().map_or(0, |m| m & S_IFMT) {
            0 | S_IFREG if dir_name => ZipKind::Dir,
            0 | S_IFREG => ZipKind::File,
            S_IFDIR => ZipKind::Dir,
            S_IFLNK => ZipKind::Symlink,
            S_IFCHR | S_IFBLK | S_IFIFO => {
                return Err(ck.refuse(&name, UnsafeReason::DeviceOrFifo));
            }
            S_IFSOCK => {
                return Err(ck.refuse(&name, UnsafeReason::UnsupportedType("socket".into())));
            }
            other => {
                return Err(ck.refuse(
                    &name,
                    UnsafeReason::UnsupportedType(format!("unix file type {other:#o}")),
                ));
            }
        };
        if entry.encrypted() {
            return Err(ck.refuse(
                &name,
                UnsafeReason::UnsupportedType("encrypted entry".into()),
            ));
        }
        let method = entry.compression();
        if method != CompressionMethod::Stored && method != CompressionMethod::Deflated {
            return Err(ck.refuse(
                &name,
                UnsafeReason::UnsupportedType(format!("compression method {method}")),
            ));
        }
        ck.claim(&name, normalized.clone(), matches!(kind, ZipKind::Dir))?;
        plan.push((name, normalized, kind));
    }

    // Local headers must agree with the central directory (name, method,
    // flags, CRC, sizes), entries must not overlap, and no local header may
    // hide outside the central directory: mismatches are a known smuggling
    // trick (extractors that stream local headers see other files).
    zip.validate_header_consistency().map_err(|e| {
        ck.corrupt(format!(
            "local file headers disagree with the central directory: {e}"
        ))
    })?;

    // Pass 2: read the data (CRC-checked by the zip crate).
    for (i, (name, normalized, kind)) in plan.iter().enumerate() {
        match kind {
            ZipKind::Dir => {}
            ZipKind::File => {
                let mut file = zip.by_index(i).map_err(|e| zip_error(path, e))?;
                let declared = file.size();
                let read = drain(&mut file).map_err(|e| parse_error(path, e))?;
                if read != declared {
                    return Err(ck.corrupt(format!(
                        "entry {name:?}: {read} bytes of data, {declared} declared"
                    )));
                }
                ck.add_regular(read);
            }
            ZipKind::Symlink => {
                let mut target = Vec::new();
                {
                    let mut file = zip.by_index(i).map_err(|e| zip_error(path, e))?;
                    (&mut file)
                        .take(MAX_LINK_TARGET as u64 + 1)
                        .read_to_end(&mut target)
                        .map_err(|e| parse_error(path, e))?;
                }
                if target.len() > MAX_LINK_TARGET {
                    return Err(ck.refuse(
                        name,
                        UnsafeReason::UnsupportedType(format!(
                            "symlink target longer than {MAX_LINK_TARGET} bytes"
                        )),
                    ));
                }
                ck.add_link(name, normalized, &target, false)?;
            }
        }
    }
    ck.finish(PayloadKind::Zip)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::{Cursor, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use zip::write::SimpleFileOptions;

    // ---- helpers ----------------------------------------------------------

    /// A unique scratch directory under `std::env::temp_dir()`, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> Self {
            static N: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "otaseal-archive-test-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
            let p = self.0.join(name);
            std::fs::write(&p, bytes).unwrap();
            p
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A raw 512-byte tar header (tar::Builder refuses the evil names).
    fn raw_header(name: &[u8], typeflag: u8, size: u64, link: &[u8], gnu: bool) -> [u8; BLOCK] {
        let mut h = [0u8; BLOCK];
        h[..name.len()].copy_from_slice(name);
        h[100..108].copy_from_slice(b"0000644\0");
        h[108..116].copy_from_slice(b"0000000\0");
        h[116..124].copy_from_slice(b"0000000\0");
        h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
        h[136..148].copy_from_slice(b"00000000000\0");
        h[156] = typeflag;
        h[157..157 + link.len()].copy_from_slice(link);
        h[257..265].copy_from_slice(if gnu { b"ustar  \0" } else { b"ustar\x0000" });
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        h
    }

    #[derive(Default)]
    struct RawTar(Vec<u8>);

    impl RawTar {
        fn entry(mut self, name: &[u8], typeflag: u8, data: &[u8], link: &[u8]) -> Self {
            let gnu = matches!(typeflag, b'L' | b'K');
            self.0
                .extend_from_slice(&raw_header(name, typeflag, data.len() as u64, link, gnu));
            self.0.extend_from_slice(data);
            let pad = (BLOCK - data.len() % BLOCK) % BLOCK;
            self.0.extend(std::iter::repeat_n(0u8, pad));
            self
        }
        fn file(self, name: &str, data: &[u8]) -> Self {
            self.entry(name.as_bytes(), b'0', data, b"")
        }
        fn dir(self, name: &str) -> Self {
            self.entry(name.as_bytes(), b'5', b"", b"")
        }
        fn symlink(self, name: &str, target: &str) -> Self {
            self.entry(name.as_bytes(), b'2', b"", target.as_bytes())
        }
        fn hardlink(self, name: &str, target: &str) -> Self {
            self.entry(name.as_bytes(), b'1', b"", target.as_bytes())
        }
        fn finish(mut self) -> Vec<u8> {
            self.0.extend([0u8; 2 * BLOCK]);
            self.0
        }
    }

    /// PAX extended header records.
    fn pax(records: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (k, v) in records {
            let rest = k.len() + v.len() + 3;
            let mut len = rest + 1;
            while rest + len.to_string().len() != len {
                len = rest + len.to_string().len();
            }
            out.extend_from_slice(format!("{len} {k}=").as_bytes());
            out.extend_from_slice(v);
            out.push(b'\n');
        }
        out
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// dir `d/`, files `d/a.txt` (5 bytes) and `b.bin` (3 bytes), symlink
    /// `d/link -> ../b.bin`, built with tar::Builder.
    fn safe_tar(gnu: bool) -> Vec<u8> {
        let new = || {
            if gnu {
                tar::Header::new_gnu()
            } else {
                tar::Header::new_ustar()
            }
        };
        let mut b = tar::Builder::new(Vec::new());
        let mut h = new();
        h.set_entry_type(EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        b.append_data(&mut h, "d/", io::empty()).unwrap();
        let mut h = new();
        h.set_mode(0o644);
        h.set_size(5);
        b.append_data(&mut h, "d/a.txt", &b"hello"[..]).unwrap();
        let mut h = new();
        h.set_mode(0o644);
        h.set_size(3);
        b.append_data(&mut h, "b.bin", &[1u8, 2, 3][..]).unwrap();
        let mut h = new();
        h.set_entry_type(EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "d/link", "../b.bin").unwrap();
        b.into_inner().unwrap()
    }

    fn safe_zip() -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = SimpleFileOptions::default();
        w.add_directory("d/", opts).unwrap();
        w.start_file("d/a.txt", opts).unwrap();
        w.write_all(b"hello").unwrap();
        w.start_file("b.bin", opts.compression_method(CompressionMethod::Stored))
            .unwrap();
        w.write_all(&[1, 2, 3]).unwrap();
        w.add_symlink("d/link", "../b.bin", opts).unwrap();
        w.finish().unwrap().into_inner()
    }

    fn expect_safe(kind: PayloadKind) -> ArchiveSummary {
        ArchiveSummary {
            kind,
            entries: 4,
            regular_files: 2,
            total_unpacked_size: 8,
        }
    }

    /// A raw zip entry (stored); `local` may differ from `central`.
    struct ZipEnt {
        local: Vec<u8>,
        central: Vec<u8>,
        mode: u32,
        data: Vec<u8>,
        extra: Vec<u8>,
    }

    fn zent(name: &[u8], mode: u32, data: &[u8]) -> ZipEnt {
        ZipEnt {
            local: name.to_vec(),
            central: name.to_vec(),
            mode,
            data: data.to_vec(),
            extra: Vec::new(),
        }
    }

    fn raw_zip(entries: &[ZipEnt]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut cd = Vec::new();
        for e in entries {
            let mut crc = flate2::Crc::new();
            crc.update(&e.data);
            let crc = crc.sum();
            let size = e.data.len() as u32;
            let offset = out.len() as u32;
            out.extend_from_slice(ZIP_LOCAL_MAGIC);
            for v in [20u16, 0, 0, 0, 0x21] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            for v in [crc, size, size] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(&(e.local.len() as u16).to_le_bytes());
            out.extend_from_slice(&(e.extra.len() as u16).to_le_bytes());
            out.extend_from_slice(&e.local);
            out.extend_from_slice(&e.extra);
            out.extend_from_slice(&e.data);

            cd.extend_from_slice(ZIP_CENTRAL_MAGIC);
            for v in [(3u16 << 8) | 20, 20, 0, 0, 0, 0x21] {
                cd.extend_from_slice(&v.to_le_bytes());
            }
            for v in [crc, size, size] {
                cd.extend_from_slice(&v.to_le_bytes());
            }
            for v in [e.central.len() as u16, e.extra.len() as u16, 0, 0, 0] {
                cd.extend_from_slice(&v.to_le_bytes());
            }
            cd.extend_from_slice(&(e.mode << 16).to_le_bytes());
            cd.extend_from_slice(&offset.to_le_bytes());
            cd.extend_from_slice(&e.central);
            cd.extend_from_slice(&e.extra);
        }
        let cd_offset = out.len() as u32;
        let n = entries.len() as u16;
        out.extend_from_slice(&cd);
        out.extend_from_slice(ZIP_EMPTY_MAGIC);
        for v in [0u16, 0, n, n] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&(cd.len() as u32).to_le_bytes());
        out.extend_from_slice(&cd_offset.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out
    }

    fn inspect_bytes(name: &str, bytes: &[u8]) -> Result<ArchiveSummary, ArchiveError> {
        let t = TempDir::new();
        let p = t.write(name, bytes);
        let kind = detect_kind(&p)?;
        inspect(&p, kind)
    }

    #[track_caller]
    fn assert_unsafe(r: Result<ArchiveSummary, ArchiveError>, entry: &str, reason: UnsafeReason) {
        match r {
            Err(ArchiveError::UnsafeEntry {
                entry: e,
                reason: r,
                ..
            }) => {
                assert_eq!((e.as_str(), r), (entry, reason));
            }
            other => panic!("expected unsafe {entry:?} ({reason:?}), got {other:?}"),
        }
    }

    #[track_caller]
    fn assert_corrupt(r: Result<ArchiveSummary, ArchiveError>, needle: &str) {
        match r {
            Err(ArchiveError::Corrupt { detail, .. }) => {
                assert!(
                    detail.contains(needle),
                    "detail {detail:?} lacks {needle:?}"
                );
            }
            other => panic!("expected corrupt ({needle}), got {other:?}"),
        }
    }

    fn escapes(target: &str) -> UnsafeReason {
        UnsafeReason::LinkEscapes {
            target: target.into(),
        }
    }

    // ---- kinds and detection ---------------------------------------------

    #[test]
    fn kind_names_and_codes_round_trip() {
        for (k, name, code) in [
            (PayloadKind::Raw, "raw", 0),
            (PayloadKind::Tar, "tar", 1),
            (PayloadKind::TarGz, "tar.gz", 2),
            (PayloadKind::Zip, "zip", 3),
        ] {
            assert_eq!((k.name(), k.code()), (name, code));
            assert_eq!(PayloadKind::from_name(name), Some(k));
            assert_eq!(PayloadKind::from_code(code), Some(k));
            assert_eq!(k.to_string(), name);
        }
        assert_eq!(PayloadKind::from_name("tgz"), None);
        assert_eq!(PayloadKind::from_code(4), None);
    }

    #[test]
    fn detects_kinds_by_extension_and_magic() {
        let t = TempDir::new();
        let cases = [
            ("posix.tar", safe_tar(false), PayloadKind::Tar),
            ("gnu.TAR", safe_tar(true), PayloadKind::Tar),
            ("a.tar.gz", gz(&safe_tar(false)), PayloadKind::TarGz),
            ("a.tgz", gz(&safe_tar(true)), PayloadKind::TarGz),
            ("a.zip", safe_zip(), PayloadKind::Zip),
            ("fw.bin", b"\x7fELF anything".to_vec(), PayloadKind::Raw),
            ("image.gz", gz(b"kernel"), PayloadKind::Raw),
            ("empty.tar", vec![0u8; 2 * BLOCK], PayloadKind::Tar),
        ];
        for (name, bytes, kind) in cases {
            let p = t.write(name, &bytes);
            assert_eq!(detect_kind(&p).unwrap(), kind, "{name}");
        }
        let empty_zip = zip::ZipWriter::new(Cursor::new(Vec::new()))
            .finish()
            .unwrap()
            .into_inner();
        assert!(empty_zip.starts_with(ZIP_EMPTY_MAGIC));
        let p = t.write("empty.zip", &empty_zip);
        assert_eq!(detect_kind(&p).unwrap(), PayloadKind::Zip);
        assert_eq!(inspect(&p, PayloadKind::Zip).unwrap().entries, 0);
        let p = t.write("empty.tar", &[0u8; 2 * BLOCK]);
        assert_eq!(inspect(&p, PayloadKind::Tar).unwrap().entries, 0);
    }

    #[test]
    fn extension_contradicting_content_is_an_error_naming_the_file() {
        let t = TempDir::new();
        let cases = [
            ("rootfs.tar.gz", safe_zip(), "a zip archive"),
            ("rootfs.tar.gz", safe_tar(false), "a tar archive"),
            ("rootfs.tar.gz", gz(b"just text"), "not a tar archive"),
            ("update.zip", safe_tar(true), "a tar archive"),
            ("update.tar", gz(&safe_tar(false)), "gzip data"),
            ("update.tar", b"hello".to_vec(), "unrecognized data"),
            ("update.zip", Vec::new(), "an empty file"),
        ];
        for (name, bytes, found) in cases {
            let p = t.write(name, &bytes);
            let err = detect_kind(&p).unwrap_err();
            let msg = err.to_string();
            assert!(
                matches!(err, ArchiveError::KindMismatch { .. }),
                "{name}: {err:?}"
            );
            assert!(msg.contains(name) && msg.contains(found), "{msg}");
        }
    }

    #[test]
    fn raw_payload_and_io_errors() {
        let t = TempDir::new();
        let p = t.write("fw.bin", &[0xAA; 1000]);
        assert_eq!(detect_kind(&p).unwrap(), PayloadKind::Raw);
        assert_eq!(
            inspect(&p, PayloadKind::Raw).unwrap(),
            ArchiveSummary {
                kind: PayloadKind::Raw,
                entries: 0,
                regular_files: 0,
                total_unpacked_size: 1000,
            }
        );
        let missing = t.0.join("missing.tar");
        assert!(matches!(
            detect_kind(&missing),
            Err(ArchiveError::Io { .. })
        ));
        assert!(matches!(
            inspect(&t.0, PayloadKind::Tar),
            Err(ArchiveError::Io { .. })
        ));
    }

    // ---- safe archives ----------------------------------------------------

    #[test]
    fn safe_tar_targz_zip_are_accepted_with_counts() {
        assert_eq!(
            inspect_bytes("a.tar", &safe_tar(false)).unwrap(),
            expect_safe(PayloadKind::Tar)
        );
        assert_eq!(
            inspect_bytes("b.tar", &safe_tar(true)).unwrap(),
            expect_safe(PayloadKind::Tar)
        );
        assert_eq!(
            inspect_bytes("c.tar.gz", &gz(&safe_tar(false))).unwrap(),
            expect_safe(PayloadKind::TarGz)
        );
        assert_eq!(
            inspect_bytes("d.zip", &safe_zip()).unwrap(),
            expect_safe(PayloadKind::Zip)
        );
    }

    #[test]
    fn concatenated_gzip_members_are_read_entirely() {
        let tar = safe_tar(false);
        let mut two = gz(&tar[..1024]);
        two.extend(gz(&tar[1024..]));
        assert_eq!(
            inspect_bytes("multi.tar.gz", &two).unwrap(),
            expect_safe(PayloadKind::TarGz)
        );
        // An unsafe entry hidden in a second member is still seen.
        let evil = RawTar::default().file("../evil", b"x").finish();
        let mut smuggled = gz(&tar[..tar.len() - 2 * BLOCK]);
        smuggled.extend(gz(&evil));
        assert_unsafe(
            inspect_bytes("smuggle.tar.gz", &smuggled),
            "../evil",
            UnsafeReason::ParentTraversal,
        );
    }

    #[test]
    fn tar_metadata_headers_root_dir_and_inner_links() {
        // GNU long name ('L') and PAX path are metadata: one entry each.
        let long = format!("{}/file.txt", "d".repeat(150));
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        b.append_data(&mut h, &long, &b"hi"[..]).unwrap();
        b.append_pax_extensions([("path", b"p/pax-name".as_slice())])
            .unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_size(1);
        b.append_data(&mut h, "short", &b"x"[..]).unwrap();
        let s = inspect_bytes("long.tar", &b.into_inner().unwrap()).unwrap();
        assert_eq!(
            (s.entries, s.regular_files, s.total_unpacked_size),
            (2, 2, 3)
        );

        // `tar -C dir -cf x.tar .` style, with links staying inside.
        let t = RawTar::default()
            .dir("./")
            .dir("./x/")
            .symlink("./x/y", "..")
            .symlink("./x/up", "../x/./y")
            .file("./x/f", b"abc")
            .hardlink("./x/h", "x/f")
            .hardlink("./x/h2", "x/y/x/f")
            .symlink("./self", ".")
            .finish();
        let s = inspect_bytes("root.tar", &t).unwrap();
        assert_eq!(
            (s.entries, s.regular_files, s.total_unpacked_size),
            (8, 1, 3)
        );
    }

    // ---- unsafe tar entries ----------------------------------------------

    #[test]
    fn tar_absolute_and_parent_paths() {
        for (name, reason) in [
            ("/etc/passwd", UnsafeReason::AbsolutePath),
            ("C:/Windows/x", UnsafeReason::AbsolutePath),
            ("\\\\server\\share\\x", UnsafeReason::AbsolutePath),
            ("../etc/passwd", UnsafeReason::ParentTraversal),
            ("a/../../x", UnsafeReason::ParentTraversal),
            ("a/b/..", UnsafeReason::ParentTraversal),
        ] {
            let t = RawTar::default().file("ok", b"1").file(name, b"x").finish();
            assert_unsafe(inspect_bytes("t.tar", &t), name, reason);
        }
        let t = RawTar::default().dir("..//").finish();
        assert_unsafe(
            inspect_bytes("t.tar", &t),
            "..//",
            UnsafeReason::ParentTraversal,
        );
    }

    #[test]
    fn tar_display_names_entry_and_reason() {
        let t = TempDir::new();
        let p = t.write(
            "rootfs.tar.gz",
            &gz(&RawTar::default().file("../etc/passwd", b"x").finish()),
        );
        let err = inspect(&p, detect_kind(&p).unwrap()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "unsafe entry \"../etc/passwd\" in {}: path leaves the archive (..)",
                p.display()
            )
        );
        assert_eq!(err.path(), p);
    }

    #[test]
    fn tar_links_escaping() {
        let cases: [(RawTar, &str, &str); 6] = [
            (
                RawTar::default().symlink("l", "../../etc"),
                "l",
                "../../etc",
            ),
            (
                RawTar::default().symlink("d/l", "/etc/shadow"),
                "d/l",
                "/etc/shadow",
            ),
            (
                RawTar::default().symlink("d/l", "x/../../.."),
                "d/l",
                "x/../../..",
            ),
            (RawTar::default().hardlink("h", "../x"), "h", "../x"),
            (
                RawTar::default().hardlink("h", "/etc/passwd"),
                "h",
                "/etc/passwd",
            ),
            // Each target looks fine alone, but x/y is the root, so x/y/z is
            // root/z and `../..` from x/y leaves it.
            (
                RawTar::default()
                    .dir("x/")
                    .symlink("x/y", "..")
                    .symlink("x/y/z", "../.."),
                "x/y/z",
                "../..",
            ),
        ];
        for (t, entry, target) in cases {
            assert_unsafe(inspect_bytes("l.tar", &t.finish()), entry, escapes(target));
        }
        // A link loop cannot be shown to stay inside: refused.
        let t = RawTar::default()
            .symlink("a", "b")
            .symlink("b", "a")
            .finish();
        assert_unsafe(inspect_bytes("loop.tar", &t), "a", escapes("b"));
        // A hard link through an in-archive symlink pointing outside.
        let t = RawTar::default()
            .symlink("up", ".")
            .hardlink("h", "up/../x")
            .finish();
        assert_unsafe(inspect_bytes("h.tar", &t), "h", escapes("up/../x"));
    }

    #[test]
    fn tar_devices_fifos_and_exotic_types() {
        for ty in [b'3', b'4', b'6'] {
            let t = RawTar::default().entry(b"dev/x", ty, b"", b"").finish();
            assert_unsafe(
                inspect_bytes("d.tar", &t),
                "dev/x",
                UnsafeReason::DeviceOrFifo,
            );
        }
        for (ty, what) in [
            (b'V', "GNU volume label"),
            (b'D', "GNU dumpdir"),
            (b'Z', "tar type 'Z'"),
        ] {
            let t = RawTar::default().entry(b"odd", ty, b"", b"").finish();
            assert_unsafe(
                inspect_bytes("d.tar", &t),
                "odd",
                UnsafeReason::UnsupportedType(what.into()),
            );
        }
        // PAX-format GNU sparse file: real name hidden in GNU.sparse.name.
        let t = RawTar::default()
            .entry(
                b"PaxHeaders/x",
                b'x',
                &pax(&[("GNU.sparse.name", b"../evil"), ("GNU.sparse.major", b"1")]),
                b"",
            )
            .file("GNUSparseFile.0/x", b"")
            .finish();
        assert_unsafe(
            inspect_bytes("s.tar", &t),
            "GNUSparseFile.0/x",
            UnsafeReason::UnsupportedType("GNU sparse file (PAX)".into()),
        );
        // Global header rewriting paths.
        let t = RawTar::default()
            .entry(b"pax_global_header", b'g', &pax(&[("path", b"../x")]), b"")
            .file("a", b"")
            .finish();
        assert_unsafe(
            inspect_bytes("g.tar", &t),
            "pax_global_header",
            UnsafeReason::UnsupportedType("PAX global header setting \"path\"".into()),
        );
        // A harmless global header (mtime) is metadata only.
        let t = RawTar::default()
            .entry(b"pax_global_header", b'g', &pax(&[("mtime", b"1")]), b"")
            .file("a", b"")
            .finish();
        assert_eq!(inspect_bytes("g.tar", &t).unwrap().entries, 1);
    }

    #[test]
    fn tar_long_names_are_checked_by_their_real_name() {
        let t = RawTar::default()
            .entry(b"././@LongLink", b'L', b"../../evil\0", b"")
            .file("innocent", b"x")
            .finish();
        assert_unsafe(
            inspect_bytes("l.tar", &t),
            "../../evil",
            UnsafeReason::ParentTraversal,
        );

        let t = RawTar::default()
            .entry(
                b"PaxHeaders/a",
                b'x',
                &pax(&[("path", b"/etc/cron.d/x")]),
                b"",
            )
            .file("innocent", b"x")
            .finish();
        assert_unsafe(
            inspect_bytes("p.tar", &t),
            "/etc/cron.d/x",
            UnsafeReason::AbsolutePath,
        );

        let t = RawTar::default()
            .entry(
                b"PaxHeaders/a",
                b'x',
                &pax(&[("linkpath", b"../../../etc")]),
                b"",
            )
            .symlink("l", "innocent")
            .finish();
        assert_unsafe(inspect_bytes("p.tar", &t), "l", escapes("../../../etc"));

        // Repeated keys: the tar crate takes the first, GNU tar the last.
        let t = RawTar::default()
            .entry(
                b"PaxHeaders/a",
                b'x',
                &pax(&[("path", b"safe"), ("path", b"../evil")]),
                b"",
            )
            .file("innocent", b"x")
            .finish();
        assert_corrupt(inspect_bytes("p.tar", &t), "repeats key");
    }

    /// Metadata members are size-checked before they are read, and a PAX
    /// size that differs from the header's is refused (the data would be
    /// framed differently by GNU tar).
    #[test]
    fn tar_metadata_members_are_bounded() {
        let big_name = vec![b'a'; 5000];
        let t = RawTar::default()
            .entry(b"././@LongLink", b'L', &big_name, b"")
            .file("x", b"")
            .finish();
        assert_unsafe(
            inspect_bytes("l.tar", &t),
            "././@LongLink",
            UnsafeReason::MetadataTooLarge {
                what: "GNU long name/link member",
                size: 5000,
                limit: MAX_LONG_NAME_SIZE,
            },
        );
        let t = RawTar::default()
            .entry(b"PaxHeaders/a", b'x', &vec![b'\n'; 70_000], b"")
            .file("x", b"")
            .finish();
        assert_unsafe(
            inspect_bytes("p.tar", &t),
            "PaxHeaders/a",
            UnsafeReason::MetadataTooLarge {
                what: "PAX extended header",
                size: 70_000,
                limit: MAX_PAX_SIZE,
            },
        );
        let t = RawTar::default()
            .entry(b"PaxHeaders/a", b'x', &pax(&[("size", b"0")]), b"")
            .file("x", b"data")
            .finish();
        assert_unsafe(
            inspect_bytes("p.tar", &t),
            "x",
            UnsafeReason::UnsupportedType(
                "PAX size record that differs from the header size".into(),
            ),
        );
        // An accurate PAX size is fine; an extension member with no entry
        // after it is corrupt.
        let t = RawTar::default()
            .entry(b"PaxHeaders/a", b'x', &pax(&[("size", b"4")]), b"")
            .file("x", b"data")
            .finish();
        assert_eq!(inspect_bytes("p.tar", &t).unwrap().entries, 1);
        let t = RawTar::default()
            .entry(b"././@LongLink", b'L', b"name\0", b"")
            .finish();
        assert_corrupt(inspect_bytes("l.tar", &t), "no future member");
    }

    #[test]
    fn tar_duplicates_after_normalization() {
        for (first, second) in [
            ("a/b", "a/b"),
            ("a/b", "a/./b"),
            ("a/b", "a//b"),
            ("a/b", "./a/b"),
        ] {
            let t = RawTar::default()
                .file(first, b"1")
                .file(second, b"2")
                .finish();
            assert_unsafe(
                inspect_bytes("d.tar", &t),
                second,
                UnsafeReason::DuplicateName,
            );
        }
        let t = RawTar::default().dir("a/").file("a", b"2").finish();
        assert_unsafe(inspect_bytes("d.tar", &t), "a", UnsafeReason::DuplicateName);
        let t = RawTar::default()
            .file("a", b"1")
            .symlink("a/", "b")
            .finish();
        assert_unsafe(
            inspect_bytes("d.tar", &t),
            "a/",
            UnsafeReason::DuplicateName,
        );
        let t = RawTar::default().file("./", b"1").finish();
        assert_unsafe(
            inspect_bytes("d.tar", &t),
            "./",
            UnsafeReason::UnsupportedType("non-directory entry naming the archive root".into()),
        );
    }

    #[test]
    fn tar_non_utf8_and_too_many_entries() {
        let t = RawTar::default().entry(b"bad\xff", b'0', b"", b"").finish();
        assert_unsafe(
            inspect_bytes("u.tar", &t),
            "bad\u{fffd}",
            UnsafeReason::NonUtf8Name,
        );
        let t = RawTar::default().entry(b"l", b'2', b"", b"t\xfe").finish();
        assert_unsafe(inspect_bytes("u.tar", &t), "l", UnsafeReason::NonUtf8Name);

        let t = RawTar::default()
            .file("1", b"")
            .file("2", b"")
            .file("3", b"")
            .file("4", b"")
            .finish();
        let tmp = TempDir::new();
        let p = tmp.write("many.tar", &t);
        assert_unsafe(
            inspect_with_limit(&p, PayloadKind::Tar, 3),
            "4",
            UnsafeReason::TooManyEntries,
        );
        assert_eq!(
            inspect_with_limit(&p, PayloadKind::Tar, 4).unwrap().entries,
            4
        );
    }

    #[test]
    fn tar_corruption_is_reported_not_panicked() {
        let good = RawTar::default()
            .file("a", &[7u8; 1000])
            .file("b", b"x")
            .finish();
        // Bad header checksum.
        let mut bad = good.clone();
        bad[0] = b'z';
        assert_corrupt(inspect_bytes("c.tar", &bad), "checksum");
        // Data ends early.
        assert_corrupt(inspect_bytes("c.tar", &good[..BLOCK + 600]), "ends early");
        // Header cut short.
        assert_corrupt(
            inspect_bytes("c.tar", &good[..2 * BLOCK + BLOCK + 100]),
            "entire block",
        );
        // Something after the end-of-archive marker.
        let mut trailing = good.clone();
        trailing.extend(RawTar::default().file("../evil", b"x").finish());
        let r = inspect_bytes("c.tar", &trailing);
        assert_corrupt(r, "after the tar end-of-archive marker");
        // Link with data (parsers disagree on skipping it).
        let t = RawTar::default().entry(b"l", b'2', b"data", b"t").finish();
        assert_corrupt(inspect_bytes("c.tar", &t), "declares 4 data bytes");
    }

    #[test]
    fn targz_corruption_and_truncation() {
        let good = gz(&RawTar::default().file("a", &[7u8; 5000]).finish());
        assert_eq!(
            inspect_bytes("ok.tar.gz", &good)
                .unwrap()
                .total_unpacked_size,
            5000
        );
        let mut flipped = good.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 0xff;
        flipped[mid + 1] ^= 0x55;
        assert!(matches!(
            inspect_bytes("bad.tar.gz", &flipped),
            Err(ArchiveError::Corrupt { .. })
        ));
        for cut in [12, good.len() / 2, good.len() - 4] {
            assert!(
                matches!(
                    inspect_bytes("cut.tar.gz", &good[..cut]),
                    Err(ArchiveError::Corrupt { .. })
                ),
                "cut at {cut}"
            );
        }
        let mut trailing = good.clone();
        trailing.extend_from_slice(b"garbage after the gzip member");
        assert!(matches!(
            inspect_bytes("trail.tar.gz", &trailing),
            Err(ArchiveError::Corrupt { .. })
        ));
        // Header-level gzip damage caught already by detection.
        let mut bad_header = good.clone();
        bad_header[2] = 0x07; // compression method != deflate
        assert!(matches!(
            inspect_bytes("h.tar.gz", &bad_header),
            Err(ArchiveError::Corrupt { .. })
        ));
    }

    // ---- unsafe zip entries ----------------------------------------------

    const REG: u32 = S_IFREG | 0o644;
    const LNK: u32 = S_IFLNK | 0o777;

    #[test]
    fn zip_absolute_and_parent_paths() {
        for (name, reason) in [
            ("/etc/passwd", UnsafeReason::AbsolutePath),
            ("\\evil", UnsafeReason::AbsolutePath),
            ("C:\\Windows\\evil", UnsafeReason::AbsolutePath),
            ("\\\\srv\\share", UnsafeReason::AbsolutePath),
            ("../x", UnsafeReason::ParentTraversal),
            ("a\\..\\..\\x", UnsafeReason::ParentTraversal),
        ] {
            let z = raw_zip(&[zent(b"ok", REG, b"1"), zent(name.as_bytes(), REG, b"x")]);
            assert_unsafe(inspect_bytes("z.zip", &z), name, reason);
        }
        // ZipWriter writes such names too.
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        w.start_file("../../etc/passwd", SimpleFileOptions::default())
            .unwrap();
        let z = w.finish().unwrap().into_inner();
        assert_unsafe(
            inspect_bytes("w.zip", &z),
            "../../etc/passwd",
            UnsafeReason::ParentTraversal,
        );
    }

    #[test]
    fn zip_symlinks_escaping() {
        for (name, target) in [
            ("l", "../../etc"),
            ("d/l", "/etc/shadow"),
            ("d/l", "..\\..\\x"),
            ("d/l", "C:/x"),
        ] {
            let z = raw_zip(&[zent(name.as_bytes(), LNK, target.as_bytes())]);
            assert_unsafe(inspect_bytes("z.zip", &z), name, escapes(target));
        }
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = SimpleFileOptions::default();
        w.add_directory("x/", opts).unwrap();
        w.add_symlink("x/y", "..", opts).unwrap();
        w.add_symlink("x/y/z", "../..", opts).unwrap();
        let z = w.finish().unwrap().into_inner();
        assert_unsafe(inspect_bytes("w.zip", &z), "x/y/z", escapes("../.."));
    }

    #[test]
    fn zip_types_duplicates_and_names() {
        for mode in [S_IFIFO | 0o644, S_IFCHR | 0o600, S_IFBLK | 0o600] {
            let z = raw_zip(&[zent(b"dev", mode, b"")]);
            assert_unsafe(
                inspect_bytes("z.zip", &z),
                "dev",
                UnsafeReason::DeviceOrFifo,
            );
        }
        let z = raw_zip(&[zent(b"sock", S_IFSOCK | 0o755, b"")]);
        assert_unsafe(
            inspect_bytes("z.zip", &z),
            "sock",
            UnsafeReason::UnsupportedType("socket".into()),
        );
        for (a, b) in [
            ("a", "a"),
            ("a/b", "a/./b"),
            ("a/b", "a//b"),
            ("a/b", "a\\b"),
            ("a/", "a"),
        ] {
            let z = raw_zip(&[zent(a.as_bytes(), 0, b""), zent(b.as_bytes(), 0, b"")]);
            assert_unsafe(inspect_bytes("z.zip", &z), b, UnsafeReason::DuplicateName);
        }
        let z = raw_zip(&[zent(b"bad\xff\xfe", REG, b"")]);
        assert!(matches!(
            inspect_bytes("z.zip", &z),
            Err(ArchiveError::UnsafeEntry {
                reason: UnsafeReason::NonUtf8Name,
                ..
            })
        ));
        let z = raw_zip(&[zent(b"nul\0../../x", REG, b"")]);
        assert_unsafe(
            inspect_bytes("z.zip", &z),
            "nul\0../../x",
            UnsafeReason::NonUtf8Name,
        );

        let z = raw_zip(&[
            zent(b"1", REG, b""),
            zent(b"2", REG, b""),
            zent(b"3", REG, b""),
            zent(b"4", REG, b""),
        ]);
        let tmp = TempDir::new();
        let p = tmp.write("many.zip", &z);
        assert_unsafe(
            inspect_with_limit(&p, PayloadKind::Zip, 3),
            "4",
            UnsafeReason::TooManyEntries,
        );
        let s = inspect_with_limit(&p, PayloadKind::Zip, 4).unwrap();
        assert_eq!((s.entries, s.regular_files), (4, 4));
    }

    #[test]
    fn zip_local_header_mismatch_and_corruption() {
        let mut e = zent(b"safe.txt", REG, b"x");
        e.local = b"../../evil".to_vec();
        let z = raw_zip(&[e]);
        assert_corrupt(
            inspect_bytes("m.zip", &z),
            "local file headers disagree with the central directory",
        );

        // Unicode Path extra field hiding a traversal in the header name.
        let header_name = b"..\\..\\evil\xff".to_vec();
        let mut crc = flate2::Crc::new();
        crc.update(&header_name);
        let mut extra = vec![0x75, 0x70];
        extra.extend_from_slice(&(5u16 + 4).to_le_bytes());
        extra.push(1);
        extra.extend_from_slice(&crc.sum().to_le_bytes());
        extra.extend_from_slice(b"safe");
        let mut e = zent(&header_name, REG, b"x");
        e.extra = extra;
        assert_unsafe(
            inspect_bytes("u.zip", &raw_zip(&[e])),
            "..\\..\\evil\u{fffd}",
            UnsafeReason::ParentTraversal,
        );

        let good = safe_zip();
        // Truncated: end record and part of the central directory gone.
        assert!(matches!(
            inspect_bytes("t.zip", &good[..good.len() - 40]),
            Err(ArchiveError::Corrupt { .. })
        ));
        // Damaged stored data: CRC mismatch.
        let mut z = raw_zip(&[zent(b"f", REG, b"hello world")]);
        let pos = z.windows(5).position(|w| w == b"hello").unwrap();
        z[pos] = b'j';
        assert!(matches!(
            inspect_bytes("crc.zip", &z),
            Err(ArchiveError::Corrupt { .. })
        ));
        // Encrypted entries cannot be checked.
        let mut z = raw_zip(&[zent(b"f", REG, b"x")]);
        for sig in [ZIP_LOCAL_MAGIC.as_slice(), ZIP_CENTRAL_MAGIC.as_slice()] {
            let at = z.windows(4).position(|w| w == sig).unwrap();
            let flags = if sig == ZIP_LOCAL_MAGIC {
                at + 6
            } else {
                at + 8
            };
            z[flags] |= 1;
        }
        assert!(matches!(
            inspect_bytes("enc.zip", &z),
            Err(ArchiveError::UnsafeEntry {
                reason: UnsafeReason::UnsupportedType(_),
                ..
            })
        ));
    }
}
