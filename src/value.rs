//! Input values, typed, and the rules for checking one JSON value against a
//! declared type and its constraints, CWL-style and strict: no coercion
//! (`"5"` is not an int, `5.0` is not an int, `"true"` is not a boolean; an
//! int is a valid float).
//!
//! Ground floor: the spec checker uses these rules for defaults, inputs
//! validation for documents. File and Directory values come out as CWL
//! objects that name where the data is; nothing here downloads or hashes.

use std::path::Path;

use serde::Serialize;

use crate::cwl::{DirectoryObject, FileObject};
use crate::types::{BaseType, Constraints, InputType};
use crate::uri::Location;

/// A checked input value.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    File(Box<FileObject>),
    Directory(Box<DirectoryObject>),
    List(Vec<Value>),
    /// A record's fields, in declared order.
    Record(indexmap::IndexMap<String, Value>),
}

impl Value {
    /// The local paths of every File (with its secondary files) and
    /// Directory in the value.
    pub fn paths(&self) -> Vec<std::path::PathBuf> {
        let mut paths = Vec::new();
        self.collect_paths(&mut paths);
        paths
    }

    fn collect_paths(&self, paths: &mut Vec<std::path::PathBuf>) {
        match self {
            Value::File(file) => {
                paths.extend(file.path.clone());
                for secondary in &file.secondary_files {
                    paths.extend(secondary.path.clone());
                }
            }
            Value::Directory(dir) => paths.extend(dir.path.clone()),
            Value::List(items) => items.iter().for_each(|v| v.collect_paths(paths)),
            Value::Record(fields) => fields.values().for_each(|v| v.collect_paths(paths)),
            _ => {}
        }
    }
}

/// How File and Directory values are checked.
#[derive(Clone, Copy, Debug)]
pub struct PathCheck<'a> {
    /// Whether local paths must exist (false for spec defaults at validate time).
    pub must_exist: bool,
    /// What relative paths are relative to.
    pub base_dir: &'a Path,
}

/// One thing wrong with a value.
#[derive(Debug)]
pub struct Found {
    /// Where, relative to the value checked: `` or `[2]`.
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
    /// A local File or Directory that does not exist (exit 66, not 65).
    pub missing: bool,
}

impl Found {
    fn invalid(path: &str, message: impl Into<String>) -> Self {
        Self {
            path: path.to_string(),
            message: message.into(),
            hint: None,
            missing: false,
        }
    }
}

/// Checks `value` against a type and constraints; problems are added to
/// `found` with paths below `path`.
pub fn check(
    ty: InputType,
    constraints: &Constraints,
    value: &serde_json::Value,
    path: &str,
    paths: PathCheck,
    found: &mut Vec<Found>,
) -> Option<Value> {
    if ty.array {
        let serde_json::Value::Array(items) = value else {
            found.push(Found::invalid(
                path,
                format!("expected a list ({ty}), found {}", describe(value)),
            ));
            return None;
        };
        let before = found.len();
        let checked: Vec<Value> = items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                check_one(
                    ty.base,
                    constraints,
                    item,
                    &format!("{path}[{i}]"),
                    paths,
                    found,
                )
            })
            .collect();
        return (found.len() == before).then_some(Value::List(checked));
    }
    check_one(ty.base, constraints, value, path, paths, found)
}

fn check_one(
    base: BaseType,
    c: &Constraints,
    value: &serde_json::Value,
    path: &str,
    paths: PathCheck,
    found: &mut Vec<Found>,
) -> Option<Value> {
    use serde_json::Value as J;
    let mut fail = |message: String| {
        found.push(Found::invalid(path, message));
        None
    };
    match base {
        BaseType::String => {
            let J::String(s) = value else {
                return fail(format!("expected a string, found {}", describe(value)));
            };
            if s.contains('\0') {
                return fail(
                    "the string contains a NUL character, which cannot be passed to a program"
                        .into(),
                );
            }
            let len = s.chars().count() as u64;
            if let Some(min) = c.min_length
                && len < min
            {
                return fail(format!(
                    "the string is {len} character{} long; the minimum is {min}",
                    plural(len)
                ));
            }
            if let Some(max) = c.max_length
                && len > max
            {
                return fail(format!(
                    "the string is {len} character{} long; the maximum is {max}",
                    plural(len)
                ));
            }
            if let Some(re) = &c.pattern
                && !re.is_match(s)
            {
                return fail(format!(
                    "\"{}\" does not match the pattern {}",
                    clip(s),
                    re.as_str()
                ));
            }
            Some(Value::String(s.clone()))
        }
        BaseType::Int => {
            let Some(i) = value.as_i64() else {
                return fail(format!("expected an int, found {}", describe(value)));
            };
            match range(c, i as f64, &value.to_string()) {
                Some(message) => fail(message),
                None => Some(Value::Int(i)),
            }
        }
        BaseType::Float => {
            let Some(f) = value.as_f64().filter(|_| value.is_number()) else {
                return fail(format!("expected a float, found {}", describe(value)));
            };
            match range(c, f, &value.to_string()) {
                Some(message) => fail(message),
                None => Some(Value::Float(f)),
            }
        }
        BaseType::Boolean => match value {
            J::Bool(b) => Some(Value::Bool(*b)),
            _ => fail(format!("expected true or false, found {}", describe(value))),
        },
        BaseType::Enum => {
            let symbols = || {
                c.symbols
                    .iter()
                    .map(|s| format!("\"{s}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            match value {
                J::String(s) if c.symbols.contains(s) => Some(Value::String(s.clone())),
                J::String(s) => {
                    found.push(Found {
                        hint: crate::suggest::did_you_mean(s, c.symbols.iter().map(String::as_str)),
                        ..Found::invalid(
                            path,
                            format!("\"{}\" is not one of {}", clip(s), symbols()),
                        )
                    });
                    None
                }
                _ => fail(format!(
                    "expected one of {}, found {}",
                    symbols(),
                    describe(value)
                )),
            }
        }
        BaseType::Record => record(c, value, path, paths, found),
        BaseType::File | BaseType::Directory => match path_value(base, c, value, paths) {
            Ok(v) => Some(v),
            Err(problem) => {
                found.push(Found {
                    // Below the value, for a field of a File object.
                    path: format!("{path}{}", problem.path),
                    ..problem
                });
                None
            }
        },
    }
}

/// A record: a JSON object whose keys are its fields, each checked against
/// its own type; absent fields take their default, or `null` when optional.
fn record(
    c: &Constraints,
    value: &serde_json::Value,
    path: &str,
    paths: PathCheck,
    found: &mut Vec<Found>,
) -> Option<Value> {
    let serde_json::Value::Object(given) = value else {
        found.push(Found::invalid(
            path,
            format!("expected an object of fields, found {}", describe(value)),
        ));
        return None;
    };
    let before = found.len();
    for name in given.keys() {
        if !c.fields.iter().any(|f| &f.name == name) {
            found.push(Found {
                hint: crate::suggest::did_you_mean(name, c.fields.iter().map(|f| f.name.as_str())),
                ..Found::invalid(&format!("{path}.{name}"), format!("unknown field `{name}`"))
            });
        }
    }
    let mut fields = indexmap::IndexMap::new();
    for field in &c.fields {
        let field_path = format!("{path}.{}", field.name);
        let given = match given.get(&field.name) {
            Some(serde_json::Value::Null) | None => match &field.default {
                Some(default) => default,
                None if field.ty.optional => {
                    fields.insert(field.name.clone(), Value::Null);
                    continue;
                }
                None => {
                    found.push(Found::invalid(
                        &field_path,
                        format!("missing required field `{}` ({})", field.name, field.ty),
                    ));
                    continue;
                }
            },
            Some(given) => given,
        };
        if let Some(v) = check(
            field.ty,
            &field.constraints,
            given,
            &field_path,
            paths,
            found,
        ) {
            fields.insert(field.name.clone(), v);
        }
    }
    (found.len() == before).then_some(Value::Record(fields))
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn range(c: &Constraints, v: f64, text: &str) -> Option<String> {
    if let Some(min) = c.min
        && v < min
    {
        return Some(format!("{text} is less than the minimum {min}"));
    }
    if let Some(max) = c.max
        && v > max
    {
        return Some(format!("{text} is greater than the maximum {max}"));
    }
    None
}

/// A File or Directory given as a path, a URI or a CWL object.
fn path_value(
    base: BaseType,
    c: &Constraints,
    value: &serde_json::Value,
    paths: PathCheck,
) -> Result<Value, Found> {
    use serde_json::Value as J;
    let class = base.name();
    let invalid = |message: String| Found::invalid("", message);
    let text = match value {
        J::String(s) => s.as_str(),
        J::Object(obj) => {
            match obj.get("class") {
                Some(J::String(c)) if c == class => {}
                Some(other) => {
                    return Err(invalid(format!(
                        "expected class \"{class}\", found {}",
                        describe(other)
                    )));
                }
                None => {
                    return Err(invalid(format!(
                        "a {class} object needs \"class\": \"{class}\""
                    )));
                }
            }
            match obj.get("location").or_else(|| obj.get("path")) {
                Some(J::String(s)) => s.as_str(),
                Some(other) => {
                    return Err(invalid(format!(
                        "\"location\" must be a string, found {}",
                        describe(other)
                    )));
                }
                None => {
                    return Err(invalid(format!(
                        "a {class} object needs \"location\" or \"path\""
                    )));
                }
            }
        }
        _ => {
            return Err(invalid(format!(
                "expected a {class}: a path, a URI or {{\"class\": \"{class}\", \"location\": …}}, found {}",
                describe(value)
            )));
        }
    };
    // A checksum given with a File is checked once the file is read.
    let checksum = match value {
        J::Object(obj) if base == BaseType::File => match obj.get("checksum") {
            None | Some(J::Null) => None,
            Some(J::String(sum)) if crate::digest::valid_checksum(sum) => Some(sum.clone()),
            Some(other) => {
                return Err(Found::invalid(
                    ".checksum",
                    format!(
                        "expected \"sha1$<40 hex digits>\" or \"sha256$<64 hex digits>\", found {}",
                        describe(other)
                    ),
                ));
            }
        },
        _ => None,
    };
    let location = Location::parse(text, paths.base_dir).map_err(invalid)?;
    let local = match location {
        Location::Remote(uri)
            if base == BaseType::Directory && uri.scheme == crate::uri::Scheme::Http =>
        {
            let scheme = text.split_once("://").map_or("https", |(s, _)| s);
            return Err(invalid(format!(
                "a Directory cannot be given by {scheme}:// (a web server has no listing); use s3://, azureblob:// or a local path"
            )));
        }
        Location::Remote(_) => None,
        Location::Local(local) => {
            if paths.must_exist {
                check_exists(base, &local)?;
            }
            Some(local)
        }
    };
    let directory = base == BaseType::Directory;
    let file = |mut file: FileObject| {
        file.checksum = checksum.clone();
        Value::File(Box::new(with_format(file, c)))
    };
    Ok(match (local, directory) {
        (Some(path), false) => file(FileObject::local(path)),
        (None, false) => file(FileObject::new(text.to_string(), None)),
        (Some(path), true) => Value::Directory(Box::new(DirectoryObject::local(path))),
        (None, true) => Value::Directory(Box::new(DirectoryObject::new(text.to_string(), None))),
    })
}

fn with_format(mut file: FileObject, c: &Constraints) -> FileObject {
    file.format = c.format.clone();
    file
}

fn check_exists(base: BaseType, local: &Path) -> Result<(), Found> {
    let class = base.name();
    let missing = |message: String| Found {
        missing: true,
        ..Found::invalid("", message)
    };
    match std::fs::metadata(local) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Err(missing(format!(
            "{class} \"{}\" does not exist",
            local.display()
        ))),
        Err(err) => Err(missing(format!(
            "cannot read {class} \"{}\": {err}",
            local.display()
        ))),
        Ok(meta) if base == BaseType::File && !meta.is_file() => {
            let what = if meta.is_dir() {
                "a directory"
            } else {
                "not a regular file"
            };
            Err(Found::invalid(
                "",
                format!("\"{}\" is {what}, not a File", local.display()),
            ))
        }
        Ok(meta) if base == BaseType::Directory && !meta.is_dir() => Err(Found::invalid(
            "",
            format!("\"{}\" is a file, not a Directory", local.display()),
        )),
        Ok(_) => Ok(()),
    }
}

/// A JSON value as a message names it.
pub fn describe(value: &serde_json::Value) -> String {
    use serde_json::Value as J;
    match value {
        J::Null => "null".into(),
        J::Bool(b) => b.to_string(),
        J::Number(n) => format!("the number {n}"),
        J::String(s) => format!("the string \"{}\"", clip(s)),
        J::Array(_) => "a list".into(),
        J::Object(_) => "an object".into(),
    }
}

/// Long values are cut in messages; the path already says which input.
pub fn clip(s: &str) -> String {
    const MAX: usize = 80;
    let escaped: String = s.escape_debug().collect();
    if escaped.chars().count() <= MAX {
        escaped
    } else {
        let cut: String = escaped.chars().take(MAX).collect();
        format!("{cut}…")
    }
}
