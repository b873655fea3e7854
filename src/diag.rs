//! Diagnostics: one problem found in a spec or an inputs document, and the
//! three ways `validate` prints them (text, json, github).
//!
//! Owns wording of positions; it must not decide what is a problem.

use std::fmt::{self, Write as _};

use serde::Serialize;

use crate::yaml::Loc;

/// One problem, located as precisely as its source allows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Diagnostic {
    /// The file the problem is in (a spec, or an inputs file); `None` for
    /// inputs given inline.
    pub file: Option<String>,
    pub line: Option<u64>,
    pub column: Option<u64>,
    /// Key path in the spec (`inputs.query.type`) or JSON path of the input
    /// (`inputs.reads[2]`).
    pub path: String,
    pub message: String,
}

impl Diagnostic {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            file: None,
            line: None,
            column: None,
            path: path.into(),
            message: message.into(),
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
}

impl fmt::Display for Diagnostic {
    /// `file:line:column: path: message`, leaving out what is unknown.
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let mut position = String::new();
        if let Some(file) = &self.file {
            position.push_str(file);
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
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// How `validate` prints what it found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
pub fn github_line(diagnostic: &Diagnostic) -> String {
    let mut props = Vec::new();
    if let Some(file) = &diagnostic.file {
        props.push(format!("file={}", github_escape(file, true)));
    }
    if let Some(line) = diagnostic.line {
        props.push(format!("line={line}"));
    }
    if let Some(column) = diagnostic.column {
        props.push(format!("col={column}"));
    }
    let message = if diagnostic.path.is_empty() {
        diagnostic.message.clone()
    } else {
        format!("{}: {}", diagnostic.path, diagnostic.message)
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
        let d = Diagnostic::new("inputs.x", "bad").at(Loc { line: 3, column: 5 });
        assert_eq!(d.to_string(), ":3:5: inputs.x: bad");
        let d = d.in_file("a.yaml");
        assert_eq!(d.to_string(), "a.yaml:3:5: inputs.x: bad");
        assert_eq!(Diagnostic::new("", "bad").to_string(), "bad");
    }

    #[test]
    fn github_escapes() {
        let d = Diagnostic::new("p", "50%\nnext")
            .at(Loc { line: 1, column: 2 })
            .in_file("a,b.yaml");
        assert_eq!(
            github_line(&d),
            "::error file=a%2Cb.yaml,line=1,col=2::p: 50%25%0Anext"
        );
    }
}
