//! Stage 5: completes File and Directory inputs into their runtime CWL
//! objects (DESIGN.md §6): size, format, secondary files, listing.
//!
//! It reads file metadata but never copies or downloads: `stage` did that.
//! For a dry run (`render`), remote inputs that were not staged get the
//! object they would have once staged.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use crate::cwl::FileObject;
use crate::diag::Problem;
use crate::error::Error;
use crate::inputs::Inputs;
use crate::spec::Spec;
use crate::types::Constraints;
use crate::uri;
use crate::value::Value;
use crate::workdir;

/// Turns every validated and staged File and Directory input into its
/// full runtime object. `checksums`: hash every File that staging did not
/// (a File given with a checksum is hashed and checked regardless).
pub fn runtimeify(
    spec: &Spec,
    inputs: &Inputs,
    checksums: bool,
    stop: &AtomicBool,
) -> Result<Inputs, Error> {
    convert(spec, inputs, None, checksums, Some(stop))
}

/// As `runtimeify`, for a run that has not happened: remote inputs get the
/// paths staging would give them under `workdir`; nothing is hashed.
pub fn plan(spec: &Spec, inputs: &Inputs, workdir: &Path) -> Result<Inputs, Error> {
    convert(spec, inputs, Some(workdir), false, None)
}

fn convert(
    spec: &Spec,
    inputs: &Inputs,
    plan: Option<&Path>,
    checksums: bool,
    stop: Option<&AtomicBool>,
) -> Result<Inputs, Error> {
    let mut out = Inputs::new();
    for (name, value) in inputs {
        let Some(input) = spec.inputs.get(name) else {
            continue;
        };
        let staged = input.stage.is_some();
        let planned = plan.map(|w| workdir::input_dir(w, name, None, staged));
        let how = How {
            constraints: &input.constraints,
            staged,
            checksums,
            stop,
        };
        let converted = walk(how, value, &format!("inputs.{name}"), planned.as_deref())?;
        out.insert(name.clone(), converted);
    }
    Ok(out)
}

/// What declares a value being completed, and whether its input is staged.
#[derive(Clone, Copy)]
struct How<'a> {
    constraints: &'a Constraints,
    staged: bool,
    checksums: bool,
    /// Set when the run is stopped: a hash in progress gives up.
    stop: Option<&'a AtomicBool>,
}

/// Completes every File and Directory of a value, through lists and
/// records; a planned folder follows the names staging would use.
fn walk(how: How, value: &Value, json_path: &str, planned: Option<&Path>) -> Result<Value, Error> {
    let below = |part: &str| {
        planned.map(|d| {
            if how.staged {
                d.to_path_buf()
            } else {
                d.join(part)
            }
        })
    };
    match value {
        Value::List(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let inner = below(&i.to_string());
                walk(how, item, &format!("{json_path}[{i}]"), inner.as_deref())
            })
            .collect::<Result<_, _>>()
            .map(Value::List),
        Value::Record(fields) => {
            let mut out = indexmap::IndexMap::new();
            for (name, field_value) in fields {
                let Some(field) = how.constraints.fields.iter().find(|f| &f.name == name) else {
                    continue;
                };
                let inner_how = How {
                    constraints: &field.constraints,
                    ..how
                };
                let inner = below(name);
                let done = walk(
                    inner_how,
                    field_value,
                    &format!("{json_path}.{name}"),
                    inner.as_deref(),
                )?;
                out.insert(name.clone(), done);
            }
            Ok(Value::Record(out))
        }
        other => complete(how, other, json_path, planned),
    }
}

fn complete(
    how: How,
    value: &Value,
    json_path: &str,
    planned_dir: Option<&Path>,
) -> Result<Value, Error> {
    let missing = |message: String| Error::InputMissing(vec![Problem::new(json_path, message)]);
    match value {
        Value::File(file) => match (&file.path, planned_dir) {
            // A local input the run would place in the work directory.
            (Some(path), Some(dir)) if how.staged => {
                let object = file_object(how, file, path, json_path)?;
                Ok(Value::File(Box::new(object.at(dir.join(&file.basename)))))
            }
            (Some(path), _) => Ok(Value::File(Box::new(file_object(
                how, file, path, json_path,
            )?))),
            (None, Some(dir)) => Ok(Value::File(Box::new(file.at(dir.join(&file.basename))))),
            (None, None) => Err(Error::Internal(format!(
                "{json_path}: the input was not staged"
            ))),
        },
        Value::Directory(dir) => match (&dir.path, planned_dir) {
            (Some(_), Some(planned)) if how.staged => Ok(Value::Directory(Box::new(
                dir.at(planned.join(&dir.basename)),
            ))),
            (Some(path), _) => {
                let listing = listing(path)
                    .map_err(|err| missing(format!("cannot read \"{}\": {err}", path.display())))?;
                let mut complete = dir.as_ref().clone();
                complete.listing = Some(listing);
                Ok(Value::Directory(Box::new(complete)))
            }
            (None, Some(planned)) => Ok(Value::Directory(Box::new(
                dir.at(planned.join(&dir.basename)),
            ))),
            (None, None) => Err(Error::Internal(format!(
                "{json_path}: the input was not staged"
            ))),
        },
        other => Ok(other.clone()),
    }
}

/// A local File input with its size and secondary files.
fn file_object(
    how: How,
    file: &FileObject,
    path: &Path,
    json_path: &str,
) -> Result<FileObject, Error> {
    let missing = |path: &Path, err: std::io::Error| {
        Error::InputMissing(vec![Problem::new(
            json_path,
            format!("cannot read \"{}\": {err}", path.display()),
        )])
    };
    let mut complete = file.clone();
    complete.size = Some(size(path).map_err(|err| missing(path, err))?);
    if complete.sha256.is_none() && (how.checksums || file.checksum.is_some()) {
        let digests = hash(path, how.stop).map_err(|err| missing(path, err))?;
        if let Some(given) = &file.checksum
            && !digests.matches(given)
        {
            return Err(Error::InputMissing(vec![Problem::new(
                json_path,
                format!(
                    "\"{}\" does not match its checksum: given {given}, found {}",
                    path.display(),
                    digests.cwl()
                ),
            )]));
        }
        complete.checksum = Some(digests.cwl());
        complete.sha256 = Some(digests.sha256);
    }
    let dir = path.parent().unwrap_or(Path::new("/"));
    complete.secondary_files.clear();
    for secondary in &how.constraints.secondary_files {
        let name = secondary.apply(&file.basename);
        let candidate = dir.join(&name);
        if candidate.is_file() {
            let location =
                uri::sibling(&file.location, &name).unwrap_or_else(|| uri::file_uri(&candidate));
            let mut sec = FileObject::new(location, Some(candidate.clone()));
            sec.size = Some(size(&candidate).map_err(|err| missing(&candidate, err))?);
            if how.checksums {
                let digests = hash(&candidate, how.stop).map_err(|err| missing(&candidate, err))?;
                sec.checksum = Some(digests.cwl());
                sec.sha256 = Some(digests.sha256);
            }
            complete.secondary_files.push(sec);
        } else if secondary.required {
            return Err(Error::InputMissing(vec![Problem::new(
                json_path,
                format!(
                    "secondary file \"{}\" (pattern \"{}\") does not exist",
                    candidate.display(),
                    secondary.pattern
                ),
            )]));
        }
    }
    Ok(complete)
}

fn hash(path: &Path, stop: Option<&AtomicBool>) -> std::io::Result<crate::digest::Digests> {
    let file = std::fs::File::open(path)?;
    crate::digest::read(file, stop)?.ok_or_else(|| std::io::Error::other("stopped"))
}

fn size(path: &Path) -> std::io::Result<u64> {
    Ok(std::fs::metadata(path)?.len())
}

/// A directory's entry names, sorted.
pub fn listing(path: &Path) -> std::io::Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(path)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}
