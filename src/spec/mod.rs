//! Tool specs (DESIGN.md §5): the checked `Spec` the rest of the launcher
//! trusts, and `load` that reads one from YAML.
//!
//! A `Spec` is only built by `check`, which reports every problem at once
//! with file, line and column; nothing downstream re-validates it.

mod check;
pub mod format_schema;
pub mod template;
mod types;

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use regex::Regex;
use sha2::Digest;

use crate::diag::Diagnostic;
use crate::yaml::Loc;

pub use types::{BaseType, InputType, ValueType};

/// A checked tool spec.
#[derive(Debug, Clone)]
pub struct Spec {
    pub id: String,
    pub version: Option<String>,
    pub description: Option<String>,
    pub requirements: Requirements,
    pub inputs: IndexMap<String, InputSpec>,
    pub command: Command,
    pub env: IndexMap<String, String>,
    pub outputs: IndexMap<String, OutputSpec>,
    /// Where the spec was read from, as the user named it.
    pub source: String,
    /// SHA-256 of the spec file's bytes, for provenance in results.json.
    pub sha256: String,
}

#[derive(Debug, Clone, Default)]
pub struct Requirements {
    pub binaries: Vec<String>,
    /// Where `binaries` was written, for `validate --check-binaries`.
    pub binaries_loc: Option<Loc>,
    pub container: Option<String>,
    pub resources: ResourceDefaults,
}

/// Resource defaults a spec may declare; RESOURCES_JSON overrides them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResourceDefaults {
    pub cpu: Option<f64>,
    pub memory_mb: Option<u64>,
    pub gpu: Option<u64>,
    pub time_limit_s: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct InputSpec {
    pub name: String,
    pub ty: InputType,
    pub default: Option<serde_json::Value>,
    pub description: Option<String>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub pattern: Option<Regex>,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub symbols: Vec<String>,
    pub format: Option<String>,
    pub secondary_files: Vec<SecondaryFile>,
    pub loc: Loc,
}

impl InputSpec {
    /// Whether the input may be absent from the inputs document.
    pub fn may_be_absent(&self) -> bool {
        self.ty.optional || self.default.is_some()
    }
}

/// A CWL secondary-file pattern: each leading `^` strips one extension of
/// the primary's basename, the rest is appended; a trailing `?` makes it
/// optional.
#[derive(Debug, Clone, PartialEq, Eq)]
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// One template run by `/bin/sh -c`, every value shell-quoted.
    Shell(String),
    /// One template per argument, no shell.
    Argv(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct OutputSpec {
    pub name: String,
    pub kind: OutputKind,
    pub optional: bool,
    pub format: Option<String>,
    pub description: Option<String>,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputKind {
    /// `File` (one match) or `File[]` (all matches, sorted).
    Files { glob: String, many: bool },
    /// A value parsed from the tool's stdout, stderr or a file.
    Value { ty: ValueType, from: Source },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Stdout,
    Stderr,
    /// A path relative to the work directory.
    File(PathBuf),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Stdout => f.write_str("stdout"),
            Source::Stderr => f.write_str("stderr"),
            Source::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Reads and checks a spec file. Problems come back all at once, each
/// naming the file.
pub fn load(path: &Path) -> Result<Spec, Vec<Diagnostic>> {
    let source = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|err| {
        vec![Diagnostic::new("", format!("cannot read the spec: {err}")).in_file(&source)]
    })?;
    let Ok(text) = String::from_utf8(bytes) else {
        return Err(vec![
            Diagnostic::new("", "the spec is not UTF-8 text").in_file(&source),
        ]);
    };
    parse(&text, &source)
}

/// Checks spec text; `source` names it in diagnostics.
pub fn parse(text: &str, source: &str) -> Result<Spec, Vec<Diagnostic>> {
    let sha256 = hex::encode(sha2::Sha256::digest(text.as_bytes()));
    let with_file = |diagnostics: Vec<Diagnostic>| {
        diagnostics
            .into_iter()
            .map(|d| d.in_file(source))
            .collect::<Vec<_>>()
    };
    let root = crate::yaml::parse(text).map_err(|err| {
        let mut d = Diagnostic::new("", format!("invalid YAML: {}", err.message));
        if let Some(loc) = err.loc {
            d = d.at(loc);
        }
        with_file(vec![d])
    })?;
    let mut spec = check::check(&root).map_err(with_file)?;
    spec.source = source.to_string();
    spec.sha256 = sha256;
    Ok(spec)
}

/// The rule for tool ids (spec `id` and TOOL_ID): `[a-z0-9_-]+`.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// Where the spec for `tool_id` lives in a specs directory.
pub fn path_in(specs_dir: &Path, tool_id: &str) -> PathBuf {
    specs_dir.join(format!("{tool_id}.yaml"))
}

/// The binaries of `requirements.binaries` that are not on PATH.
pub fn missing_binaries(spec: &Spec) -> Vec<&str> {
    spec.requirements
        .binaries
        .iter()
        .filter(|b| which::which(b.as_str()).is_err())
        .map(String::as_str)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
