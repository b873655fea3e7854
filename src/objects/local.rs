//! The `file://` backend: a key is an absolute path (without its leading
//! `/`), used exactly as named, never percent-encoded. Writes go to a
//! temporary file beside the target and are renamed into place, so a
//! reader never sees half a file.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::{Cancel, Digests, Hasher};

/// The filesystem path of a key.
pub fn path(key: &str) -> PathBuf {
    Path::new("/").join(key)
}

/// A fresh temporary name beside `target`.
fn temp_beside(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(
        ".{name}.omni-launch-{:08x}.tmp",
        crate::files::random_u32()
    ))
}

fn create_parent(target: &Path) -> std::io::Result<()> {
    match target.parent() {
        Some(parent) => std::fs::create_dir_all(parent),
        None => Ok(()),
    }
}

/// Writes `bytes` to `target` atomically.
pub fn put(target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    create_parent(target)?;
    let temp = temp_beside(target);
    let written = std::fs::File::create(&temp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    finish(written, &temp, target)
}

/// Copies `source` to `target` (a staged input), hashing on the way.
pub fn copy_plain(mut source: std::fs::File, target: &Path) -> std::io::Result<Digests> {
    let mut out = std::fs::File::create(target)?;
    let mut hasher = Hasher::default();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = source.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])?;
    }
    out.flush()?;
    Ok(hasher.finish())
}

/// Copies `source` to `target` atomically, hashing on the way; stops early
/// (and leaves nothing behind) when `cancel` fires.
pub fn copy(
    mut source: std::fs::File,
    target: &Path,
    cancel: &Cancel,
) -> std::io::Result<Option<Digests>> {
    create_parent(target)?;
    let temp = temp_beside(target);
    let mut hasher = Hasher::default();
    let written = std::fs::File::create(&temp).and_then(|mut out| {
        let mut buf = vec![0u8; 1 << 20];
        loop {
            if cancel.is_cancelled() {
                return Ok(false);
            }
            let n = source.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n])?;
        }
        out.sync_all()?;
        Ok(true)
    });
    match written {
        Ok(true) => finish(Ok(()), &temp, target).map(|()| Some(hasher.finish())),
        Ok(false) => {
            let _ = std::fs::remove_file(&temp);
            Ok(None)
        }
        Err(err) => finish(Err(err), &temp, target).map(|()| None),
    }
}

/// Writes `bytes` to `target` only if there is nothing there: `Ok(false)`
/// when there is (a hard link never replaces).
pub fn create(target: &Path, bytes: &[u8]) -> std::io::Result<bool> {
    create_parent(target)?;
    let temp = temp_beside(target);
    let written = std::fs::File::create(&temp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .and_then(|()| std::fs::hard_link(&temp, target));
    let _ = std::fs::remove_file(&temp);
    match written {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(err) => Err(err),
    }
}

/// Replaces `target` with `bytes` only if its contents still hash to
/// `expected` (`None`: only if it is absent): `Ok(false)` when they do
/// not. A compare then a rename: a writer between the two is not seen.
pub fn replace(target: &Path, bytes: &[u8], expected: Option<&str>) -> std::io::Result<bool> {
    let Some(expected) = expected else {
        return create(target, bytes);
    };
    let current = match std::fs::File::open(target) {
        Ok(file) => crate::digest::read(file, None)?.map(|d| d.sha256),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(err) => return Err(err),
    };
    if current.as_deref() != Some(expected) {
        return Ok(false);
    }
    put(target, bytes).map(|()| true)
}

fn finish(written: std::io::Result<()>, temp: &Path, target: &Path) -> std::io::Result<()> {
    let renamed = written.and_then(|()| std::fs::rename(temp, target));
    if renamed.is_err() {
        let _ = std::fs::remove_file(temp);
    }
    renamed
}

/// Every file under `dir`, as keys, sorted; symlinks are not followed.
pub fn list(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut keys = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let entries = match std::fs::read_dir(&current) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound && current == dir => {
                return Ok(keys);
            }
            Err(err) => return Err(err),
        };
        for entry in entries {
            let entry = entry?;
            let kind = entry.file_type()?;
            let path = entry.path();
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() {
                let text = path.to_str().ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("\"{}\" is not UTF-8", path.display()),
                    )
                })?;
                keys.push(text.trim_start_matches('/').to_string());
            }
        }
    }
    keys.sort();
    Ok(keys)
}
