//! The JSON Schema of the tool-spec format itself, for editors
//! (yaml-language-server) and for `schema/tool-spec.schema.json`.
//!
//! Generated from the document types below with schemars. A test keeps
//! their keys equal to the keys `check` accepts and the checked-in file
//! equal to the generated one.

#![allow(dead_code)]

use std::collections::BTreeMap;

use schemars::JsonSchema;

/// An omni-launch tool spec: typed inputs, a command template and the
/// outputs to collect.
#[derive(JsonSchema)]
#[schemars(title = "omni-launch tool spec", deny_unknown_fields)]
struct ToolSpec {
    /// The tool identifier (TOOL_ID), `[a-z0-9_-]+`.
    #[schemars(regex(pattern = r"^[a-z0-9_-]+$"))]
    id: String,
    /// The tool's version, as a string ("2.12.0").
    version: Option<String>,
    /// What the tool does, for people and for LLM tool definitions.
    description: Option<String>,
    requirements: Option<Requirements>,
    /// The inputs by name (letters, digits and `_`). A bare type name is
    /// shorthand for `{type: …}`.
    inputs: Option<BTreeMap<String, InputOrType>>,
    /// A minijinja template run by `/bin/sh -c`; every interpolated value is
    /// shell-quoted. Give this or `argv`.
    command: Option<String>,
    /// One minijinja template per argument, run without a shell. Give this
    /// or `command`.
    argv: Option<Vec<String>>,
    /// Environment variables for the tool; values are templates.
    env: Option<BTreeMap<String, String>>,
    /// The outputs to collect by name.
    outputs: Option<BTreeMap<String, Output>>,
}

#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
struct Requirements {
    /// Programs that must be on PATH (checked before a run and by
    /// `validate --check-binaries`).
    binaries: Option<Vec<String>>,
    /// The container image for the docker and podman runners.
    container: Option<String>,
    /// Give the tool a network in a container (default: none).
    network: Option<bool>,
    /// Run the image's entrypoint with the command as its arguments
    /// (default: the command replaces the entrypoint).
    image_entrypoint: Option<bool>,
    /// Resource defaults; RESOURCES_JSON overrides them.
    resources: Option<Resources>,
}

#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
struct Resources {
    /// CPUs (default 1); templates see `resources.cpu`.
    #[schemars(range(min = 0))]
    cpu: Option<f64>,
    #[schemars(range(min = 0))]
    memory_mb: Option<u64>,
    #[schemars(range(min = 0))]
    gpu: Option<u64>,
    /// Time limit in seconds; the tool is stopped when it is reached.
    #[schemars(range(min = 0))]
    time_limit_s: Option<u64>,
}

#[derive(JsonSchema)]
#[serde(untagged)]
enum InputOrType {
    Type(TypeName),
    Input(Box<Input>),
}

/// `string int float boolean enum File Directory`, as `T`, `T[]`, `T?` or `T[]?`.
struct TypeName;

impl JsonSchema for TypeName {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "TypeName".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "string, int, float, boolean, enum, File, Directory or record, as T, T[], T? or T[]?",
            "pattern": r"^(string|int|float|boolean|enum|File|Directory|record)(\[\])?\??$"
        })
    }
}

#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
struct Input {
    #[serde(rename = "type")]
    ty: TypeName,
    /// Used when the input is absent or null; must satisfy the type and
    /// constraints.
    default: Option<serde_json::Value>,
    description: Option<String>,
    /// Smallest allowed value (int, float).
    min: Option<f64>,
    /// Largest allowed value (int, float).
    max: Option<f64>,
    /// A regular expression the string must match (unanchored: use ^…$).
    pattern: Option<String>,
    /// Shortest allowed string, in characters.
    min_length: Option<u64>,
    /// Longest allowed string, in characters.
    max_length: Option<u64>,
    /// The allowed values of an enum.
    symbols: Option<Vec<String>>,
    /// The format of a File (e.g. fasta), passed on in its File object.
    format: Option<String>,
    /// CWL secondary-file patterns: a suffix, each leading `^` strips one
    /// extension, a trailing `?` makes it optional.
    secondary_files: Option<Vec<String>>,
    /// Place a local File or Directory in the work directory before the
    /// run: `link` (a hard link, else a copy) or `copy`. For tools that write
    /// beside their inputs (samtools faidx, bwa index), so what they write
    /// lands where output globs look and the user's data gets no new files.
    stage: Option<StageMode>,
    /// A string input whose value is masked as `***` everywhere the
    /// launcher writes (results.json, render, its messages, uploaded logs);
    /// the tool still gets it.
    secret: Option<bool>,
    /// A record's fields by name, each declared like an input (records
    /// nest; `record[]` is a list of them).
    fields: Option<BTreeMap<String, InputOrType>>,
}

/// `link` or `copy`.
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
enum StageMode {
    Link,
    Copy,
}

/// `File`, `File[]`, `string`, `int`, `float`, `boolean` or `json`.
#[derive(JsonSchema)]
enum OutputType {
    File,
    #[serde(rename = "File[]")]
    Files,
    #[serde(rename = "string")]
    String,
    #[serde(rename = "int")]
    Int,
    #[serde(rename = "float")]
    Float,
    #[serde(rename = "boolean")]
    Boolean,
    #[serde(rename = "json")]
    Json,
}

#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
struct Output {
    #[serde(rename = "type")]
    ty: OutputType,
    /// File outputs: a glob relative to the work directory.
    glob: Option<String>,
    /// Value outputs: `stdout`, `stderr` or a file relative to the work
    /// directory.
    from: Option<String>,
    /// Whether the output may be absent.
    optional: Option<bool>,
    format: Option<String>,
    description: Option<String>,
}

/// The schema as pretty JSON, ending in a newline.
pub fn generate() -> String {
    let schema = schemars::schema_for!(ToolSpec);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::check;

    fn keys(schema: &serde_json::Value, pointer: &str) -> Vec<String> {
        let mut keys: Vec<String> = schema
            .pointer(pointer)
            .and_then(|v| v.as_object())
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        keys.sort();
        keys
    }

    fn sorted(list: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    }

    #[test]
    fn schema_keys_match_the_checker() {
        let schema: serde_json::Value = serde_json::from_str(&generate()).unwrap();
        assert_eq!(keys(&schema, "/properties"), sorted(check::SPEC_KEYS));
        assert_eq!(
            keys(&schema, "/$defs/Input/properties"),
            sorted(check::INPUT_KEYS)
        );
        assert_eq!(
            keys(&schema, "/$defs/Output/properties"),
            sorted(check::OUTPUT_KEYS)
        );
        assert_eq!(
            keys(&schema, "/$defs/Requirements/properties"),
            sorted(check::REQUIREMENTS_KEYS)
        );
        assert_eq!(
            keys(&schema, "/$defs/Resources/properties"),
            sorted(check::RESOURCES_KEYS)
        );
    }

    #[test]
    fn checked_in_schema_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema/tool-spec.schema.json");
        let generated = generate();
        if std::env::var_os("UPDATE_SCHEMA").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        let checked_in = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            checked_in == generated,
            "schema/tool-spec.schema.json is stale: run `UPDATE_SCHEMA=1 cargo test checked_in_schema`"
        );
    }
}
