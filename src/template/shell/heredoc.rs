//! Here-documents: the delimiter word after `<<`, and the bodies that
//! follow the line, judged by whether they expand and who reads them.

use super::lex::{Lexer, Pending};
use super::programs::{Word, is_shell, program_name};
use super::{Context, Forbidden, Heredoc, OPEN};

impl Lexer {
    /// The delimiter word after `<<`: quoted in any way means a literal body.
    pub(super) fn heredoc_word(&mut self, strip_tabs: bool, words: &[Word]) {
        while matches!(self.peek(0), Some(' ' | '\t')) {
            self.pos += 1;
        }
        let mut delimiter = String::new();
        let mut quoted = false;
        while let Some(c) = self.peek(0) {
            if c == OPEN
                && let Some(index) = self.marker()
            {
                self.set(index, Context::Forbidden(Forbidden::HeredocWord));
                continue;
            }
            match c {
                ' ' | '\t' | '\n' | ';' | '&' | '|' | '<' | '>' | '(' | ')' => break,
                '\'' | '"' => {
                    quoted = true;
                    self.pos += 1;
                    while let Some(q) = self.peek(0) {
                        self.pos += 1;
                        if q == c {
                            break;
                        }
                        delimiter.push(q);
                    }
                }
                '\\' => {
                    quoted = true;
                    self.pos += 1;
                    if let Some(next) = self.peek(0) {
                        delimiter.push(next);
                        self.pos += 1;
                    }
                }
                other => {
                    delimiter.push(other);
                    self.pos += 1;
                }
            }
        }
        let feeds_code = words
            .first()
            .filter(|w| is_shell(&w.text) || program_name(&w.text) == "eval")
            .map(|w| w.text.clone());
        self.pending.push(Pending {
            delimiter,
            quoted,
            strip_tabs,
            feeds_code,
        });
    }

    /// The bodies of the here-documents announced on the line just ended.
    pub(super) fn heredoc_bodies(&mut self) {
        for doc in std::mem::take(&mut self.pending) {
            let start = self.offset();
            let body_start = self.pos;
            let (end, end_pos) = loop {
                let line_start = self.pos;
                let line_offset = self.offset();
                while self.peek(0).is_some_and(|c| c != '\n') {
                    self.pos += 1;
                }
                let line: String = self.chars[line_start..self.pos]
                    .iter()
                    .map(|&(_, c)| c)
                    .collect();
                let had_newline = self.peek(0).is_some();
                let candidate = if doc.strip_tabs {
                    line.trim_start_matches('\t')
                } else {
                    line.as_str()
                };
                if candidate == doc.delimiter {
                    if had_newline {
                        self.pos += 1;
                    }
                    break (line_offset, line_start);
                }
                if !had_newline {
                    break (self.offset(), self.pos);
                }
                self.pos += 1;
            };
            self.body(body_start, end_pos, &doc);
            self.lexed.heredocs.push(Heredoc {
                start,
                end,
                delimiter: doc.delimiter,
                strip_tabs: doc.strip_tabs,
            });
        }
    }

    /// Judges the markers of a here-document body (chars `from..to`).
    fn body(&mut self, from: usize, to: usize, doc: &Pending) {
        let resume = self.pos;
        self.pos = from;
        while self.pos < to {
            let c = self.chars[self.pos].1;
            if c == OPEN
                && let Some(index) = self.marker()
            {
                let context = match (&doc.feeds_code, doc.quoted) {
                    (Some(program), _) => Context::Forbidden(Forbidden::Code(program.clone())),
                    (None, true) => Context::HeredocLiteral,
                    (None, false) => Context::HeredocExpanding,
                };
                self.set(index, context);
                continue;
            }
            if !doc.quoted {
                match c {
                    '\\' => {
                        self.pos += 2;
                        continue;
                    }
                    '`' => {
                        self.pos += 1;
                        self.backticks();
                        continue;
                    }
                    '$' => {
                        let mut ignored = String::new();
                        self.dollar(&mut ignored, true);
                        continue;
                    }
                    _ => {}
                }
            }
            self.pos += 1;
        }
        self.pos = resume;
    }
}
