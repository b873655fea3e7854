//! CWL v1.2 File and Directory objects (DESIGN.md §6) for inputs and outputs.
//!
//! Owns the naming rules (basename, nameroot, nameext) and secondary files.
//! It reads file metadata but never copies or downloads: `stage` does that.

use std::io::Read;
use std::path::Path;

use serde_json::{Map, Value, json};
use sha1::Digest;

use crate::error::Error;
use crate::inputs::Inputs;
use crate::spec::{BaseType, InputSpec, Spec};

/// Splits a basename into CWL's nameroot and nameext: only the last suffix
/// is an extension, and leading periods are not one (`.bashrc` has none).
pub fn split_name(basename: &str) -> (&str, &str) {
    let lead = basename.len() - basename.trim_start_matches('.').len();
    match basename[lead..].rfind('.') {
        Some(dot) => basename.split_at(lead + dot),
        None => (basename, ""),
    }
}

/// The `file://` URI of a local path (percent-encoded).
pub fn file_uri(path: &Path) -> String {
    url::Url::from_file_path(path)
        .map(String::from)
        .unwrap_or_else(|()| path.display().to_string())
}

/// The naming fields shared by Files and Directories.
fn named(class: &str, path: &Path, location: Option<&str>) -> Map<String, Value> {
    let basename = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dirname = path
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let mut obj = Map::new();
    obj.insert("class".into(), class.into());
    obj.insert(
        "location".into(),
        location
            .map_or_else(|| file_uri(path), str::to_string)
            .into(),
    );
    obj.insert("path".into(), path.display().to_string().into());
    if class == "File" {
        let (nameroot, nameext) = split_name(&basename);
        obj.insert("nameroot".into(), nameroot.into());
        obj.insert("nameext".into(), nameext.into());
    }
    obj.insert("basename".into(), basename.into());
    obj.insert("dirname".into(), dirname.into());
    obj
}

/// A File object for a local file. `checksum`: compute `sha1$…` (outputs).
pub fn file_object(
    path: &Path,
    location: Option<&str>,
    format: Option<&str>,
    checksum: bool,
) -> std::io::Result<Value> {
    let mut obj = named("File", path, location);
    let size = std::fs::metadata(path)?.len();
    obj.insert("size".into(), size.into());
    if let Some(format) = format {
        obj.insert("format".into(), format.into());
    }
    if checksum {
        obj.insert(
            "checksum".into(),
            format!("sha1${}", sha1_file(path)?).into(),
        );
    }
    obj.insert("secondaryFiles".into(), json!([]));
    Ok(Value::Object(obj))
}

/// A Directory object: its entries' names as `listing`, no size.
pub fn directory_object(path: &Path, location: Option<&str>) -> std::io::Result<Value> {
    let mut obj = named("Directory", path, location);
    let mut names: Vec<String> = std::fs::read_dir(path)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    obj.insert("listing".into(), names.into());
    Ok(Value::Object(obj))
}

/// SHA-1 in one streaming pass (1 MiB buffer; the file is never held whole).
pub fn sha1_file(path: &Path) -> std::io::Result<String> {
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

/// Turns every validated (and staged) File and Directory input into its
/// full runtime object.
pub fn runtimeify(spec: &Spec, inputs: &Inputs) -> Result<Inputs, Error> {
    runtimeify_with(spec, inputs, None)
}

/// As `runtimeify`; with `plan`, remote inputs that were not staged get the
/// object they would have once staged under that work directory (`render`).
pub fn runtimeify_with(spec: &Spec, inputs: &Inputs, plan: Option<&Path>) -> Result<Inputs, Error> {
    let mut out = Inputs::new();
    for (name, value) in inputs {
        let Some(input) = spec.inputs.get(name) else {
            continue;
        };
        let converted = if input.ty.base.is_path() && !value.is_null() {
            match value {
                Value::Array(items) => Value::Array(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, item)| {
                            let planned =
                                plan.map(|w| w.join("inputs").join(name).join(i.to_string()));
                            object_or_plan(
                                input,
                                item,
                                &format!("inputs.{name}[{i}]"),
                                planned.as_deref(),
                            )
                        })
                        .collect::<Result<_, _>>()?,
                ),
                item => {
                    let planned = plan.map(|w| w.join("inputs").join(name));
                    object_or_plan(input, item, &format!("inputs.{name}"), planned.as_deref())?
                }
            }
        } else {
            value.clone()
        };
        out.insert(name.clone(), converted);
    }
    Ok(out)
}

fn object_or_plan(
    input: &InputSpec,
    value: &Value,
    json_path: &str,
    planned_dir: Option<&Path>,
) -> Result<Value, Error> {
    if let (None, Some(dir), Some(location)) = (
        value.get("path"),
        planned_dir,
        value.get("location").and_then(Value::as_str),
    ) {
        let basename = location.rsplit('/').next().unwrap_or_default();
        let class = input.ty.base.name();
        let mut obj = named(class, &dir.join(basename), Some(location));
        if let Some(format) = &input.format {
            obj.insert("format".into(), format.clone().into());
        }
        if input.ty.base == BaseType::File {
            obj.insert("secondaryFiles".into(), json!([]));
        }
        return Ok(Value::Object(obj));
    }
    path_object(input, value, json_path)
}

fn path_object(input: &InputSpec, value: &Value, json_path: &str) -> Result<Value, Error> {
    let local = value
        .get("path")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Internal(format!("{json_path}: the input was not staged")))?;
    let location = value.get("location").and_then(Value::as_str);
    let local = Path::new(local);
    let missing = |err: std::io::Error| {
        Error::InputMissing(format!(
            "{json_path}: cannot read \"{}\": {err}",
            local.display()
        ))
    };
    if input.ty.base == BaseType::Directory {
        return directory_object(local, location).map_err(missing);
    }
    let mut obj = file_object(local, location, input.format.as_deref(), false).map_err(missing)?;
    let mut secondaries = Vec::new();
    let basename = local
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = local.parent().unwrap_or(Path::new("/"));
    for secondary in &input.secondary_files {
        let candidate = dir.join(secondary.apply(&basename));
        if candidate.is_file() {
            let sec_location = location.and_then(|l| sibling_uri(l, &secondary.apply(&basename)));
            secondaries.push(
                file_object(&candidate, sec_location.as_deref(), None, false).map_err(missing)?,
            );
        } else if secondary.required {
            return Err(Error::InputMissing(format!(
                "{json_path}: secondary file \"{}\" (pattern \"{}\") does not exist",
                candidate.display(),
                secondary.pattern
            )));
        }
    }
    if let Value::Object(map) = &mut obj {
        map.insert("secondaryFiles".into(), Value::Array(secondaries));
    }
    Ok(obj)
}

/// The URI of a sibling of the object at `uri` (same folder, other name).
pub fn sibling_uri(uri: &str, basename: &str) -> Option<String> {
    if let Some(rest) = uri.strip_prefix("file://") {
        let path = url::Url::parse(&format!("file://{rest}"))
            .ok()?
            .to_file_path()
            .ok()?;
        return Some(file_uri(&path.parent()?.join(basename)));
    }
    let (dir, _) = uri.rsplit_once('/')?;
    Some(format!("{dir}/{basename}"))
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
    fn siblings() {
        assert_eq!(
            sibling_uri("s3://b/x/a.bam", "a.bam.bai").as_deref(),
            Some("s3://b/x/a.bam.bai")
        );
        assert_eq!(
            sibling_uri("file:///d/a%20b.bam", "a b.bai").as_deref(),
            Some("file:///d/a%20b.bai")
        );
    }
}
