//! The run's work directory and its layout, in one place:
//!
//! ```text
//! <base>/<run_id>/                 the tool's working directory; everything
//!                                  here but .omni-launch/ belongs to the tool
//!   inputs/<name>/[<i>/]           remote inputs, staged with their basename
//!   <basename>                     inputs the spec asks to `stage` (link or copy)
//!   .omni-launch/stdout, stderr    the tool's streams, as the launcher kept them
//!   .omni-launch/results.json      the run's results
//! ```
//!
//! The launcher writes only inside `.omni-launch/`, and reads and writes
//! through directory handles taken when the directory was created, never
//! following a link: a tool that swaps a file or the directory itself for
//! a symlink cannot redirect what the launcher reads or writes.
//!
//! Ground floor: creates directories and opens files; it never runs,
//! downloads or collects anything.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use nix::fcntl::{OFlag, openat, renameat};
use nix::sys::stat::{Mode, SFlag, fstat};

use crate::error::Error;

/// The launcher's own folder inside the work directory.
const META: &str = ".omni-launch";

/// The default base: `$TMPDIR/omni-launch`.
pub fn default_base() -> PathBuf {
    std::env::temp_dir().join("omni-launch")
}

/// Where a run with this id works when nothing else is there
/// (what `render` shows; a run may get a suffix to stay unique).
pub fn planned(base: Option<&Path>, run_id: &str) -> PathBuf {
    base.map_or_else(default_base, Path::to_path_buf)
        .join(run_id)
}

/// Where input `name` (element `index` of an array) is staged: inputs the
/// spec asks to `stage` go to the top of the work directory, where the
/// tool writes and globs look; other remote inputs to their own folder.
pub fn input_dir(workdir: &Path, name: &str, index: Option<usize>, staged: bool) -> PathBuf {
    if staged {
        return workdir.to_path_buf();
    }
    let dir = workdir.join("inputs").join(name);
    match index {
        Some(i) => dir.join(i.to_string()),
        None => dir,
    }
}

/// Compiles an output glob: `*` and `?` never match `/`, `**` matches
/// any number of folders, `\` escapes.
pub fn glob(pattern: &str) -> Result<globset::GlobMatcher, String> {
    globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map(|glob| glob.compile_matcher())
        .map_err(|err| err.kind().to_string())
}

/// The files that keep the tool's streams, held open: what the tool wrote
/// is read back through these handles, whatever became of their names.
#[derive(Debug)]
pub struct Logs {
    pub stdout: File,
    pub stderr: File,
}

impl Logs {
    /// The last `lines` lines of a kept stream (from its last 4 KiB), as
    /// one line with ` | ` between them.
    pub fn tail(file: &File, lines: usize) -> String {
        use std::os::unix::fs::FileExt;
        let Ok(size) = file.metadata().map(|m| m.len()) else {
            return String::new();
        };
        let start = size.saturating_sub(4096);
        let mut buf = vec![0u8; usize::try_from(size - start).unwrap_or(0)];
        let n = file.read_at(&mut buf, start).unwrap_or(0);
        let text = String::from_utf8_lossy(&buf[..n]);
        let kept: Vec<&str> = text
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.is_empty())
            .collect();
        kept[kept.len().saturating_sub(lines)..]
            .iter()
            .map(|l| crate::diag::printable(l).into_owned())
            .collect::<Vec<_>>()
            .join(" | ")
    }

    /// Up to `max` bytes from the start of a kept stream, read by position
    /// (the writer's offset is left alone).
    pub fn read(file: &File, max: u64) -> io::Result<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        // Sized from the file; room is made for more only if it has grown.
        let size = file.metadata().map(|m| m.len()).unwrap_or(0).min(max);
        let mut bytes = vec![0u8; usize::try_from(size).unwrap_or(0)];
        let mut filled = 0;
        loop {
            if filled == bytes.len() {
                let room = max
                    .saturating_sub(filled as u64)
                    .min(filled.max(4096) as u64);
                if room == 0 {
                    break;
                }
                bytes.resize(filled + usize::try_from(room).unwrap_or(4096), 0);
            }
            let n = file.read_at(&mut bytes[filled..], filled as u64)?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        bytes.truncate(filled);
        Ok(bytes)
    }
}

/// A created work directory, held open.
#[derive(Debug)]
pub struct Workdir {
    path: PathBuf,
    root: OwnedFd,
    meta: OwnedFd,
}

const DIR_FLAGS: OFlag = OFlag::O_DIRECTORY
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC)
    .union(OFlag::O_RDONLY);

fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    Ok(openat(
        nix::fcntl::AT_FDCWD,
        path,
        DIR_FLAGS,
        Mode::empty(),
    )?)
}

impl Workdir {
    /// Creates `<base>/<run_id>`, made unique with a suffix when a run with
    /// the same id already worked there (a retry on the same machine).
    pub fn create(base: Option<&Path>, run_id: &str) -> Result<Self, Error> {
        let base = base.map_or_else(default_base, Path::to_path_buf);
        let failed = |what: &str, path: &Path, err| {
            Error::io(format!("cannot {what} {}", path.display()), err)
        };
        std::fs::create_dir_all(&base)
            .map_err(|err| failed("create the work directory base", &base, err))?;
        let base = base
            .canonicalize()
            .map_err(|err| failed("resolve the work directory base", &base, err))?;
        let plain = base.join(run_id);
        let path = match std::fs::create_dir(&plain) {
            Ok(()) => plain,
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => tempfile::Builder::new()
                .prefix(&format!("{run_id}-"))
                .tempdir_in(&base)
                .map_err(|err| failed("create a work directory in", &base, err))?
                .keep(),
            Err(err) => return Err(failed("create the work directory", &plain, err)),
        };
        let meta = path.join(META);
        std::fs::create_dir(&meta).map_err(|err| failed("create", &meta, err))?;
        let root = open_dir(&path).map_err(|err| failed("open", &path, err))?;
        let meta = open_dir(&meta).map_err(|err| failed("open", &meta, err))?;
        Ok(Self { path, root, meta })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where results.json is written.
    pub fn results_path(&self) -> PathBuf {
        self.path.join(META).join("results.json")
    }

    /// Creates the files that keep the tool's stdout and stderr.
    pub fn create_logs(&self) -> Result<Logs, Error> {
        let create = |name: &str| {
            let flags = OFlag::O_CREAT
                | OFlag::O_TRUNC
                | OFlag::O_RDWR
                | OFlag::O_NOFOLLOW
                | OFlag::O_CLOEXEC;
            openat(&self.meta, name, flags, Mode::from_bits_truncate(0o644))
                .map(File::from)
                .map_err(|err| {
                    Error::io(
                        format!(
                            "cannot create {}",
                            self.path.join(META).join(name).display()
                        ),
                        err.into(),
                    )
                })
        };
        Ok(Logs {
            stdout: create("stdout")?,
            stderr: create("stderr")?,
        })
    }

    /// The kept stream `name` (`stdout`, `stderr`) for reading, with the
    /// secrets masked (in a copy beside it when there are any); `None` when
    /// the tool never got to run.
    pub fn log(&self, name: &str, secrets: &crate::redact::Secrets) -> io::Result<Option<File>> {
        let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let mut file = match openat(&self.meta, name, flags, Mode::empty()) {
            Ok(fd) => File::from(fd),
            Err(nix::errno::Errno::ENOENT) => return Ok(None),
            Err(err) => return Err(err.into()),
        };
        if secrets.is_empty() {
            return Ok(Some(file));
        }
        let masked = format!("{name}.masked");
        let flags =
            OFlag::O_CREAT | OFlag::O_TRUNC | OFlag::O_RDWR | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let copy = File::from(openat(
            &self.meta,
            masked.as_str(),
            flags,
            Mode::from_bits_truncate(0o600),
        )?);
        let mut writer = secrets.writer(io::BufWriter::new(copy));
        io::copy(&mut file, &mut writer)?;
        let mut copy = writer
            .finish()?
            .into_inner()
            .map_err(|err| err.into_error())?;
        io::Seek::seek(&mut copy, io::SeekFrom::Start(0))?;
        Ok(Some(copy))
    }

    /// Writes results.json atomically: a temporary file, then a rename.
    pub fn write_results(&self, text: &str) -> io::Result<()> {
        let temp = format!(".results.json.{:08x}", crate::files::random_u32());
        let flags =
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let mut file = File::from(openat(
            &self.meta,
            temp.as_str(),
            flags,
            Mode::from_bits_truncate(0o644),
        )?);
        // No fsync: the rename keeps a reader from ever seeing half a
        // document, and the durable copy is the store's; a sync would cost
        // a run more than everything else the launcher does.
        let written = file.write_all(text.as_bytes()).and_then(|()| {
            Ok(renameat(
                &self.meta,
                temp.as_str(),
                &self.meta,
                "results.json",
            )?)
        });
        if written.is_err() {
            let _ = nix::unistd::unlinkat(
                &self.meta,
                temp.as_str(),
                nix::unistd::UnlinkatFlags::NoRemoveDir,
            );
        }
        written
    }

    /// The directory `relative` below the work directory, opened without
    /// following any link on the way.
    pub fn dir_beneath(&self, relative: &Path) -> io::Result<OwnedFd> {
        let mut dir = openat(&self.root, ".", DIR_FLAGS, Mode::empty())?;
        for part in relative.components() {
            match part {
                Component::Normal(name) => dir = openat(&dir, name, DIR_FLAGS, Mode::empty())?,
                Component::CurDir => {}
                _ => return Err(io::Error::other("the path leaves the work directory")),
            }
        }
        Ok(dir)
    }

    /// Opens the regular file `relative` below the work directory for
    /// reading, following no link and never blocking (a FIFO is refused,
    /// not waited on).
    pub fn open_beneath(&self, relative: &Path) -> io::Result<File> {
        let parent = relative.parent().unwrap_or(Path::new(""));
        let Some(name) = relative.file_name() else {
            return Err(io::Error::other("not a file name"));
        };
        let dir = self.dir_beneath(parent)?;
        let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
        let fd = openat(&dir, name, flags, Mode::empty())?;
        let stat = fstat(&fd)?;
        if SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
            return Err(io::Error::other("not a regular file"));
        }
        // Reads block again, as reads of a regular file always complete.
        nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_SETFL(OFlag::O_RDONLY))?;
        Ok(File::from(fd))
    }

    /// Opens a collected output, given by its absolute path in this work
    /// directory, the same way as `open_beneath`.
    pub fn open_output(&self, path: &Path) -> Result<File, Error> {
        path.strip_prefix(&self.path)
            .map_err(|_| io::Error::other("not in the work directory"))
            .and_then(|relative| self.open_beneath(relative))
            .map_err(|err| Error::io(format!("cannot open {}", path.display()), err))
    }

    /// Removes the directory and everything in it.
    pub fn remove(self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_kept_stream_is_read_up_to_the_limit() {
        let mut file = tempfile::tempfile().unwrap();
        let text: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        file.write_all(&text).unwrap();
        assert_eq!(Logs::read(&file, 100_000).unwrap(), text);
        assert_eq!(Logs::read(&file, 10_000).unwrap(), text);
        assert_eq!(Logs::read(&file, 5).unwrap(), &text[..5]);
        // Written through another handle of the same file.
        let grown = tempfile::tempfile().unwrap();
        let mut writer = grown.try_clone().unwrap();
        writer.write_all(&text).unwrap();
        assert_eq!(Logs::read(&grown, 9_999).unwrap(), &text[..9_999]);
        assert!(
            Logs::read(&tempfile::tempfile().unwrap(), 10)
                .unwrap()
                .is_empty()
        );
    }
}
