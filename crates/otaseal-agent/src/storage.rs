//! The one storage layer every durable write goes through (slot data, stored
//! envelopes, the state file, the file bootloader's variables).
//!
//! [`RealFs`] is the device's file system; [`FaultFs`] is an in-memory file
//! system that counts every mutating operation and can "cut the power" before
//! any of them, discarding what was not fsynced, so that tests can enumerate
//! every cut point of the install/boot/confirm state machine
//! (`spec/install.md` section 6).

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Component, Path, PathBuf};

/// A reader that can seek (zip archives need it).
pub trait ReadSeek: Read + Seek {}
impl<T: Read + Seek> ReadSeek for T {}

/// A handle to a file opened for writing.
pub type Fd = u64;

/// Durable storage: the primitives of a POSIX file system, in the order the
/// caller issues them. Nothing is durable until it is synced: file data by
/// [`Storage::sync`], directory entries (create, rename, remove) by
/// [`Storage::sync_dir`] on their parent.
pub trait Storage {
    /// A file's whole content (small files: state, envelopes), `None` when absent.
    fn read(&mut self, path: &Path) -> io::Result<Option<Vec<u8>>>;
    /// A reader over a file or block device (large slot data, archives).
    fn open_read(&mut self, path: &Path) -> io::Result<Box<dyn ReadSeek>>;
    /// Whether anything exists at `path` (symbolic links are not followed).
    fn exists(&mut self, path: &Path) -> bool;
    /// Creates a new file; fails if anything exists at `path`.
    fn create_new(&mut self, path: &Path) -> io::Result<Fd>;
    /// Opens a slot target (file or block device) for writing from offset 0,
    /// creating a missing file, never truncating (a block device cannot be).
    fn open_slot(&mut self, path: &Path) -> io::Result<Fd>;
    /// Appends at the handle's position.
    fn write(&mut self, fd: Fd, data: &[u8]) -> io::Result<()>;
    /// Makes the file's data durable (`fsync`).
    fn sync(&mut self, fd: Fd) -> io::Result<()>;
    /// Sets a file's permission bits (extracted archive members).
    fn set_mode(&mut self, fd: Fd, mode: u32) -> io::Result<()>;
    /// Forgets the handle.
    fn close(&mut self, fd: Fd) -> io::Result<()>;
    /// Atomically replaces `to` with `from` (same directory or file system).
    fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()>;
    /// Makes the directory's entries durable (`fsync` on the directory).
    fn sync_dir(&mut self, dir: &Path) -> io::Result<()>;
    /// Creates a directory; fails if anything exists at `path`.
    fn mkdir(&mut self, path: &Path) -> io::Result<()>;
    /// Creates a symbolic link `link` pointing at `target`.
    fn symlink(&mut self, target: &str, link: &Path) -> io::Result<()>;
    /// Removes a file, link or directory tree; a missing path is not an error.
    fn remove_all(&mut self, path: &Path) -> io::Result<()>;

    /// Replaces a small file atomically: write `NAME.tmp`, fsync it, rename
    /// it over `NAME`, fsync the directory. A reader after a power cut sees
    /// the old or the new content, never a mix.
    fn write_atomic(&mut self, path: &Path, data: &[u8]) -> io::Result<()> {
        let tmp = tmp_path(path);
        self.remove_all(&tmp)?;
        let fd = self.create_new(&tmp)?;
        let r = self.write(fd, data).and_then(|()| self.sync(fd));
        self.close(fd)?;
        r?;
        self.rename(&tmp, path)?;
        self.sync_dir(parent(path))
    }
}

/// `NAME.tmp` beside `path`.
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// The directory holding `path` (`.` for a bare name).
pub fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// The real file system.
#[derive(Default)]
pub struct RealFs {
    files: HashMap<Fd, File>,
    next: Fd,
}

impl RealFs {
    /// A storage over the process's file system.
    pub fn new() -> RealFs {
        RealFs::default()
    }

    fn file(&mut self, fd: Fd) -> io::Result<&mut File> {
        self.files
            .get_mut(&fd)
            .ok_or_else(|| io::Error::other("bad file handle"))
    }

    fn keep(&mut self, f: File) -> Fd {
        self.next = self.next.wrapping_add(1);
        self.files.insert(self.next, f);
        self.next
    }
}

impl Storage for RealFs {
    fn read(&mut self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        match fs::read(path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
    fn open_read(&mut self, path: &Path) -> io::Result<Box<dyn ReadSeek>> {
        Ok(Box::new(File::open(path)?))
    }
    fn exists(&mut self, path: &Path) -> bool {
        fs::symlink_metadata(path).is_ok()
    }
    fn create_new(&mut self, path: &Path) -> io::Result<Fd> {
        let f = OpenOptions::new().write(true).create_new(true).open(path)?;
        Ok(self.keep(f))
    }
    fn open_slot(&mut self, path: &Path) -> io::Result<Fd> {
        #[allow(clippy::suspicious_open_options)] // never truncate: block devices
        let f = OpenOptions::new().write(true).create(true).open(path)?;
        Ok(self.keep(f))
    }
    fn write(&mut self, fd: Fd, data: &[u8]) -> io::Result<()> {
        self.file(fd)?.write_all(data)
    }
    fn sync(&mut self, fd: Fd) -> io::Result<()> {
        self.file(fd)?.sync_all()
    }
    fn set_mode(&mut self, fd: Fd, mode: u32) -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        self.file(fd)?
            .set_permissions(fs::Permissions::from_mode(mode & 0o7777))
    }
    fn close(&mut self, fd: Fd) -> io::Result<()> {
        self.files.remove(&fd);
        Ok(())
    }
    fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }
    fn sync_dir(&mut self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
    fn mkdir(&mut self, path: &Path) -> io::Result<()> {
        fs::create_dir(path)
    }
    fn symlink(&mut self, target: &str, link: &Path) -> io::Result<()> {
        std::os::unix::fs::symlink(target, link)
    }
    fn remove_all(&mut self, path: &Path) -> io::Result<()> {
        let r = match fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() => fs::remove_dir_all(path),
            Ok(_) => fs::remove_file(path),
            Err(e) => Err(e),
        };
        match r {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            r => r,
        }
    }
}

/// What happens to unsynced state when [`FaultFs`] cuts the power.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CutMode {
    /// Everything not fsynced is lost: file data since the file's last
    /// `sync`, directory entries since the directory's last `sync_dir`.
    Lose,
    /// Everything written survives (a cache that happened to flush).
    Keep,
}

type Ino = usize;

#[derive(Clone, Debug)]
enum Node {
    File {
        data: Vec<u8>,
        synced: Vec<u8>,
    },
    Dir {
        live: BTreeMap<String, Ino>,
        durable: BTreeMap<String, Ino>,
    },
    Link {
        target: String,
    },
}

/// An in-memory file system (inodes and directories, as POSIX has them)
/// that counts mutating operations and can cut the power before any of them.
#[derive(Clone, Debug)]
pub struct FaultFs {
    nodes: Vec<Node>,
    fds: HashMap<Fd, (Ino, usize)>,
    next_fd: Fd,
    ops: u64,
    cut_at: Option<u64>,
    dead: bool,
    /// One line per mutating operation, in order (for failure messages).
    pub log: Vec<String>,
}

impl Default for FaultFs {
    fn default() -> Self {
        FaultFs::new()
    }
}

fn cut_error() -> io::Error {
    io::Error::other("power cut (fault storage)")
}

impl FaultFs {
    /// An empty file system (only `/`).
    pub fn new() -> FaultFs {
        FaultFs {
            nodes: vec![Node::Dir {
                live: BTreeMap::new(),
                durable: BTreeMap::new(),
            }],
            fds: HashMap::new(),
            next_fd: 0,
            ops: 0,
            cut_at: None,
            dead: false,
            log: Vec::new(),
        }
    }

    /// Mutating operations performed so far.
    pub fn ops(&self) -> u64 {
        self.ops
    }

    /// Cut the power before the `n`-th mutating operation from now (0: the next).
    pub fn cut_after(&mut self, n: u64) {
        self.cut_at = Some(self.ops.saturating_add(n));
    }

    /// Whether the power was cut (every operation fails until [`FaultFs::power_on`]).
    pub fn is_cut(&self) -> bool {
        self.dead
    }

    /// Restores power: applies `mode` to unsynced state, closes every handle.
    pub fn power_on(&mut self, mode: CutMode) {
        for node in &mut self.nodes {
            match node {
                Node::File { data, synced } => match mode {
                    CutMode::Lose => *data = synced.clone(),
                    CutMode::Keep => *synced = data.clone(),
                },
                Node::Dir { live, durable } => match mode {
                    CutMode::Lose => *live = durable.clone(),
                    CutMode::Keep => *durable = live.clone(),
                },
                Node::Link { .. } => {}
            }
        }
        self.fds.clear();
        self.cut_at = None;
        self.dead = false;
    }

    /// Makes everything durable, as a clean shutdown would (test setup).
    pub fn sync_all(&mut self) {
        let (cut, dead) = (self.cut_at.take(), self.dead);
        self.power_on(CutMode::Keep);
        self.cut_at = cut;
        self.dead = dead;
    }

    fn tick(&mut self, what: impl FnOnce() -> String) -> io::Result<()> {
        if self.dead {
            return Err(cut_error());
        }
        if self.cut_at == Some(self.ops) {
            self.dead = true;
            return Err(cut_error());
        }
        self.ops = self.ops.saturating_add(1);
        self.log.push(what());
        Ok(())
    }

    fn names(path: &Path) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for c in path.components() {
            match c {
                Component::RootDir | Component::CurDir => {}
                Component::Normal(n) => out.push(
                    n.to_str()
                        .ok_or_else(|| io::Error::other("non-UTF-8 path"))?
                        .to_owned(),
                ),
                _ => return Err(io::Error::other("unsupported path component")),
            }
        }
        Ok(out)
    }

    fn lookup(&self, path: &Path) -> io::Result<Option<Ino>> {
        let mut ino = 0;
        for name in Self::names(path)? {
            match &self.nodes[ino] {
                Node::Dir { live, .. } => match live.get(&name) {
                    Some(i) => ino = *i,
                    None => return Ok(None),
                },
                _ => return Err(io::Error::other("not a directory")),
            }
        }
        Ok(Some(ino))
    }

    /// The parent directory's inode and the last name of `path`.
    fn parent_of(&self, path: &Path) -> io::Result<(Ino, String)> {
        let mut names = Self::names(path)?;
        let name = names
            .pop()
            .ok_or_else(|| io::Error::other("no file name"))?;
        let mut ino = 0;
        for n in names {
            match &self.nodes[ino] {
                Node::Dir { live, .. } => {
                    ino = *live.get(&n).ok_or_else(|| {
                        io::Error::new(io::ErrorKind::NotFound, format!("no directory {n}"))
                    })?
                }
                _ => return Err(io::Error::other("not a directory")),
            }
        }
        match &self.nodes[ino] {
            Node::Dir { .. } => Ok((ino, name)),
            _ => Err(io::Error::other("not a directory")),
        }
    }

    fn entries(&mut self, dir: Ino) -> &mut BTreeMap<String, Ino> {
        match &mut self.nodes[dir] {
            Node::Dir { live, .. } => live,
            _ => unreachable!("parent_of returns directories"),
        }
    }

    fn add(&mut self, path: &Path, node: Node) -> io::Result<Ino> {
        let (dir, name) = self.parent_of(path)?;
        if self.entries(dir).contains_key(&name) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                path.display().to_string(),
            ));
        }
        self.nodes.push(node);
        let ino = self.nodes.len() - 1;
        self.entries(dir).insert(name, ino);
        Ok(ino)
    }

    fn new_fd(&mut self, ino: Ino) -> Fd {
        self.next_fd = self.next_fd.wrapping_add(1);
        self.fds.insert(self.next_fd, (ino, 0));
        self.next_fd
    }

    /// A file's current content (tests' direct access; no operation counted).
    pub fn contents(&self, path: &Path) -> Option<Vec<u8>> {
        match self.lookup(path).ok()?.map(|i| &self.nodes[i])? {
            Node::File { data, .. } => Some(data.clone()),
            _ => None,
        }
    }

    /// Writes a file durably without counting (test setup, e.g. tampering).
    pub fn put(&mut self, path: &Path, bytes: &[u8]) {
        match self.lookup(path).ok().flatten() {
            Some(i) => {
                self.nodes[i] = Node::File {
                    data: bytes.to_vec(),
                    synced: bytes.to_vec(),
                }
            }
            None => {
                let _ = self.add(
                    path,
                    Node::File {
                        data: bytes.to_vec(),
                        synced: bytes.to_vec(),
                    },
                );
            }
        }
    }

    /// The names in a directory (tests).
    pub fn list(&self, path: &Path) -> Vec<String> {
        match self.lookup(path).ok().flatten().map(|i| &self.nodes[i]) {
            Some(Node::Dir { live, .. }) => live.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }

    /// A symbolic link's target (tests).
    pub fn link_target(&self, path: &Path) -> Option<String> {
        match self.lookup(path).ok()?.map(|i| &self.nodes[i])? {
            Node::Link { target } => Some(target.clone()),
            _ => None,
        }
    }
}

impl Storage for FaultFs {
    fn read(&mut self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        if self.dead {
            return Err(cut_error());
        }
        match self.lookup(path)?.map(|i| &self.nodes[i]) {
            None => Ok(None),
            Some(Node::File { data, .. }) => Ok(Some(data.clone())),
            Some(_) => Err(io::Error::other("not a file")),
        }
    }
    fn open_read(&mut self, path: &Path) -> io::Result<Box<dyn ReadSeek>> {
        match self.read(path)? {
            Some(d) => Ok(Box::new(io::Cursor::new(d))),
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                path.display().to_string(),
            )),
        }
    }
    fn exists(&mut self, path: &Path) -> bool {
        matches!(self.lookup(path), Ok(Some(_)))
    }
    fn create_new(&mut self, path: &Path) -> io::Result<Fd> {
        self.tick(|| format!("create {}", path.display()))?;
        let ino = self.add(
            path,
            Node::File {
                data: Vec::new(),
                synced: Vec::new(),
            },
        )?;
        Ok(self.new_fd(ino))
    }
    fn open_slot(&mut self, path: &Path) -> io::Result<Fd> {
        self.tick(|| format!("open-slot {}", path.display()))?;
        let ino = match self.lookup(path)? {
            Some(i) => i,
            None => self.add(
                path,
                Node::File {
                    data: Vec::new(),
                    synced: Vec::new(),
                },
            )?,
        };
        Ok(self.new_fd(ino))
    }
    fn write(&mut self, fd: Fd, bytes: &[u8]) -> io::Result<()> {
        self.tick(|| format!("write {fd} {}", bytes.len()))?;
        let (ino, pos) = *self
            .fds
            .get(&fd)
            .ok_or_else(|| io::Error::other("bad handle"))?;
        let Node::File { data, .. } = &mut self.nodes[ino] else {
            return Err(io::Error::other("not a file"));
        };
        let end = pos + bytes.len();
        if data.len() < end {
            data.resize(end, 0);
        }
        data[pos..end].copy_from_slice(bytes);
        self.fds.insert(fd, (ino, end));
        Ok(())
    }
    fn sync(&mut self, fd: Fd) -> io::Result<()> {
        self.tick(|| format!("fsync {fd}"))?;
        let (ino, _) = *self
            .fds
            .get(&fd)
            .ok_or_else(|| io::Error::other("bad handle"))?;
        if let Node::File { data, synced } = &mut self.nodes[ino] {
            *synced = data.clone();
        }
        Ok(())
    }
    fn set_mode(&mut self, _fd: Fd, _mode: u32) -> io::Result<()> {
        Ok(())
    }
    fn close(&mut self, fd: Fd) -> io::Result<()> {
        self.fds.remove(&fd);
        Ok(())
    }
    fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        self.tick(|| format!("rename {} {}", from.display(), to.display()))?;
        let (fdir, fname) = self.parent_of(from)?;
        let (tdir, tname) = self.parent_of(to)?;
        let ino = self
            .entries(fdir)
            .remove(&fname)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, from.display().to_string()))?;
        self.entries(tdir).insert(tname, ino);
        Ok(())
    }
    fn sync_dir(&mut self, dir: &Path) -> io::Result<()> {
        self.tick(|| format!("fsync-dir {}", dir.display()))?;
        let ino = self
            .lookup(dir)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, dir.display().to_string()))?;
        if let Node::Dir { live, durable } = &mut self.nodes[ino] {
            *durable = live.clone();
        }
        Ok(())
    }
    fn mkdir(&mut self, path: &Path) -> io::Result<()> {
        self.tick(|| format!("mkdir {}", path.display()))?;
        self.add(
            path,
            Node::Dir {
                live: BTreeMap::new(),
                durable: BTreeMap::new(),
            },
        )
        .map(|_| ())
    }
    fn symlink(&mut self, target: &str, link: &Path) -> io::Result<()> {
        self.tick(|| format!("symlink {}", link.display()))?;
        self.add(
            link,
            Node::Link {
                target: target.to_owned(),
            },
        )
        .map(|_| ())
    }
    fn remove_all(&mut self, path: &Path) -> io::Result<()> {
        if self.lookup(path)?.is_none() {
            return if self.dead { Err(cut_error()) } else { Ok(()) };
        }
        self.tick(|| format!("remove {}", path.display()))?;
        let (dir, name) = self.parent_of(path)?;
        self.entries(dir).remove(&name);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsynced_data_and_entries_are_lost() {
        let mut fs = FaultFs::new();
        fs.mkdir(Path::new("/d")).unwrap();
        fs.sync_dir(Path::new("/")).unwrap();
        fs.write_atomic(Path::new("/d/x"), b"one").unwrap();
        let fd = fs.create_new(Path::new("/d/y")).unwrap();
        fs.write(fd, b"unsynced").unwrap();
        fs.power_on(CutMode::Lose);
        assert_eq!(fs.contents(Path::new("/d/x")).unwrap(), b"one");
        assert!(!fs.exists(Path::new("/d/y")));
    }

    #[test]
    fn atomic_replace_is_old_or_new_at_every_cut() {
        for mode in [CutMode::Lose, CutMode::Keep] {
            let mut n = 0;
            loop {
                let mut fs = FaultFs::new();
                fs.write_atomic(Path::new("/f"), b"old").unwrap();
                fs.cut_after(n);
                let done = fs.write_atomic(Path::new("/f"), b"new").is_ok();
                fs.power_on(mode);
                let got = fs.contents(Path::new("/f")).unwrap();
                assert!(got == b"old" || got == b"new", "{mode:?} cut {n}: {got:?}");
                if done {
                    assert_eq!(got, b"new");
                    break;
                }
                n += 1;
            }
        }
    }

    #[test]
    fn real_fs_atomic_replace() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let mut fs = RealFs::new();
        fs.write_atomic(&p, b"a").unwrap();
        fs.write_atomic(&p, b"b").unwrap();
        assert_eq!(fs.read(&p).unwrap().unwrap(), b"b");
        assert!(!fs.exists(&tmp_path(&p)));
    }
}
