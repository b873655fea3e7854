//! Stage 8: collects a finished tool's outputs (DESIGN.md §5): Files by
//! glob, values read from stdout, stderr or a file.
//!
//! Nothing outside the work directory is ever collected: globs are matched
//! below it, and a match whose real path leaves it (a symlink) is refused.

use std::io::Read;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::Value;
use sha1::Digest;

use crate::cwl::FileObject;
use crate::error::Error;
use crate::spec::{OutputKind, OutputSpec, Source, Spec};
use crate::types::ValueType;

/// One collected output.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Output {
    File(Box<FileObject>),
    Files(Vec<FileObject>),
    /// A value read from a stream or file (`null` when optional and absent).
    Value(Value),
}

impl Output {
    /// The File objects of this output, to store them.
    pub fn files_mut(&mut self) -> Vec<&mut FileObject> {
        match self {
            Output::File(file) => vec![file.as_mut()],
            Output::Files(files) => files.iter_mut().collect(),
            Output::Value(_) => Vec::new(),
        }
    }
}

/// The outputs of a run, in spec order.
pub type Outputs = IndexMap<String, Output>;

/// Value outputs read at most this much.
pub const MAX_VALUE_BYTES: u64 = 64 * 1024;

/// Where the tool wrote.
pub struct Places<'a> {
    pub workdir: &'a Path,
    pub stdout: &'a Path,
    pub stderr: &'a Path,
}

/// Collects every output. `checksums`: hash File outputs here; a run that
/// uploads them hashes them during the upload instead (one pass, not two).
pub fn collect(spec: &Spec, places: &Places, checksums: bool) -> Result<Outputs, Error> {
    let root = places
        .workdir
        .canonicalize()
        .map_err(|err| Error::io("cannot resolve the work directory", err))?;
    let mut results = IndexMap::new();
    for (name, output) in &spec.outputs {
        let value = match &output.kind {
            OutputKind::Files { glob, many } => files(output, glob, *many, &root, checksums)?,
            OutputKind::Value { ty, from } => {
                Output::Value(value(output, *ty, from, places, &root)?)
            }
        };
        results.insert(name.clone(), value);
    }
    Ok(results)
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

fn files(
    output: &OutputSpec,
    pattern: &str,
    many: bool,
    root: &Path,
    checksums: bool,
) -> Result<Output, Error> {
    let full = format!(
        "{}/{pattern}",
        glob::Pattern::escape(&root.to_string_lossy())
    );
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        // Like the shell: `*` does not match hidden files.
        require_literal_leading_dot: true,
    };
    let entries = glob::glob_with(&full, options)
        .map_err(|err| missing(output, format!("invalid glob \"{pattern}\": {err}")))?;
    let mut matches: Vec<PathBuf> = Vec::new();
    for entry in entries {
        let path = entry.map_err(|err| missing(output, format!("cannot read a match: {err}")))?;
        let real = path.canonicalize().map_err(|err| {
            missing(
                output,
                format!("cannot resolve \"{}\": {err}", path.display()),
            )
        })?;
        if !real.starts_with(root) {
            return Err(missing(
                output,
                format!(
                    "\"{}\" leads outside the work directory; it is not collected",
                    path.strip_prefix(root).unwrap_or(&path).display()
                ),
            ));
        }
        if real.is_file() {
            matches.push(path);
        }
    }
    matches.sort();
    let object = |path: &Path| {
        file_object(path, output.format.as_deref(), checksums)
            .map_err(|err| unreadable(output, format!("cannot read \"{}\"", path.display()), err))
    };
    if many {
        if matches.is_empty() && !output.optional {
            return Err(missing(output, format!("no file matches \"{pattern}\"")));
        }
        return Ok(Output::Files(
            matches
                .iter()
                .map(|p| object(p))
                .collect::<Result<_, _>>()?,
        ));
    }
    match matches.as_slice() {
        [] if output.optional => Ok(Output::Value(Value::Null)),
        [] => Err(missing(output, format!("no file matches \"{pattern}\""))),
        [one] => Ok(Output::File(Box::new(object(one)?))),
        more => Err(missing(
            output,
            format!(
                "{} files match \"{pattern}\" but the output is one File; declare it `File[]`",
                more.len()
            ),
        )),
    }
}

fn value(
    output: &OutputSpec,
    ty: ValueType,
    from: &Source,
    places: &Places,
    root: &Path,
) -> Result<Value, Error> {
    let path = match from {
        Source::Stdout => places.stdout.to_path_buf(),
        Source::Stderr => places.stderr.to_path_buf(),
        Source::File(rel) => {
            let path = root.join(rel);
            match path.canonicalize() {
                Ok(real) if !real.starts_with(root) => {
                    return Err(missing(
                        output,
                        format!("\"{}\" leads outside the work directory", rel.display()),
                    ));
                }
                Ok(_) => path,
                Err(_) if output.optional => return Ok(Value::Null),
                Err(_) => {
                    return Err(missing(
                        output,
                        format!("\"{}\" was not written", rel.display()),
                    ));
                }
            }
        }
    };
    let mut bytes = Vec::new();
    std::fs::File::open(&path)
        .and_then(|f| f.take(MAX_VALUE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|err| unreadable(output, format!("cannot read {from}"), err))?;
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

/// A File object for a collected file; `checksum`: compute `sha1$…`.
fn file_object(path: &Path, format: Option<&str>, checksum: bool) -> std::io::Result<FileObject> {
    let mut file = FileObject::local(path.to_path_buf());
    file.size = Some(std::fs::metadata(path)?.len());
    file.format = format.map(str::to_string);
    if checksum {
        file.checksum = Some(format!("sha1${}", sha1_file(path)?));
    }
    Ok(file)
}

/// SHA-1 in one streaming pass (1 MiB buffer; the file is never held whole).
fn sha1_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = sha1::Sha1::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
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
