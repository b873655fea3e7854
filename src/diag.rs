//! One shape for "a problem": where it is (file, line, column, key path or
//! JSON path), what is wrong, and how to fix it. Spec checks, inputs checks
//! and run errors all report `Problem`s; this module also prints them the
//! three ways `validate` can (text, json, github).
//!
//! Owns the wording of positions; it must not decide what is a problem.

use std::fmt::{self, Write as _};

use serde::Serialize;

use crate::yaml::Loc;

/// One problem, located as precisely as its source allows.
#[derive(Debug, Serialize)]
pub struct Problem {
    /// The file the problem is in (a spec, or an inputs file); `None` for
    /// inputs given inline.
    pub file: Option<String>,
    pub line: Option<u64>,
    pub column: Option<u64>,
    /// Key path in the spec (`inputs.query.type`) or JSON path of the input
    /// (`inputs.reads[2]`).
    pub path: String,
    pub message: String,
    /// How to fix it ("did you mean `evalue`?"), when there is a guess.
    pub hint: Option<String>,
}

impl Problem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            file: None,
            line: None,
            column: None,
            path: path.into(),
            message: message.into(),
            hint: None,
        }
    }

    pub fn at(mut self, loc: Loc) -> Self {
        if loc.line > 0 {
            self.line = Some(loc.line);
            self.column = Some(loc.column);
        }
        self
    }

    pub fn in_file(mut self, file: &str) -> Self {
        self.file = Some(file.to_string());
        self
    }

    /// `in_file` when there is a file to name.
    pub fn in_file_if(self, file: Option<&str>) -> Self {
        match file {
            Some(f) => self.in_file(f),
            None => self,
        }
    }

    pub fn with_hint(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }

    /// The message with its hint, as one sentence.
    pub fn text(&self) -> String {
        match &self.hint {
            Some(hint) => format!("{}; {hint}", self.message),
            None => self.message.clone(),
        }
    }
}

/// Control characters written as escapes (`\n`, `\u{1b}`): text from a
/// spec or an input can never start a line of its own, forge an
/// annotation, or drive the terminal.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return text.into();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_debug().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

impl fmt::Display for Problem {
    /// `file:line:column: path: message; hint`, leaving out what is unknown.
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let mut position = String::new();
        if let Some(file) = &self.file {
            position.push_str(&printable(file));
        }
        if let Some(line) = self.line {
            let _ = write!(position, ":{line}");
            if let Some(column) = self.column {
                let _ = write!(position, ":{column}");
            }
        }
        if !position.is_empty() {
            write!(f, "{position}: ")?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", printable(&self.path))?;
        }
        f.write_str(&printable(&self.text()))
    }
}

/// How `validate` prints what it found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Github,
}

/// GitHub workflow commands need `%`, CR and LF escaped in the message and
/// also `:` and `,` in properties.
fn github_escape(text: &str, property: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            ':' if property => out.push_str("%3A"),
            ',' if property => out.push_str("%2C"),
            _ => out.push(c),
        }
    }
    out
}

/// `::error file=…,line=…,col=…::path: message`
pub fn github_line(problem: &Problem) -> String {
    let mut props = Vec::new();
    if let Some(file) = &problem.file {
        props.push(format!("file={}", github_escape(file, true)));
    }
    if let Some(line) = problem.line {
        props.push(format!("line={line}"));
    }
    if let Some(column) = problem.column {
        props.push(format!("col={column}"));
    }
    let message = if problem.path.is_empty() {
        problem.text()
    } else {
        format!("{}: {}", problem.path, problem.text())
    };
    let props = if props.is_empty() {
        String::new()
    } else {
        format!(" {}", props.join(","))
    };
    format!("::error{props}::{}", github_escape(&message, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_leaves_out_unknown_parts() {
        let d = Problem::new("inputs.x", "bad").at(Loc { line: 3, column: 5 });
        assert_eq!(d.to_string(), ":3:5: inputs.x: bad");
        let d = d.in_file("a.yaml");
        assert_eq!(d.to_string(), "a.yaml:3:5: inputs.x: bad");
        assert_eq!(Problem::new("", "bad").to_string(), "bad");
        let hinted = Problem::new("", "bad").with_hint(Some("did you mean `good`?".into()));
        assert_eq!(hinted.to_string(), "bad; did you mean `good`?");
    }

    #[test]
    fn control_characters_cannot_start_a_line() {
        let d = Problem::new("inputs.a\n::error::forged", "bad\u{1b}[31m");
        assert_eq!(d.to_string(), "inputs.a\\n::error::forged: bad\\u{1b}[31m");
    }

    #[test]
    fn github_escapes() {
        let d = Problem::new("p", "50%\nnext")
            .at(Loc { line: 1, column: 2 })
            .in_file("a,b.yaml");
        assert_eq!(
            github_line(&d),
            "::error file=a%2Cb.yaml,line=1,col=2::p: 50%25%0Anext"
        );
    }
}
