//! The `outputs:` section: Files by glob, values read from a source, and
//! paths that must stay inside the work directory.

use std::path::{Component, Path, PathBuf};

use indexmap::IndexMap;

use super::{Checker, OUTPUT_KEYS, join, valid_name};
use crate::spec::{OutputKind, OutputSpec, Source};
use crate::types::ValueType;
use crate::yaml::Node;

pub(super) fn check_outputs(c: &mut Checker, node: &Node) -> IndexMap<String, OutputSpec> {
    let mut outputs = IndexMap::new();
    c.no_empty_entries(node, "outputs");
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
        if let Some(output) = check_output(c, name, value, &path) {
            outputs.insert(name.to_string(), output);
        }
    }
    outputs
}

const OUTPUT_TYPES: [&str; 9] = [
    "File",
    "File[]",
    "Directory",
    "Directory[]",
    "string",
    "int",
    "float",
    "boolean",
    "json",
];

fn check_output(c: &mut Checker, name: &str, node: &Node, path: &str) -> Option<OutputSpec> {
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

    let path_type = matches!(ty.as_str(), "File" | "File[]" | "Directory" | "Directory[]");
    let kind = if path_type {
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
        if let Err(err) = crate::workdir::glob(&glob) {
            c.error(
                &field("glob"),
                g.loc,
                format!("invalid glob \"{glob}\": {err}"),
            );
            return None;
        }
        let many = ty.ends_with("[]");
        if ty.starts_with("Directory") {
            OutputKind::Directories { glob, many }
        } else {
            OutputKind::Files { glob, many }
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
        c.hinted(
            &field("type"),
            ty_loc,
            format!(
                "unknown output type `{ty}`; expected one of {}",
                OUTPUT_TYPES.join(", ")
            ),
            crate::suggest::did_you_mean(&ty, OUTPUT_TYPES),
        );
        return None;
    };
    Some(OutputSpec {
        name: name.to_string(),
        kind,
        optional,
        format,
        description,
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
