//! Extraction of a verified archive payload into a fresh directory, under the
//! archive-safety rules of `spec/install.md` section 7.
//!
//! The rules repeat what the signer enforces (`otaseal_sign::archive`) in a
//! smaller form: the agent must not depend on the signer crate (size, and the
//! signing code has no place on a device), and the device re-checks because a
//! signature proves origin, not the build host's care. Everything is written
//! through the [`Storage`] layer, so extraction is part of the power-cut
//! enumeration.

use std::collections::HashSet;
use std::io::{BufReader, Read};
use std::path::{Component, Path, PathBuf};

use flate2::bufread::MultiGzDecoder;
use otaseal_verify::manifest::PayloadKind;

use crate::error::AgentError;
use crate::storage::Storage;

/// Largest number of entries extracted from one archive.
pub const MAX_ENTRIES: usize = 1_000_000;

/// What extraction has seen so far.
struct Rules {
    names: HashSet<String>,
    dirs: HashSet<String>,
    links: HashSet<String>,
}

fn unsafe_entry(name: &str, why: &str) -> AgentError {
    AgentError::ArchiveUnsafe(format!("{name:?}: {why}"))
}

impl Rules {
    /// Checks a name; returns it normalized (no `.`, no trailing `/`).
    fn name(&mut self, raw: &[u8], is_dir: bool) -> Result<String, AgentError> {
        let name = std::str::from_utf8(raw)
            .map_err(|_| unsafe_entry(&String::from_utf8_lossy(raw), "name is not UTF-8"))?;
        if name.starts_with('/') {
            return Err(unsafe_entry(name, "absolute path"));
        }
        let mut parts = Vec::new();
        for c in Path::new(name).components() {
            match c {
                Component::Normal(p) => parts.push(p.to_str().unwrap_or_default()),
                Component::CurDir => {}
                _ => return Err(unsafe_entry(name, "'..' or a root component")),
            }
        }
        if parts.is_empty() {
            return Err(unsafe_entry(name, "empty name"));
        }
        let norm = parts.join("/");
        // Nothing may lie under a symbolic link of the same archive.
        let mut prefix = String::new();
        for p in &parts[..parts.len() - 1] {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(p);
            if self.links.contains(&prefix) {
                return Err(unsafe_entry(name, "lies under a symbolic link"));
            }
        }
        if !self.names.insert(norm.clone()) {
            // A directory listed after something created it implicitly is fine.
            if !(is_dir && self.dirs.contains(&norm)) {
                return Err(unsafe_entry(name, "duplicate name"));
            }
        }
        if self.names.len() > MAX_ENTRIES {
            return Err(unsafe_entry(name, "too many entries"));
        }
        Ok(norm)
    }

    /// A link target must be relative and stay inside the tree.
    fn link(&mut self, name: &str, target: &[u8]) -> Result<String, AgentError> {
        let target = std::str::from_utf8(target)
            .map_err(|_| unsafe_entry(name, "link target is not UTF-8"))?;
        if target.starts_with('/') || target.is_empty() {
            return Err(unsafe_entry(name, "absolute or empty link target"));
        }
        let mut depth: Vec<&str> = name.split('/').collect();
        depth.pop();
        for c in target.split('/') {
            match c {
                "" | "." => {}
                ".." => {
                    if depth.pop().is_none() {
                        return Err(unsafe_entry(name, "link points outside the slot"));
                    }
                }
                p => depth.push(p),
            }
        }
        self.links.insert(name.to_owned());
        Ok(target.to_owned())
    }
}

/// Extracts `archive` (of `kind`) into `<into>/tree`, fsyncing every file and
/// directory before returning.
pub fn extract(
    st: &mut dyn Storage,
    archive: &Path,
    kind: PayloadKind,
    into: &Path,
) -> Result<(), AgentError> {
    let root = into.join("tree");
    let io = |p: &Path| {
        let p = p.to_owned();
        move |e| AgentError::io(&p, e)
    };
    st.mkdir(&root).map_err(io(&root))?;
    let mut rules = Rules {
        names: HashSet::new(),
        dirs: HashSet::new(),
        links: HashSet::new(),
    };
    let mut made_dirs: Vec<PathBuf> = vec![root.clone()];
    let src = st.open_read(archive).map_err(io(archive))?;
    match kind {
        PayloadKind::Tar => tar_entries(st, src, &root, &mut rules, &mut made_dirs)?,
        PayloadKind::TarGz => tar_entries(
            st,
            Box::new(MultiGzDecoder::new(BufReader::new(src))),
            &root,
            &mut rules,
            &mut made_dirs,
        )?,
        PayloadKind::Zip => zip_entries(st, src, &root, &mut rules, &mut made_dirs)?,
        PayloadKind::Raw => {
            return Err(AgentError::Config("a raw payload is not extracted".into()));
        }
    }
    // Entries first, then each directory (deepest first), then the parent.
    made_dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for d in &made_dirs {
        st.sync_dir(d).map_err(io(d))?;
    }
    st.sync_dir(into).map_err(io(into))
}

/// Makes the parents of `norm` (implicit directories).
fn parents(
    st: &mut dyn Storage,
    root: &Path,
    norm: &str,
    rules: &mut Rules,
    made: &mut Vec<PathBuf>,
) -> Result<(), AgentError> {
    let parts: Vec<&str> = norm.split('/').collect();
    let mut prefix = String::new();
    for p in &parts[..parts.len() - 1] {
        if !prefix.is_empty() {
            prefix.push('/');
        }
        prefix.push_str(p);
        if rules.dirs.insert(prefix.clone()) {
            rules.names.insert(prefix.clone());
            let d = root.join(&prefix);
            st.mkdir(&d).map_err(|e| AgentError::io(&d, e))?;
            made.push(d);
        }
    }
    Ok(())
}

fn write_file(
    st: &mut dyn Storage,
    path: &Path,
    mode: u32,
    data: &mut dyn Read,
) -> Result<(), AgentError> {
    let io = |e| AgentError::io(path, e);
    let fd = st.create_new(path).map_err(io)?;
    let mut buf = vec![0u8; 64 * 1024];
    let r = (|| {
        loop {
            let n = data
                .read(&mut buf)
                .map_err(|e| AgentError::ArchiveUnsafe(format!("corrupt archive: {e}")))?;
            if n == 0 {
                break;
            }
            st.write(fd, &buf[..n]).map_err(io)?;
        }
        st.set_mode(fd, mode & 0o777).map_err(io)?;
        st.sync(fd).map_err(io)
    })();
    let _ = st.close(fd);
    r
}

fn tar_entries(
    st: &mut dyn Storage,
    src: Box<dyn Read + '_>,
    root: &Path,
    rules: &mut Rules,
    made: &mut Vec<PathBuf>,
) -> Result<(), AgentError> {
    let corrupt = |e: std::io::Error| AgentError::ArchiveUnsafe(format!("corrupt archive: {e}"));
    let mut ar = tar::Archive::new(src);
    for entry in ar.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let raw = entry.path_bytes().into_owned();
        let kind = entry.header().entry_type();
        let is_dir = kind.is_dir();
        let norm = rules.name(&raw, is_dir)?;
        parents(st, root, &norm, rules, made)?;
        let path = root.join(&norm);
        let mode = entry.header().mode().unwrap_or(0o644);
        if kind.is_file() {
            write_file(st, &path, mode, &mut entry)?;
        } else if is_dir {
            if rules.dirs.insert(norm.clone()) {
                st.mkdir(&path).map_err(|e| AgentError::io(&path, e))?;
                made.push(path);
            }
        } else if kind.is_symlink() {
            let target = entry
                .link_name_bytes()
                .ok_or_else(|| unsafe_entry(&norm, "symbolic link without target"))?
                .into_owned();
            let target = rules.link(&norm, &target)?;
            st.symlink(&target, &path)
                .map_err(|e| AgentError::io(&path, e))?;
        } else {
            return Err(unsafe_entry(
                &norm,
                "not a regular file, directory or symbolic link",
            ));
        }
    }
    Ok(())
}

fn zip_entries(
    st: &mut dyn Storage,
    src: Box<dyn crate::storage::ReadSeek>,
    root: &Path,
    rules: &mut Rules,
    made: &mut Vec<PathBuf>,
) -> Result<(), AgentError> {
    let corrupt = |e: zip::result::ZipError| AgentError::ArchiveUnsafe(format!("corrupt zip: {e}"));
    let mut ar = zip::ZipArchive::new(src).map_err(corrupt)?;
    for i in 0..ar.len() {
        let mut f = ar.by_index(i).map_err(corrupt)?;
        let raw = f.name_raw().to_vec();
        let mode = f.unix_mode().unwrap_or(0o100_644);
        let ftype = mode & 0o170_000;
        let is_dir = f.is_dir();
        let norm = rules.name(&raw, is_dir)?;
        parents(st, root, &norm, rules, made)?;
        let path = root.join(&norm);
        if is_dir {
            if rules.dirs.insert(norm.clone()) {
                st.mkdir(&path).map_err(|e| AgentError::io(&path, e))?;
                made.push(path);
            }
        } else if ftype == 0o120_000 {
            let mut target = Vec::new();
            (&mut f)
                .take(4097)
                .read_to_end(&mut target)
                .map_err(|e| AgentError::ArchiveUnsafe(format!("corrupt zip: {e}")))?;
            let target = rules.link(&norm, &target)?;
            st.symlink(&target, &path)
                .map_err(|e| AgentError::io(&path, e))?;
        } else if ftype == 0 || ftype == 0o100_000 {
            write_file(st, &path, mode, &mut f)?;
        } else {
            return Err(unsafe_entry(
                &norm,
                "not a regular file, directory or symbolic link",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules {
            names: HashSet::new(),
            dirs: HashSet::new(),
            links: HashSet::new(),
        }
    }

    #[test]
    fn names_and_links() {
        let mut r = rules();
        assert!(r.name(b"/etc/passwd", false).is_err());
        assert!(r.name(b"a/../../x", false).is_err());
        assert!(r.name(b"\xff", false).is_err());
        assert_eq!(r.name(b"./a/b", false).unwrap(), "a/b");
        assert!(r.name(b"a/b", false).is_err(), "duplicate");
        assert!(r.link("l", b"../x").is_err());
        assert!(r.link("l2", b"/x").is_err());
        assert_eq!(r.link("d/l3", b"../usr/bin").unwrap(), "../usr/bin");
        assert!(r.name(b"d/l3/evil", false).is_err(), "under a link");
    }
}
