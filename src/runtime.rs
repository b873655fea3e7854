//! Stage 5: completes File and Directory inputs into their runtime CWL
//! objects (DESIGN.md §6): size, format, secondary files, listing.
//!
//! It reads file metadata but never copies or downloads: `stage` did that.
//! For a dry run (`render`), remote inputs that were not staged get the
//! object they would have once staged.

use std::path::Path;

use crate::cwl::FileObject;
use crate::diag::Problem;
use crate::error::Error;
use crate::inputs::Inputs;
use crate::spec::{InputSpec, Spec};
use crate::uri;
use crate::value::Value;
use crate::workdir;

/// Turns every validated and staged File and Directory input into its
/// full runtime object.
pub fn runtimeify(spec: &Spec, inputs: &Inputs) -> Result<Inputs, Error> {
    convert(spec, inputs, None)
}

/// As `runtimeify`, for a run that has not happened: remote inputs get the
/// paths staging would give them under `workdir`.
pub fn plan(spec: &Spec, inputs: &Inputs, workdir: &Path) -> Result<Inputs, Error> {
    convert(spec, inputs, Some(workdir))
}

fn convert(spec: &Spec, inputs: &Inputs, plan: Option<&Path>) -> Result<Inputs, Error> {
    let mut out = Inputs::new();
    for (name, value) in inputs {
        let Some(input) = spec.inputs.get(name) else {
            continue;
        };
        let converted = match value {
            Value::List(items) => Value::List(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let planned = plan
                            .map(|w| workdir::input_dir(w, name, Some(i), input.stage.is_some()));
                        complete(
                            input,
                            item,
                            &format!("inputs.{name}[{i}]"),
                            planned.as_deref(),
                        )
                    })
                    .collect::<Result<_, _>>()?,
            ),
            item => {
                let planned =
                    plan.map(|w| workdir::input_dir(w, name, None, input.stage.is_some()));
                complete(input, item, &format!("inputs.{name}"), planned.as_deref())?
            }
        };
        out.insert(name.clone(), converted);
    }
    Ok(out)
}

fn complete(
    input: &InputSpec,
    value: &Value,
    json_path: &str,
    planned_dir: Option<&Path>,
) -> Result<Value, Error> {
    let missing = |message: String| Error::InputMissing(vec![Problem::new(json_path, message)]);
    match value {
        Value::File(file) => match (&file.path, planned_dir) {
            // A local input the run would place in the work directory.
            (Some(path), Some(dir)) if input.stage.is_some() => {
                let object = file_object(input, file, path, json_path)?;
                Ok(Value::File(Box::new(object.at(dir.join(&file.basename)))))
            }
            (Some(path), _) => Ok(Value::File(Box::new(file_object(
                input, file, path, json_path,
            )?))),
            (None, Some(dir)) => Ok(Value::File(Box::new(file.at(dir.join(&file.basename))))),
            (None, None) => Err(Error::Internal(format!(
                "{json_path}: the input was not staged"
            ))),
        },
        Value::Directory(dir) => match (&dir.path, planned_dir) {
            (Some(_), Some(planned)) if input.stage.is_some() => Ok(Value::Directory(Box::new(
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
    input: &InputSpec,
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
    let dir = path.parent().unwrap_or(Path::new("/"));
    complete.secondary_files.clear();
    for secondary in &input.constraints.secondary_files {
        let name = secondary.apply(&file.basename);
        let candidate = dir.join(&name);
        if candidate.is_file() {
            let location =
                uri::sibling(&file.location, &name).unwrap_or_else(|| uri::file_uri(&candidate));
            let mut sec = FileObject::new(location, Some(candidate.clone()));
            sec.size = Some(size(&candidate).map_err(|err| missing(&candidate, err))?);
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
