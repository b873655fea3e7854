//! The one minijinja environment of the launcher: strict undefined names,
//! a formatter that shell-quotes every value, a `safe` filter that marks
//! nothing; rendering of shell, argv and env templates; and the static
//! checks `validate` runs on them (`check`).
//!
//! Security-critical: in shell mode every interpolated value goes through
//! `write_quoted`, whatever the auto-escape state, so no input can inject
//! shell syntax. Ground floor: it knows templates, not specs, and must not
//! execute anything.

mod budget;
mod check;
mod shell;

pub use budget::{BUDGET, Unfinished, bounded, copies_only};
pub use check::{Names, check, check_argv, check_shell, describe_error};
pub use shell::Refusal;

use std::cell::Cell;

use minijinja::value::ValueKind;
use minijinja::{
    AutoEscape, Environment, Error, ErrorKind, Output, State, UndefinedBehavior, Value,
};

/// Names every template may use besides the inputs.
pub const CONTEXT_NAMES: &[&str] = &["inputs", "resources", "run_id", "tool_id", "workdir"];

/// How values are written into the rendered text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `command:`: every value shell-quoted.
    Shell,
    /// `argv:` and `env:`: values verbatim; an array becomes one argument
    /// per element.
    Argv,
}

/// Separates the elements of an array inside one rendered argv element.
/// NUL cannot occur in inputs (they are refused) nor in templates (validate
/// refuses it), so it is a safe marker.
const SPLIT: char = '\0';

thread_local! {
    /// Whether the element being rendered interpolated any value other than
    /// none: an argv element that renders empty only from absent optional
    /// inputs is dropped, while an empty string given on purpose is kept.
    static EMITTED: Cell<bool> = const { Cell::new(false) };
    /// The values of a shell command being rendered, by marker index.
    static PIECES: std::cell::RefCell<Vec<shell::Piece>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The one place templates are configured: strict undefined, no HTML
/// escaping, our formatter, and a `safe` filter that cannot mark anything.
pub fn environment(mode: Mode) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    // Bounds what a runaway loop in a spec can cost.
    env.set_fuel(Some(5_000_000));
    match mode {
        Mode::Shell => env.set_formatter(|out: &mut Output, _: &mut State, value: &Value| {
            write_marker(out, value)
        }),
        Mode::Argv => env.set_formatter(|out: &mut Output, _: &mut State, value: &Value| {
            write_verbatim(out, value)
        }),
    }
    env.add_filter("safe", |value: Value| value);
    env
}

/// Why a template did not render.
#[derive(Debug)]
pub enum Failure {
    /// minijinja's error: syntax, an undefined name, a filter misused …
    Template(Error),
    /// A value refused where the template puts it (`shell::Refusal`).
    Refused(shell::Refusal),
}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        Failure::Template(err)
    }
}

/// Renders a `command:` template: every value quoted for the place it
/// lands in the shell text (`shell::place`), or refused there.
pub fn shell(source: &str, ctx: &Value) -> Result<String, Failure> {
    // Markers come from the formatter only (validate says so too).
    if source.contains([shell::OPEN, shell::CLOSE]) {
        return Err(Failure::Refused(shell::Refusal::Spec(
            "the template contains Unicode noncharacters U+FDD0/U+FDD1, which are reserved".into(),
        )));
    }
    PIECES.with(|p| p.borrow_mut().clear());
    let marked = environment(Mode::Shell).render_str(source, ctx);
    let pieces = PIECES.with(|p| std::mem::take(&mut *p.borrow_mut()));
    shell::place(marked?.trim(), &pieces).map_err(Failure::Refused)
}

/// Renders `argv:` templates, one argument each: an array value becomes one
/// argument per element, and an element that renders empty only from
/// absent optional inputs is dropped.
pub fn argv(templates: &[String], ctx: &Value) -> Result<Vec<String>, Failure> {
    let env = environment(Mode::Argv);
    let mut args = Vec::new();
    let mut words = Vec::new();
    for (i, source) in templates.iter().enumerate() {
        EMITTED.with(|e| e.set(false));
        let text = env.render_str(source, ctx)?;
        let literal = !source.contains("{{") && !source.contains("{%");
        if text.is_empty() && !literal && !EMITTED.with(Cell::get) && i > 0 {
            continue;
        }
        let emitted = EMITTED.with(Cell::get);
        let parts: Vec<String> = if text.contains(SPLIT) {
            text.split(SPLIT).map(str::to_string).collect()
        } else {
            vec![text]
        };
        for part in parts {
            words.push(shell::Word {
                markers: if emitted {
                    vec![args.len()]
                } else {
                    Vec::new()
                },
                text: if emitted { String::new() } else { part.clone() },
                started: true,
            });
            args.push(part);
        }
    }
    // No shell parses argv, but a shell or interpreter in it may take one
    // argument as code: a value there is refused as in a command.
    if let Some(runs) = shell::code_words(&words) {
        let refused = |k: usize| words.get(k).is_some_and(|w| !w.markers.is_empty());
        if let Some(&k) = runs.code.iter().find(|&&k| refused(k)) {
            return Err(Failure::Refused(shell::Refusal::Spec(format!(
                "argument {k} is code that `{}` runs, and holds a value ({})",
                runs.program,
                shell::Forbidden::Code(runs.program.clone()).hint()
            ))));
        }
        if let Some(k) = runs.operand.filter(|&k| refused(k))
            && args.get(k).is_some_and(|a| a.starts_with('-'))
        {
            return Err(Failure::Refused(shell::Refusal::Input(format!(
                "argument {k} is a value starting with `-` where `{}` would read it as an option",
                runs.program
            ))));
        }
    }
    Ok(args)
}

/// Renders one `env:` value (verbatim: it is never seen by a shell).
pub fn env_value(source: &str, ctx: &Value) -> Result<String, Error> {
    let text = environment(Mode::Argv).render_str(source, ctx)?;
    Ok(text.replace(SPLIT, " "))
}

/// A word as a shell reads it: as is when nothing in it is special,
/// single-quoted otherwise (for commands shown to people).
pub fn shell_word(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:=,@+%-".contains(c));
    if plain { text.to_string() } else { quote(text) }
}

/// POSIX single-quoting: `'` + text with each `'` as `'\''` + `'`.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

fn nul_error() -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        "a value contains a NUL character, which cannot be part of a command",
    )
}

/// A File or Directory object renders as its path.
fn path_of(value: &Value) -> Option<Value> {
    let class = value.get_attr("class").ok()?;
    match class.as_str() {
        Some("File" | "Directory") => value.get_attr("path").ok().filter(|p| !p.is_undefined()),
        _ => None,
    }
}

fn scalar_text(value: &Value) -> Result<Option<String>, Error> {
    let text = match value.kind() {
        ValueKind::Undefined | ValueKind::None => return Ok(None),
        ValueKind::Bool => if value.is_true() { "true" } else { "false" }.to_string(),
        ValueKind::String => value.as_str().unwrap_or_default().to_string(),
        ValueKind::Number => number_text(value),
        ValueKind::Map => match path_of(value) {
            Some(path) => return scalar_text(&path),
            None => serde_json::to_string(value).map_err(|err| {
                Error::new(
                    ErrorKind::InvalidOperation,
                    format!("cannot render a mapping: {err}"),
                )
            })?,
        },
        ValueKind::Bytes => {
            String::from_utf8_lossy(value.as_bytes().unwrap_or_default()).into_owned()
        }
        _ => value.to_string(),
    };
    if text.contains('\0') {
        return Err(nul_error());
    }
    Ok(Some(text))
}

/// A number as written in JSON: integers as they are, floats in the
/// shortest form that reads back to the same value (`1e-30`, not thirty
/// zeros; `10.0` stays `10.0`).
fn number_text(value: &Value) -> String {
    if value.is_integer() {
        return value.to_string();
    }
    f64::try_from(value.clone())
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or_else(|| value.to_string(), |n| n.to_string())
}

fn is_list(value: &Value) -> bool {
    matches!(value.kind(), ValueKind::Seq | ValueKind::Iterable)
}

/// Shell mode: keeps the value aside and writes its marker, so that
/// `shell::place` can quote it for where it lands.
fn write_marker(out: &mut Output, value: &Value) -> Result<(), Error> {
    let mut piece = shell::Piece::default();
    collect_items(&mut piece.items, value)?;
    let index = PIECES.with(|p| {
        let mut pieces = p.borrow_mut();
        pieces.push(piece);
        pieces.len() - 1
    });
    out.write_str(&shell::marker(index)).map_err(fmt_error)
}

/// A value's words: its elements for a list (nested lists flattened),
/// nothing for none.
fn collect_items(items: &mut Vec<shell::Item>, value: &Value) -> Result<(), Error> {
    if is_list(value) {
        for item in value.try_iter()? {
            collect_items(items, &item)?;
        }
        return Ok(());
    }
    if let Some(text) = scalar_text(value)? {
        let kind = match value.kind() {
            ValueKind::Bool => shell::ItemKind::Bool,
            ValueKind::Number if value.is_integer() => shell::ItemKind::Int,
            _ => shell::ItemKind::Other,
        };
        items.push(shell::Item { text, kind });
    }
    Ok(())
}

fn write_verbatim(out: &mut Output, value: &Value) -> Result<(), Error> {
    let text = if is_list(value) {
        let mut parts = Vec::new();
        for item in value.try_iter()? {
            if let Some(text) = scalar_text(&item)? {
                parts.push(text);
            }
        }
        if parts.is_empty() {
            return Ok(());
        }
        parts.join(&SPLIT.to_string())
    } else {
        match scalar_text(value)? {
            Some(text) => text,
            None => return Ok(()),
        }
    };
    EMITTED.with(|e| e.set(true));
    out.write_str(&text).map_err(fmt_error)
}

fn fmt_error(_: std::fmt::Error) -> Error {
    Error::new(ErrorKind::WriteFailure, "cannot write the rendered command")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(json: serde_json::Value) -> Value {
        Value::from(minijinja::value::Serde(&json))
    }

    fn shell(source: &str, json: serde_json::Value) -> String {
        super::shell(source, &ctx(json)).unwrap()
    }

    fn argv(sources: &[&str], json: serde_json::Value) -> Vec<String> {
        let sources: Vec<String> = sources.iter().map(|s| s.to_string()).collect();
        super::argv(&sources, &ctx(json)).unwrap()
    }

    #[test]
    fn quotes_every_kind() {
        let j = serde_json::json!({
            "s": "it's", "n": 3, "f": 10.0, "b": true, "none": null,
            "arr": ["a b", "c"], "empty": [],
            "file": {"class": "File", "path": "/w/x y.fa"},
        });
        assert_eq!(shell("x {{ s }}", j.clone()), r"x 'it'\''s'");
        assert_eq!(
            shell("x {{ n }} {{ f }} {{ b }}", j.clone()),
            "x '3' '10.0' true"
        );
        assert_eq!(shell("x {{ none }}|{{ empty }}|", j.clone()), "x ||");
        assert_eq!(shell("x {{ arr }}", j.clone()), "x 'a b' 'c'");
        assert_eq!(
            shell("x {{ file }} {{ file.path }}", j.clone()),
            "x '/w/x y.fa' '/w/x y.fa'"
        );
        assert_eq!(
            shell("{{ file.path }}/{{ s }}", j),
            r"'/w/x y.fa'/'it'\''s'"
        );
    }

    /// Found by fuzzing: marker characters in the template text itself, with
    /// a huge index, made the lexer allocate without bound.
    #[test]
    fn marker_characters_in_a_template_are_refused() {
        let source = "sed -# \u{FDD0}38000000000000\u{FDD1} x {{ s }}";
        assert!(super::shell(source, &ctx(serde_json::json!({"s": "a"}))).is_err());
        assert!(!check::check_shell(source).is_empty());
    }

    #[test]
    fn safe_cannot_unquote() {
        let j = serde_json::json!({"s": "$(id)"});
        assert_eq!(shell("x {{ s | safe }}", j), "x '$(id)'");
    }

    #[test]
    fn argv_splits_arrays_and_drops_absent() {
        let j = serde_json::json!({"arr": ["a", "b c"], "none": null, "e": ""});
        assert_eq!(
            argv(
                &[
                    "cmd",
                    "{{ arr }}",
                    "{{ none }}",
                    "{% if none %}-x{% endif %}",
                    "{{ e }}",
                    ""
                ],
                j
            ),
            vec!["cmd", "a", "b c", "", ""]
        );
    }

    #[test]
    fn undefined_is_an_error() {
        let err = super::shell("x {{ nope }}", &ctx(serde_json::json!({})));
        assert!(err.is_err());
    }
}
