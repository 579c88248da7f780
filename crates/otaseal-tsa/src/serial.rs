//! Unique, persistent time-stamp serial numbers.
//!
//! A serial number is 16 bytes (128 bits, within RFC 3161's 160-bit limit):
//! an 8-byte random prefix chosen when the store is created, then a 64-bit
//! big-endian counter. The prefix's first byte is in `0x40..=0x7f`, so the
//! DER INTEGER is always positive and exactly 16 content octets long. The
//! prefix keeps two stores (for example a test and a production TSA that
//! share a key by mistake) from issuing the same numbers.
//!
//! # Crash safety
//!
//! The file records a *reservation*: the counter value below which numbers
//! may already have been handed out. Before the first serial of a block is
//! used, the reservation is advanced by [`SerialStore::block`] numbers and
//! written with write-temp, fsync, rename, fsync-directory. A crash at any
//! point leaves either the old or the new reservation on disk, and a restart
//! continues from the reservation, so a serial is never reused; at most one
//! block of numbers is skipped. One small text file was chosen over SQLite:
//! the state is two numbers, and the rename protocol gives the same
//! atomicity without a C dependency.
//!
//! # Concurrency
//!
//! Within a process the state is behind a `Mutex`. Across processes the
//! store holds an exclusive advisory lock (`flock` through
//! `File::try_lock`) on `<path>.lock` for its lifetime: a second store on the
//! same path (another server process, or a second `SerialStore` in the same
//! process) fails to open instead of issuing duplicates.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const MAGIC: &str = "otaseal-tsa-serials 1";

/// Numbers reserved per file update by default.
pub const DEFAULT_BLOCK: u64 = 1024;

/// Errors of the serial store.
#[derive(Debug)]
pub enum SerialError {
    /// A file operation failed.
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The store file is not in the expected format.
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Another store (this or another process) holds the lock.
    Locked(PathBuf),
    /// The 64-bit counter is used up.
    Exhausted,
    /// No randomness for the prefix.
    Rng(String),
}

impl fmt::Display for SerialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SerialError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            SerialError::Corrupt { path, reason } => {
                write!(f, "{}: not a serial store: {reason}", path.display())
            }
            SerialError::Locked(path) => write!(
                f,
                "{}: serial store is in use by another time-stamp authority",
                path.display()
            ),
            SerialError::Exhausted => f.write_str("serial number counter exhausted"),
            SerialError::Rng(e) => write!(f, "random number generator: {e}"),
        }
    }
}

impl std::error::Error for SerialError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SerialError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

struct State {
    /// The next counter value to hand out.
    next: u64,
    /// Counter values below this are covered by the on-disk reservation.
    reserved: u64,
}

/// A persistent source of unique serial numbers (see the module docs).
pub struct SerialStore {
    path: PathBuf,
    prefix: [u8; 8],
    block: u64,
    state: Mutex<State>,
    _lock: File,
}

impl fmt::Debug for SerialStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SerialStore")
            .field("path", &self.path)
            .field("block", &self.block)
            .finish_non_exhaustive()
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SerialError + '_ {
    move |source| SerialError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex8(s: &str) -> Option<[u8; 8]> {
    if s.len() != 16 || !s.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 8];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

impl SerialStore {
    /// Opens the store at `path`, creating it (with a new random prefix) if
    /// it does not exist, with the default reservation block.
    pub fn open(path: &Path) -> Result<SerialStore, SerialError> {
        SerialStore::open_with_block(path, DEFAULT_BLOCK)
    }

    /// Like [`SerialStore::open`] with `block` numbers reserved per file
    /// update (at least 1).
    pub fn open_with_block(path: &Path, block: u64) -> Result<SerialStore, SerialError> {
        let block = block.max(1);
        let lock_path = lock_path(path);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(SerialError::Locked(path.into())),
            Err(fs::TryLockError::Error(e)) => return Err(io_err(&lock_path)(e)),
        }
        let (prefix, reserved) = match fs::read_to_string(path) {
            Ok(text) => parse(path, &text)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let mut prefix = [0u8; 8];
                getrandom::fill(&mut prefix).map_err(|e| SerialError::Rng(e.to_string()))?;
                prefix[0] = (prefix[0] & 0x3f) | 0x40;
                write_atomic(path, &prefix, 0)?;
                (prefix, 0)
            }
            Err(e) => return Err(io_err(path)(e)),
        };
        Ok(SerialStore {
            path: path.to_path_buf(),
            prefix,
            block,
            state: Mutex::new(State {
                next: reserved,
                reserved,
            }),
            _lock: lock,
        })
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Numbers reserved per file update.
    pub fn block(&self) -> u64 {
        self.block
    }

    /// The next serial number: 16 bytes, big-endian, positive.
    pub fn next_serial(&self) -> Result<[u8; 16], SerialError> {
        // A panic while holding the lock cannot leave the state inconsistent
        // (every update is a single assignment after the file is written).
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.next == u64::MAX {
            return Err(SerialError::Exhausted);
        }
        if st.next >= st.reserved {
            let new_reserved = st.next.saturating_add(self.block);
            write_atomic(&self.path, &self.prefix, new_reserved)?;
            st.reserved = new_reserved;
        }
        let counter = st.next;
        st.next += 1;
        let mut serial = [0u8; 16];
        serial[..8].copy_from_slice(&self.prefix);
        serial[8..].copy_from_slice(&counter.to_be_bytes());
        Ok(serial)
    }
}

fn lock_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

fn parse(path: &Path, text: &str) -> Result<([u8; 8], u64), SerialError> {
    let corrupt = |reason: &str| SerialError::Corrupt {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let mut lines = text.lines();
    if lines.next() != Some(MAGIC) {
        return Err(corrupt("missing header line"));
    }
    let prefix = lines
        .next()
        .and_then(|l| l.strip_prefix("prefix "))
        .and_then(unhex8)
        .filter(|p| (0x40..=0x7f).contains(&p[0]))
        .ok_or_else(|| corrupt("bad prefix line"))?;
    let reserved = lines
        .next()
        .and_then(|l| l.strip_prefix("reserved "))
        .filter(|v| !v.is_empty() && v.bytes().all(|c| c.is_ascii_digit()))
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| corrupt("bad reserved line"))?;
    if lines.next().is_some() {
        return Err(corrupt("trailing data"));
    }
    Ok((prefix, reserved))
}

/// Writes the store with write-temp + fsync + rename + fsync(directory).
fn write_atomic(path: &Path, prefix: &[u8; 8], reserved: u64) -> Result<(), SerialError> {
    let text = format!("{MAGIC}\nprefix {}\nreserved {reserved}\n", hex(prefix));
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(io_err(&tmp))?;
        f.write_all(text.as_bytes()).map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
    }
    fs::rename(&tmp, path).map_err(io_err(path))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::Arc;

    #[test]
    fn unique_persistent_and_locked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serials");
        let mut seen = HashSet::new();
        {
            let store = SerialStore::open_with_block(&path, 4).unwrap();
            assert!(matches!(
                SerialStore::open(&path),
                Err(SerialError::Locked(_))
            ));
            for _ in 0..10 {
                let s = store.next_serial().unwrap();
                assert!((0x40..=0x7f).contains(&s[0]));
                assert!(seen.insert(s));
            }
            // 10 used with blocks of 4: reserved up to 12 on disk.
            let text = fs::read_to_string(&path).unwrap();
            assert!(text.ends_with("reserved 12\n"), "{text}");
        }
        // "Crash" after 10: the restart skips to the reservation.
        let store = SerialStore::open_with_block(&path, 4).unwrap();
        let s = store.next_serial().unwrap();
        assert_eq!(u64::from_be_bytes(s[8..].try_into().unwrap()), 12);
        assert!(seen.insert(s));
        let prefixes: HashSet<_> = seen.iter().map(|s| s[..8].to_vec()).collect();
        assert_eq!(prefixes.len(), 1);
    }

    #[test]
    fn concurrent_threads_get_distinct_serials() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SerialStore::open_with_block(&dir.path().join("s"), 7).unwrap());
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let store = Arc::clone(&store);
                std::thread::spawn(move || {
                    (0..50)
                        .map(|_| store.next_serial().unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all = HashSet::new();
        for h in handles {
            for s in h.join().unwrap() {
                assert!(all.insert(s));
            }
        }
        assert_eq!(all.len(), 400);
    }

    #[test]
    fn corrupt_store_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        for bad in [
            "",
            "otaseal-tsa-serials 1\nprefix 00\nreserved 1\n",
            "otaseal-tsa-serials 1\nprefix 0011223344556677\nreserved 1\n",
            "otaseal-tsa-serials 1\nprefix 4011223344556677\nreserved -1\n",
            "otaseal-tsa-serials 1\nprefix 4011223344556677\nreserved 1\nx\n",
        ] {
            fs::write(&path, bad).unwrap();
            assert!(
                matches!(SerialStore::open(&path), Err(SerialError::Corrupt { .. })),
                "{bad:?}"
            );
        }
    }
}
