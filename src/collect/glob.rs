//! File outputs by glob, found by walking below the work directory through
//! directory handles: directory links are never followed (a loop of links
//! cannot make the walk unbounded, nor return one file many times), `*`
//! does not match hidden names (as in the shell), and any file name, UTF-8
//! or not, is handled. A match that is itself a link counts only when it
//! resolves to a regular file inside the work directory.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::dir::{Dir, Type};
use nix::fcntl::AtFlags;
use nix::sys::stat::{SFlag, fstatat};

use crate::workdir::Workdir;

pub enum Failure {
    /// A match that is a link leading out of the work directory.
    Outside(PathBuf),
    Pattern(String),
    Io(std::io::Error),
}

impl From<nix::Error> for Failure {
    fn from(err: nix::Error) -> Self {
        Failure::Io(err.into())
    }
}

impl From<std::io::Error> for Failure {
    fn from(err: std::io::Error) -> Self {
        Failure::Io(err)
    }
}

/// The regular files (or, with `directories`, the directories, never
/// links) below the work directory that `pattern` matches, as paths
/// relative to it, sorted, each once.
pub fn matches(
    workdir: &Workdir,
    pattern: &str,
    directories: bool,
) -> Result<Vec<PathBuf>, Failure> {
    let matcher = crate::workdir::glob(pattern).map_err(Failure::Pattern)?;
    let parts: Vec<&str> = pattern.split('/').collect();
    let recursive = parts.iter().any(|p| p.contains("**"));
    let mut found = BTreeSet::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(dir_rel) = pending.pop() {
        let depth = dir_rel.components().count();
        let fd = workdir.dir_beneath(&dir_rel)?;
        let mut dir = Dir::from_fd(fd.try_clone()?)?;
        let mut children = Vec::new();
        for entry in dir.iter() {
            let entry = entry?;
            let name = OsStr::from_bytes(entry.file_name().to_bytes()).to_os_string();
            if name == "." || name == ".." {
                continue;
            }
            if name.as_bytes().starts_with(b".") && !hidden_allowed(&parts, depth, recursive) {
                continue;
            }
            let kind = match entry.file_type() {
                Some(kind) => kind,
                None => kind_of(&fd, &name)?,
            };
            children.push((name, kind));
        }
        for (name, kind) in children {
            let relative = dir_rel.join(&name);
            match kind {
                Type::Directory if directories && matcher.is_match(&relative) => {
                    found.insert(relative.clone());
                    if recursive {
                        pending.push(relative);
                    }
                }
                Type::Directory if recursive || depth + 1 < parts.len() => {
                    pending.push(relative);
                }
                _ if directories => {}
                Type::File if matcher.is_match(&relative) => {
                    found.insert(relative);
                }
                Type::Symlink if matcher.is_match(&relative) => {
                    if let Some(target) = resolve(workdir.path(), &relative)? {
                        found.insert(target);
                    }
                }
                _ => {}
            }
        }
    }
    Ok(found.into_iter().collect())
}

/// The regular files below `relative` (a directory in the work directory),
/// relative to it, sorted; links are not followed and not listed, nor is
/// anything else that is not a regular file or a directory.
pub fn files_below(workdir: &Workdir, relative: &Path) -> Result<Vec<PathBuf>, Failure> {
    let mut found = BTreeSet::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(below) = pending.pop() {
        let fd = workdir.dir_beneath(&relative.join(&below))?;
        let mut dir = Dir::from_fd(fd.try_clone()?)?;
        let mut children = Vec::new();
        for entry in dir.iter() {
            let entry = entry?;
            let name = OsStr::from_bytes(entry.file_name().to_bytes()).to_os_string();
            if name == "." || name == ".." {
                continue;
            }
            let kind = match entry.file_type() {
                Some(kind) => kind,
                None => kind_of(&fd, &name)?,
            };
            children.push((name, kind));
        }
        for (name, kind) in children {
            match kind {
                Type::Directory => pending.push(below.join(&name)),
                Type::File => {
                    found.insert(below.join(&name));
                }
                _ => {}
            }
        }
    }
    Ok(found.into_iter().collect())
}

/// Whether a hidden name may match at `depth`: only where the pattern
/// itself names a hidden component.
fn hidden_allowed(parts: &[&str], depth: usize, recursive: bool) -> bool {
    if recursive {
        parts.iter().any(|p| p.starts_with('.'))
    } else {
        parts.get(depth).is_some_and(|p| p.starts_with('.'))
    }
}

fn kind_of(dir: &std::os::fd::OwnedFd, name: &OsStr) -> Result<Type, Failure> {
    let stat = fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
    let format = SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT;
    Ok(if format == SFlag::S_IFDIR {
        Type::Directory
    } else if format == SFlag::S_IFREG {
        Type::File
    } else if format == SFlag::S_IFLNK {
        Type::Symlink
    } else {
        Type::Fifo
    })
}

/// Where a matched link leads: a regular file inside the work directory
/// (its path there), nothing (a dangling link, or not a file), or out of
/// the work directory, which is refused.
fn resolve(root: &Path, relative: &Path) -> Result<Option<PathBuf>, Failure> {
    let real = match root.join(relative).canonicalize() {
        Ok(real) => real,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(Failure::Io(err)),
    };
    match real.strip_prefix(root) {
        Ok(inside) if real.is_file() => Ok(Some(inside.to_path_buf())),
        Ok(_) => Ok(None),
        Err(_) => Err(Failure::Outside(relative.to_path_buf())),
    }
}
