//! Checks an inputs document (INPUTS_JSON) and RESOURCES_JSON against a
//! spec, CWL-style and strict: no coercion, every problem named by its JSON
//! path and reported together.
//!
//! Owns the meaning of each input type. It does not download or hash
//! anything: File and Directory inputs come out as `{class, location[, path]}`
//! for `stage` and `runtime` to complete.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_json::{Map, Value};

use crate::diag::Diagnostic;
use crate::spec::{BaseType, InputSpec, Spec};

/// Validated inputs, in spec order, defaults applied.
pub type Inputs = IndexMap<String, Value>;

/// One problem with an input value.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// JSON path, `inputs.reads[2]`.
    pub path: String,
    pub message: String,
    /// A local File or Directory that does not exist (exit 66, not 65).
    pub missing: bool,
}

impl Problem {
    fn invalid(path: &str, message: impl Into<String>) -> Self {
        Self {
            path: path.to_string(),
            message: message.into(),
            missing: false,
        }
    }

    pub fn into_diagnostic(self) -> Diagnostic {
        Diagnostic::new(self.path, self.message)
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

/// Validates a whole inputs document.
pub fn validate(spec: &Spec, doc: &Value, paths: PathCheck) -> Result<Inputs, Vec<Problem>> {
    let mut problems = Vec::new();
    let Value::Object(given) = doc else {
        return Err(vec![Problem::invalid(
            "inputs",
            format!("expected a JSON object of inputs, found {}", describe(doc)),
        )]);
    };
    for name in given.keys() {
        if !spec.inputs.contains_key(name) {
            let hint = crate::suggest::hint(name, spec.inputs.keys().map(String::as_str));
            let known = if spec.inputs.is_empty() {
                " (the tool takes no inputs)".to_string()
            } else {
                String::new()
            };
            problems.push(Problem::invalid(
                &format!("inputs.{name}"),
                format!("unknown input `{name}`{hint}{known}"),
            ));
        }
    }
    let mut values = Inputs::new();
    for (name, input) in &spec.inputs {
        let path = format!("inputs.{name}");
        let value = match given.get(name) {
            Some(Value::Null) | None => match &input.default {
                Some(default) => default,
                None if input.ty.optional => {
                    values.insert(name.clone(), Value::Null);
                    continue;
                }
                None => {
                    problems.push(Problem::invalid(
                        &path,
                        format!("missing required input `{name}` ({})", input.ty),
                    ));
                    continue;
                }
            },
            Some(value) => value,
        };
        if let Some(v) = check_value(input, value, &path, paths, &mut problems) {
            values.insert(name.clone(), v);
        }
    }
    if problems.is_empty() {
        Ok(values)
    } else {
        Err(problems)
    }
}

/// Checks a spec's default against its own type and constraints: pairs of
/// a sub-path (`[1]` for an array element, or empty) and a message.
pub fn check_default(input: &InputSpec, value: &Value) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let paths = PathCheck {
        must_exist: false,
        base_dir: Path::new("."),
    };
    check_value(input, value, "", paths, &mut problems);
    problems.into_iter().map(|p| (p.path, p.message)).collect()
}

fn check_value(
    input: &InputSpec,
    value: &Value,
    path: &str,
    paths: PathCheck,
    problems: &mut Vec<Problem>,
) -> Option<Value> {
    if input.ty.array {
        let Value::Array(items) = value else {
            problems.push(Problem::invalid(
                path,
                format!("expected a list ({}), found {}", input.ty, describe(value)),
            ));
            return None;
        };
        let before = problems.len();
        let checked: Vec<Value> = items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                check_one(input, item, &format!("{path}[{i}]"), paths, problems)
            })
            .collect();
        return (problems.len() == before).then_some(Value::Array(checked));
    }
    check_one(input, value, path, paths, problems)
}

fn check_one(
    input: &InputSpec,
    value: &Value,
    path: &str,
    paths: PathCheck,
    problems: &mut Vec<Problem>,
) -> Option<Value> {
    let mut fail = |message: String| {
        problems.push(Problem::invalid(path, message));
        None
    };
    match input.ty.base {
        BaseType::String => {
            let Value::String(s) = value else {
                return fail(format!("expected a string, found {}", describe(value)));
            };
            if s.contains('\0') {
                return fail(
                    "the string contains a NUL character, which cannot be passed to a program"
                        .into(),
                );
            }
            let len = s.chars().count() as u64;
            if let Some(min) = input.min_length
                && len < min
            {
                return fail(format!(
                    "the string is {len} character{} long; the minimum is {min}",
                    plural(len)
                ));
            }
            if let Some(max) = input.max_length
                && len > max
            {
                return fail(format!(
                    "the string is {len} character{} long; the maximum is {max}",
                    plural(len)
                ));
            }
            if let Some(re) = &input.pattern
                && !re.is_match(s)
            {
                return fail(format!(
                    "\"{}\" does not match the pattern {}",
                    clip(s),
                    re.as_str()
                ));
            }
            Some(value.clone())
        }
        BaseType::Int => {
            let Some(i) = value.as_i64() else {
                return fail(format!("expected an int, found {}", describe(value)));
            };
            range(input, i as f64, &value.to_string()).map_or(Some(value.clone()), fail)
        }
        BaseType::Float => {
            let Some(f) = value.as_f64().filter(|_| value.is_number()) else {
                return fail(format!("expected a float, found {}", describe(value)));
            };
            match range(input, f, &value.to_string()) {
                Some(message) => fail(message),
                None => serde_json::Number::from_f64(f).map(Value::Number),
            }
        }
        BaseType::Boolean => match value {
            Value::Bool(_) => Some(value.clone()),
            _ => fail(format!("expected true or false, found {}", describe(value))),
        },
        BaseType::Enum => {
            let symbols = || {
                input
                    .symbols
                    .iter()
                    .map(|s| format!("\"{s}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            match value {
                Value::String(s) if input.symbols.contains(s) => Some(value.clone()),
                Value::String(s) => {
                    let hint = crate::suggest::hint(s, input.symbols.iter().map(String::as_str));
                    fail(format!("\"{}\" is not one of {}{hint}", clip(s), symbols()))
                }
                _ => fail(format!(
                    "expected one of {}, found {}",
                    symbols(),
                    describe(value)
                )),
            }
        }
        BaseType::File | BaseType::Directory => match path_value(input.ty.base, value, paths) {
            Ok(v) => Some(v),
            Err(problem) => {
                problems.push(Problem {
                    path: path.to_string(),
                    ..problem
                });
                None
            }
        },
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn range(input: &InputSpec, v: f64, text: &str) -> Option<String> {
    if let Some(min) = input.min
        && v < min
    {
        return Some(format!("{text} is less than the minimum {min}"));
    }
    if let Some(max) = input.max
        && v > max
    {
        return Some(format!("{text} is greater than the maximum {max}"));
    }
    None
}

/// Where a File or Directory input is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    /// `s3://…` or `azureblob://…`: staged before the command runs.
    Remote(String),
}

/// Parses a path or URI given for a File or Directory input.
pub fn parse_location(text: &str, base_dir: &Path) -> Result<Location, String> {
    if text.is_empty() {
        return Err("the path is empty".into());
    }
    if text.contains('\0') {
        return Err("the path contains a NUL character".into());
    }
    if let Some((scheme, _)) = text.split_once("://")
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.')
    {
        return match scheme {
            "file" => {
                let url = url::Url::parse(text)
                    .map_err(|err| format!("invalid file URI \"{text}\": {err}"))?;
                url.to_file_path()
                    .map(Location::Local)
                    .map_err(|()| format!("\"{text}\" is not a local file URI"))
            }
            "s3" | "azureblob" => {
                crate::store::StoreUri::parse(text).map_err(|err| err.to_string())?;
                Ok(Location::Remote(text.to_string()))
            }
            other => Err(format!(
                "unsupported URI scheme `{other}://`; use a local path, file://, s3:// or azureblob://"
            )),
        };
    }
    let path = Path::new(text);
    Ok(Location::Local(if path.is_absolute() {
        path.to_path_buf()
    } else {
        base_dir.join(path)
    }))
}

fn path_value(base: BaseType, value: &Value, paths: PathCheck) -> Result<Value, Problem> {
    let class = base.name();
    let invalid = |message: String| Problem::invalid("", message);
    let text = match value {
        Value::String(s) => s.as_str(),
        Value::Object(obj) => {
            match obj.get("class") {
                Some(Value::String(c)) if c == class => {}
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
                Some(Value::String(s)) => s.as_str(),
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
    let location = parse_location(text, paths.base_dir).map_err(invalid)?;
    let mut obj = Map::new();
    obj.insert("class".into(), class.into());
    match location {
        Location::Remote(uri) => {
            obj.insert("location".into(), uri.into());
        }
        Location::Local(local) => {
            if paths.must_exist {
                match std::fs::metadata(&local) {
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                        return Err(Problem {
                            path: String::new(),
                            message: format!("{} \"{}\" does not exist", class, local.display()),
                            missing: true,
                        });
                    }
                    Err(err) => {
                        return Err(Problem {
                            path: String::new(),
                            message: format!(
                                "cannot read {} \"{}\": {err}",
                                class,
                                local.display()
                            ),
                            missing: true,
                        });
                    }
                    Ok(meta) if base == BaseType::File && !meta.is_file() => {
                        let what = if meta.is_dir() {
                            "a directory"
                        } else {
                            "not a regular file"
                        };
                        return Err(invalid(format!(
                            "\"{}\" is {what}, not a File",
                            local.display()
                        )));
                    }
                    Ok(meta) if base == BaseType::Directory && !meta.is_dir() => {
                        return Err(invalid(format!(
                            "\"{}\" is a file, not a Directory",
                            local.display()
                        )));
                    }
                    Ok(_) => {}
                }
            }
            obj.insert("location".into(), crate::runtime::file_uri(&local).into());
            obj.insert("path".into(), local.display().to_string().into());
        }
    }
    Ok(Value::Object(obj))
}

/// A value as a message names it.
pub fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string \"{}\"", clip(s)),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// Long values are cut in messages; the path already says which input.
fn clip(s: &str) -> String {
    const MAX: usize = 80;
    let escaped: String = s.escape_debug().collect();
    if escaped.chars().count() <= MAX {
        escaped
    } else {
        let cut: String = escaped.chars().take(MAX).collect();
        format!("{cut}…")
    }
}

/// RESOURCES_JSON, merged over the spec's defaults.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Resources {
    /// Whole numbers serialize as integers, so `-num_threads {{ resources.cpu }}`
    /// renders `'2'`, not `'2.0'`.
    #[serde(serialize_with = "whole_as_int")]
    pub cpu: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_limit_s: Option<u64>,
}

const RESOURCE_KEYS: [&str; 4] = ["cpu", "memory_mb", "gpu", "time_limit_s"];

/// Validates RESOURCES_JSON; unknown keys are reported, never guessed at.
pub fn resources(spec: &Spec, doc: &Value) -> Result<Resources, Vec<Problem>> {
    let defaults = &spec.requirements.resources;
    let mut res = Resources {
        cpu: defaults.cpu.unwrap_or(1.0),
        memory_mb: defaults.memory_mb,
        gpu: defaults.gpu,
        time_limit_s: defaults.time_limit_s,
    };
    let Value::Object(given) = doc else {
        return Err(vec![Problem::invalid(
            "resources",
            format!("expected a JSON object, found {}", describe(doc)),
        )]);
    };
    let mut problems = Vec::new();
    for (key, value) in given {
        let path = format!("resources.{key}");
        if value.is_null() {
            continue;
        }
        let count = || value.as_u64();
        match key.as_str() {
            "cpu" => match value.as_f64() {
                Some(cpu) if cpu > 0.0 => res.cpu = cpu,
                _ => problems.push(Problem::invalid(
                    &path,
                    format!(
                        "expected a number greater than 0, found {}",
                        describe(value)
                    ),
                )),
            },
            "memory_mb" | "gpu" | "time_limit_s" => match count() {
                Some(n) => match key.as_str() {
                    "memory_mb" => res.memory_mb = Some(n),
                    "gpu" => res.gpu = Some(n),
                    _ => res.time_limit_s = Some(n),
                },
                None => problems.push(Problem::invalid(
                    &path,
                    format!("expected a non-negative integer, found {}", describe(value)),
                )),
            },
            other => {
                let hint = crate::suggest::hint(other, RESOURCE_KEYS);
                problems.push(Problem::invalid(
                    &path,
                    format!(
                        "unknown resource `{other}`{hint} (known: {})",
                        RESOURCE_KEYS.join(", ")
                    ),
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(res)
    } else {
        Err(problems)
    }
}

fn whole_as_int<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.fract() == 0.0 && *v >= 0.0 && *v < 9.0e15 {
        s.serialize_u64(*v as u64)
    } else {
        s.serialize_f64(*v)
    }
}
