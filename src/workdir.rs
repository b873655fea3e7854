//! The run's work directory and its layout, in one place:
//!
//! ```text
//! <base>/<run_id>/             the tool's working directory (base: --workdir or $TMPDIR/omni-launch)
//!   inputs/<name>/[<i>/]       remote inputs, staged with their basename
//!   .omni-launch/stdout|stderr the tool's streams, as the launcher kept them
//!   results.json               the run's results
//! ```
//!
//! Ground floor: creates directories and names paths; it never runs,
//! downloads or collects anything.

use std::path::{Path, PathBuf};

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

/// Where input `name` (element `index` of an array) is staged.
pub fn input_dir(workdir: &Path, name: &str, index: Option<usize>) -> PathBuf {
    let dir = workdir.join("inputs").join(name);
    match index {
        Some(i) => dir.join(i.to_string()),
        None => dir,
    }
}

/// A created work directory.
#[derive(Debug)]
pub struct Workdir {
    path: PathBuf,
}

impl Workdir {
    /// Creates `<base>/<run_id>`, made unique with a suffix when a run with
    /// the same id already worked there (a retry on the same machine).
    pub fn create(base: Option<&Path>, run_id: &str) -> Result<Self, Error> {
        let base = base.map_or_else(default_base, Path::to_path_buf);
        std::fs::create_dir_all(&base).map_err(|err| {
            Error::Usage(format!(
                "cannot create work directory base {}: {err}",
                base.display()
            ))
        })?;
        let base = base
            .canonicalize()
            .map_err(|err| Error::Usage(format!("cannot resolve {}: {err}", base.display())))?;
        let plain = base.join(run_id);
        let path = match std::fs::create_dir(&plain) {
            Ok(()) => plain,
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => tempfile::Builder::new()
                .prefix(&format!("{run_id}-"))
                .tempdir_in(&base)
                .map_err(|err| Error::io("cannot create the work directory", err))?
                .keep(),
            Err(err) => {
                return Err(Error::Usage(format!(
                    "cannot create work directory {}: {err}",
                    plain.display()
                )));
            }
        };
        std::fs::create_dir_all(path.join(META))
            .map_err(|err| Error::io("cannot create the work directory", err))?;
        Ok(Self { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the tool's stdout is kept.
    pub fn stdout(&self) -> PathBuf {
        self.path.join(META).join("stdout")
    }

    /// Where the tool's stderr is kept.
    pub fn stderr(&self) -> PathBuf {
        self.path.join(META).join("stderr")
    }

    /// Where results.json is written.
    pub fn results(&self) -> PathBuf {
        self.path.join("results.json")
    }

    /// Removes the directory and everything in it.
    pub fn remove(self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
