//! Walks a located YAML tree into a checked `Spec`, collecting every problem
//! with its line, column and key path instead of stopping at the first.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use indexmap::IndexMap;
use regex::Regex;

use super::{
    BaseType, Command, InputSpec, InputType, OutputKind, OutputSpec, Requirements,
    ResourceDefaults, SecondaryFile, Source, Spec, ValueType, template,
};
use crate::diag::Diagnostic;
use crate::inputs;
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
pub const REQUIREMENTS_KEYS: &[&str] = &["binaries", "container", "resources"];
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
];
pub const OUTPUT_KEYS: &[&str] = &["type", "glob", "from", "optional", "format", "description"];

/// Names every template may use besides the inputs.
pub const CONTEXT_NAMES: &[&str] = &["inputs", "resources", "run_id", "tool_id", "workdir"];

struct Checker {
    diagnostics: Vec<Diagnostic>,
}

/// The entries of a mapping, by key, in order.
type Entries<'a> = IndexMap<&'a str, (&'a Node, &'a Node)>;

impl Checker {
    fn error(&mut self, path: &str, loc: Loc, message: impl Into<String>) {
        self.diagnostics
            .push(Diagnostic::new(path, message).at(loc));
    }

    /// A mapping's entries; unknown keys are reported with a suggestion.
    fn mapping<'a>(
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
                let hint = crate::suggest::hint(name, known.iter().copied());
                self.error(
                    &join(path, name),
                    key.loc,
                    format!("unknown key `{name}`{hint}"),
                );
                continue;
            }
            entries.insert(name, (key, value));
        }
        Some(entries)
    }

    fn string(&mut self, node: &Node, path: &str) -> Option<String> {
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

    fn string_list(&mut self, node: &Node, path: &str) -> Option<Vec<(String, Loc)>> {
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

    fn number(&mut self, node: &Node, path: &str) -> Option<f64> {
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

    fn count(&mut self, node: &Node, path: &str) -> Option<u64> {
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

    fn boolean(&mut self, node: &Node, path: &str) -> Option<bool> {
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

fn describe(node: &Node) -> String {
    match &node.value {
        Value::Str(s) => format!("the string \"{s}\""),
        Value::Int(i) => format!("{i}"),
        Value::Float(f) => format!("{f}"),
        _ => node.kind().to_string(),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Input and output names become template variables and JSON keys.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Builds a `Spec` from the tree or returns every problem found.
pub fn check(root: &Node) -> Result<Spec, Vec<Diagnostic>> {
    let mut c = Checker {
        diagnostics: Vec::new(),
    };
    let spec = check_root(&mut c, root);
    if c.diagnostics.is_empty()
        && let Some(spec) = spec
    {
        return Ok(spec);
    }
    // Report in reading order.
    c.diagnostics
        .sort_by_key(|d| (d.line.unwrap_or(0), d.column.unwrap_or(0)));
    Err(c.diagnostics)
}

fn check_root(c: &mut Checker, root: &Node) -> Option<Spec> {
    if matches!(root.value, Value::Null) {
        c.error("", root.loc, "the spec is empty");
        return None;
    }
    let top = c.mapping(root, "", Some(SPEC_KEYS))?;

    let id = match top.get("id") {
        Some((_, node)) => c.string(node, "id").and_then(|id| {
            let ok = !id.is_empty()
                && id
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_' || ch == '-');
            if ok {
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
        Some((_, node)) => check_inputs(c, node),
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
    declared.extend(CONTEXT_NAMES);

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
            check_template(c, &text, "command", node.loc, &declared);
            Some(Command::Shell(text))
        }),
        (None, Some((_, node))) => c.string_list(node, "argv").and_then(|items| {
            if items.is_empty() {
                c.error("argv", node.loc, "argv needs at least the program to run");
                return None;
            }
            for (i, (text, loc)) in items.iter().enumerate() {
                check_template(c, text, &format!("argv[{i}]"), *loc, &declared);
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
            if !valid_env_name(name) {
                c.error(
                    &path,
                    key.loc,
                    format!("invalid variable name `{name}`: use letters, digits and `_`, not starting with a digit"),
                );
                continue;
            }
            if let Some(text) = c.string(value, &path) {
                check_template(c, &text, &path, value.loc, &declared);
                env.insert(name.to_string(), text);
            }
        }
    }

    let outputs = match top.get("outputs") {
        Some((_, node)) if matches!(node.value, Value::Null) => IndexMap::new(),
        Some((_, node)) => check_outputs(c, node),
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

fn valid_env_name(name: &str) -> bool {
    valid_name(name)
}

fn check_template(c: &mut Checker, text: &str, path: &str, loc: Loc, declared: &[&str]) {
    for problem in template::check(text, declared) {
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

fn check_inputs(c: &mut Checker, node: &Node) -> IndexMap<String, InputSpec> {
    let mut inputs = IndexMap::new();
    let Some(entries) = c.mapping(node, "inputs", None) else {
        return inputs;
    };
    for (name, (key, value)) in entries {
        let path = join("inputs", name);
        if !valid_name(name) {
            c.error(
                &path,
                key.loc,
                format!(
                    "invalid input name `{name}`: use letters, digits and `_`, not starting with a digit, so templates can name it"
                ),
            );
            continue;
        }
        if CONTEXT_NAMES.contains(&name) {
            c.error(
                &path,
                key.loc,
                format!("`{name}` is reserved for the template context; rename the input"),
            );
            continue;
        }
        if let Some(input) = check_input(c, name, key.loc, value, &path) {
            inputs.insert(name.to_string(), input);
        }
    }
    inputs
}

fn check_input(
    c: &mut Checker,
    name: &str,
    loc: Loc,
    node: &Node,
    path: &str,
) -> Option<InputSpec> {
    // Shorthand: `query: File`.
    if let Value::Str(text) = &node.value {
        return match InputType::parse(text) {
            Ok(ty) => {
                if ty.base == BaseType::Enum {
                    c.error(
                        path,
                        node.loc,
                        "an enum needs `symbols`; write it as a mapping",
                    );
                    return None;
                }
                Some(InputSpec {
                    name: name.to_string(),
                    ty,
                    default: None,
                    description: None,
                    min: None,
                    max: None,
                    pattern: None,
                    min_length: None,
                    max_length: None,
                    symbols: Vec::new(),
                    format: None,
                    secondary_files: Vec::new(),
                    loc,
                })
            }
            Err(message) => {
                c.error(path, node.loc, message);
                None
            }
        };
    }
    let entries = c.mapping(node, path, Some(INPUT_KEYS))?;
    let before = c.diagnostics.len();
    let field = |key: &str| join(path, key);

    let ty = match entries.get("type") {
        Some((_, n)) => c
            .string(n, &field("type"))
            .and_then(|t| match InputType::parse(&t) {
                Ok(ty) => Some(ty),
                Err(message) => {
                    c.error(&field("type"), n.loc, message);
                    None
                }
            }),
        None => {
            c.error(path, node.loc, "missing required key `type`");
            None
        }
    };
    let description = entries
        .get("description")
        .and_then(|(_, n)| c.string(n, &field("description")));

    let mut spec = InputSpec {
        name: name.to_string(),
        ty: ty.unwrap_or(InputType {
            base: BaseType::String,
            array: false,
            optional: true,
        }),
        default: None,
        description,
        min: None,
        max: None,
        pattern: None,
        min_length: None,
        max_length: None,
        symbols: Vec::new(),
        format: None,
        secondary_files: Vec::new(),
        loc,
    };
    let base = ty.map(|t| t.base);
    // Reports a constraint given for a type it does not apply to.
    let applies = |c: &mut Checker, key: &str, key_loc: Loc, ok: &[BaseType]| -> bool {
        match base {
            Some(b) if !ok.contains(&b) => {
                let names: Vec<&str> = ok.iter().map(|b| b.name()).collect();
                c.error(
                    &field(key),
                    key_loc,
                    format!(
                        "`{key}` applies to {} inputs, not {}",
                        names.join(" and "),
                        b.name()
                    ),
                );
                false
            }
            _ => true,
        }
    };
    use BaseType as B;

    if let Some((k, n)) = entries.get("min")
        && applies(c, "min", k.loc, &[B::Int, B::Float])
    {
        spec.min = c.number(n, &field("min"));
    }
    if let Some((k, n)) = entries.get("max")
        && applies(c, "max", k.loc, &[B::Int, B::Float])
    {
        spec.max = c.number(n, &field("max"));
    }
    if let (Some(min), Some(max)) = (spec.min, spec.max)
        && min > max
        && let Some((k, _)) = entries.get("max")
    {
        c.error(
            &field("max"),
            k.loc,
            format!("min ({min}) is greater than max ({max})"),
        );
    }
    if let Some((k, n)) = entries.get("min_length")
        && applies(c, "min_length", k.loc, &[B::String])
    {
        spec.min_length = c.count(n, &field("min_length"));
    }
    if let Some((k, n)) = entries.get("max_length")
        && applies(c, "max_length", k.loc, &[B::String])
    {
        spec.max_length = c.count(n, &field("max_length"));
    }
    if let (Some(min), Some(max)) = (spec.min_length, spec.max_length)
        && min > max
        && let Some((k, _)) = entries.get("max_length")
    {
        c.error(
            &field("max_length"),
            k.loc,
            format!("min_length ({min}) is greater than max_length ({max})"),
        );
    }
    if let Some((k, n)) = entries.get("pattern")
        && applies(c, "pattern", k.loc, &[B::String])
        && let Some(text) = c.string(n, &field("pattern"))
    {
        match Regex::new(&text) {
            Ok(re) => spec.pattern = Some(re),
            Err(err) => c.error(
                &field("pattern"),
                n.loc,
                format!("the pattern does not compile: {}", regex_reason(&err)),
            ),
        }
    }
    match entries.get("symbols") {
        Some((k, n)) => {
            if applies(c, "symbols", k.loc, &[B::Enum])
                && let Some(list) = c.string_list(n, &field("symbols"))
            {
                let mut seen = HashSet::new();
                for (i, (symbol, loc)) in list.iter().enumerate() {
                    if !seen.insert(symbol.as_str()) {
                        c.error(
                            &format!("{}[{i}]", field("symbols")),
                            *loc,
                            format!("duplicate symbol \"{symbol}\""),
                        );
                    }
                }
                if matches!(&n.value, Value::Seq(items) if items.is_empty()) {
                    c.error(
                        &field("symbols"),
                        n.loc,
                        "an enum needs at least one symbol",
                    );
                }
                spec.symbols = list.into_iter().map(|(s, _)| s).collect();
            }
        }
        None if base == Some(B::Enum) => {
            c.error(
                path,
                node.loc,
                "an enum needs `symbols`, the list of allowed values",
            );
        }
        None => {}
    }
    if let Some((k, n)) = entries.get("format")
        && applies(c, "format", k.loc, &[B::File, B::Directory])
    {
        spec.format = c.string(n, &field("format"));
    }
    if let Some((k, n)) = entries.get("secondary_files")
        && applies(c, "secondary_files", k.loc, &[B::File])
        && let Some(list) = c.string_list(n, &field("secondary_files"))
    {
        for (i, (pattern, loc)) in list.into_iter().enumerate() {
            let parsed = SecondaryFile::parse(&pattern);
            let bare = parsed.pattern.trim_start_matches('^');
            if bare.is_empty() || bare.contains('/') || bare == "." || bare == ".." {
                c.error(
                    &format!("{}[{i}]", field("secondary_files")),
                    loc,
                    format!("\"{pattern}\" is not a secondary-file pattern (a suffix such as \".bai\" or \"^.bai\")"),
                );
            } else {
                spec.secondary_files.push(parsed);
            }
        }
    }

    if c.diagnostics.len() > before || ty.is_none() {
        return None;
    }
    if let Some((_, n)) = entries.get("default")
        && !matches!(n.value, Value::Null)
    {
        let value = n.to_json();
        for (subpath, problem) in inputs::check_default(&spec, &value) {
            c.error(&format!("{}{subpath}", field("default")), n.loc, problem);
        }
        spec.default = Some(value);
    }
    Some(spec)
}

/// The regex crate draws a caret diagram; its last line is the reason.
fn regex_reason(err: &regex::Error) -> String {
    let text = err.to_string();
    let last = text
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or_default();
    last.trim_start_matches("error: ").to_string()
}

fn check_outputs(c: &mut Checker, node: &Node) -> IndexMap<String, OutputSpec> {
    let mut outputs = IndexMap::new();
    let Some(entries) = c.mapping(node, "outputs", None) else {
        return outputs;
    };
    for (name, (key, value)) in entries {
        let path = join("outputs", name);
        if !valid_name(name) {
            c.error(
                &path,
                key.loc,
                format!("invalid output name `{name}`: use letters, digits and `_`, not starting with a digit"),
            );
            continue;
        }
        if let Some(output) = check_output(c, name, key.loc, value, &path) {
            outputs.insert(name.to_string(), output);
        }
    }
    outputs
}

const OUTPUT_TYPES: [&str; 7] = [
    "File", "File[]", "string", "int", "float", "boolean", "json",
];

fn check_output(
    c: &mut Checker,
    name: &str,
    loc: Loc,
    node: &Node,
    path: &str,
) -> Option<OutputSpec> {
    let entries = c.mapping(node, path, Some(OUTPUT_KEYS))?;
    let field = |key: &str| join(path, key);
    let ty = match entries.get("type") {
        Some((_, n)) => c.string(n, &field("type")).map(|t| (t, n.loc)),
        None => {
            c.error(path, node.loc, "missing required key `type`");
            None
        }
    };
    let optional = entries
        .get("optional")
        .and_then(|(_, n)| c.boolean(n, &field("optional")))
        .unwrap_or(false);
    let format = entries
        .get("format")
        .and_then(|(_, n)| c.string(n, &field("format")));
    let description = entries
        .get("description")
        .and_then(|(_, n)| c.string(n, &field("description")));
    let (ty, ty_loc) = ty?;

    let kind = if ty == "File" || ty == "File[]" {
        if let Some((k, _)) = entries.get("from") {
            c.error(
                &field("from"),
                k.loc,
                "`from` is for value outputs; a File output is found by `glob`",
            );
        }
        let Some((_, g)) = entries.get("glob") else {
            c.error(
                path,
                node.loc,
                "a File output needs `glob`, a pattern relative to the work directory",
            );
            return None;
        };
        let glob = c.string(g, &field("glob"))?;
        if let Err(problem) = relative_inside(&glob) {
            c.error(&field("glob"), g.loc, format!("glob \"{glob}\" {problem}"));
            return None;
        }
        if let Err(err) = glob::Pattern::new(&glob) {
            c.error(
                &field("glob"),
                g.loc,
                format!("invalid glob \"{glob}\": {err}"),
            );
            return None;
        }
        OutputKind::Files {
            glob,
            many: ty == "File[]",
        }
    } else if let Some(value_type) = ValueType::from_name(&ty) {
        if let Some((k, _)) = entries.get("glob") {
            c.error(
                &field("glob"),
                k.loc,
                format!("`glob` is for File outputs; {} {ty} output is read `from:` stdout, stderr or a file", article(&ty)),
            );
        }
        let Some((_, f)) = entries.get("from") else {
            c.error(
                path,
                node.loc,
                format!("{} {ty} output needs `from`: stdout, stderr or a file relative to the work directory", article(&ty)),
            );
            return None;
        };
        let from = c.string(f, &field("from"))?;
        let source = match from.as_str() {
            "stdout" => Source::Stdout,
            "stderr" => Source::Stderr,
            file => {
                if let Err(problem) = relative_inside(file) {
                    c.error(&field("from"), f.loc, format!("\"{file}\" {problem}"));
                    return None;
                }
                Source::File(PathBuf::from(file))
            }
        };
        OutputKind::Value {
            ty: value_type,
            from: source,
        }
    } else {
        let hint = crate::suggest::hint(&ty, OUTPUT_TYPES);
        c.error(
            &field("type"),
            ty_loc,
            format!(
                "unknown output type `{ty}`; expected one of {}{hint}",
                OUTPUT_TYPES.join(", ")
            ),
        );
        return None;
    };
    Some(OutputSpec {
        name: name.to_string(),
        kind,
        optional,
        format,
        description,
        loc,
    })
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// A path (or glob) must stay inside the work directory.
fn relative_inside(text: &str) -> Result<(), &'static str> {
    if text.is_empty() {
        return Err("is empty");
    }
    if text.contains('\0') {
        return Err("contains a NUL character");
    }
    let path = Path::new(text);
    if path.is_absolute() {
        return Err("is absolute; it must be relative to the work directory");
    }
    if path.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err("climbs out of the work directory with `..`");
    }
    Ok(())
}
