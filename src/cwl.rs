//! CWL v1.2 File and Directory objects (DESIGN.md §6): one typed shape for
//! inputs, staging, runtime, rendering and collected outputs, serialised to
//! exactly the CWL JSON. Also the CWL naming rules (basename, nameroot,
//! nameext) and secondary-file patterns.
//!
//! Ground floor: builds objects from paths and URIs, reads no file content.

use std::path::{Path, PathBuf};

use serde::{Serialize, Serializer};

use crate::uri;

/// Serialises as the constant `class` of its object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Class<const DIRECTORY: bool>;

impl<const DIRECTORY: bool> Serialize for Class<DIRECTORY> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if DIRECTORY { "Directory" } else { "File" })
    }
}

/// Local paths are written as text; a name that is not UTF-8 is shown
/// with replacement characters rather than failing the whole document.
fn lossy<S: Serializer>(path: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
    match path {
        Some(p) => s.serialize_str(&p.to_string_lossy()),
        None => s.serialize_none(),
    }
}

/// The fields of a File object, as templates see them.
pub const FILE_FIELDS: &[&str] = &[
    "class",
    "location",
    "path",
    "basename",
    "dirname",
    "nameroot",
    "nameext",
    "size",
    "format",
    "checksum",
    "secondaryFiles",
];

/// The fields of a Directory object, as templates see them.
pub const DIRECTORY_FIELDS: &[&str] = &[
    "class", "location", "path", "basename", "dirname", "format", "listing",
];

/// A CWL File object.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FileObject {
    class: Class<false>,
    /// Where the file lives: the URI given, or a `file://` URI.
    pub location: String,
    /// Where the tool sees it (absent for a remote file not yet staged).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "lossy")]
    pub path: Option<PathBuf>,
    pub basename: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dirname: Option<String>,
    pub nameroot: String,
    pub nameext: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// `sha1$<hex>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    /// Hex SHA-256 of the contents (beside CWL's SHA-1, for S3, in-toto
    /// and `verify`); set only when the launcher read the bytes itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(rename = "secondaryFiles")]
    pub secondary_files: Vec<FileObject>,
}

/// A CWL Directory object.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DirectoryObject {
    class: Class<true>,
    pub location: String,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "lossy")]
    pub path: Option<PathBuf>,
    pub basename: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dirname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// The names of its entries, sorted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listing: Option<Vec<String>>,
}

/// The basename a location names: the last segment of its path or key.
fn basename_of(location: &str, path: Option<&Path>) -> String {
    if let Some(name) = path.and_then(Path::file_name) {
        return name.to_string_lossy().into_owned();
    }
    location
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string()
}

fn dirname_of(path: Option<&Path>) -> Option<String> {
    path.map(|p| {
        p.parent()
            .map(|d| d.to_string_lossy().into_owned())
            .unwrap_or_default()
    })
}

impl FileObject {
    /// A File at `location`, seen by the tool at `path` when it is local.
    pub fn new(location: String, path: Option<PathBuf>) -> Self {
        let basename = basename_of(&location, path.as_deref());
        let (nameroot, nameext) = split_name(&basename);
        Self {
            class: Class,
            dirname: dirname_of(path.as_deref()),
            nameroot: nameroot.to_string(),
            nameext: nameext.to_string(),
            basename,
            location,
            path,
            size: None,
            format: None,
            checksum: None,
            sha256: None,
            secondary_files: Vec::new(),
        }
    }

    /// A local file, located by its `file://` URI.
    pub fn local(path: PathBuf) -> Self {
        Self::new(uri::file_uri(&path), Some(path))
    }

    /// The same file, now at `path` on this machine (staged or planned).
    pub fn at(&self, path: PathBuf) -> Self {
        Self {
            size: self.size,
            format: self.format.clone(),
            checksum: self.checksum.clone(),
            sha256: self.sha256.clone(),
            secondary_files: self.secondary_files.clone(),
            ..Self::new(self.location.clone(), Some(path))
        }
    }
}

impl DirectoryObject {
    pub fn new(location: String, path: Option<PathBuf>) -> Self {
        Self {
            class: Class,
            basename: basename_of(&location, path.as_deref()),
            dirname: dirname_of(path.as_deref()),
            location,
            path,
            format: None,
            listing: None,
        }
    }

    pub fn local(path: PathBuf) -> Self {
        Self::new(uri::file_uri(&path), Some(path))
    }

    pub fn at(&self, path: PathBuf) -> Self {
        Self {
            format: self.format.clone(),
            listing: self.listing.clone(),
            ..Self::new(self.location.clone(), Some(path))
        }
    }
}

/// A Directory output: a CWL Directory whose `listing` holds its File and
/// Directory objects, recursively.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DirectoryTree {
    class: Class<true>,
    pub location: String,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "lossy")]
    pub path: Option<PathBuf>,
    pub basename: String,
    pub listing: Vec<Entry>,
}

/// One entry of a Directory's listing.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Entry {
    File(FileObject),
    Directory(DirectoryTree),
}

impl DirectoryTree {
    /// The tree of `root` (a local directory) holding `files`, given
    /// relative to it and sorted.
    pub fn of(root: &Path, files: Vec<(PathBuf, FileObject)>) -> Self {
        let mut tree = Self {
            class: Class,
            location: uri::file_uri(root),
            path: Some(root.to_path_buf()),
            basename: basename_of("", Some(root)),
            listing: Vec::new(),
        };
        for (relative, file) in files {
            tree.insert(&relative, file);
        }
        tree
    }

    fn insert(&mut self, relative: &Path, file: FileObject) {
        let mut parts = relative.components();
        let first = parts.next();
        let rest = parts.as_path();
        match first {
            Some(std::path::Component::Normal(name)) if !rest.as_os_str().is_empty() => {
                let name = name.to_string_lossy().into_owned();
                let found = self.listing.iter_mut().find_map(|e| match e {
                    Entry::Directory(d) if d.basename == name => Some(d),
                    _ => None,
                });
                let dir = match found {
                    Some(dir) => dir,
                    None => {
                        let path = self.path.as_ref().map(|p| p.join(&name));
                        self.listing.push(Entry::Directory(DirectoryTree {
                            class: Class,
                            location: format!("{}/{name}", self.location),
                            path,
                            basename: name.clone(),
                            listing: Vec::new(),
                        }));
                        match self.listing.last_mut() {
                            Some(Entry::Directory(d)) => d,
                            _ => return,
                        }
                    }
                };
                dir.insert(rest, file);
            }
            _ => self.listing.push(Entry::File(file)),
        }
    }

    /// Every File in the tree, with its path relative to the tree's root.
    pub fn files_mut(&mut self) -> Vec<(PathBuf, &mut FileObject)> {
        let mut out = Vec::new();
        self.collect_files(Path::new(""), &mut out);
        out
    }

    fn collect_files<'a>(&'a mut self, below: &Path, out: &mut Vec<(PathBuf, &'a mut FileObject)>) {
        for entry in &mut self.listing {
            match entry {
                Entry::File(file) => out.push((below.join(&file.basename), file)),
                Entry::Directory(dir) => {
                    let inner = below.join(&dir.basename);
                    dir.collect_files(&inner, out);
                }
            }
        }
    }

    /// Moves the tree to `location` (a stored prefix): every Directory's
    /// location follows (Files get theirs as they are stored).
    pub fn relocate(&mut self, location: String) {
        for entry in &mut self.listing {
            if let Entry::Directory(dir) = entry {
                dir.relocate(format!("{location}/{}", dir.basename));
            }
        }
        self.location = location;
    }
}

/// Splits a basename into CWL's nameroot and nameext: only the last suffix
/// is an extension, and leading periods are not one (`.bashrc` has none).
pub fn split_name(basename: &str) -> (&str, &str) {
    let lead = basename.len() - basename.trim_start_matches('.').len();
    match basename[lead..].rfind('.') {
        Some(dot) => basename.split_at(lead + dot),
        None => (basename, ""),
    }
}

/// A CWL secondary-file pattern: each leading `^` strips one extension of
/// the primary's basename, the rest is appended; a trailing `?` makes it
/// optional.
#[derive(Debug, PartialEq, Eq)]
pub struct SecondaryFile {
    pub pattern: String,
    pub required: bool,
}

impl SecondaryFile {
    pub fn parse(text: &str) -> Self {
        match text.strip_suffix('?') {
            Some(pattern) => Self {
                pattern: pattern.to_string(),
                required: false,
            },
            None => Self {
                pattern: text.to_string(),
                required: true,
            },
        }
    }

    /// The secondary file's basename for a primary basename.
    pub fn apply(&self, primary: &str) -> String {
        let mut base = primary;
        let mut suffix = self.pattern.as_str();
        while let Some(rest) = suffix.strip_prefix('^') {
            suffix = rest;
            if let Some(dot) = base.rfind('.') {
                base = &base[..dot];
            }
        }
        format!("{base}{suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cwl_name_splitting() {
        for (basename, root, ext) in [
            ("reads.fastq.gz", "reads.fastq", ".gz"),
            (".bashrc", ".bashrc", ""),
            ("..foo", "..foo", ""),
            (".a.b", ".a", ".b"),
            ("file.", "file", "."),
            ("noext", "noext", ""),
            ("", "", ""),
            ("a b.txt", "a b", ".txt"),
            ("...", "...", ""),
        ] {
            let (r, e) = split_name(basename);
            assert_eq!((r, e), (root, ext), "{basename}");
            assert_eq!(format!("{r}{e}"), basename);
        }
    }

    #[test]
    fn secondary_file_patterns() {
        let bai = SecondaryFile::parse(".bai");
        assert_eq!(bai.apply("x.bam"), "x.bam.bai");
        assert!(bai.required);
        let caret = SecondaryFile::parse("^.bai?");
        assert_eq!(caret.apply("x.bam"), "x.bai");
        assert!(!caret.required);
        assert_eq!(SecondaryFile::parse("^^.fai").apply("a.fa.gz"), "a.fai");
        assert_eq!(SecondaryFile::parse("^.x").apply("noext"), "noext.x");
    }

    #[test]
    fn objects_serialise_as_cwl() {
        let mut f = FileObject::local(PathBuf::from("/d/a b.fa"));
        f.size = Some(3);
        assert_eq!(
            serde_json::to_value(&f).unwrap(),
            serde_json::json!({
                "class": "File", "location": "file:///d/a%20b.fa", "path": "/d/a b.fa",
                "basename": "a b.fa", "dirname": "/d", "nameroot": "a b", "nameext": ".fa",
                "size": 3, "secondaryFiles": []
            })
        );
        let remote = FileObject::new("s3://b/k/x.bam".into(), None);
        assert_eq!(remote.basename, "x.bam");
        assert_eq!(remote.dirname, None);
        let d = DirectoryObject::new("s3://b/db/".into(), None);
        assert_eq!(d.basename, "db");
    }
}
