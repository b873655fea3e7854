//! The `inputs:` section: names, types, constraints and defaults.

use std::collections::HashSet;

use indexmap::IndexMap;
use regex::Regex;

use super::{Checker, Entries, INPUT_KEYS, join, valid_name};
use crate::cwl::SecondaryFile;
use crate::spec::{InputSpec, Stage};
use crate::template::CONTEXT_NAMES;
use crate::types::{BaseType, Constraints, Field, InputType};
use crate::value::{self, PathCheck};
use crate::yaml::{Loc, Node, Value};

pub(super) fn check_inputs(c: &mut Checker, node: &Node) -> IndexMap<String, InputSpec> {
    let mut inputs = IndexMap::new();
    c.no_empty_entries(node, "inputs");
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
                if ty.base == BaseType::Record {
                    c.error(
                        path,
                        node.loc,
                        "a record needs `fields`; write it as a mapping",
                    );
                    return None;
                }
                Some(InputSpec {
                    name: name.to_string(),
                    ty,
                    constraints: Constraints::default(),
                    default: None,
                    description: None,
                    stage: None,
                    secret: false,
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
    let before = c.problems.len();
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
        constraints: Constraints::default(),
        default: None,
        description,
        stage: None,
        secret: false,
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
        spec.constraints.min = c.number(n, &field("min"));
    }
    if let Some((k, n)) = entries.get("max")
        && applies(c, "max", k.loc, &[B::Int, B::Float])
    {
        spec.constraints.max = c.number(n, &field("max"));
    }
    check_order(
        c,
        &entries,
        path,
        ("min", spec.constraints.min),
        ("max", spec.constraints.max),
    );
    if let Some((k, n)) = entries.get("min_length")
        && applies(c, "min_length", k.loc, &[B::String])
    {
        spec.constraints.min_length = c.count(n, &field("min_length"));
    }
    if let Some((k, n)) = entries.get("max_length")
        && applies(c, "max_length", k.loc, &[B::String])
    {
        spec.constraints.max_length = c.count(n, &field("max_length"));
    }
    check_order(
        c,
        &entries,
        path,
        ("min_length", spec.constraints.min_length),
        ("max_length", spec.constraints.max_length),
    );
    if let Some((k, n)) = entries.get("pattern")
        && applies(c, "pattern", k.loc, &[B::String])
        && let Some(text) = c.string(n, &field("pattern"))
    {
        match Regex::new(&text) {
            Ok(re) => spec.constraints.pattern = Some(re),
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
                spec.constraints.symbols = list.into_iter().map(|(s, _)| s).collect();
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
        spec.constraints.format = c.string(n, &field("format"));
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
                spec.constraints.secondary_files.push(parsed);
            }
        }
    }
    match entries.get("fields") {
        Some((k, n)) if applies(c, "fields", k.loc, &[B::Record]) => {
            spec.constraints.fields = check_fields(c, n, &field("fields"));
        }
        Some(_) => {}
        None if base == Some(B::Record) => {
            c.error(
                path,
                node.loc,
                "a record needs `fields`, its named, typed parts",
            );
        }
        None => {}
    }
    if let Some((k, n)) = entries.get("stage")
        && applies(c, "stage", k.loc, &[B::File, B::Directory])
        && let Some(mode) = c.string(n, &field("stage"))
    {
        match mode.as_str() {
            "link" => spec.stage = Some(Stage::Link),
            "copy" => spec.stage = Some(Stage::Copy),
            other => c.hinted(
                &field("stage"),
                n.loc,
                format!(
                    "unknown stage `{other}`; expected `link` (a hard link, else a copy) or `copy`"
                ),
                crate::suggest::did_you_mean(other, ["link", "copy"]),
            ),
        }
    }
    if let Some((k, n)) = entries.get("secret")
        && applies(c, "secret", k.loc, &[B::String])
        && let Some(secret) = c.boolean(n, &field("secret"))
    {
        spec.secret = secret;
    }

    if c.problems.len() > before || ty.is_none() {
        return None;
    }
    if let Some((_, n)) = entries.get("default")
        && !matches!(n.value, Value::Null)
    {
        let value = n.to_json();
        let mut found = Vec::new();
        let paths = PathCheck {
            must_exist: false,
            base_dir: std::path::Path::new("."),
        };
        value::check(
            spec.ty,
            &spec.constraints,
            &value,
            &field("default"),
            paths,
            &mut found,
        );
        for problem in found {
            c.hinted(&problem.path, n.loc, problem.message, problem.hint);
        }
        spec.default = Some(value);
    }
    Some(spec)
}

/// A record's fields: each declared like an input (type, constraints,
/// default, description; records nest), named like one.
fn check_fields(c: &mut Checker, node: &Node, path: &str) -> Vec<Field> {
    let mut fields = Vec::new();
    c.no_empty_entries(node, path);
    let Some(entries) = c.mapping(node, path, None) else {
        return fields;
    };
    if entries.is_empty() {
        c.error(path, node.loc, "a record needs at least one field");
    }
    for (name, (key, value)) in entries {
        let field_path = join(path, name);
        if !valid_name(name) {
            c.error(
                &field_path,
                key.loc,
                format!("invalid field name `{name}`: use letters, digits and `_`, not starting with a digit"),
            );
            continue;
        }
        let Some(input) = check_input(c, name, key.loc, value, &field_path) else {
            continue;
        };
        for (set, what) in [(input.stage.is_some(), "stage"), (input.secret, "secret")] {
            if set {
                c.error(
                    &field_path,
                    key.loc,
                    format!("`{what}` applies to inputs, not to fields of a record"),
                );
            }
        }
        fields.push(Field {
            name: input.name,
            ty: input.ty,
            constraints: input.constraints,
            default: input.default,
            description: input.description,
        });
    }
    fields
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

/// A lower bound above its upper bound is reported at the upper one.
fn check_order<T: PartialOrd + std::fmt::Display>(
    c: &mut Checker,
    entries: &Entries,
    path: &str,
    (low_key, low): (&str, Option<T>),
    (high_key, high): (&str, Option<T>),
) {
    if let (Some(low), Some(high)) = (low, high)
        && low > high
        && let Some((k, _)) = entries.get(high_key)
    {
        c.error(
            &join(path, high_key),
            k.loc,
            format!("{low_key} ({low}) is greater than {high_key} ({high})"),
        );
    }
}
