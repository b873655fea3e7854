//! Stage 8: collects a finished tool's outputs (DESIGN.md §5): Files by
//! glob, values read from stdout, stderr or a file.
//!
//! Nothing outside the work directory is ever collected, and nothing is
//! read through a link the tool made: globs are matched by walking below
//! the work directory without following directory links (`glob`), a match
//! that is a link counts only if it resolves inside, and value outputs are
//! read only from regular files, opened without blocking.

mod glob;

use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::Value;

use crate::cwl::{DirectoryTree, FileObject};
use crate::error::Error;
use crate::spec::{OutputKind, OutputSpec, Source, Spec};
use crate::types::ValueType;
use crate::workdir::{Logs, Workdir};

/// Value outputs read at most this much.
pub const MAX_VALUE_BYTES: u64 = 64 * 1024;

/// One collected output.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Output {
    File(Box<FileObject>),
    Files(Vec<FileObject>),
    Directory(Box<DirectoryTree>),
    Directories(Vec<DirectoryTree>),
    /// A value read from a stream or file (`null` when optional and absent).
    Value(Value),
}

impl Output {
    /// The File objects of this output, to store them.
    pub fn files_mut(&mut self) -> Vec<&mut FileObject> {
        match self {
            Output::File(file) => vec![file.as_mut()],
            Output::Files(files) => files.iter_mut().collect(),
            Output::Directory(_) | Output::Directories(_) => Vec::new(),
            Output::Value(_) => Vec::new(),
        }
    }
}

/// The outputs of a run, in spec order.
pub type Outputs = IndexMap<String, Output>;

/// Collects every output. `checksums`: hash File outputs here; a run that
/// uploads them hashes them during the upload instead (one pass, not two).
/// `partial`: the tool failed, and what it left is kept: an output that
/// cannot be collected is left out rather than an error. Stops early, with
/// `Ok(None)`, once `stop` is set.
pub fn collect(
    spec: &Spec,
    workdir: &Workdir,
    logs: &Logs,
    checksums: bool,
    partial: bool,
    stop: &AtomicBool,
) -> Result<Option<Outputs>, Error> {
    let mut results = IndexMap::new();
    for (name, output) in &spec.outputs {
        if stop.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let value = match &output.kind {
            OutputKind::Directories { glob, many } => {
                match directories(output, glob, *many, workdir, checksums.then_some(stop)) {
                    Ok(Some(value)) => Ok(value),
                    Ok(None) => return Ok(None),
                    Err(err) => Err(err),
                }
            }
            OutputKind::Files { glob, many } => {
                match files(output, glob, *many, workdir, checksums.then_some(stop)) {
                    Ok(Some(value)) => Ok(value),
                    Ok(None) => return Ok(None),
                    Err(err) => Err(err),
                }
            }
            OutputKind::Value { ty, from } => {
                value(output, *ty, from, workdir, logs).map(Output::Value)
            }
        };
        match value {
            Ok(value) => {
                results.insert(name.clone(), value);
            }
            Err(_) if partial => {}
            Err(err) => return Err(err),
        }
    }
    Ok(Some(results))
}

fn missing(output: &OutputSpec, message: String) -> Error {
    Error::OutputMissing {
        output: output.name.clone(),
        message,
        source: None,
    }
}

fn unreadable(output: &OutputSpec, message: String, source: std::io::Error) -> Error {
    Error::OutputMissing {
        output: output.name.clone(),
        message,
        source: Some(source),
    }
}

/// `Ok(None)`: stopped while hashing.
fn files(
    output: &OutputSpec,
    pattern: &str,
    many: bool,
    workdir: &Workdir,
    hash: Option<&AtomicBool>,
) -> Result<Option<Output>, Error> {
    let matches = glob::matches(workdir, pattern, false).map_err(|err| match err {
        glob::Failure::Outside(rel) => missing(
            output,
            format!(
                "\"{}\" leads outside the work directory; it is not collected",
                rel.display()
            ),
        ),
        glob::Failure::Pattern(message) => {
            missing(output, format!("invalid glob \"{pattern}\": {message}"))
        }
        glob::Failure::Io(err) => {
            unreadable(output, "cannot search the work directory".into(), err)
        }
    })?;
    let mut objects = Vec::with_capacity(matches.len());
    for relative in &matches {
        let path = workdir.path().join(relative);
        let object =
            file_object(workdir, relative, output.format.as_deref(), hash).map_err(|err| {
                unreadable(output, format!("cannot read \"{}\"", path.display()), err)
            })?;
        match object {
            Some(object) => objects.push(object),
            None => return Ok(None),
        }
    }
    if many {
        if objects.is_empty() && !output.optional {
            return Err(missing(output, no_match(pattern, workdir)));
        }
        return Ok(Some(Output::Files(objects)));
    }
    let count = objects.len();
    match objects.pop() {
        None if output.optional => Ok(Some(Output::Value(Value::Null))),
        None => Err(missing(output, no_match(pattern, workdir))),
        Some(one) if count == 1 => Ok(Some(Output::File(Box::new(one)))),
        Some(_) => Err(missing(
            output,
            format!(
                "{count} files match \"{pattern}\" but the output is one File; declare it `File[]`"
            ),
        )),
    }
}

/// `Ok(None)`: stopped while hashing.
fn directories(
    output: &OutputSpec,
    pattern: &str,
    many: bool,
    workdir: &Workdir,
    hash: Option<&AtomicBool>,
) -> Result<Option<Output>, Error> {
    let search = |err| match err {
        glob::Failure::Outside(rel) => missing(
            output,
            format!(
                "\"{}\" leads outside the work directory; it is not collected",
                rel.display()
            ),
        ),
        glob::Failure::Pattern(message) => {
            missing(output, format!("invalid glob \"{pattern}\": {message}"))
        }
        glob::Failure::Io(err) => {
            unreadable(output, "cannot search the work directory".into(), err)
        }
    };
    let matches = glob::matches(workdir, pattern, true).map_err(search)?;
    let mut trees = Vec::with_capacity(matches.len());
    for relative in &matches {
        let root = workdir.path().join(relative);
        let mut files = Vec::new();
        for inner in glob::files_below(workdir, relative).map_err(search)? {
            let object =
                file_object(workdir, &relative.join(&inner), None, hash).map_err(|err| {
                    unreadable(
                        output,
                        format!("cannot read \"{}\"", root.join(&inner).display()),
                        err,
                    )
                })?;
            match object {
                Some(object) => files.push((inner, object)),
                None => return Ok(None),
            }
        }
        trees.push(DirectoryTree::of(&root, files));
    }
    if many {
        if trees.is_empty() && !output.optional {
            return Err(missing(output, no_match(pattern, workdir)));
        }
        return Ok(Some(Output::Directories(trees)));
    }
    let count = trees.len();
    match trees.pop() {
        None if output.optional => Ok(Some(Output::Value(Value::Null))),
        None => Err(missing(output, no_match(pattern, workdir))),
        Some(one) if count == 1 => Ok(Some(Output::Directory(Box::new(one)))),
        Some(_) => Err(missing(
            output,
            format!(
                "{count} directories match \"{pattern}\" but the output is one Directory; declare it `Directory[]`"
            ),
        )),
    }
}

/// "No file matches", with where the glob looked and what it found there,
/// so that a wrong glob or a tool that wrote elsewhere shows at once.
fn no_match(pattern: &str, workdir: &Workdir) -> String {
    let mut names: Vec<String> = std::fs::read_dir(workdir.path())
        .map(|entries| {
            entries
                .filter_map(|e| {
                    let e = e.ok()?;
                    let name = e.file_name().to_string_lossy().into_owned();
                    let dir = e.file_type().ok()?.is_dir();
                    (name != ".omni-launch").then(|| if dir { format!("{name}/") } else { name })
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let shown = match names.len() {
        0 => "nothing".to_string(),
        n if n > 12 => format!("{}, … ({n} entries)", names[..12].join(", ")),
        _ => names.join(", "),
    };
    format!(
        "no file matches \"{pattern}\" in the work directory {} (it holds: {shown})",
        workdir.path().display()
    )
}

/// A File object for a collected file; with `hash`, its `sha1$…` too
/// (`Ok(None)`: stopped while hashing).
fn file_object(
    workdir: &Workdir,
    relative: &Path,
    format: Option<&str>,
    hash: Option<&AtomicBool>,
) -> std::io::Result<Option<FileObject>> {
    let mut reader = workdir.open_beneath(relative)?;
    let mut file = FileObject::local(workdir.path().join(relative));
    file.size = Some(reader.metadata()?.len());
    file.format = format.map(str::to_string);
    if let Some(stop) = hash {
        let Some(digests) = crate::digest::read(&mut reader, Some(stop))? else {
            return Ok(None);
        };
        file.checksum = Some(digests.cwl());
        file.sha256 = Some(digests.sha256);
    }
    Ok(Some(file))
}

fn value(
    output: &OutputSpec,
    ty: ValueType,
    from: &Source,
    workdir: &Workdir,
    logs: &Logs,
) -> Result<Value, Error> {
    let read = match from {
        Source::Stdout => Logs::read(&logs.stdout, MAX_VALUE_BYTES + 1),
        Source::Stderr => Logs::read(&logs.stderr, MAX_VALUE_BYTES + 1),
        Source::File(rel) => match workdir.open_beneath(rel) {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound && output.optional => {
                return Ok(Value::Null);
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(missing(
                    output,
                    format!("\"{}\" was not written", rel.display()),
                ));
            }
            opened => opened.and_then(|f| {
                let mut bytes = Vec::new();
                f.take(MAX_VALUE_BYTES + 1).read_to_end(&mut bytes)?;
                Ok(bytes)
            }),
        },
    };
    let bytes = read.map_err(|err| unreadable(output, format!("cannot read {from}"), err))?;
    if bytes.len() as u64 > MAX_VALUE_BYTES {
        return Err(missing(
            output,
            format!(
                "{from} is larger than {} KiB; a {} output reads at most that much (use a File output)",
                MAX_VALUE_BYTES / 1024,
                ty.name()
            ),
        ));
    }
    let Ok(text) = String::from_utf8(bytes) else {
        return Err(missing(output, format!("{from} is not UTF-8 text")));
    };
    if text.trim().is_empty() && ty != ValueType::String {
        if output.optional {
            return Ok(Value::Null);
        }
        return Err(missing(output, format!("{from} is empty")));
    }
    parse_value(ty, &text).map_err(|message| missing(output, format!("{from}: {message}")))
}

/// Parses a value output. A string loses its trailing newlines only (as
/// shell command substitution does); other types ignore surrounding space.
pub fn parse_value(ty: ValueType, text: &str) -> Result<Value, String> {
    let trimmed = text.trim();
    let shown = || {
        let mut s: String = trimmed.chars().take(60).collect();
        if trimmed.chars().count() > 60 {
            s.push('…');
        }
        s
    };
    match ty {
        ValueType::String => Ok(Value::String(
            text.trim_end_matches(['\n', '\r']).to_string(),
        )),
        ValueType::Int => trimmed
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("\"{}\" is not an int", shown())),
        ValueType::Float => trimmed
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| format!("\"{}\" is not a float", shown())),
        ValueType::Boolean => match trimmed {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(format!("\"{}\" is not true or false", shown())),
        },
        ValueType::Json => {
            serde_json::from_str(trimmed).map_err(|err| format!("not valid JSON: {err}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_parsing() {
        assert_eq!(
            parse_value(ValueType::String, "  hi \n\n").unwrap(),
            "  hi "
        );
        assert_eq!(parse_value(ValueType::Int, " 42\n").unwrap(), 42);
        assert_eq!(parse_value(ValueType::Float, "1e3").unwrap(), 1000.0);
        assert_eq!(parse_value(ValueType::Boolean, "true\n").unwrap(), true);
        assert!(parse_value(ValueType::Boolean, "yes").is_err());
        assert!(parse_value(ValueType::Int, "4.5").is_err());
        assert!(parse_value(ValueType::Float, "nan").is_err());
        assert_eq!(
            parse_value(ValueType::Json, "{\"a\": [1]}").unwrap(),
            serde_json::json!({"a": [1]})
        );
    }
}
