//! Stage 3: checks an inputs document (INPUTS_JSON) and RESOURCES_JSON
//! against a spec, CWL-style and strict: no coercion, every problem named by
//! its JSON path and reported together.
//!
//! The rules for one value are `value`'s; this module applies them to a
//! whole document, with defaults and unknown names. It does not download or
//! hash anything: File and Directory inputs name where their data is for
//! `stage` and `runtime` to complete.

use std::path::Path;

use indexmap::IndexMap;
use serde_json::Value as Json;

use crate::contract::Document;
use crate::diag::Problem;
use crate::error::Error;
use crate::spec::Spec;
use crate::value::{self, Found, PathCheck, Value, describe};

/// Validated inputs, in spec order, defaults applied.
pub type Inputs = IndexMap<String, Value>;

/// Validates INPUTS_JSON and RESOURCES_JSON against the spec: all problems
/// together; only missing files is input_missing (66), anything else
/// invalid_inputs (65).
pub fn check(
    spec: &Spec,
    inputs_doc: &Document,
    resources_doc: &Document,
    cwd: &Path,
) -> Result<(Inputs, Resources), Error> {
    let doc = inputs_doc.parse()?;
    let res_doc = resources_doc.parse()?;
    let paths = PathCheck {
        must_exist: true,
        base_dir: cwd,
    };
    let (values, resources) = match (validate(spec, &doc, paths), resources(spec, &res_doc)) {
        (Ok(values), Ok(resources)) => return Ok((values, resources)),
        pair => pair,
    };
    let mut found: Vec<(Found, Option<&str>)> = Vec::new();
    if let Err(problems) = values {
        found.extend(problems.into_iter().map(|p| (p, inputs_doc.file())));
    }
    if let Err(problems) = resources {
        found.extend(problems.into_iter().map(|p| (p, resources_doc.file())));
    }
    let all_missing = found.iter().all(|(p, _)| p.missing);
    let problems: Vec<Problem> = found
        .into_iter()
        .map(|(p, file)| problem(p).in_file_if(file))
        .collect();
    Err(if all_missing {
        Error::InputMissing(problems)
    } else {
        Error::InvalidInputs(problems)
    })
}

/// The values of the spec's `secret` inputs, from the document as given
/// (so that a message about an invalid value masks it too) and from their
/// defaults, with the forms a shell command quotes them in.
pub fn secrets(spec: &Spec, inputs_doc: &Document) -> crate::redact::Secrets {
    let doc = inputs_doc.parse_value().ok();
    let mut values = Vec::new();
    for input in spec.inputs.values().filter(|i| i.secret) {
        let given = doc.as_ref().and_then(|d| d.get(&input.name));
        for value in [given, input.default.as_ref()].into_iter().flatten() {
            strings(value, &mut values);
        }
    }
    let quoted: Vec<String> = values
        .iter()
        .map(|v| crate::template::shell_word(v))
        .collect();
    crate::redact::Secrets::new(values.into_iter().chain(quoted))
}

fn strings(value: &Json, out: &mut Vec<String>) {
    match value {
        Json::String(text) => out.push(text.clone()),
        Json::Array(items) => items.iter().for_each(|v| strings(v, out)),
        _ => {}
    }
}

/// A value problem as a located `Problem`.
pub fn problem(found: Found) -> Problem {
    Problem::new(found.path, found.message).with_hint(found.hint)
}

/// Validates a whole inputs document.
pub fn validate(spec: &Spec, doc: &Json, paths: PathCheck) -> Result<Inputs, Vec<Found>> {
    let mut found = Vec::new();
    let Json::Object(given) = doc else {
        return Err(vec![invalid(
            "inputs",
            format!("expected a JSON object of inputs, found {}", describe(doc)),
        )]);
    };
    for name in given.keys() {
        if !spec.inputs.contains_key(name) {
            let known = if spec.inputs.is_empty() {
                " (the tool takes no inputs)"
            } else {
                ""
            };
            found.push(Found {
                hint: crate::suggest::did_you_mean(name, spec.inputs.keys().map(String::as_str)),
                ..invalid(
                    &format!("inputs.{name}"),
                    format!("unknown input `{name}`{known}"),
                )
            });
        }
    }
    let mut values = Inputs::new();
    for (name, input) in &spec.inputs {
        let path = format!("inputs.{name}");
        let given = match given.get(name) {
            Some(Json::Null) | None => match &input.default {
                Some(default) => default,
                None if input.ty.optional => {
                    values.insert(name.clone(), Value::Null);
                    continue;
                }
                None => {
                    found.push(invalid(
                        &path,
                        format!("missing required input `{name}` ({})", input.ty),
                    ));
                    continue;
                }
            },
            Some(given) => given,
        };
        if let Some(v) = value::check(
            input.ty,
            &input.constraints,
            given,
            &path,
            paths,
            &mut found,
        ) {
            values.insert(name.clone(), v);
        }
    }
    if found.is_empty() {
        Ok(values)
    } else {
        Err(found)
    }
}

fn invalid(path: &str, message: String) -> Found {
    Found {
        path: path.to_string(),
        message,
        hint: None,
        missing: false,
    }
}

/// RESOURCES_JSON, merged over the spec's defaults.
#[derive(Debug, Clone, serde::Serialize)]
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
pub fn resources(spec: &Spec, doc: &Json) -> Result<Resources, Vec<Found>> {
    let defaults = &spec.requirements.resources;
    let mut res = Resources {
        cpu: defaults.cpu.unwrap_or(1.0),
        memory_mb: defaults.memory_mb,
        gpu: defaults.gpu,
        time_limit_s: defaults.time_limit_s,
    };
    let Json::Object(given) = doc else {
        return Err(vec![invalid(
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
                _ => problems.push(invalid(
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
                None => problems.push(invalid(
                    &path,
                    format!("expected a non-negative integer, found {}", describe(value)),
                )),
            },
            other => problems.push(Found {
                hint: crate::suggest::did_you_mean(other, RESOURCE_KEYS),
                ..invalid(
                    &path,
                    format!(
                        "unknown resource `{other}` (known: {})",
                        RESOURCE_KEYS.join(", ")
                    ),
                )
            }),
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
