//! Where each interpolated value lands in a shell command, so that it can
//! be quoted for that place or refused.
//!
//! Single-quoting a value is only safe where a word is unquoted. The
//! rendered command is therefore produced with a marker in place of each
//! value, lexed here as POSIX `sh` reads it (quotes, `$( )`, backticks,
//! `${ }`, `$(( ))`, comments, here-documents, simple commands), and each
//! marker gets its `Context`: a place with a quoting that keeps any value
//! one literal piece of text, or a place no quoting makes safe, because
//! the text there is code for something that parses it again (a shell
//! after `-c`, `eval`, an interpreter's program, a here-document fed to a
//! shell), or because quotes cannot nest there (single quotes, backticks,
//! comments, `${ }`).

mod heredoc;
mod lex;
mod programs;
#[cfg(test)]
mod tests;

pub use lex::lex;
pub use programs::{Word, code_words};

/// Opens and closes a marker in the rendered text: Unicode noncharacters,
/// which no template text may contain.
pub const OPEN: char = '\u{FDD0}';
pub const CLOSE: char = '\u{FDD1}';

/// The marker of interpolation `index`.
pub fn marker(index: usize) -> String {
    format!("{OPEN}{index}{CLOSE}")
}

/// Where a value lands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Context {
    /// An unquoted word: single-quote it.
    Unquoted,
    /// Inside double quotes: escape `$`, `` ` ``, `"` and `\`.
    Double,
    /// In the body of a here-document with a quoted delimiter: as is.
    HeredocLiteral,
    /// In the body of a here-document that expands: escape `$`, `` ` ``
    /// and `\`.
    HeredocExpanding,
    /// Inside `$(( ))`: an integer only.
    Arithmetic,
    Forbidden(Forbidden),
}

/// A place no quoting makes safe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Forbidden {
    SingleQuotes,
    Backticks,
    Comment,
    Parameter,
    AfterDollar,
    HeredocWord,
    /// Code for a program that parses it again: `sh -c`, `eval`,
    /// `python -c`, an awk program, a here-document fed to a shell …
    Code(String),
}

impl Forbidden {
    /// Why, as the middle of a sentence "a value … is not allowed".
    pub fn describe(&self) -> String {
        match self {
            Forbidden::SingleQuotes => "inside single quotes".into(),
            Forbidden::Backticks => "inside backticks".into(),
            Forbidden::Comment => "in a comment".into(),
            Forbidden::Parameter => "inside `${…}`".into(),
            Forbidden::AfterDollar => "right after `$`".into(),
            Forbidden::HeredocWord => "in a here-document's delimiter".into(),
            Forbidden::Code(program) => format!("in code that `{program}` runs"),
        }
    }

    pub fn hint(&self) -> &'static str {
        match self {
            Forbidden::Code(_) => {
                "pass the value as a separate argument (`sh -c 'echo \"$1\"' sh {{ x }}`) or via `env`, or use argv"
            }
            _ => {
                "write the value as its own word or inside double quotes, pass it via `env`, or use argv"
            }
        }
    }
}

/// A here-document body in the marked text: its byte range and delimiter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heredoc {
    pub start: usize,
    pub end: usize,
    pub delimiter: String,
    pub strip_tabs: bool,
}

#[derive(Debug, Default)]
pub struct Lexed {
    /// By marker index (a marker the lexer never saw has none).
    pub contexts: std::collections::BTreeMap<usize, Context>,
    pub heredocs: Vec<Heredoc>,
    /// Markers that are a shell's or interpreter's first operand: their
    /// value must not start with `-`.
    pub operands: Vec<usize>,
}

/// One interpolated value, as the formatter saw it.
#[derive(Clone, Debug, Default)]
pub struct Piece {
    /// Its words: one for a scalar, one per element for a list, none for
    /// an absent value.
    pub items: Vec<Item>,
}

#[derive(Clone, Debug)]
pub struct Item {
    pub text: String,
    pub kind: ItemKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemKind {
    Bool,
    Int,
    Other,
}

/// A value that cannot be placed, and whose fault that is.
#[derive(Debug)]
pub enum Refusal {
    /// The template puts values where no quoting makes them safe.
    Spec(String),
    /// This value cannot go where the template puts it (it would end a
    /// here-document, or look like an option).
    Input(String),
}

/// Replaces every marker of `marked` with its value, quoted for where it
/// lands; refuses a value in a place no quoting makes safe.
pub fn place(marked: &str, pieces: &[Piece]) -> Result<String, Refusal> {
    let lexed = lex(marked);
    let damaged = || Refusal::Spec("a template construct damaged a value's place".into());
    let mut out = String::with_capacity(marked.len());
    // After each marker (its end in `marked`): how much longer `out` is.
    let mut shifts: Vec<(usize, isize)> = Vec::new();
    let mut shift: isize = 0;
    // Where each value is in `out`.
    let mut values: Vec<(usize, usize)> = Vec::new();
    let mut pos = 0;
    while let Some(found) = marked[pos..].find(OPEN) {
        let open = pos + found;
        out.push_str(&marked[pos..open]);
        let digits = &marked[open + OPEN.len_utf8()..];
        let close = digits.find(CLOSE).ok_or_else(damaged)?;
        let index: usize = digits[..close].parse().map_err(|_| damaged())?;
        let length = OPEN.len_utf8() + close + CLOSE.len_utf8();
        let context = lexed.contexts.get(&index).cloned();
        let piece = pieces.get(index).ok_or_else(damaged)?;
        let text = encode(context, piece, lexed.operands.contains(&index)).map_err(|why| {
            let at = snippet(marked, open, length);
            match why {
                Refusal::Spec(why) => Refusal::Spec(format!("{why}: {at}")),
                Refusal::Input(why) => Refusal::Input(format!("{why}: {at}")),
            }
        })?;
        if text.contains(OPEN) {
            return Err(Refusal::Spec(format!(
                "a value made by a template block (`set`, `macro`, `filter`) cannot be placed in a shell command: {}",
                snippet(marked, open, length)
            )));
        }
        values.push((out.len(), out.len() + text.len()));
        out.push_str(&text);
        shift += text.len() as isize - length as isize;
        shifts.push((open + length, shift));
        pos = open + length;
    }
    out.push_str(&marked[pos..]);
    let in_out = |at: usize| {
        let shift = shifts
            .iter()
            .take_while(|(end, _)| *end <= at)
            .last()
            .map_or(0, |(_, s)| *s);
        usize::try_from(at as isize + shift).unwrap_or(0)
    };
    // A body line that is the delimiter ends the document early; one that
    // starts with the delimiter, or with part of it followed by a non-ASCII
    // character, is read differently by different shells (dash 0.5.12
    // drops a byte): a value may make no such line.
    for doc in &lexed.heredocs {
        let (start, end) = (in_out(doc.start), in_out(doc.end));
        let body = out.get(start..end).unwrap_or_default();
        let mut offset = start;
        for line in body.split_inclusive('\n') {
            let content = if doc.strip_tabs {
                line.trim_start_matches('\t')
            } else {
                line
            };
            let end = offset + line.len();
            let from_value = values.iter().any(|&(a, b)| a < end && b > offset);
            if from_value && confusable(content, &doc.delimiter) {
                return Err(Refusal::Input(format!(
                    "a value would start a line of the here-document with (part of) its delimiter `{}`, which shells read inconsistently",
                    doc.delimiter
                )));
            }
            offset += line.len();
        }
    }
    Ok(out)
}

/// Whether a here-document line could be mistaken for its delimiter.
fn confusable(line: &str, delimiter: &str) -> bool {
    if delimiter.is_empty() {
        return false;
    }
    let matched = line
        .bytes()
        .zip(delimiter.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    matched == delimiter.len()
        || matched > 0 && line.as_bytes().get(matched).is_some_and(|b| *b >= 0x80)
}

/// The template text around a value's place, with every value shown as
/// `{{…}}`.
fn snippet(marked: &str, at: usize, length: usize) -> String {
    let before: String = marked[..at]
        .chars()
        .rev()
        .take(30)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let after: String = marked[at + length..].chars().take(30).collect();
    let show = |text: &str| {
        let mut shown = String::new();
        let mut inside = false;
        for c in text.chars() {
            match c {
                OPEN => {
                    inside = true;
                    shown.push_str("{{…}}");
                }
                CLOSE => inside = false,
                _ if inside => {}
                c => shown.push(c),
            }
        }
        shown
    };
    format!("`…{}{{{{…}}}}{}…`", show(&before), show(&after)).replace('\n', "\\n")
}

/// A value written for its context.
fn encode(context: Option<Context>, piece: &Piece, operand: bool) -> Result<String, Refusal> {
    let join = |escape: &dyn Fn(&str) -> String| {
        piece
            .items
            .iter()
            .map(|item| escape(&item.text))
            .collect::<Vec<_>>()
            .join(" ")
    };
    match context {
        Some(Context::Unquoted) => {
            if operand && piece.items.iter().any(|item| item.text.starts_with('-')) {
                return Err(Refusal::Input(
                    "a value starting with `-` cannot be the first operand of a shell or interpreter, where it would be read as an option".into(),
                ));
            }
            Ok(piece
                .items
                .iter()
                .map(|item| match item.kind {
                    // `true`/`false` are plain words; quoting changes nothing.
                    ItemKind::Bool => item.text.clone(),
                    _ => super::quote(&item.text),
                })
                .collect::<Vec<_>>()
                .join(" "))
        }
        Some(Context::Double) => Ok(join(&|text| escape(text, &['$', '`', '"', '\\']))),
        Some(Context::HeredocLiteral) => Ok(join(&|text| text.to_string())),
        Some(Context::HeredocExpanding) => Ok(join(&|text| escape(text, &['$', '`', '\\']))),
        Some(Context::Arithmetic) => match piece.items.as_slice() {
            [item] if item.kind == ItemKind::Int => Ok(item.text.clone()),
            _ => Err(Refusal::Spec(
                "only an integer may be placed inside `$(( ))`".into(),
            )),
        },
        Some(Context::Forbidden(why)) => Err(Refusal::Spec(format!(
            "a value {} is not allowed ({})",
            why.describe(),
            why.hint()
        ))),
        None => Err(Refusal::Spec(
            "a template construct hid a value's place from the shell check".into(),
        )),
    }
}

/// `text` with a backslash before each of `special`.
fn escape(text: &str, special: &[char]) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if special.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
