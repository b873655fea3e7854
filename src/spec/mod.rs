//! Tool specs (DESIGN.md §5): the checked `Spec` the rest of the launcher
//! trusts, and `load` that reads one from YAML.
//!
//! A `Spec` is only built by `check`, which reports every problem at once
//! with file, line and column; nothing downstream re-validates it.

pub mod builtin;
mod check;
pub mod format_schema;

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use sha2::Digest;

use crate::diag::Problem;
use crate::types::{Constraints, InputType, ValueType};
use crate::yaml::Loc;

/// A checked tool spec.
#[derive(Debug)]
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

#[derive(Debug, Default)]
pub struct Requirements {
    pub binaries: Vec<String>,
    /// Where `binaries` was written, for `validate --check-binaries`.
    pub binaries_loc: Option<Loc>,
    pub container: Option<String>,
    /// A container runner gives the tool a network (default: none).
    pub network: bool,
    /// A container runner runs the image's entrypoint with the command as
    /// its arguments (default: the command replaces the entrypoint).
    pub image_entrypoint: bool,
    pub resources: ResourceDefaults,
}

/// Resource defaults a spec may declare; RESOURCES_JSON overrides them.
#[derive(Debug, Default)]
pub struct ResourceDefaults {
    pub cpu: Option<f64>,
    pub memory_mb: Option<u64>,
    pub gpu: Option<u64>,
    pub time_limit_s: Option<u64>,
}

#[derive(Debug)]
pub struct InputSpec {
    pub name: String,
    pub ty: InputType,
    pub constraints: Constraints,
    /// Checked against the type and constraints when the spec was read.
    pub default: Option<serde_json::Value>,
    pub description: Option<String>,
    /// Place a local File or Directory in the work directory before the
    /// run (tools that write beside their inputs).
    pub stage: Option<Stage>,
    /// Masked as `***` everywhere the launcher writes.
    pub secret: bool,
    pub loc: Loc,
}

/// How a local input is placed in the work directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// A hard link, falling back to a copy (another filesystem).
    Link,
    Copy,
}

impl InputSpec {
    /// Whether the input may be absent from the inputs document.
    pub fn may_be_absent(&self) -> bool {
        self.ty.optional || self.default.is_some()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// One template run by `/bin/sh -c`, every value shell-quoted.
    Shell(String),
    /// One template per argument, no shell.
    Argv(Vec<String>),
}

#[derive(Debug)]
pub struct OutputSpec {
    pub name: String,
    pub kind: OutputKind,
    pub optional: bool,
    pub format: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum OutputKind {
    /// `File` (one match) or `File[]` (all matches, sorted).
    Files { glob: String, many: bool },
    /// `Directory` or `Directory[]`, everything below each stored.
    Directories { glob: String, many: bool },
    /// A value parsed from the tool's stdout, stderr or a file.
    Value { ty: ValueType, from: Source },
}

#[derive(Debug, PartialEq, Eq)]
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
pub fn load(path: &Path) -> Result<Spec, Vec<Problem>> {
    let source = path.display().to_string();
    let bytes = crate::files::read_regular(path, crate::files::MAX_SPEC).map_err(|err| {
        vec![Problem::new("", format!("cannot read the spec: {err}")).in_file(&source)]
    })?;
    let Ok(text) = String::from_utf8(bytes) else {
        return Err(vec![
            Problem::new("", "the spec is not UTF-8 text").in_file(&source),
        ]);
    };
    parse(&text, &source)
}

/// Checks spec text; `source` names it in diagnostics.
pub fn parse(text: &str, source: &str) -> Result<Spec, Vec<Problem>> {
    let sha256 = hex::encode(sha2::Sha256::digest(text.as_bytes()));
    let with_file = |problems: Vec<Problem>| {
        problems
            .into_iter()
            .map(|d| d.in_file(source))
            .collect::<Vec<_>>()
    };
    let root = crate::yaml::parse(text).map_err(|err| {
        let mut d = Problem::new("", format!("invalid YAML: {}", err.message));
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

/// The binaries of `requirements.binaries` that are not on PATH.
pub fn missing_binaries(spec: &Spec) -> Vec<&str> {
    spec.requirements
        .binaries
        .iter()
        .filter(|b| which::which(b.as_str()).is_err())
        .map(String::as_str)
        .collect()
}

pub use builtin::load_for_run;
