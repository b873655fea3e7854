//! Reading the documents a user names (specs, `@file` inputs): regular
//! files only, opened without blocking (a FIFO is refused, not waited on),
//! and never more than a size cap (`/dev/zero` is refused, not read
//! forever).
//!
//! Ground floor: bytes in, bytes out.

use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The most a spec file may hold.
pub const MAX_SPEC: u64 = 4 << 20;

/// The most an inputs or resources document may hold.
pub const MAX_DOCUMENT: u64 = 64 << 20;

/// 32 random bits for names that must not collide (temporary files, run
/// ids). They come from the standard library's per-thread hash keys, which
/// the kernel's random source seeds, so a run sets up no generator of its
/// own.
pub fn random_u32() -> u32 {
    use std::hash::BuildHasher;
    let bits = std::collections::hash_map::RandomState::new().hash_one(std::process::id());
    (bits ^ (bits >> 32)) as u32
}

/// Reads a whole regular file of at most `cap` bytes.
pub fn read_regular(path: &Path, cap: u64) -> io::Result<Vec<u8>> {
    let file = open_regular(path)?;
    let len = file.metadata()?.len();
    if len > cap {
        return Err(too_large(cap));
    }
    // Sized from the file, so that it is read in one call, not in a
    // series of growing ones; a file that grows meanwhile is still capped.
    read_into(
        file,
        cap,
        usize::try_from(len).unwrap_or(0).saturating_add(1),
    )
}

/// Opens a regular file for reading; anything else is refused.
pub fn open_regular(path: &Path) -> io::Result<std::fs::File> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        let what = if meta.is_dir() {
            "a directory"
        } else {
            "not a regular file"
        };
        return Err(io::Error::new(io::ErrorKind::InvalidInput, what));
    }
    Ok(file)
}

/// Reads a stream to its end, refusing more than `cap` bytes.
pub fn read_capped(stream: impl Read, cap: u64) -> io::Result<Vec<u8>> {
    read_into(stream, cap, 0)
}

/// `read_capped` into a buffer of `capacity` to begin with.
fn read_into(stream: impl Read, cap: u64, capacity: usize) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(capacity);
    stream.take(cap + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(too_large(cap));
    }
    Ok(bytes)
}

fn too_large(cap: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("larger than the limit of {} MiB", cap >> 20),
    )
}
