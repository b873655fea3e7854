//! Walks a located YAML tree into a checked `Spec`, collecting every problem
//! with its line, column and key path instead of stopping at the first.

mod inputs;
mod outputs;

use indexmap::IndexMap;

use super::{Command, Requirements, ResourceDefaults, Spec};
use crate::cwl::{DIRECTORY_FIELDS, FILE_FIELDS};
use crate::diag::Problem;
use crate::template::{self, CONTEXT_NAMES};
use crate::types::BaseType;
use crate::yaml::{Loc, Node, Value};

pub const SPEC_KEYS: &[&str] = &[
    "id",
    "version",
    "description",
    "requirements",
    "inputs",
    "command",
    "argv",
    "env",
    "outputs",
];
pub const REQUIREMENTS_KEYS: &[&str] = &[
    "binaries",
    "container",
    "network",
    "image_entrypoint",
    "resources",
];
pub const RESOURCES_KEYS: &[&str] = &["cpu", "memory_mb", "gpu", "time_limit_s"];
pub const INPUT_KEYS: &[&str] = &[
    "type",
    "default",
    "description",
    "min",
    "max",
    "pattern",
    "min_length",
    "max_length",
    "symbols",
    "format",
    "secondary_files",
    "stage",
    "secret",
    "fields",
];
pub const OUTPUT_KEYS: &[&str] = &["type", "glob", "from", "optional", "format", "description"];

pub(super) struct Checker {
    pub(super) problems: Vec<Problem>,
}

/// The entries of a mapping, by key, in order.
pub(super) type Entries<'a> = IndexMap<&'a str, (&'a Node, &'a Node)>;

impl Checker {
    pub(super) fn error(&mut self, path: &str, loc: Loc, message: impl Into<String>) {
        self.problems.push(Problem::new(path, message).at(loc));
    }

    /// An error with a suggestion of how to fix it.
    pub(super) fn hinted(
        &mut self,
        path: &str,
        loc: Loc,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        self.problems
            .push(Problem::new(path, message).at(loc).with_hint(hint));
    }

    /// A mapping's entries; unknown keys are reported with a suggestion.
    pub(super) fn mapping<'a>(
        &mut self,
        node: &'a Node,
        path: &str,
        known: Option<&[&str]>,
    ) -> Option<Entries<'a>> {
        let Value::Map(pairs) = &node.value else {
            self.error(
                path,
                node.loc,
                format!("expected a mapping, found {}", node.kind()),
            );
            return None;
        };
        let mut entries = IndexMap::new();
        for (key, value) in pairs {
            let Some(name) = key.as_str() else {
                self.error(
                    path,
                    key.loc,
                    format!("keys must be strings, found {}", key.kind()),
                );
                continue;
            };
            if let Some(known) = known
                && !known.contains(&name)
            {
                // `{description: a, b}`: YAML reads ` b` as a key of its own.
                let comma = matches!(value.value, Value::Null).then(|| {
                    format!("a comma inside `{{ }}` starts a new key: if `{name}` is the rest of a value, quote that value")
                });
                self.hinted(
                    &join(path, name),
                    key.loc,
                    format!("unknown key `{name}`"),
                    crate::suggest::did_you_mean(name, known.iter().copied()).or(comma),
                );
                continue;
            }
            // `key:` with no value (null) is the same as leaving it out, as
            // the schema says.
            if !matches!(value.value, Value::Null) {
                entries.insert(name, (key, value));
            }
        }
        Some(entries)
    }

    /// Inputs and outputs must each say what they are: `name:` with
    /// nothing under it (usually a mis-indented `type:`) is an error, not
    /// an absent entry.
    pub(super) fn no_empty_entries(&mut self, node: &Node, section: &str) {
        let Value::Map(pairs) = &node.value else {
            return;
        };
        for (key, value) in pairs {
            if let (Some(name), Value::Null) = (key.as_str(), &value.value) {
                self.hinted(
                    &join(section, name),
                    key.loc,
                    format!("`{name}` has no type"),
                    Some("is `type:` indented under it?".into()),
                );
            }
        }
    }

    pub(super) fn string(&mut self, node: &Node, path: &str) -> Option<String> {
        match &node.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(_) | Value::Float(_) | Value::Bool(_) => {
                let text = node.to_json().to_string();
                self.error(
                    path,
                    node.loc,
                    format!(
                        "expected a string, found {}; quote it: \"{text}\"",
                        node.kind()
                    ),
                );
                None
            }
            _ => {
                self.error(
                    path,
                    node.loc,
                    format!("expected a string, found {}", node.kind()),
                );
                None
            }
        }
    }

    pub(super) fn string_list(&mut self, node: &Node, path: &str) -> Option<Vec<(String, Loc)>> {
        let Value::Seq(items) = &node.value else {
            self.error(
                path,
                node.loc,
                format!("expected a list, found {}", node.kind()),
            );
            return None;
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if let Some(s) = self.string(item, &format!("{path}[{i}]")) {
                out.push((s, item.loc));
            }
        }
        Some(out)
    }

    pub(super) fn number(&mut self, node: &Node, path: &str) -> Option<f64> {
        match node.value {
            Value::Int(i) => Some(i as f64),
            Value::Float(f) if f.is_finite() => Some(f),
            _ => {
                self.error(
                    path,
                    node.loc,
                    format!("expected a finite number, found {}", node.kind()),
                );
                None
            }
        }
    }

    pub(super) fn count(&mut self, node: &Node, path: &str) -> Option<u64> {
        match node.value {
            Value::Int(i) if i >= 0 => Some(i as u64),
            _ => {
                self.error(
                    path,
                    node.loc,
                    format!("expected a non-negative integer, found {}", describe(node)),
                );
                None
            }
        }
    }

    pub(super) fn boolean(&mut self, node: &Node, path: &str) -> Option<bool> {
        match node.value {
            Value::Bool(b) => Some(b),
            _ => {
                self.error(
                    path,
                    node.loc,
                    format!("expected true or false, found {}", describe(node)),
                );
                None
            }
        }
    }
}

pub(super) fn describe(node: &Node) -> String {
    match &node.value {
        Value::Str(s) => format!("the string \"{s}\""),
        Value::Int(i) => format!("{i}"),
        Value::Float(f) => format!("{f}"),
        _ => node.kind().to_string(),
    }
}

pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Input and output names become template variables and JSON keys.
pub(super) fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Builds a `Spec` from the tree or returns every problem found.
pub fn check(root: &Node) -> Result<Spec, Vec<Problem>> {
    let mut c = Checker {
        problems: Vec::new(),
    };
    let spec = check_root(&mut c, root);
    if c.problems.is_empty()
        && let Some(spec) = spec
    {
        return Ok(spec);
    }
    // Report in reading order.
    c.problems
        .sort_by_key(|d| (d.line.unwrap_or(0), d.column.unwrap_or(0)));
    Err(c.problems)
}

fn check_root(c: &mut Checker, root: &Node) -> Option<Spec> {
    if matches!(root.value, Value::Null) {
        c.error("", root.loc, "the spec is empty");
        return None;
    }
    let top = c.mapping(root, "", Some(SPEC_KEYS))?;

    let id = match top.get("id") {
        Some((_, node)) => c.string(node, "id").and_then(|id| {
            if crate::contract::valid_tool_id(&id) {
                Some(id)
            } else {
                c.error(
                    "id",
                    node.loc,
                    format!(
                        "invalid id \"{id}\": use only lowercase letters, digits, `_` and `-` ([a-z0-9_-]+)"
                    ),
                );
                None
            }
        }),
        None => {
            c.error("", root.loc, "missing required key `id`");
            None
        }
    };
    let version = top.get("version").and_then(|(_, n)| c.string(n, "version"));
    let description = top
        .get("description")
        .and_then(|(_, n)| c.string(n, "description"));
    let requirements = match top.get("requirements") {
        Some((_, node)) => check_requirements(c, node),
        None => Requirements::default(),
    };

    let inputs = match top.get("inputs") {
        Some((_, node)) if matches!(node.value, Value::Null) => IndexMap::new(),
        Some((_, node)) => inputs::check_inputs(c, node),
        None => IndexMap::new(),
    };

    // Every input name written counts as declared, even one whose definition
    // has problems: those are reported once, where they are.
    let mut declared: Vec<&str> = match top.get("inputs") {
        Some((
            _,
            Node {
                value: Value::Map(pairs),
                ..
            },
        )) => pairs.iter().filter_map(|(k, _)| k.as_str()).collect(),
        _ => Vec::new(),
    };
    let mut attributes: Vec<(&str, Vec<&str>)> = vec![
        ("inputs", declared.clone()),
        ("resources", RESOURCES_KEYS.to_vec()),
    ];
    for (name, input) in &inputs {
        let fields = match (input.ty.base, input.ty.array) {
            (BaseType::File, false) => FILE_FIELDS.to_vec(),
            (BaseType::Directory, false) => DIRECTORY_FIELDS.to_vec(),
            (BaseType::Record, false) => input
                .constraints
                .fields
                .iter()
                .map(|f| f.name.as_str())
                .collect(),
            _ => continue,
        };
        attributes.push((name.as_str(), fields));
    }
    declared.extend(CONTEXT_NAMES);
    let names = template::Names {
        declared,
        attributes,
    };

    let command = match (top.get("command"), top.get("argv")) {
        (Some(_), Some((key, _))) => {
            c.error("argv", key.loc, "give either `command` or `argv`, not both");
            None
        }
        (None, None) => {
            c.error(
                "",
                root.loc,
                "missing `command` (a shell template) or `argv` (a list of argument templates)",
            );
            None
        }
        (Some((_, node)), None) => c.string(node, "command").and_then(|text| {
            if text.trim().is_empty() {
                c.error("command", node.loc, "the command is empty");
                return None;
            }
            check_template(c, &text, "command", node.loc, &names);
            for problem in template::check_shell(&text) {
                c.error("command", node.loc, problem);
            }
            Some(Command::Shell(text))
        }),
        (None, Some((_, node))) => c.string_list(node, "argv").and_then(|items| {
            if items.is_empty() {
                c.error("argv", node.loc, "argv needs at least the program to run");
                return None;
            }
            for (i, (text, loc)) in items.iter().enumerate() {
                check_template(c, text, &format!("argv[{i}]"), *loc, &names);
            }
            let templates: Vec<String> = items.iter().map(|(t, _)| t.clone()).collect();
            for (i, problem) in template::check_argv(&templates) {
                c.error(&format!("argv[{i}]"), items[i].1, problem);
            }
            Some(Command::Argv(items.into_iter().map(|(t, _)| t).collect()))
        }),
    };

    let mut env = IndexMap::new();
    if let Some((_, node)) = top.get("env")
        && let Some(entries) = c.mapping(node, "env", None)
    {
        for (name, (key, value)) in entries {
            let path = join("env", name);
            if !valid_name(name) {
                c.error(
                    &path,
                    key.loc,
                    format!("invalid variable name `{name}`: use letters, digits and `_`, not starting with a digit"),
                );
                continue;
            }
            if let Some(text) = c.string(value, &path) {
                check_template(c, &text, &path, value.loc, &names);
                env.insert(name.to_string(), text);
            }
        }
    }

    let outputs = match top.get("outputs") {
        Some((_, node)) if matches!(node.value, Value::Null) => IndexMap::new(),
        Some((_, node)) => outputs::check_outputs(c, node),
        None => IndexMap::new(),
    };

    Some(Spec {
        id: id?,
        version,
        description,
        requirements,
        inputs,
        command: command?,
        env,
        outputs,
        source: String::new(),
        sha256: String::new(),
    })
}

fn check_template(c: &mut Checker, text: &str, path: &str, loc: Loc, names: &template::Names) {
    for problem in template::check(text, names) {
        c.error(path, loc, problem);
    }
}

fn check_requirements(c: &mut Checker, node: &Node) -> Requirements {
    let mut req = Requirements::default();
    let Some(entries) = c.mapping(node, "requirements", Some(REQUIREMENTS_KEYS)) else {
        return req;
    };
    if let Some((_, n)) = entries.get("binaries")
        && let Some(list) = c.string_list(n, "requirements.binaries")
    {
        req.binaries_loc = Some(n.loc);
        for (i, (name, loc)) in list.into_iter().enumerate() {
            if name.is_empty() || name.contains(char::is_whitespace) {
                c.error(
                    &format!("requirements.binaries[{i}]"),
                    loc,
                    format!("\"{name}\" is not a program name"),
                );
            } else {
                req.binaries.push(name);
            }
        }
    }
    if let Some((_, n)) = entries.get("container") {
        req.container = c.string(n, "requirements.container");
    }
    if let Some((_, n)) = entries.get("network") {
        req.network = c.boolean(n, "requirements.network").unwrap_or(false);
    }
    if let Some((_, n)) = entries.get("image_entrypoint") {
        req.image_entrypoint = c
            .boolean(n, "requirements.image_entrypoint")
            .unwrap_or(false);
    }
    if let Some((_, n)) = entries.get("resources")
        && let Some(res) = c.mapping(n, "requirements.resources", Some(RESOURCES_KEYS))
    {
        let mut defaults = ResourceDefaults::default();
        for (name, (_, value)) in res {
            let path = join("requirements.resources", name);
            match name {
                "cpu" => {
                    defaults.cpu = c.number(value, &path).filter(|v| {
                        let ok = *v > 0.0;
                        if !ok {
                            c.error(&path, value.loc, "cpu must be greater than 0");
                        }
                        ok
                    });
                }
                "memory_mb" => defaults.memory_mb = c.count(value, &path),
                "gpu" => defaults.gpu = c.count(value, &path),
                _ => defaults.time_limit_s = c.count(value, &path),
            }
        }
        req.resources = defaults;
    }
    req
}
